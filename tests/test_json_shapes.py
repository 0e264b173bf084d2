"""Every verb's --json output validates against schemas/cli-output.schema.json (the documented,
versioned shape scripts and CI gates rely on). A new verb adds one row to VERB_RUNS."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest

from bpaste_cli import __version__

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "schemas" / "cli-output.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

# kind -> argv (run in order: later rows use what earlier rows wrote, in the working directory)
VERB_RUNS: dict[str, list[str]] = {
    "synth": ["synth", "-o", "corpus", "--sessions", "24", "--seed", "3", "--format", "native,codex"],
    "ingest": ["ingest", "corpus", "-o", "ds"],
    "stats": ["stats", "ds"],
    "mine": ["mine", "ds", "-o", "pat"],
    "mine --show": ["mine", "pat", "--show"],
    "replay": ["replay", "ds", "--patterns", "pat", "--split", "all"],
    "device-list": ["device", "list"],
    "device": ["device", "show", "orin"],
    "device-calibration": ["device", "calibrate", "-o", "this-box.toml", "--quick"],
    "tune": ["tune", "ds", "--patterns", "pat", "-o", "policy.json", "--trials", "4"],
    "policy-validate": ["policy", "validate", "policy.json"],
    "replay-policy": ["replay", "ds", "--policy", "policy.json"],
    "report": ["report", "ds", "--patterns", "pat", "--policy", "policy.json", "--compare", "", "-o", "report.html"],
    "fit": ["fit", "ds", "--patterns", "pat", "-o", "model.json"],
    "demo": ["demo", "--out", "demo", "--samples", "corpus", "--trials", "3"],
    "live": ["live", "ds", "--policy", "policy.json", "--sessions", "2", "--time-scale", "0.01", "--split", "all"],
    "status": ["status", "--workspace", "demo/.bpaste"],
}
# the verb (first word of argv) each kind comes from, where the two differ
KIND_VERB = {"device-list": "device", "device-calibration": "device", "policy-validate": "policy", "replay-policy": "replay"}


def _cli(argv: list[str], cwd: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bpaste_cli", *argv, "--json"], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, dict]:
    cwd = tmp_path_factory.mktemp("json_shapes")
    done = {}
    serial = ["synth", "ingest", "stats", "mine", "mine --show", "tune", "policy-validate"]  # each needs the one before
    for name in serial:
        done[name] = _cli(VERB_RUNS[name], cwd)
    after = ["status"]  # reads the workspace the demo writes
    rest = [n for n in VERB_RUNS if n not in serial + after]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        done.update(zip(rest, pool.map(lambda n: _cli(VERB_RUNS[n], cwd), rest)))
    for name in after:
        done[name] = _cli(VERB_RUNS[name], cwd)
    return done


def test_the_schema_is_valid_and_versioned():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["x-output-version"] == 1
    assert SCHEMA["required"] == ["bpaste", "kind"]


@pytest.mark.parametrize("name", list(VERB_RUNS))
def test_json_output_validates(outputs, name):
    doc = outputs[name]
    assert doc["bpaste"] == __version__
    assert doc["kind"] == name.split()[0]
    assert VERB_RUNS[name][0] == KIND_VERB.get(doc["kind"], doc["kind"])
    VALIDATOR.validate(doc)


def test_every_kind_has_a_definition_and_a_run():
    kinds = set(SCHEMA["properties"]["kind"]["enum"])
    assert kinds == set(SCHEMA["$defs"]) - {"count", "seconds", "share"}
    assert kinds == {n.split()[0] for n in VERB_RUNS}


def test_every_verb_has_a_json_run():
    """A verb registered on the CLI without a row in VERB_RUNS fails here: add its kind to the schema."""
    from bpaste_cli.cli import app

    verbs = {c.name or c.callback.__name__ for c in app.registered_commands} | {g.name for g in app.registered_groups}
    verbs.discard("serve")  # its stdout is the MCP channel: no --json; `--summary` is its machine-readable output
    assert verbs <= {argv[0] for argv in VERB_RUNS.values()}


@pytest.mark.parametrize("name, damage", [
    ("stats", lambda d: d.pop("tools")),
    ("ingest", lambda d: d["files"][0].update(status="half-done")),
    ("replay", lambda d: d["arms"].update(magic=d["arms"]["serial"])),
    ("replay", lambda d: d["arms"]["serial"].pop("speedup")),
    ("mine", lambda d: d.update(eval="good")),
    ("synth", lambda d: d.update(kind="synthesis")),
    ("device", lambda d: d.pop("bpaste")),
    ("status", lambda d: d["fixes"].append("mine again")),
    ("status", lambda d: d["artifacts"][0].pop("stale")),
])
def test_the_schema_rejects_a_damaged_shape(outputs, name, damage):
    """The schema is not vacuous: the real output with one required piece broken fails validation."""
    doc = copy.deepcopy(outputs[name])
    damage(doc)
    assert not VALIDATOR.is_valid(doc)


def test_the_status_schema_is_the_workspace_one():
    """The schema file's `status` shape is the one `bpaste status` is built against (defined once, in workspace.py)."""
    from bpaste_cli.workspace import STATUS_JSON_SCHEMA

    assert SCHEMA["$defs"]["status"] == json.loads(json.dumps(STATUS_JSON_SCHEMA))


def test_the_status_of_the_demo_workspace_is_current(outputs):
    doc = outputs["status"]
    names = {a["name"] for a in doc["artifacts"]}
    assert {"dataset", "patterns", "policy:thor", "report"} <= names
    assert doc["stale"] == [] and doc["fixes"] == [] and doc["next"] == []
