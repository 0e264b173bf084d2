"""Datasets on disk: idempotent and atomic ingest, append, schema checks, generated schema files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import orjson
import polars as pl
import pytest

from bpaste_cli.errors import BpasteError
from bpaste_cli.ingest import IngestOptions, ingest
from bpaste_cli.schemas import GENERATED, render
from bpaste_cli.trace import load_dataset
from native_support import native_session

REPO = Path(__file__).resolve().parent.parent


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_same_file_twice_adds_nothing(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", native_session("a", 3))
    out = tmp_path / "ds"
    first = ingest([f], out)
    again = ingest([f, f], out)  # replaced, and the file named twice counts once
    appended = ingest([f], out, append=True)
    for r in (first, again, appended):
        assert (r.sessions, r.tool_calls, r.llm_steps) == (1, 3, 4)
    assert appended.files[0]["status"] == "already_present"
    assert load_dataset(out).events.height == 1 + 4 + 3
    assert first.dataset_hash == again.dataset_hash == appended.dataset_hash


def test_append_adds_only_new_files(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", native_session("a", 2))
    b = write_jsonl(tmp_path / "b.jsonl", native_session("b", 5))
    out = tmp_path / "ds"
    ingest([a], out)
    result = ingest([a, b], out, append=True)
    ds = load_dataset(out)
    assert sorted(ds.sessions["session_id"].to_list()) == ["native:a", "native:b"]
    assert (result.sessions, result.tool_calls) == (2, 7)
    assert [f["status"] for f in result.files] == ["already_present", "ingested"]
    assert ds.events.filter(pl.col("kind") == "tool").height == 7


def test_append_with_other_options_is_refused(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", native_session("a", 2))
    ingest([a], tmp_path / "ds")
    with pytest.raises(BpasteError, match="same options"):
        ingest([a], tmp_path / "ds", append=True, options=IngestOptions(keep_secrets=True))


def test_events_are_grouped_by_session_in_seq_order(tmp_path):
    lines = native_session("x", 3) + native_session("y", 2)
    f = write_jsonl(tmp_path / "two.jsonl", lines)
    ds_path = tmp_path / "ds"
    ingest([f], ds_path)
    ev = load_dataset(ds_path).events
    for _, grp in ev.group_by("session_id"):
        assert grp["seq"].to_list() == list(range(grp.height))
    # each session's events are contiguous
    sids = ev["session_id"].to_list()
    assert sids == sorted(sids, key=lambda s: sids.index(s))


def test_bad_lines_are_counted_with_file_and_line(tmp_path):
    f = tmp_path / "bad.jsonl"
    good = [json.dumps(r) for r in native_session("a", 1)]
    f.write_bytes(("\n".join([good[0], "{oops", good[1], '{"session_id": "a", "kind": "dance"}', good[2],
                              '{"session_id": "a", "kind": ["tool"]}', good[3]]) + "\n{\"trunc").encode())
    result = ingest([f], tmp_path / "ds")
    assert result.report.by_reason == {"not_json": 1, "unknown_record": 2, "truncated_last_line": 1}
    assert [s.line for s in result.report.examples] == [2, 4, 6, 8]
    manifest = orjson.loads((tmp_path / "ds" / "manifest.json").read_bytes())
    assert manifest["skipped_lines"] == 4 and manifest["files"][0]["skipped"] == 4
    with pytest.raises(BpasteError, match=r"bad.jsonl:2"):
        ingest([f], tmp_path / "ds2", options=IngestOptions(strict=True))
    assert not (tmp_path / "ds2").exists()


def test_unknown_file_named_explicitly_is_one_clear_error(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello\n")
    with pytest.raises(BpasteError, match="in no log format bpaste knows"):
        ingest([f], tmp_path / "ds")
    # found by walking a directory, it is listed as unrecognised instead
    write_jsonl(tmp_path / "a.jsonl", native_session("a", 1))
    result = ingest([tmp_path], tmp_path / "ds")
    assert {f["path"].split("/")[-1]: f["status"] for f in result.files} == {"a.jsonl": "ingested", "notes.txt": "unrecognised"}


def test_newer_schema_and_foreign_directories_are_refused(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", native_session("a", 1))
    out = tmp_path / "ds"
    ingest([f], out)
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    manifest["schema_version"] = 99
    (out / "manifest.json").write_bytes(orjson.dumps(manifest))
    with pytest.raises(BpasteError, match="newer than this bpaste understands"):
        load_dataset(out)
    with pytest.raises(BpasteError, match="not a trace dataset"):
        load_dataset(tmp_path)
    with pytest.raises(BpasteError, match="is a file"):
        load_dataset(f)


def test_killed_ingest_leaves_previous_dataset_intact(tmp_path):
    """SIGKILL mid-write: the old dataset is untouched, and the next run succeeds and cleans up."""
    small = write_jsonl(tmp_path / "small.jsonl", native_session("s", 2))
    out = tmp_path / "ds"
    before = ingest([small], out)
    big = tmp_path / "big.jsonl"
    with open(big, "w") as fh:
        for i in range(4000):
            for r in native_session(f"b{i}", 20):
                fh.write(json.dumps(r) + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bpaste_cli", "ingest", str(big), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob(".ds.tmp-*/events.parquet")):
        time.sleep(0.02)
    time.sleep(0.3)
    assert proc.poll() is None, "ingest finished before it could be interrupted; make the input bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(tmp_path.glob(".ds.tmp-*")), "the killed run left its temporary directory"
    intact = load_dataset(out)
    assert intact.manifest["dataset_hash"] == before.dataset_hash
    assert intact.sessions.height == 1
    rerun = ingest([small], out)
    assert rerun.dataset_hash == before.dataset_hash
    assert not list(tmp_path.glob(".ds.tmp-*")) and not list(tmp_path.glob(".ds.old-*"))


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_committed_schema_files_match_the_code(name):
    assert (REPO / "schemas" / name).read_bytes() == render(name), "run: python -m bpaste_cli.schemas schemas"


def test_rows_validate_against_the_json_schemas(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", native_session("a", 2))
    ingest([f], tmp_path / "ds")
    ds = load_dataset(tmp_path / "ds")
    events_schema = GENERATED["trace-events.schema.json"]()
    sessions_schema = GENERATED["trace-sessions.schema.json"]()
    for row in ds.events.to_dicts():
        jsonschema.validate(row, events_schema)
    for row in ds.sessions.with_columns(pl.col("started_at").dt.to_string("%Y-%m-%dT%H:%M:%SZ")).to_dicts():
        jsonschema.validate(row, sessions_schema)


def test_a_run_killed_between_the_two_renames_is_recovered(tmp_path):
    """Simulate a kill after 'old aside' and before 'new in place': the next write restores, then replaces."""
    f = write_jsonl(tmp_path / "a.jsonl", native_session("a", 1))
    out = tmp_path / "ds"
    first = ingest([f], out)
    os.replace(out, tmp_path / ".ds.old-crashed")
    assert not out.exists()
    g = write_jsonl(tmp_path / "b.jsonl", native_session("b", 2))
    second = ingest([g], out, append=True)  # append sees the restored dataset
    assert second.sessions == 2 and first.sessions == 1
    assert not list(tmp_path.glob(".ds.old-*"))


def test_ingest_refuses_to_replace_a_directory_it_did_not_write(tmp_path):
    precious = tmp_path / "project"
    precious.mkdir()
    (precious / "notes.md").write_text("mine")
    f = write_jsonl(tmp_path / "a.jsonl", native_session("a", 1))
    with pytest.raises(BpasteError, match="would delete"):
        ingest([f], precious)
    assert (precious / "notes.md").read_text() == "mine"


# --- crafted datasets are one sentence each, at load (issue 11, item 12) -----------------------------


def _crafted(tmp_path, events=None, sessions=None, manifest=None):
    """A dataset ingested from a small session, then one table or the manifest rewritten by hand."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "ds"
    ingest([write_jsonl(tmp_path / "a.jsonl", native_session("a", 2))], out)
    ds = load_dataset(out)
    if events is not None:
        pq.write_table(pa.Table.from_pylist(events(ds.events.to_dicts())), out / "events.parquet")
    if sessions is not None:
        pq.write_table(pa.Table.from_pylist(sessions(ds.sessions.to_dicts())), out / "sessions.parquet")
    if manifest is not None:
        (out / "manifest.json").write_bytes(orjson.dumps(manifest(ds.manifest)))
    return out


def _set(rows, index, **values):
    rows[index] = rows[index] | values
    return rows


TOOL_ROW = 2  # native_session: user, llm, tool, ...


@pytest.mark.parametrize(
    "craft, message",
    [
        (dict(events=lambda r: _set(r, 0, session_id=None)), "null session_id"),
        (dict(events=lambda r: _set(r, TOOL_ROW, tool=None)), "tool events without a tool name"),
        (dict(events=lambda r: _set(r, TOOL_ROW, step=2_000_000_000)), "step or batch indexes out of range"),
        (dict(events=lambda r: _set(r, TOOL_ROW, batch=-1)), "step or batch indexes out of range"),
        (dict(events=lambda r: _set(r, 0, kind="robot")), "kind 'robot'"),
        (dict(events=lambda r: _set(r, TOOL_ROW, status="maybe")), "status 'maybe'"),
        (dict(events=lambda r: _set(r, 0, wait_reason="coffee")), "wait_reason 'coffee'"),
        (dict(sessions=lambda r: _set(r, 0, session_id="other")), "does not list"),
        (dict(manifest=lambda m: {k: v for k, v in m.items() if k != "dataset_hash"}), "is invalid at the top level: .dataset_hash. is a required property"),
        # through the one artifact gate: a version that is not a JSON integer, files that are not a list
        (dict(manifest=lambda m: m | {"schema_version": "1"}), "has schema version '1', which no bpaste ever wrote"),
        (dict(manifest=lambda m: m | {"files": {}}), "is invalid at files"),
    ],
)
def test_crafted_datasets_are_refused_in_one_sentence(tmp_path, craft, message):
    out = _crafted(tmp_path, **craft)
    with pytest.raises(BpasteError, match=message) as info:
        load_dataset(out)
    assert "re-run `bpaste ingest`" in str(info.value)


def test_writer_stores_the_sessions_columns_as_their_rows(tmp_path, monkeypatch):
    """Sessions added as columns, over several row groups, read back as the rows `finish` gives."""
    from bpaste_cli.trace import DatasetWriter, SessionBuilder
    from bpaste_cli.trace import dataset as dataset_module

    monkeypatch.setattr(dataset_module, "ROW_GROUP_EVENTS", 4)
    writer = DatasetWriter(tmp_path)
    rows, sessions = [], []
    for s in range(3):
        b = SessionBuilder(f"s{s}", "test", "f")
        b.user(1_700_000_000.0 + s, "go")
        b.llm(1_700_000_002.0 + s, model="m", tokens_in=s)
        b.tool_call(None, "Read", {"p": s}, 1_700_000_002.0 + s)
        b.tool_result(f"s{s}#s0c0", 1_700_000_003.5 + s, "ok")
        session, events = b.finish()
        rows += events
        sessions.append(session)
        writer.add_columns(*b.finish_columns())
    writer.close({"kind": "trace-dataset"})
    stored = pl.read_parquet(tmp_path / "events.parquet")
    assert stored.to_dicts() == rows
    assert pl.read_parquet(tmp_path / "sessions.parquet")["session_id"].to_list() == [s["session_id"] for s in sessions]
    assert writer.n_events == len(rows)
