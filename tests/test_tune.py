"""`bpaste tune`: known points bound the choice, constraints are honoured, seeded determinism, resume,
local worker processes, the multi-objective rule. Runs on a small synthetic workspace (test_tune_support)."""

from __future__ import annotations

from collections import Counter

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from bpaste_cli.tune import TuneOptions, choose, tune
from test_tune_support import cli, workspace  # noqa: F401  (fixture)


def run(ws, out, **options):
    return tune(ws / "ds", ws / "pat", out, TuneOptions(**options))


def complete_rows(result):
    return [r for r in result.policy["trials"]["rows"] if r["state"] == "complete"]


def test_known_points_come_first_and_bound_the_choice(workspace, tmp_path):
    r = run(workspace, tmp_path / "p.json", trials=6)
    rows = complete_rows(r)
    known = {row["known"]: row for row in rows if row["known"]}
    assert [known[k]["number"] for k in ("serial", "paste-defaults", "bpaste-defaults")] == [0, 1, 2]
    assert known["serial"]["params"]["slots"] == 0
    assert known["serial"]["speedup"] == 1.0 and known["serial"]["amplification"] == 0.0
    # speculation helps on this workspace (research sessions: search -> visit), so the baselines differ from serial
    assert known["paste-defaults"]["feasible"] and known["paste-defaults"]["speedup"] > 1.0
    chosen = r.policy["validation"]["policy"]["speedup"]
    assert chosen >= max(row["speedup"] for row in rows if row["feasible"])
    assert chosen == r.policy["provenance"]["trial_speedup"]  # the final replay reproduces the trial exactly
    assert r.trials_complete == 6 and len(rows) == 6
    assert r.dashboard == f"optuna-dashboard sqlite:///{tmp_path / 'p.optuna.db'}"


def test_constraints_exclude_infeasible_trials(workspace, tmp_path):
    """With amplification capped near 0, every speculating trial is infeasible: the serial point wins."""
    r = run(workspace, tmp_path / "p.json", trials=5, max_amplification=1e-9)
    assert r.policy["provenance"]["trial"] == 0 and r.policy["parameters"]["slots"] == 0
    assert r.policy["validation"]["policy"]["speedup"] == 1.0
    assert any(row["speedup"] > 1.0 and not row["feasible"] for row in complete_rows(r))


def test_same_seed_same_trials(workspace, tmp_path):
    params = []
    for name in ("a", "b"):
        r = run(workspace, tmp_path / f"{name}.json", trials=9, seed=0)
        params.append([row["params"] for row in r.policy["trials"]["rows"]])
    assert params[0] == params[1]
    assert len({repr(sorted(p.items())) for p in params[0]}) == 9  # the sampled points differ from each other


def test_resume_counts_complete_trials(workspace, tmp_path):
    out = tmp_path / "p.json"
    first = run(workspace, out, trials=5)
    assert (first.trials_complete, first.trials_run) == (5, 5)
    again = run(workspace, out, trials=8)
    assert (again.trials_complete, again.trials_run) == (8, 3)
    study = optuna.load_study(study_name="p", storage=f"sqlite:///{tmp_path / 'p.optuna.db'}")
    assert [t.number for t in study.trials] == list(range(8))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert sum(1 for t in study.trials if t.user_attrs.get("known")) == 3  # baselines not enqueued twice
    assert study.user_attrs["seed"] == 0 and study.user_attrs["dataset_hash"] == first.policy["provenance"]["dataset_hash"]


def test_another_device_refuses_the_study(workspace, tmp_path):
    run(workspace, tmp_path / "p.json", trials=3)
    proc = cli("tune", str(workspace / "ds"), "--patterns", str(workspace / "pat"), "-o", str(tmp_path / "p.json"),
               "--device", "server", "--trials", "4")
    assert proc.returncode == 2
    assert "was made with device = 'thor', not 'server'" in proc.stderr
    assert proc.stderr.strip().startswith("error:") and proc.stderr.strip().count("\n") == 0


def test_two_local_workers_share_one_study(workspace, tmp_path):
    r = run(workspace, tmp_path / "p.json", trials=6, workers=2)
    rows = r.policy["trials"]["rows"]
    assert [row["number"] for row in rows] == list(range(6))
    assert all(row["state"] == "complete" for row in rows)
    # the 3 enqueued known points run first in the calling process (no two processes can claim the same
    # waiting trial), then the 3 remaining trials split 2 + 1 over the two worker processes
    known = {row["worker"] for row in rows if row["known"]}
    assert len(known) == 1 and sum(1 for row in rows if row["known"]) == 3
    assert sorted(Counter(row["worker"] for row in rows).values()) == [1, 2, 3]


def test_speedup_waste_pareto_rule(workspace, tmp_path):
    r = run(workspace, tmp_path / "p.json", trials=10, objectives=("speedup", "waste"))
    ok = [row for row in complete_rows(r) if row["feasible"]]
    # the Pareto front recomputed by brute force
    front = {p["number"] for p in ok if not any(
        q["speedup"] >= p["speedup"] and q["waste"] <= p["waste"] and (q["speedup"] > p["speedup"] or q["waste"] < p["waste"])
        for q in ok)}
    assert set(r.policy["trials"]["pareto"]) == front
    best = max(row["speedup"] for row in ok)
    near = [row for row in ok if row["number"] in front and row["speedup"] >= best - 0.005]
    expect = min(near, key=lambda row: (row["waste"], -row["speedup"], row["number"]))
    assert r.policy["provenance"]["trial"] == expect["number"]
    assert r.policy["provenance"]["objectives"] == ["speedup", "waste"]


def _trial(number, speedup, waste, interference, slots=4):
    d = {"x": FloatDistribution(0, 1), "slots": IntDistribution(0, 8)}
    t = create_trial(value=speedup, params={"x": 0.5, "slots": slots}, distributions=d,
                     user_attrs={"metrics": {"speedup": speedup, "waste": waste}},
                     system_attrs={"constraints:interference": interference})
    t.number = number
    return t


def test_choose_single_objective_rule():
    trials = [_trial(0, 1.0, 0.0, -0.05), _trial(1, 1.3, 0.1, 0.02), _trial(2, 1.1, 0.2, -0.01), _trial(3, 1.1, 0.1, -0.01)]
    assert choose(trials, ("speedup",), 0.005).number == 3  # 1 is infeasible; 2 and 3 tie, 3 wastes less
    with pytest.raises(Exception, match="No complete trial meets the constraints"):
        choose([trials[1]], ("speedup",), 0.005)


def test_a_gain_within_min_gain_keeps_serial():
    """1.0008x is not worth speculating for at min_gain 0.001: the slots-0 trial is chosen; 1.0012x is."""
    serial, tiny, real = _trial(0, 1.0, 0.0, -0.05, slots=0), _trial(1, 1.0008, 0.1, -0.01), _trial(2, 1.0012, 0.1, -0.01)
    assert choose([serial, tiny], ("speedup",), 0.005, min_gain=0.001).number == 0
    assert choose([serial, tiny, real], ("speedup",), 0.005, min_gain=0.001).number == 2
    assert choose([serial, tiny], ("speedup",), 0.005, min_gain=0.0).number == 1
    assert choose([tiny], ("speedup",), 0.005, min_gain=0.001).number == 1  # no serial point to fall back on
