"""Everything the HTML report shows, gathered from the library as plain JSON-ready dicts.

`gather(...)` calls the same functions the other verbs call (`compute_stats`, `session_breakdown`,
`strongest_patterns`, `replay`, `run_session`), so every number on the page is one a user can reproduce
with `bpaste stats`, `bpaste mine --show` or `bpaste replay`. The page embeds this dict as JSON.

Choices (documented on the page too):
- replay runs on the `test` split with `bpaste replay`'s default settings, on `device` and on each
  `compare` device (default: `server`, the well-provisioned reference), so one sees what the device costs;
- the timeline session defaults to the one with most to gain: the largest oracle saving (perfect
  prediction, unlimited slack) among the replayed sessions, ties broken by the B-PASTE saving, then id.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from bpaste_cli import __version__
from bpaste_cli.errors import BpasteError
from bpaste_cli.mine import USER_KEY, load_predictor, provenance_warnings, read_table_manifest, strongest_patterns
from bpaste_cli.replay import assign_lane
from bpaste_cli.stats import compute_stats, session_breakdown
from bpaste_cli.trace import Dataset, load_dataset

TIMELINE_ARMS = ("serial", "paste", "bpaste")
WHAT_IF = 3  # unclassified tools (and unknown shell programs) the speedup section replays allowed, one at a time
ARM_FIELDS = ("speedup", "speedup_ci95", "median_session_speedup", "agent_time_s", "serial_agent_time_s",
              "tool_stall_hidden_s", "real_calls", "hits", "inflight_promotions", "misses", "spec_started",
              "wasted_spec_s", "amplification", "interference_s", "sessions")


def provenance(ds: Dataset) -> dict[str, Any]:
    """Where the dataset came from: hash, versions, counts, source formats, skipped records."""
    m = ds.manifest
    formats: dict[str, int] = {}
    for f in m.get("files", []):
        if f.get("status") == "ingested":
            formats[f.get("format", "?")] = formats.get(f.get("format", "?"), 0) + f.get("sessions", 0)
    return {
        "dataset": str(ds.path), "dataset_hash": ds.hash, "dataset_created_at": m.get("created_at"),
        "dataset_bpaste_version": m.get("bpaste_version"), "counts": m.get("counts", {}),
        "sessions_by_format": dict(sorted(formats.items())), "skipped_lines": m.get("skipped_lines", 0),
        "skipped_by_reason": m.get("skipped_by_reason", {}), "bpaste_version": __version__,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def control_patterns(predictor: Any, n: int = 10, min_count: int = 5) -> list[dict[str, Any]]:
    """The most predictable next tools: per context (k >= 1, seen >= min_count times), its likeliest tool."""
    c = predictor.tables["control"]
    best: dict[tuple[str, ...], tuple[float, str, int, int]] = {}
    for ctx, support, tool, count, prob in zip(c["context"], c["n"], c["tool"], c["count"], c["prob"]):
        ctx = tuple(ctx)
        if ctx and count >= min_count and (ctx not in best or prob > best[ctx][0]):
            best[ctx] = (prob, tool, count, support)
    # a longer context is shown only when it says more than its suffix (a different or much likelier tool)
    rows = []
    for ctx, (prob, tool, count, support) in best.items():
        parent = best.get(ctx[1:])
        if parent and parent[1] == tool and prob < parent[0] + 0.1:
            continue
        rows.append((ctx, prob, tool, count, support))
    rows.sort(key=lambda r: (-r[1], -r[4], r[0]))
    out = []
    for ctx, prob, tool, count, support in rows[:n]:
        words = " → ".join(_key_words(k) for k in ctx)
        out.append({"context": list(ctx), "tool": tool, "prob": prob, "count": count, "n": support,
                    "pattern": f"after {words}, the next step calls {tool}: {prob:.0%} ({count} of {support} decisions)"})
    return out


def _key_words(key: str) -> str:
    return {"<user>": "a user turn", "<start>": "the session start"}.get(key, key)


def transition_graph(predictor: Any, max_nodes: int = 14, min_prob: float = 0.08, per_node: int = 3) -> dict[str, Any]:
    """Next-tool graph from the one-key contexts: nodes = keys (support n), edges = P(next step calls T)."""
    c = predictor.tables["control"]
    support: dict[str, int] = {}
    out_edges: dict[str, list[tuple[float, str, int]]] = {}
    for ctx, n, tool, count, prob in zip(c["context"], c["n"], c["tool"], c["count"], c["prob"]):
        if len(ctx) != 1 or ctx[0] == "<start>":
            continue
        support[ctx[0]] = n
        if prob >= min_prob and count >= 2:
            out_edges.setdefault(ctx[0], []).append((prob, tool, count))
    nodes = sorted(support, key=lambda k: (-support[k], k))[:max_nodes]
    keep = set(nodes)
    edges = []
    for src in nodes:
        for prob, dst, count in sorted(out_edges.get(src, []), key=lambda e: (-e[0], e[1]))[:per_node]:
            if dst in keep:
                edges.append({"src": src, "dst": dst, "prob": prob, "count": count})
    return {"nodes": [{"key": k, "label": "user turn" if k == USER_KEY else k, "n": support[k]} for k in nodes],
            "edges": edges}


def pattern_section(patterns: str, ds: Dataset, seed: int) -> tuple[dict[str, Any] | None, Any, list[str]]:
    """(the patterns section or None for the oracle, the predictor, warnings about provenance)."""
    from bpaste_cli.replay import OraclePredictor

    if patterns == "oracle":
        return None, OraclePredictor(), ["--patterns oracle: the replay uses a predictor that knows each session's "
                                         "future, so its speedups are upper bounds, not results."]
    manifest = read_table_manifest(Path(patterns))
    predictor = load_predictor(Path(patterns))
    warnings = provenance_warnings(manifest, ds.hash, seed, "the sessions on the page")
    ev = manifest.get("eval") or {}
    section = {
        "path": str(patterns), "dataset_hash": manifest.get("dataset_hash"), "created_at": manifest.get("created_at"),
        "parameters": manifest.get("parameters", {}), "train": manifest.get("train", {}),
        "eval": {k: ev.get(k) for k in ("decisions", "sessions", "tool_top1", "floor_tool_top1", "call_top1",
                                        "call_top3", "repeat_last_call", "brier")} if ev else None,
        "data_flow": strongest_patterns(predictor, 10),
        "control_flow": control_patterns(predictor),
        "graph": transition_graph(predictor),
    }
    return section, predictor, warnings


def _cutter(human: list[tuple[float, float]]):
    """Map replayed wall time to agent time: human-wait intervals (merged) are cut out of the axis."""
    merged: list[list[float]] = []
    for s, e in sorted(human):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])

    def cut(t: float) -> float:
        return t - sum(min(e, t) - s for s, e in merged if s < t)

    return cut, [(cut(s), e - s) for s, e in merged]


def timeline_arm(trace: Any, res: Any) -> dict[str, Any]:
    """One arm's replay of one session as drawable items on the agent-time axis."""
    human = [(s, e) for nd, (s, e) in zip(trace.nodes, res.times) if nd.kind == "user" and e > s]
    cut, breaks = _cutter(human)
    served = {j.served_node: j for j in res.jobs if j.state == "served"}
    items: list[dict[str, Any]] = []
    tool_lanes: list[float] = []
    for nd, (s, e) in zip(trace.nodes, res.times):
        if nd.kind == "llm":
            items.append({"lane": "LLM", "kind": "think", "t0": cut(s), "t1": cut(e), "label": f"think, step {nd.step}"})
        elif nd.kind == "tool":
            job = served.get(nd.index)
            kind = "tool" if job is None else ("hit" if job.completed else "inflight")
            lane = assign_lane(tool_lanes, s, max(e, s + 1e-9))
            items.append({"lane": f"tools {lane + 1}", "kind": kind, "t0": cut(s), "t1": cut(e),
                          "label": f"{nd.tool} (logged {nd.logged_end - nd.logged_start:.2f} s)"})
    spec_lanes: list[float] = []
    for job in res.jobs:
        if not job.started:
            continue
        outcome = ("reuse" if job.completed else "in-flight") if job.state == "served" else "waste"
        lane = assign_lane(spec_lanes, job.start, job.end)
        items.append({"lane": f"spec {lane + 1}", "kind": f"spec-{outcome}", "t0": cut(job.start), "t1": cut(job.end),
                      "label": f"speculative {job.tool}, p={job.prob:.2f}, depth {job.depth}: {outcome}"})
    return {"agent_s": res.agent_s, "serial_s": res.serial_s, "hits": res.hits, "promotions": res.promotions,
            "misses": res.misses, "spec_started": res.spec_started, "wasted_s": res.wasted_s,
            "lanes": ["LLM"] + [f"tools {i + 1}" for i in range(len(tool_lanes))] + [f"spec {i + 1}" for i in range(len(spec_lanes))],
            "breaks": [{"t": t, "seconds": d} for t, d in breaks], "items": items}


def timeline_section(ds: Dataset, predictor: Any, device: str, split: str, seed: int, session: str | None,
                     per_session: list[dict[str, Any]], value_model: Any = None, safety: Any = None) -> dict[str, Any] | None:
    """Serial, PASTE and B-PASTE replays of one session, kept job by job."""
    from bpaste_cli.device import load_device
    from bpaste_cli.replay import ReplayConfig, prepare_split, run_session
    from bpaste_cli.safety import load_safety
    from bpaste_cli.split import split_of

    config = ReplayConfig(split=split, seed=seed)
    if session is None:
        gain: dict[str, list[float]] = {}
        for r in per_session:
            if r["arm"] in ("oracle", "bpaste"):
                gain.setdefault(r["session_id"], [0.0, 0.0])[r["arm"] == "bpaste"] = r["serial_agent_s"] - r["agent_s"]
        if not gain:
            return None
        session = min(gain, key=lambda s: (-gain[s][0], -gain[s][1], s))
        why = (f"the replayed session with most to gain: a perfect predictor would save {gain[session][0]:.1f} s "
               f"of its agent time (B-PASTE saves {gain[session][1]:.1f} s)")
    else:
        if ds.sessions.filter(pl.col("session_id") == session).height == 0:
            raise BpasteError(f"The dataset has no session {session!r}; pass one of the session_id values that replay's "
                              "--per-session rows list (those are the timed ones).")
        why = f"chosen with --session (it is in the {split_of(session, seed)} split)"
    safety = safety or load_safety()
    prepared = prepare_split(ds, split, seed, safety, allowed=frozenset(config.allowed), sessions=[session])
    if not prepared.traces:
        raise BpasteError(f"The session {session!r} has no complete timestamps, so it cannot be replayed; pick a timed one.")
    trace = prepared.traces[0]
    dev = load_device(device)
    arms = {arm: timeline_arm(trace, run_session(trace, arm, dev, config, prepared.stats, safety, predictor,
                                                 value_model=value_model, keep_jobs=True))
            for arm in TIMELINE_ARMS}
    return {"session_id": session, "why": why, "device": dev.name, "arms": arms}


def replay_section(ds: Dataset, predictor: Any, devices: list[str], split: str, seed: int, bootstrap: int,
                   value_model: Any = None, safety: Any = None) -> dict[str, Any]:
    """Per device: per-arm speedups with CIs and the all-tools-hidden bound; per-session rows of the first."""
    from bpaste_cli.replay import ReplayConfig, replay

    out: dict[str, Any] = {"split": split, "seed": seed, "devices": {}, "per_session": [], "warnings": []}
    for i, device in enumerate(devices):
        rep = replay(ds, predictor, device=device, config=ReplayConfig(split=split, seed=seed, bootstrap=bootstrap),
                     value_model=value_model, what_if=WHAT_IF if i == 0 else 0, safety=safety)
        out["devices"][rep.device] = {
            "arms": {name: {k: a[k] for k in ARM_FIELDS} for name, a in rep.arms.items()},
            "bound": rep.bounds["all_tool_time_hidden"], "sessions_replayed": rep.sessions_replayed,
            "sessions_skipped": rep.sessions_skipped,
        }
        if i == 0:
            out["what_if"] = rep.what_if
            out["per_session"] = rep.per_session
            out["warnings"] = rep.warnings
            out["config"] = {k: rep.config[k] for k in ("top_k", "threshold", "beam_width", "beam_depth", "rank",
                                                         "min_prob", "ttl_s", "interference_budget", "allowed", "bootstrap")}
    return out


def read_policy(path: Path) -> dict[str, Any]:
    """The parts of a policy.json the report shows, read through the policy's artifact gate."""
    from bpaste_cli.policy import read_policy_doc

    doc = read_policy_doc(Path(path))
    prov, trials, validation = doc["provenance"], doc["trials"], doc["validation"]
    rows = [r for r in trials["rows"] if r.get("speedup") is not None]
    objectives = ["speedup", "waste"] if rows and all(r.get("waste") is not None for r in rows) else ["speedup"]
    if len(objectives) == 1:
        points = [{"number": r["number"], "value": r["speedup"], "params": r["params"]} for r in rows]
    else:
        points = [{"number": r["number"], "values": [r[o] for o in objectives], "params": r["params"]} for r in rows]
    return {
        "path": str(path), "schema_version": doc["schema_version"], "device": doc["device"]["name"],
        "parameters": doc["parameters"], "provenance": prov,
        "validation": {"split": validation["split"], "sessions": validation["sessions"]} | validation["policy"],
        "objectives": objectives, "directions": ["maximize", "minimize"], "trials": points,
        "pareto": trials["pareto"], "chosen_trial": prov["trial"],
    }


def gather(
    dataset: Path | str | Dataset,
    *,
    patterns: str | None = None,
    policy: Path | None = None,
    device: str = "thor",
    compare: tuple[str, ...] = ("server",),
    session: str | None = None,
    split: str = "test",
    seed: int = 0,
    top_sessions: int = 15,
    top_tools: int = 12,
    bootstrap: int = 1000,
    value_model: Any = None,
    safety: Any = None,
    hints: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The report's data: provenance, time, patterns, timeline, replay per device, policy (None when absent).
    `value_model` (from `fit`): what the replays' `model` ranking would score with; `safety`: the safety table
    the replays use (default: the built-in one); `hints`: the commands that make a missing section's input,
    by section ("patterns", "policy"), as the page should print them (default: commands with explicit paths)."""
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(Path(dataset))
    stats = compute_stats(ds)
    breakdown = session_breakdown(ds).head(top_sessions)
    data: dict[str, Any] = {
        "provenance": provenance(ds), "stats": stats, "sessions": breakdown.to_dicts(), "top_tools": top_tools,
        "patterns": None, "replay": None, "timeline": None, "policy": None, "warnings": [], "hints": dict(hints or {}),
        "options": {"patterns": patterns, "policy": str(policy) if policy else None, "device": device,
                    "compare": list(compare), "session": session, "split": split, "seed": seed},
    }
    if patterns:
        data["patterns"], predictor, warnings = pattern_section(patterns, ds, seed)
        data["warnings"] += warnings
        devices = list(dict.fromkeys([device, *compare]))
        data["replay"] = replay_section(ds, predictor, devices, split, seed, bootstrap, value_model, safety)
        data["warnings"] += data["replay"]["warnings"]
        data["timeline"] = timeline_section(ds, predictor, device, split, seed, session, data["replay"]["per_session"],
                                            value_model, safety)
    if policy:
        data["policy"] = read_policy(policy)
    return data
