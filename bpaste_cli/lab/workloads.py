"""The lab's stand-in workloads: an "LLM" step and tool jobs of each resource class, sized in seconds.

`bpaste device calibrate` measures the device with them and `bpaste live` re-enacts logged sessions with
them, so the interference a profile records is the interference the lab produces. Each workload is
*fixed work* sized from a per-machine calibration to take a requested time when it runs alone: run
beside other jobs it takes longer, and that stretch is what is measured. Sizing takes the fastest of
several timings, the least disturbed estimate on a machine other programs share.

- `StandInLLM`: a CPU-bound stand-in for an on-device LLM decode step (not a language model).
- `RemoteLLM`: a sleep, the stand-in for an LLM served elsewhere (it shares nothing local).
- `CpuBurn`, `FileRead`, `Sleep`: tool jobs of the cpu, io and net classes.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

_BURN_BLOCK = bytes(range(256)) * 256  # 64 KiB: stays in cache, so burning stresses the core, not memory
_READ_CHUNK = 1 << 20


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


class StandInLLM:
    """A CPU-bound STAND-IN for one on-device LLM decode step: it is not a language model.

    Decoding a token streams the model's weights through memory once (a matrix-vector product), so on a
    CPU it stresses cores and memory bandwidth; this stand-in does exactly that: float32 matrix-vector
    products over a random weight matrix larger than the caches (`weights_mb`), on `threads` BLAS threads.
    `calibrate()` times one pass alone on this machine; `step(seconds)` then runs the passes that take
    `seconds` alone. It says nothing about a GPU-served model, whose contention is not measured here.
    """

    def __init__(self, weights_mb: int = 64, threads: int = 1, seed: int = 0) -> None:
        side = int((weights_mb * 2**20 / 4) ** 0.5)
        rng = np.random.default_rng(seed)
        self.weights = rng.standard_normal((side, side), dtype=np.float32)
        self.x = rng.standard_normal(side, dtype=np.float32)
        self.threads = threads
        self.pass_s = 0.0

    @property
    def bytes_per_pass(self) -> int:
        return self.weights.nbytes

    def passes(self, n: int) -> None:
        with threadpool_limits(self.threads):
            x = self.x
            for _ in range(n):
                y = self.weights @ x
                x = y * (1.0 / (float(np.abs(y).max()) or 1.0))  # keep values bounded, as a norm layer does

    def calibrate(self, repeats: int = 9, batch_s: float = 0.03) -> StandInLLM:
        """Time one pass alone (fastest of `repeats` batches of ~`batch_s`, after a warm-up); returns self."""
        batch = max(1, round(batch_s / _timed(self.passes, 2) * 2))
        self.pass_s = min(_timed(self.passes, batch) / batch for _ in range(repeats))
        return self

    def passes_for(self, seconds: float) -> int:
        if self.pass_s <= 0:
            raise RuntimeError("StandInLLM.calibrate() must run before step()")
        return max(1, round(seconds / self.pass_s))

    def step(self, seconds: float) -> None:
        """The work that takes `seconds` alone on this machine."""
        self.passes(self.passes_for(seconds))

    def bandwidth_gbs(self) -> float:
        """Weight bytes streamed per second alone (a lower bound on the memory bus for `threads` threads)."""
        return self.bytes_per_pass / self.pass_s / 1e9


class RemoteLLM:
    """The stand-in for an LLM served elsewhere: the step is a sleep, sharing no local core or bus."""

    def step(self, seconds: float) -> None:
        time.sleep(seconds)


class CpuBurn:
    """A cpu-class tool job: SHA-256 over a cache-resident block, `rate` blocks per second alone."""

    resource = "cpu"

    def __init__(self) -> None:
        self.rate = 0.0

    @staticmethod
    def burn(blocks: int) -> None:
        h = hashlib.sha256()
        for _ in range(blocks):
            h.update(_BURN_BLOCK)

    def calibrate(self, repeats: int = 9, blocks: int = 200) -> CpuBurn:
        self.burn(blocks)
        self.rate = blocks / min(_timed(self.burn, blocks) for _ in range(repeats))
        return self

    def run(self, seconds: float) -> None:
        self.burn(max(1, round(seconds * self.rate)))


class FileRead:
    """An io-class tool job: read a scratch file from storage in 1 MiB chunks.

    Before each pass the file's cached pages are dropped (`posix_fadvise(DONTNEED)`, where the OS has it),
    so reads go to the device rather than to memory; on a RAM-backed folder (tmpfs) they cannot, and the
    job stresses memory copies instead: point `folder` at the storage the tools really read.
    """

    resource = "io"

    def __init__(self, folder: Path, name: str = "read", size_mb: int = 16) -> None:
        self.path = Path(folder) / f"bpaste-lab-{name}-{os.getpid()}.bin"
        self.size = size_mb * 2**20
        self.rate = 0.0  # bytes per second alone
        self._offset = 0
        self._create()

    def _create(self) -> None:
        block = np.random.default_rng(0).integers(0, 256, _READ_CHUNK, dtype=np.uint8).tobytes()
        with open(self.path, "wb") as fh:
            for _ in range(self.size // _READ_CHUNK):
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())

    def read(self, nbytes: int) -> None:
        """Read `nbytes`, wrapping around the file; each wrap starts from cold pages."""
        with open(self.path, "rb", buffering=0) as fh:
            left = nbytes
            while left > 0:
                if self._offset == 0 and hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                fh.seek(self._offset)
                got = len(fh.read(min(_READ_CHUNK, left, self.size - self._offset)))
                left -= got
                self._offset = (self._offset + got) % self.size

    def calibrate(self, repeats: int = 5) -> FileRead:
        """Time whole cold passes over the file (fastest of `repeats`, after a warm-up); returns self."""
        self.read(self.size)
        self.rate = self.size / min(_timed(self.read, self.size) for _ in range(repeats))
        return self

    def run(self, seconds: float) -> None:
        self.read(max(_READ_CHUNK, round(seconds * self.rate)))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class Sleep:
    """A net-class tool job: waiting on a remote service, which occupies no local resource but a timer."""

    resource = "net"

    @staticmethod
    def run(seconds: float) -> None:
        time.sleep(seconds)
