"""`bpaste replay`: paired counterfactual replay of logged sessions in virtual time, per arm, on a device.

`replay(dataset, predictor, device=..., config=...)` replays every timed session of one split under each
arm (serial, oracle, paste, bpaste) and returns per-arm figures (speedup as Σ serial / Σ replayed agent
time with a session-bootstrap CI, hidden stall, hits, promotions, misses, waste, amplification,
interference, per tool), the "all tool time hidden" bound, per-session rows, the split's safety coverage
(`coverage.safety_coverage`) and, on request, what-if replays (`replay.whatif`). Untimed sessions are
skipped and counted. A large split is prepared and replayed a chunk of sessions at a time, in this
process or spread over worker processes (`replay.parallel`); the coverage is computed before the first
chunk's results are taken (while workers replay, and before one process holds any result).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import polars as pl

from bpaste_cli.device import Device, load_device
from bpaste_cli.fsutil import atomic_write_bytes
from bpaste_cli.mine import Predictor
from bpaste_cli.replay.arms import OraclePredictor
from bpaste_cli.replay.config import ReplayConfig
from bpaste_cli.replay.engine import SessionResult
from bpaste_cli.replay.metrics import bootstrap_cis, summarize
from bpaste_cli.replay.parallel import Run, merge, replay_chunks
from bpaste_cli.replay.prepared import split_stats, timed_count
from bpaste_cli.replay.timeline import write_timeline
from bpaste_cli.replay.traces import SessionTrace
from bpaste_cli.replay.value import LatencyStats, ValueModel
from bpaste_cli.coverage import safety_coverage
from bpaste_cli.safety import SafetyTable, load_safety
from bpaste_cli.split import select_split
from bpaste_cli.trace import Dataset, load_dataset


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
    results: dict[str, list[SessionResult]] = field(default_factory=dict, repr=False)  # per arm (per-tool rows: in `arms`)
    coverage: dict[str, Any] = field(default_factory=dict)
    what_if: dict[str, Any] | None = None

    @property
    def per_session(self) -> list[dict[str, Any]]:
        """One row per arm and session (built when asked for: a one-off replay of a large corpus that only
        prints its figures never holds them)."""
        rows = []
        for name, results in self.results.items():
            for r in results:
                rows.append({
                    "arm": name, "session_id": r.session_id, "serial_agent_s": r.serial_s, "agent_s": r.agent_s,
                    "speedup": r.serial_s / r.agent_s if r.agent_s > 0 else 1.0, "human_wait_s": r.human_s,
                    "real_calls": r.real_calls, "hits": r.hits, "inflight_promotions": r.promotions, "misses": r.misses,
                    "spec_started": r.spec_started, "tool_stall_hidden_s": r.hidden_s, "wasted_spec_s": r.wasted_s,
                    "interference_s": r.interference_s,
                })
        return rows

    def write_per_session(self, path: Path) -> None:
        """The per-session rows as CSV, Parquet or JSONL (by the file's suffix), written atomically."""
        df, buf = pl.DataFrame(self.per_session), io.BytesIO()
        if path.suffix == ".csv":
            df.write_csv(buf)
        elif path.suffix == ".parquet":
            df.write_parquet(buf)
        else:
            df.write_ndjson(buf)
        atomic_write_bytes(path, buf.getvalue())

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
            "safety_coverage": self.coverage,
            "what_if": self.what_if,
        }


def replay(
    dataset: Dataset | Path | str,
    predictor: Predictor | None = None,
    *,
    device: Device | str = "thor",
    config: ReplayConfig = ReplayConfig(),
    safety: SafetyTable | None = None,
    timeline: Path | None = None,
    timeline_sessions: int = 5,
    value_model: ValueModel | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    what_if: int = 0,
    workers: int = 1,
) -> ReplayReport:
    """Replay the sessions of `config.split` under every arm of `config.arms` on `device` (`value_model`:
    for `rank="model"`, a model from `fit`); `what_if`: also replay with each of that many unclassified
    tools (and unknown shell programs) allowed in turn; `workers` > 1: sessions spread over that many
    processes (`replay.parallel`), with the same figures."""
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(Path(dataset))
    dev = device if isinstance(device, Device) else load_device(device)
    safety = safety or load_safety()
    allowed = frozenset(config.allowed)
    ids = select_split(ds.sessions, config.split, config.seed)
    warnings = []
    if config.split in ("train", "all") and predictor is not None and not isinstance(predictor, OraclePredictor):
        warnings.append(
            f"split {config.split!r} includes the sessions patterns are mined from (train): "
            "these figures are optimistic; report on `test`."
        )
    stats, stats_warnings = split_stats(ds, config.split, config.seed)
    warnings += stats_warnings
    if on_total:
        on_total(timed_count(ds, ids) * (len(config.arms) + 1))
    keep = timeline_sessions if timeline else 0
    run = Run(predictor, dev, config, stats, safety, allowed, value_model, keep)
    coverage: dict[str, Any] = {}
    done = merge(replay_chunks(ds, ids, run, workers, progress,
                               meanwhile=lambda: coverage.update(safety_coverage(ds, safety, ids))), config.arms, keep)
    results, bound, skipped, kept = done.results, done.bound, done.skipped, done.kept
    report = _report(results, bound, dev, config, stats, skipped, warnings, timeline, kept)
    report.coverage = coverage
    if what_if > 0:
        from bpaste_cli.replay.whatif import what_if as run_what_if

        report.what_if = run_what_if(ds, predictor, report.coverage, device=dev, config=config, safety=safety,
                                     value_model=value_model, top=what_if)
    return report


def _report(results: dict[str, list[SessionResult]], bound: list[SessionResult], dev: Device, config: ReplayConfig,
            stats: LatencyStats, skipped: dict[str, int], warnings: list[str], timeline: Path | None,
            kept: list[SessionTrace]) -> ReplayReport:
    """Summaries per arm, the bound, per-session rows and the timeline file."""
    runs = [*results.values(), bound]
    serial = [r.serial_s for r in bound]
    cis: list[tuple[float, float] | None] = [None] * len(runs)
    if all([r.serial_s for r in rows] == serial for rows in runs):  # the same sessions: one resampling for all
        cis = bootstrap_cis(serial, [[r.agent_s for r in rows] for rows in runs], config.bootstrap, config.seed)
    summaries = [summarize(rows, bootstrap=config.bootstrap, seed=config.seed, ci=ci) for rows, ci in zip(runs, cis)]
    arms, bound_summary = dict(zip(results, summaries)), summaries[-1]
    bounds = {"all_tool_time_hidden": {k: bound_summary[k] for k in ("speedup", "speedup_ci95", "agent_time_s")}}
    for rows in results.values():
        for r in rows:
            r.per_tool = {}  # summarized above; a per-session row does not show it
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
        results=results,
    )
