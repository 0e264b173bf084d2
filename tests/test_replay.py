"""Replay engine: tiny hand-computed sessions with exact expected timings for every arm.

Sessions are built with the real SessionBuilder (the same path every reader uses), so the timings below
go through the builder's think-window/latency derivation first. Times are seconds; "A → B" is an interval.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pyarrow as pa
import pytest

from bpaste_cli.device import load_device
from bpaste_cli.mine.api import Candidate, Event
from bpaste_cli.replay import (
    LatencyStats,
    OraclePredictor,
    ReplayConfig,
    chain_terms,
    paste_utility,
    prepare,
    replay,
    run_session,
    shadow_price,
)
from bpaste_cli.safety import load_safety
from bpaste_cli.trace.builder import SessionBuilder
from bpaste_cli.trace.canonical import args_hash, canonical_json
from bpaste_cli.trace.schema import EVENTS_SCHEMA, SESSIONS_SCHEMA

SAFETY = load_safety()
ZERO = load_device("server").without_interference()


def frames(sessions: dict[str, list[tuple]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """events/sessions frames from a tiny DSL: ("user", t) | ("llm", t_emit) |
    ("tool", name, args, t_emit, t_result, result) (t_result None: no result logged)."""
    srows, erows = [], []
    for sid, ops in sessions.items():
        b = SessionBuilder(sid, "native", "mem")
        for op in ops:
            if op[0] == "user":
                b.user(op[1], "hi")
            elif op[0] == "llm":
                b.llm(op[1])
            else:
                _, name, args, t_emit, t_res, result = op
                cid = b.tool_call(None, name, args, t_emit)
                if t_res is not None:
                    b.tool_result(cid, t_res, result)
        s, ev = b.finish()
        srows.append(s)
        erows.extend(ev)
    events = pl.from_arrow(pa.Table.from_pylist(erows, schema=EVENTS_SCHEMA))
    sess = pl.from_arrow(pa.Table.from_pylist(srows, schema=SESSIONS_SCHEMA))
    return events, sess


def traces_of(sessions: dict[str, list[tuple]]):
    events, sess = frames(sessions)
    traces, skipped = prepare(events, sess, SAFETY, frozenset({"read-only"}))
    return traces, skipped


def run(trace, arm, predictor=None, device=ZERO, stats=None, **cfg):

    stats = stats or LatencyStats(think_s=2.0, tool_s={"Grep": 1.0, "Read": 5.0}, default_tool_s=1.0)
    config = ReplayConfig(**cfg)
    return run_session(trace, arm, device, config, stats, SAFETY, predictor, keep_jobs=True)


def cand(tool: str, args: dict, prob: float) -> Candidate:
    j = canonical_json(args)
    return Candidate(tool, j, args_hash(j), prob, "scripted")


class ScriptedCursor:
    """Answers from a script keyed by the number of llm events observed (real or hypothetical)."""

    def __init__(self, script, n=0):
        self.script, self.n = script, n

    def observe(self, event: Event) -> None:
        self.n += event.kind == "llm"

    def predict(self, k: int = 5, width: int | None = None, at_least: float = 0.0):
        return self.script.get(self.n, [])[:k]

    def fork(self):
        return ScriptedCursor(self.script, self.n)


class Scripted:
    def __init__(self, script):
        self.script = script

    def cursor(self):
        return ScriptedCursor(self.script)

    def cursor_for(self, session):
        return self.cursor()


# Grep (1 s) whose result leads to Read (5 s), 2 s think windows:
#   llm 0 → 2, Grep 2 → 3, llm 3 → 5, Read 5 → 10, llm 10 → 12: agent time 12.
CHAIN = {
    "chain": [
        ("user", 0.0),
        ("llm", 2.0),
        ("tool", "Grep", {"pattern": "foo"}, 2.0, 3.0, "a.py:1"),
        ("llm", 5.0),
        ("tool", "Read", {"path": "a.py"}, 5.0, 10.0, "x = 1"),
        ("llm", 12.0),
    ]
}


def test_chain_every_arm_by_hand():
    (tr,), _ = traces_of(CHAIN)
    assert tr.agent_time == 12.0
    assert run(tr, "serial").agent_s == 12.0
    # oracle: Grep 0 → 1 and Read 0 → 5 both start at the first think. Grep asked at 2: reuse (ends 2);
    # think 2 → 4; Read asked at 4: in flight until 5; think 5 → 7. Agent time 7.
    o = run(tr, "oracle")
    assert (o.agent_s, o.hits, o.promotions, o.hidden_s) == (7.0, 1, 1, 1.0 + 4.0)
    # paste (perfect predictor): Grep 0 → 1, reuse at 2; think 2 → 4 launches Read 2 → 7; asked at 4,
    # in flight until 7; think 7 → 9. Agent time 9.
    p = run(tr, "paste", OraclePredictor())
    assert (p.agent_s, p.hits, p.promotions) == (9.0, 1, 1)
    # bpaste depth 2: Grep 0 → 1 then its child Read 1 → 6 (bound from Grep's logged result). Grep reuse at 2;
    # think 2 → 4; Read asked at 4, in flight until 6; think 6 → 8. Agent time 8.
    b = run(tr, "bpaste", OraclePredictor(), beam_depth=2)
    assert (b.agent_s, b.hits, b.promotions, b.spec_started, b.wasted_s) == (8.0, 1, 1, 2, 0.0)
    # depth 1 is PASTE-like: 9 again.
    assert run(tr, "bpaste", OraclePredictor(), beam_depth=1).agent_s == 9.0


def test_interference_stretches_think_by_hand():
    (tr,), _ = traces_of(CHAIN)
    dev = replace(ZERO, interference={"llm": {"cpu": 0, "io": 0.5, "net": 0, "gpu": 0}, "tool": dict.fromkeys(("cpu", "io", "net", "gpu"), 0.0)})
    # paste: Grep (io) runs 0 → 1 beside think 0 → 2: +0.5·1 = 0.5 s, think ends 2.5; Grep reused at 2.5.
    # think 2.5 → 4.5 with Read (io) 2.5 → 7.5 beside it for 2 s: +1.0, ends 5.5; Read in flight until 7.5;
    # think 7.5 → 9.5. Agent time 9.5, interference 1.5.
    p = run(tr, "paste", OraclePredictor(), device=dev)
    assert p.agent_s == pytest.approx(9.5) and p.interference_s == pytest.approx(1.5)
    # the oracle ignores interference: still 7.
    assert run(tr, "oracle", device=dev).agent_s == 7.0


def test_wrong_parent_makes_subtree_waste():
    (tr,), _ = traces_of(CHAIN)
    # at the first decision the predictor is sure of a Glob that never happens, then of the real Read
    # (after observing the Glob). The Read node's parent matched nothing: it cannot be bound -> waste.
    script = {0: [cand("Glob", {"pattern": "*.md"}, 0.9)], 1: [cand("Read", {"path": "a.py"}, 0.9)]}
    b = run(tr, "bpaste", Scripted(script), beam_depth=2, min_prob=0.05)
    unbound = [j for j in b.jobs if not j.bound]
    assert [j.tool for j in unbound] == ["Read"] and unbound[0].state != "served"
    # Glob (Grep-like default latency 1 s) 0 → 1, its child Read starts at 1 and is never served; the real
    # Read is then launched again at decision 1 (time 3, a bound depth-1 job): 3 → 8, asked at 5 → in flight.
    # Agent: llm 0 → 2, Grep 2 → 3 (miss), llm 3 → 5, Read 5 → 8, llm 8 → 10.
    assert b.agent_s == 10.0
    assert b.hits == 0 and b.promotions == 1
    # waste: Glob ran 1 s; the unbound Read ran from 1 until the session ended (its estimate: 5 s) -> 1 + 5
    assert b.wasted_s == pytest.approx(6.0)


MUTATE = {
    "mut": [
        ("user", 0.0),
        ("llm", 2.0),
        ("tool", "Read", {"path": "a.py"}, 2.0, 4.0, "v1"),
        ("llm", 5.0),
        ("tool", "Edit", {"path": "a.py", "old": "1", "new": "2"}, 5.0, 6.0, "ok"),
        ("llm", 8.0),
        ("tool", "Read", {"path": "a.py"}, 8.0, 10.0, "v2"),
        ("llm", 11.0),
    ]
}


def test_mutating_call_never_speculated_and_invalidates():
    (tr,), _ = traces_of(MUTATE)
    assert tr.agent_time == 11.0
    # oracle: epoch 0 holds the first Read only (the Edit's batch starts epoch 1). Decision 0 launches
    # Read 0 → 2: reuse at 2. Think 2 → 3 (1 s), Edit 3 → 4 (miss), decision 2 at 4 launches the second
    # Read 4 → 6; think 4 → 6 (2 s); reuse at 6; think 6 → 7. Agent time 7.
    o = run(tr, "oracle")
    assert o.agent_s == 7.0 and o.hits == 2
    assert all(j.tool == "Read" for j in o.jobs)
    # a predictor that proposes the second Read before the Edit: the job is planned at decision 1 and
    # cancelled by the Edit, so it serves nothing; the Edit itself (proposed too) is never launched.
    script = {1: [cand("Read", {"path": "a.py"}, 0.9), cand("Edit", {"path": "a.py", "old": "1", "new": "2"}, 0.9)]}
    p = run(tr, "paste", Scripted(script))
    assert [j.tool for j in p.jobs] == ["Read"]
    assert p.jobs[0].state == "cancelled" and p.hits + p.promotions == 0
    assert p.agent_s == 11.0


def test_ttl_expiry_and_reuse_counts():
    # Grep whose identical call returns two steps later; the first Grep is served in flight
    sessions = {
        "ttl": [
            ("user", 0.0),
            ("llm", 1.0),
            ("tool", "Grep", {"pattern": "x"}, 1.0, 2.0, "r"),
            ("llm", 12.0),
            ("tool", "Grep", {"pattern": "x"}, 12.0, 13.0, "r"),
            ("llm", 14.0),
        ]
    }
    (tr,), _ = traces_of(sessions)
    # oracle: both Greps launched at 0 (two jobs, 0 → 1 each). First asked at 1: reuse. Second asked at
    # think end 2 + 10 = 12: reuse (no TTL). Agent 14 - 1 - 1 = 12.
    o = run(tr, "oracle")
    assert (o.agent_s, o.hits) == (12.0, 2)
    # paste with a predictor that proposes Grep at decision 1 (time 2, think 10 s): job 2 → 3, asked at
    # 12: 9 s after finishing. With ttl 5 it expired (miss); with ttl 60 it is reused.
    script = {1: [cand("Grep", {"pattern": "x"}, 0.9)]}
    stats = LatencyStats(think_s=10.0, tool_s={"Grep": 1.0}, default_tool_s=1.0)
    short = run(tr, "paste", Scripted(script), stats=stats, ttl_s=5.0)
    assert (short.hits, short.agent_s, short.wasted_s) == (0, 14.0, 1.0)
    long = run(tr, "paste", Scripted(script), stats=stats, ttl_s=60.0)
    assert (long.hits, long.agent_s) == (1, 13.0)


def test_human_wait_kept_and_untimed_skipped():
    sessions = {
        "human": [
            ("user", 0.0),
            ("llm", 2.0),
            ("tool", "Read", {"path": "b"}, 2.0, 6.0, "b"),
            ("llm", 7.0),
            ("user", 100.0),  # a human turn 7 → 100 (93 s), not on the agent's path
            ("llm", 101.0),
        ],
        "untimed": [("user", None), ("llm", None), ("tool", "Read", {"path": "c"}, None, None, "c"), ("llm", None)],
    }
    traces, skipped = traces_of(sessions)
    assert skipped["untimed"] == 1 and [t.session_id for t in traces] == ["human"]
    tr = traces[0]
    assert (tr.agent_time, tr.human) == (8.0, 93.0)
    # oracle: Read 0 → 4, asked at 2, in flight until 4 (2 s hidden); everything after shifts by 2;
    # the human turn keeps its 93 s, so agent time = 101 - 2 - 93 = 6.
    o = run(tr, "oracle")
    assert (o.agent_s, o.human_s) == (6.0, 93.0)


def test_parallel_calls_overlap():
    sessions = {
        "par": [
            ("user", 0.0),
            ("llm", 1.0),
            ("tool", "Read", {"path": "a"}, 1.0, 4.0, "a"),  # 3 s
            ("tool", "Grep", {"pattern": "b"}, 1.0, 2.0, "b"),  # 1 s, in parallel
            ("llm", 5.0),
        ]
    }
    (tr,), _ = traces_of(sessions)
    assert tr.agent_time == 5.0
    # oracle: both launched at 0; Read 0 → 3, Grep 0 → 1. Asked at 1: Grep reused, Read in flight until 3;
    # the next think (1 s) starts when the batch is complete (3): ends at 4.
    o = run(tr, "oracle")
    assert (o.agent_s, o.hits, o.promotions) == (4.0, 1, 1)


def test_value_terms_by_hand():
    # chain Grep (S=1) -> Read (S=5), q 0.8 then 0.8·0.5, think T = 2, λ = 0.02, no interference
    t1, t2 = chain_terms([0.8, 0.5], [1.0, 5.0], [(0.0, 0.0), (0.0, 0.0)], 2.0, 0.02)
    # node 1: lead = T = 2; gain = 0.8·min(1, 2) = 0.8; unlock 0; waste = 0.02·0.2·1 = 0.004
    assert (t1.lead, t1.gain, t1.unlock) == (2.0, 0.8, 0.0) and t1.waste == pytest.approx(0.004)
    # node 2: request R2 = max(2, 0 + 1) + 2 = 4, start 1, lead 3; gain = 0.4·min(5, 2) = 0.8;
    # unlock = 0.4·(min(5, 3) − 2) = 0.4; waste = 0.02·0.6·5 = 0.06
    assert t2.lead == 3.0 and t2.gain == pytest.approx(0.8) and t2.unlock == pytest.approx(0.4)
    assert t2.waste == pytest.approx(0.06) and t2.value == pytest.approx(0.8 + 0.4 - 0.06)
    # PASTE utility: 0.6·min(4, 2) − 0.4·0.1·4 = 1.2 − 0.16
    assert paste_utility(0.6, 4.0, 2.0, 0.1) == pytest.approx(1.04)
    assert [shadow_price(x) for x in (0.0, 0.3, 0.6, 0.9)] == [0.02, 0.05, 0.10, 0.20]


def test_replay_library_json_shape(tmp_path):
    from bpaste_cli.ingest import IngestOptions, ingest

    src = tmp_path / "chain.jsonl"
    import orjson

    lines = []
    for op in CHAIN["chain"]:
        if op[0] == "user":
            lines.append({"session_id": "c", "kind": "user", "t": op[1], "text": "go"})
        elif op[0] == "llm":
            lines.append({"session_id": "c", "kind": "llm", "t_end": op[1]})
        else:
            lines.append({"session_id": "c", "kind": "tool", "tool": op[1], "args": op[2], "t_start": op[3], "t_end": op[4], "result": op[5]})
    src.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    ingest([str(src)], tmp_path / "ds", options=IngestOptions())
    rep = replay(tmp_path / "ds", OraclePredictor(), device=ZERO, config=ReplayConfig(split="all", bootstrap=20),
                 timeline=tmp_path / "t.json")
    doc = rep.to_json()
    keys = {"speedup", "speedup_ci95", "agent_time_s", "tool_stall_hidden_s", "hits", "inflight_promotions", "misses",
            "wasted_spec_s", "amplification", "interference_s", "sessions"}
    for arm in ("serial", "oracle", "paste", "bpaste"):
        assert keys <= set(doc["arms"][arm])
    assert doc["arms"]["serial"]["speedup"] == 1.0
    assert doc["arms"]["oracle"]["speedup"] == pytest.approx(12.0 / 7.0)
    # all tool time hidden: 12 − 1 − 5 = 6
    assert doc["bounds"]["all_tool_time_hidden"]["speedup"] == pytest.approx(2.0)
    assert not any("optimistic" in w for w in doc["warnings"])  # the oracle mined nothing from train: no such warning
    trace = orjson.loads((tmp_path / "t.json").read_bytes())["traceEvents"]
    flows = [e for e in trace if e["ph"] in ("s", "f")]
    assert flows and len(flows) % 2 == 0  # every served job has an arrow to the call it served


def test_ranking_changes_admission_when_slots_bind():
    (tr,), _ = traces_of(CHAIN)
    # one slot; candidates at decision 0: A = Read (p 0.9, typical latency 5 s) and B = Grep (p 0.6, 0.5 s).
    # probability ranking admits A. value per speculative second: A = (0.9·min(5, 2) − 0.02·0.1·5) / 5
    # = 1.79 / 5 = 0.358; B = (0.6·min(0.5, 2) − 0.02·0.4·0.5) / 0.5 = 0.296 / 0.5 = 0.592 -> B first.
    stats = LatencyStats(think_s=2.0, tool_s={"Grep": 0.5, "Read": 5.0}, default_tool_s=1.0)
    script = {0: [cand("Read", {"path": "a.py"}, 0.9), cand("Grep", {"pattern": "foo"}, 0.6)]}
    first = {}
    for rank in ("probability", "value"):
        r = run(tr, "bpaste", Scripted(script), stats=stats, rank=rank, slots=1, beam_depth=1)
        first[rank] = [j.tool for j in r.jobs if j.decision == 0]
    assert first == {"probability": ["Read"], "value": ["Grep"]}


def test_bootstrap_ci():
    from bpaste_cli.replay import bootstrap_ci, summarize

    # one session: every resample is that session, so the interval is its ratio exactly (3 / 2)
    assert bootstrap_ci([3.0], [2.0], 200, 0) == (1.5, 1.5)
    # three sessions with ratios 1, 2, 3: Σ-ratios of resamples lie in [1, 3]; the point estimate is 6 / 3
    lo, hi = bootstrap_ci([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], 500, 0)
    assert 1.0 <= lo < 2.0 < hi <= 3.0
    assert bootstrap_ci([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], 500, 0) == (lo, hi)  # seeded
    from bpaste_cli.replay import SessionResult

    rows = [SessionResult("a", 1.0, 1.0, 0.0), SessionResult("b", 2.0, 1.0, 0.0), SessionResult("c", 3.0, 1.0, 0.0)]
    assert summarize(rows, bootstrap=50)["speedup"] == 2.0


REPEAT = {  # the identical Grep returns two steps later; 10 s think in between
    "repeat": [
        ("user", 0.0),
        ("llm", 1.0),
        ("tool", "Grep", {"pattern": "x"}, 1.0, 2.0, "r"),
        ("llm", 12.0),
        ("tool", "Grep", {"pattern": "x"}, 12.0, 13.0, "r"),
        ("llm", 14.0),
    ]
}


def _run_with(trace, arm, safety, predictor=None, stats=None, **cfg):
    stats = stats or LatencyStats(think_s=10.0, tool_s={"Grep": 1.0}, default_tool_s=1.0)
    return run_session(trace, arm, ZERO, ReplayConfig(**cfg), stats, safety, predictor, keep_jobs=True)


def test_cache_serves_an_exact_repeat_within_its_ttl():
    (tr,), _ = traces_of(REPEAT)
    # the first Grep's result exists at 2; the second, asked at 12, is served from it at no latency:
    # agent 14 - 1 = 13. With a 5 s TTL the result (2 + 5 = 7) has expired by 12: nothing changes.
    hit = _run_with(tr, "cache", SAFETY, ttl_s=60.0)
    assert (hit.hits, hit.agent_s, hit.wasted_s) == (1, 13.0, 0.0)
    stale = _run_with(tr, "cache", SAFETY, ttl_s=5.0)
    assert (stale.hits, stale.agent_s) == (0, 14.0)


def test_a_tools_own_ttl_overrides_the_global_one(tmp_path):
    (tr,), _ = traces_of(REPEAT)
    f = tmp_path / "safety.toml"
    f.write_text('[tools]\nGrep = { safety = "read-only", resource = "io", ttl_s = 20 }\n')
    own = load_safety(f)
    assert own.ttl("grep") == 20.0 and SAFETY.ttl("Grep") is None
    assert _run_with(tr, "cache", own, ttl_s=5.0).agent_s == 13.0  # 2 + 20 >= 12: served
    short = tmp_path / "short.toml"
    short.write_text('[tools]\nGrep = { safety = "read-only", resource = "io", ttl_s = 5 }\n')
    assert _run_with(tr, "cache", load_safety(short), ttl_s=60.0).agent_s == 14.0  # 2 + 5 < 12: expired
    # paste speculating the second Grep at decision 1 (job 2 -> 3, asked at 12) obeys the same TTL
    script = {1: [cand("Grep", {"pattern": "x"}, 0.9)]}
    assert _run_with(tr, "paste", own, Scripted(script), ttl_s=5.0).hits == 1
    assert _run_with(tr, "paste", load_safety(short), Scripted(script), ttl_s=60.0).hits == 0


def test_cache_never_serves_across_a_mutation_or_from_a_mutating_batch():
    edited = {"e": REPEAT["repeat"][:3] + [("llm", 5.0), ("tool", "Edit", {"path": "a"}, 5.0, 6.0, "ok")]
              + REPEAT["repeat"][3:]}
    (tr,), _ = traces_of(edited)
    r = _run_with(tr, "cache", SAFETY)
    assert r.hits == 0 and r.agent_s == tr.agent_time
    same_batch = {"b": [("user", 0.0), ("llm", 1.0), ("tool", "Grep", {"pattern": "x"}, 1.0, 2.0, "r"),
                        ("tool", "Edit", {"path": "a"}, 1.0, 2.0, "ok")] + REPEAT["repeat"][3:]}
    (tr,), _ = traces_of(same_batch)
    assert _run_with(tr, "cache", SAFETY).hits == 0  # the Grep may have read before or after the Edit

