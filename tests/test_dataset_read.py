"""Reading a dataset: polars straight from Parquet gives the frames the Arrow round trip gave (same columns,
order, types and values), casts what is stored with another type only where lossless, and words every
unreadable table as one sentence."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from bpaste_cli.errors import BpasteError
from bpaste_cli.ingest import ingest
from bpaste_cli.synth import generate, write
from bpaste_cli.trace import EVENTS_SCHEMA, SESSIONS_SCHEMA, load_dataset

REPO = Path(__file__).resolve().parent.parent


def arrow_round_trip(file: Path, schema: pa.Schema) -> pl.DataFrame:
    """The reference reading: the whole table through pyarrow, cast to the schema, converted to polars."""
    frame = pl.from_arrow(pq.read_table(file).select(schema.names).cast(schema))
    assert isinstance(frame, pl.DataFrame)
    return frame


def assert_read_as_before(ds_dir: Path) -> None:
    ds = load_dataset(ds_dir)
    for frame, name, schema in ((ds.events, "events.parquet", EVENTS_SCHEMA), (ds.sessions, "sessions.parquet", SESSIONS_SCHEMA)):
        reference = arrow_round_trip(ds_dir / name, schema)
        assert frame.columns == schema.names
        assert frame.schema == reference.schema
        assert_frame_equal(frame, reference, check_exact=True)


def test_sample_traces_read_as_through_arrow(tmp_path):
    ingest([str(REPO / "sample_traces")], tmp_path / "ds")
    assert_read_as_before(tmp_path / "ds")


def test_synthetic_sessions_read_as_through_arrow(tmp_path, monkeypatch):
    # small row groups, so the events file holds many of them (polars reads them in parallel)
    monkeypatch.setattr("bpaste_cli.trace.dataset.ROW_GROUP_EVENTS", 500)
    write(generate(("coding", "research"), sessions=60, seed=3), tmp_path / "logs", ["native", "claude-code"])
    ingest([str(tmp_path / "logs")], tmp_path / "ds")
    assert pq.ParquetFile(tmp_path / "ds" / "events.parquet").num_row_groups > 3
    assert_read_as_before(tmp_path / "ds")


def test_real_traces_read_as_through_arrow(tmp_path, shared_traces):
    ingest([str(shared_traces / "claude-code-spotter")], tmp_path / "ds")
    assert_read_as_before(tmp_path / "ds")


@pytest.fixture
def dataset(tmp_path) -> Path:
    ingest([str(REPO / "sample_traces" / "native")], tmp_path / "ds")
    return tmp_path / "ds"


def _rewrite(ds_dir: Path, name: str, change) -> None:
    table = pq.read_table(ds_dir / name)
    pq.write_table(change(table), ds_dir / name)


def test_a_column_stored_wider_is_cast_back_losslessly(dataset):
    before = load_dataset(dataset)

    def widen(t: pa.Table) -> pa.Table:  # int32 columns stored as int64
        t = t.set_column(t.schema.get_field_index("seq"), "seq", t["seq"].cast(pa.int64()))
        return t.set_column(t.schema.get_field_index("step"), "step", t["step"].cast(pa.int64()))

    _rewrite(dataset, "events.parquet", widen)
    _rewrite(dataset, "sessions.parquet", lambda t: t.set_column(
        t.schema.get_field_index("started_at"), "started_at", t["started_at"].cast(pa.timestamp("ns", tz="UTC"))))
    assert pl.read_parquet_schema(dataset / "events.parquet")["seq"] == pl.Int64
    after = load_dataset(dataset)
    assert_frame_equal(after.events, before.events, check_exact=True)
    assert_frame_equal(after.sessions, before.sessions, check_exact=True)


def test_extra_columns_are_dropped_and_the_order_restored(dataset):
    before = load_dataset(dataset)
    _rewrite(dataset, "events.parquet", lambda t: t.select(list(reversed(t.column_names))).append_column(
        "note", pa.array(["x"] * t.num_rows)))
    after = load_dataset(dataset)
    assert after.events.columns == EVENTS_SCHEMA.names
    assert_frame_equal(after.events, before.events, check_exact=True)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.drop_columns(["t_end", "tool"]), r"events.parquet lacks the column\(s\) tool, t_end"),
        (lambda t: t.set_column(t.schema.get_field_index("step"), "step",
                                pa.array([1.5] * t.num_rows)), r"events.parquet has a column of the wrong type .*truncated"),
        (lambda t: t.set_column(t.schema.get_field_index("seq"), "seq",
                                pa.array([2**40] * t.num_rows)), r"events.parquet has a column of the wrong type .*not in range"),
        (lambda t: t.set_column(t.schema.get_field_index("t_start"), "t_start",
                                pa.array(["soon"] * t.num_rows)), r"events.parquet has a column of the wrong type"),
    ],
)
def test_a_table_of_the_wrong_shape_is_one_sentence(dataset, change, message):
    _rewrite(dataset, "events.parquet", change)
    with pytest.raises(BpasteError, match=message) as info:
        load_dataset(dataset)
    assert "re-run `bpaste ingest`" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["events.parquet", "sessions.parquet"])
def test_a_damaged_or_missing_table_is_one_sentence(dataset, name):
    data = (dataset / name).read_bytes()
    (dataset / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(BpasteError, match="has an unreadable Parquet file .*re-run `bpaste ingest`"):
        load_dataset(dataset)
    (dataset / name).unlink()
    with pytest.raises(BpasteError, match="has an unreadable Parquet file .*re-run `bpaste ingest`"):
        load_dataset(dataset)
