"""Mining: event keys, control flow, data flow, the predictor and its held-out evaluation.

The predictor contract (`api`): `Predictor`, `PredictorCursor`, `Event`, `Candidate`. Library entry points: `mine(dataset, out, MineOptions(...))` -> `MineResult`; `load_predictor(path)`
-> a `PatternPredictor` (the `api.Predictor` contract); `PatternPredictor.from_dict(d)` for the plain-JSON
form embedded in a policy; `pattern_hash(predictor)`, the one identity of a pattern table; `open_table` (a
table's predictor and warnings about where it was mined); `strongest_patterns` (patterns in words).
"""

from bpaste_cli.mine.api import Candidate, Event, Predictor, PredictorCursor
from bpaste_cli.mine.keys import USER_KEY
from bpaste_cli.mine.patterns import MineOptions
from bpaste_cli.mine.predictor import PatternPredictor
from bpaste_cli.mine.run import MineResult, mine, strongest_patterns
from bpaste_cli.mine.store import (
    is_pattern_table,
    load_predictor,
    open_table,
    pattern_hash,
    provenance_warnings,
    read_table_manifest,
)

__all__ = ["USER_KEY", "Candidate", "Event", "MineOptions", "MineResult", "PatternPredictor", "Predictor", "PredictorCursor", "is_pattern_table", "load_predictor", "mine", "open_table",
           "pattern_hash", "provenance_warnings", "read_table_manifest", "strongest_patterns"]
