"""`mine`: trace dataset -> pattern table, calibrated on held-out scores, evaluated on test.

Sessions are split once by `bpaste_cli.split` (hash of session id and seed). Mining sees only train;
the control-flow back-off (context length and shrinkage) is chosen on validation; the calibration map is
fitted on validation and on cross-fitted folds of train (`calibrate`); the evaluation reports on test. The table written is the one evaluated (mined on
train only), so replay, fit and tune can use validation and test honestly.

Choosing the back-off: the candidates are the last-tool floor itself (context 1, no shrinkage, every
context kept: the bigram next-tool table the evaluation compares with) and contexts 1..K with shrinkage
ALPHAS. A mined candidate replaces the floor only when its next-tool top-1 on validation beats the
floor's on the same decisions by a margin (`_beats`), so held-out top-1 falls below the floor only by
the noise between validation and test.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from bpaste_cli.mine.evaluate import CalibrationTally, calibration, calibration_pairs, evaluate, tool_hits
from bpaste_cli.mine.keys import KEYS
from bpaste_cli.mine.control import ControlCounts
from bpaste_cli.gcpause import collection_paused
from bpaste_cli.mine.patterns import MineOptions, Rows, control_table, mine_rows
from bpaste_cli.mine.predictor import PatternPredictor
from bpaste_cli.mine.store import rule_words, write_table
from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import check_replaceable
from bpaste_cli.split import DEFAULT_FRACTIONS, assign_splits
from bpaste_cli.trace import Dataset, load_dataset


@dataclass
class MineResult:
    predictor: PatternPredictor
    summary: dict[str, Any]
    eval: dict[str, Any] | None
    strongest: list[dict[str, Any]] = field(default_factory=list)


def split_ids(ds: Dataset, seed: int) -> dict[str, list[str]]:
    s = assign_splits(ds.sessions, seed)
    return {name: s.filter(pl.col("split") == name)["session_id"].to_list() for name in ("train", "validation", "test")}


def mine(dataset: Path | Dataset, out: Path | None = None, options: MineOptions = MineOptions(), *, evaluate_test: bool = True) -> MineResult:
    """Mine `dataset`'s train split, calibrate on validation, evaluate on test, write the table to `out`."""
    if options.key not in KEYS:
        raise BpasteError(f"Unknown event key {options.key!r}; choose one of {', '.join(KEYS)}.")
    if options.max_context < 1 or options.recent_calls < 1 or options.min_support < 1:
        raise BpasteError("--context, --recent-calls and --min-support must each be at least 1.")
    if options.min_sessions < 1:
        raise BpasteError("--min-sessions must be at least 1 (the number of training sessions a rule needs).")
    if out is not None:
        check_replaceable(Path(out), "pattern-table", "mine")
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(Path(dataset))
    ds.require_tool_calls("there are no patterns to mine")
    ids = split_ids(ds, options.seed)
    if not ids["train"]:
        raise BpasteError(f"The dataset {ds.path} has no session in the train split (it has {ds.sessions.height}); ingest more sessions.")
    with collection_paused():  # scoring makes no cycles either, and the train rows' kept flows are many live objects
        t0 = time.perf_counter()
        train = Rows(ds.events, ids["train"], keep_calls=True)  # the calibration's fold mines share its calls
        predictor, control, floor, totals = mine_rows(train, options)
        mine_s = time.perf_counter() - t0
        control_choice = validation = None
        if ids["validation"]:
            val = Rows(ds.events, ids["validation"])
            predictor, control_choice = choose_control(predictor, control, val, options)
            predictor, validation = calibrate(predictor, train, ids["train"], val, options)
        result_eval = None
        if evaluate_test and ids["test"]:
            result_eval = evaluate(predictor, Rows(ds.events, ids["test"]), floor)
    rules = predictor.tables["rules"]
    summary = {
        "dataset": str(ds.path),
        "dataset_hash": ds.hash,
        "parameters": predictor.params,
        "split": {"seed": options.seed, "fractions": list(DEFAULT_FRACTIONS)} | {f"{k}_sessions": len(v) for k, v in ids.items()},
        "train": totals,
        "contexts": len(set(map(tuple, predictor.tables["control"]["context"]))),
        "rules": len(rules["tool"]),
        "calibration_points": len(predictor.calibration.get("x", [])),
        "control_choice": control_choice,
        "validation_calibration": validation,
        "mine_seconds": round(mine_s, 3),
    }
    strongest = strongest_patterns(predictor)
    if out is not None:
        write_table(Path(out), predictor, {"dataset": summary["dataset"], "dataset_hash": ds.hash, "seed": options.seed,
                                            "split": summary["split"], "train": totals, "eval": result_eval})
        summary["output"] = str(out)
    return MineResult(predictor, summary, result_eval, strongest)


ALPHAS = (0.5, 2.0, 8.0)  # shrinkage of a context toward its suffix tried on validation


def _beats(hits: list[bool], floor_hits: list[bool]) -> bool:
    """A ranking right at `hits` beats the floor, right at `floor_hits` (the same validation decisions): it wins
    at least 2 more decisions than it loses, and 1% of them. Validation is held out from mining, so the choice
    is an unbiased estimate; the margin keeps a tie, or a one-decision edge, on the floor."""
    wins = sum(h and not f for h, f in zip(hits, floor_hits))
    losses = sum(f and not h for h, f in zip(hits, floor_hits))
    return wins - losses >= max(2.0, 0.01 * len(hits))


def choose_control(predictor: PatternPredictor, control: ControlCounts, val: Rows, options: MineOptions
                   ) -> tuple[PatternPredictor, dict[str, Any]]:
    """The predictor with the control-flow table cut from `control` (the train counts) chosen on validation
    (see the module docstring), and the choice."""

    def variant(k: int, alpha: float, min_support: int) -> PatternPredictor:
        return with_control(predictor, control, options, k, alpha, min_support)

    floor = variant(1, 0.0, 1)
    f1, f3 = tool_hits(floor, val)
    n = len(f1)
    best, best_hits, label = floor, (sum(f1), f3), "floor"
    for k in range(1, options.max_context + 1):
        for alpha in ALPHAS:
            cand = variant(k, alpha, options.min_support)
            h1, h3 = tool_hits(cand, val)
            if _beats(h1, f1) and (sum(h1), h3) > best_hits:
                best, best_hits, label = cand, (sum(h1), h3), f"context {k}, alpha {alpha:g}"
    return best, {"chosen": label, "K": best.params["K"], "alpha": best.params["alpha"],
                  "control_min_support": best.params.get("control_min_support", options.min_support), "validation_decisions": n,
                  "validation_tool_top1": best_hits[0] / n if n else None, "floor_validation_tool_top1": sum(f1) / n if n else None}


def with_control(predictor: PatternPredictor, control: Any, options: MineOptions, k: int, alpha: float, min_support: int
                 ) -> PatternPredictor:
    """`predictor` with the control table of `control` counts cut to context `k`, shrinkage `alpha`, support `min_support`."""
    opt = MineOptions(**{**options.__dict__, "max_context": k, "alpha": alpha, "min_support": min_support})
    params = predictor.params | {"K": k, "alpha": alpha, "control_min_support": min_support}
    return PatternPredictor(params, predictor.tables | {"control": control_table(control, opt, k)})


FOLDS = 5  # cross-fitting folds of train (out-of-fold scores for the calibration map) and of validation (its check)


def calibrate(predictor: PatternPredictor, train: Rows, train_ids: list[str], val: Rows, options: MineOptions
              ) -> tuple[PatternPredictor, dict[str, Any]]:
    """The predictor with its calibration map, and the map's out-of-sample reliability on validation.

    The map is fitted on held-out scores only: the validation split scored by `predictor`, and each of `FOLDS`
    folds of train (`train_ids` in split order, session j in fold j mod FOLDS) scored by a predictor mined
    (with the chosen back-off) on the other folds. Scores of
    sessions a predictor was mined on are memorised, so they never enter the map; the folds of train give it
    several times the pairs validation alone holds, so a step is not one split's luck. The reliability
    reported for validation is cross-fitted too: each fold of validation is scored through a map fitted
    without it, so the figure is a check, not the fit restating itself. The folds are subsets of `train`'s
    rows, so their mines share its parsed calls and extractions.
    """
    val_pairs = [calibration_pairs(predictor, val.subset(f)) for f in _folds(val.sessions)]
    train_pairs: list[tuple[float, int, str]] = []
    k, alpha, ms = predictor.params["K"], predictor.params["alpha"], predictor.params.get("control_min_support", options.min_support)
    if len(train_ids) >= 2 * FOLDS:
        bounds = dict(zip(train.session_ids(), train.sessions))
        fold_of = {s: j % FOLDS for j, s in enumerate(train_ids)}
        for i in range(FOLDS):
            # row order as `Rows` sorts it (by session id), so each fold is mined exactly as if loaded alone
            fit = train.subset(sorted(b for s, b in bounds.items() if fold_of[s] != i))
            held = train.subset(sorted(b for s, b in bounds.items() if fold_of[s] == i))
            fold, control, _, _ = mine_rows(fit, options)
            train_pairs += calibration_pairs(with_control(fold, control, options, k, alpha, ms), held)
    checked: list[tuple[float, int]] = []
    train_tally, val_tallies = CalibrationTally(train_pairs), [CalibrationTally(pairs) for pairs in val_pairs]
    for i, held in enumerate(val_pairs):
        others = train_tally
        for j, tally in enumerate(val_tallies):
            if j != i:
                others += tally
        mapped = PatternPredictor(predictor.params, predictor.tables, others.fit()).calibrate
        checked += [(mapped(x, fam), y) for x, y, fam in held]
    cal = sum(val_tallies, train_tally).fit()
    return PatternPredictor(predictor.params, predictor.tables, cal), calibration(checked) | {"map_pairs": len(train_pairs) + sum(map(len, val_pairs))}


def _folds(sessions: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    return [f for f in (sessions[i::FOLDS] for i in range(FOLDS)) if f]


def strongest_patterns(predictor: PatternPredictor, n: int = 15) -> list[dict[str, Any]]:
    """The rules that reproduce the most calls exactly, in words (`after Grep -> Read(...): 61% of 412`)."""
    r = predictor.tables["rules"]
    words = rule_words(r)
    order = sorted(range(len(words)), key=lambda i: (-r["exact"][i] * r["rate"][i], words[i]))[:n]
    out = []
    for i in order:
        lead = f"after {r['src'][i]} -> " if r["src"][i] and r["kind"][i] in ("copy", "extract") else ""
        out.append({
            "pattern": f"{lead}{words[i]}: {r['rate'][i]:.0%} of {r['bindable'][i]}",
            "tool": r["tool"][i], "arg": r["arg"][i], "kind": r["kind"][i],
            "rate": r["rate"][i], "exact": r["exact"][i], "bindable": r["bindable"][i],
        })
    return out
