"""Ingest's fast paths give what the simple path gives: the same rows, to the byte."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bpaste_cli.ingest import secrets
from bpaste_cli.ingest.secrets import may_hold_secret, scrub
from bpaste_cli.trace import SessionBuilder

SECRET_SHAPES = [
    "sk-ant-api03-" + "Zx9" * 10,
    "AKIA" + "ABCDEFGHIJKLMNOP",
    "ghp_" + "a" * 36,
    "xoxb-1234567890-abcdefghij",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "Bearer abcdefghijklmnop1234",
    "postgres://app:hunter2pass@db:5432/x",
    "aws_secret_access_key = " + "A" * 40,
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
    "sk-", "://", "@", "\\", '"', "\n", "\ud800",  # triggers, JSON escapes and a lone surrogate
]
_TEXT = st.text(max_size=30) | st.sampled_from(SECRET_SHAPES) | st.builds(
    lambda a, s, b: a + s + b, st.text(max_size=8), st.sampled_from(SECRET_SHAPES), st.text(max_size=8)
)
_ARGS = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=16,
)


def _call_row(args: Any, test: Any) -> tuple[dict[str, Any], list[str]]:
    bad: list[str] = []
    b = SessionBuilder("s", "test", "f", scrub=scrub, may_hold_secret=test, on_bad=lambda line, reason, detail: bad.append(reason + detail))
    b.llm(1.0)
    b.tool_call("c1", "tool", args, 1.0)
    _, events = b.finish()
    return next((e for e in events if e["kind"] == "tool"), {}), bad


@settings(max_examples=400, deadline=None)
@given(_ARGS)
def test_arguments_cleared_by_one_test_equal_arguments_scrubbed_string_by_string(args: Any) -> None:
    assert _call_row(args, may_hold_secret) == _call_row(args, None)


@given(_TEXT, _TEXT)
def test_a_text_without_triggers_is_left_as_it_is_whole_and_in_pieces(a: str, b: str) -> None:
    text = a + b
    if not may_hold_secret(text):
        assert scrub(text) == text and scrub(a) == a and scrub(b) == b


_NEAR_SECRETS = st.sampled_from(SECRET_SHAPES + ["@", "://", "BeArer ", "bearer\t", "redis://:pw@h", "a:b@c", "sk-x", "AKIA", "eyJ.eyJ"])
_SECRET_TEXT = st.lists(st.text(max_size=12) | _NEAR_SECRETS, max_size=8).map("".join)


@settings(max_examples=500, deadline=None)
@given(_SECRET_TEXT)
def test_the_pre_filter_changes_no_scrubbed_text(text: str) -> None:
    assert scrub(text) == secrets._scrub_each(text)
    if not may_hold_secret(text):
        assert secrets._scrub_each(text) == text


def test_the_pre_filter_catches_every_trigger_with_what_its_pattern_needs() -> None:
    for triggers, *rest in secrets._WHOLE + secrets._CONTEXT:
        needs = rest[0] if len(rest) == 2 else ()
        for trigger in triggers:
            assert may_hold_secret("x " + trigger + " " + "".join(needs) + " y"), trigger
