"""Aggregate per-session results of one arm: speedup as a ratio of sums with a session bootstrap CI,
hidden stall, hits split into reuse and in-flight promotion, misses, waste, amplification, interference,
all overall and per tool."""

from __future__ import annotations

from typing import Any

import numpy as np

from bpaste_cli.replay.engine import TOOL_FIELDS, SessionResult


def bootstrap_ci(serial: np.ndarray, replayed: np.ndarray, n: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of Σ serial / Σ replayed over sessions resampled with replacement."""
    if len(serial) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(serial), size=(n, len(serial)))
    num = serial[idx].sum(axis=1)
    den = replayed[idx].sum(axis=1)
    ratios = np.divide(num, den, out=np.full(n, np.nan), where=den > 0)
    lo, hi = np.nanpercentile(ratios, [2.5, 97.5])
    return (float(lo), float(hi))


def summarize(results: list[SessionResult], *, bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The `--json` figures of one arm."""
    serial = np.array([r.serial_s for r in results], dtype=float)
    replayed = np.array([r.agent_s for r in results], dtype=float)
    total_serial, total = float(serial.sum()), float(replayed.sum())
    calls = sum(r.real_calls for r in results)
    hits = sum(r.hits for r in results)
    promotions = sum(r.promotions for r in results)
    started = sum(r.spec_started for r in results)
    per_tool: dict[str, dict[str, float]] = {}
    for r in results:
        for tool, row in r.per_tool.items():
            acc = per_tool.setdefault(tool, dict.fromkeys(TOOL_FIELDS, 0))
            for name, value in zip(TOOL_FIELDS, row):
                acc[name] += value
    for acc in per_tool.values():
        acc["misses"] = acc["calls"] - acc["hits"] - acc["inflight_promotions"]
    ratios = np.divide(serial, replayed, out=np.ones_like(serial), where=replayed > 0)
    return {
        "speedup": total_serial / total if total > 0 else 1.0,
        "speedup_ci95": list(bootstrap_ci(serial, replayed, bootstrap, seed)),
        "median_session_speedup": float(np.median(ratios)) if len(ratios) else 1.0,
        "agent_time_s": total,
        "serial_agent_time_s": total_serial,
        "human_wait_s": float(sum(r.human_s for r in results)),
        "tool_stall_hidden_s": float(sum(r.hidden_s for r in results)),
        "real_calls": calls,
        "hits": hits,
        "inflight_promotions": promotions,
        "misses": calls - hits - promotions,
        "spec_started": started,
        "wasted_spec_s": float(sum(r.wasted_s for r in results)),
        "amplification": started / calls if calls else 0.0,
        "interference_s": float(sum(r.interference_s for r in results)),
        "sessions": len(results),
        "per_tool": dict(sorted(per_tool.items(), key=lambda kv: -kv[1]["calls"])),
    }
