"""The `bpaste ingest` verb: find the log files, detect each one's format, read it, write the dataset.

One reader module per format (see `base.py` for the contract); detection is by content, in the
priority order of `READERS`. The pipeline streams each file's sessions into a `DatasetWriter` inside a
temporary directory that replaces the output only once everything is written.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import atomic_directory, check_replaceable, file_sha256, restore_interrupted
from bpaste_cli.ingest import bfcl, chat, claude_code, codex, native, openhands, otlp, swe_agent
from bpaste_cli.ingest.base import ReadContext, SkipReport
from bpaste_cli.ingest.secrets import scrub
from bpaste_cli.trace.builder import Limits
from bpaste_cli.trace.dataset import (
    DatasetWriter,
    base_manifest,
    dataset_hash,
    load_dataset,
    read_manifest,
)

# Priority order for detection by content: the first reader whose sniff() accepts a file reads it.
READERS: tuple[ModuleType, ...] = (claude_code, codex, openhands, otlp, swe_agent, bfcl, chat, native)
FORMATS: dict[str, ModuleType] = {r.NAME: r for r in READERS}
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class IngestOptions:
    """How logs are read: forced format, strictness, secret scrubbing and the text limits."""

    format: str = "auto"
    strict: bool = False
    keep_secrets: bool = False
    limits: Limits = field(default_factory=Limits)

    def recorded(self) -> dict[str, Any]:
        """The options that change what a dataset contains (recorded in its manifest)."""
        return {
            "keep_secrets": self.keep_secrets,
            "max_result_chars": self.limits.max_result_chars,
            "max_text_chars": self.limits.max_text_chars,
            "idle_threshold_s": self.limits.idle_threshold_s,
        }


@dataclass
class IngestResult:
    path: Path
    sessions: int
    events: int
    tool_calls: int
    llm_steps: int
    report: SkipReport
    files: list[dict[str, Any]]
    dataset_hash: str

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": str(self.path),
            "dataset_hash": self.dataset_hash,
            "sessions": self.sessions,
            "events": self.events,
            "tool_calls": self.tool_calls,
            "llm_steps": self.llm_steps,
            "skipped_lines": self.report.total,
            "skipped_by_reason": dict(sorted(self.report.by_reason.items())),
            "skipped_examples": [
                {"where": s.where(), "reason": s.reason, "detail": s.detail} for s in self.report.examples
            ],
            "files": self.files,
        }


def known_formats() -> str:
    return ", ".join(FORMATS)


def expand_paths(paths: list[str | Path]) -> list[tuple[Path, bool, Path]]:
    """Files named by `paths` (files, directories walked recursively, globs), each with whether it
    was named explicitly (an explicit file in no known format is an error; one found by walking is not)
    and its resolved path (duplicates are dropped)."""
    found: list[tuple[Path, bool]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found.append((p, True))
        elif p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend((Path(root) / f, False) for f in sorted(files) if not f.startswith("."))
        elif glob.has_magic(str(raw)):
            matches = sorted(glob.glob(str(raw), recursive=True))
            if not matches:
                raise BpasteError(f"No file matches {raw}; check the pattern (quote it so the shell does not expand it).")
            found.extend((p, explicit) for p, explicit, _ in expand_paths(matches))
        else:
            raise BpasteError(f"{raw} does not exist; pass a log file, a directory of logs, or a glob.")
    seen: set[Path] = set()
    unique = []
    for path, explicit in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((path, explicit, key))
    return unique


def detect_format(path: Path) -> ModuleType | None:
    """The reader for `path`, judged from its first bytes, or None."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        return None
    for reader in READERS:
        if reader.sniff(head):
            return reader
    return None


def _display(path: Path, resolved: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(resolved) if rel.startswith("..") else rel


def ingest(
    paths: list[str | Path],
    out: Path,
    *,
    append: bool = False,
    options: IngestOptions = IngestOptions(),
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> IngestResult:
    """Read agent logs into the dataset at `out` (replacing it, or adding new files with `append`).

    Idempotent: a file whose content is already in the dataset adds nothing. Atomic: the previous
    dataset stays intact until the new one is complete.
    """
    out = Path(out)
    if options.format != "auto" and options.format not in FORMATS:
        raise BpasteError(f"Unknown format {options.format!r}; bpaste reads: auto, {known_formats()}.")
    files = expand_paths(paths)
    if not files:
        raise BpasteError("No log files found under the given paths; pass files, directories or globs of agent logs.")
    restore_interrupted(out)
    if not append:  # with --append, read_manifest below says what is wrong with the directory
        check_replaceable(out, "trace-dataset", "ingest")

    previous = None
    known_hashes: set[str] = set()
    if append and out.exists():
        manifest = read_manifest(out)
        if manifest.get("options") != options.recorded():
            raise BpasteError(
                f"{out} was ingested with options {manifest.get('options')}, not {options.recorded()}; "
                "append with the same options or ingest into a new dataset."
            )
        previous = load_dataset(out, require_events=False)
        known_hashes = {f["sha256"] for f in manifest["files"] if f.get("sha256")}

    if on_total:
        on_total(sum(p.stat().st_size for p, _, _ in files))
    report = SkipReport(strict=options.strict)
    scrubber = None if options.keep_secrets else scrub
    file_rows: list[dict[str, Any]] = list(previous.manifest["files"]) if previous else []
    session_ids: set[str] = set(previous.sessions["session_id"].to_list()) if previous else set()
    totals = {"sessions": 0, "events": 0, "tool_calls": 0, "llm_steps": 0}

    with atomic_directory(out) as tmp:
        writer = DatasetWriter(tmp)
        if previous is not None:
            writer.add_table(previous.sessions.to_arrow(), previous.events.to_arrow())
            totals["sessions"] = previous.sessions.height
            totals["events"] = previous.events.height
            totals["tool_calls"] = int((previous.events["kind"] == "tool").sum())
            totals["llm_steps"] = int((previous.events["kind"] == "llm").sum())
        for path, explicit, resolved in files:
            size = path.stat().st_size
            display = _display(path, resolved)
            digest = file_sha256(path)
            if digest in known_hashes:
                file_rows.append({"path": display, "sha256": digest, "bytes": size, "status": "already_present"})
                if progress:
                    progress(size)
                continue
            reader = FORMATS[options.format] if options.format != "auto" else detect_format(path)
            if reader is None:
                if explicit:
                    raise BpasteError(
                        f"{display} is in no log format bpaste knows ({known_formats()}); "
                        "pass --format to force one, or convert it to bpaste's native JSONL (see README)."
                    )
                file_rows.append({"path": display, "sha256": digest, "bytes": size, "status": "unrecognised"})
                if progress:
                    progress(size)
                continue
            known_hashes.add(digest)
            before = report.total
            counts = {"sessions": 0, "events": 0, "tool_calls": 0, "llm_steps": 0}
            ctx = ReadContext(
                path=path, display=display, report=report, limits=options.limits, scrub=scrubber, on_bytes=progress
            )
            for builder in reader.read(path, ctx):
                if builder.empty:
                    ctx.skip(None, "empty_session", builder.session_id)
                    continue
                if builder.session_id in session_ids:
                    ctx.skip(None, "duplicate_session", builder.session_id)
                    continue
                session_ids.add(builder.session_id)
                session, events = builder.finish()
                writer.add(session, events)
                counts["sessions"] += 1
                counts["events"] += len(events)
                counts["tool_calls"] += session["n_tool_calls"]
                counts["llm_steps"] += session["n_llm_steps"]
            for k, v in counts.items():
                totals[k] += v
            file_rows.append(
                {
                    "path": display,
                    "sha256": digest,
                    "bytes": size,
                    "status": "ingested",
                    "format": reader.NAME,
                    **counts,
                    "skipped": report.total - before,
                }
            )
            if progress:
                progress(size - ctx.bytes_reported)

        if previous is not None:
            for reason, n in previous.manifest.get("skipped_by_reason", {}).items():
                report.by_reason[reason] += n
        ingested_hashes = [f["sha256"] for f in file_rows if f.get("status") == "ingested"]
        digest = dataset_hash(ingested_hashes, options.recorded())
        manifest = base_manifest() | {
            "dataset_hash": digest,
            "options": options.recorded(),
            "counts": totals,
            "skipped_lines": report.total,
            "skipped_by_reason": dict(sorted(report.by_reason.items())),
            "skipped_examples": [
                {"where": s.where(), "reason": s.reason, "detail": s.detail} for s in report.examples
            ],
            "files": file_rows,
        }
        writer.close(manifest)

    new_files = [f for f in file_rows[len(previous.manifest["files"]) if previous else 0 :]]
    return IngestResult(out, **totals, report=report, files=new_files, dataset_hash=digest)
