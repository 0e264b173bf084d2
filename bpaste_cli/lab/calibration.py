"""Measure the machine at hand: how much k concurrent speculative jobs of each class slow the authoritative work.

For each resource class (cpu, io, net) and each k (1, 2, 4, 8) the authoritative "LLM" step and an
authoritative tool job (a cpu-burning one, the kind most exposed to co-running work) are timed alone and
beside k co-running jobs, in pairs whose order alternates (alone first, then loaded first) so slow drifts
of a shared machine cancel. slowdown(k) is the median of the paired ratios loaded/alone, the spread their
interquartile range. Slots are the largest k whose slowdown stays within the tolerance for both targets.
The workloads are the lab's stand-ins (`bpaste_cli.lab.workloads`), or real requests to `--llm-url`.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from bpaste_cli.errors import BpasteError
from bpaste_cli.lab.corun import RESOURCES, CoRunners
from bpaste_cli.lab.openai_client import ChatClient, is_local
from bpaste_cli.lab.workloads import CpuBurn, RemoteLLM, StandInLLM

TARGETS = ("llm", "tool")
LLM_MODES = ("local", "remote")
PROMPT = "List the first twelve prime numbers, separated by commas."


@dataclass(frozen=True)
class CalibrationConfig:
    """What to measure and how often. `quick()` is the preset that finishes well under a minute."""

    llm: str | None = None  # local | remote; None: local, or where --llm-url's host is
    llm_url: str | None = None
    llm_model: str | None = None
    ks: tuple[int, ...] = (1, 2, 4, 8)
    repetitions: int = 7  # paired (alone, loaded) runs per target, class and k
    step_s: float = 0.25  # how long one authoritative stand-in step takes alone
    tolerance: float = 0.10  # slots: the largest k whose slowdown stays within 1 + tolerance
    memory_fraction: float = 0.25  # of the memory available now, the speculative memory budget
    seed: int = 0
    scratch_dir: Path | None = None  # where io jobs read their files (default: the system's temp folder)

    @classmethod
    def quick(cls, **overrides) -> CalibrationConfig:
        return cls(**({"repetitions": 3, "step_s": 0.06} | overrides))

    def check(self) -> None:
        if self.llm is not None and self.llm not in LLM_MODES:
            raise BpasteError(f"--llm {self.llm!r} is not known; use local or remote.")
        if not self.ks or any(k < 1 for k in self.ks) or list(self.ks) != sorted(set(self.ks)):
            raise BpasteError(f"The job counts {self.ks} must be distinct, ascending and at least 1.")
        if self.repetitions < 1 or self.step_s <= 0 or self.tolerance <= 0:
            raise BpasteError("Repetitions, step time and tolerance must all be positive.")
        if self.scratch_dir is not None and not Path(self.scratch_dir).is_dir():
            raise BpasteError(f"--scratch-dir {self.scratch_dir} is not a folder; give an existing folder on the "
                              "storage the tools read.")


@dataclass
class Curve:
    """slowdown(k) of one target beside k jobs of one resource class, with its paired measurements."""

    target: str
    resource: str
    ks: list[int]
    slowdown: list[float]  # median of the paired ratios, per k
    spread: list[tuple[float, float]]  # interquartile range of the paired ratios, per k
    alone_s: float  # median time of the target alone (all pairs of this curve)
    ratios: list[list[float]] = field(repr=False)  # every paired ratio, per k

    @property
    def slope(self) -> float:
        """Least-squares slope through (0, 1) of slowdown(k): the v1 profile's linear coefficient, clamped at 0."""
        num = sum(k * (s - 1.0) for k, s in zip(self.ks, self.slowdown))
        return max(0.0, num / sum(k * k for k in self.ks))


@dataclass
class Calibration:
    """Everything one calibration measured, and what it derived (slots, memory budget, coefficients)."""

    host: str
    date: str
    seed: int
    llm: str  # local | remote
    llm_target: str  # what the authoritative LLM step was
    tool_target: str
    repetitions: int
    step_s: float
    tolerance: float
    cpu_cores: int
    memory: dict[str, float | str]  # total_gb, available_gb, source (/proc/meminfo or psutil)
    memory_budget_gb: float
    memory_fraction: float
    bandwidth_gbs: float | None  # the local stand-in's streaming rate; None when the LLM is not the stand-in
    curves: dict[str, dict[str, Curve]]
    slots_by_class: dict[str, int]
    seconds: float

    @property
    def slots(self) -> int:
        return min(self.slots_by_class.values())

    def to_json(self) -> dict:
        curves = {t: {c: {"k": cv.ks, "slowdown": cv.slowdown, "spread_iqr": [list(s) for s in cv.spread],
                          "alone_s": cv.alone_s, "coefficient": cv.slope, "ratios": cv.ratios}
                      for c, cv in by.items()} for t, by in self.curves.items()}
        doc = {k: v for k, v in asdict(self).items() if k != "curves"}
        return doc | {"slots": self.slots, "curves": curves}


def _memory() -> dict[str, float | str]:
    """Total and available memory in GB, and where the figures come from."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        kb = {k: float(v.split()[0]) for k, v in info.items() if k in ("MemTotal", "MemAvailable")}
        return {"total_gb": kb["MemTotal"] / 2**20, "available_gb": kb["MemAvailable"] / 2**20,
                "source": "/proc/meminfo"}
    except (OSError, KeyError, ValueError):
        pass
    try:
        import psutil

        vm = psutil.virtual_memory()
        return {"total_gb": vm.total / 2**30, "available_gb": vm.available / 2**30,
                "source": "psutil.virtual_memory()"}
    except ImportError:
        raise BpasteError("Cannot read this machine's memory (no /proc/meminfo, psutil not installed); "
                          "`pip install psutil` and calibrate again.") from None


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _iqr(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return (xs[0], xs[0])
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return (q[0], q[2])


def _slots(curves: dict[str, dict[str, Curve]], resource: str, tolerance: float) -> int:
    """The largest tested k such that every k up to it keeps every target within 1 + tolerance (0: none)."""
    slots = 0
    ks = curves[TARGETS[0]][resource].ks
    for i, k in enumerate(ks):
        if all(curves[t][resource].slowdown[i] <= 1.0 + tolerance for t in TARGETS):
            slots = k
        else:
            break
    return slots


def _llm_step(config: CalibrationConfig, llm_mode: str) -> tuple[Callable[[], object], str, float | None]:
    """The authoritative LLM step to time, what it is (in words), and the stand-in's streaming rate."""
    if config.llm_url:
        client = ChatClient(config.llm_url, config.llm_model, seed=config.seed)
        return (lambda: client.complete(PROMPT),
                f"a chat completion from {client.base} (model {client.model}, max_tokens {client.max_tokens})", None)
    if llm_mode == "local":
        stand_in = StandInLLM(seed=config.seed).calibrate()
        return (lambda: stand_in.step(config.step_s),
                f"the CPU-bound stand-in LLM step (a stand-in, not a model: {stand_in.bytes_per_pass >> 20} MB float32 "
                f"matrix-vector passes on {stand_in.threads} thread; stresses cores and memory bandwidth), "
                f"{config.step_s:g} s alone", stand_in.bandwidth_gbs())
    remote = RemoteLLM()
    return lambda: remote.step(config.step_s), f"a {config.step_s:g} s sleep (the stand-in of a remote LLM)", None


def _paired_runs(config: CalibrationConfig, steps: dict[str, Callable[[], object]], advance: Callable[[int], None] | None,
                 ) -> dict[tuple[str, str, int], list[tuple[float, float]]]:
    """(target, resource, k) -> [(seconds alone, seconds beside k jobs)], pairs in alternating order."""
    cells = [(r, k, t) for r in RESOURCES for k in config.ks for t in TARGETS]
    random.Random(config.seed).shuffle(cells)  # no class or k always measured first, when the machine is freshest
    pairs: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bpaste-calibrate-", dir=config.scratch_dir) as folder, \
            CoRunners(max(config.ks), Path(folder)) as jobs:
        for step in steps.values():
            step()  # warm-up beside nothing (caches, page faults, a server's first request)
        for resource, k, target in cells:
            step = steps[target]
            runs = []
            for rep in range(config.repetitions):
                times = {}
                for loaded in ((False, True) if rep % 2 == 0 else (True, False)):
                    if loaded:
                        jobs.run(resource, k)
                    t0 = time.perf_counter()
                    step()
                    times[loaded] = time.perf_counter() - t0
                    if loaded:
                        jobs.stop()
                runs.append((times[False], times[True]))
                if advance:
                    advance(1)
            pairs[(target, resource, k)] = runs
    return pairs


def calibrate(config: CalibrationConfig = CalibrationConfig(),
              progress: tuple[Callable[[int], None] | None, Callable[[int], None] | None] = (None, None)) -> Calibration:
    """Measure this machine (takes minutes; `CalibrationConfig.quick()` well under one). `progress`:
    (advance, set_total) callbacks counting paired runs."""
    config.check()
    advance, set_total = progress
    started = time.perf_counter()
    llm_mode = config.llm or ("local" if config.llm_url is None or is_local(config.llm_url) else "remote")
    llm_step, llm_target, bandwidth = _llm_step(config, llm_mode)
    burn = CpuBurn().calibrate()
    tool_target = f"a cpu-burning tool job (SHA-256 over a cache-resident block), {config.step_s:g} s alone"
    if set_total:
        set_total(len(RESOURCES) * len(config.ks) * len(TARGETS) * config.repetitions)
    pairs = _paired_runs(config, {"llm": llm_step, "tool": lambda: burn.run(config.step_s)}, advance)

    curves: dict[str, dict[str, Curve]] = {t: {} for t in TARGETS}
    for t in TARGETS:
        for r in RESOURCES:
            ratios = [[b / a for a, b in pairs[(t, r, k)]] for k in config.ks]
            alone = [a for k in config.ks for a, _ in pairs[(t, r, k)]]
            curves[t][r] = Curve(t, r, list(config.ks), [statistics.median(x) for x in ratios],
                                 [_iqr(x) for x in ratios], statistics.median(alone), ratios)
    memory = _memory()
    return Calibration(
        host=socket.gethostname(), date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), seed=config.seed,
        llm=llm_mode, llm_target=llm_target, tool_target=tool_target, repetitions=config.repetitions,
        step_s=config.step_s, tolerance=config.tolerance, cpu_cores=_cores(), memory=memory,
        memory_budget_gb=round(float(memory["available_gb"]) * config.memory_fraction, 2),
        memory_fraction=config.memory_fraction, bandwidth_gbs=bandwidth, curves=curves,
        slots_by_class={r: _slots(curves, r, config.tolerance) for r in RESOURCES},
        seconds=time.perf_counter() - started,
    )
