"""OpenHands reader: real histories (read in place), hand-made instances, malformed input, properties."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpaste_cli.ingest import claude_code, codex, native, openhands, swe_agent
from bpaste_cli.ingest.base import ReadContext, SkipReport
from bpaste_cli.trace.builder import Limits

# -- hand-made histories (invented content) ----------------------------------------------------------

T0 = datetime(2030, 3, 4, 8, 0, 0)  # OpenHands writes naive times (read as UTC)


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def _response(rid: str, calls: dict[str, tuple[str, str]], content: str = "") -> dict:
    """A logged model response whose tool calls are {tool_call_id: (function name, arguments JSON)}."""
    tool_calls = [{"id": cid, "type": "function", "function": {"name": fn, "arguments": args}} for cid, (fn, args) in calls.items()]
    return {"id": rid, "model": "served-model", "choices": [{"message": {"role": "assistant", "content": content, "tool_calls": tool_calls}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


def _tcm(fn: str, cid: str, response: dict, n: int = 1) -> dict:
    return {"function_name": fn, "tool_call_id": cid, "model_response": response, "total_calls_in_response": n}


def _action(eid, t, action, source="agent", args=None, tcm=None, **extra):
    ev = {"id": eid, "timestamp": _ts(t), "source": source, "message": "", "action": action, "args": args or {}, **extra}
    if tcm is not None:
        ev["tool_call_metadata"] = tcm
    return ev


def _obs(eid, t, observation, cause=None, content="", source="agent", **extra):
    ev = {"id": eid, "timestamp": _ts(t), "source": source, "message": "", "observation": observation, "content": content,
          "extras": {}, **extra}
    if cause is not None:
        ev["cause"] = cause
    return ev


def _history() -> list[dict]:
    r1 = _response("r1", {"tc1": ("execute_bash", '{"command": "ls"}')}, "checking")
    r2 = _response("r2", {"tc2": ("str_replace_editor", '{"command": "view", "path": "/w/gadget.py"}')})
    r4 = _response("r4", {"tc4": ("think", '{"thought": "hmm"}')})
    r6 = _response("r6", {"tc6": ("finish", '{"message": "bye"}')})
    return [
        _action(0, 0.0, "system", args={"content": "you are an agent", "tools": []}),
        _action(1, 1.0, "message", source="user", args={"content": "rename the gadget"}),
        _action(2, 1.01, "recall", source="user", args={"query": "rename the gadget"}),
        _obs(3, 1.02, "recall", cause=2, source="environment"),
        _action(4, 4.0, "run", args={"command": "ls", "thought": "checking", "blocking": False}, tcm=_tcm("execute_bash", "tc1", r1)),
        _obs(5, 4.5, "run", cause=4, content="gadget.py", success=True, extras={"metadata": {"exit_code": 0}}),
        _action(6, 7.0, "read", args={"path": "/w/gadget.py", "thought": ""}, tcm=_tcm("str_replace_editor", "tc2", r2, 2)),
        _obs(7, 7.2, "read", cause=6, content="def gadget(): pass"),
        _action(8, 7.3, "edit", args={"path": "/w/gadget.py", "command": "str_replace", "old_str": "gadget", "new_str": "gizmo",
                                      "thought": "", "impl_source": "oh_aci"}, tcm=_tcm("str_replace_editor", "tc3", r2, 2)),
        _obs(9, 7.9, "edit", cause=8, content="edited"),
        _obs(10, 10.0, "error", content="Parameter 'command' is missing."),
        _action(11, 12.0, "think", args={"thought": "hmm"}, tcm=_tcm("think", "tc4", r4)),
        _obs(12, 12.01, "think", cause=11, content="Your thought has been logged."),
        _action(13, 14.0, "message", args={"content": "done, please check"}),
        _action(14, 100.0, "message", source="user", args={"content": "thanks"}),
        _action(15, 103.0, "finish", args={"final_thought": "bye"}, tcm=_tcm("finish", "tc6", r6)),
    ]


def _metrics() -> dict:
    latencies = [("r1", 2.5), ("r2", 1.5), ("r3", 1.0), ("r4", 1.2), ("r5", 0.5), ("r6", 2.0)]
    usages = [("r1", 100, 10), ("r2", 200, 20), ("r4", 300, 30), ("r6", 400, 40)]
    return {
        "response_latencies": [{"model": "cfg-model", "latency": lat, "response_id": rid} for rid, lat in latencies],
        "token_usages": [{"model": "cfg-model", "prompt_tokens": i, "completion_tokens": o, "response_id": rid} for rid, i, o in usages],
    }


def _instance(iid="proj__widget-7", history=None, metrics=None) -> dict:
    return {"instance_id": iid, "instruction": "fix it", "metadata": {}, "history": _history() if history is None else history,
            "metrics": _metrics() if metrics is None else metrics, "error": None}


def _write_jsonl(path: Path, records: list, *, tail: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + tail)
    return path


def _write_doc(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


def _rows(ds, *cols):
    """Event rows, floats rounded to the microsecond (epoch arithmetic leaves ~1e-7 noise)."""
    rows = ds.events.sort("session_id", "seq").select(*cols).rows()
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows]


def _read(path: Path, *, empty: list | None = None) -> tuple[list, SkipReport]:
    """Read with the reader directly: (finished sessions, skip report); ids of empty sessions go to `empty`."""
    report = SkipReport()
    ctx = ReadContext(path=path, display=str(path), report=report, limits=Limits(), scrub=None)
    finished = []
    for b in openhands.read(path, ctx):
        if b.empty:
            (empty if empty is not None else []).append(b.session_id)
        else:
            finished.append(b.finish())
    return finished, report


# -- real logs ------------------------------------------------------------------------------------


def _by_file(ds, name: str) -> pl.DataFrame:
    return ds.sessions.filter(pl.col("source_file").str.ends_with(name))


def test_real_histories_counts(shared_traces, ingest_paths):
    result, ds = ingest_paths([shared_traces / "openhands"])
    # Independent counts, run once over the raw files with plain json:
    # - multi_swe_bench_output.jsonl: 3 instances; agent actions with tool_call_metadata other than
    #   think/finish: 21 + 32 + 48 = 101; llm steps = len(metrics.response_latencies) = 23 + 34 + 50 = 107
    #   (every model response, including the 2 whose call failed validation); sum of the latencies
    #   354.7188 s; sum of metrics.token_usages prompt / completion tokens 1913342 / 13341;
    #   observations with success false or a non-zero extras.metadata.exit_code: 19.
    # - resolver_mock_output.jsonl: 2 instances; run/run_ipython actions 3 + 21 = 24; llm steps =
    #   len(metrics.costs) (one cost per model call) = 4 + 22 = 26; no timestamps.
    # - trajs/*.json: agent actions other than message/finish: 1 + 4 + 0 + 3 = 8; llm steps (those + agent
    #   messages + finish) 2 + 5 + 3 + 4 = 14; user messages 1 + 1 + 3 + 1 = 6; 1 failed command.
    # - every total_calls_in_response is 1: no parallel step.
    assert result.sessions == 9 and result.report.total == 0
    assert result.tool_calls == 101 + 24 + 8 and result.llm_steps == 107 + 26 + 14
    assert int(ds.sessions["n_parallel_steps"].sum()) == 0
    msb, resolver = _by_file(ds, "multi_swe_bench_output.jsonl"), _by_file(ds, "resolver_mock_output.jsonl")
    assert msb["n_tool_calls"].to_list() == [21, 32, 48] and msb["n_llm_steps"].to_list() == [23, 34, 50]
    assert resolver["n_tool_calls"].to_list() == [3, 21] and resolver["n_llm_steps"].to_list() == [4, 22]
    assert not resolver["timed"].any() and msb["timed"].all()
    assert ds.events.filter(pl.col("kind") == "user").height == 3 + 2 + 6
    assert ds.events.filter(pl.col("status") == "error").height == 19 + 1
    ids = ds.sessions["session_id"].to_list()
    assert all(sid.startswith("openhands:") for sid in ids) and len(set(ids)) == 9
    assert sorted(i for i in ids if i.startswith("openhands:resolver")) == [
        "openhands:resolver_mock_output#0", "openhands:resolver_mock_output#1",
    ]
    assert "openhands:basic#0" in ids


def test_real_latencies_give_step_starts(shared_traces, ingest_paths):
    _, ds = ingest_paths([shared_traces / "openhands" / "multi_swe_bench_output.jsonl"])
    llm = ds.events.filter(pl.col("kind") == "llm")
    # each step's think window is its logged response latency (see the counts above for the sums)
    assert float((llm["t_end"] - llm["t_start"]).sum()) == pytest.approx(354.7188, abs=1e-3)
    assert (int(llm["tokens_in"].sum()), int(llm["tokens_out"].sum())) == (1913342, 13341)
    # a step starts after the result it reacts to (14-57 ms later in these logs), never before it
    rows = ds.events.sort("session_id", "seq").select("session_id", "kind", "t_start", "t_end").rows()
    for (s1, k1, _, end), (s2, k2, start, _) in zip(rows, rows[1:]):
        if s1 == s2 and k1 == "tool" and k2 == "llm":
            assert 0 < start - end < 0.1


def test_real_files_detected_and_others_not_claimed(shared_traces):
    # every file of the shared traces: claimed exactly when it is an OpenHands file
    for path in sorted(p for p in shared_traces.rglob("*") if p.is_file()):
        head = path.read_bytes()[: 64 * 1024]
        assert openhands.sniff(head) is (path.parent.name in ("openhands", "trajs") and "openhands" in path.parts), path


# -- timing on a hand-made instance ---------------------------------------------------------------


def test_steps_latencies_tokens_and_parallel_calls(tmp_path, ingest_paths):
    result, ds = ingest_paths([_write_jsonl(tmp_path / "output.jsonl", [_instance()])])
    assert result.report.total == 0
    assert ds.sessions["session_id"].to_list() == ["openhands:proj__widget-7#0"]
    # times relative to the user message (t = 1.0):
    # step 0 (r1) emitted at 4.0 -> 3.0, latency 2.5 -> starts 0.5; run 3.0 -> 3.5
    # step 1 (r2, two calls) emitted 7.0 -> 6.0, latency 1.5 -> 4.5; read 6.0 -> 6.2; edit 6.3 -> 6.9
    # step 2: the error at 10.0 -> 9.0 is a response without action; the next unclaimed latency (r3, 1.0) -> 8.0
    # step 3 (think, r4) 12.0 -> 11.0, latency 1.2 -> 9.8
    # step 4 (agent message, no response id) 14.0 -> 13.0, takes r5's 0.5 -> 12.5
    # user turn at 100.0 -> 99.0, waiting since the agent's message (13.0)
    # step 5 (finish, r6) 103.0 -> 102.0, latency 2.0 -> 100.0
    assert _rows(ds, "kind", "step", "tool", "t_start", "t_end", "status", "tokens_in", "tokens_out", "wait_reason") == [
        ("user", None, None, 0.0, 0.0, None, None, None, "turn"),
        ("llm", 0, None, 0.5, 3.0, None, 100, 10, None),
        ("tool", 0, "execute_bash", 3.0, 3.5, "ok", None, None, None),
        ("llm", 1, None, 4.5, 6.0, None, 200, 20, None),
        ("tool", 1, "str_replace_editor", 6.0, 6.2, "ok", None, None, None),
        ("tool", 1, "str_replace_editor", 6.3, 6.9, "ok", None, None, None),
        ("llm", 2, None, 8.0, 9.0, None, None, None, None),
        ("llm", 3, None, 9.8, 11.0, None, 300, 30, None),
        ("llm", 4, None, 12.5, 13.0, None, None, None, None),
        ("user", None, None, 13.0, 99.0, None, None, None, "turn"),
        ("llm", 5, None, 100.0, 102.0, None, 400, 40, None),
    ]
    s = ds.sessions.row(0, named=True)
    assert (s["n_llm_steps"], s["n_tool_calls"], s["n_parallel_steps"]) == (6, 3, 1)
    assert s["human_wait_s"] == pytest.approx(86.0) and s["model"] == "cfg-model"
    tools = ds.events.filter(pl.col("kind") == "tool")
    # args: what the model wrote (tc1, tc2); tc3 is not in its logged response: the action's args
    # without OpenHands' bookkeeping fields
    assert tools["args_json"].to_list() == [
        '{"command":"ls"}',
        '{"command":"view","path":"/w/gadget.py"}',
        '{"command":"str_replace","new_str":"gizmo","old_str":"gadget","path":"/w/gadget.py"}',
    ]
    assert tools["call_id"].to_list() == ["tc1", "tc2", "tc3"]
    assert tools["result_text"].to_list() == ["gadget.py", "def gadget(): pass", "edited"]
    llm = ds.events.filter(pl.col("kind") == "llm")
    assert llm["text"].to_list() == ["checking", None, "Parameter 'command' is missing.", "hmm", "done, please check", "bye"]


def test_without_metrics_steps_start_when_inputs_are_complete(tmp_path, ingest_paths):
    path = _write_doc(tmp_path / "traj.json", _history())
    result, ds = ingest_paths([path])
    assert result.report.total == 0 and ds.sessions["session_id"].to_list() == ["openhands:traj#0"]
    rows = _rows(ds, "kind", "t_start", "t_end", "tokens_in", "source_line")
    # no latencies: step 0 thinks from the user message (0.0) to 3.0; step 1 from the run's result (3.5)
    # to 6.0; the error step from the edit's result (6.9) to 9.0; tokens from model_response.usage
    assert rows[1] == ("llm", 0.0, 3.0, 1, None)
    assert rows[3] == ("llm", 3.5, 6.0, 1, None)
    assert rows[6] == ("llm", 6.9, 9.0, None, None)


def test_oldest_format_without_ids_sources_or_times(tmp_path, ingest_paths):
    history = [
        {"content": "add a licence file", "images_urls": None, "wait_for_response": False, "action": "message"},
        {"command": "touch LICENCE", "thought": "create it", "keep_prompt": True, "action": "run", "is_confirmed": "confirmed"},
        {"content": "permission denied", "command_id": -1, "command": "touch LICENCE", "exit_code": 1, "observation": "run"},
        {"code": "open('LICENCE', 'w').write('x')", "thought": "try python", "action": "run_ipython", "kernel_init_code": "import os"},
        {"content": "", "code": "open('LICENCE', 'w').write('x')", "observation": "run_ipython"},
        {"content": "created it", "action": "message"},
        {"outputs": {}, "thought": "all done", "action": "finish"},
    ]
    record = {"issue": {"number": 3}, "instruction": "add a licence", "history": history, "metrics": {"costs": [0.1, 0.2, 0.3, 0.4]}}
    result, ds = ingest_paths([_write_jsonl(tmp_path / "resolver.jsonl", [record])])
    assert result.report.total == 0
    s = ds.sessions.row(0, named=True)
    assert s["session_id"] == "openhands:resolver#0" and s["timed"] is False
    assert _rows(ds, "kind", "step", "tool", "args_json", "status", "text") == [
        ("user", None, None, None, None, "add a licence file"),
        ("llm", 0, None, None, None, "create it"),
        ("tool", 0, "run", '{"command":"touch LICENCE"}', "error", None),
        ("llm", 1, None, None, None, "try python"),
        ("tool", 1, "run_ipython", '{"code":"open(\'LICENCE\', \'w\').write(\'x\')"}', "ok", None),
        ("llm", 2, None, None, None, "created it"),
        ("llm", 3, None, None, None, "all done"),
    ]


def test_history_of_action_observation_pairs(tmp_path, ingest_paths):
    h = _history()
    pairs = [[h[4], h[5]], [h[6], h[7]]]
    result, ds = ingest_paths([_write_jsonl(tmp_path / "pairs.jsonl", [_instance(history=[h[1], *pairs])])])
    assert result.report.total == 0
    assert ds.events.filter(pl.col("kind") == "tool")["status"].to_list() == ["ok", "ok"]


def test_single_instance_document_and_ids(tmp_path, ingest_paths):
    doc = _instance(iid=None)
    _, ds = ingest_paths([_write_doc(tmp_path / "one-run.json", doc)])
    assert ds.sessions["session_id"].to_list() == ["openhands:one-run#0"]
    lines = [_instance(iid="a__b-1"), _instance(iid="a__b-1"), _instance(iid=42)]
    _, ds = ingest_paths([_write_jsonl(tmp_path / "many.jsonl", lines)])
    assert ds.sessions["session_id"].to_list() == ["openhands:a__b-1#0", "openhands:a__b-1#1", "openhands:42#2"]
    lines_of = ds.events.group_by("session_id").agg(pl.col("source_line").unique())
    assert dict(lines_of.rows()) == {"openhands:a__b-1#0": [1], "openhands:a__b-1#1": [2], "openhands:42#2": [3]}


def test_user_commands_and_state_changes_hold_no_events(tmp_path, ingest_paths):
    history = [
        _obs(0, 0.0, "agent_state_changed", source="environment", extras={"agent_state": "loading"}),
        _action(1, 0.5, "change_agent_state", source="environment", args={"agent_state": "init"}),
        _obs(2, 0.6, "null", cause=1, source="environment"),
        _action(3, 1.0, "message", source="user", args={"content": "hello"}),
        _obs(4, 1.1, "null", cause=3, source="user"),
        _action(5, 2.0, "run", source="user", args={"command": "date"}),
        _obs(6, 2.5, "run", cause=5, source="agent", content="Tuesday"),
        _action(7, 4.0, "message", args={"content": "hi there", "wait_for_response": True}),
    ]
    result, ds = ingest_paths([_write_doc(tmp_path / "gui.json", history)])
    assert result.report.total == 0
    assert _rows(ds, "kind", "t_start", "t_end") == [("user", 0.0, 0.0), ("llm", 0.0, 3.0)]


# -- malformed input ------------------------------------------------------------------------------


def test_bad_events_are_skipped_and_counted(tmp_path, ingest_paths):
    h = _history()
    h[3:3] = [
        7,
        {"id": 90, "timestamp": _ts(1.03), "source": "agent"},  # neither action nor observation
        {"id": 91, "action": "run", "observation": "run"},  # both
        _obs(92, 1.04, "run", cause=555, content="orphan"),
        _obs(93, 1.05, "mystery"),  # no cause, answers nothing
    ]
    h.insert(8 + 5, _obs(94, 4.6, "run", cause=4, content="again"))
    result, ds = ingest_paths([_write_jsonl(tmp_path / "output.jsonl", [_instance(history=h)])])
    assert result.report.by_reason == {"unknown_record": 3, "result_without_call": 2, "duplicate_result": 1}
    assert {s.line for s in result.report.examples} == {1}
    assert any(s.detail.startswith("event #3: int") for s in result.report.examples)
    _, clean = ingest_paths([_write_jsonl(tmp_path / "clean" / "output.jsonl", [_instance()])])
    assert _rows(ds, "kind", "tool", "t_start", "t_end", "result_text") == _rows(clean, "kind", "tool", "t_start", "t_end", "result_text")


def test_bad_lines_are_skipped_and_counted(tmp_path, ingest_paths):
    lines = [json.dumps(_instance(iid="x-1")).encode(), b"not json at all", json.dumps({"instance_id": "x-3"}).encode(),
             b"[1, 2]", json.dumps(_instance(iid="x-5")).encode()]
    path = tmp_path / "output.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n" + json.dumps(_instance(iid="x-6")).encode()[:500])
    assert openhands.sniff(path.read_bytes()[: 64 * 1024])
    result, ds = ingest_paths([path])
    assert result.report.by_reason == {"not_json": 1, "missing_field": 2, "truncated_last_line": 1}
    assert ds.sessions["session_id"].to_list() == ["openhands:x-1#0", "openhands:x-5#4"]


def test_jsonl_with_a_damaged_first_line_is_read_line_by_line(tmp_path, ingest_paths):
    """A first line that opens like a JSON document does not turn the rest of a JSONL file into one
    unreadable document: the damaged lines are skipped, the instances after them ingested."""
    for first, reason in ((b"[1, 2, 3]", "missing_field"), (b"[1,2", "not_json")):
        path = tmp_path / f"output-{reason}.jsonl"
        path.write_bytes(first + b"\n" + json.dumps(_instance(iid="x-2")).encode() + b"\n")
        result, ds = ingest_paths([path], format="openhands")
        assert [(s.line, s.reason) for s in result.report.examples] == [(1, reason)]
        assert ds.sessions["session_id"].to_list() == ["openhands:x-2#1"]


@pytest.mark.parametrize("data, jsonl", [
    (b'[1,2\n{"a": 1}\n', True),  # damaged first line, then whole records
    (b'{\n{"a": 1}\n[2]\n', True),
    (b'[\n  {\n    "id": 1,\n', False),  # a pretty-printed document cut short
    (b'{\n"history": [\n', False),  # indent=0: members start with a key
    (b'{"a": [1,\n', False),  # one line
])
def test_damaged_jsonl_is_told_from_a_damaged_document(data, jsonl):
    from bpaste_cli.ingest.base import looks_like_jsonl

    assert looks_like_jsonl(data) is jsonl


def test_broken_document_is_one_skip(tmp_path, ingest_paths):
    path = tmp_path / "traj.json"
    path.write_text(json.dumps(_history(), indent=2)[:-40])
    result, ds = ingest_paths([path])
    assert result.sessions == 0 and result.report.by_reason == {"not_json": 1}
    last = len(path.read_text().splitlines())
    assert [s.line for s in result.report.examples] == [last]  # where the parser gave up: the cut end
    _write_doc(path, {"events": []})
    result, _ = ingest_paths([path], format="openhands")
    assert result.report.by_reason == {"missing_field": 1}


def test_empty_inputs_yield_nothing(tmp_path, ingest_paths):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert not openhands.sniff(b"")
    result, _ = ingest_paths([empty], format="openhands")
    assert result.sessions == 0 and result.report.total == 0
    # an instance with no events is a session without content: reported by ingest, not made up
    result, _ = ingest_paths([_write_jsonl(tmp_path / "none.jsonl", [_instance(history=[])])], format="openhands")
    assert result.sessions == 0 and result.report.by_reason == {"empty_session": 1}


def test_non_utf8_bytes_are_replaced(tmp_path, ingest_paths):
    path = _write_jsonl(tmp_path / "output.jsonl", [_instance()])
    path.write_bytes(path.read_bytes().replace(b'"gadget.py"', b'"gadget\xff.py"'))
    result, ds = ingest_paths([path])
    assert result.report.total == 0
    assert ds.events.filter(pl.col("kind") == "tool")["result_text"][0] == "gadget\ufffd.py"


def test_huge_observation_is_cut_to_the_limit(tmp_path, ingest_paths):
    h = _history()
    h[5]["content"] = "y" * 3_000_000
    result, ds = ingest_paths([_write_jsonl(tmp_path / "output.jsonl", [_instance(history=h)])], limits=Limits(max_result_chars=500))
    assert result.report.total == 0
    assert ds.events.filter(pl.col("kind") == "tool")["result_text"][0] == "y" * 500


# -- detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "claimed"),
    [
        (json.dumps(_history()).encode(), True),
        (json.dumps(_instance()).encode() + b"\n", True),
        (json.dumps({"history": [[_history()[4], _history()[5]]]}).encode(), True),
        # a first event longer than the sniff window
        (b'[{"id": 0, "timestamp": "2030-01-01T00:00:00", "source": "user", "action": "message", "args": {"content": "'
         + b"z" * 70_000, True),
        # SWE-agent: history of chat messages, trajectory steps with both action and observation
        (json.dumps({"trajectory": [{"action": "ls", "observation": "a"}], "history": [{"role": "system", "content": "x"}]}).encode(), False),
        (json.dumps([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]).encode(), False),
        (json.dumps([{"action": "ls -la", "observation": "a.txt"}]).encode(), False),
        (b'{"timestamp":"2030-01-01T00:00:00Z","type":"session_meta","payload":{"id":"x"}}\n', False),
        (b'{"session_id":"s","kind":"tool","tool":"Read"}\n', False),
        (b'{"instance_id": "x", "history": []}\n', False),
        (b"", False),
    ],
)
def test_sniff(head, claimed):
    assert openhands.sniff(head[: 64 * 1024]) is claimed


def test_other_readers_do_not_claim_histories():
    for head in (json.dumps(_history(), indent=2).encode(), json.dumps(_instance()).encode() + b"\n"):
        assert openhands.sniff(head)
        assert not claude_code.sniff(head) and not codex.sniff(head) and not native.sniff(head)
        assert not swe_agent.sniff(head)


# -- property: mutated events never crash and nothing vanishes silently -----------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _tool_keys(finished) -> Counter:
    return Counter((e["tool"], e["args_hash"]) for _, events in finished for e in events if e["kind"] == "tool")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_events_never_crash_and_are_accounted_for(tmp_path_factory, data):
    history = _history()
    base_dir = tmp_path_factory.mktemp("base")
    base, base_report = _read(_write_doc(base_dir / "t.json", history))
    assert base_report.total == 0
    k = data.draw(st.integers(0, len(history) - 1))
    clone = json.loads(json.dumps(history[k]))
    path = data.draw(st.sampled_from(list(_paths(clone))))
    if not path:
        clone = data.draw(_JSON)
    else:
        parent = clone
        for part in path[:-1]:
            parent = parent[part]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(_JSON)
    history[k] = clone
    doc = _write_doc(tmp_path_factory.mktemp("mut") / "t.json", history)
    openhands.sniff(doc.read_bytes()[: 64 * 1024])  # must not raise
    finished, report = _read(doc)  # must not raise
    # skips name the mutated event, or the observation that lost its action
    cause_of = {i: ev.get("cause") for i, ev in enumerate(_history()) if "observation" in ev}
    partners = {i for i, c in cause_of.items() if c == _history()[k].get("id")}
    allowed = tuple(f"event #{i}{end}" for i in {k} | partners for end in (":", "."))  # `k.j`: k became a list
    # (a time mutated beyond the year 3000 is a bad record, reported by the session builder with its value)
    assert all(s.detail.startswith(allowed) or s.reason == "bad_time" for s in report.examples), report.examples
    assert report.total <= (len(clone) if isinstance(clone, list) else 1) + len(partners)
    # every tool call of the other events is still there
    lost = _tool_keys(base) - _tool_keys(finished)
    assert sum(lost.values()) <= 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_lines_never_crash_and_are_accounted_for(tmp_path_factory, data):
    lines = [json.dumps(_instance(iid=f"w-{i}")).encode() for i in range(3)]
    k = data.draw(st.integers(0, 2))
    raw = lines[k]
    at = data.draw(st.integers(1, len(raw) - 1))  # (a line cut to nothing is blank, and blank lines are no records)
    if data.draw(st.booleans()):
        lines[k] = raw[:at]
    else:
        byte = data.draw(st.integers(0, 255).filter(lambda b: b not in (0x0A, 0x0D)))
        lines[k] = raw[:at] + bytes([byte]) + raw[at + 1 :]
    path = tmp_path_factory.mktemp("mut") / "output.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    openhands.sniff(path.read_bytes()[: 64 * 1024])  # must not raise
    empty: list[str] = []
    finished, report = _read(path, empty=empty)  # must not raise
    ids = {session["session_id"] for session, _ in finished}
    assert {f"openhands:w-{i}#{i}" for i in range(3) if i != k} <= ids
    assert all(s.line == k + 1 for s in report.examples)
    # line k is read (a session, possibly empty, which ingest reports) or skipped
    read_lines = {e["source_line"] for _, events in finished for e in events}
    assert k + 1 in read_lines or empty or report.total >= 1
