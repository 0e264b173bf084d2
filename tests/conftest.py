"""Shared fixtures: the real traces in ../shared/traces (skipped cleanly when absent) and small helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_TRACES = REPO.parent / "shared" / "traces"


@pytest.fixture
def shared_traces() -> Path:
    """The folder of real agent logs; tests that need it skip with a reason where it is absent."""
    if not SHARED_TRACES.is_dir():
        pytest.skip(f"real traces not present at {SHARED_TRACES} (they live beside the repo in CI)")
    return SHARED_TRACES


@pytest.fixture
def ingest_paths(tmp_path: Path):
    """ingest_paths(paths, **options) -> (IngestResult, Dataset): ingest into a fresh dataset and load it."""
    from bpaste_cli.ingest import IngestOptions, ingest
    from bpaste_cli.trace.dataset import load_dataset

    counter = {"n": 0}

    def run(paths, *, append: bool = False, out: Path | None = None, **options):
        counter["n"] += 1
        target = out or tmp_path / f"ds{counter['n']}"
        result = ingest([str(p) for p in paths], target, append=append, options=IngestOptions(**options))
        return result, load_dataset(target, require_events=False)

    return run
