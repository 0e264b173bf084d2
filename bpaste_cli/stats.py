"""`bpaste stats`: where an agent's time goes, and how much of it speculation could ever hide.

All figures come from the events table with polars expressions. Time figures use timed sessions
only (untimed logs still count in the totals of sessions, steps and calls).

Definitions (seconds, summed over timed sessions):
- think: the LLM steps' think windows;
- tool stall: per batch of calls, from the last emission to the last result (never past the next
  step's start) — the time the agent waits for tools, i.e. tool time that overlaps nothing today. This is the speculation ceiling:
  a perfect speculator can hide at most this, so `ceiling_speedup = agent / (agent - tool stall)`;
- human wait: user turns, idle gaps and approval waits (never on the agent's critical path);
- agent time: wall time minus human wait (think + tool stall + other: the model writing a batch's
  later calls, gaps between records).
A batch's stall is attributed to the tool whose call finished last (the one the agent waited for):
that is each tool's share of the critical path.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from bpaste_cli.trace import Dataset


def _dur() -> pl.Expr:
    return pl.col("t_end") - pl.col("t_start")


def batch_stalls(events: pl.DataFrame) -> pl.DataFrame:
    """One row per (session, batch) of tool calls: its stall and the tool the agent waited for last.

    The stall runs from the batch's last emission (until then the model was still writing calls) to its
    last result, but never past the start of the next step: a result that arrives after the agent moved
    on (a background job) kept no one waiting.
    """
    tools = events.filter((pl.col("kind") == "tool") & pl.col("t_start").is_not_null() & pl.col("t_end").is_not_null())
    next_step = events.filter(pl.col("kind") == "llm").select(
        "session_id", batch=pl.col("step") - 1, next_start=pl.col("t_start")
    )
    return (
        tools.sort("session_id", "batch", "t_end")
        .group_by("session_id", "batch", maintain_order=True)
        .agg(first=pl.col("t_start").max(), last=pl.col("t_end").max(), calls=pl.len(), last_tool=pl.col("tool").last())
        .join(next_step, on=["session_id", "batch"], how="left")
        .with_columns(
            stall_s=(pl.min_horizontal("last", pl.col("next_start").fill_null(pl.col("last"))) - pl.col("first")).clip(
                lower_bound=0.0
            )
        )
        .drop("first", "last", "next_start")
    )


def session_breakdown(dataset: Dataset) -> pl.DataFrame:
    """Per timed session: agent time, think, tool stall, human wait, other (gaps), calls."""
    ev = dataset.events
    think = (
        ev.filter(pl.col("kind") == "llm").group_by("session_id").agg(think_s=_dur().fill_null(0.0).sum())
    )
    stall = batch_stalls(ev).group_by("session_id").agg(tool_stall_s=pl.col("stall_s").sum())
    return (
        dataset.sessions.filter(pl.col("timed"))
        .select("session_id", "source_format", "n_tool_calls", "wall_s", "agent_time_s", "human_wait_s")
        .join(think, on="session_id", how="left")
        .join(stall, on="session_id", how="left")
        .with_columns(pl.col("think_s", "tool_stall_s").fill_null(0.0))
        .with_columns(other_s=(pl.col("agent_time_s") - pl.col("think_s") - pl.col("tool_stall_s")).clip(lower_bound=0.0))
        .sort("agent_time_s", descending=True)
    )


def compute_stats(dataset: Dataset) -> dict[str, Any]:
    """The summary `bpaste stats` prints (see the module docstring for definitions)."""
    ev, ss = dataset.events, dataset.sessions
    per_step = ev.filter(pl.col("kind") == "tool").group_by("session_id", "step").agg(n=pl.len())
    steps_with_calls = per_step.height
    parallel_steps = per_step.filter(pl.col("n") >= 2).height
    n_llm = ev.filter(pl.col("kind") == "llm").height

    timed_ids = ss.filter(pl.col("timed"))["session_id"]
    tev = ev.filter(pl.col("session_id").is_in(timed_ids.implode()))
    breakdown = session_breakdown(dataset)
    agent = float(breakdown["agent_time_s"].sum() or 0.0)
    think = float(breakdown["think_s"].sum() or 0.0)
    stall = float(breakdown["tool_stall_s"].sum() or 0.0)
    human = float(breakdown["human_wait_s"].sum() or 0.0)
    waits = (
        tev.filter(pl.col("kind") == "user")
        .group_by("wait_reason")
        .agg(seconds=_dur().sum(), count=pl.len())
        .sort("wait_reason")
    )

    batches = batch_stalls(tev)
    critical = batches.group_by("last_tool").agg(critical_s=pl.col("stall_s").sum()).rename({"last_tool": "tool"})
    tool_rows = (
        ev.filter(pl.col("kind") == "tool")
        .group_by("tool")
        .agg(
            calls=pl.len(),
            errors=(pl.col("status") == "error").sum(),
            timed_calls=_dur().is_not_null().sum(),
            p50_s=_dur().median(),
            p95_s=_dur().quantile(0.95, interpolation="linear"),
            total_s=_dur().sum(),
        )
        .join(critical, on="tool", how="left")
        .with_columns(pl.col("critical_s").fill_null(0.0))
        .with_columns(critical_share=pl.col("critical_s") / agent if agent > 0 else pl.lit(None, pl.Float64))
        .sort(["calls", "tool"], descending=[True, False])
    )
    return {
        "dataset": str(dataset.path),
        "dataset_hash": dataset.hash,
        "sessions": ss.height,
        "timed_sessions": timed_ids.len(),
        "sub_agent_sessions": ss.filter(pl.col("parent_session_id").is_not_null()).height,
        "llm_steps": n_llm,
        "tool_calls": int(ss["n_tool_calls"].sum() or 0),
        "steps_with_calls": steps_with_calls,
        "parallel_steps": parallel_steps,
        "parallel_step_share": parallel_steps / steps_with_calls if steps_with_calls else None,
        "time_s": {
            "agent": agent,
            "think": think,
            "tool_stall": stall,
            "other": max(agent - think - stall, 0.0),
            "human_wait": human,
        },
        "human_wait_by_reason": {r["wait_reason"]: {"seconds": r["seconds"], "count": r["count"]} for r in waits.to_dicts()},
        "ceiling": {
            "tool_stall_s": stall,
            "share_of_agent_time": stall / agent if agent > 0 else None,
            "ceiling_speedup": agent / (agent - stall) if agent > stall > 0 else (1.0 if agent > 0 else None),
        },
        "tools": tool_rows.to_dicts(),
    }
