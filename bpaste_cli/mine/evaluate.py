"""Held-out evaluation of a predictor at decision points, against trivial floors, with calibration.

A decision point is the moment before an llm event; the predictor has observed exactly the events
before it (it is fed through the public cursor, one event at a time, and asked before the step's own
calls are observed, so the future cannot leak). Its truth is the set of calls that step emitted.

Denominators, never mixed:
- `decisions`: decision points whose step emitted at least one call. Every top-k figure, floor and
  per-tool figure is a fraction of these (per tool: of the decisions whose step called that tool).
  A tool hit = one of the k likeliest tools was called; a call hit = one of the k best candidates is
  exactly one of the step's calls (same tool, same canonical arguments, i.e. same args_hash).
- `decisions_all`: every decision point, including steps that emitted no call (final answers).
  Calibration (Brier score, reliability bins) is over `scored` = every (candidate, hit) pair of the
  top-5 lists at all these points, since at run time nobody knows whether the step will call a tool.
- `families`: per data-flow family (`mine.dataflow.family`) of the candidates, how often it was the top-1
  candidate / in the top 5 at a decision with a call, and how often that candidate was exactly right.
- `vs_floor`: next-tool top-1 against the floor's on the same decisions, paired (`paired_vs_floor`), so
  "below the floor" is told apart from noise.
The calibration map is fitted here too (`fit_calibration`, one isotonic map per data-flow family with
enough held-out pairs); `mine.run.calibrate` decides which pairs it sees.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable

from bpaste_cli.mine.api import Event
from bpaste_cli.mine.control import ControlCounts
from bpaste_cli.mine.patterns import Rows
from bpaste_cli.mine.predictor import PatternPredictor

KS = (1, 3, 5)
BINS = 10


def floor_tools(floor: ControlCounts) -> dict[tuple[str, ...], list[str]]:
    """Last tool -> next tools by frequency (ties by name); () is the overall frequency."""
    out = {}
    for ctx, _, tools in floor.table(alpha=0.0, min_support=1, top=max(KS)):
        out[ctx] = [t for t, c, _ in tools if c > 0] if ctx else [t for t, _, _ in tools]
    return out


def decisions(predictor: PatternPredictor, rows: Rows, k: int = max(KS), calls: bool = True):
    """Yield (candidates, tools, last tool, last call (tool, args_hash), truth set of (tool, args_hash)) per decision
    (`calls=False`: no candidate calls, only the tool ranking)."""
    kinds, steps = rows.kind, rows.step  # type: ignore[attr-defined]
    for lo, hi in rows.sessions:
        cur = predictor.cursor()
        last_call = None
        i = lo
        while i < hi:
            kind = kinds[i]
            if kind == "llm":
                cands, tools, last = cur.predict(k) if calls else [], cur.tools(k), cur.state.last
                j = i + 1
                truth = set()
                while j < hi and kinds[j] != "llm" and not (kinds[j] == "user" and rows.text[j]):  # type: ignore[attr-defined]
                    if kinds[j] == "tool" and steps[j] == steps[i]:
                        truth.add((rows.tool[j], rows.args_hash[j]))  # type: ignore[attr-defined]
                    j += 1
                yield cands, tools, last, last_call, truth
                cur.observe(Event("llm", step=steps[i]))
            elif kind == "tool":
                cur.observe(_event(rows, i))
                last_call = (rows.tool[i], rows.args_hash[i])  # type: ignore[attr-defined]
            else:
                cur.observe(Event("user", text=rows.text[i]))  # type: ignore[attr-defined]
            i += 1


def _event(rows: Rows, i: int) -> Event:
    r: Any = rows
    return Event("tool", r.step[i], r.tool[i], r.args_json[i], r.args_hash[i], r.result_text[i], None, r.status[i])


def tool_hits(predictor: PatternPredictor, rows: Rows) -> tuple[list[bool], int]:
    """(top-1 hit per decision, top-3 hits) of the next-tool ranking on `rows`' decisions that called a tool."""
    top1, h3 = [], 0
    for _, tools, _, _, truth in decisions(predictor, rows, 3, calls=False):
        if truth:
            names = {t for t, _ in truth}
            ranked = [t for t, _ in tools]
            top1.append(any(t in names for t in ranked[:1]))
            h3 += any(t in names for t in ranked[:3])
    return top1, h3


def calibration_pairs(predictor: PatternPredictor, rows: Rows) -> list[tuple[float, int, str]]:
    """(probability, hit, data-flow family) for every top-5 candidate at every decision point."""
    pairs = []
    for cands, _, _, _, truth in decisions(predictor, rows):
        pairs.extend((c.prob, int((c.tool, c.args_hash) in truth), c.family or "none") for c in cands)
    return pairs


def fit_calibration(triples: list[tuple[float, int, str]], min_pairs: int = 50) -> dict[str, Any]:
    """The calibration map: one pooled isotonic map, plus one per data-flow family (and per family kind, the
    word before the space: `result`) with at least `min_pairs` pairs. Candidates of one score hit at very
    different rates by where their arguments come from (a URL from the latest result against a constant), so
    one pooled step would mix them; a family too rare for its own map uses its kind's, else the pooled one."""
    return CalibrationTally(triples).fit(min_pairs)


Tally = dict[float, list[float]]  # score -> [hits, pairs]


def _tally(pairs: Any, tied: Tally | None = None) -> Tally:
    """(score, hit) pairs summed per score (into `tied`): equal scores are one point of an isotonic fit."""
    tied = {} if tied is None else tied
    for x, y in pairs:
        _count(tied, x, y)
    return tied


def _count(tied: Tally, x: float, y: float) -> None:
    """One (score, hit) pair added to `tied`."""
    t = tied.get(x)
    if t is None:
        tied[x] = [0.0 + y, 1.0]
    else:
        t[0] += y
        t[1] += 1


class CalibrationTally:
    """The (score, hit, family) triples of `fit_calibration` tallied per score, pooled and per family and family
    kind. With whole-number hits the sums are exact, so the tally of two disjoint sets of triples is the sum of
    theirs (`+`): the cross-fitted maps of `mine.run.calibrate` share the tally of the pairs they all hold
    instead of re-reading them."""

    def __init__(self, triples: Iterable[tuple[float, int, str]] = ()) -> None:
        triples = list(triples)
        self.pooled: Tally = _tally((x, y) for x, y, _ in triples)
        self.groups: dict[str, Tally] = {}
        into: dict[str, tuple[Tally, ...]] = {}  # family -> the tallies its pairs go to (its own, its kind's)
        for x, y, fam in triples:
            tallies = into.get(fam)
            if tallies is None:
                names = (fam, fam.split(" ")[0]) if " " in fam else (fam,)
                tallies = into[fam] = tuple(self.groups.setdefault(name, {}) for name in names)
            for tied in tallies:
                _count(tied, x, y)

    def __add__(self, other: CalibrationTally) -> CalibrationTally:
        out = CalibrationTally()
        out.pooled = _merged(self.pooled, other.pooled)
        out.groups = {name: _merged(self.groups.get(name, {}), other.groups.get(name, {})) for name in self.groups | other.groups}
        return out

    def fit(self, min_pairs: int = 50) -> dict[str, Any]:
        """The calibration map of the tallied triples (see `fit_calibration`)."""
        out: dict[str, Any] = _fit_tally(self.pooled, min_pairs)
        fams = {f: _fit_tally(tied, min_pairs) for f, tied in sorted(self.groups.items()) if _pairs(tied) >= min_pairs}
        if out["x"] and fams:
            out["families"] = fams
        return out


def _merged(a: Tally, b: Tally) -> Tally:
    out = {x: list(t) for x, t in a.items()}
    for x, (y, n) in b.items():
        t = out.get(x)
        if t is None:
            out[x] = [y, n]
        else:
            t[0] += y
            t[1] += n
    return out


def _pairs(tied: Tally) -> int:
    return int(sum(n for _, n in tied.values()))


# pairs per step of the calibration map: a step fitted on fewer is noise (a p of 1 from 3 hits), one fitted on
# many more blurs candidates of different scores together
MIN_BLOCK = 30


def fit_isotonic(pairs: list[tuple[float, int]], min_pairs: int = 50, min_block: int = MIN_BLOCK) -> dict[str, list[float]]:
    """Pool-adjacent-violators fit of hit rate on score (tied scores pooled), then adjacent steps pooled until each holds at least
    `min_block` pairs (still monotone: a pool of two neighbours lies between them); {} x/y (identity) with fewer
    than `min_pairs`. Each step's rate is its hit rate with half a hit added in one more trial, so no candidate is
    ever certain or impossible. A step is flat over the scores it was fitted on (its lowest and its highest score
    are both knots: a candidate gets the rate of the pairs it resembles, which a line between step means would
    not give); the predictor interpolates only across the gaps between steps, where no pair was seen."""
    return _fit_tally(_tally(pairs), min_pairs, min_block) if len(pairs) >= min_pairs else {"x": [], "y": []}


def _fit_tally(tied: Tally, min_pairs: int = 50, min_block: int = MIN_BLOCK) -> dict[str, list[float]]:
    """`fit_isotonic` of the pairs tallied in `tied` (equal scores are one point: their order must not make steps)."""
    if _pairs(tied) < min_pairs:
        return {"x": [], "y": []}
    blocks: list[list[float]] = []  # [sum_y, n, lowest score, highest score]
    for x, (y, n) in sorted(tied.items()):
        blocks.append([y, n, x, x])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            b = blocks.pop()
            blocks[-1] = _pool(blocks[-1], b)
    while len(blocks) > 1:
        i = min(range(len(blocks)), key=lambda j: blocks[j][1])
        if blocks[i][1] >= min_block:
            break
        j = i - 1 if i == len(blocks) - 1 or (i > 0 and blocks[i - 1][1] <= blocks[i + 1][1]) else i + 1
        lo, hi = min(i, j), max(i, j)
        blocks[lo:hi + 1] = [_pool(blocks[lo], blocks[hi])]
    xs: list[float] = []
    ys: list[float] = []
    for y, n, lo_x, hi_x in blocks:
        rate = (y + 0.5) / (n + 1.0)
        for x in (lo_x, hi_x) if hi_x > lo_x else (lo_x,):
            xs.append(x)
            ys.append(rate)
    return {"x": xs, "y": ys}


def _pool(a: list[float], b: list[float]) -> list[float]:
    """Two adjacent steps as one: hits and pairs summed, the score range of both."""
    return [a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3])]


def evaluate(predictor: PatternPredictor, rows: Rows, floor: ControlCounts) -> dict[str, Any]:
    """Top-k of tools and exact calls, floors, per-tool figures and calibration on `rows`' sessions."""
    ftab = floor_tools(floor)
    hit = Counter()
    per_tool: dict[str, Counter] = {}
    fams: dict[str, Counter] = {}
    n_all = 0
    pairs: list[tuple[float, int]] = []
    for cands, tools, last, last_call, truth in decisions(predictor, rows):
        n_all += 1
        pairs.extend((c.prob, int((c.tool, c.args_hash) in truth)) for c in cands)
        if not truth:
            continue
        hit["decisions"] += 1
        names = {t for t, _ in truth}
        ranked_tools = [t for t, _ in tools]
        calls = [(c.tool, c.args_hash) for c in cands]
        fl = ftab.get((last,)) or ftab.get((), [])
        hit["abstained"] += not cands
        rep = last_call is not None and last_call in truth
        hit["repeat_last_call"] += rep
        for i, c in enumerate(cands):
            f = fams.setdefault(c.family or "none", Counter())
            f["offered_top1"] += i == 0
            f["offered_top5"] += 1
            if (c.tool, c.args_hash) in truth:
                f["hits_top1"] += i == 0
                f["hits_top5"] += 1
        mine1, floor1 = any(t in names for t in ranked_tools[:1]), any(t in names for t in fl[:1])
        hit["wins"] += mine1 and not floor1
        hit["losses"] += floor1 and not mine1
        for k in KS:
            hit[f"tool_top{k}"] += any(t in names for t in ranked_tools[:k])
            hit[f"call_top{k}"] += any(c in truth for c in calls[:k])
            hit[f"floor_tool_top{k}"] += any(t in names for t in fl[:k])
        for name in names:
            pt = per_tool.setdefault(name, Counter())
            pt["decisions"] += 1
            pt["repeat_last_call"] += rep and last_call[0] == name
            for k in KS:
                pt[f"tool_top{k}"] += name in ranked_tools[:k]
                pt[f"call_top{k}"] += any(c in truth and c[0] == name for c in calls[:k])
                pt[f"floor_tool_top{k}"] += name in fl[:k]
    n = hit["decisions"]
    result: dict[str, Any] = {"decisions": n, "decisions_all": n_all, "sessions": len(rows.sessions)}
    for name in [f"{m}_top{k}" for m in ("tool", "call", "floor_tool") for k in KS] + ["repeat_last_call"]:
        result[name] = hit[name] / n if n else None
    result["abstained"] = hit["abstained"]
    result["vs_floor"] = paired_vs_floor(hit["wins"], hit["losses"], n)
    result |= calibration(pairs)
    result["families"] = {name: {m: f[m] for m in ("offered_top1", "hits_top1", "offered_top5", "hits_top5")}
                          for name, f in sorted(fams.items(), key=lambda kv: (-kv[1]["hits_top5"], kv[0]))}
    result["per_tool"] = {
        t: {"decisions": c["decisions"]} | {m: c[m] / c["decisions"] for m in sorted(c) if m != "decisions"}
        for t, c in sorted(per_tool.items(), key=lambda kv: (-kv[1]["decisions"], kv[0]))
    }
    return result


def paired_vs_floor(wins: int, losses: int, n: int) -> dict[str, Any]:
    """Next-tool top-1 minus the floor's on the same decisions: `wins` (right where the floor is wrong), `losses`
    (the reverse), the difference with its 95% paired interval (normal approximation of the paired difference)
    and McNemar's exact two-sided p; `below_floor` only when the whole interval lies below zero (worse than noise)."""
    if not n:
        return {"wins": 0, "losses": 0, "diff": None, "low": None, "high": None, "p": None, "below_floor": False}
    diff = (wins - losses) / n
    var = max(0.0, (wins + losses) / n - diff * diff) / n
    half = 1.96 * var ** 0.5
    return {"wins": wins, "losses": losses, "diff": diff, "low": diff - half, "high": diff + half,
            "p": mcnemar(wins, losses), "below_floor": diff + half < 0}


def mcnemar(wins: int, losses: int) -> float:
    """McNemar's exact two-sided p-value: the discordant decisions as fair coin flips."""
    m = wins + losses
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(min(wins, losses) + 1)) / 2 ** m
    return min(1.0, 2 * tail)


RELIABLE_N = 30  # a reliability bin is judged only with at least this many pairs
TOLERANCE = 0.1  # |mean probability - hit rate| a judged bin may show


def calibration(pairs: list[tuple[float, int]]) -> dict[str, Any]:
    """Brier score of (probability, hit) pairs and a reliability table in `BINS` equal-width bins, each with the
    95% Wilson interval of its hit rate; `judged_n` and `tolerance` (the thresholds below); `worst_gap` over the bins of at least `RELIABLE_N` pairs, `within` when
    every such gap is at most `TOLERANCE`, and `beyond_noise`: the judged bins whose mean probability lies outside
    their interval (a gap the bin's sample size does not explain)."""
    if not pairs:
        return {"scored": 0, "brier": None, "reliability": [], "judged_n": RELIABLE_N, "tolerance": TOLERANCE,
                "worst_gap": None, "within": None, "beyond_noise": []}
    bins: dict[int, list[float]] = {}
    for p, y in pairs:
        b = bins.setdefault(min(int(p * BINS), BINS - 1), [0.0, 0.0, 0.0])
        b[0] += 1
        b[1] += p
        b[2] += y
    table = []
    for i, (n, sp, sy) in sorted(bins.items()):
        lo, hi = wilson(int(sy), int(n))
        table.append({"bin": f"{i / BINS:.1f}-{(i + 1) / BINS:.1f}", "n": int(n), "mean_prob": sp / n, "hit_rate": sy / n,
                      "hit_low": lo, "hit_high": hi})
    judged = [b for b in table if b["n"] >= RELIABLE_N]
    worst = max((abs(b["mean_prob"] - b["hit_rate"]) for b in judged), default=None)
    return {"scored": len(pairs), "brier": sum((p - y) ** 2 for p, y in pairs) / len(pairs), "reliability": table,
            "judged_n": RELIABLE_N, "tolerance": TOLERANCE, "worst_gap": worst, "within": None if worst is None else worst <= TOLERANCE,
            "beyond_noise": [b["bin"] for b in judged if not b["hit_low"] <= b["mean_prob"] <= b["hit_high"]]}


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95% for z = 1.96): sound at 0 and n hits too."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)
