"""The chat reader: OpenAI-style messages in arrays, {messages} objects, JSONL, tau-bench, ToolBench and
mini-swe-agent containers; real-log counts, hand-made inputs, malformed inputs, detection, properties."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import orjson
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpaste_cli.ingest import chat, detect_format
from bpaste_cli.ingest.base import ReadContext, SkipReport
from bpaste_cli.trace.builder import Limits


def _write(path: Path, value) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(value if isinstance(value, bytes) else json.dumps(value, indent=2).encode())
    return path


def _jsonl(path: Path, rows) -> Path:
    return _write(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def _read(path: Path):
    """Run the reader directly: [(session row, events)], skip report."""
    report = SkipReport()
    ctx = ReadContext(path=path, display=str(path), report=report, limits=Limits(), scrub=None)
    return [b.finish() for b in chat.read(path, ctx) if not b.empty], report


def _tools(ds) -> pl.DataFrame:
    return ds.events.filter(pl.col("kind") == "tool").sort("session_id", "seq")


def _call(cid, name, args: str) -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


# -- real logs -------------------------------------------------------------------------------------


def test_tau_bench_counts(shared_traces, ingest_paths):
    # Verified once with plain json over the raw file (no bpaste code):
    #   d = json.load(open("tau-bench/gpt-4o-airline.json")); A = [m for e in d for m in e["traj"] if m["role"] == "assistant"]
    #   len(d) -> 200; sum(len(m.get("tool_calls") or []) for m in A) -> 1164; len(A) -> 2454;
    #   sum(len(m.get("tool_calls") or []) >= 2 for m in A) -> 0; user messages -> 1490.
    # Call ids are reused within a trajectory (73 repeats, e.g. in entry 0); each result pairs with the
    # latest unanswered call of that id, so nothing is skipped.
    result, ds = ingest_paths([shared_traces / "tau-bench"])
    assert (result.sessions, result.tool_calls, result.llm_steps, result.report.total) == (200, 1164, 2454, 0)
    assert ds.sessions["n_parallel_steps"].sum() == 0
    assert (ds.events["kind"] == "user").sum() == 1490
    assert not ds.sessions["timed"].any()
    assert ds.sessions["session_id"].n_unique() == 200
    assert all(s.startswith("chat:gpt-4o-airline#task") and "-trial" in s for s in ds.sessions["session_id"])
    assert _tools(ds)["status"].is_null().sum() == 0  # every call has its result


def test_tau_bench_arguments_copied_from_earlier_results(shared_traces, ingest_paths):
    # Data flow the miner relies on. Verified once with plain json over the raw file: for each traj, walk
    # the messages in order keeping the contents of `tool` messages seen so far; count the calls with at
    # least one string leaf of json.loads(arguments) of length >= 3 that is a substring of an earlier
    # tool content -> 723 (of 1164). Longest tool content is 8117 chars, under the 8192 result limit.
    _, ds = ingest_paths([shared_traces / "tau-bench"], keep_secrets=True)

    def leaves(v):
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            for x in v.values():
                yield from leaves(x)
        elif isinstance(v, list):
            for x in v:
                yield from leaves(x)

    copied = 0
    for _, rows in _tools(ds).group_by("session_id"):
        seen: list[str] = []
        for row in rows.sort("seq").iter_rows(named=True):
            args = orjson.loads(row["args_json"])
            copied += any(len(v) >= 3 and any(v in r for r in seen) for v in leaves(args))
            seen.append(row["result_text"] or "")
    assert copied == 723


def test_toolbench_counts(shared_traces, ingest_paths):
    # Verified once with plain json over the 15 raw files: 2 have no answer_generation.train_messages
    # (-> 2 skips, missing_field); for the other 13, in max(train_messages, key=len): messages with a
    # function_call -> 50; assistant messages -> 52; role function -> 37 (so 13 calls unanswered: the
    # final Finish call of each path); function contents not starting '{"error": ""' -> 6; user -> 20.
    result, ds = ingest_paths([shared_traces / "toolbench"])
    assert (result.sessions, result.tool_calls, result.llm_steps, result.report.total) == (13, 50, 52, 2)
    assert result.report.by_reason == {"missing_field": 2}
    assert ds.sessions["n_parallel_steps"].sum() == 0
    tools = _tools(ds)
    assert (tools["status"] == "error").sum() == 6
    assert tools["status"].is_null().sum() == 13
    assert set(tools.filter(pl.col("status").is_null())["tool"]) == {"Finish"}
    assert (ds.events["kind"] == "user").sum() == 20
    # query ids repeat across groups: the folder keeps the ids unique
    assert ds.sessions["session_id"].n_unique() == 13
    assert sum(s.startswith("chat:G2_answer/") for s in ds.sessions["session_id"]) == 5


def test_mini_swe_agent_counts(shared_traces, ingest_paths):
    # Verified once with plain json: github_issue.traj.json has 10 assistant messages, each with exactly
    # one ```mswea_bash_command block, 11 user messages (1 task + 10 observations), 2 observations with a
    # non-zero <returncode>; local.traj.json: 2 assistant, 2 blocks, 3 user (1 task + 2 observations).
    result, ds = ingest_paths([shared_traces / "mini-swe-agent"])
    assert (result.sessions, result.tool_calls, result.llm_steps, result.report.total) == (2, 12, 12, 0)
    assert (ds.events["kind"] == "user").sum() == 2
    tools = _tools(ds)
    assert set(tools["tool"]) == {"bash"}
    assert all(set(orjson.loads(a)) == {"command"} and orjson.loads(a)["command"] for a in tools["args_json"])
    assert (tools["status"] == "error").sum() == 2 and tools["status"].is_null().sum() == 0


def test_detection_on_real_files(shared_traces):
    for sub in ("tau-bench", "toolbench", "mini-swe-agent"):
        for p in (shared_traces / sub).rglob("*.json"):
            assert chat.sniff(p.read_bytes()[: 64 * 1024]), p
    others = [p for sub in ("swe-agent", "bfcl-multi-turn", "openhands", "claude-code-spotter", "codex-localpush")
              for p in (shared_traces / sub).rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".traj")]
    assert len(others) > 40
    for p in others:
        assert not chat.sniff(p.read_bytes()[: 64 * 1024]), p


# -- hand-made containers --------------------------------------------------------------------------


def test_array_of_messages_parallel_calls(tmp_path, ingest_paths):
    msgs = [
        {"role": "system", "content": "You sort socks."},
        {"role": "user", "content": "How many blue socks are in drawers 3 and 4?"},
        {"role": "assistant", "content": None, "tool_calls": [
            _call("c1", "count_socks", '{"drawer": 3, "colour": "blue"}'),
            _call("c2", "count_socks", '{"drawer": 4, "colour": "blue"}'),
        ]},
        {"role": "tool", "tool_call_id": "c2", "content": "5"},
        {"role": "tool", "tool_call_id": "c1", "content": "2"},
        {"role": "assistant", "content": "Seven blue socks."},
    ]
    result, ds = ingest_paths([_write(tmp_path / "socks.json", msgs)])
    assert (result.sessions, result.tool_calls, result.llm_steps, result.report.total) == (1, 2, 2, 0)
    assert ds.sessions["session_id"].to_list() == ["chat:socks#0"]
    assert ds.sessions["n_parallel_steps"].to_list() == [1]
    ev = ds.events.sort("seq")
    assert ev["kind"].to_list() == ["user", "llm", "tool", "tool", "llm"]
    tools = _tools(ds)
    assert tools["call_id"].to_list() == ["c1", "c2"]
    assert tools["batch"].to_list() == [0, 0]
    assert tools["args_json"].to_list() == ['{"colour":"blue","drawer":3}', '{"colour":"blue","drawer":4}']
    assert tools["result_text"].to_list() == ["2", "5"]
    assert ev["text"].to_list()[-1] == "Seven blue socks."


def test_messages_object_and_content_parts(tmp_path):
    doc = {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "water the"}, {"type": "text", "text": "ferns"}]},
        {"role": "assistant", "tool_calls": [_call("w", "water", '{"plant": "fern"}')]},
        {"role": "tool", "tool_call_id": "w", "content": [{"type": "text", "text": "done"}]},
    ]}
    sessions, report = _read(_write(tmp_path / "garden.json", doc))
    assert report.total == 0 and len(sessions) == 1
    row, events = sessions[0]
    assert row["session_id"] == "chat:garden#0"
    assert events[0]["text"] == "water the\nferns"
    assert events[2]["result_text"] == "done"


def test_jsonl_conversation_per_line_and_message_per_line(tmp_path, ingest_paths):
    convs = [
        {"messages": [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]},
        {"messages": [{"role": "user", "content": "lamp?"},
                      {"role": "assistant", "tool_calls": [_call("l", "lamp_on", "{}")]},
                      {"role": "tool", "tool_call_id": "l", "content": "on"}]},
    ]
    result, ds = ingest_paths([_jsonl(tmp_path / "convs.jsonl", convs)])
    assert result.sessions == 2 and result.report.total == 0
    assert sorted(ds.sessions["session_id"]) == ["chat:convs#0", "chat:convs#1"]

    lines = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "time?"},
             {"role": "assistant", "tool_calls": [_call("t", "clock", "{}")]},
             {"role": "tool", "tool_call_id": "t", "content": "noon"}, {"role": "assistant", "content": "Noon."}]
    result, ds = ingest_paths([_jsonl(tmp_path / "one.jsonl", lines)])
    assert (result.sessions, result.tool_calls, result.llm_steps) == (1, 1, 2)
    assert ds.sessions["session_id"].to_list() == ["chat:one#0"]
    assert _tools(ds)["source_line"].to_list() == [3]  # JSONL keeps line numbers


def test_tau_bench_shape_reused_call_ids(tmp_path, ingest_paths):
    entries = [
        {"task_id": 7, "trial": t, "reward": 1.0, "info": {}, "traj": [
            {"role": "system", "content": "kiosk policy"},
            {"role": "user", "content": "find ticket for pat_9"},
            {"content": None, "role": "assistant", "tool_calls": [_call("call_same", "lookup", '{"who": "pat_9"}')]},
            {"role": "tool", "tool_call_id": "call_same", "name": "lookup", "content": '{"ticket": "TK-41"}'},
            {"content": None, "role": "assistant", "tool_calls": [_call("call_same", "cancel", '{"ticket": "TK-41"}')]},
            {"role": "tool", "tool_call_id": "call_same", "name": "cancel", "content": "cancelled"},
        ]} for t in (0, 1)
    ]
    result, ds = ingest_paths([_write(tmp_path / "kiosk.json", entries)])
    assert (result.sessions, result.tool_calls, result.report.total) == (2, 4, 0)
    assert sorted(ds.sessions["session_id"]) == ["chat:kiosk#task7-trial0", "chat:kiosk#task7-trial1"]
    tools = _tools(ds)
    assert tools["result_text"].to_list() == ['{"ticket": "TK-41"}', "cancelled"] * 2
    assert tools["call_id"][0] == "call_same" and tools["call_id"][1] != "call_same"


def test_legacy_function_call(tmp_path):
    msgs = [
        {"role": "user", "content": "weather in Oslo and Lima"},
        {"role": "assistant", "content": None, "function_call": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
        {"role": "function", "name": "weather", "content": "rain"},
        {"role": "assistant", "content": "and Lima", "function_call": {"name": "weather", "arguments": "{city: Lima"}},
        {"role": "function", "name": "weather", "content": "sun"},
        {"role": "function", "name": "weather", "content": "again?"},
    ]
    sessions, report = _read(_write(tmp_path / "legacy.json", msgs))
    tools = [e for e in sessions[0][1] if e["kind"] == "tool"]
    assert [t["result_text"] for t in tools] == ["rain", "sun"]
    assert tools[1]["args_json"] == '{"_raw":"{city: Lima"}'  # undecodable arguments are kept
    assert tools[0]["step"] == 0 and tools[1]["step"] == 1
    assert report.by_reason == {"result_without_call": 1}


def test_toolbench_shape(tmp_path, ingest_paths):
    system = {"role": "system", "content": "You are a route planner."}
    ask = {"role": "user", "content": "bus from A to B"}
    a1 = {"role": "assistant", "content": "look up stops",
          "function_call": str({"name": "stops_for_city", "arguments": '{\n "city": "A"\n}'})}  # Python repr
    r1 = {"role": "function", "name": "stops_for_city", "content": '{"error": "", "response": "[\'S1\', \'S2'}
    a2 = {"role": "assistant", "content": None, "function_call": {"name": "route_for_stops", "arguments": '{"from": "S1"}'}}
    r2 = {"role": "function", "name": "route_for_stops", "content": '{"error": "Timeout error...", "response": ""}'}
    a3 = {"role": "assistant", "content": None,
          "function_call": {"name": "Finish", "arguments": '{"return_type": "give_up_and_restart"}'}}
    doc = {"win": False, "tree": {"tree": {"children": []}}, "answer_generation": {
        "valid_data": True, "query": "bus", "train_messages": [
            [system, ask, a1], [system, ask, a1, r1, a2], [system, ask, a1, r1, a2, r2, a3]]}}
    for group in ("G1_answer", "G2_answer"):  # same file name in two groups: distinct sessions
        _write(tmp_path / "answer" / group / "4_ChatGPT_DFS_woFilter_w2.json", dict(doc, group=group))
    no_path = dict(doc, answer_generation={"valid_data": False, "query": "bus", "chain": []})
    _write(tmp_path / "answer" / "G3_answer" / "9_ChatGPT_DFS_woFilter_w2.json", no_path)
    result, ds = ingest_paths([tmp_path / "answer"])
    assert (result.sessions, result.tool_calls, result.llm_steps) == (2, 6, 6)
    assert result.report.by_reason == {"missing_field": 1}
    assert sorted(ds.sessions["session_id"]) == [
        "chat:G1_answer/4_ChatGPT_DFS_woFilter_w2#0", "chat:G2_answer/4_ChatGPT_DFS_woFilter_w2#0"]
    tools = _tools(ds).head(3)
    assert tools["tool"].to_list() == ["stops_for_city", "route_for_stops", "Finish"]
    assert tools["args_json"][0] == '{"city":"A"}'
    assert tools["status"].to_list() == ["ok", "error", None]


def test_text_actions_mini_swe_agent_shape(tmp_path):
    fence = "```mswea_bash_command"
    msgs = {"info": {"mini_version": "9.9"}, "messages": [
        {"role": "system", "content": "Reply with one bash block."},
        {"role": "user", "content": "Count the lines of notes.txt"},
        {"role": "assistant", "content": f"THOUGHT: look first\n\n{fence}\nwc -l notes.txt\n```"},
        {"role": "user", "content": "<returncode>1</returncode>\n<output>\nwc: notes.txt: missing\n</output>"},
        {"role": "assistant", "content": "I will think without acting."},
        {"role": "user", "content": "Please always provide EXACTLY ONE action."},
        {"role": "assistant", "content": f"{fence}\nls docs\n```\nand\n{fence}\nls src\n```"},
        {"role": "user", "content": "Please always provide EXACTLY ONE action."},
        {"role": "assistant", "content": "```bash\n  wc -l docs/notes.txt\n```"},
        {"role": "user", "content": "<returncode>0</returncode>\n<output>\n12 docs/notes.txt\n</output>"},
    ]}
    sessions, report = _read(_write(tmp_path / "run.traj.json", msgs))
    assert report.total == 0
    events = sessions[0][1]
    assert [e["kind"] for e in events] == ["user", "llm", "tool", "llm", "user", "llm", "user", "llm", "tool"]
    tools = [e for e in events if e["kind"] == "tool"]
    assert [t["args_json"] for t in tools] == ['{"command":"wc -l notes.txt"}', '{"command":"wc -l docs/notes.txt"}']
    assert [t["status"] for t in tools] == ["error", "ok"]
    assert sessions[0][0]["session_id"] == "chat:run.traj#0"


def test_text_actions_need_the_agent_markers(tmp_path):
    # an ordinary chat that shows a bash snippet is not a text-action agent
    msgs = [{"role": "user", "content": "how do I list files?"},
            {"role": "assistant", "content": "Use:\n```bash\nls -la\n```"},
            {"role": "user", "content": "thanks"}]
    sessions, report = _read(_write(tmp_path / "advice.json", msgs))
    assert [e["kind"] for e in sessions[0][1]] == ["user", "llm", "user"] and report.total == 0


def test_timestamps_give_think_windows_and_latencies(tmp_path):
    msgs = [
        {"role": "user", "content": "go", "timestamp": 1_700_000_100},
        {"role": "assistant", "timestamp": "2023-11-14T22:15:03Z",  # = 1_700_000_103
         "tool_calls": [_call("a", "fetch", '{"n": 1}'), _call("b", "fetch", '{"n": 2}')]},
        {"role": "tool", "tool_call_id": "a", "content": "x", "timestamp": 1_700_000_105},
        {"role": "tool", "tool_call_id": "b", "content": "y", "timestamp": 1_700_000_108},
        {"role": "assistant", "content": "done", "timestamp": 1_700_000_110},
    ]
    sessions, report = _read(_write(tmp_path / "timed.json", msgs))
    row, events = sessions[0]
    assert row["timed"] and row["started_at"] == 1_700_000_100
    spans = [(e["kind"], e["t_start"], e["t_end"]) for e in events]
    # step 0 thinks from the user message (100) to its emission (103): 0..3; call a 103->105: 3..5;
    # call b 103->108: 3..8; step 1's inputs are complete at the last result (108), it answers at 110: 8..10.
    assert spans == [("user", 0, 0), ("llm", 0, 3), ("tool", 3, 5), ("tool", 3, 8), ("llm", 8, 10)]


# -- malformed inputs ------------------------------------------------------------------------------


def test_not_json(tmp_path, ingest_paths):
    result, _ = ingest_paths([_write(tmp_path / "notes.txt", b"dear diary\nit rained\n")], format="chat")
    assert result.sessions == 0 and result.report.by_reason == {"not_json": 2}
    result, _ = ingest_paths([_write(tmp_path / "cut.json", b'[\n  {"role": "user", "content": "hel')], format="chat")
    assert result.sessions == 0 and result.report.by_reason == {"not_json": 1}


def test_truncated_last_line(tmp_path, ingest_paths):
    body = (json.dumps({"role": "user", "content": "hi"}) + "\n" + json.dumps({"role": "assistant", "content": "yo"})
            + "\n" + '{"role": "assistant", "content": "and th').encode()
    result, _ = ingest_paths([_write(tmp_path / "t.jsonl", body)])
    assert (result.sessions, result.llm_steps) == (1, 1)
    assert result.report.by_reason == {"truncated_last_line": 1}


def test_unknown_roles_results_without_call_and_duplicates(tmp_path):
    msgs = [
        {"role": "user", "content": "hi"},
        {"role": "narrator", "content": "meanwhile"},
        "not a message",
        {"role": "tool", "tool_call_id": "ghost", "content": "boo"},
        {"role": "tool", "content": "no id, no name"},
        {"role": "assistant", "tool_calls": [_call("k", "kettle", '{"on": true}'), {"type": "function", "function": {}}]},
        {"role": "tool", "tool_call_id": "k", "content": "boiling"},
        {"role": "tool", "tool_call_id": "k", "content": "boiling again"},
    ]
    sessions, report = _read(_write(tmp_path / "odd.json", msgs))
    assert report.by_reason == {"unknown_record": 2, "result_without_call": 2, "missing_field": 1,
                                "duplicate_result": 1}
    tools = [e for e in sessions[0][1] if e["kind"] == "tool"]
    assert [(t["tool"], t["result_text"]) for t in tools] == [("kettle", "boiling")]


def test_empty_file(tmp_path, ingest_paths):
    result, ds = ingest_paths([_write(tmp_path / "empty.json", b"")], format="chat")
    assert (result.sessions, result.report.total) == (0, 0)
    assert _read(_write(tmp_path / "blank.json", b"  \n\n"))[0] == []
    assert _read(_write(tmp_path / "list.json", b"[]"))[0] == []


def test_non_utf8_bytes(tmp_path):
    raw = b'[{"role": "user", "content": "caf\xe9 order"}, {"role": "assistant", "content": "ok"}]'
    sessions, report = _read(_write(tmp_path / "latin.json", raw))
    assert report.total == 0
    assert sessions[0][1][0]["text"] == "caf\ufffd order"
    line = b'{"role": "user", "content": "na\xefve"}\n{"role": "assistant", "content": "ok"}\n'
    sessions, report = _read(_write(tmp_path / "latin.jsonl", line))
    assert report.total == 0 and sessions[0][1][0]["text"] == "na\ufffdve"


def test_huge_line(tmp_path, ingest_paths):
    big = "z" * 5_000_000
    rows = [{"role": "assistant", "tool_calls": [_call("h", "dump", "{}")]},
            {"role": "tool", "tool_call_id": "h", "content": big}]
    result, ds = ingest_paths([_jsonl(tmp_path / "huge.jsonl", rows)])
    assert result.tool_calls == 1 and result.report.total == 0
    tools = _tools(ds)
    assert len(tools["result_text"][0]) == Limits().max_result_chars


# -- detection -------------------------------------------------------------------------------------


def _sniff_value(value) -> bool:
    return chat.sniff(json.dumps(value).encode()[: 64 * 1024])


def test_sniff_accepts_each_container(tmp_path):
    msg = {"role": "user", "content": "hi"}
    assert _sniff_value([msg]) and _sniff_value({"messages": [msg]}) and _sniff_value(msg)
    assert _sniff_value([{"task_id": 1, "traj": [msg]}])
    assert chat.sniff(b'{"messages": [{"role": "user", "content": "a"}]}\n{"messages": []}\n')
    assert chat.sniff(b'{"role": "system", "content": "s"}\n{"role": "user", "content": "u"}\n')
    # documents larger than the head: judged from their opening bytes
    pad = "q" * 70_000
    heads = [
        json.dumps([{"task_id": 3, "reward": 0, "info": {"note": pad}, "traj": []}], indent=2),
        json.dumps({"win": True, "tree": {"note": pad}, "answer_generation": {}}, indent=2),
        json.dumps({"win": True, "tree": {"note": pad}, "answer_generation": {}}),
        json.dumps([{"role": "user", "content": pad}]),
        json.dumps({"messages": [{"role": "user", "content": pad}]}, indent=1),
        json.dumps({"info": {"mini_version": "1.0", "submission": pad}, "messages": []}),
    ]
    for text in heads:
        assert len(text) > 64 * 1024
        assert chat.sniff(text.encode()[: 64 * 1024]), text[:60]


def test_sniff_rejects_other_formats():
    foreign = [
        {"type": "user", "message": {"role": "user", "content": "x"}, "sessionId": "s", "uuid": "u"},  # Claude Code
        {"timestamp": "t", "type": "response_item", "payload": {"type": "message", "role": "user"}},  # Codex
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]},  # Responses item
        {"session_id": "s", "kind": "llm"},  # native
        {"environment": "e", "trajectory": [], "history": [{"role": "system", "content": "x"}]},  # SWE-agent
        [{"id": 0, "timestamp": "t", "source": "user", "message": "m", "action": "message"}],  # OpenHands
        {"id": "multi_turn_base_1", "question": [[{"role": "user", "content": "x"}]]},  # BFCL question
        {"id": "multi_turn_base_1", "ground_truth": [["cd(folder='x')"]]},  # BFCL answer
        {"name": "cd", "description": "d", "parameters": {}},  # BFCL function doc
        {"resourceSpans": []},
        [1, 2, 3],
        "role",
    ]
    for value in foreign:
        assert not _sniff_value(value), value
    big_swe = json.dumps({"environment": "e", "trajectory": [{"action": "x" * 70_000}],
                          "history": [{"role": "user", "content": "y"}]}, indent=2).encode()
    assert not chat.sniff(big_swe[: 64 * 1024])
    assert not chat.sniff(b"") and not chat.sniff(b"plain text\n")


def test_detect_format_picks_chat(tmp_path):
    path = _write(tmp_path / "c.json", [{"role": "user", "content": "hi"}])
    assert detect_format(path) is chat


# -- properties ------------------------------------------------------------------------------------

_IDS = st.sampled_from(["c0", "c1", "c2"])
_NAMES = st.sampled_from(["alpha", "beta"])
_TEXT = st.text(alphabet='ab {}":,[]1', max_size=12)
_MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "user"]), "content": st.one_of(st.none(), _TEXT)}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": st.one_of(st.none(), _TEXT),
                           "tool_calls": st.lists(st.builds(_call, _IDS, _NAMES, _TEXT), max_size=3)}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": st.none(),
                           "function_call": st.fixed_dictionaries({"name": _NAMES, "arguments": _TEXT})}),
    st.fixed_dictionaries({"role": st.just("tool"), "tool_call_id": _IDS, "content": _TEXT}),
    st.fixed_dictionaries({"role": st.sampled_from(["function", "tool"]), "name": _NAMES, "content": _TEXT}),
    st.fixed_dictionaries({"role": st.sampled_from(["bot", "", "TOOL"]), "content": _TEXT}),
    st.one_of(st.integers(), st.text(max_size=5), st.none()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_MESSAGE, max_size=25))
def test_every_message_is_ingested_or_skipped(msgs):
    with tempfile.TemporaryDirectory() as tmp:
        sessions, report = _read(_write(Path(tmp) / "p.json", msgs))
    events = [e for _, evs in sessions for e in evs]
    prompts = sum(isinstance(m, dict) and m.get("role") in ("system", "developer") for m in msgs)
    users = sum(e["kind"] == "user" for e in events)
    steps = sum(e["kind"] == "llm" for e in events)
    answered = sum(e["kind"] == "tool" and e["status"] is not None for e in events)
    assert prompts + users + steps + answered + report.total == len(msgs)
    assert steps == sum(isinstance(m, dict) and m.get("role") == "assistant" for m in msgs)
    calls = sum(len(m.get("tool_calls", [])) + ("function_call" in m) for m in msgs if isinstance(m, dict)
                and m.get("role") == "assistant")
    assert sum(e["kind"] == "tool" for e in events) == calls


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.binary(max_size=3)), max_size=6))
def test_mutated_jsonl_never_crashes(cuts):
    rows = [{"role": "user", "content": "plan a picnic"},
            {"role": "assistant", "tool_calls": [_call("f", "forecast", '{"day": "sat"}')]},
            {"role": "tool", "tool_call_id": "f", "content": "sunny"},
            {"role": "assistant", "content": "Saturday it is."}]
    data = bytearray("".join(json.dumps(r) + "\n" for r in rows).encode())
    for pos, junk in cuts:
        pos = min(pos, len(data))
        data[pos:pos + len(junk)] = junk
    with tempfile.TemporaryDirectory() as tmp:
        sessions, report = _read(_write(Path(tmp) / "m.jsonl", bytes(data)))
    n_lines = bytes(data).count(b"\n") + (not bytes(data).endswith(b"\n"))
    events = [e for _, evs in sessions for e in evs]
    assert report.total <= n_lines + 4  # at most one skip per line, or per tool-call entry
    assert all(e["source_line"] is None or 1 <= e["source_line"] <= n_lines for e in events)
