"""Replay under a policy: its validation figure (reproduced exactly) and its test figure; or the policy's arm on one
split, to report it beside the other arms of a replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bpaste_cli import __version__
from bpaste_cli.device import load_device
from bpaste_cli.fit import device_warnings
from bpaste_cli.policy.document import load_policy, replay_config, unsafe_warning
from bpaste_cli.replay import replay
from bpaste_cli.trace import Dataset, load_dataset


def _device_name(device: str | Path) -> str:
    return load_device(device).name


def replay_policy(dataset: Any, path: Path, *, device: str | Path | None = None, bootstrap: int = 1000,
                  allow_unsafe_classes: bool = False, workers: int = 1) -> dict[str, Any]:
    """Replay `dataset` under the policy at `path` (arms serial + the policy's) on the validation split, which
    reproduces the recorded figure when the dataset, seed and bpaste version are the same, and on test.
    `device`: replay on another device than the policy's (its figures then are not expected to reproduce).
    `allow_unsafe_classes`: accept a policy that speculates mutating or unknown calls (`load_policy`); `workers`:
    processes the sessions are spread over (the same figures)."""
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(Path(dataset))
    pol = load_policy(path, allow_unsafe_classes=allow_unsafe_classes)
    params = pol.parameters
    warnings = unsafe_warning(pol)
    dev = pol.device
    if device is not None and _device_name(device) != pol.device.name:
        dev = load_device(device)
        warnings.append(f"the policy was tuned for {pol.device.name} and is replayed on {dev.name}: its slots and "
                        "thresholds were chosen for the other device, so the validation figure is not expected to reproduce.")
    prov = pol.doc["provenance"]
    if prov["dataset_hash"] != ds.hash:
        warnings.append(f"the policy was tuned on another dataset ({prov['dataset_hash']}, this one is {ds.hash}): "
                        "the validation figure cannot reproduce and the test split may overlap its training data.")
    if pol.doc["bpaste_version"] != __version__:
        warnings.append(f"the policy was written by bpaste {pol.doc['bpaste_version']}, this is {__version__}: figures may differ.")
    if pol.value_model is not None:
        warnings += device_warnings(pol.value_model, dev.name)
    splits = {}
    for split in ("validation", "test"):
        config = replay_config(params, split=split, seed=pol.seed, bootstrap=bootstrap, arms=("serial", params["arm"]))
        splits[split] = replay(ds, pol.predictor, device=dev, config=config, safety=pol.safety,
                               value_model=pol.value_model, workers=workers).to_json()
    recorded = pol.doc["validation"]["policy"]["speedup"]
    reproduced = splits["validation"]["arms"][params["arm"]]["speedup"]
    return {
        "policy": str(path),
        "dataset": str(ds.path),
        "device": dev.name,
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


def policy_arm(ds: Dataset, path: Path, *, split: str, seed: int, bootstrap: int = 1000,
               workers: int = 1) -> tuple[dict[str, Any] | None, list[str]]:
    """The policy at `path` replayed on `split` of `ds` (seed `seed`), as one arm's metrics to show beside the
    other arms of a replay (the replay's own warnings cover the split), and warnings; None (with the reason) when its split seed differs, since then its
    predictor's training sessions may be among the replayed ones."""
    pol = load_policy(path)
    if pol.seed != seed:
        return None, [f"the policy {path} was tuned with split seed {pol.seed}, this replay uses {seed}: its row is left "
                      f"out (replay with --seed {pol.seed} to see it)."]
    params = pol.parameters
    config = replay_config(params, split=split, seed=seed, bootstrap=bootstrap, arms=(params["arm"],))
    rep = replay(ds, pol.predictor, device=pol.device, config=config, safety=pol.safety, value_model=pol.value_model,
                 workers=workers)
    arm = rep.to_json()["arms"][params["arm"]]
    return {"path": str(path), "arm": params["arm"], "device": pol.device.name, "parameters": params, **arm}, []
