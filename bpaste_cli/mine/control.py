"""Control flow: which tools the next step calls, given the last k event keys (k = 0..K).

Counts are per decision point: n(C) decisions had context C, c(C, T) of them emitted at least one
call of T. Estimates back off and shrink toward the shorter context (interpolated Dirichlet smoothing,
the empirical-Bayes count tables PASTE describes):

    p(T | C_k) = (c(C_k, T) + alpha * p(T | C_{k-1})) / (n(C_k) + alpha),   p(T | C_0) = c(T) / n

so p is P(T is among the next step's calls), and a decision that emitted no call counts in n.
Contexts seen fewer than `min_support` times are dropped (the predictor backs off past them).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

SEP = " > "


class ControlCounts:
    """Accumulates (context suffix -> next tools) counts during mining."""

    def __init__(self, K: int) -> None:
        self.K = K
        self.n: Counter[tuple[str, ...]] = Counter()
        self.c: dict[tuple[str, ...], Counter[str]] = {}

    def add_many(self, decisions: Iterable[tuple[tuple[str, ...], tuple[str, ...]]] | Mapping[tuple[tuple[str, ...], tuple[str, ...]], int]) -> None:
        """Count decisions given as (keys before the step, tools the step called), repeats allowed, or as a
        mapping of each distinct decision to its count.

        Decisions repeat: each distinct one (context and tools) is counted once with its multiplicity."""
        full: Counter[tuple[str, ...]] = Counter()
        pairs: Counter[tuple[tuple[str, ...], str]] = Counter()
        for (keys, tools), m in Counter(decisions).items():
            full[keys] += m
            for t in set(tools):
                pairs[(keys, t)] += m
        for k in range(0, self.K + 1):
            for keys, m in full.items():
                if len(keys) >= k:
                    self.n[keys[len(keys) - k :]] += m
            for (keys, tool), m in pairs.items():
                if len(keys) >= k:
                    ctx = keys[len(keys) - k :]
                    cnt = self.c.get(ctx)
                    if cnt is None:
                        cnt = self.c[ctx] = Counter()
                    cnt[tool] += m

    def table(self, alpha: float, min_support: int, top: int) -> list[tuple[tuple[str, ...], int, list[tuple[str, int, float]]]]:
        """[(context, n, [(tool, count, smoothed p)] best first)] for every kept context, shortest first."""
        kept = sorted((ctx for ctx, n in self.n.items() if not ctx or n >= min_support), key=lambda c: (len(c), c))
        full: dict[tuple[str, ...], dict[str, float]] = {}
        rows = []
        for ctx in kept:
            n = self.n[ctx]
            cnt = self.c.get(ctx, Counter())
            if not ctx:
                dist = {t: c / n for t, c in cnt.items()}
            else:
                parent = full[ctx[1:]]
                dist = {t: (cnt.get(t, 0) + alpha * p) / (n + alpha) for t, p in parent.items()}
            full[ctx] = dist
            best = sorted(dist.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
            rows.append((ctx, n, [(t, cnt.get(t, 0), p) for t, p in best]))
        return rows
