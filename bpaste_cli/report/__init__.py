"""`bpaste report`: one self-contained HTML page on a dataset (+ patterns, replay, policy).

Library entry points: `gather(dataset, patterns=..., policy=..., device=...)` -> the report's data (plain
dicts, every number from the library's own functions); `build_report(...)` -> the HTML string;
`write_report(out, ...)` writes it atomically and returns the data. Rendering is in `page` and `svg`.

policy.json (see `data.read_policy`) is read in the shape `bpaste tune` writes (`trials` = {complete, rows, pareto},
`validation.policy` = the figures it was chosen on) and in this minimal shape: `schema_version`,
`device` (a name or an object with `name`), `parameters` (object), `provenance` (object; `trial` = the chosen
trial number), `validation_metrics` (or `validation`; object), `trials` (or `study.trials`; a list of Optuna
trials `{number, values: [..]}` or `{number, value}`), `objectives` and `directions` (or under `study`; default
two objectives, the first maximised, the second minimised).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import atomic_write_bytes
from bpaste_cli.report.data import gather
from bpaste_cli.report.page import render

__all__ = ["build_report", "gather", "render", "write_report"]


def build_report(dataset: Any, **options: Any) -> str:
    """The report page as one HTML string (options: those of `gather`)."""
    return render(gather(dataset, **options))


def write_report(out: Path, dataset: Any, **options: Any) -> dict[str, Any]:
    """Write the page to `out` atomically; returns the data it shows."""
    if Path(out).is_dir():
        raise BpasteError(f"-o {out} is a directory; pass the path of the HTML file to write (e.g. {Path(out) / 'report.html'}).")
    data = gather(dataset, **options)
    atomic_write_bytes(Path(out), render(data).encode("utf-8"))
    return data
