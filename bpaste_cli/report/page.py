"""The report page: one self-contained HTML file (inline CSS and SVG, no script, no external reference).

`render(data)` turns the dict of `report.data.gather` into HTML. Sections: header (provenance), time,
patterns, timeline, speedup, policy; a section whose inputs are missing says so and names the command
that makes them. The data itself is embedded as JSON (`<script type="application/json" id="report-data">`,
not executed) so the numbers can be read back by scripts and tests.
"""

from __future__ import annotations

import shlex

from typing import Any

import orjson

from bpaste_cli.report import svg
from bpaste_cli.report.svg import COLORS, esc, fmt_pct, fmt_s

ARM_NAMES = {"serial": "serial", "oracle": "oracle (bound)", "paste": "PASTE", "bpaste": "B-PASTE"}

CSS = """
:root { --ink:#1F2328; --muted:#6E7781; --line:#E6E8EB; --bg:#F6F8FA; --accent:#3B5B84; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
       color:var(--ink); background:#fff; line-height:1.45; font-size:14px; }
header { background:#22324A; color:#fff; padding:22px 40px 18px; }
header h1 { margin:0 0 4px; font-size:24px; font-weight:650; }
header .sub { color:#C9D4E3; font-size:13px; }
header dl { display:grid; grid-template-columns: repeat(4, auto); gap:4px 22px; margin:14px 0 0; font-size:13px; justify-content:start; }
header dt { color:#9FB3CC; } header dd { margin:0 0 4px; font-variant-numeric: tabular-nums; }
main { max-width:1080px; margin:0 auto; padding:8px 40px 60px; }
nav { margin:14px 0 0; font-size:13px; } nav a { color:#C9D4E3; margin-right:16px; text-decoration:none; }
section { padding:26px 0 10px; border-bottom:1px solid var(--line); }
h2 { font-size:20px; margin:0 0 4px; } h3 { font-size:15px; margin:22px 0 6px; }
p.lead { color:var(--muted); margin:0 0 14px; max-width:860px; }
.cards { display:flex; gap:14px; flex-wrap:wrap; margin:10px 0 18px; }
.card { background:var(--bg); border:1px solid var(--line); border-radius:8px; padding:10px 14px; flex:1 1 0; min-width:150px; }
.card b { display:block; font-size:22px; font-variant-numeric: tabular-nums; } .card span { color:var(--muted); font-size:12px; }
svg.chart { display:block; max-width:100%; height:auto; margin:6px 0 10px; }
table { border-collapse:collapse; font-size:13px; margin:8px 0 14px; font-variant-numeric: tabular-nums; }
th, td { padding:5px 10px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th:first-child, td:first-child { text-align:left; } th { color:var(--muted); font-weight:600; white-space:normal; }
ol.patterns { margin:6px 0 14px; padding-left:22px; } ol.patterns li { margin:3px 0; }
code { background:var(--bg); padding:1px 5px; border-radius:4px; font-size:12.5px; }
header code { background:#34486A; color:#fff; }
.missing { background:#FFF8E6; border:1px solid #F2D68A; border-radius:8px; padding:12px 16px; margin:8px 0; }
.warn { background:#FDECEC; border:1px solid #F0B3B3; border-radius:8px; padding:8px 14px; margin:8px 0; font-size:13px; }
.two { display:flex; gap:30px; flex-wrap:wrap; align-items:flex-start; } .two > div { flex:1 1 300px; }
footer { color:var(--muted); font-size:12px; padding:20px 40px; text-align:center; }
"""


def _table(head: list[str], rows: list[list[Any]]) -> str:
    h = "".join(f"<th>{esc(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _cards(items: list[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(f'<div class="card"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in items) + "</div>"


def _hint(d: dict[str, Any], section: str) -> str:
    """The command that makes a missing section's input, runnable as printed: the one the caller gave (a
    workspace's), else one with the report's own paths."""
    if section in d.get("hints", {}):
        return d["hints"][section]
    dataset = shlex.quote(str(d["provenance"]["dataset"]))
    if section == "patterns":
        return f"bpaste mine {dataset} -o patterns.bpaste"
    patterns = d["options"]["patterns"]
    patterns = shlex.quote(patterns) if patterns and patterns != "oracle" else "patterns.bpaste"
    return f"bpaste tune {dataset} --patterns {patterns} --device {shlex.quote(d['options']['device'])} -o policy.json"


def _missing(what: str, command: str) -> str:
    return f'<div class="missing"><b>Not shown:</b> {esc(what)} Make it with <code>{esc(command)}</code>.</div>'


def _section(sid: str, title: str, lead: str, body: str) -> str:
    return f'<section id="{sid}" data-section="{sid}"><h2>{esc(title)}</h2><p class="lead">{lead}</p>{body}</section>'


def _header(d: dict[str, Any]) -> str:
    p, o = d["provenance"], d["options"]
    c = p["counts"]
    fields = [
        ("dataset", p["dataset"]), ("dataset hash", p["dataset_hash"]), ("ingested", p["dataset_created_at"] or "–"),
        ("by bpaste", p["dataset_bpaste_version"] or "–"),
        ("sessions", f"{c.get('sessions', 0)} ({', '.join(f'{k} {v}' for k, v in p['sessions_by_format'].items())})"),
        ("events / tool calls / LLM steps", f"{c.get('events', 0)} / {c.get('tool_calls', 0)} / {c.get('llm_steps', 0)}"),
        ("skipped records", str(p["skipped_lines"])), ("patterns", o["patterns"] or "–"),
        ("device", ", ".join(dict.fromkeys([o["device"], *o["compare"]])) if o["patterns"] else "–"),
        ("policy", o["policy"] or "–"), ("report by", f"bpaste {p['bpaste_version']}"), ("generated", p["generated_at"]),
    ]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in fields)
    nav = "".join(f'<a href="#{s}">{t}</a>' for s, t in (("time", "Where the time goes"), ("patterns", "Patterns"),
                                                          ("timeline", "Timeline"), ("speedup", "Speedup"), ("policy", "Policy")))
    return (f'<header id="header" data-section="header"><h1>bpaste report</h1><div class="sub">How much end-to-end time '
            f"speculative tool execution would save on this workload: every figure below is reproducible with "
            f"<code>bpaste stats</code>, <code>bpaste mine --show</code> and <code>bpaste replay</code>.</div><dl>{dl}</dl>"
            f"<nav>{nav}</nav></header>")


def _time(d: dict[str, Any]) -> str:
    s = d["stats"]
    t = s["time_s"]
    if not s["timed_sessions"]:
        return _section("time", "1. Where the time goes", "No timed sessions: the logs carry no timestamps, so there is "
                        "no time to split (untimed logs still serve mining).", "")
    ceil = s["ceiling"]
    cards = _cards([
        ("timed sessions", f"{s['timed_sessions']} of {s['sessions']}"), ("agent time", fmt_s(t["agent"])),
        ("tool stall (speculation ceiling)", fmt_pct(ceil["share_of_agent_time"])),
        ("at most, with all tool time hidden", f"{ceil['ceiling_speedup']:.2f}×"),
        ("steps with parallel calls", fmt_pct(s["parallel_step_share"])),
    ])
    agent = [("LLM think", t["think"], COLORS["think"]), ("tool stall", t["tool_stall"], COLORS["tool_stall"]),
             ("other gaps", t["other"], COLORS["other"])]
    overall = (svg.share_bar(agent + [("human wait", t["human_wait"], COLORS["human"])], "overall split of wall time")
               + svg.share_bar(agent, "overall split of agent time"))
    tools = [r for r in s["tools"] if r["p50_s"] is not None][: d["top_tools"]]
    body = (cards + "<h3>Overall: wall time, then agent time (what speculation acts on)</h3>" + overall
            + f"<h3>Per session (the {len(d['sessions'])} with the most agent time)</h3>" + svg.session_bars(d["sessions"])
            + f"<h3>Per tool (the {len(tools)} most called): latency and critical path</h3>" + svg.tool_chart(tools)
            + _table(["tool", "calls", "errors", "p50", "p95", "critical-path share"],
                     [[r["tool"], r["calls"], r["errors"], fmt_s(r["p50_s"]), fmt_s(r["p95_s"]), fmt_pct(r["critical_share"])] for r in tools])
            + _coverage(s))
    lead = ("Agent time = LLM think windows + tool stall (from a batch's first call to its last result: tool time "
            "that overlaps nothing today) + small gaps. Human waits (user turns, idle gaps, approvals) are kept but "
            "are not on the agent's path: speculation cannot shorten them. A batch's stall counts toward the tool "
            "that finished last: that tool holds the critical path.")
    return _section("time", "1. Where the time goes", lead, body)


def _patterns(d: dict[str, Any]) -> str:
    p = d["patterns"]
    title = "2. Patterns"
    if p is None:
        what = ("the replay used the oracle predictor, which has no mined patterns." if d["options"]["patterns"] == "oracle"
                else "patterns need a pattern table (--patterns).")
        return _section("patterns", title, "Control-flow and data-flow regularities the predictor uses.",
                        _missing(what, _hint(d, "patterns")))
    ev = p["eval"]
    body = ""
    if ev:
        body += _cards([("next tool top-1 (floor)", f"{fmt_pct(ev['tool_top1'])} ({fmt_pct(ev['floor_tool_top1'])})"),
                        ("exact call top-1 / top-3", f"{fmt_pct(ev['call_top1'])} / {fmt_pct(ev['call_top3'])}"),
                        ("floor: repeat the last call", fmt_pct(ev["repeat_last_call"])),
                        ("held-out decisions", f"{ev['decisions']} in {ev['sessions']} sessions")])
    cf = "".join(f"<li>{esc(r['pattern'])}</li>" for r in p["control_flow"])
    df = "".join(f"<li>{esc(r['pattern'])}</li>" for r in p["data_flow"])
    body += (f'<div class="two"><div><h3>Control flow: which tool comes next</h3><ol class="patterns">{cf}</ol></div>'
             f'<div><h3>Data flow: where the arguments come from</h3><ol class="patterns">{df}</ol>'
             f'<p class="lead">Rate = share of the cases the rule applied to where it reproduced the argument exactly.</p></div></div>'
             "<h3>Next-tool transition graph</h3>"
             '<p class="lead">Nodes: the last event (area ~ decisions seen after it). Arrows: probability that the next '
             "LLM step calls that tool (shrunk toward shorter contexts, as the predictor uses it); the strongest "
             "three per node above 8% are drawn.</p>" + svg.transition_graph(p["graph"]))
    lead = (f"Mined from the train split of {esc(p['dataset_hash'])} ({p['train'].get('sessions', '?')} sessions); "
            "evaluated on the held-out test split against trivial floors.")
    return _section("patterns", title, lead, body)


def _timeline(d: dict[str, Any]) -> str:
    tl = d["timeline"]
    title = "3. One session, three ways"
    if tl is None:
        return _section("timeline", title, "A session replayed serially, under PASTE and under B-PASTE.",
                        _missing("the timeline needs a pattern table (--patterns) and a timed session in the replayed split.",
                                 f"bpaste report {d['provenance']['dataset']} --patterns patterns.bpaste -o report.html"))
    lead = (f"Session <code>{esc(tl['session_id'])}</code> on {esc(tl['device'])}, {esc(tl['why'])}. The three replays share one "
            "time axis; speculative jobs run in their own lanes (green: served a real call, hatched red: waste); a "
            "diamond marks a real call whose result was ready (a hit). Human waits are cut out of the axis (purple marks). "
            "Hover for details; <code>--session ID</code> picks another session.")
    return _section("timeline", title, lead, svg.timeline(tl))


def _coverage(s: dict[str, Any]) -> str:
    """Tool time by safety class, the tools the safety table does not know and what made shell commands unknown."""
    stall = s["time_s"]["tool_stall"]
    body = ("<h3>By safety class: only read-only calls are ever speculated</h3>"
            + _table(["class", "calls", "tool time", "share of tool time", "critical path", "share of tool stall"],
                     [[name, r["calls"], fmt_s(r["tool_s"]), fmt_pct(r["share"]), fmt_s(r["critical_s"]),
                       fmt_pct(r["critical_s"] / stall if stall else None)] for name, r in s["safety_classes"].items()]))
    if s["unclassified_tools"]:
        body += ("<h3>Tools the safety table does not know (unknown: never speculated)</h3>"
                 + _table(["tool", "calls", "tool time", "critical path", "a --safety file line that would classify it"],
                          [[r["tool"], r["calls"], fmt_s(r["tool_s"]), fmt_s(r["critical_s"]), f"[tools] {r['toml']}"]
                           for r in s["unclassified_tools"]]))
    if s["unknown_shell_programs"]:
        body += ("<h3>What made shell commands unknown</h3>"
                 + _table(["program or construct", "calls", "tool time", "critical path"],
                          [[r["program"], r["calls"], fmt_s(r["tool_s"]), fmt_s(r["critical_s"])] for r in s["unknown_shell_programs"]]))
    return body


def _what_if(w: dict[str, Any] | None) -> str:
    """What one more allowed tool or shell program would be worth (replayed, oracle and B-PASTE)."""
    if not w or not w["rows"]:
        return ""
    arms = list(w["baseline"])
    rows = [["(as the table stands)", *(f"{w['baseline'][a]:.3f}×" for a in arms), *("" for _ in arms), ""]]
    rows += [[("shell: " if r["kind"] == "program" else "") + r["name"], *(f"{r[a]:.3f}×" for a in arms),
              *(fmt_pct(r[f"{a}_gain"]) for a in arms), ("[tools] " if r["kind"] == "tool" else "add to ") + r["toml"]] for r in w["rows"]]
    return ("<h3>What if one more tool or program were allowed</h3>"
            '<p class="lead">The same split replayed with the safety table overridden for one tool (read-only) or one shell '
            "program (enabled in [shell] read_only) at a time: what that classification decision is worth. Allow only what "
            "really has no side effects.</p>"
            + _table(["allow", *(ARM_NAMES.get(a, a) for a in arms), *(f"{ARM_NAMES.get(a, a)} gain" for a in arms),
                      "line for a --safety file"], rows))


def _speedup(d: dict[str, Any]) -> str:
    r = d["replay"]
    title = "4. Speedup"
    if r is None:
        return _section("speedup", title, "Replayed speedup per arm and device.",
                        _missing("speedups need a pattern table (--patterns) to replay with.", _hint(d, "patterns")))
    main = next(iter(r["devices"]))
    m = r["devices"][main]
    if not m["sessions_replayed"]:
        return _section("speedup", title, "Replayed speedup per arm and device.",
                        _missing(f"the {r['split']} split has no timed session to replay.", "bpaste replay DATASET --split all"))
    rows = []
    for dev, v in r["devices"].items():
        for arm, a in v["arms"].items():
            lo, hi = a["speedup_ci95"]
            rows.append([dev, ARM_NAMES.get(arm, arm), f"{a['speedup']:.3f}×", f"{lo:.3f}–{hi:.3f}", f"{a['median_session_speedup']:.3f}×",
                         fmt_s(a["tool_stall_hidden_s"]), a["hits"], a["inflight_promotions"], a["misses"],
                         fmt_s(a["wasted_spec_s"]), f"{a['amplification']:.2f}", fmt_s(a["interference_s"])])
    cfg = r["config"]
    lead = (f"Paired replay in virtual time of the {m['sessions_replayed']} timed sessions of the {esc(r['split'])} split "
            f"(never mined from), with <code>bpaste replay</code>'s defaults (PASTE top-{cfg['top_k']} above p={cfg['threshold']}; "
            f"B-PASTE beam {cfg['beam_width']}×{cfg['beam_depth']} ranked by {esc(cfg['rank'])}). Speedup = Σ serial agent time / "
            f"Σ replayed agent time, with a 95% CI from {cfg['bootstrap']} bootstrap resamples of the sessions. "
            f"{esc(main)} is the device asked for; "
            + ("the others are for comparison." if len(r["devices"]) > 1 else "no comparison device was asked for."))
    strip = svg.speedup_strip([x for x in r["per_session"] if x["arm"] != "serial"])
    body = (svg.speedup_chart(r["devices"])
            + _table(["device", "arm", "speedup", "95% CI", "median session", "stall hidden", "hits", "in flight", "misses",
                      "wasted", "amplification", "interference"], rows)
            + f"<h3>Per-session speedups on {esc(main)}</h3>"
            + '<p class="lead">Each dot is one session (box: quartiles, bar: median). The pooled speedup above weighs '
              "sessions by their length; this shows how evenly the gain is spread.</p>" + strip
            + _what_if(r.get("what_if")))
    return _section("speedup", title, lead, body)


def _kv(d: dict[str, Any]) -> str:
    return _table(["name", "value"], [[k, v if not isinstance(v, (dict, list)) else orjson.dumps(v).decode()] for k, v in d.items()])


def _policy(d: dict[str, Any]) -> str:
    p = d["policy"]
    title = "5. Policy"
    if p is None:
        return _section("policy", title, "The tuned policy, how it was chosen, and its provenance.",
                        _missing("no policy was given (--policy policy.json).", _hint(d, "policy")))
    body = f'<div class="two"><div><h3>Parameters</h3>{_kv(p["parameters"])}</div><div><h3>Provenance</h3>{_kv(p["provenance"])}</div></div>'
    body += f"<h3>Validation metrics it was chosen on</h3>{_kv(p['validation'])}"
    if p["trials"]:
        body += f"<h3>Optuna trials ({len(p['trials'])})</h3>" + svg.trials_chart(p)
    else:
        body += '<div class="missing">The policy lists no trials, so there is no study to draw.</div>'
    lead = f"<code>{esc(p['path'])}</code> (schema {esc(p['schema_version'])}, device {esc(p['device'])})."
    return _section("policy", title, lead, body)


def render(data: dict[str, Any]) -> str:
    """The whole page."""
    warnings = "".join(f'<div class="warn">warning: {esc(w)}</div>' for w in data["warnings"])
    blob = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode().replace("</", "<\\/")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>bpaste report · {esc(data['provenance']['dataset'])}</title><style>{CSS}</style></head><body>"
        + _header(data) + "<main>" + warnings + _time(data) + _patterns(data) + _timeline(data) + _speedup(data) + _policy(data)
        + f'</main><footer>bpaste {esc(data["provenance"]["bpaste_version"])} · one self-contained file: no script, '
        "no network access, every chart drawn as inline SVG.</footer>"
        f'<script type="application/json" id="report-data">{blob}</script></body></html>'
    )
