"""Device profiles: the shipped ones load, every number has a source, user files are validated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bpaste_cli.device import DEVICE_JSON_SCHEMA, device_names, load_device
from bpaste_cli.errors import BpasteError

REPO = Path(__file__).resolve().parent.parent
THOR_TOML = (REPO / "bpaste_cli" / "devices" / "thor.toml").read_text()


def cli(*args):
    return subprocess.run([sys.executable, "-m", "bpaste_cli", *args], capture_output=True, text=True)


def test_shipped_profiles_have_sources():
    assert device_names() == ["laptop", "orin", "orin-nano", "server", "thor"]
    for name in device_names():
        d = load_device(name)
        rows = d.sources()
        # 2 speculation + 4 job memory + 8 interference numbers at least, each with a source
        assert len(rows) >= 14 and all(src.strip() for _, _, src in rows)
        assert all(src.split(":")[0] in ("datasheet", "measurement", "assumption") for _, _, src in rows)
        assert set(d.interference) == {"llm", "tool"}
        assert all(set(v) == {"cpu", "io", "net", "gpu"} for v in d.interference.values())


def test_thor_matches_the_issue_and_server_llm_is_remote():
    hw = load_device("thor").doc["hardware"]
    assert (hw["cpu_cores"]["value"], hw["memory_gb"]["value"], hw["memory_bandwidth_gbs"]["value"]) == (14, 128, 273)
    assert (hw["power_min_w"]["value"], hw["power_max_w"]["value"]) == (40, 130)
    assert load_device("orin").doc["hardware"]["cpu_cores"]["value"] == 12
    assert load_device("orin-nano").doc["hardware"]["cpu_cores"]["value"] == 6
    assert set(load_device("server").interference["llm"].values()) == {0.0}
    zero = load_device("thor").without_interference()
    assert all(v == 0.0 for t in zero.interference.values() for v in t.values())


def test_schema_file_is_generated_from_code():
    assert json.loads((REPO / "schemas" / "device.schema.json").read_text()) == DEVICE_JSON_SCHEMA


def test_user_file(tmp_path):
    good = tmp_path / "box.toml"
    good.write_text(THOR_TOML.replace('name = "thor"', 'name = "box"').replace("value = 8,", "value = 3,"))
    d = load_device(good)
    assert (d.name, d.slots) == ("box", 3)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda t: t.replace('slots = { value = 8, source = "assumption: 14 cores minus ~4 for LLM serving threads and ~2 reserved for authoritative tools" }', "slots = { value = 8 }"), "source"),
        (lambda t: t.replace("value = 0.03,", "value = -0.03,"), "minimum"),
        (lambda t: t.replace("[interference.tool]", "[interference.other]"), "interference"),
        (lambda t: t.replace("value = 8,", "value = 2.5,"), "whole number"),
        (lambda t: t + "\n[[broken", "not valid TOML"),
    ],
)
def test_invalid_user_file(tmp_path, edit, words):
    bad = tmp_path / "bad.toml"
    bad.write_text(edit(THOR_TOML))
    with pytest.raises(BpasteError, match=words):
        load_device(bad)


def test_unknown_device():
    with pytest.raises(BpasteError, match="thor"):
        load_device("no-such-box")


def test_cli_list_and_show(tmp_path):
    run = cli("device", "list", "--json")
    assert run.returncode == 0, run.stderr
    assert [d["name"] for d in json.loads(run.stdout)["devices"]] == device_names()
    run = cli("device", "show", "thor", "--json")
    doc = json.loads(run.stdout)
    assert doc["kind"] == "device" and doc["profile"]["speculation"]["slots"]["value"] == 8
    table = cli("device", "show", "orin-nano")
    assert "interference.llm.gpu" in table.stdout and "assumption" in table.stdout
    missing = cli("device", "show", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "No device profile" in missing.stderr
