"""The Typer app and what every verb shares: consoles, the versioned --json shape, progress bars, and the one
formatter for seconds and percentages.

Each verb lives in `bpaste_cli/cli/commands/<verb>.py`: it parses options, makes one library call and
renders the result with rich (people) or `print_json` (scripts).
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Iterator

import orjson
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from bpaste_cli import __version__
from bpaste_cli.help_format import OutputConsole

app = typer.Typer(
    name="bpaste",
    help="Make LLM agents finish sooner: mine their logs, replay them under speculative tool execution, "
    "tune a policy for your device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = OutputConsole()  # tables never cut a number: full width off a terminal, fitted in one
err = OutputConsole(stderr=True)
state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"bpaste {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-sentence errors."),
) -> None:
    state["debug"] = debug


def workspace_option() -> Any:
    """The per-verb `--workspace DIR` option (BPASTE_WORKSPACE is read by `workspace.locate`, not by Typer)."""
    return typer.Option(None, "--workspace", help="The workspace folder (.bpaste) to use instead of the one found from "
                        "here (or $BPASTE_WORKSPACE).")


def warn(warnings: list[str]) -> None:
    """Print each warning sentence on stderr."""
    for w in warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)


def print_json(kind: str, payload: dict[str, Any]) -> None:
    """The versioned JSON shape every verb's --json prints."""
    doc = {"bpaste": __version__, "kind": kind} | payload
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")


Callbacks = tuple[Callable[[int], None] | None, Callable[[int], None] | None]  # (advance, set_total)


@contextmanager
def _progress(enabled: bool, label: str, *columns: Any) -> Iterator[Callbacks]:
    """A progress bar on stderr, as (advance, set_total) callbacks; (None, None) for --json or off a terminal."""
    if not enabled:
        yield None, None
        return
    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), *columns, TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task(label, total=None)
    with bar:
        yield (lambda n: bar.advance(task, n)), (lambda total: bar.update(task, total=total))


def byte_progress(enabled: bool, label: str) -> AbstractContextManager[Callbacks]:
    """Bytes read, with the rate (ingest)."""
    return _progress(enabled, label, DownloadColumn(), TransferSpeedColumn())


def count_progress(enabled: bool, label: str) -> AbstractContextManager[Callbacks]:
    """Items done of the total (replay, fit)."""
    return _progress(enabled, label, MofNCompleteColumn())


def seconds(x: float | None) -> str:
    """A duration for people: 0.42 s, 3.5 min, 2.1 h ("-" when unknown)."""
    if x is None:
        return "-"
    if abs(x) >= 3600:
        return f"{x / 3600:.1f} h"
    if abs(x) >= 60:
        return f"{x / 60:.1f} min"
    return f"{x:.2f} s"


def percent(x: float | None) -> str:
    """A fraction for people: 12.5% ("-" when unknown)."""
    return "-" if x is None else f"{100 * x:.1f}%"
