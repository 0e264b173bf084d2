"""What the writers share: millisecond timestamps as ISO-8601, output files and their counts, and the
one-file writer (every session appended to one JSONL file)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds, the way agent logs write them."""
    s, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{frac:03d}Z"


def dumps(obj: object) -> bytes:
    return orjson.dumps(obj)


class Sink:
    """Counts what a writer wrote: files, lines and bytes."""

    def __init__(self) -> None:
        self.files = 0
        self.lines = 0
        self.bytes = 0
        self._dirs: set[Path] = set()

    def write_lines(self, path: Path, lines: list[bytes]) -> None:
        data = b"\n".join(lines) + b"\n"
        self.write_bytes(path, data, len(lines))

    def write_bytes(self, path: Path, data: bytes, lines: int = 1) -> None:
        if path.parent not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path.parent)
        with open(path, "wb") as fh:
            fh.write(data)
        self.files += 1
        self.lines += lines
        self.bytes += len(data)


class OneFileWriter:
    """A writer that appends every session to one file `FILE` in its directory (native, OTLP)."""

    FILE = ""

    def __init__(self, directory: Path, sink: Sink) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.fh = open(directory / self.FILE, "wb")
        self.sink = sink
        sink.files += 1

    def append(self, lines: list[bytes]) -> None:
        """Write `lines` (one record each) and count them."""
        data = b"\n".join(lines) + b"\n"
        self.fh.write(data)
        self.sink.lines += len(lines)
        self.sink.bytes += len(data)

    def close(self) -> None:
        self.fh.close()
