"""Running `bpaste` as a user does: a subprocess in a folder, with this checkout's code and no workspace named by
the environment; and the commands a message tells the user to run."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_traces"
HINT = re.compile(r"`(bpaste [^`]+)`")


def bpaste(command: str | list[str], cwd: Path, *, timeout: float = 600, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    """`bpaste COMMAND` in `cwd` (a string is split like a shell would), stdout and stderr captured (so piped)."""
    argv = shlex.split(command) if isinstance(command, str) else command
    assert argv[0] == "bpaste", argv
    base = {k: v for k, v in os.environ.items() if k not in ("BPASTE_WORKSPACE", "COLUMNS")}
    return subprocess.run([sys.executable, "-m", "bpaste_cli", *argv[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**base, "PYTHONPATH": str(REPO), **(env or {})})


def hints(text: str) -> list[str]:
    """The commands a message quotes for the user to run (`bpaste ...` in backticks)."""
    return HINT.findall(text)


def project_with_logs(folder: Path) -> Path:
    """`folder` holding a copy of the sample traces as `logs/`, as a new user's project would."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SAMPLES, folder / "logs", ignore=shutil.ignore_patterns("README.md"))
    return folder
