"""B-PASTE's beam (our reconstruction): branch prefixes up to depth D, width B, ranked by a scorer, admitted
onto the device's slack with authoritative protection, an interference budget and a serial fast path.

A node at depth d is a call predicted for the (d−1)-th step after the decision point, by a cursor that has
observed its ancestors *with their results*. A result is known only when the ancestor matches a future
real call (its logged result); otherwise its subtree cannot be bound and is waste. Which nodes match is
never used to choose or admit them: only the predictor's probabilities and the latency statistics are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpaste_cli.mine.api import Candidate
from bpaste_cli.replay.engine import Job, Sim
from bpaste_cli.replay.value import NodeTerms, PrefixFeatures, Scorer, chain_terms


@dataclass(slots=True, eq=False)
class BeamNode:
    cand: Candidate
    key: tuple[str, str]
    resource: str
    parent: BeamNode | None
    depth: int
    target: int  # the real call it matches, -1 if none
    bound: bool  # every ancestor matched, so its arguments come from real results
    terms: NodeTerms
    features: PrefixFeatures
    score: float = 0.0
    admitted_children: int = 0
    admitted: bool = False
    job: Job | None = None
    path_nodes: list[BeamNode] = field(default_factory=list)


@dataclass(frozen=True)
class BeamConfig:
    width: int = 3
    depth: int = 2
    min_prob: float = 0.1
    interference_budget: float = 0.1  # predicted authoritative slowdown allowed, as a fraction of think time
    fast_path: bool = True


def _node(sim: Sim, arm, cand: Candidate, parent: BeamNode | None, step: int, load: float, lam: float) -> BeamNode | None:
    cls = sim.classify(cand.tool, cand.args_json)
    if cls.safety not in arm.allowed:
        return None
    key = (cand.tool, cand.args_hash)
    if sim.pending(key, arm.now):
        return None
    path = (parent.path_nodes if parent else []) + [None]
    chain = [n.cand for n in path[:-1]] + [cand]
    resources = [n.resource for n in path[:-1]] + [cls.resource]
    lat = [arm.stats.latency(c.tool) for c in chain]
    llm, tool = sim.device.interference["llm"], sim.device.interference["tool"]
    terms = chain_terms([c.prob for c in chain], lat, [(llm[r], tool[r]) for r in resources], arm.stats.think_s, lam)
    mine = terms[-1]
    if mine.q < arm.beam.min_prob:
        return None
    bound = parent is None or (parent.bound and parent.target >= 0)
    target = sim.match(key, step) if bound else -1
    feats = PrefixFeatures(
        q=mine.q, depth=len(chain), prob=cand.prob, latency_s=mine.s, lead_s=mine.lead, think_s=arm.stats.think_s,
        load=load, lam=lam, resource=cls.resource, tool=cand.tool, value=sum(t.value for t in terms),
        slack_s=sum(lat),
    )
    node = BeamNode(cand, key, cls.resource, parent, len(chain), target, bound, mine, feats)
    node.path_nodes = (parent.path_nodes if parent else []) + [node]
    node.score = arm.scorer.score(feats)
    return node


def _best(nodes: list[BeamNode], width: int) -> list[BeamNode]:
    seen: set[tuple[str, str]] = set()
    out = []
    for n in sorted(nodes, key=lambda n: -n.score):
        if n.key not in seen:
            seen.add(n.key)
            out.append(n)
        if len(out) == width:
            break
    return out


def _path(node: BeamNode, sim: Sim) -> tuple:
    """The hypothetical calls up to `node`, each with the real event whose result it saw (None: unknown)."""
    return tuple(
        (n.cand, sim.trace.nodes[n.target].event if n.bound and n.target >= 0 else None) for n in node.path_nodes
    )


def build_beam(sim: Sim, arm, step: int, load: float, lam: float) -> list[BeamNode]:
    """Every node kept in the beam (the best `width` prefixes at each depth)."""
    cfg: BeamConfig = arm.beam
    level = _best([n for c in sim.predict(cfg.width) if (n := _node(sim, arm, c, None, step, load, lam))], cfg.width)
    kept = list(level)
    for _ in range(2, cfg.depth + 1):
        children: list[BeamNode] = []
        taken = {n.key for n in kept}
        for parent in level:
            for c in sim.predict(cfg.width, _path(parent, sim)):
                n = _node(sim, arm, c, parent, step, load, lam)
                if n is not None and n.key not in taken:
                    children.append(n)
        level = _best(children, cfg.width)
        kept += level
        if not level:
            break
    return kept


def admit(sim: Sim, arm, nodes: list[BeamNode], now: float) -> list[BeamNode]:
    """Admit prefixes in order of score (per speculative second for value-like scorers) within slots,
    memory and the interference budget; then drop everything if it costs more than it saves."""
    cfg: BeamConfig = arm.beam
    scorer: Scorer = arm.scorer
    busy, mem = sim.load(now)
    free_slots = sim.slots - busy
    free_mem = sim.device.memory_budget_gb - mem
    budget = cfg.interference_budget * arm.stats.think_s
    jm = sim.device.job_memory_gb

    def order(n: BeamNode) -> float:
        return -(n.score / max(n.features.slack_s, 1e-9) if scorer.per_slack else n.score)

    admitted: list[BeamNode] = []
    interference = 0.0
    for node in sorted(nodes, key=order):
        if scorer.per_slack and node.score <= 0:
            continue
        new = [n for n in node.path_nodes if not n.admitted]
        if not new:
            continue
        first_parent = new[0].parent
        slot = 1 if first_parent is None or first_parent.admitted_children > 0 else 0
        mem_need = max(jm[n.resource] for n in new) if slot else 0.0
        extra = sum(n.terms.interference for n in new)
        if slot > free_slots or mem_need > free_mem or interference + extra > budget:
            continue
        free_slots -= slot
        free_mem -= mem_need
        interference += extra
        for n in new:
            n.admitted = True
            if n.parent is not None:
                n.parent.admitted_children += 1
            admitted.append(n)
    if cfg.fast_path and admitted and sum(n.terms.value for n in admitted) <= 0:
        return []  # serial fast path: co-running would cost more than it saves
    return admitted


def launch(sim: Sim, admitted: list[BeamNode], now: float) -> None:
    """Start depth-1 nodes now and each deeper node when its parent's speculative job finishes."""
    for node in sorted(admitted, key=lambda n: n.depth):
        parent_job = node.parent.job if node.parent else None
        start = parent_job.finish if parent_job else now
        node.job = sim.launch(
            node.key, node.cand.tool, node.resource, start, node.terms.q, node.depth,
            target=node.target if node.bound else -1, bound=node.bound,
        )
