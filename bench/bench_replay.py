"""Replay throughput: sessions per second per arm, on the timed real corpora and on synthetic sessions.

    .venv/bin/python bench/bench_replay.py                      # real corpora + 10,000 synthetic sessions
    .venv/bin/python bench/bench_replay.py --synthetic 100000   # 100k synthetic sessions

Each corpus is ingested into a temporary dataset, mined on its train split (the real predictor), then
every session is replayed under each arm on one core; the time covers the replay loop only (not
ingest, mining or the bootstrap). Reported per arm: cold sessions/s (first pass, every prediction
computed by the predictor) and warm sessions/s (median of --repeat further passes, predictions
cached as when `tune` replays the same sessions), with median per-session times. Targets per core: cold
`paste` >= 2,000 sessions/s and `bpaste` >= 1,000/s on coding sessions, warm `paste` >= 20,000/s. For the
synthetic corpus also the one-shot CLI replay (every arm, cold) with its wall time and peak memory (targets
for 20,000 sessions: < 20 s, < 1 GB), with one process and with --workers (target: >= 1.8x on 2 cores), the
two alternating for --repeat rounds (medians), and, for --workers 2, how much two one-process replays gain
side by side: the ceiling this machine sets on that ratio.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bpaste_cli.device import load_device  # noqa: E402
from bpaste_cli.gcpause import collection_paused  # noqa: E402
from bpaste_cli.ingest import IngestOptions, ingest  # noqa: E402
from bpaste_cli.mine import MineOptions, load_predictor, mine  # noqa: E402
from bpaste_cli.replay import ARMS, ReplayConfig, prepare_split, run_session  # noqa: E402
from bpaste_cli.safety import load_safety  # noqa: E402
from bpaste_cli.trace import load_dataset  # noqa: E402

REAL = ("claude-code-spotter", "codex-localpush", "openhands")


def bench_dataset(name: str, ds_dir: Path, work: Path, repeat: int, device: str) -> dict:
    ds = load_dataset(ds_dir)
    mine(ds, work / f"patterns-{name}", MineOptions())
    predictor = load_predictor(work / f"patterns-{name}")
    safety = load_safety()
    prepared = prepare_split(ds, "all", 0, safety)
    traces, skipped, stats = prepared.traces, prepared.skipped, prepared.stats
    dev = load_device(device)
    config = ReplayConfig()
    events = sum(len(t.nodes) for t in traces)
    row = {"sessions": len(traces), "events": events, "skipped": skipped, "arms": {}}
    for arm in ARMS:
        # cold: a freshly loaded predictor (every prediction computed); warm: its answers cached, as when
        # `tune` replays the same sessions again (replay.predictions)
        predictor = load_predictor(work / f"patterns-{name}")
        rates, per_session = [], []
        for _ in range(1 + repeat):
            t0 = time.perf_counter()
            with collection_paused():  # as `replay_traces` (replay, tune) runs sessions
                for tr in traces:
                    s0 = time.perf_counter()
                    run_session(tr, arm, dev, config, stats, safety, predictor)
                    per_session.append(time.perf_counter() - s0)
            rates.append(len(traces) / (time.perf_counter() - t0))
            if len(rates) == 1:
                cold_median = statistics.median(per_session)
                per_session = []
        warm = statistics.median(rates[1:]) if repeat else None
        row["arms"][arm] = {
            "cold_sessions_per_s": round(rates[0], 1),
            "cold_median_session_ms": round(cold_median * 1e3, 3),
            "warm_sessions_per_s": round(warm, 1) if warm else None,
            "warm_median_session_ms": round(statistics.median(per_session) * 1e3, 3) if per_session else None,
            "events_per_s_warm": round(warm * events / max(len(traces), 1)) if warm else None,
        }
        a = row["arms"][arm]
        print(f"{name:22} {arm:7} cold {rates[0]:9,.0f}/s (median {a['cold_median_session_ms']:.3f} ms)   "
              f"warm {warm or 0:9,.0f}/s (median {a['warm_median_session_ms'] or 0:.3f} ms)", flush=True)
    return row


PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def one_shot(ds_dir: Path, patterns: Path, device: str, workers: int = 1) -> dict:
    """`bpaste replay --split all --workers N` (every arm, cold) in a child process: its wall time and the peak
    RSS of the largest of its processes (the replay, or one of its workers)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *replay_command(ds_dir, patterns, device, "all", workers)],
                          check=True, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    return {"workers": workers, "wall_s": wall, "peak_rss_mb": round(int(done.stdout.split()[-1]) / 1024)}


def one_shots(ds_dir: Path, patterns: Path, device: str, workers: tuple[int, ...], repeat: int) -> list[dict]:
    """`one_shot` with each number of `workers` in turn, `repeat` rounds (a shared host drifts between runs, so
    the counts alternate and each figure is a median): per count its median wall time and largest peak RSS."""
    runs: dict[int, list[dict]] = {w: [] for w in workers}
    for _ in range(repeat):
        for w in workers:
            runs[w].append(one_shot(ds_dir, patterns, device, w))
    rows = []
    for w, done in runs.items():
        row = {"workers": w, "wall_s": round(statistics.median(r["wall_s"] for r in done), 1),
               "walls_s": [round(r["wall_s"], 2) for r in done], "peak_rss_mb": max(r["peak_rss_mb"] for r in done)}
        print(f"one-shot `bpaste replay --split all --workers {w}` (all arms): {row['wall_s']} s (median of {repeat}: "
              f"{', '.join(map(str, row['walls_s']))}), peak RSS {row['peak_rss_mb']} MB", flush=True)
        rows.append(row)
    return rows


def replay_command(ds_dir: Path, patterns: Path, device: str, split: str, workers: int) -> list[str]:
    """`bpaste replay` of one split with every arm, as this interpreter runs it."""
    return [sys.executable, "-m", "bpaste_cli", "replay", str(ds_dir), "--patterns", str(patterns), "--device", device,
            "--split", split, "--workers", str(workers), "--json"]


def two_at_once(ds_dir: Path, patterns: Path, device: str, repeat: int = 3) -> dict:
    """How much faster two one-process replays (of the test split) finish side by side than one after the other:
    the most any split of the work over two processes can gain on this machine (cores that share caches,
    memory bandwidth or a host with other tenants give less than 2x), against which `--workers 2` is judged.
    After one untimed run (the first one also warms the file cache), one alone and two side by side alternate
    `repeat` times; the medians are compared."""
    cmd = replay_command(ds_dir, patterns, device, "test", 1)
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    alone, both = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
        alone.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pair = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO) for _ in range(2)]
        if any(p.wait() for p in pair):
            raise SystemExit("a replay run side by side failed")
        both.append(time.perf_counter() - t0)
    a, b = statistics.median(alone), statistics.median(both)
    row = {"alone_s": round(a, 1), "two_at_once_s": round(b, 1), "ceiling": round(2 * a / b, 2)}
    print(f"two one-process test-split replays side by side: {row['two_at_once_s']} s against {row['alone_s']} s for "
          f"one (medians of {repeat}), {row['ceiling']:.2f}x the throughput (the most two processes gain here)", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=Path, default=REPO.parent / "shared" / "traces")
    ap.add_argument("--synthetic", type=int, default=10_000, help="Synthetic coding sessions (0: none).")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="thor")
    ap.add_argument("--workers", type=int, default=2, help="Also time the one-shot replay with this many processes.")
    ap.add_argument("--out", type=Path, default=None, help="Write the figures as JSON here.")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in REAL:
            src = args.traces / name
            if src.is_dir():
                ingest([str(src)], work / name, options=IngestOptions())
                results[name] = bench_dataset(name, work / name, work, args.repeat, args.device)
        if args.synthetic:
            from bpaste_cli.synth import generate, write

            write(generate(("coding",), sessions=args.synthetic, seed=0), work / "synth", ["native"])
            ingest([str(work / "synth" / "native")], work / "synth-ds", options=IngestOptions())
            results[f"synthetic-coding-{args.synthetic}"] = bench_dataset(
                f"synthetic-{args.synthetic}", work / "synth-ds", work, 1, args.device
            )
            shots = one_shots(work / "synth-ds", work / f"patterns-synthetic-{args.synthetic}", args.device,
                              tuple(sorted({1, args.workers})), args.repeat)
            results[f"synthetic-coding-{args.synthetic}"]["one_shot"] = shots
            if len(shots) > 1:
                rounds = ", ".join(f"{a / b:.2f}" for a, b in zip(shots[0]["walls_s"], shots[-1]["walls_s"]))
                print(f"--workers {args.workers}: {shots[0]['wall_s'] / shots[-1]['wall_s']:.2f}x the wall time of one "
                      f"process (ratio of the medians; round by round {rounds}x; the same figures: "
                      "tests/test_replay_workers.py)", flush=True)
                if args.workers == 2:
                    results[f"synthetic-coding-{args.synthetic}"]["two_at_once"] = two_at_once(
                        work / "synth-ds", work / f"patterns-synthetic-{args.synthetic}", args.device)
    if args.out:
        args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
