"""Live planning: the policy's arm plans through a wall-clock `replay.PlanningContext` (ARCHITECTURE.md §3).

`LivePlanner` builds the policy's arm once (`policy.arm_from_policy`: the very `PasteArm` / `BPasteArm`
objects replay runs) and, at each decision point of a session, hands it a `LiveContext`: predictions from
the session's predictor cursor (forked for hypothetical beam paths), safety from the Speculator's table,
load from the speculative calls running now, launches that start real speculative calls.

A wall-clock context cannot know a result before its call has run: `known_result` is None, so the beam's
nodes of depth > 1 come out unbound and `launch(bound=False)` is refused. The beam grows instead when a
speculative result arrives: the arm's `observe` callback hands over the nodes it kept, and when an
admitted node's call finishes with a servable result (same epoch), `BPasteArm.extend` predicts, scores,
admits and launches its children, their arguments bound from that result as the predictor binds them
from real results.

Latency statistics (think time, per-tool latency) start from the policy's (the training split's, when
the policy carries them; replay's defaults otherwise) and follow the live calls: each statistic is the
median of its recent observations, with the policy's value counted as `PRIOR_WEIGHT` of them.
"""

from __future__ import annotations

from collections import deque
from statistics import median
from typing import TYPE_CHECKING, Any

from bpaste_cli.mine import Candidate, Event
from bpaste_cli.policy import arm_from_policy, replay_config
from bpaste_cli.replay import K_MAX, BeamNode, Key, LatencyStats
from bpaste_cli.runtime.runlog import visible_result
from bpaste_cli.safety import CallClass
from bpaste_cli.trace import short_hash

if TYPE_CHECKING:
    from bpaste_cli.runtime.speculator import SessionState, SpecJob, Speculator

RECENT = 200  # observations kept per latency statistic
PRIOR_WEIGHT = 5  # the policy's statistic counts as this many observations


class OnlineLatency(LatencyStats):
    """LatencyStats that start from a prior (the policy's) and follow the recent live observations."""

    def __init__(self, prior: LatencyStats | None = None) -> None:
        prior = prior if prior is not None else LatencyStats.from_traces([])
        super().__init__(prior.think_s, dict(prior.tool_s), prior.default_tool_s)
        self.prior = prior
        self._think: deque[float] = deque(maxlen=RECENT)
        self._tools: dict[str, deque[float]] = {}
        self._all: deque[float] = deque(maxlen=RECENT)

    @staticmethod
    def _blend(prior: float | None, seen: deque[float]) -> float:
        return median(list(seen) + ([prior] * PRIOR_WEIGHT if prior is not None else []))

    def think(self, seconds: float) -> None:
        self._think.append(seconds)
        self.think_s = self._blend(self.prior.think_s, self._think)

    def tool(self, tool: str, seconds: float) -> None:
        q = self._tools.setdefault(tool, deque(maxlen=RECENT))
        q.append(seconds)
        self._all.append(seconds)
        self.tool_s[tool] = self._blend(self.prior.tool_s.get(tool), q)
        self.default_tool_s = self._blend(self.prior.default_tool_s, self._all)


class LiveContext:
    """`replay.PlanningContext` for one session at one decision point, on the wall clock."""

    def __init__(self, planner: LivePlanner, s: SessionState, now: float, base: Any = None,
                 forks: dict | None = None) -> None:
        self.planner = planner
        self.spec = planner.spec
        self.session = s
        self.step = s.step
        self.epoch = s.epoch
        self._now = now
        self.base = base if base is not None else s.cursor.fork()  # the decision point's predictor state
        self._forks: dict[tuple, Any] = forks if forks is not None else {}
        self.candidates: dict[Key, Candidate] = {}
        self.launched: dict[Key, SpecJob] = {}

    def later(self, now: float) -> LiveContext:
        """The same decision point seen at `now` (when a speculative result arrives)."""
        ctx = LiveContext(self.planner, self.session, now, self.base, self._forks)
        ctx.step, ctx.epoch = self.step, self.epoch
        ctx.candidates, ctx.launched = self.candidates, self.launched
        return ctx

    @property
    def now(self) -> float:
        return self._now

    @property
    def slots(self) -> int:
        return self.planner.slots

    @property
    def device(self) -> Any:
        return self.planner.device

    def predict(self, k: int, path: tuple = (), at_least: float = 0.0) -> tuple[Candidate, ...]:
        """The top k of a ranking whose argument beam is K_MAX wide, as replay asks: a narrower beam can rank
        differently past its first places, and live must plan on the answers replay planned on."""
        out = tuple(self._cursor(path).predict(min(k, K_MAX), width=K_MAX, at_least=at_least))
        for c in out:
            self.candidates.setdefault((c.tool, c.args_hash), c)
        return out

    def _cursor(self, path: tuple) -> Any:
        if not path:
            return self.base
        key = tuple((c.tool, c.args_hash, r.result_hash if r is not None else None) for c, r in path)
        cur = self._forks.get(key)
        if cur is None:
            cand, seen = path[-1]
            cur = self._cursor(path[:-1]).fork()
            step = self.step + len(path)
            cur.observe(Event("llm", step=step))
            cur.observe(Event("tool", step=step, tool=cand.tool, args_json=cand.args_json, args_hash=cand.args_hash,
                              result_text=seen.result_text if seen else None,
                              result_hash=seen.result_hash if seen else None, status=seen.status if seen else None))
            self._forks[key] = cur
        return cur

    def classify(self, tool: str, args_json: str | None) -> CallClass:
        return self.spec.classify(tool, args_json)

    def load(self) -> tuple[int, float]:
        jm = self.device.job_memory_gb
        busy, mem = 0, 0.0
        for job in self.spec.occupying.values():  # running and not closed, kept by the Speculator as they change
            busy += 1
            mem += jm.get(job.resource, 0.0)
        return busy, mem

    def pending(self, key: Key) -> bool:
        return self.spec.pending(self.session, key, self.spec.now())

    def known_result(self, key: Key) -> Event | None:
        return None  # on the wall clock a result is known only once its call has run

    def launch(self, key: Key, tool: str, resource: str, prob: float, depth: int, *,
               after: Any = None, bound: bool = True) -> SpecJob | None:
        """Start the call now; refused (None) when its arguments rest on an unknown result, when its parent
        `after` is still running (the beam grows below a parent when its result arrives, `BPasteArm.extend`)
        or when it would duplicate a pending call."""
        if not bound or (after is not None and after.running):
            return None
        cand = self.candidates.get(key)
        if cand is None:
            return None
        job = self.spec.launch(self.session, tool, cand.args_json, prob, depth, resource, epoch=self.epoch)
        if job is not None:
            self.launched[key] = job
        return job


def result_event(node: BeamNode, step: int, text: str) -> Event:
    """The speculative result of `node` as the event a cursor observes (step: the hypothetical one)."""
    c = node.cand
    return Event("tool", step=step, tool=c.tool, args_json=c.args_json, args_hash=c.args_hash, result_text=text,
                 result_hash=short_hash(text), status="ok")


class LivePlanner:
    """The policy's arm, planning at each decision point of a running Speculator."""

    def __init__(self, policy: Any, spec: Speculator) -> None:
        self.spec = spec
        self.device = policy.device
        config = replay_config(policy.parameters, split="validation", seed=policy.seed, bootstrap=0)
        self.slots = config.slots if config.slots is not None else self.device.slots
        self.stats = OnlineLatency(policy.latency)
        self.arm = arm_from_policy(policy, self.stats)
        if hasattr(self.arm, "extend"):
            self.arm.observe = self._follow_beam

    def observe_think(self, seconds: float) -> None:
        self.stats.think(seconds)

    def observe_tool(self, tool: str, seconds: float) -> None:
        self.stats.tool(tool, seconds)

    def plan(self, s: SessionState, now: float) -> None:
        self.arm.plan(LiveContext(self, s, now))

    def _follow_beam(self, ctx: LiveContext, nodes: list[BeamNode]) -> None:
        """The beam's `observe` callback: grow below every admitted, launched node when its result arrives."""
        for node in nodes:
            self._follow(ctx, node)

    def _follow(self, ctx: LiveContext, node: BeamNode) -> None:
        job = node.job
        if job is None or not node.admitted:
            return

        def arrived(j: SpecJob) -> None:
            if not j.ok or ctx.session.epoch != ctx.epoch or self.spec.closed:
                return
            text = visible_result(self.spec.view.text(j.result), self.spec.keep_secrets)
            later = ctx.later(self.spec.now())
            for child in self.arm.extend(later, node, result_event(node, ctx.step + node.depth, text), set(ctx.launched)):
                self._follow(later, child)

        job.on_done.append(arrived)
