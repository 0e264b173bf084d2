"""The format-independent shape of a synthetic session: what the writers turn into log files.

Times are integer epoch milliseconds (every format we write has at most millisecond precision, so a
round trip through any of them is exact). Call ids are bare tokens; each writer adds its format's
prefix (`toolu_01`, `call_`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Call:
    """One tool call: emitted at `t_emit`, result seen by the agent at `t_result`.

    `exec_ms` is the tool's own run time; it is shorter than `t_result - t_emit` exactly when the call
    waited for a person's approval first (`approval_ms`). `origin` says where the arguments came from
    (result, prompt, repeat, argument, constant): ground truth for data-flow tests.
    """

    token: str
    tool: str
    args: dict[str, Any]
    t_emit: int
    t_result: int
    exec_ms: int
    approval_ms: int
    result: str
    status: str  # "ok" | "error"
    origin: str
    data: dict[str, Any] | None = None  # structured result (Claude Code's toolUseResult)


@dataclass(slots=True)
class Step:
    """One LLM step: inputs complete at `t_start`, first output (call or answer) at `t_emit`."""

    t_start: int
    t_emit: int
    text: str | None
    tokens_in: int
    tokens_out: int
    calls: list[Call] = field(default_factory=list)


@dataclass(slots=True)
class Turn:
    """A human message at `t`."""

    t: int
    text: str


@dataclass(slots=True)
class Session:
    session_id: str  # a UUID, the same in every format
    archetype: str
    model: str  # an Anthropic model name (Claude Code, native, OTLP)
    openai_model: str  # the OpenAI model the same agent runs as in Codex logs
    cwd: str
    system: str
    items: list[Turn | Step] = field(default_factory=list)

    @property
    def steps(self) -> list[Step]:
        return [it for it in self.items if isinstance(it, Step)]

    @property
    def calls(self) -> list[Call]:
        return [c for s in self.steps for c in s.calls]

    @property
    def n_events(self) -> int:
        """user + llm + tool events, as ingest counts them (before derived waits)."""
        return sum(1 + (len(it.calls) if isinstance(it, Step) else 0) for it in self.items)
