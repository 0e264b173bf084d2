"""`bpaste serve`: a speculating MCP stdio proxy in front of an MCP server (stdout is the MCP channel)."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Optional

import typer

from bpaste_cli.cli.app import app, err, state
from bpaste_cli.errors import BpasteError


class _OneLine(logging.Formatter):
    """Log records as one line each; tracebacks only with --debug."""

    def __init__(self, debug: bool) -> None:
        super().__init__("bpaste serve: %(message)s")
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        if not self.debug:
            record.exc_info = record.exc_text = None
            record.stack_info = None
        return super().format(record)


@app.command(
    context_settings={"allow_interspersed_args": False},
    epilog="Example: bpaste serve --policy policy.json --log run.jsonl -- uvx mcp-server-sqlite --db-path app.db",
)
def serve(
    command: list[str] = typer.Argument(..., metavar="COMMAND [ARGS]...", help="The upstream MCP server to start."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="A policy.json (from `bpaste tune`); without it the proxy "
                                          "only forwards and logs."),
    log_path: Optional[Path] = typer.Option(None, "--log", help="Append the run log (native JSONL, for `bpaste ingest`) here."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Write the counters as JSON here on exit."),
    timeout: float = typer.Option(120.0, "--timeout", min=0.001, help="Seconds the upstream may take to answer one request."),
    advertise_read_only: bool = typer.Option(False, "--advertise-read-only", help="List the tools the policy classes "
                                             "read-only with readOnlyHint: true (clients then run them in parallel)."),
    keep_secrets: bool = typer.Option(False, "--keep-secrets", help="Do not replace secret-shaped values in the run log."),
    allow_unsafe_classes: bool = typer.Option(False, "--allow-unsafe-classes", help="Accept a policy that speculates "
                                              "mutating or unknown tool calls (a wrong guess may change files or state)."),
) -> None:
    """Put speculation in front of an MCP server: forward initialize, tools/list and tools/call, serve hits."""
    from bpaste_cli.runtime.proxy import ServeOptions, serve as run_serve

    handler = logging.StreamHandler()
    handler.setFormatter(_OneLine(state["debug"]))
    for name in ("bpaste", "mcp"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if state["debug"] else logging.WARNING)
        logger.propagate = False
    options = ServeOptions(command=command, policy=policy, log=log_path, summary=summary, timeout=timeout,
                           advertise_read_only=advertise_read_only, keep_secrets=keep_secrets,
                           allow_unsafe_classes=allow_unsafe_classes)
    if shutil.which(command[0]) is None:
        raise BpasteError(f"Cannot start the upstream server: {command[0]!r} is not an executable on PATH; check the "
                          "command after `--`.")
    try:
        counters = asyncio.run(run_serve(options))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except OSError as exc:
        if state["debug"]:
            raise
        raise BpasteError(f"bpaste serve stopped: {exc}; run with --debug for the traceback.") from None
    err.print(f"bpaste serve: {counters['real_calls']} calls, {counters['hits']} served from speculation "
              f"({counters['completed_reuse']} finished, {counters['inflight_promotions']} in flight), "
              f"{counters['speculative_starts']} speculative starts, {counters['wasted_s']:.3f} s wasted", highlight=False,
              soft_wrap=True)
