"""`bpaste device list|show`: the device profiles replay and tune use, every number with its source."""

from __future__ import annotations

import typer
from rich.table import Table

from bpaste_cli.cli.app import app, out, print_json

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
