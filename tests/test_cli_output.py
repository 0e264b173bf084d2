"""The CLI with no surprises: numbers are never cut when output is piped, `--help` reads at 80 columns,
`replay --policy` applies or refuses every option, invalid values are refused, `--safety` reaches fit and
report, and replay without patterns does not warn about them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import bpaste, project_with_logs

VERBS = ["ingest", "stats", "synth", "mine", "replay", "fit", "tune", "report", "status", "demo", "serve",
         "device list", "device show", "device calibrate", "policy validate"]
# every tool the sample traces' read-only calls use, made mutating: nothing left to speculate
NO_SPECULATION = "[tools]\n" + "".join(f'{t} = {{ safety = "mutating" }}\n' for t in (
    "visit", "search", "Read", "Grep", "Glob", "describe_table", "list_tables", "run_sql", "plot", "read_file"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample traces ingested and mined with explicit paths, and a small policy."""
    folder = project_with_logs(tmp_path_factory.mktemp("output"))
    for command in ("bpaste ingest logs -o ds", "bpaste mine ds -o pat",
                    "bpaste tune ds --patterns pat -o policy.json --trials 4"):
        run = bpaste(command, folder)
        assert run.returncode == 0, run.stderr
    (folder / "nospec.toml").write_text(NO_SPECULATION)
    return folder


def test_piped_tables_keep_every_number_whole(project: Path) -> None:
    """A narrow $COLUMNS and a pipe: rich would squeeze the table and cut "1.01…"; every figure stays whole."""
    shown = bpaste("bpaste replay ds --patterns pat", project, env={"COLUMNS": "40"})
    assert shown.returncode == 0, shown.stderr
    assert "…" not in shown.stdout
    doc = json.loads(bpaste("bpaste replay ds --patterns pat --json", project).stdout)
    for name, arm in doc["arms"].items():
        lo, hi = arm["speedup_ci95"]
        row = next(line for line in shown.stdout.splitlines() if line.startswith(f"│ {name} "))
        assert f"{arm['speedup']:.3f}x" in row and f"{lo:.2f}-{hi:.2f}" in row, row


@pytest.mark.parametrize("verb", VERBS)
def test_help_reads_at_80_columns(verb: str, tmp_path: Path) -> None:
    run = bpaste(f"bpaste {verb} --help", tmp_path, env={"COLUMNS": "80"})
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    options = [line.split()[0].rstrip(",") for line in lines if line.strip().startswith("--")]
    assert "--help" in options  # Click's plain layout: one option per line start, never broken
    assert not any(line.strip() in ("│", "╭", "╰") for line in lines)


def test_replay_refuses_what_a_policy_fixes_and_applies_the_device(project: Path) -> None:
    for extra, named in (("--arm serial", "--arm"), ("--split validation", "--split"), ("--ttl 5 --seed 3", "--seed, --ttl"),
                         ("--safety nospec.toml", "--safety")):
        run = bpaste(f"bpaste replay ds --policy policy.json {extra}", project)
        assert run.returncode == 2, (extra, run.stdout)
        assert f"so {named} would be ignored" in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    on_orin = json.loads(bpaste("bpaste replay ds --policy policy.json --device orin --json", project).stdout)
    on_thor = json.loads(bpaste("bpaste replay ds --policy policy.json --json", project).stdout)
    assert on_thor["device"] == "thor" and on_thor["reproduced"] is True
    assert on_orin["device"] == "orin" and any("replayed on orin" in w for w in on_orin["warnings"])
    assert on_orin["test"]["device"] == "orin"


@pytest.mark.parametrize("command, sentence", [
    ("bpaste replay ds --patterns pat --split bogus", "Unknown split 'bogus'; choose train, validation, test or all."),
    ("bpaste replay ds --policy policy.json --split bogus", "Unknown split 'bogus'"),
    ("bpaste replay ds --policy policy.json --arm serial,magic", "Unknown arm 'magic'; choose from serial, oracle, paste, bpaste"),
    ("bpaste report ds -o r.html --split bogus", "Unknown split 'bogus'"),
    ("bpaste replay ds --arm paste", "need --patterns: a pattern table (`bpaste mine ds -o patterns.bpaste` makes one)"),
])
def test_invalid_values_are_refused_in_one_sentence(project: Path, command: str, sentence: str) -> None:
    run = bpaste(command, project)
    assert run.returncode == 2 and sentence in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_replay_without_patterns_does_not_warn_about_them(project: Path) -> None:
    run = bpaste("bpaste replay ds --arm serial,oracle --split all", project)
    assert run.returncode == 0, run.stderr
    assert "patterns" not in run.stderr, run.stderr
    mined = bpaste("bpaste replay ds --patterns pat --arm serial,bpaste --split all", project)
    assert "includes the sessions patterns are mined from" in mined.stderr  # with patterns the warning stays


def test_safety_reaches_the_report_and_fit(project: Path) -> None:
    def hits(extra: str) -> int:
        run = bpaste(f"bpaste report ds --patterns pat --compare '' -o r.html --json {extra}", project)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)["data"]["replay"]["devices"]["thor"]["arms"]["bpaste"]["hits"]

    assert hits("") > 0 and hits("--safety nospec.toml") == 0
    def rows(extra: str) -> int:
        run = bpaste(f"bpaste fit ds --patterns pat -o model.json --json {extra}", project)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)["metrics"]["rows"]["train"]

    # fewer speculable calls, fewer branch prefixes to learn from
    assert rows("--safety nospec.toml") < rows("")
