"""The replay's fast paths give what their simple forms give: the built-in rankings scored from a node's
probability and value, features built on demand, the beam's single-node `best`, coverage classifying
each distinct call once, a worker's column subset of a dataset, and traces built with the cyclic
collector paused, one bootstrap resampling shared by every arm, PASTE pricing its candidates in one pass, arms
built once per replay, and a replay that makes no reference cycles (so it runs with the collector paused)."""

from __future__ import annotations

import gc
import random
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpaste_cli.coverage import classified_calls
from bpaste_cli.fit.examples import explore
from bpaste_cli.ingest import IngestOptions, ingest
from bpaste_cli.mine import Candidate, MineOptions, load_predictor, mine
from bpaste_cli.device import load_device
from bpaste_cli.replay import ARMS, OraclePredictor, PrefixFeatures, ReplayConfig, prepare_split, replay_traces, run_session
from bpaste_cli.replay.arms import PasteArm
from bpaste_cli.replay.beam import BeamConfig, BeamNode, best
from bpaste_cli.replay.metrics import ROUNDS_PER_SELECT, bootstrap_cis
from bpaste_cli.replay.parallel import Run, replay_chunk
from bpaste_cli.replay.predictions import K_MAX, AnswerCache, PredictionSource
from bpaste_cli.replay.traces import ROW_COLUMNS, SESSION_COLUMNS, prepare
from bpaste_cli.replay.value import PROBABILITY, VALUE, LatencyStats, NodeTerms, paste_utility, shadow_price
from bpaste_cli.safety import CallClass, load_safety
from bpaste_cli.synth import generate, write
from bpaste_cli.trace import Dataset, load_dataset

REPO = Path(__file__).resolve().parent.parent
SAFETY = load_safety()
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    target = tmp_path_factory.mktemp("fast") / "ds"
    ingest([str(REPO / "sample_traces")], target, options=IngestOptions())
    return load_dataset(target)


def _features(q: float, value: float, other: float) -> PrefixFeatures:
    return PrefixFeatures(q=q, depth=1, prob=q, latency_s=other, lead_s=other, think_s=other, load=0.0, lam=0.02,
                          resource="cpu", tool="t", value=value, slack_s=other)


@given(q=st.floats(min_value=0.0, max_value=1.0), value=finite, other=finite)
def test_builtin_rankings_score_from_the_prefix_as_from_its_features(q, value, other):
    for scorer in (PROBABILITY, VALUE):
        assert scorer.from_prefix(q, value) == scorer.score(_features(q, value, other))


def _node(score: float, key: tuple[str, str]) -> BeamNode:
    terms = NodeTerms(0.5, 1.0, 2.0, 0.5, 0.0, 0.1, 0.01)
    node = BeamNode(Candidate(key[0], "{}", key[1], 0.5, "test"), key, "cpu", None, 1, True, terms, terms.value, 1.0,
                    3.0, 0.25, 0.05)
    node.score = score
    return node


def test_features_are_built_on_demand_from_the_node():
    node = _node(1.5, ("Grep", "h"))
    f = node.features
    assert f is node.features  # built once
    assert (f.q, f.depth, f.prob, f.latency_s, f.lead_s, f.think_s, f.load, f.lam, f.resource, f.tool, f.value, f.slack_s) == (
        0.5, 1, 0.5, 1.0, 2.0, 3.0, 0.25, 0.05, "cpu", "Grep", node.value, 1.0)


def _best_reference(nodes: list[BeamNode], width: int) -> list[BeamNode]:
    seen, out = set(), []
    for n in sorted(nodes, key=lambda n: -n.score):
        if n.key not in seen:
            seen.add(n.key)
            out.append(n)
        if len(out) == width:
            break
    return out


@settings(max_examples=200)
@given(rows=st.lists(st.tuples(finite, st.sampled_from(["a", "b", "c"])), max_size=6), width=st.integers(0, 4))
def test_best_is_the_reference_ranking(rows, width):
    nodes = [_node(score, ("T", h)) for score, h in rows]
    assert best(nodes, width) == _best_reference(nodes, width)


@pytest.mark.parametrize("null_args", [False, True])
def test_coverage_classifies_each_call_as_classifying_every_row_would(sample, null_args):
    if null_args:  # every third call without arguments: null is its own call, apart from ""
        events = sample.events.with_columns(args_json=pl.when(pl.col("seq") % 3 == 0).then(None)
                                            .when(pl.col("seq") % 3 == 1).then(pl.lit("")).otherwise(pl.col("args_json")))
        sample = Dataset(sample.path, events, sample.sessions, sample.manifest)
    calls = classified_calls(sample, SAFETY)
    tools = sample.events.filter(pl.col("kind") == "tool")
    assert calls["seq"].to_list() == tools["seq"].to_list()
    assert calls["session_id"].to_list() == tools["session_id"].to_list()
    expected = [SAFETY.classify(t, a) for t, a in zip(tools["tool"].to_list(), tools["args_json"].to_list())]
    assert calls["safety"].to_list() == [c.safety for c in expected]
    assert calls["resource"].to_list() == [c.resource for c in expected]
    assert calls["known"].to_list() == [SAFETY.entry(t) is not None for t in tools["tool"].to_list()]
    assert calls["program"].to_list() == [SAFETY.shell_reason(t, a) if c.safety == "unknown" else None
                                          for t, a, c in zip(tools["tool"].to_list(), tools["args_json"].to_list(), expected)]


def test_a_column_subset_prepares_the_same_traces(sample):
    few = load_dataset(sample.path, columns=(("session_id", "seq", *ROW_COLUMNS), SESSION_COLUMNS))
    assert few.events.columns == ["session_id", "seq", *ROW_COLUMNS] and few.sessions.columns == list(SESSION_COLUMNS)
    assert few.events.equals(sample.events.select(few.events.columns))
    allowed = frozenset({"read-only"})
    assert repr(prepare(few.events, few.sessions, SAFETY, allowed)) == repr(prepare(sample.events, sample.sessions, SAFETY, allowed))


def test_traces_are_built_with_the_collector_paused_and_restored(sample):
    assert gc.isenabled()
    assert repr(prepare_split(sample, "all", 0, SAFETY).traces)  # builds, collector back on
    assert gc.isenabled()


def _bootstrap_reference(serial: list[float], replayed: list[float], n: int, seed: int) -> tuple[float, float]:
    df = pl.DataFrame({"s": serial, "r": replayed}, schema={"s": pl.Float64, "r": pl.Float64})
    ratios = []
    for i in range(n):
        sums = df.sample(n=len(serial), with_replacement=True, seed=seed * 100_003 + i).sum()
        if sums["r"][0] > 0:
            ratios.append(sums["s"][0] / sums["r"][0])
    q = pl.Series(ratios, dtype=pl.Float64)
    return (float(q.quantile(0.025, "linear")), float(q.quantile(0.975, "linear")))


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.tuples(st.floats(0.0, 1e4), st.lists(st.floats(1e-3, 1e4), min_size=3, max_size=3)),
                     min_size=1, max_size=40), seed=st.integers(0, 5))
def test_one_resampling_for_several_replays_gives_each_its_own_interval(rows, seed):
    serial = [s for s, _ in rows]
    replayed = [[r[j] for _, r in rows] for j in range(3)]
    got = bootstrap_cis(serial, replayed, 30, seed)
    assert repr(got) == repr([_bootstrap_reference(serial, r, 30, seed) for r in replayed])


def test_the_rounds_evaluated_a_batch_per_query_are_the_rounds_one_by_one():
    """Rounds span several queries (ROUNDS_PER_SELECT each, the last one short) and every one is the round
    `DataFrame.sample` draws with its own seed."""
    rng = random.Random(7)
    serial = [rng.uniform(0.1, 100.0) for _ in range(500)]
    replayed = [[s * rng.uniform(0.2, 1.0) for s in serial] for _ in range(2)]
    n = 2 * ROUNDS_PER_SELECT + 37
    got = bootstrap_cis(serial, replayed, n, 3)
    assert repr(got) == repr([_bootstrap_reference(serial, r, n, 3) for r in replayed])


def _reference_paste_plan(arm: PasteArm, ctx) -> None:
    """PASTE as first written: filter, ask the load if anything is left, price, launch by falling utility."""
    found = []
    for c in ctx.predict(arm.top_k):
        cls = ctx.classify(c.tool, c.args_json)
        if c.prob >= arm.threshold and cls.safety in arm.allowed and not ctx.pending((c.tool, c.args_hash)):
            found.append((c, cls.resource, (c.tool, c.args_hash)))
    if not found:
        return
    busy, mem = ctx.load()
    lam = shadow_price(busy / max(ctx.slots, 1), arm.lambda_scale)
    scored = [(u, c, r, k) for c, r, k in found
              if (u := paste_utility(c.prob, arm.stats.latency(c.tool), arm.stats.think_s, lam)) > 0]
    scored.sort(key=lambda x: -x[0])
    for _, c, resource, key in scored:
        if busy >= ctx.slots or mem + ctx.device.job_memory_gb[resource] > ctx.device.memory_budget_gb:
            break
        ctx.launch(key, c.tool, resource, c.prob, 1)
        busy += 1
        mem += ctx.device.job_memory_gb[resource]


class _RecordingContext:
    """A planning context over fixed candidates that records the loads asked and the calls launched."""

    def __init__(self, cands, pending, busy, mem, slots):
        self.cands, self._pending, self._load, self.slots = cands, pending, (busy, mem), slots
        self.device = SimpleNamespace(job_memory_gb={"cpu": 1.0, "gpu": 3.0}, memory_budget_gb=6.0)
        self.loads, self.launched = 0, []

    def predict(self, k, path=(), at_least=0.0):
        return self.cands[:k]

    def classify(self, tool, args_json):
        return CallClass("read_only" if tool != "Write" else "mutating", "gpu" if tool == "Bash" else "cpu")

    def pending(self, key):
        return key in self._pending

    def load(self):
        self.loads += 1
        return self._load

    def launch(self, key, tool, resource, prob, depth, *, after=None, bound=True):
        self.launched.append((key, tool, resource, prob, depth))


candidates = st.lists(st.builds(lambda tool, h, p: Candidate(tool, "{}", h, p, "test"),
                                st.sampled_from(["Read", "Grep", "Bash", "Write"]), st.sampled_from("abc"),
                                st.floats(min_value=0.0, max_value=1.0)), max_size=8)


@given(cands=candidates, pending=st.sets(st.tuples(st.sampled_from(["Read", "Bash"]), st.sampled_from("abc"))),
       busy=st.integers(0, 4), mem=st.floats(0.0, 6.0), slots=st.integers(0, 4), top_k=st.integers(1, 8),
       threshold=st.floats(0.0, 1.0), lambda_scale=st.floats(0.1, 10.0))
def test_paste_prices_in_one_pass_as_the_reference_does(cands, pending, busy, mem, slots, top_k, threshold,
                                                        lambda_scale):
    stats = LatencyStats(think_s=3.0, tool_s={"Read": 0.5, "Bash": 6.0}, default_tool_s=1.0)
    arm = PasteArm(stats, frozenset({"read_only"}), top_k=top_k, threshold=threshold, lambda_scale=lambda_scale)
    fast, ref = (_RecordingContext(cands, pending, busy, mem, slots) for _ in range(2))
    arm.plan(fast)
    _reference_paste_plan(arm, ref)
    assert (fast.launched, fast.loads) == (ref.launched, ref.loads)


def test_arms_built_once_replay_each_session_as_a_fresh_arm_does(sample):
    """`replay_traces` builds each arm once (the oracle, which keeps state within a session, per session)."""
    prepared = prepare_split(sample, "all", 0, SAFETY)
    config = ReplayConfig(arms=ARMS, threshold=0.01, min_prob=0.01)
    device = load_device("thor")
    shared = replay_traces(prepared.traces, OraclePredictor(), device, config, prepared.stats, SAFETY)
    for arm in ARMS:
        fresh = [run_session(tr, arm, device, config, prepared.stats, SAFETY, OraclePredictor())
                 for tr in prepared.traces]
        assert [repr(r) for r in shared[arm]] == [repr(r) for r in fresh]


class _WidthCursor:
    """A cursor with a fixed ranking of K_MAX calls (probabilities 1.0, 0.9, ...) that records each (k, width,
    at_least) it is asked, and leaves out the calls below at_least."""

    def __init__(self, asked: list) -> None:
        self.asked = asked

    def observe(self, event) -> None:
        pass

    def predict(self, k, width=None, at_least=0.0):
        self.asked.append((k, width, at_least))
        ranking = [Candidate("Read", f'{{"i":{i}}}', str(i), 1.0 - i / 10, "test") for i in range(K_MAX)]
        return [c for c in ranking if c.prob >= at_least][:k]

    def fork(self):
        return self


def test_replay_asks_only_what_is_needed_at_the_full_width_and_asks_again_for_more():
    asked: list = []
    predictor = SimpleNamespace(cursor_for=lambda trace: _WidthCursor(asked))
    trace = SimpleNamespace(session_id="s", nodes=[], wall=1.0, agent_time=1.0)
    cache = AnswerCache()
    source = PredictionSource(predictor, trace, cache)
    ranking = _WidthCursor([]).predict(K_MAX)
    # (k, at_least, the question the cursor is asked: None when the cached answer serves)
    for k, at_least, question in ((2, 0.0, (2, 0.0)), (2, 0.0, None), (1, 0.0, None), (5, 0.0, (5, 0.0)),
                                  (3, 0.0, None), (K_MAX + 4, 0.0, (K_MAX, 0.0)), (8, 0.0, None), (8, 0.5, None)):
        before = len(asked)
        assert source.predict(0, 0, k, at_least=at_least) == tuple(ranking[:k])
        assert asked[before:] == ([(question[0], K_MAX, question[1])] if question else []), k
    assert cache.entries == 1  # one question, answered deeper as it was asked for more
    # a later session replay (as tune's next trial) reads the same cache
    assert PredictionSource(predictor, trace, cache).predict(0, 0, 4) == tuple(ranking[:4]) and len(asked) == 3
    # a question cut at a probability is answered as far as asked; a lower cut or a larger k asks for what both need
    source = PredictionSource(predictor, SimpleNamespace(session_id="t", nodes=[], wall=1.0, agent_time=1.0), cache)
    for k, at_least, question in ((3, 0.75, (3, 0.75)), (2, 0.8, None), (3, 0.55, (3, 0.55)), (5, 0.65, (5, 0.55)),
                                  (4, 0.55, None)):
        before = len(asked)
        got = source.predict(0, 0, k, at_least=at_least)
        assert len(got) <= k and [c for c in got if c.prob >= at_least] == [c for c in ranking[:k] if c.prob >= at_least]
        assert asked[before:] == ([(question[0], K_MAX, question[1])] if question else []), (k, at_least)


@pytest.fixture(scope="module")
def coding(tmp_path_factory):
    """Synthetic coding sessions, ingested and mined: beams of two levels and more, speculated calls of every kind."""
    root = tmp_path_factory.mktemp("cycles")
    write(generate(("coding",), sessions=120, seed=3), root / "logs", ["native"])
    ingest([str(root / "logs" / "native")], root / "ds", options=IngestOptions())
    ds = load_dataset(root / "ds")
    mine(ds, root / "patterns", MineOptions())
    return ds, load_predictor(root / "patterns")


def test_a_replay_of_every_arm_leaves_no_reference_cycles(coding):
    """Preparation, `replay_traces` and `replay_chunk`'s bound run with the cyclic collector paused: that is sound only
    while they free everything they make by reference counting alone, which this holds a whole chunk (preparation,
    every arm, the bound) and fit's exploration to."""
    ds, predictor = coding
    prepared = prepare_split(ds, "all", 0, SAFETY)
    config = ReplayConfig(arms=ARMS)
    run = Run(predictor, load_device("thor"), config, prepared.stats, SAFETY, frozenset(config.allowed), keep=5)
    ids = sorted(ds.sessions["session_id"].to_list())
    assert replay_chunk(ds, ids[:10], run).bound and gc.isenabled()  # its pauses end with the collector running
    gc.collect()
    gc.disable()
    try:
        results = replay_traces(prepared.traces, predictor, load_device("thor"), config, prepared.stats, SAFETY,
                                keep_jobs_for=5, shared_cache=False)
        assert sum(r.spec_started for r in results["bpaste"]) > 0  # the beam did speculate
        chunk = replay_chunk(ds, ids, run)  # preparation, every arm and the bound, as `replay` runs a chunk
        assert len(chunk.bound) == len(prepared.traces) and chunk.kept
        examples = explore(prepared.traces[:20], predictor, load_device("thor"), prepared.stats, SAFETY,
                           beam=BeamConfig(width=4, depth=3, min_prob=0.01), config=config)  # fit's beam and ChainPlanner
        assert examples and any(len(ex.chain) > 1 for ex in examples)
        del results, chunk, examples
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert gc.isenabled()
