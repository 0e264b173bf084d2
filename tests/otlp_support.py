"""Test support: real OpenTelemetry SDK spans written as the OTLP/JSON the Collector's file exporter writes.

Spans are made by the OpenTelemetry Python SDK (TracerProvider + in-memory exporter) with explicit start
and end times, encoded to the OTLP protobuf message by the SDK's own encoder (`encode_spans`, the code
the OTLP exporters use), then turned into OTLP/JSON as the OTLP specification defines it: protobuf's
JSON mapping with lowerCamelCase names, int64 / fixed64 as strings and enums as integers, except that
trace and span ids are lowercase hex instead of base64. Like the Collector, root spans carry
`"parentSpanId": ""` and every span a `status` object.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

BASE_NS = 1_750_000_000 * 10**9  # an invented epoch moment; span times are given in ms after it


class Spans:
    """Makes spans with times in milliseconds after BASE_NS and keeps the finished ones."""

    def __init__(self, service: str = "demo-agent") -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = provider.get_tracer("bpaste.tests.agent", "0.1")

    def start(self, name: str, start_ms: float, attrs: dict[str, Any], parent: trace.Span | None = None,
              kind: trace.SpanKind = trace.SpanKind.INTERNAL) -> trace.Span:
        """Start a span; without a parent it is the root of a new trace."""
        ctx = trace.set_span_in_context(parent) if parent is not None else Context()
        return self.tracer.start_span(name, context=ctx, kind=kind, attributes=attrs, start_time=ns(start_ms))

    def span(self, name: str, start_ms: float, end_ms: float, attrs: dict[str, Any], parent: trace.Span | None = None,
             *, error: str | None = None, kind: trace.SpanKind = trace.SpanKind.INTERNAL) -> trace.Span:
        """A finished span from start_ms to end_ms, with status ERROR when `error` is given."""
        s = self.start(name, start_ms, attrs, parent, kind)
        if error is not None:
            s.set_status(trace.Status(trace.StatusCode.ERROR, error))
        s.end(end_time=ns(end_ms))
        return s

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()


def ns(ms: float) -> int:
    return BASE_NS + round(ms * 10**6)


def trace_hex(span: trace.Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def otlp_json(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> dict[str, Any]:
    """One ExportTraceServiceRequest in the OTLP/JSON encoding."""
    doc = MessageToDict(encode_spans(list(spans)), use_integers_for_enums=True)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    span[key] = base64.b64decode(span.get(key, "")).hex()
                span.setdefault("status", {})
    return doc


def write_jsonl(path: Path, requests: list[dict[str, Any]]) -> Path:
    """The file exporter's layout: one request per line."""
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in requests))
    return path
