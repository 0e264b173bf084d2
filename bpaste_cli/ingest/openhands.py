"""OpenHands event histories: evaluation `output.jsonl` files and saved trajectories.

Inputs: a JSONL file with one evaluated instance per line (`instance_id`, `history`: the event list,
`metrics`), or a JSON document that is an event list (a saved trajectory) or one such instance. Older
outputs store `history` as [action, observation] pairs; they are flattened. Events carry `id`,
`timestamp` (naive ISO, read as UTC), `source` (user / agent / environment), `action` or `observation`,
`cause` (observation -> the id of its action), `args`, `tool_call_metadata` (function_name, tool_call_id,
model_response, total_calls_in_response) and `llm_metrics`; the oldest outputs have none of id, source,
cause or timestamp (such sessions are untimed).

How events become schema events:
- an agent action other than message / finish / think / reject and OpenHands bookkeeping (system, recall,
  change_agent_state, condensation) is a tool call: tool = `tool_call_metadata.function_name`, else the
  action (run, read, edit, write, browse, run_ipython, ...); args = the arguments the model wrote (found
  in `model_response` by tool_call_id), else the action's args without OpenHands' bookkeeping fields.
- an observation is the result of the action named by its `cause` (`error` when the observation is
  `error`/`user_rejected`, `success` is false or the exit code is not 0); without a cause (oldest format)
  it answers the oldest pending call of the same kind. An `error` observation answering nothing is a
  model response that OpenHands could not turn into an action: an LLM step without calls.
- LLM steps: tool calls sharing `model_response.id` are one step (parallel calls, run one after
  another by OpenHands); a call without a response id is a step of its own; an agent message, finish,
  think or reject is a step without calls (or joins its response's step). A step is emitted at its first
  action; `metrics.response_latencies` matched by response id give its real start (emission - latency),
  and `metrics.token_usages` (else `model_response.usage`) its tokens. Steps without a response id take
  the next unclaimed latency entry, in order (the entries are chronological).
- a message from the user is a user turn. Without a `source` (oldest format) a message before the first
  model step is the user's, later ones the agent's. Actions of the user or the environment other than
  messages (recall, state changes) and their observations hold no events.
Sessions: `openhands:<instance_id>#<line index>` (the file stem without an instance id); a JSON
document is `openhands:<stem>#0`. Events of one JSONL line share its `source_line`; events of a JSON
document have none.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import orjson

from bpaste_cli.ingest.base import (
    ReadContext,
    decode_arguments,
    iter_jsonl,
    looks_like_jsonl,
    parse_json_document,
    parse_time,
)
from bpaste_cli.trace import SessionBuilder

NAME = "openhands"
DESCRIPTION = (
    "OpenHands event histories: evaluation output.jsonl (one instance per line, with history and metrics) "
    "or a saved trajectory (a JSON list of events)."
)

_STEP_ACTIONS = frozenset({"finish", "think", "reject"})
_QUIET_ACTIONS = frozenset({"system", "recall", "change_agent_state", "condensation", "condensation_request", "null"})
_QUIET_OBSERVATIONS = frozenset({"agent_state_changed", "null", "recall", "condense", "think"})
_ERROR_OBSERVATIONS = frozenset({"error", "user_rejected"})
_EVENT_KEYS = frozenset(
    {"id", "timestamp", "source", "message", "action", "observation", "cause", "tool_call_metadata",
     "llm_metrics", "timeout", "args", "extras"}
)
_BOOKKEEPING_ARGS = frozenset(
    {"thought", "confirmation_state", "is_confirmed", "security_risk", "action_risk", "hidden", "impl_source",
     "keep_prompt", "kernel_init_code", "translated_ipython_code"}
)
_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")
_HISTORY = re.compile(rb'"history"\s*:\s*\[\s*\[?\s*\{')
_LIST = re.compile(rb'\s*\[\s*\[?\s*\{')
_CUT_SOURCE = re.compile(rb'"source"\s*:\s*"(?:agent|user|environment)"')
_CUT_KIND = re.compile(rb'"(?:action|observation)"\s*:\s*"[a-z_]{1,40}"')


def _is_event(obj: Any) -> bool:
    """An OpenHands event: exactly one of `action` / `observation`, naming a kind (not a chat message)."""
    if not isinstance(obj, dict) or "role" in obj:
        return False
    kinds = [obj[k] for k in ("action", "observation") if k in obj]
    return len(kinds) == 1 and isinstance(kinds[0], str) and _KIND.fullmatch(kinds[0]) is not None


def _first_event(head: bytes, start: int) -> bool:
    try:
        obj, _ = json.JSONDecoder().raw_decode(head[start:].decode("utf-8", "replace"))
    except ValueError:  # the first event is longer than the sniff window
        rest = head[start:]
        return _CUT_SOURCE.search(rest) is not None and _CUT_KIND.search(rest) is not None
    return _is_event(obj)


def sniff(head: bytes) -> bool:
    """A JSON list whose first item is an event, or a record whose `history` opens with an event."""
    text = head.lstrip()
    match = _LIST.match(text) if text.startswith(b"[") else _HISTORY.search(text) if text.startswith(b"{") else None
    return match is not None and _first_event(text, match.end() - 1)


def _key(value: Any) -> str | None:
    """Event ids are ints (strings in some exports); compare them as text."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return str(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _args(ev: dict[str, Any]) -> dict[str, Any]:
    """The action's parameters: `args`, or (oldest format) the event's own fields."""
    args = ev.get("args")
    if isinstance(args, dict):
        return args
    return {k: v for k, v in ev.items() if k not in _EVENT_KEYS}


def _model_arguments(response: dict[str, Any] | None, call_id: str | None) -> Any:
    """The arguments the model wrote for `call_id`, from the logged model response (None if absent)."""
    if response is None or call_id is None:
        return None
    choices = _list(response.get("choices"))
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    for call in calls if isinstance(calls, list) else ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and call.get("id") == call_id and "arguments" in fn:
            return decode_arguments(fn["arguments"])
    return None


def _status(ev: dict[str, Any], kind: str) -> str:
    extras = ev.get("extras")
    meta = extras.get("metadata") if isinstance(extras, dict) else None
    code = _int(meta.get("exit_code")) if isinstance(meta, dict) else _int(ev.get("exit_code"))
    failed = kind in _ERROR_OBSERVATIONS or ev.get("success") is False or code not in (None, 0)
    return "error" if failed else "ok"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _flatten(history: list[Any]) -> list[tuple[str, Any]]:
    """(label, event) in order; [action, observation] pairs are opened, their events labelled `i.j`."""
    events: list[tuple[str, Any]] = []
    for i, item in enumerate(history):
        if isinstance(item, list):
            events.extend((f"{i}.{j}", ev) for j, ev in enumerate(item))
        else:
            events.append((str(i), item))
    return events


class _History:
    """Turns one event list into one session, using the instance's `metrics` for latencies and tokens."""

    def __init__(self, ctx: ReadContext, b: SessionBuilder, metrics: Any, line: int | None) -> None:
        self.ctx, self.b, self.line = ctx, b, line
        metrics = metrics if isinstance(metrics, dict) else {}
        self.latencies = [
            r for r in _list(metrics.get("response_latencies"))
            if isinstance(r, dict) and isinstance(r.get("latency"), (int, float))
        ]
        self.lat_index = {r["response_id"]: i for i, r in enumerate(self.latencies) if _str(r.get("response_id"))}
        usages = [u for u in _list(metrics.get("token_usages")) if isinstance(u, dict)]
        self.usages = {u["response_id"]: u for u in usages if _str(u.get("response_id"))}
        self.claimed: set[str] = set()
        self.pos = 0  # latencies before this index are used
        self.cur_rid: str | None = None  # response id of the current step
        self.calls: dict[str, str] = {}  # action event id -> call id
        self.quiet: set[str] = set()  # ids of actions that hold no tool event
        self.fifo: list[tuple[str, str]] = []  # (action, call id) of id-less calls awaiting a result

    def skip(self, label: str, reason: str, detail: str) -> None:
        self.ctx.skip(self.line, reason, f"event #{label}: {detail}")

    def run(self, history: list[Any]) -> None:
        events = _flatten(history)
        for _, ev in events:
            rid = self._response(ev)[1] if isinstance(ev, dict) and "action" in ev else None
            if rid is not None:
                self.claimed.add(rid)
        for index, ev in events:
            if not isinstance(ev, dict):
                self.skip(index, "unknown_record", f"{type(ev).__name__}, not an object")
            elif isinstance(ev.get("action"), str) and "observation" not in ev:
                self.action(index, ev)
            elif isinstance(ev.get("observation"), str) and "action" not in ev:
                self.observation(index, ev)
            else:
                self.skip(index, "unknown_record", "neither an action nor an observation")

    @staticmethod
    def _response(ev: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None, dict[str, Any] | None]:
        """(tool_call_metadata, model response id, model response) of an event."""
        tcm = ev.get("tool_call_metadata")
        if not isinstance(tcm, dict):
            return None, None, None
        response = tcm.get("model_response")
        if not isinstance(response, dict):
            return tcm, None, None
        return tcm, _str(response.get("id")), response

    def step(self, t: float | None, rid: str | None, response: dict[str, Any] | None, text: str | None) -> None:
        entry = None
        if rid is not None and rid in self.lat_index:
            index = self.lat_index[rid]
            entry, self.pos = self.latencies[index], index + 1
        elif rid is None and self.pos < len(self.latencies):
            nxt = self.latencies[self.pos]
            if _str(nxt.get("response_id")) not in self.claimed:  # a response no action names: this one's
                entry, self.pos = nxt, self.pos + 1
        latency = entry["latency"] if entry is not None and entry["latency"] >= 0 else None
        usage = self.usages.get(rid) if rid is not None else None
        if usage is None and response is not None and isinstance(response.get("usage"), dict):
            usage = response["usage"]
        model = (entry or {}).get("model") or (usage or {}).get("model") or (response or {}).get("model")
        self.b.llm(
            t,
            t_start=t - latency if t is not None and latency is not None else None,
            line=self.line,
            model=model if isinstance(model, str) else None,
            tokens_in=_int((usage or {}).get("prompt_tokens")),
            tokens_out=_int((usage or {}).get("completion_tokens")),
            text=text,
        )
        self.cur_rid = rid

    def action(self, index: str, ev: dict[str, Any]) -> None:
        act, source, eid = ev["action"], ev.get("source"), _key(ev.get("id"))
        t = parse_time(ev.get("timestamp"))
        tcm, rid, response = self._response(ev)
        args = _args(ev)
        thought = _str(args.get("thought")) or None
        if act == "message":
            text = _str(args.get("content")) or _str(ev.get("message"))
            if source == "agent" or (source is None and self.b.n_steps > 0):
                self.step(t, rid, response, text)
            else:
                self.b.user(t, text, self.line)
                self.cur_rid = None
        elif source in ("user", "environment") or act in _QUIET_ACTIONS:
            pass
        elif act in _STEP_ACTIONS:
            text = thought or _str(args.get("final_thought")) or _str(ev.get("message"))
            if rid is not None and rid == self.cur_rid:
                self.b.amend_llm(text=text)
            else:
                self.step(t, rid, response, text)
        else:
            if rid is None or rid != self.cur_rid:
                self.step(t, rid, response, thought or _str(ev.get("message")) or None)
            tool = _str((tcm or {}).get("function_name")) or act
            tool_call_id = _str((tcm or {}).get("tool_call_id"))
            call_args = _model_arguments(response, tool_call_id)
            if call_args is None:
                call_args = {k: v for k, v in args.items() if k not in _BOOKKEEPING_ARGS}
            call_id = self.b.tool_call(tool_call_id, tool, call_args, t, self.line)
            if eid is not None:
                self.calls[eid] = call_id
            else:
                self.fifo.append((act, call_id))
            return
        if eid is not None:
            self.quiet.add(eid)

    def observation(self, index: str, ev: dict[str, Any]) -> None:
        kind, cause = ev["observation"], _key(ev.get("cause"))
        t = parse_time(ev.get("timestamp"))
        content = _str(ev.get("content"))
        result = content if content is not None else _str(ev.get("message"))
        if cause is not None:
            call_id = self.calls.get(cause)
            if call_id is None:
                if cause not in self.quiet:
                    self.skip(index, "result_without_call", f"cause={cause}")
                return
        else:
            pending = [i for i, (act, _) in enumerate(self.fifo) if act == kind]
            if pending or (self.fifo and kind in _ERROR_OBSERVATIONS):
                call_id = self.fifo.pop(pending[0] if pending else 0)[1]
            elif kind == "error":
                self.step(t, None, None, result)
                return
            elif kind in _QUIET_OBSERVATIONS:
                return
            else:
                self.skip(index, "result_without_call", f"observation={kind}")
                return
        reason = self.b.tool_result(call_id, t, result, status=_status(ev, kind))
        if reason:
            self.skip(index, reason, call_id)


def _session(ctx: ReadContext, name: str, history: list[Any], metrics: Any, line: int | None) -> SessionBuilder:
    b = ctx.session(f"openhands:{name}", NAME)
    _History(ctx, b, metrics, line).run(history)
    return b


def _instance(ctx: ReadContext, obj: Any, line: int | None, index: int) -> SessionBuilder | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("history"), list):
        ctx.skip(line, "missing_field", "history")
        return None
    iid = _key(obj.get("instance_id"))
    return _session(ctx, f"{iid or ctx.path.stem}#{index}", obj["history"], obj.get("metrics"), line)


def read(path: Path, ctx: ReadContext) -> Iterator[SessionBuilder]:
    with open(path, "rb") as fh:
        first, second, *_ = fh.read(4096).lstrip().split(b"\n", 2) + [b"", b""]
    pretty = first.strip() == b"{" and second.lstrip()[:1] in (b'"', b"}")  # an indented JSON object
    data, jsonl = None, not (first.startswith(b"[") or pretty)  # JSONL: one instance per line
    if not jsonl:
        raw = path.read_bytes()
        try:
            data = parse_json_document(raw)
        except orjson.JSONDecodeError as exc:
            # not one document: JSONL whose first line is damaged is read line by line; anything
            # else is one unreadable document
            jsonl = looks_like_jsonl(raw)
            if not jsonl:
                ctx.skip(exc.lineno, "not_json", str(exc))
                return
    if jsonl:
        for line, obj in iter_jsonl(ctx):
            b = _instance(ctx, obj, line, line - 1)
            if b is not None:
                yield b
        return
    if isinstance(data, list):
        yield _session(ctx, f"{path.stem}#0", data, None, None)
    elif data is not None:
        b = _instance(ctx, data, None, 0)
        if b is not None:
            yield b
