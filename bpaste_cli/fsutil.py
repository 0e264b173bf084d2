"""Atomic writes: a reader of any bpaste output sees the old version or the new one, never half of one."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import orjson

from bpaste_cli.errors import BpasteError


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename (the temporary
    files of killed runs are removed by the next successful write)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def check_replaceable(path: Path, kind: str, verb: str) -> None:
    """Refuse to replace a non-empty directory that is not a `kind` artifact (say `-o ~/project`): the
    atomic swap below would delete it whole."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BpasteError(f"{path} is a file; `bpaste {verb} -o` writes a directory, choose another -o path.")
    if not path.is_dir() or not any(path.iterdir()):
        return
    try:
        found = orjson.loads((path / "manifest.json").read_bytes()).get("kind")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        found = None
    if found != kind:
        what = f"a {found} artifact" if isinstance(found, str) else "files bpaste did not write"
        raise BpasteError(f"{path} already holds {what}, which `bpaste {verb} -o {path}` would delete; choose a new or empty directory.")


def restore_interrupted(path: Path) -> None:
    """Put back the previous version of `path` that a run killed between the two renames of
    `atomic_directory` left aside (`.name.old-*`)."""
    path = Path(path)
    if path.exists():
        return
    aside = sorted(path.parent.glob(f".{glob.escape(path.name)}.old-*"), key=lambda p: p.stat().st_mtime)
    if aside:
        os.replace(aside[-1], path)


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it replaces `path` whole, on failure it vanishes.

    The swap is two renames (old aside, new in place). A run killed between them leaves the previous
    version aside as `.name.old-*`: the next write puts it back before it starts. Temporary
    directories of killed runs are removed by the next successful write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    restore_interrupted(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.rmdir(old)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    for pattern in (f".{glob.escape(path.name)}.old-*", f".{glob.escape(path.name)}.tmp-*"):  # killed runs
        for stale in path.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
