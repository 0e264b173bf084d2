"""SessionBuilder timing semantics, on hand-made sessions whose every number is computed by hand."""

from __future__ import annotations

import pytest

from bpaste_cli.trace.builder import Limits, SessionBuilder

T0 = 1_700_000_000.0  # an epoch origin, so started_at is set


def _rows(b: SessionBuilder):
    session, events = b.finish()
    return session, [(e["kind"], e.get("tool"), e["t_start"], e["t_end"], e["wait_reason"]) for e in events], events


def test_sequential_steps_think_and_latency():
    b = SessionBuilder("s", "test", "f")
    b.user(T0, "go")
    b.llm(T0 + 4)  # think 0 -> 4
    b.tool_call("c1", "Grep", {"pattern": "x"}, T0 + 4)
    b.tool_result("c1", T0 + 4.5, "a.py")  # latency 0.5
    b.llm(T0 + 10)  # think 4.5 -> 10 = 5.5
    session, rows, _ = _rows(b)
    assert rows == [
        ("user", None, 0.0, 0.0, "turn"),
        ("llm", None, 0.0, 4.0, None),
        ("tool", "Grep", 4.0, 4.5, None),
        ("llm", None, 4.5, 10.0, None),
    ]
    assert session["wall_s"] == 10.0 and session["human_wait_s"] == 0.0 and session["agent_time_s"] == 10.0
    assert session["started_at"] == T0


def test_parallel_batch_waits_for_the_last_result():
    b = SessionBuilder("s", "test", "f")
    b.user(T0)
    b.llm(T0 + 2)
    b.tool_call("a", "Read", {"p": 1}, T0 + 2)
    b.tool_call("b", "Read", {"p": 2}, T0 + 2)
    b.tool_result("a", T0 + 3, "x")
    b.tool_result("b", T0 + 7, "y")
    b.llm(T0 + 9)  # inputs complete at 7 (last result): think 2 s
    session, rows, events = _rows(b)
    assert rows[2:] == [("tool", "Read", 2.0, 3.0, None), ("tool", "Read", 2.0, 7.0, None), ("llm", None, 7.0, 9.0, None)]
    assert {e["batch"] for e in events if e["kind"] == "tool"} == {0}
    assert session["n_parallel_steps"] == 1


def test_user_turn_is_human_time_and_idle_gap_is_split_off():
    b = SessionBuilder("s", "test", "f", limits=Limits(idle_threshold_s=600))
    b.user(T0)
    b.llm(T0 + 3, text="done")
    b.user(T0 + 100, "next")  # the person answered 97 s later: a turn [3, 100]
    b.llm(T0 + 104)  # think 100 -> 104
    b.tool_call("c", "Bash", {"cmd": "ls"}, T0 + 104)
    b.tool_result("c", T0 + 105, "ok")
    b.llm(T0 + 105 + 3600)  # an hour with nothing happening: idle, not think
    session, rows, events = _rows(b)
    assert rows[2] == ("user", None, 3.0, 100.0, "turn")
    assert rows[5] == ("user", None, 105.0, 3705.0, "idle")
    assert rows[6] == ("llm", None, 3705.0, 3705.0, None)
    assert events[6]["duration_estimated"] is True
    # human = 97 (turn) + 3600 (idle); agent = 3705 - 3697 = 8 = think 3 + 4 + tool 1
    assert session["human_wait_s"] == pytest.approx(3697.0)
    assert session["agent_time_s"] == pytest.approx(8.0)


def test_logged_duration_separates_an_approval_wait():
    b = SessionBuilder("s", "test", "f")
    b.user(T0)
    b.llm(T0 + 1)
    b.tool_call("c", "Bash", {"cmd": "rm x"}, T0 + 1)
    b.tool_result("c", T0 + 31, "", duration=0.5)  # ran 0.5 s, result seen 30 s after emission
    b.llm(T0 + 33)
    session, rows, _ = _rows(b)
    assert rows[2] == ("tool", "Bash", 1.0, 1.5, None)
    assert rows[3] == ("user", None, 1.5, 31.0, "approval")
    assert rows[4] == ("llm", None, 31.0, 33.0, None)
    assert session["human_wait_s"] == pytest.approx(29.5)
    assert session["agent_time_s"] == pytest.approx(33 - 29.5)


def test_missing_result_is_unknown_and_ends_when_the_agent_moved_on():
    b = SessionBuilder("s", "test", "f")
    b.user(T0)
    b.llm(T0 + 1)
    b.tool_call("c", "Bash", {"cmd": "sleep"}, T0 + 1)
    b.llm(T0 + 5)
    _, rows, events = _rows(b)
    assert rows[2] == ("tool", "Bash", 1.0, 5.0, None)
    assert events[2]["status"] is None and events[2]["duration_estimated"] is True
    assert events[2]["result_text"] is None


def test_results_are_cut_hashed_whole_and_reported_once():
    b = SessionBuilder("s", "test", "f", limits=Limits(max_result_chars=4))
    b.llm(None)
    b.tool_call("c", "Read", {"p": 1})
    assert b.tool_result("c", None, "abcdefgh") is None
    assert b.tool_result("c", None, "again") == "duplicate_result"
    assert b.tool_result("zz", None, "x") == "result_without_call"
    session, events = b.finish()
    tool = events[1]
    assert tool["result_text"] == "abcd"
    import hashlib

    assert tool["result_hash"] == hashlib.sha256(b"abcdefgh").hexdigest()[:16]
    assert session["timed"] is False and session["wall_s"] is None and tool["t_start"] is None


def test_call_without_step_gets_an_estimated_step_and_duplicate_ids_are_renamed():
    b = SessionBuilder("s", "test", "f")
    b.user(T0)
    first = b.tool_call("x", "A", {}, T0 + 1)
    second = b.tool_call("x", "B", {}, T0 + 1)
    assert first == "x" and second != "x"
    _, events = b.finish()
    assert [e["kind"] for e in events] == ["user", "llm", "tool", "tool"]
    assert events[1]["duration_estimated"] is True
    assert events[2]["step"] == events[3]["step"] == 0


def test_secrets_are_scrubbed_in_args_results_and_text():
    from bpaste_cli.ingest.secrets import scrub

    key = "sk-" + "a1B2" * 8
    b = SessionBuilder("s", "test", "f", scrub=scrub)
    b.user(None, f"use {key}")
    b.llm(None)
    b.tool_call("c", "Http", {"headers": {"auth": f"Bearer {key}"}})
    b.tool_result("c", None, f"echo {key}")
    _, events = b.finish()
    blob = repr(events)
    assert key not in blob
    assert blob.count("<secret:") == 3


def test_a_call_waiting_longer_than_the_idle_threshold_without_run_time_is_an_approval():
    b = SessionBuilder("s", "test", "f", limits=Limits(idle_threshold_s=600))
    b.user(T0)
    b.llm(T0 + 2)
    b.tool_call("c", "Bash", {"cmd": "deploy"}, T0 + 2)
    b.tool_result("c", T0 + 2 + 1000, "ok")  # 1000 s > 600 s with no logged run time
    b.llm(T0 + 1005)
    session, rows, events = _rows(b)
    assert rows[2] == ("tool", "Bash", 2.0, 2.0, None) and events[2]["duration_estimated"] is True
    assert rows[3] == ("user", None, 2.0, 1002.0, "approval")
    assert rows[4] == ("llm", None, 1002.0, 1005.0, None)
    assert session["agent_time_s"] == pytest.approx(5.0)  # think 2 + 3


def test_a_logged_step_start_long_after_its_inputs_leaves_an_idle_wait():
    b = SessionBuilder("s", "test", "f", limits=Limits(idle_threshold_s=600))
    b.llm(T0 + 2, t_start=T0)  # a span: think 0 -> 2
    b.llm(T0 + 2 + 1000 + 3, t_start=T0 + 2 + 1000)  # began 1000 s after the previous output
    session, rows, _ = _rows(b)
    assert rows == [
        ("llm", None, 0.0, 2.0, None),
        ("user", None, 2.0, 1002.0, "idle"),
        ("llm", None, 1002.0, 1005.0, None),
    ]
    assert session["agent_time_s"] == pytest.approx(5.0)


# --- bad times and rows built from the schema ---------------------------------------------------------

from collections import Counter  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bpaste_cli.trace.builder import MAX_ABS_TIME  # noqa: E402
from bpaste_cli.trace.schema import EVENT_COLUMNS  # noqa: E402

_TIMES = st.one_of(
    st.none(),
    st.floats(-1e6, 1e6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, MAX_ABS_TIME * 1.01]),
)


def _bad(t) -> bool:
    return t is not None and not (abs(t) <= MAX_ABS_TIME)  # nan compares false: bad


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["user", "llm", "call"]), _TIMES, _TIMES), min_size=1, max_size=12))
def test_any_times_give_finite_rows_and_every_bad_one_is_reported(records):
    """Whatever times a reader passes, the rows hold finite numbers or nulls, have exactly the schema's
    columns, and each record with a non-finite or absurd time is reported once and dropped."""
    reported: list[tuple] = []
    b = SessionBuilder("s", "test", "f", on_bad=lambda line, reason, detail: reported.append((line, reason)))
    expected_bad = 0
    for i, (kind, t1, t2) in enumerate(records):
        if kind == "user":
            b.user(t1, "hi", line=i)
            expected_bad += _bad(t1)
        elif kind == "llm":
            b.llm(t1, t_start=t2, line=i)
            expected_bad += _bad(t1) or _bad(t2)
        else:
            cid = b.tool_call(None, "Read", {"p": i}, t1, line=i)
            expected_bad += _bad(t1)
            if not _bad(t1):
                b.tool_result(cid, t2, "r")
                expected_bad += _bad(t2)
    assert [r for _, r in reported] == ["bad_time"] * expected_bad
    session, events = b.finish()
    names = [c.name for c in EVENT_COLUMNS]
    for e in events:
        assert sorted(e) == sorted(names)
        for key in ("t_start", "t_end"):
            assert e[key] is None or abs(e[key]) <= 2 * MAX_ABS_TIME
    for key in ("wall_s", "human_wait_s", "agent_time_s"):
        assert session[key] is None or abs(session[key]) <= 4 * MAX_ABS_TIME


_SESSION_RECORDS = st.lists(
    st.tuples(
        st.sampled_from(["user", "llm", "call", "serial_call", "result", "error"]),
        st.one_of(st.none(), st.floats(min_value=0, max_value=5000, allow_nan=False)),
        st.sampled_from([None, "m1", "m2"]),
    ),
    max_size=25,
)


def _reference_session_stats(events: list[dict]) -> dict:
    """The session row's counts and times, computed plainly from the event rows (human time as if timed)."""
    tools = [e for e in events if e["kind"] == "tool"]
    per_step = Counter(e["step"] for e in tools)
    models = Counter(e["model"] for e in events if e["kind"] == "llm" and e["model"])
    ends = [e["t_end"] for e in events if e["t_end"] is not None]
    human = 0
    for e in events:
        if e["kind"] == "user" and e["t_end"] is not None and e["t_start"] is not None:
            human += e["t_end"] - e["t_start"]
    return {
        "n_events": len(events),
        "n_llm_steps": sum(e["kind"] == "llm" for e in events),
        "n_tool_calls": len(tools),
        "n_parallel_steps": sum(n >= 2 for n in per_step.values()),
        "model": models.most_common(1)[0][0] if models else None,
        "wall_s": max(ends) if ends else None,
        "human_wait_s": human,
    }


@settings(max_examples=200, deadline=None)
@given(_SESSION_RECORDS)
def test_columns_hold_every_column_in_schema_order_and_the_session_row_counts_them(records):
    """`finish_columns` gives every column of the schema in its order, one length, `seq` from 0 and the
    session's own values; `finish`'s rows are the same events; the session row agrees with a plain count."""
    b = SessionBuilder("s", "test", "f", parent_session_id="p")
    calls: list[str] = []
    for i, (kind, t, model) in enumerate(records):
        t = None if t is None else T0 + t
        if kind == "user":
            b.user(t, f"u{i}", line=i)
        elif kind == "llm":
            b.llm(t, line=i, model=model, text=f"x{i}")
        elif kind in ("call", "serial_call"):
            calls.append(b.tool_call(None, "Read", {"p": i}, t, line=i, after_previous=kind == "serial_call"))
        elif calls:
            b.tool_result(calls.pop(0), t, f"r{i}", status="error" if kind == "error" else "ok")
    session, columns = b.finish_columns()
    assert list(columns) == [c.name for c in EVENT_COLUMNS]
    n = session["n_events"]
    assert {len(values) for values in columns.values()} <= {n}
    assert list(columns["seq"]) == list(range(n))
    assert set(columns["session_id"]) <= {"s"} and set(columns["parent_session_id"]) <= {"p"}
    _, events = b.finish()
    assert [list(e) for e in events] == [list(columns)] * n
    assert [e["seq"] for e in events] == list(range(n))
    reference = _reference_session_stats(events)
    if not session["timed"]:
        reference["human_wait_s"] = None
    assert {k: session[k] for k in reference} == reference
