"""The search space of `tune` and its known points (a point maps to a ReplayConfig by `policy.replay_config`);
each arm samples its own knobs (`replay.ARM_TYPES[arm].suggest`).

One study searches both strategies (a conditional space): `arm` = paste (top_k, threshold) or bpaste
(beam_width, beam_depth, rank, min_prob, interference_budget); both share `slots` (speculative
concurrency, 0 .. the device's slots: 0 = no speculation), `ttl_s` and `lambda_scale` (the λ schedule:
PASTE's shadow-price steps scaled). A policy is one strategy.
"""

from __future__ import annotations

from typing import Any

import optuna

from bpaste_cli.replay import ARM_TYPES, STRATEGIES, ReplayConfig

DEFAULTS = ReplayConfig()
SHARED = ("arm", "slots", "ttl_s", "lambda_scale")


def suggest(trial: optuna.Trial, max_slots: int, ranks: tuple[str, ...]) -> dict[str, Any]:
    """Sample one point (define-by-run: an arm's own knobs, from its `suggest`, only when that arm is chosen)."""
    p: dict[str, Any] = {
        "arm": trial.suggest_categorical("arm", STRATEGIES),
        "slots": trial.suggest_int("slots", 0, max_slots),
        "ttl_s": trial.suggest_float("ttl_s", 5.0, 600.0, log=True),
        "lambda_scale": trial.suggest_float("lambda_scale", 0.25, 4.0, log=True),
    }
    return p | ARM_TYPES[p["arm"]].suggest(trial, ranks)


def known_points(max_slots: int, previous: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(label, params) enqueued before sampling: serial-equivalent (no speculation), PASTE's defaults,
    B-PASTE's defaults (both with the device's slots), and the previous policy's parameters if given."""
    paste = {k: getattr(DEFAULTS, k) for k in ARM_TYPES["paste"].PARAMS}
    beam = {k: getattr(DEFAULTS, k) for k in ARM_TYPES["bpaste"].PARAMS}
    common = {"ttl_s": DEFAULTS.ttl_s, "lambda_scale": DEFAULTS.lambda_scale}
    points = [
        ("serial", {"arm": "bpaste", "slots": 0, **common, **beam}),
        ("paste-defaults", {"arm": "paste", "slots": max_slots, **common, **paste}),
        ("bpaste-defaults", {"arm": "bpaste", "slots": max_slots, **common, **beam}),
    ]
    if previous is not None:
        own = ARM_TYPES["paste" if previous.get("arm") == "paste" else "bpaste"].PARAMS
        keep = {k: v for k, v in previous.items() if k in SHARED + own}
        keep["slots"] = min(int(keep.get("slots", max_slots)), max_slots)
        points.append(("previous-policy", keep))
    return points
