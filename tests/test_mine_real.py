"""`bpaste mine` on a real corpus (tau-bench airline, read in place from ../shared/traces)."""

from __future__ import annotations

from bpaste_cli.mine import MineOptions, mine
from bpaste_cli.mine.evaluate import evaluate
from bpaste_cli.mine.patterns import Rows


def test_tau_bench_decisions_and_floors(shared_traces, ingest_paths):
    _, ds = ingest_paths([shared_traces / "tau-bench"])
    r = mine(ds, None, MineOptions())
    # every session is counted once across the three splits
    split = r.summary["split"]
    assert split["train_sessions"] + split["validation_sessions"] + split["test_sessions"] == 200
    # on all sessions, decision points = assistant messages and decisions with a call = assistant messages
    # with tool_calls. Checked once with plain json over the raw file:
    #   a = [m for t in json.load(f) for m in t["traj"] if m.get("role") == "assistant"]
    #   len(a) == 2454; sum(1 for m in a if m.get("tool_calls")) == 1164
    e = evaluate(r.predictor, Rows(ds.events), _floor(ds))
    assert e["decisions_all"] == 2454 and e["decisions"] == 1164
    # held out: the miner beats its tool floor, and binds exact calls (ids copied between calls)
    t = r.eval
    assert t["tool_top1"] > t["floor_tool_top1"]
    assert t["call_top1"] > t["repeat_last_call"] and t["call_top3"] >= t["call_top1"]
    assert 0.0 < t["brier"] < 0.25


def _floor(ds):
    from bpaste_cli.mine.patterns import control_pass

    return control_pass(Rows(ds.events), MineOptions())[1]
