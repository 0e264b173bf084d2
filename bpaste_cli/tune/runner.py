"""What one tuning process does: open the storage and the study, prepare the validation sessions once,
and run trials (the objective) until its quota is done or the study has enough complete trials.

A worker is described by a plain dict (`spec`) so that `--workers K` can start K spawned processes that
each rebuild their own state: Optuna studies are shared through the storage, never through memory. A
spawned worker dies with the process that started it (`die_with_parent`), so killing `bpaste tune` never
leaves workers running out their quota. A trial's worker (host:pid) is recorded as the trial is made
(`_RecordsWorker`), so a trial whose process is gone is failed at once on this host (`fail_dead_trials`)
rather than after the heartbeat's grace period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import optuna
from optuna.trial import TrialState

from bpaste_cli.device import Device, load_device
from bpaste_cli.errors import BpasteError
from bpaste_cli.fit import load_value_model
from bpaste_cli.mine import load_predictor
from bpaste_cli.policy import replay_config
from bpaste_cli.replay import LatencyStats, ValueModel, prepare_split, replay_traces, summarize
from bpaste_cli.safety import SafetyTable, load_safety
from bpaste_cli.trace import Dataset, load_dataset
from bpaste_cli.tune.space import suggest

DIRECTIONS = {"speedup": "maximize", "waste": "minimize"}
HEARTBEAT_S = 10
GRACE_S = 60


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage (SQLite, PostgreSQL, MySQL: any SQLAlchemy URL), with a heartbeat so that
    the trials of a killed process are marked failed instead of staying `RUNNING` forever."""
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs = {"creator": _sqlite_creator(url)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
        except ImportError as exc:
            raise BpasteError(f"The storage {redact(url)} needs a database driver that is not installed ({exc}); "
                              "for PostgreSQL: pip install 'psycopg[binary]'.") from None
        except Exception as exc:  # SQLAlchemy's errors: bad URL, server down, no permission
            raise BpasteError(f"Cannot open the Optuna storage {redact(url)} ({type(exc).__name__}: {str(exc).splitlines()[0]}).") from None


def _sqlite_creator(url: str) -> Callable[[], Any]:
    """SQLite connections in WAL mode with synchronous=NORMAL: one fsync per checkpoint instead of per
    commit (an Optuna trial makes ~25 commits), and readers never block the writer of another worker."""
    import sqlite3

    from sqlalchemy.engine import make_url

    path = make_url(url).database or ":memory:"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return connect


def redact(url: str) -> str:
    """The storage URL without its password (for messages and the policy's provenance)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def complete_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def worker_id(pid: int | None = None) -> str:
    """How a trial records the process that runs it: host:pid."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def _gone(pid: int) -> bool:
    """Whether no process `pid` exists on this host (POSIX; elsewhere a process is never presumed gone)."""
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def fail_dead_trials(study: optuna.Study) -> None:
    """Mark failed the running trials whose process is gone: those past the heartbeat's grace period (anywhere,
    Optuna's `fail_stale_trials`) and those of a dead process on this host (at once)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    host = socket.gethostname() + ":"
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker", "")
        if worker.startswith(host) and worker[len(host):].isdigit() and _gone(int(worker[len(host):])):
            try:
                study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:  # it finished (or another process failed it) meanwhile
                pass


@dataclass
class Evaluator:
    """The validation sessions (prepared once per process), latency statistics from the training split,
    the predictor (whose answers are cached across trials, `replay.cache_for`) and the value model (for the
    `model` ranking, None without one)."""

    traces: list
    stats: LatencyStats
    predictor: Any
    device: Device
    safety: SafetyTable
    seed: int
    value_model: ValueModel | None = None

    @classmethod
    def build(cls, ds: Dataset, predictor: Any, device: Device, safety: SafetyTable, seed: int,
              value_model: ValueModel | None = None) -> Evaluator:
        val = prepare_split(ds, "validation", seed, safety)
        if not val.traces:
            raise BpasteError(f"The dataset {ds.path} has no timed session in the validation split, so there is nothing to tune on; "
                              "ingest more (timed) sessions.")
        return cls(val.traces, val.stats, predictor, device, safety, seed, value_model)

    def evaluate(self, params: dict[str, Any]) -> dict[str, float]:
        """Validation figures of one parameter point (the same arithmetic as `bpaste replay`)."""
        config = replay_config(params, split="validation", seed=self.seed, bootstrap=0)
        rows = replay_traces(self.traces, self.predictor, self.device, config, self.stats, self.safety,
                             value_model=self.value_model)[params["arm"]]
        s = summarize(rows, bootstrap=0, seed=self.seed)
        serial = s["serial_agent_time_s"] or 1.0
        return {
            "speedup": s["speedup"], "waste": s["wasted_spec_s"] / serial, "interference": s["interference_s"] / serial,
            "amplification": s["amplification"], "hits": s["hits"], "inflight_promotions": s["inflight_promotions"],
            "spec_started": s["spec_started"], "real_calls": s["real_calls"], "sessions": s["sessions"],
        }


class Signals:
    """Where signals land in a running study. Ctrl-C (SIGINT) interrupts only the objective's evaluation (no
    storage call in flight), where Optuna fails the trial it stops; arriving elsewhere (while a trial is asked
    for, suggested or recorded, which could leave it running or a database transaction half done) it is held
    until the next evaluation starts or the loop ends; so is one Python dropped (raised inside a finalizer).
    SIGTERM (how a parent stops its spawned workers) lets the running trial finish, then stops."""

    def __init__(self) -> None:
        self.inside = self.interrupted = self.stopping = False

    def on_sigint(self, signum: int, frame: Any) -> None:
        # Recorded even when raised: a handler that runs inside a weakref callback or a finalizer (a garbage
        # collection during the evaluation) has its exception printed and dropped by Python, and the held
        # flag then stops the study at the next trial instead of never.
        self.interrupted = True
        if self.inside:
            raise KeyboardInterrupt

    def on_sigterm(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def enter(self) -> None:
        self.inside = True
        if self.interrupted:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self, stop_on_sigterm: bool) -> Iterator[None]:
        """The handlers in place for a block (restored after): SIGTERM's for a spawned worker, else SIGINT's,
        unless Ctrl-C is ignored (it stays ignored) or this is not the main thread (handlers are its). While
        SIGINT's is in place, a KeyboardInterrupt Python drops is not printed: it is recorded and held."""
        handled = {signal.SIGTERM: self.on_sigterm} if stop_on_sigterm else {signal.SIGINT: self.on_sigint}
        if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            handled.pop(signal.SIGINT, None)
        previous = {sig: signal.signal(sig, h) for sig, h in handled.items()}
        hook = sys.unraisablehook
        if signal.SIGINT in handled:
            sys.unraisablehook = lambda u: None if issubclass(u.exc_type, KeyboardInterrupt) else hook(u)
        try:
            yield
        finally:
            sys.unraisablehook = hook
            for sig, h in previous.items():
                signal.signal(sig, h)


def make_objective(ev: Evaluator, spec: dict[str, Any], signals: Signals) -> Callable[[optuna.Trial], Any]:
    ranks, objectives = tuple(spec["ranks"]), tuple(spec["objectives"])

    def objective(trial: optuna.Trial):
        params = suggest(trial, ev.device.slots, ranks)
        signals.enter()
        try:
            m = ev.evaluate(params)
        finally:
            signals.inside = False
        trial.set_user_attr("metrics", m)
        trial.set_constraint("interference", m["interference"] - spec["max_interference"])
        trial.set_constraint("amplification", m["amplification"] - spec["max_amplification"])
        return tuple(m[o] for o in objectives) if len(objectives) > 1 else m[objectives[0]]

    return objective


class _RecordsWorker:
    """Sampler mixin: a trial records its worker (host:pid) as soon as it exists (`before_trial` runs as the trial is
    made), so that a trial whose process dies can be failed by `fail_dead_trials`."""

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        study._storage.set_trial_user_attr(trial._trial_id, "worker", worker_id())
        super().before_trial(study, trial)


class _TPE(_RecordsWorker, optuna.samplers.TPESampler):
    pass


class _NSGAII(_RecordsWorker, optuna.samplers.NSGAIISampler):
    pass


def sampler(objectives: tuple[str, ...], seed: int) -> optuna.samplers.BaseSampler:
    """Seeded: TPE for one objective, NSGA-II for the Pareto front of several."""
    if len(objectives) > 1:
        return _NSGAII(seed=seed)
    return _TPE(seed=seed)


def load_inputs(spec: dict[str, Any]) -> tuple[Dataset, Any, Device, SafetyTable, ValueModel | None]:
    """What a spawned worker rebuilds from its spec: dataset, predictor, device, safety table, value model."""
    model = load_value_model(spec["model"]) if spec.get("model") else None
    return (load_dataset(Path(spec["dataset"])), load_predictor(Path(spec["patterns"])), load_device(spec["device"]),
            load_safety(spec.get("safety")), model)


def run_worker(spec: dict[str, Any], index: int, inputs: tuple | None = None,
               callback: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
               stop_on_sigterm: bool = False) -> int:
    """Run up to `spec["quotas"][index]` trials of the study; stop early once the study holds
    `spec["target"]` complete trials (other processes, maybe on other machines, share it). Returns
    the number of trials this process ran. `stop_on_sigterm`: SIGTERM means "finish the running trial, then
    stop" (how the parent of spawned workers stops them), not "die mid-trial"."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quota = spec["quotas"][index]
    if quota <= 0:
        return 0
    ds, predictor, device, safety, model = inputs or load_inputs(spec)
    ev = Evaluator.build(ds, predictor, device, safety, spec["seed"], model)
    study = optuna.load_study(study_name=spec["study"], storage=open_storage(spec["storage"]),
                              sampler=sampler(tuple(spec["objectives"]), (spec["seed"] + index) % 2**32))
    ran, signals = 0, Signals()

    def after(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal ran
        ran += 1
        if callback:
            callback(study, trial)
        if len(complete_trials(study)) >= spec["target"] or signals.interrupted or signals.stopping:
            study.stop()

    with signals.installed(stop_on_sigterm):
        study.optimize(make_objective(ev, spec, signals), n_trials=quota, callbacks=[after], gc_after_trial=False)
    if signals.interrupted:
        raise KeyboardInterrupt
    return ran


class _QuietInterrupts(logging.Filter):
    """Drop Optuna's two "trial failed" warnings (one with a traceback) for a trial stopped by Ctrl-C: the CLI
    says it in one line."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        trial = re.match(r"Trial (\d+) failed", record.getMessage())
        if trial and record.exc_info and record.exc_info[0] and issubclass(record.exc_info[0], KeyboardInterrupt):
            self.interrupted.add(trial.group(1))
            return False
        return not (trial and trial.group(1) in self.interrupted)


logging.getLogger("optuna.study._optimize").addFilter(_QuietInterrupts())


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """End this process when `parent` ends, even by SIGKILL: Linux's parent-death signal (prctl PR_SET_PDEATHSIG),
    and, everywhere, a daemon thread that polls the parent pid. If the parent is already gone, exit now."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: the poll below still works
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="bpaste-parent-watch", daemon=True).start()


def worker_main(spec: dict[str, Any], index: int, parent: int) -> None:
    """Entry point of a spawned worker process (`--workers K`); `parent`: the pid of the `bpaste tune` that started it.
    It is started with SIGINT ignored (Ctrl-C is the parent's to handle: it stops the workers with SIGTERM)."""
    die_with_parent(parent)
    try:
        run_worker(spec, index, stop_on_sigterm=True)
    except BpasteError as exc:
        print(f"error: worker {index}: {exc}", flush=True)
        raise SystemExit(2) from None


def quotas(remaining: int, workers: int) -> list[int]:
    """Split the remaining trials as evenly as possible over the workers."""
    remaining = max(0, remaining)
    return [remaining // workers + (i < remaining % workers) for i in range(workers)]

