"""`bpaste device calibrate`: the arithmetic by hand, the profile it writes loads where built-in ones do, and
real (tiny) calibrations of this machine, with the stand-in LLM and with a real OpenAI-compatible server.

Timing assertions are limited to what physics guarantees with a wide margin on a shared, noisy machine;
the structure is asserted exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bpaste_cli.device import DEVICE_JSON_SCHEMA, DEVICE_SCHEMA_VERSION, load_device
from bpaste_cli.errors import BpasteError
from bpaste_cli.lab import (Calibration, CalibrationConfig, CpuBurn, Curve, FileRead,
                            StandInLLM, calibrate, profile_toml, write_profile)
from bpaste_cli.lab.calibration import _slots
from bpaste_cli.lab.openai_client import ChatClient, endpoint_base, is_local
from llm_server_support import LocalLLMServer

RESOURCES = ("cpu", "io", "net")
TINY = dict(ks=(1, 2), repetitions=3, step_s=0.04)


def curve(target, resource, slowdown, ks=(1, 2, 4, 8)):
    return Curve(target, resource, list(ks), list(slowdown), [(s * 0.95, s * 1.05) for s in slowdown], 0.2,
                 [[s] for s in slowdown])


def fabricated(llm_cpu=(1.1, 1.2, 1.4, 1.8), tool_cpu=(1.0, 1.05, 1.3, 2.0), flat=(1.0, 1.0, 1.02, 1.03)) -> Calibration:
    """A calibration with hand-chosen curves (no measurement), for the arithmetic and the writer."""
    curves = {"llm": {"cpu": curve("llm", "cpu", llm_cpu), "io": curve("llm", "io", flat), "net": curve("llm", "net", flat)},
              "tool": {"cpu": curve("tool", "cpu", tool_cpu), "io": curve("tool", "io", flat), "net": curve("tool", "net", flat)}}
    cal = Calibration(host="box", date="2026-01-02 03:04 UTC", seed=7, llm="local", llm_target="the stand-in",
                      tool_target="a cpu-burning tool job", repetitions=5, step_s=0.2, tolerance=0.10, cpu_cores=4,
                      memory={"total_gb": 16.0, "available_gb": 12.0, "source": "/proc/meminfo"}, memory_budget_gb=3.0,
                      memory_fraction=0.25, bandwidth_gbs=20.0, curves=curves, slots_by_class={}, seconds=1.0)
    cal.slots_by_class = {r: _slots(curves, r, 0.10) for r in RESOURCES}
    return cal


# --- arithmetic, by hand -------------------------------------------------------------------------------

def test_slope_is_least_squares_through_one_and_clamped():
    # slowdown − 1 = 0.1·k exactly: the slope is 0.1
    assert curve("llm", "cpu", (1.1, 1.2, 1.4, 1.8)).slope == pytest.approx(0.1)
    # (0.05·1 + 0.2·2 + 0.5·4 + 1.5·8) / (1 + 4 + 16 + 64) = 14.45 / 85
    assert curve("llm", "cpu", (1.05, 1.2, 1.5, 2.5)).slope == pytest.approx(14.45 / 85)
    # faster beside sleeping jobs (noise): no negative interference
    assert curve("llm", "net", (0.9, 0.95, 0.97, 0.99)).slope == 0.0


def test_slots_are_the_longest_prefix_within_tolerance_for_both_targets():
    cal = fabricated()
    # llm cpu 1.1 at k=1 is within 10% (<=), tool cpu 1.05 at k=2 is within but llm 1.2 is not
    assert cal.slots_by_class == {"cpu": 1, "io": 8, "net": 8}
    assert cal.slots == 1
    assert fabricated(llm_cpu=(1.2, 1.1, 1.0, 1.0)).slots_by_class["cpu"] == 0  # k=1 already too slow: a prefix rule


slowdowns = st.lists(st.floats(0.3, 20.0, allow_nan=False), min_size=4, max_size=4)


@settings(max_examples=200, deadline=None)
@given(c=st.floats(0.0, 3.0, allow_nan=False))
def test_slope_recovers_an_exactly_linear_curve(c):
    assert curve("llm", "cpu", [1 + c * k for k in (1, 2, 4, 8)]).slope == pytest.approx(c, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(llm_cpu=slowdowns, tool_cpu=slowdowns, tol=st.floats(0.01, 1.0), more=st.floats(0.0, 1.0))
def test_slots_grow_with_tolerance_and_are_a_tested_k(llm_cpu, tool_cpu, tol, more):
    curves = fabricated(llm_cpu=llm_cpu, tool_cpu=tool_cpu).curves
    low, high = _slots(curves, "cpu", tol), _slots(curves, "cpu", tol + more)
    assert low <= high and {low, high} <= {0, 1, 2, 4, 8}
    assert all(max(llm_cpu[i], tool_cpu[i]) <= 1 + tol for i, k in enumerate((1, 2, 4, 8)) if k <= low)


@settings(max_examples=300, deadline=None)
@given(host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5})?", fullmatch=True), port=st.integers(1, 65535),
       scheme=st.sampled_from(["http", "https"]), prefix=st.sampled_from(["", "/api", "/llm/x"]),
       tail=st.sampled_from(["", "/", "/v1", "/v1/", "/v1/chat/completions", "/chat/completions", "/v1/completions"]))
def test_endpoint_base_is_the_api_root_however_the_url_is_given(host, port, scheme, prefix, tail):
    url = f"{scheme}://{host}:{port}{prefix}{tail}"
    base = endpoint_base(url)
    want = f"{scheme}://{host}:{port}{prefix}/v1"
    assert base == want and endpoint_base(base) == base


# --- the profile ------------------------------------------------------------------------------------------

def test_v1_profile_loads_with_the_reader_and_every_number_has_its_source(tmp_path):
    cal = fabricated()
    device = write_profile(cal, tmp_path / "box.toml")
    assert (device.name, device.slots, device.memory_budget_gb) == ("box", 1, 3.0)
    assert device.interference["llm"]["cpu"] == pytest.approx(0.1)
    assert device.interference["tool"]["cpu"] == pytest.approx(round(curve("t", "c", (1.0, 1.05, 1.3, 2.0)).slope, 4))
    assert device.interference["llm"]["net"] == pytest.approx(round((0.02 * 4 + 0.03 * 8) / 85, 4))
    assert set(device.interference["llm"]) == {"cpu", "io", "net", "gpu"}
    rows = device.sources()
    assert all(src.split(":")[0] in ("measurement", "assumption") for _, _, src in rows)
    measured = {name for name, _, src in rows if src.startswith("measurement")}
    assert {"speculation.slots", "speculation.memory_budget_gb", "interference.llm.cpu", "interference.tool.io",
            "hardware.cpu_cores", "hardware.memory_gb"} <= measured
    assert "interference.llm.gpu" not in measured and "job_memory_gb.cpu" not in measured
    src = dict((n, s) for n, _, s in rows)["interference.llm.cpu"]
    assert "measured on box, 2026-01-02 03:04 UTC" in src and "n=5" in src and "median" in src
    assert "k=1 1.100 [1.045-1.155]" in src and "k=8 1.800" in src  # the curve survives in the v1 source
    assert device.doc["schema_version"] == DEVICE_SCHEMA_VERSION == 2


def test_v2_profile_carries_the_curve_and_matches_its_schema():
    doc = tomllib.loads(profile_toml(fabricated(), "box", schema_version=2))
    jsonschema.validate(doc, DEVICE_JSON_SCHEMA)
    entry = doc["interference_curve"]["llm"]["cpu"]
    assert (entry["k"], entry["slowdown"]) == ([1, 2, 4, 8], [1.1, 1.2, 1.4, 1.8])
    assert doc["interference"]["llm"]["cpu"]["value"] == pytest.approx(0.1)  # old readers keep a coefficient
    v1 = tomllib.loads(profile_toml(fabricated(), "box", schema_version=1))
    assert "interference_curve" not in v1 and v1["schema_version"] == 1
    jsonschema.validate(v1, DEVICE_JSON_SCHEMA)  # the reader still reads version 1


def test_remote_llm_profile_says_so():
    cal = fabricated()
    cal.llm, cal.bandwidth_gbs = "remote", None
    doc = tomllib.loads(profile_toml(cal, "box"))
    assert doc["hardware"]["llm_local"]["value"] == 0 and "memory_bandwidth_gbs" not in doc["hardware"]
    assert doc["interference"]["llm"]["gpu"]["value"] == 0.0


# --- the workloads --------------------------------------------------------------------------------------

def test_workloads_are_fixed_work_sized_from_their_calibration(tmp_path):
    llm = StandInLLM(weights_mb=8).calibrate(repeats=3)
    assert llm.pass_s > 0 and llm.bandwidth_gbs() > 0
    assert llm.passes_for(10 * llm.pass_s) == 10 and llm.passes_for(0.0) == 1
    assert llm.weights.nbytes == pytest.approx(8 * 2**20, rel=0.01)
    with pytest.raises(RuntimeError):
        StandInLLM(weights_mb=1).step(0.01)  # uncalibrated: no silent guess
    assert CpuBurn().calibrate(repeats=3).rate > 0
    reader = FileRead(tmp_path, size_mb=2)
    assert reader.path.stat().st_size == 2 * 2**20
    reader.read(3 * 2**20 + 5)  # wraps around the file
    assert reader._offset == 2**20 + 5
    reader.calibrate(repeats=2)
    assert reader.rate > 0
    reader._offset = 0
    reader.rate = 2**20 / 0.01  # 1 MiB per 10 ms: run(0.025) reads 2.5 MiB, wrapping once
    reader.run(0.025)
    assert reader._offset == 2**19
    reader.remove()
    assert not reader.path.exists()


def test_a_failing_co_running_job_is_one_sentence(tmp_path):
    from bpaste_cli.lab.corun import CoRunners

    with CoRunners(1, tmp_path / "missing") as jobs:  # the io job cannot create its scratch file
        with pytest.raises(BpasteError, match=r"stopped with status 1; check that .*missing is writable"):
            jobs.run("io", 1)


def test_config_is_checked():
    for bad, words in ((dict(llm="gpu"), "--llm"), (dict(ks=(2, 1)), "ascending"), (dict(repetitions=0), "positive"),
                       (dict(scratch_dir=Path("/nonexistent-bpaste")), "--scratch-dir")):
        with pytest.raises(BpasteError, match=words):
            calibrate(CalibrationConfig(**bad))


# --- real calibrations (tiny) ---------------------------------------------------------------------------

def assert_structure(cal: Calibration, ks=(1, 2)) -> None:
    assert set(cal.curves) == {"llm", "tool"}
    for by in cal.curves.values():
        assert set(by) == set(RESOURCES)
        for cv in by.values():
            assert cv.ks == list(ks) and len(cv.slowdown) == len(cv.spread) == len(cv.ratios) == len(ks)
            assert all(len(r) == cal.repetitions for r in cv.ratios)
            assert all(lo <= s <= hi and s > 0 for s, (lo, hi) in zip(cv.slowdown, cv.spread))
            assert cv.alone_s > 0
    assert set(cal.slots_by_class) == set(RESOURCES)
    assert all(s == 0 or s in ks for s in cal.slots_by_class.values())
    assert 0 < cal.memory_budget_gb <= cal.memory["available_gb"] <= cal.memory["total_gb"]


def test_stand_in_calibration_of_this_machine(tmp_path):
    cal = calibrate(CalibrationConfig(**TINY, scratch_dir=tmp_path, seed=3))
    assert_structure(cal)
    assert cal.llm == "local" and "stand-in" in cal.llm_target and cal.bandwidth_gbs > 0
    assert not list(tmp_path.iterdir())  # the io jobs' scratch files are gone
    doc = cal.to_json()
    assert doc["seed"] == 3 and doc["curves"]["tool"]["io"]["k"] == [1, 2]
    json.dumps(doc)  # plain data


def test_a_sleeping_job_does_not_double_the_stand_in_step(tmp_path):
    """Physics with a wide margin, timed directly (not through `calibrate`): one job that only sleeps
    leaves the cores to the CPU-bound step; the median of 9 alternating pairs stays far below 2x."""
    import statistics
    import time

    from bpaste_cli.lab.corun import CoRunners

    llm = StandInLLM(weights_mb=16).calibrate()
    ratios = []
    with CoRunners(1, tmp_path) as jobs:
        for rep in range(9):
            times = {}
            for loaded in ((False, True) if rep % 2 == 0 else (True, False)):
                if loaded:
                    jobs.run("net", 1)
                t0 = time.perf_counter()
                llm.step(0.1)
                times[loaded] = time.perf_counter() - t0
                jobs.stop()
            ratios.append(times[True] / times[False])
    assert statistics.median(ratios) < 2.0, ratios


def test_real_llm_endpoint_is_timed_instead_of_the_stand_in(tmp_path):
    with LocalLLMServer(work_s=0.02) as server:
        cal = calibrate(CalibrationConfig(**TINY, llm_url=server.url, scratch_dir=tmp_path))
        answered = server.completions
        bodies = server.bodies
    assert_structure(cal)
    assert cal.llm == "local"  # 127.0.0.1 is this machine
    assert server.url + "/v1" in cal.llm_target and "tiny-test-model" in cal.llm_target and cal.bandwidth_gbs is None
    # one warm-up, then per class and k the pairs' alone and loaded requests
    assert answered == 1 + len(RESOURCES) * len(TINY["ks"]) * 2 * TINY["repetitions"]
    assert all(b["model"] == "tiny-test-model" and b["stream"] is False and b["temperature"] == 0 for b in bodies)
    device = write_profile(cal, tmp_path / "thor-like.toml")
    assert device.doc["hardware"]["llm_local"]["value"] == 1 and "chat completion" in device.doc["hardware"]["llm_local"]["source"]


def test_endpoint_errors_are_one_sentence():
    with LocalLLMServer(status=500) as server:
        with pytest.raises(BpasteError, match=r"answered HTTP 500.*--llm-model"):
            ChatClient(server.url).complete("hi")
    with LocalLLMServer() as server:
        closed = server.url
    with pytest.raises(BpasteError, match=r"did not answer .*--llm-url"):
        ChatClient(closed, model="m", timeout_s=5).complete("hi")
    with pytest.raises(BpasteError, match="not an http"):
        ChatClient("ftp://box/v1")
    assert endpoint_base("http://h:8080") == endpoint_base("http://h:8080/v1/chat/completions") == "http://h:8080/v1"
    assert is_local("http://127.0.0.1:1/v1") and is_local("http://localhost:8080") and not is_local("http://192.0.2.7:80")


# --- the command ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """`bpaste device calibrate --quick --json` for real, once, through the bpaste app."""
    from bpaste_cli.cli import app

    root = tmp_path_factory.mktemp("calibrate")
    profile = root / "this-box.toml"
    result = CliRunner().invoke(app, ["device", "calibrate", "-o", str(profile), "--quick", "--json",
                                      "--scratch-dir", str(root)])
    return app, root, profile, result


def test_quick_command_writes_a_profile_and_json(quick_run):
    app, _, profile, result = quick_run
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] == "device-calibration" and doc["name"] == "this-box" and doc["profile"] == str(profile)
    assert doc["repetitions"] == CalibrationConfig.quick().repetitions
    assert {"host", "date", "seed", "slots", "slots_by_class", "memory_budget_gb", "curves", "llm"} <= set(doc)
    assert [doc["curves"][t][r]["k"] for t in ("llm", "tool") for r in RESOURCES] == [[1, 2, 4, 8]] * 6
    device = load_device(profile)
    assert device.slots == doc["slots"]
    assert device.interference["llm"]["cpu"] == pytest.approx(round(doc["curves"]["llm"]["cpu"]["coefficient"], 4))


def test_replay_accepts_the_measured_profile(quick_run, tmp_path):
    from bpaste_cli.ingest import ingest
    from bpaste_cli.mine import mine
    from bpaste_cli.synth import ARCHETYPES, generate, write

    _, _, profile, result = quick_run
    assert result.exit_code == 0, result.output
    write(generate(ARCHETYPES, sessions=12, seed=1), tmp_path / "corpus", ["native"])
    ingest([tmp_path / "corpus" / "native" / "sessions.jsonl"], tmp_path / "ds")
    mine(tmp_path / "ds", tmp_path / "pat")
    run = subprocess.run([sys.executable, "-m", "bpaste_cli", "replay", str(tmp_path / "ds"), "--patterns",
                          str(tmp_path / "pat"), "--device", str(profile), "--arm", "serial,paste,bpaste", "--json"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["arms"]["serial"]["speedup"] == 1.0 and doc["arms"]["bpaste"]["speedup"] > 0


def test_command_refuses_bad_output_before_measuring(quick_run):
    app, root, _, _ = quick_run
    for args, words in ((["-o", str(root)], "is a folder"), (["-o", str(root / "box.json")], "does not end in .toml"),
                        (["-o", str(root / "b.toml"), "--llm", "gpu"], "use local or remote")):
        result = CliRunner().invoke(app, ["device", "calibrate", *args])
        assert result.exit_code != 0 and isinstance(result.exception, BpasteError)
        assert words in str(result.exception)
