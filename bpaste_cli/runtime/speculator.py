"""The Speculator: an agent's real tool calls go through it; a policy's speculative calls are served on identity.

`await spec.call(session, tool, args)` runs the call with `executor(tool, args)` unless a speculative call
of the same identity can serve it: same tool and canonical arguments (`trace.canonical`), same session,
same invalidation epoch, not expired (the policy's TTL after it finished). A finished one is returned at
once (completed reuse), a running one is awaited (in-flight promotion); an error result never serves,
and a result never crosses sessions. Real calls never wait for speculative capacity: speculative jobs
have their own limit (the policy's slots), real calls another (`real_limit`, default none).

A decision point is the moment the last result of a batch of concurrent calls has been returned (the
model now thinks): the session's predictor cursor observes the batch, then `runtime.planning` plans
speculative calls through the policy's arm. A call whose safety class is mutating or unknown (the
policy's table, made stricter by `hint`, never looser) opens a new epoch: pending speculation of the
session is cancelled where it still runs and never served. Any exception inside planning or
speculation is logged and the real call proceeds (fail-open).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

import orjson

from bpaste_cli.fsutil import atomic_write_bytes
from bpaste_cli.mine import Event
from bpaste_cli.runtime.runlog import RunLog, visible_args_json, visible_result
from bpaste_cli.safety import INVALIDATING, CallClass, SafetyTable, load_safety
from bpaste_cli.trace import args_hash, canonical_json, result_to_text, short_hash

log = logging.getLogger("bpaste.runtime")

Executor = Callable[[str, Any], Awaitable[Any]]
COUNTER_KEYS = ("real_calls", "hits", "completed_reuse", "inflight_promotions", "misses", "speculative_starts",
                "cancelled", "wasted_s", "amplification")


class ResultView:
    """How the Speculator reads a tool's result: its text (predictor, log) and whether it may be served.
    The default takes any returned value as a success; `runtime.proxy` knows MCP's `isError`."""

    def text(self, result: Any) -> str:
        return result_to_text(result)

    def servable(self, result: Any) -> bool:
        return True

    def status(self, result: Any) -> str:
        return "ok" if self.servable(result) else "error"


@dataclass
class Counters:
    """What speculation did, for one session or overall."""

    real_calls: int = 0
    completed_reuse: int = 0
    inflight_promotions: int = 0
    speculative_starts: int = 0
    cancelled: int = 0
    wasted_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        hits = self.completed_reuse + self.inflight_promotions
        return {
            "real_calls": self.real_calls, "hits": hits, "completed_reuse": self.completed_reuse,
            "inflight_promotions": self.inflight_promotions, "misses": self.real_calls - hits,
            "speculative_starts": self.speculative_starts, "cancelled": self.cancelled,
            "wasted_s": round(self.wasted_s, 6),
            "amplification": self.speculative_starts / self.real_calls if self.real_calls else 0.0,
        }


@dataclass(eq=False)
class SpecJob:
    """One speculative call: started at a decision point (or when its beam parent finished)."""

    session: str
    tool: str
    args: Any
    args_json: str
    key: tuple[str, str]
    epoch: int
    prob: float
    depth: int
    resource: str
    t_start: float
    task: asyncio.Task | None = None
    t_finish: float | None = None
    result: Any = None
    ok: bool = False
    claimed: bool = False  # a real call took it (served, or awaiting it)
    closed: bool = False  # its outcome is accounted
    on_done: list[Callable[[SpecJob], None]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.t_finish is None


@dataclass
class RealCall:
    """One real call of the current batch, as the predictor will observe it."""

    tool: str
    args_json: str  # what a dataset holds (scrubbed)
    text: str | None = None
    status: str | None = None


@dataclass
class SessionState:
    id: str
    cursor: Any  # the policy predictor's cursor (None without a policy)
    counters: Counters = field(default_factory=Counters)
    epoch: int = 0
    step: int = -1
    inflight: int = 0
    batch: list[RealCall] = field(default_factory=list)
    jobs: dict[tuple[str, str], SpecJob] = field(default_factory=dict)
    batch_end: float | None = None  # when the last batch's last result was returned


class Speculator:
    """See the module docstring. `policy` is a loaded `bpaste_cli.policy.Policy`, or None: then nothing is
    speculated and the Speculator only counts and logs (a pass-through)."""

    def __init__(
        self,
        policy: Any | None,
        executor: Executor | None = None,
        *,
        view: ResultView | None = None,
        hint: Callable[[str], str | None] | None = None,
        log_path: Path | None = None,
        summary_path: Path | None = None,
        real_limit: int | None = None,
        keep_secrets: bool = False,
    ) -> None:
        self.policy = policy
        self._executor = executor
        self._tools: dict[str, Callable[..., Any]] = {}
        self.view = view or ResultView()
        self.hint = hint
        self.safety: SafetyTable = policy.safety if policy is not None else load_safety()
        params = policy.parameters if policy is not None else {}
        self.allowed = frozenset(params.get("allowed", ())) if policy is not None else frozenset()
        self.ttl = float(params.get("ttl_s", 60.0))
        self.keep_secrets = keep_secrets
        self.sessions: dict[str, SessionState] = {}
        self.total = Counters()
        self.spec_running = 0
        self.occupying: dict[int, SpecJob] = {}  # running, not yet accounted: the jobs that hold a slot (by id)
        self._real_sem = asyncio.Semaphore(real_limit) if real_limit else None
        self._ids = itertools.count(1)
        self._offset = time.time() - time.perf_counter()
        self.runlog = RunLog(log_path, keep_secrets=keep_secrets) if log_path is not None else None
        self.summary_path = summary_path
        self.closed = False
        self.planner = None
        if policy is not None:
            from bpaste_cli.runtime.planning import LivePlanner

            self.planner = LivePlanner(policy, self)

    # -- time and sessions -----------------------------------------------------------------------

    def now(self) -> float:
        """Epoch seconds from a monotonic clock."""
        return self._offset + time.perf_counter()

    def session(self, session_id: str) -> SessionState:
        s = self.sessions.get(session_id)
        if s is None:
            cursor = self.policy.predictor.cursor() if self.policy is not None else None
            s = self.sessions[session_id] = SessionState(session_id, cursor)
        return s

    def classify(self, tool: str, args_json: str | None) -> CallClass:
        """The policy's class of a call, made stricter (never looser) by the tool's hint."""
        cls = self.safety.classify(tool, args_json)
        if self.hint is not None and cls.safety not in INVALIDATING and self.hint(tool) == "mutating":
            return CallClass("mutating", cls.resource)
        return cls

    # -- the agent's real calls ------------------------------------------------------------------

    async def call(self, session_id: str, tool: str, args: Any) -> Any:
        """Run one real call (or serve it from speculation); returns the tool's result, raises its error."""
        if self.closed:
            raise RuntimeError("the Speculator is closed")
        t0 = self.now()
        s = self.session(session_id)
        if s.inflight == 0:
            self._start_batch(s, t0)
        s.inflight += 1
        s.counters.real_calls += 1
        self.total.real_calls += 1
        real = RealCall(tool, "")
        s.batch.append(real)
        served: str | None = None
        result: Any = None
        error: BaseException | None = None
        duration: float | None = None
        try:
            try:
                args_json = canonical_json(args)
                real.args_json = args_json if self.keep_secrets else visible_args_json(args)
                key = (tool, args_hash(args_json))
                cls = self.classify(tool, args_json)
                if cls.safety in INVALIDATING:
                    self.invalidate(s, t0)
                job = self._reusable(s, key, t0) if cls.safety in self.allowed else None
                if job is not None:
                    result, served = await self._take(s, job)
            except asyncio.CancelledError:
                raise
            except Exception:  # fail-open: speculation must never break a real call
                log.exception("speculation failed for %s; running the real call", tool)
                served = None
            if served is None:
                t_run = self.now()
                try:
                    result = await self._execute(tool, args, real=True)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = exc
                duration = self.now() - t_run
                if self.planner is not None and error is None:
                    self.planner.observe_tool(tool, duration)
            return self._finish_real(s, real, tool, args, t0, result, error, served, duration)
        finally:
            s.inflight -= 1
            if s.inflight == 0:
                self._decision_point(s)

    def _finish_real(self, s: SessionState, real: RealCall, tool: str, args: Any, t0: float, result: Any,
                     error: BaseException | None, served: str | None, duration: float | None) -> Any:
        t1 = self.now()
        if served == "completed_reuse":
            s.counters.completed_reuse += 1
            self.total.completed_reuse += 1
        elif served == "inflight_promotion":
            s.counters.inflight_promotions += 1
            self.total.inflight_promotions += 1
        if error is not None:
            text, status = f"{type(error).__name__}: {error}", "error"
        else:
            try:
                text, status = self.view.text(result), self.view.status(result)
            except Exception:
                log.exception("could not read the result of %s", tool)
                text, status = "", "error"
        real.text = visible_result(text, self.keep_secrets)
        real.status = status
        if self.runlog is not None:
            self.runlog.tool(s.id, call_id=f"c{next(self._ids)}", tool=tool, args=args, t_start=t0, t_end=t1,
                             result=text, status=status, duration=None if served else duration, served=served)
        if error is not None:
            raise error
        return result

    def _start_batch(self, s: SessionState, t: float) -> None:
        s.step += 1
        if self.planner is not None and s.batch_end is not None:
            self.planner.observe_think(t - s.batch_end)
        if self.runlog is not None:
            self.runlog.llm(s.id, t, s.batch_end)

    def _decision_point(self, s: SessionState) -> None:
        """The batch's last result is back. The predictor's observation and the arm's planning run on the
        event loop's next turn, once the result has travelled on (planning is never on a real call's
        path); callbacks run in order, so the cursor sees the batches in order, and a decision point
        that a new batch overtook is observed but not planned (the model is no longer thinking)."""
        now = self.now()
        s.batch_end = now
        batch, s.batch = s.batch, []
        if s.cursor is None or self.planner is None or self.closed:
            return
        asyncio.get_running_loop().call_soon(self._plan_after, s, s.step, batch, now)

    def _plan_after(self, s: SessionState, step: int, batch: list[RealCall], now: float) -> None:
        if self.closed:
            return
        try:
            s.cursor.observe(Event("llm", step=step))
            for c in batch:
                s.cursor.observe(Event("tool", step=step, tool=c.tool, args_json=c.args_json,
                                       args_hash=args_hash(c.args_json), result_text=c.text,
                                       result_hash=short_hash(c.text or ""), status=c.status))
            if s.step == step and s.inflight == 0:
                self.planner.plan(s, now)
        except Exception:
            log.exception("planning failed in session %s; nothing speculated at this decision point", s.id)

    async def _execute(self, tool: str, args: Any, *, real: bool) -> Any:
        if real and self._real_sem is not None:
            async with self._real_sem:
                return await self._run_tool(tool, args)
        return await self._run_tool(tool, args)

    async def _run_tool(self, tool: str, args: Any) -> Any:
        if self._executor is not None:
            return await self._executor(tool, args)
        fn = self._tools.get(tool)
        if fn is None:
            raise KeyError(f"no tool named {tool!r} was wrapped")
        kwargs = args if isinstance(args, dict) else {}
        if inspect.iscoroutinefunction(fn):
            return await fn(**kwargs)
        out = await asyncio.to_thread(fn, **kwargs)
        return await out if inspect.isawaitable(out) else out

    # -- serving ---------------------------------------------------------------------------------

    def ttl_of(self, tool: str) -> float:
        """How long a finished speculative result of `tool` may be served: the safety table's `ttl_s` for the tool,
        else the policy's TTL (as replay's simulator does)."""
        ttl = self.safety.ttl(tool)
        return self.ttl if ttl is None else ttl

    def _reusable(self, s: SessionState, key: tuple[str, str], now: float) -> SpecJob | None:
        job = s.jobs.get(key)
        if job is None or job.claimed or job.closed or job.epoch != s.epoch:
            return None
        if not job.running and (not job.ok or job.t_finish + self.ttl_of(job.tool) < now):
            self._close_job(s, job, "wasted", job.t_finish)
            return None
        return job

    async def _take(self, s: SessionState, job: SpecJob) -> tuple[Any, str | None]:
        job.claimed = True
        kind = "completed_reuse"
        if job.running:
            kind = "inflight_promotion"
            assert job.task is not None
            await asyncio.shield(job.task)
        if job.ok and job.epoch == s.epoch and not job.closed:
            self._close_job(s, job, "served", job.t_finish)
            return job.result, kind
        job.claimed = False
        if not job.closed:
            self._close_job(s, job, "wasted", job.t_finish or self.now())
        return None, None

    # -- speculation -----------------------------------------------------------------------------

    def pending(self, s: SessionState, key: tuple[str, str], now: float) -> bool:
        """A live or reusable speculative job for `key` exists in the session's current epoch."""
        job = s.jobs.get(key)
        if job is None or job.closed or job.claimed or job.epoch != s.epoch:
            return False
        return job.running or (job.ok and job.t_finish + self.ttl_of(job.tool) >= now)

    def launch(self, s: SessionState, tool: str, args_json: str, prob: float, depth: int, resource: str,
               epoch: int | None = None) -> SpecJob | None:
        """Start a speculative call now (None when it would duplicate one, or its epoch has passed)."""
        if self.closed or (epoch is not None and epoch != s.epoch):
            return None
        args = orjson.loads(args_json)
        raw_json = canonical_json(args)
        key = (tool, args_hash(raw_json))
        if self.pending(s, key, self.now()):
            return None
        old = s.jobs.get(key)
        if old is not None and not old.closed and not old.claimed:
            self._close_job(s, old, "wasted", old.t_finish or self.now())
        job = SpecJob(s.id, tool, args, raw_json, key, s.epoch, prob, depth, resource, self.now())
        s.jobs[key] = job
        self.occupying[id(job)] = job
        s.counters.speculative_starts += 1
        self.total.speculative_starts += 1
        self.spec_running += 1
        job.task = asyncio.get_running_loop().create_task(self._run_spec(s, job))
        return job

    async def _run_spec(self, s: SessionState, job: SpecJob) -> None:
        try:
            job.result = await self._execute(job.tool, job.args, real=False)
            job.ok = bool(self.view.servable(job.result))
        except asyncio.CancelledError:
            job.ok = False
            raise
        except Exception as exc:
            log.debug("speculative %s failed: %r", job.tool, exc)
            job.ok = False
        finally:
            job.t_finish = self.now()
            self.spec_running -= 1
            self.occupying.pop(id(job), None)
            if not job.ok and not job.claimed and not job.closed:
                self._close_job(s, job, "wasted", job.t_finish)
            for fn in job.on_done:
                try:
                    fn(job)
                except Exception:
                    log.exception("a speculative follow-up failed in session %s", s.id)

    def _close_job(self, s: SessionState, job: SpecJob, outcome: str, t_end: float) -> None:
        if job.closed:
            return
        job.closed = True
        self.occupying.pop(id(job), None)
        if s.jobs.get(job.key) is job:
            del s.jobs[job.key]
        if outcome != "served":
            lost = max(0.0, t_end - job.t_start)
            s.counters.wasted_s += lost
            self.total.wasted_s += lost
            if outcome == "cancelled":
                s.counters.cancelled += 1
                self.total.cancelled += 1
        if self.runlog is not None:
            self.runlog.speculative(s.id, tool=job.tool, args=job.args, depth=job.depth, prob=job.prob,
                                    t_start=job.t_start, t_end=t_end, outcome=outcome)

    def invalidate(self, s: SessionState, now: float) -> None:
        """A mutating or unknown call: a new epoch; what still runs is cancelled, nothing pending serves."""
        s.epoch += 1
        for job in list(s.jobs.values()):
            self._drop(s, job, now)

    def _drop(self, s: SessionState, job: SpecJob, now: float) -> None:
        if job.closed or job.claimed:
            return
        if job.running:
            if job.task is not None:
                job.task.cancel()
            self._close_job(s, job, "cancelled", now)
        else:
            self._close_job(s, job, "wasted", job.t_finish)

    # -- in-process use --------------------------------------------------------------------------

    def wrap(self, tools: Mapping[str, Callable[..., Any]], session: str = "default") -> dict[str, Callable[..., Awaitable[Any]]]:
        """Async functions with the same names that call through the Speculator (keyword arguments are the
        call's arguments); the originals become its executor when none was given."""
        self._tools.update(tools)

        def through(name: str) -> Callable[..., Awaitable[Any]]:
            async def tool(**kwargs: Any) -> Any:
                return await self.call(session, name, kwargs)

            tool.__name__ = name
            tool.__doc__ = getattr(tools[name], "__doc__", None)
            return tool

        return {name: through(name) for name in tools}

    # -- counters and closing --------------------------------------------------------------------

    def counters(self) -> dict[str, Any]:
        """Overall counters, and per session under `sessions`."""
        return self.total.as_dict() | {"sessions": {sid: s.counters.as_dict() for sid, s in self.sessions.items()}}

    def summary(self) -> dict[str, Any]:
        """The overall counters only (what `--summary` writes)."""
        return self.total.as_dict()

    async def close(self) -> dict[str, Any]:
        """Cancel what still speculates (waste), write the summary, close the log; returns the counters."""
        if self.closed:
            return self.counters()
        self.closed = True
        now = self.now()
        tasks = []
        for s in self.sessions.values():
            for job in list(s.jobs.values()):
                if job.task is not None and job.running:
                    tasks.append(job.task)
                self._drop(s, job, now)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        out = self.counters()
        if self.summary_path is not None:
            atomic_write_bytes(Path(self.summary_path), orjson.dumps(self.summary(), option=orjson.OPT_INDENT_2) + b"\n")
        if self.runlog is not None:
            self.runlog.close()
        return out
