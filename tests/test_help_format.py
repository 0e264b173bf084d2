"""`--help` readable at 80 columns, and tables that never cut a number (piped, or in a narrow terminal)."""

from __future__ import annotations

import io
import math
import re

import click
import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.table import Table

from bpaste_cli.cli import app
from bpaste_cli.help_format import UNBOUNDED, OutputConsole, fit_table, help_command, plain_help


def _verbs(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _verbs(sub, path + (name,))
    return found


def _help(command: click.Command, path: tuple[str, ...], columns: int) -> str:
    result = CliRunner().invoke(command, [*path, "--help"], env={"COLUMNS": str(columns)}, prog_name="bpaste")
    assert result.exit_code == 0, result.output
    return result.output


def _problems(text: str, command: click.Command, columns: int) -> list[str]:
    """What makes help hard to read at `columns`: long lines, a cut word, an option name broken or not leading its
    line, or an option whose help takes more lines than 40 characters a line would need."""
    lines = text.splitlines()
    problems = [f"line of {len(line)} columns: {line!r}" for line in lines if len(line) > columns]
    problems += [f"cut: {line!r}" for line in lines if "…" in line]
    options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
    starts = {}
    for p in options:
        name = max(p.opts, key=len)
        at = [i for i, line in enumerate(lines) if re.match(rf"^\s*[│|]?\s*(?:\*\s+)?(?:-\w,?\s+)?{re.escape(name)}\b", line)]
        if not at:
            problems.append(f"{name} does not start a line whole")
        else:
            starts[at[0]] = p
    order = sorted(starts)
    for k, i in enumerate(order):
        p = starts[i]
        end = order[k + 1] if k + 1 < len(order) else i + 1
        entry = [line for line in lines[i:end] if line.strip(" │|")]
        budget = math.ceil(len(p.help or "") / 40) + 2  # the help, then the default/range on one more line
        if len(entry) > budget:
            problems.append(f"{max(p.opts, key=len)} takes {len(entry)} lines for {len(p.help or '')} characters of help")
    return problems


VERBS = [v for v in _verbs(help_command(app, width=80, is_terminal=True))]


@pytest.mark.parametrize(("path", "command"), VERBS, ids=[" ".join(p) or "bpaste" for p, _ in VERBS])
def test_help_reads_well_at_80_columns(path: tuple[str, ...], command: click.Command) -> None:
    root = help_command(app, width=80, is_terminal=True)
    assert _problems(_help(root, path, 80), command, 80) == []


def test_the_check_catches_the_rich_layout_at_80_columns() -> None:
    """The rich panels at 80 columns are what the check above must reject (so it can fail)."""
    import typer

    rich_root = typer.main.get_command(app)
    replay = rich_root.commands["replay"]  # type: ignore[attr-defined]
    assert getattr(replay, "rich_markup_mode", None) == "rich"
    assert _problems(_help(rich_root, ("replay",), 80), replay, 80)


def test_rich_help_stays_in_a_wide_terminal_and_plain_goes_to_pipes() -> None:
    assert plain_help(80, True) and plain_help(200, False) and not plain_help(120, True)
    wide = help_command(app, width=140, is_terminal=True)
    assert wide.commands["replay"].rich_markup_mode == "rich"  # type: ignore[attr-defined]
    piped = help_command(app, width=140, is_terminal=False)
    assert all(getattr(c, "rich_markup_mode", None) is None for _, c in _verbs(piped))


# --- tables ---------------------------------------------------------------------------------------------------------

ROWS = [("bpaste", "1.0123x", "1.01-1.02", "12345s", "123s", "1234", "56", "789", "45s", "1.23", "0.5s"),
        ("oracle", "1.2456x", "1.11-1.32", "12005s", "1236s", "12340", "560", "7890", "450s", "11.23", "10.5s")]


def _table() -> Table:
    t = Table(title="replay of a long dataset name (test split, 25 sessions) on thor")
    for c in ("arm", "speedup", "95% CI", "agent", "hidden", "hits", "in-flight", "misses", "wasted", "amp.", "interf."):
        t.add_column(c, justify="left" if c == "arm" else "right", no_wrap=True)
    for row in ROWS:
        t.add_row(*row)
    return t


def test_piped_output_is_never_squeezed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    buf = io.StringIO()
    console = OutputConsole(file=buf)
    assert not console.is_terminal and console.width == UNBOUNDED
    plain = io.StringIO()
    Console(file=plain).print(_table())
    assert "…" in plain.getvalue()  # what a plain Console does to the same table at COLUMNS=40
    console.print(_table())
    text = buf.getvalue()
    assert "…" not in text
    for row in ROWS:
        assert re.search(r"[\s│]+".join(re.escape(v) for v in row), text), row  # every value whole, in order, on one line
    assert OutputConsole(file=io.StringIO(), width=50).width == 50  # an explicit width is kept
    assert OutputConsole(file=io.StringIO(), force_terminal=True).width == 40  # a terminal's width is its own


def test_a_table_that_fits_is_left_alone() -> None:
    console = Console(file=io.StringIO(), width=200)
    table = _table()
    box = table.box
    assert fit_table(table, console).box is box


@pytest.mark.parametrize("width", [80, 90])
def test_a_narrow_terminal_keeps_numbers_whole(width: int) -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=width)
    console.print(fit_table(_table(), console))
    text = buf.getvalue()
    assert "…" not in text and max(map(len, text.splitlines())) <= width
    for row in ROWS:
        assert re.search(r"[\s│]+".join(re.escape(v) for v in row), text), row


def test_too_narrow_for_the_values_folds_them_rather_than_cutting() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=50)
    console.print(fit_table(_table(), console))
    text = buf.getvalue()
    assert "…" not in text and max(map(len, text.splitlines())) <= 50
    digits = "".join(ch for line in text.splitlines() for ch in line if ch.isdigit())
    assert len(digits) >= sum(ch.isdigit() for row in ROWS for v in row for ch in v)  # no digit lost


def test_the_output_console_fits_tables_in_a_narrow_terminal() -> None:
    buf = io.StringIO()
    OutputConsole(file=buf, force_terminal=True, width=80, color_system=None).print(_table())
    text = buf.getvalue()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    for row in ROWS:
        assert re.search(r"[\s│]+".join(re.escape(v) for v in row), text), row
