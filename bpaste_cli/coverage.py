"""Safety coverage: how much of the agents' tool time each safety class holds, which tools the safety table
does not know, and what classifying one of them would be worth (what-if replays).

Only calls of an allowed class (read-only by default) are ever speculated, so a tool the table does not
know (`unknown` by default) holds time no predictor may hide; the shell classifier is sound, so a command it
cannot prove read-only is `unknown` too. These figures say where the speculable time is and what blocks the
rest; `stats`, `replay`, `tune` and `report` all show them, computed here.

Definitions (seconds, timed sessions only; calls count every session):
- `tool_s`: the summed logged latency of a class's calls; `share`: its fraction of all tool time;
- `critical_s`: the tool stall of the batches whose last-finishing call (the one the agent waited for)
  is of that class — the class's part of the speculation ceiling (`stats.batch_stalls`).
What classifying one of them would be worth is measured by replay (`replay.what_if`).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import polars as pl

from bpaste_cli.safety import SAFETY_CLASSES, SafetyTable
from bpaste_cli.stats import batch_stalls
from bpaste_cli.trace import Dataset

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_line(tool: str, safety: str = "read-only", resource: str = "cpu") -> str:
    """The `[tools]` line of a safety file that classifies `tool` (the key quoted when TOML needs it)."""
    key = tool if _BARE_KEY.fullmatch(tool) else '"' + tool.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f'{key} = {{ safety = "{safety}", resource = "{resource}" }}'


CALL_COLUMNS = ("session_id", "seq", "tool", "args_json", "t_start", "t_end")  # what a classified call is made of
# a call's identity as join keys (null arguments are not equal to one another in a join)
CALL_KEY = (pl.col("args_json").fill_null("").alias("args_key"), pl.col("args_json").is_null().alias("no_args"))
STALL_COLUMNS = ("session_id", "seq", "kind", "step", "batch", "tool", "t_start", "t_end")  # what `batch_stalls` reads


def classified_calls(dataset: Dataset, safety: SafetyTable, session_ids: Iterable[str] | None = None) -> pl.DataFrame:
    """Every tool call with its safety class, whether the table knows its tool, the program that made a shell
    command unknown, its logged latency in a timed session (else null) and the stall it holds on the critical path.

    Only the columns these need are taken from the events before any filter (a filter of the whole frame copied
    every column, results and texts included), and each distinct call (tool, arguments) is classified once, then joined back."""
    events = dataset.events.lazy()
    ev = events.filter(pl.col("kind") == "tool").select(CALL_COLUMNS)
    ss = dataset.sessions.lazy().select("session_id", "timed")
    if session_ids is not None:
        wanted = pl.Series(list(session_ids), dtype=pl.String).implode()
        ev, ss = ev.filter(pl.col("session_id").is_in(wanted)), ss.filter(pl.col("session_id").is_in(wanted))
    ss = ss.collect()
    ev = ev.collect().join(ss, on="session_id", how="left")
    calls = ev.select("tool", "args_json").unique(maintain_order=True)
    known = {t: safety.entry(t) is not None for t in calls["tool"].unique().to_list()}
    classes = []
    for t, a in calls.iter_rows():
        c = safety.classify(t, a)
        classes.append((c.safety, c.resource, known[t], safety.shell_reason(t, a) if c.safety == "unknown" else None))
    safeties, resources, knowns, reasons = zip(*classes) if classes else ((), (), (), ())
    calls = calls.with_columns(
        *CALL_KEY,
        safety=pl.Series(safeties, dtype=pl.String),
        resource=pl.Series(resources, dtype=pl.String),
        known=pl.Series(knowns, dtype=pl.Boolean),
        program=pl.Series(reasons, dtype=pl.String),
    ).drop("args_json")
    timed_ids = ss.filter(pl.col("timed"))["session_id"].implode()
    stalls = batch_stalls(events.select(STALL_COLUMNS).filter(pl.col("session_id").is_in(timed_ids)).collect()).select(
        "session_id", seq="last_seq", critical_s="stall_s")
    return (
        ev.select("session_id", "seq", "tool", *CALL_KEY,
                  tool_s=pl.when(pl.col("timed")).then(pl.col("t_end") - pl.col("t_start")).otherwise(None))
        .join(calls, on=["tool", "args_key", "no_args"], how="left", maintain_order="left")
        .drop("args_key", "no_args")
        .join(stalls, on=["session_id", "seq"], how="left")
        .with_columns(pl.col("critical_s").fill_null(0.0))
    )


def _totals(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    return frame.group_by(by).agg(calls=pl.len(), tool_s=pl.col("tool_s").sum(), critical_s=pl.col("critical_s").sum())


def safety_coverage(dataset: Dataset, safety: SafetyTable, session_ids: Iterable[str] | None = None,
                    top: int = 10) -> dict[str, Any]:
    """Per safety class {calls, tool_s, critical_s, share}; the `top` tools the table does not know and the
    `top` programs that made shell commands unknown, each ranked by critical-path then tool time."""
    calls = classified_calls(dataset, safety, session_ids)
    total = float(calls["tool_s"].sum() or 0.0)
    per = {r["safety"]: r for r in _totals(calls, "safety").to_dicts()}
    classes = {}
    for name in SAFETY_CLASSES:
        r = per.get(name, {"calls": 0, "tool_s": 0.0, "critical_s": 0.0})
        classes[name] = {"calls": int(r["calls"]), "tool_s": float(r["tool_s"] or 0.0),
                         "critical_s": float(r["critical_s"] or 0.0),
                         "share": float(r["tool_s"] or 0.0) / total if total > 0 else None}
    rank = ["critical_s", "tool_s", "calls"]
    order = [True] * len(rank) + [False]  # ties in name order, so the ranking is the same on every run
    unknown = (_totals(calls.filter(~pl.col("known")), "tool").sort(rank + ["tool"], descending=order).head(top)
               .with_columns(pl.col("tool_s").fill_null(0.0)))
    programs = (_totals(calls.filter(pl.col("program").is_not_null()), "program").sort(rank + ["program"], descending=order)
                .head(top).with_columns(pl.col("tool_s").fill_null(0.0)))
    resource = {r["tool"]: r["resource"] for r in calls.select("tool", "resource").unique("tool").to_dicts()}
    return {
        "safety_classes": classes,
        "unclassified_tools": [r | {"toml": toml_line(r["tool"], resource=resource[r["tool"]])} for r in unknown.to_dicts()],
        "unknown_shell_programs": programs.to_dicts(),
    }



def blocked_sentence(coverage: dict[str, Any]) -> str:
    """One sentence on where the critical-path tool time is by safety class and which unknown tools and shell
    programs hold the most of it (what a user would classify first)."""
    classes = coverage["safety_classes"]
    stall = sum(r["critical_s"] for r in classes.values())
    if stall <= 0:
        return "no timed tool time on the critical path."
    parts = [f"{name} {classes[name]['critical_s'] / stall:.1%}" for name in ("read-only", "mutating", "unknown")
             if classes[name]["critical_s"] > 0]
    text = "critical-path tool time by safety class: " + ", ".join(parts) + " (only read-only is speculated)"
    top = [(r["tool"], r["critical_s"]) for r in coverage["unclassified_tools"][:2] if r["critical_s"] > 0]
    top += [(f"shell {r['program']}", r["critical_s"]) for r in coverage["unknown_shell_programs"][:2] if r["critical_s"] > 0]
    if top:
        top.sort(key=lambda x: -x[1])
        text += "; unknown and holding the most: " + ", ".join(f"{name} {s / stall:.1%}" for name, s in top[:3])
        text += " (`bpaste replay --what-if 3` says what allowing each is worth)"
    return text + "."
