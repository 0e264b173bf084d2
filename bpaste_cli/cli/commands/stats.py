"""`bpaste stats`: where the agents' time goes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from bpaste_cli.cli.app import app, out, percent, print_json, seconds, warn, workspace_option
from bpaste_cli.cli.coverage_view import print_coverage


@app.command(epilog="Examples: bpaste stats   (the workspace's dataset)    |    bpaste stats traces.bpaste --json")
def stats(
    dataset: Optional[Path] = typer.Argument(None, help="A dataset directory made by `bpaste ingest` (default: the workspace's)."),
    top: int = typer.Option(15, help="Tools to list, most called first."),
    safety: Path = typer.Option(None, "--safety", help="A safety TOML file overriding the built-in table."),
    workspace: Optional[Path] = workspace_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Where the time goes: think vs tool latency vs human wait, per tool, and the speculation ceiling."""
    from bpaste_cli.safety import load_safety
    from bpaste_cli.stats import compute_stats
    from bpaste_cli.trace import load_dataset
    from bpaste_cli.workspace import resolve

    got = resolve("stats", workspace=workspace, dataset=dataset)
    warn(got.warnings)
    s = compute_stats(load_dataset(got.dataset), load_safety(safety))
    if as_json:
        print_json("stats", s)
        return
    t = s["time_s"]
    agent = t["agent"] or None
    out.print(
        f"[bold]{s['sessions']}[/] sessions ({s['timed_sessions']} timed, {s['sub_agent_sessions']} sub-agents), "
        f"{s['llm_steps']} LLM steps, {s['tool_calls']} tool calls; "
        f"{percent(s['parallel_step_share'])} of steps with calls emit several in parallel"
    )
    split = Table(title="where the time goes (timed sessions)")
    for col in ("", "time", "share of agent time"):
        split.add_column(col, justify="right" if col else "left")
    for label, key in (("LLM think", "think"), ("tool stall", "tool_stall"), ("other gaps", "other"), ("agent total", "agent")):
        split.add_row(label, seconds(t[key]), percent(t[key] / agent) if agent else "-")
    split.add_row("human wait (excluded)", seconds(t["human_wait"]), "")
    for reason, w in s["human_wait_by_reason"].items():
        split.add_row(f"  {reason} ({w['count']})", seconds(w["seconds"]), "")
    out.print(split)
    tools = Table(title="per tool")
    for col in ("tool", "calls", "errors", "p50", "p95", "critical path share"):
        tools.add_column(col, justify="left" if col == "tool" else "right")
    for r in s["tools"][:top]:
        tools.add_row(r["tool"], str(r["calls"]), str(r["errors"]), seconds(r["p50_s"]), seconds(r["p95_s"]), percent(r["critical_share"]))
    out.print(tools)
    c = s["ceiling"]
    if c["share_of_agent_time"] is not None:
        out.print(
            f"speculation ceiling: {seconds(c['tool_stall_s'])} of tool time overlaps nothing today "
            f"({percent(c['share_of_agent_time'])} of agent time): at most {c['ceiling_speedup']:.2f}x if all of it were hidden"
        )
    else:
        out.print("speculation ceiling: no timed sessions in this dataset (untimed logs still serve mining)")
    print_coverage(s, t["tool_stall"])
    ind = s["independent_sequential"]
    if ind["runs"]:
        out.print(f"independent sequential calls: {ind['calls']} read-only calls in {ind['runs']} runs could have been "
                  f"issued at once, saving at most {seconds(ind['saving_s'])} ({percent(ind['share_of_agent_time'])} of agent time)")

