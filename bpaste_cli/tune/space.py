"""The search space of `tune` and its known points (a point maps to a ReplayConfig by `policy.replay_config`).

One study searches both strategies (a conditional space): `arm` = paste (top_k, threshold) or bpaste
(beam_width, beam_depth, rank, min_prob, interference_budget); both share `slots` (speculative
concurrency, 0 .. the device's slots: 0 = no speculation), `ttl_s` and `lambda_scale` (the λ schedule:
PASTE's shadow-price steps scaled). A policy is one strategy.
"""

from __future__ import annotations

from typing import Any

import optuna

from bpaste_cli.replay import ReplayConfig

DEFAULTS = ReplayConfig()
STRATEGIES = ("paste", "bpaste")
SHARED = ("arm", "slots", "ttl_s", "lambda_scale")
PASTE_ONLY = ("top_k", "threshold")
BPASTE_ONLY = ("beam_width", "beam_depth", "rank", "min_prob", "interference_budget")


def suggest(trial: optuna.Trial, max_slots: int, ranks: tuple[str, ...]) -> dict[str, Any]:
    """Sample one point (define-by-run: paste-only and bpaste-only knobs only when that arm is chosen)."""
    p: dict[str, Any] = {
        "arm": trial.suggest_categorical("arm", STRATEGIES),
        "slots": trial.suggest_int("slots", 0, max_slots),
        "ttl_s": trial.suggest_float("ttl_s", 5.0, 600.0, log=True),
        "lambda_scale": trial.suggest_float("lambda_scale", 0.25, 4.0, log=True),
    }
    if p["arm"] == "paste":
        p["top_k"] = trial.suggest_int("top_k", 1, 5)
        p["threshold"] = trial.suggest_float("threshold", 0.02, 0.8)
    else:
        p["beam_width"] = trial.suggest_int("beam_width", 1, 6)
        p["beam_depth"] = trial.suggest_int("beam_depth", 1, 3)
        p["rank"] = trial.suggest_categorical("rank", ranks)
        p["min_prob"] = trial.suggest_float("min_prob", 0.01, 0.5, log=True)
        p["interference_budget"] = trial.suggest_float("interference_budget", 0.0, 0.5)
    return p


def known_points(max_slots: int, previous: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(label, params) enqueued before sampling: serial-equivalent (no speculation), PASTE's defaults,
    B-PASTE's defaults (both with the device's slots), and the previous policy's parameters if given."""
    paste = {k: getattr(DEFAULTS, k) for k in PASTE_ONLY}
    beam = {k: getattr(DEFAULTS, k) for k in BPASTE_ONLY}
    common = {"ttl_s": DEFAULTS.ttl_s, "lambda_scale": DEFAULTS.lambda_scale}
    points = [
        ("serial", {"arm": "bpaste", "slots": 0, **common, **beam}),
        ("paste-defaults", {"arm": "paste", "slots": max_slots, **common, **paste}),
        ("bpaste-defaults", {"arm": "bpaste", "slots": max_slots, **common, **beam}),
    ]
    if previous is not None:
        own = PASTE_ONLY if previous.get("arm") == "paste" else BPASTE_ONLY
        keep = {k: v for k, v in previous.items() if k in SHARED + own}
        keep["slots"] = min(int(keep.get("slots", max_slots)), max_slots)
        points.append(("previous-policy", keep))
    return points
