"""`bpaste report`: one self-contained HTML page (time, patterns, a session timeline, speedups, policy)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bpaste_cli.cli.app import app, out, print_json, warn, workspace_option


@app.command(
    epilog="Examples: bpaste report   (the workspace's artifacts -> .bpaste/report.html)    |    "
    "bpaste report traces.bpaste --patterns patterns.bpaste --device thor -o report.html",
)
def report(
    dataset: Optional[Path] = typer.Argument(None, help="A trace dataset directory (from `bpaste ingest`; default: the "
                                             "workspace's)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="The HTML file to write (default: the workspace's "
                                          "report.html)."),
    patterns: Optional[str] = typer.Option(None, "--patterns", help="A pattern table (from `bpaste mine`), or `oracle`; "
                                           "without it the page shows time and stats only (default: the workspace's)."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="A policy.json (from `bpaste tune`) to describe "
                                          "(default: the workspace's for the device)."),
    device: str = typer.Option("thor", "--device", help="The device to replay on (see `bpaste device list`) or a TOML profile."),
    compare: str = typer.Option("server", "--compare", help="Comma-separated devices to compare with ('' for none)."),
    session: Optional[str] = typer.Option(None, "--session", help="The session to draw as a timeline (default: most to gain)."),
    split: str = typer.Option("test", "--split", help="The split to replay: train, validation, test or all."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Split seed and bootstrap seed (default: the patterns' "
                                       "split seed, else 0)."),
    top: int = typer.Option(15, "--top", min=1, help="Sessions shown in the per-session chart."),
    safety: Optional[Path] = typer.Option(None, "--safety", help="A TOML file overriding the safety table of the replays."),
    workspace: Optional[Path] = workspace_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the report's data as one JSON object."),
) -> None:
    """Write a self-contained HTML report: where the time goes, patterns, a timeline, speedups, the policy."""
    from bpaste_cli.errors import BpasteError
    from bpaste_cli.report import write_report
    from bpaste_cli.safety import load_safety
    from bpaste_cli.workspace import resolve

    if split not in ("train", "validation", "test", "all"):
        raise BpasteError(f"Unknown split {split!r}; choose train, validation, test or all.")
    got = resolve("report", workspace=workspace, device=device, dataset=dataset,
                  patterns=None if patterns is None else Path(patterns), policy=policy, output=output, seed=seed)
    output = got.output
    patterns = patterns if patterns is not None or got.patterns is None else str(got.patterns)
    hints = {}
    if got.workspace is not None and "dataset" in got.taken:
        hints = {"patterns": got.workspace.cmd("mine"), "policy": got.workspace.device_cmd("tune", device)}
    warn(got.warnings)
    data = write_report(
        output, got.dataset, patterns=patterns, policy=got.policy, device=device,
        compare=tuple(d.strip() for d in compare.split(",") if d.strip()), session=session, split=split, seed=got.seed,
        top_sessions=top, safety=load_safety(safety), hints=hints,
    )
    if as_json:
        print_json("report", {"output": str(output), "data": data})
        return
    shown = [name for name in ("patterns", "timeline", "replay", "policy") if data[name] is not None]
    out.print(f"report written to [bold]{output}[/] (sections with data: time{''.join(', ' + s for s in shown)}); "
              "open it in any browser, it needs no network", highlight=False)
