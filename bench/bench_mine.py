"""Benchmark `bpaste mine`: mining time and memory on ~1M synthetic events, predictor latency percentiles.

    .venv/bin/python bench/bench_mine.py [--sessions 42000] [--cache /tmp/bpaste-bench-mine] \
        [--logs sample_traces ../shared/traces/tau-bench]

The corpus comes from `bpaste_cli.synth` (coding, research and analysis agents; ~23 events per
session, so 42,000 sessions ~ 1M events), written as native JSONL and ingested once into the cache
folder (reused on later runs). Mining time is wall and CPU time of `mine_predictor` on every session
(peak RSS reported by the OS). Latency is per decision on held-out sessions: observe() of the events
since the previous decision plus predict(5), through the public cursor, over a table mined from
>= 100k calls; reported as wall time and as the thread's CPU time (on a shared machine the wall
tail is mostly other processes taking the core). Target: p50 <= 50 us, p99 <= 0.5 ms.
With `--logs`, each folder of agent logs is ingested into the cache and a whole `mine()` (mining,
the back-off choice, calibration folds, test evaluation) is timed on it, wall and CPU.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

from bpaste_cli.ingest import ingest
from bpaste_cli.mine.api import Event
from bpaste_cli.mine.patterns import MineOptions, Rows, mine_predictor
from bpaste_cli.mine.run import mine
from bpaste_cli.split import select_split
from bpaste_cli.synth import ARCHETYPES, generate, write
from bpaste_cli.trace import load_dataset


def corpus(cache: Path, sessions: int) -> Path:
    ds = cache / f"dataset-{sessions}"
    if not (ds / "manifest.json").exists():
        logs = cache / f"logs-{sessions}"
        write(generate(ARCHETYPES, sessions=sessions, seed=1), logs, ["native"])
        ingest([str(logs / "native")], ds)
    return ds


def latencies(predictor, rows: Rows, limit: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each decision (observe the events since the last one, then predict(5))."""
    r = rows
    out: list[float] = []
    cpu: list[float] = []
    for lo, hi in rows.sessions:
        cur = predictor.cursor()
        pending: list[Event] = []
        for i in range(lo, hi):
            kind = r.kind[i]
            if kind == "llm":
                t, c = time.perf_counter(), time.thread_time()
                for e in pending:
                    cur.observe(e)
                cur.predict(5)
                out.append(time.perf_counter() - t)
                cpu.append(time.thread_time() - c)
                pending = [Event("llm", step=r.step[i])]
            elif kind == "tool":
                pending.append(Event("tool", r.step[i], r.tool[i], r.args_json[i], r.args_hash[i], r.result_text[i], None, r.status[i]))
            else:
                pending.append(Event("user", text=r.text[i]))
        if len(out) >= limit:
            break
    return out, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=42_000)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bpaste-bench-mine"))
    ap.add_argument("--decisions", type=int, default=20_000, help="decisions timed for latency")
    ap.add_argument("--logs", type=Path, nargs="*", default=[], help="folders of agent logs to time a whole mine() on")
    a = ap.parse_args()
    for logs in a.logs:
        ds = a.cache / f"logs-dataset-{logs.resolve().name}"
        if not (ds / "manifest.json").exists():
            ingest([str(logs)], ds)
        t, c = time.perf_counter(), time.process_time()
        r = mine(load_dataset(ds))
        print(f"mine() on {logs.name}: wall {time.perf_counter() - t:.2f} s, cpu {time.process_time() - c:.2f} s "
              f"({r.summary['train']['calls']} training calls, {r.summary['rules']} rules)")
    ds = load_dataset(corpus(a.cache, a.sessions))
    print(f"corpus: {ds.sessions.height} sessions, {ds.events.height} events, "
          f"{int((ds.events['kind'] == 'tool').sum())} tool calls")
    ids = ds.sessions["session_id"].to_list()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, c = time.perf_counter(), time.process_time()
    predictor, _, totals = mine_predictor(ds.events, ids, MineOptions())
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"mine all sessions: wall {wall:.2f} s, cpu {cpu:.2f} s, peak RSS {rss / 1024:.0f} MB "
          f"(+{(rss - rss0) / 1024:.0f} MB while mining); {totals}; "
          f"{len(predictor.tables['rules']['tool'])} rules, {len(predictor.control)} contexts")
    train = select_split(ds.sessions, "train")
    predictor, _, totals = mine_predictor(ds.events, train, MineOptions())
    test = Rows(ds.events, select_split(ds.sessions, "test"))
    wall, cpu = latencies(predictor, test, a.decisions)
    print(f"latency per decision (observe + predict(5)) on a table mined from {totals['calls']} calls, "
          f"{len(wall)} decisions:")
    for name, lat in (("wall", sorted(wall)), ("cpu", sorted(cpu))):
        q = statistics.quantiles(lat, n=100)
        print(f"  {name:4}  p50 {q[49] * 1e6:6.1f} us, p90 {q[89] * 1e6:6.1f} us, p99 {q[98] * 1e6:7.1f} us, "
              f"max {lat[-1] * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
