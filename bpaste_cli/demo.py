"""`bpaste demo`: the whole pipeline on the bundled sample traces, each step's key figure as it completes.

ingest -> stats -> mine -> fit -> tune (a small budget) -> replay (under the tuned policy) -> report.
Every step is the same library call its own verb makes, into a workspace (`<out>/.bpaste/`, see `workspace`)
laid out as the verbs lay it out: `dataset/`, `patterns/`, `models/<device>.json`, `policies/<device>.json`
(+ its Optuna study in `studies/`), `report.html`; so `bpaste status`, `bpaste replay` and the other verbs
carry on from it. The sample traces are read from `./sample_traces` when it holds the committed set, and
otherwise regenerated (byte-identical) into the output folder, so the demo works from any directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bpaste_cli.errors import BpasteError
from bpaste_cli.synth import SAMPLE_PLAN, write_samples


@dataclass
class DemoStep:
    name: str
    seconds: float
    figure: str  # the step's key figure, in words
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoResult:
    out: Path
    steps: list[DemoStep]
    paths: dict[str, str]
    seconds: float
    next: list[str] = field(default_factory=list)  # verbs that carry on from the demo's workspace, as commands

    def summary(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "seconds": round(self.seconds, 2),
            "steps": [{"name": s.name, "seconds": round(s.seconds, 2), "figure": s.figure, **s.data} for s in self.steps],
            "paths": self.paths,
            "next": self.next,
        }


def _samples(samples: Path | None, out: Path) -> Path:
    if samples is not None:
        if not Path(samples).is_dir():
            raise BpasteError(f"{samples} is not a directory of agent logs; pass the sample_traces folder or omit --samples.")
        return Path(samples)
    here = Path("sample_traces")
    if all((here / fmt).is_dir() for fmt, _, _ in SAMPLE_PLAN):
        return here
    write_samples(out / "sample_traces")
    return out / "sample_traces"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def run_demo(
    out: Path,
    *,
    samples: Path | None = None,
    device: str = "thor",
    trials: int = 30,
    seed: int = 0,
    on_step: Callable[[DemoStep], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run every step into `out`; `on_start(name)` before and `on_step(step)` after each one."""
    from bpaste_cli.fit import FitOptions, fit
    from bpaste_cli.ingest import ingest
    from bpaste_cli.mine import load_predictor, mine, pattern_hash
    from bpaste_cli.mine import MineOptions
    from bpaste_cli.policy import replay_policy
    from bpaste_cli.report import write_report
    from bpaste_cli.stats import compute_stats
    from bpaste_cli.trace import load_dataset
    from bpaste_cli.tune import TuneOptions, tune

    from bpaste_cli.workspace import DIR_NAME, locate, resolve, tune_study_inputs

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BpasteError(f"{out} is a file; the demo writes a folder, choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    steps: list[DemoStep] = []
    ws = locate(out / DIR_NAME, create=True)
    paths = {
        "workspace": ws.root,
        "dataset": ws.dataset_dir,
        "patterns": ws.patterns_dir,
        "model": ws.model_path(device),
        "policy": ws.policy_path(device),
        "report": ws.report_path(),
    }

    def step(name: str, work: Callable[[], tuple[str, dict[str, Any]]]) -> None:
        if on_start:
            on_start(name)
        t0 = time.perf_counter()
        figure, data = work()
        done = DemoStep(name, time.perf_counter() - t0, figure, data)
        steps.append(done)
        if on_step:
            on_step(done)

    logs = _samples(samples, out)

    def do_ingest():
        r = ingest([logs], paths["dataset"])
        ws.record_ingest([logs])
        return (f"{r.sessions} sessions, {r.tool_calls} tool calls from {logs} ({r.report.total} lines skipped)",
                {"sessions": r.sessions, "tool_calls": r.tool_calls, "skipped": r.report.total})

    def do_stats():
        s = compute_stats(load_dataset(paths["dataset"]))
        c = s["ceiling"]
        return (f"tool stall is {_pct(c['share_of_agent_time'])} of agent time: at most {c['ceiling_speedup']:.2f}x if all hidden",
                {"ceiling_speedup": c["ceiling_speedup"], "parallel_step_share": s["parallel_step_share"]})

    def do_mine():
        r = mine(paths["dataset"], paths["patterns"], MineOptions(seed=seed))
        e = r.eval or {}
        return (f"held-out next call exactly right at top-1 {_pct(e.get('call_top1'))} (floor: repeat last call "
                f"{_pct(e.get('repeat_last_call'))}); next tool {_pct(e.get('tool_top1'))} (floor {_pct(e.get('floor_tool_top1'))})",
                {k: e.get(k) for k in ("decisions", "tool_top1", "floor_tool_top1", "call_top1", "repeat_last_call")})

    def do_fit():
        predictor = load_predictor(paths["patterns"])
        r = fit(paths["dataset"], predictor, device=device, options=FitOptions(seed=seed), out=paths["model"],
                provenance={"patterns": str(paths["patterns"]), "patterns_hash": pattern_hash(predictor)})
        ws.record_device(device)
        m = r.metrics
        held = m["candidates"][m["chosen"]][m["chosen_on"]]
        return (f"value model: {m['chosen']}, Spearman {held['spearman']:.2f} on {m['chosen_on']} rows",
                {"chosen": m["chosen"], "spearman": held["spearman"]})

    model = None

    def do_tune():
        defaults = TuneOptions()
        got = resolve("tune", workspace=ws.root, device=device, seed=seed, model=model,
                      study_inputs=tune_study_inputs(defaults.objectives, defaults.max_interference, defaults.max_amplification))
        r = tune(got.dataset, got.patterns, got.output,
                 TuneOptions(device=device, trials=trials, seed=seed, model=got.model, storage=got.storage, study=got.study))
        v = r.policy["validation"]["policy"]
        lo, hi = v["speedup_ci95"]
        return (f"{r.trials_complete} trials; chosen trial {r.policy['provenance']['trial']}: validation speedup "
                f"{v['speedup']:.3f}x [{lo:.3f}, {hi:.3f}]", {"trials": r.trials_complete, "validation_speedup": v["speedup"],
                                                              "dashboard": r.dashboard})

    def do_replay():
        r = replay_policy(paths["dataset"], paths["policy"])
        lo, hi = r["test_speedup_ci95"]
        return (f"test split under the policy ({r['arm']}): {r['test_speedup']:.3f}x [{lo:.3f}, {hi:.3f}]; "
                f"validation figure reproduced: {'yes' if r['reproduced'] else 'NO'}",
                {"test_speedup": r["test_speedup"], "reproduced": r["reproduced"]})

    def do_report():
        write_report(paths["report"], paths["dataset"], patterns=str(paths["patterns"]), policy=paths["policy"], device=device)
        return (f"{paths['report']} ({paths['report'].stat().st_size // 1024} KiB, self-contained)", {})

    step("ingest", do_ingest)
    step("stats", do_stats)
    step("mine", do_mine)
    try:
        step("fit", do_fit)
        model = paths["model"]
    except BpasteError as exc:  # too few speculable candidates to learn from: tune without the model ranking
        steps.append(DemoStep("fit", 0.0, f"skipped: {exc}"))
        paths.pop("model")
    step("tune", do_tune)
    step("replay", do_replay)
    step("report", do_report)
    return DemoResult(out, steps, {k: str(v) for k, v in paths.items()}, time.perf_counter() - t_all,
                      [ws.cmd("status"), ws.device_cmd("replay", device)])
