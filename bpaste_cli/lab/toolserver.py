"""The replay tool server: a logged session's tools, answering each call with its logged result after its
logged latency (time-scaled), so `bpaste live` can re-enact the session against real speculation.

A call is looked up by identity (tool + canonical arguments hash): it takes the first logged occurrence of
that identity it has not given out yet (a speculative call takes it as a real call would, and a real call
served from speculation never reaches the server, so each occurrence is answered once); a call the log
never made (a misprediction) takes the tool's typical latency and answers a placeholder — it is waste.
The latency is spent as the call's resource class spends it: CPU work for cpu-class tools (`Paced`:
fixed work sized to take the latency at the rate this machine gives it now, then a wait to the
deadline, so co-running jobs stretch it and nothing shortens it), a sleep for io and net. Every execution is recorded
(`Execution`) with its intended and actual duration, which is how live measures stretch and timer error.

In process, `ReplayToolServer.execute` is a Speculator's executor. `python -m bpaste_cli.lab.toolserver
SCRIPT.json` serves the same script as an MCP stdio server (newline-delimited JSON-RPC: initialize,
tools/list, tools/call, ping), the upstream `bpaste serve` is put in front of for `bpaste live --via-mcp`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any, Callable

import orjson

from bpaste_cli.lab.workloads import CpuBurn
from bpaste_cli.trace.canonical import args_hash, canonical_json

MISPREDICTED = "(bpaste live: the log has no such call; a speculative misprediction)"
_THREADS = 64  # CPU work runs on threads that release the GIL; enough that jobs never queue for a thread


@dataclass
class Execution:
    """One call the server executed: how long it was meant to take and how long it took (wall seconds)."""

    tool: str
    resource: str
    intended_s: float
    actual_s: float
    logged: bool  # the log has this call (a misprediction is not)
    real: bool | None  # an agent's real call (True), a speculative one (False), not known (None: behind MCP)

    @property
    def overrun_s(self) -> float:
        return max(0.0, self.actual_s - self.intended_s)


@dataclass
class Script:
    """What the server answers for one session: per identity, the logged (latency, result, status, resource)
    occurrences in order; per tool its typical latency and resource class (for mispredictions)."""

    calls: dict[str, list[tuple[float, str, str, str]]]
    typical_s: dict[str, float]
    resource: dict[str, str]
    default_s: float
    time_scale: float
    cpu_rate: float = 0.0  # CpuBurn blocks per second on this machine now (0: not measured yet)

    @staticmethod
    def key(tool: str, args: Any) -> str:
        return f"{tool}\x00{args_hash(canonical_json(args))}"

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @classmethod
    def from_json(cls, data: bytes) -> Script:
        doc = orjson.loads(data)
        doc["calls"] = {k: [tuple(o) for o in v] for k, v in doc["calls"].items()}
        return cls(**doc)


@dataclass
class ReplayToolServer:
    """Answers a session's calls from its log, spending each call's (scaled) latency as its class does."""

    script: Script
    executions: list[Execution] = field(default_factory=list)
    real_tasks: set | None = field(default_factory=set)  # the agent's real-call tasks (None: not known, behind MCP)
    _given: dict[str, int] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None

    def __post_init__(self) -> None:
        self.paced = Paced(CpuBurn.burn, self.script.cpu_rate)
        self.script.cpu_rate = self.paced.rate
        self._pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="bpaste-live-tool")

    def _next(self, tool: str, args: Any) -> tuple[float, str, str, str, bool]:
        key = Script.key(tool, args)
        seen = self.script.calls.get(key)
        if seen:
            i = self._given.get(key, 0)
            self._given[key] = i + 1
            lat, text, status, res = seen[min(i, len(seen) - 1)]
            return lat, text, status, res, True
        lat = self.script.typical_s.get(tool, self.script.default_s)
        return lat, MISPREDICTED, "ok", self.script.resource.get(tool, "net"), False

    async def execute(self, tool: str, args: Any) -> str:
        """One call (a Speculator's executor): its logged result text after its scaled latency."""
        return (await self.answer(tool, args))[0]

    async def answer(self, tool: str, args: Any) -> tuple[str, str]:
        """One call: (logged result text, logged status) after its scaled latency."""
        real = asyncio.current_task() in self.real_tasks if self.real_tasks is not None else None
        lat, text, status, resource, logged = self._next(tool, args)
        seconds = lat * self.script.time_scale
        t0 = time.perf_counter()
        if resource == "cpu":
            await asyncio.get_running_loop().run_in_executor(self._pool, self.paced.run, seconds)
        else:
            await asyncio.sleep(seconds)
        self.executions.append(Execution(tool, resource, seconds, time.perf_counter() - t0, logged, real))
        return text, status

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class Paced:
    """Fixed work that takes `seconds` at the rate this machine gives it now, then a wait to the deadline.

    A fixed amount of work is what co-running jobs stretch (a deadline alone would hide them); sizing it
    from the rate *now* (`measure`, median of short timed batches, taken again before each session so
    every arm of a session gets the same) keeps other programs' load from passing for interference.
    Nothing ends before its deadline."""

    def __init__(self, work: Callable[[int], None], rate: float = 0.0) -> None:
        self.work = work
        self.rate = rate if rate > 0 else self.measure(work)

    @staticmethod
    def measure(work: Callable[[int], None], batch_s: float = 0.04, repeats: int = 5) -> float:
        """Units per second of `work` now: the median of `repeats` batches of about `batch_s`."""
        def timed(n: int) -> float:
            t = time.perf_counter()
            work(n)
            return max(time.perf_counter() - t, 1e-9)

        n = 1
        while (t := timed(n)) < batch_s / 4 and n < 10**8:
            n *= 4
        n = max(1, round(n * batch_s / t))
        return median(n / timed(n) for _ in range(repeats))

    def run(self, seconds: float) -> None:
        t0 = time.perf_counter()
        if seconds > 0:
            self.work(max(1, round(self.rate * seconds)))
        left = seconds - (time.perf_counter() - t0)
        if left > 0:
            time.sleep(left)


# -- the MCP stdio server ----------------------------------------------------------------------------

async def _serve_stdio(server: ReplayToolServer) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    lock = asyncio.Lock()
    tools = sorted({k.split("\x00", 1)[0] for k in server.script.calls} | set(server.script.typical_s))
    pending: set[asyncio.Task] = set()

    async def send(msg: dict[str, Any]) -> None:
        async with lock:
            out.write(orjson.dumps(msg) + b"\n")
            out.flush()

    async def handle(msg: dict[str, Any]) -> None:
        rid, method, params = msg.get("id"), msg.get("method"), msg.get("params") or {}
        if rid is None:
            return  # a notification
        if method == "initialize":
            result: Any = {"protocolVersion": params.get("protocolVersion", "2025-06-18"), "capabilities": {"tools": {}},
                           "serverInfo": {"name": "bpaste-live-replay", "version": "1"}}
        elif method == "tools/list":
            result = {"tools": [{"name": t, "description": "a logged tool, replayed", "inputSchema": {"type": "object"}}
                                for t in tools]}
        elif method == "tools/call":
            text, status = await server.answer(params.get("name", ""), params.get("arguments") or {})
            result = {"content": [{"type": "text", "text": text}], "isError": status == "error"}
        elif method == "ping":
            result = {}
        else:
            await send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": f"no method {method}"}})
            return
        await send({"jsonrpc": "2.0", "id": rid, "result": result})

    while line := await reader.readline():
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        task = asyncio.create_task(handle(msg))
        pending.add(task)
        task.add_done_callback(pending.discard)
    for task in list(pending):
        task.cancel()


def main(argv: list[str]) -> None:
    """Serve the script at argv[0] over stdio until stdin closes; then write the executions to argv[1]."""
    server = ReplayToolServer(Script.from_json(Path(argv[0]).read_bytes()), real_tasks=None)
    try:
        asyncio.run(_serve_stdio(server))
    finally:
        server.close()
        if len(argv) > 1:
            Path(argv[1]).write_bytes(orjson.dumps([e.__dict__ for e in server.executions]))


if __name__ == "__main__":
    main(sys.argv[1:])
