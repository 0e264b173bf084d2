"""Reader for OTLP/JSON trace spans carrying OpenTelemetry GenAI or OpenInference attributes.

Input: the OTLP/JSON encoding (hex ids, int64 as strings, integer enums) as the OpenTelemetry Collector's
file exporter writes it, one ExportTraceServiceRequest per line; a whole-file request (pretty-printed) or
a JSON array of requests is read too. Spans are grouped into sessions by `gen_ai.conversation.id` /
`session.id` (inherited from ancestor spans), else by trace. An LLM span (`gen_ai.operation.name` chat /
text_completion / generate_content, or OpenInference kind LLM) is one model step from its start to its
end; a tool span (execute_tool, or kind TOOL) is one call from its start to its end, emitted by the latest
step that ended at or before it started. Tool calls that a step's output declares (`gen_ai.output.messages`
or OpenInference `llm.output_messages.*`) but no tool span records are emitted at the step's end, and get
their result from a later step's input messages (at that step's start). Other spans (HTTP, agent
wrappers, a span directly under a span of the same kind, which repeats it) are not events: ignored.
Event spans that run inside a tool span (a sub-agent invoked as a tool, or a tool that calls a model)
form a child session `<parent>/agent-<tool span id>` linked to that call, as Claude Code's sub-agents are.
"""

from __future__ import annotations

import marshal
import math
import re
import tempfile
import zlib
from array import array
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import orjson

from bpaste_cli.ingest.base import ReadContext, decode_arguments, iter_jsonl, looks_like_jsonl, parse_json_document
from bpaste_cli.trace import SessionBuilder

NAME = "otlp"
DESCRIPTION = (
    "OTLP/JSON spans with OpenTelemetry GenAI or OpenInference attributes, as the OpenTelemetry Collector's "
    "file exporter writes them (one ExportTraceServiceRequest per line, e.g. traces.jsonl)."
)

LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
CONVERSATION_KEYS = ("gen_ai.conversation.id", "session.id")
_OI_CALL = re.compile(r"llm\.output_messages\.(\d+)\.message\.tool_calls\.(\d+)\.tool_call\.(id|function\.name|function\.arguments)")
_OI_INPUT = re.compile(r"llm\.input_messages\.(\d+)\.message\.(role|tool_call_id|content)")
_PACK_LIMIT = 1024  # packed span attributes longer than this are compressed (shorter ones gain little)
_OI_TEXT = re.compile(r"llm\.output_messages\.(\d+)\.message\.(content)")


def sniff(head: bytes) -> bool:
    """A request object (or an array of them) whose first key is resourceSpans."""
    text = head.lstrip()
    if text.startswith(b"["):
        text = text[1:].lstrip()
    return text.startswith(b"{") and text[1:].lstrip().startswith(b'"resourceSpans"')


# -- attribute values ----------------------------------------------------------------------------


def any_value(v: Any) -> Any:
    """An OTLP AnyValue as a plain value (None when it is not a well-formed AnyValue)."""
    if not isinstance(v, dict):
        return None
    if "stringValue" in v:
        s = v["stringValue"]
        return s if isinstance(s, str) else None
    if "intValue" in v:
        return _int(v["intValue"])
    if "doubleValue" in v:
        d = v["doubleValue"]
        return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else None
    if "boolValue" in v:
        return v["boolValue"] if isinstance(v["boolValue"], bool) else None
    for key in ("arrayValue", "kvlistValue"):
        if key in v:
            inner = v[key]
            values = inner.get("values") if isinstance(inner, dict) else None
            if not isinstance(values, list):
                return [] if key == "arrayValue" else {}
            if key == "arrayValue":
                return [any_value(x) for x in values]
            return {kv["key"]: any_value(kv.get("value")) for kv in values if isinstance(kv, dict) and isinstance(kv.get("key"), str)}
    return None  # bytesValue, or not an AnyValue


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


class _Attrs:
    """An event span's attribute values by key, decoded from AnyValue once.

    A file's spans are all read before its sessions are built, so each span's values are packed
    (`pack`: marshal keeps every value exact, zlib shrinks the texts several times) into an `_AttrStore`
    and `_build` unpacks them for the moment it needs them."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    @classmethod
    def decode(cls, raw: dict[str, Any]) -> _Attrs:
        return cls({k: any_value(v) for k, v in raw.items()})

    def pack(self) -> bytes:
        data = marshal.dumps(self.values)
        return b"z" + zlib.compress(data, 1) if len(data) > _PACK_LIMIT else b"m" + data

    @classmethod
    def unpack(cls, packed: bytes) -> _Attrs:
        data = packed[1:]
        return cls(marshal.loads(zlib.decompress(data) if packed[:1] == b"z" else data))

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def first_str(self, *keys: str) -> str | None:
        for key in keys:
            v = self.values.get(key)
            if isinstance(v, str) and v:
                return v
        return None

    def first_int(self, *keys: str) -> int | None:
        for key in keys:
            v = _int(self.values.get(key))
            if v is not None:
                return v
        return None


class _AttrStore:
    """Packed span attributes in an anonymous temporary file, each found again by its offset.

    The attributes are nearly all of a file's bytes: kept in memory until the sessions are built, they
    made memory grow with the file; on disk, memory holds only what orders and groups the spans."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()
        self._size = 0

    def __enter__(self) -> _AttrStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def put(self, attrs: _Attrs) -> int:
        """Store `attrs`; returns the offset that `get` finds them at (the record is its size, then it)."""
        data = attrs.pack()
        offset = self._size
        self._file.write(len(data).to_bytes(4, "little") + data)
        self._size += 4 + len(data)
        return offset

    def get(self, offset: int) -> _Attrs:
        self._file.seek(offset)
        size = int.from_bytes(self._file.read(4), "little")
        return _Attrs.unpack(self._file.read(size))


def _raw_attrs(attributes: Any) -> dict[str, Any]:
    """Attribute key -> AnyValue (a later duplicate key wins)."""
    if not isinstance(attributes, list):
        return {}
    return {kv["key"]: kv.get("value") for kv in attributes if isinstance(kv, dict) and isinstance(kv.get("key"), str)}


def _raw_str(raw: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        v = raw.get(key)
        s = v.get("stringValue") if isinstance(v, dict) else None
        if isinstance(s, str) and s:
            return s
    return None


def span_kind(raw: dict[str, Any]) -> str | None:
    """"llm", "tool" or None (not an event) from the GenAI operation name or the OpenInference span kind."""
    op = _raw_str(raw, "gen_ai.operation.name")
    if op in LLM_OPERATIONS:
        return "llm"
    if op == "execute_tool":
        return "tool"
    oi = _raw_str(raw, "openinference.span.kind")
    oi = oi.upper() if oi else None
    return "llm" if oi == "LLM" else "tool" if oi == "TOOL" else None


# -- reading spans -------------------------------------------------------------------------------

KINDS = (None, "llm", "tool")  # a span's kind, by the code `_SpanTable.kind` holds
LLM, TOOL = 1, 2


class _SpanTable:
    """A file's spans as columns, one row per span in file order: numbers in arrays, each distinct
    string (trace and parent ids, names, conversations, tools) once in `strings`, indexed.

    Sessions are built only once every span is read (a parent, a conversation id or a host tool call may
    come later in the file), so a row must stay small: about 60 bytes of numbers and its span id, where an
    object per span with its tuples and floats took several times that. Rows that share a trace and a
    span id share an identity (`ident`, the first such row); a parent is the last row with its id."""

    def __init__(self) -> None:
        self.strings: list[str | None] = [None]  # index 0 is None (no such string)
        self._index: dict[str | None, int] = {None: 0}
        self.line = array("q")  # -1: none (a whole-file document)
        self.trace = array("i")
        self.kind = bytearray()
        self.conv = array("i")  # its own conversation / session id
        self.name = array("i")  # an event span's name, for the skip messages ("" for other spans)
        self.tool = array("i")  # a tool span's tool name
        self.attrs = array("q")  # where `_AttrStore.put` stored an event span's attributes
        self.start = array("d")  # NaN: none
        self.end = array("d")
        self.failed = bytearray()
        self.ident = array("i")  # -1: no span id
        self.span_ids: list[str | None] = []
        self.parent = array("i")  # -1: none; filled by `link`
        self._parent_ids = array("i")
        self._rows: dict[int, dict[str, int]] = {}  # trace -> span id -> its last row, until `link`

    def __len__(self) -> int:
        return len(self.kind)

    def intern(self, value: str | None) -> int:
        index = self._index.get(value)
        if index is None:
            index = self._index[value] = len(self.strings)
            self.strings.append(value)
        return index

    def add(self, line: int | None, trace: str | None, span_id: str | None, parent: str | None, kind: int,
            conv: str | None, name: str = "", tool: str | None = None, attrs: int = -1,
            start: float | None = None, end: float | None = None, failed: bool = False) -> None:
        row = len(self.kind)
        self.line.append(-1 if line is None else line)
        trace_index = self.intern(trace)
        self.trace.append(trace_index)
        self.kind.append(kind)
        self.conv.append(self.intern(conv))
        self.name.append(self.intern(name))
        self.tool.append(self.intern(tool))
        self.attrs.append(attrs)
        self.start.append(math.nan if start is None else start)
        self.end.append(math.nan if end is None else end)
        self.failed.append(failed)
        self.span_ids.append(span_id)
        self._parent_ids.append(self.intern(parent))
        if span_id is None:
            self.ident.append(-1)
            return
        rows = self._rows.setdefault(trace_index, {})
        last = rows.get(span_id)
        self.ident.append(row if last is None else self.ident[last])
        rows[span_id] = row

    def link(self) -> None:
        """Resolve each row's parent (once every span is read) and drop the lookup by span id."""
        for trace, parent_id in zip(self.trace, self._parent_ids):
            rows = self._rows.get(trace)
            self.parent.append(rows.get(self.strings[parent_id], -1) if parent_id and rows else -1)
        self._parent_ids, self._rows = array("i"), {}

    def text(self, column: array, row: int) -> str | None:
        return self.strings[column[row]]

    def line_of(self, row: int) -> int | None:
        line = self.line[row]
        return None if line < 0 else line


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _requests(ctx: ReadContext) -> Iterator[tuple[int | None, Any]]:
    """(line, request) pairs: JSONL, or one whole-file document when the first line is not JSON by itself
    (unless the file fails as a document and looks like JSONL with a damaged first line)."""
    with open(ctx.path, "rb") as fh:
        first = next((raw.strip() for raw in fh if raw.strip()), b"")
    if not first:
        return
    try:
        parse_json_document(first)  # invalid UTF-8 is replaced, as in every line of JSONL
    except orjson.JSONDecodeError:
        data = ctx.path.read_bytes()
        try:
            yield None, parse_json_document(data)
            return
        except orjson.JSONDecodeError as exc:
            if first in (b"{", b"[") and not looks_like_jsonl(data):  # one damaged pretty-printed document
                ctx.skip(exc.lineno, "not_json", str(exc))
                return
            # else JSONL whose first line is broken: that line is skipped below
    yield from iter_jsonl(ctx)


def _spans(ctx: ReadContext, store: _AttrStore) -> _SpanTable:
    """Every span of the file in a `_SpanTable` (event spans' attributes in `store`), linked."""
    table = _SpanTable()
    for line, obj in _requests(ctx):
        for request in obj if isinstance(obj, list) else (obj,):
            resource_spans = request.get("resourceSpans") if isinstance(request, dict) else None
            if not isinstance(resource_spans, list):
                ctx.skip(line, "unknown_record", "not an ExportTraceServiceRequest (no resourceSpans list)")
                continue
            found = False
            for rs in resource_spans:
                scopes = (rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans")) if isinstance(rs, dict) else None
                for ss in scopes if isinstance(scopes, list) else ():
                    spans = ss.get("spans") if isinstance(ss, dict) else None
                    for span in spans if isinstance(spans, list) else ():
                        found = True
                        if not isinstance(span, dict):
                            ctx.skip(line, "unknown_record", "span is not an object")
                            continue
                        raw = _raw_attrs(span.get("attributes"))
                        kind = span_kind(raw)
                        ids = line, _id(span.get("traceId")), _id(span.get("spanId")), _id(span.get("parentSpanId"))
                        conv = _raw_str(raw, *CONVERSATION_KEYS)
                        if kind is None:
                            table.add(*ids, 0, conv)
                            continue
                        name = span.get("name") if isinstance(span.get("name"), str) else ""
                        status = span.get("status")
                        code = status.get("code") if isinstance(status, dict) else None
                        failed = code in (2, "STATUS_CODE_ERROR") or "error.type" in raw
                        start, end = _time(span.get("startTimeUnixNano")), _time(span.get("endTimeUnixNano"))
                        attrs = _Attrs.decode(raw)
                        tool = _tool_name(attrs, name) if kind == "tool" else None
                        table.add(*ids, KINDS.index(kind), conv, name, tool, store.put(attrs), start, end, failed)
            if not found:
                ctx.skip(line, "missing_field", "spans (the request holds none)")
    table.link()
    return table


def _time(value: Any) -> float | None:
    ns = _int(value)
    return ns / 1e9 if ns is not None and ns > 0 else None


def read(path: Path, ctx: ReadContext) -> Iterator[SessionBuilder]:
    with _AttrStore() as store:
        yield from _sessions(ctx, store)


def _sessions(ctx: ReadContext, store: _AttrStore) -> Iterator[SessionBuilder]:
    """The file's sessions: every span is read (and grouped) first, then each session is built in turn."""
    t = _spans(ctx, store)
    trace_conv: dict[int, int] = {}  # trace -> the one conversation its spans name (0 when they name several)
    for trace, conv in zip(t.trace, t.conv):
        if conv and trace_conv.setdefault(trace, conv) != conv:
            trace_conv[trace] = 0
    memo = array("i", [-1]) * len(t)  # by identity: the conversation found for the span (-1: not looked up)
    seen = bytearray(len(t))  # by identity: an event span with that trace and span id came already
    sessions: dict[str, array] = {}  # session id -> its rows
    hosts: dict[str, tuple[str, int]] = {}  # sub-agent session -> (parent session, its host tool span's identity)
    for row in range(len(t)):
        kind = t.kind[row]
        if not kind:
            continue
        parent = t.parent[row]
        if parent >= 0 and t.kind[parent] == kind:
            continue  # repeats its parent (e.g. a provider-level LLM span under a framework's LLM span)
        label = f"{KINDS[kind]} span {t.text(t.name, row)!r}"
        ident = t.ident[row]
        if ident >= 0:
            if seen[ident]:
                ctx.skip(t.line_of(row), "duplicate_span", f"{label} {t.span_ids[row]}")
                continue
            seen[ident] = 1
        start, end = t.start[row], t.end[row]
        if math.isnan(start) or math.isnan(end):
            ctx.skip(t.line_of(row), "missing_field", f"{'startTimeUnixNano' if math.isnan(start) else 'endTimeUnixNano'} ({label})")
            continue
        if end < start:
            ctx.skip(t.line_of(row), "bad_time", f"ends before it starts ({label})")
            continue
        chain = _hosts(t, row)  # the tool calls this span runs inside, outermost first
        root = chain[0] if chain else row
        conv = _conversation(t, root, memo) or trace_conv.get(t.trace[root], 0)
        key = t.strings[conv] if conv else t.text(t.trace, root)
        if key is None:
            ctx.skip(t.line_of(row), "missing_field", f"traceId ({label})")
            continue
        if kind == TOOL and not t.tool[row]:
            ctx.skip(t.line_of(row), "missing_field", f"tool name ({label})")
            continue
        sid = f"otlp:{key}" + "".join(f"/agent-{t.span_ids[h]}" for h in chain)
        if chain:
            hosts[sid] = (sid.rsplit("/agent-", 1)[0], t.ident[chain[-1]])
        sessions.setdefault(sid, array("i")).append(row)
    hosted = {ident for _, ident in hosts.values()}
    call_of: dict[int, str] = {}  # identity of a tool span that hosts a sub-agent -> its call id
    order = {sid: i for i, sid in enumerate(sessions)}
    for sid in sorted(sessions, key=lambda k: (k.count("/agent-"), order[k])):  # parents first
        # a step at its end, a call at its start; at one moment steps first, then in file order
        rows = sorted(sessions.pop(sid), key=lambda r: (t.end[r] if t.kind[r] == LLM else t.start[r], t.kind[r] != LLM, r))
        parent_sid, host = hosts.get(sid, (None, -1))
        b = ctx.session(sid, NAME, parent_session_id=parent_sid)
        call_of.update(_build(b, rows, t, store, hosted))
        b.parent_call_id = call_of.get(host)
        yield b


def _host(t: _SpanTable, row: int) -> int:
    """The tool span `row` runs inside (-1: none): a sub-agent's steps and calls run inside its parent's call."""
    cur = t.parent[row]
    for _ in range(256):
        if cur < 0 or t.kind[cur] == TOOL:
            return cur
        cur = t.parent[cur]
    return -1


def _hosts(t: _SpanTable, row: int) -> list[int]:
    """The tool spans `row` runs inside, outermost first (one per level of sub-agent)."""
    out: list[int] = []
    cur = _host(t, row)
    while cur >= 0 and len(out) < 64:
        out.append(cur)
        cur = _host(t, cur)
    return out[::-1]


def _conversation(t: _SpanTable, row: int, memo: array) -> int:
    """The span's conversation id (its index in `t.strings`), or the nearest ancestor's (instrumentations
    often set it on the root only)."""
    chain: list[int] = []
    cur = row
    conv = 0
    while cur >= 0 and len(chain) < 256:
        ident = t.ident[cur]
        if ident >= 0 and memo[ident] >= 0:
            conv = memo[ident]
            break
        chain.append(ident)
        conv = t.conv[cur]
        if conv:
            break
        cur = t.parent[cur]
    for ident in chain:
        if ident >= 0:
            memo[ident] = conv
    return conv


# -- one session ---------------------------------------------------------------------------------


def _tool_name(attrs: _Attrs, span_name: str) -> str | None:
    name = attrs.first_str("gen_ai.tool.name", "tool.name")
    if name:
        return name
    fallback = span_name.removeprefix("execute_tool").strip()
    return fallback or None


def _json_list(value: Any) -> list:
    """Messages recorded as a JSON string (span attributes) or as a structured array."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return []
    return value if isinstance(value, list) else []


def _parts(attrs: _Attrs, key: str) -> Iterator[dict]:
    for message in _json_list(attrs.get(key)):
        parts = message.get("parts") if isinstance(message, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict):
                yield part


def _oi_indexed(attrs: _Attrs, pattern: re.Pattern, prefix: str) -> dict[tuple, dict[str, Any]]:
    """OpenInference flattened list attributes (prefix.<i>...<field>) grouped by their indexes."""
    out: dict[tuple, dict[str, Any]] = defaultdict(dict)
    for key in attrs.values:
        if key.startswith(prefix):
            m = pattern.fullmatch(key)
            if m:
                *idx, field = m.groups()
                out[tuple(int(i) for i in idx)][field] = attrs.values[key]
    return out


def _output(attrs: _Attrs) -> tuple[list[dict[str, Any]], str | None]:
    """A step's output: the tool calls it declares ([{id, name, args}] in order) and its text."""
    calls, texts = [], []
    for part in _parts(attrs, "gen_ai.output.messages"):
        kind = part.get("type")
        if kind == "tool_call" and isinstance(part.get("name"), str) and part["name"]:
            calls.append({"id": _id(part.get("id")), "name": part["name"], "args": decode_arguments(part.get("arguments"))})
        elif kind == "text" and isinstance(part.get("content"), str):
            texts.append(part["content"])
    for _, f in sorted(_oi_indexed(attrs, _OI_CALL, "llm.output_messages.").items()):
        name = f.get("function.name")
        if isinstance(name, str) and name:
            calls.append({"id": _id(f.get("id")), "name": name, "args": decode_arguments(f.get("function.arguments"))})
    for _, f in sorted(_oi_indexed(attrs, _OI_TEXT, "llm.output_messages.").items()):
        if isinstance(f.get("content"), str):
            texts.append(f["content"])
    return calls, "\n".join(texts) or None


def _tool_responses(attrs: _Attrs) -> dict[str, Any]:
    """Tool results a step's input messages carry, by call id."""
    out: dict[str, Any] = {}
    for part in _parts(attrs, "gen_ai.input.messages"):
        if part.get("type") == "tool_call_response" and _id(part.get("id")):
            out[part["id"]] = part.get("response")
    for f in _oi_indexed(attrs, _OI_INPUT, "llm.input_messages.").values():
        if f.get("role") == "tool" and _id(f.get("tool_call_id")):
            out[f["tool_call_id"]] = f.get("content")
    return out


def _build(b: SessionBuilder, rows: list[int], t: _SpanTable, store: _AttrStore, hosted: set[int]) -> dict[int, str]:
    """Fill `b` from its spans' rows in time order; returns the call id of each of its tool spans whose
    identity is in `hosted` (a sub-agent links to it)."""
    call_of: dict[int, str] = {}
    pending: list[dict[str, Any]] = []  # calls the current step declared that no tool span has recorded yet
    waiting: dict[str, str] = {}  # declared call id -> builder call id, result still to come
    last_end: float | None = None
    last_line: int | None = None

    def flush() -> None:
        for call in pending:
            cid = b.tool_call(call["id"], call["name"], call["args"], last_end, last_line)
            if call["id"] is not None:
                waiting[call["id"]] = cid
        pending.clear()

    for row in rows:
        a = store.get(t.attrs[row])
        start, end, line = t.start[row], t.end[row], t.line_of(row)
        if t.kind[row] == LLM:
            flush()
            if waiting:
                for call_id, response in _tool_responses(a).items():
                    if call_id in waiting:
                        b.tool_result(waiting.pop(call_id), start, response)
            calls, text = _output(a)
            b.llm(
                end,
                t_start=start,
                line=line,
                model=a.first_str("gen_ai.response.model", "gen_ai.request.model", "llm.model_name"),
                tokens_in=a.first_int("gen_ai.usage.input_tokens", "llm.token_count.prompt"),
                tokens_out=a.first_int("gen_ai.usage.output_tokens", "llm.token_count.completion"),
                text=text,
            )
            pending.extend(calls)
            last_end, last_line = end, line
            continue
        name = t.text(t.tool, row)
        call_id = a.first_str("gen_ai.tool.call.id", "tool_call.id", "tool.id")
        match = next((c for c in pending if call_id is not None and c["id"] == call_id), None)
        match = match or next((c for c in pending if c["name"] == name), None)
        if match is not None:
            pending.remove(match)
        raw_args = a.get("gen_ai.tool.call.arguments")
        if raw_args is None:
            raw_args = a.get("input.value")
        if raw_args is None:
            raw_args = a.get("tool_call.function.arguments")
        args = decode_arguments(raw_args) if raw_args is not None else (match["args"] if match else {})
        result = a.get("gen_ai.tool.call.result")
        if result is None:
            result = a.get("output.value")
        cid = b.tool_call(call_id or (match["id"] if match else None), name, args, start, line)
        b.tool_result(cid, end, result, status="error" if t.failed[row] else "ok")
        if t.ident[row] in hosted:
            call_of[t.ident[row]] = cid
    flush()
    return call_of
