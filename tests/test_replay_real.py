"""Replay on the real timed corpora (read in place from ../shared/traces; skipped when absent)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bpaste_cli.device import load_device
from bpaste_cli.mine import MineOptions, load_predictor, mine
from bpaste_cli.replay import LatencyStats, OraclePredictor, ReplayConfig, prepare, replay_traces
from bpaste_cli.safety import load_safety


@pytest.fixture
def openhands(shared_traces, ingest_paths):
    return ingest_paths([shared_traces / "openhands"])[1]


def test_untimed_sessions_are_counted(openhands):
    # resolver_mock_output.jsonl has 2 lines (wc -l), one session each, and no "timestamp" key at all
    # (grep -c '"timestamp"' -> 0); the 3 multi_swe_bench lines and the 4 trajs/*.json files are timed.
    traces, skipped = prepare(openhands.events, openhands.sessions, load_safety(), frozenset({"read-only"}))
    assert skipped["untimed"] == 2 and len(traces) == 7


def test_real_invariants(shared_traces, ingest_paths, tmp_path):
    """On Claude Code sessions: serial == logged per session; with a perfect predictor paste and bpaste
    never beat the oracle; no job is ever a non-read-only call; the real mined predictor runs."""
    _, ds = ingest_paths([shared_traces / "claude-code-spotter"])
    safety = load_safety()
    traces, _ = prepare(ds.events, ds.sessions, safety, frozenset({"read-only"}))
    logged = dict(zip(ds.sessions["session_id"].to_list(), ds.sessions["agent_time_s"].to_list()))
    stats = LatencyStats.from_traces(traces)
    dev = load_device("thor")
    mine(ds, tmp_path / "patterns", MineOptions())
    for predictor in (OraclePredictor(), load_predictor(tmp_path / "patterns")):
        cfg = ReplayConfig(threshold=0.01, min_prob=0.01)
        res = replay_traces(traces, predictor, dev, cfg, stats, safety, keep_jobs_for=len(traces))
        for i, tr in enumerate(traces):
            assert res["serial"][i].agent_s == logged[tr.session_id]
            for arm in ("paste", "bpaste"):
                r = res[arm][i]
                assert res["oracle"][i].agent_s <= r.agent_s + 1e-9
                args = {(n.tool, n.event.args_hash): n.event.args_json for n in tr.nodes if n.kind == "tool"}
                for job in r.jobs:
                    if job.key in args:  # a job for a call the session makes: check its class
                        assert safety.classify(job.tool, args[job.key]).safety == "read-only"


def test_cli_replay_json(openhands, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bpaste_cli", "replay", str(openhands.path), "--patterns", "oracle", "--split", "all",
         "--device", "server", "--json", "--per-session", str(tmp_path / "s.csv")],
        capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["kind"] == "replay" and doc["sessions_skipped"]["untimed"] == 2 and doc["sessions_replayed"] == 7
    assert doc["arms"]["serial"]["speedup"] == 1.0 and doc["arms"]["oracle"]["speedup"] >= 1.0
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 1 + 4 * 7
    missing = subprocess.run([sys.executable, "-m", "bpaste_cli", "replay", str(openhands.path)], capture_output=True, text=True)
    assert missing.returncode == 2 and "--patterns" in missing.stderr
    model = subprocess.run([sys.executable, "-m", "bpaste_cli", "replay", str(openhands.path), "--patterns", "oracle",
                            "--rank", "model"], capture_output=True, text=True)
    assert model.returncode == 2 and "fit" in model.stderr
