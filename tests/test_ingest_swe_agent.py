"""SWE-agent .traj reader: real trajectories (read in place), hand-made documents, malformed input, properties."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpaste_cli.ingest import bfcl, swe_agent
from bpaste_cli.ingest.base import ReadContext, SkipReport
from bpaste_cli.trace.builder import Limits, SessionBuilder

# -- hand-made documents (invented content) ---------------------------------------------------------


def _step(action, observation="done", thought="thinking", **extra):
    return {"action": action, "observation": observation, "response": f"{thought}\n```\n{action}\n```",
            "thought": thought, "state": "{}", **extra}


def _doc(steps, *, history=None, **extra):
    if history is None:
        history = [
            {"role": "system", "content": "you are a bot"},
            {"role": "user", "content": "DEMO task", "is_demo": True},
            {"role": "user", "content": "Fix the frobnicator crash"},
            {"role": "assistant", "content": "x", "action": "ls"},
        ]
    return {"environment": "swe_main", "trajectory": steps, "history": history, "info": {}, **extra}


def _write(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


def _tools(ds):
    return ds.events.filter(pl.col("kind") == "tool")


class _Recording(SessionBuilder):
    """A builder that remembers every tool_result call, to see what the reader passed on."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.results: list[tuple[str, object, float | None]] = []

    def tool_result(self, call_id, t, result, *, status="ok", duration=None):
        self.results.append((call_id, result, duration))
        return super().tool_result(call_id, t, result, status=status, duration=duration)


class _RecordingContext(ReadContext):
    def session(self, session_id, source_format, **kw):
        return _Recording(session_id, source_format, self.display, limits=self.limits)


def _read_recording(path: Path) -> tuple[list[_Recording], SkipReport]:
    report = SkipReport()
    ctx = _RecordingContext(path=path, display=str(path), report=report, limits=Limits(), scrub=None)
    return list(swe_agent.read(path, ctx)), report


# -- real logs ------------------------------------------------------------------------------------


def test_real_trajectories_counts(shared_traces, ingest_paths):
    result, ds = ingest_paths([shared_traces / "swe-agent"])
    # Independent count, run once with jq over the 22 raw files:
    #   for f in $(find swe-agent -name '*.traj'); do jq -r '[(.trajectory // [] | length),
    #     ([.history[] | select(.role=="assistant")] | length)] | @tsv' "$f"; done
    #   | awk '{t += ($1 > 0 ? $1 : $2); n++} END {print n, t}'          -> 22 232
    # (a file with an empty trajectory counts its history's assistant actions); no action is blank.
    assert result.sessions == 22
    assert result.tool_calls == 232 and result.llm_steps == 232
    assert result.report.total == 0
    assert ds.sessions["n_parallel_steps"].sum() == 0  # one action per step
    assert {f["format"] for f in result.files} == {"swe-agent"}
    # one task message per file: jq '[.history[] | select(.is_demo != true and .role != "system")][0].role'
    # is "user" in all 22 files
    assert ds.events.filter(pl.col("kind") == "user").height == 22
    # every step logs an observation, so every call has a result
    assert _tools(ds)["status"].to_list() == ["ok"] * 232
    # untimed: .traj files have no clock (see the module docstring)
    assert not ds.sessions["timed"].any()
    assert ds.events["t_start"].null_count() == ds.events.height


def test_real_tool_names_are_first_words(shared_traces, ingest_paths):
    _, ds = ingest_paths([shared_traces / "swe-agent"])
    counts = dict(_tools(ds)["tool"].value_counts().iter_rows())
    # jq: (trajectory actions, or history assistant actions when the trajectory is empty)
    #   | sub("^\\s+"; "") | [splits("\\s+")][0]   | sort | uniq -c  -> edit 46, python 31, submit 29, open 19, curl 18
    assert (counts["edit"], counts["python"], counts["submit"], counts["open"], counts["curl"]) == (46, 31, 29, 19, 18)


def test_real_history_only_and_missing_last_history_action(shared_traces, ingest_paths):
    root = shared_traces / "swe-agent"
    simple = root / "trajectories/demonstrations/function_calling_simple.traj"
    _, ds = ingest_paths([simple])
    # jq '.trajectory' -> null; jq '[.history[] | select(.role=="assistant")] | length' -> 5
    assert ds.sessions["n_tool_calls"].to_list() == [5]
    assert _tools(ds)["status"].to_list() == ["ok"] * 5
    # this file's history lacks the final action; the trajectory has it:
    # jq '.trajectory | length' -> 5, jq '[.history[] | select(.role=="assistant")] | length' -> 4
    test_repo = next((root / "tests/test_data/trajectories").glob("gpt4__swe-agent-test-repo__*/*.traj"))
    _, ds = ingest_paths([test_repo])
    assert ds.sessions["n_tool_calls"].to_list() == [5]
    assert _tools(ds)["tool"].to_list()[-1] == "submit"


def test_real_execution_time_is_passed_as_duration(shared_traces):
    # jq '[.trajectory[]? | select(.execution_time != null)] | length' summed over the files -> 40,
    # in 4 files (5 + 11 + 11 + 13)
    per_file = []
    for path in sorted((shared_traces / "swe-agent").rglob("*.traj")):
        builders, _ = _read_recording(path)
        durations = [d for b in builders for (_, _, d) in b.results if d is not None]
        if durations:
            per_file.append(len(durations))
            assert all(0 < d < 60 for d in durations)
    assert sorted(per_file) == [5, 11, 11, 13]


def test_real_files_detected_and_others_not_claimed(shared_traces):
    for path in sorted(shared_traces.rglob("*")):
        if not path.is_file():
            continue
        head = path.read_bytes()[: 64 * 1024]
        is_traj = path.suffix == ".traj" and "swe-agent" in path.parts
        assert swe_agent.sniff(head) == is_traj, path
        if is_traj:
            assert not bfcl.sniff(head)


# -- hand-made documents ----------------------------------------------------------------------------


def test_steps_become_one_call_each(tmp_path, ingest_paths):
    steps = [
        _step("find_file widget.py\n", "Found 1 match", "look for it"),
        _step("edit 3:3\n    return 42\nend_of_edit", "File updated", "fix line 3"),
        _step("  submit  ", "diff --git a b", "done"),
    ]
    path = _write(tmp_path / "run-a" / "inst-1.traj", _doc(steps))
    result, ds = ingest_paths([path])
    assert result.report.total == 0
    rows = ds.events.select("kind", "step", "tool", "args_json", "result_text", "status", "text").rows()
    assert rows == [
        ("user", None, None, None, None, None, "Fix the frobnicator crash"),  # the demo is not the task
        ("llm", 0, None, None, None, None, "look for it"),
        ("tool", 0, "find_file", '{"command":"find_file widget.py"}', "Found 1 match", "ok", None),
        ("llm", 1, None, None, None, None, "fix line 3"),
        ("tool", 1, "edit", '{"command":"edit 3:3\\n    return 42\\nend_of_edit"}', "File updated", "ok", None),
        ("llm", 2, None, None, None, None, "done"),
        ("tool", 2, "submit", '{"command":"submit"}', "diff --git a b", "ok", None),
    ]
    assert ds.sessions["session_id"].to_list() == ["swe-agent:run-a/inst-1"]


def test_same_command_in_different_styles_gets_equal_args(tmp_path, ingest_paths):
    bash_block = _doc([_step("open src/app.py\n")])
    function_calling = _doc(
        [_step("open src/app.py")],
        history=[{"role": "user", "content": "task"},
                 {"role": "assistant", "action": "open src/app.py",
                  "tool_calls": [{"function": {"name": "open", "arguments": '{"path": "src/app.py"}'}, "id": "c1"}]}],
    )
    a = _write(tmp_path / "bash_style" / "x.traj", bash_block)
    b = _write(tmp_path / "fc_style" / "x.traj", function_calling)
    _, ds = ingest_paths([a, b])
    tools = _tools(ds)
    assert tools["session_id"].n_unique() == 2  # same file name, different run dirs: distinct sessions
    assert tools["tool"].to_list() == ["open", "open"]
    assert tools["args_hash"].n_unique() == 1


def test_execution_time_is_logged_duration_but_sessions_stay_untimed(tmp_path, ingest_paths):
    steps = [
        _step("ls", "a b", execution_time=0.25),
        _step("cat a", "hello", execution_time="1.5"),  # some writers store it as a string
        _step("cat b", "world", execution_time="n/a"),
        _step("pwd", "/", execution_time=-2),
        _step("whoami", "root"),
    ]
    path = _write(tmp_path / "r" / "t.traj", _doc(steps))
    builders, report = _read_recording(path)
    assert report.total == 0
    assert [d for (_, _, d) in builders[0].results] == [0.25, 1.5, None, None, None]
    # no clock in the file: no time is invented from the durations
    _, ds = ingest_paths([path])
    assert ds.sessions["timed"].to_list() == [False]
    assert ds.sessions["wall_s"].to_list() == [None]
    assert ds.events["t_start"].null_count() == ds.events.height
    assert ds.events["t_end"].null_count() == ds.events.height


def test_empty_action_is_a_step_without_call_and_missing_observation_is_unknown(tmp_path, ingest_paths):
    steps = [_step("   ", "format error", "oops"), {"action": "ls", "thought": "list"}]
    _, ds = ingest_paths([_write(tmp_path / "r" / "e.traj", _doc(steps))])
    assert ds.sessions.select("n_llm_steps", "n_tool_calls").row(0) == (2, 1)
    assert _tools(ds).select("tool", "status").row(0) == ("ls", None)


def test_model_from_replay_config(tmp_path, ingest_paths):
    as_dict = _doc([_step("ls")], replay_config={"agent": {"model": {"name": "model-x"}}})
    as_text = _doc([_step("ls")], replay_config=json.dumps({"agent": {"model": {"name": "model-y"}}}))
    broken = _doc([_step("ls")], replay_config="{not json")
    paths = [_write(tmp_path / d / "m.traj", doc) for d, doc in (("a", as_dict), ("b", as_text), ("c", broken))]
    _, ds = ingest_paths(paths)
    assert ds.sessions.sort("session_id")["model"].to_list() == ["model-x", "model-y", None]


def test_history_only_document(tmp_path, ingest_paths):
    doc = {
        "history": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "Make the tests pass"}]},
            {"role": "assistant", "thought": "search", "action": "search_dir needle\n"},
            {"role": "tool", "content": "3 matches", "tool_call_ids": ["q1"]},
            {"role": "assistant", "thought": "no command here"},
            {"role": "user", "content": "Your output was not formatted correctly"},  # nothing was called
            {"role": "critic", "content": "?"},
            "not a message",
            {"role": "assistant", "thought": "finish", "action": "submit"},
        ]
    }
    result, ds = ingest_paths([_write(tmp_path / "demo" / "h.traj", doc)])
    rows = ds.events.select("kind", "tool", "args_json", "result_text", "text").rows()
    assert rows == [
        ("user", None, None, None, "Make the tests pass"),
        ("llm", None, None, None, "search"),
        ("tool", "search_dir", '{"command":"search_dir needle"}', "3 matches", None),
        ("llm", None, None, None, "no command here"),
        ("llm", None, None, None, "finish"),
        ("tool", "submit", '{"command":"submit"}', None, None),
    ]
    assert dict(result.report.by_reason) == {"result_without_call": 1, "unknown_record": 2}


# -- malformed input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"this is not json {", "not_json"),
        (json.dumps(_doc([_step("ls"), _step("pwd")])).encode()[:-40], "not_json"),  # truncated document
        (b"", "not_json"),  # empty file, read because the format is forced
        (b'[{"role": "user", "content": "hi"}]', "unknown_record"),  # a chat list, not a .traj
        (b'{"trajectory": 3, "info": {}}', "unknown_record"),
    ],
)
def test_unusable_documents_are_skipped(tmp_path, ingest_paths, content, reason):
    path = tmp_path / "r" / "bad.traj"
    path.parent.mkdir()
    path.write_bytes(content)
    result, _ = ingest_paths([path], format="swe-agent")
    assert result.sessions == 0
    assert dict(result.report.by_reason) == {reason: 1}


def test_bad_steps_are_skipped_and_counted(tmp_path, ingest_paths):
    steps = [_step("ls"), "a string", {"observation": "no action"}, {"action": 7}, _step("pwd")]
    result, ds = ingest_paths([_write(tmp_path / "r" / "s.traj", _doc(steps))])
    assert dict(result.report.by_reason) == {"unknown_record": 1, "missing_field": 2}
    assert _tools(ds)["tool"].to_list() == ["ls", "pwd"]


def test_non_utf8_bytes_are_replaced(tmp_path, ingest_paths):
    raw = json.dumps(_doc([_step("cat data.bin", "BYTES")])).encode().replace(b"BYTES", b"ab\xff\xfecd")
    path = tmp_path / "r" / "u.traj"
    path.parent.mkdir()
    path.write_bytes(raw)
    assert swe_agent.sniff(raw)
    result, ds = ingest_paths([path])
    assert result.report.total == 0
    assert _tools(ds)["result_text"].to_list() == ["ab\ufffd\ufffdcd"]


def test_huge_observation_is_cut_to_the_limit(tmp_path, ingest_paths):
    path = _write(tmp_path / "r" / "big.traj", _doc([_step("cat big.log", "x" * 3_000_000)]))
    result, ds = ingest_paths([path])
    assert result.report.total == 0
    assert len(_tools(ds)["result_text"][0]) == Limits().max_result_chars


# -- detection --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head, claimed",
    [
        (json.dumps(_doc([_step("ls")]), indent=4).encode(), True),
        (json.dumps({"trajectory": [_step("ls")], "history": []}).encode(), True),
        (json.dumps({"history": [{"role": "assistant", "action": "ls", "thought": "t"}]}).encode(), True),
        (b'{"history": [{"role": "user", "content": "plain chat, no actions"}]}', False),
        (b'[{"role": "system", "content": "mini-swe-agent style list"}]', False),
        (b'[{"task_id": 0, "traj": [{"role": "user", "content": "hi"}]}]', False),  # tau-bench
        (b'{"answer_generation": {"train_messages": []}}', False),  # ToolBench
        (b'{"type": "user", "sessionId": "abc", "message": {"role": "user"}}\n', False),  # Claude Code
        (b'{"timestamp": "2025-01-01T00:00:00Z", "type": "session_meta", "payload": {}}\n', False),  # Codex
        (b'{"instance_id": "x", "history": [{"action": "run", "observation": "run"}]}\n', False),  # OpenHands
        (b'{"session_id": "s", "kind": "tool", "tool": "ls"}\n', False),  # native
        (b'{"id": "t_0", "ground_truth": [["ls()"]]}\n', False),  # BFCL
        (b"", False),
    ],
)
def test_sniff(head, claimed):
    assert swe_agent.sniff(head) is claimed


# -- properties -------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_field = st.sampled_from(["action", "observation", "thought", "response", "execution_time", "state"])
_mutated_step = st.one_of(
    _json,
    st.builds(lambda action, obs, fields: {"action": action, "observation": obs, **fields},
              st.text(max_size=30) | _json, _json, st.dictionaries(_field, _json, max_size=3)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_mutated_step, min_size=1, max_size=6))
def test_mutated_steps_never_crash_and_are_all_accounted_for(tmp_path_factory, steps):
    path = _write(tmp_path_factory.mktemp("p") / "r" / "m.traj", _doc(steps))
    builders, report = _read_recording(path)
    # every step is either a model step or a counted skip
    assert sum(b.n_steps for b in builders) + report.total == len(steps)
    for b in builders:
        b.finish()
