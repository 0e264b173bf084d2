"""`bpaste ingest`: agent logs -> trace dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from bpaste_cli.cli.app import app, byte_progress, err, out, print_json, workspace_option


@app.command(
    epilog="Examples: bpaste ingest logs   (into the workspace .bpaste/, made here if there is none)    |    "
    "bpaste ingest ~/.claude/projects ~/.codex/sessions -o traces.bpaste",
)
def ingest(
    paths: Optional[list[str]] = typer.Argument(None, help="Log files, directories (walked recursively) or globs "
                                                "(default: those the workspace's dataset was ingested from)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="The dataset directory to write "
                                          "(default: the workspace's dataset)."),
    fmt: str = typer.Option("auto", "--format", help="auto (detect by content) or one reader's name."),
    append: bool = typer.Option(False, "--append", help="Add files not yet in the dataset instead of replacing it."),
    strict: bool = typer.Option(False, "--strict", help="Make any unusable record fatal."),
    keep_secrets: bool = typer.Option(False, "--keep-secrets", help="Do not replace secret-shaped values."),
    max_result_chars: int = typer.Option(8192, min=0, help="Characters of each tool result kept."),
    idle_threshold: float = typer.Option(900.0, min=1.0, help="A think window, or a call without logged run time, longer than this (s) is a person away."),
    workspace: Optional[Path] = workspace_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Read agent logs (Claude Code, Codex, OpenHands, OTLP, OpenAI-style chat, native) into a dataset."""
    from bpaste_cli.ingest import IngestOptions, ingest as run_ingest
    from bpaste_cli.trace import Limits
    from bpaste_cli.workspace import resolve

    got = resolve("ingest", workspace=workspace, paths=paths or None, output=output)
    output = got.output

    options = IngestOptions(
        format=fmt,
        strict=strict,
        keep_secrets=keep_secrets,
        limits=Limits(max_result_chars=max_result_chars, idle_threshold_s=idle_threshold),
    )
    with byte_progress(not as_json and err.is_terminal, "reading logs") as (advance, set_total):
        result = run_ingest(got.paths, output, append=append, options=options, progress=advance, on_total=set_total)
    if got.workspace is not None:
        flags = _flags(fmt=fmt, strict=strict, keep_secrets=keep_secrets, max_result_chars=max_result_chars,
                       idle_threshold=idle_threshold)
        recorded = (got.workspace.manifest().get("ingest") or {}).get("paths", []) if append else []
        got.workspace.record_ingest(list(dict.fromkeys([*recorded, *got.paths])), flags)
    summary = result.summary()
    if as_json:
        summary.pop("skipped_examples")
        print_json("ingest", summary)
        return
    table = Table(title=f"ingested into {output}", show_header=True)
    for col in ("file", "format", "sessions", "tool calls", "skipped"):
        table.add_column(col, justify="left" if col in ("file", "format") else "right")
    for f in summary["files"]:
        status = f.get("status")
        fmt_name = f.get("format", "") if status == "ingested" else f"({status.replace('_', ' ')})"
        table.add_row(f["path"], fmt_name, str(f.get("sessions", "")), str(f.get("tool_calls", "")), str(f.get("skipped", "")))
    out.print(table)
    out.print(
        f"[bold]{summary['sessions']}[/] sessions, {summary['events']} events, {summary['tool_calls']} tool calls, "
        f"{summary['llm_steps']} LLM steps; dataset hash {summary['dataset_hash']}"
    )
    if summary["skipped_lines"]:
        reasons = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in summary["skipped_by_reason"].items())
        out.print(f"[yellow]skipped {summary['skipped_lines']} record(s)[/] ({reasons}); first ones:")
        for ex in summary["skipped_examples"][:10]:
            out.print(f"  {ex['where']}: {ex['reason']}" + (f" ({ex['detail']})" if ex["detail"] else ""))
        out.print(f"  all of them are counted in {output}/manifest.json")


def _flags(**given: object) -> list[str]:
    """The options that differ from their defaults, as command-line words (the workspace's hints repeat them)."""
    defaults = {"fmt": "auto", "strict": False, "keep_secrets": False, "max_result_chars": 8192, "idle_threshold": 900.0}
    names = {"fmt": "--format", "max_result_chars": "--max-result-chars", "idle_threshold": "--idle-threshold"}
    words: list[str] = []
    for key, value in given.items():
        if value == defaults[key]:
            continue
        option = names.get(key, "--" + key.replace("_", "-"))
        words += [option] if isinstance(value, bool) else [option, f"{value:g}" if isinstance(value, float) else str(value)]
    return words
