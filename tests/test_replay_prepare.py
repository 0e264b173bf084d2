"""Preparing sessions for replay: traces and skip counts by hand, and latency statistics read straight from the
frames equal to those of the prepared traces."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from bpaste_cli.ingest import ingest
from bpaste_cli.replay import LatencyStats, prepare
from bpaste_cli.replay.prepared import NO_TRAIN_STATS, latency_stats, prepare_split, split_stats
from bpaste_cli.safety import load_safety
from bpaste_cli.split import select_split
from bpaste_cli.synth import generate, write
from bpaste_cli.trace import Dataset, load_dataset
from test_replay import CHAIN, frames

REPO = Path(__file__).resolve().parent.parent
SAFETY = load_safety()
READ_ONLY = frozenset({"read-only"})

SESSIONS = {
    "b-mixed": [
        ("user", 0.0),
        ("llm", 2.0),
        ("tool", "Grep", {"pattern": "foo"}, 2.0, 3.0, "a.py:1"),
        ("tool", "Read", {"path": "a.py"}, 2.0, 4.0, "x = 1"),
        ("llm", 6.0),
        ("tool", "Write", {"path": "a.py", "content": "y"}, 6.0, 7.0, "ok"),
        ("tool", "Grep", {"pattern": "foo"}, 6.0, 8.0, "a.py:1"),
        ("llm", 9.0),
        ("tool", "Grep", {"pattern": "bar"}, 9.0, None, None),  # no result logged: not servable
        ("llm", 11.0),
    ],
    "a-untimed": [("user", None), ("llm", None), ("tool", "Read", {"path": "c"}, None, None, "c"), ("llm", None)],
}


def test_a_trace_by_hand():
    events, sessions = frames(SESSIONS | CHAIN)
    traces, skipped = prepare(events, sessions, SAFETY, READ_ONLY, ["chain", "b-mixed", "a-untimed", "gone"])
    assert skipped == {"untimed": 1, "incomplete_times": 0, "no_events": 1}
    assert [t.session_id for t in traces] == ["b-mixed", "chain"]  # in session-id order
    tr = traces[0]
    kinds = [nd.kind for nd in tr.nodes]
    assert kinds == ["user", "llm", "tool", "tool", "llm", "tool", "tool", "llm", "tool", "llm"]
    assert [nd.index for nd in tr.nodes] == list(range(10))
    assert tr.calls_by_step == [[2, 3], [5, 6], [8], []]
    assert tr.first_tool_of_step == {0: 2, 1: 5, 2: 8}
    assert tr.invalidating_step == [False, True, False, False]  # Write is mutating
    assert tr.epoch_of_step == [0, 1, 1, 1]
    assert [nd.invalidates for nd in tr.nodes if nd.kind == "tool"] == [False, False, True, False, False]
    assert [nd.servable for nd in tr.nodes if nd.kind == "tool"] == [True, True, False, True, False]
    # a result from the batch that holds the Write may not be served again
    assert [nd.fresh_result for nd in tr.nodes if nd.kind == "tool"] == [True, True, False, False, False]
    grep_foo = tr.nodes[2].key
    assert tr.occurrences == {grep_foo: [2, 6], tr.nodes[3].key: [3]}
    assert list(tr.tool_calls.items()) == [("Grep", 3), ("Read", 1), ("Write", 1)]
    assert [(nd.logged_start, nd.logged_end, nd.duration) for nd in tr.nodes[2:4]] == [(2.0, 3.0, 1.0), (2.0, 4.0, 2.0)]
    assert tr.nodes[5].event.args_json is not None and tr.nodes[1].event.step == 0 and tr.nodes[0].event.step is None


def test_a_session_with_a_missing_time_is_skipped_as_incomplete():
    events, sessions = frames(CHAIN)
    events = events.with_columns(t_end=pl.when(pl.col("seq") == 3).then(None).otherwise(pl.col("t_end")))
    traces, skipped = prepare(events, sessions, SAFETY, READ_ONLY)
    assert traces == [] and skipped == {"untimed": 0, "incomplete_times": 1, "no_events": 0}


def test_latency_stats_of_the_chain_by_hand(tmp_path):
    ds = Dataset(tmp_path, *frames(CHAIN | SESSIONS), manifest={})
    # thinks 0→2, 3→5, 10→12; Grep 1 s, Read 5 s (the untimed session counts for nothing)
    assert latency_stats(ds, ["chain", "a-untimed"]) == LatencyStats(2.0, {"Grep": 1.0, "Read": 5.0}, 3.0)
    assert latency_stats(ds, ["a-untimed", "gone"]) is None


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prep")
    write(generate(("coding", "research"), sessions=80, seed=5), root / "logs", ["native", "chat"])
    ingest([str(root / "logs")], root / "ds")
    return root / "ds"


def test_latency_stats_equal_those_of_the_traces(synthetic):
    ds = load_dataset(synthetic)
    untimed = ds.sessions.filter(~pl.col("timed")).height
    assert 0 < untimed < ds.sessions.height  # chat messages carry no clock
    for split in ("train", "validation", "all"):
        ids = select_split(ds.sessions, split, 0)
        traces, _ = prepare(ds.events, ds.sessions, SAFETY, READ_ONLY, ids)
        expected = LatencyStats.from_traces(traces)
        got = latency_stats(ds, ids)
        assert got == expected
        assert list(got.tool_s) == list(expected.tool_s)  # tools in order of first call
    assert split_stats(ds, "test", 0) == (latency_stats(ds, select_split(ds.sessions, "train", 0)), [])


def test_without_timed_training_sessions_the_split_itself_gives_the_statistics(synthetic):
    ds = load_dataset(synthetic)
    train = set(select_split(ds.sessions, "train", 0))
    ds.sessions = ds.sessions.with_columns(timed=pl.col("timed") & ~pl.col("session_id").is_in(list(train)))
    test_ids = select_split(ds.sessions, "test", 0)
    traces, _ = prepare(ds.events, ds.sessions, SAFETY, READ_ONLY, test_ids)
    assert split_stats(ds, "test", 0) == (LatencyStats.from_traces(traces), [NO_TRAIN_STATS])
    prepared = prepare_split(ds, "test", 0, SAFETY)
    assert (prepared.stats, prepared.warnings) == (LatencyStats.from_traces(traces), [NO_TRAIN_STATS])
