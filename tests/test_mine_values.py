"""Property tests for value extraction and for discover/bind: a value placed in a result is found by a
rule, and that rule binds exactly the value back."""

from __future__ import annotations

import string

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpaste_cli.mine import values as V
from bpaste_cli.mine.dataflow import ABSENT, Call, SessionState, bind, discover, same
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


def test_collection_paused_restores_the_collector():
    import gc

    from bpaste_cli.mine.patterns import collection_paused

    assert gc.isenabled()
    with pytest.raises(KeyError):
        with collection_paused():
            assert not gc.isenabled()
            raise KeyError("x")
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()  # left off, as it was
    finally:
        gc.enable()
