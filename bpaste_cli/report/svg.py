"""Inline SVG charts drawn in Python: no JavaScript, no external files, native hover tooltips (<title>).

Each function takes plain data (from `report.data`) and returns one `<svg class="chart">` string. Layouts
are deterministic, so the same data always gives the same picture.
"""

from __future__ import annotations

import hashlib
import math
from html import escape
from typing import Any

COLORS = {
    "think": "#4C78A8", "tool_stall": "#F58518", "other": "#BAB0AC", "human": "#D8B5CF",
    "serial": "#8C8C8C", "oracle": "#B279A2", "paste": "#72B7B2", "bpaste": "#54A24B",
    "tool": "#F58518", "hit": "#2E8B3E", "inflight": "#9BD08A",
    "spec-reuse": "#54A24B", "spec-in-flight": "#9BD08A", "spec-waste": "#E45756",
    "ink": "#1F2328", "muted": "#6E7781", "grid": "#E6E8EB",
}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def esc(x: Any) -> str:
    return escape(str(x), quote=True)


def fmt_s(x: float | None) -> str:
    """Seconds for people: 0.42 s, 12.3 s, 4.2 min, 3.1 h."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if abs(x) >= 3600:
        return f"{x / 3600:.1f} h"
    if abs(x) >= 60:
        return f"{x / 60:.1f} min"
    return f"{x:.2f} s" if abs(x) < 10 else f"{x:.1f} s"


def fmt_pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def short(label: str, n: int) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def svg(w: float, h: float, body: str, label: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 {w:.0f} {h:.0f}" width="{w:.0f}" '
            f'height="{h:.0f}" role="img" aria-label="{esc(label)}" font-family="{esc(FONT)}" font-size="12">'
            f"<title>{esc(label)}</title>{body}</svg>")


def text(x: float, y: float, s: Any, anchor: str = "start", size: float = 12, fill: str = COLORS["ink"], bold: bool = False) -> str:
    weight = ' font-weight="600"' if bold else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{weight}>{esc(s)}</text>'


def rect(x: float, y: float, w: float, h: float, fill: str, tip: str | None = None, extra: str = "") -> str:
    inner = f"<title>{esc(tip)}</title>" if tip else ""
    return f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(w, 0):.2f}" height="{h:.2f}" fill="{fill}" {extra}>{inner}</rect>'


def line(x1: float, y1: float, x2: float, y2: float, stroke: str = COLORS["grid"], width: float = 1, dash: str = "") -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<line x1="{x1:.2f}" y1="{y1:.2f}" x2="{x2:.2f}" y2="{y2:.2f}" stroke="{stroke}" stroke-width="{width}"{d}/>'


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def time_ticks(hi: float, n: int = 5) -> list[tuple[float, str]]:
    """(seconds, label) ticks from 0 to `hi`, round in the unit people read (s, min or h)."""
    unit, name = (3600, "h") if hi >= 7200 else (60, "min") if hi >= 120 else (1, "s")
    return [(v * unit, f"{v:g} {name}") for v in nice_ticks(0, hi / unit, n)]


def legend(items: list[tuple[str, str]], x: float, y: float) -> str:
    out, cx = [], x
    for label, color in items:
        out.append(rect(cx, y - 10, 12, 12, color, extra='rx="2"') + text(cx + 17, y, label, fill=COLORS["muted"]))
        cx += 30 + 7 * len(label)
    return "".join(out)


def share_bar(parts: list[tuple[str, float, str]], label: str, width: int = 1000) -> str:
    """One 100% bar (e.g. wall time = think + tool stall + other + human wait) with a legend of seconds."""
    total = sum(v for _, v, _ in parts) or 1.0
    x, body = 0.0, []
    for name, v, color in parts:
        w = width * v / total
        tip = f"{name}: {fmt_s(v)} ({fmt_pct(v / total)})"
        body.append(rect(x, 0, w, 34, color, tip))
        if w > 70:
            body.append(text(x + 6, 22, f"{name} {v / total:.0%}", fill="#fff" if color != COLORS["other"] else COLORS["ink"], bold=True))
        x += w
    body.append(legend([(f"{n}: {fmt_s(v)} ({fmt_pct(v / total)})", c) for n, v, c in parts], 0, 60))
    return svg(width, 70, "".join(body), label)


def session_bars(rows: list[dict[str, Any]], width: int = 1000) -> str:
    """Per session: agent time stacked (think, tool stall, other) on one axis; human wait on its own axis."""
    lab, gap, hw = 250, 70, 150
    aw = width - lab - gap - hw - 50
    rh, top = 22, 30
    amax = max((r["agent_time_s"] for r in rows), default=1.0) or 1.0
    hmax = max((r["human_wait_s"] for r in rows), default=0.0) or 1.0
    body = [legend([("LLM think", COLORS["think"]), ("tool stall", COLORS["tool_stall"]), ("other gaps", COLORS["other"]),
                    ("human wait (own scale)", COLORS["human"])], 0, 12)]
    h = top + rh * len(rows) + 30
    for t, label in time_ticks(amax):
        x = lab + aw * t / amax
        body.append(line(x, top - 4, x, h - 26) + text(x, h - 12, label, "middle", 11, COLORS["muted"]))
    for t, label in time_ticks(hmax, 2):
        x = lab + aw + gap + hw * t / hmax
        body.append(line(x, top - 4, x, h - 26) + text(x, h - 12, label, "middle", 11, COLORS["muted"]))
    for i, r in enumerate(rows):
        y = top + i * rh
        body.append(text(lab - 8, y + 14, short(r["session_id"], 34), "end", 11))
        x = lab
        for key, name in (("think_s", "LLM think"), ("tool_stall_s", "tool stall"), ("other_s", "other gaps")):
            w = aw * r[key] / amax
            body.append(rect(x, y + 3, w, rh - 6, COLORS[key[:-2]], f"{r['session_id']} · {name}: {fmt_s(r[key])}"))
            x += w
        body.append(text(x + 4, y + 15, fmt_s(r["agent_time_s"]), size=10, fill=COLORS["muted"]))
        hx = lab + aw + gap + hw * r["human_wait_s"] / hmax
        body.append(rect(lab + aw + gap, y + 3, hx - lab - aw - gap, rh - 6, COLORS["human"],
                         f"{r['session_id']} · human wait: {fmt_s(r['human_wait_s'])}"))
        body.append(text(hx + 4, y + 15, fmt_s(r["human_wait_s"]), size=10, fill=COLORS["muted"]))
    return svg(width, h, "".join(body), "agent time per session: think, tool stall, other; human wait")


def tool_chart(rows: list[dict[str, Any]], width: int = 1000) -> str:
    """Per tool: p50 and p95 latency (log axis) and the share of agent time it holds the critical path."""
    lab, gap, cw = 150, 130, 170
    lw = width - lab - gap - cw - 50
    rh, top = 24, 30
    vals = [v for r in rows for v in (r["p50_s"], r["p95_s"]) if v and v > 0]
    lo = 10 ** math.floor(math.log10(min(vals))) if vals else 0.01
    hi = 10 ** math.ceil(math.log10(max(vals))) if vals else 1.0
    hi = hi * 10 if hi <= lo else hi

    def lx(v: float) -> float:
        return lab + lw * (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    cmax = max((r["critical_share"] or 0 for r in rows), default=0) or 1.0
    h = top + rh * len(rows) + 30
    body = [legend([("p50", "#4C78A8"), ("p95", "#A9C4E2"), ("critical-path share of agent time", COLORS["tool_stall"])], 0, 12)]
    e = math.log10(lo)
    while e <= math.log10(hi) + 1e-9:
        x = lx(10**e)
        body.append(line(x, top - 4, x, h - 26) + text(x, h - 12, f"{10**e:g} s", "middle", 11, COLORS["muted"]))
        e += 1
    for t in nice_ticks(0, cmax, 3):
        x = lab + lw + gap + cw * t / cmax
        body.append(line(x, top - 4, x, h - 26) + text(x, h - 12, f"{t:.0%}", "middle", 11, COLORS["muted"]))
    for i, r in enumerate(rows):
        y = top + i * rh
        body.append(text(lab - 8, y + 15, short(r["tool"], 20), "end", 12))
        tip = f"{r['tool']}: {r['calls']} calls, p50 {fmt_s(r['p50_s'])}, p95 {fmt_s(r['p95_s'])}"
        if r["p95_s"] is not None:
            body.append(rect(lab, y + 4, lx(r["p95_s"]) - lab, rh - 8, "#A9C4E2", tip))
        if r["p50_s"] is not None:
            body.append(rect(lab, y + 4, lx(r["p50_s"]) - lab, rh - 8, "#4C78A8", tip))
            body.append(text(lx(r["p95_s"] or r["p50_s"]) + 5, y + 16, f"{fmt_s(r['p50_s'])} / {fmt_s(r['p95_s'])}", size=10, fill=COLORS["muted"]))
        share = r["critical_share"] or 0.0
        body.append(rect(lab + lw + gap, y + 4, cw * share / cmax, rh - 8, COLORS["tool_stall"],
                         f"{r['tool']} holds the critical path for {fmt_pct(share)} of agent time"))
        body.append(text(lab + lw + gap + cw * share / cmax + 4, y + 16, fmt_pct(share), size=10, fill=COLORS["muted"]))
    return svg(width, h, "".join(body), "per-tool latency p50/p95 and critical-path share")


def _circle_order(nodes: list[str], edges: list[dict[str, Any]]) -> list[str]:
    """Greedy ring order: start with the best-supported node, then always the one most tied to the last placed."""
    weight: dict[tuple[str, str], float] = {}
    for e in edges:
        if e["src"] != e["dst"]:
            pair = tuple(sorted((e["src"], e["dst"])))
            weight[pair] = weight.get(pair, 0.0) + e["prob"]
    order, left = nodes[:1], nodes[1:]
    while left:
        last = order[-1]
        nxt = max(left, key=lambda k: (weight.get(tuple(sorted((last, k))), 0.0), -nodes.index(k)))
        order.append(nxt)
        left.remove(nxt)
    return order


def _edge_label(x: float, y: float, p: float) -> str:
    return (f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" font-size="11" font-weight="600" fill="#1F2328" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke">{p:.0%}</text>')


def transition_graph(graph: dict[str, Any], width: int = 760, height: int = 560, uid: str = "g") -> str:
    """Next-tool graph on a circle: node area ~ decisions seen, edge width/opacity ~ P(next step calls it)."""
    nodes = {n["key"]: n for n in graph["nodes"]}
    order = _circle_order(list(nodes), graph["edges"])
    cx, cy, R = width / 2, height / 2 + 4, min(width, height) / 2 - 90
    nmax = max((n["n"] for n in nodes.values()), default=1)
    pos, rad = {}, {}
    for i, k in enumerate(order):
        a = -math.pi / 2 + 2 * math.pi * i / max(len(order), 1)
        pos[k] = (cx + R * math.cos(a), cy + R * math.sin(a), a)
        rad[k] = 10 + 16 * math.sqrt(nodes[k]["n"] / nmax)
    body = [f'<defs><marker id="{uid}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
            f'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#3B5B84"/></marker></defs>']
    for e in sorted(graph["edges"], key=lambda e: e["prob"]):
        (x1, y1, a1), (x2, y2, _) = pos[e["src"]], pos[e["dst"]]
        sw, op = 1 + 7 * e["prob"], 0.25 + 0.7 * e["prob"]
        tip = f"after {nodes[e['src']]['label']}: next step calls {e['dst']} with p = {e['prob']:.2f} ({e['count']} times)"
        if e["src"] == e["dst"]:
            r, a = rad[e["src"]], a1 + 0.75  # beside the node, clear of its name (which sits on the radius)
            lx, ly = x1 + (r + 10) * math.cos(a), y1 + (r + 10) * math.sin(a)
            body.append(f'<circle cx="{lx:.1f}" cy="{ly:.1f}" r="13" fill="none" stroke="#3B5B84" stroke-width="{sw:.1f}" '
                        f'stroke-opacity="{op:.2f}"><title>{esc(tip)}</title></circle>')
            if e["prob"] >= 0.25:
                body.append(_edge_label(lx + 26 * math.cos(a), ly + 26 * math.sin(a), e["prob"]))
            continue
        dx, dy = x2 - x1, y2 - y1
        dist = math.hypot(dx, dy) or 1
        mx, my = (x1 + x2) / 2 - dy / dist * dist * 0.15, (y1 + y2) / 2 + dx / dist * dist * 0.15
        # start and end on the circles' rims, aimed at the control point
        def rim(x: float, y: float, r: float) -> tuple[float, float]:
            d = math.hypot(mx - x, my - y) or 1
            return x + (mx - x) / d * r, y + (my - y) / d * r
        sx, sy = rim(x1, y1, rad[e["src"]] + 2)
        ex, ey = rim(x2, y2, rad[e["dst"]] + 4)
        body.append(f'<path d="M{sx:.1f},{sy:.1f} Q{mx:.1f},{my:.1f} {ex:.1f},{ey:.1f}" fill="none" stroke="#3B5B84" '
                    f'stroke-width="{sw:.1f}" stroke-opacity="{op:.2f}" marker-end="url(#{uid}-arrow)"><title>{esc(tip)}</title></path>')
        if e["prob"] >= 0.25:  # at 60% of the curve, nearer the target, so crossing edges keep their labels apart
            u = 0.6
            tx = (1 - u) ** 2 * sx + 2 * u * (1 - u) * mx + u * u * ex
            ty = (1 - u) ** 2 * sy + 2 * u * (1 - u) * my + u * u * ey
            body.append(_edge_label(tx, ty, e["prob"]))
    for k in order:
        x, y, a = pos[k]
        n = nodes[k]
        fill = COLORS["human"] if n["label"] == "user turn" else "#DCE6F2"
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{rad[k]:.1f}" fill="{fill}" stroke="#3B5B84" stroke-width="1.5">'
                    f'<title>{esc(n["label"])}: {n["n"]} decisions seen after it</title></circle>')
        off = rad[k] + 34
        tx, ty = x + off * math.cos(a), y + off * math.sin(a) + 4
        anchor = "middle" if abs(math.cos(a)) < 0.3 else ("start" if math.cos(a) > 0 else "end")
        if anchor != "middle":
            tx -= 24 * math.cos(a) / abs(math.cos(a))
        body.append(text(tx, ty, n["label"], anchor, 12, bold=True))
    return svg(width, height, "".join(body), "next-tool transition graph")


def timeline(tl: dict[str, Any], width: int = 1000, uid: str = "t") -> str:
    """One session under serial, PASTE and B-PASTE on one agent-time axis; speculative jobs in their own lanes."""
    lab, lh, head = 90, 15, 22
    arms = tl["arms"]
    tmax = max(max((it["t1"] for it in a["items"]), default=0.0) for a in arms.values()) or 1.0
    pw = width - lab - 20

    def X(t: float) -> float:
        return lab + pw * t / tmax

    body = [f'<defs><pattern id="{uid}-hatch" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            f'<rect width="5" height="5" fill="#F6C6C6"/><line x1="0" y1="0" x2="0" y2="5" stroke="{COLORS["spec-waste"]}" stroke-width="2"/></pattern></defs>',
            legend([("LLM think", COLORS["think"]), ("tool call", COLORS["tool"]), ("hit (result ready)", COLORS["hit"]),
                    ("in-flight promotion", COLORS["inflight"]), ("speculative: reused", COLORS["spec-reuse"]),
                    ("speculative: waste", COLORS["spec-waste"]), ("human wait (cut out)", COLORS["human"])], 0, 12)]
    y = 26
    names = {"serial": "serial", "paste": "PASTE", "bpaste": "B-PASTE"}
    for arm, a in arms.items():
        speed = a["serial_s"] / a["agent_s"] if a["agent_s"] else 1.0
        summary = (f"{names.get(arm, arm)}: agent time {fmt_s(a['agent_s'])} ({speed:.3f}×)"
                   + (f" · {a['hits']} hits, {a['promotions']} in flight, {a['spec_started']} speculative starts, "
                      f"{fmt_s(a['wasted_s'])} wasted" if arm != "serial" else ""))
        body.append(text(0, y + 15, summary, size=13, bold=True, fill=COLORS.get(arm, COLORS["ink"]) if arm != "serial" else COLORS["ink"]))
        y += head
        lanes = {name: i for i, name in enumerate(a["lanes"])}
        block = len(a["lanes"]) * lh
        body.append(rect(lab, y, pw, block, "#FAFBFC", extra='stroke="#E6E8EB"'))
        for name, i in lanes.items():
            body.append(text(lab - 6, y + i * lh + 11, name, "end", 10, COLORS["muted"]))
        for it in a["items"]:
            ly = y + lanes[it["lane"]] * lh + 2
            if it["kind"] == "hit":
                x = X(it["t0"])
                body.append(f'<path d="M{x:.1f},{ly:.1f} l5,5.5 l-5,5.5 l-5,-5.5 z" fill="{COLORS["hit"]}"><title>{esc(it["label"])}: hit, '
                            f'result was ready</title></path>')
                continue
            fill = f"url(#{uid}-hatch)" if it["kind"] == "spec-waste" else COLORS[it["kind"]]
            body.append(rect(X(it["t0"]), ly, max(X(it["t1"]) - X(it["t0"]), 1.0), lh - 4, fill, it["label"]))
        for b in a["breaks"]:
            x = X(b["t"])
            body.append(rect(x - 2, y - 2, 4, block + 4, COLORS["human"], f"human wait of {fmt_s(b['seconds'])} cut out here"))
        y += block + 12
    for t, label in time_ticks(tmax, 8):
        body.append(line(X(t), 30, X(t), y - 8, "#EEF0F2") + text(X(t), y + 6, label, "middle", 11, COLORS["muted"]))
    body.append(text(lab + pw / 2, y + 24, "agent time since session start (human waits cut out)", "middle", 11, COLORS["muted"]))
    # grid lines go under the bars: move them first
    grid = [b for b in body if b.startswith("<line")]
    rest = [b for b in body if not b.startswith("<line")]
    return svg(width, y + 32, "".join(rest[:1] + grid + rest[1:]), f"timeline of session {tl['session_id']}")


def speedup_chart(devices: dict[str, Any], arms: tuple[str, ...] = ("oracle", "paste", "bpaste"), width: int = 1000) -> str:
    """Per device and arm: speedup with its 95% bootstrap CI; the all-tools-hidden bound as a dashed line."""
    lab, rh, top = 170, 24, 26
    rows = [(d, a, v["arms"][a]) for d, v in devices.items() for a in arms if a in v["arms"]]
    his = [x for _, _, s in rows for x in s["speedup_ci95"] + [s["speedup"]] if x == x]
    his += [v["bound"]["speedup"] for v in devices.values()]
    lo = min([1.0] + [x for x in his]) - 0.02
    hi = max(his + [1.05]) + 0.03
    pw = width - lab - 170

    def X(v: float) -> float:
        return lab + pw * (v - lo) / (hi - lo)

    h = top + rh * len(rows) + 14 * len(devices) + 34
    body = [legend([(n, COLORS[a]) for a, n in (("oracle", "oracle (upper bound)"), ("paste", "PASTE"), ("bpaste", "B-PASTE"))]
                   + [("95% CI (session bootstrap)", COLORS["ink"])], 0, 12)]
    y = top
    ticks = nice_ticks(lo, hi, 6)
    for dev, v in devices.items():
        y0 = y
        for d, a, s in rows:
            if d != dev:
                continue
            body.append(text(lab - 8, y + 16, f"{dev} · {a}", "end", 12))
            x1, x0 = X(s["speedup"]), X(1.0)
            lo_ci, hi_ci = s["speedup_ci95"]
            tip = f"{dev} {a}: {s['speedup']:.3f}× (95% CI {lo_ci:.3f}–{hi_ci:.3f}) over {s['sessions']} sessions"
            body.append(rect(min(x0, x1), y + 5, abs(x1 - x0), rh - 10, COLORS[a], tip))
            if lo_ci == lo_ci:
                body.append(line(X(lo_ci), y + rh / 2, X(hi_ci), y + rh / 2, COLORS["ink"], 1.5))
                body.append(line(X(lo_ci), y + 7, X(lo_ci), y + rh - 7, COLORS["ink"], 1.5))
                body.append(line(X(hi_ci), y + 7, X(hi_ci), y + rh - 7, COLORS["ink"], 1.5))
            body.append(text(X(max(hi_ci, s["speedup"])) + 6, y + 16, f"{s['speedup']:.3f}×  [{lo_ci:.3f}–{hi_ci:.3f}]", size=11))
            y += rh
        bx = X(v["bound"]["speedup"])
        body.append(line(bx, y0, bx, y, COLORS["muted"], 1.5, "4 3"))
        body.append(text(bx + 4, y + 10, f"all tool time hidden: {v['bound']['speedup']:.3f}×", size=10, fill=COLORS["muted"]))
        y += 14
        body.append(line(0, y + 2, width, y + 2, COLORS["grid"]))
    for t in ticks:
        body.insert(1, line(X(t), top, X(t), y, "#EEF0F2"))
        body.append(text(X(t), y + 18, f"{t:.2f}×", "middle", 11, COLORS["muted"]))
    body.insert(1, line(X(1.0), top, X(1.0), y, COLORS["ink"], 1))
    return svg(width, h, "".join(body), "speedup per arm and device with 95% confidence intervals")


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    i = int(pos)
    return xs[i] + (xs[min(i + 1, len(xs) - 1)] - xs[i]) * (pos - i)


def speedup_strip(per_session: list[dict[str, Any]], arms: tuple[str, ...] = ("oracle", "paste", "bpaste"), width: int = 1000) -> str:
    """Per arm: every session's speedup as a dot (deterministic jitter), with quartile box and median."""
    lab, rh, top = 130, 46, 20
    by_arm = {a: [r["speedup"] for r in per_session if r["arm"] == a] for a in arms}
    by_arm = {a: v for a, v in by_arm.items() if v}
    allv = [x for v in by_arm.values() for x in v] + [1.0]
    lo, hi = min(allv) - 0.01, max(allv) + 0.02
    pw = width - lab - 30

    def X(v: float) -> float:
        return lab + pw * (v - lo) / (hi - lo)

    h = top + rh * len(by_arm) + 30
    body = []
    for t in nice_ticks(lo, hi, 8):
        body.append(line(X(t), top - 6, X(t), h - 26) + text(X(t), h - 10, f"{t:.2f}×", "middle", 11, COLORS["muted"]))
    body.append(line(X(1.0), top - 6, X(1.0), h - 26, COLORS["ink"]))
    for i, (arm, xs) in enumerate(by_arm.items()):
        y = top + i * rh
        q1, med, q3 = _quantile(xs, 0.25), _quantile(xs, 0.5), _quantile(xs, 0.75)
        body.append(text(lab - 8, y + rh / 2 - 2, f"{arm} ({len(xs)})", "end", 12, bold=True))
        body.append(text(lab - 8, y + rh / 2 + 12, f"median {med:.3f}×", "end", 11, COLORS["muted"]))
        body.append(rect(X(q1), y + 8, max(X(q3) - X(q1), 1), rh - 16, COLORS[arm], f"{arm}: quartiles {q1:.3f}–{q3:.3f}",
                         'fill-opacity="0.25" stroke="' + COLORS[arm] + '"'))
        body.append(line(X(med), y + 6, X(med), y + rh - 6, COLORS["ink"], 2.5))
        for j, (r, v) in enumerate(((r, r["speedup"]) for r in per_session if r["arm"] == arm)):
            jitter = int(hashlib.sha256(f"{arm}{j}".encode()).hexdigest()[:4], 16) / 65535 - 0.5
            body.append(f'<circle cx="{X(v):.1f}" cy="{y + rh / 2 + jitter * (rh - 20):.1f}" r="3.5" fill="{COLORS[arm]}" '
                        f'stroke="#fff" stroke-width="0.8"><title>{esc(r["session_id"])}: {v:.3f}×</title></circle>')
    return svg(width, h, "".join(body), "distribution of per-session speedups")


def pareto_front(points: list[tuple[float, float, Any]], directions: list[str]) -> set[Any]:
    """Ids of the points no other point beats on both objectives (each maximised or minimised)."""
    sign = [1 if d.startswith("max") else -1 for d in directions[:2]]
    front = set()
    for x, y, i in points:
        if not any(sign[0] * x2 >= sign[0] * x and sign[1] * y2 >= sign[1] * y and (x2, y2) != (x, y) for x2, y2, _ in points):
            front.add(i)
    return front


def trials_chart(policy: dict[str, Any], width: int = 760, height: int = 380) -> str:
    """The Optuna trials: two objectives as a scatter with the Pareto front, or one objective over trials."""
    trials = [t for t in policy["trials"] if t.get("values") or t.get("value") is not None]
    two = all(len(t.get("values") or []) >= 2 for t in trials)
    if two:
        pts = [(float(t["values"][0]), float(t["values"][1]), t.get("number", i)) for i, t in enumerate(trials)]
        xl, yl = policy["objectives"][0], policy["objectives"][1]
    else:
        pts = [(float(t.get("number", i)), float(t["value"] if t.get("value") is not None else t["values"][0]), t.get("number", i))
               for i, t in enumerate(trials)]
        xl, yl = "trial", policy["objectives"][0]
    front = (set(policy["pareto"]) if policy.get("pareto") is not None else pareto_front(pts, policy["directions"])) if two else set()
    L, B, T, Rm = 70, 50, 30, 20
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    x0, x1 = (x0 - 1, x1 + 1) if x0 == x1 else (x0 - 0.05 * (x1 - x0), x1 + 0.05 * (x1 - x0))
    y0, y1 = (y0 - 1, y1 + 1) if y0 == y1 else (y0 - 0.08 * (y1 - y0), y1 + 0.08 * (y1 - y0))

    def X(v: float) -> float:
        return L + (width - L - Rm) * (v - x0) / (x1 - x0)

    def Y(v: float) -> float:
        return height - B - (height - B - T) * (v - y0) / (y1 - y0)

    body = [legend([("Pareto front" if two else "best so far", "#54A24B"), ("other trials", "#8FA8C8")], L, 12)]
    for t in nice_ticks(x0, x1, 6):
        body.append(line(X(t), T, X(t), height - B) + text(X(t), height - B + 16, f"{t:g}", "middle", 11, COLORS["muted"]))
    for t in nice_ticks(y0, y1, 5):
        body.append(line(L, Y(t), width - Rm, Y(t)) + text(L - 6, Y(t) + 4, f"{t:g}", "end", 11, COLORS["muted"]))
    body.append(text(L + (width - L - Rm) / 2, height - 12, xl, "middle", 12, bold=True))
    body.append(f'<text transform="translate(16,{(height - B + T) / 2:.0f}) rotate(-90)" text-anchor="middle" font-size="12" font-weight="600">{esc(yl)}</text>')
    if front:
        fp = sorted((p for p in pts if p[2] in front), key=lambda p: p[0])
        body.append('<polyline fill="none" stroke="#54A24B" stroke-width="2" points="'
                    + " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y, _ in fp) + '"/>')
    elif not two and pts:
        best, path = None, []
        sign = 1 if policy["directions"][0].startswith("max") else -1
        for x, y, _ in sorted(pts):
            best = y if best is None or sign * y > sign * best else best
            path.append(f"{X(x):.1f},{Y(best):.1f}")
        body.append(f'<polyline fill="none" stroke="#54A24B" stroke-width="2" points="{" ".join(path)}"/>')
    for x, y, i in pts:
        chosen = i == policy.get("chosen_trial")
        fill = "#54A24B" if i in front else "#8FA8C8"
        body.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="{6 if chosen else 4}" fill="{fill}" '
                    f'stroke="{"#1F2328" if chosen else "#fff"}" stroke-width="{2 if chosen else 1}"><title>trial {esc(i)}: '
                    f"{esc(xl)} {x:g}, {esc(yl)} {y:g}{' (chosen)' if chosen else ''}</title></circle>")
        if chosen:
            body.append(text(X(x) + 9, Y(y) - 8, f"chosen: trial {i}", size=11, bold=True))
    return svg(width, height, "".join(body), "Optuna trials" + (" and Pareto front" if two else ""))
