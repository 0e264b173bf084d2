"""The README keeps its promises: two Quickstart commands, every schema column documented."""

from __future__ import annotations

import re
from pathlib import Path

from bpaste_cli.trace.schema import EVENT_COLUMNS, SESSION_COLUMNS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_quickstart_is_exactly_two_commands():
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "bpaste demo" in commands[0] and "pytest" in commands[1]  # the demo runs on sample_traces


def test_every_column_is_documented():
    for column in (*EVENT_COLUMNS, *SESSION_COLUMNS):
        assert f"`{column.name}`" in README, column.name


WORKSPACE = README.split("## The four commands: a workspace", 1)[1].split("\n## ", 1)[0]
SETUP = "mkdir try-bpaste && cp -r sample_traces try-bpaste/logs && cd try-bpaste"
TIMING = re.compile(r" in \d+(\.\d+)? s\b|\d{4}-\d\d-\d\dT|bytes \d+")  # wall-clock seconds, timestamps, file sizes


def test_the_workspace_example_prints_what_the_readme_shows(tmp_path):
    """Run the README's four commands exactly as written (after its setup line) and check every table row and
    summary line it shows, except wall-clock timings and timestamps, is in what they print now."""
    import shutil

    from cli_support import REPO, bpaste

    commands = [line for line in re.search(r"```sh\n(.*?)```", WORKSPACE, re.S).group(1).splitlines() if line.strip()]
    assert commands[0] == SETUP
    assert commands[1:] == ["bpaste ingest logs", "bpaste mine", "bpaste tune --device thor", "bpaste replay", "bpaste status"]
    shown = re.search(r"```text\n(.*?)```", WORKSPACE, re.S).group(1)
    expected: dict[str, list[str]] = {}
    for line in shown.splitlines():
        if line.startswith("$ bpaste "):
            current = expected.setdefault(line[2:], [])
        elif (line.startswith(("│", "bound with", "calibration:", "everything is")) or line[:1].isdigit()) and not TIMING.search(line):
            current.append(line.rstrip())
    assert list(expected) == commands[1:]

    folder = tmp_path / "try-bpaste"
    shutil.copytree(REPO / "sample_traces", folder / "logs")  # the setup line
    for command in commands[1:]:
        run = bpaste(command, folder)
        assert run.returncode == 0, f"{command}: {run.stderr}"
        printed = {line.rstrip() for line in (run.stdout + run.stderr).splitlines()}
        missing = [line for line in expected[command] if line not in printed]
        assert not missing, (command, missing)
    assert sum(len(v) for v in expected.values()) >= 23  # the check has teeth: the rows of every table shown
