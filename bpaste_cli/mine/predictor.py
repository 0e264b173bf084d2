"""The mined predictor: pattern tables -> ranked, fully bound candidate calls with calibrated probabilities.

`PatternPredictor` holds three flat tables (control, signatures, rules; the same columns as the
Parquet files of a pattern table and as the `to_dict()` JSON embedded in a policy) plus a calibration
map. A cursor keeps a bounded `SessionState`, so observe() is O(1) and predict() costs
O(K + tools x rules), never a re-scan of the prefix.

Candidate probability (before calibration), for tool T, signature s and arguments a in s:
    P(T | context) * P(s | T) * prod_a P(value of a),
where the values of one argument come from its rules in order of exact-reproduction rate, the i-th
distinct value getting rate_i times the mass the earlier values left. A `repeat` rule gives the whole
call directly: P(T | context) * rate. The calibration map (isotonic, fitted on held-out scores, one per
data-flow family with enough of them) turns that score into P(this exact call is among the next step's
calls), and candidates are ranked by it.
"""

from __future__ import annotations

import bisect
from typing import Any

import orjson

from bpaste_cli.artifacts import ArtifactType, check_artifact
from bpaste_cli.errors import BpasteError
from bpaste_cli.mine.api import Candidate, Event
from bpaste_cli.mine.dataflow import ABSENT, ROOT, Call, Rule, SessionState, bind, call_family, describe, family
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
        self.rules: dict[tuple[str, str], list[tuple[Rule, float, Any, str, str]]] = {}
        for i in range(len(r["tool"])):
            rule = Rule(r["kind"][i], r["src"][i], r["rank"][i], r["field"][i], r["pos"][i], r["cast"][i], r["value"][i])
            const = orjson.loads(rule.value) if rule.kind == "const" else None
            entry = (rule, r["rate"][i], const, describe(rule, r["tool"][i], r["arg"][i]), family(rule))
            self.rules.setdefault((r["tool"][i], r["arg"][i]), []).append(entry)
        for lst in self.rules.values():
            lst.sort(key=lambda e: (-e[1], e[0].kind == "const"))  # on a tie, state beats a constant
        self._cx, self._cy = list(self.calibration.get("x", [])), list(self.calibration.get("y", []))
        self._maps = {f: (list(m["x"]), list(m["y"])) for f, m in self.calibration.get("families", {}).items()}

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

    def tool_dist(self, keys: tuple[str, ...]) -> list[tuple[str, float]]:
        for k in range(min(self.K, len(keys)), -1, -1):
            got = self.control.get(keys[len(keys) - k :])
            if got is not None:
                return got
        return []

    def _values(self, tool: str, arg: str, state: SessionState) -> list[tuple[Any, float, str, str]]:
        out: list[tuple[Any, float, str, str]] = []
        seen: list[Any] = []
        left = 1.0
        for rule, rate, const, words, fam in self.rules.get((tool, arg), ()):
            v = const if rule.kind == "const" else bind(rule, state)
            if v is ABSENT or v in seen and any(type(v) is type(s) and v == s for s in seen):
                continue
            p = rate * left
            left -= p
            seen.append(v)
            out.append((v, p, words, fam))
            if len(out) >= VALUES_PER_ARG:
                break
        return out

    def candidates(self, state: SessionState, k: int) -> list[Candidate]:
        # tool + canonical args -> (score, tool, args_json, logged hash or None, rule, family); hashes are
        # computed only for the k that are returned
        best: dict[tuple[str, str], tuple[float, str, str, str | None, str, str]] = {}
        for tool, pt in self.tool_dist(state.keys)[:TOOLS_PER_DECISION]:
            for rule, rate, _, words, _ in self.rules.get((tool, "*"), ()):
                call = state.recent(tool, rule.rank)
                if call is not None and call.args_json is not None:
                    _offer(best, pt * rate, tool, call.args_json, call.args_hash, words, "repeat")
            values: dict[str, list[tuple[Any, float, str, str]]] = {}  # per argument: signatures share them
            for sig, ps in self.signatures.get(tool, ())[:SIGNATURES_PER_TOOL]:
                beam: list[tuple[float, dict[str, Any], list[tuple[str, str]]]] = [(pt * ps, {}, [])]
                for arg in sig:
                    vals = values.get(arg)
                    if vals is None:
                        vals = values[arg] = self._values(tool, arg, state)
                    if not vals:
                        beam = []
                        break
                    beam = sorted(
                        ((p * pv, {**bound, arg: v}, why + [(words, fam)]) for p, bound, why in beam
                         for v, pv, words, fam in vals),
                        key=lambda b: -b[0],
                    )[:k]
                for score, bound, why in beam:
                    value = bound[ROOT] if sig == (ROOT,) else bound
                    _offer(best, score, tool, canonical_json(value), None,
                           "; ".join(w for w, _ in why) if why else f"{tool}()", call_family([f for _, f in why]))
        ranked = sorted(best.values(), key=lambda c: (-self.calibrate(c[0], c[5]), -c[0], c[1], c[2]))[:k]
        out = []
        for score, tool, aj, h, why, fam in ranked:
            p = self.calibrate(score, fam)
            if p >= self.min_prob and p > 0:
                out.append(Candidate(tool, aj, h or args_hash(aj), p, why, fam))
        return out


def _offer(best: dict[tuple[str, str], tuple[float, str, str, str | None, str, str]], score: float, tool: str, aj: str,
           h: str | None, why: str, fam: str) -> None:
    key = (tool, aj)  # a tuple: the strings keep their cached hashes (args can be long)
    old = best.get(key)
    if old is None or score > old[0]:
        best[key] = (score, tool, aj, h, why, fam)


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
