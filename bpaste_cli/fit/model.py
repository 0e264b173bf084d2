"""The value model as plain JSON, and a pure-Python predictor for it (no pickle, no code in the file).

Two model types: `gbdt` (scikit-learn's HistGradientBoostingRegressor exported tree by tree: node arrays
feature / threshold / left / right / missing_left / leaf / value; prediction = baseline + Σ leaf values,
summed in tree order exactly as scikit-learn does) and `linear` (StandardScaler + Ridge: mean, scale,
coefficients, intercept). Loading parses JSON, checks kind and schema_version, validates the document
against VALUE_MODEL_JSON_SCHEMA and the trees' structure (children after parents, so evaluation always
ends) and size (at most MAX_TREES trees of MAX_NODES nodes and MAX_DEPTH levels, so one prediction, made per
beam candidate at run time, stays cheap), and evaluates numbers only.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from bpaste_cli import __version__
from bpaste_cli.artifacts import ArtifactType, check_artifact, read_json_artifact
from bpaste_cli.errors import BpasteError
from bpaste_cli.fit.features import FEATURES, FeatureStats
from bpaste_cli.replay import PrefixFeatures

KIND = "value-model"
VALUE_MODEL_SCHEMA_VERSION = 1
TREE_FIELDS = ("feature", "threshold", "left", "right", "missing_left", "leaf", "value")
MAX_TREES = 2_000  # `bpaste fit` writes 200
MAX_NODES = 8_191  # per tree; `bpaste fit` grows at most 29 (15 leaves)
MAX_DEPTH = 64  # levels below the root; a 15-leaf tree has at most 14

_NUM = {"type": "number"}
_NUMS = {"type": "array", "items": _NUM}
_INTS = {"type": "array", "items": {"type": "integer", "minimum": 0}}
_BOOLS = {"type": "array", "items": {"type": "boolean"}}
VALUE_MODEL_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:bpaste:schema:value-model",
    "title": "value-model",
    "description": "A bpaste branch-value model (`bpaste fit`): predicts a branch prefix's critical-path saving in seconds.",
    "type": "object",
    "properties": {
        "kind": {"const": KIND},
        "schema_version": {"const": VALUE_MODEL_SCHEMA_VERSION},
        "bpaste_version": {"type": "string"},
        "created_at": {"type": "string"},
        "features": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "label": {"type": "string"},
        "stats": {
            "type": "object",
            "properties": {
                "tool_stats": {"type": "array", "items": {"type": "string"}},
                "tools": {"type": "object", "additionalProperties": _NUMS},
                "default": _NUMS,
                "device": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": _NUM}},
            },
            "required": ["tool_stats", "tools", "default", "device"],
        },
        "model": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": "gbdt"},
                        "baseline": _NUM,
                        "trees": {"type": "array", "items": {
                            "type": "object",
                            "properties": {"feature": _INTS, "threshold": _NUMS, "left": _INTS, "right": _INTS,
                                           "missing_left": _BOOLS, "leaf": _BOOLS, "value": _NUMS},
                            "required": list(TREE_FIELDS),
                            "additionalProperties": False,
                        }},
                    },
                    "required": ["type", "baseline", "trees"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"type": {"const": "linear"}, "mean": _NUMS, "scale": _NUMS, "coef": _NUMS, "intercept": _NUM},
                    "required": ["type", "mean", "scale", "coef", "intercept"],
                    "additionalProperties": False,
                },
            ]
        },
        "provenance": {"type": "object"},
        "metrics": {"type": "object"},
    },
    "required": ["kind", "schema_version", "features", "stats", "model"],
}
VALUE_MODEL = ArtifactType(KIND, VALUE_MODEL_SCHEMA_VERSION, VALUE_MODEL_JSON_SCHEMA, "value model",
                           "pass the file written by `bpaste fit`", "re-run `bpaste fit`", path_sep=".")


class ValueModel:
    """A fitted value model: `predict(row)` in seconds of critical-path saving; `scorer()` for the beam."""

    def __init__(self, model: dict[str, Any], stats: FeatureStats, features: list[str], meta: dict[str, Any] | None = None) -> None:
        self.model = model
        self.stats = stats
        self.features = list(features)
        self.meta = meta or {}
        if model["type"] == "gbdt":
            self._baseline = float(model["baseline"])
            self._trees = [tuple(t[f] for f in TREE_FIELDS) for t in model["trees"]]
        else:
            self._lin = (model["mean"], model["scale"], model["coef"], float(model["intercept"]))

    @classmethod
    def from_sklearn(cls, est: Any, stats: FeatureStats, meta: dict[str, Any] | None = None) -> ValueModel:
        """Export a fitted HistGradientBoostingRegressor or Pipeline(StandardScaler, Ridge) to JSON form."""
        if hasattr(est, "_predictors"):
            trees = []
            for (pred,) in est._predictors:
                nodes = pred.nodes
                if nodes["is_categorical"].any():
                    raise ValueError("categorical splits are not exported")
                trees.append({
                    "feature": [int(x) for x in nodes["feature_idx"]],
                    "threshold": [float(x) for x in nodes["num_threshold"]],
                    "left": [int(x) for x in nodes["left"]],
                    "right": [int(x) for x in nodes["right"]],
                    "missing_left": [bool(x) for x in nodes["missing_go_to_left"]],
                    "leaf": [bool(x) for x in nodes["is_leaf"]],
                    "value": [float(x) for x in nodes["value"]],
                })
            model = {"type": "gbdt", "baseline": float(est._baseline_prediction.ravel()[0]), "trees": trees}
        else:
            scaler, ridge = est[0], est[-1]
            model = {"type": "linear", "mean": [float(x) for x in scaler.mean_], "scale": [float(x) for x in scaler.scale_],
                     "coef": [float(x) for x in ridge.coef_], "intercept": float(ridge.intercept_)}
        return cls(model, stats, list(FEATURES), meta)

    def predict(self, x: list[float]) -> float:
        """Predicted saving (seconds) of one feature row."""
        if self.model["type"] == "linear":
            mean, scale, coef, intercept = self._lin
            return sum(((v - m) / s) * c for v, m, s, c in zip(x, mean, scale, coef)) + intercept
        raw = self._baseline
        for feature, threshold, left, right, missing_left, leaf, value in self._trees:
            i = 0
            while not leaf[i]:
                v = x[feature[i]]
                if v != v:  # NaN: scikit-learn's missing-value direction
                    i = left[i] if missing_left[i] else right[i]
                else:
                    i = left[i] if v <= threshold[i] else right[i]
            raw += value[i]
        return raw

    def score(self, f: PrefixFeatures) -> float:
        """Predicted saving of the prefix `f` describes (what replay's `model` ranking scores with)."""
        return self.predict(self.stats.vector(f))

    def to_dict(self) -> dict[str, Any]:
        """The whole model file as plain JSON (what `policy.json` may embed)."""
        doc = {
            "kind": KIND,
            "schema_version": VALUE_MODEL_SCHEMA_VERSION,
            "bpaste_version": __version__,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        } | {k: v for k, v in self.meta.items() if k not in ("kind", "schema_version")}
        doc |= {"features": self.features, "stats": self.stats.to_dict(), "model": self.model}
        return doc

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"


def _check_trees(model: dict[str, Any], n_features: int, where: str) -> None:
    """Refuse trees that would not evaluate (bad links, loops) or would evaluate slowly (over the size caps)."""
    if len(model["trees"]) > MAX_TREES:
        raise BpasteError(f"{where} has {len(model['trees'])} trees, more than the {MAX_TREES} this bpaste evaluates; "
                          "re-run `bpaste fit`.")
    for t_i, t in enumerate(model["trees"]):
        n = len(t["value"])
        if n == 0 or any(len(t[f]) != n for f in TREE_FIELDS):
            raise BpasteError(f"{where} has a malformed tree {t_i} (node arrays of different lengths); re-run `bpaste fit`.")
        if n > MAX_NODES:
            raise BpasteError(f"{where} has a tree ({t_i}) of {n} nodes, more than the {MAX_NODES} this bpaste evaluates; "
                              "re-run `bpaste fit`.")
        depth = [0] * n
        for i in range(n):
            if t["leaf"][i]:
                continue
            if not (i < t["left"][i] < n and i < t["right"][i] < n and t["feature"][i] < n_features
                    and math.isfinite(t["threshold"][i])):
                raise BpasteError(f"{where} has a malformed tree {t_i} at node {i}; re-run `bpaste fit`.")
            for child in (t["left"][i], t["right"][i]):  # children come after parents, so depth[i] is final here
                depth[child] = max(depth[child], depth[i] + 1)
            if depth[i] + 1 > MAX_DEPTH:
                raise BpasteError(f"{where} has a tree ({t_i}) deeper than the {MAX_DEPTH} levels this bpaste evaluates; "
                                  "re-run `bpaste fit`.")


def load_value_model(source: Path | str | dict[str, Any]) -> ValueModel:
    """A value model from a file path or its JSON dict (embedded in a policy); one-sentence errors."""
    if isinstance(source, dict):
        where = "The value model"
        doc = check_artifact(source, VALUE_MODEL, "", label=where)
    else:
        path = Path(source)
        where = f"The value model {path}"
        if not path.is_file():
            raise BpasteError(f"{where} does not exist or is not a file; make one with `bpaste fit DATASET --patterns P -o {path}`.")
        doc = read_json_artifact(path, VALUE_MODEL)
    if doc["features"] != list(FEATURES):
        raise BpasteError(f"{where} uses features this bpaste does not compute ({len(doc['features'])} listed); re-run `bpaste fit`.")
    model = doc["model"]
    if model["type"] == "gbdt":
        _check_trees(model, len(FEATURES), where)
    elif not len(model["mean"]) == len(model["scale"]) == len(model["coef"]) == len(FEATURES) or 0 in model["scale"]:
        raise BpasteError(f"{where} has linear coefficients that do not match its {len(FEATURES)} features; re-run `bpaste fit`.")
    try:
        stats = FeatureStats.from_dict(doc["stats"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise BpasteError(f"{where} has malformed feature statistics; re-run `bpaste fit`.") from None
    if len(stats.default) != len(doc["stats"]["tool_stats"]) or any(len(v) != len(stats.default) for v in stats.tools.values()):
        raise BpasteError(f"{where} has malformed feature statistics; re-run `bpaste fit`.")
    meta = {k: v for k, v in doc.items() if k not in ("features", "stats", "model")}
    return ValueModel(model, stats, doc["features"], meta)


def device_warnings(model: ValueModel, device: str | None) -> list[str]:
    """A warning when `model` was fitted for another device than `device` (its interference features describe that one)."""
    fitted_on = (model.meta.get("provenance") or {}).get("device")
    if device is not None and fitted_on and fitted_on != device:
        return [f"the value model was fitted for device {fitted_on!r}; its interference features describe that device, not {device!r}."]
    return []
