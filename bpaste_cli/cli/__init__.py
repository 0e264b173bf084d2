"""The `bpaste` command line (`main`, the console script). The app and what verbs share are in `app`, one module
per verb in `commands/`; this module wires them and runs.

People get rich tables and progress bars; scripts get `--json`, one object shaped
`{"bpaste": "<version>", "kind": "<verb>", ...}`. Input problems are one sentence on stderr and exit 2.
"""

from __future__ import annotations

import sys

from bpaste_cli.cli import commands  # noqa: F401  (registers the verbs)
from bpaste_cli.cli.app import app, err, state
from bpaste_cli.errors import BpasteError
from bpaste_cli.help_format import help_command


def main() -> None:
    """Entry point: run the app; a user-facing error becomes one sentence on stderr and exit status 2.

    Usage errors (unknown option, missing argument) are Typer's own, also exit status 2. `--help` is laid out
    for the terminal's width (`help_command`).
    """
    try:
        help_command(app)(prog_name="bpaste")
    except BpasteError as exc:
        if state["debug"]:
            raise
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
