"""`bpaste demo` end to end on the bundled sample traces (a small tuning budget to keep it quick)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_demo_runs_every_step_and_writes_every_artifact(tmp_path):
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "bpaste_cli", "demo", "--out", str(out), "--trials", "6", "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["kind"] == "demo"
    assert [s["name"] for s in doc["steps"]] == ["ingest", "stats", "mine", "fit", "tune", "replay", "report"]
    ingest, replay = doc["steps"][0], doc["steps"][5]
    assert ingest["sessions"] == 142 and ingest["skipped"] == 0  # sample_traces/README.md: 142 sessions
    assert replay["reproduced"] is True  # the policy's recorded validation speedup is reproduced exactly
    ws = out / ".bpaste"  # the demo works in a workspace, laid out as the verbs lay it out
    assert doc["paths"] == {"workspace": str(ws), "dataset": str(ws / "dataset"), "patterns": str(ws / "patterns"),
                            "model": str(ws / "models" / "thor.json"), "policy": str(ws / "policies" / "thor.json"),
                            "report": str(ws / "report.html")}
    for name in ("dataset", "patterns", "model", "policy", "report"):
        assert Path(doc["paths"][name]).exists(), name
    assert list((ws / "studies").glob("thor.optuna.db"))
    # the verbs carry on from it: status (as the demo prints it) says nothing is stale
    verb, option, where = doc["next"][0].split()[1:]
    assert (verb, option) == ("status", "--workspace") and (REPO / where).resolve() == ws.resolve()
    status = subprocess.run([sys.executable, "-m", "bpaste_cli", *doc["next"][0].split()[1:], "--json"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert status.returncode == 0, status.stderr
    st = json.loads(status.stdout)
    assert st["stale"] == [] and st["next"] == []
    assert {a["name"] for a in st["artifacts"]} >= {"dataset", "patterns", "model:thor", "policy:thor", "report"}
    html = Path(doc["paths"]["report"]).read_text()
    assert "<svg" in html and "http://" not in html.split("<body", 1)[1].split("</body>")[0].replace("http://www.w3.org", "")


def test_demo_regenerates_the_samples_when_run_elsewhere(tmp_path, monkeypatch):
    """Run from a folder without sample_traces: the demo writes them (byte-identical) and uses them."""
    from bpaste_cli.demo import _samples

    monkeypatch.chdir(tmp_path)
    got = _samples(None, tmp_path)
    assert got == tmp_path / "sample_traces"
    committed = sorted(p.relative_to(REPO / "sample_traces") for p in (REPO / "sample_traces").rglob("*.*") if p.name != "README.md")
    assert sorted(p.relative_to(got) for p in got.rglob("*.*")) == committed
