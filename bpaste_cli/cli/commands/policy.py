"""`bpaste policy validate`: check a policy.json (schema version, JSON Schema, tables, value model)."""

from __future__ import annotations

from pathlib import Path

import typer

from bpaste_cli.cli.app import app, err, out, print_json

policy_app = typer.Typer(help="Policy files written by `bpaste tune`.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("validate", epilog="Example: bpaste policy validate policy.json")
def validate(
    path: Path = typer.Argument(..., help="A policy.json written by `bpaste tune`."),
    allow_unsafe_classes: bool = typer.Option(False, "--allow-unsafe-classes", help="Accept a policy that speculates mutating "
                                              "or unknown tool calls (refused otherwise)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Check a policy: schema version, JSON Schema, predictor tables, device profile, safety table, value model."""
    from bpaste_cli.policy import load_policy, unsafe_warning

    pol = load_policy(path, allow_unsafe_classes=allow_unsafe_classes)
    warnings = unsafe_warning(pol)
    doc, prov, val = pol.doc, pol.doc["provenance"], pol.doc["validation"]["policy"]
    summary = {
        "path": str(path), "valid": True, "schema_version": doc["schema_version"], "bpaste_version": doc["bpaste_version"],
        "device": pol.device.name, "parameters": pol.parameters, "value_model": "none" if doc["value_model"] is None else
        ("embedded" if "embedded" in doc["value_model"] else doc["value_model"]["path"]),
        "provenance": prov, "validation_speedup": val["speedup"], "validation_speedup_ci95": val["speedup_ci95"],
        "warnings": warnings,
    }
    if as_json:
        print_json("policy-validate", summary)
        return
    lo, hi = val["speedup_ci95"]
    out.print(f"[green]valid[/] policy (schema {doc['schema_version']}, bpaste {doc['bpaste_version']}) for {pol.device.name}: "
              f"{pol.parameters['arm']} with " + ", ".join(f"{k}={v}" for k, v in pol.parameters.items() if k != "arm"), highlight=False)
    out.print(f"validation speedup {val['speedup']:.4f}x (95% CI {lo:.3f}-{hi:.3f}); study {prov['study']!r} trial {prov['trial']}, "
              f"dataset {prov['dataset_hash']}, patterns {prov['pattern_hash']}, seed {prov['seed']}", highlight=False)
    for w in warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
