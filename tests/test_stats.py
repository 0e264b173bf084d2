"""`bpaste stats` on a hand-made dataset whose every figure is computed by hand below."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bpaste_cli.ingest import ingest
from bpaste_cli.stats import compute_stats
from bpaste_cli.trace.dataset import load_dataset

LINES = [
    {"session_id": "a", "kind": "user", "t": 0, "text": "find foo"},
    {"session_id": "a", "kind": "llm", "t_end": 4.0},  # think 0-4
    {"session_id": "a", "kind": "tool", "tool": "Grep", "args": {"p": "foo"}, "t_start": 4.0, "t_end": 4.5, "result": "a.py"},
    {"session_id": "a", "kind": "tool", "tool": "Glob", "args": {"p": "*"}, "t_start": 4.0, "t_end": 4.2, "result": "a.py"},
    {"session_id": "a", "kind": "llm", "t_end": 10.0},  # think 4.5-10
    {"session_id": "a", "kind": "tool", "tool": "Read", "args": {"f": "a.py"}, "t_start": 10.0, "t_end": 12.0, "result": "x", "status": "error"},
    {"session_id": "a", "kind": "llm", "t_end": 13.0, "text": "done"},  # think 12-13
    {"session_id": "a", "kind": "user", "t": 100, "text": "again"},  # turn 13-100
    {"session_id": "a", "kind": "llm", "t_end": 103.0},  # think 100-103
    {"session_id": "b", "kind": "user", "text": "untimed"},
    {"session_id": "b", "kind": "llm"},
    {"session_id": "b", "kind": "tool", "tool": "Read", "args": {"f": "b.py"}, "result": "y"},
]


@pytest.fixture
def dataset(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in LINES))
    ingest([f], tmp_path / "ds")
    return tmp_path / "ds"


def test_time_split_per_tool_and_ceiling(dataset):
    s = compute_stats(load_dataset(dataset))
    assert (s["sessions"], s["timed_sessions"], s["llm_steps"], s["tool_calls"]) == (2, 1, 5, 4)
    # steps with calls: a/0 (2 calls), a/1 (1), b/0 (1): one of three is parallel
    assert (s["steps_with_calls"], s["parallel_steps"]) == (3, 1)
    t = s["time_s"]
    # think 4 + 5.5 + 1 + 3 = 13.5; stall: batch 0 spans 4.0-4.5 = 0.5, batch 1 10-12 = 2 -> 2.5
    # agent = wall 103 - human 87 = 16 = 13.5 + 2.5 + 0 gaps
    assert t["think"] == pytest.approx(13.5)
    assert t["tool_stall"] == pytest.approx(2.5)
    assert t["agent"] == pytest.approx(16.0)
    assert t["human_wait"] == pytest.approx(87.0)
    assert t["other"] == pytest.approx(0.0)
    assert s["human_wait_by_reason"]["turn"]["count"] == 2  # a's two turns (0 s and 87 s); b is untimed
    tools = {r["tool"]: r for r in s["tools"]}
    assert tools["Read"]["calls"] == 2 and tools["Read"]["errors"] == 1 and tools["Read"]["timed_calls"] == 1
    assert tools["Grep"]["critical_s"] == pytest.approx(0.5)  # Grep ended last in batch 0
    assert tools["Glob"]["critical_s"] == 0.0
    assert tools["Read"]["critical_share"] == pytest.approx(2.0 / 16.0)
    assert s["ceiling"]["ceiling_speedup"] == pytest.approx(16.0 / 13.5)


def test_cli_json_shape_and_table(dataset):
    run = subprocess.run([sys.executable, "-m", "bpaste_cli", "stats", str(dataset), "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["kind"] == "stats" and doc["bpaste"] and doc["tool_calls"] == 4
    table = subprocess.run([sys.executable, "-m", "bpaste_cli", "stats", str(dataset)], capture_output=True, text=True)
    assert "speculation ceiling" in table.stdout and "Grep" in table.stdout
