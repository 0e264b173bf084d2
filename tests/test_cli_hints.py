"""Every hint bpaste prints is a command that works as printed: the common failure paths (no workspace, no
dataset, no patterns, no value model, no policy in the report, stale artifacts) are provoked, the commands their
sentences quote are collected and run exactly as printed, in the same folder, and each must succeed."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from cli_support import bpaste, hints, project_with_logs

CODE = re.compile(r"Make it with <code>(bpaste [^<]+)</code>")


def _fails_with_hints(command: str, cwd: Path) -> list[str]:
    run = bpaste(command, cwd)
    assert run.returncode == 2 and "Traceback" not in run.stderr, (command, run.stderr)
    found = hints(run.stderr)
    assert found, (command, run.stderr)
    return found


def _warns_with_hints(command: str, cwd: Path) -> list[str]:
    run = bpaste(command, cwd)
    assert run.returncode == 0, (command, run.stderr)
    return hints(run.stderr)


def _run_all(commands: list[str], cwd: Path) -> None:
    for command in commands:
        run = bpaste(command, cwd)
        assert run.returncode == 0, f"the hint `{command}` failed as printed: {run.stderr}"


def test_the_workspace_hints_work_as_printed(tmp_path: Path) -> None:
    project = project_with_logs(tmp_path / "project")
    ran: list[str] = []

    def follow(found: list[str]) -> None:
        _run_all(found, project)
        ran.extend(found)

    follow(_fails_with_hints("bpaste stats", project))  # no workspace yet
    assert ran == ["bpaste ingest logs"]
    follow(_fails_with_hints("bpaste replay", project))  # no patterns
    follow(_fails_with_hints("bpaste replay --rank model", project))  # no value model
    assert ran[1:] == ["bpaste mine", "bpaste fit --device thor"]

    report = bpaste("bpaste report", project)  # no policy yet: the page says how to make one
    assert report.returncode == 0, report.stderr
    page = html.unescape((project / ".bpaste" / "report.html").read_text())
    follow(CODE.findall(page))
    assert ran[-1] == "bpaste tune --device thor"

    # stale artifacts: a log changes; the warning, the refusal and status each name what to run
    sorted((project / "logs" / "codex").rglob("*.jsonl"))[0].unlink()
    found = _warns_with_hints("bpaste stats", project)
    assert found == ["bpaste ingest logs"]
    follow(found)
    follow(_fails_with_hints("bpaste replay", project))  # patterns of another dataset: refused
    assert ran[-1] == "bpaste mine"
    follow(_warns_with_hints("bpaste replay", project))  # the policy is stale: a warning that names tune
    assert ran[-1] == "bpaste tune --device thor"
    assert _warns_with_hints("bpaste replay", project) == []  # the hints followed, nothing left to warn about


def test_hints_with_explicit_paths_and_a_named_workspace_work_as_printed(tmp_path: Path) -> None:
    project = project_with_logs(tmp_path / "project")
    assert bpaste("bpaste ingest logs -o ds", project).returncode == 0
    assert not (project / ".bpaste").exists()  # every path given: no workspace made
    assert bpaste("bpaste report ds -o r.html", project).returncode == 0
    found = CODE.findall(html.unescape((project / "r.html").read_text()))
    assert found and found[0] == "bpaste mine ds -o patterns.bpaste"
    _run_all(found[:1], project)
    assert bpaste("bpaste report ds --patterns patterns.bpaste -o r.html", project).returncode == 0
    found = CODE.findall(html.unescape((project / "r.html").read_text()))
    assert found == ["bpaste tune ds --patterns patterns.bpaste --device thor -o policy.json"]
    _run_all(found, project)

    # a workspace named by --workspace: the hints carry the option, so they work from here too
    assert bpaste("bpaste ingest logs --workspace elsewhere", project).returncode == 0
    found = _fails_with_hints("bpaste replay --workspace elsewhere", project)
    assert found == ["bpaste mine --workspace elsewhere"]
    _run_all(found, project)


@pytest.mark.parametrize("command", ["bpaste mine", "bpaste status", "bpaste ingest", "bpaste stats --workspace nowhere"])
def test_with_no_logs_known_the_advice_is_words_not_a_broken_command(tmp_path: Path, command: str) -> None:
    """In a folder without logs/ no command would work as printed, so the sentence says what to pass instead."""
    run = bpaste(command, tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert hints(run.stderr) == [] and "pass your agent logs' files, folders or globs to bpaste ingest" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1  # one sentence
