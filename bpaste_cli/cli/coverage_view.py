"""How the verbs that look at time (stats, replay, tune) print safety coverage and what-if tables (rich)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from bpaste_cli.cli.app import out, percent, seconds


def print_coverage(c: dict[str, Any], stall_s: float | None) -> None:
    """The safety-coverage tables (`coverage.safety_coverage`): time per class, unknown tools and shell programs."""
    table = Table(title="tool time by safety class (only read-only is speculated)")
    for col in ("class", "calls", "tool time", "share", "critical path", "share of stall"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, r in c["safety_classes"].items():
        table.add_row(name, str(r["calls"]), seconds(r["tool_s"]), percent(r["share"]), seconds(r["critical_s"]),
                      percent(r["critical_s"] / stall_s) if stall_s else "-")
    out.print(table)
    if c["unclassified_tools"]:
        unk = Table(title="tools the safety table does not know (unknown: never speculated, they invalidate)")
        for col in ("tool", "calls", "tool time", "critical path", "a --safety file line that would classify it"):
            unk.add_column(col, justify="right" if col in ("calls", "tool time", "critical path") else "left")
        for r in c["unclassified_tools"]:
            unk.add_row(r["tool"], str(r["calls"]), seconds(r["tool_s"]), seconds(r["critical_s"]), escape("[tools] " + r["toml"]))
        out.print(unk)
    if c["unknown_shell_programs"]:
        sh = Table(title="what made shell commands unknown (program or construct)")
        for col in ("program", "calls", "tool time", "critical path"):
            sh.add_column(col, justify="left" if col == "program" else "right")
        for r in c["unknown_shell_programs"]:
            sh.add_row(escape(r["program"]), str(r["calls"]), seconds(r["tool_s"]), seconds(r["critical_s"]))
        out.print(sh)


def print_what_if(w: dict[str, Any] | None) -> None:
    """The what-if table (`replay.what_if`): each classification decision and the speedup it is worth."""
    if not w:
        return
    arms = list(w["baseline"])
    table = Table(title=f"what if one more tool or program were allowed ({w['split']} split)")
    for col in ["allow", *arms, *(f"{a} gain" for a in arms), "line for a --safety file"]:
        table.add_column(col, justify="left" if col in ("allow", "line for a --safety file") else "right")
    table.add_row("(as the table stands)", *(f"{w['baseline'][a]:.3f}x" for a in arms), *("" for _ in arms), "")
    for r in w["rows"]:
        table.add_row(escape(("shell: " if r["kind"] == "program" else "") + r["name"]), *(f"{r[a]:.3f}x" for a in arms),
                      *(percent(r[f"{a}_gain"]) for a in arms), escape(("[tools] " if r["kind"] == "tool" else "add to ") + r["toml"]))
    out.print(table)
