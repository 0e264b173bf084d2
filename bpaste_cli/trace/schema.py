"""Trace schema v1, defined once: Arrow schemas for events and sessions, their JSON Schemas, validation.

Everything else (readers, writers, the JSON Schema files in `schemas/`, the README table) is derived
from the column lists below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from bpaste_cli.artifacts import ArtifactType
from bpaste_cli.errors import BpasteError

SCHEMA_VERSION = 1

KINDS = ("llm", "tool", "user")
STATUSES = ("ok", "error")
WAIT_REASONS = ("turn", "idle", "approval")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool
    doc: str


EVENT_COLUMNS: tuple[Column, ...] = (
    Column("session_id", pa.string(), False, "Globally unique session id, prefixed by the source format."),
    Column("parent_session_id", pa.string(), True, "The session that spawned this one (sub-agents)."),
    Column("seq", pa.int32(), False, "Position of the event in its session, from 0, in emission order."),
    Column("source_format", pa.string(), False, "The reader that produced the event (claude-code, codex, ...)."),
    Column("source_file", pa.string(), False, "The log file the event came from, as given to ingest."),
    Column("source_line", pa.int32(), True, "1-based line of the record in a JSONL file; null for JSON documents."),
    Column("kind", pa.string(), False, "llm (one model step), tool (one tool call), user (human turn or wait)."),
    Column("step", pa.int32(), True, "Index of the LLM step; a tool event carries the step that emitted it."),
    Column("batch", pa.int32(), True, "Calls emitted together share a batch (parallel calls)."),
    Column("call_id", pa.string(), True, "The tool call's id in the log (or a generated one)."),
    Column("tool", pa.string(), True, "Tool name."),
    Column("args_json", pa.string(), True, "Canonical JSON of the call's arguments."),
    Column("args_hash", pa.string(), True, "16-hex SHA-256 prefix of args_json."),
    Column("result_text", pa.string(), True, "The tool result, cut to the ingest limit."),
    Column("result_hash", pa.string(), True, "16-hex SHA-256 prefix of the whole result before cutting."),
    Column("status", pa.string(), True, "ok or error for tool events; null when the log has no result for the call."),
    Column("t_start", pa.float64(), True, "Seconds from session start: think start, call emission, or wait start."),
    Column("t_end", pa.float64(), True, "Seconds from session start: emission of the step's output, or the result."),
    Column("duration_estimated", pa.bool_(), False, "True when the duration was derived, not logged."),
    Column("model", pa.string(), True, "Model of an llm event."),
    Column("tokens_in", pa.int64(), True, "Input tokens of an llm event, where logged."),
    Column("tokens_out", pa.int64(), True, "Output tokens of an llm event, where logged."),
    Column("text", pa.string(), True, "A user message or the model's text output, cut to the ingest limit."),
    Column("wait_reason", pa.string(), True, "For user events: turn (human turn), idle (long gap), approval."),
)

SESSION_COLUMNS: tuple[Column, ...] = (
    Column("session_id", pa.string(), False, "Globally unique session id."),
    Column("parent_session_id", pa.string(), True, "The spawning session, for sub-agents."),
    Column("parent_call_id", pa.string(), True, "The call in the parent session that spawned this one."),
    Column("source_format", pa.string(), False, "The reader that produced the session."),
    Column("source_file", pa.string(), False, "The log file."),
    Column("started_at", pa.timestamp("us", tz="UTC"), True, "Absolute start of the session (t = 0), if timed."),
    Column("timed", pa.bool_(), False, "True when the log carries timestamps (event times are not null)."),
    Column("model", pa.string(), True, "The most frequent model of the session's llm events."),
    Column("n_events", pa.int32(), False, "Events in the session."),
    Column("n_llm_steps", pa.int32(), False, "llm events."),
    Column("n_tool_calls", pa.int32(), False, "tool events."),
    Column("n_parallel_steps", pa.int32(), False, "llm steps that emitted two or more calls."),
    Column("wall_s", pa.float64(), True, "From session start to the last event's end."),
    Column("human_wait_s", pa.float64(), True, "Time in user events (turns, idle gaps, approvals)."),
    Column("agent_time_s", pa.float64(), True, "wall_s minus human_wait_s: the agent's own critical path."),
)


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    """The Arrow schema of a column list, with the schema version in its metadata."""
    fields = [pa.field(c.name, c.type, nullable=c.nullable) for c in columns]
    return pa.schema(fields, metadata={b"bpaste_schema_version": str(SCHEMA_VERSION).encode()})


EVENTS_SCHEMA = arrow_schema(EVENT_COLUMNS)
SESSIONS_SCHEMA = arrow_schema(SESSION_COLUMNS)


def _json_type(column: Column) -> dict[str, Any]:
    t = column.type
    if pa.types.is_string(t):
        base: dict[str, Any] = {"type": "string"}
    elif pa.types.is_integer(t):
        base = {"type": "integer"}
    elif pa.types.is_floating(t):
        base = {"type": "number"}
    elif pa.types.is_boolean(t):
        base = {"type": "boolean"}
    elif pa.types.is_timestamp(t):
        base = {"type": "string", "format": "date-time"}
    else:  # pragma: no cover - every column above is one of these
        raise TypeError(t)
    if column.name == "kind":
        base["enum"] = list(KINDS)
    if column.name == "status":
        base["enum"] = list(STATUSES)
    if column.name == "wait_reason":
        base["enum"] = list(WAIT_REASONS)
    if column.nullable:
        base = {"anyOf": [base, {"type": "null"}]}
    base["description"] = column.doc
    return base


def json_schema(columns: tuple[Column, ...], title: str, description: str) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for one row of a table, generated from its column list."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:bpaste:schema:{title}:{SCHEMA_VERSION}",
        "title": title,
        "description": description,
        "x-bpaste-schema-version": SCHEMA_VERSION,
        "type": "object",
        "properties": {c.name: _json_type(c) for c in columns},
        "required": [c.name for c in columns if not c.nullable],
        "additionalProperties": False,
    }


def events_json_schema() -> dict[str, Any]:
    return json_schema(EVENT_COLUMNS, "trace-events", "One row of events.parquet in a bpaste trace dataset.")


def sessions_json_schema() -> dict[str, Any]:
    return json_schema(SESSION_COLUMNS, "trace-sessions", "One row of sessions.parquet in a bpaste trace dataset.")


DATASET_MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:bpaste:schema:trace-dataset-manifest",
    "title": "trace-dataset manifest",
    "description": "manifest.json of a bpaste trace dataset (`bpaste ingest`): identity, options, counts, files read.",
    "type": "object",
    "required": ["kind", "schema_version", "dataset_hash", "files"],
    "properties": {
        "kind": {"const": "trace-dataset"},
        "schema_version": {"type": "integer", "minimum": 1},
        "dataset_hash": {"type": "string", "minLength": 1},
        "files": {"type": "array", "items": {"type": "object"}},
        "copied_sessions": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
DATASET = ArtifactType("trace-dataset", SCHEMA_VERSION, DATASET_MANIFEST_SCHEMA, "trace dataset",
                       "pass the directory written by `bpaste ingest`", "re-run `bpaste ingest` to rebuild it")


def polars_schema(schema: pa.Schema) -> pl.Schema:
    """The polars types of an Arrow schema's columns: what a loaded dataset's frames hold."""
    frame = pl.from_arrow(schema.empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame.schema


def conform(frame: pl.DataFrame, schema: pa.Schema, where: str) -> pl.DataFrame:
    """`frame` with exactly the schema's columns, in its order and of its types. A column stored with another
    type is cast as Arrow's safe cast does it (lossless, else refused in one sentence), one column at a time,
    so a dataset written by bpaste (every type already right) is never copied."""
    missing = [n for n in schema.names if n not in frame.columns]
    if missing:
        raise BpasteError(f"{where} lacks the column(s) {', '.join(missing)}; re-run `bpaste ingest` to rebuild it.")
    frame = frame.select(schema.names)
    want = polars_schema(schema)
    cast = [f for f in schema if frame.schema[f.name] != want[f.name]]
    if not cast:
        return frame
    try:
        columns = [pl.from_arrow(frame[f.name].to_arrow().cast(f.type, safe=True)).alias(f.name) for f in cast]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BpasteError(f"{where} has a column of the wrong type ({reason}); re-run `bpaste ingest`.") from None
    return frame.with_columns(columns)
