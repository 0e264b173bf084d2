"""Training examples for the value model: one row per branch node of a wide exploration beam.

Exploration: the B-PASTE arm replays each session with a wide beam (ranked by the analytic value, admitted
and launched as usual, so load and slack evolve as in a real run) and every node the beam kept at every
decision point becomes a row, admitted or not. Its features are the scorer's view of the prefix ending at
that node (`features.FeatureStats.vector`).

Label (the same quantity the engine realises, computed by the engine): the critical-path saving of the
prefix launched *alone* on the logged session,

    label(π at decision d) = agent_time(serial) − agent_time(serial + the jobs of π, launched at d)

where the jobs of π are launched exactly as the beam launches them (the first node at d's think start,
each deeper node when its parent's job finishes; a node whose ancestor matched no real call is unbound
and pure waste), and everything else about the replay (hit rule, in-flight promotion, TTL, invalidation
by mutating calls, device interference) is the engine's. So a prefix that equals real later calls saves
min(S, lead) of each one's stall *where that stall is on the critical path* (a hidden call of a parallel
batch saves only what the batch's longest call no longer costs), plus the earlier start it gives its
successors; a prefix that matches nothing saves nothing and costs the interference its jobs add to
authoritative think windows and tools (negative). Counting each prefix alone makes the label of an
admitted node and of a rejected one the same quantity, independent of what the exploring policy chose.
The shadow price of slack is not in the label (the engine does not charge it); the model's scorer admits
by predicted saving per speculative second instead, like the analytic value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from bpaste_cli.device import Device
from bpaste_cli.mine.api import Predictor
from bpaste_cli.replay.arms import BPasteArm
from bpaste_cli.replay.beam import BeamConfig, BeamNode, admit, build_beam, launch
from bpaste_cli.replay.engine import SessionTrace, Sim
from bpaste_cli.replay.predictions import PredictionSource, cache_for
from bpaste_cli.replay.value import SCORERS, LatencyStats, PrefixFeatures, shadow_price
from bpaste_cli.safety import SafetyTable

LABEL_DOC = (
    "agent seconds saved by speculating this branch prefix alone at its decision point on the logged session: "
    "serial agent time minus the engine's replayed agent time with only the prefix's jobs, launched as the beam "
    "launches them (negative when it only adds interference)"
)

# (key, tool, resource, q, depth, bound) of each node of a prefix, root first
ChainSpec = tuple[tuple[tuple[str, str], str, str, float, int, bool], ...]


@dataclass
class Example:
    session_id: str
    step: int
    features: PrefixFeatures
    chain: ChainSpec
    admitted: bool
    label: float = 0.0


@dataclass
class ExploreArm(BPasteArm):
    """The bpaste arm that also records every beam node it considered, with its prefix."""

    seen: list[Example] = field(default_factory=list)

    def plan(self, sim: Sim, step: int, now: float) -> None:
        self.now = now
        busy, _ = sim.load(now)
        load = busy / max(sim.slots, 1)
        nodes = build_beam(sim, self, step, load, shadow_price(load))
        if not nodes:
            return
        launch(sim, admit(sim, self, nodes, now), now)
        for n in nodes:
            self.seen.append(Example(sim.trace.session_id, step, n.features, _chain(n), n.admitted))


def _chain(node: BeamNode) -> ChainSpec:
    return tuple((n.key, n.cand.tool, n.resource, n.terms.q, n.depth, n.bound) for n in node.path_nodes)


class ChainPlanner:
    """Launches one prefix at one decision point, as `beam.launch` would, and nothing else."""

    name = "solo"
    needs_predictor = False

    def __init__(self, step: int, chain: ChainSpec) -> None:
        self.step, self.chain = step, chain

    def plan(self, sim: Sim, step: int, now: float) -> None:
        if step != self.step:
            return
        parent = None
        for key, tool, resource, q, depth, bound in self.chain:
            bound = bound and (parent is None or parent.target >= 0)
            start = parent.finish if parent else now
            parent = sim.launch(key, tool, resource, start, q, depth, target=None if bound else -1, bound=bound)


def solo_saving(trace: SessionTrace, step: int, chain: ChainSpec, device: Device, ttl: float, stats: LatencyStats,
                safety: SafetyTable) -> float:
    """label(π at d): the engine's agent-time saving of this prefix launched alone (see the module doc)."""
    sim = Sim(trace, device, ttl=ttl, classify=safety.classify, latency=stats.latency)
    return trace.agent_time - sim.run(ChainPlanner(step, chain)).agent_s


def explore(
    traces: list[SessionTrace],
    predictor: Predictor,
    device: Device,
    stats: LatencyStats,
    safety: SafetyTable,
    *,
    beam: BeamConfig,
    allowed: frozenset[str],
    ttl: float,
    slots: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Example]:
    """Every node of a wide beam at every decision point of `traces`, labelled by `solo_saving`."""
    out: list[Example] = []
    cache = cache_for(predictor)
    for tr in traces:
        arm = ExploreArm(stats, allowed, SCORERS["value"], beam)
        sim = Sim(tr, device, ttl=ttl, slots=slots, source=PredictionSource(predictor, tr, cache),
                  classify=safety.classify, latency=stats.latency)
        sim.run(arm)
        labels: dict[tuple[int, ChainSpec], float] = {}
        for ex in arm.seen:
            k = (ex.step, ex.chain)
            if k not in labels:
                labels[k] = solo_saving(tr, ex.step, ex.chain, device, ttl, stats, safety)
            ex.label = labels[k]
        out.extend(arm.seen)
        if progress:
            progress(1)
    return out
