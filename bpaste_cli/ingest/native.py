"""bpaste native JSONL: one event per line, for agents whose logs bpaste has no reader for.

Each line is an object with `session_id` and `kind` (`user`, `llm` or `tool`), in the order the
events happened; lines of several sessions may interleave. Times (`t_start`, `t_end`; or `t` for a
user message) are seconds (relative to anything, or epoch) or ISO-8601 strings, and may be omitted
entirely. Fields:

- user: `text`, `t`
- llm: `t_start` (when the step began thinking; optional), `t_end` (when it emitted its output),
  `model`, `tokens_in`, `tokens_out`, `text`
- tool: `tool`, `args` (any JSON; an object normally), `call_id`, `t_start` (emission), `t_end`
  (result seen by the agent), `duration` (seconds the tool itself ran, when known: a longer wait is an
  approval), `result` (text or JSON), `status` (`ok` or `error`), `after_previous` (true when the call
  was emitted only after the previous call of its step had returned: the step's calls ran one after
  another; the call then starts a batch of its own, and its wait counts as tool time, not as a gap);
  a tool line belongs to the latest llm line of its session (calls between two llm lines were emitted
  together unless `after_previous` says otherwise)
- any line may carry `parent_session_id` and `parent_call_id` (for sub-agents).

Bookkeeping lines, which `bpaste serve` writes into its run log, are read and set aside (they are not
events, and not skipped lines): `speculative` (one speculative call: `tool`, `args`, `depth`, `prob`,
`t_start`, `t_end`, `outcome` = served / wasted / cancelled) and `note` (a sentence for people, no
session). The real calls a speculative result served are ordinary `tool` lines (with `served`).

Memory stays flat in the file's size: a first pass notes each session's last line, and a session is
handed on as soon as that line is read (lines of many sessions may still interleave).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import orjson

from bpaste_cli.ingest.base import BOM, MAX_LINE_BYTES, ReadContext, iter_jsonl, parse_time
from bpaste_cli.trace import SessionBuilder

NAME = "native"
DESCRIPTION = "bpaste's own JSONL, one event per line (README: 'Native JSONL'); write it from any agent."
_KINDS = {"user", "llm", "tool"}
BOOKKEEPING = {"speculative", "note"}  # run-log lines that are not events (see the module docstring)


def _record(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("session_id"), str) and obj.get("kind") in _KINDS


def _bookkeeping(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("kind"), str) and obj["kind"] in BOOKKEEPING


def sniff(head: bytes) -> bool:
    for raw in head.splitlines():
        if raw.strip():
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return False
            if _bookkeeping(obj):
                continue  # a run log may open with a note
            return _record(obj)
    return False


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _last_lines(path: Path) -> dict[str, int]:
    """The line number of each session's last line (lines that do not parse are passed over here; the
    reading pass reports them)."""
    last: dict[str, int] = {}
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            if b"session_id" not in raw or len(raw) > MAX_LINE_BYTES:
                continue
            if line_no == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                try:
                    obj = orjson.loads(raw.strip().decode("utf-8", "replace"))
                except orjson.JSONDecodeError:
                    continue
            if isinstance(obj, dict) and isinstance(obj.get("session_id"), str):
                last[obj["session_id"]] = line_no
    return last


def read(path: Path, ctx: ReadContext) -> Iterator[SessionBuilder]:
    last_line = _last_lines(path)
    sessions: dict[str, SessionBuilder] = {}
    for line, obj in iter_jsonl(ctx):
        raw_id = _add(obj, line, ctx, sessions)
        if raw_id is not None and last_line.get(raw_id) == line and f"native:{raw_id}" in sessions:
            yield sessions.pop(f"native:{raw_id}")  # its last line: the session is complete
    yield from sessions.values()


def _add(obj: Any, line: int, ctx: ReadContext, sessions: dict[str, SessionBuilder]) -> str | None:
    """Add one line to its session; the session's id as written in the line (None when it has none)."""
    if _bookkeeping(obj):
        return obj["session_id"] if isinstance(obj.get("session_id"), str) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("session_id"), str):
        ctx.skip(line, "missing_field", "session_id")
        return None
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        ctx.skip(line, "unknown_record", f"kind={kind!r}")
        return obj["session_id"]
    sid = f"native:{obj['session_id']}"
    b = sessions.get(sid)
    if b is None:
        parent = obj.get("parent_session_id")
        b = ctx.session(
            sid,
            NAME,
            parent_session_id=f"native:{parent}" if isinstance(parent, str) else None,
            parent_call_id=obj.get("parent_call_id") if isinstance(obj.get("parent_call_id"), str) else None,
        )
        sessions[sid] = b
    t_start, t_end = parse_time(obj.get("t_start")), parse_time(obj.get("t_end"))
    if kind == "user":
        t = parse_time(obj.get("t"))
        b.user(t if t is not None else (t_end if t_end is not None else t_start), _str(obj.get("text")), line)
    elif kind == "llm":
        b.llm(
            t_end if t_end is not None else t_start,
            t_start=t_start if t_end is not None else None,
            line=line,
            model=_str(obj.get("model")),
            tokens_in=_int(obj.get("tokens_in")),
            tokens_out=_int(obj.get("tokens_out")),
            text=_str(obj.get("text")),
        )
    else:
        tool = obj.get("tool")
        if not isinstance(tool, str) or not tool:
            ctx.skip(line, "missing_field", "tool")
            return obj["session_id"]
        call_id = b.tool_call(
            _str(obj.get("call_id")), tool, obj.get("args", {}), t_start, line, after_previous=obj.get("after_previous") is True
        )
        if "result" in obj or "status" in obj or t_end is not None:
            status = "error" if obj.get("status") == "error" else "ok"
            duration = obj.get("duration")
            duration = float(duration) if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None
            b.tool_result(call_id, t_end, obj.get("result"), status=status, duration=duration)
    return obj["session_id"]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
