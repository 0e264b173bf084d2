"""Atomic writes: a reader of any bpaste output sees the old version or the new one, never half of one."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

import orjson

from bpaste_cli.errors import BpasteError

STALE_AFTER_S = 24 * 3600  # a temporary this old belongs to no running writer, whatever its pid says


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _stale(temp: Path, pid_at: int) -> bool:
    """Whether a temporary left beside an output belongs to no running writer: the pid in its name
    (part `pid_at` of the dot-and-dash-separated name) is dead, or it is older than `STALE_AFTER_S`
    (a pid can be reused), or its name has no pid (older bpaste)."""
    parts = temp.name.replace("-", ".").split(".")
    try:
        pid = int(parts[pid_at])
    except (IndexError, ValueError):
        pid = None
    try:
        age = time.time() - temp.lstat().st_mtime
    except FileNotFoundError:
        return False
    return pid is None or age > STALE_AFTER_S or (pid != os.getpid() and not _pid_alive(pid))


def _remove_stale(parent: Path, pattern: str, pid_at: int) -> None:
    for temp in parent.glob(pattern):
        if _stale(temp, pid_at):
            if temp.is_dir() and not temp.is_symlink():
                shutil.rmtree(temp, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename. The temporary
    is named `.name.<pid>.*.tmp`; the next write removes those of killed writers, never a running one's."""
    path = Path(path)
    _make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
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
    # `.name.<pid>.<random>.tmp`: the pid is the part right after the name's own parts
    _remove_stale(path.parent, f".{glob.escape(path.name)}.*.tmp", _name_parts(path.name) + 1)


def _name_parts(name: str) -> int:
    """How many parts `_stale` sees in a file name (it splits on dots and dashes)."""
    return len(name.replace("-", ".").split("."))


def _make_parent(path: Path) -> None:
    """Create the output's folder, or say in one sentence why it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BpasteError(
            f"Cannot create the folder {path.parent} for {path.name} ({exc.strerror}); choose an output path you can write to."
        ) from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise BpasteError(f"The folder {path.parent} is not writable, so {path.name} cannot be written there; choose another output path.")


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


def _aside_prefix(path: Path, role: str) -> str:
    """`.name.<role>-<pid>-`: what a writer's temporaries beside `path` are called."""
    return f".{path.name}.{role}-{os.getpid()}-"


def restore_interrupted(path: Path) -> None:
    """Put back the previous version of `path` that a run killed between the two renames of
    `atomic_directory` left aside (`.name.old-<pid>-*`); a running writer's copy is left alone."""
    path = Path(path)
    if path.exists():
        return
    at = _name_parts(path.name) + 2
    aside = [p for p in path.parent.glob(f".{glob.escape(path.name)}.old-*") if _stale(p, at)]
    aside.sort(key=lambda p: p.stat().st_mtime)
    if aside:
        with contextlib.suppress(OSError):  # another writer may put it back first
            os.replace(aside[-1], path)


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it replaces `path` whole, on failure it vanishes.

    The swap is two renames (old aside, new in place). A run killed between them leaves the previous
    version aside as `.name.old-<pid>-*`: the next write puts it back before it starts. Temporary
    directories (`.name.tmp-<pid>-*`) of killed runs are removed by the next successful write; those of
    writers still running are not.
    """
    path = Path(path)
    _make_parent(path)
    restore_interrupted(path)
    tmp = Path(tempfile.mkdtemp(prefix=_aside_prefix(path, "tmp"), dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=_aside_prefix(path, "old"), dir=path.parent))
        os.rmdir(old)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    at = _name_parts(path.name) + 2  # `.name.tmp-<pid>-<random>`: the pid follows the role
    for pattern in (f".{glob.escape(path.name)}.old-*", f".{glob.escape(path.name)}.tmp-*"):  # killed runs
        _remove_stale(path.parent, pattern, at)
