"""What `--patterns` names: a pattern table from `bpaste mine`, or `oracle` (a predictor that knows each
session's future, for upper bounds)."""

from __future__ import annotations

from pathlib import Path

from bpaste_cli.mine import open_table
from bpaste_cli.mine import Predictor
from bpaste_cli.replay.arms import OraclePredictor

ORACLE_WARNING = "--patterns oracle: a predictor that knows each session's future (an upper bound, not a result)."


def open_patterns(patterns: str | Path, dataset_hash: str, seed: int, use: str) -> tuple[Predictor, list[str]]:
    """The predictor behind `patterns` and warnings about it: where the table was mined (`use`: what the figures
    are about, e.g. "the replayed sessions"), or that the oracle's figures are bounds."""
    if str(patterns) == "oracle":
        return OraclePredictor(), [ORACLE_WARNING]
    return open_table(Path(patterns), dataset_hash, seed, use)
