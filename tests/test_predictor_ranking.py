"""The predictor's pruned ranking equals the plain exhaustive one, and the context counts equal per-decision
counting: random small tables and sessions (hypothesis), with ties, duplicate canonical arguments
(1 and 1.0, a whole-call repeat equal to a bound call), non-object arguments and random calibration maps
(crossing, flat, not monotone), also cut at a least probability; a map's bounds hold for every score."""

from __future__ import annotations

from collections import Counter
from dataclasses import FrozenInstanceError

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpaste_cli.mine.api import Candidate, Event, new_candidate, new_event
from bpaste_cli.mine.control import ControlCounts
from bpaste_cli.mine.dataflow import ABSENT, ROOT, bind, call_family
from bpaste_cli.mine.predictor import (RULE_COLUMNS, SIGNATURES_PER_TOOL, TOOLS_PER_DECISION, VALUES_PER_ARG, Curve,
                                        PatternPredictor)
from bpaste_cli.trace import args_hash, canonical_json

TOOLS = ("A", "B", "C")
PROBS = (0.0, 0.25, 0.5, 1.0)  # few values, so that scores tie
VALUES = (1, 1.0, "x", "y", True, None, [1], {"k": 1}, {"k": 1.0})  # 1 and 1.0 canonicalise alike
FIELDS = ("a", "b", ROOT)
EXTRACTED = ("path", "number", "json:k")  # kinds of result item an extract rule reads
RESULTS = ("r", "see /src/a.py and /src/b.py, 3 of 12", '{"k": 7}', '{"k": ["x", 2.5]}', "12 items in /tmp/c")


def reference(p: PatternPredictor, state, k: int, width: int | None = None) -> list[Candidate]:
    """Every tool, signature and full beam (`width` wide, default k) explored, every candidate canonicalised and
    calibrated through its family's map; per (tool, args) the offer with the highest (probability, score) kept
    (the first offer winning a tie), ranked by (-probability, -score, tool, args)."""
    best: dict[tuple[str, str], tuple] = {}

    def offer(score, tool, aj, h, why, fam):
        prob = p.calibrate(score, fam)
        old = best.get((tool, aj))
        if old is None or (prob, score) > (old[0], old[1]):
            best[(tool, aj)] = (prob, score, tool, aj, h, why, fam)

    for tool, pt in p.tool_dist(state.keys)[:TOOLS_PER_DECISION]:
        for rule, rate, _, words, *_ in p.rules.get((tool, "*"), ()):
            call = state.recent(tool, rule.rank)
            if call is not None and call.args_json is not None:
                offer(pt * rate, tool, call.args_json, call.args_hash, words, "repeat")
        for sig, ps in p.signatures.get(tool, ())[:SIGNATURES_PER_TOOL]:
            beam = [(pt * ps, {}, [])]
            for arg in sig:
                vals = reference_values(p, tool, arg, state)
                beam = sorted(((s * pv, {**bound, arg: v}, why + [(w, f)]) for s, bound, why in beam for v, pv, w, f in vals),
                              key=lambda b: -b[0])[:width or k]
            for score, bound, why in beam:
                value = bound[ROOT] if sig == (ROOT,) else bound
                offer(score, tool, canonical_json(value), None, "; ".join(w for w, _ in why) if why else f"{tool}()",
                      call_family([f for _, f in why]))
    out = []
    for prob, score, tool, aj, h, why, fam in sorted(best.values(), key=lambda c: (-c[0], -c[1], c[2], c[3]))[:k]:
        if prob >= p.min_prob and prob > 0:
            out.append(Candidate(tool, aj, h or args_hash(aj), prob, why, fam))
    return out


def reference_values(p: PatternPredictor, tool: str, arg: str, state) -> list[tuple]:
    """Every rule of the argument bound by `bind`, in order; a value not bound or equal (and of the same type) to
    an earlier one skipped; the i-th value gets rate_i of the mass the earlier ones left; the first
    VALUES_PER_ARG kept, as (value, share, words, family)."""
    out, left = [], 1.0
    for rule, rate, _, words, fam, *_ in p.rules.get((tool, arg), ()):
        v = bind(rule, state)
        if v is ABSENT or any(type(v) is type(u) and v == u for u, *_ in out):
            continue
        out.append((v, rate * left, words, fam))
        left -= rate * left
    return out[:VALUES_PER_ARG]


@st.composite
def tables(draw):
    control = {"context": [], "n": [], "tool": [], "count": [], "prob": []}
    for ctx in ([], ["A"], ["B"], ["A", "B"]):
        tools = draw(st.lists(st.sampled_from(TOOLS), unique=True, max_size=3))
        for tool, prob in sorted(((t, draw(st.sampled_from(PROBS))) for t in tools), key=lambda tp: (-tp[1], tp[0])):
            for col, v in zip(control, (ctx, 10, tool, 1, prob)):
                control[col].append(v)
    sigs = {"tool": [], "args": [], "count": [], "prob": []}
    rules = {c: [] for c in RULE_COLUMNS}
    for tool in TOOLS:
        for args in draw(st.lists(st.sampled_from([(), ("a",), ("a", "b"), ("b",), (ROOT,)]), unique=True, max_size=3)):
            for col, v in zip(sigs, (tool, list(args), 5, draw(st.sampled_from(PROBS)))):
                sigs[col].append(v)
        for arg in ("a", "b", ROOT, "*"):
            for _ in range(draw(st.integers(0, 4))):
                if arg == "*":
                    rule = ("repeat", tool, draw(st.integers(1, 2)), "", 0, "", "")
                else:
                    rule = draw(st.sampled_from([
                        ("const", "", 0, "", 0, "", canonical_json(draw(st.sampled_from(VALUES)))),
                        ("copy", draw(st.sampled_from(TOOLS)), draw(st.integers(1, 2)), draw(st.sampled_from(FIELDS)), 0, "", ""),
                        ("prompt", "", 0, "whole", 1, "str", ""),
                        ("extract", draw(st.sampled_from(TOOLS)), draw(st.integers(1, 2)), draw(st.sampled_from(EXTRACTED)),
                         draw(st.integers(1, 2)), draw(st.sampled_from(("str", "num"))), ""),
                    ]))
                for col, v in zip(RULE_COLUMNS, (tool, arg, *rule, 5, 5, 1, draw(st.sampled_from(PROBS)))):
                    rules[col].append(v)
    return {"control": control, "signatures": sigs, "rules": rules}


events = st.lists(st.one_of(
    st.builds(lambda t, a, r: Event("tool", 0, t, a, args_hash(a), r, None, "ok"), st.sampled_from(TOOLS),
              st.one_of(st.dictionaries(st.sampled_from(("a", "b")), st.sampled_from(VALUES), max_size=2).map(canonical_json),
                        st.sampled_from(VALUES).map(canonical_json)), st.sampled_from(RESULTS)),
    st.builds(lambda text: Event("user", text=text), st.sampled_from(("fix it", "x"))),
), max_size=8)


@settings(max_examples=300, deadline=None)
@given(tables(), events, st.sampled_from((1, 1, 2, 3, 5, 8)), st.sampled_from(("none", "pooled", "families")),
       st.sampled_from((0.0, 0.3)))
def test_pruned_ranking_equals_the_exhaustive_one(tabs, evs, k, calibrated, min_prob):
    # per-family maps that cross each other, so a family's lower score can still rank first
    calibration = None if calibrated == "none" else {"x": [0.0, 0.1, 0.5, 1.0], "y": [0.0, 0.2, 0.2, 0.9]}
    if calibrated == "families":
        calibration["families"] = {"repeat": {"x": [0.1, 0.2], "y": [0.05, 0.3]}, "const": {"x": [0.0, 0.3], "y": [0.6, 0.6]},
                                   "copy": {"x": [], "y": []}}
    p = PatternPredictor({"K": 2, "R": 2, "key": "tool", "min_prob": min_prob}, tabs, calibration)
    cur = p.cursor()
    assert p.candidates(cur.state, k) == reference(p, cur.state, k)
    for e in evs:
        cur.observe(e)
        assert p.candidates(cur.state, k) == reference(p, cur.state, k)


KNOTS = (0.0, 0.0625, 0.125, 0.25, 0.5, 1.0)  # products of PROBS: scores fall on knots and between them
RATES = (0.05, 0.2, 0.25, 0.5, 0.9)


@st.composite
def maps(draw):
    """A calibration map as a pattern table stores it: knots in order (some repeated), rates in any order."""
    n = draw(st.integers(0, 4))
    xs = sorted(draw(st.lists(st.sampled_from(KNOTS), min_size=n, max_size=n)))
    return {"x": xs, "y": draw(st.lists(st.sampled_from(RATES), min_size=n, max_size=n))}


@st.composite
def calibrations(draw):
    """A pooled map and maps for some families and kinds (a family without one uses its kind's, else the pooled)."""
    families = draw(st.lists(st.sampled_from(("repeat", "const", "copy", "prompt", "none")), unique=True, max_size=5))
    return draw(maps()) | {"families": {f: draw(maps()) for f in families}}


@settings(max_examples=300, deadline=None)
@given(tables(), events, st.sampled_from((1, 2, 3, 5, 8)), calibrations())
def test_pruned_ranking_equals_the_exhaustive_one_under_any_maps(tabs, evs, k, calibration):
    # maps that are flat (ties on probability, broken by score), cross each other and go down as well as up
    p = PatternPredictor({"K": 2, "R": 2, "key": "tool"}, tabs, calibration)
    cur = p.cursor()
    assert p.candidates(cur.state, k) == reference(p, cur.state, k)
    for e in evs:
        cur.observe(e)
        assert p.candidates(cur.state, k) == reference(p, cur.state, k)


def _each_decision(cur, evs):
    """The cursor at each decision point: before the first event, then after each."""
    yield cur
    for e in evs:
        cur.observe(e)
        yield cur


@settings(max_examples=300, deadline=None)
@given(tables(), events, st.sampled_from((1, 2, 3, 5)), st.sampled_from((5, 8)), calibrations())
def test_at_one_width_the_answer_at_k_is_the_top_k_of_the_widest(tabs, evs, k, width, calibration):
    # what lets replay and the runtime ask only the k an arm needs and still plan on one ranking
    p = PatternPredictor({"K": 2, "R": 2, "key": "tool"}, tabs, calibration)
    for cur in _each_decision(p.cursor(), evs):
        got = p.candidates(cur.state, k, width)
        assert got == reference(p, cur.state, k, width)
        assert got == p.candidates(cur.state, width)[:k]
        assert cur.predict(k, width=width) == got


@settings(max_examples=300, deadline=None)
@given(tables(), events, st.sampled_from((1, 2, 3, 5)), calibrations(),
       st.lists(st.tuples(st.sampled_from((1, 3, 5)), st.sampled_from((0.0, *RATES, *KNOTS, 0.3, 2.0))), min_size=1, max_size=4))
def test_an_answer_at_or_above_a_probability_is_the_exhaustive_answer_cut_there(tabs, evs, k, calibration, questions):
    # what lets a planner's threshold prune: the candidates at or above `at_least` (a tie with it included) are
    # the exhaustive top k's; a cursor asked in turn for more (or lower) than its cached answer asks again
    p = PatternPredictor({"K": 2, "R": 2, "key": "tool"}, tabs, calibration)
    for cur in _each_decision(p.cursor(), evs):
        full = reference(p, cur.state, k, 8)
        for at_least in (0.0, *RATES, *KNOTS):
            assert p.candidates(cur.state, k, 8, at_least=at_least) == [c for c in full if c.prob >= at_least]
        for ask, at_least in questions:
            got = cur.predict(ask, width=8, at_least=at_least)
            assert len(got) <= ask
            assert [c for c in got if c.prob >= at_least] == [c for c in reference(p, cur.state, ask, 8) if c.prob >= at_least]


@settings(max_examples=300, deadline=None)
@given(tables(), events, events, calibrations())
def test_a_cursors_ceiling_bounds_every_candidate_after_one_more_call(tabs, evs, more, calibration):
    # what lets replay answer a beam's deeper questions without a fork: nothing after the call reaches the ceiling
    p = PatternPredictor({"K": 2, "R": 2, "key": "tool"}, tabs, calibration)
    cur = p.cursor()
    for e in evs:
        cur.observe(e)
    for e in more:
        if e.kind != "tool":
            continue
        ceiling = cur.ceiling(e.tool, e.args_json, e.status)
        after = cur.fork()
        after.observe(e)
        assert all(c.prob <= ceiling for c in reference(p, after.state, 8, 8))


@settings(max_examples=300, deadline=None)
@given(tables(), events, events, st.integers(0, 8), st.sampled_from((1, 3, 5)))
def test_a_cursor_that_keeps_its_bound_values_answers_as_one_binding_afresh(tabs, evs, more, at, k):
    # a cursor keeps each argument's values from one decision to the next and forgets them when a call their
    # rules read (or a prompt) arrives; a fork keeps its own: each answer is the one binding everything anew
    p = PatternPredictor({"K": 2, "R": 2, "key": "tool"}, tabs)
    cur, fork = p.cursor(), None
    for i, e in enumerate(evs):
        if i == at:
            fork = cur.fork()
        cur.observe(e)
        assert cur.predict(k) == p.candidates(cur.state, k)
    for e in more:
        if fork is not None:
            fork.observe(e)
            assert fork.predict(k) == p.candidates(fork.state, k)
        cur.observe(e)
        assert cur.predict(k) == p.candidates(cur.state, k)


@settings(max_examples=300, deadline=None)
@given(maps(), st.lists(st.one_of(st.sampled_from(KNOTS), st.floats(-0.5, 1.5)), min_size=2, max_size=6),
       st.sampled_from(RATES + KNOTS))
def test_a_maps_bounds_hold_for_every_score(m, scores, p):
    curve = Curve(m["x"], m["y"])
    for s in scores:
        for t in scores:
            if t <= s:
                assert curve.value(t) <= curve.upper(s)
            if t < curve.reach(p):
                assert curve.value(t) < p
            if t < curve.reach(p, above=True):
                assert curve.value(t) <= p


def test_a_map_out_of_order_makes_the_ranking_exhaustive():
    tabs = _table([([], 4, "A", 4, 1.0)], [("A", [], 4, 1.0)], [])
    assert PatternPredictor({"K": 1, "R": 1}, tabs, {"x": [0.0, 1.0], "y": [0.2, 0.1]})._prunable
    assert not PatternPredictor({"K": 1, "R": 1}, tabs, {"x": [1.0, 0.0], "y": [0.1, 0.2]})._prunable
    assert not PatternPredictor({"K": 1, "R": 1}, tabs, {"x": [0.0, float("nan")], "y": [0.1, 0.2]})._prunable


def test_the_ranking_keeps_one_candidate_per_canonical_call_and_the_first_of_a_tie():
    # Read(n) from the constant 1 and from the constant 1.0 is one call, and so is the repeat of the logged
    # Read(n=1); the repeat (0.5 * 0.5) is offered before the signature's n=1 (0.5 * 1.0 * 0.5), ties it and
    # keeps its family; n=1.0 scores 0.5 * 1.0 * (0.25 * 0.5) and changes nothing
    tabs = {"control": {"context": [[]], "n": [4], "tool": ["Read"], "count": [2], "prob": [0.5]},
            "signatures": {"tool": ["Read"], "args": [["n"]], "count": [4], "prob": [1.0]},
            "rules": {c: [] for c in RULE_COLUMNS}}
    for rule in (("Read", "n", "const", "", 0, "", 0, "", "1", 4, 4, 2, 0.5), ("Read", "n", "const", "", 0, "", 0, "", "1.0", 4, 4, 1, 0.25),
                 ("Read", "*", "repeat", "Read", 1, "", 0, "", "", 4, 4, 2, 0.5)):
        for col, v in zip(RULE_COLUMNS, rule):
            tabs["rules"][col].append(v)
    p = PatternPredictor({"K": 1, "R": 1}, tabs)
    cur = p.cursor()
    cur.observe(Event("tool", 0, "Read", '{"n":1}', args_hash('{"n":1}'), "r", None, "ok"))
    got = [(c.args_json, c.prob, c.family) for c in p.candidates(cur.state, 5)]
    assert got == [('{"n":1}', 0.25, "repeat")]
    assert got == [(c.args_json, c.prob, c.family) for c in reference(p, cur.state, 5)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from(("<start>", "A", "B", "C")), min_size=1, max_size=4).map(tuple),
                          st.lists(st.sampled_from(TOOLS), max_size=3).map(tuple)), max_size=30), st.integers(1, 3))
def test_context_counts_equal_counting_each_decision(decisions, K):
    counts = ControlCounts(K)
    counts.add_many(decisions)
    n: Counter = Counter()
    c: dict = {}
    for keys, tools in decisions:
        for k in range(0, min(K, len(keys)) + 1):
            ctx = keys[len(keys) - k :]
            n[ctx] += 1
            for t in set(tools):
                c.setdefault(ctx, Counter())[t] += 1
    assert counts.n == n
    assert counts.c == c
    assert orjson.dumps(counts.table(2.0, 1, 5)) == orjson.dumps(_table_of(n, c, K))


def _table_of(n, c, K):
    other = ControlCounts(K)
    other.n, other.c = n, c
    return other.table(2.0, 1, 5)


def _table(control, sigs, rules) -> dict:
    cols = {"control": ("context", "n", "tool", "count", "prob"), "signatures": ("tool", "args", "count", "prob"),
            "rules": RULE_COLUMNS}
    return {name: {c: [row[i] for row in rows] for i, c in enumerate(cols[name])}
            for name, rows in (("control", control), ("signatures", sigs), ("rules", rules))}


def _const(tool: str, arg: str, value, rate: float) -> tuple:
    """A `const` rule row of a pattern table (RULE_COLUMNS)."""
    return (tool, arg, "const", "", 0, "", 0, "", canonical_json(value), 4, 4, 4, rate)


def test_a_candidate_tied_with_the_kth_best_still_wins_on_its_name():
    # k = 1. Across tools: B (P 1.0) offers B() at 1.0 * 0.5 first, A (P 0.5) repeats its call at 0.5 * 1.0:
    # a tie, and A sorts first. Within a tool: C's second signature ties its first with a smaller argument text.
    p = PatternPredictor({"K": 1, "R": 1}, _table(
        [([], 4, "B", 4, 1.0), ([], 4, "A", 2, 0.5)],
        [("B", [], 4, 0.5), ("A", ["a"], 4, 1.0)],
        [("A", "*", "repeat", "A", 1, "", 0, "", "", 4, 4, 4, 1.0)]))
    cur = p.cursor()
    cur.observe(Event("tool", 0, "A", '{"a":"z"}', args_hash('{"a":"z"}'), "r", None, "ok"))
    assert [(c.tool, c.args_json, c.prob) for c in p.candidates(cur.state, 1)] == [("A", '{"a":"z"}', 0.5)]
    assert [(c.tool, c.args_json) for c in p.candidates(cur.state, 2)] == [("A", '{"a":"z"}'), ("B", "{}")]
    p = PatternPredictor({"K": 1, "R": 1}, _table(
        [([], 4, "C", 4, 1.0)],
        [("C", ["b"], 2, 0.5), ("C", ["a"], 2, 0.5)],
        [_const("C", "b", "y", 1.0), _const("C", "a", "x", 1.0)]))
    assert [(c.args_json, c.prob) for c in p.candidates(p.cursor().state, 1)] == [('{"a":"x"}', 0.5)]


def test_a_lower_score_whose_family_calibrates_higher_is_not_pruned():
    # k = 1. A (P 1.0) offers A(a="x") at score 1.0, which the `const` map calibrates to 0.3; B (P 0.15) repeats
    # its call at score 0.15, which the `repeat` map calibrates to 0.2 + 0.7 * 0.5 = 0.55: B ranks first although
    # its score is below every knot of the pooled map that would reach 0.3
    calibration = {"x": [0.5, 1.0], "y": [0.1, 0.5],
                   "families": {"const": {"x": [0.0, 1.0], "y": [0.1, 0.3]}, "repeat": {"x": [0.1, 0.2], "y": [0.2, 0.9]}}}
    p = PatternPredictor({"K": 1, "R": 1}, _table(
        [([], 4, "A", 4, 1.0), ([], 4, "B", 1, 0.15)],
        [("A", ["a"], 4, 1.0)],
        [_const("A", "a", "x", 1.0), ("B", "*", "repeat", "B", 1, "", 0, "", "", 4, 4, 4, 1.0)]),
        calibration)
    cur = p.cursor()
    cur.observe(Event("tool", 0, "B", '{"q":1}', args_hash('{"q":1}'), "r", None, "ok"))
    got = [(c.tool, c.args_json, round(c.prob, 6), c.family) for c in p.candidates(cur.state, 1)]
    assert got == [("B", '{"q":1}', 0.55, "repeat")]
    assert [(c.tool, c.args_json) for c in p.candidates(cur.state, 2)] == [("B", '{"q":1}'), ("A", '{"a":"x"}')]
    assert p.candidates(cur.state, 1) == reference(p, cur.state, 1)


def test_a_signature_is_bounded_by_the_maps_of_all_its_arguments():
    # k = 1. A(a, b) binds a from a constant and b from B's latest call: its call is of the `copy` family (the
    # most data-driven of its arguments'), whose map gives 0.9; B's repeat gets 0.5 from the `repeat` map. A bound
    # from the first argument's `const` map alone (0.1) would have stopped the walk before A
    calibration = {"x": [], "y": [], "families": {"const": {"x": [0.0], "y": [0.1]}, "copy": {"x": [0.0], "y": [0.9]},
                                                  "repeat": {"x": [0.0], "y": [0.5]}}}
    p = PatternPredictor({"K": 1, "R": 1}, _table(
        [([], 4, "B", 4, 1.0), ([], 4, "A", 2, 0.5)],
        [("A", ["a", "b"], 4, 1.0)],
        [_const("A", "a", "x", 1.0), ("A", "b", "copy", "B", 1, "q", 0, "", "", 4, 4, 4, 1.0),
         ("B", "*", "repeat", "B", 1, "", 0, "", "", 4, 4, 4, 1.0)]),
        calibration)
    cur = p.cursor()
    cur.observe(Event("tool", 0, "B", '{"q":1}', args_hash('{"q":1}'), "r", None, "ok"))
    assert [(c.tool, c.args_json, c.prob, c.family) for c in p.candidates(cur.state, 1)] == [("A", '{"a":"x","b":1}', 0.9, "copy")]
    assert p.candidates(cur.state, 1) == reference(p, cur.state, 1)


def test_a_predictor_sent_to_another_process_predicts_the_same():
    # `replay --workers` pickles the predictor; its load-time plans mark unbound rules with a module sentinel
    import pickle

    p = PatternPredictor({"K": 1, "R": 1}, _table(
        [([], 4, "A", 4, 1.0)], [("A", ["a"], 4, 1.0)],
        [("A", "a", "copy", "A", 1, "a", 0, "", "", 4, 4, 4, 0.5), _const("A", "a", "x", 0.5)]))
    cur = p.cursor()
    cur.observe(Event("tool", 0, "A", '{"a":"y"}', args_hash('{"a":"y"}'), "r", None, "ok"))
    got = p.candidates(cur.state, 5)
    assert [c.args_json for c in got] == ['{"a":"y"}', '{"a":"x"}']
    assert pickle.loads(pickle.dumps(p)).candidates(cur.state, 5) == got


def test_a_narrow_beam_keeps_the_best_combinations_not_the_first_generated():
    # a: y (share 0.8), x (0.5 of the 0.2 left: 0.1); b: p (0.9), q (0.5 of 0.1: 0.05). Generated in the order
    # (y,p) 0.72, (y,q) 0.04, (x,p) 0.09, (x,q) 0.005: a beam 2 wide must keep (y,p) and (x,p)
    p = PatternPredictor({"K": 1, "R": 1}, _table(
        [([], 4, "A", 4, 1.0)], [("A", ["a", "b"], 4, 1.0)],
        [_const("A", "a", "y", 0.8), _const("A", "a", "x", 0.5), _const("A", "b", "p", 0.9), _const("A", "b", "q", 0.5)]))
    state = p.cursor().state
    got = p.candidates(state, 2)
    assert [c.args_json for c in got] == ['{"a":"y","b":"p"}', '{"a":"x","b":"p"}']
    assert [round(c.prob, 9) for c in got] == [0.72, 0.09]
    assert got == reference(p, state, 2)


@given(st.text(), st.text(), st.text(), st.floats(allow_nan=False), st.text(), st.text())
def test_a_candidate_filled_through_its_slots_is_the_dataclass_one(tool, aj, h, p, words, fam):
    made, built = new_candidate(tool, aj, h, p, words, fam), Candidate(tool, aj, h, p, words, fam)
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    with pytest.raises(FrozenInstanceError):
        made.prob = 0.5


_maybe_text = st.none() | st.text()


@given(st.text(), st.none() | st.integers(), _maybe_text, _maybe_text, _maybe_text, _maybe_text, _maybe_text, _maybe_text,
       _maybe_text)
def test_an_event_filled_through_its_slots_is_the_dataclass_one(kind, step, tool, aj, h, result, result_hash, status, text):
    made = new_event(kind, step, tool, aj, h, result, result_hash, status, text)
    built = Event(kind, step, tool, aj, h, result, result_hash, status, text)
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    with pytest.raises(FrozenInstanceError):
        made.status = "ok"
