"""`bpaste mine`: mined rules, supports and probabilities on hand-built traces, no leakage, determinism,
the plain-JSON and on-disk round trips, the CLI, and one-sentence errors."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from bpaste_cli.cli import app
from bpaste_cli.errors import BpasteError
from bpaste_cli.mine import MineOptions, PatternPredictor, load_predictor, mine
from bpaste_cli.mine.api import Event
from bpaste_cli.mine.dataflow import Rule
from bpaste_cli.mine.evaluate import decisions, evaluate, fit_isotonic
from bpaste_cli.mine.patterns import Rows, mine_predictor, mine_rows
from bpaste_cli.trace.canonical import args_hash


def write_native(path: Path, sessions: list[list[dict]]) -> Path:
    with open(path, "w") as fh:
        for i, events in enumerate(sessions):
            for e in events:
                fh.write(json.dumps({"session_id": f"s{i}"} | e) + "\n")
    return path


def grep_read_session(i: int, read_second: bool = False) -> list[dict]:
    """user -> Grep(pattern) -> Read(one of Grep's paths) -> final answer: 3 decisions, 2 calls."""
    first, second = f"pkg{i}/alpha.py", f"pkg{i}/beta.py"
    return [
        {"kind": "user", "text": f"find widget {i}"},
        {"kind": "llm"},
        {"kind": "tool", "tool": "Grep", "args": {"pattern": f"widget{i}"}, "result": f"{first}:3: widget\n{second}:9: widget"},
        {"kind": "llm"},
        {"kind": "tool", "tool": "Read", "args": {"file_path": second if read_second else first}, "result": "..."},
        {"kind": "llm", "text": "done"},
    ]


@pytest.fixture
def grep_read(ingest_paths, tmp_path):
    # 5 sessions: Read takes Grep's 1st path in 4 of them, the 2nd path in one (session 4)
    src = write_native(tmp_path / "gr.jsonl", [grep_read_session(i, read_second=(i == 4)) for i in range(5)])
    _, ds = ingest_paths([src])
    return ds


def rules_of(p: PatternPredictor, tool: str, arg: str) -> dict[Rule, tuple[int, int, float]]:
    r = p.tables["rules"]
    out = {}
    for i in range(len(r["tool"])):
        if r["tool"][i] == tool and r["arg"][i] == arg:
            rule = Rule(r["kind"][i], r["src"][i], r["rank"][i], r["field"][i], r["pos"][i], r["cast"][i], r["value"][i])
            out[rule] = (r["bindable"][i], r["exact"][i], r["rate"][i])
    return out


def test_mined_rules_supports_and_probabilities_exact(grep_read):
    ids = grep_read.sessions["session_id"].to_list()
    p, floor, totals = mine_predictor(grep_read.events, ids, MineOptions(max_context=1, min_support=1, alpha=2.0,
                                                                         min_sessions=1))
    assert totals == {"sessions": 5, "decisions": 15, "calls": 10, "dataflow_sessions": 5}
    read = rules_of(p, "Read", "file_path")
    # 1st path of the latest Grep's result: applies 5 times, right 4 times; 2nd path: right once
    assert read[Rule("extract", "Grep", 1, "path", 1, "str")] == (5, 4, 0.8)
    assert read[Rule("extract", "Grep", 1, "path", 2, "str")] == (5, 1, 0.2)
    # constants: each file path occurs in one session only, kept here only because min_sessions is 1 (the 3
    # most common of the 5 distinct paths; see the next test for the default)
    assert sum(1 for r in read if r.kind == "const") == 3
    # Grep's pattern ("widget3") is not an item of the prompt ("find widget 3"), and each pattern occurs
    # in one session: only its one-session constants (min_sessions 1 here)
    assert {r.kind for r in rules_of(p, "Grep", "pattern")} == {"const"}
    # control flow: 15 decisions, Grep in 5, Read in 5; p0 = 1/3 each.
    # after <user> (5 decisions, Grep 5): (5 + 2 * 1/3) / (5 + 2) = 0.8095...
    # after Grep (5 decisions, Read 5): same; Grep after Grep: (0 + 2/3) / 7
    assert p.tool_dist(("<user>",))[0] == ("Grep", pytest.approx((5 + 2 / 3) / 7))
    assert p.tool_dist(("Grep",)) == [("Read", pytest.approx((5 + 2 / 3) / 7)), ("Grep", pytest.approx((2 / 3) / 7))]
    assert p.tool_dist(()) == [("Grep", pytest.approx(1 / 3)), ("Read", pytest.approx(1 / 3))]

    # the predictor binds Read's file_path from a fresh Grep result, prefix only
    cur = p.cursor()
    cur.observe(Event("user", text="find gadget"))
    cur.observe(Event("llm", step=0))
    cur.observe(Event("tool", 0, "Grep", '{"pattern":"gadget"}', None, "lib/one.py:1: gadget\nlib/two.py:5: gadget", None, "ok"))
    top = cur.predict(2)
    p_read = (5 + 2 / 3) / 7
    assert [(c.tool, c.args_json) for c in top] == [("Read", '{"file_path":"lib/one.py"}'), ("Read", '{"file_path":"lib/two.py"}')]
    # 1st value: 0.8; 2nd value: 0.2 of the remaining 0.2; signature ("file_path",) has P = 1
    assert top[0].prob == pytest.approx(p_read * 0.8)
    assert top[1].prob == pytest.approx(p_read * 0.2 * 0.2)
    assert top[0].args_hash == args_hash(top[0].args_json)
    assert top[0].rule == "Read(file_path = 1st path in the latest Grep's result)"


def test_a_rule_needs_exact_hits_from_min_sessions_sessions(grep_read):
    ids = grep_read.sessions["session_id"].to_list()
    p, _, _ = mine_predictor(grep_read.events, ids, MineOptions(max_context=1, min_support=1))  # min_sessions 2
    read = rules_of(p, "Read", "file_path")
    # the 1st-path rule was right in sessions 0-3; the 2nd-path rule only in session 4: dropped
    assert read == {Rule("extract", "Grep", 1, "path", 1, "str"): (5, 4, 0.8)}  # and no constant of one session
    assert rules_of(p, "Grep", "pattern") == {}
    p5, _, _ = mine_predictor(grep_read.events, ids, MineOptions(max_context=1, min_support=1, min_sessions=5))
    assert rules_of(p5, "Read", "file_path") == {}  # 4 sessions < 5


def test_min_support_drops_rare_rules(grep_read):
    ids = grep_read.sessions["session_id"].to_list()
    p, _, _ = mine_predictor(grep_read.events, ids, MineOptions(max_context=1, min_support=2))
    # the 2nd-path rule was exact once and constants once each: below min_support 2
    assert rules_of(p, "Read", "file_path") == {Rule("extract", "Grep", 1, "path", 1, "str"): (5, 4, 0.8)}


def test_copy_and_repeat_rules_and_json_fields(ingest_paths, tmp_path):
    # tau-bench-like: get_user(user_id from the prompt) -> get_order(order_id = 2nd element of "orders")
    # -> cancel(order_id copied from get_order), then cancel repeated identically
    sessions = []
    for i in range(4):
        uid, orders = f"user_{i}7", [f"ORD{i}01", f"ORD{i}02"]
        sessions.append([
            {"kind": "user", "text": f"I am {uid}, please cancel my last order"},
            {"kind": "llm"},
            {"kind": "tool", "tool": "get_user", "args": {"user_id": uid}, "result": {"name": "X", "orders": orders}},
            {"kind": "llm"},
            {"kind": "tool", "tool": "get_order", "args": {"order_id": orders[1]}, "result": {"status": "open"}},
            {"kind": "llm"},
            {"kind": "tool", "tool": "cancel", "args": {"order_id": orders[1], "reason": "no longer needed"}, "result": "ok"},
            {"kind": "llm"},
            {"kind": "tool", "tool": "cancel", "args": {"order_id": orders[1], "reason": "no longer needed"}, "result": "ok"},
            {"kind": "llm", "text": "done"},
        ])
    _, ds = ingest_paths([write_native(tmp_path / "t.jsonl", sessions)])
    p, _, _ = mine_predictor(ds.events, ds.sessions["session_id"].to_list(), MineOptions(min_support=3))
    assert rules_of(p, "get_user", "user_id")[Rule("prompt", "", 0, "id", 1, "str")] == (4, 4, 1.0)
    assert rules_of(p, "get_order", "order_id")[Rule("extract", "get_user", 1, "json:orders[]", 2, "json")] == (4, 4, 1.0)
    cancel = rules_of(p, "cancel", "order_id")
    assert cancel[Rule("copy", "get_order", 1, "order_id")] == (8, 8, 1.0)
    assert rules_of(p, "cancel", "reason")[Rule("const", value='"no longer needed"')] == (8, 8, 1.0)
    # the second cancel repeats the first: repeat(1) applies once per session, always exact
    assert rules_of(p, "cancel", "*") == {Rule("repeat", "cancel", 1): (4, 4, 1.0)}


class SpyCursor:
    """A cursor that records what it was shown; predicts nothing."""

    def __init__(self, log: list) -> None:
        self.log = log
        self.seen: list[Event] = []

    def observe(self, event: Event) -> None:
        self.seen.append(event)

    def predict(self, k: int = 5, width: int | None = None, at_least: float = 0.0):
        self.log.append(list(self.seen))
        return []

    def tools(self, k: int = 5):
        return []

    def fork(self):
        raise NotImplementedError

    @property
    def state(self):
        return type("S", (), {"last": "<start>"})()


def test_evaluation_feeds_only_the_prefix(grep_read):
    # a spy cursor records what evaluation showed it at each decision: for the d-th decision of a
    # session it must have seen the llm events of steps 0..d-1 and only tool events of those steps
    for sid in grep_read.sessions["session_id"].to_list():
        log: list[list[Event]] = []
        spy = type("P", (), {"cursor": lambda self: SpyCursor(log)})()
        truths = [truth for *_, truth in decisions(spy, Rows(grep_read.events, [sid]))]
        assert len(log) == len(truths) == 3
        for d, seen in enumerate(log):
            assert [e.step for e in seen if e.kind == "llm"] == list(range(d))
            assert all(e.step < d for e in seen if e.kind == "tool")
        assert [len(t) for t in truths] == [1, 1, 0]


def test_predictions_do_not_change_when_the_future_does(ingest_paths, tmp_path, grep_read):
    ids = grep_read.sessions["session_id"].to_list()
    p, _, _ = mine_predictor(grep_read.events, ids, MineOptions(max_context=2, min_support=1))
    a = grep_read_session(7)
    b = a[:3] + [{"kind": "llm"}, {"kind": "tool", "tool": "Read", "args": {"file_path": "other/z.py"}, "result": "zz"},
                 {"kind": "llm"}, {"kind": "tool", "tool": "Grep", "args": {"pattern": "q"}, "result": "x/y.py"}, {"kind": "llm"}]
    _, da = ingest_paths([write_native(tmp_path / "a.jsonl", [a])])
    _, db = ingest_paths([write_native(tmp_path / "b.jsonl", [b])])
    pa = [c for c, *_ in decisions(p, Rows(da.events, da.sessions["session_id"].to_list()))]
    pb = [c for c, *_ in decisions(p, Rows(db.events, db.sessions["session_id"].to_list()))]
    # identical prefixes (decisions 0 and 1) give identical candidates, whatever follows
    assert pa[:2] == pb[:2] and pa[1]
    # and the Read at decision 1 of `a` is predicted from the Grep result, while `b`'s Read is missed
    ev_a = evaluate(p, Rows(da.events, da.sessions["session_id"].to_list()), mine_predictor(grep_read.events, ids, MineOptions())[1])
    assert ev_a["decisions"] == 2 and ev_a["decisions_all"] == 3 and ev_a["call_top1"] == 0.5


def test_evaluation_counts_and_floors(ingest_paths, tmp_path):
    # 40 sessions of the Grep -> Read pattern: every Read takes the 1st path
    src = write_native(tmp_path / "many.jsonl", [grep_read_session(i) for i in range(40)])
    _, ds = ingest_paths([src])
    r = mine(ds, tmp_path / "pt", MineOptions(seed=3))
    e = r.eval
    n_test = r.summary["split"]["test_sessions"]
    assert n_test > 0 and e["sessions"] == n_test
    # per test session: 3 decisions, 2 with a call; tools are always right (Grep after the prompt, Read after Grep)
    assert e["decisions_all"] == 3 * n_test and e["decisions"] == 2 * n_test
    assert e["tool_top1"] == 1.0 and e["floor_tool_top1"] == 1.0
    # Grep's pattern is new every time (never predicted exactly); Read always: call top-1 = 1/2
    assert e["call_top1"] == 0.5 and e["repeat_last_call"] == 0.0
    assert e["per_tool"]["Read"] == {"decisions": n_test, "call_top1": 1.0, "call_top3": 1.0, "call_top5": 1.0,
                                     "floor_tool_top1": 1.0, "floor_tool_top3": 1.0, "floor_tool_top5": 1.0,
                                     "repeat_last_call": 0.0, "tool_top1": 1.0, "tool_top3": 1.0, "tool_top5": 1.0}
    assert 0.0 <= e["brier"] <= 1.0 and sum(b["n"] for b in e["reliability"]) == e["scored"]


def test_determinism_and_round_trips(ingest_paths, tmp_path):
    src = write_native(tmp_path / "many.jsonl", [grep_read_session(i, read_second=i % 5 == 0) for i in range(30)])
    _, ds = ingest_paths([src])
    r1 = mine(ds, tmp_path / "p1", MineOptions(seed=11))
    r2 = mine(ds, tmp_path / "p2", MineOptions(seed=11))
    assert r1.predictor.to_dict() == r2.predictor.to_dict() and r1.eval == r2.eval
    r3 = mine(ds, None, MineOptions(seed=12))
    assert r3.summary["split"] != r1.summary["split"] or r3.eval != r1.eval
    # plain JSON (no pickle) and the Parquet table rebuild a predictor that predicts the same
    d = orjson.loads(orjson.dumps(r1.predictor.to_dict()))
    again = PatternPredictor.from_dict(d)
    loaded = load_predictor(tmp_path / "p1")
    rows = Rows(ds.events, ds.sessions["session_id"].to_list())
    want = [c for c, *_ in decisions(r1.predictor, rows)]
    assert [c for c, *_ in decisions(again, rows)] == want
    assert [c for c, *_ in decisions(loaded, rows)] == want
    assert json.loads((tmp_path / "p1" / "manifest.json").read_text())["dataset_hash"] == ds.hash


def test_a_subset_of_shared_rows_mines_as_its_sessions_alone(grep_read):
    """The calibration's fold mines read subsets of the train rows that share their calls (and the calls'
    cached extractions); each must give the tables a fresh mine of the same sessions gives."""
    ids = grep_read.sessions["session_id"].to_list()
    opt = MineOptions(max_context=1, min_support=1)
    rows = Rows(grep_read.events, ids, keep_calls=True)
    whole = mine_rows(rows, opt)[0]  # fills the shared calls' caches
    assert whole.tables["rules"]["tool"] and whole.tables == mine_predictor(grep_read.events, ids, opt)[0].tables
    keep = rows.sessions[::2]
    sub = rows.subset(keep)
    assert sub.call(0) is rows.call(keep[0][0])  # shared, not re-made
    sub_ids = rows.session_ids()[::2]
    assert sub.session_ids() == sub_ids and len(sub_ids) < len(ids)
    assert mine_rows(sub, opt)[0].tables == mine_predictor(grep_read.events, sub_ids, opt)[0].tables


def test_fork_is_independent(grep_read):
    p, _, _ = mine_predictor(grep_read.events, grep_read.sessions["session_id"].to_list(), MineOptions(max_context=1, min_support=1))
    cur = p.cursor()
    cur.observe(Event("user", text="x"))
    branch = cur.fork()
    branch.observe(Event("tool", 0, "Grep", '{"pattern":"a"}', None, "d/e.py:1", None, "ok"))
    # the branch saw a Grep result, the cursor it was forked from did not (and Grep's patterns, each of one
    # session, give no constant to predict a Grep with)
    assert all(c.tool != "Read" for c in cur.predict(3)) and branch.predict(1)[0].args_json == '{"file_path":"d/e.py"}'


def test_isotonic_calibration_is_monotone_and_exact_on_blocks():
    pairs = [(0.1, 0), (0.2, 1), (0.3, 0), (0.9, 1), (0.8, 1)] * 20
    cal = fit_isotonic(pairs, min_block=1)
    assert cal["y"] == sorted(cal["y"]) and cal["x"] == pytest.approx([0.1, 0.2, 0.3, 0.8, 0.9])  # each step's score range
    # 0.1 never hits (20 pairs); 0.2 and 0.3 pool to 20 hits in 40; 0.8 and 0.9 always hit (40); each step's
    # rate gets half a hit in one more trial
    assert cal["y"] == pytest.approx([0.5 / 21, 20.5 / 41, 20.5 / 41, 40.5 / 41, 40.5 / 41])
    assert fit_isotonic(pairs[:10]) == {"x": [], "y": []}


def test_load_predictor_errors(tmp_path):
    with pytest.raises(BpasteError, match="does not exist"):
        load_predictor(tmp_path / "nope")
    (tmp_path / "t").mkdir()
    with pytest.raises(BpasteError, match="no manifest.json"):
        load_predictor(tmp_path / "t")
    (tmp_path / "t" / "manifest.json").write_text('{"kind": "trace-dataset", "schema_version": 1}')
    with pytest.raises(BpasteError, match="not a pattern table"):
        load_predictor(tmp_path / "t")
    (tmp_path / "t" / "manifest.json").write_text('{"kind": "pattern-table", "schema_version": 99}')
    with pytest.raises(BpasteError, match="newer than this bpaste"):
        load_predictor(tmp_path / "t")
    with pytest.raises(BpasteError, match="not a bpaste predictor"):
        PatternPredictor.from_dict({"kind": "policy"})


def test_cli_json_and_show(ingest_paths, tmp_path):
    _, ds = ingest_paths([write_native(tmp_path / "c.jsonl", [grep_read_session(i) for i in range(20)])])
    runner = CliRunner()
    res = runner.invoke(app, ["mine", str(ds.path), "-o", str(tmp_path / "pt"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["kind"] == "mine" and {"tool_top1", "call_top1", "floor_tool_top1", "repeat_last_call", "brier"} <= set(doc["eval"])
    res = runner.invoke(app, ["mine", str(tmp_path / "pt"), "--show"])
    assert res.exit_code == 0 and "Read(file_path = 1st path in the latest Grep's result)" in res.output.replace("\n", "")


def test_pattern_table_matches_its_json_schema(ingest_paths, tmp_path):
    import jsonschema
    import polars as pl

    schema = json.loads((Path(__file__).parent.parent / "schemas" / "patterns.schema.json").read_text())
    _, ds = ingest_paths([write_native(tmp_path / "s.jsonl", [grep_read_session(i) for i in range(20)])])
    mine(ds, tmp_path / "pt")
    jsonschema.validate(json.loads((tmp_path / "pt" / "manifest.json").read_text()), schema)
    for name, ref in (("control", "control_row"), ("signatures", "signature_row"), ("rules", "rule_row")):
        rows = pl.read_parquet(tmp_path / "pt" / f"{name}.parquet").to_dicts()
        assert rows
        for row in rows:
            jsonschema.validate(row, schema["$defs"][ref])


def test_provenance_warnings_name_the_mismatch():
    from bpaste_cli.mine.store import provenance_warnings

    mined = {"dataset_hash": "aaaa", "seed": 0}
    assert provenance_warnings(mined, "aaaa", 0, "the replayed sessions") == []
    other = provenance_warnings(mined, "bbbb", 0, "the replayed sessions")
    assert len(other) == 1 and "another dataset (aaaa)" in other[0] and "the replayed sessions" in other[0]
    seed = provenance_warnings(mined, "aaaa", 3, "the validation sessions")
    assert len(seed) == 1 and "split seed 0, this run uses 3" in seed[0]


def test_control_counts_take_decisions_or_their_counts():
    """The control pass hands `add_many` each distinct decision with its count: the same counts, in the same order."""
    from collections import Counter

    from bpaste_cli.mine.control import ControlCounts

    decisions = [(("<start>",), ("Grep",)), (("<start>", "Grep"), ("Read", "Read")), (("<start>",), ("Grep",)), (("Grep",), ())]
    a, b = ControlCounts(2), ControlCounts(2)
    a.add_many(decisions)
    b.add_many(dict(Counter(decisions)))
    assert list(a.n.items()) == list(b.n.items()) and list(a.c.items()) == list(b.c.items())
