"""The policy document: write it (validated, atomic), read it through the artifact gate, load it into a
`Policy` (predictor, device, safety table, value model, chosen parameters) and build its arm."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from bpaste_cli import __version__
from bpaste_cli.artifacts import check_artifact, read_json_artifact
from bpaste_cli.device import Device, device_from_doc
from bpaste_cli.errors import BpasteError
from bpaste_cli.fit import ValueModel, load_value_model
from bpaste_cli.fsutil import atomic_write_bytes
from bpaste_cli.mine import PatternPredictor
from bpaste_cli.policy.schema import POLICY, POLICY_KIND, POLICY_SCHEMA_VERSION, UNSAFE_CLASSES
from bpaste_cli.replay import LatencyStats, ReplayConfig, make_arm
from bpaste_cli.safety import SafetyTable, safety_doc, safety_from_doc


@dataclass
class Policy:
    """A loaded, validated policy: what a speculator needs to run it."""

    path: Path
    doc: dict[str, Any]
    predictor: PatternPredictor
    device: Device
    safety: SafetyTable
    value_model: ValueModel | None

    @property
    def parameters(self) -> dict[str, Any]:
        return self.doc["parameters"]

    @property
    def seed(self) -> int:
        return self.doc["provenance"]["seed"]

    @property
    def latency(self) -> LatencyStats | None:
        """The training split's latency statistics the policy was tuned with (None: an older policy)."""
        lat = self.doc.get("latency")
        return None if lat is None else LatencyStats(lat["think_s"], dict(lat["tool_s"]), lat["default_tool_s"])


def unsafe_classes(doc: dict[str, Any]) -> list[str]:
    """The classes in the document's `allowed` that may change state (mutating, unknown)."""
    return [c for c in doc["parameters"]["allowed"] if c in UNSAFE_CLASSES]


def unsafe_warning(policy: Policy) -> list[str]:
    """The warning to show for a policy whose unsafe classes were acknowledged (none when it has none)."""
    unsafe = unsafe_classes(policy.doc)
    if not unsafe:
        return []
    return [f"the policy speculates {' and '.join(unsafe)} tool calls (acknowledged with --allow-unsafe-classes): "
            "a wrong guess may change files or state."]


def latency_doc(stats: LatencyStats) -> dict[str, Any]:
    """The policy's `latency` field: typical think time and per-tool latency (seconds)."""
    return {"think_s": stats.think_s, "tool_s": dict(sorted(stats.tool_s.items())), "default_tool_s": stats.default_tool_s}


def write_policy(path: Path, doc: dict[str, Any]) -> None:
    """Validate and write atomically (NaN becomes null)."""
    check_artifact(doc, POLICY, str(path))
    atomic_write_bytes(Path(path), orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")


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
    if not path.exists():
        raise BpasteError(f"{path} does not exist; make a policy with `bpaste tune DATASET --patterns PATTERNS -o {path}`.")
    return read_json_artifact(path, POLICY)


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


def load_policy(path: Path, *, allow_unsafe_classes: bool = False) -> Policy:
    """Read and validate a policy: schema, predictor tables, device profile, safety table, value model. A policy
    whose `allowed` includes mutating or unknown calls is refused unless `allow_unsafe_classes` acknowledges it."""
    path = Path(path)
    doc = read_policy_doc(path)
    unsafe = unsafe_classes(doc)
    if unsafe and not allow_unsafe_classes:
        raise BpasteError(f"The policy {path} allows speculating {' and '.join(unsafe)} tool calls, which may change files or "
                          "state when a guess is wrong; set parameters.allowed to [\"read-only\"] (what `bpaste tune` writes), "
                          "or pass --allow-unsafe-classes (allow_unsafe_classes=True) to accept the risk.")
    model_doc = check_value_model(doc, path)
    model = load_value_model(model_doc) if model_doc is not None else None
    predictor = PatternPredictor.from_dict(doc["predictor"])
    device = device_from_doc(doc["device"]["profile"], str(path), name=doc["device"]["name"],
                             label=f"The device profile in {path}")
    try:
        safety = safety_from_doc(doc["safety"])
    except (KeyError, TypeError, AttributeError):
        raise BpasteError(f"The safety table in {path} is malformed; re-run `bpaste tune`.") from None
    return Policy(path, doc, predictor, device, safety, model)


def replay_config(params: dict[str, Any], *, split: str, seed: int, bootstrap: int, arms: tuple[str, ...] | None = None
                  ) -> ReplayConfig:
    """The ReplayConfig a policy's (or a trial's) parameters stand for; ReplayConfig's defaults elsewhere."""
    from dataclasses import fields

    known = {f.name for f in fields(ReplayConfig)}
    knobs = {k: v for k, v in params.items() if k in known and k != "arms"}
    if "allowed" in knobs:
        knobs["allowed"] = tuple(knobs["allowed"])
    return ReplayConfig(arms=arms or (params["arm"],), split=split, seed=seed, bootstrap=bootstrap, **knobs)


def arm_from_policy(policy: Policy, stats: LatencyStats) -> Any:
    """The policy's arm (PasteArm or BPasteArm), configured by its parameters and value model, ready to plan
    through any `replay.PlanningContext`. `stats`: the think-time and tool-latency statistics it prices
    speculation with (`Policy.latency` when the policy carries them, or measured live)."""
    config = replay_config(policy.parameters, split="validation", seed=policy.seed, bootstrap=0)
    return make_arm(policy.parameters["arm"], config, stats, policy.value_model)


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
    latency: LatencyStats | None = None,
) -> dict[str, Any]:
    """The policy document; `latency`: the statistics the trials were priced with (the training split's)."""
    doc = {
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
    if latency is not None:
        doc["latency"] = latency_doc(latency)
    return doc


