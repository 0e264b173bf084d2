"""A split's sessions replayed a chunk at a time, in this process or spread over spawned worker processes.

A chunk is a run of session ids (in id order) that is prepared and replayed under every arm and the
all-tool-time-hidden bound. Every session's replay depends on its own trace and the run's arguments only
(predictions are memoized per session), so the chunks can run anywhere: `--workers N` hands them to N
spawned processes, each of which loads the columns of the dataset that preparing a trace reads, once, and
receives the predictor, device, config, statistics and safety table once; the chunks shrink towards the
end, so that the workers finish together. Results are merged in chunk order, so the merged lists, and
every figure computed from them, are the same whatever the number of workers.
"""

from __future__ import annotations

import math
import multiprocessing
import pickle
import signal
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from bpaste_cli.device import Device
from bpaste_cli.gcpause import collection_paused
from bpaste_cli.replay.config import ReplayConfig
from bpaste_cli.replay.engine import SessionResult
from bpaste_cli.replay.prepared import PREPARE_CHUNK
from bpaste_cli.replay.session import replay_traces, run_session
from bpaste_cli.replay.traces import ROW_COLUMNS, SESSION_COLUMNS, SKIP_REASONS, SessionTrace, prepare
from bpaste_cli.replay.value import LatencyStats, ValueModel
from bpaste_cli.safety import SafetyTable
from bpaste_cli.trace import Dataset, load_dataset

SHARE_PER_WORKER = 2  # with workers, a chunk is 1/(2·workers) of the sessions left: shorter and shorter ones at the end
MIN_CHUNK = 8  # sessions: below this a chunk's fixed cost (selecting its rows) outweighs what it balances


@dataclass
class Run:
    """What replaying a chunk needs besides its session ids (sent once to every worker)."""

    predictor: Any
    device: Device
    config: ReplayConfig
    stats: LatencyStats
    safety: SafetyTable
    allowed: frozenset[str]
    value_model: ValueModel | None = None
    keep: int = 0  # sessions whose schedules are kept for a timeline (the first ones of each chunk)


@dataclass
class ChunkResult:
    """One chunk replayed: per arm the result of each timed session, the bound's, the skipped counts and
    the first `Run.keep` traces (for a timeline)."""

    results: dict[str, list[SessionResult]]
    bound: list[SessionResult]
    skipped: dict[str, int]
    kept: list[SessionTrace] = field(default_factory=list)


def replay_chunk(ds: Dataset, ids: list[str], run: Run, progress: Callable[[int], None] | None = None) -> ChunkResult:
    """Prepare the sessions `ids` and replay them under every arm of `run.config` and the bound (`progress`:
    called per session and arm)."""
    traces, skipped = prepare(ds.events, ds.sessions, run.safety, run.allowed, ids)
    results = replay_traces(traces, run.predictor, run.device, run.config, run.stats, run.safety,
                            value_model=run.value_model, keep_jobs_for=run.keep, progress=progress, shared_cache=False)
    with collection_paused():  # as in replay_traces: the bound makes no reference cycles either
        bound = [run_session(tr, "serial", run.device, run.config, run.stats, run.safety, hide_all_tools=True) for tr in traces]
    if progress:
        progress(len(traces))
    return ChunkResult(results, bound, skipped, traces[: run.keep])


def chunk_ids(ids: list[str], workers: int) -> list[list[str]]:
    """`ids` in id order, cut into runs of at most PREPARE_CHUNK. With several workers the runs shrink as the
    sessions left do (guided self-scheduling), so the last ones are short and no worker waits long for another
    to finish its last, while the first ones are long and the chunks few."""
    ordered = sorted(ids)
    if workers <= 1:
        return [ordered[lo : lo + PREPARE_CHUNK] for lo in range(0, len(ordered), PREPARE_CHUNK)]
    chunks, lo = [], 0
    while lo < len(ordered):
        size = min(PREPARE_CHUNK, max(MIN_CHUNK, math.ceil((len(ordered) - lo) / (workers * SHARE_PER_WORKER))))
        chunks.append(ordered[lo : lo + size])
        lo += size
    return chunks


_WORKER: dict[str, Any] = {}


def _init_worker(path: str, run: Run) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the workers
    columns = (("session_id", "seq", *ROW_COLUMNS), SESSION_COLUMNS)  # what `prepare` reads; the parent checked the rest
    _WORKER["ds"], _WORKER["run"] = load_dataset(Path(path), columns=columns), run


def _replay_in_worker(ids: list[str]) -> bytes:
    """A chunk's result, pickled here with the collector paused (pickling allocates as much as the results hold,
    and each collection would walk the worker's dataset and traces); the parent unpickles it the same way."""
    with collection_paused():
        return pickle.dumps(replay_chunk(_WORKER["ds"], ids, _WORKER["run"]), protocol=pickle.HIGHEST_PROTOCOL)


def replay_chunks(ds: Dataset, ids: list[str], run: Run, workers: int = 1,
                  progress: Callable[[int], None] | None = None,
                  meanwhile: Callable[[], None] | None = None) -> Iterator[ChunkResult]:
    """The chunks of `ids` replayed, in order; with `workers` > 1 in that many spawned processes, which read
    the dataset from `ds.path` (`progress` then advances a chunk at a time). `meanwhile`, the caller's own work
    on the split, is done once before the first chunk is yielded: with workers, while they replay."""
    chunks = chunk_ids(ids, workers)
    if workers <= 1 or len(chunks) <= 1:
        if meanwhile is not None:
            meanwhile()
        for part in chunks:
            yield replay_chunk(ds, part, run, progress)
        return
    pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(str(ds.path), run))
    try:
        parts = pool.map(_replay_in_worker, chunks)
        if meanwhile is not None:
            meanwhile()
        for blob in parts:
            with collection_paused():
                part = pickle.loads(blob)
            if progress:
                progress(len(part.bound) * (len(run.config.arms) + 1))
            yield part
    except BaseException:
        processes = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            p.terminate()
        raise
    pool.shutdown()


def merge(parts: Iterator[ChunkResult], arms: tuple[str, ...], keep: int) -> ChunkResult:
    """The chunks' results end to end (schedules kept only for the first `keep` sessions overall)."""
    out = ChunkResult({name: [] for name in arms}, [], dict.fromkeys(SKIP_REASONS, 0))
    for part in parts:
        for why, n in part.skipped.items():
            out.skipped[why] += n
        for name, rows in part.results.items():
            for r in rows[max(0, keep - len(out.results[name])):]:
                r.jobs = r.times = None
            out.results[name] += rows
        out.bound += part.bound
        out.kept += part.kept[: max(0, keep - len(out.kept))]
    return out
