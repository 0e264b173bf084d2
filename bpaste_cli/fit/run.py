"""`fit`: exploration replay on train -> labelled rows -> model chosen by measurement -> JSON model file.

Candidates: HistGradientBoostingRegressor (`gbdt`) and StandardScaler + Ridge (`linear`), both fitted on
the train rows. The one with the higher Spearman correlation between predicted and realised saving on the
validation rows (sessions the training never saw) is kept — ranking is what the beam uses the score for;
ties go to the simpler linear model. Without validation rows, the choice falls back to 5-fold
cross-validation over train sessions (said so in the metrics). Then the validation sessions are replayed
with the bpaste arm ranked by probability, by the analytic value and by the model: the B-PASTE claim.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bpaste_cli.device import Device, load_device
from bpaste_cli.errors import BpasteError
from bpaste_cli.fit.examples import LABEL_DOC, Example, explore
from bpaste_cli.fit.features import FEATURES, FeatureStats
from bpaste_cli.fit.model import ValueModel
from bpaste_cli.fsutil import atomic_write_bytes
from bpaste_cli.replay import RANKINGS, BeamConfig, LatencyStats, ReplayConfig, prepare_split, replay_traces, summarize
from bpaste_cli.safety import SafetyTable, load_safety
from bpaste_cli.trace import Dataset, load_dataset


@dataclass(frozen=True)
class FitOptions:
    """Exploration beam (wide, to see many candidates) and the replay used to compare rankings."""

    seed: int = 0
    explore_width: int = 6
    explore_depth: int = 3
    explore_min_prob: float = 0.02
    compare: ReplayConfig = field(default_factory=lambda: ReplayConfig(arms=("bpaste",), split="validation"))
    bootstrap: int = 1000


@dataclass
class FitResult:
    model: ValueModel
    metrics: dict[str, Any]
    output: Path | None = None


def _matrix(rows: list[Example], stats: FeatureStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([stats.vector(r.features) for r in rows], dtype=np.float64).reshape(len(rows), len(FEATURES))
    y = np.array([r.label for r in rows], dtype=np.float64)
    ids: dict[str, int] = {}
    groups = np.array([ids.setdefault(r.session_id, len(ids)) for r in rows], dtype=np.int64)
    return x, y, groups


def _candidates(seed: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "gbdt": HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=10,
                                              l2_regularization=1.0, early_stopping=False, random_state=seed),
        "linear": make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
    }


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    from scipy.stats import spearmanr
    from sklearn.metrics import r2_score

    n = len(y)
    ok = n >= 2 and np.ptp(y) > 0 and np.ptp(p) > 0
    rho = float(spearmanr(y, p).statistic) if ok else None
    return {"rows": n, "r2": float(r2_score(y, p)) if n >= 2 and np.ptp(y) > 0 else None, "spearman": rho,
            "mae_s": float(np.mean(np.abs(y - p))) if n else None}


def _cv(name: str, x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int) -> dict[str, Any]:
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold

    folds = min(5, len(set(groups.tolist())))
    if folds < 2:
        return {"rows": len(y), "r2": None, "spearman": None, "mae_s": None}
    pred = np.zeros_like(y)
    for tr, te in GroupKFold(n_splits=folds).split(x, y, groups):
        pred[te] = clone(_candidates(seed)[name]).fit(x[tr], y[tr]).predict(x[te])
    return _scores(y, pred)


def compare_ranks(traces, predictor, device: Device, config: ReplayConfig, stats: LatencyStats, safety: SafetyTable,
                  model: ValueModel, *, bootstrap: int, seed: int) -> dict[str, Any]:
    """The bpaste arm on the same sessions, ranked by probability, analytic value and the model."""
    out: dict[str, Any] = {}
    for rank in RANKINGS:
        cfg = replace(config, arms=("bpaste",), rank=rank)
        rows = replay_traces(traces, predictor, device, cfg, stats, safety, value_model=model)["bpaste"]
        s = summarize(rows, bootstrap=bootstrap, seed=seed)
        out[rank] = {k: s[k] for k in ("speedup", "speedup_ci95", "tool_stall_hidden_s", "hits", "inflight_promotions",
                                       "wasted_spec_s", "interference_s", "amplification")}
    return out


def fit(
    dataset: Dataset | Path | str,
    predictor: Any,
    *,
    device: Device | str = "thor",
    options: FitOptions = FitOptions(),
    safety: SafetyTable | None = None,
    out: Path | None = None,
    provenance: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> FitResult:
    """Fit the branch-value model on `dataset`'s train split; validate; write it to `out` as JSON."""
    t0 = time.perf_counter()
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(Path(dataset))
    ds.require_tool_calls("there is nothing to speculate and no value to learn")
    dev = device if isinstance(device, Device) else load_device(device)
    safety = safety or load_safety()
    cfg = replace(options.compare, seed=options.seed)
    allowed = frozenset(cfg.allowed)
    train = prepare_split(ds, "train", options.seed, safety, allowed=allowed)
    if not train.traces:
        raise BpasteError(f"The dataset {ds.path} has no timed session in the train split; fit needs timed logs to learn from.")
    stats = train.stats
    traces = {"train": train.traces,
              "validation": prepare_split(ds, "validation", options.seed, safety, allowed=allowed, stats=stats).traces}
    fstats = FeatureStats.from_traces(traces["train"], dev)
    beam = BeamConfig(options.explore_width, options.explore_depth, options.explore_min_prob, cfg.interference_budget, cfg.fast_path)
    if on_total:
        on_total(len(traces["train"]) + len(traces["validation"]) * (1 + len(RANKINGS)))
    rows = {s: explore(traces[s], predictor, dev, stats, safety, beam=beam, config=cfg, progress=progress)
            for s in ("train", "validation")}
    if len(rows["train"]) < 10:
        raise BpasteError(
            f"Replaying the {len(traces['train'])} train sessions of {ds.path} gave {len(rows['train'])} candidate branches "
            "(fewer than 10), too few to fit a model; the patterns predict few speculable calls on these logs."
        )
    x, y, groups = _matrix(rows["train"], fstats)
    xv, yv, _ = _matrix(rows["validation"], fstats)
    candidates, fitted = {}, {}
    for name, est in _candidates(options.seed).items():
        fitted[name] = est.fit(x, y)
        candidates[name] = {"train": _scores(y, est.predict(x))}
        if len(yv) >= 2:
            candidates[name]["validation"] = _scores(yv, est.predict(xv))
        else:
            candidates[name]["train_cv"] = _cv(name, x, y, groups, options.seed)
    on = "validation" if len(yv) >= 2 else "train_cv"

    def key(name: str) -> float:
        rho = candidates[name][on]["spearman"]
        return -1.0 if rho is None else rho

    chosen = max(("linear", "gbdt"), key=key)  # ties: the first, the simpler model
    est = fitted[chosen]
    meta = {
        "label": LABEL_DOC,
        "provenance": {
            "dataset": str(ds.path), "dataset_hash": ds.hash, "seed": options.seed, "device": dev.name,
            "exploration": {"width": beam.width, "depth": beam.depth, "min_prob": beam.min_prob, "rank": "value"},
            "estimator": {"name": chosen, "class": type(est[-1] if chosen == "linear" else est).__name__,
                          "params": {k: v for k, v in (est[-1] if chosen == "linear" else est).get_params().items()
                                     if isinstance(v, (int, float, str, bool)) or v is None}},
        } | (provenance or {}),
    }
    model = ValueModel.from_sklearn(est, fstats, meta)
    if len(yv):
        exported = np.array([model.predict(r) for r in xv.tolist()])
        if not np.allclose(exported, est.predict(xv), rtol=0, atol=1e-9):
            raise RuntimeError("the exported model disagrees with scikit-learn")  # a bug, not a user error
    comparison = None
    if traces["validation"]:
        comparison = compare_ranks(traces["validation"], predictor, dev, replace(cfg, split="validation"), stats, safety, model,
                                   bootstrap=options.bootstrap, seed=options.seed)
        if progress:
            progress(len(traces["validation"]) * (1 + len(RANKINGS)))
    metrics = {
        "chosen": chosen,
        "chosen_on": on,
        "why": f"higher Spearman rank correlation of predicted vs realised saving on {on.replace('_', ' ')} rows "
               "(the beam ranks by the score); ties go to the linear model",
        "rows": {s: len(r) for s, r in rows.items()},
        "sessions": {s: len(t) for s, t in traces.items()},
        "positive_label_fraction": {s: (sum(e.label > 0 for e in r) / len(r) if r else None) for s, r in rows.items()},
        "admitted_fraction_train": sum(e.admitted for e in rows["train"]) / len(rows["train"]),
        "candidates": candidates,
        "rank_comparison": {"split": "validation", "sessions": len(traces["validation"]),
                            "replay": {k: v for k, v in asdict(cfg).items() if k in ("beam_width", "beam_depth", "min_prob", "ttl_s", "interference_budget")},
                            "arms": comparison},
        "fit_seconds": round(time.perf_counter() - t0, 3),
    }
    model.meta["metrics"] = metrics
    if out is not None:
        atomic_write_bytes(Path(out), model.to_bytes())
    return FitResult(model, metrics, Path(out) if out is not None else None)
