"""Aggregate per-session results of one arm: speedup as a ratio of sums with a session bootstrap CI,
hidden stall, hits split into reuse and in-flight promotion, misses, waste, amplification, interference,
all overall and per tool."""

from __future__ import annotations

from operator import add
from statistics import median
from typing import Any

import polars as pl

from bpaste_cli.replay.engine import TOOL_FIELDS, SessionResult, tool_values

ROUNDS_PER_SELECT = 100  # bootstrap rounds per polars query: few queries, a bounded plan


def bootstrap_ci(serial: list[float], replayed: list[float], n: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of Σ serial / Σ replayed over sessions resampled with replacement."""
    return bootstrap_cis(serial, [replayed], n, seed)[0]


def bootstrap_cis(serial: list[float], replayed: list[list[float]], n: int, seed: int) -> list[tuple[float, float]]:
    """`bootstrap_ci` of each of several replays of the same sessions (one `serial`), from one resample of them
    all per round: which rows a resample draws depends only on its seed and the number of sessions, so each
    interval is the very one `bootstrap_ci` gives it alone, for a fraction of the resampling.

    Round i resamples the rows with seed `seed * 100_003 + i` (every column with that seed draws the rows
    `DataFrame.sample` would) and sums each column; the rounds are evaluated ROUNDS_PER_SELECT at a time in
    one polars query, which runs them on every core (a query per round cost more in its overhead than in
    its sums)."""
    if not serial or n <= 0:
        return [(float("nan"), float("nan"))] * len(replayed)
    columns = {"s": serial} | {f"r{j}": r for j, r in enumerate(replayed)}
    df = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.Float64))
    per_round, rows = len(columns), len(serial)  # sums per round; sessions
    ratios: list[list[float]] = [[] for _ in replayed]
    for lo in range(0, n, ROUNDS_PER_SELECT):
        rounds = range(lo, min(n, lo + ROUNDS_PER_SELECT))
        sums = df.select([pl.all().sample(n=rows, with_replacement=True, seed=seed * 100_003 + i).sum().name.suffix(f"_{i}")
                          for i in rounds]).row(0)
        for at in range(0, len(sums), per_round):
            num = sums[at]
            for out, den in zip(ratios, sums[at + 1 : at + per_round]):
                if den > 0:
                    out.append(num / den)
    intervals = []
    for values in ratios:
        q = pl.Series(values, dtype=pl.Float64)
        intervals.append((float(q.quantile(0.025, "linear")), float(q.quantile(0.975, "linear"))))
    return intervals


def summarize(results: list[SessionResult], *, bootstrap: int = 1000, seed: int = 0,
              ci: tuple[float, float] | None = None) -> dict[str, Any]:
    """The `--json` figures of one arm (`ci`: its bootstrap interval, when the caller has it from `bootstrap_cis`)."""
    serial = [r.serial_s for r in results]
    replayed = [r.agent_s for r in results]
    total_serial, total = float(sum(serial)), float(sum(replayed))
    calls = sum(r.real_calls for r in results)
    hits = sum(r.hits for r in results)
    promotions = sum(r.promotions for r in results)
    started = sum(r.spec_started for r in results)
    sums: dict[str, tuple[Any, ...]] = {}  # per tool its fields' sums, from 0 and in session order, field by field
    zero = (0,) * len(TOOL_FIELDS)
    for r in results:
        for tool, row in r.per_tool.items():
            sums[tool] = tuple(map(add, sums.get(tool, zero), tool_values(row)))
    per_tool: dict[str, dict[str, float]] = {tool: dict(zip(TOOL_FIELDS, acc)) for tool, acc in sums.items()}
    for acc in per_tool.values():
        acc["misses"] = acc["calls"] - acc["hits"] - acc["inflight_promotions"]
    ratios = [a / b if b > 0 else 1.0 for a, b in zip(serial, replayed)]
    return {
        "speedup": total_serial / total if total > 0 else 1.0,
        "speedup_ci95": list(ci if ci is not None else bootstrap_ci(serial, replayed, bootstrap, seed)),
        "median_session_speedup": float(median(ratios)) if ratios else 1.0,
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
