"""`bpaste report`: the data on the page equals the library's numbers, the file is self-contained, sections
appear only with their inputs, and (in headless Chromium) every section is present and every chart drawn."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import orjson
import polars as pl
import pytest
from typer.testing import CliRunner

from bpaste_cli.cli import app
from bpaste_cli.mine import load_predictor
from bpaste_cli.report import build_report, gather, render, write_report
from bpaste_cli.report.data import control_patterns, read_policy, transition_graph
from bpaste_cli.report.svg import pareto_front
from bpaste_cli.stats import compute_stats, session_breakdown
from bpaste_cli.trace.dataset import load_dataset

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_traces"
SECTIONS = ("header", "time", "patterns", "timeline", "speedup", "policy")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sample traces ingested and mined once for the module: (dataset dir, pattern dir, tmp dir)."""
    from bpaste_cli.ingest import ingest
    from bpaste_cli.mine import mine

    tmp = tmp_path_factory.mktemp("report")
    ingest([str(SAMPLES)], tmp / "ds")
    mine(tmp / "ds", tmp / "pat")
    return tmp / "ds", tmp / "pat", tmp


PARAMS = {"arm": "bpaste", "slots": 4, "ttl_s": 60.0, "beam_width": 3, "beam_depth": 2, "rank": "value", "min_prob": 0.15,
          "interference_budget": 0.1, "allowed": ["read-only"], "fast_path": True}


def _metrics(speedup: float, waste: float) -> dict:
    return {"speedup": speedup, "speedup_ci95": [speedup - 0.01, speedup + 0.01], "agent_time_s": 100.0,
            "serial_agent_time_s": 100.0 * speedup, "amplification": 1.0, "interference_s": 0.0, "wasted_spec_s": waste,
            "sessions": 9}


def write_policy_file(path: Path, pat: Path, rows: list[dict], pareto: list[int], trial: int, device: str = "thor") -> Path:
    """A schema-valid policy (the real device, safety table and predictor) with invented trials and figures."""
    from bpaste_cli.device import load_device
    from bpaste_cli.policy import build_policy, write_policy
    from bpaste_cli.safety import load_safety

    chosen = next(r for r in rows if r["number"] == trial)
    doc = build_policy(
        device=load_device(device), parameters=PARAMS, safety=load_safety(), predictor=load_predictor(pat), value_model=None,
        provenance={"bpaste_version": "0.1.0", "dataset": "ds", "dataset_hash": "feedfacecafe0001", "patterns": str(pat),
                    "pattern_hash": "0123456789abcdef", "seed": 0, "storage": "sqlite:///demo.db", "study": "demo",
                    "trial": trial, "objectives": ["speedup", "waste"],
                    "constraints": {"max_interference": 0.05, "max_amplification": 3.0}, "selection": "invented"},
        validation={"split": "validation", "sessions": 9, "policy": _metrics(chosen["speedup"], 4.0),
                    "serial": _metrics(1.0, 0.0), "baselines": {}},
        trials={"complete": len(rows), "rows": rows, "pareto": pareto},
    )
    write_policy(path, doc)
    return path


@pytest.fixture(scope="module")
def policy_file(built) -> Path:
    """An invented policy: 6 trials on two objectives (speedup up, waste down)."""
    points = [(1.02, 30.0), (1.05, 80.0), (1.01, 50.0), (1.07, 150.0), (1.04, 90.0), (1.00, 10.0)]  # 2, 4 dominated
    rows = [{"number": i, "state": "complete", "params": {"beam_width": 1 + i % 3}, "speedup": s, "waste": w}
            for i, (s, w) in enumerate(points)]
    return write_policy_file(built[2] / "policy.json", built[1], rows, [0, 1, 3, 5], trial=1)


@pytest.fixture(scope="module")
def full(built, policy_file):
    """The report with every input: (data, html)."""
    ds, pat, _ = built
    data = gather(ds, patterns=str(pat), policy=policy_file, device="thor", compare=("server",))
    return data, render(data)


def embedded(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_time_numbers_equal_the_library(built, full):
    data, page = full
    ds = load_dataset(built[0])
    stats = compute_stats(ds)
    assert data["stats"]["time_s"] == stats["time_s"]
    assert data["stats"]["tools"] == stats["tools"]
    assert data["sessions"] == session_breakdown(ds).head(15).to_dicts()
    # sample_traces/README.md: 142 sessions, of which the 20 chat ones are untimed -> 122 timed
    assert data["stats"]["sessions"] == 142 and data["stats"]["timed_sessions"] == 122
    assert ">122 of 142<" in page
    assert embedded(page)["stats"]["time_s"] == stats["time_s"]


def test_replay_numbers_equal_the_library(built, full):
    from bpaste_cli.replay import replay

    data, page = full
    ds, pat, _ = built
    rep = replay(load_dataset(ds), load_predictor(pat), device="thor")
    arms = data["replay"]["devices"]["thor"]["arms"]
    for name, a in rep.arms.items():
        assert arms[name]["speedup"] == a["speedup"] and arms[name]["speedup_ci95"] == a["speedup_ci95"]
        lo, hi = a["speedup_ci95"]
        assert f"{a['speedup']:.3f}×" in page and f"{lo:.3f}–{hi:.3f}" in page
    assert set(data["replay"]["devices"]) == {"thor", "server"}
    assert data["replay"]["per_session"] == rep.per_session


def test_timeline_is_the_session_with_most_to_gain(built, full):
    data, _ = full
    ds = load_dataset(built[0])
    rows = data["replay"]["per_session"]
    oracle = {r["session_id"]: r["serial_agent_s"] - r["agent_s"] for r in rows if r["arm"] == "oracle"}
    tl = data["timeline"]
    assert tl["session_id"] == max(oracle, key=oracle.get)
    # the serial replay reproduces the logged agent time; the others equal their per-session replay rows
    logged = ds.sessions.filter(pl.col("session_id") == tl["session_id"])["agent_time_s"][0]
    assert tl["arms"]["serial"]["agent_s"] == pytest.approx(logged, abs=1e-6)
    for arm in ("paste", "bpaste"):
        row = next(r for r in rows if r["arm"] == arm and r["session_id"] == tl["session_id"])
        assert tl["arms"][arm]["agent_s"] == pytest.approx(row["agent_s"], abs=1e-9)
        assert tl["arms"][arm]["hits"] == row["hits"]
        spec = [it for it in tl["arms"][arm]["items"] if it["kind"].startswith("spec-")]
        assert len(spec) == row["spec_started"]
    hits = [it for it in tl["arms"]["bpaste"]["items"] if it["kind"] == "hit"]
    assert len(hits) == tl["arms"]["bpaste"]["hits"]


def test_patterns_in_words_come_from_the_table(built, full):
    data, page = full
    pred = load_predictor(built[1])
    c = pred.tables["control"]
    rows = {(tuple(ctx), tool): (n, count, p) for ctx, n, tool, count, p in zip(c["context"], c["n"], c["tool"], c["count"], c["prob"])}
    for r in control_patterns(pred):
        assert rows[(tuple(r["context"]), r["tool"])] == (r["n"], r["count"], r["prob"])
        assert html.escape(r["pattern"]) in page
    g = transition_graph(pred)
    assert g["edges"] and all(rows[((e["src"],), e["dst"])][2] == e["prob"] for e in g["edges"])
    for p in data["patterns"]["data_flow"]:
        assert html.escape(p["pattern"], quote=True) in page


def test_file_is_self_contained(full):
    _, page = full
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', page, re.I)
    assert refs and all(r.startswith("#") for r in refs), refs  # only in-page anchors (nav, SVG markers)
    assert "url(http" not in page and "@import" not in page and "<link" not in page.lower()
    assert "<script" not in page.replace('<script type="application/json" id="report-data">', "")


def test_sections_without_inputs_say_what_is_missing(built):
    page = build_report(built[0])
    for sid in SECTIONS:
        assert f'id="{sid}"' in page
    assert page.count('class="missing"') == 4  # patterns, timeline, speedup, policy
    assert f"bpaste mine {built[0]} -o patterns.bpaste" in page
    assert "<svg" in page.split('id="time"')[1].split('id="patterns"')[0]


def test_policy_section(full, policy_file):
    data, page = full
    p = data["policy"]
    assert p["parameters"] == PARAMS and p["chosen_trial"] == 1
    assert "Optuna trials (6)" in page and "chosen: trial 1" in page
    # maximise x, minimise y: 0 dominates 2, 1 dominates 4; 0, 1, 3, 5 are non-dominated
    pts = [(t["values"][0], t["values"][1], t["number"]) for t in p["trials"]]
    assert pareto_front(pts, ["maximize", "minimize"]) == {0, 1, 3, 5}


def test_bad_policy_is_one_sentence(tmp_path):
    from bpaste_cli.errors import BpasteError

    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(BpasteError, match="not valid JSON"):
        read_policy(bad)
    with pytest.raises(BpasteError, match="absent.json does not exist"):
        read_policy(tmp_path / "absent.json")
    foreign = tmp_path / "foreign.json"  # a shape bpaste never writes is refused, not half-read
    foreign.write_bytes(orjson.dumps({"schema_version": 1, "device": {"name": "thor"}, "parameters": {"beam_width": 3}}))
    with pytest.raises(BpasteError, match="holds a document of another kind, not a policy"):
        read_policy(foreign)


def test_cli_writes_the_page(built, tmp_path):
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", str(built[0]), "--patterns", str(built[1]), "--compare", "", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["kind"] == "report" and list(doc["data"]["replay"]["devices"]) == ["thor"]
    assert embedded(out.read_text())["replay"]["devices"]["thor"]["arms"]["bpaste"]["speedup"] == \
        doc["data"]["replay"]["devices"]["thor"]["arms"]["bpaste"]["speedup"]
    res = CliRunner().invoke(app, ["report", str(built[0]), "--patterns", str(built[1]), "--session", "no-such", "-o", str(out)])
    assert type(res.exception).__name__ == "BpasteError" and "no session 'no-such'" in str(res.exception)  # main() -> exit 2


# -- headless Chromium -----------------------------------------------------------------------------

PROBE = """<script>
const out = {sections: {}, charts: []};
for (const id of %s) { const el = document.getElementById(id); const r = el ? el.getBoundingClientRect() : null;
  out.sections[id] = r ? [r.width, r.height] : null; }
document.querySelectorAll("svg.chart").forEach(s => { const r = s.getBoundingClientRect(); let drawn = 0;
  s.querySelectorAll("rect,path,circle,line,polyline").forEach(e => { const b = e.getBBox(); if (b.width > 0 || b.height > 0) drawn++; });
  out.charts.push({label: s.getAttribute("aria-label"), w: r.width, h: r.height, drawn, section: s.closest("section,header").id}); });
out.height = document.documentElement.scrollHeight;
const pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
</script></body>"""


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not exe:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium chromium-driver)")
    return exe


def _run(exe: str, profile: Path, *args: str) -> str:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def test_renders_in_chromium(built, policy_file, tmp_path):
    exe = _chromium()
    ds, pat, _ = built
    report = tmp_path / "report.html"
    write_report(report, ds, patterns=str(pat), policy=policy_file)
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", PROBE % json.dumps(list(SECTIONS))))
    dom = _run(exe, tmp_path / "profile", "--dump-dom", probe.as_uri())
    got = json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)))
    for sid in SECTIONS:
        w, h = got["sections"][sid]
        assert w > 0 and h > 0, sid
    per = {}
    for c in got["charts"]:
        assert c["w"] > 100 and c["h"] > 40 and c["drawn"] >= 3, c
        per[c["section"]] = per.get(c["section"], 0) + 1
    # time: wall + agent share bars, per session, per tool; patterns: graph; timeline; speedup: CI + strip; policy: trials
    assert per == {"time": 4, "patterns": 1, "timeline": 1, "speedup": 2, "policy": 1}

    shot = tmp_path / "report.png"
    _run(exe, tmp_path / "profile", f"--screenshot={shot}", f"--window-size=1200,{min(got['height'], 16000)}", report.as_uri())
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (1200, min(got["height"], 16000))
    if os.environ.get("BPASTE_UPDATE_DOCS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "report.png")


def test_reads_tunes_policy_shape(built, tmp_path):
    """The shape `bpaste tune` writes (trials as {complete, rows, pareto}; validation nested): invented values."""
    rows = [{"number": 0, "state": "complete", "params": {"beam_width": 2}, "speedup": 1.03, "waste": 0.2},
            {"number": 1, "state": "complete", "params": {"beam_width": 3}, "speedup": 1.05, "waste": 0.4},
            {"number": 2, "state": "pruned", "params": {"beam_width": 1}, "speedup": None, "waste": None}]
    path = write_policy_file(tmp_path / "policy.json", built[1], rows, [0, 1], trial=1, device="orin")
    p = read_policy(path)
    assert p["device"] == "orin" and p["objectives"] == ["speedup", "waste"] and p["pareto"] == [0, 1]
    assert p["trials"] == [{"number": 0, "values": [1.03, 0.2], "params": {"beam_width": 2}},
                           {"number": 1, "values": [1.05, 0.4], "params": {"beam_width": 3}}]
    assert p["validation"] == {"split": "validation", "sessions": 9} | _metrics(1.05, 4.0)
    from bpaste_cli.report.svg import trials_chart

    assert trials_chart(p).count("<circle") == 2 and "chosen: trial 1" in trials_chart(p)
