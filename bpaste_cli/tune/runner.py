"""What one tuning process does: open the storage and the study, prepare the validation sessions once,
and run trials (the objective) until its quota is done or the study has enough complete trials.

A worker is described by a plain dict (`spec`) so that `--workers K` can start K spawned processes that
each rebuild their own state: Optuna studies are shared through the storage, never through memory.
"""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

from bpaste_cli.device import Device, load_device
from bpaste_cli.errors import BpasteError
from bpaste_cli.fit import load_value_model
from bpaste_cli.mine import load_predictor
from bpaste_cli.policy import replay_config
from bpaste_cli.replay import LatencyStats, ValueModel, prepare_split, replay_traces, summarize
from bpaste_cli.safety import SafetyTable, load_safety
from bpaste_cli.trace.dataset import Dataset, load_dataset
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


def make_objective(ev: Evaluator, spec: dict[str, Any]) -> Callable[[optuna.Trial], Any]:
    ranks, objectives = tuple(spec["ranks"]), tuple(spec["objectives"])
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def objective(trial: optuna.Trial):
        params = suggest(trial, ev.device.slots, ranks)
        m = ev.evaluate(params)
        trial.set_user_attr("metrics", m)
        trial.set_user_attr("worker", worker)
        trial.set_constraint("interference", m["interference"] - spec["max_interference"])
        trial.set_constraint("amplification", m["amplification"] - spec["max_amplification"])
        return tuple(m[o] for o in objectives) if len(objectives) > 1 else m[objectives[0]]

    return objective


def sampler(objectives: tuple[str, ...], seed: int) -> optuna.samplers.BaseSampler:
    """Seeded: TPE for one objective, NSGA-II for the Pareto front of several."""
    if len(objectives) > 1:
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def load_inputs(spec: dict[str, Any]) -> tuple[Dataset, Any, Device, SafetyTable, ValueModel | None]:
    """What a spawned worker rebuilds from its spec: dataset, predictor, device, safety table, value model."""
    model = load_value_model(spec["model"]) if spec.get("model") else None
    return (load_dataset(Path(spec["dataset"])), load_predictor(Path(spec["patterns"])), load_device(spec["device"]),
            load_safety(spec.get("safety")), model)


def run_worker(spec: dict[str, Any], index: int, inputs: tuple | None = None,
               callback: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None) -> int:
    """Run up to `spec["quotas"][index]` trials of the study; stop early once the study holds
    `spec["target"]` complete trials (other processes, maybe on other machines, share it). Returns
    the number of trials this process ran."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quota = spec["quotas"][index]
    if quota <= 0:
        return 0
    ds, predictor, device, safety, model = inputs or load_inputs(spec)
    ev = Evaluator.build(ds, predictor, device, safety, spec["seed"], model)
    study = optuna.load_study(study_name=spec["study"], storage=open_storage(spec["storage"]),
                              sampler=sampler(tuple(spec["objectives"]), spec["seed"] + index))
    ran = 0

    def after(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal ran
        ran += 1
        if callback:
            callback(study, trial)
        if len(complete_trials(study)) >= spec["target"]:
            study.stop()

    study.optimize(make_objective(ev, spec), n_trials=quota, callbacks=[after], gc_after_trial=False)
    return ran


def worker_main(spec: dict[str, Any], index: int) -> None:
    """Entry point of a spawned worker process (`--workers K`)."""
    try:
        run_worker(spec, index)
    except BpasteError as exc:
        print(f"error: worker {index}: {exc}", flush=True)
        raise SystemExit(2) from None


def quotas(remaining: int, workers: int) -> list[int]:
    """Split the remaining trials as evenly as possible over the workers."""
    remaining = max(0, remaining)
    return [remaining // workers + (i < remaining % workers) for i in range(workers)]

