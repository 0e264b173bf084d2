"""Acceptance: the commands exactly as the users wrote them, in a folder holding the sample traces as `logs/`,
each checked by what it wrote to the workspace and what it printed; then a log changes and `status` says what is
stale and which command fixes it, the verb that would be wrong refuses, and the command it names fixes it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from cli_support import REPO, bpaste, project_with_logs

SCHEMA = json.loads((REPO / "schemas" / "cli-output.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_with_logs(tmp_path_factory.mktemp("acceptance"))


def _ok(command: str, cwd: Path):
    run = bpaste(command, cwd)
    assert run.returncode == 0, f"{command}: {run.stderr}"
    assert "Traceback" not in run.stderr
    return run


def _status(cwd: Path) -> dict:
    doc = json.loads(_ok("bpaste status --json", cwd).stdout)
    VALIDATOR.validate(doc)
    return doc


def test_the_users_commands_run_as_written(project: Path) -> None:
    ws = project / ".bpaste"
    run = _ok("bpaste ingest logs", project)
    manifest = json.loads((ws / "workspace.json").read_text())
    assert manifest["ingest"]["paths"] == [str((project / "logs").resolve())]
    dataset = json.loads((ws / "dataset" / "manifest.json").read_text())
    assert dataset["counts"]["sessions"] == 142  # sample_traces/README.md: 142 sessions
    assert f"dataset hash {dataset['dataset_hash']}" in run.stdout

    run = _ok("bpaste mine", project)
    patterns = json.loads((ws / "patterns" / "manifest.json").read_text())
    assert patterns["dataset_hash"] == dataset["dataset_hash"] and patterns["seed"] == 0
    assert "held-out test split" in run.stdout

    run = _ok("bpaste fit", project)
    model = json.loads((ws / "models" / "thor.json").read_text())
    assert model["provenance"]["dataset_hash"] == dataset["dataset_hash"] and model["provenance"]["device"] == "thor"
    assert "chosen:" in run.stdout

    run = _ok("bpaste tune --device thor --trials 10", project)
    policy = json.loads((ws / "policies" / "thor.json").read_text())
    assert policy["device"]["name"] == "thor" and policy["provenance"]["dataset_hash"] == dataset["dataset_hash"]
    assert (ws / "studies" / "thor.optuna.db").is_file()
    assert "10 complete trials (10 run now)" in run.stdout
    assert policy["value_model"] is not None  # tune took the workspace's model

    run = _ok("bpaste replay", project)
    rows = {line.split("│")[1].strip() for line in run.stdout.splitlines() if line.startswith("│")}
    assert {"serial", "oracle", "paste", "bpaste", "policy (bpaste)"} <= rows, rows
    assert "warning" not in run.stderr, run.stderr  # a current workspace: nothing to warn about

    run = _ok("bpaste report", project)
    html = (ws / "report.html").read_text()
    assert "<svg" in html and "Not shown" not in html  # every section has its data: patterns, replay and policy
    assert "report.html" in run.stdout

    run = _ok("bpaste status", project)
    assert "everything is current" in run.stdout and "stale" not in run.stdout
    doc = _status(project)
    assert [a["name"] for a in doc["artifacts"]] == ["dataset", "patterns", "model:thor", "policy:thor", "study:thor", "report"]
    assert doc["stale"] == [] and doc["fixes"] == [] and doc["next"] == []


def test_replay_json_in_the_workspace_shows_the_policy_beside_the_arms(project: Path) -> None:
    doc = json.loads(_ok("bpaste replay --json", project).stdout)
    VALIDATOR.validate(doc)
    policy = json.loads((project / ".bpaste" / "policies" / "thor.json").read_text())
    assert doc["policy"]["arm"] == policy["parameters"]["arm"] and doc["policy"]["parameters"] == policy["parameters"]
    # the same figure as replaying the policy file itself on test
    alone = json.loads(_ok("bpaste replay --policy .bpaste/policies/thor.json --json", project).stdout)
    assert doc["policy"]["speedup"] == alone["test_speedup"]


def test_a_changed_log_is_reported_and_the_named_commands_fix_it(project: Path) -> None:
    """Runs after the pipeline above (same module, in order)."""
    victim = sorted((project / "logs" / "codex").rglob("*.jsonl"))[0]
    victim.unlink()
    doc = _status(project)
    assert doc["stale"] == [{"artifact": "dataset", "reason": "the logs changed after they were ingested (1 log file gone)",
                             "fix": "bpaste ingest logs"}]
    assert "bpaste ingest logs" in _ok("bpaste status", project).stdout

    _ok("bpaste ingest logs", project)
    doc = _status(project)
    reasons = {s["artifact"]: s["reason"] for s in doc["stale"]}
    assert reasons["patterns"] == "the dataset changed after the patterns were mined"
    assert doc["fixes"][0] == "bpaste mine"
    refused = bpaste("bpaste replay", project)  # stale patterns could have mined the replayed sessions: refused
    assert refused.returncode == 2 and "run `bpaste mine` first" in refused.stderr and "Traceback" not in refused.stderr

    _ok("bpaste mine", project)
    doc = _status(project)
    stale = {s["artifact"] for s in doc["stale"]}
    assert "patterns" not in stale and "dataset" not in stale
    assert {"model:thor", "policy:thor", "report"} <= stale  # downstream of the new dataset
    assert doc["fixes"] == ["bpaste fit --device thor", "bpaste tune --device thor", "bpaste report"]
