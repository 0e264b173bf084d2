"""`bpaste replay --workers N`: sessions spread over processes give the very figures of one process.

A small synthetic corpus is ingested and mined (the real predictor); the comparison is of the whole
`--json` (every arm, the bound, the bootstrap CI, per-tool rows) and of the per-session rows, byte for
byte. The chunks are small (several per process), and the replaying process takes them as fast as its
helpers do, so one test holds it back until a helper has replayed a chunk: then both surely replay some.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpaste_cli.cli import app
from bpaste_cli.errors import BpasteError
from bpaste_cli.ingest import IngestOptions, ingest
from bpaste_cli.mine import MineOptions, load_predictor, mine
from bpaste_cli.replay import ReplayConfig, replay
from bpaste_cli.replay import run as replay_run
from bpaste_cli.replay.parallel import MIN_CHUNK, _result, chunk_ids
from bpaste_cli.replay.prepared import PREPARE_CHUNK
from bpaste_cli.synth import generate, write
from bpaste_cli.trace import load_dataset

ARMS = "serial,oracle,paste,bpaste,cache"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("workers")
    write(generate(("coding", "research"), sessions=60, seed=3), root / "logs", ["native"])
    ingest([str(root / "logs" / "native")], root / "ds", options=IngestOptions())
    mine(load_dataset(root / "ds"), root / "patterns", MineOptions())
    return root / "ds", root / "patterns"


def _cli(ds: Path, patterns: Path, workers: int, per_session: Path) -> dict:
    result = CliRunner().invoke(app, ["replay", str(ds), "--patterns", str(patterns), "--split", "all", "--arm", ARMS,
                                      "--workers", str(workers), "--per-session", str(per_session), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_two_workers_print_the_json_of_one(corpus, tmp_path):
    ds, patterns = corpus
    one = _cli(ds, patterns, 1, tmp_path / "one.jsonl")
    two = _cli(ds, patterns, 2, tmp_path / "two.jsonl")
    assert one["sessions_replayed"] > 40
    assert one["arms"]["paste"]["spec_started"] > 0 and one["arms"]["bpaste"]["spec_started"] > 0
    assert json.dumps(two, sort_keys=True) == json.dumps(one, sort_keys=True)
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


def test_workers_keep_session_order_and_timeline_sessions(corpus, tmp_path):
    ds, patterns = corpus
    config = ReplayConfig(arms=("serial", "paste"), split="all", bootstrap=20)
    predictor = load_predictor(patterns)
    one = replay(ds, predictor, config=config, timeline=tmp_path / "one.json", timeline_sessions=3)
    three = replay(ds, predictor, config=config, timeline=tmp_path / "three.json", timeline_sessions=3, workers=3)
    assert [r["session_id"] for r in three.per_session] == [r["session_id"] for r in one.per_session]
    assert three.per_session == one.per_session
    assert (tmp_path / "three.json").read_bytes() == (tmp_path / "one.json").read_bytes()


def test_chunks_cover_every_session_once_in_id_order():
    ids = [f"s{i:03d}" for i in (5, 1, 9, 3, 7, 2, 8, 0, 6, 4)]
    for workers in (1, 2, 3, 16):
        chunks = chunk_ids(ids, workers)
        assert [i for c in chunks for i in c] == sorted(ids)
        assert all(chunks)
    assert len(chunk_ids(ids, 1)) == 1  # one process: one chunk of at most PREPARE_CHUNK
    assert [len(c) for c in chunk_ids(ids, 2)] == [MIN_CHUNK, 10 - MIN_CHUNK]  # ceil(10 / (2 * 2)) is below MIN_CHUNK


def test_chunks_shrink_towards_the_end_with_workers():
    ids = [f"s{i:05d}" for i in range(20_000)]
    sizes = [len(c) for c in chunk_ids(ids, 2)]
    assert sum(sizes) == len(ids) and max(sizes) == PREPARE_CHUNK
    assert sizes == sorted(sizes, reverse=True)  # long ones first, short ones last: no worker waits long at the end
    assert all(n >= MIN_CHUNK for n in sizes[:-1]) and len(sizes) < 40
    assert [len(c) for c in chunk_ids(ids, 1)] == [PREPARE_CHUNK] * 10


def test_a_helper_that_died_is_one_sentence():
    """A helper killed or unable to start breaks the pool: the user gets what happened and what to do, no traceback."""
    task = Future()
    task.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
    with pytest.raises(BpasteError, match=r"A replay worker process ended abruptly .* rerun with one worker"):
        _result(task)


class SlowInHelpers:
    """A predictor that answers as `inner` does, but takes 20 ms more per session in any process other than
    `home`: a helper then takes far longer over a chunk than the replaying process needs to take the next one."""

    def __init__(self, inner, home: int) -> None:
        self.inner, self.home = inner, home

    def cursor_for(self, trace):
        if os.getpid() != self.home:
            time.sleep(0.02)
        return self.inner.cursor_for(trace)


def test_this_process_and_a_helper_share_the_chunks(corpus, tmp_path, monkeypatch):
    """With two workers this process replays chunks besides its helper's. The coverage it computes before its
    first chunk is held back here until the helper's first result file exists in the run's folder (else this
    process could take every chunk before the helper starts), and the helper is slowed (else it could take
    every chunk while this process computes the coverage). A helper's chunk advances the progress in one step
    of its sessions x (arms + bound); this process's per session and arm."""
    ds, patterns = corpus
    config = ReplayConfig(arms=("serial", "paste", "bpaste"), split="all", bootstrap=20)
    predictor = load_predictor(patterns)
    one = replay(ds, predictor, config=config)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    real_coverage = replay_run.safety_coverage

    def after_a_helper_result(*args):
        coverage = real_coverage(*args)
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob("bpaste-replay-*/[0-9]*.pickle")):
            assert time.monotonic() < deadline, "the helper wrote no result"
            time.sleep(0.01)
        return coverage

    monkeypatch.setattr(replay_run, "safety_coverage", after_a_helper_result)
    steps: list[int] = []
    two = replay(ds, SlowInHelpers(predictor, os.getpid()), config=config, workers=2, progress=steps.append)
    assert two.to_json() == one.to_json() and two.per_session == one.per_session
    in_helper = [n for n in steps if n >= MIN_CHUNK * (len(config.arms) + 1)]
    assert in_helper and len(steps) > len(in_helper)  # some chunks replayed there, some here
    assert sum(steps) == one.sessions_replayed * (len(config.arms) + 1)
    assert not list(tmp_path.glob("bpaste-replay-*"))  # the run's folder is gone
