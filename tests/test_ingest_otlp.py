"""OTLP/JSON spans reader (GenAI and OpenInference conventions).

There are no real OTLP agent traces in ../shared/traces, so every input here is made by the real
OpenTelemetry Python SDK: synthetic agent sessions (invented content) are created as spans with a
TracerProvider, with explicit start/end times so that think windows and latencies can be computed by
hand, encoded by the SDK's own OTLP encoder (`encode_spans`) and written in the OTLP/JSON encoding the
Collector's file exporter writes (hex ids, int64 as strings, integer enums; see tests/otlp_support.py),
then ingested. The real logs are used to check that detection claims none of the other formats' files.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind

from bpaste_cli.ingest import detect_format, otlp
from bpaste_cli.ingest.base import ReadContext, SkipReport
from bpaste_cli.trace.builder import Limits
from otlp_support import BASE_NS, Spans, ns, otlp_json, trace_hex, write_jsonl

T0 = BASE_NS / 1e9


def _events(ds, session_id: str) -> list[dict]:
    return ds.events.filter(pl.col("session_id") == session_id).sort("seq").to_dicts()


def _genai_session() -> tuple[Spans, dict]:
    """One GenAI-convention session: chat -> 2 parallel execute_tool spans (one with an HTTP child) -> chat."""
    sp = Spans()
    root = sp.start("invoke_agent trip_planner", 0, {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "trip_planner",
        "gen_ai.conversation.id": "conv-trip-1",  # on the root only: children inherit it
    })
    out = [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "tool_call", "id": "call_w", "name": "get_weather", "arguments": {"city": "Lisbon"}},
        {"type": "tool_call", "id": "call_t", "name": "local_time", "arguments": {"city": "Lisbon"}},
    ]}]
    sp.span("chat model-x", 100, 1600, {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "model-x", "gen_ai.response.model": "model-x-0601",
        "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30, "gen_ai.output.messages": json.dumps(out),
    }, root, kind=SpanKind.CLIENT)
    weather = sp.start("execute_tool get_weather", 1700, {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": "call_w",
        "gen_ai.tool.call.arguments": '{"city": "Lisbon"}', "gen_ai.tool.call.result": '{"sky": "sunny", "temp_c": 21}',
    }, root)
    sp.span("GET", 1800, 2400, {"http.request.method": "GET", "url.full": "https://weather.invalid/v1?city=Lisbon"},
            weather, kind=SpanKind.CLIENT)
    weather.end(end_time=ns(2500))
    sp.span("execute_tool local_time", 1750, 1950, {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "local_time", "gen_ai.tool.call.id": "call_t",
        "gen_ai.tool.call.arguments": '{"city": "Lisbon"}', "gen_ai.tool.call.result": "14:05",
    }, root)
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": "Sunny, 21 C, 14:05 in Lisbon."}]}]
    sp.span("chat model-x", 2600, 3400, {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "model-x", "gen_ai.output.messages": json.dumps(answer),
    }, root, kind=SpanKind.CLIENT)
    root.end(end_time=ns(3500))
    return sp, otlp_json(sp.finished())


def test_encoding_is_otlp_json(tmp_path):
    """The support code writes what the OTLP/JSON spec asks: hex ids, string int64s, integer enums."""
    _, request = _genai_session()
    spans = [s for rs in request["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert len(spans) == 6
    assert all(len(s["traceId"]) == 32 and len(s["spanId"]) == 16 for s in spans)
    assert all(int(s["traceId"], 16) and int(s["spanId"], 16) for s in spans)
    assert sum(s["parentSpanId"] == "" for s in spans) == 1
    assert all(isinstance(s["startTimeUnixNano"], str) and isinstance(s["kind"], int) for s in spans)
    tokens = [kv["value"] for s in spans for kv in s.get("attributes", []) if kv["key"] == "gen_ai.usage.input_tokens"]
    assert tokens == [{"intValue": "120"}]


def test_genai_session_parallel_batch_and_timings(tmp_path, ingest_paths):
    _, request = _genai_session()
    path = write_jsonl(tmp_path / "traces.jsonl", [request])
    assert detect_format(path) is otlp
    result, ds = ingest_paths([path])
    assert (result.sessions, result.tool_calls, result.llm_steps, result.report.total) == (1, 2, 2, 0)
    ev = _events(ds, "otlp:conv-trip-1")
    assert [(e["kind"], e["step"], e["tool"]) for e in ev] == [
        ("llm", 0, None), ("tool", 0, "get_weather"), ("tool", 0, "local_time"), ("llm", 1, None)]
    llm0, weather, clock, llm1 = ev
    # session start = first chat span start (100 ms); the invoke_agent root and the HTTP span are not events
    # chat 1: 100..1600 ms -> think window 0.0..1.5 s
    assert (llm0["t_start"], llm0["t_end"]) == pytest.approx((0.0, 1.5), abs=1e-6)
    assert (llm0["model"], llm0["tokens_in"], llm0["tokens_out"]) == ("model-x-0601", 120, 30)
    # get_weather: 1700..2500 ms -> 1.6..2.4 s, latency 0.8 s; local_time: 1750..1950 ms -> 1.65..1.85 s, 0.2 s
    assert (weather["t_start"], weather["t_end"]) == pytest.approx((1.6, 2.4), abs=1e-6)
    assert (clock["t_start"], clock["t_end"]) == pytest.approx((1.65, 1.85), abs=1e-6)
    assert weather["batch"] == clock["batch"] == 0
    assert (weather["call_id"], weather["args_json"], weather["status"]) == ("call_w", '{"city":"Lisbon"}', "ok")
    assert weather["result_text"] == '{"sky": "sunny", "temp_c": 21}'
    assert (clock["call_id"], clock["result_text"]) == ("call_t", "14:05")
    # chat 2: 2600..3400 ms -> 2.5..3.3 s (think window 0.8 s)
    assert (llm1["t_start"], llm1["t_end"]) == pytest.approx((2.5, 3.3), abs=1e-6)
    assert (llm1["model"], llm1["text"]) == ("model-x", "Sunny, 21 C, 14:05 in Lisbon.")
    s = ds.sessions.row(0, named=True)
    assert (s["n_parallel_steps"], s["n_tool_calls"], s["n_llm_steps"]) == (1, 2, 2)
    assert s["wall_s"] == pytest.approx(3.3, abs=1e-6)
    assert s["started_at"].timestamp() == pytest.approx(T0 + 0.1, abs=1e-6)


def _sub_agent_request() -> tuple[dict, str]:
    """chat -> execute_tool research (a sub-agent: invoke_agent -> chat -> execute_tool search -> chat) -> chat,
    as one request; and the research span's id."""
    sp = Spans()
    root = sp.start("invoke_agent lead", 0, {"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "conv-lead"})
    sp.span("chat", 0, 1000, {"gen_ai.operation.name": "chat"}, root)
    research = sp.start("execute_tool research", 1100, {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "research", "gen_ai.tool.call.id": "call_r",
        "gen_ai.tool.call.arguments": '{"topic": "tides"}'}, root)
    sub = sp.start("invoke_agent researcher", 1150, {"gen_ai.operation.name": "invoke_agent",
                                                      "gen_ai.conversation.id": "conv-sub"}, research)
    sp.span("chat", 1200, 2200, {"gen_ai.operation.name": "chat"}, sub)
    sp.span("execute_tool search", 2300, 2800, {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "gen_ai.tool.call.id": "call_s",
        "gen_ai.tool.call.arguments": '{"q": "tides"}', "gen_ai.tool.call.result": "moon"}, sub)
    sp.span("chat", 2900, 3500, {"gen_ai.operation.name": "chat"}, sub)
    sub.end(end_time=ns(3550))
    research.end(end_time=ns(3600))
    sp.span("chat", 3700, 4200, {"gen_ai.operation.name": "chat"}, root)
    root.end(end_time=ns(4300))
    return otlp_json(sp.finished()), format(research.get_span_context().span_id, "016x")


def test_sub_agent_inside_a_tool_call_is_a_child_session(tmp_path, ingest_paths):
    """The sub-agent's steps run inside the parent's call: a child session linked to it, not parent steps."""
    request, research_id = _sub_agent_request()
    result, ds = ingest_paths([write_jsonl(tmp_path / "t.jsonl", [request])])
    child_id = f"otlp:conv-lead/agent-{research_id}"
    assert sorted(ds.sessions["session_id"].to_list()) == sorted(["otlp:conv-lead", child_id])
    parent = _events(ds, "otlp:conv-lead")
    assert [(e["kind"], e["tool"]) for e in parent] == [("llm", None), ("tool", "research"), ("llm", None)]
    # the call spans 1100..3600 ms: 1.1..3.6 s after the session's first span
    assert (parent[1]["t_start"], parent[1]["t_end"]) == pytest.approx((1.1, 3.6), abs=1e-6)
    child = _events(ds, child_id)
    assert [(e["kind"], e["tool"]) for e in child] == [("llm", None), ("tool", "search"), ("llm", None)]
    # the child's clock starts at its first chat (1200 ms): search 2300..2800 -> 1.1..1.6 s
    assert (child[1]["t_start"], child[1]["t_end"]) == pytest.approx((1.1, 1.6), abs=1e-6)
    row = ds.sessions.filter(pl.col("session_id") == child_id).row(0, named=True)
    assert (row["parent_session_id"], row["parent_call_id"]) == ("otlp:conv-lead", parent[1]["call_id"]) == (
        "otlp:conv-lead", "call_r")


def test_span_ids_are_per_trace_and_parents_may_come_later(tmp_path, ingest_paths):
    """The sub-agent trace twice, under two trace ids with the very same span ids, each span on a line of its
    own in reverse order: every parent (the host tool span too) comes after its children in the file. The
    reused span ids are no duplicates, and each trace still makes its own session and linked child."""
    request, research_id = _sub_agent_request()
    lines = []
    for n, trace in enumerate(["0" * 31 + "1", "0" * 31 + "2"]):
        copy_ = json.loads(json.dumps(request).replace("conv-lead", f"conv-{n}"))
        for span in reversed(_all_spans(copy_)):
            span["traceId"] = trace
            lines.append({"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": [span]}]}]})
    result, ds = ingest_paths([write_jsonl(tmp_path / "t.jsonl", lines)])
    assert result.report.total == 0
    rows = ds.sessions.sort("session_id").select("session_id", "parent_session_id", "parent_call_id").rows()
    assert rows == [("otlp:conv-0", None, None), (f"otlp:conv-0/agent-{research_id}", "otlp:conv-0", "call_r"),
                    ("otlp:conv-1", None, None), (f"otlp:conv-1/agent-{research_id}", "otlp:conv-1", "call_r")]
    for n in (0, 1):
        assert [(e["kind"], e["tool"]) for e in _events(ds, f"otlp:conv-{n}")] == [
            ("llm", None), ("tool", "research"), ("llm", None)]
        assert [(e["kind"], e["tool"], e["result_text"]) for e in _events(ds, f"otlp:conv-{n}/agent-{research_id}")] == [
            ("llm", None, None), ("tool", "search", "moon"), ("llm", None, None)]


def test_openinference_session(tmp_path, ingest_paths):
    sp = Spans()
    root = sp.start("agent_run", 0, {"openinference.span.kind": "AGENT", "session.id": "sess-oi-7"})
    chain = sp.start("plan", 50, {"openinference.span.kind": "CHAIN", "input.value": "find the rate limits"}, root)
    llm = sp.start("ChatModel", 200, {
        "openinference.span.kind": "LLM", "llm.model_name": "model-y",
        "llm.token_count.prompt": 300, "llm.token_count.completion": 40,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "tc_9",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "search_docs",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"query": "rate limits"}',
    }, chain)
    # the provider-level LLM span under the framework's LLM span repeats the same step: not a second step
    sp.span("openai.chat", 250, 1150, {"openinference.span.kind": "LLM", "llm.model_name": "model-y"}, llm)
    llm.end(end_time=ns(1200))
    # no call id on the TOOL span: it is matched to the declared call by name and takes its id
    sp.span("search_docs", 1300, 2100, {
        "openinference.span.kind": "TOOL", "tool.name": "search_docs",
        "input.value": '{"query": "rate limits"}', "output.value": "3 matches",
    }, chain)
    sp.span("ChatModel", 2300, 2900, {
        "openinference.span.kind": "LLM", "llm.model_name": "model-y",
        "llm.output_messages.0.message.content": "Found them.",
    }, chain)
    sp.span("echo", 3000, 3100, {"openinference.span.kind": "TOOL", "tool.name": "echo", "input.value": "plain words"}, chain)
    chain.end(end_time=ns(4900))
    root.end(end_time=ns(5000))
    path = write_jsonl(tmp_path / "oi.jsonl", [otlp_json(sp.finished())])
    result, ds = ingest_paths([path])
    assert (result.sessions, result.tool_calls, result.llm_steps, result.report.total) == (1, 2, 2, 0)
    ev = _events(ds, "otlp:sess-oi-7")
    assert [(e["kind"], e["step"], e["tool"]) for e in ev] == [
        ("llm", 0, None), ("tool", 0, "search_docs"), ("llm", 1, None), ("tool", 1, "echo")]
    llm0, search, llm1, echo = ev
    # t0 = first LLM start, 200 ms. LLM 200..1200 -> 0.0..1.0; search 1300..2100 -> 1.1..1.9 (0.8 s);
    # LLM 2300..2900 -> 2.1..2.7 (0.6 s); echo 3000..3100 -> 2.8..2.9 (0.1 s)
    assert (llm0["t_start"], llm0["t_end"], llm0["tokens_in"], llm0["tokens_out"]) == pytest.approx((0.0, 1.0, 300, 40), abs=1e-6)
    assert (search["t_start"], search["t_end"]) == pytest.approx((1.1, 1.9), abs=1e-6)
    assert (search["call_id"], search["args_json"], search["result_text"]) == ("tc_9", '{"query":"rate limits"}', "3 matches")
    assert (llm1["t_start"], llm1["t_end"], llm1["text"]) == pytest.approx((2.1, 2.7, "Found them."), abs=1e-6)
    assert (echo["t_start"], echo["t_end"], echo["args_json"]) == pytest.approx((2.8, 2.9, '{"_raw":"plain words"}'), abs=1e-6)
    assert llm0["model"] == "model-y"


def test_calls_declared_only_in_chat_output(tmp_path, ingest_paths):
    """Without execute_tool spans, calls come from gen_ai.output.messages at the chat's end and their
    results from the next chat's gen_ai.input.messages at that chat's start."""
    sp = Spans()
    calls = [{"role": "assistant", "parts": [
        {"type": "tool_call", "id": "c1", "name": "read_file", "arguments": '{"path": "notes.txt"}'},
        {"type": "tool_call", "id": "c2", "name": "list_dir", "arguments": {"path": "."}},
    ]}]
    sp.span("chat m", 100, 900, {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": "decl",
                                  "gen_ai.output.messages": json.dumps(calls)})
    inputs = [{"role": "user", "parts": [{"type": "text", "content": "read my notes"}]}, calls[0],
              {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "buy milk"}]},
              {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c2", "response": ["notes.txt"]}]}]
    again = [{"role": "assistant", "parts": [{"type": "tool_call", "id": "c3", "name": "read_file", "arguments": {}}]}]
    sp.span("chat m", 1500, 2000, {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": "decl",
                                    "gen_ai.input.messages": json.dumps(inputs), "gen_ai.output.messages": json.dumps(again)})
    path = write_jsonl(tmp_path / "decl.jsonl", [otlp_json(sp.finished())])
    result, ds = ingest_paths([path])
    assert (result.tool_calls, result.llm_steps, result.report.total) == (3, 2, 0)
    ev = _events(ds, "otlp:decl")
    assert [(e["kind"], e["step"], e["call_id"]) for e in ev] == [
        ("llm", 0, None), ("tool", 0, "c1"), ("tool", 0, "c2"), ("llm", 1, None), ("tool", 1, "c3")]
    c1, c2, c3 = ev[1], ev[2], ev[4]
    # emitted at chat 1's end (900 ms -> 0.8 s), result seen at chat 2's start (1500 ms -> 1.4 s)
    assert (c1["t_start"], c1["t_end"], c1["result_text"], c1["status"]) == pytest.approx((0.8, 1.4, "buy milk", "ok"), abs=1e-6)
    assert (c1["args_json"], c2["args_json"], c2["result_text"]) == ('{"path":"notes.txt"}', '{"path":"."}', '["notes.txt"]')
    # c3 has no result anywhere: status unknown, end estimated (at its emission, 2000 ms -> 1.9 s)
    assert (c3["status"], c3["duration_estimated"], c3["t_start"]) == (None, True, pytest.approx(1.9, abs=1e-6))


def test_two_conversations_and_a_bare_trace_in_one_file(tmp_path, ingest_paths):
    sp = Spans()
    a1 = sp.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "conv-A"})
    b = sp.start("invoke_agent", 500, {"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "conv-B"})
    chat = {"gen_ai.operation.name": "chat"}

    def tool(name):
        return {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}

    sp.span("chat", 100, 500, chat, a1)
    sp.span("execute_tool grep", 600, 900, tool("grep"), a1)
    sp.span("chat", 600, 1000, chat, b)
    sp.span("chat", 1000, 1400, chat, a1)
    sp.span("execute_tool fetch", 1100, 1500, tool("fetch"), b)
    sp.span("execute_tool fetch", 1100, 1300, tool("fetch"), b)
    sp.span("chat", 1600, 2000, chat, b)
    a1.end(end_time=ns(2000))
    b.end(end_time=ns(3000))
    a2 = sp.start("invoke_agent", 10000, {"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "conv-A"})
    sp.span("chat", 10100, 10500, chat, a2)
    a2.end(end_time=ns(12000))
    bare = sp.span("chat", 20000, 20400, chat)  # a trace with no conversation id: the trace is the session
    sp.span("execute_tool ls", 20500, 20600, tool("ls"), bare)
    spans = sp.finished()
    by_trace = lambda *roots: otlp_json([s for s in spans if s.context.trace_id in {r.get_span_context().trace_id for r in roots}])
    # line 1 holds two interleaved conversations; the second turn of conv-A is another trace on line 2
    path = write_jsonl(tmp_path / "mixed.jsonl", [by_trace(a1, b), by_trace(a2), by_trace(bare)])
    result, ds = ingest_paths([path])
    rows = {r["session_id"]: r for r in ds.sessions.to_dicts()}
    assert set(rows) == {"otlp:conv-A", "otlp:conv-B", f"otlp:{trace_hex(bare)}"}
    got = {k: (r["n_llm_steps"], r["n_tool_calls"], r["n_parallel_steps"]) for k, r in rows.items()}
    assert got == {"otlp:conv-A": (3, 1, 0), "otlp:conv-B": (2, 2, 1), f"otlp:{trace_hex(bare)}": (1, 1, 0)}
    a = _events(ds, "otlp:conv-A")
    # conv-A starts at 100 ms; its second turn's chat 10100..10500 ms -> 10.0..10.4 s
    assert (a[-1]["t_start"], a[-1]["t_end"]) == pytest.approx((10.0, 10.4), abs=1e-6)
    assert result.report.total == 0


def test_error_status(tmp_path, ingest_paths):
    sp = Spans()
    sp.span("chat", 0, 100, {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": "errs"})
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.conversation.id": "errs"}
    sp.span("execute_tool write_file", 200, 300, tool | {"gen_ai.tool.name": "write_file"}, error="permission denied")
    sp.span("execute_tool read_file", 200, 250, tool | {"gen_ai.tool.name": "read_file", "error.type": "timeout"})
    sp.span("execute_tool stat", 200, 220, tool | {"gen_ai.tool.name": "stat"})
    request = otlp_json(sp.finished())
    codes = {s["name"]: s["status"].get("code") for s in request["resourceSpans"][0]["scopeSpans"][0]["spans"]}
    assert codes["execute_tool write_file"] == 2  # STATUS_CODE_ERROR as an integer enum
    _, ds = ingest_paths([write_jsonl(tmp_path / "e.jsonl", [request])])
    status = {e["tool"]: e["status"] for e in _events(ds, "otlp:errs") if e["kind"] == "tool"}
    assert status == {"write_file": "error", "read_file": "error", "stat": "ok"}


# -- malformed input -----------------------------------------------------------------------------


def _small_request(conv: str = "conv-ok", result: str = "sunny") -> dict:
    sp = Spans()
    sp.span("chat", 0, 100, {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": conv})
    sp.span("execute_tool weather", 150, 300, {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "weather", "gen_ai.conversation.id": conv,
        "gen_ai.tool.call.result": result})
    return otlp_json(sp.finished())


def _all_spans(request: dict) -> list[dict]:
    return [s for rs in request["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]


def test_malformed_lines_are_skipped_with_reasons(tmp_path, ingest_paths):
    good = orjson.dumps(_small_request())
    sp = Spans()
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": "conv-bad"}
    sp.span("chat", 0, 100, attrs)
    sp.span("", 0, 100, {"gen_ai.operation.name": "execute_tool", "gen_ai.conversation.id": "conv-bad"})
    sp.span("chat", 200, 300, attrs)
    sp.span("describe", 0, 10, {"gen_ai.operation.name": "invoke_agent"})  # not an event, missing fields or not
    bad = otlp_json(sp.finished())
    no_end, no_tool_name, backwards, agent = _all_spans(bad)
    del no_end["endTimeUnixNano"]
    backwards["endTimeUnixNano"] = "1"
    del agent["startTimeUnixNano"]
    bad["resourceSpans"][0]["scopeSpans"][0]["spans"].append(42)
    path = tmp_path / "dirty.jsonl"
    path.write_bytes(b"\n".join([
        good, b"this is not json", b'{"resourceMetrics": []}', orjson.dumps(bad), b"", good[: len(good) // 2]]))
    result, ds = ingest_paths([path])
    assert (result.sessions, result.llm_steps, result.tool_calls) == (1, 1, 1)
    assert dict(result.report.by_reason) == {
        "not_json": 1,  # line 2
        "unknown_record": 2,  # line 3 (no resourceSpans) and the span that is a number
        "missing_field": 2,  # the chat span with no end, the tool span with no name
        "bad_time": 1,  # the chat span that ends before it starts
        "truncated_last_line": 1,  # line 6
    }
    assert sorted((s.reason, s.line) for s in result.report.examples) == [
        ("bad_time", 4), ("missing_field", 4), ("missing_field", 4), ("not_json", 2),
        ("truncated_last_line", 6), ("unknown_record", 3), ("unknown_record", 4)]


def test_jsonl_whose_first_line_is_a_lone_brace(tmp_path, ingest_paths):
    """A damaged first line that looks like the start of a pretty-printed document: the file is still
    JSONL (its other lines are whole requests), so only that line is skipped."""
    good = orjson.dumps(_small_request())
    path = tmp_path / "traces.jsonl"
    path.write_bytes(b"{\n" + good + b"\n")
    result, _ = ingest_paths([path], format="otlp")
    assert [(s.line, s.reason) for s in result.report.examples] == [(1, "not_json")]
    assert (result.sessions, result.llm_steps, result.tool_calls) == (1, 1, 1)


def test_empty_files(tmp_path, ingest_paths):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\n  \n")
    result, _ = ingest_paths([empty, blank], format="otlp")
    assert (result.sessions, result.events, result.report.total) == (0, 0, 0)


def test_non_utf8_bytes_and_a_huge_line(tmp_path, ingest_paths):
    line = orjson.dumps(_small_request(result="sunny"))
    assert line.count(b"sunny") == 1
    dirty = tmp_path / "x.jsonl"
    dirty.write_bytes(line.replace(b"sunny", b"sun\xffny") + b"\n")
    big = write_jsonl(tmp_path / "big.jsonl", [_small_request(conv="conv-big", result="x" * 5_000_000)])
    assert big.stat().st_size > 5_000_000
    result, ds = ingest_paths([dirty, big])
    assert (result.sessions, result.report.total) == (2, 0)
    tools = ds.events.filter(pl.col("kind") == "tool").sort("session_id")
    assert tools["result_text"].to_list() == ["x" * 8192, "sun\ufffdny"]  # results are bounded (Limits default)
    assert ds.events["source_line"].unique().to_list() == [1]  # the dirty first line is still line 1 of JSONL


def test_duplicate_spans_are_counted_once(tmp_path, ingest_paths):
    request = _small_request()
    result, _ = ingest_paths([write_jsonl(tmp_path / "twice.jsonl", [request, request])])
    assert (result.llm_steps, result.tool_calls) == (1, 1)
    assert dict(result.report.by_reason) == {"duplicate_span": 2}


def test_whole_file_documents(tmp_path, ingest_paths):
    """A pretty-printed request and a JSON array of requests read like the JSONL lines."""
    _, request = _genai_session()
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(request, indent=2))
    array = tmp_path / "array.json"
    array.write_text(json.dumps([_small_request(), request], indent=1))
    assert detect_format(pretty) is otlp and detect_format(array) is otlp
    result, ds = ingest_paths([pretty])
    assert (result.sessions, result.llm_steps, result.tool_calls, result.report.total) == (1, 2, 2, 0)
    result, ds = ingest_paths([array])
    assert (result.sessions, result.llm_steps, result.tool_calls, result.report.total) == (2, 3, 3, 0)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(request, indent=2)[:500])
    result, _ = ingest_paths([broken])
    assert (result.sessions, dict(result.report.by_reason)) == (0, {"not_json": 1})


# -- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize("head, expected", [
    (b'{"resourceSpans":[]}\n', True),
    (b'\n  {\n  "resourceSpans": [\n', True),
    (b'[{"resourceSpans": []}]', True),
    (b'{"resourceLogs":[]}\n', False),
    (b'{"resourceMetrics":[]}\n', False),
    (b'{"session_id": "s", "kind": "llm", "t_end": 1}\n', False),
    (b'{"type":"user","message":{"role":"user","content":"resourceSpans"}}\n', False),
    (b'[{"role": "user", "content": "hi"}]', False),
    (b"", False),
])
def test_sniff(head, expected):
    assert otlp.sniff(head) is expected


def test_sniff_claims_no_real_log(shared_traces):
    # `grep -rl resourceSpans ../shared/traces` (run once) lists no file: none of them is OTLP
    files = [p for p in shared_traces.rglob("*") if p.is_file()]
    assert len(files) == 91  # find ../shared/traces -type f | wc -l
    claimed = []
    for p in files:
        with p.open("rb") as fh:
            if otlp.sniff(fh.read(64 * 1024)):
                claimed.append(p)
    assert claimed == []


# -- property tests ------------------------------------------------------------------------------


def _base_request() -> dict:
    """Both conventions in one trace: agent root, 2 chats, 2 tools, an HTTP span, OI LLM/TOOL/CHAIN spans."""
    sp = Spans()
    root = sp.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "prop"})
    sp.span("chat", 100, 400, {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 7}, root)
    t = sp.start("execute_tool a", 500, {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "a",
                                         "gen_ai.tool.call.id": "id-a", "gen_ai.tool.call.arguments": '{"k": 1}'}, root)
    sp.span("GET", 520, 580, {"http.request.method": "GET"}, t)
    t.end(end_time=ns(600))
    sp.span("execute_tool b", 510, 700, {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "b"}, root)
    chain = sp.start("chain", 750, {"openinference.span.kind": "CHAIN", "session.id": "prop-oi"}, root)
    sp.span("llm", 800, 900, {"openinference.span.kind": "LLM", "llm.token_count.prompt": 9}, chain)
    sp.span("tool", 950, 990, {"openinference.span.kind": "TOOL", "tool.name": "c", "input.value": "[1, 2]"}, chain)
    chain.end(end_time=ns(1000))
    sp.span("chat", 1000, 1100, {"gen_ai.operation.name": "chat"}, root)
    root.end(end_time=ns(1200))
    return otlp_json(sp.finished())


BASE = _base_request()
N_SPANS = len(_all_spans(BASE))
KEYS = ["gen_ai.operation.name", "openinference.span.kind", "gen_ai.tool.name", "tool.name", "gen_ai.tool.call.id",
        "tool_call.id", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "input.value", "output.value",
        "gen_ai.conversation.id", "session.id", "gen_ai.usage.input_tokens", "llm.token_count.completion",
        "gen_ai.request.model", "llm.model_name", "error.type"]
MESSAGE_KEYS = ["gen_ai.output.messages", "gen_ai.input.messages",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
                "llm.output_messages.0.message.tool_calls.0.tool_call.id",
                "llm.input_messages.1.message.role", "llm.input_messages.1.message.tool_call_id"]
FIELDS = ["startTimeUnixNano", "endTimeUnixNano", "traceId", "spanId", "parentSpanId", "status", "name", "attributes"]

ints = st.integers(-(2**63), 2**63 - 1)  # what JSON encoders (orjson) can write
json_leaf = st.none() | st.booleans() | ints | st.floats(allow_nan=False) | st.text(max_size=8)
json_any = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=6)
names = st.sampled_from(["chat", "text_completion", "generate_content", "execute_tool", "invoke_agent", "LLM", "TOOL",
                         "tool", "llm", "CHAIN", "", "x"])
any_values = st.recursive(
    st.one_of(
        st.builds(lambda s: {"stringValue": s}, names | st.text(max_size=8) | json_leaf),
        st.builds(lambda i: {"intValue": i}, st.integers().map(str) | json_leaf),
        st.builds(lambda d: {"doubleValue": d}, json_leaf),
        st.builds(lambda b: {"boolValue": b}, json_leaf),
        json_any,  # not an AnyValue at all
    ),
    lambda c: st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(c, max_size=3))
    | st.builds(lambda kv: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kv]}},
                st.lists(st.tuples(st.text(max_size=4), c), max_size=3)),
    max_leaves=6,
)
message_json = st.builds(
    lambda msgs: json.dumps(msgs),
    st.lists(st.fixed_dictionaries({"role": st.sampled_from(["assistant", "tool", "user"]), "parts": st.lists(
        st.fixed_dictionaries({"type": st.sampled_from(["tool_call", "tool_call_response", "text"]),
                               "id": st.none() | st.sampled_from(["id-a", "m1", ""]),
                               "name": json_leaf | st.sampled_from(["a", "b"]),
                               "arguments": json_any, "response": json_any, "content": json_leaf}), max_size=3)}),
             max_size=3))
attr_mutation = st.tuples(st.integers(0, N_SPANS - 1), st.sampled_from(KEYS), any_values)
times = st.integers(-1, 2 * BASE_NS) | st.integers(-1, 2 * BASE_NS).map(str)  # valid, zero, negative, early, late
field_mutation = st.tuples(st.integers(0, N_SPANS - 1), st.sampled_from(FIELDS), json_any | times | st.just(KeyError))


def _mutated(attr_mutations, field_mutations) -> dict:
    request = copy.deepcopy(BASE)
    spans = _all_spans(request)
    for i, key, value in attr_mutations:
        attrs = spans[i].setdefault("attributes", [])
        if not isinstance(attrs, list):
            continue
        for kv in attrs:
            if kv["key"] == key:
                kv["value"] = value
                break
        else:
            attrs.append({"key": key, "value": value})
    for i, field, value in field_mutations:
        if value is KeyError:
            spans[i].pop(field, None)
        else:
            spans[i][field] = value
    return request


def _read(request: dict) -> tuple[list[dict], SkipReport]:
    """Run the reader directly (no Parquet) on the request written as one JSONL line."""
    with tempfile.TemporaryDirectory() as d:
        path = write_jsonl(Path(d) / "p.jsonl", [request])
        report = SkipReport()
        ctx = ReadContext(path=path, display=path.name, report=report,
                          limits=Limits(idle_threshold_s=math.inf), scrub=None)
        rows = [e for b in otlp.read(path, ctx) for e in b.finish()[1]]
    return rows, report


def _oracle_kind(span: dict) -> str | None:
    """The documented rule, restated: GenAI operation name first, then the OpenInference span kind."""
    attrs = span.get("attributes")
    values = {kv.get("key"): kv.get("value") for kv in attrs
              if isinstance(kv, dict) and isinstance(kv.get("key"), str)} if isinstance(attrs, list) else {}

    def text(key):
        v = values.get(key)
        s = v.get("stringValue") if isinstance(v, dict) else None
        return s if isinstance(s, str) and s else None

    op = text("gen_ai.operation.name")
    if op in ("chat", "text_completion", "generate_content"):
        return "llm"
    if op == "execute_tool":
        return "tool"
    oi = (text("openinference.span.kind") or "").upper()
    return {"LLM": "llm", "TOOL": "tool"}.get(oi)


def _expected_event_spans(request: dict) -> int:
    spans = _all_spans(request)
    ident = lambda v: v if isinstance(v, str) and v else None
    kinds = {(ident(s.get("traceId")), ident(s.get("spanId"))): _oracle_kind(s) for s in spans if ident(s.get("spanId"))}
    n = 0
    for s in spans:
        kind = _oracle_kind(s)
        parent = ident(s.get("parentSpanId"))
        if kind is not None and not (parent and kinds.get((ident(s.get("traceId")), parent)) == kind):
            n += 1
    return n


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(attr_mutation, max_size=6), st.lists(field_mutation, max_size=3))
def test_property_every_span_is_an_event_ignored_or_skipped(attr_mutations, field_mutations):
    request = _mutated(attr_mutations, field_mutations)
    rows, report = _read(request)
    # LLM spans -> llm rows with logged times (a tool span with no step before it gets an estimated one)
    from_spans = sum(1 for r in rows if r["kind"] == "tool" or (r["kind"] == "llm" and not r["duration_estimated"]))
    assert from_spans + report.total == _expected_event_spans(request)
    for r in rows:
        assert r["t_start"] is None or r["t_end"] is None or r["t_start"] <= r["t_end"] + 1e-9


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, N_SPANS - 1), st.sampled_from(MESSAGE_KEYS),
                          any_values | message_json.map(lambda s: {"stringValue": s})), max_size=5))
def test_property_message_attributes_never_crash(mutations):
    """Junk or half-valid output/input messages add at most the calls they declare, never crash."""
    rows, report = _read(_mutated(mutations, []))
    assert report.total == 0
    assert sum(r["kind"] == "tool" and r["status"] is not None for r in rows) >= 3  # the three tool spans
    assert sum(r["kind"] == "llm" for r in rows) >= 3


_ATTR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=30), _ATTR_VALUES, max_size=8), st.integers(min_value=0, max_value=3000))
def test_packed_span_attributes_come_back_exactly(values: dict, padding: int) -> None:
    """Packing (small ones as they are, big ones compressed) keeps every value, its type, float bits and key order."""
    values = {**values, "pad": "x" * padding}
    back = otlp._Attrs.unpack(otlp._Attrs(values).pack()).values
    assert list(back) == list(values)
    assert orjson.dumps(back) == orjson.dumps(values) if all(abs(v) < 2**63 for v in _ints(values)) else back == values
    assert [type(v) for v in back.values()] == [type(v) for v in values.values()]
    assert [math.copysign(1, v) for v in _floats(back)] == [math.copysign(1, v) for v in _floats(values)]


def _ints(value: object) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return [i for v in items for i in _ints(v)]


def _floats(value: object) -> list[float]:
    if isinstance(value, float):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return [f for v in items for f in _floats(v)]
