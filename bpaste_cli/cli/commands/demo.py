"""`bpaste demo`: the whole pipeline on the bundled sample traces."""

from __future__ import annotations

from pathlib import Path

import typer

from bpaste_cli.cli.app import app, err, out, print_json


@app.command(epilog="Example: bpaste demo --out demo-out && xdg-open demo-out/.bpaste/report.html")
def demo(
    out_dir: Path = typer.Option(Path("bpaste-demo"), "--out", help="Project folder: the dataset, patterns, model, policy and "
                                 "report go to its workspace, <out>/.bpaste."),
    samples: Path = typer.Option(None, "--samples", help="Logs to use instead of the bundled sample traces."),
    device: str = typer.Option("thor", "--device", help="A built-in device (see `bpaste device list`) or a TOML profile."),
    trials: int = typer.Option(30, "--trials", min=1, help="Optuna trials for tune (small: this is a demo)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Split, tuning and bootstrap seed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of progress."),
) -> None:
    """Ingest the sample traces, then stats, mine, fit, tune, replay and report: one command, end to end."""
    from bpaste_cli.demo import run_demo

    status = None if as_json else err.status("")

    def started(name: str) -> None:
        if status is not None:
            status.update(f"[bold]{name}[/] ...")

    def finished(step) -> None:
        if not as_json:
            out.print(f"[green]✓[/] [bold]{step.name:7s}[/] {step.figure}  [dim]({step.seconds:.1f} s)[/]", highlight=False)

    if status is not None:
        status.start()
    try:
        result = run_demo(out_dir, samples=samples, device=device, trials=trials, seed=seed, on_step=finished, on_start=started)
    finally:
        if status is not None:
            status.stop()
    if as_json:
        print_json("demo", result.summary())
        return
    out.print(f"\ndone in {result.seconds:.0f} s; everything is in the workspace {result.paths['workspace']}/:", highlight=False)
    for name, path in result.paths.items():
        if name != "workspace":
            out.print(f"  {name:9s} {path}", highlight=False)
    report = Path(result.paths["report"]).resolve()
    out.print(f"\nopen the report:  xdg-open {report}   (or: python -m webbrowser file://{report})", highlight=False)
    out.print("carry on from it:  " + "    ".join(result.next), highlight=False)
