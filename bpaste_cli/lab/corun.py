"""Co-running speculative jobs: worker processes that run tool jobs of one resource class back to back.

Processes, not threads, so cpu jobs really compete for cores with the authoritative work (no shared
interpreter lock). Each worker idles until asked, then runs its class's job in short chunks until told to
stop, so `run(resource, k)` holds exactly k concurrent jobs for as long as a measurement lasts. Workers
leave when the pool closes or their parent is gone, and remove their scratch file.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

from bpaste_cli.errors import BpasteError
from bpaste_cli.lab.workloads import CpuBurn, FileRead, Sleep

RESOURCES = ("cpu", "io", "net")
_START_TIMEOUT_S = 120.0  # spawning a worker and writing its scratch file on a slow, loaded machine


def _worker(index: int, folder: str, resource, run, busy, quit_, parent: int) -> None:
    reader: FileRead | None = None
    try:
        while not quit_.is_set() and os.getppid() == parent:
            if not run.wait(0.05):
                continue
            kind = RESOURCES[resource.value]
            if kind == "io" and reader is None:
                reader = FileRead(Path(folder), f"w{index}")
            busy.set()
            while run.is_set() and os.getppid() == parent:
                if kind == "cpu":
                    CpuBurn.burn(16)  # ~ a few ms between checks of the flag
                elif kind == "io":
                    reader.read(1 << 20)
                else:
                    Sleep.run(0.005)
            busy.clear()
    finally:
        if reader is not None:
            reader.remove()


class CoRunners:
    """Up to `size` worker processes; `run(resource, k)` starts k concurrent jobs, `stop()` ends them."""

    def __init__(self, size: int, folder: Path) -> None:
        self._folder = folder
        ctx = mp.get_context("spawn")  # no fork of a process that may hold threads (servers, progress bars)
        self._resource = ctx.Value("i", 0)
        self._quit = ctx.Event()
        self._run = [ctx.Event() for _ in range(size)]
        self._busy = [ctx.Event() for _ in range(size)]
        self._procs = [
            ctx.Process(target=_worker, args=(i, str(folder), self._resource, self._run[i], self._busy[i], self._quit,
                                              os.getpid()), daemon=True, name=f"bpaste-corun-{i}")
            for i in range(size)
        ]

    def __enter__(self) -> CoRunners:
        for p in self._procs:
            p.start()
        return self

    def __exit__(self, *exc) -> None:
        self._quit.set()
        for r in self._run:
            r.clear()
        for p in self._procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)

    def _wait(self, events, state: bool) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        for e, p in events:
            while e.is_set() != state:
                if not p.is_alive():
                    raise BpasteError(f"A co-running job ({p.name}) stopped with status {p.exitcode}; check that "
                                      f"{self._folder} is writable with 16 MB free per job (--scratch-dir), then run again.")
                if time.monotonic() > deadline:
                    raise BpasteError(f"A co-running job ({p.name}) did not {'start' if state else 'stop'} within "
                                      f"{_START_TIMEOUT_S:g} s; the machine is overloaded, run again when it is quieter.")
                time.sleep(0.002)

    def run(self, resource: str, k: int) -> None:
        """Hold k concurrent jobs of `resource` running; returns once all k are under way."""
        self.stop()
        self._resource.value = RESOURCES.index(resource)
        for r in self._run[:k]:
            r.set()
        self._wait(zip(self._busy[:k], self._procs[:k]), True)

    def stop(self) -> None:
        """End every job; returns once all workers idle."""
        for r in self._run:
            r.clear()
        self._wait(zip(self._busy, self._procs), False)
