"""Claude Code session-JSONL reader: real logs (counts checked by an independent script), timing on a
hand-made session, sub-agent linkage, malformed input, detection, and a property test on mutations."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpaste_cli.ingest import SNIFF_BYTES, claude_code, detect_format, ingest
from bpaste_cli.ingest.base import ReadContext, SkipReport
from bpaste_cli.trace import Limits, load_dataset

T0 = datetime(2031, 5, 4, 10, 0, 0, tzinfo=timezone.utc)
SID = "0f0e0d0c-1111-4222-8333-944455556666"  # invented


def ts(offset: float) -> str:
    return (T0 + timedelta(seconds=offset)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def base(offset: float, **extra) -> dict:
    return {"parentUuid": None, "isSidechain": False, "sessionId": SID, "timestamp": ts(offset), **extra}


def human(offset: float, text, **extra) -> dict:
    return base(offset, type="user", message={"role": "user", "content": text}, uuid=f"u{offset}", **extra)


def block(offset: float, mid: str, content: dict, out: int = 1, **extra) -> dict:
    usage = {"input_tokens": 5, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000}
    usage["output_tokens"] = out
    msg = {"model": "model-x", "id": mid, "role": "assistant", "content": [content], "usage": usage}
    return base(offset, type="assistant", message=msg, uuid=f"a{offset}", **extra)


def text(t: str) -> dict:
    return {"type": "text", "text": t}


def use(call_id: str, name: str, **args) -> dict:
    return {"type": "tool_use", "id": call_id, "name": name, "input": args}


def result(offset: float, call_id: str, content="done", *, error: bool = False, tur=None, **extra) -> dict:
    res = {"type": "tool_result", "tool_use_id": call_id, "content": content}
    if error:
        res["is_error"] = True
    rec = base(offset, type="user", message={"role": "user", "content": [res]}, uuid=f"r{offset}", **extra)
    if tur is not None:
        rec["toolUseResult"] = tur
    return rec


def write(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records))
    return path


def events_of(ds, session_suffix: str = "") -> pl.DataFrame:
    return ds.events.filter(pl.col("session_id").str.ends_with(session_suffix)).sort("seq")


# --- a hand-made session, with its timings computed by hand -----------------------------------------

SESSION = [
    {"type": "file-history-snapshot", "messageId": "m0", "snapshot": {}, "isSnapshotUpdate": False},
    human(0.0, "please tidy the garden shed"),  # line 2: human turn
    block(2.0, "msg-A", {"type": "thinking", "thinking": "hmm", "signature": "zz"}),
    block(3.0, "msg-A", text("I will look first.")),
    block(4.0, "msg-A", use("call-1", "Bash", command="ls shed")),  # line 5: step 0 emitted here
    base(4.1, type="progress", data={"type": "hook_progress"}, uuid="p1"),
    block(4.5, "msg-A", use("call-2", "Read", file_path="/shed/list.txt")),
    result(5.0, "call-2", "rake, hoe"),
    result(7.5, "call-1", "permission denied", error=True, tur="Error: permission denied"),
    block(9.0, "msg-B", text("\n\n")),  # blank text: not what the agent acts on
    block(10.0, "msg-B", use("call-3", "Glob", pattern="*.txt")),
    result(10.6, "call-3", "list.txt", tur={"filenames": ["list.txt"], "durationMs": 500}),
    block(12.0, "msg-C", text("The shed holds a rake and a hoe."), out=7),  # line 13: text-only step
    block(12.5, "msg-C", text("Anything else?"), out=30),
    human(20.0, "thanks, now ask me which one to keep"),
    block(23.0, "msg-D", use("call-4", "AskUserQuestion", question="keep which?")),
    result(53.0, "call-4", "the rake", tur={"answers": {"keep which?": "the rake"}}),
    base(53.5, type="system", subtype="turn_duration", durationMs=53500, uuid="s1"),
    block(55.0, "msg-E", text("Keeping the rake.")),
]


def test_timing_of_a_hand_made_session(tmp_path, ingest_paths):
    path = write(tmp_path / "s.jsonl", SESSION)
    res, ds = ingest_paths([path])
    assert res.report.total == 0
    ev = events_of(ds)
    cols = ["kind", "step", "tool", "t_start", "t_end", "wait_reason", "status"]
    rows = list(ev.select(cols).iter_rows())
    approx = pytest.approx
    assert rows == [
        ("user", None, None, 0.0, 0.0, "turn", None),  # first record: nothing before it
        # step 0 emitted at its first tool_use (4.0), inputs complete at the user message (0.0): think 4.0
        ("llm", 0, None, 0.0, 4.0, None, None),
        ("tool", 0, "Bash", 4.0, 7.5, None, "error"),  # latency 7.5 - 4.0 = 3.5
        ("tool", 0, "Read", 4.5, 5.0, None, "ok"),  # emitted at its own line: 5.0 - 4.5 = 0.5
        # step 1: the blank text at 9.0 is skipped, emitted at the tool_use (10.0); last result 7.5: think 2.5
        ("llm", 1, None, 7.5, 10.0, None, None),
        ("tool", 1, "Glob", 10.0, approx(10.5), None, "ok"),  # logged durationMs 500: 10.0 + 0.5
        # step 2 has no call: emitted at its first text (12.0); result arrived at 10.6: think 1.4
        ("llm", 2, None, approx(10.6), 12.0, None, None),
        ("user", None, None, 12.0, 20.0, "turn", None),  # the person took 20.0 - 12.0 = 8.0 s
        ("llm", 3, None, 20.0, 23.0, None, None),  # think 23.0 - 20.0 = 3.0
        ("tool", 3, "AskUserQuestion", 23.0, 23.0, None, "ok"),  # a question to the person: duration 0
        ("user", None, None, 23.0, 53.0, "approval", None),  # ... and 53.0 - 23.0 = 30 s of human time
        ("llm", 4, None, 53.0, 55.0, None, None),  # think 55.0 - 53.0 = 2.0
    ]
    llm = ev.filter(pl.col("kind") == "llm")
    assert llm["tokens_in"].to_list() == [1105] * 5  # 5 + 100 + 1000
    assert llm["tokens_out"].to_list() == [1, 1, 30, 1, 1]  # step 2: the larger of 7 and 30
    assert llm["text"][2] == "The shed holds a rake and a hoe.\nAnything else?"
    assert llm["source_line"].to_list() == [5, 11, 13, 16, 19]
    s = ds.sessions.row(0, named=True)
    assert s["session_id"] == f"claude-code:{SID}" and s["parent_session_id"] is None
    assert (s["n_llm_steps"], s["n_tool_calls"], s["n_parallel_steps"]) == (5, 4, 1)
    assert s["human_wait_s"] == pytest.approx(38.0)  # 8 + 30
    assert s["started_at"] == T0


def test_injected_user_lines_are_not_human_turns(tmp_path, ingest_paths):
    lines = [
        human(0.0, "start the job"),
        block(1.0, "m1", use("c1", "Bash", command="make")),
        result(2.0, "c1", "ok"),
        human(3.0, "<task-notification>\n<task-id>x</task-id>\n</task-notification>"),
        human(3.5, [text("<system-reminder>look</system-reminder>")]),
        human(4.0, "Caveat: generated by local commands", isMeta=True),
        human(4.5, "This session is being continued from a summary", isCompactSummary=True),
        human(5.0, "<local-command-stdout>done</local-command-stdout>"),
        block(6.0, "m2", text("finished")),
        human(9.0, [text("[Request interrupted by user]")]),  # a person pressed Esc: human
        human(10.0, "<command-name>/compact</command-name>"),  # a person typed a slash command: human
    ]
    _, ds = ingest_paths([write(tmp_path / "s.jsonl", lines)])
    turns = events_of(ds).filter(pl.col("wait_reason") == "turn")
    assert turns["source_line"].to_list() == [1, 10, 11]
    llm = events_of(ds).filter(pl.col("kind") == "llm")
    # the injected lines do not end the agent's think window: step 1 runs from the result (2.0) to 6.0
    assert (llm["t_start"][1], llm["t_end"][1]) == (2.0, 6.0)


def test_interrupted_call_keeps_its_latency(tmp_path, ingest_paths):
    # "User rejected tool use" also ends calls that were running when the person pressed Esc: no
    # duration is known, so the call's latency runs to the rejection and no approval time is invented
    lines = [
        human(0.0, "delete the logs"),
        block(1.0, "m1", use("c1", "Bash", command="rm -r logs")),
        result(31.0, "c1", "The user refused.", error=True, tur="User rejected tool use"),
        human(31.0, [text("[Request interrupted by user for tool use]")]),
    ]
    _, ds = ingest_paths([write(tmp_path / "s.jsonl", lines)])
    ev = events_of(ds)
    tool = ev.filter(pl.col("kind") == "tool").row(0, named=True)
    assert (tool["t_start"], tool["t_end"], tool["status"]) == (1.0, 31.0, "error")
    assert ev["wait_reason"].to_list() == ["turn", None, None, "turn"]


def test_untimed_records_still_ingest(tmp_path, ingest_paths):
    lines = [human(0.0, "hi"), block(1.0, "m1", use("c1", "Read", file_path="a")), result(2.0, "c1")]
    for rec in lines:
        del rec["timestamp"]
    _, ds = ingest_paths([write(tmp_path / "s.jsonl", lines)])
    s = ds.sessions.row(0, named=True)
    assert (s["timed"], s["n_llm_steps"], s["n_tool_calls"]) == (False, 1, 1)


# --- sub-agents ---------------------------------------------------------------------------------------


def test_sub_agent_linkage_on_hand_made_tree(tmp_path, ingest_paths):
    root = tmp_path / "proj"
    task_tur = {"agentId": "b7", "status": "completed", "totalDurationMs": 9000, "content": []}
    write(
        root / f"{SID}.jsonl",
        [
            human(0.0, "find the red bucket"),
            block(1.0, "m1", use("task-1", "Task", prompt="search the yard", subagent_type="Explore")),
            base(2.0, type="progress", data={"type": "agent_progress", "agentId": "b7"}, parentToolUseID="task-1"),
            result(11.0, "task-1", [text("found it")], tur=task_tur),
            block(12.0, "m2", text("It is in the yard.")),
        ],
    )
    side = {"isSidechain": True, "agentId": "b7"}
    write(
        root / SID / "subagents" / "agent-b7.jsonl",
        [
            human(1.5, "search the yard", **side),
            block(2.5, "s1", use("y1", "Grep", pattern="bucket"), **side),
            result(3.0, "y1", "yard.txt", **side),
            block(4.0, "s2", text("In the yard."), **side),
        ],
    )
    compact = {"isSidechain": True, "agentId": "acompact-c1"}
    write(
        root / SID / "subagents" / "agent-acompact-c1.jsonl",
        [
            human(0.2, "<system-reminder>old</system-reminder>", isMeta=True, **compact),
            human(20.0, "Summarise the conversation.", **compact),
            block(29.0, "k1", text("Summary: bucket found."), **compact),
        ],
    )
    orphan = "9a9a9a9a-0000-4000-8000-000000000000"  # its parent file does not exist
    write(
        root / orphan / "subagents" / "agent-c3.jsonl",
        [human(0.0, "look around", isSidechain=True, agentId="c3", sessionId=orphan)],
    )
    res, ds = ingest_paths([root])
    assert res.report.total == 0
    rows = {r["session_id"]: r for r in ds.sessions.iter_rows(named=True)}
    parent = f"claude-code:{SID}"
    assert set(rows) == {parent, f"{parent}/agent-b7", f"{parent}/agent-acompact-c1", f"claude-code:{orphan}/agent-c3"}
    child = rows[f"{parent}/agent-b7"]
    assert (child["parent_session_id"], child["parent_call_id"]) == (parent, "task-1")
    assert rows[f"{parent}/agent-acompact-c1"]["parent_session_id"] == parent
    assert rows[f"{parent}/agent-acompact-c1"]["parent_call_id"] is None
    assert rows[f"claude-code:{orphan}/agent-c3"]["parent_session_id"] == f"claude-code:{orphan}"
    assert rows[f"claude-code:{orphan}/agent-c3"]["parent_call_id"] is None
    # the compaction agent: one step, from its prompt (20.0) to its summary (29.0); the meta line is no input
    k = events_of(ds, "agent-acompact-c1").filter(pl.col("kind") == "llm").row(0, named=True)
    assert k["t_end"] - k["t_start"] == 9.0
    # the Task call's latency is its logged totalDurationMs (9 s), emitted at 1.0
    task = events_of(ds, SID).filter(pl.col("tool") == "Task").row(0, named=True)
    assert (task["t_start"], task["t_end"]) == (1.0, 10.0)


def test_sub_agent_lines_inside_the_main_file(tmp_path, ingest_paths):
    side = {"isSidechain": True, "agentId": "d4"}
    lines = [
        human(0.0, "go"),
        block(1.0, "m1", use("task-9", "Task", prompt="dig")),
        human(1.2, "dig", **side),
        block(2.0, "s1", text("dug"), **side),
        result(3.0, "task-9", "dug", tur={"agentId": "d4", "totalDurationMs": 1900}),
    ]
    _, ds = ingest_paths([write(tmp_path / f"{SID}.jsonl", lines)])
    child = ds.sessions.filter(pl.col("session_id") == f"claude-code:{SID}/agent-d4").row(0, named=True)
    assert (child["parent_session_id"], child["parent_call_id"]) == (f"claude-code:{SID}", "task-9")


# --- the real logs --------------------------------------------------------------------------------------

# Counts per file, from a separate plain-`json` script run once over the raw files (no bpaste code):
# calls = number of `tool_use` blocks in assistant lines; steps = number of distinct `message.id`
# values; parallel = message ids with >= 2 tool_use blocks; every file holds one session.
# Files are named by kind (their names are session ids, which stay out of the repository):
# (kind, calls, steps, parallel)
REAL = sorted(
    [("main", 186, 152, 22), ("main", 150, 139, 11), ("main", 177, 143, 26), ("main", 242, 217, 18)]
    + [("main", 197, 157, 31), ("short.jsonl", 2, 1, 1), ("subagent.jsonl", 16, 12, 3), ("tool_heavy.jsonl", 6, 4, 2)]
    + [("agent", 2, 3, 0), ("agent", 33, 12, 5), ("agent", 48, 18, 16), ("agent", 19, 13, 6), ("agent", 12, 3, 2)]
    + [("agent", 25, 11, 9), ("agent", 21, 9, 6)]
    + [("compaction", 0, 1, 0)] * 5
)


def _kind(path: Path) -> str:
    if path.parent.name == "subagents":
        return "compaction" if path.stem.startswith("agent-acompact-") else "agent"
    return path.name if path.name in ("short.jsonl", "subagent.jsonl", "tool_heavy.jsonl") else "main"


@pytest.fixture
def real(shared_traces, ingest_paths):
    folder = shared_traces / "claude-code-spotter"
    res, ds = ingest_paths([folder])
    return folder, res, ds


def test_real_counts_per_file(real):
    folder, res, ds = real
    parallel = dict(ds.sessions.group_by("source_file").agg(pl.col("n_parallel_steps").sum()).iter_rows())
    rows = []
    for f in res.files:
        if f["status"] != "ingested":
            assert Path(f["path"]).name == "README.md" and f["status"] == "unrecognised"
            continue
        assert (f["format"], f["sessions"], f["skipped"]) == ("claude-code", 1, 0), f["path"]
        rows.append((_kind(Path(f["path"])), f["tool_calls"], f["llm_steps"], parallel[f["path"]]))
    assert sorted(rows) == REAL
    # totals: 20 sessions (8 main + 12 sub-agent), 1136 calls, 899 steps, 158 parallel steps, nothing skipped
    assert (res.sessions, res.tool_calls, res.llm_steps, res.report.total) == (20, 1136, 899, 0)
    assert ds.sessions["n_parallel_steps"].sum() == 158


def test_real_statuses_and_human_turns(real):
    _, _, ds = real
    tools = ds.events.filter(pl.col("kind") == "tool")
    # same script: 59 tool_result blocks with is_error true; every tool_use has a result in these logs
    assert (tools["status"] == "error").sum() == 59
    assert tools["status"].null_count() == 0
    # same script: user lines without tool_result that are not isMeta/isCompactSummary and do not start
    # with <task-notification> or <local-command-: 33 (sub-agent prompts included)
    assert (ds.events["wait_reason"] == "turn").sum() == 33
    d = ds.events["t_end"] - ds.events["t_start"]
    assert (d < 0).sum() == 0


def test_real_think_window_by_hand(real):
    folder, _, ds = real
    # short.jsonl, timestamps read by hand: the human message (line 4), then the model message's lines:
    # blank text +2.340 s, thinking +3.027, text +3.527, first tool_use (line 8) +4.271 = think window;
    # second tool_use (line 10) +4.823; both calls end rejected at +5.634 (the user interrupted):
    # latencies 5.634 - 4.271 = 1.363 s and 5.634 - 4.823 = 0.811 s.
    ev = ds.events.filter(pl.col("source_file").str.ends_with("short.jsonl")).sort("seq")
    llm = ev.filter(pl.col("kind") == "llm").row(0, named=True)
    assert llm["source_line"] == 8
    assert llm["t_end"] - llm["t_start"] == pytest.approx(4.271, abs=1e-6)
    tools = ev.filter(pl.col("kind") == "tool")
    latencies = (tools["t_end"] - tools["t_start"]).to_list()
    assert latencies == [pytest.approx(1.363, abs=1e-6), pytest.approx(0.811, abs=1e-6)]
    assert tools["status"].to_list() == ["error", "error"]
    assert ev.filter(pl.col("wait_reason") == "approval").height == 0


def test_real_parent_child_linkage(real):
    _, _, ds = real
    sessions = ds.sessions
    children = sessions.filter(pl.col("parent_session_id").is_not_null())
    assert children.height == 12
    task_calls = set(ds.events.filter(pl.col("tool") == "Task").select("session_id", "call_id").iter_rows())
    main_ids = set(sessions.filter(pl.col("parent_session_id").is_null())["session_id"])
    linked = 0
    for row in children.iter_rows(named=True):
        source = Path(row["source_file"])
        assert row["session_id"] == f"{row['parent_session_id']}/{source.stem}"
        assert source.parent.parent.name == row["parent_session_id"].removeprefix("claude-code:")
        if row["parent_call_id"] is not None:
            assert (row["parent_session_id"], row["parent_call_id"]) in task_calls
            linked += 1
        elif row["parent_session_id"] in main_ids:
            assert source.stem.startswith("agent-acompact-")  # compaction: no Task call spawned it
        else:  # the session whose main file is missing from the snapshot (SOURCES.md)
            assert not source.stem.startswith("agent-acompact-")
    # independent: plain-json scan of the parent files for Task results whose toolUseResult carries an
    # agentId, matched against the agent-<id>.jsonl files present: 6 (a 7th names an absent file)
    assert linked == 6
    assert len(main_ids) == 8 and len(set(children["parent_session_id"]) - main_ids) == 1


# --- malformed input ----------------------------------------------------------------------------------

GOOD = [
    human(0.0, "count the apples"),
    block(1.0, "m1", use("c1", "Bash", command="wc apples")),
    result(2.0, "c1", "7"),
]


def _skips(res) -> list[tuple[int | None, str]]:
    return [(s.line, s.reason) for s in res.report.examples]


def test_not_json_and_truncated_last_line(tmp_path, ingest_paths):
    path = tmp_path / "s.jsonl"
    path.write_bytes(
        orjson.dumps(GOOD[0]) + b"\n{not json at all\n" + orjson.dumps(GOOD[1]) + b"\n" + orjson.dumps(GOOD[2])[:-9]
    )
    res, ds = ingest_paths([path])
    assert _skips(res) == [(2, "not_json"), (4, "truncated_last_line")]
    s = ds.sessions.row(0, named=True)
    assert (s["n_llm_steps"], s["n_tool_calls"]) == (1, 1)
    assert events_of(ds).filter(pl.col("kind") == "tool")["status"].to_list() == [None]  # its result was cut


def test_unknown_record_result_without_call_duplicate_and_missing_fields(tmp_path, ingest_paths):
    lines = GOOD + [
        base(3.0, type="weather-report", uuid="w"),
        result(4.0, "c-never", "orphan"),
        result(5.0, "c1", "again"),
        base(6.0, type="assistant", uuid="x"),  # no message
        [1, 2, 3],
        block(7.0, "m2", {"type": "tool_use", "id": "c9", "input": {}}),  # no tool name
    ]
    res, ds = ingest_paths([write(tmp_path / "s.jsonl", lines)])
    assert _skips(res) == [
        (4, "unknown_record"), (5, "result_without_call"), (6, "duplicate_result"), (7, "missing_field"),
        (8, "unknown_record"), (9, "missing_field"),
    ]
    assert ds.sessions["n_tool_calls"].to_list() == [1]


def test_bad_content_blocks_are_counted_not_dropped(tmp_path, ingest_paths):
    """A model message whose content is empty, holds a non-object, or a block of an unknown type: each is
    a skip with its line (a mangled `tool_use` must not vanish silently)."""
    mangled = block(3.0, "m2", use("c2", "Read", file_path="apples.txt"))
    mangled["message"]["content"][0]["type"] = "to\u00ddl_use"
    thinking_then_grep = block(5.0, "m4", {"type": "thinking", "thinking": "hm"})
    thinking_then_grep["message"]["content"].append(use("c4", "Grep", pattern="apple"))
    lines = GOOD + [
        block(3.0, "m2", None),  # content [null]
        mangled,
        base(4.0, type="assistant", uuid="e", message={"id": "m3", "role": "assistant", "content": []}),
        thinking_then_grep,
    ]
    res, ds = ingest_paths([write(tmp_path / "s.jsonl", lines)])
    assert _skips(res) == [(4, "malformed_block"), (5, "unknown_record"), (6, "missing_field")]
    assert ds.sessions["n_tool_calls"].to_list() == [2]  # Bash, then Grep (its thinking block is no skip)


def test_empty_file(tmp_path, ingest_paths):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert not claude_code.sniff(b"")
    res, _ = ingest_paths([path], format="claude-code")
    assert (res.sessions, res.report.total) == (0, 0)
    blank = write(tmp_path / "blank.jsonl", [b"", b"   "])
    res, _ = ingest_paths([blank], format="claude-code")
    assert (res.sessions, res.report.total) == (0, 0)


def test_non_utf8_bytes_are_replaced_not_lost(tmp_path, ingest_paths):
    raw = orjson.dumps(human(0.0, "caf\u00e9 PLACEHOLDER")).replace(b"PLACEHOLDER", b"\xff\xfe")
    path = write(tmp_path / "s.jsonl", [raw] + [orjson.dumps(r) for r in GOOD[1:]])
    res, ds = ingest_paths([path])
    assert res.report.total == 0
    assert events_of(ds)["text"][0] == "caf\u00e9 \ufffd\ufffd"


def test_huge_line(tmp_path, ingest_paths, monkeypatch):
    big = "x" * 5_000_000
    lines = GOOD[:2] + [result(2.0, "c1", big)]
    res, ds = ingest_paths([write(tmp_path / "s.jsonl", lines)], limits=Limits(max_result_chars=1000))
    assert res.report.total == 0
    assert events_of(ds).filter(pl.col("kind") == "tool")["result_text"][0] == "x" * 1000
    import bpaste_cli.ingest.base as base_mod

    monkeypatch.setattr(base_mod, "MAX_LINE_BYTES", 1_000_000)  # a line beyond the reader's line limit
    res, _ = ingest_paths([tmp_path / "s.jsonl"])
    assert _skips(res) == [(3, "line_too_long")]


# --- detection ----------------------------------------------------------------------------------------


def test_sniff_accepts_every_real_file_and_rejects_other_real_formats(shared_traces):
    ours = sorted((shared_traces / "claude-code-spotter").rglob("*.jsonl"))
    assert len(ours) == 20
    for path in ours:
        with open(path, "rb") as fh:
            assert claude_code.sniff(fh.read(SNIFF_BYTES)), path
        assert detect_format(path) is claude_code, path
    others = [p for p in shared_traces.rglob("*") if p.is_file() and "claude-code-spotter" not in p.parts]
    assert others
    for path in others:
        with open(path, "rb") as fh:
            assert not claude_code.sniff(fh.read(SNIFF_BYTES)), path


def test_sniff_on_invented_heads():
    def head(*records) -> bytes:
        return b"".join(orjson.dumps(r) + b"\n" for r in records)

    assert claude_code.sniff(head(*GOOD))
    assert claude_code.sniff(head({"type": "summary", "summary": "Shed tidying", "leafUuid": "l1"}, GOOD[0]))
    assert claude_code.sniff(head({"type": "summary", "summary": "Only a title", "leafUuid": "l1"}))
    snapshot = {"type": "file-history-snapshot", "messageId": "m", "snapshot": {"blob": "y" * 100_000}}
    assert claude_code.sniff(head(snapshot)[:SNIFF_BYTES])  # first line cut by the sniff window
    codex = [
        {"timestamp": ts(0), "type": "session_meta", "payload": {"id": "abc", "cwd": "/w"}},
        {"timestamp": ts(1), "type": "response_item", "payload": {"type": "message", "role": "user"}},
    ]
    assert not claude_code.sniff(head(*codex))
    native = [{"session_id": "n1", "kind": "user", "text": "hi"}, {"session_id": "n1", "kind": "llm", "t_end": 2}]
    assert not claude_code.sniff(head(*native))
    assert not claude_code.sniff(head({"role": "user", "content": "hello"}))
    assert not claude_code.sniff(head({"type": "user", "message": {"content": "no ids"}}))
    assert not claude_code.sniff(b"# a markdown file\nwith text\n")
    assert not claude_code.sniff(head([1, 2]))


# --- property: mutated lines never crash the reader and never vanish -------------------------------------

KNOWN = {"user", "assistant"} | set(claude_code._BOOKKEEPING)
INTS = st.integers(-(2**63), 2**63 - 1)
VALUES = st.one_of(
    st.none(), st.booleans(), INTS, st.floats(allow_nan=False), st.text(max_size=8),
    st.lists(INTS, max_size=2), st.dictionaries(st.text(max_size=4), INTS, max_size=2),
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_files(draw):
    records = [json.loads(json.dumps(r)) for r in SESSION]
    for _ in range(draw(st.integers(0, 6))):
        rec = records[draw(st.integers(0, len(records) - 1))]
        paths = list(_paths(rec))[1:]
        if not paths:
            continue
        where = draw(st.sampled_from(paths))
        target = rec
        for key in where[:-1]:
            target = target[key]
        if draw(st.booleans()):
            target[where[-1]] = draw(VALUES)
        elif isinstance(target, dict):
            del target[where[-1]]
    lines = [orjson.dumps(r) for r in records]
    order = draw(st.permutations(range(len(lines)))) if draw(st.booleans()) else range(len(lines))
    lines = [lines[i] for i in order]
    for _ in range(draw(st.integers(0, 3))):  # byte-level damage
        i = draw(st.integers(0, len(lines) - 1))
        cut = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:cut] + draw(st.binary(max_size=3)).replace(b"\n", b"") + lines[i][cut + 1 :]
    return lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=mutated_files())
def test_mutations_never_crash_and_every_line_is_accounted_for(tmp_path, lines):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = SkipReport()
    ctx = ReadContext(path=path, display="m.jsonl", report=report, limits=Limits(), scrub=None)
    used: set[int] = set()
    for builder in claude_code.read(path, ctx):
        _, events = builder.finish()
        used |= {e["source_line"] for e in events}
        assert all(e["t_end"] >= e["t_start"] for e in events if e["t_end"] is not None and e["t_start"] is not None)
    skipped = {s.line for s in report.examples}
    for no, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw.decode("utf-8", "replace"))
        except orjson.JSONDecodeError:
            obj = None
        known = isinstance(obj, dict) and isinstance(obj.get("type"), str) and obj["type"] in KNOWN
        # a line is a record of a known type (ingested or deliberately passed over) or it is reported
        assert known or no in skipped, (no, raw[:120])
        if no in used:
            assert known


# --- resumed sessions across --append ------------------------------------------------------------------

def _resumed_logs(tmp_path: Path) -> tuple[Path, Path, str, str]:
    """The old session's file (6 events) and the file that resumed it: a copy of those 6 records, then 8 events of its own."""
    from test_ingest_robustness import NEW, OLD, cc_session, write

    old = cc_session(OLD, 2)
    new = cc_session(NEW, 3, t0=100.0)
    return (write(tmp_path / "logs" / f"{OLD}.jsonl", old), write(tmp_path / "logs" / f"{NEW}.jsonl", old + new),
            f"claude-code:{OLD}", f"claude-code:{NEW}")


def _sessions(out: Path) -> dict[str, tuple[int, str]]:
    ds = load_dataset(out)
    return {sid: (n, Path(f).stem[:4]) for sid, n, f in ds.sessions.select("session_id", "n_events", "source_file").iter_rows()}


def _file_rows(out: Path) -> dict[str, tuple[int, int, dict]]:
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    return {Path(r["path"]).stem[:4]: (r["sessions"], r["events"], r["skipped_by_reason"]) for r in manifest["files"]}


@pytest.mark.parametrize("first", ["resumed", "old"])
def test_resumed_and_old_session_whole_in_either_order_across_append(tmp_path: Path, first: str) -> None:
    """Ingest one of the two files, then --append the other (then both again, a no-op): either way the old session
    comes from its own file, the new one has only its own 8 events, and the copy is counted once as a skip."""
    old_file, new_file, old_id, new_id = _resumed_logs(tmp_path)
    out = tmp_path / "ds"
    a, b = (new_file, old_file) if first == "resumed" else (old_file, new_file)
    ingest([a], out)
    result = ingest([b], out, append=True)
    expect = {old_id: (6, old_file.stem[:4]), new_id: (8, new_file.stem[:4])}
    assert _sessions(out) == expect
    assert (result.sessions, result.events, result.tool_calls) == (2, 14, 5)  # the copy's 6 events not counted twice
    rows = _file_rows(out)
    assert rows == {old_file.stem[:4]: (1, 6, {}), new_file.stem[:4]: (1, 8, {"copied_history": 1})}
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["copied_sessions"] == {} and manifest["skipped_by_reason"] == {"copied_history": 1}
    again = ingest([old_file, new_file], out, append=True)
    assert _sessions(out) == expect and (again.sessions, again.events) == (2, 14) and _file_rows(out) == rows


def test_a_kept_copy_survives_unrelated_appends(tmp_path: Path) -> None:
    """Alone, the resumed file's copy is the only record of the old session: kept, listed as a copy, and kept
    across an --append of another file until the old session's own file arrives."""
    from test_ingest_robustness import cc_session, write

    old_file, new_file, old_id, new_id = _resumed_logs(tmp_path)
    out = tmp_path / "ds"
    ingest([new_file], out)
    other = write(tmp_path / "logs" / "3d3d3d3d-0000-4000-8000-000000000003.jsonl",
                  cc_session("3d3d3d3d-0000-4000-8000-000000000003", 1, t0=300.0))
    ingest([other], out, append=True)
    assert _sessions(out)[old_id] == (6, new_file.stem[:4])
    assert orjson.loads((out / "manifest.json").read_bytes())["copied_sessions"] == {old_id: str(new_file)}
    ingest([old_file], out, append=True)
    assert _sessions(out)[old_id] == (6, old_file.stem[:4]) and _sessions(out)[new_id] == (8, new_file.stem[:4])
    assert orjson.loads((out / "manifest.json").read_bytes())["copied_sessions"] == {}
