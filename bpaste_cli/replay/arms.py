"""The arms of a replay: serial (as logged), oracle (upper bound), paste (single call), bpaste (beam).

Each arm is a planner: at every decision point (an LLM step's replayed think start) it may launch
speculative jobs through `Sim.launch`. Only calls whose safety class is allowed (read-only by default)
are ever launched.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpaste_cli.mine.api import Candidate, Event
from bpaste_cli.replay.beam import BeamConfig, admit, build_beam, launch
from bpaste_cli.replay.engine import Sim, SessionTrace
from bpaste_cli.replay.value import LatencyStats, Scorer, paste_utility, shadow_price

ARMS = ("serial", "oracle", "paste", "bpaste")


class SerialArm:
    """The logged execution: nothing is speculated."""

    name = "serial"
    needs_predictor = False

    def plan(self, sim: Sim, step: int, now: float) -> None:
        return None


class OracleArm:
    """Perfect prediction, unlimited slack, no interference, no TTL: at the first decision point after
    each invalidation it launches every future servable call up to the next invalidating call. No
    predictor-based arm can start a call earlier (a job planned before an invalidation never serves)."""

    name = "oracle"
    needs_predictor = False

    def __init__(self) -> None:
        self._epoch = -1

    def plan(self, sim: Sim, step: int, now: float) -> None:
        ep = sim.trace.epoch_before(step)
        if ep == self._epoch:
            return
        self._epoch = ep
        tr = sim.trace
        for j in range(step, len(tr.calls_by_step)):
            if tr.epoch_of_step[j] != ep:
                break
            for i in tr.calls_by_step[j]:
                nd = tr.nodes[i]
                if nd.servable and i not in sim.claimed and i not in sim.served:
                    sim.launch(nd.key, nd.tool, nd.resource, now, 1.0, 1, target=i)


@dataclass
class PasteArm:
    """PASTE: the predictor's top-k at each think window, admitted when p >= threshold and the utility
    U = p·min(S, L) − (1 − p)·λ(load)·S is positive, within the global slot limit and memory budget."""

    stats: LatencyStats
    allowed: frozenset[str]
    top_k: int = 3
    threshold: float = 0.2
    lambda_scale: float = 1.0
    name: str = "paste"
    needs_predictor: bool = True

    def plan(self, sim: Sim, step: int, now: float) -> None:
        busy, mem = sim.load(now)
        lam = shadow_price(busy / max(sim.slots, 1), self.lambda_scale)
        think = self.stats.think_s
        scored = []
        for c in sim.predict(self.top_k):
            if c.prob < self.threshold:
                continue
            cls = sim.classify(c.tool, c.args_json)
            if cls.safety not in self.allowed:
                continue
            key = (c.tool, c.args_hash)
            if sim.pending(key, now):
                continue
            u = paste_utility(c.prob, self.stats.latency(c.tool), think, lam)
            if u > 0:
                scored.append((u, c, cls.resource, key))
        scored.sort(key=lambda x: -x[0])
        jm = sim.device.job_memory_gb
        for u, c, resource, key in scored:
            if busy >= sim.slots or mem + jm[resource] > sim.device.memory_budget_gb:
                break
            sim.launch(key, c.tool, resource, now, c.prob, 1)
            busy += 1
            mem += jm[resource]


@dataclass
class BPasteArm:
    """B-PASTE: a beam of branch prefixes ranked by `scorer`; see `replay.beam`."""

    stats: LatencyStats
    allowed: frozenset[str]
    scorer: Scorer
    beam: BeamConfig
    lambda_scale: float = 1.0
    name: str = "bpaste"
    needs_predictor: bool = True
    now: float = 0.0

    def plan(self, sim: Sim, step: int, now: float) -> None:
        self.now = now
        busy, _ = sim.load(now)
        load = busy / max(sim.slots, 1)
        lam = shadow_price(load, self.lambda_scale)
        nodes = build_beam(sim, self, step, load, lam)
        if nodes:
            launch(sim, admit(sim, self, nodes, now), now)


class OracleCursor:
    """Predicts exactly the calls of the next real step (probability 1), whatever it observed."""

    __slots__ = ("_steps", "_n")

    def __init__(self, steps: list[list[Candidate]], n_llm: int = 0) -> None:
        self._steps = steps
        self._n = n_llm

    def observe(self, event: Event) -> None:
        if event.kind == "llm":
            self._n += 1

    def predict(self, k: int = 5) -> list[Candidate]:
        return self._steps[self._n][:k] if self._n < len(self._steps) else []

    def fork(self) -> OracleCursor:
        return OracleCursor(self._steps, self._n)


class OraclePredictor:
    """A predictor that knows each session's future (for `--patterns oracle` and tests): it answers
    every decision point with the next step's real calls at probability 1. Replay opens it per session
    through `cursor_for(trace)`."""

    def cursor(self) -> OracleCursor:
        return OracleCursor([])

    def cursor_for(self, trace: SessionTrace) -> OracleCursor:
        steps = []
        for calls in trace.calls_by_step:
            seen, cands = set(), []
            for i in calls:
                ev = trace.nodes[i].event
                if (ev.tool, ev.args_hash) not in seen:
                    seen.add((ev.tool, ev.args_hash))
                    cands.append(Candidate(ev.tool, ev.args_json, ev.args_hash, 1.0, "oracle"))
            steps.append(cands)
        return OracleCursor(steps)
