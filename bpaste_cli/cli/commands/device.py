"""`bpaste device list|show|calibrate`: the device profiles replay and tune use, every number with its source,
and the measurement of this machine that writes one."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from bpaste_cli.cli.app import app, count_progress, err, out, print_json

device_app = typer.Typer(help="Device profiles: speculative slots, memory budget, interference coefficients.",
                         no_args_is_help=True)
app.add_typer(device_app, name="device")


@device_app.command("list", epilog="Example: bpaste device list --json")
def list_devices(as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table.")) -> None:
    """The built-in device profiles."""
    from bpaste_cli.device import device_names, load_device

    devices = [load_device(n) for n in device_names()]
    if as_json:
        print_json("device-list", {"devices": [
            {"name": d.name, "description": d.description, "slots": d.slots, "memory_budget_gb": d.memory_budget_gb}
            for d in devices]})
        return
    table = Table(title="device profiles")
    for col in ("name", "slots", "memory budget", "description"):
        table.add_column(col, justify="right" if col in ("slots", "memory budget") else "left")
    for d in devices:
        table.add_row(d.name, str(d.slots), f"{d.memory_budget_gb:g} GB", d.description)
    out.print(table)


@device_app.command("show", epilog="Example: bpaste device show thor   (or a path: bpaste device show my-box.toml)")
def show_device(
    name: str = typer.Argument(..., help="A built-in device name or the path of a TOML profile."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Every number of a profile with its source (datasheet, measurement or stated assumption)."""
    from bpaste_cli.device import load_device

    d = load_device(name)
    if as_json:
        print_json("device", {"name": d.name, "path": d.path, "profile": d.doc})
        return
    table = Table(title=f"{d.name}: {d.description}")
    for col in ("parameter", "value", "source"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for key, value, source in d.sources():
        table.add_row(key, f"{value:g}", source)
    out.print(table)


@device_app.command("calibrate", epilog="Example: bpaste device calibrate -o my-box.toml --quick   (then: bpaste replay DATASET --device my-box.toml ...)")
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
