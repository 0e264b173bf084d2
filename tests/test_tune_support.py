"""Shared by the tune / policy / PostgreSQL tests: a small synthetic workspace (dataset + pattern table), built
once per test process, and a CLI runner. Invented content only (bpaste's own synthetic generator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_CACHE: dict[str, Path] = {}


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """A folder holding `ds` (80 synthetic coding + research sessions) and `pat` (mined on its train split)."""
    if "ws" not in _CACHE:
        from bpaste_cli.ingest import IngestOptions, ingest
        from bpaste_cli.mine import MineOptions, mine
        from bpaste_cli.synth import generate, write

        ws = tmp_path_factory.mktemp("tune_ws")
        write(generate(("coding", "research"), sessions=80, seed=5), ws / "corpus", ["native"])
        ingest([str(ws / "corpus" / "native")], ws / "ds", options=IngestOptions())
        mine(ws / "ds", ws / "pat", MineOptions())
        _CACHE["ws"] = ws
    return _CACHE["ws"]


def cli(*argv: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `bpaste ARGV` in a fresh interpreter (as a user would)."""
    return subprocess.run([sys.executable, "-m", "bpaste_cli", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})


def cli_json(*argv: str, cwd: Path | None = None) -> dict:
    proc = cli(*argv, "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
