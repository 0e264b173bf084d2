"""Dataset frames -> replayable sessions: each timed session becomes a `SessionTrace` of `Node`s.

Built once per session and replayed by every arm: each logged event with its logged interval, safety
and resource class, its step, and the indexes replay needs (calls by step, invalidation epochs, servable
calls by identity). Sessions that cannot be timed are counted by reason, never replayed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Iterable

import polars as pl

from bpaste_cli.gcpause import collection_paused
from bpaste_cli.mine import Event
from bpaste_cli.mine.api import new_event
from bpaste_cli.safety import INVALIDATING, SafetyTable


@dataclass(slots=True)
class Node:
    """One logged event, with what replay needs to know about it."""

    index: int  # position in the session (seq order)
    kind: str
    logged_start: float
    logged_end: float
    step: int
    tool: str | None
    key: tuple[str, str] | None
    safety: str
    resource: str
    servable: bool  # a speculative job may serve it: allowed safety class and a logged result
    event: Event
    duration: float = 0.0  # logged_end - logged_start
    invalidates: bool = False  # the first call of a batch that holds a mutating or unknown call
    fresh_result: bool = False  # servable and in no invalidating batch: its result may be served again


@dataclass
class SessionTrace:
    """A timed session ready for replay (built once, replayed by every arm)."""

    session_id: str
    nodes: list[Node]
    agent_time: float
    wall: float
    human: float
    epoch_of_step: list[int]  # invalidating batches among steps <= this one
    invalidating_step: list[bool]
    first_tool_of_step: dict[int, int]
    occurrences: dict[tuple[str, str], list[int]]  # servable calls by key, in seq order
    calls_by_step: list[list[int]]
    # the input front, fixed by the log (see `input_fronts`): per node, the earlier nodes whose logged end it is
    # the first to reach, and the latest logged end among all it has reached
    released: list[tuple[int, ...]] = field(default_factory=list)
    logged_front: list[float] = field(default_factory=list)
    tool_calls: dict[str, int] = field(default_factory=dict)  # real calls per tool, in order of first call

    def epoch_before(self, step: int) -> int:
        return self.epoch_of_step[step - 1] if step > 0 else 0


SKIP_REASONS = ("untimed", "incomplete_times", "no_events")  # why a session cannot be replayed in time


SESSION_COLUMNS = ("session_id", "timed", "agent_time_s", "wall_s", "human_wait_s")  # what `prepare` reads of a session
ROW_COLUMNS = ("kind", "step", "tool", "args_json", "args_hash", "result_text", "result_hash", "status", "t_start",
               "t_end", "text")  # what a Node and its Event are made of, in `_trace`'s unpacking order


def prepare(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    safety: SafetyTable,
    allowed: frozenset[str],
    session_ids: Iterable[str] | None = None,
) -> tuple[list[SessionTrace], dict[str, int]]:
    """Timed sessions as SessionTraces, and counts of sessions that cannot be replayed in time, by reason.

    Which sessions are replayable, and where each one's rows are, is worked out by polars over the whole
    chunk; Python then walks each replayable session's rows once, as tuples, with the cyclic garbage
    collector paused (`gcpause.collection_paused`)."""
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    if session_ids is not None:
        wanted = pl.Series("session_id", list(session_ids), dtype=pl.String).unique()
        events = events.filter(pl.col("session_id").is_in(wanted.implode()))
    events = events.sort("session_id", "seq")
    spans = (
        events.group_by("session_id", maintain_order=True)
        .agg(n=pl.len(), incomplete=(pl.col("t_start").is_null() | pl.col("t_end").is_null()).any())
        .join(sessions.select(SESSION_COLUMNS)
              .unique("session_id", keep="last", maintain_order=True), on="session_id", how="left", maintain_order="left")
    )
    if session_ids is not None:
        skipped["no_events"] = wanted.len() - spans.height
    columns = [events[c].to_list() for c in ROW_COLUMNS]
    traces: list[SessionTrace] = []
    lo = 0
    with collection_paused():
        for sid, n, incomplete, timed, agent, wall, human in spans.iter_rows():
            if not timed or agent is None:
                skipped["untimed"] += 1
            elif incomplete:
                skipped["incomplete_times"] += 1
            else:
                rows = zip(*(column[lo : lo + n] for column in columns))
                traces.append(_trace(sid, rows, agent, wall, human, safety, allowed))
            lo += n
    return traces, skipped


def _trace(sid, rows, agent, wall, human, safety, allowed) -> SessionTrace:
    """One session's rows (in seq order, every one timed) as a SessionTrace."""
    nodes: list[Node] = []
    calls: list[Node] = []
    tool_calls: dict[str, int] = {}
    n_steps = 0
    for index, (kind, step, tool, args_json, args_hash, result_text, result_hash, status, s, e, text) in enumerate(rows):
        key = None
        safe, res, servable = "", "", False
        if kind == "tool":
            key = (tool, args_hash)
            cls = safety.classify(tool, args_json)
            safe, res = cls.safety, cls.resource
            servable = safe in allowed and status is not None
            tool_calls[tool] = tool_calls.get(tool, 0) + 1
        elif kind == "llm" and step is not None and step >= n_steps:
            n_steps = step + 1
        ev = new_event(kind, step if step is None or step >= 0 else None, tool, args_json, args_hash, result_text,
                       result_hash, status, text)
        nd = Node(index, kind, s, e, -1 if step is None else step, tool, key, safe, res, servable, ev, e - s)
        nodes.append(nd)
        if key is not None:
            calls.append(nd)
    calls_by_step: list[list[int]] = [[] for _ in range(n_steps)]
    invalid = [False] * n_steps
    first_tool: dict[int, int] = {}
    occ: dict[tuple[str, str], list[int]] = {}
    calls = [nd for nd in calls if 0 <= nd.step < n_steps]
    for nd in calls:
        calls_by_step[nd.step].append(nd.index)
        first_tool.setdefault(nd.step, nd.index)
        if nd.safety in INVALIDATING:
            invalid[nd.step] = True
        if nd.servable:
            occ.setdefault(nd.key, []).append(nd.index)
    for step, i in first_tool.items():
        nodes[i].invalidates = invalid[step]
    for nd in calls:
        nd.fresh_result = nd.servable and not invalid[nd.step]
    epoch, acc = [], 0
    for flag in invalid:
        acc += flag
        epoch.append(acc)
    released, front = input_fronts(nodes)
    return SessionTrace(sid, nodes, agent, wall, human, epoch, invalid, first_tool, occ, calls_by_step,
                        released, front, tool_calls)


NOTHING: tuple[int, ...] = ()


def input_fronts(nodes: list[Node]) -> tuple[list[tuple[int, ...]], list[float]]:
    """Which inputs each node adds to the replay's input front, and the front's logged time there.

    A node's inputs are the earlier nodes whose logged end is at or before its logged start, and the front
    only grows (node by node, in seq order), so which nodes join it at each node, and the latest logged end
    among its members, depend on the log alone: computed once, every arm's replay only takes the maximum of
    the joiners' replayed ends."""
    heap: list[tuple[float, int]] = []
    released: list[tuple[int, ...]] = []
    front: list[float] = []
    flog = 0.0
    for nd in nodes:
        out = []
        while heap and heap[0][0] <= nd.logged_start:
            el, j = heapq.heappop(heap)
            if el > flog:
                flog = el
            out.append(j)
        released.append(tuple(out) if out else NOTHING)
        front.append(flog)
        heapq.heappush(heap, (nd.logged_end, nd.index))
    return released, front
