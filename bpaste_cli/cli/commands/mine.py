"""`bpaste mine`: trace dataset -> pattern table, with a held-out evaluation against trivial floors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from bpaste_cli.cli.app import app, err, out, percent, print_json, warn, workspace_option


@app.command(
    epilog="Examples: bpaste mine   (the workspace's dataset -> its patterns)    |    "
    "bpaste mine traces.bpaste -o patterns.bpaste    |    bpaste mine patterns.bpaste --show",
)
def mine(
    dataset: Optional[Path] = typer.Argument(None, help="A trace dataset (from `bpaste ingest`), or a pattern table with "
                                             "--show (default: the workspace's; a dataset given without -o is only evaluated)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="The pattern table directory to write "
                                          "(default with no DATASET: the workspace's patterns)."),
    k: int = typer.Option(3, "--context", "-K", help="Longest control-flow context, in event keys."),
    key: str = typer.Option("tool", "--key", help="Event key: tool, status (tool + error mark) or refined."),
    min_support: int = typer.Option(3, help="Fewest occurrences for a context or rule to be kept."),
    min_sessions: int = typer.Option(2, "--min-sessions", help="Fewest training sessions a rule's exact hits must come from."),
    alpha: float = typer.Option(2.0, min=0.0, help="Shrinkage of a context toward its shorter suffix."),
    recent_calls: int = typer.Option(3, "--recent-calls", help="Source calls considered per tool (the r-th most recent, r <= this)."),
    rank: Optional[int] = typer.Option(None, "--rank", hidden=True, help="Deprecated spelling of --recent-calls."),
    max_pos: int = typer.Option(10, help="Positions of extracted items considered (1st .. this)."),
    min_prob: float = typer.Option(0.0, min=0.0, max=1.0, help="Withhold candidates below this calibrated probability."),
    seed: Optional[int] = typer.Option(None, min=0, help="Seed of the train/validation/test session split (default 0)."),
    show: bool = typer.Option(False, "--show", help="List the strongest patterns in words."),
    workspace: Optional[Path] = workspace_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Mine control-flow and data-flow patterns on the train split; evaluate next-call prediction on test."""
    from bpaste_cli.mine import MineOptions, is_pattern_table, load_predictor, mine as run_mine, read_table_manifest, strongest_patterns
    from bpaste_cli.workspace import locate, resolve

    if rank is not None:
        err.print("[yellow]deprecated:[/] `bpaste mine --rank` is now --recent-calls (replay's --rank is the beam's ranking); "
                  "the old spelling still works for now.", highlight=False)
        recent_calls = rank
    if show and output is None and dataset is None:
        workspace_patterns = locate(workspace).patterns_dir
        if is_pattern_table(workspace_patterns):
            dataset = workspace_patterns  # `bpaste mine --show`: the workspace's patterns, as they are
    if show and output is None and dataset is not None and is_pattern_table(dataset):
        manifest = read_table_manifest(dataset)
        patterns = strongest_patterns(load_predictor(dataset), 40)
        if as_json:
            print_json("mine", {"patterns": patterns, "eval": manifest.get("eval")})
        else:
            _patterns(patterns)
        return
    got = resolve("mine", workspace=workspace, dataset=dataset, output=output, seed=seed)
    dataset, output = got.dataset, got.output
    options = MineOptions(max_context=k, key=key, alpha=alpha, min_support=min_support, min_sessions=min_sessions, recent_calls=recent_calls,
                          max_pos=max_pos, min_prob=min_prob, seed=got.seed)
    warn(got.warnings)
    result = run_mine(dataset, output, options)
    if as_json:
        print_json("mine", {"summary": result.summary, "patterns": result.strongest, "eval": result.eval})
        return
    s = result.summary
    out.print(
        f"mined [bold]{s['train']['sessions']}[/] train sessions ({s['train']['decisions']} decisions, "
        f"{s['train']['calls']} calls) in {s['mine_seconds']} s: {s['contexts']} contexts, {s['rules']} rules"
        + (f" -> {output}" if output else "")
    )
    _patterns(result.strongest[: 40 if show else 10])
    if s["control_choice"]:
        c = s["control_choice"]
        out.print(f"next-tool back-off chosen on validation ({c['validation_decisions']} decisions): {c['chosen']} "
                  f"(top-1 {percent(c['validation_tool_top1'])}, floor {percent(c['floor_validation_tool_top1'])})")
    if s["validation_calibration"]:
        _reliability(s["validation_calibration"], "validation, cross-fitted")
    if result.eval:
        _eval(result.eval)
    else:
        out.print("[yellow]no test sessions: nothing to evaluate[/] (the dataset is too small for a 60/20/20 split)")


def _patterns(patterns: list[dict[str, Any]]) -> None:
    out.print("[bold]strongest patterns[/] (exact reproduction rate of the argument, of the cases it applied to):")
    for p in patterns:
        out.print(f"  {p['pattern']}", highlight=False)


def _reliability(cal: dict[str, Any], split: str) -> None:
    t = Table(title=f"reliability on {split} (calibrated p; bins of n >= {cal['judged_n']} judged)")
    for c in ("bin", "n", "mean p", "hit rate", "95% interval"):
        t.add_column(c, justify="right")
    for b in cal["reliability"]:
        t.add_row(b["bin"], str(b["n"]), f"{b['mean_prob']:.2f}", f"{b['hit_rate']:.2f}", f"{b['hit_low']:.2f}-{b['hit_high']:.2f}")
    out.print(t)
    if cal.get("worst_gap") is not None:
        noise = (f"; mean p outside the interval in {', '.join(cal['beyond_noise'])}" if cal["beyond_noise"]
                 else "; every mean p inside its interval")
        verdict = "within" if cal["within"] else "[yellow]outside[/]"
        out.print(f"  worst gap {cal['worst_gap']:.2f} ({verdict} ±{cal['tolerance']}){noise}")


def _eval(e: dict[str, Any]) -> None:
    t = Table(title=f"held-out test split: {e['decisions']} decisions with a call ({e['decisions_all']} in all, {e['sessions']} sessions)")
    for c in ("", "top-1", "top-3", "top-5"):
        t.add_column(c, justify="left" if not c else "right")
    t.add_row("next tool", *(percent(e[f"tool_top{k}"]) for k in (1, 3, 5)))
    t.add_row("  floor: most frequent after last tool", *(percent(e[f"floor_tool_top{k}"]) for k in (1, 3, 5)))
    t.add_row("exact call (tool + args)", *(percent(e[f"call_top{k}"]) for k in (1, 3, 5)))
    t.add_row("  floor: repeat the last call", percent(e["repeat_last_call"]), "", "")
    out.print(t)
    f = e["vs_floor"]
    if f["diff"] is not None:
        below = "[yellow]below the floor beyond noise[/]" if f["below_floor"] else "not below the floor beyond noise"
        out.print(f"next-tool top-1 minus the floor's on the same decisions: {f['diff']:+.1%} (95% {f['low']:+.1%} to {f['high']:+.1%}; "
                  f"{f['wins']} won, {f['losses']} lost, McNemar p {f['p']:.2f}): {below}")
    brier = "-" if e["brier"] is None else f"{e['brier']:.4f}"
    out.print(f"calibration: Brier {brier} over {e['scored']} scored candidates; abstained at {e['abstained']} decisions")
    _reliability(e, "test")
    fam = Table(title="exact-call hits by data-flow family of the candidate")
    for c in ("family", "top-1 offered", "top-1 right", "top-5 offered", "top-5 right"):
        fam.add_column(c, justify="left" if c == "family" else "right")
    for name, f in e["families"].items():
        fam.add_row(name, str(f["offered_top1"]), str(f["hits_top1"]), str(f["offered_top5"]), str(f["hits_top5"]))
    out.print(fam)
    per = Table(title="per tool (decisions whose step called the tool)")
    for c in ("tool", "decisions", "tool top-1", "floor top-1", "call top-1", "call top-3", "call top-5"):
        per.add_column(c, justify="left" if c == "tool" else "right")
    for tool, v in list(e["per_tool"].items())[:15]:
        per.add_row(tool, str(v["decisions"]), percent(v["tool_top1"]), percent(v["floor_tool_top1"]),
                    percent(v["call_top1"]), percent(v["call_top3"]), percent(v["call_top5"]))
    out.print(per)
