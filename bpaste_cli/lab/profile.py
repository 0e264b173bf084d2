"""Write a calibration as a device profile (TOML), every number with the measurement it comes from.

Schema version 1 holds one linear coefficient per target and class:
the calibration writes the least-squares slope of slowdown(k) − 1 over k, and lists the measured
slowdown(k) in its source. Version 2 adds the curve itself, a table replay can interpolate:

    [interference_curve.llm]
    cpu = { k = [1, 2, 4, 8], slowdown = [1.02, 1.35, 2.1, 3.9], source = "measurement: ..." }

Version 2 keeps every v1 table, so an old reader's coefficients stay meaningful; `bpaste_cli.device`
reads both (a v1 file has no curve: the linear coefficients, as before).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bpaste_cli.device import DEVICE_SCHEMA_VERSION, TARGETS, Device, load_device
from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import atomic_write_bytes
from bpaste_cli.lab.calibration import Calibration, Curve
from bpaste_cli.lab.corun import RESOURCES

# Not measured by the calibration: the memory a real tool job takes, and anything on a GPU.
_JOB_MEMORY_GB = {"cpu": 0.5, "io": 0.1, "net": 0.05, "gpu": 2.0}
_JOB_MEMORY_WHY = {"cpu": "a shell command or test process", "io": "a file read or search",
                   "net": "one HTTP request", "gpu": "a small GPU kernel"}


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _num(x: float) -> str:
    return repr(int(x)) if float(x).is_integer() and abs(x) < 2**53 else repr(round(float(x), 4))


def _entry(value: float, source: str) -> str:
    return f"{{ value = {_num(value)}, source = {_q(source)} }}"


def _curve_text(cv: Curve) -> str:
    return ", ".join(f"k={k} {s:.3f} [{lo:.3f}-{hi:.3f}]" for k, s, (lo, hi) in zip(cv.ks, cv.slowdown, cv.spread))


def profile_toml(cal: Calibration, name: str, schema_version: int = DEVICE_SCHEMA_VERSION) -> str:
    """The TOML text of the profile (version 1 or 2)."""
    if schema_version not in (1, 2):
        raise ValueError(f"device profile schema version {schema_version} is not written by this calibration")
    on = f"measured on {cal.host}, {cal.date}"
    per_point = f"n={cal.repetitions} paired runs per k, median, spread = interquartile range of the ratios loaded/alone"
    targets = {"llm": cal.llm_target, "tool": cal.tool_target}
    ks = ", ".join(str(k) for k in cal.curves["llm"]["cpu"].ks)
    available, memory_source = float(cal.memory["available_gb"]), cal.memory["source"]
    lines = [
        f"# Measured by `bpaste device calibrate` ({on}, seed {cal.seed}). Every number carries its source.",
        f"schema_version = {schema_version}",
        f"name = {_q(name)}",
        f"description = {_q(f'Measured on {cal.host}: {cal.cpu_cores} cores, LLM {cal.llm}; slowdown beside k = {ks} speculative jobs per class.')}",
        "",
        "[hardware]",
        f"cpu_cores = {_entry(cal.cpu_cores, f'measurement: {on}: cores this process may run on')}",
        f"memory_gb = {_entry(round(float(cal.memory['total_gb']), 2), f'measurement: {on}: total memory ({memory_source})')}",
    ]
    if cal.bandwidth_gbs is not None:
        lines.append(f"memory_bandwidth_gbs = {_entry(round(cal.bandwidth_gbs, 2), f'measurement: {on}: weight bytes per second of the stand-in LLM step alone (one thread, fastest of 9 timed batches), a lower bound on the memory bus')}")
    local = 1 if cal.llm == "local" else 0
    budget = f"measurement: {on}: {cal.memory_fraction:.0%} of the {available:.1f} GB available then ({memory_source})"
    lines += [
        f"llm_local = {_entry(local, f'measurement: {on}: the LLM was calibrated as {cal.llm} (1 = local, 0 = remote): {cal.llm_target}')}",
        "",
        "[speculation]",
        f"slots = {_entry(cal.slots, _slots_source(cal, on))}",
        f"memory_budget_gb = {_entry(cal.memory_budget_gb, budget)}",
        "",
        "[job_memory_gb]",
    ]
    lines += [f"{c} = {_entry(v, f'assumption: not measured by the calibration; {_JOB_MEMORY_WHY[c]}')}" for c, v in _JOB_MEMORY_GB.items()]
    for t in TARGETS:
        lines += ["", f"[interference.{t}]"]
        for c in RESOURCES:
            cv = cal.curves[t][c]
            src = (f"measurement: {on}, {per_point}: least-squares slope of slowdown(k) - 1 over k for {targets[t]} "
                   f"beside k {c} jobs (slope clamped at 0); slowdown(k): {_curve_text(cv)}")
            lines.append(f"{c} = {_entry(round(cv.slope, 4), src)}")
        gpu = 0.0 if (t == "llm" and cal.llm == "remote") else 0.10
        why = "the LLM runs remotely" if gpu == 0.0 else "time-sharing, as in the built-in profiles"
        lines.append(f"gpu = {_entry(gpu, f'assumption: not measured (the calibration has no GPU stand-in); {why}')}")
    if schema_version >= 2:
        for t in TARGETS:
            lines += ["", f"[interference_curve.{t}]"]
            for c in RESOURCES:
                cv = cal.curves[t][c]
                src = f"measurement: {on}, {per_point}: {targets[t]} beside k {c} jobs; IQR {_curve_text(cv)}"
                lines.append(f"{c} = {{ k = [{', '.join(map(str, cv.ks))}], slowdown = "
                             f"[{', '.join(_num(round(s, 4)) for s in cv.slowdown)}], source = {_q(src)} }}")
    return "\n".join(lines) + "\n"


def _slots_source(cal: Calibration, on: str) -> str:
    largest = max(cal.curves["llm"]["cpu"].ks)
    per = ", ".join(f"{c} {s}" + (" (no larger k tested)" if s == largest else "") for c, s in cal.slots_by_class.items())
    return (f"measurement: {on}, n={cal.repetitions} paired runs per k, median: the largest k keeping the LLM step and "
            f"a tool within {cal.tolerance:.0%} of their time alone, the least over classes; per class {per}")


def check_output(path: Path) -> None:
    """Refuse an output path that cannot take a profile, before minutes of measuring."""
    path = Path(path)
    if path.is_dir():
        raise BpasteError(f"{path} is a folder; `bpaste device calibrate -o` writes a TOML file, e.g. -o {path / 'my-box.toml'}.")
    if path.suffix != ".toml":
        raise BpasteError(f"{path} does not end in .toml; device profiles are TOML files, e.g. -o {path.with_suffix('.toml')}.")


def write_profile(cal: Calibration, path: Path, name: str | None = None) -> Device:
    """Write the profile atomically (in the schema version bpaste reads) and load it back through the reader."""
    path = Path(path)
    atomic_write_bytes(path, profile_toml(cal, name or path.stem).encode())
    return load_device(path)
