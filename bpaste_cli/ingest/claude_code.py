"""Claude Code session transcripts: `~/.claude/projects/<project>/<session-id>.jsonl` plus sub-agents.

Records:
- `assistant`: Claude Code writes one line per content block (text, thinking, tool_use); the lines that
  share `message.id` are one model message, i.e. one LLM step. The step is emitted when it produced what
  the agent acts on: the line of its first `tool_use`, or, for a message without calls, its first
  non-blank text (failing both, its first line). Each call is emitted at its own line. tokens_in =
  input + cache-creation + cache-read tokens; tokens_out = the largest `output_tokens` on the message's
  lines (the last line may carry the final count). Messages of model `<synthetic>` are written by
  Claude Code itself (error notices), not by a model: ignored.
- `user` with `tool_result` blocks: results, arriving at their line's time, `error` when `is_error`.
  `duration` comes only from what `toolUseResult` logs as the tool's own run time (`durationMs`,
  `durationSeconds`, Task's `totalDurationMs`: within a few ms of emission -> result in the real logs
  when nobody intervened). The tools that exist to wait for a person (AskUserQuestion, ExitPlanMode's
  plan approval) do nothing else: duration 0, so their whole wait becomes approval time. "User rejected
  tool use" gets no duration: in the real logs it marks an interruption (Esc) while the call ran, even
  with permission prompts off, so the call's own run time is unknown.
- other `user` lines are human turns (prompts, slash commands, interruptions) unless Claude Code
  injected them: `isMeta`, `isCompactSummary`, or text opening with a tag such as `<task-notification>`
  or `<local-command-stdout>`. In a sub-agent session the parent agent's prompt is the user turn.
- bookkeeping records (`progress`, `file-history-snapshot`, `summary`, `system`, `queue-operation`, ...)
  hold no events and are passed over; messages queued while the agent works (`queue-operation`) do not
  make it wait, so they are no user turns. Any other record type is skipped as `unknown_record`.

Sessions: a main file is `claude-code:<sessionId>`. A session resumed with `claude --resume` is written
to a new file that begins with a copy of the old session's records (their own `sessionId`), then the new
session's: records are split by `sessionId`, the copy is marked as copied history: ingest keeps it only
when the old session's own file is not read (the copy repeats that file's records, `uuid` for `uuid`), and
of several copies the longest. Lines with an `agentId` (sub-agent transcripts,
`<sessionId>/subagents/agent-<agentId>.jsonl`) form the child session
`claude-code:<sessionId>/agent-<agentId>` (the file's stem), parent `claude-code:<sessionId>`, parent call
= the Task call whose result (`toolUseResult.agentId`) or `agent_progress` record names the agent, looked
up in the same file or, by a byte search, in the parent file beside the `subagents` folder when it
exists. Compaction agents (`agent-acompact-*`) are kept as child sessions without a parent call: their
single step (writing the summary) is real model time that blocks the parent, where it falls inside the
think window of the first step after the compaction.
"""

from __future__ import annotations

import io
import mmap
from pathlib import Path
from typing import Any, Iterator

import orjson

from bpaste_cli.ingest.base import ReadContext, iter_jsonl, parse_time
from bpaste_cli.trace import SessionBuilder, canonical_json

NAME = "claude-code"
DESCRIPTION = (
    "Claude Code session logs: ~/.claude/projects/<project>/<session-id>.jsonl, "
    "sub-agents in <session-id>/subagents/agent-*.jsonl."
)

_BOOKKEEPING = frozenset(
    {
        "progress", "file-history-snapshot", "summary", "system", "queue-operation", "attachment",
        "custom-title", "ai-title", "agent-name", "agent-color", "agent-setting", "tag", "mode",
        "permission-mode", "worktree-state", "pr-link", "last-prompt",
    }
)
_INJECTED = (
    "<task-notification>", "<local-command-stdout>", "<local-command-stderr>", "<local-command-caveat>",
    "<bash-stdout>", "<bash-stderr>", "<system-reminder>",
)
_MARKS = ("sessionId", "uuid", "messageId", "leafUuid")  # keys every Claude Code record type has one of
_CUT_PREFIXES = (b'{"parentUuid":', b'{"type":"file-history-snapshot"', b'{"type":"summary"')
_DURATIONS = (("durationMs", 1e-3), ("totalDurationMs", 1e-3), ("durationSeconds", 1.0))
# content blocks a model message may hold; only tool_use and text carry what bpaste records (server-side
# tools run inside the model step, so their time is think time)
_MODEL_BLOCKS = frozenset({"tool_use", "text", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result",
                           "web_fetch_tool_result", "code_execution_tool_result", "mcp_tool_use", "mcp_tool_result",
                           "image", "document", "container_upload"})
_HUMAN_TOOLS = frozenset({"AskUserQuestion", "ExitPlanMode"})


def sniff(head: bytes) -> bool:
    """A user/assistant record with Claude Code's ids, or only Claude Code bookkeeping records."""
    seen = False
    for raw in io.BytesIO(head):  # line by line: the verdict usually comes from the first lines
        cut = not raw.endswith(b"\n")  # the last line, maybe cut by the sniff window
        raw = raw.strip()
        if not raw:
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            if cut:  # judge by Claude Code's key order
                return seen or raw.startswith(_CUT_PREFIXES)
            continue
        if not isinstance(obj, dict) or not any(k in obj for k in _MARKS):
            return False
        kind = obj.get("type")
        if kind in ("user", "assistant"):
            return isinstance(obj.get("message"), dict)
        if not isinstance(kind, str) or kind not in _BOOKKEEPING:
            return False
        seen = True
    return seen


def _tokens_in(usage: dict[str, Any]) -> int | None:
    """Input + cache-creation + cache-read tokens, of those logged (None when none is)."""
    total = None
    for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            total = value if total is None else total + value
    return total


def _text_of(content: Any) -> str:
    """Message or result content as text: a string as is, text blocks joined, other blocks named."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                text = block.get("text")
                parts.append(text if isinstance(text, str) else f"[{block.get('type')}]")
        return "\n".join(parts)
    return "" if content is None else canonical_json(content)


def _duration(tool_use_result: Any) -> float | None:
    """The tool's own run time where `toolUseResult` logs one (see the module docstring)."""
    if isinstance(tool_use_result, dict):
        for key, scale in _DURATIONS:
            value = tool_use_result.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value * scale
    return None


class _Session:
    """One session's builder plus the model message being read (its LLM step is created lazily)."""

    def __init__(self, builder: SessionBuilder, raw_id: str) -> None:
        self.b = builder
        self.raw_id = raw_id
        self.agents: dict[str, str] = {}  # sub-agent id -> the Task call that spawned it
        self.human_calls: set[str] = set()  # calls of _HUMAN_TOOLS
        self.mid: Any = None  # current model message id
        self.emitted = True  # whether the current message's LLM step exists in the builder
        self.first: tuple[float | None, int] = (None, 0)
        self.first_text: tuple[float | None, int] | None = None
        self.texts: list[str] = []
        self.model: str | None = None
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None

    def _emit(self, t: float | None, line: int) -> None:
        self.b.llm(
            t, line=line, model=self.model, tokens_in=self.tokens_in, tokens_out=self.tokens_out,
            text="\n".join(self.texts) or None,
        )
        self.emitted, self.texts = True, []

    def flush(self) -> None:
        """Close a message that emitted no call: its step is emitted at its first text."""
        if not self.emitted:
            self._emit(*(self.first_text or self.first))

    def assistant(self, obj: dict[str, Any], msg: dict[str, Any], line: int, ctx: ReadContext) -> None:
        t = parse_time(obj.get("timestamp"))
        mid = msg.get("id") or obj.get("requestId") or f"line {line}"
        usage = msg.get("usage")
        if type(usage) is not dict:  # orjson's values are of exact types: no subclass to allow for
            usage = {}
        if mid != self.mid:
            self.flush()
            self.mid, self.emitted, self.first, self.first_text = mid, False, (t, line), None
            model = msg.get("model")
            self.model = model if isinstance(model, str) else None
            self.tokens_in, self.tokens_out = _tokens_in(usage), None
        out = usage.get("output_tokens")
        if type(out) is int and (self.tokens_out is None or out > self.tokens_out):
            self.tokens_out = out
            if self.emitted:
                self.b.amend_llm(tokens_out=out)
        content = msg.get("content")
        if type(content) is str:
            content = [{"type": "text", "text": content}]
        elif type(content) is not list or not content:
            ctx.skip(line, "missing_field", "message.content")
            return
        for i, block in enumerate(content):
            kind = block.get("type") if type(block) is dict else None
            if type(kind) is not str:
                ctx.skip(line, "malformed_block", f"message.content[{i}] has no type")
            elif kind not in _MODEL_BLOCKS:
                ctx.skip(line, "unknown_record", f"message.content[{i}] type={kind[:40]!r}")
            elif kind == "tool_use":
                name = block.get("name")
                if not isinstance(name, str) or not name:
                    ctx.skip(line, "missing_field", "tool_use.name")
                    continue
                if not self.emitted:
                    self._emit(t, line)
                logged_id = block.get("id")
                logged_id = logged_id if isinstance(logged_id, str) else None
                call_id = self.b.tool_call(logged_id, name, block.get("input", {}), t, line)
                if name in _HUMAN_TOOLS:
                    self.human_calls.add(call_id)
            elif kind == "text":
                text = block.get("text")
                if isinstance(text, str) and text.strip():
                    if self.emitted:
                        self.b.amend_llm(text=text)
                    else:
                        self.texts.append(text)
                        self.first_text = self.first_text or (t, line)

    def user(self, obj: dict[str, Any], msg: dict[str, Any], line: int, ctx: ReadContext) -> None:
        t = parse_time(obj.get("timestamp"))
        content = msg.get("content")
        if isinstance(content, list):
            results = [b for b in content if type(b) is dict and b.get("type") == "tool_result"]
            if results:
                self._results(obj, results, t, line, ctx)
                return
        if obj.get("isMeta") or obj.get("isCompactSummary"):
            return
        text = _text_of(content)
        if text.lstrip().startswith(_INJECTED):
            return
        self.flush()
        self.mid = None
        self.b.user(t, text, line)

    def _results(self, obj: dict[str, Any], results: list[dict], t: float | None, line: int, ctx: ReadContext) -> None:
        tur = obj.get("toolUseResult") if len(results) == 1 else None  # it describes the line's only result
        for block in results:
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str):
                ctx.skip(line, "missing_field", "tool_result.tool_use_id")
                continue
            status = "error" if block.get("is_error") is True else "ok"
            duration = 0.0 if call_id in self.human_calls else _duration(tur)
            reason = self.b.tool_result(call_id, t, _text_of(block.get("content")), status=status, duration=duration)
            if reason:
                ctx.skip(line, reason, call_id)
            if isinstance(tur, dict) and isinstance(tur.get("agentId"), str):
                self.agents[tur["agentId"]] = call_id


def _call_in_line(raw: bytes, agent: str) -> str | None:
    """The Task call id that a parent-log line ties to sub-agent `agent`, if it does."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    data, tur = obj.get("data"), obj.get("toolUseResult")
    if isinstance(data, dict) and data.get("agentId") == agent and isinstance(obj.get("parentToolUseID"), str):
        return obj["parentToolUseID"]
    msg = obj.get("message")
    if isinstance(tur, dict) and tur.get("agentId") == agent and isinstance(msg, dict):
        content = msg.get("content")
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and isinstance(block.get("tool_use_id"), str):
                return block["tool_use_id"]
    return None


def _spawning_call(parent_log: Path, agent: str) -> str | None:
    """Search the parent log's bytes for the agent id and parse only the lines that hold it."""
    try:
        with open(parent_log, "rb") as fh:
            if fh.seek(0, 2) == 0:
                return None
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError:
        return None
    with data:
        needle = b'"' + agent.encode("utf-8", "surrogatepass") + b'"'
        pos = data.find(needle)
        while pos >= 0:
            start = data.rfind(b"\n", 0, pos) + 1
            end = data.find(b"\n", pos)
            end = len(data) if end < 0 else end
            call = _call_in_line(data[start:end], agent)
            if call:
                return call
            pos = data.find(needle, end)
    return None


def _parent_logs(path: Path, session_id: str) -> list[Path]:
    """Where Claude Code puts the parent transcript of a sub-agent file (new and old layouts)."""
    name = f"{session_id}.jsonl"
    found = [path.parent.parent.parent / name] if path.parent.name == "subagents" else []
    found.append(path.parent / name)
    return [p for p in found if p != path and p.is_file()]


def _session_of(sessions: dict[tuple[str, str | None], _Session], logged: tuple[Any, Any], path: Path,
                ctx: ReadContext) -> _Session:
    """The session of a record that logs `(sessionId, agentId)`, created on its first record."""
    raw_id, agent = logged
    agent = agent if isinstance(agent, str) and agent else None
    raw_id = raw_id if isinstance(raw_id, str) and raw_id else path.stem
    st = sessions.get((raw_id, agent))
    if st is None:
        if agent is None:
            builder = ctx.session(f"claude-code:{raw_id}", NAME)
        else:
            parent = f"claude-code:{raw_id}"
            builder = ctx.session(f"{parent}/agent-{agent}", NAME, parent_session_id=parent)
        st = sessions[(raw_id, agent)] = _Session(builder, raw_id)
    return st


def read(path: Path, ctx: ReadContext) -> Iterator[SessionBuilder]:
    sessions: dict[tuple[str, str | None], _Session] = {}  # by (sessionId, agentId); agentId None: a main session
    key: tuple[Any, Any] = (None, None)  # (sessionId, agentId) as the previous record logged them: its session is `st`
    st: _Session | None = None
    for line, obj in iter_jsonl(ctx):
        kind = obj.get("type") if type(obj) is dict else None  # orjson makes plain dicts
        if kind != "user" and kind != "assistant":
            if not isinstance(kind, str) or kind not in _BOOKKEEPING:
                ctx.skip(line, "unknown_record", f"type={kind!r}")
            continue
        msg = obj.get("message")
        if type(msg) is not dict:
            ctx.skip(line, "missing_field", "message")
            continue
        logged = (obj.get("sessionId"), obj.get("agentId"))
        if logged != key or st is None:  # a file's records mostly belong to one session: look it up on a change
            key = logged
            st = _session_of(sessions, logged, path, ctx)
        if kind == "user":
            st.user(obj, msg, line, ctx)
        elif msg.get("model") != "<synthetic>":
            st.assistant(obj, msg, line, ctx)
    mains = [raw_id for raw_id, agent in sessions if agent is None]
    # A resumed session's file begins with a copy of the session it resumes: the file's own session is
    # the one named like the file, else the last one to start; the others are copied history.
    own = path.stem if path.stem in mains else (mains[-1] if mains else None)
    for (raw_id, agent), st in sessions.items():
        st.flush()
        if agent is None:
            st.b.copied_history = raw_id != own
            continue
        main = sessions.get((raw_id, None))
        call = main.agents.get(agent) if main is not None else None
        if call is None:
            found = (_spawning_call(p, agent) for p in _parent_logs(path, st.raw_id))
            call = next((c for c in found if c), None)
        st.b.parent_call_id = call
    for st in sessions.values():
        yield st.b
