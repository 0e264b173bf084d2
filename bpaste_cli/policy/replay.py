"""Replay under a policy: its validation figure (reproduced exactly) and its test figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bpaste_cli import __version__
from bpaste_cli.fit import device_warnings
from bpaste_cli.policy.document import load_policy, replay_config, unsafe_warning
from bpaste_cli.replay import replay
from bpaste_cli.trace import Dataset, load_dataset


def replay_policy(dataset: Any, path: Path, *, bootstrap: int = 1000, allow_unsafe_classes: bool = False) -> dict[str, Any]:
    """Replay `dataset` under the policy at `path` (arms serial + the policy's) on the validation split, which
    reproduces the recorded figure when the dataset, seed and bpaste version are the same, and on test.
    `allow_unsafe_classes`: accept a policy that speculates mutating or unknown calls (`load_policy`)."""
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(Path(dataset))
    pol = load_policy(path, allow_unsafe_classes=allow_unsafe_classes)
    params = pol.parameters
    warnings = unsafe_warning(pol)
    prov = pol.doc["provenance"]
    if prov["dataset_hash"] != ds.hash:
        warnings.append(f"the policy was tuned on another dataset ({prov['dataset_hash']}, this one is {ds.hash}): "
                        "the validation figure cannot reproduce and the test split may overlap its training data.")
    if pol.doc["bpaste_version"] != __version__:
        warnings.append(f"the policy was written by bpaste {pol.doc['bpaste_version']}, this is {__version__}: figures may differ.")
    if pol.value_model is not None:
        warnings += device_warnings(pol.value_model, pol.device.name)
    splits = {}
    for split in ("validation", "test"):
        config = replay_config(params, split=split, seed=pol.seed, bootstrap=bootstrap, arms=("serial", params["arm"]))
        splits[split] = replay(ds, pol.predictor, device=pol.device, config=config, safety=pol.safety,
                               value_model=pol.value_model).to_json()
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
