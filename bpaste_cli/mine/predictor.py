"""The mined predictor: pattern tables -> ranked, fully bound candidate calls with calibrated probabilities.

`PatternPredictor` holds three flat tables (control, signatures, rules; the same columns as the
Parquet files of a pattern table and as the `to_dict()` JSON embedded in a policy) plus a calibration
map. A cursor keeps a bounded `SessionState`, so observe() is O(1) and predict() costs
O(K + tools x rules), never a re-scan of the prefix; the ranking skips every tool and partial binding
that can no longer reach the top k, with the answer of the exhaustive ranking.

Candidate probability (before calibration), for tool T, signature s and arguments a in s:
    P(T | context) * P(s | T) * prod_a P(value of a),
where the values of one argument come from its rules in order of exact-reproduction rate, the i-th
distinct value getting rate_i times the mass the earlier values left. A `repeat` rule gives the whole
call directly: P(T | context) * rate. The calibration map (isotonic, fitted on held-out scores, one per
data-flow family with enough of them) turns that score into P(this exact call is among the next step's
calls), and candidates are ranked by it. Every map is non-decreasing, so a raw score bounds the calibrated
probability of everything below it: that is what lets the ranking prune on raw scores.
"""

from __future__ import annotations

import bisect
from typing import Any

import orjson
from orjson import OPT_SORT_KEYS as _SORT
from orjson import dumps as _dumps

from bpaste_cli.artifacts import ArtifactType, check_artifact
from bpaste_cli.errors import BpasteError
from bpaste_cli.mine.api import Candidate, Event
from bpaste_cli.mine.dataflow import ABSENT, ROOT, Call, Rule, SessionState, bind, describe, family, family_rank
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
CACHE_ENTRIES = 1 << 16  # entries a per-predictor cache keeps (contexts' tool lists, argument hashes)

PREDICTOR = ArtifactType(PREDICTOR_KIND, PREDICTOR_SCHEMA_VERSION, {"type": "object"}, "bpaste predictor",
                         "re-run `bpaste mine` and `bpaste tune`", "re-run `bpaste mine`")


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
        # (tool, arg) -> [(rule, rate, constant or ABSENT, words, family, family rank)], best first
        self.rules: dict[tuple[str, str], list[tuple[Rule, float, Any, str, str, int]]] = {}
        for i in range(len(r["tool"])):
            rule = Rule(r["kind"][i], r["src"][i], r["rank"][i], r["field"][i], r["pos"][i], r["cast"][i], r["value"][i])
            const = orjson.loads(rule.value) if rule.kind == "const" else ABSENT  # ABSENT: bound per decision
            fam = family(rule)
            entry = (rule, r["rate"][i], const, describe(rule, r["tool"][i], r["arg"][i]), fam, family_rank(fam))
            self.rules.setdefault((r["tool"][i], r["arg"][i]), []).append(entry)
        for lst in self.rules.values():
            lst.sort(key=lambda e: (-e[1], e[0].kind == "const"))  # on a tie, state beats a constant
        self._cx, self._cy = list(self.calibration.get("x", [])), list(self.calibration.get("y", []))
        self._maps = {f: (list(m["x"]), list(m["y"])) for f, m in self.calibration.get("families", {}).items()}
        # per tool: its repeat rules (rank, rate, words) and its first signatures (args, P, args are ROOT, names
        # are plain strings)
        self._plans: dict[str, tuple[list[tuple[int, float, str]], list[tuple[tuple[str, ...], float, bool, bool]]]] = {}
        for tool in set(self.signatures) | {t for t, a in self.rules if a == "*"}:
            repeats = [(e[0].rank, e[1], e[3]) for e in self.rules.get((tool, "*"), ())]
            sigs = [(sig, p, sig == (ROOT,), all(type(a) is str for a in sig))
                    for sig, p in self.signatures.get(tool, [])[:SIGNATURES_PER_TOOL]]
            self._plans[tool] = (repeats, sigs)
        factors = list(s["prob"]) + list(r["rate"]) + [p for lst in self.control.values() for _, p in lst]
        self._curves = [(self._cx, self._cy), *self._maps.values()]  # every map a candidate can go through
        self._prunable = (all(isinstance(f, (int, float)) and 0.0 <= f <= 1.0 for f in factors)
                          and all(all(a <= b for a, b in zip(ys, ys[1:])) for _, ys in self._curves))
        self._tools_cache: dict[tuple[str, ...], list[tuple[str, float, float]]] = {}
        self._hashes: dict[str, str] = {}  # args_json -> args_hash of recent candidates

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
        xs, ys = self._maps.get(family) or self._maps.get(family.split(" ")[0]) or (self._cx, self._cy)
        if not xs:
            return score
        i = bisect.bisect_right(xs, score)
        if i == 0:
            return ys[0]
        if i == len(xs):
            return ys[-1]
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 if x1 == x0 else y0 + (y1 - y0) * (score - x0) / (x1 - x0)

    def _threshold(self, p: float) -> float:
        """A raw score below which no map calibrates to `p` or more: a branch scoring under it cannot reach a
        calibrated probability of `p` (a map with no steps is the identity; below its step i-1's knot a map
        gives at most that step's rate)."""
        low = float("inf")
        for xs, ys in self._curves:
            if not xs:
                low = min(low, p)
                continue
            i = bisect.bisect_left(ys, p)  # the first step whose rate reaches p
            if i < len(ys):
                low = min(low, xs[i - 1] if i else float("-inf"))
        return low

    def tool_dist(self, keys: tuple[str, ...]) -> list[tuple[str, float]]:
        for k in range(min(self.K, len(keys)), -1, -1):
            got = self.control.get(keys[len(keys) - k :])
            if got is not None:
                return got
        return []

    def _tools(self, keys: tuple[str, ...]) -> list[tuple[str, float, float]]:
        """The tools a decision considers, as (tool, P(tool), the largest P of it and every later tool),
        cached per context (a bounded cache: a long-running server sees ever new contexts)."""
        got = self._tools_cache.get(keys)
        if got is None:
            dist = self.tool_dist(keys)[:TOOLS_PER_DECISION]
            bounds, top = [], float("-inf")
            for _, pt in reversed(dist):
                top = max(top, pt)
                bounds.append(top)
            got = [(tool, pt, bound) for (tool, pt), bound in zip(dist, reversed(bounds))]
            if len(self._tools_cache) >= CACHE_ENTRIES:
                self._tools_cache.clear()
            self._tools_cache[keys] = got
        return got

    def _values(self, tool: str, arg: str, state: SessionState) -> list[tuple[Any, float, str, str, int, bool]]:
        """The first VALUES_PER_ARG distinct values the rules of one argument bind, each with its share of
        the probability mass, its rule in words, its family (and its rank) and whether it is a plain string."""
        out: list[tuple[Any, float, str, str, int, bool]] = []
        seen: list[Any] = []
        left = 1.0
        for rule, rate, const, words, fam, rank in self.rules.get((tool, arg), ()):
            v = bind(rule, state) if const is ABSENT else const
            if v is ABSENT or v in seen and any(type(v) is type(s) and v == s for s in seen):
                continue
            p = rate * left
            left -= p
            seen.append(v)
            out.append((v, p, words, fam, rank, type(v) is str))
            if len(out) >= VALUES_PER_ARG:
                break
        return out

    def candidates(self, state: SessionState, k: int) -> list[Candidate]:
        """The top `k` candidates (see the module docstring), best first.

        Ranking: per (tool, canonical arguments) the offer with the highest (calibrated probability, score),
        the first offer winning a tie, ordered by (-probability, -score, tool, args). Every factor of a score is
        in [0, 1], so a tool bounds its candidates' scores by its P(tool) and a partial argument binding bounds
        its completions' by its own score; a branch whose score bound lies below `_threshold` of the k-th best
        probability found so far can neither enter the top k nor change a call that does, and is neither
        bound nor canonicalised (the answer is the same as exploring everything)."""
        if k <= 0:
            return []
        # (tool, canonical args) -> [probability, score, tool, args_json, logged hash or None, explanation];
        # the explanation is (words, family) for a repeat, (tool, chosen values, family) for a bound signature
        best: dict[tuple[str, str], list[Any]] = {}
        floor = float("-inf")  # a score below which nothing reaches the k-th best probability so far
        prune = self._prunable
        for tool, pt, bound in self._tools(state.keys):
            if prune and len(best) >= k:
                floor = self._threshold(sorted([e[0] for e in best.values()], reverse=True)[k - 1])
                if floor > bound:
                    break  # this tool and every later one score at most `bound`
            plan = self._plans.get(tool)
            if plan is None:
                continue
            repeats, sigs = plan
            for rank, rate, words in repeats:
                score = pt * rate
                if score < floor:
                    continue
                call = state.recent(tool, rank)
                if call is not None and call.args_json is not None:
                    _offer(best, self.calibrate(score, "repeat"), score, tool, call.args_json, call.args_hash, (words, "repeat"))
            values: dict[str, list[tuple[Any, float, str, str, int, bool]]] = {}  # per argument: signatures share them
            for sig, ps, root, named in sigs:
                if prune and len(best) >= k:
                    floor = self._threshold(sorted([e[0] for e in best.values()], reverse=True)[k - 1])
                beam: list[tuple[float, tuple[int, ...]]] = [(pt * ps, ())]
                if beam[0][0] < floor:
                    continue
                arg_values = []
                for arg in sig:
                    vals = values.get(arg)
                    if vals is None:
                        vals = values[arg] = self._values(tool, arg, state)
                    arg_values.append(vals)
                    grown = [(q, idx + (j,)) for p, idx in beam for j, v in enumerate(vals) if (q := p * v[1]) >= floor]
                    grown.sort(key=_score, reverse=True)  # stable: ties keep their order
                    beam = grown[:k]
                    if not beam:
                        break
                for score, idx in beam:
                    chosen = [vals[j] for vals, j in zip(arg_values, idx)]
                    if root:
                        got = chosen[0]
                        aj = _dumps(got[0], option=_SORT).decode() if got[5] else canonical_json(got[0])
                    else:
                        value = {arg: c[0] for arg, c in zip(sig, chosen)}
                        # canonical_json's own shortcut for string values under string names, without its checks
                        plain = named and all(c[5] for c in chosen)
                        aj = _dumps(value, option=_SORT).decode() if plain else canonical_json(value)
                    fam = min(chosen, key=_family_rank)[3] if chosen else "none"  # call_family, its ranks precomputed
                    _offer(best, self.calibrate(score, fam), score, tool, aj, None, (tool, chosen, fam))
        ranked = sorted(best.values(), key=lambda c: (-c[0], -c[1], c[2], c[3]))[:k]
        out = []
        hashes = self._hashes
        for p, _, tool, aj, h, how in ranked:
            if p >= self.min_prob and p > 0:
                if not h:  # a logged call without its hash, or a bound one
                    h = hashes.get(aj)
                    if h is None:
                        if len(hashes) >= CACHE_ENTRIES:
                            hashes.clear()
                        h = hashes[aj] = args_hash(aj)
                out.append(Candidate(tool, aj, h, p, *_explain(how)))
        return out


def _score(entry: tuple[float, Any]) -> float:
    return entry[0]


def _family_rank(value: tuple[Any, ...]) -> int:
    return value[4]


def _explain(how: tuple[Any, ...]) -> tuple[str, str]:
    """A candidate's rule in words and its family, from what `candidates` kept to explain it."""
    if len(how) == 2:
        return how
    tool, chosen, fam = how
    return ("; ".join(c[2] for c in chosen) if chosen else f"{tool}()"), fam


def _offer(best: dict[tuple[str, str], list[Any]], p: float, score: float, tool: str, aj: str, h: str | None,
           how: tuple[Any, ...]) -> None:
    key = (tool, aj)  # a tuple: the strings keep their cached hashes (args can be long)
    old = best.get(key)
    if old is None or p > old[0] or p == old[0] and score > old[1]:
        best[key] = [p, score, tool, aj, h, how]


class PatternCursor:
    """One session's view (implements `bpaste_cli.mine.api.PredictorCursor`)."""

    __slots__ = ("_p", "state", "_cache")

    def __init__(self, predictor: PatternPredictor, state: SessionState) -> None:
        self._p, self.state, self._cache = predictor, state, None

    def observe(self, event: Event) -> None:
        if event.kind == "tool" and event.tool:
            self.state.add_call(Call(event.tool, event.args_json, event.args_hash, event.result_text, event.status))
            self._cache = None
        elif event.kind == "user" and event.text:
            self.state.add_user(event.text)
            self._cache = None

    def predict(self, k: int = 5) -> list[Candidate]:
        if self._cache is None or self._cache[0] < k:
            self._cache = (k, self._p.candidates(self.state, k))
        return self._cache[1][:k]

    def tools(self, k: int = 5) -> list[tuple[str, float]]:
        """The `k` likeliest next tools with P(tool among the next step's calls)."""
        return self._p.tool_dist(self.state.keys)[:k]

    def fork(self) -> PatternCursor:
        return PatternCursor(self._p, self.state.fork())
