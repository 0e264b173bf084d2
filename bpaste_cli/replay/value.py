"""Expected latencies, the shadow price of slack, PASTE's utility, B-PASTE's prefix value, and scorers.

B-PASTE's value (our reconstruction, docs/ARCHITECTURE.md §6) of a branch prefix π = (n1..nd):
    value(π) = Σ_j q_j·min(S_j, T) + unlock(π) − interference(π) − λ(load)·Σ_j (1 − q_j)·S_j
with T the typical think time. Lead times come from a small recursion that assumes every node of the
prefix is right: the real request for n_j arrives at R_j (R_1 = T, R_{j+1} = max(R_j, start_j + S_j) + T)
while the speculative chain starts n_j at start_j = Σ_{i<j} S_i, so L_j = R_j − start_j; unlock(π) =
Σ_j q_j·(min(S_j, L_j) − min(S_j, T)) is what starting a node before its parent's real result exists adds.
Interference of node j = c_llm[class]·min(S_j, L_j) (it overlaps a think window) + (1 − q_j)·c_tool[class]·
max(0, S_j − L_j) (a wrong node keeps running beside real tools).

Ranking is a `Scorer` chosen by name (`scorer_for`): probability, value, or model, which scores with a
value model from `fit` passed in as an argument; the beam never changes for a new ranking.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Callable, Iterable, NamedTuple, Protocol

from bpaste_cli.errors import BpasteError
from bpaste_cli.replay.traces import SessionTrace

LAMBDA_STEPS = ((0.25, 0.02), (0.5, 0.05), (0.75, 0.10), (float("inf"), 0.20))
DEFAULT_THINK_S = 3.0
DEFAULT_LATENCY_S = 1.0


def shadow_price(load: float, scale: float = 1.0) -> float:
    """λ(load): PASTE's shadow price of slack, 0.02 / 0.05 / 0.10 / 0.20 as slot load rises, times `scale`
    (the λ schedule `tune` searches: below 1 speculation is cheaper, above 1 dearer)."""
    for bound, lam in LAMBDA_STEPS:
        if load < bound:
            return lam * scale
    return LAMBDA_STEPS[-1][1] * scale


@dataclass
class LatencyStats:
    """Typical (median) think time and per-tool latency, learned from sessions (the training split)."""

    think_s: float
    tool_s: dict[str, float]
    default_tool_s: float

    @classmethod
    def from_traces(cls, traces: Iterable[SessionTrace]) -> LatencyStats:
        thinks: list[float] = []
        per_tool: dict[str, list[float]] = {}
        for tr in traces:
            for nd in tr.nodes:
                if nd.kind == "llm":
                    thinks.append(nd.logged_end - nd.logged_start)
                elif nd.kind == "tool":
                    per_tool.setdefault(nd.tool, []).append(nd.logged_end - nd.logged_start)
        return cls.from_durations(thinks, per_tool)

    @classmethod
    def from_durations(cls, thinks: list[float], per_tool: dict[str, list[float]]) -> LatencyStats:
        """The statistics of logged think times and per-tool latencies (tools in order of first call)."""
        every = [x for xs in per_tool.values() for x in xs]
        return cls(
            think_s=median(thinks) if thinks else DEFAULT_THINK_S,
            tool_s={t: median(xs) for t, xs in per_tool.items()},
            default_tool_s=median(every) if every else DEFAULT_LATENCY_S,
        )

    def latency(self, tool: str) -> float:
        return self.tool_s.get(tool, self.default_tool_s)


def paste_utility(p: float, s: float, lead: float, lam: float) -> float:
    """PASTE: U = p·min(S, L) − (1 − p)·λ·S."""
    return p * min(s, lead) - (1.0 - p) * lam * s


class NodeTerms(NamedTuple):
    """One node's share of its prefix's value (so shared ancestors are counted once). Immutable; a named tuple
    rather than a frozen dataclass because the beam builds one per node it scores, and a frozen dataclass
    costs two to three times as much to build."""

    q: float  # probability that the prefix up to this node is right
    s: float  # expected latency
    lead: float  # lead time before the real request, if the prefix is right
    gain: float  # q·min(S, T)
    unlock: float  # q·(min(S, L) − min(S, T))
    interference: float
    waste: float  # λ·(1 − q)·S

    @property
    def value(self) -> float:
        return self.gain + self.unlock - self.interference - self.waste

    def value_at(self, lam: float) -> float:
        """Its value under another shadow price (an ancestor's, when a wall-clock beam grows later)."""
        return self.gain + self.unlock - self.interference - lam * (1.0 - self.q) * self.s


ChainState = tuple[float, float, float]  # (q, start, request) after a node: what its children's terms start from


def chain_start(think: float) -> ChainState:
    """The recursion's state before a chain's first node."""
    return (1.0, 0.0, think)


def next_terms(state: ChainState, p: float, s: float, c_llm: float, c_tool: float, think: float, lam: float,
               ) -> tuple[NodeTerms, ChainState]:
    """The terms of the node after `state` (its conditional probability `p`, latency `s`, its class's
    coefficients), and the state its own children start from."""
    q, start, request = state
    q *= p
    lead = max(0.0, request - start)
    alone = min(s, think)
    interference = c_llm * min(s, lead) + (1.0 - q) * c_tool * max(0.0, s - lead)
    terms = NodeTerms(q, s, lead, q * alone, q * (min(s, lead) - alone), interference, lam * (1.0 - q) * s)
    return terms, (q, start + s, max(request, start + s) + think)


def chain_terms(
    probs: list[float], latencies: list[float], coefs: list[tuple[float, float]], think: float, lam: float
) -> list[NodeTerms]:
    """NodeTerms for each node of a chain; `coefs[j]` = (c_llm, c_tool) of node j's resource class."""
    out: list[NodeTerms] = []
    state = chain_start(think)
    for p, s, (c_llm, c_tool) in zip(probs, latencies, coefs):
        terms, state = next_terms(state, p, s, c_llm, c_tool, think, lam)
        out.append(terms)
    return out


@dataclass(frozen=True, slots=True)
class PrefixFeatures:
    """What a scorer sees about one branch prefix (also the feature row `fit` will learn from)."""

    q: float
    depth: int
    prob: float  # the last node's own conditional probability
    latency_s: float  # the last node's expected latency
    lead_s: float
    think_s: float
    load: float
    lam: float
    resource: str
    tool: str
    value: float  # the analytic prefix value (Σ of its nodes' NodeTerms.value)
    slack_s: float  # speculative seconds the prefix costs (Σ latencies)


@dataclass(frozen=True)
class Scorer:
    """Ranks prefixes. `per_slack`: admit in order of score per speculative second. `from_prefix`, when set,
    is the same score from the prefix probability and value alone (what the built-in rankings read), so the
    beam need not build a `PrefixFeatures` for every node it scores."""

    name: str
    score: Callable[[PrefixFeatures], float]
    per_slack: bool
    from_prefix: Callable[[float, float], float] | None = None


class ValueModel(Protocol):
    """A learned prefix value (`fit.ValueModel`): predicted agent seconds saved."""

    def score(self, features: PrefixFeatures) -> float: ...


PROBABILITY = Scorer("probability", lambda f: f.q, per_slack=False, from_prefix=lambda q, value: q)
VALUE = Scorer("value", lambda f: f.value, per_slack=True, from_prefix=lambda q, value: value)
RANKINGS = ("probability", "value", "model")


def scorer_for(rank: str, value_model: ValueModel | None = None) -> Scorer:
    """The scorer a ranking name stands for; `model` scores with `value_model`, admitted per speculative second."""
    if rank == "probability":
        return PROBABILITY
    if rank == "value":
        return VALUE
    if rank == "model" and value_model is not None:
        return Scorer("model", value_model.score, per_slack=True)
    hint = " (`model` needs a value model from `bpaste fit`)" if rank == "model" else ""
    known = RANKINGS if value_model is not None else RANKINGS[:2]
    raise BpasteError(f"Unknown ranking {rank!r}{hint}; choose one of {', '.join(known)}.")
