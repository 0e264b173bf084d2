"""What every reader shares: the skip report, the JSONL line iterator, timestamps, the read context.

A reader is a module with `NAME`, `DESCRIPTION` (which agent writes it, and where), `sniff(head)` and
`read(path, ctx)`. `sniff` gets the first bytes of a file and says whether the file is in its format;
`read` yields one `SessionBuilder` per session, filled in log order, and reports every record it cannot
use through `ctx.skip(...)`: skipped, counted and reported, never fatal (unless `--strict`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import orjson

from bpaste_cli.errors import BpasteError
from bpaste_cli.trace import Limits, SessionBuilder

MAX_LINE_BYTES = 64 * 1024 * 1024
MAX_EXAMPLES = 200
PROGRESS_BYTES = 4 * 1024 * 1024
BOM = b"\xef\xbb\xbf"  # UTF-8 byte-order mark, written by some Windows editors


@dataclass
class Skip:
    file: str
    line: int | None
    reason: str
    detail: str = ""

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass
class SkipReport:
    """Counts of skipped records per reason, with the first examples kept for the user to look at."""

    strict: bool = False
    scrub: Callable[[str], str] | None = None  # details quote log content: secrets are replaced there too
    by_reason: Counter = field(default_factory=Counter)
    examples: list[Skip] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def add(self, file: str, line: int | None, reason: str, detail: str = "") -> None:
        detail = detail[:200]
        if self.scrub is not None:
            detail = self.scrub(detail)
        skip = Skip(file, line, reason, detail)
        if self.strict:
            raise BpasteError(
                f"{skip.where()}: {reason.replace('_', ' ')}"
                + (f" ({skip.detail})" if skip.detail else "")
                + "; without --strict such records are skipped and counted."
            )
        self.by_reason[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(skip)

    def example_rows(self) -> list[dict[str, Any]]:
        return [{"where": s.where(), "reason": s.reason, "detail": s.detail} for s in self.examples]


def printable(text: str) -> str:
    """`text` (a path or an id) with the undecodable bytes of a non-UTF-8 file name written as \\xNN,
    so that it can be stored and printed."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def first_line_head(fh: BinaryIO, head: bytes) -> bytes | None:
    """When `head` (the first bytes read from `fh`) holds no line break, `head` extended to the end of
    the first line (at most `MAX_LINE_BYTES`); otherwise None."""
    if b"\n" in head:
        return None
    parts = [head]
    size = len(head)
    while size < MAX_LINE_BYTES:
        block = fh.read(1 << 20)
        if not block:
            break
        cut = block.find(b"\n")
        parts.append(block if cut < 0 else block[: cut + 1])
        size += len(parts[-1])
        if cut >= 0:
            break
    return b"".join(parts) if len(parts) > 1 else None


@dataclass
class ReadContext:
    """Handed to a reader for one file: where it is, how to make sessions, how to report skips."""

    path: Path
    display: str  # the file as the user named it (relative where possible)
    report: SkipReport
    limits: Limits
    scrub: Callable[[str], str] | None
    may_hold_secret: Callable[[str], bool] | None = None  # `scrub`'s cheap test (see `SessionBuilder`)
    on_bytes: Callable[[int], None] | None = None  # progress: bytes read since the last call
    bytes_reported: int = 0

    def advance(self, n: int) -> None:
        if self.on_bytes is not None and n > 0:
            self.on_bytes(n)
            self.bytes_reported += n

    def skip(self, line: int | None, reason: str, detail: str = "") -> None:
        self.report.add(self.display, line, reason, detail)

    def session(
        self,
        session_id: str,
        source_format: str,
        *,
        parent_session_id: str | None = None,
        parent_call_id: str | None = None,
    ) -> SessionBuilder:
        return SessionBuilder(
            printable(session_id),
            source_format,
            self.display,
            parent_session_id=None if parent_session_id is None else printable(parent_session_id),
            parent_call_id=parent_call_id,
            limits=self.limits,
            scrub=self.scrub,
            may_hold_secret=self.may_hold_secret,
            on_bad=self.skip,
        )


def _lines(ctx: ReadContext) -> Iterator[tuple[bytes, bool, int]]:
    """The file's lines (without their newline), whether each ended with one, and 0, read in blocks of
    `PROGRESS_BYTES` (progress is reported per block). A line longer than `MAX_LINE_BYTES` (its newline
    counted) is not held: it comes back as b"" with its length in place of the 0, to be skipped."""
    parts: list[bytes] = []  # the start of a line that runs past the block it began in, joined once at its end
    held = 0  # that start's length
    with open(ctx.path, "rb") as fh:
        while block := fh.read(PROGRESS_BYTES):
            ctx.advance(len(block))
            lines = block.split(b"\n")
            tail = lines.pop()  # after the block's last newline: the start of the next line
            long = 0  # the length of the first line, when it ends a long line begun in an earlier block
            if lines and parts:
                held += len(lines[0]) + 1
                if held > MAX_LINE_BYTES:
                    lines[0], long = b"", held
                else:
                    lines[0] = b"".join(parts) + lines[0]
                parts, held = [], 0
            for line in lines:
                if long or len(line) >= MAX_LINE_BYTES:
                    yield b"", True, long or len(line) + 1
                    long = 0
                else:
                    yield line, True, 0
            if tail:
                held += len(tail)
                if held > MAX_LINE_BYTES:
                    parts = [b""]  # past the limit only its length counts
                else:
                    parts.append(tail)
    if held:
        yield (b"", False, held) if held > MAX_LINE_BYTES else (b"".join(parts), False, 0)


def iter_jsonl(ctx: ReadContext) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each usable line; bad lines are skipped with a reason.

    Blank lines are ignored. Non-UTF-8 bytes are replaced rather than losing the line. A last line
    without its newline that does not parse is reported as `truncated_last_line`.
    """
    loads = orjson.loads
    for line_no, (raw, ended, too_long) in enumerate(_lines(ctx), 1):
        if too_long:
            ctx.skip(line_no, "line_too_long", f"{too_long} bytes")
            continue
        if line_no == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        try:
            value = loads(raw)  # JSON allows the surrounding whitespace: most lines parse here
        except orjson.JSONDecodeError:
            stripped = raw.strip()  # also strips what JSON does not call whitespace (\f, \v)
            if not stripped:
                continue
            try:
                value = orjson.loads(stripped)
            except orjson.JSONDecodeError:
                try:
                    value = orjson.loads(stripped.decode("utf-8", "replace"))
                except orjson.JSONDecodeError as exc:
                    ctx.skip(line_no, "not_json" if ended else "truncated_last_line", str(exc))
                    continue
        yield line_no, value


def parse_json_document(data: bytes) -> Any:
    """A whole-file JSON document (invalid UTF-8 replaced, a byte-order mark ignored); raises
    orjson.JSONDecodeError."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return orjson.loads(data.decode("utf-8", "replace"))


def looks_like_jsonl(data: bytes) -> bool:
    """Whether a file that failed to parse as one document is JSONL with damaged lines: its second
    non-blank line opens a JSON value at column 0. In a pretty-printed document that line is an indented
    member or a closing bracket, so a damaged document stays one document."""
    lines = (raw for raw in data.split(b"\n", 64) if raw.strip())
    next(lines, None)
    return next(lines, b" ")[:1] in (b"{", b"[")


def load_json_document(ctx: ReadContext) -> Any | None:
    """Parse a whole-file JSON document; a file that does not parse is skipped at the line where parsing
    failed (and None returned)."""
    try:
        return parse_json_document(ctx.path.read_bytes())
    except orjson.JSONDecodeError as exc:
        ctx.skip(exc.lineno, "not_json", str(exc))
        return None


def parse_time(value: Any) -> float | None:
    """Epoch seconds from an ISO-8601 string (Z or offset), or from epoch seconds / milliseconds / ns."""
    if isinstance(value, str):  # the common case first
        try:
            dt = datetime.fromisoformat(value)  # Z included (Python >= 3.11)
        except ValueError:
            text = value.strip()
            if not text:
                return None
            if text.endswith("Z"):
                text = text[:-1] + "+00:00"
            try:
                dt = datetime.fromisoformat(text)
            except ValueError:
                try:
                    return parse_time(float(text))
                except ValueError:
                    return None
        if dt.tzinfo is None:  # naive times in logs are UTC by convention
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        if v > 1e17:  # nanoseconds
            return v / 1e9
        if v > 1e14:  # microseconds
            return v / 1e6
        if v > 1e11:  # milliseconds
            return v / 1e3
        return v
    return None


def decode_arguments(value: Any) -> Any:
    """OpenAI-style `arguments` are a JSON string; decode it, keep undecodable text as {"_raw": text}."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return {}
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return {"_raw": value}
    return {} if value is None else value


def content_text(content: Any) -> str | None:
    """Message content as text: a string, or the text parts of a list of `{type, text}` parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(parts) if parts else None
    return None
