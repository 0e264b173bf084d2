"""Replay invariants on many random sessions (hypothesis): serial == logged exactly; no arm is slower than
serial without interference; the oracle is never beaten; nothing unsafe is speculated; replay is
deterministic."""

from __future__ import annotations

import hashlib

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bpaste_cli.device import load_device
from bpaste_cli.mine.api import Candidate
from bpaste_cli.replay import LatencyStats, OraclePredictor, ReplayConfig, run_session
from bpaste_cli.trace.canonical import args_hash, canonical_json
from test_replay import SAFETY, ZERO, traces_of

THOR = load_device("thor")
TOOLS = [
    ("Read", {"path": "a.py"}), ("Read", {"path": "b.py"}), ("Grep", {"pattern": "x"}), ("Glob", {"pattern": "*"}),
    ("Edit", {"path": "a.py", "old": "1", "new": "2"}), ("Bash", {"command": "ls"}), ("Bash", {"command": "rm x"}),
    ("Bash", {"command": "pytest"}), ("WebFetch", {"url": "u"}),
]
DECOYS = [("Read", {"path": "zzz.py"}), ("Grep", {"pattern": "nothing"})]

call = st.tuples(st.integers(0, len(TOOLS) - 1), st.floats(0, 8), st.floats(0, 0.5), st.booleans() | st.just(True))
step = st.tuples(
    st.floats(0, 10),  # think
    st.lists(call, max_size=3),  # batch
    st.one_of(st.none(), st.floats(0, 200)),  # human turn before the step
    st.floats(0, 1),  # framework gap after the batch
)
session = st.lists(step, min_size=1, max_size=12)


def build(steps) -> list[tuple]:
    ops: list[tuple] = [("user", 0.0)]
    t = 0.0
    for think, batch, turn, gap in steps:
        if turn is not None:
            t += turn
            ops.append(("user", t))
        t += think
        ops.append(("llm", t))
        ends = [t]
        for tool_i, lat, stagger, has_result in batch:
            name, args = TOOLS[tool_i]
            emit = t + stagger
            ops.append(("tool", name, args, emit, emit + lat if has_result else None, f"r{tool_i}"))
            ends.append(emit + lat)
        t = max(ends) + gap
    ops.append(("llm", t + 1.0))
    return ops


class NoisyPredictor:
    """Proposes each next real call with a pseudo-random probability (dropping some) plus a decoy."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def cursor_for(self, trace):
        steps = []
        for n, calls in enumerate(trace.calls_by_step):
            cands = []
            for i in calls:
                ev = trace.nodes[i].event
                u = int(hashlib.sha256(f"{self.seed}:{n}:{i}".encode()).hexdigest()[:8], 16) / 2**32
                if u > 0.25:
                    cands.append(Candidate(ev.tool, ev.args_json, ev.args_hash, round(u, 3), "noisy"))
            name, args = DECOYS[n % 2]
            j = canonical_json(args)
            cands.append(Candidate(name, j, args_hash(j), 0.5, "decoy"))
            steps.append(sorted(cands, key=lambda c: -c.prob))
        return OraclePredictor().cursor().__class__(steps)


KNOWN_ARGS = {(n, args_hash(canonical_json(a))): canonical_json(a) for n, a in TOOLS + DECOYS}
STATS = LatencyStats(think_s=4.0, tool_s={"Read": 1.0, "Grep": 2.0, "Bash": 3.0}, default_tool_s=1.5)
CONFIGS = [
    ("paste", {}),
    ("bpaste", {"rank": "value", "beam_depth": 2}),
    ("bpaste", {"rank": "probability", "beam_depth": 3, "beam_width": 2}),
    ("bpaste", {"rank": "value", "beam_depth": 3, "ttl_s": 2.0, "slots": 1}),
]


def _all_arms(tr, device, predictor):
    out = []
    for arm, cfg in CONFIGS:
        out.append(run_session(tr, arm, device, ReplayConfig(**cfg), STATS, SAFETY, predictor, keep_jobs=True))
    return out


@settings(max_examples=300, deadline=None)
@given(session, st.integers(0, 3))
# a chain that a beam can start earlier than a "next step only" oracle would (such an oracle fails here)
@example([(0.0, [(0, 0.0, 0.0, False), (0, 1.0, 0.0, True)], None, 0.0), (0.0, [(0, 1.0, 0.0, True)], None, 0.0)], 0)
# an expired job's claim made a new job take the latency of a later identical call, then serve the earlier one
@example([(0.0, [(0, 0.0, 0.0, True)], None, 0.0), (0.0, [(1, 0.0, 0.0, True)], 3.0, 0.0),
          (0.0, [(0, 0.0, 0.0, True), (1, 1.0, 0.0, True)], None, 0.0)], 0)
def test_invariants(steps, seed):
    (tr,), _ = traces_of({"s": build(steps)})
    serial = run_session(tr, "serial", ZERO, ReplayConfig(), STATS, SAFETY)
    assert serial.agent_s == tr.agent_time  # exactly, not approximately
    oracle = run_session(tr, "oracle", ZERO, ReplayConfig(), STATS, SAFETY, keep_jobs=True)
    for predictor in (OraclePredictor(), NoisyPredictor(seed)):
        for device in (ZERO, THOR):
            for r in _all_arms(tr, device, predictor):
                assert oracle.agent_s <= r.agent_s + 1e-9
                if device is ZERO:
                    assert r.agent_s <= tr.agent_time + 1e-9
                    assert r.interference_s == 0.0
                assert r.hits + r.promotions <= r.real_calls and r.wasted_s >= -1e-12
                for job in r.jobs:
                    assert SAFETY.classify(job.tool, KNOWN_ARGS[job.key]).safety == "read-only"
    assert oracle.agent_s <= tr.agent_time + 1e-9
    for job in oracle.jobs:
        assert SAFETY.classify(job.tool, KNOWN_ARGS[job.key]).safety == "read-only"


@settings(max_examples=30, deadline=None)
@given(session)
def test_deterministic(steps):
    (tr,), _ = traces_of({"s": build(steps)})
    a = [(r.agent_s, r.hits, r.promotions, r.wasted_s, r.interference_s) for r in _all_arms(tr, THOR, NoisyPredictor(1))]
    b = [(r.agent_s, r.hits, r.promotions, r.wasted_s, r.interference_s) for r in _all_arms(tr, THOR, NoisyPredictor(1))]
    assert a == b
