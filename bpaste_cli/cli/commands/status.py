"""`bpaste status`: what the workspace holds, how each artifact was made, what is stale and what fixes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from bpaste_cli.cli.app import app, out, print_json, workspace_option


@app.command(epilog="Examples: bpaste status    |    bpaste status --json    |    bpaste status --workspace ../project/.bpaste")
def status(
    workspace: Optional[Path] = workspace_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """The workspace's dataset, patterns, models and policies: provenance, staleness, and the commands to run."""
    from bpaste_cli.workspace import locate, status as workspace_status

    st = workspace_status(locate(workspace))
    if as_json:
        print_json("status", st.to_json())
        return
    table = Table(title=f"workspace {st.workspace}")
    for col in ("artifact", "made", "state"):
        table.add_column(col)
    for art in st.artifacts:
        state = (f"[red]unreadable[/]: {art.error}" if art.error else
                 "[yellow]stale[/]: " + "; ".join(s.reason for s in art.stale) if art.stale else "[green]current[/]")
        table.add_row(art.name, _made(art.made), state)
    if st.artifacts:
        out.print(table)
    else:
        out.print(f"the workspace {st.workspace} holds no artifacts yet")
    for fix in st.fixes:
        out.print(f"stale: run [bold]{fix}[/]", highlight=False)
    for step in st.next:
        out.print(f"next: run [bold]{step}[/]", highlight=False)
    if not st.stale and not st.next:
        out.print("[green]everything is current[/]")


def _made(made: dict[str, Any]) -> str:
    """An artifact's provenance in a few words: when, from what, and its key figure."""
    words = []
    for key in ("created_at", "written_at"):
        if made.get(key):
            words.append(str(made[key]))
    counts = made.get("counts") or {}
    if counts:
        words.append(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))
    for key, label in (("dataset_hash", "dataset"), ("seed", "seed"), ("estimator", "estimator"), ("arm", "arm"),
                       ("trial", "trial"), ("train_sessions", "train sessions"), ("bytes", "bytes")):
        if made.get(key) is not None:
            words.append(f"{label} {made[key]}")
    if made.get("validation_speedup") is not None:
        words.append(f"validation {made['validation_speedup']:.4f}x")
    if made.get("test_call_top1") is not None:
        words.append(f"test call top-1 {100 * made['test_call_top1']:.1f}%")
    return "; ".join(words)
