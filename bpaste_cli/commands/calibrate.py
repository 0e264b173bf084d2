"""`bpaste device calibrate`: measure this machine's slots and interference and write a device profile.

The function is registered on the `device` group as `calibrate` (see `EPILOG` for its example).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from bpaste_cli.app import count_progress, err, out, print_json

EPILOG = "Example: bpaste device calibrate -o my-box.toml --quick   (then: bpaste replay DATASET --device my-box.toml ...)"


def calibrate(
    output: Path = typer.Option(..., "-o", "--output", help="The device profile (TOML) to write."),
    llm: str = typer.Option(None, "--llm", help="Where the agent's LLM runs: local (a CPU-bound stand-in step shares "
                            "this machine's cores) or remote (a sleep). Default: local, or where --llm-url's host is."),
    llm_url: str = typer.Option(None, "--llm-url", help="An OpenAI-compatible endpoint (llama.cpp, vLLM, Ollama): "
                                "time real chat requests instead of the stand-in."),
    llm_model: str = typer.Option(None, "--llm-model", help="The model to ask at --llm-url (default: the first it lists)."),
    quick: bool = typer.Option(False, "--quick", help="Fewer, shorter runs: well under a minute, wider spread."),
    tolerance: float = typer.Option(0.10, help="Slots: the largest k of concurrent jobs keeping the LLM step and a "
                                    "tool within this fractional slowdown."),
    seed: int = typer.Option(0, help="Seed of the stand-in's weights, the measurement order and the LLM requests."),
    scratch_dir: Path = typer.Option(None, help="Folder on the storage tools read, for the io jobs' files "
                                     "(default: the system's temporary folder)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Measure how many speculative jobs of each class (cpu, io, net) this machine runs beside the LLM and a tool,
    and by how much k = 1, 2, 4, 8 of them slow each; write the device profile replay, tune and live accept."""
    from bpaste_cli.lab import CalibrationConfig, calibrate as measure, check_output, write_profile

    check_output(output)

    base = CalibrationConfig.quick if quick else CalibrationConfig
    config = base(llm=llm, llm_url=llm_url, llm_model=llm_model, tolerance=tolerance, seed=seed, scratch_dir=scratch_dir)
    with count_progress(not as_json and err.is_terminal, "calibrating") as progress:
        cal = measure(config, progress)
    device = write_profile(cal, output)
    if as_json:
        print_json("device-calibration", {"profile": str(output), "name": device.name} | cal.to_json())
        return
    out.print(f"[bold]{cal.host}[/]: {cal.cpu_cores} cores, {cal.memory['total_gb']:.1f} GB; LLM {cal.llm}: {cal.llm_target}")
    out.print(f"authoritative tool: {cal.tool_target}; n={cal.repetitions} paired runs per point, seed {cal.seed}, "
              f"{cal.seconds:.0f} s")
    table = Table(title="slowdown beside k concurrent speculative jobs (median [interquartile range])")
    ks = cal.curves["llm"]["cpu"].ks
    for col in ("target", "jobs", *(f"k={k}" for k in ks), "per job (v1)"):
        table.add_column(col, justify="left" if col in ("target", "jobs") else "right")
    for target, by in cal.curves.items():
        for resource, cv in by.items():
            cells = [f"{s:.2f} [{lo:.2f}-{hi:.2f}]" for s, (lo, hi) in zip(cv.slowdown, cv.spread)]
            table.add_row(target, resource, *cells, f"{cv.slope:.3f}")
    out.print(table)
    per = ", ".join(f"{r} {s}" for r, s in cal.slots_by_class.items())
    out.print(f"slots: {cal.slots} (within {cal.tolerance:.0%}; per class {per}); memory budget "
              f"{cal.memory_budget_gb:g} GB ({cal.memory_fraction:.0%} of {cal.memory['available_gb']:.1f} GB available, "
              f"{cal.memory['source']})")
    out.print(f"wrote {output} (device profile {device.name!r}): bpaste replay DATASET --device {output} ...")
