"""Codex rollout reader: real rollouts (read in place), hand-made sessions, malformed input, properties."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpaste_cli.ingest import claude_code, codex, native, openhands
from bpaste_cli.ingest.base import ReadContext, SkipReport
from bpaste_cli.trace.builder import Limits

# -- hand-made rollouts (invented content) -----------------------------------------------------------

T0 = datetime(2030, 1, 2, 9, 0, 0, tzinfo=timezone.utc)


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rec(t: float, kind: str, payload: dict) -> dict:
    return {"timestamp": _ts(t), "type": kind, "payload": payload}


def _item(t, **payload):
    return _rec(t, "response_item", payload)


def _event(t, **payload):
    return _rec(t, "event_msg", payload)


def _tokens(t, total, tin, tout):
    usage = {"input_tokens": tin, "cached_input_tokens": 0, "output_tokens": tout, "total_tokens": tin + tout}
    return _event(t, type="token_count", info={"total_token_usage": {"total_tokens": total}, "last_token_usage": usage})


def _say(t, text, role="assistant"):
    kind = "output_text" if role == "assistant" else "input_text"
    return _item(t, type="message", role=role, content=[{"type": kind, "text": text}])


def _fcall(t, call_id, name="shell", args='{"command": ["ls"]}'):
    return _item(t, type="function_call", name=name, arguments=args, call_id=call_id)


def _fout(t, call_id, output="fine", kind="function_call_output"):
    return _item(t, type=kind, call_id=call_id, output=output)


def _session() -> list[dict]:
    """Two turns, 2 h apart: a parallel step, a patch step, an answer; then a short answer."""
    return [
        _rec(0.0, "session_meta", {"id": "sess-alpha", "timestamp": _ts(0.0), "cwd": "/w", "cli_version": "9.9"}),
        _rec(0.0, "turn_context", {"model": "model-x", "approval_policy": "never"}),
        _event(0.0, type="task_started", turn_id="turn-1"),
        _say(1.0, "<environment_context>cwd</environment_context>", role="user"),
        _say(1.0, "please tidy the widgets", role="user"),  # the model-input copy of the turn
        _event(1.0, type="user_message", message="please tidy the widgets", images=[]),
        _item(3.0, type="reasoning", summary=[], content=None, encrypted_content="opaque"),
        _event(4.0, type="agent_message", message="looking"),
        _say(4.0, "looking"),
        _fcall(4.5, "c1", args='{"command": ["ls", "widgets"]}'),
        _fcall(4.6, "c2", args='{"command": ["cat", "plan.txt"]}'),
        _tokens(4.7, 150, 100, 50),
        _fout(6.0, "c1", "w1\nw2"),
        _fout(7.5, "c2", "step one"),
        _tokens(7.6, 150, 100, 50),  # a repeat: no new step, no new tokens
        _rec(7.7, "turn_context", {"model": "model-x"}),
        _item(9.0, type="reasoning", summary=[], content=None),
        _item(10.0, type="custom_tool_call", status="completed", call_id="c3", name="apply_patch", input="*** patch"),
        _tokens(10.1, 400, 220, 30),
        _fout(10.25, "c3", "applied", kind="custom_tool_call_output"),
        _say(13.0, "tidied"),
        _tokens(13.05, 500, 90, 10),
        _event(13.1, type="task_complete", turn_id="turn-1", last_agent_message="tidied"),
        _event(7213.0, type="task_started", turn_id="turn-2"),
        _say(7213.0, "thanks", role="user"),
        _event(7213.0, type="user_message", message="thanks", images=[]),
        _say(7215.0, "you are welcome"),
        _tokens(7215.1, 560, 55, 5),
    ]


def _write(path: Path, records: list, *, tail: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    path.write_bytes(body + tail)
    return path


def _rows(ds, *cols):
    """Event rows, floats rounded to the microsecond (epoch arithmetic leaves ~1e-7 noise)."""
    rows = ds.events.sort("session_id", "seq").select(*cols).rows()
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows]


def _read(path: Path) -> tuple[list, SkipReport]:
    """Read with the reader directly: (finished (session, events) pairs, skip report)."""
    report = SkipReport()
    ctx = ReadContext(path=path, display=str(path), report=report, limits=Limits(), scrub=None)
    return [b.finish() for b in codex.read(path, ctx) if not b.empty], report


# -- real logs ------------------------------------------------------------------------------------


def test_real_rollouts_counts(shared_traces, ingest_paths):
    result, ds = ingest_paths([shared_traces / "codex-localpush"])
    # Independent counts, run once over raw/sessions/*.jsonl with plain json (p = record["payload"]):
    # - tool calls: response_items with p.type function_call (656) + custom_tool_call (81) +
    #   web_search_call (8) = 745; outputs: function_call_output 654 + custom_tool_call_output 81,
    #   so 2 calls have no output.
    # - llm steps: token_count events whose info.total_token_usage.total_tokens differs from the previous
    #   one in the file (= one per model response) 485, + 8 (a web search splits its response) + 1
    #   compacted record = 494.
    # - parallel steps: split each file's records at every fresh token_count and every web_search_call,
    #   count the groups holding >= 2 function/custom calls: 23 + 26 + 25 + 86 + 0 + 0 = 160.
    # - user turns: event_msg user_message records, 53.
    # - tokens: sum of last_token_usage over the fresh token_counts: input 49839753, output 223178.
    assert result.sessions == 6
    assert result.tool_calls == 745 and result.llm_steps == 494
    assert int(ds.sessions["n_parallel_steps"].sum()) == 160
    assert result.report.total == 0
    ev = ds.events
    assert ev.filter(pl.col("wait_reason") == "turn").height == 53
    # approvals: calls whose output came > 900 s (the idle threshold) after the call, with no logged
    # run time; counted once with plain json over (function|custom)_call -> *_output timestamps: 9
    assert ev.filter(pl.col("wait_reason") == "approval").height == 9
    tools = ev.filter(pl.col("kind") == "tool")
    assert tools["status"].value_counts().sort("status", nulls_last=True).rows() == [("ok", 743), (None, 2)]
    llm = ev.filter(pl.col("kind") == "llm")
    assert (int(llm["tokens_in"].sum()), int(llm["tokens_out"].sum())) == (49839753, 223178)
    assert llm["model"].null_count() == 0 and llm["model"].n_unique() == 1  # manifest.json: one model used
    # README.md and manifest.json beside the logs are not claimed
    statuses = {Path(f["path"]).name: f["status"] for f in result.files}
    assert statuses["README.md"] == statuses["manifest.json"] == "unrecognised"
    assert all(f.get("format") == "codex" for f in result.files if f["status"] == "ingested")
    assert all(sid.startswith("codex:") for sid in ds.sessions["session_id"])


def test_real_overnight_gap_is_human_time(shared_traces, ingest_paths):
    _, ds = ingest_paths([shared_traces / "codex-localpush"])
    # The session running past midnight UTC has the longest silence of all files: 11.7 h between its
    # final answer of the evening and the next user_message (computed once from the raw timestamps:
    # 42079.207 s). It must be a user turn, not think time.
    longest = ds.sessions.sort("human_wait_s", descending=True).row(0, named=True)
    events = ds.events.filter(pl.col("session_id") == longest["session_id"])
    spans = events.with_columns((pl.col("t_end") - pl.col("t_start")).alias("span"))
    top = spans.sort("span", descending=True).row(0, named=True)
    assert top["kind"] == "user" and top["wait_reason"] == "turn"
    assert top["span"] == pytest.approx(42079.207, abs=1e-3)
    assert longest["human_wait_s"] >= top["span"]
    # no think window anywhere holds a person's absence
    llm = ds.events.filter(pl.col("kind") == "llm")
    assert float((llm["t_end"] - llm["t_start"]).max()) < Limits().idle_threshold_s


def test_real_redacted_args_are_kept_verbatim(shared_traces, ingest_paths):
    _, ds = ingest_paths([shared_traces / "codex-localpush"])
    tools = ds.events.filter(pl.col("kind") == "tool", pl.col("tool") != "web_search")
    # every argument of these logs is a redaction marker, kept as a JSON string
    assert tools["args_json"].str.starts_with('"[REDACTED_').all()
    assert tools["result_text"].drop_nulls().str.starts_with("[REDACTED_").all()


def test_real_files_detected_and_others_not_claimed(shared_traces):
    sessions = sorted((shared_traces / "codex-localpush" / "raw" / "sessions").glob("*.jsonl"))
    assert len(sessions) == 6
    for path in sessions:
        assert codex.sniff(path.read_bytes()[: 64 * 1024]), path.name
    for name in ("README.md", "manifest.json"):
        assert not codex.sniff((shared_traces / "codex-localpush" / name).read_bytes())
    for other in [*(shared_traces / "openhands").rglob("*.json*"), *(shared_traces / "claude-code-spotter").rglob("*.jsonl")]:
        assert not codex.sniff(other.read_bytes()[: 64 * 1024]), other.name


# -- timing on a hand-made rollout ----------------------------------------------------------------


def test_steps_tokens_and_timing(tmp_path, ingest_paths):
    result, ds = ingest_paths([_write(tmp_path / "r.jsonl", _session())])
    assert result.report.total == 0
    assert ds.sessions["session_id"].to_list() == ["codex:sess-alpha"]
    # times relative to the first event, the user message at +1 s:
    # step 0: inputs complete at 0 (user message), first call at 4.5-1 = 3.5  -> think [0, 3.5]
    # c1 3.5 -> 6.0-1 = 5.0; c2 3.6 -> 6.5 (parallel: both in step 0)
    # step 1: last result at 6.5, apply_patch emitted at 9.0 -> think [6.5, 9.0]; c3 9.0 -> 9.25
    # step 2 (no calls): emitted at its answer, 12.0; think [9.25, 12.0]
    # user turn 2 at 7212.0, from the agent's last activity (12.0); step 3 answers at 7214.0
    assert _rows(ds, "kind", "step", "tool", "t_start", "t_end", "tokens_in", "tokens_out", "wait_reason") == [
        ("user", None, None, 0.0, 0.0, None, None, "turn"),
        ("llm", 0, None, 0.0, 3.5, 100, 50, None),
        ("tool", 0, "shell", 3.5, 5.0, None, None, None),
        ("tool", 0, "shell", 3.6, 6.5, None, None, None),
        ("llm", 1, None, 6.5, 9.0, 220, 30, None),
        ("tool", 1, "apply_patch", 9.0, 9.25, None, None, None),
        ("llm", 2, None, 9.25, 12.0, 90, 10, None),
        ("user", None, None, 12.0, 7212.0, None, None, "turn"),
        ("llm", 3, None, 7212.0, 7214.0, 55, 5, None),
    ]
    s = ds.sessions.row(0, named=True)
    assert (s["n_llm_steps"], s["n_tool_calls"], s["n_parallel_steps"]) == (4, 3, 1)
    assert s["human_wait_s"] == pytest.approx(7200.0) and s["model"] == "model-x"
    llm = ds.events.filter(pl.col("kind") == "llm")
    assert llm["text"].to_list() == ["looking", None, "tidied", "you are welcome"]
    tools = ds.events.filter(pl.col("kind") == "tool")
    assert tools["args_json"].to_list() == ['{"command":["ls","widgets"]}', '{"command":["cat","plan.txt"]}', '"*** patch"']
    assert tools["result_text"].to_list() == ["w1\nw2", "step one", "applied"]


def test_exec_durations_and_approval_wait(tmp_path, ingest_paths):
    recs = _session()
    at = next(i for i, r in enumerate(recs) if r["payload"].get("call_id") == "c1" and "output" in r["payload"])
    recs[at:at] = [
        _event(5.9, type="exec_command_end", call_id="c1", duration={"secs": 1, "nanos": 500_000_000}),
        _event(5.95, type="exec_command_end", call_id="c2", duration={"secs": 0, "nanos": 400_000_000}),
    ]
    result, ds = ingest_paths([_write(tmp_path / "r.jsonl", recs)])
    assert result.report.total == 0
    rows = _rows(ds, "kind", "tool", "t_start", "t_end", "wait_reason")
    # c1 ran 1.5 s: 3.5 + 1.5 = 5.0 = its arrival, no wait. c2 ran 0.4 s: ends 3.6 + 0.4 = 4.0 but its result
    # arrived at 6.5: 2.5 s of approval wait (human time), then step 1 still starts at 6.5.
    assert rows[2:6] == [
        ("tool", "shell", 3.5, 5.0, None),
        ("tool", "shell", 3.6, 4.0, None),
        ("user", None, 4.0, 6.5, "approval"),
        ("llm", None, 6.5, 9.0, None),
    ]


def test_duration_and_exit_code_from_output_text(tmp_path, ingest_paths):
    recs = [
        _rec(0.0, "session_meta", {"id": "s-wall"}),
        _event(0.0, type="user_message", message="run it"),
        _fcall(1.0, "a", name="exec_command", args='{"cmd": "make"}'),
        _fout(4.0, "a", "Chunk ID: 7\nWall time: 2.2500 seconds\nProcess exited with code 2\nOutput:\nboom"),
        _fcall(5.0, "b", name="shell", args='{"command": ["true"]}'),
        _fout(5.5, "b", "Exit code: 0\nWall time: 0.1 seconds\nOutput:\n"),
    ]
    _, ds = ingest_paths([_write(tmp_path / "r.jsonl", recs)])
    # a: emitted 1.0 (rel 1.0), ran 2.25 s -> ends 3.25, result at 4.0: 0.75 s is under the 1 s approval
    # floor, so no wait row; exit code 2 -> error. b: 5.0 + 0.1 = 5.1.
    tools = ds.events.filter(pl.col("kind") == "tool")
    assert [(s, round(e, 6), st) for s, e, st in tools.select("t_start", "t_end", "status").rows()] == [
        (1.0, 3.25, "error"), (5.0, 5.1, "ok")
    ]
    assert ds.events.filter(pl.col("wait_reason") == "approval").height == 0


def test_web_search_and_compaction(tmp_path, ingest_paths):
    recs = [
        _rec(0.0, "session_meta", {"id": "s-web"}),
        _event(0.0, type="user_message", message="find the release notes"),
        _item(2.0, type="reasoning", summary=[]),
        _item(3.5, type="web_search_call", status="completed", action={"type": "search", "query": "notes"}),
        _item(4.0, type="reasoning", summary=[]),
        _say(5.0, "found them"),
        _tokens(5.1, 100, 80, 20),
        _fcall(6.0, "k1"),
        _tokens(6.1, 130, 25, 5),
        _fout(6.5, "k1"),
        _rec(20.0, "compacted", {"message": "", "replacement_history": []}),
        _event(20.0, type="context_compacted"),
        _say(22.0, "carrying on"),
    ]
    result, ds = ingest_paths([_write(tmp_path / "r.jsonl", recs)])
    assert result.report.total == 0
    # step 0 thinks 0 -> 2.0 (its last output before the search), the search runs 2.0 -> 3.5 (done when
    # logged); step 1 continues 3.5 -> 5.0 and takes the response's tokens; step 2 emits k1 at 6.0
    # (think 5.0 -> 6.0); the compaction is a step 6.5 -> 20.0; step 4 answers 20.0 -> 22.0.
    assert _rows(ds, "kind", "tool", "t_start", "t_end", "status", "tokens_out", "args_json") == [
        ("user", None, 0.0, 0.0, None, None, None),
        ("llm", None, 0.0, 2.0, None, None, None),
        ("tool", "web_search", 2.0, 3.5, "ok", None, '{"query":"notes","type":"search"}'),
        ("llm", None, 3.5, 5.0, None, 20, None),
        ("llm", None, 5.0, 6.0, None, 5, None),
        ("tool", "shell", 6.0, 6.5, "ok", None, '{"command":["ls"]}'),
        ("llm", None, 6.5, 20.0, None, None, None),
        ("llm", None, 20.0, 22.0, None, None, None),
    ]


def test_long_silence_without_user_message_is_idle_time(tmp_path, ingest_paths):
    recs = [
        _rec(0.0, "session_meta", {"id": "s-idle"}),
        _event(0.0, type="user_message", message="watch the build"),
        _fcall(1.0, "b1"),
        _fout(2.0, "b1"),
        _item(2002.0, type="reasoning", summary=[]),
        _say(2003.0, "still green"),
    ]
    _, ds = ingest_paths([_write(tmp_path / "r.jsonl", recs)])
    # step 1 would think from the result (2.0) to its answer (2003.0): 2001 s > the 900 s idle threshold,
    # so that span is a person away (idle), and the step itself is taken as instantaneous
    assert _rows(ds, "kind", "t_start", "t_end", "wait_reason")[-2:] == [
        ("user", 2.0, 2003.0, "idle"),
        ("llm", 2003.0, 2003.0, None),
    ]
    assert ds.sessions["human_wait_s"][0] == pytest.approx(2001.0)


def test_early_flat_format(tmp_path, ingest_paths):
    lines = [
        {"id": "flat-one", "timestamp": "2030-01-01T00:00:00Z", "instructions": None},
        {"record_type": "state"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>x</environment_context>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "count the rows"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "id": "fc_1", "name": "shell", "arguments": '{"command": ["wc", "-l", "t.csv"]}', "call_id": "call_1"},
        {"type": "function_call_output", "call_id": "call_1",
         "output": json.dumps({"output": "3 t.csv\n", "metadata": {"exit_code": 0, "duration_seconds": 0.2}})},
        {"record_type": "state"},
        {"type": "local_shell_call", "call_id": "call_2", "status": "completed", "action": {"type": "exec", "command": ["cat", "u.csv"]}},
        {"type": "function_call_output", "call_id": "call_2",
         "output": json.dumps({"output": "no such file", "metadata": {"exit_code": 1, "duration_seconds": 0.1}})},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "3 rows"}]},
    ]
    path = _write(tmp_path / "rollout-old.jsonl", lines)
    assert codex.sniff(path.read_bytes())
    result, ds = ingest_paths([path])
    assert result.report.total == 0
    s = ds.sessions.row(0, named=True)
    assert s["session_id"] == "codex:flat-one" and s["timed"] is False
    assert _rows(ds, "kind", "step", "tool", "args_json", "result_text", "status", "text") == [
        ("user", None, None, None, None, None, "count the rows"),
        ("llm", 0, None, None, None, None, None),
        ("tool", 0, "shell", '{"command":["wc","-l","t.csv"]}', "3 t.csv\n", "ok", None),
        ("llm", 1, None, None, None, None, None),
        ("tool", 1, "local_shell", '{"command":["cat","u.csv"],"type":"exec"}', "no such file", "error", None),
        ("llm", 2, None, None, None, None, "3 rows"),
    ]


def test_equal_redacted_arguments_hash_equal(tmp_path, ingest_paths):
    marker = "[REDACTED_ARGUMENTS len=12 sha=0a1b2c3d]"
    recs = [
        _rec(0.0, "session_meta", {"id": "s-red"}),
        _event(0.0, type="user_message", message="[REDACTED_MESSAGE len=3 sha=99999999]"),
        _fcall(1.0, "r1", args=marker),
        _fout(2.0, "r1", "[REDACTED_OUTPUT len=4 sha=12345678]"),
        _fcall(3.0, "r2", args=marker),
        _fout(4.0, "r2", "[REDACTED_OUTPUT len=4 sha=12345678]"),
        _fcall(5.0, "r3", args="[REDACTED_ARGUMENTS len=12 sha=ffffffff]"),
    ]
    _, ds = ingest_paths([_write(tmp_path / "r.jsonl", recs)])
    tools = ds.events.filter(pl.col("kind") == "tool")
    assert tools["args_json"][0] == json.dumps(marker)
    hashes = tools["args_hash"].to_list()
    assert hashes[0] == hashes[1] != hashes[2]
    assert tools["result_hash"][0] == tools["result_hash"][1]
    assert tools["status"].to_list() == ["ok", "ok", None]  # r3 has no output: status unknown


def test_sub_agent_names_its_parent(tmp_path, ingest_paths):
    meta = {"id": "child-1", "source": {"subagent": {"thread_spawn": {"parent_thread_id": "parent-1", "depth": 1}}}}
    recs = [_rec(0.0, "session_meta", meta), _event(0.0, type="user_message", message="sub task"), _say(1.0, "ok")]
    _, ds = ingest_paths([_write(tmp_path / "r.jsonl", recs)])
    assert ds.sessions.select("session_id", "parent_session_id").row(0) == ("codex:child-1", "codex:parent-1")


def test_session_id_falls_back_to_file_stem(tmp_path, ingest_paths):
    recs = [_event(0.0, type="user_message", message="hi"), _say(1.0, "hello")]
    _, ds = ingest_paths([_write(tmp_path / "rollout-nometa.jsonl", recs)], format="codex")
    assert ds.sessions["session_id"].to_list() == ["codex:rollout-nometa"]


# -- malformed input ------------------------------------------------------------------------------


def test_bad_lines_are_skipped_and_counted(tmp_path, ingest_paths):
    recs = _session()
    lines = [json.dumps(r).encode() for r in recs]
    lines.insert(8, b"this is not json")
    lines.insert(3, json.dumps(_rec(0.5, "mystery_record", {"x": 1})).encode())
    lines.insert(3, json.dumps(_item(0.5, type="hologram_call", call_id="h")).encode())
    lines.insert(3, json.dumps(_event(0.5, type="brand_new_event")).encode())
    lines.insert(3, json.dumps(_fout(0.6, "nobody-called-me")).encode())
    lines.insert(3, json.dumps(_say(0.6, "who am I", role="narrator")).encode())
    lines.insert(3, b"[1, 2, 3]")
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n" + b'{"timestamp": "2030-01-02T11:00:00Z", "type": "resp')
    result, ds = ingest_paths([path])
    assert result.report.by_reason == {
        "not_json": 1, "truncated_last_line": 1, "unknown_record": 5, "result_without_call": 1,
    }
    # everything else is read as in the clean file
    clean_result, clean = ingest_paths([_write(tmp_path / "clean" / "r.jsonl", _session())])
    assert _rows(ds, "kind", "tool", "t_start", "t_end") == _rows(clean, "kind", "tool", "t_start", "t_end")


def test_duplicate_output_is_skipped(tmp_path, ingest_paths):
    recs = _session()
    recs.insert(14, _fout(7.55, "c2", "again"))
    result, ds = ingest_paths([_write(tmp_path / "r.jsonl", recs)])
    assert result.report.by_reason == {"duplicate_result": 1}
    assert ds.events.filter(pl.col("kind") == "tool")["result_text"][1] == "step one"


def test_empty_file_yields_nothing(tmp_path, ingest_paths):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert not codex.sniff(b"")
    result, ds = ingest_paths([path], format="codex")
    assert result.sessions == 0 and result.report.total == 0


def test_non_utf8_bytes_are_replaced(tmp_path, ingest_paths):
    path = _write(tmp_path / "r.jsonl", _session())
    path.write_bytes(path.read_bytes().replace(b"w1\\nw2", b"w1\xff\xfe"))
    result, ds = ingest_paths([path])
    assert result.report.total == 0
    assert ds.events.filter(pl.col("kind") == "tool")["result_text"][0] == "w1\ufffd\ufffd"


def test_huge_output_is_cut_to_the_limit(tmp_path, ingest_paths):
    recs = _session()
    big = "x" * 3_000_000
    recs[12] = _fout(6.0, "c1", big)
    result, ds = ingest_paths([_write(tmp_path / "r.jsonl", recs)], limits=Limits(max_result_chars=1000))
    tool = ds.events.filter(pl.col("kind") == "tool").row(0, named=True)
    assert result.report.total == 0
    assert tool["result_text"] == "x" * 1000 and tool["t_end"] == 5.0


# -- detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "claimed"),
    [
        (json.dumps(_session()[0]).encode() + b"\n", True),
        (json.dumps(_session()[5]).encode() + b"\n", True),  # a file cut before its session_meta
        (b'{"id":"x","timestamp":"2030-01-01T00:00:00Z","instructions":null}\n{"record_type":"state"}\n', True),
        # a session_meta longer than the sniff window
        (b'{"timestamp":"2030-01-01T00:00:00.000Z","type":"session_meta","payload":{"id":"x","base_instructions":{"text":"' + b"a" * 70_000, True),
        (b'{"sessionId":"s","uuid":"u","type":"user","message":{"role":"user","content":"hi"}}\n', False),
        (b'{"session_id":"s","kind":"tool","tool":"Read","args":{}}\n', False),
        (b'{"manifest_version": 1, "source_family": "codex"}', False),
        (b"# Codex fixture\n\nNotes.\n", False),
        (b'{"type":"message","role":"user","content":"hi"}\n', False),
        (b'[{"id": 0, "source": "user", "action": "message", "args": {}}]', False),
        (b"", False),
    ],
)
def test_sniff(head, claimed):
    assert codex.sniff(head[: 64 * 1024]) is claimed


def test_other_readers_do_not_claim_rollouts():
    head = b"".join(json.dumps(r).encode() + b"\n" for r in _session())
    assert codex.sniff(head)
    assert not claude_code.sniff(head) and not native.sniff(head) and not openhands.sniff(head)


# -- property: mutated lines never crash and nothing vanishes silently ------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(value, prefix=()):
    """Every (key path) inside a JSON value, to pick a place to mutate."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _mutated(record: dict, data) -> bytes:
    how = data.draw(st.sampled_from(["truncate", "byte", "replace", "delete"]))
    raw = json.dumps(record).encode()
    if how == "truncate":
        return raw[: data.draw(st.integers(0, len(raw) - 1))]
    if how == "byte":
        at = data.draw(st.integers(0, len(raw) - 1))
        byte = data.draw(st.integers(0, 255).filter(lambda b: b not in (0x0A, 0x0D)))
        return raw[:at] + bytes([byte]) + raw[at + 1 :]
    clone = json.loads(raw)
    path = data.draw(st.sampled_from([p for p in _paths(clone) if p]))
    parent = clone
    for part in path[:-1]:
        parent = parent[part]
    if how == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(_JSON)
    return json.dumps(clone).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_lines_never_crash_and_are_accounted_for(tmp_path_factory, data):
    recs = _session()
    base_dir = tmp_path_factory.mktemp("base")
    [(_, base_events)], base_report = _read(_write(base_dir / "r.jsonl", recs))
    assert base_report.total == 0
    k = data.draw(st.integers(0, len(recs) - 1))  # 0-based index; line k + 1
    lines = [json.dumps(r).encode() for r in recs]
    lines[k] = _mutated(recs[k], data)
    path = tmp_path_factory.mktemp("mut") / "r.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    codex.sniff(path.read_bytes())  # must not raise
    finished, report = _read(path)  # must not raise
    # the line paired with k (a call and its output) may lose its partner
    ids = {i + 1: r["payload"].get("call_id") for i, r in enumerate(recs) if isinstance(r["payload"].get("call_id"), str)}
    partners = {line for line, cid in ids.items() if cid == ids.get(k + 1)}
    assert {s.line for s in report.examples} <= {k + 1} | partners
    assert report.total <= 1 + len(partners)
    # every tool call of another line is still there (same line, tool and arguments)
    after = {(e["source_line"], e["tool"], e["args_hash"]) for _, events in finished for e in events if e["kind"] == "tool"}
    before = {(e["source_line"], e["tool"], e["args_hash"]) for e in base_events if e["kind"] == "tool"}
    assert {b for b in before if b[0] != k + 1} <= after
    # and so is every user turn
    users = {e["source_line"] for _, events in finished for e in events if e["kind"] == "user" and e["wait_reason"] == "turn"}
    assert {e["source_line"] for e in base_events if e["kind"] == "user"} - {k + 1} <= users
