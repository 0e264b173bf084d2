"""A split's sessions replayed a chunk at a time, in this process alone or in it and spawned helpers.

A chunk is a run of session ids (in id order) that is prepared and replayed under every arm and the
all-tool-time-hidden bound. Every session's replay depends on its own trace and the run's arguments only
(predictions are memoized per session), so the chunks can run anywhere: `--workers N` replays them in N
processes, this one and N-1 spawned helpers. Each helper loads the columns of the dataset that preparing a
trace reads, and the chunks, predictor, device, config, statistics and safety table from the run's private
folder, once. Every process, this one included (it has all of that already, so no core waits for a helper
to start, and its results are never pickled), takes the next chunk nobody has when it is free to start
one; the chunks shrink towards the end, so that the processes finish together. A helper's result comes
back as a file in that folder. Results are merged in chunk order, so the merged lists, and every figure
computed from them, are the same whatever the number of workers.
"""

from __future__ import annotations

import math
import multiprocessing
import pickle
import signal
import tempfile
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from bpaste_cli.device import Device
from bpaste_cli.errors import BpasteError
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
WORK_FILE = "work.pickle"  # in a run's private folder: the chunks and the `Run`, read by each helper at its start


def _claim(counter: Any) -> int:
    """The index of the next chunk no process has taken (shared by this process and its helpers)."""
    with counter.get_lock():
        index = counter.value
        counter.value = index + 1
    return index


def _init_worker(path: str, folder: str, counter: Any) -> None:
    """A helper's start: the dataset's columns that `prepare` reads (the parent checked the rest), and the chunks
    and the run from the run's private folder (a process's arguments are written to it through a pipe that a
    helper dying at its start would leave the parent blocked on, once they outgrow the pipe's buffer)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the workers
    columns = (("session_id", "seq", *ROW_COLUMNS), SESSION_COLUMNS)
    chunks, run = pickle.loads((Path(folder) / WORK_FILE).read_bytes())
    _WORKER.update(ds=load_dataset(Path(path), columns=columns), folder=Path(folder), chunks=chunks, counter=counter,
                   run=run)


def _replay_in_worker() -> tuple[int, str] | None:
    """The next chunk nobody has taken, replayed in a helper: its index and the file its result was pickled to
    (None when every chunk is taken). The result is pickled with the collector paused (pickling allocates as
    much as the results hold, and each collection would walk the helper's dataset and traces) into the run's
    private folder: a result of megabytes sent through the pool's pipe would wait on the parent's reading
    thread, which shares its interpreter lock with the parent's own replaying."""
    index = _claim(_WORKER["counter"])
    if index >= len(_WORKER["chunks"]):
        return None
    with collection_paused():
        blob = pickle.dumps(replay_chunk(_WORKER["ds"], _WORKER["chunks"][index], _WORKER["run"]),
                            protocol=pickle.HIGHEST_PROTOCOL)
    out = _WORKER["folder"] / f"{index}.pickle"
    out.write_bytes(blob)
    return index, str(out)


def replay_chunks(ds: Dataset, ids: list[str], run: Run, workers: int = 1,
                  progress: Callable[[int], None] | None = None,
                  meanwhile: Callable[[], None] | None = None) -> Iterator[ChunkResult]:
    """The chunks of `ids` replayed, in order; with `workers` > 1 in that many processes, this one and spawned
    helpers that read the dataset from `ds.path` (`progress` advances a chunk at a time for a helper's chunks).
    `meanwhile`, the caller's own work on the split, is done once before the first chunk is yielded: with
    workers, while the helpers start and replay. A task queued in the pool takes its chunk when it starts, not
    when it is queued, so the short chunks at the end go to whoever is free."""
    chunks = chunk_ids(ids, workers)
    if workers <= 1 or len(chunks) <= 1:
        if meanwhile is not None:
            meanwhile()
        for part in chunks:
            yield replay_chunk(ds, part, run, progress)
        return
    spawn = multiprocessing.get_context("spawn")
    counter = spawn.Value("q", 0)
    with tempfile.TemporaryDirectory(prefix="bpaste-replay-") as folder:
        (Path(folder) / WORK_FILE).write_bytes(pickle.dumps((chunks, run), protocol=pickle.HIGHEST_PROTOCOL))
        pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)) - 1, mp_context=spawn,  # this process is one
                                   initializer=_init_worker, initargs=(str(ds.path), folder, counter))
        try:
            tasks = {pool.submit(_replay_in_worker) for _ in chunks}  # at most one chunk each; the rest find none
            if meanwhile is not None:
                meanwhile()
            here: dict[int, ChunkResult] = {}  # chunks replayed in this process, by index, until yielded
            there: dict[int, Path] = {}  # chunks replayed in a helper: their result files
            yielded = 0
            while (index := _claim(counter)) < len(chunks) or yielded < len(chunks):
                if index < len(chunks):
                    here[index] = replay_chunk(ds, chunks[index], run, progress)
                elif yielded not in here and yielded not in there:  # every chunk is taken: wait for a helper's
                    wait(tasks, return_when=FIRST_COMPLETED)
                for task in [t for t in tasks if t.done()]:
                    tasks.remove(task)
                    if (done := _result(task)) is not None:
                        there[done[0]] = Path(done[1])
                while yielded in here or yielded in there:
                    yield here.pop(yielded) if yielded in here else _received(there.pop(yielded), run, progress)
                    yielded += 1
        finally:  # every result is in, or none is wanted: a helper still starting, or finding no chunk, is not needed
            _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the helpers now, and wait until they are gone (before their folder is)."""
    processes = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.terminate()
    for p in processes:
        p.join()


def _result(task: Future) -> tuple[int, str] | None:
    """A helper's task's outcome; a helper that died (killed, out of memory, or unable to start) is the user's to
    know about in one sentence."""
    try:
        return task.result()
    except BrokenProcessPool:
        raise BpasteError(
            "A replay worker process ended abruptly (killed, out of memory, or unable to start: a script of your own "
            "that replays with workers must do so under `if __name__ == \"__main__\":`); rerun with one worker "
            "to replay in this process alone."
        ) from None


def _received(path: Path, run: Run, progress: Callable[[int], None] | None) -> ChunkResult:
    """A helper's chunk result, unpickled with the collector paused (see `_replay_in_worker`)."""
    blob = path.read_bytes()
    path.unlink()
    with collection_paused():
        part = pickle.loads(blob)
    if progress:
        progress(len(part.bound) * (len(run.config.arms) + 1))
    return part


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
