"""Live against replay: the acceptance figures of `bpaste live`, reproducibly, on this machine.

1. Measure this machine (`bpaste device calibrate --quick`, local stand-in LLM) unless --profile is given.
2. A synthetic research/analysis corpus (`bpaste synth`), ingested, mined, tuned for the calibrated
   profile; and the repository's sample traces, likewise: live vs replay for serial, paste, bpaste and
   the tuned policy (speedup with CI, saved seconds, and the ratio of live to replay saving).
3. Contention: the calibrated local-LLM profile with slots raised to oversubscribe the cores; B-PASTE
   vs PASTE live and in replay: does the arm replay prefers also win live?
4. Replay of the sample traces under built-in profiles and under the calibrated one.

Durations are time-scaled (--time-scale, default 0.02) so a run takes minutes; every figure is in
logged seconds. The machine may be shared: ratios (live / replay) matter more than absolute times.

    python bench/bench_live.py [--profile PROFILE.toml] [--sessions 8] [--time-scale 0.02] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bp(*argv: str, cwd: Path) -> dict:
    """One bpaste verb with --json, in `cwd`."""
    proc = subprocess.run([sys.executable, "-m", "bpaste_cli", *argv, "--json"], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if proc.returncode != 0:
        sys.exit(f"bpaste {' '.join(argv)} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
    return json.loads(proc.stdout)


def live_table(title: str, out: dict) -> None:
    print(f"\n== {title}: {out['sessions']} sessions, device {out['device']} (LLM {out['llm']}), time scale "
          f"{out['time_scale']:g}, {out['live_wall_s']:.0f} s wall; serial live / logged = {out['serial_vs_logged']:.4f}")
    print(f"{'arm':8} {'live speedup [CI]':26} {'replay speedup [CI]':26} {'saved live':>11} {'saved replay':>12} "
          f"{'live/replay':>11} {'hits l/r':>9}  gap term")
    for name, a in out["arms"].items():
        ratio = a["live_saved_s"] / a["replay_saved_s"] if abs(a["replay_saved_s"]) > 1e-9 else float("nan")
        d = a.get("disagreement") or {}
        term = d.get("responsible") or ("-" if name == "serial" else "none (within CI)")
        print(f"{name:8} {a['live_speedup']:.3f} [{a['live_ci'][0]:.3f}, {a['live_ci'][1]:.3f}]{'':5} "
              f"{a['replay_speedup']:.3f} [{a['replay_ci'][0]:.3f}, {a['replay_ci'][1]:.3f}]{'':5} "
              f"{a['live_saved_s']:10.1f}s {a['replay_saved_s']:11.1f}s {ratio:11.2f} {a['hits_live']:>4}/{a['hits_replay']:<4}  {term}")
        if d.get("differs"):
            terms = ", ".join(f"{k} {v:.2f}s" for k, v in d["terms_s"].items() if v is not None)
            print(f"{'':8} measured terms: {terms}")


def oversubscribed(profile: Path, slots: int, dst: Path) -> Path:
    """A copy of `profile` with `slots` speculative slots (the source says why)."""
    text = profile.read_text()
    doc = tomllib.loads(text)
    old = doc["speculation"]["slots"]["value"]
    lines = []
    for line in text.splitlines():
        if line.startswith("slots = "):
            line = f'slots = {{ value = {slots}, source = "bench_live: set to {slots} (measured {old})" }}'
        elif line.startswith("name = "):
            line = f'name = "{doc["name"]}-{slots}-slots"'
        lines.append(line)
    dst.write_text("\n".join(lines) + "\n")
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", type=Path, help="A device profile of this machine (default: calibrate one, --quick).")
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--time-scale", type=float, default=0.02)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--work", type=Path, help="Keep the intermediate files here (default: a temporary folder).")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-live-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    live_opts = ["--sessions", str(args.sessions), "--time-scale", str(args.time_scale), "--split", "all"]

    if args.profile is None:
        cal = bp("device", "calibrate", "-o", "this-box.toml", "--quick", "--llm", "local", cwd=work)
        profile = work / "this-box.toml"
        print(f"calibrated {cal['name']} on {cal['host']}: slots {cal['slots']} (per class {cal['slots_by_class']})")
    else:
        profile = args.profile.resolve()
    doc = tomllib.loads(profile.read_text())
    if doc["speculation"]["slots"]["value"] < 1:
        print(f"the calibration found no slack for speculation here now (slots 0); 2 slots so there is something to measure")
        profile = oversubscribed(profile, 2, work / "this-box-2-slots.toml")
        doc = tomllib.loads(profile.read_text())
    print(f"profile {profile.name}: slots {doc['speculation']['slots']['value']}; slowdown(k) of the LLM step:")
    for c, e in doc.get("interference_curve", {}).get("llm", {}).items():
        print(f"  beside {c} jobs: " + ", ".join(f"k={k} {s:.2f}" for k, s in zip(e["k"], e["slowdown"])))

    # the synthetic research/analysis workload
    bp("synth", "-o", "corpus", "--sessions", "60", "--seed", "7", "--archetype", "research,analysis", "--format", "native", cwd=work)
    bp("ingest", "corpus", "-o", "ds", cwd=work)
    bp("mine", "ds", "-o", "pat", cwd=work)
    bp("tune", "ds", "--patterns", "pat", "-o", "policy.json", "--trials", str(args.trials), "--device", str(profile), cwd=work)
    live_table("synthetic research/analysis", bp("live", "ds", "--policy", "policy.json", *live_opts, cwd=work))

    # the sample traces
    bp("ingest", str(REPO / "sample_traces"), "-o", "samples", cwd=work)
    bp("mine", "samples", "-o", "samples-pat", cwd=work)
    bp("tune", "samples", "--patterns", "samples-pat", "-o", "samples-policy.json", "--trials", str(args.trials),
       "--device", str(profile), cwd=work)
    live_table("sample traces", bp("live", "samples", "--policy", "samples-policy.json", *live_opts, cwd=work))

    # contention: a local-LLM profile with more slots than cores
    cores = os.cpu_count() or 2
    over = oversubscribed(profile, 4 * cores, work / "oversubscribed.toml")  # the tuned slots cap this
    bp("tune", "ds", "--patterns", "pat", "-o", "policy-over.json", "--trials", str(args.trials), "--device", str(over), cwd=work)
    out = bp("live", "ds", "--policy", "policy-over.json", "--device", str(over), *live_opts, cwd=work)
    live_table(f"contention ({4 * cores} slots on {cores} cores)", out)
    arms = out["arms"]
    prefer_replay = max(("paste", "bpaste"), key=lambda a: arms[a]["replay_speedup"])
    prefer_live = max(("paste", "bpaste"), key=lambda a: arms[a]["live_speedup"])
    print(f"replay prefers {prefer_replay}, live prefers {prefer_live}: "
          f"{'the same' if prefer_replay == prefer_live else 'they DISAGREE'}")

    # how the sample traces' replay figures move under the calibrated profile
    print("\n== replay of the sample traces by profile (speedup per arm, test split)")
    for device in ("laptop", "thor", str(profile)):
        r = bp("replay", "samples", "--patterns", "samples-pat", "--device", device, "--arm", "serial,paste,bpaste", cwd=work)
        print(f"{Path(device).stem:12} " + "  ".join(f"{a} {v['speedup']:.3f} (interference {v['interference_s']:.1f}s)"
                                               for a, v in r["arms"].items() if a != "serial"))
    print(f"\nbench_live took {time.perf_counter() - t0:.0f} s; files in {work}")


if __name__ == "__main__":
    main()
