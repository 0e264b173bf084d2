"""Codex CLI rollout JSONL: `~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`, one file per session.

Current format: one `{"timestamp", "type", "payload"}` record per line, `type` one of `session_meta`,
`response_item` (what the model read and wrote: message, reasoning, function_call, custom_tool_call,
local_shell_call, web_search_call and the `*_output` items), `event_msg` (the UI event stream, mostly a
mirror of the response items), `turn_context` (the turn's model and policies) and `compacted`. Early
format: a first line `{"id", "timestamp", "instructions"}`, then bare response items without timestamps
and `{"record_type": "state"}` markers; such sessions are untimed.

How records become events:
- LLM step: consecutive model output (reasoning, assistant message, calls) with no input between. A step
  starts at the first model output after a tool output, a user message, a token_count with a new total
  or a compaction. It is emitted at its first call or, without calls, at its last output, so its think
  window covers all of its generation. The calls of one step are parallel (one batch).
- tokens: Codex writes a token_count after each model response and often repeats it. A token_count whose
  running total changed gives its `last_token_usage` (input_tokens, output_tokens) to the latest step
  and closes it; repeats are ignored.
- user turns come from `event_msg` user_message only: the `response_item` user messages of the same turn
  are the model-input copy of it (plus injected context such as AGENTS.md), counting them too would count
  each turn twice. Early-format files have no events, so there the role=user items are the turns
  (injected `<environment_context>` / `<user_instructions>` blocks excepted).
- tool duration (`duration=`, the tool's own run time): an exec_command_end / mcp_tool_call_end event
  logged before the output (`duration` {secs, nanos}), else the `duration_seconds` metadata of an early
  JSON output, else an exec output's `Wall time: N seconds` header. A result recorded later than emission
  + duration is then an approval wait (the builder's rule). The real logs carry none of these.
- web_search_call runs inside the model's response and is logged when done: a call emitted at the step's
  previous output, finished at its own record (ok / error from its `status`), with no result text.
- compacted: the remote summarisation call, recorded as an LLM step without calls.
- redacted logs (`[REDACTED_* len=N sha=X]` strings): kept as they are; equal strings, equal args.
Sessions: `codex:<session_meta id>` (the file stem without one); a sub-agent names its parent in
`session_meta.source.subagent.thread_spawn.parent_thread_id`. Later session_meta records (forks,
resumes) are passed over.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import orjson

from bpaste_cli.ingest.base import ReadContext, content_text, iter_jsonl, parse_time
from bpaste_cli.trace import SessionBuilder

NAME = "codex"
DESCRIPTION = "OpenAI Codex CLI rollouts: ~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl (current and early formats)."

_RECORDS = frozenset({"session_meta", "response_item", "event_msg", "turn_context", "compacted"})
_CALLS = frozenset({"function_call", "custom_tool_call", "local_shell_call", "web_search_call"})
_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})
_QUIET_ITEMS = frozenset({"ghost_snapshot", "compaction", "compaction_summary", "other"})
_INPUT_ROLES = frozenset({"user", "developer", "system"})
_DURATION_EVENTS = frozenset({"exec_command_end", "mcp_tool_call_end"})
_CLOSING_EVENTS = frozenset({"task_started", "task_complete", "turn_aborted", "context_compacted"})
# event_msg types that mirror response items or report UI state: no event of their own
_QUIET_EVENTS = frozenset(
    {
        "agent_message", "agent_message_delta", "agent_reasoning", "agent_reasoning_delta",
        "agent_reasoning_raw_content", "agent_reasoning_raw_content_delta", "agent_reasoning_section_break",
        "exec_command_begin", "exec_command_output_delta", "exec_approval_request", "apply_patch_approval_request",
        "patch_apply_begin", "patch_apply_end", "mcp_tool_call_begin", "web_search_begin", "web_search_end",
        "view_image_tool_call", "turn_diff", "plan_update", "entered_review_mode", "exited_review_mode",
        "undo_started", "undo_completed", "error", "stream_error", "warning", "background_event",
        "session_configured", "shutdown_complete", "item_started", "item_completed", "thread_rolled_back",
        "get_history_entry_response", "mcp_list_tools_response", "list_custom_prompts_response",
        "deprecation_notice", "raw_response_item", "mcp_startup_update", "mcp_startup_complete",
    }
)
_INJECTED = ("<environment_context>", "<user_instructions>")
# the opening of a current-format line too long for the sniff window
_OPENING = re.compile(
    rb'\{\s*"timestamp"\s*:\s*"[^"]*"\s*,\s*"type"\s*:\s*'
    rb'"(?:session_meta|response_item|event_msg|turn_context|compacted)"\s*,\s*"payload"\s*:\s*\{'
)
_WALL = re.compile(r"Wall time: ([0-9]+(?:\.[0-9]+)?) seconds")
_EXIT = re.compile(r"(?:Exit code:|Process exited with code) (-?[0-9]+)")


def _is_flat_meta(obj: dict[str, Any]) -> bool:
    """The first line of an early-format rollout."""
    return (
        isinstance(obj.get("id"), str)
        and isinstance(obj.get("timestamp"), str)
        and ("instructions" in obj or "git" in obj)
        and "type" not in obj
    )


def sniff(head: bytes) -> bool:
    """The first line is a current-format record, or an early-format session header."""
    first = next((raw.strip() for raw in head.split(b"\n") if raw.strip()), b"")
    try:
        obj = orjson.loads(first)
    except orjson.JSONDecodeError:
        return _OPENING.match(first) is not None
    if not isinstance(obj, dict):
        return False
    return (_str(obj.get("type")) in _RECORDS and isinstance(obj.get("payload"), dict)) or _is_flat_meta(obj)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _args(value: Any) -> Any:
    """`arguments` is a JSON string; a string that is not JSON (e.g. redacted) is kept as it is."""
    if isinstance(value, str):
        if value.lstrip()[:1] not in ("{", "["):  # redacted: skip the failing parse
            return value
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return {} if value is None else value


def _duration(value: Any) -> float | None:
    """A Rust `Duration` ({secs, nanos}) or a number of seconds."""
    if isinstance(value, dict):
        secs, nanos = _number(value.get("secs")), _number(value.get("nanos")) or 0.0
        return None if secs is None else secs + nanos / 1e9
    return _number(value)


def _output(value: Any) -> tuple[Any, str, float | None]:
    """(result, status, logged duration) of a call output, from whichever shape this Codex version wrote."""
    status, duration = "ok", None
    if isinstance(value, dict):  # {content, success}
        if value.get("success") is False:
            status = "error"
        value = value.get("content", value)
    if isinstance(value, str):
        exit_code = None
        if value.startswith('{"output"'):  # early versions: {"output": ..., "metadata": {exit_code, duration_seconds}}
            try:
                obj = orjson.loads(value)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
                meta = obj["metadata"]
                exit_code, duration = _int(meta.get("exit_code")), _number(meta.get("duration_seconds"))
                value = obj.get("output", value)
        else:
            head = value[:300]
            wall, code = _WALL.search(head), _EXIT.search(head)
            duration = float(wall.group(1)) if wall else None
            exit_code = int(code.group(1)) if code else None
        if exit_code not in (None, 0):
            status = "error"
    return value, status, duration


def _parent(meta: dict[str, Any]) -> str | None:
    source = meta.get("source")
    sub = source.get("subagent") if isinstance(source, dict) else None
    spawn = sub.get("thread_spawn") if isinstance(sub, dict) else None
    parent = spawn.get("parent_thread_id") if isinstance(spawn, dict) else None
    return f"codex:{parent}" if isinstance(parent, str) and parent else None


class _Rollout:
    """One rollout file's state: the session builder and the LLM step being collected."""

    def __init__(self, path: Path, ctx: ReadContext) -> None:
        self.ctx, self.stem = ctx, path.stem
        self.b: SessionBuilder | None = None
        self.flat = False  # early format: role=user items are the user turns
        self.model: str | None = None
        self.total: Any = None  # running token total of the last token_count
        self.durations: dict[str, float] = {}
        self.open = self.emitted = self.untokened = False
        self.line: int | None = None
        self.t_last: float | None = None
        self.texts: list[str] = []

    def builder(self, meta: dict[str, Any] | None = None) -> SessionBuilder:
        if self.b is None:
            sid = meta.get("id") if meta else None
            self.b = self.ctx.session(
                f"codex:{sid if isinstance(sid, str) and sid else self.stem}",
                NAME,
                parent_session_id=_parent(meta) if meta else None,
            )
        return self.b

    # -- steps -----------------------------------------------------------------------------------

    def output(self, t: float | None, line: int, text: str | None = None) -> None:
        """Model output: opens a step if none is open."""
        if not self.open:
            self.open, self.emitted, self.line, self.t_last, self.texts = True, False, line, None, []
        if t is not None:
            self.t_last = t
        if text:
            if self.emitted:
                self.builder().amend_llm(text=text)
            else:
                self.texts.append(text)

    def emit(self, t: float | None) -> None:
        self.builder().llm(t, line=self.line, model=self.model, text="\n".join(self.texts) or None)
        self.emitted = self.untokened = True

    def close(self) -> None:
        """An input arrived: the open step is complete."""
        if self.open and not self.emitted:
            self.emit(self.t_last)
        self.open = False

    # -- records ---------------------------------------------------------------------------------

    def record(self, line: int, obj: Any) -> None:
        if not isinstance(obj, dict):
            self.ctx.skip(line, "unknown_record", f"{type(obj).__name__}, not an object")
            return
        kind, payload = _str(obj.get("type")), obj.get("payload")
        if kind in _RECORDS and isinstance(payload, dict):
            t = parse_time(obj.get("timestamp"))
            if kind == "session_meta":
                self.builder(payload)
            elif kind == "response_item":
                self.item(line, t, payload)
            elif kind == "event_msg":
                self.event(line, t, payload)
            elif kind == "turn_context":
                self.model = _str(payload.get("model")) or self.model
            else:  # compacted
                self.close()
                self.output(t, line)
                self.close()
        elif "record_type" in obj and "type" not in obj:  # early-format state marker
            pass
        elif _is_flat_meta(obj):
            if self.b is None:
                self.flat = True
            self.builder(obj)
        elif kind is not None and "payload" not in obj:  # early-format bare response item
            self.item(line, None, obj)
        else:
            self.ctx.skip(line, "unknown_record", f"type={obj.get('type')!r}")

    def item(self, line: int, t: float | None, p: dict[str, Any]) -> None:
        kind = _str(p.get("type"))
        if kind == "message":
            role = _str(p.get("role"))
            if role == "assistant":
                self.output(t, line, content_text(p.get("content")))
            elif role in _INPUT_ROLES:
                text = content_text(p.get("content"))
                if self.flat and role == "user" and not (text or "").lstrip().startswith(_INJECTED):
                    self.close()
                    self.builder().user(t, text, line)
            else:
                self.ctx.skip(line, "unknown_record", f"message role={p.get('role')!r}")
        elif kind == "reasoning":
            self.output(t, line)
        elif kind in _CALLS:
            self.call(line, t, kind, p)
        elif kind in _OUTPUTS:
            self.result(line, t, p)
        elif kind not in _QUIET_ITEMS:
            self.ctx.skip(line, "unknown_record", f"response_item type={p.get('type')!r}")

    def call(self, line: int, t: float | None, kind: str, p: dict[str, Any]) -> None:
        if kind == "function_call":
            tool, args = p.get("name"), _args(p.get("arguments"))
        elif kind == "custom_tool_call":
            tool, args = p.get("name"), p.get("input")
        else:
            tool, args = kind.removesuffix("_call"), p.get("action")
        if not isinstance(tool, str) or not tool:
            self.ctx.skip(line, "missing_field", "name")
            return
        call_id = p.get("call_id") if isinstance(p.get("call_id"), str) else p.get("id")
        search = kind == "web_search_call"
        emit_t = self.t_last if search and self.open and self.t_last is not None else t
        self.output(emit_t, line)
        if not self.emitted:
            self.emit(emit_t)
        b = self.builder()
        used = b.tool_call(_str(call_id), tool, {} if args is None else args, emit_t, line)
        if search and _str(p.get("status")) in ("completed", "failed"):
            b.tool_result(used, t, None, status="error" if p["status"] == "failed" else "ok")
            self.close()

    def result(self, line: int, t: float | None, p: dict[str, Any]) -> None:
        call_id = p.get("call_id")
        if not isinstance(call_id, str):
            self.ctx.skip(line, "missing_field", "call_id")
            return
        result, status, duration = _output(p.get("output"))
        logged = self.durations.pop(call_id, None)
        reason = self.builder().tool_result(
            call_id, t, result, status=status, duration=logged if logged is not None else duration
        )
        if reason:
            self.ctx.skip(line, reason, call_id)
        else:
            self.close()

    def event(self, line: int, t: float | None, p: dict[str, Any]) -> None:
        kind = _str(p.get("type"))
        if kind == "user_message":
            self.close()
            self.builder().user(t, _str(p.get("message")), line)
        elif kind == "token_count":
            self.tokens(p.get("info"))
        elif kind in _DURATION_EVENTS:
            call_id, seconds = p.get("call_id"), _duration(p.get("duration"))
            if isinstance(call_id, str) and seconds is not None:
                self.durations[call_id] = seconds
        elif kind in _CLOSING_EVENTS:
            self.close()
        elif kind not in _QUIET_EVENTS:
            self.ctx.skip(line, "unknown_record", f"event_msg type={p.get('type')!r}")

    def tokens(self, info: Any) -> None:
        total = info.get("total_token_usage") if isinstance(info, dict) else None
        key = total.get("total_tokens") if isinstance(total, dict) else None
        if key is None or key == self.total:
            return
        self.total = key
        self.close()
        last = info.get("last_token_usage")
        if self.untokened and isinstance(last, dict):
            self.builder().amend_llm(
                tokens_in=_int(last.get("input_tokens")), tokens_out=_int(last.get("output_tokens"))
            )
            self.untokened = False


def read(path: Path, ctx: ReadContext) -> Iterator[SessionBuilder]:
    rollout = _Rollout(path, ctx)
    for line, obj in iter_jsonl(ctx):
        rollout.record(line, obj)
    if rollout.b is not None:
        rollout.close()
        yield rollout.b
