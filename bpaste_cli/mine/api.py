"""The contract between the predictor (mine) and its users (replay, fit, policy).

A decision point is the moment before an LLM step: the agent has seen every earlier event and every
result of earlier steps. The predictor answers with ranked candidate calls for that step. It is used
through a stateful cursor so that replay can feed events one at a time (cheap) and fork the state to
explore hypothetical branches (a beam): `observe` a hypothetical speculative call with its result to
predict what the call after it would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Event:
    """One event as the predictor sees it (a row of the events table, payload included)."""

    kind: str  # "llm" | "tool" | "user"
    step: int | None = None
    tool: str | None = None
    args_json: str | None = None  # canonical JSON
    args_hash: str | None = None
    result_text: str | None = None  # None when the result is not (yet) known
    result_hash: str | None = None
    status: str | None = None
    text: str | None = None  # user message or model text


_EVENT_SLOTS = tuple(getattr(Event, name).__set__ for name in Event.__dataclass_fields__)


def new_event(kind: str, step: int | None, tool: str | None, args_json: str | None, args_hash: str | None,
              result_text: str | None, result_hash: str | None, status: str | None, text: str | None) -> Event:
    """`Event(...)` of every field, in field order, filled through its slots (as `new_candidate`): replay builds
    one per logged event, and this takes 0.56x the time of the frozen dataclass's constructor."""
    e = object.__new__(Event)
    set_kind, set_step, set_tool, set_args_json, set_args_hash, set_result_text, set_result_hash, set_status, set_text = _EVENT_SLOTS
    set_kind(e, kind)
    set_step(e, step)
    set_tool(e, tool)
    set_args_json(e, args_json)
    set_args_hash(e, args_hash)
    set_result_text(e, result_text)
    set_result_hash(e, result_hash)
    set_status(e, status)
    set_text(e, text)
    return e


@dataclass(frozen=True, slots=True)
class Candidate:
    """A fully bound call the next LLM step may emit, with a calibrated probability."""

    tool: str
    args_json: str  # canonical JSON; every required argument bound from visible state
    args_hash: str  # == bpaste_cli.trace.canonical.args_hash(args_json)
    prob: float  # P(this exact call is among the next step's calls)
    rule: str  # how the arguments were derived, in words
    family: str = ""  # the data-flow family that bound it (`mine.dataflow.family`): repeat, result <item>, copy, prompt, const


_CANDIDATE_SLOTS = tuple(getattr(Candidate, name).__set__ for name in Candidate.__dataclass_fields__)


def new_candidate(tool: str, args_json: str, args_hash: str, prob: float, rule: str, family: str) -> Candidate:
    """`Candidate(tool, args_json, args_hash, prob, rule, family)` filled through its slots, without the frozen
    dataclass's `object.__setattr__` per field (half the cost: the predictor makes five a decision)."""
    c = object.__new__(Candidate)
    set_tool, set_args_json, set_args_hash, set_prob, set_rule, set_family = _CANDIDATE_SLOTS
    set_tool(c, tool)
    set_args_json(c, args_json)
    set_args_hash(c, args_hash)
    set_prob(c, prob)
    set_rule(c, rule)
    set_family(c, family)
    return c


class PredictorCursor(Protocol):
    """The predictor's view of one session so far."""

    def observe(self, event: Event) -> None:
        """Feed the next event of the session (in seq order), with its result when known."""

    def predict(self, k: int = 5, width: int | None = None, at_least: float = 0.0) -> list[Candidate]:
        """Up to `k` candidates for the next LLM step, best first; empty to abstain. `width` (default k) is the
        breadth of the search: at one width, the answer at k is the top k of the answer at any larger k.
        Candidates below `at_least` may be left out: the answer holds the top k's candidates at or above it."""

    def fork(self) -> PredictorCursor:
        """An independent copy, for exploring a hypothetical continuation."""


class Predictor(Protocol):
    """Anything that can open a cursor per session (the mined pattern table, the oracle)."""

    def cursor(self) -> PredictorCursor:
        """A cursor at the start of a new session (what a live speculator opens)."""

    def cursor_for(self, session: Any) -> PredictorCursor:
        """A cursor for replaying one logged session (replay's `SessionTrace`): a predictor that may know
        the session's future (the oracle) reads it here; every other predictor returns `cursor()`."""
