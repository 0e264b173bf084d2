"""policy.json: the tuned, versioned, self-contained file a speculative executor loads at run time.

Contents (schema: `POLICY_JSON_SCHEMA`, committed as schemas/policy.schema.json): the device profile,
every chosen parameter, the safety and resource-class table, the predictor's run-time tables
(`PatternPredictor.to_dict()`), the value model (null until `fit` provides one), provenance (bpaste
version, dataset hash, pattern hash, seed, storage, study, trial), the validation figures it was chosen
on with their bootstrap CI, and a summary of every trial (for the report's Pareto chart). Plain JSON
only: loading a policy never runs code from it. `replay_policy` replays a dataset under a policy on its
validation split (reproducing the recorded figure exactly) and on its test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from bpaste_cli import __version__
from bpaste_cli.device import DEVICE_JSON_SCHEMA, TARGETS, Device
from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import atomic_write_bytes
from bpaste_cli.mine.predictor import PatternPredictor
from bpaste_cli.safety import SAFETY_CLASSES, CallClass, SafetyTable

POLICY_KIND = "bpaste-policy"
POLICY_SCHEMA_VERSION = 1

_NUM = {"type": "number"}
_OPT_NUM = {"type": ["number", "null"]}
_METRICS = {
    "type": "object",
    "required": ["speedup", "speedup_ci95", "agent_time_s", "serial_agent_time_s", "amplification", "interference_s",
                 "wasted_spec_s", "sessions"],
    "properties": {
        "speedup": {"type": "number", "exclusiveMinimum": 0},
        "speedup_ci95": {"type": "array", "items": _OPT_NUM, "minItems": 2, "maxItems": 2},
        "sessions": {"type": "integer", "minimum": 0},
    },
}
POLICY_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:bpaste:schema:policy",
    "title": "bpaste policy",
    "description": "A tuned speculation policy (bpaste tune): device, parameters, safety table, predictor tables, "
                   "value model, provenance and the validation figures it was chosen on. Plain JSON; never code.",
    "type": "object",
    "required": ["kind", "schema_version", "bpaste_version", "created_at", "device", "parameters", "safety", "predictor",
                 "value_model", "provenance", "validation", "trials"],
    "properties": {
        "kind": {"const": POLICY_KIND},
        "schema_version": {"const": POLICY_SCHEMA_VERSION},
        "bpaste_version": {"type": "string"},
        "created_at": {"type": "string"},
        "device": {
            "type": "object", "required": ["name", "profile"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 1}, "profile": {"type": "object"}},
        },
        "parameters": {
            "type": "object",
            "required": ["arm", "slots", "ttl_s", "allowed", "fast_path"],
            "additionalProperties": False,
            "properties": {
                "arm": {"enum": ["paste", "bpaste"]},
                "slots": {"type": "integer", "minimum": 0},
                "ttl_s": {"type": "number", "exclusiveMinimum": 0},
                "lambda_scale": {"type": "number", "exclusiveMinimum": 0},
                "top_k": {"type": "integer", "minimum": 1},
                "threshold": {"type": "number", "minimum": 0, "maximum": 1},
                "beam_width": {"type": "integer", "minimum": 1},
                "beam_depth": {"type": "integer", "minimum": 1},
                "rank": {"type": "string", "minLength": 1},
                "min_prob": {"type": "number", "minimum": 0, "maximum": 1},
                "interference_budget": {"type": "number", "minimum": 0},
                "allowed": {"type": "array", "items": {"enum": list(SAFETY_CLASSES)}, "minItems": 1, "uniqueItems": True},
                "fast_path": {"type": "boolean"},
            },
            "allOf": [
                {"if": {"properties": {"arm": {"const": "paste"}}}, "then": {"required": ["top_k", "threshold"]}},
                {"if": {"properties": {"arm": {"const": "bpaste"}}},
                 "then": {"required": ["beam_width", "beam_depth", "rank", "min_prob", "interference_budget"]}},
            ],
        },
        "safety": {
            "type": "object", "required": ["tools", "shell", "default"],
            "properties": {
                "tools": {"type": "object", "additionalProperties": {"type": "object"}},
                "shell": {"type": "object", "required": ["command_keys", "read_only", "mutating", "git_read_only", "forbidden_flags"]},
                "default": {"type": "object", "required": ["safety", "resource"]},
            },
        },
        "predictor": {
            "type": "object", "required": ["kind", "schema_version", "params", "calibration", "tables"],
            "properties": {
                "kind": {"const": "bpaste-predictor"},
                "schema_version": {"type": "integer", "minimum": 1},
                "tables": {"type": "object", "required": ["control", "signatures", "rules"]},
            },
        },
        "value_model": {
            "oneOf": [
                {"type": "null"},
                {"type": "object", "required": ["embedded"], "additionalProperties": False, "properties": {"embedded": {"type": "object"}}},
                {"type": "object", "required": ["path", "sha256"], "additionalProperties": False,
                 "properties": {"path": {"type": "string", "minLength": 1}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}},
            ],
        },
        "provenance": {
            "type": "object",
            "required": ["bpaste_version", "dataset", "dataset_hash", "patterns", "pattern_hash", "seed", "storage", "study",
                         "trial", "objectives", "constraints", "selection"],
            "properties": {
                "dataset_hash": {"type": "string"},
                "pattern_hash": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
                "seed": {"type": "integer", "minimum": 0},
                "study": {"type": "string", "minLength": 1},
                "trial": {"type": "integer", "minimum": 0},
                "objectives": {"type": "array", "items": {"enum": ["speedup", "waste"]}, "minItems": 1},
                "constraints": {"type": "object", "required": ["max_interference", "max_amplification"]},
                "selection": {"type": "string"},
            },
        },
        "validation": {
            "type": "object", "required": ["split", "sessions", "policy", "serial", "baselines"],
            "properties": {
                "split": {"const": "validation"},
                "sessions": {"type": "integer", "minimum": 0},
                "policy": _METRICS,
                "serial": _METRICS,
                "baselines": {"type": "object"},
            },
        },
        "trials": {
            "type": "object", "required": ["complete", "rows", "pareto"],
            "properties": {
                "complete": {"type": "integer", "minimum": 0},
                "rows": {"type": "array", "items": {"type": "object", "required": ["number", "state", "params"]}},
                "pareto": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            },
        },
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(POLICY_JSON_SCHEMA)


def safety_doc(table: SafetyTable) -> dict[str, Any]:
    """The safety and resource-class table as plain JSON (`safety_from_doc` reverses it)."""
    tools = dict(table.tools) | dict(table.globs)
    return {"tools": tools, "shell": table.shell, "default": {"safety": table.default.safety, "resource": table.default.resource}}


def safety_from_doc(doc: dict[str, Any]) -> SafetyTable:
    tools = {k.lower(): v for k, v in doc["tools"].items()}
    exact = {k: v for k, v in tools.items() if not any(c in k for c in "*?[")}
    globs = [(k, v) for k, v in tools.items() if k not in exact]
    return SafetyTable(exact, globs, doc["shell"], CallClass(doc["default"]["safety"], doc["default"]["resource"]))


def device_from_doc(name: str, profile: dict[str, Any], where: str) -> Device:
    """The device profile embedded in a policy (the same schema as a TOML profile)."""
    errors = sorted(jsonschema.Draft202012Validator(DEVICE_JSON_SCHEMA).iter_errors(profile), key=lambda e: list(e.path))
    if errors:
        at = ".".join(str(p) for p in errors[0].path) or "the top level"
        raise BpasteError(f"The device profile in {where} is invalid at {at}: {errors[0].message}.")
    values = lambda group: {k: float(v["value"]) for k, v in group.items()}  # noqa: E731
    return Device(
        name=name, description=profile.get("description", ""), slots=int(profile["speculation"]["slots"]["value"]),
        memory_budget_gb=float(profile["speculation"]["memory_budget_gb"]["value"]),
        job_memory_gb=values(profile["job_memory_gb"]),
        interference={t: values(profile["interference"][t]) for t in TARGETS}, doc=profile, path=where,
    )


@dataclass
class Policy:
    """A loaded, validated policy."""

    path: Path
    doc: dict[str, Any]
    predictor: PatternPredictor
    device: Device
    safety: SafetyTable
    value_model: dict[str, Any] | None  # plain JSON, checked by `fit.load_value_model`

    @property
    def parameters(self) -> dict[str, Any]:
        return self.doc["parameters"]

    @property
    def seed(self) -> int:
        return self.doc["provenance"]["seed"]


def write_policy(path: Path, doc: dict[str, Any]) -> None:
    """Validate and write atomically (NaN becomes null)."""
    _check_doc(doc, str(path))
    atomic_write_bytes(Path(path), orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")


def _check_doc(doc: Any, where: str) -> None:
    if not isinstance(doc, dict) or doc.get("kind") != POLICY_KIND:
        kind = doc.get("kind") if isinstance(doc, dict) else None
        raise BpasteError(f"{where} holds {'a ' + repr(kind) if isinstance(kind, str) else 'a JSON'} document, not a bpaste policy; "
                          "pass the policy.json written by `bpaste tune`.")
    version = doc.get("schema_version")
    if version is None:
        raise BpasteError(f"The policy {where} has no schema_version; it was not written by `bpaste tune`.")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BpasteError(f"The policy {where} has schema_version {version!r}, which is not a whole number.")
    if version > POLICY_SCHEMA_VERSION:
        raise BpasteError(f"The policy {where} has schema version {version}, newer than this bpaste understands "
                          f"({POLICY_SCHEMA_VERSION}); upgrade bpaste (pip install -U bpaste).")
    if version < 1:
        raise BpasteError(f"The policy {where} has schema version {version}, which no bpaste ever wrote.")
    error = next(iter(sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))), None)
    if error is not None:
        at = "/".join(str(p) for p in error.path) or "the top level"
        raise BpasteError(f"The policy {where} is invalid at {at}: {error.message}.")


def read_policy_doc(path: Path) -> dict[str, Any]:
    """The policy document at `path`, checked against its schema (one sentence when it is not one)."""
    path = Path(path)
    if path.is_dir():
        try:
            kind = orjson.loads((path / "manifest.json").read_bytes()).get("kind")
        except (OSError, orjson.JSONDecodeError, AttributeError):
            kind = None
        what = f"a {kind} directory" if isinstance(kind, str) else "a directory"
        raise BpasteError(f"{path} is {what}, not a policy file; pass the policy.json written by `bpaste tune`.")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BpasteError(f"{path} does not exist; make a policy with `bpaste tune DATASET --patterns PATTERNS -o {path}`.") from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BpasteError(f"{path} is not valid JSON, so it is not a policy; pass the policy.json written by `bpaste tune`.") from None
    _check_doc(doc, str(path))
    return doc


def check_value_model(doc: dict[str, Any], where: Path) -> dict[str, Any] | None:
    """The value model's plain-JSON form: embedded, or read from its relative path after checking its sha256."""
    vm = doc.get("value_model")
    if vm is None or "embedded" in vm:
        return None if vm is None else vm["embedded"]
    from bpaste_cli.fsutil import file_sha256

    target = (Path(where).parent / vm["path"]).resolve()
    if not target.is_file():
        raise BpasteError(f"The value model {vm['path']} that the policy {where} references does not exist beside it; "
                          "copy it next to the policy or re-run `bpaste tune`.")
    found = file_sha256(target)
    if found != vm["sha256"]:
        raise BpasteError(f"The value model {target} has sha256 {found[:16]}..., not the {vm['sha256'][:16]}... the policy {where} "
                          "recorded: it changed since tuning; re-run `bpaste tune`.")
    try:
        return orjson.loads(target.read_bytes())
    except orjson.JSONDecodeError:
        raise BpasteError(f"The value model {target} is not valid JSON; re-run `bpaste fit`.") from None


def load_policy(path: Path) -> Policy:
    """Read and validate a policy: schema, predictor tables, device profile, safety table, value model."""
    path = Path(path)
    doc = read_policy_doc(path)
    model = check_value_model(doc, path)
    if model is not None:
        from bpaste_cli.fit import load_value_model

        load_value_model(model)
    predictor = PatternPredictor.from_dict(doc["predictor"])
    device = device_from_doc(doc["device"]["name"], doc["device"]["profile"], str(path))
    try:
        safety = safety_from_doc(doc["safety"])
    except (KeyError, TypeError, AttributeError):
        raise BpasteError(f"The safety table in {path} is malformed; re-run `bpaste tune`.") from None
    return Policy(path, doc, predictor, device, safety, model)


def build_policy(
    *,
    device: Device,
    parameters: dict[str, Any],
    safety: SafetyTable,
    predictor: PatternPredictor,
    value_model: dict[str, Any] | None,
    provenance: dict[str, Any],
    validation: dict[str, Any],
    trials: dict[str, Any],
) -> dict[str, Any]:
    return {
        "kind": POLICY_KIND,
        "schema_version": POLICY_SCHEMA_VERSION,
        "bpaste_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": {"name": device.name, "profile": device.doc},
        "parameters": parameters,
        "safety": safety_doc(safety),
        "predictor": predictor.to_dict(),
        "value_model": value_model,
        "provenance": provenance,
        "validation": validation,
        "trials": trials,
    }


def replay_config(params: dict[str, Any], *, split: str, seed: int, bootstrap: int, arms: tuple[str, ...] | None = None):
    """The ReplayConfig a policy's (or a trial's) parameters stand for; ReplayConfig's defaults elsewhere."""
    from dataclasses import fields

    from bpaste_cli.replay import ReplayConfig

    known = {f.name for f in fields(ReplayConfig)}
    knobs = {k: v for k, v in params.items() if k in known and k != "arms"}
    if "allowed" in knobs:
        knobs["allowed"] = tuple(knobs["allowed"])
    return ReplayConfig(arms=arms or (params["arm"],), split=split, seed=seed, bootstrap=bootstrap, **knobs)


def replay_policy(dataset: Any, path: Path, *, bootstrap: int = 1000) -> dict[str, Any]:
    """Replay `dataset` under the policy at `path` (arms serial + the policy's) on the validation split, which
    reproduces the recorded figure when the dataset, seed and bpaste version are the same, and on test."""
    from bpaste_cli.replay import replay
    from bpaste_cli.trace.dataset import Dataset, load_dataset

    ds = dataset if isinstance(dataset, Dataset) else load_dataset(Path(dataset))
    pol = load_policy(path)
    params = pol.parameters
    warnings = []
    prov = pol.doc["provenance"]
    if prov["dataset_hash"] != ds.hash:
        warnings.append(f"the policy was tuned on another dataset ({prov['dataset_hash']}, this one is {ds.hash}): "
                        "the validation figure cannot reproduce and the test split may overlap its training data.")
    if pol.doc["bpaste_version"] != __version__:
        warnings.append(f"the policy was written by bpaste {pol.doc['bpaste_version']}, this is {__version__}: figures may differ.")
    model = None
    if pol.value_model is not None:
        from bpaste_cli.fit import device_warnings, load_value_model

        model = load_value_model(pol.value_model)
        warnings += device_warnings(model, pol.device.name)
    splits = {}
    for split in ("validation", "test"):
        config = replay_config(params, split=split, seed=pol.seed, bootstrap=bootstrap, arms=("serial", params["arm"]))
        splits[split] = replay(ds, pol.predictor, device=pol.device, config=config, safety=pol.safety,
                               value_model=model).to_json()
    recorded = pol.doc["validation"]["policy"]["speedup"]
    reproduced = splits["validation"]["arms"][params["arm"]]["speedup"]
    return {
        "policy": str(path),
        "dataset": str(ds.path),
        "device": pol.device.name,
        "arm": params["arm"],
        "parameters": params,
        "recorded_validation_speedup": recorded,
        "validation_speedup": reproduced,
        "reproduced": reproduced == recorded,
        "test_speedup": splits["test"]["arms"][params["arm"]]["speedup"],
        "test_speedup_ci95": splits["test"]["arms"][params["arm"]]["speedup_ci95"],
        "validation": splits["validation"],
        "test": splits["test"],
        "warnings": warnings,
    }
