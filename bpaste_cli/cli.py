"""The `bpaste` command line. Verbs live in `bpaste_cli/commands/`; this module wires them and runs.

People get rich tables and progress bars; scripts get `--json`, one object shaped
`{"bpaste": "<version>", "kind": "<verb>", ...}`. Input problems are one sentence on stderr and exit 2.
"""

from __future__ import annotations

import sys

from bpaste_cli import commands  # noqa: F401  (registers the verbs)
from bpaste_cli.commands import serve  # noqa: F401  (registers `bpaste serve`)
from bpaste_cli.app import app, err, state
from bpaste_cli.errors import BpasteError


def main() -> None:
    """Entry point: run the app; a user-facing error becomes one sentence on stderr and exit status 2.

    Usage errors (unknown option, missing argument) are Typer's own, also exit status 2.
    """
    try:
        app()
    except BpasteError as exc:
        if state["debug"]:
            raise
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
