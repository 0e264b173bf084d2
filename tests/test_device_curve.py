"""Device profile v2: the measured slowdown(k) curve, read and used by replay's interference model."""

from __future__ import annotations

import json
import subprocess
import sys

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpaste_cli.device import load_device
from bpaste_cli.errors import BpasteError
from bpaste_cli.lab import profile_toml
from test_calibrate import fabricated


def test_curve_interpolates_through_one_and_extends_its_last_segment(tmp_path):
    path = tmp_path / "box.toml"
    path.write_text(profile_toml(fabricated(), "box", schema_version=2))
    d = load_device(path)
    # llm cpu curve 1.1, 1.2, 1.4, 1.8 at k = 1, 2, 4, 8 (0 -> 1.0)
    assert [d.slowdown("llm", "cpu", k) for k in (0, 1, 2, 3, 4, 6, 8, 10)] == pytest.approx(
        [1.0, 1.1, 1.2, 1.3, 1.4, 1.6, 1.8, 2.0])
    assert d.slowdown("llm", "gpu", 2) == pytest.approx(1 + 2 * d.interference["llm"]["gpu"])  # no curve: linear
    assert d.without_interference().slowdown("llm", "cpu", 4) == 1.0


def test_v1_profile_reads_unchanged_and_a_v1_curve_is_refused(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text(profile_toml(fabricated(), "old", schema_version=1))
    d = load_device(path)
    assert d.curve == {} and d.slowdown("llm", "cpu", 2) == pytest.approx(1 + 2 * d.interference["llm"]["cpu"])
    bad = tmp_path / "bad.toml"
    bad.write_text(profile_toml(fabricated(), "bad", schema_version=2).replace("schema_version = 2", "schema_version = 1"))
    with pytest.raises(BpasteError, match="needs schema_version = 2"):
        load_device(bad)
    bad.write_text(profile_toml(fabricated(), "bad", schema_version=2).replace("k = [1, 2, 4, 8]", "k = [2, 1, 4, 8]", 1))
    with pytest.raises(BpasteError, match="ascending"):
        load_device(bad)


def test_replay_with_a_linear_curve_equals_the_coefficient_and_a_steeper_one_costs_more(tmp_path):
    from bpaste_cli.ingest import ingest
    from bpaste_cli.mine import mine
    from bpaste_cli.synth import ARCHETYPES, generate, write

    write(generate(ARCHETYPES, sessions=12, seed=1), tmp_path / "corpus", ["native"])
    ingest([tmp_path / "corpus" / "native" / "sessions.jsonl"], tmp_path / "ds")
    mine(tmp_path / "ds", tmp_path / "pat")
    c = 0.05
    lin = [1 + c * k for k in (1, 2, 4, 8)]
    cal = fabricated(llm_cpu=lin, tool_cpu=lin, flat=lin)
    for t in cal.curves.values():
        for cv in t.values():
            assert cv.slope == pytest.approx(c)
    v1, v2 = tmp_path / "v1.toml", tmp_path / "v2.toml"
    v1.write_text(profile_toml(cal, "v1", schema_version=1))
    v2.write_text(profile_toml(cal, "v2", schema_version=2))
    steep = tmp_path / "steep.toml"
    steep_cal = fabricated(llm_cpu=[2, 3, 5, 9], tool_cpu=[2, 3, 5, 9], flat=[2, 3, 5, 9])
    steep_cal.slots_by_class = cal.slots_by_class  # the same slots: only the curve differs
    steep.write_text(profile_toml(steep_cal, "steep", schema_version=2))

    def rep(profile):
        run = subprocess.run([sys.executable, "-m", "bpaste_cli", "replay", str(tmp_path / "ds"), "--patterns",
                              str(tmp_path / "pat"), "--device", str(profile), "--arm", "paste,bpaste", "--json"],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)["arms"]

    a, b, s = rep(v1), rep(v2), rep(steep)
    for arm in ("paste", "bpaste"):
        assert b[arm]["interference_s"] == pytest.approx(a[arm]["interference_s"], rel=1e-9)
        assert b[arm]["speedup"] == pytest.approx(a[arm]["speedup"], rel=1e-9)
    assert s["paste"]["interference_s"] > a["paste"]["interference_s"] > 0


def test_a_policy_keeps_the_curve_of_its_device(tmp_path):
    import tomllib

    from bpaste_cli.device import device_from_doc

    doc = tomllib.loads(profile_toml(fabricated(), "box", schema_version=2))
    d = device_from_doc(doc, "policy.json", name="box")
    assert d.slowdown("llm", "cpu", 3) == pytest.approx(1.3) and d.curve["tool"]["cpu"][0] == (1, 2, 4, 8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 64), st.floats(0.5, 20.0)), min_size=1, max_size=6, unique_by=lambda p: p[0]),
       st.integers(0, 80))
def test_slowdown_passes_through_every_measured_point_and_stays_between_neighbours(points, k):
    """Checked against the definition directly: at a measured k the curve's value (never below 1); between two
    measured k a value between theirs; 1 at k = 0."""
    from bpaste_cli.device import load_device

    points = sorted(points)
    ks, ss = tuple(p[0] for p in points), tuple(p[1] for p in points)
    d = load_device("thor")
    d = replace(d, curve={"llm": {"cpu": (ks, ss)}})
    for kk, s in points:
        assert d.slowdown("llm", "cpu", kk) == pytest.approx(max(1.0, s))
    full_k, full_s = (0, *ks), (1.0, *ss)
    v = d.slowdown("llm", "cpu", k)
    if k == 0:
        assert v == 1.0
    elif k <= ks[-1]:
        i = next(i for i, x in enumerate(full_k) if x >= k)
        lo, hi = sorted((full_s[i - 1], full_s[i]))
        assert max(1.0, lo) - 1e-9 <= v <= max(1.0, hi) + 1e-9
    assert v >= 1.0
