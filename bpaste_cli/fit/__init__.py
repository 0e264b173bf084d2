"""`fit`: learn the value of a branch prefix (its critical-path saving) from replays of the train split.

Library entry points: `fit(dataset, predictor, device=..., options=FitOptions(...), out=path)` -> `FitResult`;
`load_value_model(path or dict)` -> `ValueModel` (plain JSON, never pickle); `use_model(path_or_dict)`
registers it as replay's `model` ranking. See `examples` for the exact label.
"""

from bpaste_cli.fit.model import KIND, VALUE_MODEL_SCHEMA_VERSION, ValueModel, load_value_model
from bpaste_cli.fit.run import FitOptions, FitResult, fit, patterns_hash

__all__ = ["KIND", "VALUE_MODEL_SCHEMA_VERSION", "FitOptions", "FitResult", "ValueModel", "fit", "load_value_model",
           "patterns_hash", "use_model"]


def use_model(source, device: str | None = None) -> list[str]:
    """Register the value model at `source` (path or dict) as replay's `model` ranking; warnings to show."""
    from bpaste_cli.replay.value import register_scorer

    model = load_value_model(source)
    register_scorer(model.scorer())
    fitted_on = (model.meta.get("provenance") or {}).get("device")
    if device is not None and fitted_on and fitted_on != device:
        return [f"the value model was fitted for device {fitted_on!r}; its interference features describe that device, not {device!r}."]
    return []
