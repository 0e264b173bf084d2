"""Trace datasets on disk: a directory of events.parquet, sessions.parquet and manifest.json.

`DatasetWriter` streams sessions' event columns into Parquet row groups inside a temporary directory and swaps it into
place only when everything is written. `load_dataset` reads a dataset back with polars (no Arrow table in
between, which held the data two to three times over) and validates it, or reads only some columns of a
dataset already validated.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from bpaste_cli import __version__
from bpaste_cli.artifacts import check_artifact
from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import atomic_write_bytes
from bpaste_cli.trace.schema import (
    DATASET,
    EVENT_COLUMNS,
    EVENTS_SCHEMA,
    KINDS,
    SESSION_COLUMNS,
    STATUSES,
    WAIT_REASONS,
    SCHEMA_VERSION,
    SESSIONS_SCHEMA,
    conform,
)

EVENTS_FILE = "events.parquet"
SESSIONS_FILE = "sessions.parquet"
MANIFEST_FILE = "manifest.json"
ROW_GROUP_EVENTS = 65_536


class DatasetWriter:
    """Append sessions' events as columns; they are buffered, one list per column, and flushed to Parquet
    in row groups (one Arrow table per row group)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._events = pq.ParquetWriter(self.directory / EVENTS_FILE, EVENTS_SCHEMA, compression="zstd")
        self._sessions: list[dict[str, Any]] = []
        self._columns: list[list[Any]] = [[] for _ in EVENTS_SCHEMA.names]
        self._buffered = 0
        self.n_events = 0

    def add_columns(self, session: dict[str, Any], events: dict[str, Sequence[Any]]) -> None:
        """One session: its row and its events' columns (`SessionBuilder.finish_columns`), every column of
        the schema, of one length."""
        self._sessions.append(session)
        for column, name in zip(self._columns, EVENTS_SCHEMA.names):
            column.extend(events[name])
        n = session["n_events"]
        self._buffered += n
        self.n_events += n
        if self._buffered >= ROW_GROUP_EVENTS:
            self._flush()

    def add_table(self, sessions: pa.Table, events: pa.Table) -> None:
        """Copy rows of an existing dataset (used by --append)."""
        self._flush()
        self._sessions.extend(sessions.cast(SESSIONS_SCHEMA).to_pylist())
        for batch in events.cast(EVENTS_SCHEMA).to_batches(max_chunksize=ROW_GROUP_EVENTS):
            self._events.write_batch(batch)
            self.n_events += batch.num_rows

    def _flush(self) -> None:
        """Write the buffered rows as one row group."""
        if self._buffered:
            arrays = [pa.array(col, type=f.type) for col, f in zip(self._columns, EVENTS_SCHEMA)]
            self._events.write_table(pa.Table.from_arrays(arrays, schema=EVENTS_SCHEMA))
            self._columns = [[] for _ in EVENTS_SCHEMA.names]
            self._buffered = 0

    def close(self, manifest: dict[str, Any]) -> None:
        self._flush()
        self._events.close()
        for row in self._sessions:
            if isinstance(row["started_at"], (int, float)):
                row["started_at"] = datetime.fromtimestamp(row["started_at"], tz=timezone.utc)
        sessions = pa.Table.from_pylist(self._sessions, schema=SESSIONS_SCHEMA)
        pq.write_table(sessions, self.directory / SESSIONS_FILE, compression="zstd")
        atomic_write_bytes(self.directory / MANIFEST_FILE, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def dataset_hash(file_hashes: Iterable[str], options: dict[str, Any]) -> str:
    """Identity of a dataset: the content of its source files and the options that read them."""
    h = hashlib.sha256()
    for digest in sorted(file_hashes):
        h.update(digest.encode())
    h.update(orjson.dumps(options, option=orjson.OPT_SORT_KEYS))
    h.update(str(SCHEMA_VERSION).encode())
    return h.hexdigest()[:16]


@dataclass
class Dataset:
    """A loaded trace dataset: polars frames of events and sessions, and the manifest."""

    path: Path
    events: pl.DataFrame
    sessions: pl.DataFrame
    manifest: dict[str, Any]

    @property
    def hash(self) -> str:
        return self.manifest["dataset_hash"]

    def require_tool_calls(self, so: str) -> None:
        """Refuse a dataset without tool calls, for a verb that needs them (`so`: what there is not to do)."""
        if not (self.events["kind"] == "tool").any():
            raise BpasteError(f"The dataset {self.path} has no tool calls, so {so}; ingest logs of an agent that calls tools.")


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the dataset at `path`, after checking it through the artifact gate (kind, schema version,
    schema)."""
    path = Path(path)
    if not path.exists():
        raise BpasteError(f"{path} does not exist; create a dataset with `bpaste ingest LOGS -o {path}`.")
    if not path.is_dir():
        raise BpasteError(
            f"{path} is a file, not a trace dataset (a directory made by `bpaste ingest`); "
            f"pass the dataset directory, or ingest the file first with `bpaste ingest {path} -o DATASET`."
        )
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.exists():
        raise BpasteError(f"{path} has no {MANIFEST_FILE}, so it is not a trace dataset; make one with `bpaste ingest`.")
    try:
        manifest = orjson.loads(manifest_path.read_bytes())
    except orjson.JSONDecodeError:
        raise BpasteError(f"{manifest_path} is not valid JSON; re-run `bpaste ingest` to rebuild the dataset.") from None
    return check_artifact(manifest, DATASET, str(path))


def check_events(events: pl.DataFrame, sessions: pl.DataFrame, where: Path) -> None:
    """Refuse, in one sentence, what `bpaste ingest` never writes and the verbs downstream would trip
    over: nulls in required columns, unknown kinds, statuses or wait reasons, tool events without a tool,
    step indexes beyond the session's events (replay allocates per step), events of unlisted sessions."""

    def refuse(what: str) -> None:
        raise BpasteError(f"{where} {what}, which `bpaste ingest` never writes; re-run `bpaste ingest` to rebuild it.")

    for frame, columns, name in ((events, EVENT_COLUMNS, EVENTS_FILE), (sessions, SESSION_COLUMNS, SESSIONS_FILE)):
        for col in columns:
            if not col.nullable and frame[col.name].null_count():
                refuse(f"has null {col.name} values in {name}")
    for column, allowed in (("kind", KINDS), ("status", STATUSES), ("wait_reason", WAIT_REASONS)):
        bad = events.filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(list(allowed)))[column]
        if bad.len():
            refuse(f"has {column} {bad[0]!r} in {EVENTS_FILE} (known: {', '.join(allowed)})")
    if events.filter((pl.col("kind") == "tool") & pl.col("tool").is_null()).height:
        refuse(f"has tool events without a tool name in {EVENTS_FILE}")
    if events.height:
        # only the columns it needs: grouping the whole frame made polars hold a copy of every column
        per_session = (events.lazy().select("session_id", "step", "batch").group_by("session_id")
                       .agg(n=pl.len(), top=pl.max_horizontal(pl.col("step").max(), pl.col("batch").max()),
                            low=pl.min_horizontal(pl.col("step").min(), pl.col("batch").min())).collect())
        wild = per_session.filter((pl.col("top") >= pl.col("n") * 2) | (pl.col("low") < 0))
        if wild.height:
            refuse(f"has step or batch indexes out of range in session {wild['session_id'][0]!r} ({wild['low'][0]}..{wild['top'][0]} for {wild['n'][0]} events)")
        unlisted = events.select(pl.col("session_id").unique()).filter(~pl.col("session_id").is_in(sessions["session_id"].implode()))
        if unlisted.height:
            refuse(f"has events of session {unlisted['session_id'][0]!r}, which {SESSIONS_FILE} does not list")


def _read(file: Path, schema: pa.Schema, dataset: Path) -> pl.DataFrame:
    """One table of a dataset, read by polars straight from Parquet (only the schema's columns, no Arrow table
    in between: that round trip held the data two to three times over), then conformed to the schema."""
    try:
        stored = pl.read_parquet_schema(file)
        wanted = [name for name in schema.names if name in stored]
        frame = pl.read_parquet(file, columns=wanted) if wanted else pl.DataFrame()
    except (OSError, pl.exceptions.PolarsError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BpasteError(f"{dataset} has an unreadable Parquet file ({reason}); re-run `bpaste ingest`.") from None
    return conform(frame, schema, str(file))


def _subschema(schema: pa.Schema, names: Iterable[str]) -> pa.Schema:
    return pa.schema([schema.field(name) for name in names])


def load_dataset(path: Path, *, require_events: bool = True,
                 columns: tuple[Iterable[str], Iterable[str]] | None = None) -> Dataset:
    """Read and validate a dataset; a missing, foreign, newer or empty dataset is one clear error.

    `columns`: (events columns, sessions columns) to read, for a dataset already loaded and checked (by another
    process: a replay worker's parent); only those are held and the checks are not run again."""
    path = Path(path)
    manifest = read_manifest(path)
    if columns is not None:
        events_columns, sessions_columns = columns
        return Dataset(path, _read(path / EVENTS_FILE, _subschema(EVENTS_SCHEMA, events_columns), path),
                       _read(path / SESSIONS_FILE, _subschema(SESSIONS_SCHEMA, sessions_columns), path), manifest)
    events = _read(path / EVENTS_FILE, EVENTS_SCHEMA, path)
    sessions = _read(path / SESSIONS_FILE, SESSIONS_SCHEMA, path)
    check_events(events, sessions, path)
    if require_events and events.height == 0:
        raise BpasteError(f"The dataset {path} has no events; ingest some agent logs into it first.")
    return Dataset(path, events, sessions, manifest)


def base_manifest() -> dict[str, Any]:
    return {
        "kind": "trace-dataset",
        "schema_version": SCHEMA_VERSION,
        "bpaste_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
