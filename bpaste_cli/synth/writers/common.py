"""What the writers share: millisecond timestamps as ISO-8601, per-session id streams, output files."""

from __future__ import annotations

import random
import string
import time
import uuid
from pathlib import Path

import orjson

_B62 = string.ascii_letters + string.digits


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds, the way agent logs write them."""
    s, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{frac:03d}Z"


class Ids:
    """Deterministic ids for one session's records (seeded by the session id, so stable per file)."""

    def __init__(self, session_id: str, salt: str) -> None:
        self.rng = random.Random(f"{salt}:{session_id}")

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def token(self, n: int) -> str:
        return "".join(self.rng.choices(_B62, k=n))


def dumps(obj: object) -> bytes:
    return orjson.dumps(obj)


class Sink:
    """Counts what a writer wrote: files, lines and bytes."""

    def __init__(self) -> None:
        self.files = 0
        self.lines = 0
        self.bytes = 0

    def write_lines(self, path: Path, lines: list[bytes]) -> None:
        data = b"\n".join(lines) + b"\n"
        self.write_bytes(path, data, len(lines))

    def write_bytes(self, path: Path, data: bytes, lines: int = 1) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        self.files += 1
        self.lines += lines
        self.bytes += len(data)
