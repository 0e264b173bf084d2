"""OpenAI-style chat messages: the lingua franca of tool-using agents and benchmark trajectories.

A conversation is a list of messages with roles `system`/`developer` (prompts: not events), `user`,
`assistant` and `tool`. An assistant message is one LLM step; its `tool_calls`
[{id, type: function, function: {name, arguments (JSON string)}}] are one batch, answered by `tool`
messages carrying `tool_call_id`. The legacy `function_call` {name, arguments} is answered by a
`function` message with the same `name` (matched first-in, first-out). A message may carry an optional
`timestamp` (ISO or epoch); without one the session is untimed.

Containers read (detected by content, see `sniff`):
- a JSON array of messages, a JSON object with `messages` (e.g. mini-swe-agent >= 1.0 `.traj.json`),
  JSONL with one conversation object per line, or one message per line (the whole file is one session);
- tau-bench historical trajectories: an array of {task_id, trial, traj: [messages], reward, info};
  one session per entry, id `#task<task_id>-trial<trial>`;
- ToolBench answer files ({win, tree, answer_generation}): the session is the final path the model
  took, i.e. the longest of `answer_generation.train_messages` (the earlier lists are training
  prefixes of the same run; the DFS tree's abandoned branches are not what a deployed agent would
  do). A file without `train_messages` (the search kept no final path) is skipped as missing_field.
  ToolBench's `function_call` may be a Python-repr string, and a result whose JSON `error` field is
  non-empty has status error. ToolBench query ids repeat across groups, so the id includes the folder;
- text-action agents (mini-swe-agent): in a conversation without structured calls where the agent's
  markers appear (a fenced ```mswea_bash_command block, or an observation starting `<returncode>`),
  an assistant message with exactly one ```bash / ```mswea_bash_command block is a `bash` call
  {"command": <block>}, and the next user message is its result (status error when the return code
  is non-zero). Other assistant messages are steps without calls.

Session ids: `chat:<file stem>#<index in the file, or task id>`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson

from bpaste_cli.ingest.base import (
    ReadContext,
    decode_arguments,
    iter_jsonl,
    looks_like_jsonl,
    parse_json_document,
    parse_time,
)
from bpaste_cli.trace import SessionBuilder, result_to_text

NAME = "chat"
DESCRIPTION = (
    "OpenAI-style chat messages with tool_calls/function_call (JSON array, {messages}, JSONL), "
    "as saved by tau-bench (historical_trajectories/*.json), ToolBench (answer/G*_answer/*.json) "
    "and mini-swe-agent (*.traj.json)."
)

_PROMPT_ROLES = {"system", "developer"}
_MESSAGE_KEYS = (b"role", b"content", b"tool_calls", b"function_call", b"name", b"tool_call_id")
# key sets that mark other formats' records (Claude Code, Codex, bpaste native, SWE-agent, OpenHands)
_FOREIGN = ({"sessionId", "uuid"}, {"type", "payload"}, {"session_id", "kind"}, {"trajectory", "history"},
            {"source", "action"}, {"source", "observation"})
_FENCE = re.compile(r"```(?:bash|mswea_bash_command)[ \t]*\n(.*?)\n```", re.DOTALL)
_RETURNCODE = re.compile(r"\s*<returncode>\s*(-?\d+)\s*</returncode>")
_TOOLBENCH_ERROR = re.compile(r'\{\s*"error"\s*:\s*"(?!")')
_HEAD_ARRAY = re.compile(rb'\s*\[\s*\{\s*"(?:' + b"|".join(_MESSAGE_KEYS) + rb')"\s*:')
_HEAD_ROLE = re.compile(rb'"role"\s*:\s*"(?:system|developer|user|assistant|tool|function)"')
_HEAD_TAU = re.compile(rb'\s*\[\s*\{\s*"task_id"\s*:')
_HEAD_TOOLBENCH = re.compile(rb'\s*\{\s*(?:"win"\s*:\s*(?:true|false)\s*,\s*"tree"|"answer_generation")\s*:')
_HEAD_MESSAGES = re.compile(rb'\s*\{\s*"messages"\s*:\s*\[')
_HEAD_MINI = re.compile(rb'\s*\{\s*"info"\s*:')


# -- detection -------------------------------------------------------------------------------------


def _foreign(obj: dict) -> bool:
    return any(keys <= obj.keys() for keys in _FOREIGN)


def _is_message(obj: Any) -> bool:
    """An OpenAI chat message (not a Responses-API item, which carries `type`)."""
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("role"), str)
        and "type" not in obj
        and ("content" in obj or "tool_calls" in obj or "function_call" in obj)
        and not _foreign(obj)
    )


def _is_conversation(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and (
            isinstance(obj.get("messages"), list)
            or isinstance(obj.get("traj"), list)
            or isinstance(obj.get("answer_generation"), dict)
        )
        and not _foreign(obj)
    )


def _accepts(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and (_is_message(value[0]) or _is_conversation(value[0]))
    return _is_message(value) or _is_conversation(value)


def sniff(head: bytes) -> bool:
    """Whole head parses (small file) -> judge the value; else the first line (JSONL); else the
    opening bytes of a large document (tau-bench, ToolBench, message arrays, {messages}/{info})."""
    try:
        return _accepts(orjson.loads(head))
    except orjson.JSONDecodeError:
        pass
    try:
        first = orjson.loads(head.lstrip().split(b"\n", 1)[0])
    except orjson.JSONDecodeError:
        first = None
    if isinstance(first, dict):
        return _accepts(first)
    if _HEAD_TAU.match(head):
        return b'"traj"' in head or b'"reward"' in head
    if _HEAD_TOOLBENCH.match(head):
        return True
    if _HEAD_ARRAY.match(head) or _HEAD_MESSAGES.match(head):
        return _HEAD_ROLE.search(head) is not None
    if _HEAD_MINI.match(head):
        return b"minisweagent" in head or b'"mini_version"' in head
    return False


# -- reading ---------------------------------------------------------------------------------------


def _text(content: Any) -> str | None:
    """Message content as text: strings as they are, lists of text parts joined, anything else as JSON."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in content):
        return "\n".join(p["text"] for p in content)
    return result_to_text(content)


def _legacy_call(fc: Any) -> dict | None:
    """A `function_call` as a dict; ToolBench sometimes stores it as a Python-repr string."""
    if isinstance(fc, str):
        try:
            fc = ast.literal_eval(fc)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            fc = decode_arguments(fc)
    return fc if isinstance(fc, dict) and isinstance(fc.get("name"), str) and fc["name"] else None


def _toolbench_status(content: Any) -> str:
    """ToolBench observations are {"error": "...", "response": ...}, often cut short (not valid JSON)."""
    return "error" if isinstance(content, str) and _TOOLBENCH_ERROR.match(content) else "ok"


def _text_actions(msgs: list) -> bool:
    """Whether a conversation is a text-action agent's (mini-swe-agent): no structured calls, its markers."""
    marked = False
    for m in msgs:
        if not isinstance(m, dict):
            continue
        if m.get("tool_calls") or m.get("function_call"):
            return False
        content = m.get("content")
        if isinstance(content, str) and not marked:
            role = m.get("role")
            marked = (role == "assistant" and "```mswea_bash_command" in content) or (
                role == "user" and content.lstrip().startswith("<returncode>")
            )
    return marked


def _ok(content: Any) -> str:
    return "ok"


def _conversation(
    b: SessionBuilder,
    msgs: list,
    ctx: ReadContext,
    lines: list[int | None],
    status_of: Callable[[Any], str] = _ok,
) -> None:
    """Feed one conversation's messages to `b`; each message is used or skipped with a reason."""
    text_mode = _text_actions(msgs)
    pending: dict[str, list[str]] = {}  # tool name -> unanswered call ids, for results matched by name
    by_log_id: dict[str, list[str]] = {}  # logged call id -> unanswered ids used (logs reuse ids)
    origin: dict[str, tuple[str, str | None]] = {}  # id used -> (tool name, logged id)
    awaiting: str | None = None  # text mode: the bash call whose observation the next user message is

    def call(call_id: str | None, name: str, args: Any, t: float | None, line: int | None) -> str:
        cid = b.tool_call(call_id, name, args, t, line)
        pending.setdefault(name, []).append(cid)
        if call_id is not None:
            by_log_id.setdefault(call_id, []).append(cid)
        origin[cid] = (name, call_id)
        return cid

    def result(cid: str, t: float | None, content: Any, status: str, line: int | None) -> None:
        queued = by_log_id.get(cid)
        used = queued[0] if queued else cid
        reason = b.tool_result(used, t, content, status=status)
        if reason:
            ctx.skip(line, reason, cid)
            return
        name, log_id = origin.pop(used)
        pending[name].remove(used)
        if log_id is not None:
            by_log_id[log_id].remove(used)

    for i, m in enumerate(msgs):
        line = lines[i] if lines else None
        if not isinstance(m, dict):
            ctx.skip(line, "unknown_record", f"message {i}: not an object")
            continue
        role = m.get("role")
        if role is not None and not isinstance(role, str):
            ctx.skip(line, "missing_field", f"message {i}: role is not a string")
            continue
        t = parse_time(m.get("timestamp"))
        if role in _PROMPT_ROLES:
            continue
        if role == "user":
            if awaiting is not None:
                content = _text(m.get("content"))
                code = _RETURNCODE.match(content or "")
                result(awaiting, t, content, "error" if code and code.group(1) != "0" else "ok", line)
                awaiting = None
            else:
                b.user(t, _text(m.get("content")), line)
        elif role == "assistant":
            text = _text(m.get("content"))
            model = m.get("model") if isinstance(m.get("model"), str) else None
            b.llm(t, line=line, model=model, text=text)
            calls = m.get("tool_calls")
            for c in calls if isinstance(calls, list) else ():
                fn = c.get("function") if isinstance(c, dict) and isinstance(c.get("function"), dict) else c
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                    ctx.skip(line, "missing_field", f"message {i}: tool_calls[].function.name")
                    continue
                cid = c.get("id") if isinstance(c.get("id"), str) else None
                call(cid, fn["name"], decode_arguments(fn.get("arguments")), t, line)
            if m.get("function_call") is not None:
                fc = _legacy_call(m["function_call"])
                if fc is None:
                    ctx.skip(line, "missing_field", f"message {i}: function_call.name")
                else:
                    call(None, fc["name"], decode_arguments(fc.get("arguments")), t, line)
            if text_mode:
                blocks = _FENCE.findall(text or "")
                awaiting = call(None, "bash", {"command": blocks[0].strip()}, t, line) if len(blocks) == 1 else None
        elif role in ("tool", "function"):
            cid = m.get("tool_call_id")
            if not isinstance(cid, str):
                ids = pending.get(m.get("name")) if isinstance(m.get("name"), str) else None
                if not ids:
                    ctx.skip(line, "result_without_call", f"message {i}: {role} {m.get('name')!r}")
                    continue
                cid = ids[0]
            content = _text(m.get("content"))
            result(cid, t, content, status_of(content), line)
        else:
            ctx.skip(line, "unknown_record", f"message {i}: role={role!r}")


def _key(obj: dict, index: int) -> str:
    """A conversation's id within its file: tau-bench's task id (+ trial), else its index."""
    task = obj.get("task_id")
    if isinstance(task, (str, int)) and not isinstance(task, bool):
        trial = obj.get("trial")
        return f"task{task}" + (f"-trial{trial}" if isinstance(trial, int) and not isinstance(trial, bool) else "")
    return str(index)


def _container(
    obj: dict, ctx: ReadContext, sid: str, line: int | None, where: str
) -> SessionBuilder | None:
    """One conversation object (`messages`, tau-bench `traj` or a ToolBench answer) -> its session;
    `where` names it in skip reports."""
    status_of = _ok
    if isinstance(obj.get("answer_generation"), dict):
        train = obj["answer_generation"].get("train_messages")
        paths = [p for p in train if isinstance(p, list)] if isinstance(train, list) else []
        if not paths:
            ctx.skip(line, "missing_field", f"{where}: answer_generation.train_messages (no final path)")
            return None
        msgs, status_of = max(paths, key=len), _toolbench_status
    else:  # _is_conversation: `messages` or `traj` is a list
        msgs = obj["messages"] if isinstance(obj.get("messages"), list) else obj["traj"]
    b = ctx.session(sid, NAME)
    _conversation(b, msgs, ctx, [line] * len(msgs) if line is not None else [], status_of)
    return b


def _document(value: Any, ctx: ReadContext) -> Iterator[SessionBuilder]:
    stem = ctx.path.stem
    if isinstance(value, dict) and isinstance(value.get("answer_generation"), dict):
        stem = f"{ctx.path.parent.name}/{stem}"  # ToolBench: query ids repeat across G1/G2/G3 folders
    if isinstance(value, dict) and not _is_message(value):
        if not _is_conversation(value):
            ctx.skip(None, "unknown_record", f"object with keys {sorted(value)[:8]}")
            return
        b = _container(value, ctx, f"chat:{stem}#{_key(value, 0)}", None, "document")
        if b is not None:
            yield b
        return
    items = value if isinstance(value, list) else [value]
    if not items:
        return
    if not isinstance(items[0], dict) or "role" in items[0]:
        b = ctx.session(f"chat:{stem}#0", NAME)
        _conversation(b, items, ctx, [])
        yield b
        return
    seen: set[str] = set()
    for i, obj in enumerate(items):
        if not _is_conversation(obj):
            ctx.skip(None, "unknown_record", f"entry {i}: not a conversation")
            continue
        key = _key(obj, i)
        key = key if key not in seen else str(i)
        seen.add(key)
        b = _container(obj, ctx, f"chat:{stem}#{key}", None, f"entry {i}")
        if b is not None:
            yield b


def _jsonl(ctx: ReadContext) -> Iterator[SessionBuilder]:
    """One conversation per line, or one message per line (those lines form a single session)."""
    stem = ctx.path.stem
    msgs: list[Any] = []
    lines: list[int | None] = []
    first_msg_line: int | None = None
    seen: set[str] = set()
    for line, obj in iter_jsonl(ctx):
        if _is_conversation(obj):
            key = _key(obj, line - 1)
            key = key if key not in seen else str(line - 1)
            seen.add(key)
            b = _container(obj, ctx, f"chat:{stem}#{key}", line, f"line {line}")
            if b is not None:
                yield b
        elif isinstance(obj, dict) and "role" in obj:
            first_msg_line = line if first_msg_line is None else first_msg_line
            msgs.append(obj)
            lines.append(line)
        else:
            ctx.skip(line, "unknown_record", "neither a message nor a conversation")
    if msgs:
        b = ctx.session(f"chat:{stem}#{(first_msg_line or 1) - 1}", NAME)
        _conversation(b, msgs, ctx, lines)
        yield b


def _first_line(path: Path) -> tuple[bytes, bool]:
    """The first non-blank line, and whether anything but whitespace follows it."""
    with open(path, "rb") as fh:
        first = b""
        for raw in fh:
            if raw.strip():
                first = raw
                break
        for raw in fh:
            if raw.strip():
                return first, True
    return first, False


def read(path: Path, ctx: ReadContext) -> Iterator[SessionBuilder]:
    """JSONL (streamed) when the first line is a JSON value of its own and more follows; otherwise one
    JSON document. A broken document is a single skip; a JSONL file with a bad first line is JSONL."""
    first, more = _first_line(path)
    if not first:
        return
    try:
        value = parse_json_document(first)
        if more:
            yield from _jsonl(ctx)
            return
    except orjson.JSONDecodeError:
        data = path.read_bytes()
        try:
            value = parse_json_document(data)
        except orjson.JSONDecodeError as exc:
            opening = first.strip()
            if (opening.startswith(b"[") or opening == b"{") and not looks_like_jsonl(data):
                ctx.skip(exc.lineno, "not_json", str(exc))
            else:
                yield from _jsonl(ctx)
            return
    yield from _document(value, ctx)
