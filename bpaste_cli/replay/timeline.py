"""Chrome / Perfetto trace JSON of replayed sessions (open in ui.perfetto.dev or chrome://tracing).

One process per (arm, session); threads: LLM think windows, authoritative tool lanes (parallel calls get
their own lanes), human waits, speculative lanes. A flow arrow runs from each speculative job to the real
call it served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bpaste_cli.fsutil import atomic_write_bytes
from bpaste_cli.replay.engine import SessionResult
from bpaste_cli.replay.traces import SessionTrace

TID_LLM, TID_HUMAN, TID_TOOL, TID_SPEC = 1, 2, 10, 100


def assign_lane(lanes: list[float], start: float, end: float) -> int:
    """The first lane free at `start` (a new one if none), marked busy until `end`."""
    for i, free in enumerate(lanes):
        if free <= start:
            lanes[i] = end
            return i
    lanes.append(end)
    return len(lanes) - 1


def timeline_events(runs: list[tuple[str, SessionTrace, SessionResult]]) -> list[dict[str, Any]]:
    """Trace events for each (arm, trace, result) that kept its jobs and times."""
    out: list[dict[str, Any]] = []
    flow = 0
    for pid, (arm, trace, res) in enumerate(runs, start=1):
        if res.times is None or res.jobs is None:
            continue
        out.append({"ph": "M", "pid": pid, "name": "process_name", "args": {"name": f"{arm} · {trace.session_id}"}})
        for tid, name in ((TID_LLM, "LLM"), (TID_HUMAN, "human wait")):
            out.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})
        tool_lanes: list[float] = []
        call_at: dict[int, tuple[int, float]] = {}
        for nd, (s, e) in zip(trace.nodes, res.times):
            if nd.kind == "llm":
                tid, name = TID_LLM, f"think step {nd.step}"
            elif nd.kind == "user":
                tid, name = TID_HUMAN, "human wait"
            else:
                tid, name = TID_TOOL + assign_lane(tool_lanes, s, e), nd.tool or "tool"
                call_at[nd.index] = (tid, s)
            out.append({"ph": "X", "pid": pid, "tid": tid, "name": name, "ts": s * 1e6, "dur": max(e - s, 0) * 1e6,
                        "args": {"seq": nd.index, "logged_start_s": nd.logged_start, "logged_end_s": nd.logged_end}})
        for i in range(len(tool_lanes)):
            out.append({"ph": "M", "pid": pid, "tid": TID_TOOL + i, "name": "thread_name", "args": {"name": f"tools {i}"}})
        spec_lanes: list[float] = []
        for job in res.jobs:
            if not job.started:
                continue
            tid = TID_SPEC + assign_lane(spec_lanes, job.start, job.end)
            outcome = ("reuse" if job.completed else "in-flight") if job.state == "served" else "waste"
            out.append({"ph": "X", "pid": pid, "tid": tid, "name": f"spec {job.tool} ({outcome})", "ts": job.start * 1e6,
                        "dur": max(job.end - job.start, 0) * 1e6,
                        "args": {"prob": job.prob, "depth": job.depth, "decision_step": job.decision}})
            if job.state == "served" and job.served_node in call_at:
                flow += 1
                ctid, cts = call_at[job.served_node]
                out.append({"ph": "s", "pid": pid, "tid": tid, "id": flow, "name": "serves", "cat": "spec", "ts": job.start * 1e6})
                out.append({"ph": "f", "bp": "e", "pid": pid, "tid": ctid, "id": flow, "name": "serves", "cat": "spec", "ts": cts * 1e6})
        for i in range(len(spec_lanes)):
            out.append({"ph": "M", "pid": pid, "tid": TID_SPEC + i, "name": "thread_name", "args": {"name": f"speculative {i}"}})
    return out


def write_timeline(path: Path, runs: list[tuple[str, SessionTrace, SessionResult]]) -> int:
    """Write the trace JSON; returns the number of trace events."""
    events = timeline_events(runs)
    atomic_write_bytes(Path(path), orjson.dumps({"traceEvents": events, "displayTimeUnit": "ms"}))
    return len(events)
