"""B-PASTE's beam (our reconstruction): branch prefixes up to depth D, width B, ranked by a scorer, admitted
onto the device's slack with authoritative protection, an interference budget and a serial fast path.

A node at depth d is a call predicted for the (d−1)-th step after the decision point, by a cursor that has
observed its ancestors *with their results*. A result is known only when the ancestor matches a future
real call (its logged result); otherwise its subtree cannot be bound and is waste. Which nodes match is
never used to choose or admit them: only the predictor's probabilities and the latency statistics are.

Every piece works through a `PlanningContext`, so a wall-clock speculator uses the same functions: it
builds the roots, admits and launches them, and grows the beam below an admitted node with `children`
when that node's speculative result arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bpaste_cli.mine import Candidate, Event
from bpaste_cli.replay.context import PlanningContext
from bpaste_cli.replay.value import ChainState, LatencyStats, NodeTerms, PrefixFeatures, Scorer, chain_start, next_terms


@dataclass(slots=True, eq=False)
class BeamNode:
    """One branch prefix of the beam, ending at `cand`. What a scorer sees of it (`features`) is built only
    when asked for: the built-in rankings read the prefix probability and value straight from the node."""

    cand: Candidate
    key: tuple[str, str]
    resource: str
    parent: BeamNode | None
    depth: int
    bound: bool  # every ancestor's result is known, so its arguments come from results, not guesses
    terms: NodeTerms
    value: float  # the analytic prefix value (Σ of its nodes' NodeTerms.value at this decision's λ)
    slack_s: float  # speculative seconds the prefix costs (Σ latencies)
    think_s: float
    load: float
    lam: float
    result: Event | None = None  # its call's result, once known (`PlanningContext.known_result`)
    score: float = 0.0
    admitted_children: int = 0
    admitted: bool = False
    job: Any = None  # the context's handle once launched
    ancestors: list[BeamNode] = field(default_factory=list)  # root first (a node never refers to itself: no cycles)
    state: ChainState = (1.0, 0.0, 0.0)  # the value recursion after this node (`value.next_terms`)
    _features: PrefixFeatures | None = None

    @property
    def path_nodes(self) -> list[BeamNode]:
        """The prefix's nodes, root first, this one last."""
        return [*self.ancestors, self]

    @property
    def features(self) -> PrefixFeatures:
        """The scorer's view of this prefix (also the feature row `fit` learns from)."""
        if self._features is None:
            terms = self.terms
            self._features = PrefixFeatures(
                q=terms.q, depth=self.depth, prob=self.cand.prob, latency_s=terms.s, lead_s=terms.lead,
                think_s=self.think_s, load=self.load, lam=self.lam, resource=self.resource, tool=self.cand.tool,
                value=self.value, slack_s=self.slack_s,
            )
        return self._features


@dataclass(frozen=True)
class BeamConfig:
    width: int = 3
    depth: int = 2
    min_prob: float = 0.1
    interference_budget: float = 0.1  # predicted authoritative slowdown allowed, as a fraction of think time
    fast_path: bool = True


@dataclass(frozen=True)
class BeamSettings:
    """What the beam knows of its arm: latency statistics, the speculable safety classes, the ranking and
    the beam's shape."""

    stats: LatencyStats
    allowed: frozenset[str]
    scorer: Scorer
    config: BeamConfig


def _node(ctx: PlanningContext, bs: BeamSettings, cand: Candidate, parent: BeamNode | None, load: float,
          lam: float) -> BeamNode | None:
    """The beam node of `cand` below `parent`, or None when refused (its prefix's probability is below
    `min_prob`, checked first by `children` as the cheapest refusal; a class not speculated; already pending)."""
    cls = ctx.classify(cand.tool, cand.args_json)
    if cls.safety not in bs.allowed:
        return None
    key = (cand.tool, cand.args_hash)
    if ctx.pending(key):
        return None
    stats = bs.stats
    think = stats.think_s
    resource = cls.resource
    interference = ctx.device.interference
    mine, state = next_terms(parent.state if parent is not None else chain_start(think), cand.prob,
                             stats.latency(cand.tool), interference["llm"][resource], interference["tool"][resource],
                             think, lam)
    if parent is None:
        ancestors: list[BeamNode] = []
        value, slack, bound = sum([mine.value]), sum([mine.s]), True
    else:
        ancestors = [*parent.ancestors, parent]
        value = sum([n.terms.value_at(lam) for n in ancestors] + [mine.value])
        slack = sum([n.terms.s for n in ancestors] + [mine.s])
        bound = parent.bound and parent.result is not None
    node = BeamNode(cand, key, resource, parent, len(ancestors) + 1, bound, mine, value, slack, think, load, lam,
                    ctx.known_result(key) if bound else None, state=state, ancestors=ancestors)
    scorer = bs.scorer
    node.score = scorer.score(node.features) if scorer.from_prefix is None else scorer.from_prefix(mine.q, value)
    return node


def best(nodes: list[BeamNode], width: int) -> list[BeamNode]:
    """The `width` best-scored nodes, one per key."""
    if len(nodes) <= 1:
        return list(nodes)
    seen: set[tuple[str, str]] = set()
    out = []
    for n in sorted(nodes, key=lambda n: -n.score):
        if n.key not in seen:
            seen.add(n.key)
            out.append(n)
        if len(out) == width:
            break
    return out


def _path(node: BeamNode) -> tuple:
    """The hypothetical calls up to `node`, each with the result it saw (None: unknown)."""
    return tuple((n.cand, n.result if n.bound else None) for n in node.path_nodes)


def least_kept(min_prob: float, q: float) -> float:
    """A probability below which no candidate under a prefix of probability `q` is kept (q·p < min_prob): the
    predictor need not rank those. A hair below min_prob / q, so that rounding never drops one that is kept."""
    return min_prob / q * (1.0 - 1e-9) if q > 0.0 else 0.0


def children(ctx: PlanningContext, bs: BeamSettings, parent: BeamNode | None, load: float, lam: float,
             taken: set[tuple[str, str]] | frozenset = frozenset()) -> list[BeamNode]:
    """Predicted and scored candidates one step below `parent` (None: the roots, the next step's calls), whose
    keys are not in `taken`, in the predictor's order (`best` keeps a level's top `width`). A wall-clock
    planner calls this when a parent's speculative result arrives (`BPasteArm.extend` sets `parent.result`)."""
    path = _path(parent) if parent is not None else ()
    q, min_prob = (parent.terms.q if parent is not None else 1.0), bs.config.min_prob
    return [n for c in ctx.predict(bs.config.width, path, least_kept(min_prob, q))
            if not q * c.prob < min_prob and (n := _node(ctx, bs, c, parent, load, lam)) is not None and n.key not in taken]


def build_beam(ctx: PlanningContext, bs: BeamSettings, load: float, lam: float) -> list[BeamNode]:
    """Every node kept in the beam (the best `width` prefixes at each depth), expanded up front as far as
    the context knows results."""
    width = bs.config.width
    level = best(children(ctx, bs, None, load, lam), width)
    kept = list(level)
    for _ in range(2, bs.config.depth + 1):
        found: list[BeamNode] = []
        taken = {n.key for n in kept}
        for parent in level:
            found += children(ctx, bs, parent, load, lam, taken)
        level = best(found, width)
        kept += level
        if not level:
            break
    return kept


def admit(ctx: PlanningContext, bs: BeamSettings, nodes: list[BeamNode]) -> list[BeamNode]:
    """Admit prefixes in order of score (per speculative second for value-like scorers) within slots,
    memory and the interference budget; then drop everything if it costs more than it saves."""
    cfg = bs.config
    scorer = bs.scorer
    busy, mem = ctx.load()
    free_slots = ctx.slots - busy
    free_mem = ctx.device.memory_budget_gb - mem
    budget = cfg.interference_budget * bs.stats.think_s
    jm = ctx.device.job_memory_gb

    def order(n: BeamNode) -> float:
        return -(n.score / max(n.slack_s, 1e-9) if scorer.per_slack else n.score)

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


def launch(ctx: PlanningContext, admitted: list[BeamNode]) -> None:
    """Start depth-1 nodes now and each deeper node when its parent's speculative job finishes."""
    for node in sorted(admitted, key=lambda n: n.depth):
        node.job = ctx.launch(node.key, node.cand.tool, node.resource, node.terms.q, node.depth,
                              after=node.parent.job if node.parent else None, bound=node.bound)
