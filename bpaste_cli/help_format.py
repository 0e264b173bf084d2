"""Output that reads well at any width: `--help` at 80 columns, and tables that never cut a number.

Rich's help panels give each option's help a column of ~25 characters at 80 columns, so every option wraps
over many lines; below `WIDE_HELP` columns (and whenever help goes to a pipe or a file) the verbs use Click's
plain two-column help instead, where an option name is never broken and a long one puts its help on the next
line. Rich tables squeeze columns to the console's width and cut what does not fit ("1.01…"): outside a
terminal `OutputConsole` is as wide as the content needs, and in a narrow terminal `fit_table` drops the box
lines and, if that is not enough, folds cells onto more lines rather than cut them.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

import click
from rich.console import Console, ConsoleDimensions
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

WIDE_HELP = 100  # columns from which rich's help panels have room for the option help
UNBOUNDED = 10_000  # the width of output that goes to a pipe or a file: no table is squeezed


def plain_help(width: int, is_terminal: bool) -> bool:
    """Whether `--help` should be Click's plain layout: in a terminal narrower than WIDE_HELP, or off a terminal."""
    return not is_terminal or width < WIDE_HELP


def use_plain_help(command: click.Command) -> None:
    """Switch `command` and all its subcommands to Click's plain help layout (Typer's `rich_markup_mode=None`)."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        use_plain_help(sub)


def help_command(app: Any, *, width: int | None = None, is_terminal: bool | None = None) -> click.Command:
    """The Click command of the Typer `app`, with the help layout for this width and stream (default: stdout's)."""
    import typer

    command = typer.main.get_command(app)
    width = shutil.get_terminal_size((80, 24)).columns if width is None else width
    terminal = sys.stdout.isatty() if is_terminal is None else is_terminal
    if plain_help(width, terminal):
        use_plain_help(command)
    return command


class OutputConsole(Console):
    """A rich Console whose width is the terminal's in a terminal and UNBOUNDED outside one (a pipe, a file), so
    a table sent to a script or a file is never squeezed; in a terminal it prints each table through `fit_table`.
    Either way a number is never cut."""

    def __init__(self, *args: Any, width: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, width=width, **kwargs)
        self._asked_width = width  # Console also takes $COLUMNS as a width, which a pipe should not be cut to

    @property
    def size(self) -> ConsoleDimensions:
        dims = Console.size.fget(self)  # type: ignore[attr-defined]
        if self._asked_width is not None or self.is_terminal:
            return dims
        return ConsoleDimensions(UNBOUNDED, dims.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Console.print, with each table fitted to the width first (`fit_table`)."""
        super().print(*(fit_table(o, self) if isinstance(o, Table) else o for o in objects), **kwargs)


def fit_table(table: Table, console: Console) -> Table:
    """Make `table` fit `console` without cutting anything. When its natural width is wider than the console: drop
    the box lines and edge padding; if still too wide, give each column the width of its longest value and let
    the headers wrap, so numbers stay whole; if even the values do not fit, fold cells onto more lines rather
    than end them in "…". Outside a terminal an OutputConsole is UNBOUNDED, so nothing changes."""
    if _natural_width(table, console) <= console.width:
        return table
    table.box, table.pad_edge = None, False
    if _natural_width(table, console) <= console.width:
        return table
    values = [max((len(_plain(cell)) for cell in column._cells), default=1) for column in table.columns]
    keep = sum(values) + 2 * (len(values) - 1) <= console.width  # a space of padding either side of each gap
    for column, width in zip(table.columns, values):
        column.no_wrap, column.overflow = False, "fold"
        if keep:
            column.width = width
    return table


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _natural_width(table: Table, console: Console) -> int:
    return Measurement.get(console, console.options.update(width=UNBOUNDED), table).maximum
