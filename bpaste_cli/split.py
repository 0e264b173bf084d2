"""The one session split every verb uses: a deterministic hash of (seed, session id) -> train/validation/test.

Sessions, never events, are split, so no session contributes to both mining and evaluation. Sub-agent
sessions follow their root session, so a parent and its children always land together.
"""

from __future__ import annotations

import hashlib

import polars as pl

from bpaste_cli.errors import BpasteError

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
DEFAULT_SEED = 0


def _unit(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(session_id: str, seed: int = DEFAULT_SEED, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """The split of one session (pass the root session id for sub-agents; see `assign_splits`)."""
    u = _unit(seed, session_id)
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "validation"
    return "test"


def assign_splits(
    sessions: pl.DataFrame, seed: int = DEFAULT_SEED, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> pl.DataFrame:
    """`sessions` (needs session_id, parent_session_id) with a `split` column; children follow their root."""
    parent = dict(zip(sessions["session_id"].to_list(), sessions["parent_session_id"].to_list()))

    def root(sid: str) -> str:
        seen = set()
        while parent.get(sid) and sid not in seen:
            seen.add(sid)
            sid = parent[sid]
        return sid

    splits = [split_of(root(s), seed, fractions) for s in sessions["session_id"].to_list()]
    return sessions.with_columns(pl.Series("split", splits, dtype=pl.Enum(list(SPLITS))))


def select_split(sessions: pl.DataFrame, split: str, seed: int = DEFAULT_SEED) -> list[str]:
    """Session ids of one split (`all` for every session)."""
    if split == "all":
        return sessions["session_id"].to_list()
    if split not in SPLITS:
        raise BpasteError(f"Unknown split {split!r}; choose train, validation, test or all.")
    return assign_splits(sessions, seed).filter(pl.col("split") == split)["session_id"].to_list()
