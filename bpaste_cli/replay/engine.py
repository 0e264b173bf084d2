"""Discrete-event replay of one logged session in virtual time, with speculative jobs.

Timing model (exact for the serial arm by construction). Every event is a node with its logged interval
[s, e]. Nodes are processed in seq order; a node's inputs are every earlier node whose logged end is
<= its logged start (what it had seen). Its replayed start is the latest replayed end of those inputs
plus the node's own logged residual gap (`s - max logged input end`), i.e. the node starts when its
inputs are complete, exactly as logged when nothing changes. Durations are kept for human waits (user
events: turns, idle gaps, approvals) and think windows; tools take their logged latency unless a
speculative job serves them. Everything is kept as a *delay* against the log, so when nothing changes the
replayed times are bit-for-bit the logged ones and the replayed agent time (wall - human wait) equals
`sessions.agent_time_s` exactly.

Speculation. At each decision point (an LLM step's replayed think start) the arm launches speculative
jobs. A job serves a real call only on exact identity (tool + args_hash) when it has started before the
call is emitted, was planned in the same invalidation epoch (no mutating/unknown call in between) and
has not expired (TTL after finishing; per tool from the safety table's `ttl_s`, else the replay's global
TTL): finished -> completed reuse (latency 0); running -> in-flight
promotion (the call ends when the job does). Its duration is the logged latency of the real call it
serves (planned as the first unserved identical servable call from the decision step on, in the same
epoch; if another identical call of that epoch takes it, that call's latency is used instead); a job
that matches no such call never serves, runs for the tool's typical latency, and is waste.
Speculative jobs slow authoritative think windows and tool runs through the device's interference
coefficients (first order: coefficient x overlap with the unstretched interval, from the jobs known
when the interval starts).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, Callable, Protocol

from bpaste_cli.device import Device
from bpaste_cli.mine import Candidate, Event
from bpaste_cli.replay.traces import Node, SessionTrace

INF = float("inf")


@dataclass(slots=True)
class Job:
    """A speculative call: planned at a decision point, started at `start`, finished at `finish`."""

    key: tuple[str, str]
    tool: str
    resource: str
    start: float
    finish: float
    end: float  # when it stops being speculative work (finish, promotion or cancellation)
    prob: float
    depth: int
    decision: int  # step of the decision point that planned it
    target: int  # node index of the real call it would serve, -1 if none (waste)
    bound: bool = True  # False: an ancestor matched no real call, so its arguments are unknown (waste)
    state: str = "pending"  # pending | served | cancelled
    served_node: int = -1
    completed: bool = False  # served after finishing (reuse) rather than in flight (promotion)
    cancel_t: float = INF
    cached: bool = False  # an earlier real result served again (a result cache), not a new run

    @property
    def started(self) -> bool:
        """It ran at all: served, or cancelled only after its start."""
        return self.state == "served" or self.cancel_t > self.start


class Planner(Protocol):
    """An arm: launches speculative jobs at each decision point through its context's `launch`."""

    name: str
    needs_predictor: bool

    def plan(self, ctx: Any) -> None: ...


@dataclass(slots=True)
class ToolCounts:
    """What one arm did to the calls of one tool in one session."""

    calls: int = 0
    hits: int = 0
    inflight_promotions: int = 0
    tool_stall_hidden_s: float = 0.0
    spec_started: int = 0
    wasted_spec_s: float = 0.0

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its values (a worker sends every session's counts back): unpickled in a sixth of the default's time."""
        return ToolCounts, tool_values(self)


TOOL_FIELDS = tuple(f.name for f in fields(ToolCounts))
tool_values = attrgetter(*TOOL_FIELDS)  # a ToolCounts' values, in TOOL_FIELDS order


@dataclass
class SessionResult:
    """What one arm did to one session."""

    session_id: str
    serial_s: float
    agent_s: float
    human_s: float
    real_calls: int = 0
    hits: int = 0
    promotions: int = 0
    hidden_s: float = 0.0
    spec_started: int = 0
    wasted_s: float = 0.0
    interference_s: float = 0.0
    per_tool: dict[str, ToolCounts] = field(default_factory=dict)
    jobs: list[Job] | None = None  # kept only for timelines
    times: list[tuple[float, float]] | None = None

    @property
    def misses(self) -> int:
        return self.real_calls - self.hits - self.promotions

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its values, in field order (a worker sends every session's results back)."""
        return SessionResult, _result_values(self)


_result_values = attrgetter(*(f.name for f in fields(SessionResult)))


class Sim:
    """The replay of one session under one arm; in virtual time, the arms' `PlanningContext`
    (`replay.context`): `now` is the replayed think start of the current decision point."""

    def __init__(
        self,
        trace: SessionTrace,
        device: Device,
        *,
        ttl: float = INF,
        tool_ttl: Callable[[str], float | None] | None = None,
        slots: int | None = None,
        source: Any = None,
        classify: Callable[[str, str], Any] | None = None,
        latency: Callable[[str], float] | None = None,
        hide_all_tools: bool = False,
        keep_jobs: bool = False,
    ) -> None:
        self.trace = trace
        self.device = device
        self.ttl = ttl
        self.tool_ttl = tool_ttl  # a tool's own TTL (None: the global one)
        self._ttls: dict[str, float] = {}
        self._linear: dict[str, Any] = {}  # per target: its interference coefficients, or False under a measured curve
        self.results: dict[tuple[str, str], float] = {}  # servable key -> replayed end of its last real call, this epoch
        self.slots = device.slots if slots is None else slots
        self.source = source  # a PredictionSource, for arms that ask a predictor
        self.decision_node = 0
        self.classify = classify
        self.latency = latency
        self.hide_all_tools = hide_all_tools
        self.keep_jobs = keep_jobs
        self.pool: dict[tuple[str, str], list[Job]] = {}
        self.jobs: list[Job] = []
        self.active: list[Job] = []  # jobs that may still overlap authoritative work
        self.claimed: set[int] = set()
        self.served: set[int] = set()
        self.step = 0
        self.now = 0.0
        self.interference_s = 0.0

    # -- the planning context (what arms use) ----------------------------------------------------

    def predict(self, k: int, path: tuple = (), at_least: float = 0.0) -> tuple[Candidate, ...]:
        """The predictor's top-k at the current decision point, after a hypothetical `path`."""
        return self.source.predict(self.step, self.decision_node, k, path, at_least)

    def known_result(self, key: tuple[str, str]) -> Event | None:
        """The result a speculative call of `key` planned now would return, as far as it can be known before
        it runs: the logged result of the real call it would serve (None when it would serve none)."""
        i = self.match(key, self.step)
        return self.trace.nodes[i].event if i >= 0 else None

    def match(self, key: tuple[str, str], step: int) -> int:
        """The real call a job planned at decision `step` for `key` would serve, or -1."""
        tr = self.trace
        occurrences = tr.occurrences.get(key)
        if occurrences is None:
            return -1
        epochs = tr.epoch_of_step
        ep = epochs[step - 1] if step > 0 else 0
        nodes, claimed, served = tr.nodes, self.claimed, self.served
        for i in occurrences:
            nd = nodes[i]
            if nd.step < step or i in claimed or i in served:
                continue
            return i if epochs[nd.step] == ep else -1
        return -1

    def ttl_of(self, tool: str) -> float:
        """How long a finished result of `tool` stays valid: its own TTL, else the global one."""
        ttl = self._ttls.get(tool)
        if ttl is None:
            own = self.tool_ttl(tool) if self.tool_ttl is not None else None
            ttl = self._ttls[tool] = self.ttl if own is None else own
        return ttl

    def pending(self, key: tuple[str, str]) -> bool:
        """A live or reusable job for `key` exists now (so launching another would duplicate it)."""
        jobs = self.pool.get(key)
        if not jobs:
            return False
        now = self.now
        ttl = self.ttl_of(key[0])
        for job in jobs:
            if job.state == "pending" and job.bound and job.finish + ttl >= now:
                return True
        return False

    def load(self) -> tuple[int, float]:
        """(speculative jobs occupying a slot now or later, their memory in GB)."""
        busy, mem = 0, 0.0
        now = self.now
        jm = self.device.job_memory_gb
        for job in self.active:
            if job.state == "pending" and job.end > now:
                busy += 1
                mem += jm[job.resource]
        return busy, mem

    def launch(
        self, key: tuple[str, str], tool: str, resource: str, prob: float, depth: int, *,
        after: Job | None = None, bound: bool = True,
    ) -> Job:
        """Start a speculative call now, or when the job `after` (its parent in a beam) finishes."""
        return self.start_job(key, tool, resource, after.finish if after is not None else self.now, prob, depth, None, bound)

    # -- the simulator's own scheduling ----------------------------------------------------------

    def start_job(
        self,
        key: tuple[str, str],
        tool: str,
        resource: str,
        start: float,
        prob: float,
        depth: int,
        target: int | None = None,
        bound: bool = True,
        duration: float | None = None,
        cached: bool = False,
    ) -> Job:
        """Start a speculative job at `start` for the real call `target` (None: the one it would serve, by
        `match`); its duration is the served call's logged latency, else the tool's typical latency
        (`duration` overrides both; `cached`: an earlier real result served again, at hand from `start`)."""
        step = self.step
        if target is None:
            target = self.match(key, step) if bound else -1
        if target >= 0:
            dur = self.trace.nodes[target].duration if duration is None else duration
            self.claimed.add(target)
        else:
            dur = duration if duration is not None else self.latency(tool) if self.latency else 0.0
        finish = start + dur
        job = Job(key, tool, resource, start, finish, finish, prob, depth, step, target, bound, "pending", -1,
                  False, INF, cached)
        pool = self.pool
        jobs = pool.get(key)
        if jobs is None:
            pool[key] = [job]
        else:
            jobs.append(job)
        self.jobs.append(job)
        self.active.append(job)
        return job

    # -- the loop --------------------------------------------------------------------------------

    def _cancel(self, job: Job, t: float) -> None:
        job.state = "cancelled"
        job.cancel_t = t
        job.end = max(job.start, min(job.finish, t))
        if job.target >= 0:
            self.claimed.discard(job.target)

    def _invalidate(self, t: float) -> None:
        pool = self.pool
        if pool:
            for jobs in pool.values():
                for job in jobs:
                    if job.state == "pending":
                        self._cancel(job, t)
            pool.clear()
        self.results.clear()

    def _authoritative_end(self, target: str, nd: Node, start: float, shift: float) -> float:
        """When authoritative work started at `start` ends: its logged end, shifted, plus what the speculative
        jobs overlapping [start, start + duration] add (counted in `interference_s`): linear in the jobs
        running (coefficient per job), or, with a measured curve, the integral over the interval of
        sum over classes of (slowdown(k_class(t)) - 1)."""
        active = self.active
        if not active:
            return nd.logged_end + shift
        x = start
        y = start + nd.duration
        extra = 0.0
        if y > x:
            coef = self._linear.get(target)
            if coef is None:
                coef = self._linear[target] = False if self.device.curve.get(target) else self.device.interference[target]
            if coef is False:
                extra = self._curve_interference(target, x, y)
            else:
                for job in active:
                    lo = job.start if job.start > x else x
                    hi = job.end if job.end < y else y
                    if hi > lo:
                        extra += coef[job.resource] * (hi - lo)
        self.interference_s += extra
        return nd.logged_end + shift + extra

    def _curve_interference(self, target: str, x: float, y: float) -> float:
        edges = []
        for job in self.active:
            lo = job.start if job.start > x else x
            hi = job.end if job.end < y else y
            if hi > lo:
                edges += ((lo, 1, job.resource), (hi, -1, job.resource))
        edges.sort(key=lambda e: (e[0], e[1]))
        counts: dict[str, int] = {}
        extra, t = 0.0, x
        for when, step, resource in edges:
            if when > t:
                extra += sum(self.device.slowdown(target, c, n) - 1.0 for c, n in counts.items() if n) * (when - t)
            t = when
            counts[resource] = counts.get(resource, 0) + step
        return extra

    def _serve(self, nd: Node, a: float) -> Job | None:
        jobs = self.pool.get(nd.key)
        if not jobs:
            return None
        ttl = self.ttl_of(nd.tool)
        # the job planned for this very call first, then any other identical one of the same epoch
        for job in sorted(jobs, key=lambda j: j.target != nd.index) if len(jobs) > 1 else jobs:
            if job.state != "pending" or job.target < 0:
                continue
            if job.start > a:  # the agent asked first: the planned job is pointless
                self._cancel(job, job.start)
                continue
            if job.finish + ttl < a:  # expired unused
                self._cancel(job, job.finish)
                continue
            if job.target != nd.index:
                # an identical call of the same epoch: its result and latency are this call's logged ones
                self.claimed.discard(job.target)
                job.target = nd.index
                if not job.cached:  # a cached result stays at hand
                    job.finish = job.end = job.start + (nd.logged_end - nd.logged_start)
                if job.finish + ttl < a:
                    self._cancel(job, job.finish)
                    continue
            job.state = "served"
            job.served_node = nd.index
            job.completed = job.finish <= a
            if not job.completed:
                job.end = a
            self.served.add(nd.index)
            return job
        return None

    def run(self, planner: Planner | None) -> SessionResult:
        tr = self.trace
        ends = [0.0] * len(tr.nodes)  # replayed end of each node
        released, front = tr.released, tr.logged_front
        frep = 0.0
        wall_rep = 0.0
        res = SessionResult(tr.session_id, tr.agent_time, tr.agent_time, tr.human)
        per_tool = res.per_tool
        real_calls = 0
        for tool, n in tr.tool_calls.items():
            per_tool[tool] = ToolCounts(n)
            real_calls += n
        res.real_calls = real_calls
        times: list[tuple[float, float]] | None = [] if self.keep_jobs else None
        hide_all = self.hide_all_tools
        results = self.results
        pool = self.pool
        plan = planner.plan if planner is not None else None
        for nd in tr.nodes:
            i = nd.index
            for j in released[i]:
                if ends[j] > frep:
                    frep = ends[j]
            shift = frep - front[i]
            s_rep = nd.logged_start + shift
            kind = nd.kind
            if kind == "llm":
                self.step = nd.step
                self.decision_node = i
                self.now = s_rep
                if self.active:
                    self.active = [j for j in self.active if j.end > s_rep]
                if plan is not None:
                    plan(self)
                e_rep = self._authoritative_end("llm", nd, s_rep, shift) if self.active else nd.logged_end + shift
            elif kind == "tool":
                if nd.invalidates:
                    self._invalidate(s_rep)
                job = self._serve(nd, s_rep) if nd.servable and nd.key in pool else None
                if job is not None:
                    t = per_tool[nd.tool]
                    e_rep = s_rep if job.completed else job.finish
                    hidden = nd.duration - (e_rep - s_rep)
                    res.hidden_s += hidden
                    t.tool_stall_hidden_s += hidden
                    if job.completed:
                        res.hits += 1
                        t.hits += 1
                    else:
                        res.promotions += 1
                        t.inflight_promotions += 1
                elif hide_all:
                    e_rep = s_rep
                elif self.active:
                    e_rep = self._authoritative_end("tool", nd, s_rep, shift)
                else:
                    e_rep = nd.logged_end + shift
                if nd.fresh_result and (job is None or not job.cached):
                    results[nd.key] = e_rep  # fresh results only; a batch that also mutates may change what it read
            else:
                e_rep = nd.logged_end + shift
            ends[i] = e_rep
            if e_rep > wall_rep:
                wall_rep = e_rep
            if times is not None:
                times.append((s_rep, e_rep))
        self._invalidate(wall_rep)  # the session is over: whatever is still speculative is waste
        for job in self.jobs:
            if job.state != "served" and job.cancel_t <= job.start:  # never ran (`Job.started`)
                continue
            res.spec_started += 1
            t = per_tool.get(job.tool)
            if t is None:
                t = per_tool[job.tool] = ToolCounts()
            t.spec_started += 1
            if job.state != "served":
                res.wasted_s += job.end - job.start
                t.wasted_spec_s += job.end - job.start
        res.interference_s = self.interference_s
        res.agent_s = tr.agent_time + (wall_rep - tr.wall)
        if self.keep_jobs:
            res.jobs = self.jobs
            res.times = times
        return res
