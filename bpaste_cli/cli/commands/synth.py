"""`bpaste synth`: realistic synthetic agent sessions, written as agent logs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from bpaste_cli.cli.app import app, out, print_json


@app.command(
    epilog="Example: bpaste synth -o corpus --archetype coding,research --sessions 200 --seed 7 --format claude-code,native\n\n"
    "Slow tools beside a fast, focused model (where speculation pays): bpaste synth -o slow --archetype research,analysis "
    "--think-scale 0.5 --latency-scale 3 --top-pick 0.9",
)
def synth(
    output: Path = typer.Option(..., "-o", "--output", help="Directory to write; each format gets its own subfolder."),
    archetype: str = typer.Option("coding,research,analysis", "--archetype", help="Comma-separated: coding, research, analysis."),
    sessions: Optional[int] = typer.Option(None, "--sessions", min=1, help="Sessions to generate, archetypes taking turns (default 30; unlimited with --max-mb)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, byte-identical files."),
    fmt: str = typer.Option("native", "--format", help="Comma-separated: native, claude-code, codex, chat, otlp."),
    think_scale: float = typer.Option(1.0, "--think-scale", help="Multiply every LLM think time (0.3: a fast model)."),
    latency_scale: float = typer.Option(1.0, "--latency-scale", help="Multiply every tool latency (3: slow tools, remote APIs)."),
    top_pick: float = typer.Option(0.5, "--top-pick", help="Probability the agent picks the top-ranked search result or match (0.9: a predictable agent)."),
    max_mb: Optional[float] = typer.Option(None, "--max-mb", min=0.001, help="Stop after the session that brings the output past this many MB."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Generate realistic synthetic agent sessions (coding, research, data analysis) as agent logs."""
    from bpaste_cli.synth import ARCHETYPES, Knobs, generate, parse_list, write

    archetypes = parse_list(archetype, ARCHETYPES, "archetype")
    count = sessions if sessions is not None else (None if max_mb else 30)
    max_bytes = int(max_mb * 1e6) if max_mb else None
    knobs = Knobs(think_scale, latency_scale, top_pick)
    knobs.check()
    summary = write(generate(archetypes, sessions=count, seed=seed, knobs=knobs), output, fmt, max_bytes=max_bytes).summary()
    if as_json:
        print_json("synth", summary)
        return
    table = Table(title=f"synthetic sessions in {output}")
    for col in ("format", "files", "lines", "MB"):
        table.add_column(col, justify="left" if col == "format" else "right")
    for name, f in summary["formats"].items():
        table.add_row(name, str(f["files"]), str(f["lines"]), f"{f['bytes'] / 1e6:.1f}")
    out.print(table)
    out.print(
        f"[bold]{summary['sessions']}[/] sessions, {summary['events']} events, {summary['tool_calls']} tool calls, "
        f"{summary['llm_steps']} LLM steps in {summary['seconds']} s ({summary['events_per_s']} events/s, "
        f"{summary['mb_per_s']} MB/s)"
    )
