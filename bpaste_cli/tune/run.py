"""The tune verb: open or resume the study, enqueue the known points, run the workers, choose by the rule in
the package docstring, replay the choice on validation and write policy.json."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
import orjson
import polars as pl
from optuna.trial import FrozenTrial, TrialState

from bpaste_cli import __version__
from bpaste_cli.coverage import blocked_sentence
from bpaste_cli.device import load_device
from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import file_sha256
from bpaste_cli.fit import device_warnings, load_value_model
from bpaste_cli.mine import load_predictor, pattern_hash, provenance_warnings, read_table_manifest
from bpaste_cli.policy import MAX_SEED, build_policy, read_policy_doc, replay_config, write_policy
from bpaste_cli.replay import prepare_split, replay
from bpaste_cli.safety import load_safety
from bpaste_cli.split import select_split
from bpaste_cli.trace import load_dataset
from bpaste_cli.tune.runner import (
    DIRECTIONS,
    complete_trials,
    fail_dead_trials,
    open_storage,
    quotas,
    redact,
    run_worker,
    worker_id,
    worker_main,
)
from bpaste_cli.tune.space import known_points

OBJECTIVES = (("speedup",), ("speedup", "waste"))
STOP_S = 10.0  # how long stopped workers may take to finish their running trials before they are killed
ATTRS = ("seed", "dataset_hash", "pattern_hash", "device", "objectives", "max_interference", "max_amplification", "model_sha256")



@dataclass(frozen=True)
class TuneOptions:
    device: str = "thor"
    trials: int = 100
    storage: str | None = None  # default: sqlite:///<output dir>/<output stem>.optuna.db
    study: str | None = None  # default: the output's stem
    seed: int = 0
    workers: int = 1
    objectives: tuple[str, ...] = ("speedup",)
    previous: Path | None = None
    model: Path | None = None  # a value model from `bpaste fit`: adds the `model` ranking
    model_by_path: bool = False  # reference the model from the policy (relative path + sha256) instead of embedding it
    safety: Path | None = None
    max_interference: float = 0.05
    max_amplification: float = 3.0
    speedup_tolerance: float = 0.005
    min_gain: float = 0.001  # a speedup below 1 + min_gain is not worth speculating for (one objective)


@dataclass
class TuneResult:
    output: Path
    policy: dict[str, Any]
    storage: str  # password hidden
    study: str
    trials_complete: int
    trials_run: int  # by this invocation
    seconds: float
    dashboard: str
    warnings: list[str] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)  # the validation split's safety coverage

    def summary(self) -> dict[str, Any]:
        p = self.policy
        return {
            "output": str(self.output), "storage": self.storage, "study": self.study, "dashboard": self.dashboard,
            "trials_complete": self.trials_complete, "trials_run": self.trials_run, "seconds": round(self.seconds, 3),
            "trial": p["provenance"]["trial"], "parameters": p["parameters"], "validation": p["validation"],
            "pareto": p["trials"]["pareto"], "warnings": self.warnings, "safety_coverage": self.coverage,
        }


def feasible(t: FrozenTrial) -> bool:
    return all(v <= 0 for v in t.constraints.values())


def _metric(t: FrozenTrial, name: str) -> float:
    return t.user_attrs["metrics"][name]


def pareto(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Trials not dominated in (speedup up, waste down)."""
    out = []
    for t in trials:
        s, w = _metric(t, "speedup"), _metric(t, "waste")
        if not any(_metric(o, "speedup") >= s and _metric(o, "waste") <= w and (_metric(o, "speedup") > s or _metric(o, "waste") < w)
                   for o in trials):
            out.append(t)
    return out


def choose(trials: list[FrozenTrial], objectives: tuple[str, ...], tolerance: float, min_gain: float = 0.0) -> FrozenTrial:
    """The documented rule (module docstring) over complete trials."""
    ok = [t for t in trials if t.state == TrialState.COMPLETE and feasible(t)]
    if not ok:
        raise BpasteError("No complete trial meets the constraints (not even the serial point); raise --max-interference "
                          "or --max-amplification, or check the storage for failed trials.")
    if len(objectives) == 1:
        best = min(ok, key=lambda t: (-_metric(t, "speedup"), _metric(t, "waste"), t.number))
        idle = [t for t in ok if t.params.get("slots") == 0]  # speculates nothing
        if idle and _metric(best, "speedup") < 1.0 + min_gain:
            return min(idle, key=lambda t: t.number)
        return best
    best = max(_metric(t, "speedup") for t in ok)
    near = [t for t in pareto(ok) if _metric(t, "speedup") >= best - tolerance]
    return min(near, key=lambda t: (_metric(t, "waste"), -_metric(t, "speedup"), t.number))


def _best_so_far(trials: list[FrozenTrial]) -> float | None:
    ok = [_metric(t, "speedup") for t in trials if feasible(t) and "metrics" in t.user_attrs]
    return max(ok) if ok else None


def _open_study(storage, name: str, directions: list[str], attrs: dict[str, Any]) -> optuna.Study:
    """Create the study, or reopen it after checking that it was made from the same inputs."""
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        try:
            study = optuna.create_study(study_name=name, storage=storage, directions=directions)
        except optuna.exceptions.DuplicatedStudyError:  # another process created it just now
            study = optuna.load_study(study_name=name, storage=storage)
    old = study.user_attrs
    for key in ATTRS:
        if key in old and old[key] != attrs[key]:
            raise BpasteError(f"The study {name!r} was made with {key} = {old[key]!r}, not {attrs[key]!r}; pass another --study "
                              "(or another -o) to start a new one, or the same inputs to resume it.")
    for key, value in attrs.items():
        if key not in old:
            study.set_user_attr(key, value)
    return study


def _enqueue_known(study: optuna.Study, points: list[tuple[str, dict[str, Any]]]) -> None:
    """Enqueue each known point unless a live (waiting, running or complete) trial already has it."""
    live = study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE))
    have = [t.system_attrs.get("fixed_params", t.params) for t in live]
    for label, params in points:
        if params not in have:
            study.enqueue_trial(params, user_attrs={"known": label})
            have.append(params)


def _trial_rows(trials: list[FrozenTrial]) -> list[dict[str, Any]]:
    """One row per finished trial (complete, failed, pruned); a trial still waiting or running elsewhere is not a result."""
    rows = []
    for t in sorted((t for t in trials if t.state.is_finished()), key=lambda t: t.number):
        m = t.user_attrs.get("metrics", {})
        rows.append({
            "number": t.number, "state": t.state.name.lower(), "known": t.user_attrs.get("known"), "params": t.params,
            "speedup": m.get("speedup"), "waste": m.get("waste"), "interference": m.get("interference"),
            "amplification": m.get("amplification"), "feasible": feasible(t) if m else None, "worker": t.user_attrs.get("worker"),
        })
    return rows


def tune(
    dataset: Path,
    patterns: Path,
    output: Path,
    options: TuneOptions = TuneOptions(),
    *,
    progress: Callable[[int, int, float | None], None] | None = None,
) -> TuneResult:
    """Run (or resume) the study, choose a policy by the documented rule, and write it to `output`."""
    t0 = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    output = Path(output)
    objectives = tuple(options.objectives)
    if objectives not in OBJECTIVES:
        raise BpasteError(f"--objectives {','.join(objectives)} is not supported; use speedup or speedup,waste.")
    if options.trials < 1 or options.workers < 1:
        raise BpasteError("--trials and --workers must each be at least 1.")
    if not 0 <= options.seed <= MAX_SEED:
        raise BpasteError(f"--seed {options.seed} is out of range; pass a seed from 0 to {MAX_SEED}.")
    if output.is_dir():
        raise BpasteError(f"-o {output} is a directory; pass the path of the policy file to write (e.g. {output / 'policy.json'}).")
    ds = load_dataset(Path(dataset))
    ds.require_tool_calls("there is nothing to speculate and nothing to tune")
    predictor = load_predictor(Path(patterns))
    device = load_device(options.device)
    safety = load_safety(options.safety)
    previous = read_policy_doc(options.previous)["parameters"] if options.previous else None
    val = set(select_split(ds.sessions, "validation", options.seed))
    if not ds.sessions.filter(pl.col("session_id").is_in(list(val)) & pl.col("timed")).height:
        raise BpasteError(f"The dataset {ds.path} has no timed session in the validation split (seed {options.seed}: "
                          f"{len(val)} sessions, none timed), so there is nothing to tune on; ingest more timed sessions.")
    url = options.storage or f"sqlite:///{output.resolve().parent / (output.stem + '.optuna.db')}"
    name = options.study or output.stem
    ranks, warnings, model = ("probability", "value"), [], None
    if options.model:
        model = load_value_model(options.model)
        warnings += device_warnings(model, device.name)
        ranks += ("model",)
    warnings += provenance_warnings(read_table_manifest(Path(patterns)), ds.hash, options.seed, "the validation sessions")
    attrs = {
        "seed": options.seed, "dataset_hash": ds.hash, "pattern_hash": pattern_hash(predictor), "device": device.name,
        "objectives": list(objectives), "max_interference": options.max_interference,
        "max_amplification": options.max_amplification, "bpaste_version": __version__,
        "model_sha256": file_sha256(options.model) if options.model else None,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    storage = open_storage(url)
    study = _open_study(storage, name, [DIRECTIONS[o] for o in objectives], attrs)
    fail_dead_trials(study)  # a killed run's trials: failed now, so they neither block the known points nor count as running
    _enqueue_known(study, known_points(device.slots, previous))
    done = len(complete_trials(study))
    spec = {
        "dataset": str(Path(dataset).resolve()), "patterns": str(Path(patterns).resolve()), "device": options.device,
        "safety": str(options.safety) if options.safety else None,
        "model": str(Path(options.model).resolve()) if options.model else None, "seed": options.seed, "storage": url, "study": name,
        "objectives": list(objectives), "ranks": list(ranks), "target": options.trials,
        "quotas": quotas(options.trials - done, options.workers),
        "max_interference": options.max_interference, "max_amplification": options.max_amplification,
    }
    if progress:
        progress(done, options.trials, _best_so_far(complete_trials(study)))
    if options.workers == 1:
        def on_trial(study: optuna.Study, trial: FrozenTrial) -> None:
            if progress:
                trials = complete_trials(study)
                progress(len(trials), options.trials, _best_so_far(trials))

        ran = run_worker(spec, 0, inputs=(ds, predictor, device, safety, model), callback=on_trial)
    else:
        # The known points wait in the study as enqueued trials. Two processes can both claim one
        # waiting trial where the storage cannot lock rows (SQLite), so run them here, first.
        waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
        first = min(waiting, max(options.trials - done, 0))
        ran = run_worker(spec | {"quotas": [first]}, 0, inputs=(ds, predictor, device, safety, model)) if first else 0
        done = len(complete_trials(study))
        ids = _run_processes(spec | {"quotas": quotas(options.trials - done, options.workers)}, options.workers, study, progress)
        ran += sum(1 for t in complete_trials(study) if t.user_attrs.get("worker") in ids)
    fail_dead_trials(study)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    chosen = choose(complete, objectives, options.speedup_tolerance, options.min_gain)
    if chosen.params.get("slots") == 0 and len(objectives) == 1:
        best = max(_metric(t, "speedup") for t in complete if feasible(t))
        nothing = (f"no setting beat serial by {options.min_gain:.1%} on validation (best {best:.4f}x): the policy "
                   "speculates nothing (slots 0); ")
    else:
        nothing = ""
    params = dict(chosen.params) | {"allowed": ["read-only"], "fast_path": True}
    config = replay_config(params, split="validation", seed=options.seed, bootstrap=1000, arms=("serial", params["arm"]))
    report = replay(ds, predictor, device=device, config=config, safety=safety, value_model=model)
    keep = ("speedup", "speedup_ci95", "median_session_speedup", "agent_time_s", "serial_agent_time_s", "tool_stall_hidden_s",
            "real_calls", "hits", "inflight_promotions", "misses", "spec_started", "wasted_spec_s", "amplification",
            "interference_s", "sessions")
    baselines = {t.user_attrs["known"]: {"trial": t.number, **t.user_attrs["metrics"], "feasible": feasible(t)}
                 for t in complete if t.user_attrs.get("known")}
    rule = (f"highest feasible validation speedup (ties: less waste, earlier trial); serial unless it gains "
            f"{options.min_gain:.1%}" if len(objectives) == 1 else
            f"least waste on the feasible Pareto front within {options.speedup_tolerance} of the best feasible speedup")
    doc = build_policy(
        device=device, parameters=params, safety=safety, predictor=predictor,
        value_model=_value_model(options, output) if params.get("rank") == "model" else None,
        provenance={
            "bpaste_version": __version__, "dataset": str(ds.path), "dataset_hash": ds.hash, "patterns": str(patterns),
            "pattern_hash": attrs["pattern_hash"], "seed": options.seed, "storage": redact(url), "study": name,
            "trial": chosen.number, "trial_speedup": _metric(chosen, "speedup"), "objectives": list(objectives),
            "constraints": {"max_interference": options.max_interference, "max_amplification": options.max_amplification},
            "selection": rule, "known_point": chosen.user_attrs.get("known"),
        },
        validation={
            "split": "validation", "sessions": report.sessions_replayed,
            "policy": {k: report.arms[params["arm"]][k] for k in keep},
            "serial": {k: report.arms["serial"][k] for k in keep}, "baselines": baselines,
        },
        trials={"complete": len(complete), "rows": _trial_rows(trials), "pareto": sorted(t.number for t in pareto(
            [t for t in complete if feasible(t)]))},
        latency=prepare_split(ds, "validation", options.seed, safety).stats,  # what the trials were priced with
    )
    write_policy(output, doc)
    if nothing:
        warnings.append(nothing + "on the validation split, " + blocked_sentence(report.coverage))
    warnings += report.warnings
    if doc["validation"]["policy"]["speedup"] != _metric(chosen, "speedup"):
        warnings.append("the policy's replayed validation speedup differs from its trial's value (the study was made by another bpaste version?).")
    return TuneResult(output, doc, redact(url), name, len(complete), ran, time.perf_counter() - t0,
                      f"optuna-dashboard {redact(url)}", warnings, report.coverage)


def _value_model(options: TuneOptions, output: Path) -> dict[str, Any]:
    """The chosen ranking's value model for the policy: embedded as its JSON, or by relative path + sha256."""
    path = Path(options.model)
    if options.model_by_path:
        return {"path": os.path.relpath(path.resolve(), output.resolve().parent), "sha256": file_sha256(path)}
    return {"embedded": orjson.loads(path.read_bytes())}


def _run_processes(spec: dict[str, Any], workers: int, study: optuna.Study, progress) -> set[str]:
    """K spawned processes against the same storage (the parent only watches the study for the progress bar);
    returns their worker ids (host:pid, as recorded on each trial). They start with SIGINT ignored, so Ctrl-C
    reaches only this process, which stops them (SIGTERM: finish the running trial; SIGKILL after STOP_S)."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=worker_main, args=(spec, i, os.getpid()), daemon=True) for i in range(workers)]
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: a spawned Python keeps an ignored SIGINT ignored
    try:
        for p in procs:
            p.start()
    finally:
        signal.signal(signal.SIGINT, handler)
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
            if progress:
                trials = complete_trials(study)
                progress(len(trials), spec["target"], _best_so_far(trials))
    except BaseException:  # Ctrl-C or an error here: stop the workers, fail what they leave running
        for p in procs:
            p.terminate()
        deadline = time.monotonic() + STOP_S
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join()
        fail_dead_trials(study)
        raise
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise BpasteError(f"{len(failed)} of {workers} tuning workers failed (exit codes {failed}); the trials they finished are "
                          "kept in the study: rerun the same command to resume.")
    return {worker_id(p.pid) for p in procs}
