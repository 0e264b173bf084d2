"""`bpaste fit`: a trace dataset + patterns -> a branch-value model (JSON), validated on sessions it never saw."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from bpaste_cli.cli.app import app, count_progress, err, out, print_json, seconds, warn, workspace_option


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


@app.command(
    epilog="Examples: bpaste fit   (the workspace's dataset and patterns -> its model for thor)    |    "
    "bpaste fit traces.bpaste --patterns patterns.bpaste --device thor -o value-model.json, "
    "then: bpaste replay traces.bpaste --patterns patterns.bpaste --rank model --model value-model.json",
)
def fit(
    dataset: Optional[Path] = typer.Argument(None, help="A trace dataset directory (from `bpaste ingest`; default: the "
                                             "workspace's)."),
    patterns: Optional[Path] = typer.Option(None, "--patterns", help="The pattern table (from `bpaste mine`) the beam "
                                            "predicts with (default: the workspace's)."),
    device: str = typer.Option("thor", "--device", help="A built-in device (see `bpaste device list`) or a TOML profile."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="The value-model JSON file to write (default: the "
                                          "workspace's models/<device>.json)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Split seed (default: the one the patterns were "
                                       "mined with, else 0)."),
    safety: Optional[Path] = typer.Option(None, "--safety", help="A TOML file overriding the safety table."),
    workspace: Optional[Path] = workspace_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Learn each branch prefix's critical-path saving from replays of the train split; compare rankings on validation."""
    from bpaste_cli.errors import BpasteError
    from bpaste_cli.fit import FitOptions, fit as run_fit
    from bpaste_cli.mine import open_table, pattern_hash
    from bpaste_cli.safety import load_safety
    from bpaste_cli.trace import load_dataset
    from bpaste_cli.workspace import resolve

    got = resolve("fit", workspace=workspace, device=device, dataset=dataset, patterns=patterns, output=output, seed=seed)
    dataset, patterns, output, seed = got.dataset, got.patterns, got.output, got.seed
    if output.is_dir():
        raise BpasteError(f"-o {output} is a directory; pass the path of the JSON file to write.")
    ds = load_dataset(dataset)
    table = load_safety(safety)
    predictor, warnings = open_table(patterns, ds.hash, seed, "the validation sessions the rankings are compared on")
    warnings = got.warnings + warnings
    provenance = {"patterns": str(patterns), "patterns_hash": pattern_hash(predictor)}
    with count_progress(not as_json and err.is_terminal, "replaying for branch values") as (advance, set_total):
        result = run_fit(ds, predictor, device=device, options=FitOptions(seed=seed), safety=table, out=output,
                         provenance=provenance, progress=advance, on_total=set_total)
    m = result.metrics
    if as_json:
        print_json("fit", {"output": str(output), "metrics": m, "provenance": result.model.meta["provenance"], "warnings": warnings})
        return
    t = Table(title=f"value model candidates ({m['rows']['train']} train rows, {m['rows']['validation']} validation rows)")
    for col in ("model", "train R²", "train Spearman", f"{m['chosen_on']} R²", f"{m['chosen_on']} Spearman", "chosen"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for name, c in m["candidates"].items():
        held = c[m["chosen_on"]]
        t.add_row(name, _num(c["train"]["r2"]), _num(c["train"]["spearman"]), _num(held["r2"]), _num(held["spearman"]),
                  "yes" if name == m["chosen"] else "")
    out.print(t)
    comp = m["rank_comparison"]
    if comp["arms"]:
        r = Table(title=f"bpaste on the {comp['sessions']} validation sessions, by ranking")
        for col in ("rank", "speedup", "95% CI", "hidden", "hits", "in-flight", "wasted", "interf."):
            r.add_column(col, justify="left" if col == "rank" else "right")
        for rank, a in comp["arms"].items():
            lo, hi = a["speedup_ci95"]
            r.add_row(rank, f"{a['speedup']:.4f}x", f"{lo:.3f}-{hi:.3f}", seconds(a['tool_stall_hidden_s']), str(a["hits"]),
                      str(a["inflight_promotions"]), seconds(a['wasted_spec_s']), seconds(a['interference_s']))
        out.print(r)
    else:
        out.print("[yellow]no timed validation sessions: rankings not compared[/]")
    out.print(f"chosen: [bold]{m['chosen']}[/] ({m['why']}) -> {output}")
    warn(warnings)
