"""`bpaste replay`: a trace dataset + patterns -> speedup per arm on a device, in virtual time."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from bpaste_cli.cli.app import app, count_progress, err, out, percent, print_json, seconds, warn, workspace_option
from bpaste_cli.cli.coverage_view import print_what_if

SPLIT_CHOICES = ("train", "validation", "test", "all")
# the options a policy fixes: with --policy, giving one is refused rather than ignored
POLICY_FIXES = {"arm": "--arm", "split": "--split", "seed": "--seed", "rank": "--rank", "model": "--model",
                "beam_width": "--beam-width", "depth": "--depth", "top_k": "--top-k", "threshold": "--threshold",
                "min_prob": "--min-prob", "ttl": "--ttl", "lambda_scale": "--lambda-scale", "slots": "--slots",
                "safety": "--safety", "timeline": "--timeline", "timeline_sessions": "--timeline-sessions",
                "per_session": "--per-session", "what_if": "--what-if"}


@app.command(
    epilog="Examples: bpaste replay   (the workspace's dataset, patterns and policy)    |    "
    "bpaste replay traces.bpaste --patterns patterns.bpaste --device thor --arm serial,paste,bpaste",
)
def replay(
    ctx: typer.Context,
    dataset: Optional[Path] = typer.Argument(None, help="A trace dataset directory (from `bpaste ingest`; default: the "
                                             "workspace's)."),
    patterns: Optional[str] = typer.Option(None, "--patterns", help="A pattern table (from `bpaste mine`), or `oracle` "
                                           "(default: the workspace's)."),
    device: str = typer.Option("thor", "--device", help="A built-in device (see `bpaste device list`) or a TOML profile."),
    arm: str = typer.Option("serial,oracle,paste,bpaste", "--arm", help="Comma-separated arms."),
    split: str = typer.Option("test", "--split", help="train, validation, test or all."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Split seed and bootstrap seed (default: the patterns' "
                                       "split seed, else 0)."),
    rank: str = typer.Option("value", "--rank", help="bpaste ranking: probability, value, or model (with --model)."),
    model: Optional[Path] = typer.Option(None, "--model", help="A value model (from `bpaste fit`) for --rank model."),
    beam_width: int = typer.Option(3, "--beam-width", min=1),
    depth: int = typer.Option(2, "--depth", min=1),
    top_k: int = typer.Option(3, "--top-k", min=1, help="paste: candidates per think window."),
    threshold: float = typer.Option(0.2, "--threshold", min=0.0, max=1.0, help="paste: minimum probability."),
    min_prob: float = typer.Option(0.1, "--min-prob", min=0.0, max=1.0, help="bpaste: minimum prefix probability."),
    ttl: float = typer.Option(60.0, "--ttl", min=0.0, help="Seconds a finished speculative result is kept."),
    lambda_scale: float = typer.Option(1.0, "--lambda-scale", min=0.0, help="The λ schedule: PASTE's shadow-price steps times this."),
    slots: Optional[int] = typer.Option(None, "--slots", min=0, help="Speculative slots (default: the device's)."),
    safety: Optional[Path] = typer.Option(None, "--safety", help="A TOML file overriding the safety table."),
    timeline: Optional[Path] = typer.Option(None, "--timeline", help="Write a Perfetto/Chrome trace JSON here."),
    timeline_sessions: int = typer.Option(5, "--timeline-sessions", min=1, help="Sessions per arm in the timeline."),
    per_session: Optional[Path] = typer.Option(None, "--per-session", help="Write per-session rows (.csv, .parquet or JSONL)."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="A policy.json (from `bpaste tune`): replay its validation and "
                                          "test splits with its predictor, device, safety table and parameters "
                                          "(without it, the workspace's policy for the device is shown beside the arms)."),
    what_if: int = typer.Option(0, "--what-if", min=0, help="Also replay with each of the N top unclassified tools (and "
                                "unknown shell programs) allowed: what each classification decision is worth."),
    allow_unsafe_classes: bool = typer.Option(False, "--allow-unsafe-classes", help="With --policy: accept a policy that "
                                              "speculates mutating or unknown tool calls."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes to spread the sessions over (the figures are the "
                                "same for any number)."),
    workspace: Optional[Path] = workspace_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Replay logged sessions under serial, oracle, PASTE, B-PASTE (and cache) speculation, in virtual time."""
    from bpaste_cli.errors import BpasteError
    from bpaste_cli.replay import ARM_TYPES, ReplayConfig, open_patterns, replay as run_replay
    from bpaste_cli.safety import load_safety
    from bpaste_cli.trace import load_dataset
    from bpaste_cli.workspace import resolve

    if split not in SPLIT_CHOICES:
        raise BpasteError(f"Unknown split {split!r}; choose train, validation, test or all.")
    arms = tuple(a.strip() for a in arm.split(",") if a.strip())
    if not arms:
        raise BpasteError("--arm names no arm; pass a comma-separated list of serial, oracle, paste, bpaste.")
    unknown = next((a for a in arms if a not in ARM_TYPES), None)
    if unknown is not None:  # checked here too, so that --policy never meets an arm it would not use
        raise BpasteError(f"Unknown arm {unknown!r}; choose from {', '.join(ARM_TYPES)}.")
    if policy is not None:
        given = [flag for name, flag in POLICY_FIXES.items() if _given(ctx, name)]
        if given:
            raise BpasteError(f"--policy replays serial and the policy's own arm with the policy's parameters, safety table "
                              f"and split seed, so {', '.join(given)} would be ignored: drop {'them' if len(given) > 1 else 'it'}, "
                              "or replay without --policy to choose them.")
        if patterns:
            raise BpasteError("--policy carries its own predictor tables; drop --patterns.")
        got = resolve("replay", workspace=workspace, device=device, dataset=dataset, policy=policy, need_patterns=False)
        warn(got.warnings)
        device_given = _given(ctx, "device")
        return _replay_with_policy(got.dataset, policy, device if device_given else None, as_json, allow_unsafe_classes,
                                   workers)
    for path, option in ((per_session, "--per-session"), (timeline, "--timeline")):
        if path is not None and path.is_dir():
            raise BpasteError(f"{option} {path} is a directory; pass the path of a file to write.")
    need_patterns = patterns is None and any(a in ("paste", "bpaste") for a in arms)
    need_model = model is None and rank == "model"
    if dataset is not None and (need_patterns or need_model) and not _has_workspace(workspace):
        if need_patterns:  # the dataset is the user's own, and there is no workspace to take patterns from
            raise BpasteError(f"The paste and bpaste arms need --patterns: a pattern table (`bpaste mine "
                              f"{shlex.quote(str(dataset))} -o patterns.bpaste` makes one) or `oracle`.")
        raise BpasteError(f"--rank model needs --model, a value model (`bpaste fit {shlex.quote(str(dataset))} --patterns "
                          f"{shlex.quote(patterns or 'patterns.bpaste')} -o model.json` makes one).")
    got = resolve("replay", workspace=workspace, device=device, dataset=dataset,
                  patterns=None if patterns is None else Path(patterns), model=model, seed=seed,
                  need_patterns=need_patterns, need_model=need_model)
    dataset, model, seed = got.dataset, got.model, got.seed
    patterns = patterns if patterns is not None or got.patterns is None else str(got.patterns)
    ds = load_dataset(dataset)
    ds.require_tool_calls("there is nothing to speculate")
    predictor, warnings = None, list(got.warnings)
    if patterns:
        predictor, pattern_warnings = open_patterns(patterns, ds.hash, seed, "the replayed sessions")
        warnings += pattern_warnings
    value_model = None
    if model is not None:
        from bpaste_cli.fit import device_warnings, load_value_model

        value_model = load_value_model(model)
        warnings += device_warnings(value_model, device)
    config = ReplayConfig(
        arms=arms, split=split, seed=seed, ttl_s=ttl, slots=slots, top_k=top_k, threshold=threshold,
        beam_width=beam_width, beam_depth=depth, rank=rank, min_prob=min_prob, lambda_scale=lambda_scale,
    )
    with count_progress(not as_json and err.is_terminal, "replaying sessions x arms") as (advance, set_total):
        report = run_replay(ds, predictor, device=device, config=config, safety=load_safety(safety), value_model=value_model,
                            timeline=timeline,
                            timeline_sessions=timeline_sessions, progress=advance, on_total=set_total, what_if=what_if,
                            workers=workers)
    report.warnings[:0] = warnings
    policy_row = None
    if got.policy is not None and "policy" in got.taken:
        from bpaste_cli.policy.replay import policy_arm

        policy_row, policy_warnings = policy_arm(ds, got.policy, split=split, seed=seed, workers=workers)
        report.warnings += policy_warnings
    if report.sessions_replayed == 0:
        skipped = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in report.sessions_skipped.items() if n) or "none at all"
        raise BpasteError(
            f"The {split} split of {dataset} has no session replay can time ({skipped}); replay needs logs with "
            "timestamps (claude-code, codex, openhands, otlp, native with times), or try --split all."
        )
    if per_session:
        report.write_per_session(per_session)
    if as_json:
        print_json("replay", report.to_json() | ({"policy": policy_row} if policy_row else {}))
        return
    table = Table(title=f"replay of {dataset} ({report.split} split, {report.sessions_replayed} sessions) on {report.device}")
    for col in ("arm", "speedup", "95% CI", "agent", "hidden", "hits", "in-flight", "misses", "wasted", "amp.", "interf."):
        table.add_column(col, justify="left" if col == "arm" else "right", no_wrap=True)
    for name, a in report.arms.items():
        lo, hi = a["speedup_ci95"]
        table.add_row(
            name, f"{a['speedup']:.3f}x", f"{lo:.2f}-{hi:.2f}", seconds(a["agent_time_s"]), seconds(a["tool_stall_hidden_s"]),
            str(a["hits"]), str(a["inflight_promotions"]), str(a["misses"]), seconds(a["wasted_spec_s"]),
            f"{a['amplification']:.2f}", seconds(a["interference_s"]),
        )
    if policy_row:
        a = policy_row
        lo, hi = a["speedup_ci95"]
        table.add_row(
            f"policy ({a['arm']})", f"{a['speedup']:.3f}x", f"{lo:.2f}-{hi:.2f}", seconds(a["agent_time_s"]),
            seconds(a["tool_stall_hidden_s"]), str(a["hits"]), str(a["inflight_promotions"]), str(a["misses"]),
            seconds(a["wasted_spec_s"]), f"{a['amplification']:.2f}", seconds(a["interference_s"]),
        )
    out.print(table)
    bound = report.bounds["all_tool_time_hidden"]
    out.print(f"bound with all tool time hidden: [bold]{bound['speedup']:.3f}x[/]")
    spec = next((a for a in ("bpaste", "paste", "oracle") if a in report.arms), None)
    if spec:
        tools = Table(title=f"per tool ({spec})")
        for col in ("tool", "calls", "hits", "in-flight", "misses", "stall hidden", "spec started", "wasted"):
            tools.add_column(col, justify="left" if col == "tool" else "right")
        for tool, t in list(report.arms[spec]["per_tool"].items())[:15]:
            tools.add_row(tool, str(t["calls"]), str(t["hits"]), str(t["inflight_promotions"]), str(t["misses"]),
                          seconds(t["tool_stall_hidden_s"]), str(t["spec_started"]), seconds(t["wasted_spec_s"]))
        out.print(tools)
    c = report.coverage
    ro, stall = c["safety_classes"]["read-only"], sum(r["critical_s"] for r in c["safety_classes"].values())
    out.print(f"speculable (read-only) calls hold {percent(ro['critical_s'] / stall if stall else None)} of this split's "
              f"tool stall; " + (", ".join(f"{r['tool']} {seconds(r['critical_s'])}" for r in c["unclassified_tools"][:3])
                                 + " are tools the safety table does not know (see `bpaste stats`, `--what-if`)"
                                 if c["unclassified_tools"] else "every tool is in the safety table"))
    print_what_if(report.what_if)
    skipped = {k: v for k, v in report.sessions_skipped.items() if v}
    human = next(iter(report.arms.values()))["human_wait_s"] if report.arms else 0.0
    skipped_text = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in skipped.items())
    out.print(f"{report.sessions_replayed} sessions replayed; human wait (kept, not on the agent's path): {seconds(human)}"
              + (f"; skipped: {skipped_text}" if skipped else ""))
    warn(report.warnings)
    if timeline:
        out.print(f"timeline written to {timeline} (open it in ui.perfetto.dev)")


def _has_workspace(workspace: Path | None) -> bool:
    """Whether a workspace can be found (or is named), to take what the user did not give from it."""
    from bpaste_cli.errors import BpasteError
    from bpaste_cli.workspace import locate

    try:
        locate(workspace)
    except BpasteError:
        return workspace is not None  # a named but broken workspace: let resolve say what is wrong with it
    return True


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the option `name` was given on the command line (not left at its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _replay_with_policy(dataset: Path, policy: Path, device: str | None, as_json: bool, allow_unsafe_classes: bool,
                        workers: int = 1) -> None:
    """`bpaste replay DATASET --policy policy.json`: the policy's validation figure (reproduced) and its test figure
    (on `device` instead of the policy's, when given)."""
    from bpaste_cli.policy import replay_policy

    result = replay_policy(dataset, policy, device=device, allow_unsafe_classes=allow_unsafe_classes, workers=workers)
    if as_json:
        print_json("replay-policy", result)
        return
    table = Table(title=f"replay of {dataset} under {policy} ({result['arm']}) on {result['device']}")
    for col in ("split", "sessions", "speedup", "95% CI", "hits", "in-flight", "amp.", "recorded"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split in ("validation", "test"):
        rep = result[split]
        a = rep["arms"][result["arm"]]
        lo, hi = a["speedup_ci95"]
        recorded = f"{result['recorded_validation_speedup']:.4f}x" if split == "validation" else ""
        table.add_row(split, str(rep["sessions_replayed"]), f"{a['speedup']:.4f}x", f"{lo:.3f}-{hi:.3f}", str(a["hits"]),
                      str(a["inflight_promotions"]), f"{a['amplification']:.2f}", recorded)
    out.print(table)
    out.print("validation figure reproduced exactly" if result["reproduced"] else
              "[yellow]the validation figure differs from the recorded one[/] (see the warnings)")
    warn(result["warnings"] + result["test"]["warnings"])
