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

from dataclasses import dataclass
from typing import Callable

from bpaste_cli.device import Device
from bpaste_cli.gcpause import collection_paused
from bpaste_cli.mine import Predictor
from bpaste_cli.replay import (
    BeamConfig,
    BeamNode,
    BeamSettings,
    BPasteArm,
    LatencyStats,
    PrefixFeatures,
    ReplayConfig,
    SessionTrace,
    Sim,
    cache_for,
    run_session,
    scorer_for,
)
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


def _chain(node: BeamNode) -> ChainSpec:
    return tuple((n.key, n.cand.tool, n.resource, n.terms.q, n.depth, n.bound) for n in node.path_nodes)


class ChainPlanner:
    """Launches one prefix at one decision point, as `beam.launch` would, and nothing else."""

    name = "solo"
    needs_predictor = False

    def __init__(self, step: int, chain: ChainSpec) -> None:
        self.step, self.chain = step, chain

    def plan(self, sim: Sim) -> None:
        if sim.step != self.step:
            return
        parent = None
        for key, tool, resource, q, depth, bound in self.chain:
            bound = bound and (parent is None or parent.target >= 0)
            start = parent.finish if parent else sim.now
            parent = sim.start_job(key, tool, resource, start, q, depth, target=None if bound else -1, bound=bound)


def solo_saving(trace: SessionTrace, step: int, chain: ChainSpec, device: Device, config: ReplayConfig,
                stats: LatencyStats, safety: SafetyTable) -> float:
    """label(π at d): the engine's agent-time saving of this prefix launched alone (see the module doc)."""
    return trace.agent_time - run_session(trace, ChainPlanner(step, chain), device, config, stats, safety).agent_s


@collection_paused()
def explore(
    traces: list[SessionTrace],
    predictor: Predictor,
    device: Device,
    stats: LatencyStats,
    safety: SafetyTable,
    *,
    beam: BeamConfig,
    config: ReplayConfig,
    progress: Callable[[int], None] | None = None,
) -> list[Example]:
    """Every node of a wide beam (the bpaste arm ranked by the analytic value, with `config`'s λ schedule,
    TTL, slots and safety classes) at every decision point of `traces`, labelled by `solo_saving`. With the cyclic
    collector paused, as `replay_traces`: the exploration makes no reference cycles either (a test holds it to that)."""
    out: list[Example] = []
    cache = cache_for(predictor)
    solo = ReplayConfig(ttl_s=config.ttl_s)  # a lone prefix on the device's slots
    settings = BeamSettings(stats, frozenset(config.allowed), scorer_for("value"), beam)
    for tr in traces:
        seen: list[Example] = []

        def record(sim: Sim, nodes: list[BeamNode], sid: str = tr.session_id) -> None:
            seen.extend(Example(sid, sim.step, n.features, _chain(n), n.admitted) for n in nodes)

        arm = BPasteArm(settings, lambda_scale=config.lambda_scale, observe=record)
        run_session(tr, arm, device, config, stats, safety, predictor, cache=cache)
        labels: dict[tuple[int, ChainSpec], float] = {}
        for ex in seen:
            k = (ex.step, ex.chain)
            if k not in labels:
                labels[k] = solo_saving(tr, ex.step, ex.chain, device, solo, stats, safety)
            ex.label = labels[k]
        out.extend(seen)
        if progress:
            progress(1)
    return out
