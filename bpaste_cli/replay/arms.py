"""The arms of a replay: serial (as logged), oracle (upper bound), paste (single call), bpaste (beam),
cache (an exact repeat served from the earlier real result).

Each arm is a planner: at every decision point (an LLM step's think start) it may launch speculative
calls through its `PlanningContext` (`replay.context`); only calls whose safety class is allowed
(read-only by default) are ever launched. The arm registry `ARM_TYPES` is the one list of arms: each arm
declares the `ReplayConfig` knobs it reads (`PARAMS`), builds itself from a config (`from_config`) and
samples its own knobs for `tune` (`suggest`), so adding an arm touches this file (and ReplayConfig for a
new knob); an arm that keeps state between one session's decision points says so (`per_session`), the
others are built once and plan every session of a replay. Serial, paste and bpaste plan through the context only, so a wall-clock speculator runs the
very same objects (`deployable`); the oracle reads the simulator's trace and stays in replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from bpaste_cli.errors import BpasteError
from bpaste_cli.mine import Candidate, Event
from bpaste_cli.replay.beam import BeamConfig, BeamNode, BeamSettings, admit, best, build_beam, children, launch, least_kept
from bpaste_cli.replay.config import ReplayConfig
from bpaste_cli.replay.context import PlanningContext
from bpaste_cli.replay.engine import Sim
from bpaste_cli.replay.traces import SessionTrace
from bpaste_cli.replay.value import LatencyStats, ValueModel, paste_utility, scorer_for, shadow_price


class SerialArm:
    """The logged execution: nothing is speculated."""

    name: ClassVar[str] = "serial"
    needs_predictor: ClassVar[bool] = False
    asks_at_least: ClassVar[float] = float("inf")  # it never asks the predictor
    deployable: ClassVar[bool] = False
    per_session: ClassVar[bool] = False
    PARAMS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_config(cls, config: ReplayConfig, stats: LatencyStats, value_model: ValueModel | None = None) -> SerialArm:
        return cls()

    @staticmethod
    def suggest(trial: Any, ranks: tuple[str, ...]) -> dict[str, Any]:
        return {}

    def plan(self, ctx: PlanningContext) -> None:
        return None


class OracleArm:
    """Perfect prediction, unlimited slack, no interference, no TTL: at the first decision point after
    each invalidation it launches every future servable call up to the next invalidating call. No
    predictor-based arm can start a call earlier (a job planned before an invalidation never serves).
    It reads the session's future from the simulator, so it exists only in replay."""

    name: ClassVar[str] = "oracle"
    needs_predictor: ClassVar[bool] = False
    asks_at_least: ClassVar[float] = float("inf")  # it never asks the predictor
    deployable: ClassVar[bool] = False
    per_session: ClassVar[bool] = True  # it remembers the epoch it last planned in
    PARAMS: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._epoch = -1

    @classmethod
    def from_config(cls, config: ReplayConfig, stats: LatencyStats, value_model: ValueModel | None = None) -> OracleArm:
        return cls()

    @staticmethod
    def suggest(trial: Any, ranks: tuple[str, ...]) -> dict[str, Any]:
        return {}

    def plan(self, sim: Sim) -> None:
        step, now = sim.step, sim.now
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
                    sim.start_job(nd.key, nd.tool, nd.resource, now, 1.0, 1, target=i)


class CacheArm:
    """A result cache of allowed (read-only) calls within a session, no prediction: a call identical (tool +
    canonical arguments) to an earlier real call of the same invalidation epoch is served from that call's
    result, at no latency, while the result is within its TTL (the tool's `ttl_s`, else `--ttl`). Results of a
    batch that also held a mutating or unknown call are not kept. It measures what repeated identical calls
    cost; it reads the simulator's record of real results, so it exists only in replay."""

    name: ClassVar[str] = "cache"
    needs_predictor: ClassVar[bool] = False
    asks_at_least: ClassVar[float] = float("inf")  # it never asks the predictor
    deployable: ClassVar[bool] = False
    per_session: ClassVar[bool] = False
    PARAMS: ClassVar[tuple[str, ...]] = ("ttl_s",)

    @classmethod
    def from_config(cls, config: ReplayConfig, stats: LatencyStats, value_model: ValueModel | None = None) -> CacheArm:
        return cls()

    @staticmethod
    def suggest(trial: Any, ranks: tuple[str, ...]) -> dict[str, Any]:
        return {}

    def plan(self, sim: Sim) -> None:
        now, step = sim.now, sim.step
        for key, end in sim.results.items():
            if end + sim.ttl_of(key[0]) < now or sim.pending(key):
                continue
            target = sim.match(key, step)
            if target >= 0:
                nd = sim.trace.nodes[target]
                sim.start_job(key, nd.tool, nd.resource, end, 1.0, 1, target=target, duration=0.0, cached=True)


@dataclass
class PasteArm:
    """PASTE: the predictor's top-k at each think window, admitted when p >= threshold and the utility
    U = p·min(S, L) − (1 − p)·λ(load)·S is positive, within the global slot limit and memory budget."""

    stats: LatencyStats
    allowed: frozenset[str]
    top_k: int = 3
    threshold: float = 0.2
    lambda_scale: float = 1.0
    name: ClassVar[str] = "paste"
    needs_predictor: ClassVar[bool] = True
    deployable: ClassVar[bool] = True
    per_session: ClassVar[bool] = False
    PARAMS: ClassVar[tuple[str, ...]] = ("top_k", "threshold")

    @classmethod
    def from_config(cls, config: ReplayConfig, stats: LatencyStats, value_model: ValueModel | None = None) -> PasteArm:
        return cls(stats, frozenset(config.allowed), top_k=config.top_k, threshold=config.threshold,
                   lambda_scale=config.lambda_scale)

    @staticmethod
    def suggest(trial: Any, ranks: tuple[str, ...]) -> dict[str, Any]:
        """PASTE's knobs for one Optuna trial."""
        return {"top_k": trial.suggest_int("top_k", 1, 5), "threshold": trial.suggest_float("threshold", 0.02, 0.8)}

    @property
    def asks_at_least(self) -> float:
        """The least probability it asks the predictor for (it prices no candidate below the threshold)."""
        return self.threshold

    def plan(self, ctx: PlanningContext) -> None:
        """Price each candidate above the threshold (the load is asked once, at the first one worth pricing:
        nothing changes it before launch), then launch by falling utility within slots and memory."""
        scored = []
        threshold, allowed, classify, pending = self.threshold, self.allowed, ctx.classify, ctx.pending
        lam = -1.0
        for c in ctx.predict(self.top_k, at_least=threshold):
            p = c.prob
            if p < threshold:
                continue
            cls = classify(c.tool, c.args_json)
            if cls.safety not in allowed:
                continue
            key = (c.tool, c.args_hash)
            if pending(key):
                continue
            if lam < 0.0:
                busy, mem = ctx.load()
                lam = shadow_price(busy / max(ctx.slots, 1), self.lambda_scale)
                think = self.stats.think_s
                latency = self.stats.latency
            u = paste_utility(p, latency(c.tool), think, lam)
            if u > 0:
                scored.append((u, c, cls.resource, key))
        if not scored:
            return
        if len(scored) > 1:
            scored.sort(key=lambda x: -x[0])
        slots = ctx.slots
        device = ctx.device
        jm = device.job_memory_gb
        budget = device.memory_budget_gb
        for u, c, resource, key in scored:
            if busy >= slots or mem + jm[resource] > budget:
                break
            ctx.launch(key, c.tool, resource, c.prob, 1)
            busy += 1
            mem += jm[resource]


@dataclass
class BPasteArm:
    """B-PASTE: a beam of branch prefixes ranked by a scorer; see `replay.beam`. `observe`, when given,
    sees every node the beam kept at each decision point (after admission and launch)."""

    settings: BeamSettings
    lambda_scale: float = 1.0
    observe: Callable[[PlanningContext, list[BeamNode]], None] | None = None
    name: ClassVar[str] = "bpaste"
    needs_predictor: ClassVar[bool] = True
    deployable: ClassVar[bool] = True
    per_session: ClassVar[bool] = False
    PARAMS: ClassVar[tuple[str, ...]] = ("beam_width", "beam_depth", "rank", "min_prob", "interference_budget")

    @classmethod
    def from_config(cls, config: ReplayConfig, stats: LatencyStats, value_model: ValueModel | None = None) -> BPasteArm:
        beam = BeamConfig(config.beam_width, config.beam_depth, config.min_prob, config.interference_budget, config.fast_path)
        settings = BeamSettings(stats, frozenset(config.allowed), scorer_for(config.rank, value_model), beam)
        return cls(settings, lambda_scale=config.lambda_scale)

    @staticmethod
    def suggest(trial: Any, ranks: tuple[str, ...]) -> dict[str, Any]:
        """B-PASTE's knobs for one Optuna trial (`ranks`: the rankings on offer)."""
        return {
            "beam_width": trial.suggest_int("beam_width", 1, 6),
            "beam_depth": trial.suggest_int("beam_depth", 1, 3),
            "rank": trial.suggest_categorical("rank", ranks),
            "min_prob": trial.suggest_float("min_prob", 0.01, 0.5, log=True),
            "interference_budget": trial.suggest_float("interference_budget", 0.0, 0.5),
        }

    @property
    def asks_at_least(self) -> float:
        """The least probability it asks the predictor for (for the beam's roots; deeper levels ask for more)."""
        return least_kept(self.settings.config.min_prob, 1.0)

    def _prices(self, ctx: PlanningContext) -> tuple[float, float]:
        busy, _ = ctx.load()
        load = busy / max(ctx.slots, 1)
        return load, shadow_price(load, self.lambda_scale)

    def plan(self, ctx: PlanningContext) -> None:
        load, lam = self._prices(ctx)
        nodes = build_beam(ctx, self.settings, load, lam)
        if nodes:
            launch(ctx, admit(ctx, self.settings, nodes))
            if self.observe is not None:
                self.observe(ctx, nodes)

    def extend(self, ctx: PlanningContext, parent: BeamNode, result: Event,
               taken: set[tuple[str, str]] | frozenset = frozenset()) -> list[BeamNode]:
        """Grow the beam below an admitted node once its speculative `result` has arrived (the wall-clock
        step): its children are predicted after it, scored, admitted and launched; returns those launched."""
        if parent.depth >= self.settings.config.depth:
            return []
        parent.result = result
        load, lam = self._prices(ctx)
        found = best(children(ctx, self.settings, parent, load, lam, taken), self.settings.config.width)
        admitted = admit(ctx, self.settings, found)
        launch(ctx, admitted)
        return admitted


ARM_TYPES: dict[str, Any] = {arm.name: arm for arm in (SerialArm, OracleArm, PasteArm, BPasteArm, CacheArm)}
ARMS = tuple(ARM_TYPES)
STRATEGIES = tuple(name for name, arm in ARM_TYPES.items() if arm.deployable)  # what a policy may choose


def make_arm(name: str, config: ReplayConfig, stats: LatencyStats, value_model: ValueModel | None = None) -> Any:
    """The arm `name`, configured by `config` (fails with one sentence on an unknown name or ranking)."""
    arm = ARM_TYPES.get(name)
    if arm is None:
        raise BpasteError(f"Unknown arm {name!r}; choose from {', '.join(ARMS)}.")
    return arm.from_config(config, stats, value_model)


class OracleCursor:
    """Predicts exactly the calls of the next real step (probability 1), whatever it observed."""

    __slots__ = ("_steps", "_n")

    def __init__(self, steps: list[list[Candidate]], n_llm: int = 0) -> None:
        self._steps = steps
        self._n = n_llm

    def observe(self, event: Event) -> None:
        if event.kind == "llm":
            self._n += 1

    def predict(self, k: int = 5, width: int | None = None, at_least: float = 0.0) -> list[Candidate]:
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
