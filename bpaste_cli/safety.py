"""Safety class and resource class of a tool call: what may be speculated, and what it competes for.

Safety classes: `read-only` (no side effects), `idempotent` (changes only the agent's own bookkeeping,
e.g. a todo list), `mutating` (changes files or the world), `unknown`. Only `read-only` is speculated by
default; `mutating` and `unknown` calls invalidate every pending speculative result of their session.
Resource classes (cpu, io, net, gpu) select the device's interference coefficients.

Shell tools are classified by `shell_safety.classify_command`: a command is read-only only when every
program in it is enabled in `[shell] read_only` and uses only the flags and operand shapes its grammar knows
to be read-only (no write redirection either); one known mutator or writing flag makes it mutating; anything
else (including redacted commands) is unknown. The default table below is TOML; a user file in the same
format overrides or extends it (`load_safety(path)`). A tool entry may carry `ttl_s`, how long (seconds)
a result of that tool stays valid once it has finished: a speculative or cached result older than that
is not served (replay falls back to its global `ttl_s` for tools without one), e.g.

    [tools]
    visit = { safety = "read-only", resource = "net", ttl_s = 300 }
"""

from __future__ import annotations

import fnmatch
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bpaste_cli.errors import BpasteError
from bpaste_cli.shell_safety import ShellRules, classify_command, unknown_reason

SAFETY_CLASSES = ("read-only", "idempotent", "mutating", "unknown")
RESOURCE_CLASSES = ("cpu", "io", "net", "gpu")
INVALIDATING = frozenset({"mutating", "unknown"})
CACHE_ENTRIES = 200_000  # classes a table keeps per tool, and per shell command

DEFAULT_TABLE = """
# tool name (exact, case-insensitive) or glob -> safety and resource class, optionally ttl_s (seconds a
# finished result stays valid; default: replay's --ttl)
[tools]
Read = { safety = "read-only", resource = "io" }
read_file = { safety = "read-only", resource = "io" }
view = { safety = "read-only", resource = "io" }
read = { safety = "read-only", resource = "io" }
Grep = { safety = "read-only", resource = "io" }
grep_search = { safety = "read-only", resource = "io" }
Glob = { safety = "read-only", resource = "io" }
LS = { safety = "read-only", resource = "io" }
list_dir = { safety = "read-only", resource = "io" }
find_file = { safety = "read-only", resource = "io" }
search_file = { safety = "read-only", resource = "io" }
search_dir = { safety = "read-only", resource = "io" }
WebFetch = { safety = "read-only", resource = "net" }
WebSearch = { safety = "read-only", resource = "net" }
search = { safety = "read-only", resource = "net" }
visit = { safety = "read-only", resource = "net" }
web_search = { safety = "read-only", resource = "net" }
browse = { safety = "read-only", resource = "net" }
Edit = { safety = "mutating", resource = "io" }
MultiEdit = { safety = "mutating", resource = "io" }
Write = { safety = "mutating", resource = "io" }
NotebookEdit = { safety = "mutating", resource = "io" }
apply_patch = { safety = "mutating", resource = "io" }
edit = { safety = "mutating", resource = "io" }
write = { safety = "mutating", resource = "io" }
str_replace_editor = { safety = "mutating", resource = "io" }
edit_file = { safety = "mutating", resource = "io" }
create_file = { safety = "mutating", resource = "io" }
TodoWrite = { safety = "idempotent", resource = "cpu" }
TodoRead = { safety = "read-only", resource = "cpu" }
update_plan = { safety = "idempotent", resource = "cpu" }
think = { safety = "idempotent", resource = "cpu" }
finish = { safety = "idempotent", resource = "cpu" }
Bash = { shell = true, resource = "cpu" }
BashOutput = { safety = "read-only", resource = "cpu" }
shell = { shell = true, resource = "cpu" }
exec_command = { shell = true, resource = "cpu" }
local_shell = { shell = true, resource = "cpu" }
run = { shell = true, resource = "cpu" }
execute_bash = { shell = true, resource = "cpu" }
bash = { shell = true, resource = "cpu" }
"mcp__*__get_*" = { safety = "read-only", resource = "net" }
"mcp__*__list_*" = { safety = "read-only", resource = "net" }
"mcp__*__search*" = { safety = "read-only", resource = "net" }

[shell]
# the keys of the arguments object that hold the command
command_keys = ["command", "cmd"]
# programs that may be read-only: each is checked against its flag and operand grammar in shell_safety.py;
# a program added here that has no grammar there is trusted with any arguments
read_only = ["ls", "cat", "head", "tail", "grep", "egrep", "fgrep", "rg", "find", "wc", "pwd", "echo", "printf",
  "which", "file", "stat", "tree", "du", "df", "sort", "uniq", "cut", "diff", "nl", "less", "more",
  "basename", "dirname", "realpath", "readlink", "date", "whoami", "uname", "env", "printenv", "true", "false",
  "test", "[", "cd", "git", "sed", "awk", "gawk", "mawk", "nawk", "jq", "ps", "id", "hostname", "type", "tee",
  "command", "nice", "timeout", "xargs"]
mutating = ["rm", "rmdir", "mv", "cp", "mkdir", "touch", "chmod", "chown", "ln", "dd", "truncate", "shred",
  "pip", "pip3", "npm", "yarn", "pnpm", "cargo", "make", "apt", "apt-get", "brew", "curl", "wget", "kill",
  "pkill", "patch", "install", "docker", "kubectl", "rsync", "scp", "ssh", "sudo"]
# subcommands of git that may be read-only (each checked against its grammar; branch and tag: listing only)
git_read_only = ["status", "log", "diff", "show", "rev-parse", "ls-files", "blame", "grep", "describe",
  "shortlog", "cat-file", "ls-tree", "whatchanged", "branch", "tag"]

[shell.forbidden_flags]
# extra flags to refuse per program (the result is unknown); "*" refuses any argument, e.g. ps = ["*"]

[default]
safety = "unknown"
resource = "cpu"
"""


@dataclass(frozen=True)
class CallClass:
    safety: str
    resource: str


@dataclass
class SafetyTable:
    """Classifies calls: exact tool names first (case-insensitive), then globs, then the default."""

    tools: dict[str, dict[str, Any]]
    globs: list[tuple[str, dict[str, Any]]]
    shell: dict[str, Any]
    default: CallClass
    _cache: dict[tuple[str, str], CallClass] = field(default_factory=dict, repr=False)  # a shell tool's calls
    # per tool: its class when every call of it has the one (not a shell tool; else None) and its resource class
    _by_tool: dict[str, tuple[CallClass | None, str]] = field(default_factory=dict, repr=False)
    _classes: dict[tuple[str, str], CallClass] = field(default_factory=dict, repr=False)  # one object per class
    _rules: ShellRules | None = field(default=None, repr=False)

    def entry(self, tool: str) -> dict[str, Any] | None:
        hit = self.tools.get(tool.lower())
        if hit is not None:
            return hit
        for pattern, value in self.globs:
            if fnmatch.fnmatchcase(tool.lower(), pattern):
                return value
        return None

    def ttl(self, tool: str) -> float | None:
        """How long a finished result of `tool` stays valid (its entry's `ttl_s`), None when the entry sets none."""
        entry = self.entry(tool)
        value = entry.get("ttl_s") if entry else None
        return None if value is None else float(value)

    def with_tool(self, tool: str, safety: str, resource: str | None = None, ttl_s: float | None = None) -> SafetyTable:
        """A copy of this table with `tool` (an exact name) classified as `safety`: what-if analysis and overrides.
        The resource class defaults to the tool's current one."""
        entry: dict[str, Any] = {"safety": safety, "resource": resource or self.classify(tool, None).resource}
        if ttl_s is not None:
            entry["ttl_s"] = ttl_s
        return SafetyTable(self.tools | {tool.lower(): entry}, list(self.globs), self.shell, self.default)

    def classify(self, tool: str, args_json: str | None) -> CallClass:
        """The safety and resource class of one call: a tool's own class (kept per tool), or for a shell tool its
        command's (kept per tool and arguments)."""
        got = self._by_tool.get(tool)
        if got is None:
            got = self._tool_class(tool)
            if len(self._by_tool) < CACHE_ENTRIES:
                self._by_tool[tool] = got
        fixed, resource = got
        if fixed is not None:
            return fixed
        key = (tool, args_json or "")
        hit = self._cache.get(key)
        if hit is None:
            hit = self._class(self.shell_safety(_command(args_json, self.shell["command_keys"])), resource)
            if len(self._cache) < CACHE_ENTRIES:
                self._cache[key] = hit
        return hit

    def _tool_class(self, tool: str) -> tuple[CallClass | None, str]:
        """The class every call of `tool` has (None for a shell tool: its command decides), and its resource class."""
        entry = self.entry(tool)
        if entry is None:
            return self.default, self.default.resource
        resource = entry.get("resource", self.default.resource)
        if entry.get("shell"):
            return None, resource
        return self._class(entry.get("safety", self.default.safety), resource), resource

    def _class(self, safety: str, resource: str) -> CallClass:
        got = self._classes.get((safety, resource))
        if got is None:
            got = self._classes[(safety, resource)] = CallClass(safety, resource)
        return got

    def is_shell(self, tool: str) -> bool:
        """The tool runs shell commands (its entry says `shell = true`)."""
        entry = self.entry(tool)
        return bool(entry and entry.get("shell"))

    def shell_reason(self, tool: str, args_json: str | None) -> str | None:
        """For a shell tool's call classified unknown, the program (or construct) that made it unknown."""
        if not self.is_shell(tool):
            return None
        if self._rules is None:
            self._rules = ShellRules.from_table(self.shell)
        return unknown_reason(_command(args_json, self.shell["command_keys"]), self._rules)

    def with_shell_program(self, program: str) -> SafetyTable:
        """A copy of this table with `program` enabled in `[shell] read_only` (what-if analysis)."""
        shell = dict(self.shell) | {"read_only": sorted(set(self.shell["read_only"]) | {program})}
        return SafetyTable(dict(self.tools), list(self.globs), shell, self.default)

    def shell_safety(self, command: str | None) -> str:
        """read-only only when every program of the command provably is; see `shell_safety`."""
        if self._rules is None:
            self._rules = ShellRules.from_table(self.shell)
        return classify_command(command, self._rules)


def _command(args_json: str | None, keys: list[str]) -> str | None:
    if not args_json:
        return None
    try:
        args = orjson.loads(args_json)
    except orjson.JSONDecodeError:
        return None
    if isinstance(args, str):
        return args
    if not isinstance(args, dict):
        return None
    for key in keys:
        value = args.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            # ["bash", "-lc", "cmd"] (Codex) -> "cmd"; otherwise the argv joined
            if len(value) == 3 and value[0].rsplit("/", 1)[-1] in ("bash", "sh", "zsh") and value[1] in ("-c", "-lc"):
                return value[2]
            return shlex.join(value)
    return None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _check(doc: dict[str, Any], where: str) -> None:
    for name, entry in doc.get("tools", {}).items():
        if not isinstance(entry, dict):
            raise BpasteError(f"{where}: tools.{name} must be a table like {{ safety = \"read-only\", resource = \"io\" }}.")
        if entry.get("safety", "unknown") not in SAFETY_CLASSES and not entry.get("shell"):
            raise BpasteError(f"{where}: tools.{name} has safety {entry.get('safety')!r}; use one of {', '.join(SAFETY_CLASSES)}.")
        if entry.get("resource", "cpu") not in RESOURCE_CLASSES:
            raise BpasteError(f"{where}: tools.{name} has resource {entry.get('resource')!r}; use one of {', '.join(RESOURCE_CLASSES)}.")
        ttl = entry.get("ttl_s")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0):
            raise BpasteError(f"{where}: tools.{name} has ttl_s {ttl!r}; give a positive number of seconds, e.g. ttl_s = 300.")


def load_safety(path: Path | str | None = None) -> SafetyTable:
    """The default table, overridden entry by entry by the TOML file at `path` (if given)."""
    doc = tomllib.loads(DEFAULT_TABLE)
    if path is not None:
        path = Path(path)
        try:
            user = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BpasteError(f"The safety file {path} does not exist.") from None
        except tomllib.TOMLDecodeError as exc:
            raise BpasteError(f"The safety file {path} is not valid TOML ({exc}).") from None
        _check(user, str(path))
        user_tools = {k.lower(): v for k, v in user.pop("tools", {}).items()}
        doc = _merge(doc, user)
        doc["tools"] = {k.lower(): v for k, v in doc["tools"].items()} | user_tools
    tools = {k.lower(): v for k, v in doc["tools"].items()}
    exact = {k: v for k, v in tools.items() if not any(c in k for c in "*?[")}
    globs = [(k, v) for k, v in tools.items() if k not in exact]
    default = CallClass(doc["default"]["safety"], doc["default"]["resource"])
    return SafetyTable(exact, globs, doc["shell"], default)


def safety_doc(table: SafetyTable) -> dict[str, Any]:
    """The safety and resource-class table as plain JSON, as a policy embeds it (`safety_from_doc` reverses it)."""
    tools = dict(table.tools) | dict(table.globs)
    return {"tools": tools, "shell": table.shell, "default": {"safety": table.default.safety, "resource": table.default.resource}}


def safety_from_doc(doc: dict[str, Any]) -> SafetyTable:
    """The table `safety_doc` wrote (KeyError / TypeError / AttributeError when it is malformed)."""
    tools = {k.lower(): v for k, v in doc["tools"].items()}
    exact = {k: v for k, v in tools.items() if not any(c in k for c in "*?[")}
    globs = [(k, v) for k, v in tools.items() if k not in exact]
    return SafetyTable(exact, globs, doc["shell"], CallClass(doc["default"]["safety"], doc["default"]["resource"]))
