"""A split of a dataset made ready for replay, once, for every caller: its sessions as traces, the
sessions that cannot be replayed (by reason), and latency statistics learned from the training split.

The one fallback: with no timed training session the statistics come from the prepared sessions
themselves, and `warnings` says so (the figures are then optimistic).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterable, Iterator

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


def chunks(ds: Dataset, safety: SafetyTable, allowed: frozenset[str], ids: Iterable[str]
           ) -> Iterator[tuple[list[SessionTrace], dict[str, int]]]:
    """(traces, skipped counts) of `ids` in session-id order, PREPARE_CHUNK sessions at a time."""
    ordered = sorted(ids)
    for lo in range(0, len(ordered), PREPARE_CHUNK):
        yield prepare(ds.events, ds.sessions, safety, allowed, ordered[lo : lo + PREPARE_CHUNK])


def _streamed(ds: Dataset, safety: SafetyTable, allowed: frozenset[str], ids: Iterable[str]) -> Iterator[SessionTrace]:
    for traces, _ in chunks(ds, safety, allowed, ids):
        yield from traces


def split_stats(ds: Dataset, split: str, seed: int, safety: SafetyTable, allowed: frozenset[str] = SPECULABLE,
                ) -> tuple[LatencyStats, list[str]]:
    """Latency statistics of the training split (streamed), else of `split`'s own sessions with a warning."""
    train = _streamed(ds, safety, allowed, select_split(ds.sessions, "train", seed))
    first = next(train, None)
    if first is not None:
        return LatencyStats.from_traces(itertools.chain([first], train)), []
    own = _streamed(ds, safety, allowed, select_split(ds.sessions, split, seed))
    return LatencyStats.from_traces(own), [NO_TRAIN_STATS]


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
        train = traces if split == "train" and sessions is None else \
            prepare(ds.events, ds.sessions, safety, allowed, select_split(ds.sessions, "train", seed))[0]
        if train:
            stats = LatencyStats.from_traces(train)
        else:
            stats = LatencyStats.from_traces(traces)
            warnings.append(NO_TRAIN_STATS)
    return Prepared(traces, stats, skipped, warnings)


def timed_count(ds: Dataset, ids: list[str]) -> int:
    """How many of `ids` are timed sessions (what a progress bar counts on)."""
    return ds.sessions.filter(
        pl.col("session_id").is_in(ids) & pl.col("timed") & pl.col("agent_time_s").is_not_null()
    ).height
