"""Device profiles: speculative slots, memory budget and interference coefficients, each with its source.

A profile is a TOML file (`bpaste_cli/devices/<name>.toml` ships thor, orin, orin-nano, laptop, server;
users pass their own path). Every number is `{ value = ..., source = "..." }` so a reader can see whether
it comes from a datasheet, a measurement, or a stated assumption. Interference coefficient
`interference.<target>.<class>` = fractional slowdown of the authoritative `target` (llm step or tool)
per concurrently running speculative job of resource `class` (so 0.05 = 5% slower per job).

Schema version 2 adds an optional measured curve, `interference_curve.<target>.<class> = { k = [...],
slowdown = [...], source }`: the factor by which k concurrent jobs of a class stretch the target, where
slowdown is rarely linear in k (`bpaste device calibrate` writes it). Version 1 files read unchanged.
"""

from __future__ import annotations

import bisect
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from bpaste_cli.artifacts import ArtifactType, check_artifact
from bpaste_cli.errors import BpasteError
from bpaste_cli.safety import RESOURCE_CLASSES

DEVICE_SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
TARGETS = ("llm", "tool")


def _number(minimum: float | None = 0) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "number"}
    if minimum is not None:
        value["minimum"] = minimum
    return {
        "type": "object",
        "properties": {"value": value, "source": {"type": "string", "minLength": 1}},
        "required": ["value", "source"],
        "additionalProperties": False,
    }


def _group(names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {n: _number() for n in names},
        "required": list(names),
        "additionalProperties": False,
    }


_CURVE_ENTRY = {
    "type": "object",
    "properties": {
        "k": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "uniqueItems": True},
        "slowdown": {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1},
        "source": {"type": "string", "minLength": 1},
    },
    "required": ["k", "slowdown", "source"],
    "additionalProperties": False,
}

DEVICE_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:bpaste:schema:device:2",
    "title": "device",
    "description": "A bpaste device profile (TOML): speculative slack and interference, every number with its source.",
    "type": "object",
    "properties": {
        "schema_version": {"enum": list(READABLE_VERSIONS)},
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "hardware": {"type": "object", "additionalProperties": _number(None)},
        "speculation": _group(("slots", "memory_budget_gb")),
        "job_memory_gb": _group(RESOURCE_CLASSES),
        "interference": {
            "type": "object",
            "properties": {t: _group(RESOURCE_CLASSES) for t in TARGETS},
            "required": list(TARGETS),
            "additionalProperties": False,
        },
        "interference_curve": {
            "description": "slowdown(k) beside k concurrent speculative jobs of a class (k ascending; "
                           "slowdown(0) = 1); where present it replaces the linear coefficient (version 2).",
            "type": "object",
            "properties": {t: {"type": "object", "properties": {c: _CURVE_ENTRY for c in RESOURCE_CLASSES},
                               "additionalProperties": False} for t in TARGETS},
            "additionalProperties": False,
        },
    },
    "required": ["schema_version", "name", "speculation", "job_memory_gb", "interference"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Device:
    """A loaded profile. `interference[target][cls]`: slowdown per concurrent speculative job."""

    name: str
    description: str
    slots: int
    memory_budget_gb: float
    job_memory_gb: dict[str, float]
    interference: dict[str, dict[str, float]]
    doc: dict[str, Any]  # the profile as written, sources included
    path: str
    curve: dict[str, dict[str, tuple[tuple[int, ...], tuple[float, ...]]]] = field(default_factory=dict)

    def slowdown(self, target: str, resource: str, k: int) -> float:
        """Factor by which k concurrent speculative jobs of `resource` stretch the authoritative `target`:
        interpolated from the measured curve through (0, 1), extended past its last k along its last
        segment; 1 + coefficient * k without a curve."""
        if k <= 0:
            return 1.0
        points = self.curve.get(target, {}).get(resource)
        if points is None:
            return 1.0 + self.interference[target][resource] * k
        ks, ss = (0, *points[0]), (1.0, *points[1])
        i = bisect.bisect_left(ks, k, 1, len(ks) - 1)
        k0, k1, s0, s1 = ks[i - 1], ks[i], ss[i - 1], ss[i]
        return max(1.0, s0 + (s1 - s0) * (k - k0) / (k1 - k0))

    def without_interference(self) -> Device:
        """The same device with every coefficient 0 (the oracle arm, invariant tests)."""
        zero = {t: {c: 0.0 for c in RESOURCE_CLASSES} for t in TARGETS}
        return replace(self, interference=zero, curve={})

    def sources(self) -> list[tuple[str, Any, str]]:
        """(dotted name, value, source) for every number in the profile."""
        rows: list[tuple[str, Any, str]] = []

        def walk(prefix: str, node: Any) -> None:
            if isinstance(node, dict) and "value" in node and "source" in node:
                rows.append((prefix, node["value"], node["source"]))
            elif isinstance(node, dict):
                for key, value in node.items():
                    walk(f"{prefix}.{key}" if prefix else key, value)

        walk("", {k: v for k, v in self.doc.items() if k not in ("name", "description", "schema_version")})
        return rows


def device_names() -> list[str]:
    """Names of the profiles shipped with bpaste."""
    folder = resources.files("bpaste_cli") / "devices"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def _values(group: dict[str, Any]) -> dict[str, float]:
    return {k: float(v["value"]) for k, v in group.items()}


def read_curve(doc: dict[str, Any], where: str) -> dict[str, dict[str, tuple[tuple[int, ...], tuple[float, ...]]]]:
    """The measured slowdown(k) curves of a schema-valid profile document (empty for version 1)."""
    if doc["schema_version"] == 1 and "interference_curve" in doc:
        raise BpasteError(f"The device profile {where} has interference_curve, which needs schema_version = 2.")
    curve: dict[str, dict[str, tuple[tuple[int, ...], tuple[float, ...]]]] = {}
    for t, by in doc.get("interference_curve", {}).items():
        for c, entry in by.items():
            ks, ss = tuple(entry["k"]), tuple(float(x) for x in entry["slowdown"])
            if len(ks) != len(ss) or list(ks) != sorted(ks):
                raise BpasteError(f"The device profile {where} has interference_curve.{t}.{c} with k not ascending "
                                  "or not one slowdown per k; list k ascending and one slowdown for each.")
            curve.setdefault(t, {})[c] = (ks, ss)
    return curve


DEVICE = ArtifactType(None, DEVICE_SCHEMA_VERSION, DEVICE_JSON_SCHEMA, "device profile",
                      "pass a device name or a TOML profile", "see `bpaste device show thor` for the format",
                      path_sep=".")


def device_from_doc(doc: Any, where: str, *, name: str | None = None, label: str | None = None) -> Device:
    """A profile from its parsed document (a TOML file's, or the copy a policy embeds under `name`): checked by
    the artifact gate; one clear sentence when it is not a valid profile."""
    check_artifact(doc, DEVICE, where, label=label)
    slots = doc["speculation"]["slots"]["value"]
    if slots != int(slots):
        raise BpasteError(f"{label or f'The device profile {where}'} has speculation.slots = {slots}; it must be a whole number.")
    return Device(
        name=name or doc["name"],
        description=doc.get("description", ""),
        slots=int(slots),
        memory_budget_gb=float(doc["speculation"]["memory_budget_gb"]["value"]),
        job_memory_gb=_values(doc["job_memory_gb"]),
        interference={t: _values(doc["interference"][t]) for t in TARGETS},
        doc=doc,
        path=where,
        curve=read_curve(doc, where),
    )


def parse_device(text: str, where: str) -> Device:
    """A profile from TOML text; one clear sentence when it does not match the schema."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BpasteError(f"The device profile {where} is not valid TOML ({exc}).") from None
    return device_from_doc(doc, where)


def load_device(name_or_path: str | Path) -> Device:
    """A shipped profile by name (`thor`), or a user's TOML file by path."""
    text = str(name_or_path)
    if text in device_names():
        resource = resources.files("bpaste_cli") / "devices" / f"{text}.toml"
        return parse_device(resource.read_text(encoding="utf-8"), f"{text} (built in)")
    path = Path(text)
    if path.is_file():
        return parse_device(path.read_text(encoding="utf-8"), str(path))
    raise BpasteError(
        f"No device profile {text!r}: use one of {', '.join(device_names())} or the path of a TOML profile "
        "(see `bpaste device show thor` for the format)."
    )
