"""Where the speedup of real agent logs is, and what blocks it: per corpus in ../shared/traces and the sample traces.

Prints, per corpus: next-tool top-1 against the bigram floor (and the back-off chosen on validation),
exact-call top-1/3/5 against repeating the last call, exact-call hits per data-flow family, the
reliability table (bins with n >= 30) on validation and test, the speculation ceiling by safety class, the
unknown tools and shell programs, independent sequential calls, the what-if table (top unclassified tools
and shell programs, each allowed in turn), paste / bpaste / oracle / cache speedups on the test split, and
whether value ranking beats probability ranking there. Each corpus is ingested into a temporary directory.

    python bench/bench_real_logs.py [--corpus NAME ...] [--device thor] [--what-if 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bpaste_cli.ingest import ingest  # noqa: E402
from bpaste_cli.mine import mine  # noqa: E402
from bpaste_cli.replay import ReplayConfig, replay  # noqa: E402
from bpaste_cli.stats import compute_stats  # noqa: E402
from bpaste_cli.trace.dataset import load_dataset  # noqa: E402

SHARED = REPO.parent / "shared" / "traces"
SAMPLE = REPO / "sample_traces"
ARMS = ("serial", "oracle", "paste", "bpaste", "cache")


def corpora(names: list[str]) -> list[tuple[str, Path]]:
    found = [("sample_traces", SAMPLE)]
    if SHARED.is_dir():
        found += sorted((p.name, p) for p in SHARED.iterdir() if p.is_dir())
    return [(n, p) for n, p in found if not names or n in names]


def pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{100 * x:5.1f}%"


def reliability(cal: dict | None) -> str:
    bins = [b for b in (cal or {}).get("reliability", []) if b["n"] >= 30]
    if not bins:
        return "no bin with n >= 30"
    worst = max(abs(b["mean_prob"] - b["hit_rate"]) for b in bins)
    return ", ".join(f"{b['bin']}: p={b['mean_prob']:.2f} hit={b['hit_rate']:.2f} n={b['n']}" for b in bins) + \
        f"  (worst gap {worst:.2f})"


def corpus(name: str, path: Path, device: str, top: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ingest([path], Path(tmp) / "ds")
        ds = load_dataset(Path(tmp) / "ds")
        res = mine(ds, Path(tmp) / "pt")
        print(f"\n=== {name}: {ds.sessions.height} sessions, {int(ds.sessions['n_tool_calls'].sum() or 0)} calls")
        e, s = res.eval, res.summary
        if s.get("control_choice"):
            c = s["control_choice"]
            print(f"back-off chosen on validation: {c['chosen']} (validation top-1 {pct(c['validation_tool_top1'])} vs floor "
                  f"{pct(c['floor_validation_tool_top1'])}, {c['validation_decisions']} decisions)")
        if e:
            print(f"next-tool top-1 {pct(e['tool_top1'])} vs floor {pct(e['floor_tool_top1'])};  exact call top-1/3/5 "
                  f"{pct(e['call_top1'])} {pct(e['call_top3'])} {pct(e['call_top5'])} vs repeat-last-call {pct(e['repeat_last_call'])}"
                  f"  ({e['decisions']} test decisions)")
            print("exact-call hits by family (top-1 right/offered, top-5 right): " + (", ".join(
                f"{f} {v['hits_top1']}/{v['offered_top1']}, {v['hits_top5']}" for f, v in e["families"].items()) or "none"))
            print("reliability, validation: " + reliability(s.get("validation_calibration")))
            print("reliability, test:       " + reliability(e))
        else:
            print("no test split: nothing evaluated")
        st = compute_stats(ds)
        c = st["ceiling"]
        if st["timed_sessions"]:
            stall = st["time_s"]["tool_stall"]
            print(f"ceiling: tool stall {pct(c['share_of_agent_time'])} of agent time, at most {c['ceiling_speedup']:.3f}x; by "
                  "safety class (share of the stall): " + ", ".join(
                      f"{k} {pct(v['critical_s'] / stall if stall else None)}" for k, v in st["safety_classes"].items()))
            ind = st["independent_sequential"]
            print(f"independent sequential read-only calls: {ind['calls']} in {ind['runs']} runs, issuing each run at once saves "
                  f"at most {ind['saving_s']:.1f} s ({pct(ind['share_of_agent_time'])} of agent time)")
        else:
            print("untimed: no ceiling; tool calls by safety class: " + ", ".join(
                f"{k} {v['calls']}" for k, v in st["safety_classes"].items()))
        print("unknown tools: " + (", ".join(f"{r['tool']} ({r['calls']} calls, {r['critical_s']:.0f} s critical)"
                                             for r in st["unclassified_tools"][:5]) or "none"))
        print("unknown shell programs: " + (", ".join(f"{r['program']} ({r['calls']}, {r['critical_s']:.0f} s)"
                                                      for r in st["unknown_shell_programs"][:5]) or "none"))
        if not st["timed_sessions"]:
            print(f"({time.perf_counter() - t0:.1f} s)")
            return
        config = ReplayConfig(arms=ARMS, bootstrap=0)
        rep = replay(ds, res.predictor, device=device, config=config, what_if=top)
        if not rep.sessions_replayed:
            print("the test split holds no timed session: no replay")
            print(f"({time.perf_counter() - t0:.1f} s)")
            return
        print(f"speedups (test, {rep.sessions_replayed} sessions, {device}): " + ", ".join(
            f"{a} {rep.arms[a]['speedup']:.4f}x" for a in ARMS if a != "serial")
            + f"; all tool time hidden {rep.bounds['all_tool_time_hidden']['speedup']:.3f}x")
        prob = replay(ds, res.predictor, device=device, config=replace(config, arms=("bpaste",), rank="probability"))
        v, p, pa = rep.arms["bpaste"]["speedup"], prob.arms["bpaste"]["speedup"], rep.arms["paste"]["speedup"]
        verdict = "beats" if v > p else "ties with" if v == p else "loses to"
        print(f"ranking: value (bpaste) {v:.4f}x {verdict} probability ranking {p:.4f}x (bpaste --rank probability); "
              f"paste {pa:.4f}x")
        w = rep.what_if
        if not w:
            print(f"({time.perf_counter() - t0:.1f} s)")
            return
        print(f"what-if (test split): as the table stands oracle {w['baseline']['oracle']:.4f}x, bpaste "
              f"{w['baseline']['bpaste']:.4f}x")
        for r in w["rows"]:
            print(f"  allow {r['kind']} {r['name']:<14} oracle {r['oracle']:.4f}x ({r['oracle_gain']:+.1%}), bpaste "
                  f"{r['bpaste']:.4f}x ({r['bpaste_gain']:+.1%})   {r['toml']}")
        print(f"({time.perf_counter() - t0:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", action="append", default=[], help="Only this corpus (repeatable).")
    ap.add_argument("--device", default="thor")
    ap.add_argument("--what-if", type=int, default=3, help="Unclassified tools (and shell programs) to try allowed.")
    args = ap.parse_args()
    if not SHARED.is_dir():
        print(f"note: {SHARED.name} is absent (../shared/traces): only the sample traces are measured")
    for name, path in corpora(args.corpus):
        corpus(name, path, args.device, args.what_if)


if __name__ == "__main__":
    main()
