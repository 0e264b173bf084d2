"""The JSON Schema files in `schemas/` that are generated from code: `python -m bpaste_cli.schemas DIR`.

A test checks that the committed files equal what the code generates, so the two never drift.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import orjson

from bpaste_cli.device import DEVICE_JSON_SCHEMA
from bpaste_cli.fit import VALUE_MODEL_JSON_SCHEMA
from bpaste_cli.fsutil import atomic_write_bytes
from bpaste_cli.policy import POLICY_JSON_SCHEMA
from bpaste_cli.trace import events_json_schema, sessions_json_schema
from bpaste_cli.workspace import WORKSPACE_JSON_SCHEMA

GENERATED: dict[str, Callable[[], dict[str, Any]]] = {
    "trace-events.schema.json": events_json_schema,
    "trace-sessions.schema.json": sessions_json_schema,
    "device.schema.json": lambda: DEVICE_JSON_SCHEMA,
    "value-model.schema.json": lambda: VALUE_MODEL_JSON_SCHEMA,
    "policy.schema.json": lambda: POLICY_JSON_SCHEMA,
    "workspace.schema.json": lambda: WORKSPACE_JSON_SCHEMA,
}


def render(name: str) -> bytes:
    return orjson.dumps(GENERATED[name](), option=orjson.OPT_INDENT_2) + b"\n"


def write_all(directory: Path) -> list[Path]:
    written = []
    for name in GENERATED:
        atomic_write_bytes(directory / name, render(name))
        written.append(directory / name)
    return written


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(p)
