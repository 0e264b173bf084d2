"""The `bpaste ingest` verb: find the log files, detect each one's format, read it, write the dataset.

One reader module per format (see `base.py` for the contract); detection is by content, in the
priority order of `READERS`. The pipeline streams each file's sessions into a `DatasetWriter` inside a
temporary directory that replaces the output only once everything is written.

Only regular files are read (a FIFO or a device found by walking would block forever); every file that
cannot be read (unreadable, broken link, vanished) is a counted, reported skip. With `--append`, a file
already in the dataset adds nothing, and a file that changed since it was read (a session log that grew)
is read again: its sessions replace the ones read from it before. A Claude Code session resumed into a
new file starts with a copy of the old session's history: that copy is kept only when the old session's
own file is not among the inputs (whatever the order the files are read in), and the manifest lists the
sessions kept from a copy (`copied_sessions`), so that the old session's own file, arriving later by
`--append`, replaces the copy instead of being skipped as a duplicate.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO, Callable

import polars as pl

from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import atomic_directory, check_replaceable, restore_interrupted
from bpaste_cli.ingest import bfcl, chat, claude_code, codex, native, openhands, otlp, swe_agent
from bpaste_cli.ingest.base import BOM, MAX_EXAMPLES, ReadContext, Skip, SkipReport, first_line_head, printable
from bpaste_cli.ingest.secrets import may_hold_secret, scrub
from bpaste_cli.trace import DatasetWriter, Limits, SessionBuilder, base_manifest, dataset_hash, load_dataset, read_manifest

# Priority order for detection by content: the first reader whose sniff() accepts a file reads it.
READERS: tuple[ModuleType, ...] = (claude_code, codex, openhands, otlp, swe_agent, bfcl, chat, native)
FORMATS: dict[str, ModuleType] = {r.NAME: r for r in READERS}
SNIFF_BYTES = 64 * 1024
HASH_BLOCK = 1 << 20


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
            "skipped_examples": self.report.example_rows(),
            "files": self.files,
        }


def known_formats() -> str:
    return ", ".join(FORMATS)


def _walk_problem(path: str | Path, exc: OSError) -> tuple[str, str]:
    """A file-system error as a skip reason and its detail."""
    if exc.errno == errno.ELOOP:
        reason = "link_loop"
    elif isinstance(exc, FileNotFoundError):
        reason = "vanished"  # listed, then deleted before it was read
    else:
        reason = "unreadable"
    return reason, exc.strerror or str(exc)


def _regular(path: Path) -> tuple[str, str] | None:
    """None for a regular file (after links), else the skip reason and detail."""
    try:
        st = path.stat()
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and path.is_symlink():
            return "broken_link", f"the link points to {printable(os.readlink(path))}, which does not exist"
        return _walk_problem(path, exc)
    if not stat.S_ISREG(st.st_mode):
        return "not_a_regular_file", "a FIFO, socket or device, not a log file"
    return None


def _walked(path: str) -> tuple[tuple[str, str] | None, bool]:
    """`_regular` for a file found by walking, from one `lstat`; and whether it is a symbolic link."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return _walk_problem(path, exc), False
    if stat.S_ISLNK(st.st_mode):
        return _regular(Path(path)), True
    if not stat.S_ISREG(st.st_mode):
        return ("not_a_regular_file", "a FIFO, socket or device, not a log file"), False
    return None, False


def expand_paths(
    paths: list[str | Path], on_skip: Callable[[str, str, str], None] | None = None
) -> list[tuple[Path, bool, Path]]:
    """Files named by `paths` (files, directories walked recursively, globs), each with whether it
    was named explicitly (an explicit file in no known format is an error; one found by walking is not)
    and its resolved path (duplicates are dropped). Walking keeps regular files only: anything else
    found (an unreadable folder, a broken link, a FIFO) goes to `on_skip(path, reason, detail)`."""
    found: list[tuple[Path, bool, Path | None]] = []  # a walked file that is no link comes resolved already

    def skip(where: str | Path, reason: str, detail: str) -> None:
        if on_skip is not None:
            on_skip(printable(str(where)), reason, detail)

    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found.append((p, True, None))
        elif p.is_dir():
            top = os.fspath(p)
            try:  # the folders walked hold no links (os.walk does not follow them): resolve the top once
                real_top: str | None = str(p.resolve())
            except OSError:
                real_top = None
            for root, dirs, files in os.walk(p, onerror=lambda exc: skip(exc.filename, *_walk_problem(exc.filename, exc))):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                real_root = None if real_top is None else os.path.join(real_top, root[len(top) :].lstrip(os.sep))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    full = os.path.join(root, name)
                    problem, link = _walked(full)
                    if problem:
                        skip(Path(full), *problem)
                    else:
                        resolved = None if link or real_root is None else Path(os.path.join(real_root, name))
                        found.append((Path(full), False, resolved))
        elif glob.has_magic(str(raw)):
            matches = sorted(glob.glob(str(raw), recursive=True))
            if not matches:
                raise BpasteError(f"No file matches {raw}; check the pattern (quote it so the shell does not expand it).")
            for match in matches:
                problem = None if os.path.isdir(match) else _regular(Path(match))
                if problem:
                    skip(match, *problem)
                else:
                    found.extend(expand_paths([match], on_skip))
        elif p.is_symlink():
            raise BpasteError(f"{printable(str(raw))} is a broken or looping symbolic link; pass the log file it should point to.")
        elif os.path.lexists(p) or p.exists():
            raise BpasteError(f"{printable(str(raw))} is not a regular file (a FIFO, socket or device); pass log files or directories of them.")
        else:
            raise BpasteError(f"{printable(str(raw))} does not exist; pass a log file, a directory of logs, or a glob.")
    seen: set[Path] = set()
    unique = []
    for path, explicit, key in found:
        try:
            key = key or path.resolve()
        except OSError as exc:  # a link loop
            skip(path, *_walk_problem(path, exc))
            continue
        if key not in seen:
            seen.add(key)
            unique.append((path, explicit, key))
    return unique


def detect_format(path: Path) -> ModuleType | None:
    """The reader for `path`, judged from its first bytes, or None (see `_detect`)."""
    with open(path, "rb") as fh:
        return _detect(fh, fh.read(SNIFF_BYTES))


def _detect(fh: BinaryIO, head: bytes) -> ModuleType | None:
    """The reader for the file `fh` whose first `SNIFF_BYTES` are `head` (`fh` positioned just after them).

    A UTF-8 byte-order mark is ignored. When no reader accepts the first `SNIFF_BYTES` and the first
    line is longer than that (a native record with a long argument), the readers judge the whole first
    line."""
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if not head.strip():
        return None
    for reader in READERS:
        if reader.sniff(head):
            return reader
    longer = first_line_head(fh, head)
    if longer is not None:
        for reader in READERS:
            if reader.sniff(longer):
                return reader
    return None


def _display(path: Path, resolved: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return printable(str(path))
    return printable(str(resolved) if rel.startswith("..") else rel)


@dataclass
class _Planned:
    """One input file after the checks that come before reading it."""

    path: Path
    explicit: bool
    display: str
    size: int
    digest: str | None = None
    status: str = "ingested"  # or already_present, unrecognised, or a skip reason
    reader: ModuleType | None = None
    replaces: bool = False  # it changed since the dataset read it: its sessions replace the old ones


def _plan(
    files: list[tuple[Path, bool, Path]],
    options: IngestOptions,
    known_hashes: set[str],
    previous_paths: dict[str, str],
    report: SkipReport,
) -> list[_Planned]:
    """Stat, hash and detect every file: what each one will contribute, before anything is read."""
    planned = []
    for path, explicit, resolved in files:
        display = _display(path, resolved)
        item = _Planned(path, explicit, display, 0)
        planned.append(item)
        try:
            with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK)) as fh:  # a FIFO must not block
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    if explicit:
                        raise BpasteError(f"{display} is not a regular file (a FIFO, socket or device); pass log files.")
                    raise _NotRegular()
                item.size = st.st_size
                head = fh.read(SNIFF_BYTES)  # one read of the file gives its hash and its format
                digest = hashlib.sha256(head)
                while block := fh.read(HASH_BLOCK):
                    digest.update(block)
                item.digest = digest.hexdigest()
                if item.digest in known_hashes:
                    item.status = "already_present"
                    continue
                known_hashes.add(item.digest)
                if options.format != "auto":
                    item.reader = FORMATS[options.format]
                else:
                    fh.seek(len(head))
                    item.reader = _detect(fh, head)
        except _NotRegular:
            item.status = "not_a_regular_file"
            report.add(display, None, item.status, "a FIFO, socket or device, not a log file")
            continue
        except OSError as exc:
            if explicit and not isinstance(exc, FileNotFoundError):
                raise BpasteError(f"Cannot read {display} ({exc.strerror or exc}); check its permissions.") from None
            item.status, detail = _walk_problem(path, exc)
            report.add(display, None, item.status, detail)
            continue
        if item.reader is None:
            if explicit:
                raise BpasteError(
                    f"{display} is in no log format bpaste knows ({known_formats()}); "
                    "pass --format to force one, or convert it to bpaste's native JSONL (see README)."
                )
            item.status = "unrecognised"
        item.replaces = item.reader is not None and previous_paths.get(display, item.digest) != item.digest
    return planned


class _NotRegular(Exception):
    """A walked path turned out not to be a regular file when opened."""


def _merge_examples(old: list[dict[str, Any]], new: list[Skip], dropped_files: set[str]) -> list[dict[str, Any]]:
    """The manifest's skip examples after an append: the earlier ones (minus those of files read again),
    then the new ones, at most `MAX_EXAMPLES`."""
    kept = [e for e in old if e.get("where", "").rsplit(":", 1)[0] not in dropped_files and e.get("where") not in dropped_files]
    kept += [{"where": s.where(), "reason": s.reason, "detail": s.detail} for s in new]
    return kept[:MAX_EXAMPLES]


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
    scrubber = None if options.keep_secrets else scrub
    report = SkipReport(strict=options.strict, scrub=scrubber)
    files = expand_paths(paths, lambda where, reason, detail: report.add(where, None, reason, detail))
    if not files and not report.total:
        raise BpasteError("No log files found under the given paths; pass files, directories or globs of agent logs.")
    restore_interrupted(out)
    if not append:  # with --append, read_manifest below says what is wrong with the directory
        check_replaceable(out, "trace-dataset", "ingest")

    previous = None
    known_hashes: set[str] = set()
    previous_paths: dict[str, str] = {}  # path -> content hash of the files the dataset read
    if append and out.exists():
        manifest = read_manifest(out)
        if manifest.get("options") != options.recorded():
            raise BpasteError(
                f"{out} was ingested with options {manifest.get('options')}, not {options.recorded()}; "
                "append with the same options or ingest into a new dataset."
            )
        previous = load_dataset(out, require_events=False)
        known_hashes = {f["sha256"] for f in manifest["files"] if f.get("sha256")}
        previous_paths = {f["path"]: f["sha256"] for f in manifest["files"] if f.get("status") == "ingested"}

    planned = _plan(files, options, known_hashes, previous_paths, report)
    if on_total:
        on_total(sum(p.size for p in planned))
    reread = {p.display for p in planned if p.replaces}
    old_rows = list(previous.manifest["files"]) if previous else []
    # a file read again replaces its old row; a new verdict on a file whose old row read nothing, too
    new_verdict = {p.display for p in planned if p.status != "already_present"}
    file_rows: list[dict[str, Any]] = [
        f for f in old_rows
        if f.get("path") not in reread and not (f.get("path") in new_verdict and f.get("status") != "ingested")
    ]
    reported: list[dict[str, Any]] = []
    session_ids: set[str] = set()
    totals = {"sessions": 0, "events": 0, "tool_calls": 0, "llm_steps": 0}
    copies: dict[str, SessionBuilder] = {}  # resumed sessions' copied history, by session id

    kept_copies: dict[str, str] = {}  # session id -> the file whose copied history it was read from
    with atomic_directory(out) as tmp:
        writer = DatasetWriter(tmp)
        held = None  # the previous dataset's sessions kept from a copy: written back at the end unless their own file came
        if previous is not None:
            sessions = previous.sessions.filter(~pl.col("source_file").is_in(list(reread)))
            copied = pl.col("session_id").is_in(list(previous.manifest.get("copied_sessions", {})))
            held, sessions = sessions.filter(copied), sessions.filter(~copied)
            events = previous.events.filter(pl.col("session_id").is_in(sessions["session_id"].implode()))
            writer.add_table(sessions.to_arrow(), events.to_arrow())
            session_ids.update(sessions["session_id"].to_list())
            totals["sessions"] = sessions.height
            totals["events"] = events.height
            totals["tool_calls"] = int((events["kind"] == "tool").sum())
            totals["llm_steps"] = int((events["kind"] == "llm").sum())
        for item in planned:
            if item.reader is None or item.status != "ingested":
                row = {"path": item.display, "sha256": item.digest, "bytes": item.size, "status": item.status}
                reported.append(row)
                if item.status != "already_present":  # it is in the manifest already
                    file_rows.append(row)
                if progress:
                    progress(item.size)
                continue
            row = _read_file(item, options, report, scrubber, writer, session_ids, copies, progress)
            for k in totals:
                totals[k] += row[k]
            file_rows.append(row)
            reported.append(row)

        if held is not None:
            for sid, source in held.select("session_id", "source_file").iter_rows():
                row = _ingested_row(file_rows, source)
                if sid in session_ids:  # the session's own file arrived: it replaces the copy read before
                    _skip_copy(report, row, source, sid, previous.events.filter(pl.col("session_id") == sid))
                    continue
                kept = held.filter(pl.col("session_id") == sid)
                kept_events = previous.events.filter(pl.col("session_id") == sid)
                writer.add_table(kept.to_arrow(), kept_events.to_arrow())
                session_ids.add(sid)
                kept_copies[sid] = source
                totals["sessions"] += 1
                totals["events"] += kept_events.height
                totals["tool_calls"] += int((kept_events["kind"] == "tool").sum())
                totals["llm_steps"] += int((kept_events["kind"] == "llm").sum())
        for builder in sorted(copies.values(), key=lambda b: b.session_id):
            row = _ingested_row(file_rows, builder.source_file)
            if builder.session_id in session_ids:  # the resumed session's own file was read (now or before)
                _skip_copy(report, row, builder.source_file, builder.session_id)
                continue
            session_ids.add(builder.session_id)
            kept_copies[builder.session_id] = builder.source_file
            session, events = builder.finish_columns()
            writer.add_columns(session, events)
            _count(row, session)
            _count(totals, session)

        by_reason = report.by_reason.copy()
        if previous is not None:
            by_reason.update(previous.manifest.get("skipped_by_reason", {}))
            for old in old_rows:
                if old.get("path") in reread:
                    by_reason.subtract(old.get("skipped_by_reason", {}))
            by_reason = +by_reason  # drop the reasons that reached zero
        ingested_hashes = [f["sha256"] for f in file_rows if f.get("status") == "ingested"]
        digest = dataset_hash(ingested_hashes, options.recorded())
        examples = _merge_examples(previous.manifest.get("skipped_examples", []) if previous else [], report.examples, reread)
        manifest = base_manifest() | {
            "dataset_hash": digest,
            "options": options.recorded(),
            "counts": totals,
            "skipped_lines": sum(by_reason.values()),
            "skipped_by_reason": dict(sorted(by_reason.items())),
            "skipped_examples": examples,
            "files": file_rows,
            "copied_sessions": dict(sorted(kept_copies.items())),
        }
        writer.close(manifest)

    return IngestResult(out, **totals, report=report, files=reported, dataset_hash=digest)


def _ingested_row(file_rows: list[dict[str, Any]], path: str) -> dict[str, Any]:
    return next(r for r in file_rows if r.get("path") == path and r.get("status") == "ingested")


def _skip_copy(report: SkipReport, row: dict[str, Any], source: str, session_id: str,
               written: pl.DataFrame | None = None) -> None:
    """Count a copied history that is not kept on its file's row; `written`: its events as an earlier ingest
    kept them, whose counts the file's row included and now gives back."""
    report.add(source, None, "copied_history", session_id)
    row["skipped"] += 1
    row["skipped_by_reason"]["copied_history"] = row["skipped_by_reason"].get("copied_history", 0) + 1
    if written is not None:
        row["sessions"] -= 1
        row["events"] -= written.height
        row["tool_calls"] -= int((written["kind"] == "tool").sum())
        row["llm_steps"] -= int((written["kind"] == "llm").sum())


def _count(counts: dict[str, Any], session: dict[str, Any]) -> None:
    counts["sessions"] += 1
    counts["events"] += session["n_events"]
    counts["tool_calls"] += session["n_tool_calls"]
    counts["llm_steps"] += session["n_llm_steps"]


def _read_file(
    item: _Planned,
    options: IngestOptions,
    report: SkipReport,
    scrubber: Callable[[str], str] | None,
    writer: DatasetWriter,
    session_ids: set[str],
    copies: dict[str, SessionBuilder],
    progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    """Read one file's sessions into `writer`; its manifest row (counts, skips by reason)."""
    assert item.reader is not None
    before = dict(report.by_reason)  # a plain copy: most files skip nothing, and a Counter's arithmetic costs
    counts = {"sessions": 0, "events": 0, "tool_calls": 0, "llm_steps": 0}
    ctx = ReadContext(
        path=item.path, display=item.display, report=report, limits=options.limits, scrub=scrubber,
        may_hold_secret=None if scrubber is None else may_hold_secret, on_bytes=progress,
    )
    try:
        for builder in item.reader.read(item.path, ctx):
            if builder.empty:
                ctx.skip(None, "empty_session", builder.session_id)
                continue
            if builder.copied_history:  # kept aside: written at the end unless the session's own file was read
                held = copies.get(builder.session_id)
                if held is None or builder.n_records > held.n_records:
                    if held is not None:
                        report.add(held.source_file, None, "copied_history", held.session_id)
                    copies[builder.session_id] = builder
                else:
                    ctx.skip(None, "copied_history", builder.session_id)
                continue
            if builder.session_id in session_ids:
                ctx.skip(None, "duplicate_session", builder.session_id)
                continue
            session_ids.add(builder.session_id)
            session, events = builder.finish_columns()
            writer.add_columns(session, events)
            _count(counts, session)
    except OSError as exc:  # the file vanished or became unreadable while it was read
        status, detail = _walk_problem(item.path, exc)
        ctx.skip(None, status, detail)
    else:
        status = "ingested"
    if progress:
        progress(item.size - ctx.bytes_reported)
    skipped = {reason: n - before.get(reason, 0) for reason, n in report.by_reason.items() if n != before.get(reason, 0)}
    return {
        "path": item.display,
        "sha256": item.digest,
        "bytes": item.size,
        "status": status if status != "ingested" and not counts["sessions"] else "ingested",
        "format": item.reader.NAME,
        **counts,
        "skipped": sum(skipped.values()),
        "skipped_by_reason": dict(sorted(skipped.items())),
    }
