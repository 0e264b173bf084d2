"""`bpaste policy validate`: check a policy.json (schema version, JSON Schema, tables, value model)."""

from __future__ import annotations

from pathlib import Path

import typer

from bpaste_cli.app import app, out, print_json

policy_app = typer.Typer(help="Policy files written by `bpaste tune`.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("validate", epilog="Example: bpaste policy validate policy.json")
def validate(
    path: Path = typer.Argument(..., help="A policy.json written by `bpaste tune`."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Check a policy: schema version, JSON Schema, predictor tables, device profile, safety table, value model."""
    from bpaste_cli.policy import load_policy

    pol = load_policy(path)
    doc, prov, val = pol.doc, pol.doc["provenance"], pol.doc["validation"]["policy"]
    summary = {
        "path": str(path), "valid": True, "schema_version": doc["schema_version"], "bpaste_version": doc["bpaste_version"],
        "device": pol.device.name, "parameters": pol.parameters, "value_model": "none" if doc["value_model"] is None else
        ("embedded" if "embedded" in doc["value_model"] else doc["value_model"]["path"]),
        "provenance": prov, "validation_speedup": val["speedup"], "validation_speedup_ci95": val["speedup_ci95"],
    }
    if as_json:
        print_json("policy-validate", summary)
        return
    lo, hi = val["speedup_ci95"]
    out.print(f"[green]valid[/] policy (schema {doc['schema_version']}, bpaste {doc['bpaste_version']}) for {pol.device.name}: "
              f"{pol.parameters['arm']} with " + ", ".join(f"{k}={v}" for k, v in pol.parameters.items() if k != "arm"), highlight=False)
    out.print(f"validation speedup {val['speedup']:.4f}x (95% CI {lo:.3f}-{hi:.3f}); study {prov['study']!r} trial {prov['trial']}, "
              f"dataset {prov['dataset_hash']}, patterns {prov['pattern_hash']}, seed {prov['seed']}", highlight=False)


def replay_with_policy(dataset: Path, policy: Path, patterns: str | None, as_json: bool) -> None:
    """`bpaste replay DATASET --policy policy.json`: the policy's validation figure (reproduced) and its test figure."""
    from rich.table import Table

    from bpaste_cli.app import err
    from bpaste_cli.errors import BpasteError
    from bpaste_cli.policy import replay_policy

    if patterns:
        raise BpasteError("--policy carries its own predictor tables; drop --patterns.")
    result = replay_policy(dataset, policy)
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
    for w in result["warnings"] + result["test"]["warnings"]:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
