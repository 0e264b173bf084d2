"""Atomic writes beside other writers: a writer removes the temporaries of killed runs, never those of a
writer still running; an output folder that cannot be written is one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import atomic_directory, atomic_write_bytes


@pytest.fixture
def live_pid():
    """The pid of a process that runs for the whole test (another writer)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_file_write_keeps_a_running_writers_temporary(tmp_path: Path, live_pid: int) -> None:
    out = tmp_path / "policy.json"
    running = tmp_path / f".policy.json.{live_pid}.abc123.tmp"
    killed = tmp_path / f".policy.json.{_dead_pid()}.def456.tmp"
    running.write_bytes(b"half")
    killed.write_bytes(b"half")
    atomic_write_bytes(out, b"{}")
    assert out.read_bytes() == b"{}"
    assert running.exists(), "a running writer's temporary file was deleted"
    assert not killed.exists(), "a killed writer's temporary file was left behind"


def test_directory_write_keeps_a_running_writers_temporary(tmp_path: Path, live_pid: int) -> None:
    out = tmp_path / "ds"
    running = tmp_path / f".ds.tmp-{live_pid}-abc123"
    killed = tmp_path / f".ds.tmp-{_dead_pid()}-def456"
    running.mkdir()
    killed.mkdir()
    with atomic_directory(out) as tmp:
        (tmp / "x").write_text("1")
    assert (out / "x").read_text() == "1"
    assert running.is_dir(), "a running writer's temporary directory was deleted"
    assert not killed.exists()


def test_a_running_writers_aside_copy_is_not_restored(tmp_path: Path, live_pid: int) -> None:
    """Between its two renames a writer has moved the old version aside: another writer must not move
    it back (the first writer's rename of its new version would then fail)."""
    aside = tmp_path / f".ds.old-{live_pid}-abc123"
    aside.mkdir()
    (aside / "x").write_text("old")
    with atomic_directory(tmp_path / "ds") as tmp:
        (tmp / "x").write_text("new")
    assert (tmp_path / "ds" / "x").read_text() == "new"
    assert aside.is_dir()


def test_a_killed_writers_aside_copy_is_restored(tmp_path: Path) -> None:
    aside = tmp_path / f".ds.old-{_dead_pid()}-abc123"
    aside.mkdir()
    (aside / "x").write_text("old")
    from bpaste_cli.fsutil import restore_interrupted

    restore_interrupted(tmp_path / "ds")
    assert (tmp_path / "ds" / "x").read_text() == "old"


def test_output_under_a_file_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BpasteError, match="Cannot create the folder"):
        atomic_write_bytes(tmp_path / "notes.txt" / "policy.json", b"{}")
    with pytest.raises(BpasteError, match="Cannot create the folder"):
        with atomic_directory(tmp_path / "notes.txt" / "ds"):
            pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to any folder")
def test_unwritable_output_folder_is_one_sentence(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(BpasteError, match="not writable"):
            with atomic_directory(locked / "ds"):
                pass
    finally:
        locked.chmod(0o700)
