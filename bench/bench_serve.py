"""`bpaste serve` figures on a real mcp-server-sqlite (BPASTE_MCP_SQLITE, see tests/serve_support.py).

Prints: the latency the proxy adds per call on a pass-through, a miss and a hit (p50/p99 over direct
stdio; target < 1 ms p50 added); planning time per decision point; memory per open session; and the
wall-time saving of the scripted workload (list_tables -> describe_table -> a slow read_query, think
pauses between) with a policy tuned from the proxy's own log vs without it, paired over several runs
(the order alternates run by run so drift cancels). The slow query is a recursive count of 250 000 rows
(`serve_support.SLOW_QUERY`, ~0.15-0.3 s), so the upstream latency speculation can hide stands well
above the noise of process scheduling.

    BPASTE_MCP_SQLITE=.../mcp-server-sqlite python bench/bench_serve.py [--calls 300] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import serve_support as S  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def paired_calls(commands: dict[str, list[str]], tool: str, args: dict, n: int) -> dict[str, list[float]]:
    """Per command, `n` timed calls of `tool`, every command open at once and called in turn (the order rotating
    each round), so the machine's load drifts the same for all of them and per-round differences pair up."""
    from contextlib import AsyncExitStack

    names = list(commands)
    out: dict[str, list[float]] = {name: [] for name in names}
    async with AsyncExitStack() as stack:
        sessions = {name: await stack.enter_async_context(S.client(cmd)) for name, cmd in commands.items()}
        for s in sessions.values():
            for _ in range(5):
                await s.call_tool(tool, args)
        for i in range(n):
            for name in names[i % len(names):] + names[:i % len(names)]:
                t = time.perf_counter()
                await sessions[name].call_tool(tool, args)
                out[name].append(time.perf_counter() - t)
    return out


def bpaste(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "bpaste_cli", *args], cwd=cwd, env=S.env(), check=True, capture_output=True)


async def workload(db: Path, *options: str) -> tuple[float, float]:
    """(wall seconds of one scripted session, seconds of it spent waiting on tools)."""
    async with S.client(S.proxied([EXE, "--db-path", str(db)], *options)) as s:
        t = time.perf_counter()
        waits = await S.sqlite_session(s, 0.15)
        return time.perf_counter() - t, sum(w for _, _, w in waits)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    global EXE
    EXE = S.os.environ.get("BPASTE_MCP_SQLITE")
    if not EXE:
        sys.exit("set BPASTE_MCP_SQLITE to the mcp-server-sqlite executable (see tests/serve_support.py)")
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    (work / "safety.toml").write_text(S.SAFETY_TOML)
    db = work / "a.db"
    S.make_db(db, ["alpha", "zeta"])
    up = [EXE, "--db-path", str(db)]

    # the loop: log 16 sessions without a policy, ingest, mine, tune
    async def collect():
        for i in range(16):
            d = work / f"log{i}.db"
            S.make_db(d, [f"t{i % 3}", "zeta"])
            await workload(d, "--log", str(work / "run.jsonl"))
    asyncio.run(collect())
    bpaste("ingest", "run.jsonl", "-o", "ds.bpaste", cwd=work)
    bpaste("mine", "ds.bpaste", "-o", "patterns.bpaste", cwd=work)
    bpaste("tune", "ds.bpaste", "--patterns", "patterns.bpaste", "-o", "policy.json", "--trials", "12", "--safety", "safety.toml",
           "--device", "laptop", cwd=work)
    policy = str(work / "policy.json")
    import orjson

    params = orjson.loads((work / "policy.json").read_bytes())["parameters"]
    print(f"policy: {params['arm']}, slots {params['slots']}, " + ", ".join(f"{k} {v}" for k, v in params.items()
                                                                             if k not in ("arm", "slots", "allowed")))

    q = {"query": "SELECT * FROM alpha"}
    # a miss: a policy in place, but a call it never speculates (a query no pattern predicts)
    timed = asyncio.run(paired_calls({"direct": up, "pass": S.proxied(up),
                                      "miss": S.proxied(up, "--policy", policy, "--summary", str(work / "miss.json"))},
                                     "read_query", q, a.calls))
    direct, passthru, miss = timed["direct"], timed["pass"], timed["miss"]
    # a hit: the policy speculates describe_table(first table) after list_tables; time that call
    async def hits(command, n):
        out = []
        async with S.client(command) as s:
            for _ in range(n):
                await s.call_tool("list_tables", {})
                await asyncio.sleep(0.05)
                t = time.perf_counter()
                await s.call_tool("describe_table", {"table_name": "alpha"})
                out.append(time.perf_counter() - t)
        return out
    hit = asyncio.run(hits(S.proxied(up, "--policy", policy, "--summary", str(work / "hit.json")), a.calls // 3))
    direct_pair = asyncio.run(hits(up, a.calls // 3))
    print(f"per call, ms (p50 / p99) over {a.calls} calls of read_query, the three clients called in turn "
          f"(load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}):")
    for name, xs in (("direct stdio", direct), ("pass-through", passthru), ("miss (policy)", miss)):
        added = [x - d for x, d in zip(xs, direct)]
        print(f"  {name:15s} {pct(xs, .5) * 1e3:7.3f} / {pct(xs, .99) * 1e3:7.3f}   added p50 "
              f"{(pct(xs, .5) - pct(direct, .5)) * 1e3:+.3f} (median of paired differences {statistics.median(added) * 1e3:+.3f})")
    m = orjson.loads((work / "miss.json").read_bytes())
    print(f"  (the miss run: {m['speculative_starts']} speculative starts, {m['wasted_s'] * 1e3:.1f} ms of them wasted; "
          "mcp-server-sqlite runs its queries on its event loop one at a time, so a speculative call it is busy with "
          "delays the next real one)")
    print(f"  describe_table after list_tables: direct {pct(direct_pair, .5) * 1e3:.3f} / {pct(direct_pair, .99) * 1e3:.3f}, "
          f"through the policy {pct(hit, .5) * 1e3:.3f} / {pct(hit, .99) * 1e3:.3f}; summary "
          f"{(work / 'hit.json').read_text().replace(chr(10), ' ')}")

    # planning time per decision point and memory per open session, in process
    from bpaste_cli.mine import Event
    from bpaste_cli.trace.canonical import args_hash
    from bpaste_cli.policy import load_policy
    from bpaste_cli.runtime import Speculator

    async def in_process():
        spec = Speculator(load_policy(Path(policy)), lambda tool, args: asyncio.sleep(0, result={"content": []}))
        planner = spec.planner
        times = []
        for i in range(500):
            s = spec.session(f"s{i}")
            s.cursor.observe(Event("llm", step=0))
            s.cursor.observe(Event("tool", step=0, tool="list_tables", args_json="{}", args_hash=args_hash("{}"),
                                   result_text="[{'name': 'alpha'}, {'name': 'zeta'}]", status="ok"))
            t = time.perf_counter()
            planner.plan(s, spec.now())
            times.append(time.perf_counter() - t)
        await spec.close()
        # memory: sessions that have each seen one batch and planned (their cursor state and speculative jobs)
        spec = Speculator(load_policy(Path(policy)), lambda tool, args: asyncio.sleep(0, result={"content": []}))
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(1000):
            await spec.call(f"m{i}", "list_tables", {})
        await asyncio.sleep(0.05)  # the decision points plan, their speculative calls finish
        grown = sum(st.size_diff for st in tracemalloc.take_snapshot().compare_to(before, "filename"))
        tracemalloc.stop()
        await spec.close()
        # the Speculator's own cost per real call, without the proxy's process hop (no-op tool, with a run log)
        spec = Speculator(None, lambda tool, args: asyncio.sleep(0, result={"content": []}), log_path=work / "inproc.jsonl")
        t = time.perf_counter()
        for _ in range(3000):
            await spec.call("x", "read_query", q)
        own = (time.perf_counter() - t) / 3000
        await spec.close()
        return times, grown / 1000, own

    times, per_session, own = asyncio.run(in_process())
    print(f"planning per decision point: p50 {pct(times, .5) * 1e3:.3f} ms, p99 {pct(times, .99) * 1e3:.3f} ms "
          f"({len(times)} decision points)")
    print(f"memory per open session (one batch seen, planned): {per_session / 1024:.1f} KiB")
    print(f"Speculator.call in process, pass-through with a run log: {own * 1e3:.3f} ms per call")

    # paired wall time of the scripted workload, without and with the policy (order alternating)
    saved, waits = [], []
    for r in range(a.runs):
        d1, d2 = work / f"w{r}a.db", work / f"w{r}b.db"
        S.make_db(d1, ["t0", "zeta"])
        S.make_db(d2, ["t0", "zeta"])
        if r % 2 == 0:
            without = asyncio.run(workload(d1))
            with_p = asyncio.run(workload(d2, "--policy", policy))
        else:
            with_p = asyncio.run(workload(d2, "--policy", policy))
            without = asyncio.run(workload(d1))
        saved.append(without[0] - with_p[0])
        waits.append(without[1] - with_p[1])
        print(f"  run {r + 1}: wall {without[0] * 1e3:.1f} ms without, {with_p[0] * 1e3:.1f} ms with the policy "
              f"(tool wait {without[1] * 1e3:.1f} / {with_p[1] * 1e3:.1f} ms)")
    sd = statistics.stdev(saved) if len(saved) > 1 else 0.0
    print(f"workload wall-time saving with the policy: mean {statistics.mean(saved) * 1e3:.1f} ms per session "
          f"(sd {sd * 1e3:.1f}, min {min(saved) * 1e3:.1f}, max {max(saved) * 1e3:.1f}; tool wait saved "
          f"{statistics.mean(waits) * 1e3:.1f} ms; {a.runs} paired runs)")

if __name__ == "__main__":
    main()
