"""Live planning: the policy's arm (replay's `PasteArm` / B-PASTE beam) plans through a wall-clock context.

`LiveContext` answers what the arms ask of replay's `Sim` (`predict`, `classify`, `pending`, `load`,
`slots`, `device`, `match`, `launch`) from one session of a running `Speculator`, at one decision point:
predictions come from the session's predictor cursor (forked for hypothetical beam paths), load from the
speculative jobs running now, launches start real speculative calls. This module is the only place
where the runtime touches the arms, so it is the one to switch to replay's planning-context Protocol.

B-PASTE: the beam is built and admitted exactly as in replay (`replay.beam.build_beam`, `admit`); depth-1
prefixes start at once, and a prefix of depth > 1 starts when its parent's speculative result arrives:
a fork of the decision point's cursor observes the parent call with that result, and the child's
arguments are bound from it by predicting again, as the predictor binds them from real results. Each
admitted child is one slot under its parent; a re-prediction that is no longer allowed, likely enough
(q = parent q x p >= min_prob) or new is not launched.

Latency statistics (typical think time, per-tool latency) are learned online from the session's own
real calls (medians of recent observations), starting from replay's defaults.
"""

from __future__ import annotations

from collections import deque
from statistics import median
from typing import TYPE_CHECKING, Any

from bpaste_cli.mine.api import Candidate, Event
from bpaste_cli.replay.beam import BeamNode, admit, build_beam
from bpaste_cli.runtime.runlog import visible_result
from bpaste_cli.trace.canonical import short_hash
from bpaste_cli.replay.value import DEFAULT_LATENCY_S, DEFAULT_THINK_S, LatencyStats, shadow_price

if TYPE_CHECKING:
    from bpaste_cli.runtime.speculator import SessionState, SpecJob, Speculator

RECENT = 200  # observations kept per latency statistic


class OnlineLatency(LatencyStats):
    """LatencyStats whose medians follow the recent real calls and think windows."""

    def __init__(self) -> None:
        super().__init__(DEFAULT_THINK_S, {}, DEFAULT_LATENCY_S)
        self._think: deque[float] = deque(maxlen=RECENT)
        self._tools: dict[str, deque[float]] = {}
        self._all: deque[float] = deque(maxlen=RECENT)

    def think(self, seconds: float) -> None:
        self._think.append(seconds)
        self.think_s = median(self._think)

    def tool(self, tool: str, seconds: float) -> None:
        q = self._tools.setdefault(tool, deque(maxlen=RECENT))
        q.append(seconds)
        self._all.append(seconds)
        self.tool_s[tool] = median(q)
        self.default_tool_s = median(self._all)


class LiveContext:
    """One decision point of one session, in the shape of replay's `Sim` (see the module docstring)."""

    def __init__(self, planner: LivePlanner, s: SessionState, now: float) -> None:
        self.planner = planner
        self.spec = planner.spec
        self.session = s
        self.now = now
        self.device = planner.device
        self.slots = planner.slots
        self.step = s.step
        self.epoch = s.epoch
        self.base = s.cursor.fork()  # the decision point's state, for children bound later
        self.candidates: dict[tuple[str, str], Candidate] = {}
        self.launched: dict[tuple[str, str], SpecJob] = {}
        self._forks: dict[tuple, Any] = {}

    def predict(self, k: int, path: tuple = ()) -> tuple[Candidate, ...]:
        cursor = self._cursor(path)
        out = tuple(cursor.predict(k))
        for c in out:
            self.candidates.setdefault((c.tool, c.args_hash), c)
        return out

    def _cursor(self, path: tuple) -> Any:
        if not path:
            return self.base
        key = tuple((c.tool, c.args_hash) for c, _ in path)
        cur = self._forks.get(key)
        if cur is None:
            cand, _ = path[-1]
            cur = self._cursor(path[:-1]).fork()
            observe_call(cur, self.step + len(path), cand, None, None)  # the result is not known yet
            self._forks[key] = cur
        return cur

    def classify(self, tool: str, args_json: str | None):
        return self.spec.classify(tool, args_json)

    def pending(self, key: tuple[str, str], now: float) -> bool:
        return key in self.launched or self.spec.pending(self.session, key, now)

    def load(self, now: float) -> tuple[int, float]:
        jm = self.device.job_memory_gb
        busy, mem = 0, 0.0
        for s in self.spec.sessions.values():
            for job in s.jobs.values():
                if job.running and not job.closed:
                    busy += 1
                    mem += jm.get(job.resource, 0.0)
        return busy, mem

    def match(self, key: tuple[str, str], step: int) -> int:
        return -1  # the future is not known live: no node is bound to a logged call

    def launch(self, key: tuple[str, str], tool: str, resource: str, start: float, prob: float, depth: int,
               target: int | None = None, bound: bool = True) -> SpecJob | None:
        cand = self.candidates[key]
        job = self.spec.launch(self.session, tool, cand.args_json, prob, depth, resource, epoch=self.epoch)
        if job is not None:
            self.launched[key] = job
        return job


def observe_call(cursor: Any, step: int, cand: Candidate, text: str | None, status: str | None) -> None:
    """Feed a hypothetical step (one call, its result if known) to a forked cursor."""
    cursor.observe(Event("llm", step=step))
    cursor.observe(Event("tool", step=step, tool=cand.tool, args_json=cand.args_json, args_hash=cand.args_hash,
                         result_text=text, result_hash=short_hash(text) if text is not None else None, status=status))


class LivePlanner:
    """The policy's arm, planning at each decision point of a running Speculator."""

    def __init__(self, policy: Any, spec: Speculator) -> None:
        from bpaste_cli.policy import replay_config
        from bpaste_cli.replay import make_arm as _arm

        self.spec = spec
        self.params = policy.parameters
        self.device = policy.device
        if policy.value_model is not None:
            from bpaste_cli.fit import use_model

            use_model(policy.value_model, policy.device.name)
        self.config = replay_config(self.params, split="test", seed=policy.seed, bootstrap=0)
        self.slots = self.config.slots if self.config.slots is not None else self.device.slots
        self.stats = OnlineLatency()
        self.arm = _arm(self.params["arm"], self.config, self.stats)

    def observe_think(self, seconds: float) -> None:
        self.stats.think(seconds)

    def observe_tool(self, tool: str, seconds: float) -> None:
        self.stats.tool(tool, seconds)

    def plan(self, s: SessionState, now: float) -> None:
        ctx = LiveContext(self, s, now)
        if self.arm.name == "bpaste":
            self._plan_beam(ctx, now)
        else:
            self.arm.plan(ctx, s.step, now)

    # -- B-PASTE ---------------------------------------------------------------------------------

    def _plan_beam(self, ctx: LiveContext, now: float) -> None:
        arm = self.arm
        arm.now = now
        busy, _ = ctx.load(now)
        load = busy / max(ctx.slots, 1)
        lam = shadow_price(load, arm.lambda_scale)
        nodes = build_beam(ctx, arm, ctx.step, load, lam)
        if not nodes:
            return
        admitted = admit(ctx, arm, nodes, now)
        kids: dict[int, list[BeamNode]] = {}
        for node in admitted:
            if node.parent is not None:
                kids.setdefault(id(node.parent), []).append(node)
        for node in admitted:
            if node.depth == 1:
                job = ctx.launch(node.key, node.cand.tool, node.resource, now, node.terms.q, 1)
                self._follow(ctx, job, node, node.cand, node.terms.q, ctx.base, kids)

    def _follow(self, ctx: LiveContext, job: SpecJob | None, planned: BeamNode, cand: Candidate, q: float, cursor: Any,
                kids: dict[int, list[BeamNode]]) -> None:
        """When `job` (the call `cand` in the beam slot `planned`) finishes, bind the slot's admitted children
        from its result and start them."""
        children = kids.get(id(planned), [])
        if job is None or not children:
            return
        cfg = self.arm.beam

        def done(j: SpecJob) -> None:
            if not j.ok or ctx.session.epoch != ctx.epoch or self.spec.closed:
                return
            cur = cursor.fork()
            observe_call(cur, ctx.step + planned.depth, cand, visible_result(self.spec.view.text(j.result), self.spec.keep_secrets), "ok")
            slots = list(children)
            for nxt in cur.predict(cfg.width):
                if not slots:
                    break
                q_next = q * nxt.prob
                key = (nxt.tool, nxt.args_hash)
                cls = ctx.classify(nxt.tool, nxt.args_json)
                if q_next < cfg.min_prob or cls.safety not in self.arm.allowed or ctx.pending(key, self.spec.now()):
                    continue
                slot = slots.pop(0)
                ctx.candidates.setdefault(key, nxt)
                child = ctx.launch(key, nxt.tool, cls.resource, self.spec.now(), q_next, planned.depth + 1)
                self._follow(ctx, child, slot, nxt, q_next, cur, kids)

        job.on_done.append(done)
