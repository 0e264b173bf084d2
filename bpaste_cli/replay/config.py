"""Every knob of a replay, flat (the shape `--json`, `tune` and `policy.json` use); each arm declares
which of them it reads (`arms.*.PARAMS`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplayConfig:
    """Every knob of a replay (the parameters `tune` searches)."""

    arms: tuple[str, ...] = ("serial", "oracle", "paste", "bpaste")
    split: str = "test"
    seed: int = 0
    ttl_s: float = 60.0  # a finished speculative result is kept this long
    slots: int | None = None  # None: the device's speculative slots
    allowed: tuple[str, ...] = ("read-only",)  # safety classes that may be speculated
    top_k: int = 3  # paste
    threshold: float = 0.2  # paste: minimum probability
    beam_width: int = 3
    beam_depth: int = 2
    rank: str = "value"  # bpaste: probability | value | model (with a value model from `fit`)
    min_prob: float = 0.1  # bpaste: minimum prefix probability
    interference_budget: float = 0.1  # bpaste: fraction of the typical think time
    lambda_scale: float = 1.0  # the λ schedule: PASTE's 0.02 / 0.05 / 0.10 / 0.20 steps times this
    fast_path: bool = True
    bootstrap: int = 1000
