"""`mine`: trace dataset -> pattern table, calibrated on validation, evaluated on test.

Sessions are split once by `bpaste_cli.split` (hash of session id and seed). Mining sees only train;
the calibration map is fitted on validation; the evaluation reports on test. The table written is
the one evaluated (mined on train only), so replay, fit and tune can use validation and test honestly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from bpaste_cli.mine.evaluate import calibration_pairs, evaluate, fit_isotonic
from bpaste_cli.mine.keys import KEYS
from bpaste_cli.mine.patterns import MineOptions, Rows, mine_predictor
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
    if out is not None:
        check_replaceable(Path(out), "pattern-table", "mine")
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(Path(dataset))
    ds.require_tool_calls("there are no patterns to mine")
    ids = split_ids(ds, options.seed)
    if not ids["train"]:
        raise BpasteError(f"The dataset {ds.path} has no session in the train split (it has {ds.sessions.height}); ingest more sessions.")
    t0 = time.perf_counter()
    predictor, floor, totals = mine_predictor(ds.events, ids["train"], options)
    mine_s = time.perf_counter() - t0
    if ids["validation"]:
        predictor.calibration = fit_isotonic(calibration_pairs(predictor, Rows(ds.events, ids["validation"])))
        predictor = PatternPredictor(predictor.params, predictor.tables, predictor.calibration)
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
        "mine_seconds": round(mine_s, 3),
    }
    strongest = strongest_patterns(predictor)
    if out is not None:
        write_table(Path(out), predictor, {"dataset": summary["dataset"], "dataset_hash": ds.hash, "seed": options.seed,
                                            "split": summary["split"], "train": totals, "eval": result_eval})
        summary["output"] = str(out)
    return MineResult(predictor, summary, result_eval, strongest)


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
