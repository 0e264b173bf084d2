"""`bpaste tune`: an Optuna study over the replay knobs on the validation split -> policy.json."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bpaste_cli.cli.app import app, err, out, print_json, warn, workspace_option
from bpaste_cli.coverage import blocked_sentence


@app.command(
    epilog="Examples: bpaste tune --device thor   (the workspace's dataset, patterns and model -> its policy for thor)    |    "
    "bpaste tune traces.bpaste --patterns patterns.bpaste --device thor --trials 100 --workers 2 -o policy.json",
)
def tune(
    dataset: Optional[Path] = typer.Argument(None, help="A trace dataset (from `bpaste ingest`; default: the workspace's)."),
    patterns: Optional[Path] = typer.Option(None, "--patterns", help="A pattern table (from `bpaste mine`) mined on the same "
                                            "dataset and seed (default: the workspace's)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="The policy file to write (default: the workspace's "
                                          "policies/<device>.json)."),
    device: str = typer.Option("thor", "--device", help="A built-in device (see `bpaste device list`) or a TOML profile."),
    trials: int = typer.Option(100, "--trials", help="Complete trials the study should hold (resumed trials count)."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Optuna storage URL (default: sqlite:///<output dir>/<stem>.optuna.db, "
                                          "in a workspace studies/<device>.optuna.db; postgresql://... shares one study "
                                          "between machines)."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the output's stem; in a workspace one "
                                        "per set of inputs)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, max=2**32 - 1, help="Split seed and sampler seed, worker i uses seed + i "
                                       "(default: the patterns' split seed, else 0)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes sharing the study."),
    objectives: str = typer.Option("speedup", "--objectives", help="speedup, or speedup,waste for a Pareto front (NSGA-II)."),
    previous: Optional[Path] = typer.Option(None, "--previous", help="A previous policy.json whose parameters are tried first."),
    model: Optional[Path] = typer.Option(None, "--model", help="A value model (from `bpaste fit`): adds the `model` ranking "
                                         "(default: the workspace's for the device, if fitted)."),
    model_by_path: bool = typer.Option(False, "--model-by-path", help="Reference the model from the policy (relative path + "
                                       "sha256) instead of embedding it."),
    safety: Optional[Path] = typer.Option(None, "--safety", help="A TOML file overriding the safety table."),
    max_interference: float = typer.Option(0.05, "--max-interference", help="Constraint: interference seconds per serial agent second."),
    max_amplification: float = typer.Option(3.0, "--max-amplification", help="Constraint: speculative starts per real call."),
    min_gain: float = typer.Option(0.001, "--min-gain", min=0.0, max=1.0,
                                   help="Keep serial (slots 0) unless the best setting is at least this much faster (0.001 = 0.1%)."),
    workspace: Optional[Path] = workspace_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Tune speculation for a device: search beam, ranking, thresholds, slots and TTL on the validation split."""
    from bpaste_cli.errors import BpasteError

    try:
        from bpaste_cli.tune import TuneOptions, tune as run_tune
    except ModuleNotFoundError as exc:
        if exc.name != "optuna":
            raise
        raise BpasteError("bpaste tune needs Optuna, which is not installed; pip install 'optuna>=5'.") from None

    from bpaste_cli.workspace import resolve, tune_study_inputs

    objective_names = tuple(o.strip() for o in objectives.split(",") if o.strip())
    got = resolve("tune", workspace=workspace, device=device, dataset=dataset, patterns=patterns, model=model, output=output,
                  seed=seed, storage=storage, study=study,
                  study_inputs=tune_study_inputs(objective_names, max_interference, max_amplification))
    dataset, patterns, output = got.dataset, got.patterns, got.output
    warn(got.warnings)
    options = TuneOptions(
        device=device, trials=trials, storage=got.storage, study=got.study, seed=got.seed, workers=workers,
        objectives=objective_names, previous=previous, model=got.model,
        model_by_path=model_by_path, safety=safety,
        max_interference=max_interference, max_amplification=max_amplification, min_gain=min_gain,
    )
    bar = None if as_json or not err.is_terminal else Progress(
        TextColumn("[bold]tuning"), BarColumn(), MofNCompleteColumn(), TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(), console=err, transient=True,
    )
    if bar:
        task = bar.add_task("tune", total=trials, best="-")
        bar.start()

    def progress(done: int, total: int, best: float | None) -> None:
        if bar:
            bar.update(task, completed=min(done, total), best="-" if best is None else f"{best:.4f}x")

    try:
        result = run_tune(dataset, patterns, output, options, progress=progress)
    except KeyboardInterrupt:
        err.print("interrupted: the complete trials are kept in the study; rerun the same command to resume.", highlight=False,
                  soft_wrap=True)
        raise typer.Exit(130) from None
    finally:
        if bar:
            bar.stop()
    if as_json:
        print_json("tune", result.summary())
        return
    p = result.policy
    v = p["validation"]
    table = Table(title=f"validation split ({v['sessions']} sessions) on {p['device']['name']}: chosen trial {p['provenance']['trial']}")
    for col in ("point", "speedup", "95% CI", "waste", "interf.", "amp.", "feasible"):
        table.add_column(col, justify="left" if col == "point" else "right")
    pol = v["policy"]
    lo, hi = pol["speedup_ci95"]
    serial = pol["serial_agent_time_s"] or 1.0
    table.add_row(f"policy ({p['parameters']['arm']})", f"{pol['speedup']:.4f}x", f"{lo:.3f}-{hi:.3f}",
                  f"{pol['wasted_spec_s'] / serial:.4f}", f"{pol['interference_s'] / serial:.4f}", f"{pol['amplification']:.2f}", "yes")
    for label, b in v["baselines"].items():
        table.add_row(label, f"{b['speedup']:.4f}x", "", f"{b['waste']:.4f}", f"{b['interference']:.4f}", f"{b['amplification']:.2f}",
                      "yes" if b["feasible"] else "no")
    out.print(table)
    out.print("parameters: " + ", ".join(f"{k}={v}" for k, v in p["parameters"].items()), highlight=False)
    out.print(f"{result.trials_complete} complete trials ({result.trials_run} run now) in {result.seconds:.1f} s; "
              f"policy written to {result.output}")
    out.print(f"study {result.study!r} in {result.storage}; inspect it with: [bold]{result.dashboard}[/]", highlight=False)
    if result.coverage:
        out.print("where the validation split's tool time is: " + blocked_sentence(result.coverage), highlight=False)
    warn(result.warnings)
