"""Ingest never loses or poisons data: grown and resumed session logs, bad times, deep records, hostile
file-system entries, format detection at the edges, --append bookkeeping, and native sessions handed on
as they end. Expected values are worked out by hand from the records written here."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bpaste_cli.errors import BpasteError
from bpaste_cli.ingest import base, detect_format, ingest, native
from bpaste_cli.ingest.base import ReadContext, SkipReport
from bpaste_cli.stats import compute_stats, session_breakdown
from bpaste_cli.trace.builder import Limits
from bpaste_cli.trace.dataset import load_dataset
from native_support import native_session

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2031, 5, 4, 10, 0, 0, tzinfo=timezone.utc)


def ts(offset: float) -> str:
    return (T0 + timedelta(seconds=offset)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cc_session(sid: str, n_calls: int, t0: float = 0.0, prefix: str = "") -> list[dict]:
    """A Claude Code session: a prompt, then `n_calls` steps of one Read call each, then an answer.
    Records: 1 + 2 * n_calls + 1; events: 1 user + (n_calls + 1) llm + n_calls tool."""
    tag = prefix or sid[:4]
    recs = [{"type": "user", "sessionId": sid, "uuid": f"{tag}-u", "timestamp": ts(t0),
             "message": {"role": "user", "content": "read the files"}}]
    t = t0
    for i in range(n_calls):
        t += 2
        recs.append({"type": "assistant", "sessionId": sid, "uuid": f"{tag}-a{i}", "timestamp": ts(t),
                     "message": {"id": f"{tag}-m{i}", "role": "assistant", "model": "m",
                                 "content": [{"type": "tool_use", "id": f"{tag}-c{i}", "name": "Read",
                                              "input": {"file_path": f"f{i}.py"}}]}})
        t += 1
        recs.append({"type": "user", "sessionId": sid, "uuid": f"{tag}-r{i}", "timestamp": ts(t),
                     "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"{tag}-c{i}",
                                                               "content": f"body {i}"}]}})
    recs.append({"type": "assistant", "sessionId": sid, "uuid": f"{tag}-end", "timestamp": ts(t + 2),
                 "message": {"id": f"{tag}-mend", "role": "assistant", "model": "m",
                             "content": [{"type": "text", "text": "done"}]}})
    return recs


def write(path: Path, records: list, *, prefix: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(prefix + b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records))
    return path


def manifest_of(out: Path) -> dict:
    return orjson.loads((out / "manifest.json").read_bytes())


# --- item 1: a session log that grew ------------------------------------------------------------------


def test_append_after_a_session_log_grew_keeps_the_new_events(tmp_path: Path) -> None:
    full = cc_session("0a0a0a0a-0000-4000-8000-000000000001", 6)  # 14 records, 14 events
    logs = tmp_path / "g"
    write(logs / "s.jsonl", full[:7])  # prompt + 3 steps: 1 user + 3 llm + 3 tool = 7 events
    out = tmp_path / "ds"
    first = ingest([logs], out)
    assert (first.sessions, first.events, first.tool_calls) == (1, 7, 3)
    write(logs / "s.jsonl", full)
    grown = ingest([logs], out, append=True)
    fresh = ingest([logs], tmp_path / "fresh")
    assert (fresh.sessions, fresh.events, fresh.tool_calls) == (1, 14, 6)
    assert (grown.sessions, grown.events, grown.tool_calls) == (1, 14, 6)
    ds, ref = load_dataset(out), load_dataset(tmp_path / "fresh")
    assert ds.events.drop("source_file").equals(ref.events.drop("source_file"))
    assert grown.dataset_hash == fresh.dataset_hash  # the old content's hash no longer counts
    rows = manifest_of(out)["files"]
    assert [r["status"] for r in rows] == ["ingested"] and rows[0]["tool_calls"] == 6
    assert manifest_of(out)["skipped_by_reason"] == {}


def test_a_grown_file_replaces_only_its_own_sessions(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", native_session("a", 2))
    b = write(tmp_path / "b.jsonl", native_session("b", 1))
    out = tmp_path / "ds"
    ingest([a, b], out)
    write(a, native_session("a", 4))
    result = ingest([a, b], out, append=True)
    ds = load_dataset(out)
    per = dict(zip(ds.sessions["session_id"].to_list(), ds.sessions["n_tool_calls"].to_list()))
    assert per == {"native:a": 4, "native:b": 1}
    assert (result.sessions, result.tool_calls) == (2, 5)
    assert [f["status"] for f in result.files] == ["ingested", "already_present"]


# --- item 2: resumed Claude Code sessions -------------------------------------------------------------

OLD = "1b1b1b1b-0000-4000-8000-000000000001"
NEW = "2c2c2c2c-0000-4000-8000-000000000002"


def _resumed(tmp_path: Path) -> tuple[Path, Path]:
    old = cc_session(OLD, 2)  # 6 records -> 1 user + 3 llm + 2 tool = 6 events
    new = cc_session(NEW, 3, t0=100.0)  # 8 records -> 1 + 4 + 3 = 8 events
    return write(tmp_path / "logs" / f"{OLD}.jsonl", old), write(tmp_path / "logs" / f"{NEW}.jsonl", old + new)


@pytest.mark.parametrize("order", ["old_first", "new_first"])
def test_resumed_session_is_filed_under_its_own_id_in_either_order(tmp_path: Path, order: str) -> None:
    old_file, new_file = _resumed(tmp_path)
    files = [old_file, new_file] if order == "old_first" else [new_file, old_file]
    result = ingest(files, tmp_path / "ds")
    ds = load_dataset(tmp_path / "ds")
    per = {sid: (n, f.split("/")[-1][:4]) for sid, n, f in ds.sessions.select("session_id", "n_events", "source_file").iter_rows()}
    assert per == {f"claude-code:{OLD}": (6, OLD[:4]), f"claude-code:{NEW}": (8, NEW[:4])}
    assert (result.sessions, result.events, result.tool_calls) == (2, 14, 5)
    assert result.report.by_reason == {"copied_history": 1}  # the copy in the new file, counted


def test_resumed_session_alone_keeps_the_copied_history(tmp_path: Path) -> None:
    _, new_file = _resumed(tmp_path)
    result = ingest([new_file], tmp_path / "ds")
    ds = load_dataset(tmp_path / "ds")
    assert sorted(ds.sessions["session_id"].to_list()) == [f"claude-code:{OLD}", f"claude-code:{NEW}"]
    assert (result.sessions, result.events, result.report.total) == (2, 14, 0)
    assert manifest_of(tmp_path / "ds")["files"][0]["sessions"] == 2


# --- item 4: non-finite and absurd times --------------------------------------------------------------


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", 1e308, "9999-12-31T00:00:00Z"])
def test_non_finite_or_absurd_times_are_counted_skips(tmp_path: Path, bad) -> None:
    good = native_session("good", 2)  # times 0..8: agent time 8 s
    poisoned = native_session("bad", 2)
    poisoned[3] = dict(poisoned[3], t_end=bad)  # the first call's result time
    poisoned[4] = dict(poisoned[4], t_end=bad)  # the second step's emission
    f = write(tmp_path / "x.jsonl", good + poisoned)
    result = ingest([f], tmp_path / "ds")
    assert result.report.by_reason == {"bad_time": 2}
    assert {s.line for s in result.report.examples} == {len(good) + 4, len(good) + 5}
    stats = compute_stats(load_dataset(tmp_path / "ds"))
    numbers = [v for v in _leaves(stats) if isinstance(v, float)]
    assert numbers and all(math.isfinite(v) for v in numbers)
    breakdown = session_breakdown(load_dataset(tmp_path / "ds"))
    assert breakdown.filter(pl.col("session_id") == "native:good")["agent_time_s"].item() == 8.0
    assert all(math.isfinite(v) for v in breakdown["agent_time_s"].to_list())


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


# --- item 5: deeply nested records --------------------------------------------------------------------


DEEP = b'"DEEP"'  # stands for the nested value in the lines below


def _deep_json(depth: int) -> bytes:
    return b'{"k":' * depth + b'"leaf"' + b"}" * depth


@pytest.mark.parametrize("depth", [300, 600, 1000, 1100])
def test_deeply_nested_arguments_and_results_are_counted_skips(tmp_path: Path, depth: int) -> None:
    lines = native_session("a", 2)
    lines.insert(3, {"session_id": "a", "kind": "tool", "tool": "Deep", "args": "DEEP", "t_start": 3, "t_end": 3.5})
    lines.append({"session_id": "a", "kind": "tool", "tool": "Wide", "args": {}, "t_start": 9, "t_end": 9.5, "result": "DEEP"})
    f = write(tmp_path / "deep.jsonl", [orjson.dumps(x).replace(DEEP, _deep_json(depth)) for x in lines])
    result = ingest([f], tmp_path / "ds")
    if depth > 1024:  # beyond the JSON parser's nesting limit (1024): the lines do not parse
        assert result.report.by_reason == {"not_json": 2}
    else:
        assert result.report.by_reason == {"too_deep": 2}
    tools = load_dataset(tmp_path / "ds").events.filter(pl.col("kind") == "tool")["tool"].to_list()
    assert tools.count("Read") == 2 and "Deep" not in tools
    # the Wide call stays, without the result that could not be stored (or goes with its line)
    assert tools.count("Wide") == (0 if depth > 1024 else 1)


# --- item 6: file-system conditions -------------------------------------------------------------------


def _logs_with(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    write(logs / "good.jsonl", native_session("good", 1))
    return logs


def test_dangling_link_and_link_loop_are_counted(tmp_path: Path) -> None:
    logs = _logs_with(tmp_path)
    (logs / "dangling.jsonl").symlink_to(logs / "gone.jsonl")
    (logs / "loop1.jsonl").symlink_to(logs / "loop2.jsonl")
    (logs / "loop2.jsonl").symlink_to(logs / "loop1.jsonl")
    result = ingest([logs], tmp_path / "ds")
    assert result.sessions == 1
    assert result.report.by_reason == {"broken_link": 1, "link_loop": 2}
    with pytest.raises(BpasteError, match="broken or looping symbolic link"):
        ingest([logs / "dangling.jsonl"], tmp_path / "ds2")


def test_fifo_and_device_links_do_not_hang(tmp_path: Path) -> None:
    """Run in a child process with a deadline: before, reading the FIFO blocked forever."""
    logs = _logs_with(tmp_path)
    os.mkfifo(logs / "pipe.jsonl")
    (logs / "zero.jsonl").symlink_to("/dev/zero")
    code = (
        "import sys, json; from bpaste_cli.ingest import ingest; "
        f"r = ingest([{str(logs)!r}], {str(tmp_path / 'ds')!r}); "
        "print(json.dumps([r.sessions, dict(r.report.by_reason)]))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout) == [1, {"not_a_regular_file": 2}]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds.")]  # no temporary left behind
    with pytest.raises(BpasteError, match="not a regular file"):
        ingest([logs / "pipe.jsonl"], tmp_path / "ds2")


def test_non_utf8_file_name_is_stored_escaped(tmp_path: Path) -> None:
    logs = _logs_with(tmp_path)
    name = os.fsdecode(b"caf\xe9.jsonl")
    write(logs / name, native_session("latin", 1))
    result = ingest([logs], tmp_path / "ds")
    assert result.sessions == 2
    files = sorted(load_dataset(tmp_path / "ds").sessions["source_file"].to_list())
    assert any(f.endswith("caf\\xe9.jsonl") for f in files), files


def test_file_deleted_mid_run_is_counted(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write(logs / "a.jsonl", native_session("a", 1))
    write(logs / "b.jsonl", native_session("b", 1))

    def delete_b(_n: int) -> None:
        (logs / "b.jsonl").unlink(missing_ok=True)

    result = ingest([logs], tmp_path / "ds", progress=delete_b)
    assert result.sessions == 1
    assert result.report.by_reason == {"vanished": 1}
    assert {f["path"].split("/")[-1]: f["status"] for f in result.files} == {"a.jsonl": "ingested", "b.jsonl": "vanished"}


def test_output_under_a_file_is_one_sentence(tmp_path: Path) -> None:
    logs = _logs_with(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BpasteError, match="Cannot create the folder"):
        ingest([logs], tmp_path / "notes.txt" / "ds")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_and_folder_are_counted(tmp_path: Path) -> None:
    logs = _logs_with(tmp_path)
    secret = write(logs / "locked.jsonl", native_session("locked", 1))
    folder = logs / "private"
    write(folder / "inner.jsonl", native_session("inner", 1))
    secret.chmod(0)
    folder.chmod(0)
    try:
        result = ingest([logs], tmp_path / "ds")
    finally:
        secret.chmod(0o600)
        folder.chmod(0o700)
    assert result.sessions == 1
    assert result.report.by_reason == {"unreadable": 2}


# --- item 8: format detection -------------------------------------------------------------------------


def test_native_file_with_a_long_first_line_is_detected(tmp_path: Path) -> None:
    lines = native_session("long", 2)
    lines[0]["text"] = "x" * (200 * 1024)
    logs = tmp_path / "logs"
    f = write(logs / "long.jsonl", lines)
    assert detect_format(f) is native
    result = ingest([logs], tmp_path / "ds")
    assert (result.sessions, result.tool_calls) == (1, 2)


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    nat = write(tmp_path / "logs" / "n.jsonl", native_session("bom", 1), prefix=b"\xef\xbb\xbf")
    cc = write(tmp_path / "logs" / "c.jsonl", cc_session("3d3d3d3d-0000-4000-8000-000000000003", 2), prefix=b"\xef\xbb\xbf")
    assert detect_format(nat) is native
    result = ingest([tmp_path / "logs"], tmp_path / "ds")
    ds = load_dataset(tmp_path / "ds")
    per = dict(zip(ds.sessions["session_id"].to_list(), ds.sessions["n_events"].to_list()))
    # the Claude Code file keeps its first record (the prompt): 1 user + 3 llm + 2 tool
    assert per == {"native:bom": 4, "claude-code:3d3d3d3d-0000-4000-8000-000000000003": 6}
    assert result.report.total == 0 and cc.exists()


# --- item 13: --append bookkeeping --------------------------------------------------------------------


def test_no_op_append_keeps_the_manifest_as_it_was(tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", native_session("a", 2) + [b"{broken"])
    out = tmp_path / "ds"
    ingest([f], out)
    before = manifest_of(out)
    assert before["skipped_by_reason"] == {"not_json": 1} and len(before["skipped_examples"]) == 1
    for _ in range(3):
        again = ingest([f], out, append=True)
        assert [r["status"] for r in again.files] == ["already_present"]
    after = manifest_of(out)
    assert after["files"] == before["files"]
    assert after["skipped_examples"] == before["skipped_examples"]
    assert after["skipped_by_reason"] == before["skipped_by_reason"] and after["dataset_hash"] == before["dataset_hash"]


# --- item 14: native sessions are handed on as they end -----------------------------------------------


def test_native_sessions_are_handed_on_at_their_last_line(tmp_path: Path) -> None:
    first, second = native_session("one", 2), native_session("two", 2)
    f = write(tmp_path / "n.jsonl", first + [b"not json"] + second)
    report = SkipReport()
    ctx = ReadContext(path=f, display="n.jsonl", report=report, limits=Limits(), scrub=None)
    reader = native.read(f, ctx)
    got = next(reader)
    assert got.session_id == "native:one"
    assert report.total == 0  # the line after session one's last was not read yet
    rest = list(reader)
    assert [b.session_id for b in rest] == ["native:two"] and report.total == 1


def test_native_interleaved_sessions_are_complete(tmp_path: Path) -> None:
    a, b = native_session("a", 3), native_session("b", 2, t0=0.5)
    mixed = [x for pair in zip(a, b) for x in pair] + a[len(b):]
    f = write(tmp_path / "mix.jsonl", mixed)
    result = ingest([f], tmp_path / "ds")
    ds = load_dataset(tmp_path / "ds")
    assert dict(zip(ds.sessions["session_id"].to_list(), ds.sessions["n_tool_calls"].to_list())) == {"native:a": 3, "native:b": 2}
    assert result.report.total == 0


# --- native: calls of one step that ran one after another ---------------------------------------------


def test_native_after_previous_calls_are_tool_time_not_gaps(tmp_path: Path) -> None:
    """One step (think 0..2 s) emits A at 2 s (result 5 s), then B once A returned, at 5 s (result 9 s);
    the answer comes at 10 s. Parallel reading books 2..5 s as a gap; with after_previous it is A's stall."""
    lines = [
        {"session_id": "s", "kind": "user", "t": 0},
        {"session_id": "s", "kind": "llm", "t_end": 2},
        {"session_id": "s", "kind": "tool", "tool": "A", "args": {}, "t_start": 2, "t_end": 5, "result": "a"},
        {"session_id": "s", "kind": "tool", "tool": "B", "args": {}, "t_start": 5, "t_end": 9, "result": "b",
         "after_previous": True},
        {"session_id": "s", "kind": "llm", "t_end": 10},
    ]
    seq = write(tmp_path / "seq.jsonl", lines)
    par = write(tmp_path / "par.jsonl", [{k: v for k, v in x.items() if k != "after_previous"} for x in lines])
    ingest([seq], tmp_path / "ds_seq")
    ingest([par], tmp_path / "ds_par")
    s = session_breakdown(load_dataset(tmp_path / "ds_seq")).row(0, named=True)
    p = session_breakdown(load_dataset(tmp_path / "ds_par")).row(0, named=True)
    # agent time 10 s; think: step 0 = 2 s, step 1 = 9..10 s = 1 s
    assert (s["agent_time_s"], s["think_s"], p["think_s"]) == (10.0, 3.0, 3.0)
    assert (s["tool_stall_s"], s["other_s"]) == (3.0 + 4.0, 0.0)
    assert (p["tool_stall_s"], p["other_s"]) == (4.0, 3.0)
    batches = load_dataset(tmp_path / "ds_seq").events.filter(pl.col("kind") == "tool")["batch"].to_list()
    assert batches[0] != batches[1] and batches[1] == 0  # B, the step's last group, keeps the step's index


def test_permission_errors_are_counted_even_as_root(tmp_path: Path, monkeypatch) -> None:
    """The same as above where tests run as root: the permission errors are raised by stand-ins for
    os.scandir (listing a folder) and os.open (opening a file)."""
    logs = _logs_with(tmp_path)
    locked = write(logs / "locked.jsonl", native_session("locked", 1))
    private = logs / "private"
    write(private / "inner.jsonl", native_session("inner", 1))
    real_scandir, real_open = os.scandir, os.open

    def scandir(path="."):
        if Path(path) == private:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def fake_open(path, flags, *args, **kwargs):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "open", fake_open)
    result = ingest([logs], tmp_path / "ds")
    assert result.sessions == 1
    assert result.report.by_reason == {"unreadable": 2}
    assert sorted(s.where().split("/")[-1] for s in result.report.examples) == ["locked.jsonl", "private"]


def test_a_file_unrecognised_before_and_readable_now_has_one_row(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs).mkdir()
    (logs / "later.jsonl").write_text("still being written\n")
    write(logs / "a.jsonl", native_session("a", 1))
    out = tmp_path / "ds"
    ingest([logs], out)
    write(logs / "later.jsonl", native_session("later", 2))
    result = ingest([logs], out, append=True)
    rows = {r["path"].split("/")[-1]: r["status"] for r in manifest_of(out)["files"]}
    assert rows == {"a.jsonl": "ingested", "later.jsonl": "ingested"} and len(manifest_of(out)["files"]) == 2
    assert (result.sessions, result.tool_calls) == (2, 3)


def test_walked_files_resolve_as_path_resolve_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files found by walking come resolved from their folder; a link is resolved by itself (checked against Path.resolve)."""
    from bpaste_cli.ingest.run import expand_paths

    (tmp_path / "logs" / "a" / "b").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "logs" / "a" / "b" / "s.jsonl").write_text("{}\n")
    (tmp_path / "logs" / "top.jsonl").write_text("{}\n")
    (tmp_path / "elsewhere" / "real.jsonl").write_text("{}\n")
    (tmp_path / "logs" / "a" / "link.jsonl").symlink_to(tmp_path / "elsewhere" / "real.jsonl")
    (tmp_path / "linked-logs").symlink_to(tmp_path / "logs")
    monkeypatch.chdir(tmp_path)
    tops = {"logs": 3, "logs/": 3, "./logs//": 3, str(tmp_path / "logs"): 3, "linked-logs": 3, "linked-logs/a/../a": 2}
    for top, n in tops.items():
        found = expand_paths([top])
        assert len(found) == n, top
        for path, explicit, resolved in found:
            assert not explicit and resolved == path.resolve(), (top, path, resolved)
    assert {r.name for _, _, r in expand_paths(["logs"])} == {"s.jsonl", "top.jsonl", "real.jsonl"}


def _reference_jsonl(path: Path, max_line: int) -> tuple[list[tuple[int, object]], list[tuple[int, str]]]:
    """What `iter_jsonl` yields and skips, by Python's own line iteration of the file: a second method."""
    out, skips = [], []
    with open(path, "rb") as fh:
        for no, raw in enumerate(fh, 1):
            if len(raw) > max_line:  # as the file holds it, newline and byte-order mark counted
                skips.append((no, "line_too_long"))
                continue
            raw = raw[3:] if no == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            if raw.strip():
                for attempt in (raw.strip(), raw.strip().decode("utf-8", "replace")):
                    try:
                        out.append((no, orjson.loads(attempt)))
                        break
                    except orjson.JSONDecodeError:
                        pass
                else:
                    skips.append((no, "not_json" if raw.endswith(b"\n") else "truncated_last_line"))
    return out, skips


_JSONL_PIECES = st.sampled_from([b'{"a": 1}', b"[2, 3]", b'"\xff\xfe"', b"\xef\xbb\xbf", b"  ", b"\f", b"{", b"x" * 9, b"\n", b"\n", b"\r\n"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(_JSONL_PIECES, max_size=30), block=st.integers(1, 12), max_line=st.integers(4, 40))
@example(pieces=[b"\xef\xbb\xbf", b'{"a": 1}', b"\n"], block=2, max_line=40)  # a byte-order mark split across blocks
@example(pieces=[b"x" * 9, b"\n"], block=12, max_line=9)  # one byte over the limit with its newline, in one block
def test_jsonl_lines_match_plain_line_iteration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pieces, block, max_line) -> None:
    """Lines read in blocks (a line across any number of block borders, a long one held only as a length)
    parse and skip exactly as the file's own line iteration says."""
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"".join(pieces))
    monkeypatch.setattr(base, "PROGRESS_BYTES", block)
    monkeypatch.setattr(base, "MAX_LINE_BYTES", max_line)
    report = SkipReport()
    got = list(base.iter_jsonl(ReadContext(path=path, display="lines.jsonl", report=report, limits=Limits(), scrub=None)))
    want, skips = _reference_jsonl(path, max_line)
    assert got == want
    assert [(s.line, s.reason) for s in report.examples] == skips
