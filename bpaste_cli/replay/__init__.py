"""`bpaste replay`: paired counterfactual replay of logged sessions in virtual time, per arm, on a device.

`replay(dataset, predictor, device=..., config=...)` replays every timed session of one split under each
arm (serial, oracle, paste, bpaste) and returns per-arm figures (speedup as Σ serial / Σ replayed agent
time with a session-bootstrap CI, hidden stall, hits, promotions, misses, waste, amplification,
interference, per tool), the "all tool time hidden" bound, and per-session rows. Untimed sessions are
skipped and counted. See `engine` for the timing model and `value`/`beam` for the B-PASTE reconstruction.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import polars as pl

from bpaste_cli.device import Device, load_device
from bpaste_cli.errors import BpasteError
from bpaste_cli.mine.api import Predictor
from bpaste_cli.replay.arms import ARMS, BPasteArm, OracleArm, OraclePredictor, PasteArm, SerialArm
from bpaste_cli.replay.beam import BeamConfig
from bpaste_cli.replay.engine import SKIP_REASONS, SessionResult, SessionTrace, Sim, prepare
from bpaste_cli.replay.metrics import summarize
from bpaste_cli.replay.predictions import PredictionSource, cache_for
from bpaste_cli.replay.timeline import write_timeline
from bpaste_cli.replay.value import SCORERS, LatencyStats
from bpaste_cli.safety import SafetyTable, load_safety
from bpaste_cli.split import select_split
from bpaste_cli.trace.dataset import Dataset, load_dataset

PREPARE_CHUNK = 2000  # sessions turned into traces at a time: a replay holds one chunk's traces, not the corpus's

__all__ = ["ARMS", "OraclePredictor", "ReplayConfig", "ReplayReport", "replay", "replay_traces"]


@dataclass(frozen=True)
class ReplayConfig:
    """Every knob of a replay (the parameters `tune` searches)."""

    arms: tuple[str, ...] = ARMS
    split: str = "test"
    seed: int = 0
    ttl_s: float = 60.0  # a finished speculative result is kept this long
    slots: int | None = None  # None: the device's speculative slots
    allowed: tuple[str, ...] = ("read-only",)  # safety classes that may be speculated
    top_k: int = 3  # paste
    threshold: float = 0.2  # paste: minimum probability
    beam_width: int = 3
    beam_depth: int = 2
    rank: str = "value"  # probability | value | (model, once `fit` registers it)
    min_prob: float = 0.1  # bpaste: minimum prefix probability
    interference_budget: float = 0.1  # bpaste: fraction of the typical think time
    lambda_scale: float = 1.0  # the λ schedule: PASTE's 0.02 / 0.05 / 0.10 / 0.20 steps times this
    fast_path: bool = True
    bootstrap: int = 1000


@dataclass
class ReplayReport:
    arms: dict[str, dict[str, Any]]
    bounds: dict[str, dict[str, Any]]
    device: str
    split: str
    sessions_replayed: int
    sessions_skipped: dict[str, int]
    latency_stats: dict[str, Any]
    config: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    per_session: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "split": self.split,
            "sessions_replayed": self.sessions_replayed,
            "sessions_skipped": self.sessions_skipped,
            "arms": self.arms,
            "bounds": self.bounds,
            "latency_stats": self.latency_stats,
            "config": self.config,
            "warnings": self.warnings,
        }


def _arm(name: str, config: ReplayConfig, stats: LatencyStats):
    allowed = frozenset(config.allowed)
    if name == "serial":
        return SerialArm()
    if name == "oracle":
        return OracleArm()
    if name == "paste":
        return PasteArm(stats, allowed, top_k=config.top_k, threshold=config.threshold, lambda_scale=config.lambda_scale)
    if name == "bpaste":
        if config.rank not in SCORERS:
            hint = " (`model` needs a value model from `bpaste fit`)" if config.rank == "model" else ""
            raise BpasteError(f"Unknown ranking {config.rank!r}{hint}; choose one of {', '.join(SCORERS)}.")
        beam = BeamConfig(config.beam_width, config.beam_depth, config.min_prob, config.interference_budget, config.fast_path)
        return BPasteArm(stats, allowed, SCORERS[config.rank], beam, lambda_scale=config.lambda_scale)
    raise BpasteError(f"Unknown arm {name!r}; choose from {', '.join(ARMS)}.")


def run_one(
    trace: SessionTrace,
    arm_name: str,
    device: Device,
    config: ReplayConfig,
    stats: LatencyStats,
    safety: SafetyTable,
    predictor: Predictor | None = None,
    *,
    keep_jobs: bool = False,
    hide_all_tools: bool = False,
    cache: dict | None = None,
) -> SessionResult:
    """Replay one session under one arm; the predictor's answers are memoized in `cache` (default: the
    predictor's shared cache, `replay.predictions.cache_for`)."""
    planner = _arm(arm_name, config, stats)
    source = None
    if planner.needs_predictor:
        if predictor is None:
            raise BpasteError(f"The {arm_name} arm needs a predictor; pass --patterns (a table from `bpaste mine`, or `oracle`).")
        source = PredictionSource(predictor, trace, cache if cache is not None else cache_for(predictor))
    oracle = arm_name == "oracle"
    sim = Sim(
        trace,
        device.without_interference() if oracle else device,
        ttl=float("inf") if oracle else config.ttl_s,
        slots=10**9 if oracle else config.slots,
        source=source,
        classify=safety.classify,
        latency=stats.latency,
        hide_all_tools=hide_all_tools,
        keep_jobs=keep_jobs,
    )
    return sim.run(None if hide_all_tools else planner)


def replay_traces(
    traces: list[SessionTrace],
    predictor: Predictor | None,
    device: Device,
    config: ReplayConfig,
    stats: LatencyStats,
    safety: SafetyTable,
    *,
    keep_jobs_for: int = 0,
    progress: Callable[[int], None] | None = None,
    shared_cache: bool = True,
) -> dict[str, list[SessionResult]]:
    """Per arm, the result of every trace (the first `keep_jobs_for` keep their schedule for a timeline).

    With `shared_cache` the predictor's answers are kept for later calls on the same sessions (tune and
    fit replay them many times); without it each session's answers serve all its arms and are then
    dropped, so a one-off replay of a large corpus runs in the memory of one session's predictions."""
    for arm_name in config.arms:
        _arm(arm_name, config, stats)  # fail early on a bad name
    out: dict[str, list[SessionResult]] = {arm_name: [] for arm_name in config.arms}
    for i, tr in enumerate(traces):
        cache = None if shared_cache else {}
        for arm_name in config.arms:
            out[arm_name].append(run_one(tr, arm_name, device, config, stats, safety, predictor,
                                         keep_jobs=i < keep_jobs_for, cache=cache))
            if progress:
                progress(1)
    return out


def _chunks(
    ds: Dataset, safety: SafetyTable, allowed: frozenset[str], ids: list[str]
) -> Iterator[tuple[list[SessionTrace], dict[str, int]]]:
    """(traces, skipped counts) of `ids` in session-id order, a chunk of PREPARE_CHUNK sessions at a time."""
    ordered = sorted(ids)
    for lo in range(0, len(ordered), PREPARE_CHUNK):
        yield prepare(ds.events, ds.sessions, safety, allowed, ordered[lo : lo + PREPARE_CHUNK])


def _prepared(ds: Dataset, safety: SafetyTable, allowed: frozenset[str], ids: list[str]) -> Iterator[SessionTrace]:
    """The traces of `ids`, a chunk at a time (for one pass that keeps none of them)."""
    for traces, _ in _chunks(ds, safety, allowed, ids):
        yield from traces


def _timed(ds: Dataset, ids: list[str]) -> int:
    """How many of `ids` are timed sessions (what a progress bar counts on)."""
    return ds.sessions.filter(
        pl.col("session_id").is_in(ids) & pl.col("timed") & pl.col("agent_time_s").is_not_null()
    ).height


def replay(
    dataset: Dataset | Path | str,
    predictor: Predictor | None = None,
    *,
    device: Device | str = "thor",
    config: ReplayConfig = ReplayConfig(),
    safety: SafetyTable | None = None,
    timeline: Path | None = None,
    timeline_sessions: int = 5,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay the sessions of `config.split` under every arm of `config.arms` on `device`."""
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(Path(dataset))
    dev = device if isinstance(device, Device) else load_device(device)
    safety = safety or load_safety()
    allowed = frozenset(config.allowed)
    ids = select_split(ds.sessions, config.split, config.seed)
    warnings = []
    if config.split in ("train", "all"):
        warnings.append(
            f"split {config.split!r} includes the sessions patterns are mined from (train): "
            "these figures are optimistic; report on `test`."
        )
    train_ids = select_split(ds.sessions, "train", config.seed) if config.split != "train" else ids
    train = _prepared(ds, safety, allowed, train_ids)
    first = next(train, None)
    if first is not None:
        stats = LatencyStats.from_traces(itertools.chain([first], train))
    else:
        stats = LatencyStats.from_traces(_prepared(ds, safety, allowed, ids))
        warnings.append("no timed training sessions: latency statistics come from the replayed sessions themselves.")
    if on_total:
        on_total(_timed(ds, ids) * (len(config.arms) + 1))
    keep = timeline_sessions if timeline else 0
    results: dict[str, list[SessionResult]] = {name: [] for name in config.arms}
    bound: list[SessionResult] = []
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    kept: list[SessionTrace] = []  # the traces a timeline draws
    for traces, chunk_skipped in _chunks(ds, safety, allowed, ids):
        for why, n in chunk_skipped.items():
            skipped[why] += n
        chunk = replay_traces(traces, predictor, dev, config, stats, safety, keep_jobs_for=keep - len(kept),
                              progress=progress, shared_cache=False)
        for name, rows in chunk.items():
            results[name] += rows
        bound += [run_one(tr, "serial", dev, config, stats, safety, hide_all_tools=True) for tr in traces]
        if progress:
            progress(len(traces))
        kept += traces[: max(0, keep - len(kept))]
    arms = {name: summarize(rows, bootstrap=config.bootstrap, seed=config.seed) for name, rows in results.items()}
    bound_summary = summarize(bound, bootstrap=config.bootstrap, seed=config.seed)
    bounds = {"all_tool_time_hidden": {k: bound_summary[k] for k in ("speedup", "speedup_ci95", "agent_time_s")}}
    per_session = []
    for name, rows in results.items():
        for r in rows:
            per_session.append({
                "arm": name, "session_id": r.session_id, "serial_agent_s": r.serial_s, "agent_s": r.agent_s,
                "speedup": r.serial_s / r.agent_s if r.agent_s > 0 else 1.0, "human_wait_s": r.human_s,
                "real_calls": r.real_calls, "hits": r.hits, "inflight_promotions": r.promotions, "misses": r.misses,
                "spec_started": r.spec_started, "tool_stall_hidden_s": r.hidden_s, "wasted_spec_s": r.wasted_s,
                "interference_s": r.interference_s,
            })
    if timeline:
        runs = [(name, tr, r) for name, rows in results.items() for tr, r in zip(kept, rows) if r.jobs is not None]
        write_timeline(timeline, runs)
    return ReplayReport(
        arms=arms,
        bounds=bounds,
        device=dev.name,
        split=config.split,
        sessions_replayed=len(bound),
        sessions_skipped=skipped,
        latency_stats={"think_s": stats.think_s, "default_tool_s": stats.default_tool_s, "tools": len(stats.tool_s)},
        config=asdict(config) | {"arms": list(config.arms), "allowed": list(config.allowed)},
        warnings=warnings,
        per_session=per_session,
    )
