"""Ingest's fast paths give what the simple path gives: the same rows, to the byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpaste_cli.ingest import claude_code, secrets
from bpaste_cli.ingest.base import ReadContext, SkipReport
from bpaste_cli.ingest.secrets import may_hold_secret, scrub
from bpaste_cli.trace import Limits, SessionBuilder

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


_TRIGGERS = secrets._looked_for()
# triggers, their pieces (a lookbehind must see the whole trigger) and their neighbours in the alphabet
_TRIGGER_TEXT = st.lists(
    st.sampled_from(_TRIGGERS)
    | st.sampled_from(_TRIGGERS).flatmap(lambda t: st.integers(0, len(t)).map(lambda i: t[:i] if i % 2 else t[i:]))
    | st.text(alphabet="@JxKIR_-rAkSsEeaghpf:/", max_size=6),
    max_size=6,
).map("".join)


@settings(max_examples=1000, deadline=None)
@given(_TRIGGER_TEXT)
def test_the_anchored_pre_filter_finds_exactly_the_texts_holding_a_trigger(text: str) -> None:
    assert may_hold_secret(text) is any(t in text for t in _TRIGGERS)


_IDS = st.tuples(st.sampled_from(["s1", "s2", "", None, 1, True, ["s1"]]), st.sampled_from([None, "", "g1", "g2", 0, False]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_IDS, min_size=1, max_size=12))
def test_claude_code_records_go_to_the_session_their_ids_name(tmp_path: Path, ids: list[tuple[Any, Any]]) -> None:
    """The reader looks a session up only when the ids change from the previous record: each record still
    lands in the session its own `sessionId` and `agentId` name."""
    path = tmp_path / "stem.jsonl"
    lines = [{"type": "user", "sessionId": sid, "agentId": agent, "timestamp": 1.0e9 + i,
              "message": {"role": "user", "content": f"hi {i}"}} for i, (sid, agent) in enumerate(ids)]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    ctx = ReadContext(path=path, display=path.name, report=SkipReport(), limits=Limits(), scrub=None)
    got = {b.session_id: [e["source_line"] for e in b.finish()[1]] for b in claude_code.read(path, ctx)}
    expected: dict[str, list[int]] = {}
    for line, (sid, agent) in enumerate(ids, 1):
        main = f"claude-code:{sid if isinstance(sid, str) and sid else 'stem'}"
        expected.setdefault(f"{main}/agent-{agent}" if isinstance(agent, str) and agent else main, []).append(line)
    assert got == expected
