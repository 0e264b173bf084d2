"""Safety and resource classes: the default table, shell commands by program, user overrides."""

from __future__ import annotations

import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpaste_cli.errors import BpasteError
from bpaste_cli.safety import load_safety

T = load_safety()


def cls(tool, args):
    c = T.classify(tool, orjson.dumps(args).decode())
    return c.safety, c.resource


def test_default_tools():
    assert cls("Read", {"file_path": "a"}) == ("read-only", "io")
    assert cls("grep", {}) == ("read-only", "io")  # names are case-insensitive
    assert cls("WebFetch", {"url": "u"}) == ("read-only", "net")
    assert cls("search", {"query": "q"}) == ("read-only", "net")
    assert cls("visit", {"url": "u"}) == ("read-only", "net")
    assert cls("Edit", {})[0] == cls("Write", {})[0] == cls("apply_patch", {})[0] == "mutating"
    assert cls("mcp__github__get_issue", {}) == ("read-only", "net")
    assert cls("Task", {}) == ("unknown", "cpu")


@pytest.mark.parametrize(
    "command, expected",
    [
        ("ls -la src", "read-only"),
        ("cat a.py | head -20", "read-only"),
        ("rg -n foo src && git diff HEAD", "read-only"),
        ("sed -n '1,40p' a.py", "read-only"),
        ("find . -name '*.py'", "read-only"),
        ("cd src; ls 2>&1", "read-only"),
        ("rm -rf build", "mutating"),
        ("ls && rm x", "mutating"),
        ("echo hi > out.txt", "mutating"),
        ("sed -i 's/a/b/' a.py", "mutating"),
        ("find . -delete", "mutating"),  # deletes files
        ("git commit -m x", "unknown"),
        ("python -m pytest", "unknown"),
        ("ls $(cat list)", "read-only"),  # both programs read; no value of the list makes ls write
        ("ls $(rm list)", "mutating"),
        ("ls `cat list`", "unknown"),
        ("sed 'w out' a", "unknown"),
        ("env FOO=1 make", "mutating"),  # make is a known mutator
        ("env FOO=1 ls", "unknown"),  # FOO may change what ls runs or reads
        ("cat 'unterminated", "unknown"),
        ("[REDACTED_CMD len=12 sha=abcd1234]", "unknown"),
    ],
)
def test_shell_by_program(command, expected):
    assert cls("Bash", {"command": command})[0] == expected


def test_codex_argv_is_unwrapped():
    assert cls("shell", {"command": ["bash", "-lc", "rg foo"]})[0] == "read-only"
    assert cls("shell", {"command": ["bash", "-lc", "rm foo"]})[0] == "mutating"
    assert cls("exec_command", {"cmd": "ls"})[0] == "read-only"
    assert cls("shell", {"command": ["ls", "-la"]})[0] == "read-only"


def test_user_overrides(tmp_path):
    f = tmp_path / "safety.toml"
    f.write_text(
        '[tools]\nTask = { safety = "read-only", resource = "net" }\n"my_*" = { safety = "idempotent", resource = "gpu" }\n'
        '[shell]\nread_only = ["ls", "pytest"]\n'
    )
    t = load_safety(f)
    assert t.classify("Task", "{}").safety == "read-only"
    assert (t.classify("my_tool", "{}").safety, t.classify("my_tool", "{}").resource) == ("idempotent", "gpu")
    assert t.shell_safety("pytest -q") == "read-only" and t.shell_safety("cat a") == "unknown"  # list replaced
    assert t.classify("Read", "{}").safety == "read-only"  # untouched entries stay


def test_bad_override(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('[tools]\nRead = { safety = "harmless" }\n')
    with pytest.raises(BpasteError, match="safety 'harmless'"):
        load_safety(f)
    f.write_text("[tools\n")
    with pytest.raises(BpasteError, match="not valid TOML"):
        load_safety(f)
    with pytest.raises(BpasteError, match="does not exist"):
        load_safety(tmp_path / "missing.toml")


words = st.sampled_from(["ls", "cat", "rm", "git", "status", "-i", "sed", "x.py", ">", "|", "&&", ";", "'", "$(", "mv", "find", "-delete"])


@settings(max_examples=300)
@given(st.lists(words, max_size=8), st.text(max_size=30))
def test_never_read_only_with_a_mutator(parts, noise):
    command = " ".join(parts) + " " + noise
    verdict = T.shell_safety(command)  # never raises
    assert verdict in ("read-only", "mutating", "unknown")
    if verdict == "read-only" and not any(q in command for q in "'\"\\"):  # quoted text is not syntax
        segments = command.replace("&&", ";").replace("|", ";").split(";")
        firsts = [s.split()[0] for s in segments if s.split()]
        assert not {"rm", "mv"} & set(firsts)
        assert ">" not in re.sub(r">&\d", "", command).replace(">/dev/null", "").replace("> /dev/null", "")
