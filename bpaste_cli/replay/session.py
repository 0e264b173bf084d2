"""Replay sessions: one session under one arm (`run_session`), or every trace under every configured arm
(`replay_traces`). The simulator is set up here, once, for every caller (replay, fit, tune, report)."""

from __future__ import annotations

from typing import Callable

from bpaste_cli.device import Device
from bpaste_cli.errors import BpasteError
from bpaste_cli.gcpause import collection_paused
from bpaste_cli.mine import Predictor
from bpaste_cli.replay.arms import make_arm
from bpaste_cli.replay.config import ReplayConfig
from bpaste_cli.replay.engine import Planner, SessionResult, Sim
from bpaste_cli.replay.predictions import AnswerCache, PredictionSource, cache_for
from bpaste_cli.replay.traces import SessionTrace
from bpaste_cli.replay.value import LatencyStats, ValueModel
from bpaste_cli.safety import SafetyTable


def run_session(
    trace: SessionTrace,
    arm: str | Planner,
    device: Device,
    config: ReplayConfig,
    stats: LatencyStats,
    safety: SafetyTable,
    predictor: Predictor | None = None,
    *,
    value_model: ValueModel | None = None,
    keep_jobs: bool = False,
    hide_all_tools: bool = False,
    cache: AnswerCache | None = None,
) -> SessionResult:
    """Replay one session under one arm (a name from `ARM_TYPES`, built from `config`, or an arm object);
    the predictor's answers are memoized in `cache` (default: the predictor's shared cache, `cache_for`).
    `hide_all_tools`: the bound where every tool call takes no time (no arm plans)."""
    planner = make_arm(arm, config, stats, value_model) if isinstance(arm, str) else arm
    source = None
    if planner.needs_predictor:
        if predictor is None:
            raise BpasteError(f"The {planner.name} arm needs a predictor; pass --patterns (a table from `bpaste mine`, or `oracle`).")
        source = PredictionSource(predictor, trace, cache if cache is not None else cache_for(predictor))
    oracle = planner.name == "oracle"
    sim = Sim(
        trace,
        device.without_interference() if oracle else device,
        ttl=float("inf") if oracle else config.ttl_s,
        tool_ttl=None if oracle else safety.ttl,
        slots=10**9 if oracle else config.slots,
        source=source,
        classify=safety.classify,
        latency=stats.latency,
        hide_all_tools=hide_all_tools,
        keep_jobs=keep_jobs,
    )
    return sim.run(None if hide_all_tools else planner)


@collection_paused()
def replay_traces(
    traces: list[SessionTrace],
    predictor: Predictor | None,
    device: Device,
    config: ReplayConfig,
    stats: LatencyStats,
    safety: SafetyTable,
    *,
    value_model: ValueModel | None = None,
    keep_jobs_for: int = 0,
    progress: Callable[[int], None] | None = None,
    shared_cache: bool = True,
) -> dict[str, list[SessionResult]]:
    """Per arm of `config.arms`, the result of every trace (the first `keep_jobs_for` keep their schedule for
    a timeline).

    With `shared_cache` the predictor's answers are kept for later calls on the same sessions (tune and
    fit replay them many times); without it each session's answers serve all its arms and are then
    dropped, so a one-off replay of a large corpus runs in the memory of one session's predictions. Each arm is
    built once, unless it keeps state within a session (`per_session`).

    The cyclic collector is paused throughout: a replay makes no reference cycles (a test holds every arm to
    that), and each full collection would walk every prepared trace and every cached answer, for no garbage."""
    arms = {arm_name: make_arm(arm_name, config, stats, value_model) for arm_name in config.arms}  # fails early
    out: dict[str, list[SessionResult]] = {arm_name: [] for arm_name in config.arms}
    shared = cache_for(predictor) if shared_cache else None
    # the arms that ask the predictor for less run first: their answers serve the others (`PredictionSource`)
    order = sorted(arms.items(), key=lambda item: item[1].asks_at_least)
    for i, tr in enumerate(traces):
        cache = shared if shared_cache else AnswerCache()
        for arm_name, arm in order:
            planner = make_arm(arm_name, config, stats, value_model) if arm.per_session else arm
            out[arm_name].append(run_session(tr, planner, device, config, stats, safety, predictor, value_model=value_model,
                                             keep_jobs=i < keep_jobs_for, cache=cache))
            if progress:
                progress(1)
    return out
