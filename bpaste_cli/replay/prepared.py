"""A split of a dataset made ready for replay, once, for every caller: its sessions as traces, the
sessions that cannot be replayed (by reason), and latency statistics learned from the training split.

The one fallback: with no timed training session the statistics come from the prepared sessions
themselves, and `warnings` says so (the figures are then optimistic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import polars as pl

from bpaste_cli.replay.traces import SessionTrace, prepare
from bpaste_cli.replay.value import LatencyStats
from bpaste_cli.safety import SafetyTable
from bpaste_cli.split import select_split
from bpaste_cli.trace import Dataset

PREPARE_CHUNK = 2000  # sessions turned into traces at a time: a streamed pass holds one chunk's traces, not the corpus's
SPECULABLE = frozenset({"read-only"})  # the safety classes speculated by default
NO_TRAIN_STATS = "no timed training sessions: latency statistics come from the replayed sessions themselves."


@dataclass
class Prepared:
    """One split, ready for replay."""

    traces: list[SessionTrace]
    stats: LatencyStats
    skipped: dict[str, int]
    warnings: list[str] = field(default_factory=list)


def latency_stats(ds: Dataset, ids: Iterable[str]) -> LatencyStats | None:
    """The latency statistics of the sessions `ids` that can be replayed in time (None if there are none),
    straight from the frames: the same figures as `LatencyStats.from_traces` of their traces (think times
    and latencies in session-id then seq order), without building a trace."""
    wanted = pl.Series("session_id", list(ids), dtype=pl.String).implode()
    replayable = ds.sessions.filter(pl.col("session_id").is_in(wanted) & pl.col("timed")
                                    & pl.col("agent_time_s").is_not_null()).select("session_id").unique()
    timed = (
        ds.events.select("session_id", "seq", "kind", "tool", "t_start", "t_end")
        .join(replayable, on="session_id", how="semi")
        .filter((pl.col("t_start").is_null() | pl.col("t_end").is_null()).any().over("session_id").not_())
    )
    if timed.is_empty():
        return None
    times = timed.sort("session_id", "seq").select("kind", "tool", duration=pl.col("t_end") - pl.col("t_start"))
    thinks = times.filter(pl.col("kind") == "llm")["duration"].to_list()
    per_tool = (times.filter(pl.col("kind") == "tool").group_by("tool", maintain_order=True)
                .agg(pl.col("duration")).rows())
    return LatencyStats.from_durations(thinks, dict(per_tool))


def split_stats(ds: Dataset, split: str, seed: int) -> tuple[LatencyStats, list[str]]:
    """Latency statistics of the training split, else of `split`'s own sessions with a warning."""
    stats = latency_stats(ds, select_split(ds.sessions, "train", seed))
    if stats is not None:
        return stats, []
    own = latency_stats(ds, select_split(ds.sessions, split, seed))
    return (own if own is not None else LatencyStats.from_traces([])), [NO_TRAIN_STATS]


def prepare_split(
    ds: Dataset,
    split: str,
    seed: int,
    safety: SafetyTable,
    *,
    allowed: frozenset[str] = SPECULABLE,
    sessions: Iterable[str] | None = None,
    stats: LatencyStats | None = None,
) -> Prepared:
    """The traces of `split` (only `sessions` of it, if given) and latency statistics from train (`stats`
    when the caller already has them)."""
    ids = select_split(ds.sessions, split, seed) if sessions is None else list(sessions)
    traces, skipped = prepare(ds.events, ds.sessions, safety, allowed, ids)
    warnings: list[str] = []
    if stats is None:
        stats = latency_stats(ds, select_split(ds.sessions, "train", seed))
        if stats is None:
            stats = LatencyStats.from_traces(traces)
            warnings.append(NO_TRAIN_STATS)
    return Prepared(traces, stats, skipped, warnings)


def timed_count(ds: Dataset, ids: list[str]) -> int:
    """How many of `ids` are timed sessions (what a progress bar counts on)."""
    return ds.sessions.filter(
        pl.col("session_id").is_in(ids) & pl.col("timed") & pl.col("agent_time_s").is_not_null()
    ).height
