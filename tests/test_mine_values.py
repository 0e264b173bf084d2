"""Property tests for value extraction and for discover/bind: a value placed in a result is found by a
rule, and that rule binds exactly the value back."""

from __future__ import annotations

import string

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bpaste_cli.mine import values as V
from bpaste_cli.mine.dataflow import ABSENT, SLOT, Call, Rule, SessionState, bind, discover, same
from bpaste_cli.mine.keys import tool_key

SEG = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)
NOISE = st.text(alphabet=" \n\t:,;()=#", min_size=1, max_size=5)
SPACE = st.text(alphabet=" \n\t(", min_size=1, max_size=3)  # before a path or URL (":x/y" is not a path: ports, URLs)


@given(st.lists(SEG, min_size=2, max_size=5), st.sampled_from(["", "/", "./"]), SPACE, NOISE)
def test_paths_are_found_whole(parts, lead, before, after):
    path = lead + "/".join(parts)
    assert V.paths(f"x{before}{path}{after}y") == [path]


@given(st.from_regex(r"[a-z]{1,10}(\.[a-z]{2,5}){1,2}", fullmatch=True), st.lists(SEG, max_size=3), st.text(alphabet=" \n\t", min_size=1, max_size=3))
def test_urls_are_found_whole(host, parts, noise):
    url = f"https://{host}/" + "/".join(parts)
    text = f"see{noise}{url}{noise}and more"
    assert V.urls(text)[0] == url


@given(st.lists(st.integers(-10**9, 10**9), min_size=1, max_size=6, unique=True))
def test_numbers_in_order(nums):
    text = " , ".join(f"n={n}" for n in nums)
    assert V.numbers(text) == [str(n) for n in nums]


@given(st.lists(st.text(alphabet=string.ascii_letters + " _.", min_size=1, max_size=20).filter(str.strip), min_size=1, max_size=4, unique=True))
def test_quoted_strings(items):
    text = " and ".join(f'"{s}"' for s in items)
    assert V.quoted(text) == items


json_scalar = st.one_of(st.integers(-10**6, 10**6), st.text(max_size=12).filter(bool), st.booleans())


@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.lists(json_scalar, min_size=1, max_size=4), min_size=1, max_size=4))
def test_json_fields_keep_every_distinct_value(doc):
    fields = V.json_fields(orjson.dumps(doc).decode())
    for k, vals in doc.items():
        want = []
        for v in vals:
            if not any(type(v) is type(w) and v == w for w in want):
                want.append(v)
        assert fields[f"{k}[]"] == want


@settings(max_examples=200)
@given(
    st.one_of(SEG.filter(lambda s: any(c.isalpha() for c in s)), st.integers(0, 10**6)),
    st.lists(st.text(alphabet=string.ascii_letters + " /:.\n0123456789\"", max_size=30), max_size=3),
    st.sampled_from(["json", "text", "args"]),
)
def test_discovered_rules_bind_the_value_back(value, noise, where):
    state = SessionState(tool_key, False, 3, 3)
    if where == "json":
        result, args = orjson.dumps({"noise": noise, "target": [value]}).decode(), {"q": 1}
    elif where == "text":
        result, args = " ".join(noise) + f" `{value}` end", {"q": 1}
    else:
        result, args = " ".join(noise), {"x": value}
    state.add_call(Call("Src", orjson.dumps(args).decode(), None, result, "ok"))
    rules = discover(value, state, 3, 10)
    assert rules, (value, result)
    # at least one discovered rule reproduces the value exactly; none binds from nothing
    bound = [bind(r, state) for r in rules]
    assert any(b is not ABSENT and same(b, value) for b in bound)
    empty = SessionState(tool_key, False, 3, 3)
    assert all(bind(r, empty) is ABSENT for r in rules if r.kind != "const")


NUMBER_TEXT = st.text(alphabet=string.digits + "-.+eE_ab \n,;:/()\u0663\u00e9", max_size=40)  # \u0663: a non-ASCII digit


@settings(max_examples=1000)
@given(st.one_of(NUMBER_TEXT, st.text(max_size=40)))
def test_numbers_match_the_plain_regex(text):
    """`numbers` uses a regex rewritten to start with a character class; it finds what the plain one finds."""
    import re

    plain = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.]*\w)")
    assert [m.span() for m in V._NUMBER.finditer(text)] == [m.span() for m in plain.finditer(text)]
    assert V.numbers(text) == V._distinct(m.group(0) for m in plain.finditer(text))


PATH_TEXT = st.text(alphabet=string.ascii_letters + "0_/.:~@%+- \n,;()!?\u00e9\u0663", max_size=60)  # every class the path regex names


@settings(max_examples=1000)
@example("see ./a/b, ~/c/d.py: http://h/x/y and a:b/c %2F/e f/g/h.")
@given(st.one_of(PATH_TEXT, st.text(max_size=60)))
def test_paths_match_the_plain_regex(text):
    """`paths` matches at the start of each run of path characters; it finds what searching the text finds."""
    import re

    plain = re.compile(r"(?<![\w/.:~@%+-])(?:~|\.{1,2})?/?(?:[\w.@+-]+/)+[\w.@+-]+")
    assert V.paths(text) == V._distinct(m.group(0).rstrip(V._TRAIL) for m in plain.finditer(text))


RESULT_TEXT = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + " /.:-_\"'`\n", max_size=80),
    st.dictionaries(st.sampled_from(["id", "name", "n"]), st.one_of(st.integers(-50, 50), SEG, st.booleans()), max_size=3)
    .map(lambda d: orjson.dumps({"items": [d, d]}).decode()),
)


@settings(max_examples=300)
@given(RESULT_TEXT, st.sampled_from(V.ORDINAL_KINDS + ("json:items[].id", "json:items[].n", "json:items[].name")),
       st.integers(1, 6), st.sampled_from(["str", "json", "num"]))
def test_an_extract_rule_as_is_binds_its_item(result, field, pos, cast):
    """Mining takes the item of an `extracts_as_is` rule from its source call itself; `bind` gives the same."""
    from bpaste_cli.mine.dataflow import Rule, extracts_as_is

    state = SessionState(tool_key, False, 3, 3)
    call = Call("Search", "{}", "h", result, "ok")
    state.add_call(call)
    rule = Rule("extract", "Search", 1, field, pos, cast)
    assert extracts_as_is(rule) == (cast != "num")
    if extracts_as_is(rule):
        items = Call("Search", "{}", "h", result, "ok").items(field)
        got = bind(rule, state)
        if pos <= len(items):
            assert got == items[pos - 1] and type(got) is type(items[pos - 1])
        else:
            assert got is ABSENT


PIECE = st.sampled_from(["a", "b", "ab", "ba", "a/b", "x1y2"])
PIECES = st.lists(PIECE, max_size=4).map("".join)
ARG_VALUE = st.one_of(PIECES, st.integers(0, 3), st.lists(st.integers(0, 2), max_size=2))
RULE = st.one_of(
    st.builds(lambda src, rank, slot, before, after: Rule("template", src, rank, *slot, before + SLOT + after),
              st.sampled_from("AAB"), st.integers(1, 2),
              st.sampled_from([("f", 0, "str"), ("g", 0, "str"), ("f", 1, "id"), ("g", 2, "id"), ("path", 1, "str"), ("id", 2, "str")]),
              PIECES, PIECES),
    st.builds(lambda src, rank, field, pos: Rule("copy", src, rank, field, pos), st.sampled_from("AB"), st.integers(1, 3),
              st.sampled_from(["f", "g", "h"]), st.integers(0, 1)),
    st.builds(lambda src, rank, field, pos, cast: Rule("extract", src, rank, field, pos, cast), st.sampled_from("AB"),
              st.integers(1, 3), st.sampled_from(["path", "id", "number", "json:k"]), st.integers(1, 3), st.sampled_from(["str", "num", "json"])),
    st.builds(lambda field, pos: Rule("prompt", "", 0, field, pos, "str"), st.sampled_from(["id", "whole"]), st.integers(1, 2)),
)


@settings(max_examples=400)
@given(st.lists(st.tuples(st.sampled_from("AB"), st.fixed_dictionaries({"f": PIECES, "g": PIECES}, optional={"h": ARG_VALUE}),
                          st.one_of(PIECES, st.dictionaries(st.just("k"), ARG_VALUE, max_size=1).map(orjson.dumps).map(bytes.decode))),
                min_size=1, max_size=6),
       st.one_of(st.none(), PIECES), st.lists(RULE, max_size=12, unique=True), st.data())
def test_counting_grouped_rules_is_binding_each(calls, prompt, rules, data):
    """Mining counts an argument's rules by `group_rules` and `count_argument`; the counts are those of binding
    every rule and comparing its value with `same` (the value is often one a rule binds, or one around it)."""
    from bpaste_cli.mine.patterns import count_argument, group_rules

    state = SessionState(tool_key, False, 3, 3)
    for tool, args, result in calls:
        state.add_call(Call(tool, orjson.dumps(args).decode(), "h", result, "ok"))
    state.add_user(prompt)
    around = st.sampled_from(["", "", "a", "b"])
    visible = [(tool, rank, f) for tool, lst in state.by_tool.items() for rank in range(1, len(lst) + 1) for f in ("f", "g")]
    fitting = st.builds(lambda src, x, y: Rule("template", *src, 0, "str", x + SLOT + y), st.sampled_from(visible), around, around)
    rules = list(dict.fromkeys(rules + data.draw(st.lists(fitting, max_size=4))))  # templates of the state's arguments
    bound = [b for b in (bind(rule, state) for rule in rules) if b is not ABSENT]
    near = st.sampled_from(bound).flatmap(lambda b: st.builds(lambda x, y: x + b + y, around, around) if isinstance(b, str) else st.just(b))
    value = data.draw(st.one_of(near, ARG_VALUE) if bound else ARG_VALUE)
    expected: dict[int, list[int]] = {}
    for rid, rule in enumerate(rules):
        b = bind(rule, state)
        if b is not ABSENT:
            expected[rid] = [1, int(same(b, value))]
    got: dict[int, list[int]] = {}
    count_argument(group_rules([(rule, rid) for rid, rule in enumerate(rules)]), state, value, got)
    assert got == expected


def test_a_template_matches_where_its_slot_item_occurs_again():
    """The template `ab<slot>` of the argument `ab` is exact for `abab` at the item's second place, not its first."""
    from bpaste_cli.mine.patterns import count_argument, group_rules

    state = SessionState(tool_key, False, 3, 3)
    state.add_call(Call("A", '{"f":"ab"}', "h", "", "ok"))
    rules = [(Rule("template", "A", 1, "f", 0, "str", "ab" + SLOT), 0), (Rule("template", "A", 1, "f", 0, "str", SLOT + "b"), 1)]
    got: dict[int, list[int]] = {}
    count_argument(group_rules(rules), state, "abab", got)
    assert got == {0: [1, 1], 1: [1, 0]}


@given(st.lists(st.one_of(st.none(), st.sampled_from(["tool", "llm", "user", "ok", "é", ""])), max_size=30))
def test_shared_strings_are_the_column_as_a_list(values):
    """A column of few distinct strings comes out as `to_list` gives it, one object per distinct string."""
    import polars as pl

    from bpaste_cli.mine.patterns import shared_strings

    got = shared_strings(pl.Series(values, dtype=pl.String))
    assert got == values and len({id(v) for v in got if v is not None}) == len({v for v in values if v is not None})
    assert shared_strings(pl.Series([1, None, 2])) == [1, None, 2]


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(["s2", "s10", "s1", "é"]), st.integers(0, 50), st.sampled_from(["tool", "llm", "user"]),
                          st.one_of(st.none(), st.sampled_from(["Read", "Grep"]))), unique_by=lambda e: e[:2], max_size=40),
       st.one_of(st.none(), st.lists(st.sampled_from(["s2", "s10", "s1", "é", "other"]), max_size=3)), st.data())
def test_rows_are_the_sorted_events_and_subsets_their_sessions(events, ids, data):
    """`Rows` gathers each column in the order a sort of the chosen sessions' events by (session id, seq) gives, with
    each session's row range; a subset of sessions is those sessions' rows in the order asked for."""
    import polars as pl

    from bpaste_cli.mine.patterns import Rows

    ev = pl.DataFrame(events, schema={"session_id": pl.String, "seq": pl.Int32, "kind": pl.String, "tool": pl.String}, orient="row")
    rows = Rows(ev, ids)
    want = (ev if ids is None else ev.filter(pl.col("session_id").is_in(ids))).sort("session_id", "seq")
    assert rows.kind == want["kind"].to_list() and rows.tool == want["tool"].to_list()
    sids = want["session_id"].to_list()
    assert rows.session_ids() == list(dict.fromkeys(sids))
    assert [sids[lo:hi] for lo, hi in rows.sessions] == [[s] * (hi - lo) for s, (lo, hi) in zip(rows.session_ids(), rows.sessions)]
    some = data.draw(st.permutations(rows.sessions)).copy()[: data.draw(st.integers(0, len(rows.sessions)))]
    sub = rows.subset(some)
    assert sub.tool == [rows.tool[i] for lo, hi in some for i in range(lo, hi)]
    assert sub.session_ids() == [rows.session_ids()[rows.sessions.index(b)] for b in some]


def plain_discover(value, state, window, max_pos):
    """`discover` as its docstring says, without its shortcuts: every item of every kind of every visible call's
    result extracted and compared, then (when none reproduces the value whole) every argument, id in one and
    path, URL or id of a result tried as a template's slot."""
    from bpaste_cli.mine.dataflow import MAX_TEMPLATE_CHARS, TEMPLATE_KINDS, loose_key

    key = loose_key(value)
    if key is None:
        return set()
    num = "num" if isinstance(value, (int, float)) and not isinstance(value, bool) else "str"
    calls = [(tool, len(lst) - i, lst[i]) for tool, lst in state.by_tool.items() for i in range(max(0, len(lst) - window), len(lst))]
    found, slots = set(), []
    for tool, rank, c in calls:
        for f, v in c.args.items():
            slots.append((tool, rank, loose_key(v), f, 0, "str"))
            if loose_key(v) == key:
                found.add(Rule("copy", tool, rank, f, 0, ""))
            if isinstance(v, str) and len(v) <= MAX_TEMPLATE_CHARS:
                for p, item in enumerate(V.ids(v)[:max_pos], 1):
                    if item != v:
                        slots.append((tool, rank, item, f, p, "id"))
                        if item == key:
                            found.add(Rule("copy", tool, rank, f, p, "id"))
        if c.result:
            for kind, extract in V.EXTRACTORS.items():
                for p, item in enumerate(extract(c.result)[:max_pos], 1):
                    if kind in TEMPLATE_KINDS:
                        slots.append((tool, rank, item, kind, p, "str"))
                    if item == key:
                        found.add(Rule("extract", tool, rank, kind, p, num))
            for path, vals in V.json_fields(c.result).items():
                for p, item in enumerate(vals[:max_pos], 1):
                    if V.match_key(item) == key:
                        found.add(Rule("extract", tool, rank, "json:" + path, p, "json"))
    if state.prompt is not None:
        for kind in V.ORDINAL_KINDS + ("whole",):
            for p, item in enumerate(state.prompt.items(kind)[:max_pos], 1):
                if item == key:
                    found.add(Rule("prompt", "", 0, kind, p, num))
    if found or not isinstance(value, str) or SLOT in value or len(value) > MAX_TEMPLATE_CHARS:
        return found
    return {Rule("template", tool, rank, field, pos, cast, value.replace(item, SLOT, 1))
            for tool, rank, item, field, pos, cast in slots
            if item is not None and len(item) >= 4 and item[0] != "\x00" and item != value and item in value}


BIT = st.sampled_from(["/src/a1.py", "https://x.io/p/7", "id42x", "7", "12.5", '"q r"', "`b2`", "pkg/mod", "abc", " ", "\n", ":"])
TEXT = st.lists(BIT, max_size=8).map("".join)


@settings(max_examples=500)
@given(st.lists(st.tuples(st.sampled_from("AB"), st.dictionaries(st.sampled_from(["f", "g"]), st.one_of(TEXT, st.integers(0, 20)), max_size=2),
                          st.one_of(TEXT, st.dictionaries(st.just("k"), st.one_of(TEXT, st.integers(0, 20)), max_size=1)
                                    .map(orjson.dumps).map(bytes.decode))),
                min_size=1, max_size=5),
       st.one_of(st.none(), TEXT), st.one_of(TEXT, st.builds(lambda a, b, c: a + b + c, st.sampled_from(["", "run ", "cat "]), BIT,
                                                             st.sampled_from(["", " -q", "/x"])), st.integers(0, 20)))
@example([("A", {}, "see https://x.io/p/7 now")], None, "cat https://x.io/p/7 -q")  # a URL's slot
@example([("A", {}, "at /src/a1.py:3")], None, "run /src/a1.py -q")  # a path's
@example([("A", {}, "made id42x")], None, "cat id42x/x")  # an id's
def test_discovery_finds_what_extracting_every_item_finds(calls, prompt, value):
    """`discover` extracts a result's items only for a text that holds the value, and a template's slot items only
    of the kinds that can lie inside the value; it finds the rules a plain search of every item finds."""
    state = SessionState(tool_key, False, 3, 3)
    for tool, args, result in calls:
        state.add_call(Call(tool, orjson.dumps(args).decode(), "h", result, "ok"))
    state.add_user(prompt)
    assert set(discover(value, state, 3, 4)) == plain_discover(value, state, 3, 4)


ITEM_TEXT = st.text(alphabet=string.ascii_letters[:6] + "0123456789\u0663\u00e9 /.:-_@~+\"'`\n,;!?()", max_size=60)


@settings(max_examples=1000)
@given(st.one_of(ITEM_TEXT, st.text(max_size=60), st.builds(lambda a, b: a + "https://" + b, ITEM_TEXT, ITEM_TEXT)))
def test_every_extracted_item_has_its_kinds_shape(text):
    """Discovery extracts of a value only the kinds `item_kinds` gives it: every item of a kind has that shape."""
    for kind, extract in V.EXTRACTORS.items():
        for item in extract(text):
            assert kind in V.item_kinds(item), (kind, item)
