"""The predictor never worse than its floor: back-off chosen on validation, calibration steps with enough
support, and exact-call hits per data-flow family; values worked out by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpaste_cli.mine.dataflow import Rule, call_family, family
from bpaste_cli.mine.evaluate import calibration, fit_calibration, fit_isotonic, mcnemar, paired_vs_floor, wilson
from bpaste_cli.mine.predictor import RULE_COLUMNS, PatternPredictor
from bpaste_cli.mine.run import _beats


def test_calibration_steps_need_enough_pairs():
    # 100 pairs at score 0.1 with 10 hits, then 3 at 0.99 all right: plain PAV gives a step of (3 + 0.5) / 4 on
    # 3 pairs; with 30 pairs per step (MIN_BLOCK) the two pool into one step of 13 hits in 103, flat over the
    # scores it holds (0.1 to 0.99: both are knots). Every step's rate gets half a hit in one more trial.
    pairs = [(0.1, int(i < 10)) for i in range(100)] + [(0.99, 1)] * 3
    assert fit_isotonic(pairs, min_block=1) == {"x": pytest.approx([0.1, 0.99]), "y": pytest.approx([10.5 / 101, 3.5 / 4])}
    assert fit_isotonic(pairs) == {"x": pytest.approx([0.1, 0.99]), "y": pytest.approx([13.5 / 104] * 2)}
    two = [(0.1, int(i < 10)) for i in range(100)] + [(0.9, int(i < 24)) for i in range(30)]
    assert fit_isotonic(two)["y"] == pytest.approx([10.5 / 101, 24.5 / 31])  # two steps of >= 30 stay apart
    assert fit_isotonic(two, min_block=100)["y"] == pytest.approx([34.5 / 131] * 2)
    assert fit_isotonic(pairs[:49]) == {"x": [], "y": []}  # fewer than 50 pairs: identity


def test_a_step_is_flat_over_its_scores_and_interpolated_only_between_steps():
    # scores 0.10 and 0.20 never hit (40 pairs), 0.50 and 0.60 always do (40): two steps, each flat over its
    # range; a score between the steps (0.35, half way from 0.20 to 0.50) gets the mean of the two rates
    pairs = [(0.1, 0), (0.2, 0), (0.5, 1), (0.6, 1)] * 20
    cal = fit_isotonic(pairs)
    lo, hi = 0.5 / 41, 40.5 / 41
    assert cal == {"x": pytest.approx([0.1, 0.2, 0.5, 0.6]), "y": pytest.approx([lo, lo, hi, hi])}
    p = PatternPredictor({"K": 1, "R": 1}, {"control": {"context": [], "tool": [], "prob": []},
                                            "signatures": {"tool": [], "args": [], "prob": []},
                                            "rules": {c: [] for c in RULE_COLUMNS}}, cal)
    assert p.calibrate(0.15) == pytest.approx(lo) and p.calibrate(0.55) == pytest.approx(hi)
    assert p.calibrate(0.35) == pytest.approx((lo + hi) / 2)


def test_each_data_flow_family_with_enough_pairs_gets_its_own_map():
    # at the same raw score 0.2, URLs from a result hit 30 of 60 and constants 3 of 60: the pooled map gives both
    # 33.5 / 121; each family's own map gives 30.5 / 61 and 3.5 / 61; "result url" also fills its kind "result".
    # "prompt" (10 pairs) is too rare for a map and falls back to the pooled one.
    triples = ([(0.2, int(i < 30), "result url") for i in range(60)] + [(0.2, int(i < 3), "const") for i in range(60)]
               + [(0.2, 0, "prompt")] * 10)
    cal = fit_calibration(triples)
    assert cal["y"] == pytest.approx([33.5 / 131]) and sorted(cal["families"]) == ["const", "result", "result url"]
    assert cal["families"]["result url"]["y"] == pytest.approx([30.5 / 61]) and cal["families"]["const"]["y"] == pytest.approx([3.5 / 61])
    p = PatternPredictor({"K": 1, "R": 1}, {"control": {"context": [], "tool": [], "prob": []},
                                            "signatures": {"tool": [], "args": [], "prob": []},
                                            "rules": {c: [] for c in RULE_COLUMNS}}, cal)
    assert p.calibrate(0.2, "result url") == pytest.approx(30.5 / 61) and p.calibrate(0.2, "const") == pytest.approx(3.5 / 61)
    assert p.calibrate(0.2, "result path") == pytest.approx(30.5 / 61)  # no map of its own: its kind's
    assert p.calibrate(0.2, "prompt") == pytest.approx(33.5 / 131) and p.calibrate(0.2) == pytest.approx(33.5 / 131)
    assert PatternPredictor.from_dict(p.to_dict()).calibrate(0.2, "const") == pytest.approx(3.5 / 61)  # as a policy embeds it
    assert fit_calibration([(0.2, 0, "const")] * 48 + [(0.2, 1, "const")]) == {"x": [], "y": []}  # 49 pairs: identity


def test_candidates_are_ranked_by_their_calibrated_probability():
    """A constant at raw score 0.8 and a URL from the latest result at 0.1: the families' maps make the URL
    the likelier call, so it is offered first (by raw score it would come second)."""
    from bpaste_cli.mine.api import Event

    tables = {"control": {"context": [["search"]], "tool": ["visit"], "prob": [1.0]},
              "signatures": {"tool": ["visit"], "args": [["url"]], "prob": [1.0]},
              "rules": {c: [] for c in RULE_COLUMNS}}
    rules = tables["rules"]
    for kind, field, pos, value, rate in (("const", "", 0, '"https://a.example/home"', 0.8), ("extract", "url", 1, "", 0.5)):
        for col, v in zip(RULE_COLUMNS, ("visit", "url", kind, "search" if kind == "extract" else "", 1, field, pos, "str",
                                          value, 10, 10, 6, rate)):
            rules[col].append(v)
    cal = {"x": [0.0, 1.0], "y": [0.0, 1.0], "families": {"const": {"x": [0.0, 1.0], "y": [0.0, 0.1]},
                                                          "result url": {"x": [0.0, 1.0], "y": [0.0, 1.0]}}}
    cur = PatternPredictor({"K": 1, "R": 3}, tables, cal).cursor()
    cur.observe(Event("tool", 0, "search", '{"q":"x"}', None, "see https://b.example/page", None, "ok"))
    got = [(c.args_json, c.family, round(c.prob, 3)) for c in cur.predict(2)]
    # raw: the constant 1.0 * 0.8 = 0.8 -> 0.08; the URL 1.0 * 0.5 * (1 - 0.8) = 0.1 -> 0.1
    assert got == [('{"url":"https://b.example/page"}', "result url", 0.1), ('{"url":"https://a.example/home"}', "const", 0.08)]


def test_reliability_bins_carry_a_wilson_interval_and_a_verdict():
    # bin 0.3-0.4: 40 pairs at p = 0.35 with 14 hits (0.35: no gap); bin 0.9-1.0: 30 pairs at p = 0.95 with 15
    # hits: gap 0.45, and 0.95 lies outside the Wilson interval of 15/30, [0.3315, 0.6685] (worked out by hand:
    # centre (0.5 + 1.96^2 / 60) / (1 + 1.96^2 / 30) = 0.5, half-width 1.96 * sqrt(0.25 / 30 + 1.96^2 / 3600) / 1.12805 = 0.16846)
    pairs = [(0.35, int(i < 14)) for i in range(40)] + [(0.95, int(i < 15)) for i in range(30)]
    cal = calibration(pairs)
    top = cal["reliability"][1]
    assert (top["bin"], top["n"], top["hit_rate"]) == ("0.9-1.0", 30, 0.5)
    assert (top["hit_low"], top["hit_high"]) == pytest.approx((0.33154, 0.66846), abs=1e-5)
    assert cal["worst_gap"] == pytest.approx(0.45) and cal["within"] is False and cal["beyond_noise"] == ["0.9-1.0"]
    assert wilson(0, 30)[0] == 0.0 and wilson(30, 30)[1] == 1.0
    few = calibration([(0.95, 0)] * 29)  # no bin of 30 pairs: nothing judged
    assert few["worst_gap"] is None and few["within"] is None and few["beyond_noise"] == []


def test_top1_against_the_floor_is_a_paired_comparison():
    # 5 wins and 3 losses in 32 decisions: +2/32; McNemar's exact p = 2 * (1 + 8 + 28 + 56) / 256
    got = paired_vs_floor(5, 3, 32)
    assert got["diff"] == pytest.approx(2 / 32) and got["p"] == pytest.approx(2 * 93 / 256) and not got["below_floor"]
    half = 1.96 * ((8 / 32 - (2 / 32) ** 2) / 32) ** 0.5
    assert (got["low"], got["high"]) == pytest.approx((2 / 32 - half, 2 / 32 + half))
    # 10 losses, no win, in 100 decisions: below the floor beyond noise (p = 2 / 2^10)
    worse = paired_vs_floor(0, 10, 100)
    assert worse["below_floor"] and worse["p"] == pytest.approx(2 / 1024) and worse["high"] < 0
    assert mcnemar(0, 0) == 1.0 and paired_vs_floor(0, 0, 0)["diff"] is None


def test_a_mined_back_off_must_beat_the_floor_by_a_margin():
    # paired on the same decisions: 5 wins, 3 losses -> 2 net of 32 decisions (>= 2 and >= 1%): beats
    floor = [True] * 3 + [False] * 9 + [True] * 20
    assert _beats([False] * 3 + [True] * 5 + [False] * 4 + [True] * 20, floor)
    # 4 wins, 3 losses: one net decision: the floor stays
    assert not _beats([False] * 3 + [True] * 4 + [False] * 5 + [True] * 20, floor)
    # 300 decisions: 1% is 3 net wins
    many = [False] * 300
    assert not _beats([True] * 2 + [False] * 298, many) and _beats([True] * 3 + [False] * 297, many)


def test_families_of_rules_and_calls():
    assert family(Rule("extract", "Grep", 1, "path", 1, "str")) == "result path"
    assert family(Rule("extract", "search", 1, "json:items.url", 1, "str")) == "result json field"
    assert [family(Rule(k)) for k in ("repeat", "const", "copy", "prompt")] == ["repeat", "const", "copy", "prompt"]
    assert call_family(["const", "result url", "copy"]) == "result url"  # the most data-driven argument
    assert call_family(["const", "prompt"]) == "prompt" and call_family([]) == "none"


def test_a_test_command_re_run_with_the_edited_file_is_a_template_rule(ingest_paths, tmp_path):
    """Edit(file) -> Bash("pytest -q <file>") in three sessions: the template rule binds the next file."""
    import json

    from bpaste_cli.mine import MineOptions
    from bpaste_cli.mine.api import Event
    from bpaste_cli.mine.patterns import mine_predictor

    lines = []
    for i in range(3):
        f = f"tests/test_mod{i}.py"
        lines += [{"session_id": f"s{i}", "kind": "user", "text": "fix it"}, {"session_id": f"s{i}", "kind": "llm"},
                  {"session_id": f"s{i}", "kind": "tool", "tool": "Edit", "args": {"file_path": f, "new": f"x{i}"}, "result": "ok"},
                  {"session_id": f"s{i}", "kind": "llm"},
                  {"session_id": f"s{i}", "kind": "tool", "tool": "Bash", "args": {"command": f"pytest -q {f}"}, "result": "1 passed"},
                  {"session_id": f"s{i}", "kind": "llm", "text": "done"}]
    src = tmp_path / "t.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    _, ds = ingest_paths([src])
    p, _, _ = mine_predictor(ds.events, ds.sessions["session_id"].to_list(), MineOptions(max_context=1, min_support=2))
    r = p.tables["rules"]
    got = [(r["kind"][i], r["src"][i], r["field"][i], r["value"][i], r["exact"][i]) for i in range(len(r["tool"]))
           if r["tool"][i] == "Bash"]
    assert ("template", "Edit", "file_path", "pytest -q \x00", 3) in got
    cur = p.cursor()
    cur.observe(Event("user", text="fix"))
    cur.observe(Event("llm", step=0))
    cur.observe(Event("tool", 0, "Edit", '{"file_path":"src/new_test.py","new":"y"}', None, "ok", None, "ok"))
    top = cur.predict(1)[0]
    assert (top.tool, top.args_json, top.family) == ("Bash", '{"command":"pytest -q src/new_test.py"}', "template")
    assert "pytest -q <its file_path>" in top.rule


def _mined(ingest_paths, tmp_path, sessions):
    """Mine hand-built native sessions (each a list of (tool, args, result)), every session on train."""
    import json

    from bpaste_cli.mine import MineOptions
    from bpaste_cli.mine.patterns import mine_predictor

    lines = []
    for i, calls in enumerate(sessions):
        lines += [{"session_id": f"s{i}", "kind": "user", "text": "go"}]
        for tool, args, result in calls:
            lines += [{"session_id": f"s{i}", "kind": "llm"},
                      {"session_id": f"s{i}", "kind": "tool", "tool": tool, "args": args, "result": result}]
        lines += [{"session_id": f"s{i}", "kind": "llm", "text": "done"}]
    src = tmp_path / "ids.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    _, ds = ingest_paths([src])
    return mine_predictor(ds.events, ds.sessions["session_id"].to_list(), MineOptions(max_context=1, min_support=2))[0]


def _rules(p, tool):
    r = p.tables["rules"]
    return [(r["kind"][i], r["src"][i], r["field"][i], r["pos"][i], r["cast"][i], r["value"][i], r["exact"][i])
            for i in range(len(r["tool"])) if r["tool"][i] == tool]


def test_ids_copied_across_calls_are_found_and_are_their_own_family(ingest_paths, tmp_path):
    """An id inside an earlier command, reused whole (copy id) or inside a longer string (template id), and an
    id of an earlier result reused inside a URL (template id): three sessions each, bound in a fourth."""
    from bpaste_cli.mine.api import Event

    fn = ["FUN_0040060d", "FUN_00400a1c", "FUN_0040b2ff"]
    sessions = [[("decompile", {"command": f"decompile --function_name {f} warmup"}, "int main() {}"),
                 ("xrefs", {"function": f}, "none"),
                 ("disassemble", {"command": f"disassemble --function_name {f}"}, "mov eax, 1")] for f in fn]
    p = _mined(ingest_paths, tmp_path, sessions)
    assert ("copy", "decompile", "command", 1, "id", "", 3) in _rules(p, "xrefs")
    assert ("template", "decompile", "command", 1, "id", "disassemble --function_name \x00", 3) in _rules(p, "disassemble")
    assert family(Rule("copy", "decompile", 1, "command", 1, "id")) == "copy id"
    assert family(Rule("template", "decompile", 1, "command", 1, "id", "x \x00")) == "template id"
    assert family(Rule("template", "search", 1, "id", 2, "str", "x \x00")) == "template id"
    assert family(Rule("template", "Edit", 1, "file_path", 0, "str", "pytest \x00")) == "template"
    assert family(Rule("copy", "Edit", 1, "file_path")) == "copy"
    cur = p.cursor()
    cur.observe(Event("user", text="go"))
    cur.observe(Event("llm", step=0))
    cur.observe(Event("tool", 0, "decompile", '{"command":"decompile --function_name FUN_00777777 warmup"}', None, "x", None, "ok"))
    top = cur.predict(1)[0]
    assert (top.tool, top.args_json, top.family) == ("xrefs", '{"function":"FUN_00777777"}', "copy id")
    assert "1st id in the command of the latest decompile call" in top.rule
    cur.observe(Event("llm", step=1))
    cur.observe(Event("tool", 1, "xrefs", '{"function":"FUN_00777777"}', None, "none", None, "ok"))
    top = cur.predict(1)[0]
    assert (top.tool, top.args_json, top.family) == ("disassemble", '{"command":"disassemble --function_name FUN_00777777"}',
                                                     "template id")

    orders = ["ORD10001", "ORD20002", "ORD30003"]
    p = _mined(ingest_paths, tmp_path, [[("search", {"q": "late"}, f"found order {o} (shipped)"),
                                         ("fetch", {"url": f"https://shop.example/orders/{o}/track"}, "in transit")]
                                        for o in orders])
    assert ("template", "search", "id", 1, "str", "https://shop.example/orders/\x00/track", 3) in _rules(p, "fetch")
    cur = p.cursor()
    cur.observe(Event("user", text="go"))
    cur.observe(Event("llm", step=0))
    cur.observe(Event("tool", 0, "search", '{"q":"late"}', None, "found order ORD99999 (lost)", None, "ok"))
    top = cur.predict(1)[0]
    assert (top.args_json, top.family) == ('{"url":"https://shop.example/orders/ORD99999/track"}', "template id")


TRIPLES = st.lists(st.tuples(st.sampled_from([0.05, 0.1, 0.3, 0.31, 0.5, 0.7, 0.9]), st.integers(0, 1),
                             st.sampled_from(["const", "copy", "result path", "result id", "template id"])), max_size=400)


@settings(max_examples=150)
@given(st.lists(TRIPLES, min_size=1, max_size=4), st.integers(1, 60))
def test_tallies_add_up_to_the_fit_of_all_their_triples(parts, min_pairs):
    """The cross-fitted maps add up tallies of disjoint sets of pairs; each map is the one of their union."""
    from bpaste_cli.mine.evaluate import CalibrationTally

    total = CalibrationTally(parts[0])
    for part in parts[1:]:
        total = total + CalibrationTally(part)
    every = [t for part in parts for t in part]
    whole = CalibrationTally(every)
    assert (total.pooled, total.groups) == (whole.pooled, whole.groups)
    groups: dict[str, list[tuple[float, int]]] = {}  # the map fitted straight from the pairs, for reference
    for x, y, fam in every:
        groups.setdefault(fam, []).append((x, y))
        if " " in fam:
            groups.setdefault(fam.split(" ")[0], []).append((x, y))
    want = fit_isotonic([(x, y) for x, y, _ in every], min_pairs)
    fams = {f: fit_isotonic(pairs, min_pairs) for f, pairs in sorted(groups.items()) if len(pairs) >= min_pairs}
    if want["x"] and fams:
        want["families"] = fams
    assert total.fit(min_pairs) == fit_calibration(every, min_pairs) == want
