"""`bpaste report`: one self-contained HTML page on a dataset (+ patterns, replay, policy).

Library entry points: `gather(dataset, patterns=..., policy=..., device=...)` -> the report's data (plain
dicts, every number from the library's own functions); `build_report(...)` -> the HTML string;
`write_report(out, ...)` writes it atomically and returns the data. Rendering is in `page` and `svg`.

policy.json is read through the policy's artifact gate (`policy.read_policy_doc`): only a policy `bpaste tune`
wrote (kind, schema version and JSON Schema checked) is shown.
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
