"""`bpaste live`: a policy measured in real time on this machine, beside replay's estimate of the same sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from bpaste_cli.cli.app import app, count_progress, err, out, print_json, seconds


@app.command(
    epilog="Example: bpaste live traces.bpaste --policy policy.json --time-scale 0.1 --sessions 6",
)
def live(
    dataset: Path = typer.Argument(..., help="A trace dataset directory (from `bpaste ingest`), with timed sessions."),
    policy: Path = typer.Option(..., "--policy", help="A policy.json (from `bpaste tune`)."),
    device: Optional[str] = typer.Option(None, "--device", help="A built-in device or a TOML profile (from `bpaste device "
                                         "calibrate`); default: the policy's."),
    time_scale: float = typer.Option(1.0, "--time-scale", help="Multiply every logged duration by this (0.1: ten times "
                                     "faster); figures are reported in logged seconds."),
    sessions: int = typer.Option(4, "--sessions", min=1, help="Timed sessions of the split to re-enact."),
    seed: int = typer.Option(0, "--seed", min=0, help="Which sessions (and the bootstrap seed)."),
    arm: str = typer.Option("paste,bpaste", "--arm", help="Extra arms beside serial and the policy ('' for none)."),
    split: str = typer.Option("test", "--split", help="train, validation, test or all (the policy's split seed)."),
    safety: Optional[Path] = typer.Option(None, "--safety", help="A TOML file overriding the policy's safety table."),
    via_mcp: bool = typer.Option(False, "--via-mcp", help="Call the tools through `bpaste serve` over real stdio."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Re-enact logged sessions in real time under serial and the policy, and put replay's figures beside them."""
    from bpaste_cli.device import load_device
    from bpaste_cli.lab import LiveOptions, run_live
    from bpaste_cli.policy import load_policy
    from bpaste_cli.safety import load_safety
    from bpaste_cli.trace.dataset import load_dataset

    arms = tuple(a.strip() for a in arm.split(",") if a.strip())
    options = LiveOptions(sessions=sessions, seed=seed, time_scale=time_scale, arms=arms, split=split, via_mcp=via_mcp)
    options.check()
    pol = load_policy(policy)
    ds = load_dataset(dataset)
    ds.require_tool_calls("there is nothing to speculate")
    dev = load_device(device) if device else None
    table = load_safety(safety) if safety is not None else None
    with count_progress(not as_json and err.is_terminal, "live") as (advance, set_total):
        if set_total:
            set_total(sessions * (2 + len(arms)))
        report = run_live(ds, pol, device=dev, safety=table, options=options, progress=advance)
    if as_json:
        print_json("live", report)
        return
    _render(report)


def _render(r: dict) -> None:
    out.print(f"[bold]live[/bold] {r['sessions']} sessions of {r['dataset']} on {r['device']} (LLM {r['llm']}), "
              f"time scale {r['time_scale']:g}, {r['cpu_cores']} cores, {'via bpaste serve' if r['via_mcp'] else 'in process'}; "
              f"took {seconds(r['live_wall_s'])}", highlight=False)
    out.print(f"serial live / logged agent time = {r['serial_vs_logged']:.4f}; a 2 ms sleep wakes "
              f"{1000 * r['timer']['asyncio_sleep_late_median_s']:.2f} ms late (median)", highlight=False)
    t = Table("arm", "live speedup [95% CI]", "replay speedup [95% CI]", "saved live", "saved replay", "hits live/replay",
              "waste live/replay", "interference live/replay", "planning")
    for name, a in r["arms"].items():
        planning = a["measured"]["planning_s"]
        t.add_row(name, f"{a['live_speedup']:.3f} [{a['live_ci'][0]:.3f}, {a['live_ci'][1]:.3f}]",
                  f"{a['replay_speedup']:.3f} [{a['replay_ci'][0]:.3f}, {a['replay_ci'][1]:.3f}]",
                  seconds(a["live_saved_s"]), seconds(a["replay_saved_s"]), f"{a['hits_live']}/{a['hits_replay']}",
                  f"{seconds(a['waste_live_s'])}/{seconds(a['waste_replay_s'])}",
                  f"{seconds(a['interference_live_s'])}/{seconds(a['interference_replay_s'])}", seconds(planning))
    out.print(t)
    for name, a in r["arms"].items():
        d = a.get("disagreement")
        if d and d["differs"]:
            out.print(f"[yellow]{name}[/yellow]: {d['note']}", highlight=False)
    tools = Table("tool", "calls", "hits live", "hits replay", title=f"per tool ({r['policy_arm']} policy)")
    for tool, row in list(r["arms"]["policy"]["per_tool"].items())[:12]:
        tools.add_row(tool, str(row["calls_replay"]), str(row["hits_live"]), str(row["hits_replay"]))
    out.print(tools)
    for w in r["warnings"]:
        err.print(f"warning: {w}", highlight=False)
