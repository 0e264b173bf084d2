"""The mined predictor: pattern tables -> ranked, fully bound candidate calls with calibrated probabilities.

`PatternPredictor` holds three flat tables (control, signatures, rules; the same columns as the
Parquet files of a pattern table and as the `to_dict()` JSON embedded in a policy) plus a calibration
map. A cursor keeps a bounded `SessionState`, so observe() is O(1) and predict() costs
O(K + tools x rules), never a re-scan of the prefix; the ranking walks its branches best bound first and
stops, or skips a partial binding, once nothing left can reach the top k, with the answer of the
exhaustive ranking.

Candidate probability (before calibration), for tool T, signature s and arguments a in s:
    P(T | context) * P(s | T) * prod_a P(value of a),
where the values of one argument come from its rules in order of exact-reproduction rate, the i-th
distinct value getting rate_i times the mass the earlier values left. A `repeat` rule gives the whole
call directly: P(T | context) * rate. The calibration map (isotonic, fitted on held-out scores, one per
data-flow family with enough of them) turns that score into P(this exact call is among the next step's
calls), and candidates are ranked by it. Every factor of a score is in [0, 1], so a branch's first factors
bound the score of everything it can offer, and the running maximum of a map (`Curve.upper`; a map need not
be monotone: its steps' rates are smoothed one by one) bounds what such a score can calibrate to: that is
what lets the ranking prune.
"""

from __future__ import annotations

import bisect
import math
from operator import itemgetter
from typing import Any

import orjson
from orjson import OPT_SORT_KEYS as _SORT
from orjson import dumps as _dumps

from bpaste_cli.artifacts import ArtifactType, check_artifact
from bpaste_cli.errors import BpasteError
from bpaste_cli.mine.api import Candidate, Event, new_candidate
from bpaste_cli.mine.dataflow import ABSENT, ROOT, Call, Rule, SessionState, bind, describe, family, family_rank, parse_args
from bpaste_cli.mine.keys import KEYS, NEEDS_ARGS
from bpaste_cli.trace import args_hash, canonical_json

PREDICTOR_KIND = "bpaste-predictor"
PREDICTOR_SCHEMA_VERSION = 1
CONTROL_COLUMNS = ("context", "n", "tool", "count", "prob")
SIGNATURE_COLUMNS = ("tool", "args", "count", "prob")
RULE_COLUMNS = ("tool", "arg", "kind", "src", "rank", "field", "pos", "cast", "value", "occurrences", "bindable", "exact", "rate")
VALUES_PER_ARG = 3
SIGNATURES_PER_TOOL = 2
TOOLS_PER_DECISION = 8
CACHE_ENTRIES = 1 << 16  # entries a per-predictor cache keeps (contexts' branch lists, argument hashes)
REPEAT, NO_ARGS = "repeat", "none"  # the families of a whole-call repeat and of a call without arguments
RuleEntry = tuple[Rule, float, Any, str, str, int, tuple[str, int, str, int] | None]  # see PatternPredictor.rules
BoundValue = tuple[Any, float, str, str, int, bool]  # see PatternPredictor._values

PREDICTOR = ArtifactType(PREDICTOR_KIND, PREDICTOR_SCHEMA_VERSION, {"type": "object"}, "bpaste predictor",
                         "re-run `bpaste mine` and `bpaste tune`", "re-run `bpaste mine`")


class Curve:
    """One calibration map (knots `xs`, rates `ys`; none: the identity) with the bounds pruning needs.

    The map is flat below its first knot and above its last and linear in between; `peaks[j]` is the most it
    gives to any score below knot j (j = len(xs): to any score), as computed, so it bounds the map whether or
    not the map is monotone. A map whose knots are out of order or not finite has no bounds (`peaks` None)."""

    __slots__ = ("xs", "ys", "peaks", "lows")

    def __init__(self, xs: list[float], ys: list[float]) -> None:
        self.xs, self.ys = xs, ys
        self.peaks: list[float] | None = None
        self.lows = [float("-inf"), *xs]  # the lowest score of each stretch
        if not xs:
            self.peaks = []
        elif len(xs) == len(ys) and all(isinstance(v, (int, float)) and math.isfinite(v) for v in xs + ys) \
                and all(a <= b for a, b in zip(xs, xs[1:])):
            # the most of each stretch: below the first knot, between knots j-1 and j (the formula of `value` is
            # monotone there, so its value at knot j bounds it; both rates count, even for two equal knots, so that
            # peaks[j] bounds a stretch that goes down from rate j), above the last knot
            stretches = [ys[0]]
            for j in range(1, len(xs)):
                x0, x1, y0, y1 = xs[j - 1], xs[j], ys[j - 1], ys[j]
                stretches.append(max(y0, y1, y0 + (y1 - y0) * (x1 - x0) / (x1 - x0)) if x1 > x0 else max(y0, y1))
            stretches.append(ys[-1])
            self.peaks = [max(stretches[: j + 1]) for j in range(len(stretches))]

    def value(self, score: float) -> float:
        """The calibrated probability of `score`."""
        xs = self.xs
        if not xs:
            return score
        i = bisect.bisect_right(xs, score)
        if i == 0:
            return self.ys[0]
        if i == len(xs):
            return self.ys[-1]
        x0, x1, y0, y1 = xs[i - 1], xs[i], self.ys[i - 1], self.ys[i]
        return y0 if x1 == x0 else y0 + (y1 - y0) * (score - x0) / (x1 - x0)

    def upper(self, score: float) -> float:
        """The most any score at or below `score` calibrates to (a map with bounds only)."""
        if not self.xs:
            return score
        i = bisect.bisect_right(self.xs, score)  # the stretch of `score`
        v = self.value(score)
        return v if i == 0 else max(self.peaks[i - 1], v)

    def reach(self, p: float, above: bool = False) -> float:
        """A score below which nothing calibrates to `p` or more (`above`: to more than `p`; a map with bounds
        only)."""
        if not self.xs:
            return p
        # the first stretch that can give p (more than p)
        j = (bisect.bisect_right if above else bisect.bisect_left)(self.peaks, p)
        return self.lows[j] if j < len(self.peaks) else float("inf")


class PatternPredictor:
    """Run-time form of a pattern table (implements `bpaste_cli.mine.api.Predictor`)."""

    def __init__(self, params: dict[str, Any], tables: dict[str, dict[str, list[Any]]], calibration: dict[str, list[float]] | None = None):
        self.params = dict(params)
        self.tables = tables
        self.calibration = calibration or {"x": [], "y": []}
        key = self.params.get("key", "tool")
        if key not in KEYS:
            raise BpasteError(f"The pattern table uses the event key {key!r}, which this bpaste does not know; re-run `bpaste mine`.")
        self._key_fn, self._needs_args = KEYS[key], key in NEEDS_ARGS
        try:
            self.K, self.R = int(self.params["K"]), int(self.params["R"])
        except (KeyError, TypeError, ValueError):
            raise BpasteError("The predictor's parameters lack a valid K or R; re-run `bpaste mine`.") from None
        self.min_prob = float(self.params.get("min_prob", 0.0))
        c = tables["control"]
        self.control: dict[tuple[str, ...], list[tuple[str, float]]] = {}
        for ctx, tool, p in zip(c["context"], c["tool"], c["prob"]):
            self.control.setdefault(tuple(ctx), []).append((tool, p))
        s = tables["signatures"]
        self.signatures: dict[str, list[tuple[tuple[str, ...], float]]] = {}
        for tool, args, p in zip(s["tool"], s["args"], s["prob"]):
            self.signatures.setdefault(tool, []).append((tuple(args), p))
        r = tables["rules"]
        # (tool, arg) -> [(rule, rate, constant or ABSENT, words, family, family rank, (source tool, rank, field,
        # position) of the commonest rules, which `_values` binds inline, else None)], best first
        self.rules: dict[tuple[str, str], list[RuleEntry]] = {}
        for i in range(len(r["tool"])):
            rule = Rule(r["kind"][i], r["src"][i], r["rank"][i], r["field"][i], r["pos"][i], r["cast"][i], r["value"][i])
            const = orjson.loads(rule.value) if rule.kind == "const" else ABSENT  # ABSENT: bound per decision
            fam = family(rule)
            kind = rule.kind
            inline = kind == "copy" and not rule.pos or kind == "extract" and rule.pos > 0 and rule.cast != "num"
            fast = (rule.src, rule.rank, rule.field, rule.pos) if inline else None
            words = describe(rule, r["tool"][i], r["arg"][i])
            entry = (rule, r["rate"][i], const, words, fam, family_rank(fam), fast)
            self.rules.setdefault((r["tool"][i], r["arg"][i]), []).append(entry)
        for lst in self.rules.values():
            lst.sort(key=lambda e: (-e[1], e[0].kind == "const"))  # on a tie, state beats a constant
        # per tool, the (tool, argument)s with a rule reading one of its calls, and those with a rule reading the
        # latest prompt: a cursor's bound values of an argument hold until such a call (a prompt) arrives; and per
        # (tool, argument) those calls (source tool, least rank), whether it reads the prompt, and the values it
        # binds while none of them is visible (its constants'), which `_values` then gives without walking its
        # rules: in a coding agent's sessions half the bindings find no source yet
        self._readers: dict[str, list[tuple[str, str]]] = {}
        self._prompt_readers: list[tuple[str, str]] = []
        self._unbound: dict[tuple[str, str], tuple[tuple[tuple[str, int], ...], bool, list[BoundValue]]] = {}
        blank = SessionState(self._key_fn, self._needs_args, self.K, self.R)
        for ta, lst in self.rules.items():
            if ta[1] == "*":
                continue  # repeats: bound by `candidates` itself
            reads_prompt = any(e[0].kind == "prompt" for e in lst)
            if reads_prompt:
                self._prompt_readers.append(ta)
            ranks: dict[str, int] = {}
            for rule, _, const, *_ in lst:
                if const is ABSENT and rule.kind != "prompt":
                    ranks[rule.src] = min(rule.rank, ranks.get(rule.src, rule.rank))
            for src in sorted(ranks):
                self._readers.setdefault(src, []).append(ta)
            self._unbound[ta] = (tuple(ranks.items()), reads_prompt, self._values(ta[0], ta[1], blank))
        self._cx, self._cy = list(self.calibration.get("x", [])), list(self.calibration.get("y", []))
        self._maps = {f: (list(m["x"]), list(m["y"])) for f, m in self.calibration.get("families", {}).items()}
        pooled = Curve(self._cx, self._cy)
        curves = {f: Curve(xs, ys) for f, (xs, ys) in self._maps.items()}
        # family -> its map (else its kind's, else the pooled one), for every family a candidate can have
        self._curves: dict[str, Curve] = {}
        for fam in {REPEAT, NO_ARGS} | {e[4] for lst in self.rules.values() for e in lst}:
            self._curves[fam] = curves.get(fam) or curves.get(fam.split(" ")[0]) or pooled
        # per tool: its repeat rules (rank, rate, words) and its first signatures that every argument has rules
        # for (args, P, args are ROOT, names are plain strings, the maps of the families its arguments' rules have,
        # per argument the largest rate of its rules: no value of it gets a larger share)
        self._plans: dict[str, tuple[list[tuple[int, float, str]], list[tuple[Any, ...]]]] = {}
        for tool in set(self.signatures) | {t for t, a in self.rules if a == "*"}:
            repeats = [(e[0].rank, e[1], e[3]) for e in self.rules.get((tool, "*"), ())]
            sigs = []
            for sig, p in self.signatures.get(tool, [])[:SIGNATURES_PER_TOOL]:
                if all((tool, a) in self.rules for a in sig):  # else it binds nothing
                    fams = {e[4] for a in sig for e in self.rules[(tool, a)]} if sig else {NO_ARGS}
                    maps = tuple({id(m): m for m in (self._curves[f] for f in sorted(fams))}.values())
                    caps = tuple(max(e[1] for e in self.rules[(tool, a)]) for a in sig)
                    sigs.append((sig, p, sig == (ROOT,), all(type(a) is str for a in sig), maps, caps))
            self._plans[tool] = (repeats, sigs)
        factors = list(s["prob"]) + list(r["rate"]) + [p for lst in self.control.values() for _, p in lst]
        self._prunable = (all(isinstance(f, (int, float)) and 0.0 <= f <= 1.0 for f in factors)
                          and all(m.peaks is not None for m in (pooled, *curves.values())))
        self._branches_cache: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        self._hashes: dict[str, str] = {}  # args_json -> args_hash of recent candidates
        self._reach: dict[tuple[tuple[Curve, ...], float], float] = {}  # (a signature's maps, p) -> the least score reaching p

    def __reduce__(self) -> tuple[Any, ...]:
        """Sent to another process (`replay --workers`) as its tables: the plans built at load hold module
        sentinels (`ABSENT`) whose identity a pickled copy would lose."""
        return (PatternPredictor, (self.params, self.tables, self.calibration))

    # -- the Predictor protocol ------------------------------------------------------------------

    def cursor(self) -> PatternCursor:
        return PatternCursor(self, SessionState(self._key_fn, self._needs_args, self.K, self.R))

    def cursor_for(self, session: Any) -> PatternCursor:
        """Replay's cursor for a logged session: the same as `cursor()` (the tables never read the future)."""
        return self.cursor()

    # -- plain-JSON export -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A compact, self-contained plain-JSON form (embedded in policy.json); `from_dict` reverses it."""
        return {
            "kind": PREDICTOR_KIND,
            "schema_version": PREDICTOR_SCHEMA_VERSION,
            "params": self.params,
            "calibration": {"x": self._cx, "y": self._cy} | ({"families": self.calibration["families"]} if self._maps else {}),
            "tables": self.tables,
        }

    @classmethod
    def from_dict(cls, d: Any) -> PatternPredictor:
        """The predictor `to_dict` wrote (as a policy embeds it), checked by the artifact gate."""
        check_artifact(d, PREDICTOR, "", label="The predictor object")
        try:
            return cls(d["params"], d["tables"], d.get("calibration"))
        except (KeyError, TypeError, IndexError) as exc:
            raise BpasteError(f"The predictor object is incomplete ({exc!r} is missing or malformed); re-run `bpaste mine`.") from None

    # -- internals -------------------------------------------------------------------------------

    def calibrate(self, score: float, family: str = "") -> float:
        """`score` through the map of the candidate's data-flow family (else of its kind, else the pooled one)."""
        return self._curve(family).value(score)

    def _curve(self, fam: str) -> Curve:
        """The map of a family (any family, also one no rule of the tables has)."""
        got = self._curves.get(fam)
        if got is None:
            xs, ys = self._maps.get(fam) or self._maps.get(fam.split(" ")[0]) or (self._cx, self._cy)
            got = Curve(xs, ys)
        return got

    def tool_dist(self, keys: tuple[str, ...]) -> list[tuple[str, float]]:
        for k in range(min(self.K, len(keys)), -1, -1):
            got = self.control.get(keys[len(keys) - k :])
            if got is not None:
                return got
        return []

    def _branches(self, keys: tuple[str, ...]) -> list[tuple[Any, ...]]:
        """The branches a decision in this context explores: per tool (in the order of P(tool)), each repeat rule
        and each signature, as (upper bound of the calibrated probability of anything it offers, position in that
        order, tool, upper bound of the scores it offers, its first factors' score, (rank, words, calibrated
        probability) of a repeat or None, (args, args are ROOT, names are plain strings, maps, the map when there
        is one) of a signature or None); when the ranking can prune, best bound first (a score bound multiplies in
        the order the beam does, so it rounds no lower). They depend on the context only, so they are cached per context (a bounded
        cache: a long-running server sees ever new contexts)."""
        got = self._branches_cache.get(keys)
        if got is None:
            got = []
            prune, repeat = self._prunable, self._curves[REPEAT]
            for tool, pt in self.tool_dist(keys)[:TOOLS_PER_DECISION]:
                plan = self._plans.get(tool)
                if plan is None:
                    continue
                repeats, sigs = plan
                for rank, rate, words in repeats:
                    score = pt * rate
                    bound = repeat.upper(score) if prune else 0.0
                    got.append((bound, len(got), tool, score, score, (rank, words, repeat.value(score)), None))
                for sig, ps, root, named, maps, caps in sigs:
                    score = top = pt * ps
                    for cap in caps:
                        top *= cap
                    bound = max(m.upper(top) for m in maps) if prune else 0.0
                    one = maps[0] if len(maps) == 1 else None
                    got.append((bound, len(got), tool, top, score, None, (sig, root, named, maps, one)))
            if prune:
                got.sort(key=_best_bound_first)
            if len(self._branches_cache) >= CACHE_ENTRIES:
                self._branches_cache.clear()
            self._branches_cache[keys] = got
        return got

    def _values(self, tool: str, arg: str, state: SessionState) -> list[BoundValue]:
        """The first VALUES_PER_ARG distinct values the rules of one argument bind, each with its share of
        the probability mass, its rule in words, its family (and its rank) and whether it is a plain string."""
        by_tool = state.by_tool
        unbound = self._unbound.get((tool, arg))
        if unbound is not None:  # none of its rules' calls visible: its constants' values
            sources, reads_prompt, constants = unbound
            for src, nth in sources:
                lst = by_tool.get(src)
                if lst and len(lst) >= nth:
                    break
            else:
                if not reads_prompt or state.prompt is None:
                    return constants
        out: list[BoundValue] = []
        seen_strings: set[str] = set()  # a string equals only a string: one set lookup
        seen: list[Any] = []  # the other values: equal and of the same type (so 1 != True)
        left = 1.0
        for rule, rate, const, words, fam, rank, fast in self.rules.get((tool, arg), ()):
            if const is not ABSENT:
                v = const
            elif fast is not None:  # `bind` inlined: a recent call's argument, or an item of its result as extracted
                src, nth, field, pos = fast
                lst = by_tool.get(src)
                if not lst or len(lst) < nth:
                    v = ABSENT
                elif pos:
                    items = lst[-nth].items(field)
                    v = items[pos - 1] if len(items) >= pos else ABSENT
                else:
                    v = lst[-nth].args.get(field, ABSENT)
            else:
                v = bind(rule, state)
            plain = type(v) is str
            if plain:
                if v in seen_strings:
                    continue
                seen_strings.add(v)
            elif v is ABSENT or v in seen and any(type(v) is type(s) and v == s for s in seen):
                continue
            else:
                seen.append(v)
            p = rate * left
            left -= p
            out.append((v, p, words, fam, rank, plain))
            if len(out) >= VALUES_PER_ARG:
                break
        return out

    def candidates(self, state: SessionState, k: int, width: int | None = None,
                   values: dict[tuple[str, str], list[tuple[Any, ...]]] | None = None,
                   at_least: float = 0.0) -> list[Candidate]:
        """The top `k` candidates (see the module docstring), best first, of an argument beam `width` wide
        (default and at least `k`): the answer is the top k of the answer at k = width, so a caller that needs
        one ranking whatever k it asks for fixes the width. `values`: the arguments' bound values in `state`
        (`_values`) already known, added to as they are bound (a cursor keeps them from one decision to the next).
        `at_least`: the caller uses no candidate below this probability, so the answer is the top k's candidates
        at or above it: the walk prunes from the start as it would from a k-th best that high (a planner's
        threshold prunes most branches before the first offer).

        Ranking: per (tool, canonical arguments) the offer with the highest (calibrated probability, score),
        the first offer of the exhaustive order (tools by P(tool), each tool's repeats, then its signatures, a
        beam best score first) winning a tie, ordered by (-probability, -score, tool, args). Every factor of a
        score is in [0, 1], so a branch's score bound and its maps bound what it offers. Branches are walked best
        bound first; once k calls are offered, the walk stops at the first branch whose bound lies below the k-th
        best probability so far, and skips a branch, a partial binding or a candidate that cannot reach the k-th
        best (probability, score): such an offer can neither enter the top k nor change a call that does, so the
        answer is the exhaustive one (an offer keeps its branch's place in the exhaustive order to settle ties)."""
        if k <= 0:
            return []
        width = k if width is None or width < k else width
        # (tool, canonical args) -> [-probability, -score, tool, args_json, logged hash or None, explanation, order]
        # (negated: the entries sort best first as they are, tied only where (tool, args) differ); the explanation is
        # (words, family) for a repeat, (tool, chosen values, family) for a bound signature
        best: dict[tuple[str, str], list[Any]] = {}
        # the (probability, score) of every call in `best`, ascending, when pruning; the k-th best of them (-inf:
        # fewer than k calls yet): an offer below it in that order cannot enter the top k
        tops: list[tuple[float, float]] | None = [] if self._prunable else None
        limit = k if self._prunable else float("inf")  # calls in `best` from which the k-th best prunes
        kth_p = kth_s = float("-inf")
        if at_least > 0.0 and self._prunable:  # nothing below it is asked for: it prunes as a k-th best would
            kth_p = at_least
        curves, reach = self._curves, self._reach
        if values is None:
            values = {}  # signatures share them
        for bound, order, tool, top, score, repeat, signature in self._branches(state.keys):
            if bound < kth_p:
                break  # this branch and every later one
            if bound == kth_p and top < kth_s:
                continue
            if repeat is not None:
                call = state.recent(tool, repeat[0])
                if call is not None and call.args_json is not None:
                    p = repeat[2]
                    if p > kth_p or p == kth_p and score >= kth_s:
                        how = (repeat[1], REPEAT)
                        if _offer(best, tops, p, score, tool, call.args_json, call.args_hash, how, order) and len(best) >= limit:
                            kth_p, kth_s = tops[-k]
                continue
            sig, root, named, maps, one = signature
            floor = kth_p
            if kth_s > float("-inf"):  # below it no completion reaches kth_p, or exceeds it with a score of kth_s
                if one is not None:
                    floor = max(one.reach(kth_p), min(kth_s, one.reach(kth_p, above=True)))
                else:
                    floor = max(min(m.reach(kth_p) for m in maps), min(kth_s, min(m.reach(kth_p, above=True) for m in maps)))
            elif kth_p > float("-inf"):  # below it no completion reaches kth_p (`at_least`, before any offer), kept per maps
                floor = reach.get((maps, kth_p))
                if floor is None:
                    if len(reach) >= CACHE_ENTRIES:
                        reach.clear()
                    floor = reach[(maps, kth_p)] = min(m.reach(kth_p) for m in maps)
            beam: list[tuple[float, tuple[Any, ...]]] = [(score, ())]  # (score, the chosen values)
            for arg in sig:
                vals = values.get((tool, arg))
                if vals is None:
                    vals = values[(tool, arg)] = self._values(tool, arg, state)
                grown = [(q, chosen + (v,)) for p, chosen in beam for v in vals if (q := p * v[1]) >= floor]
                grown.sort(key=_score, reverse=True)  # stable: ties keep their order
                beam = grown[:width]  # below `floor` is the sorted tail: the width keeps what it keeps at any k
                if not beam:
                    break
            single = len(sig) == 1
            for score, chosen in beam:
                if one is None:  # the map of the call's family
                    fam = _call_family(chosen)
                    p = curves[fam].value(score)
                else:  # every family of the signature has the one map: the family only explains an offer
                    p = one.value(score)
                if p < kth_p or p == kth_p and score < kth_s:
                    continue
                if one is not None:
                    fam = _call_family(chosen)
                if root:
                    got = chosen[0]
                    aj = _dumps(got[0], option=_SORT).decode() if got[5] else canonical_json(got[0])
                else:
                    if single:
                        got = chosen[0]
                        value, plain = {sig[0]: got[0]}, named and got[5]
                    else:
                        value = {arg: c[0] for arg, c in zip(sig, chosen)}
                        plain = named and all([c[5] for c in chosen])
                    # canonical_json's own shortcut for string values under string names, without its checks
                    aj = _dumps(value, option=_SORT).decode() if plain else canonical_json(value)
                if _offer(best, tops, p, score, tool, aj, None, (tool, chosen, fam), order) and len(best) >= limit:
                    kth_p, kth_s = tops[-k]
        ranked = sorted(best.values())[:k]  # by (-probability, -score, tool, args)
        out = []
        hashes = self._hashes
        for neg, _, tool, aj, h, how, _ in ranked:
            p = -neg
            if p >= self.min_prob and p > 0:
                if not h:  # a logged call without its hash, or a bound one
                    h = hashes.get(aj)
                    if h is None:
                        if len(hashes) >= CACHE_ENTRIES:
                            hashes.clear()
                        h = hashes[aj] = args_hash(aj)
                if len(how) == 2:  # a repeat's (words, family)
                    words, fam = how
                else:  # a signature's (tool, chosen values, family)
                    chosen, fam = how[1], how[2]
                    words = "; ".join([c[2] for c in chosen]) if chosen else f"{tool}()"
                out.append(new_candidate(tool, aj, h, p, words, fam))
        return out


def _best_bound_first(branch: tuple[Any, ...]) -> tuple[float, int]:
    return -branch[0], branch[1]


_score = itemgetter(0)  # of a beam entry
_family_rank = itemgetter(4)  # of a bound value


def _call_family(chosen: tuple[Any, ...]) -> str:
    """`dataflow.call_family` of bound values, from their precomputed family ranks."""
    if len(chosen) == 1:
        return chosen[0][3]
    return min(chosen, key=_family_rank)[3] if chosen else NO_ARGS


def _offer(best: dict[tuple[str, str], list[Any]], tops: list[tuple[float, float]] | None, p: float, score: float,
           tool: str, aj: str, h: str | None, how: tuple[Any, ...], order: int) -> bool:
    """Keep the offer if its call is new or it beats the kept one (a tie goes to the earlier branch, else to the
    first offer), and keep `tops` (if any) in step; True if it was kept."""
    key = (tool, aj)  # a tuple: the strings keep their cached hashes (args can be long)
    old = best.get(key)
    if old is None:
        if tops is not None:
            bisect.insort(tops, (p, score))
    elif p > -old[0] or p == -old[0] and (score > -old[1] or score == -old[1] and order < old[6]):
        if tops is not None and (p, score) != (-old[0], -old[1]):
            tops.remove((-old[0], -old[1]))
            bisect.insort(tops, (p, score))
    else:
        return False
    best[key] = [-p, -score, tool, aj, h, how, order]
    return True


class PatternCursor:
    """One session's view (implements `bpaste_cli.mine.api.PredictorCursor`).

    Besides the state, it keeps the values each argument's rules bound in it (`PatternPredictor._values`), and
    forgets an argument's when a call its rules read arrives (a prompt, for a prompt rule): a value binds from
    the latest calls of its rule's source tool, so between such calls it is the same, and most decisions
    re-bind only the arguments fed by the step just taken."""

    __slots__ = ("_p", "state", "_cache", "_values")

    def __init__(self, predictor: PatternPredictor, state: SessionState,
                 values: dict[tuple[str, str], list[tuple[Any, ...]]] | None = None) -> None:
        self._p, self.state, self._cache = predictor, state, None
        self._values = {} if values is None else values

    def observe(self, event: Event) -> None:
        if event.kind == "tool" and event.tool:
            self.state.add_call(Call(event.tool, event.args_json, event.args_hash, event.result_text, event.status))
            self._cache = None
            self._forget(self._p._readers.get(event.tool, ()))
        elif event.kind == "user" and event.text:
            self.state.add_user(event.text)
            self._cache = None
            self._forget(self._p._prompt_readers)

    def _forget(self, arguments: list[tuple[str, str]] | tuple[()]) -> None:
        values = self._values
        if values:
            for ta in arguments:
                values.pop(ta, None)

    def predict(self, k: int = 5, width: int | None = None, at_least: float = 0.0) -> list[Candidate]:
        width = k if width is None or width < k else width  # a cached answer serves a smaller k at its own width only
        got = self._cache
        if got is None or got[0] < k or got[1] != width or got[2] > at_least:
            wide, low = k, at_least
            if got is not None and got[1] == width:  # the new answer serves what the cached one did too
                wide, low = max(k, got[0]), min(at_least, got[2])
            got = self._cache = (wide, width, low, self._p.candidates(self.state, wide, width, self._values, low))
        return got[3][:k]

    def ceiling(self, tool: str, args_json: str | None, status: str | None) -> float:
        """A probability no candidate reaches once one more call (`tool`, its arguments, its result's status) is
        observed: the best branch bound of the context it would make (1.0 when the tables give no bounds). A
        planner that needs nothing below it learns that the answer there is empty without forking a cursor."""
        p = self._p
        if not p._prunable:
            return 1.0
        key = p._key_fn(tool, parse_args(args_json) if p._needs_args else None, status)
        branches = p._branches((self.state.keys + (key,))[-p.K :])
        return branches[0][0] if branches else 0.0

    def tools(self, k: int = 5) -> list[tuple[str, float]]:
        """The `k` likeliest next tools with P(tool among the next step's calls)."""
        return self._p.tool_dist(self.state.keys)[:k]

    def fork(self) -> PatternCursor:
        return PatternCursor(self._p, self.state.fork(), dict(self._values))
