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
that is each tool's share of the critical path. The same attribution by safety class, and the tools the
safety table does not know, come from `coverage.safety_coverage`.

Independent sequential calls (`independent_sequential`): two read-only calls the agent ran one after the
other (the later started after the earlier ended) that could have been issued together — both in the same
step, or the later in the very next step when that step's LLM window shows no think (at most
`NO_THINK_S`) — and with no data flow: no argument value of the later call (a string of at least 3
characters, a number of at least 2 digits) occurs in the earlier call's result. A run of such calls, each
independent of every earlier one, would take its longest call's latency issued at once instead of their
sum: `saving_s = Σ latency − max latency` per run (an upper bound on what parallel issue saves, since it
keeps the gaps the agent spent in between).
"""

from __future__ import annotations

from typing import Any, Iterator

import orjson
import polars as pl

from bpaste_cli.safety import SafetyTable, load_safety
from bpaste_cli.trace import Dataset

NO_THINK_S = 1.0  # an LLM window this short emitted the next call without thinking


def _dur() -> pl.Expr:
    return pl.col("t_end") - pl.col("t_start")


def batch_stalls(events: pl.DataFrame) -> pl.DataFrame:
    """One row per (session, batch) of tool calls: its stall and the tool (and `seq`) the agent waited for last.

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
        .agg(first=pl.col("t_start").max(), last=pl.col("t_end").max(), calls=pl.len(), last_tool=pl.col("tool").last(),
             last_seq=pl.col("seq").last())
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


def _values(args_json: str | None) -> list[str]:
    """The argument values data could have flowed into: strings of >= 3 characters, numbers of >= 2 digits."""
    try:
        stack = [orjson.loads(args_json)] if args_json else []
    except orjson.JSONDecodeError:
        return [args_json] if args_json and len(args_json) >= 3 else []
    out = []
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str) and len(v.strip()) >= 3:
            out.append(v.strip())
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and len(str(abs(v))) >= 2:
            out.append(str(v))
    return out


def _runs(rows: list[dict[str, Any]], safety: SafetyTable) -> Iterator[list[float]]:
    """The latencies of each run (>= 2 calls) of independent sequential read-only calls in one session's rows."""
    run: list[dict[str, Any]] = []
    think: dict[int, float] = {}
    prev: dict[str, Any] | None = None
    for r in rows:
        if r["kind"] == "llm":
            think[r["step"]] = r["t_end"] - r["t_start"]
            continue
        if r["kind"] != "tool":
            if len(run) >= 2:
                yield [x["t_end"] - x["t_start"] for x in run]
            run, prev = [], None
            continue
        ok = safety.classify(r["tool"], r["args_json"]).safety == "read-only"
        chained = ok and prev is not None and run and r["t_start"] >= prev["t_end"] and (
            r["step"] == prev["step"] or r["step"] == prev["step"] + 1 and think.get(r["step"], 1e9) <= NO_THINK_S)
        if chained:
            values = _values(r["args_json"])
            chained = not any(v in (x["result_text"] or "") for x in run for v in values)
        if chained:
            run.append(r)
        else:
            if len(run) >= 2:
                yield [x["t_end"] - x["t_start"] for x in run]
            run = [r] if ok else []
        prev = r
    if len(run) >= 2:
        yield [x["t_end"] - x["t_start"] for x in run]


def independent_sequential(dataset: Dataset, safety: SafetyTable) -> dict[str, Any]:
    """Runs of read-only calls issued one after another that were independent, and the time issuing each run
    at once would save (see the module docstring for the definition)."""
    timed = dataset.sessions.filter(pl.col("timed"))["session_id"].implode()
    ev = (dataset.events.filter(pl.col("session_id").is_in(timed) & pl.col("t_start").is_not_null()
                                & pl.col("t_end").is_not_null())
          .sort("session_id", "seq").select("session_id", "kind", "step", "tool", "args_json", "result_text", "t_start", "t_end"))
    runs = []
    for (sid,), part in ev.group_by("session_id", maintain_order=True):
        for lat in _runs(part.to_dicts(), safety):
            runs.append({"session_id": sid, "calls": len(lat), "sum_s": sum(lat), "max_s": max(lat)})
    if not runs:
        return {"runs": 0, "calls": 0, "saving_s": 0.0}
    agg = pl.DataFrame(runs).select(runs=pl.len(), calls=pl.col("calls").sum(),
                                    saving_s=(pl.col("sum_s") - pl.col("max_s")).sum()).to_dicts()[0]
    return {"runs": int(agg["runs"]), "calls": int(agg["calls"]), "saving_s": float(agg["saving_s"])}


def compute_stats(dataset: Dataset, safety: SafetyTable | None = None, top_unclassified: int = 10) -> dict[str, Any]:
    """The summary `bpaste stats` prints (see the module docstring for definitions), with the safety coverage
    under `safety` (default: the built-in table)."""
    from bpaste_cli.coverage import safety_coverage  # coverage builds on batch_stalls here

    safety = safety or load_safety()
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
        "independent_sequential": (ind := independent_sequential(dataset, safety))
        | {"share_of_agent_time": ind["saving_s"] / agent if agent > 0 else None},
        "tools": tool_rows.to_dicts(),
    } | safety_coverage(dataset, safety, top=top_unclassified)
