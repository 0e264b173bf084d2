"""OTLP/JSON traces with OpenTelemetry GenAI attributes, hand-encoded (no OpenTelemetry at run time).

One file, `traces.jsonl`, with one ExportTraceServiceRequest per session per line, as the OpenTelemetry
Collector's file exporter writes them. Each user turn is an `invoke_agent`
span (its start is the user's message, carried in `gen_ai.input.messages`); under it, one `chat`
span per model step (start: inputs complete, end: output emitted; model, token usage, the emitted
tool calls in `gen_ai.output.messages`) and one `execute_tool` span per call (start: emission, end:
result; `gen_ai.tool.call.id`, arguments and result; status ERROR for a failed call). Per the
OTLP/JSON mapping: trace and span ids are lowercase hex, int64 values (times, token counts) strings,
enums integers. All spans of a session share `gen_ai.conversation.id` and one trace id.
"""

from __future__ import annotations

import orjson

from bpaste_cli.synth.model import Session, Step, Turn
from bpaste_cli.synth.ids import Ids
from bpaste_cli.synth.writers.common import OneFileWriter

NAME = "otlp"
KIND_INTERNAL, KIND_CLIENT = 1, 3
STATUS_ERROR = 2


def _attr(key: str, value: object) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
    return {"key": key, "value": {"stringValue": value}}


def _ns(ms: int) -> str:
    return str(ms * 1_000_000)


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


FILE = "traces.jsonl"


class Writer(OneFileWriter):
    FILE = FILE

    def add(self, s: Session) -> None:
        ids = Ids(s.session_id, NAME)
        trace = ids.rng.getrandbits(128).to_bytes(16, "big").hex()
        conv = _attr("gen_ai.conversation.id", s.session_id)
        spans: list[dict] = []

        def span(name: str, kind: int, start: int, end: int, parent: str | None, attrs: list[dict], status: dict | None = None) -> str:
            sid = ids.rng.getrandbits(64).to_bytes(8, "big").hex()
            spans.append({"traceId": trace, "spanId": sid, **({"parentSpanId": parent} if parent else {}), "name": name,
                          "kind": kind, "startTimeUnixNano": _ns(start), "endTimeUnixNano": _ns(end),
                          "attributes": attrs, "status": status or {}})
            return sid

        turns: list[tuple[Turn, list[Step]]] = []
        for it in s.items:
            if isinstance(it, Turn):
                turns.append((it, []))
            else:
                turns[-1][1].append(it)
        agent = f"{s.archetype}-agent"
        for turn, steps in turns:
            end = max([turn.t] + [st.t_emit for st in steps] + [c.t_result for st in steps for c in st.calls])
            root = span(f"invoke_agent {agent}", KIND_INTERNAL, turn.t, end, None, [
                _attr("gen_ai.operation.name", "invoke_agent"), _attr("gen_ai.agent.name", agent), conv,
                _attr("gen_ai.input.messages", _json([{"role": "user", "parts": [{"type": "text", "content": turn.text}]}]))])
            for st in steps:
                parts = ([{"type": "text", "content": st.text}] if st.text else []) + [
                    {"type": "tool_call", "id": f"call_{c.token}", "name": c.tool, "arguments": c.args} for c in st.calls]
                finish = "tool_call" if st.calls else "stop"
                span(f"chat {s.model}", KIND_CLIENT, st.t_start, st.t_emit, root, [
                    _attr("gen_ai.operation.name", "chat"), _attr("gen_ai.provider.name", "anthropic"),
                    _attr("gen_ai.request.model", s.model), _attr("gen_ai.response.model", s.model),
                    _attr("gen_ai.response.id", "resp_" + ids.token(20)), _attr("gen_ai.response.finish_reasons", [finish]),
                    _attr("gen_ai.usage.input_tokens", st.tokens_in), _attr("gen_ai.usage.output_tokens", st.tokens_out), conv,
                    _attr("gen_ai.output.messages", _json([{"role": "assistant", "parts": parts, "finish_reason": finish}]))])
                for c in st.calls:
                    attrs = [_attr("gen_ai.operation.name", "execute_tool"), _attr("gen_ai.tool.name", c.tool),
                             _attr("gen_ai.tool.type", "function"), _attr("gen_ai.tool.call.id", f"call_{c.token}"),
                             _attr("gen_ai.tool.call.arguments", _json(c.args)), _attr("gen_ai.tool.call.result", c.result), conv]
                    status = None
                    if c.status == "error":
                        attrs.append(_attr("error.type", "tool_error"))
                        status = {"code": STATUS_ERROR, "message": c.result[:200]}
                    span(f"execute_tool {c.tool}", KIND_INTERNAL, c.t_emit, c.t_result, root, attrs, status)
        doc = {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", agent)]},
                                  "scopeSpans": [{"scope": {"name": "bpaste.synth"}, "spans": spans}]}]}
        self.append([orjson.dumps(doc)])
