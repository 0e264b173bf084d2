"""`bpaste tune`: an Optuna study over the replay knobs, objective on the VALIDATION split, -> policy.json.

Searched (`space.suggest`): the strategy (`arm`: paste or bpaste), speculative concurrency `slots`
(0 .. the device's slots), the result TTL, the λ schedule (`lambda_scale`: PASTE's 0.02/0.05/0.10/0.20
shadow-price steps times a factor in [0.25, 4]), PASTE's top-k and probability threshold, B-PASTE's
beam width, depth, ranking mode, minimum prefix probability and interference budget.

Objective: speedup (Σ serial / Σ replayed agent time) of the trial's arm on the validation sessions,
maximised; with `objectives=("speedup", "waste")` also wasted speculative seconds per serial agent
second, minimised (NSGA-II). Constraints (Optuna's `Trial.set_constraint`, so samplers know them):
interference seconds per serial agent second <= `max_interference` and speculative starts per real
call <= `max_amplification`; an infeasible trial is never chosen.

Choice: one objective -> the feasible complete trial with the highest speedup (ties: less waste, then
the earlier trial), unless that beats serial by less than `min_gain` (0.1% by default): then the
serial-equivalent point (slots 0), so a deployed policy never adds load for a gain within noise.
Two -> among the feasible Pareto front, the trial with the least waste whose speedup is within
`speedup_tolerance` of the best feasible speedup (ties: higher speedup, earlier trial).

Known points are enqueued first (serial-equivalent = slots 0, PASTE's defaults, B-PASTE's defaults,
the previous policy), so the chosen speedup is never below a feasible baseline (and never below 1.0).
Samplers are seeded (worker i uses seed + i). Study user attributes: seed, dataset hash, pattern hash,
device, objectives, constraints, bpaste version; rerunning with different inputs against the same
study is refused. Resume: rerun the same command; complete trials count toward `trials`.
"""

from bpaste_cli.tune.run import TuneOptions, TuneResult, choose, tune

__all__ = ["TuneOptions", "TuneResult", "choose", "tune"]
