"""The policy.json format: its JSON Schema (committed as schemas/policy.schema.json) and its artifact type."""

from __future__ import annotations

from typing import Any

from bpaste_cli.artifacts import ArtifactType
from bpaste_cli.safety import SAFETY_CLASSES

POLICY_KIND = "bpaste-policy"
POLICY_SCHEMA_VERSION = 1
MAX_SEED = 2**32 - 1  # the samplers' and bootstrap's seed range: a larger seed is refused, not wrapped
UNSAFE_CLASSES = ("mutating", "unknown")  # speculating these may change state; a policy allowing them needs an acknowledgement

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
                "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
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
        "latency": {
            "description": "Optional: the training split's typical (median) think time and per-tool latency in seconds, "
                           "which the trials were priced with; a runtime starts from them and keeps learning.",
            "type": "object", "required": ["think_s", "tool_s", "default_tool_s"], "additionalProperties": False,
            "properties": {
                "think_s": {"type": "number", "minimum": 0},
                "tool_s": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
                "default_tool_s": {"type": "number", "minimum": 0},
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
POLICY = ArtifactType(POLICY_KIND, POLICY_SCHEMA_VERSION, POLICY_JSON_SCHEMA, "policy",
                      "pass the policy.json written by `bpaste tune`", "re-run `bpaste tune`")
