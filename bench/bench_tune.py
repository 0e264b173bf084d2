"""Tuning cost and what tuning buys: wall time of `tune`, and tuned vs PASTE defaults vs serial on the test split.

    .venv/bin/python bench/bench_tune.py                       # everything below
    .venv/bin/python bench/bench_tune.py --skip-figures        # timings only

1. Wall time of --trials 100 --workers 2 on the bundled sample traces (target: < 5 min), end to end
   (study, trials, final replay with bootstrap, policy write; not ingest or mining).
2. Growth with the number of sessions: synthetic coding + research corpora of increasing size, --trials 20,
   one worker; seconds per trial against validation sessions.
3. Figures: for the sample traces and the timed real corpora (claude-code-spotter, codex-localpush,
   openhands) on thor and server: the tuned policy, PASTE's defaults and B-PASTE's defaults replayed on the
   TEST split (tuning saw only validation), with the speedup's 95% bootstrap CI.
Every corpus is ingested into a temporary folder and mined on its train split first.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bpaste_cli.errors import BpasteError  # noqa: E402
from bpaste_cli.ingest import IngestOptions, ingest  # noqa: E402
from bpaste_cli.mine import MineOptions, load_predictor, mine  # noqa: E402
from bpaste_cli.policy import replay_policy  # noqa: E402
from bpaste_cli.replay import ReplayConfig, replay  # noqa: E402
from bpaste_cli.tune import TuneOptions, tune  # noqa: E402

REAL = ("claude-code-spotter", "codex-localpush", "openhands")


def prepare_corpus(src: Path, work: Path, name: str) -> tuple[Path, Path]:
    ingest([str(src)], work / name, options=IngestOptions())
    mine(work / name, work / f"{name}-pat", MineOptions())
    return work / name, work / f"{name}-pat"


def timed_tune(ds: Path, pat: Path, out: Path, **options) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = tune(ds, pat, out, TuneOptions(**options))
    return time.perf_counter() - t0, result


def figures(ds: Path, pat: Path, work: Path, name: str, device: str, trials: int, workers: int) -> dict:
    secs, result = timed_tune(ds, pat, work / f"{name}-{device}.json", device=device, trials=trials, workers=workers)
    tuned = replay_policy(ds, work / f"{name}-{device}.json")
    base = replay(ds, load_predictor(pat), device=device, config=ReplayConfig(arms=("serial", "paste", "bpaste"), split="test"))
    arm = tuned["arm"]
    row = {
        "device": device, "tune_seconds": round(secs, 1), "trials": result.trials_complete,
        "validation_sessions": tuned["validation"]["sessions_replayed"], "test_sessions": tuned["test"]["sessions_replayed"],
        "tuned_arm": arm, "tuned_params": result.policy["parameters"],
        "tuned_validation": tuned["validation_speedup"],
        "tuned_test": tuned["test_speedup"], "tuned_test_ci95": tuned["test_speedup_ci95"],
        "paste_defaults_test": base.arms["paste"]["speedup"], "paste_defaults_test_ci95": base.arms["paste"]["speedup_ci95"],
        "bpaste_defaults_test": base.arms["bpaste"]["speedup"], "serial_test": base.arms["serial"]["speedup"],
        "tuned_test_amplification": tuned["test"]["arms"][arm]["amplification"],
    }
    print(f"{name:22} {device:7} tuned {row['tuned_test']:.4f}x [{row['tuned_test_ci95'][0]:.3f}, {row['tuned_test_ci95'][1]:.3f}] "
          f"({arm}, val {row['tuned_validation']:.4f}x)  paste-defaults {row['paste_defaults_test']:.4f}x  "
          f"bpaste-defaults {row['bpaste_defaults_test']:.4f}x  serial {row['serial_test']:.4f}x  "
          f"[{row['validation_sessions']} val / {row['test_sessions']} test sessions, tune {secs:.0f} s]", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=Path, default=REPO.parent / "shared" / "traces")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sizes", default="100,300,1000", help="Synthetic corpus sizes (sessions) for the growth curve.")
    ap.add_argument("--skip-figures", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="Write the figures as JSON here.")
    args = ap.parse_args()
    results: dict = {"growth": [], "figures": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ds, pat = prepare_corpus(REPO / "sample_traces", work, "sample")
        secs, result = timed_tune(ds, pat, work / "sample-wall.json", trials=args.trials, workers=args.workers)
        results["sample_wall"] = {"trials": result.trials_complete, "workers": args.workers, "seconds": round(secs, 1)}
        print(f"sample traces: {result.trials_complete} trials with {args.workers} workers in {secs:.1f} s "
              f"({secs / max(result.trials_complete, 1):.3f} s/trial)", flush=True)
        from bpaste_cli.synth import generate, write

        for n in (int(x) for x in args.sizes.split(",") if x):
            write(generate(("coding", "research"), sessions=n, seed=1), work / f"synth{n}", ["native"])
            sds, spat = prepare_corpus(work / f"synth{n}" / "native", work, f"synth{n}-ds")
            secs, r = timed_tune(sds, spat, work / f"synth{n}.json", trials=20, workers=1)
            val = r.policy["validation"]["sessions"]
            results["growth"].append({"sessions": n, "validation_sessions": val, "trials": 20, "seconds": round(secs, 2),
                                      "seconds_per_trial": round(secs / 20, 3)})
            print(f"synthetic {n:6} sessions ({val} validation): 20 trials in {secs:.1f} s ({secs / 20:.3f} s/trial)", flush=True)
        if not args.skip_figures:
            corpora = [("sample", ds, pat)]
            for name in REAL:
                if (args.traces / name).is_dir():
                    corpora.append((name, *prepare_corpus(args.traces / name, work, name)))
            for name, cds, cpat in corpora:
                for dev in ("thor", "server"):
                    try:
                        row = figures(cds, cpat, work, name, dev, args.trials, args.workers)
                    except BpasteError as exc:  # e.g. a corpus too small for a timed validation split
                        row = {"device": dev, "error": str(exc)}
                        print(f"{name:22} {dev:7} not tuned: {exc}", flush=True)
                    results["figures"].setdefault(name, []).append(row)
    if args.out:
        args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
