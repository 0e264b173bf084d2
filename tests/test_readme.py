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
