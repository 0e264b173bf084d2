"""Event keys: payload-free abstractions of tool events that form control-flow contexts.

A key function maps (tool, parsed args, status) to a short string. Pluggable through `KEYS`; the
default (`DEFAULT_KEY`) was chosen by held-out call top-1 on the real corpora (see the mine report).
Human turns are the key `USER_KEY` whatever the key function.
"""

from __future__ import annotations

import posixpath
from typing import Any, Callable
from urllib.parse import urlsplit

KeyFn = Callable[[str, Any, "str | None"], str]
USER_KEY = "<user>"
_SHELL_FIELDS = ("command", "cmd", "script")
_PATH_FIELDS = ("file_path", "path", "filename", "notebook_path", "file")
_WRAPPERS = {"sudo", "env", "time", "nohup", "bash", "sh", "zsh", "-lc", "-c", "timeout", "exec"}


def tool_key(tool: str, args: Any, status: str | None) -> str:
    """The tool name alone."""
    return tool


def status_key(tool: str, args: Any, status: str | None) -> str:
    """The tool name, with `!` appended when the call failed."""
    return tool + "!" if status == "error" else tool


def program(command: Any) -> str | None:
    """The program a shell command runs: first word after wrappers, `cd x &&` and env assignments."""
    if isinstance(command, list):
        command = " ".join(str(c) for c in command)
    if not isinstance(command, str):
        return None
    for part in command.replace("&&", ";").replace("||", ";").replace("|", ";").split(";"):
        words = [w for w in part.strip().split() if "=" not in w or w.startswith("-")]
        words = [w for w in words if w not in _WRAPPERS and not w.startswith("-")]
        if words and words[0] != "cd":
            return posixpath.basename(words[0].strip("\"'"))[:24] or None
    return None


def refine(tool: str, args: Any) -> str | None:
    """The refinement of a call: shell program, file extension or URL host; None if none applies."""
    if not isinstance(args, dict):
        return None
    for f in _SHELL_FIELDS:
        if f in args:
            return program(args[f])
    for f in _PATH_FIELDS:
        v = args.get(f)
        if isinstance(v, str):
            ext = posixpath.splitext(v)[1]
            return ext[:12] or "noext"
    v = args.get("url")
    if isinstance(v, str):
        return urlsplit(v).hostname or None
    return None


def refined_key(tool: str, args: Any, status: str | None) -> str:
    """The tool name refined by program / extension / host, and `!` for a failed call."""
    r = refine(tool, args)
    key = f"{tool}:{r}" if r else tool
    return key + "!" if status == "error" else key


KEYS: dict[str, KeyFn] = {"tool": tool_key, "status": status_key, "refined": refined_key}
DEFAULT_KEY = "tool"
NEEDS_ARGS = {"refined"}
