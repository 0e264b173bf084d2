"""`fit`: learn the value of a branch prefix (its critical-path saving) from replays of the train split.

Library entry points: `fit(dataset, predictor, device=..., options=FitOptions(...), out=path)` -> `FitResult`;
`load_value_model(path or dict)` -> `ValueModel` (plain JSON, never pickle), which replay, tune and report
take as their `value_model` argument for the `model` ranking; `device_warnings` says when it was fitted
for another device. See `examples` for the exact label.
"""

from bpaste_cli.fit.model import (
    KIND,
    VALUE_MODEL_JSON_SCHEMA,
    VALUE_MODEL_SCHEMA_VERSION,
    ValueModel,
    device_warnings,
    load_value_model,
)
from bpaste_cli.fit.run import FitOptions, FitResult, fit

__all__ = ["KIND", "VALUE_MODEL_JSON_SCHEMA", "VALUE_MODEL_SCHEMA_VERSION", "FitOptions", "FitResult", "ValueModel", "device_warnings", "fit",
           "load_value_model"]
