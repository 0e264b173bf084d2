"""Canonical arguments: equal calls get equal text and hash, whatever the key order, spacing or number form."""

from __future__ import annotations

import hashlib
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bpaste_cli.trace.canonical import args_hash, canonical_json

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=20,
)


def _shuffled(value, rng: random.Random):
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@given(json_values, st.integers(0, 2**32))
def test_key_order_and_spacing_do_not_matter(value, seed):
    shuffled = _shuffled(value, random.Random(seed))
    pretty = json.loads(json.dumps(shuffled, indent=3))
    assert canonical_json(value) == canonical_json(shuffled) == canonical_json(pretty)


@given(json_values)
def test_canonical_text_is_a_fixed_point(value):
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


@settings(max_examples=200)
@given(json_values)
def test_matches_an_independent_encoder_for_integral_data(value):
    """Where no float is involved, the canonical text is what json.dumps(sort_keys, compact) writes."""

    def has_float(v):
        if isinstance(v, float):
            return True
        if isinstance(v, dict):
            return any(has_float(x) for x in v.values())
        if isinstance(v, list):
            return any(has_float(x) for x in v)
        return False

    if has_float(value):
        return
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected


def test_number_forms_collapse():
    assert canonical_json({"n": 1.0}) == canonical_json({"n": 1}) == '{"n":1}'
    assert canonical_json({"n": -0.0}) == '{"n":0}'
    assert canonical_json({"n": float("nan")}) == '{"n":null}'
    assert canonical_json({"n": 0.1}) == '{"n":0.1}'
    assert canonical_json({"n": 1e300}) == '{"n":1e+300}'  # beyond 2**53: kept a float
    assert canonical_json({"n": 2**70}) == '{"n":"1180591620717411303424"}'  # beyond 64 bits: exact digits


def test_hash_is_sha256_prefix_of_the_canonical_text():
    text = canonical_json({"b": [1, 2], "a": "x"})
    assert text == '{"a":"x","b":[1,2]}'
    assert args_hash(text) == hashlib.sha256(b'{"a":"x","b":[1,2]}').hexdigest()[:16]


@given(st.one_of(st.text(), st.dictionaries(st.text(max_size=8), st.text(), max_size=6)))
def test_fast_path_for_strings_agrees_with_the_general_one(value):
    """Strings and flat string maps skip normalisation; the text must be what normalising gives."""
    import orjson

    from bpaste_cli.trace.canonical import normalise

    assert canonical_json(value) == orjson.dumps(normalise(value), option=orjson.OPT_SORT_KEYS).decode()
