"""`bpaste live`: logged sessions re-enacted in real time through the real Speculator (and through `bpaste
serve` over real stdio), paired with replay of the same sessions. Runs are small and time-scaled; the
tolerances hold on a loaded 2-core machine because the live clock can only run late, never early."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bpaste_cli.lab import LiveOptions, run_live
from bpaste_cli.lab.live import logged_span
from bpaste_cli.lab.toolserver import MISPREDICTED, ReplayToolServer, Script
from bpaste_cli.mine import Event
from bpaste_cli.policy import load_policy
from bpaste_cli.replay import Node, SessionTrace
from bpaste_cli.trace.dataset import load_dataset

REPO = Path(__file__).resolve().parent.parent
SCALE = 0.01  # a synthetic session of ~2 min agent time takes ~1.2 s live


def _cli(argv: list[str], cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "bpaste_cli", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A research/analysis corpus, its patterns and a policy tuned for the laptop profile (remote LLM)."""
    cwd = tmp_path_factory.mktemp("live")
    _cli(["synth", "-o", "corpus", "--sessions", "24", "--seed", "5", "--archetype", "research,analysis",
          "--format", "native"], cwd)
    _cli(["ingest", "corpus", "-o", "ds"], cwd)
    _cli(["mine", "ds", "-o", "pat"], cwd)
    _cli(["tune", "ds", "--patterns", "pat", "-o", "policy.json", "--trials", "3", "--device", "laptop"], cwd)
    return cwd


def _node(i: int, kind: str, s: float, e: float, step: int, tool: str | None = None) -> Node:
    ev = Event(kind, step=step, tool=tool, args_json="{}" if tool else None, args_hash="h" if tool else None,
               result_text="r" if tool else None, status="ok" if tool else None)
    return Node(i, kind, s, e, step, tool, (tool, "h") if tool else None, "read-only" if tool else "", "net" if tool else "",
                bool(tool), ev)


def test_logged_span_follows_the_dependency_rule_and_drops_human_waits():
    # llm [0,2] -> two overlapping tools [2,3] and [2.5,4] -> user wait [4,10] -> llm [10,11]:
    # by hand: 2 s think, the tools end at 4 (the second one overlaps), the wait takes no time, 1 s think = 5 s
    nodes = [_node(0, "llm", 0, 2, 0), _node(1, "tool", 2, 3, 0, "a"), _node(2, "tool", 2.5, 4, 0, "b"),
             _node(3, "user", 4, 10, -1), _node(4, "llm", 10, 11, 1)]
    tr = SessionTrace("s", nodes, 5.0, 11.0, 6.0, [0, 0], [False, False], {0: 1}, {}, [[1, 2], []])
    assert logged_span(tr) == pytest.approx(5.0)


def test_logged_span_is_the_logged_agent_time_of_synthetic_sessions(world):
    from bpaste_cli.replay import prepare_split
    from bpaste_cli.safety import load_safety

    traces = prepare_split(load_dataset(world / "ds"), "all", 0, load_safety()).traces
    assert traces and all(logged_span(t) == pytest.approx(t.agent_time, abs=1e-6) for t in traces)


def test_seed_chooses_the_sessions_within_the_policys_split(world):
    """--seed picks which sessions run (the split itself stays the policy's): seeds 0..5 draw different
    subsets, each of timed sessions of that split, the same subset for the same seed."""
    from bpaste_cli.lab.live import pick_sessions
    from bpaste_cli.split import select_split
    from bpaste_cli.trace.dataset import load_dataset

    ds = load_dataset(world / "ds")
    test = set(select_split(ds.sessions, "test", 0))
    picks = [tuple(pick_sessions(ds, "all", 0, seed, 3)) for seed in range(6)]
    assert len(set(picks)) > 1
    assert all(len(p) == 3 for p in picks)
    assert pick_sessions(ds, "all", 0, 4, 3) == list(picks[4])
    assert set(pick_sessions(ds, "test", 0, 2, 50)) == test  # all of the split when n exceeds it


def test_planning_inflated_by_the_time_scale_is_one_sentence_with_the_scale_to_use():
    """Planning's wall time does not shrink with --time-scale: 0.4266 s over 107 decisions at scale 0.02 is
    21.33 logged seconds, over 3% of a 245.6 s predicted saving (7.368 s), so the sentence says 3.99 ms per
    decision and asks for a scale of at least 0.4266 / 7.368 = 0.058; 7 s would be under the limit."""
    from bpaste_cli.lab.live import _planning_warning

    (msg,) = _planning_warning("policy", {"planning_s": 21.33, "decision_points": 107}, 1910.0, 245.6, 0.02)
    assert "3.99 ms per decision point" in msg and "--time-scale 0.058 or more" in msg and "0.43 s at full scale" in msg
    assert _planning_warning("policy", {"planning_s": 7.0, "decision_points": 107}, 1910.0, 245.6, 0.02) == []
    assert _planning_warning("policy", {"planning_s": None, "decision_points": 0}, 1910.0, 245.6, 0.02) == []
    # no predicted saving: the limit is 1% of the agent time (19.1 s)
    assert _planning_warning("paste", {"planning_s": 20.0, "decision_points": 10}, 1910.0, 0.0, 0.02)
    assert _planning_warning("paste", {"planning_s": 19.0, "decision_points": 10}, 1910.0, 0.0, 0.02) == []


def test_the_tool_server_answers_from_the_log_after_the_scaled_latency():
    key = Script.key("read", {"path": "a"})
    script = Script({key: [(2.0, "first", "ok", "net"), (4.0, "second", "ok", "net")]}, {"grep": 1.0}, {"grep": "net"},
                    0.5, time_scale=0.01, cpu_rate=1.0)

    async def calls():
        server = ReplayToolServer(script)
        t0 = time.perf_counter()
        a = await server.execute("read", {"path": "a"})
        t1 = time.perf_counter()
        b = await server.execute("read", {"path": "a"})
        t2 = time.perf_counter()
        c = await server.execute("grep", {"q": "x"})
        server.close()
        return (a, b, c), (t1 - t0, t2 - t1), server.executions

    (a, b, c), (d1, d2), execs = asyncio.run(calls())
    assert (a, b, c) == ("first", "second", MISPREDICTED)
    assert d1 >= 0.02 and d2 >= 0.04  # the logged 2 s and 4 s, scaled; never early
    assert [e.intended_s for e in execs] == pytest.approx([0.02, 0.04, 0.01])
    assert [e.logged for e in execs] == [True, True, False]


@pytest.fixture(scope="module")
def report(world) -> dict:
    ds, pol = load_dataset(world / "ds"), load_policy(world / "policy.json")
    return run_live(ds, pol, options=LiveOptions(sessions=2, time_scale=SCALE, split="all", bootstrap=200))


def test_live_report_is_paired_per_session_and_order_balanced(report):
    assert set(report["arms"]) == {"serial", "policy", "paste", "bpaste"}
    ids = report["session_ids"]
    assert len(ids) == report["sessions"] == 2 and report["time_scale"] == SCALE and report["device"] == "laptop"
    for name, arm in report["arms"].items():
        assert [r["session_id"] for r in arm["per_session"]] == ids, name
        # every logged call is made once live, as in replay, whatever speculation served
        assert arm["real_calls_live"] == arm["real_calls_replay"] > 0, name
    serial = report["arms"]["serial"]
    assert serial["live_speedup"] == 1.0 and serial["hits_live"] == 0 and serial["spec_started_live"] == 0
    assert "ABBA" in report["order"]


def test_serial_live_matches_the_logged_time(report):
    # the live clock only runs late (deadlines floor every duration); 2 sessions of ~1.2 s each leave
    # room for scheduler delays on a loaded machine, never for a missing or doubled event
    assert 0.999 <= report["serial_vs_logged"] <= 1.25
    for row in report["arms"]["serial"]["per_session"]:
        assert row["live_s"] >= row["logged_s"] * 0.999
        assert row["replay_s"] == pytest.approx(row["logged_s"])


def test_hits_are_the_speculator_counters_and_the_run_log(report):
    for name, arm in report["arms"].items():
        per_tool = sum(r["hits_live"] for r in arm["per_tool"].values())
        per_session = sum(r["hits_live"] for r in arm["per_session"])
        assert arm["hits_live"] == per_tool == per_session, name
        assert sum(r["calls_live"] for r in arm["per_tool"].values()) == arm["real_calls_live"]


def test_disagreement_names_a_measured_term(report):
    t = report["timer"]
    assert t["asyncio_sleep_late_median_s"] >= 0 and t["clock_resolution_s"] > 0
    for name in ("policy", "paste", "bpaste"):
        d = report["arms"][name]["disagreement"]
        assert set(d["terms_s"]) == {"planning", "interference", "queueing", "timer"}
        assert d["responsible"] in (None, "planning", "interference", "queueing", "timer")
        assert (d["responsible"] is None) == (not d["differs"])
        lo, hi = report["arms"][name]["live_ci"]
        assert d["differs"] == (not lo <= report["arms"][name]["replay_speedup"] <= hi)
    assert report["arms"]["policy"]["measured"]["planning_s"] >= 0
    assert report["arms"]["policy"]["measured"]["decision_points"] > 0


def test_via_mcp_runs_through_bpaste_serve_over_stdio(world):
    out = json.loads(_cli(["live", "ds", "--policy", "policy.json", "--sessions", "1", "--time-scale", str(SCALE),
                           "--split", "all", "--arm", "", "--via-mcp", "--json"], world))
    assert out["kind"] == "live" and out["via_mcp"] is True and set(out["arms"]) == {"serial", "policy"}
    for name, arm in out["arms"].items():
        assert arm["real_calls_live"] == arm["real_calls_replay"] > 0, name
        assert arm["hits_live"] == sum(r["hits_live"] for r in arm["per_tool"].values())
    assert out["arms"]["policy"]["measured"]["planning_s"] is None  # planning runs inside bpaste serve
    assert 0.999 <= out["serial_vs_logged"] <= 1.5
