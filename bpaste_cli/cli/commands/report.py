"""`bpaste report`: one self-contained HTML page (time, patterns, a session timeline, speedups, policy)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bpaste_cli.cli.app import app, out, print_json


@app.command(
    epilog="Example: bpaste report traces.bpaste --patterns patterns.bpaste --device thor -o report.html",
)
def report(
    dataset: Path = typer.Argument(..., help="A trace dataset directory (from `bpaste ingest`)."),
    output: Path = typer.Option(..., "-o", "--output", help="The HTML file to write."),
    patterns: Optional[str] = typer.Option(None, "--patterns", help="A pattern table (from `bpaste mine`), or `oracle`; "
                                           "without it the page shows time and stats only."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="A policy.json (from `bpaste tune`) to describe."),
    device: str = typer.Option("thor", "--device", help="The device to replay on (see `bpaste device list`) or a TOML profile."),
    compare: str = typer.Option("server", "--compare", help="Comma-separated devices to compare with ('' for none)."),
    session: Optional[str] = typer.Option(None, "--session", help="The session to draw as a timeline (default: most to gain)."),
    split: str = typer.Option("test", "--split", help="The split to replay: train, validation, test or all."),
    seed: int = typer.Option(0, "--seed", min=0, help="Split seed (and bootstrap seed)."),
    top: int = typer.Option(15, "--top", min=1, help="Sessions shown in the per-session chart."),
    as_json: bool = typer.Option(False, "--json", help="Print the report's data as one JSON object."),
) -> None:
    """Write a self-contained HTML report: where the time goes, patterns, a timeline, speedups, the policy."""
    from bpaste_cli.report import write_report

    data = write_report(
        output, dataset, patterns=patterns, policy=policy, device=device,
        compare=tuple(d.strip() for d in compare.split(",") if d.strip()), session=session, split=split, seed=seed,
        top_sessions=top,
    )
    if as_json:
        print_json("report", {"output": str(output), "data": data})
        return
    shown = [name for name in ("patterns", "timeline", "replay", "policy") if data[name] is not None]
    out.print(f"report written to [bold]{output}[/] (sections with data: time{''.join(', ' + s for s in shown)}); "
              "open it in any browser, it needs no network", highlight=False)
