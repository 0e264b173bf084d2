"""Ingest throughput and peak memory: every corpus in ../shared/traces, and synthetic corpora.

Run: python bench/bench_ingest.py [--size-mb 1000] [--repeats 3] [--corpus DIR] [--keep]
                                  [--formats claude-code,native,codex,chat,otlp]

The synthetic corpora (`bpaste synth`, seed 1) are made in each format of `--formats`, `--size-mb` each:
Claude Code's as many session files, native's and OTLP's as one file each (the worst case for memory).

Each measured ingest runs in a fresh subprocess, so its peak RSS is its own; the timing covers the
ingest call only (not Python's start-up and imports). Figures are medians over the repeats; MB/s per core = input MB / CPU s.
A bare orjson parse of the same files gives the ceiling a Python JSONL reader can reach.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "traces"


CHILD = """
import sys, time, resource, orjson
from bpaste_cli.ingest import IngestOptions, ingest
paths, out, keep = sys.argv[1:-2], sys.argv[-2], sys.argv[-1] == "1"
w0, c0 = time.perf_counter(), time.process_time()
r = ingest(paths, out, options=IngestOptions(keep_secrets=keep))
wall, cpu = time.perf_counter() - w0, time.process_time() - c0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(orjson.dumps({"wall": wall, "cpu": cpu, "rss_mb": rss, "events": r.events, "skipped": r.report.total}).decode())
"""


def run_ingest(paths: list[Path], out: Path, keep_secrets: bool) -> dict:
    """One ingest in a fresh child process (imports excluded from the timing): wall s, CPU s, peak RSS MB."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, paths), str(out), "1" if keep_secrets else "0"],
        capture_output=True,
        check=True,
        cwd=REPO,
    )
    return orjson.loads(proc.stdout)


def bare_parse_mb_s(files: list[Path]) -> float:
    """MB/s of orjson.loads over every line (the ceiling for a per-line Python reader)."""
    size = 0
    t0 = time.process_time()
    for f in files:
        with open(f, "rb") as fh:
            for line in fh:
                size += len(line)
                if line.strip():
                    try:
                        orjson.loads(line)
                    except orjson.JSONDecodeError:
                        pass
    return size / 1e6 / (time.process_time() - t0)


def measure(label: str, paths: list[Path], repeats: int, keep_secrets: bool, tmp: Path) -> dict:
    size = sum(f.stat().st_size for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
    runs = [run_ingest(paths, tmp / "ds", keep_secrets) for _ in range(repeats)]
    wall = statistics.median(r["wall"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    events = runs[0]["events"]
    row = {
        "corpus": label,
        "mb": size / 1e6,
        "events": events,
        "skipped": runs[0]["skipped"],
        "wall_s": wall,
        "mb_s_wall": size / 1e6 / wall,
        "mb_s_per_core": size / 1e6 / cpu,
        "events_s_per_core": events / cpu,
        "peak_rss_mb": max(r["rss_mb"] for r in runs),
    }
    print(
        f"{label:28s} {row['mb']:8.1f} MB {events:9d} ev  wall {wall:7.2f} s  "
        f"{row['mb_s_wall']:6.1f} MB/s wall  {row['mb_s_per_core']:6.1f} MB/s/core  "
        f"{row['events_s_per_core']:9.0f} ev/s/core  peak RSS {row['peak_rss_mb']:6.0f} MB",
        flush=True,
    )
    return row


def synthetic(fmt: str, size_mb: float, corpus: Path) -> list[Path]:
    """The files of a synthetic corpus in format `fmt` at `corpus`, generated first when it is empty."""
    files = sorted(f for f in corpus.rglob("*") if f.is_file()) if corpus.exists() else []
    if not files:
        print(f"\n== generating a {size_mb:.0f} MB synthetic {fmt} corpus in {corpus}")
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bpaste_cli", "synth", "-o", str(corpus), "--format", fmt,
             "--max-mb", str(size_mb), "--seed", "1", "--json"],
            check=True,
            capture_output=True,
            cwd=REPO,
        )
        print(f"generated in {time.perf_counter() - t0:.0f} s")
        files = sorted(f for f in corpus.rglob("*") if f.is_file())
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=1000.0, help="size of each synthetic corpus")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus", type=Path, help="reuse (or create) the synthetic Claude Code corpus here")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic corpora (in bench/out/)")
    parser.add_argument("--formats", default="claude-code", help="synthetic formats, comma-separated (of bpaste synth's)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bpaste-bench-"))
    try:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; medians of {args.repeats} runs")
        if SHARED.is_dir():
            print(f"\n== real traces in {SHARED}")
            for corpus in sorted(p for p in SHARED.iterdir() if p.is_dir()):
                measure(corpus.name, [corpus], args.repeats, False, tmp)
            measure("all real traces", [SHARED], args.repeats, False, tmp)
        else:
            print(f"(no real traces at {SHARED}; skipping them)")
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()] if args.size_mb > 0 else []:
            given = args.corpus if fmt == "claude-code" else None
            corpus = given or tmp / f"synthetic-{fmt}"
            files = synthetic(fmt, args.size_mb, corpus)
            print(f"\n== synthetic {fmt} corpus ({len(files)} files)")
            print(f"bare orjson parse of the same lines: {bare_parse_mb_s(files):.0f} MB/s per core")
            measure(f"synthetic {fmt}", [corpus], args.repeats, False, tmp)
            if fmt == "claude-code":
                measure("synthetic, --keep-secrets", [corpus], args.repeats, True, tmp)
            if args.keep and not given:
                kept = REPO / "bench" / "out" / f"synthetic-{fmt}"
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(kept, ignore_errors=True)
                shutil.move(str(corpus), kept)
                print(f"kept the corpus at {kept}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
