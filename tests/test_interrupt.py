"""Kill every writing verb mid-write (SIGKILL): the previous output is intact (same content hash), a
rerun succeeds and leaves no temporary files. `ingest` is covered in test_dataset.py.

To kill at the worst moment deterministically, the CLI runs with `os.replace` made to hang on its first
call: every byte of the new output is then written to temporary files, and the rename that would
commit it has not happened. A writer that does not go through a temporary file and a rename never
hangs and fails the test. A verb that writes adds one row to WRITERS.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from bpaste_cli.ingest import ingest
from bpaste_cli.synth import ARCHETYPES, generate, write

REPO = Path(__file__).resolve().parent.parent
HANG_AT_FIRST_RENAME = """
import os, sys, time
_replace = os.replace
def _hang(*args, **kwargs):
    sys.stderr.write("HANGING-BEFORE-RENAME\\n"); sys.stderr.flush()
    time.sleep(600)
os.replace = _hang
sys.argv[0] = "bpaste"
from bpaste_cli.cli import main
main()
"""


@dataclass(frozen=True)
class Writer:
    first: Callable[[Path], list[str]]  # argv writing the previous output
    second: Callable[[Path], list[str]]  # argv writing a different output to the same place
    outputs: tuple[str, ...]  # what must stay intact (files or directories, relative to the work dir)


WRITERS: dict[str, Writer] = {
    "synth": Writer(lambda d: ["synth", "-o", "corpus", "--sessions", "4", "--format", "native,claude-code"],
                    lambda d: ["synth", "-o", "corpus", "--sessions", "40", "--seed", "9", "--format", "native,claude-code"],
                    ("corpus",)),
    "mine": Writer(lambda d: ["mine", "ds", "-o", "pat", "--min-support", "5"],
                   lambda d: ["mine", "ds", "-o", "pat", "--min-support", "2"],
                   ("pat",)),
    "replay --per-session": Writer(lambda d: ["replay", "ds", "--arm", "serial", "--per-session", "rows.csv"],
                                   lambda d: ["replay", "ds", "--arm", "serial", "--split", "all", "--per-session", "rows.csv"],
                                   ("rows.csv",)),
    "replay --timeline": Writer(lambda d: ["replay", "ds", "--arm", "serial", "--timeline", "trace.json"],
                                lambda d: ["replay", "ds", "--arm", "serial", "--split", "all", "--timeline", "trace.json"],
                                ("trace.json",)),
}


def tree_hash(path: Path) -> str:
    """Content hash of a file, or of every file (name and bytes) under a directory, temporary ones aside."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    for f in files:
        h.update(str(f.relative_to(path.parent)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def litter(work: Path) -> list[str]:
    return sorted(str(p.relative_to(work)) for p in work.rglob(".*") if ".tmp" in p.name or ".old-" in p.name)


def _cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpaste_cli", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("interrupt")
    write(generate(ARCHETYPES, sessions=40, seed=2), root / "logs", ["native"])
    ingest([root / "logs"], root / "ds")
    return root


@pytest.mark.parametrize("verb", list(WRITERS))
def test_killed_writer_leaves_previous_output_intact(template, tmp_path, verb):
    w = WRITERS[verb]
    work = tmp_path / "work"
    shutil.copytree(template, work)
    first = _cli(w.first(work), work)
    assert first.returncode == 0, first.stderr
    before = {o: tree_hash(work / o) for o in w.outputs}

    proc = subprocess.Popen([sys.executable, "-c", HANG_AT_FIRST_RENAME, *w.second(work)], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        line = proc.stderr.readline()  # blocks until the hang (or the end: a writer without a rename)
        assert line.strip() == "HANGING-BEFORE-RENAME", f"{verb} wrote without a temporary file and a rename: {line}"
        assert litter(work), "the new output is not in a temporary file beside the old one"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert {o: tree_hash(work / o) for o in w.outputs} == before, "the previous output changed"

    rerun = _cli(w.second(work), work)
    assert rerun.returncode == 0, rerun.stderr
    assert {o: tree_hash(work / o) for o in w.outputs} != before, "the rerun did not write its output"
    assert litter(work) == [], "temporary files of the killed run are left behind"


def test_synth_killed_while_streaming_keeps_the_previous_corpus(tmp_path):
    """Without fault injection: kill synth while it streams a large corpus into its temporary folder."""
    first = _cli(["synth", "-o", "corpus", "--sessions", "3", "--format", "native"], tmp_path)
    assert first.returncode == 0, first.stderr
    before = tree_hash(tmp_path / "corpus")
    proc = subprocess.Popen([sys.executable, "-m", "bpaste_cli", "synth", "-o", "corpus", "--sessions", "200000",
                             "--format", "native"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.time() + 60
    while time.time() < deadline and not any(
            f.stat().st_size > 0 for f in (tmp_path / "corpus").glob(".native.tmp-*/*") if f.is_file()):
        time.sleep(0.02)
    assert proc.poll() is None, "synth finished before it could be interrupted; make the corpus bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert tree_hash(tmp_path / "corpus") == before
    rerun = _cli(["synth", "-o", "corpus", "--sessions", "3", "--format", "native"], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert tree_hash(tmp_path / "corpus") == before  # same seed, byte-identical files
    assert litter(tmp_path) == []
