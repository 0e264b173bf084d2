"""Live against replay: the acceptance figures of `bpaste live`, reproducibly, on this machine, by one command.

    python bench/bench_live.py --acceptance          # the whole acceptance (about 20 minutes)
    python bench/bench_live.py [--profile PROFILE.toml] [--sessions 8] [--time-scale 0.02] [--work DIR]

1. Measure this machine (`bpaste device calibrate`, local stand-in LLM; --quick unless --acceptance)
   unless --profile is given.
2. The workload where speculation pays: a synthetic research corpus (`bpaste synth --archetype research
   --think-scale 0.7 --latency-scale 3 --top-pick 0.95`: slow, predictable net-class tools), ingested,
   mined and tuned for the calibrated profile with its net-class slots; then live vs replay for serial,
   paste, bpaste and the tuned policy (speedup with CI, saved seconds, live/replay saving, hits). The
   same for the repository's sample traces.
3. Serial against the log: where serial live's excess over the logged time goes (the CPU stand-in
   running late on a busy machine, timer overshoot, planning), and serial on a remote-LLM copy of the
   profile (sleeps only) for the lab's own overhead without CPU contention.
4. Contention: research + analysis sessions whose SQL runs on this machine (cpu-class), a local-LLM
   profile with 4 slots per core; B-PASTE (interference budget, fast path) vs PASTE, live and in replay:
   does the arm replay prefers also win live?
5. Replay of the sample traces under built-in profiles and under the calibrated one.

Every live figure is printed beside the machine's 1-minute load average before and after it. Durations
are time-scaled (--time-scale, default 0.02) so a run takes minutes; every figure is in logged seconds.
On a shared machine the ratios (live / replay, arm / serial, paired per session) matter more than
absolute times.
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
    """The side-by-side table of one `bpaste live --json` result, the load average beside it."""
    load = "/".join(f"{x:.1f}" for x in out.get("load_average", []) if x is not None)
    print(f"\n== {title}: {out['sessions']} sessions, device {out['device']} (LLM {out['llm']}), time scale "
          f"{out['time_scale']:g}, {out['live_wall_s']:.0f} s wall, load average {load} (before/after) on "
          f"{out['cpu_cores']} cores")
    print(f"serial live / logged = {out['serial_vs_logged']:.4f} (logged agent time {out['logged_agent_time_s']:.0f} s)")
    print(f"{'arm':8} {'live speedup [CI]':26} {'replay speedup [CI]':26} {'saved live':>11} {'saved replay':>12} "
          f"{'live/replay':>11} {'±10%':>5} {'hits l/r':>9}  gap term")
    for name, a in out["arms"].items():
        ratio = a["live_saved_s"] / a["replay_saved_s"] if abs(a["replay_saved_s"]) > 1e-9 else float("nan")
        d = a.get("disagreement") or {}
        term = d.get("responsible") or ("-" if name == "serial" else "none (within CI)")
        ok = "-" if name == "serial" else ("yes" if abs(ratio - 1) <= 0.10 else "no")
        print(f"{name:8} {a['live_speedup']:.3f} [{a['live_ci'][0]:.3f}, {a['live_ci'][1]:.3f}]{'':5} "
              f"{a['replay_speedup']:.3f} [{a['replay_ci'][0]:.3f}, {a['replay_ci'][1]:.3f}]{'':5} "
              f"{a['live_saved_s']:10.1f}s {a['replay_saved_s']:11.1f}s {ratio:11.2f} {ok:>5} "
              f"{a['hits_live']:>4}/{a['hits_replay']:<4}  {term}")
        if d.get("differs"):
            terms = ", ".join(f"{k} {v:.2f}s" for k, v in d["terms_s"].items() if v is not None)
            print(f"{'':8} measured terms: {terms}")


def serial_excess(out: dict) -> None:
    """Where serial live's time beyond the log went (logged seconds, and as a share of the logged time)."""
    logged = out["logged_agent_time_s"]
    m = out["arms"]["serial"]["measured"]
    excess = out["arms"]["serial"]["live_agent_time_s"] - logged
    t = out["timer"]
    print(f"serial excess {excess:+.1f} s ({excess / logged:+.2%} of logged): CPU stand-in late "
          f"{m['think_stretch_s']:.1f} s ({m['think_stretch_s'] / logged:.2%}), CPU tools late {m['tool_stretch_s']:.1f} s, "
          f"timer/scheduling {m['timer_s']:.1f} s ({m['timer_s'] / logged:.2%}), rest "
          f"{excess - m['think_stretch_s'] - m['tool_stretch_s'] - m['timer_s']:+.1f} s; a 2 ms asyncio sleep wakes "
          f"{t['asyncio_sleep_late_median_s'] * 1e3:.2f} ms late (median), {t['asyncio_sleep_late_max_s'] * 1e3:.1f} ms (worst)")
    policy = out["arms"].get("policy", {}).get("measured", {})
    if policy.get("planning_s") is not None and policy.get("decision_points"):
        print(f"policy planning: {policy['planning_s'] * out['time_scale'] / policy['decision_points'] * 1e3:.2f} ms wall "
              f"per decision point ({policy['decision_points']} points)")


def variant(profile: Path, dst: Path, *, slots: int | None = None, remote: bool = False, why: str = "") -> Path:
    """A copy of `profile` with `slots` speculative slots and/or a remote LLM (each source says why)."""
    text = profile.read_text()
    doc = tomllib.loads(text)
    old = doc["speculation"]["slots"]["value"]
    suffix = (f"-{slots}-slots" if slots is not None else "") + ("-remote-llm" if remote else "")
    lines = []
    for line in text.splitlines():
        if slots is not None and line.startswith("slots = "):
            line = f'slots = {{ value = {slots}, source = "bench_live: set to {slots} {why}(calibrated: {old})" }}'
        elif remote and line.startswith("llm_local = "):
            line = 'llm_local = { value = 0, source = "bench_live: a remote LLM (a sleep), to time the lab without CPU contention" }'
        elif line.startswith("name = "):
            line = f'name = "{doc["name"]}{suffix}"'
        lines.append(line)
    dst.write_text("\n".join(lines) + "\n")
    return dst


# analysis tools: read-only SQL on a database on this machine (cpu-class: it competes with a local LLM)
LOCAL_SQL_SAFETY = """[tools]
list_tables = { safety = "read-only", resource = "cpu" }
describe_table = { safety = "read-only", resource = "cpu" }
run_sql = { safety = "read-only", resource = "cpu" }
plot = { safety = "idempotent", resource = "cpu" }
"""


def class_slots(doc: dict, resource: str, tolerance: float = 0.10) -> int:
    """The largest measured k whose slowdown of every target beside `resource` jobs stays within 1 + tolerance
    (the calibration's rule for slots, for one class), from the profile's curves; 0 if none."""
    curves = [by[resource] for by in doc.get("interference_curve", {}).values() if resource in by]
    best = 0
    for k in sorted({k for c in curves for k in c["k"]}):
        if all(s <= 1 + tolerance for c in curves for kk, s in zip(c["k"], c["slowdown"]) if kk <= k):
            best = k
    return best


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--acceptance", action="store_true",
                    help="The whole acceptance: a full calibration, 16 sessions per live table, 24 tuning trials.")
    ap.add_argument("--profile", type=Path, help="A device profile of this machine (default: calibrate one).")
    ap.add_argument("--sessions", type=int, help="Sessions per live table (default 8; 16 with --acceptance).")
    ap.add_argument("--time-scale", type=float, default=0.02)
    ap.add_argument("--trials", type=int, help="Tuning trials (default 8; 24 with --acceptance).")
    ap.add_argument("--work", type=Path, help="Keep the intermediate files here (default: a temporary folder).")
    args = ap.parse_args()
    sessions = args.sessions or (16 if args.acceptance else 8)
    trials = str(args.trials or (24 if args.acceptance else 8))
    work = (args.work or Path(tempfile.mkdtemp(prefix="bench-live-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    live_opts = ["--sessions", str(sessions), "--time-scale", str(args.time_scale), "--split", "all"]
    print(f"bench_live: {sessions} sessions per table, time scale {args.time_scale:g}, {trials} tuning trials; "
          f"load average {load()} on {os.cpu_count()} cores")

    # 1. the profile of this machine
    if args.profile is None:
        quick = [] if args.acceptance else ["--quick"]
        cal = bp("device", "calibrate", "-o", "this-box.toml", *quick, "--llm", "local", cwd=work)
        profile = work / "this-box.toml"
        print(f"calibrated {cal['name']} on {cal['host']} ({'full' if args.acceptance else 'quick'}, {cal['seconds']:.0f} s, "
              f"load average after {load()}): slots {cal['slots']} (per class {cal['slots_by_class']})")
    else:
        profile = args.profile.resolve()
    doc = tomllib.loads(profile.read_text())
    print(f"profile {profile.name}: slots {doc['speculation']['slots']['value']}; slowdown(k):")
    for target, by in doc.get("interference_curve", {}).items():
        for c, e in by.items():
            print(f"  {target:4} beside {c} jobs: " + ", ".join(f"k={k} {s:.2f}" for k, s in zip(e["k"], e["slowdown"])))
    net_slots = class_slots(doc, "net") or 2
    net_profile = variant(profile, work / "this-box-net.toml", slots=net_slots,
                          why="(the net class's calibrated slots: the workload's tools are all net-class) ")
    (work / "local-sql.toml").write_text(LOCAL_SQL_SAFETY)

    # 2. the workload where speculation pays, and the sample traces
    bp("synth", "-o", "corpus", "--sessions", "300", "--seed", "7", "--archetype", "research", "--think-scale", "0.7",
       "--latency-scale", "3", "--top-pick", "0.95", "--format", "native", cwd=work)
    bp("ingest", "corpus", "-o", "ds", cwd=work)
    bp("mine", "ds", "-o", "pat", cwd=work)
    tuned = bp("tune", "ds", "--patterns", "pat", "-o", "policy.json", "--trials", trials, "--device", str(net_profile), cwd=work)
    v = tuned["validation"]["policy"]
    print(f"\ntuned for {net_profile.name}: {tuned['parameters']}\nreplay on the validation split: speedup "
          f"{v['speedup']:.3f} [{v['speedup_ci95'][0]:.3f}, {v['speedup_ci95'][1]:.3f}], saving "
          f"{1 - v['agent_time_s'] / v['serial_agent_time_s']:.1%} of the serial agent time")
    research = bp("live", "ds", "--policy", "policy.json", *live_opts, cwd=work)
    live_table("synthetic research (slow, predictable net tools)", research)
    serial_excess(research)

    bp("ingest", str(REPO / "sample_traces"), "-o", "samples", cwd=work)
    bp("mine", "samples", "-o", "samples-pat", cwd=work)
    samples_profile = profile
    if doc["speculation"]["slots"]["value"] < 1:
        print("the calibration found no slack for speculation of every class here now (slots 0): the sample traces "
              "get 2 slots so there is something to measure")
        samples_profile = variant(profile, work / "this-box-2-slots.toml", slots=2, why="(there is something to measure) ")
    bp("tune", "samples", "--patterns", "samples-pat", "-o", "samples-policy.json", "--trials", trials,
       "--device", str(samples_profile), cwd=work)
    samples = bp("live", "samples", "--policy", "samples-policy.json", *live_opts, cwd=work)
    live_table("sample traces", samples)
    serial_excess(samples)

    # 3. serial against the log without CPU contention: the same sessions, a remote LLM (sleeps)
    remote = variant(net_profile, work / "this-box-remote.toml", remote=True)
    out = bp("live", "ds", "--policy", "policy.json", "--device", str(remote), "--arm", "", *live_opts, cwd=work)
    live_table("synthetic research, remote-LLM copy of the profile (sleeps: the lab's own overhead)", out)
    serial_excess(out)

    # 4. contention: a local LLM, cpu-class tools, more slots than cores
    cores = os.cpu_count() or 2
    over = variant(profile, work / "oversubscribed.toml", slots=4 * cores, why=f"(4 per core on {cores} cores, to oversubscribe) ")
    bp("synth", "-o", "mixed", "--sessions", "300", "--seed", "8", "--archetype", "research,analysis", "--think-scale", "0.7",
       "--latency-scale", "3", "--top-pick", "0.95", "--format", "native", cwd=work)
    bp("ingest", "mixed", "-o", "mixed-ds", cwd=work)
    bp("mine", "mixed-ds", "-o", "mixed-pat", cwd=work)
    bp("tune", "mixed-ds", "--patterns", "mixed-pat", "-o", "policy-over.json", "--trials", trials, "--device", str(over),
       "--safety", "local-sql.toml", cwd=work)
    out = bp("live", "mixed-ds", "--policy", "policy-over.json", "--device", str(over), "--safety", "local-sql.toml",
             *live_opts, cwd=work)
    live_table(f"contention: research + local SQL (cpu-class), {4 * cores} slots on {cores} cores", out)
    arms = out["arms"]
    prefer_replay = max(("paste", "bpaste"), key=lambda a: arms[a]["replay_speedup"])
    prefer_live = max(("paste", "bpaste"), key=lambda a: arms[a]["live_speedup"])
    print(f"replay prefers {prefer_replay}, live prefers {prefer_live}: "
          f"{'the same' if prefer_replay == prefer_live else 'they DISAGREE'}; interference live/replay: "
          + ", ".join(f"{a} {arms[a]['interference_live_s']:.1f}/{arms[a]['interference_replay_s']:.1f} s" for a in arms if a != "serial"))

    # 5. how the sample traces' replay figures move under the calibrated profile
    print("\n== replay of the sample traces by profile (speedup per arm, test split)")
    for device in dict.fromkeys(("laptop", "thor", str(profile), str(samples_profile))):
        r = bp("replay", "samples", "--patterns", "samples-pat", "--device", device, "--arm", "serial,paste,bpaste", cwd=work)
        print(f"{Path(device).stem:12} " + "  ".join(f"{a} {v['speedup']:.3f} (interference {v['interference_s']:.1f}s)"
                                               for a, v in r["arms"].items() if a != "serial"))
    print(f"\nbench_live took {time.perf_counter() - t0:.0f} s; load average {load()}; files in {work}")


if __name__ == "__main__":
    main()
