"""Mining: event keys, control flow, data flow, the predictor and its held-out evaluation.

Library entry points: `mine(dataset, out, MineOptions(...))` -> `MineResult`; `load_predictor(path)`
-> a `PatternPredictor` (the `api.Predictor` contract); `PatternPredictor.from_dict(d)` for the plain-JSON
form embedded in a policy; `pattern_hash(predictor)`, the one identity of a pattern table.
"""

from bpaste_cli.mine.patterns import MineOptions
from bpaste_cli.mine.predictor import PatternPredictor
from bpaste_cli.mine.run import MineResult, mine
from bpaste_cli.mine.store import load_predictor, pattern_hash

__all__ = ["MineOptions", "MineResult", "PatternPredictor", "load_predictor", "mine", "pattern_hash"]
