"""Where the speedup of real agent logs is, and what blocks it: the acceptance table, per corpus in ../shared/traces and the sample traces.

Per corpus: next-tool top-1 against the bigram floor on test (the paired difference with its 95% interval and
McNemar's p, and the back-off chosen on validation), exact-call top-1/3/5 against repeating the last call,
exact-call hits per data-flow family, the reliability table (bins with n >= 30, each hit rate with its 95%
Wilson interval) on validation (cross-fitted) and test, the speculation ceiling by safety class, the unknown
tools and shell programs, independent sequential calls, the what-if table (top unclassified tools and shell
programs, each allowed in turn), paste / bpaste / oracle / cache speedups on the test split before (the
default safety table) and after (every what-if line that raised the oracle applied at once: what the user
would get by writing those lines), value against probability ranking on test, and one sentence, derived from
those figures, on what still blocks speedup. Each corpus is ingested into a temporary directory.

    python bench/bench_real_logs.py [--corpus NAME ...] [--device thor] [--what-if 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bpaste_cli.ingest import ingest  # noqa: E402
from bpaste_cli.mine import mine  # noqa: E402
from bpaste_cli.replay import ReplayConfig, replay  # noqa: E402
from bpaste_cli.safety import load_safety  # noqa: E402
from bpaste_cli.stats import compute_stats  # noqa: E402
from bpaste_cli.trace.dataset import load_dataset  # noqa: E402

SHARED = REPO.parent / "shared" / "traces"
SAMPLE = REPO / "sample_traces"
ARMS = ("serial", "oracle", "paste", "bpaste", "cache")
MEASURABLE = 0.001  # a speedup gain below this is none


def corpora(names: list[str]) -> list[tuple[str, Path]]:
    found = [("sample_traces", SAMPLE)]
    if SHARED.is_dir():
        found += sorted((p.name, p) for p in SHARED.iterdir() if p.is_dir())
    return [(n, p) for n, p in found if not names or n in names]


def measure(name: str, path: Path, device: str, top: int) -> dict[str, Any]:
    """Every figure of one corpus's acceptance table, as plain JSON-ready values."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ingest([path], Path(tmp) / "ds")
        ds = load_dataset(Path(tmp) / "ds")
        res = mine(ds, Path(tmp) / "pt")
        e, s = res.eval, res.summary
        out: dict[str, Any] = {"corpus": name, "sessions": ds.sessions.height, "calls": int(ds.sessions["n_tool_calls"].sum() or 0),
                               "split": {k: s["split"][f"{k}_sessions"] for k in ("train", "validation", "test")},
                               "back_off": s.get("control_choice")}
        if e:
            out["next_tool"] = {"top1": e["tool_top1"], "floor_top1": e["floor_tool_top1"], "decisions": e["decisions"]} | {
                f"vs_floor_{k}": v for k, v in e["vs_floor"].items()}
            out["exact_call"] = {f"top{k}": e[f"call_top{k}"] for k in (1, 3, 5)} | {"repeat_last_call": e["repeat_last_call"]}
            out["families"] = e["families"]
        out["reliability"] = {"validation": judged(s.get("validation_calibration")), "test": judged(e)}
        st = compute_stats(ds)
        stall = st["time_s"]["tool_stall"] if st["timed_sessions"] else 0.0
        out["timed_sessions"] = st["timed_sessions"]
        out["ceiling"] = {"tool_stall_share": st["ceiling"]["share_of_agent_time"] if stall else None,
                          "ceiling_speedup": st["ceiling"]["ceiling_speedup"] if stall else None,
                          "by_class": {k: {"calls": v["calls"], "stall_share": v["critical_s"] / stall if stall else None}
                                       for k, v in st["safety_classes"].items()}}
        out["unknown_tools"] = [{k: r[k] for k in ("tool", "calls", "critical_s")} for r in st["unclassified_tools"][:5]]
        out["unknown_shell_programs"] = [{k: r[k] for k in ("program", "calls", "critical_s")} for r in st["unknown_shell_programs"][:5]]
        out["independent_sequential"] = st["independent_sequential"] if stall else None
        if stall:
            out |= speedups(ds, res.predictor, device, top)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["blocks"] = blocker(out)
    return out


def judged(cal: dict[str, Any] | None) -> dict[str, Any]:
    """The reliability bins a verdict is passed on (n >= the evaluation's `judged_n`), the worst gap and the verdicts."""
    cal = cal or {"judged_n": 30, "tolerance": 0.1}
    return {"bins": [b for b in cal.get("reliability", []) if b["n"] >= cal["judged_n"]], "judged_n": cal["judged_n"],
            "tolerance": cal["tolerance"], "worst_gap": cal.get("worst_gap"),
            "within": cal.get("within"), "beyond_noise": cal.get("beyond_noise", [])}


def speedups(ds: Any, predictor: Any, device: str, top: int) -> dict[str, Any]:
    """Test-split speedups before (the default safety table) and after (the what-if lines that raised the oracle
    applied together), the what-if table, and value against probability ranking for bpaste on both tables."""
    config = ReplayConfig(arms=ARMS, bootstrap=0)
    table = load_safety()
    rep = replay(ds, predictor, device=device, config=config, safety=table, what_if=top)
    if not rep.sessions_replayed:
        return {"speedups": None}
    w = rep.what_if or {"baseline": {}, "rows": []}
    applied = [r for r in w["rows"] if r["oracle_gain"] > MEASURABLE]
    after_table = table
    for r in applied:
        after_table = after_table.with_tool(r["name"], "read-only") if r["kind"] == "tool" else after_table.with_shell_program(r["name"])
    after = replay(ds, predictor, device=device, config=config, safety=after_table) if applied else rep

    def arms(r: Any) -> dict[str, float]:
        return {a: r.arms[a]["speedup"] for a in ARMS if a != "serial"}

    def ranking(r: Any, safety: Any) -> dict[str, Any]:
        prob = replay(ds, predictor, device=device, config=replace(config, arms=("bpaste",), rank="probability"), safety=safety)
        v, p = r.arms["bpaste"]["speedup"], prob.arms["bpaste"]["speedup"]
        return {"value": v, "probability": p, "verdict": "beats" if v > p else "ties with" if v == p else "loses to"}

    return {"test_sessions": rep.sessions_replayed, "all_tool_time_hidden": rep.bounds["all_tool_time_hidden"]["speedup"],
            "speedups": {"before": arms(rep), "after": arms(after), "applied": [r["toml"] for r in applied]},
            "what_if": w["rows"], "ranking": {"before": ranking(rep, table), "after": ranking(after, after_table) if applied else None}}


def blocker(m: dict[str, Any]) -> str:
    """One sentence, from the corpus's own figures, on what stands between it and a speedup."""
    if not m["timed_sessions"]:
        return "the logs carry no timing, so no speedup can be measured on them (prediction figures only)."
    c = m["ceiling"]
    if not c["tool_stall_share"]:
        return "no tool time is on the agent's critical path."
    sp = m.get("speedups")
    if not sp:
        return "the test split holds no timed session, so nothing was replayed."
    before, after = sp["before"], sp["after"]
    cls = c["by_class"]
    ro = cls["read-only"]["stall_share"] or 0.0
    blocked = (cls["unknown"]["stall_share"] or 0.0) + (cls["mutating"]["stall_share"] or 0.0)
    top = max(m["unknown_tools"] + m["unknown_shell_programs"], key=lambda r: r["critical_s"], default=None)
    holder = f" (most of it in {top.get('tool') or 'shell ' + top['program']})" if top and top["critical_s"] > 0 else ""
    top1 = (m.get("exact_call") or {}).get("top1")
    call = f"exact-call top-1 is {top1:.1%}" if top1 is not None else "no exact call is predicted"
    if after["oracle"] - 1 < MEASURABLE:
        return (f"tool stall is {c['tool_stall_share']:.1%} of agent time but {blocked:.1%} of it is in mutating or unknown "
                f"calls{holder} and even a perfect predictor gains nothing on the test split's {m['test_sessions']} sessions "
                f"with the what-if lines applied.")
    gap = round((after["bpaste"] - 1) / (after["oracle"] - 1), 2) + 0.0  # + 0.0: no "-0%"
    if gap < 0.5:
        safety = "" if sp["applied"] else f"; only {ro:.1%} of the stall is read-only{holder}"
        return (f"prediction: bpaste reaches {after['bpaste']:.4f}x of the oracle's {after['oracle']:.4f}x ({gap:.0%} of the "
                f"gain a perfect predictor gets) because {call}{safety}.")
    return (f"safety coverage: bpaste already takes {gap:.0%} of the oracle's gain ({after['bpaste']:.4f}x of "
            f"{after['oracle']:.4f}x), and {blocked:.1%} of the stall stays in mutating or unknown calls{holder}.")


def pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{100 * x:5.1f}%"


def bins(r: dict[str, Any]) -> str:
    if not r["bins"]:
        return f"no bin with n >= {r['judged_n']}"
    text = ", ".join(f"{b['bin']}: p={b['mean_prob']:.2f} hit={b['hit_rate']:.2f} [{b['hit_low']:.2f}, {b['hit_high']:.2f}] "
                     f"n={b['n']}" for b in r["bins"])
    verdict = "within" if r["within"] else "OUTSIDE"
    noise = f"; p outside the 95% interval in {', '.join(r['beyond_noise'])}" if r["beyond_noise"] else "; every p inside its 95% interval"
    return text + f"  (worst gap {r['worst_gap']:.2f}: {verdict} ±{r['tolerance']}{noise})"


def render(m: dict[str, Any]) -> None:
    sp = m["split"]
    print(f"\n=== {m['corpus']}: {m['sessions']} sessions, {m['calls']} calls (train/validation/test "
          f"{sp['train']}/{sp['validation']}/{sp['test']})")
    if c := m["back_off"]:
        print(f"back-off chosen on validation: {c['chosen']} (validation top-1 {pct(c['validation_tool_top1'])} vs floor "
              f"{pct(c['floor_validation_tool_top1'])}, {c['validation_decisions']} decisions)")
    if nt := m.get("next_tool"):
        verdict = "BELOW the floor beyond noise" if nt["vs_floor_below_floor"] else "not below the floor beyond noise"
        print(f"next-tool top-1 {pct(nt['top1'])} vs floor {pct(nt['floor_top1'])} on {nt['decisions']} test decisions: "
              f"{nt['vs_floor_diff']:+.1%} [{nt['vs_floor_low']:+.1%}, {nt['vs_floor_high']:+.1%}] ({nt['vs_floor_wins']} won, "
              f"{nt['vs_floor_losses']} lost, McNemar p={nt['vs_floor_p']:.2f}): {verdict}")
        x = m["exact_call"]
        print(f"exact call top-1/3/5 {pct(x['top1'])} {pct(x['top3'])} {pct(x['top5'])} vs repeat-last-call {pct(x['repeat_last_call'])}")
        print("exact-call hits by family (top-1 right/offered, top-5 right): " + (", ".join(
            f"{f} {v['hits_top1']}/{v['offered_top1']}, {v['hits_top5']}" for f, v in m["families"].items()) or "none"))
    else:
        print("no test split: nothing evaluated")
    print("reliability, validation (cross-fitted): " + bins(m["reliability"]["validation"]))
    print("reliability, test:                      " + bins(m["reliability"]["test"]))
    c = m["ceiling"]
    if c["tool_stall_share"]:
        print(f"ceiling: tool stall {pct(c['tool_stall_share'])} of agent time, at most {c['ceiling_speedup']:.3f}x; by safety class "
              "(share of the stall): " + ", ".join(f"{k} {pct(v['stall_share'])}" for k, v in c["by_class"].items()))
        ind = m["independent_sequential"]
        print(f"independent sequential read-only calls: {ind['calls']} in {ind['runs']} runs, issuing each run at once saves "
              f"at most {ind['saving_s']:.1f} s ({pct(ind['share_of_agent_time'])} of agent time)")
    else:
        print("untimed: no ceiling; tool calls by safety class: " + ", ".join(f"{k} {v['calls']}" for k, v in c["by_class"].items()))
    print("unknown tools: " + (", ".join(f"{r['tool']} ({r['calls']} calls, {r['critical_s']:.0f} s critical)"
                                         for r in m["unknown_tools"]) or "none"))
    print("unknown shell programs: " + (", ".join(f"{r['program']} ({r['calls']}, {r['critical_s']:.0f} s)"
                                                  for r in m["unknown_shell_programs"]) or "none"))
    if s := m.get("speedups"):
        print(f"what-if (test split, {m['test_sessions']} sessions): as the table stands oracle {s['before']['oracle']:.4f}x, "
              f"bpaste {s['before']['bpaste']:.4f}x")
        for r in m["what_if"]:
            print(f"  allow {r['kind']} {r['name']:<14} oracle {r['oracle']:.4f}x ({r['oracle_gain']:+.1%}), bpaste "
                  f"{r['bpaste']:.4f}x ({r['bpaste_gain']:+.1%})   {r['toml']}")
        for when in ("before", "after"):
            print(f"speedups {when:<6} " + ", ".join(f"{a} {v:.4f}x" for a, v in s[when].items())
                  + ("" if when == "before" else f"   ({len(s['applied'])} what-if lines applied)" if s["applied"] else "   (no what-if line raised the oracle)"))
        print(f"all tool time hidden {m['all_tool_time_hidden']:.3f}x")
        for when, r in m["ranking"].items():
            if r:
                print(f"ranking ({when}): value (bpaste) {r['value']:.4f}x {r['verdict']} probability ranking {r['probability']:.4f}x")
    print(f"what still blocks speedup: {m['blocks']}")
    print(f"({m['seconds']:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", action="append", default=[], help="Only this corpus (repeatable).")
    ap.add_argument("--device", default="thor")
    ap.add_argument("--what-if", type=int, default=3, help="Unclassified tools (and shell programs) to try allowed.")
    ap.add_argument("--json", action="store_true", help="One JSON object: {corpus: figures}.")
    args = ap.parse_args()
    if not SHARED.is_dir():
        print(f"note: {SHARED.name} is absent (../shared/traces): only the sample traces are measured", file=sys.stderr)
    found = {}
    for name, path in corpora(args.corpus):
        found[name] = m = measure(name, path, args.device, args.what_if)
        if not args.json:
            render(m)
    if args.json:
        print(json.dumps(found, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
