"""policy.json: written by `bpaste tune`, checked by `bpaste policy validate`, reproduced by `bpaste replay --policy`;
bad input is one sentence and exit status 2."""

from __future__ import annotations

import json
import sys
import shutil
from pathlib import Path

import jsonschema
import orjson
import pytest

from bpaste_cli.fsutil import file_sha256
from bpaste_cli.mine import load_predictor
from bpaste_cli.policy import POLICY_JSON_SCHEMA, replay_config
from bpaste_cli.replay import replay
from test_tune_support import REPO, cli, cli_json, workspace  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def policy(workspace, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("policy") / "policy.json"
    doc = cli_json("tune", str(workspace / "ds"), "--patterns", str(workspace / "pat"), "-o", str(out), "--trials", "7")
    assert doc["kind"] == "tune" and doc["trials_complete"] == 7
    assert doc["dashboard"].startswith("optuna-dashboard sqlite:///")
    return out


def one_sentence_error(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    text = proc.stderr.strip()
    assert text.startswith("error:") and "\n" not in text and "Traceback" not in text
    return text


def test_committed_schema_is_the_code_schema():
    committed = json.loads((REPO / "schemas" / "policy.schema.json").read_text())
    assert committed == POLICY_JSON_SCHEMA
    jsonschema.Draft202012Validator.check_schema(committed)


def test_policy_contents_and_validate(policy, workspace):
    doc = json.loads(policy.read_text())
    jsonschema.Draft202012Validator(json.loads((REPO / "schemas" / "policy.schema.json").read_text())).validate(doc)
    assert doc["schema_version"] == 1 and doc["device"]["name"] == "thor"
    assert doc["device"]["profile"]["speculation"]["slots"]["value"] == 8
    assert doc["predictor"] == load_predictor(workspace / "pat").to_dict()  # the run-time tables, self-contained
    assert doc["safety"]["tools"]["read"]["safety"] == "read-only"
    prov = doc["provenance"]
    assert prov["seed"] == 0 and prov["study"] == "policy" and prov["storage"].endswith("policy.optuna.db")
    assert doc["trials"]["complete"] == 7 and len(doc["trials"]["rows"]) == 7
    lo, hi = doc["validation"]["policy"]["speedup_ci95"]
    assert lo <= doc["validation"]["policy"]["speedup"] <= hi
    got = cli_json("policy", "validate", str(policy))
    assert got["kind"] == "policy-validate" and got["valid"] is True
    assert got["validation_speedup"] == doc["validation"]["policy"]["speedup"]


def test_replay_policy_reproduces_validation_and_reports_test(policy, workspace):
    doc = json.loads(policy.read_text())
    got = cli_json("replay", str(workspace / "ds"), "--policy", str(policy))
    assert got["kind"] == "replay-policy" and got["reproduced"] is True
    assert got["validation_speedup"] == doc["validation"]["policy"]["speedup"] == doc["provenance"]["trial_speedup"]
    assert got["test"]["split"] == "test" and got["test"]["sessions_replayed"] > 0
    assert got["test_speedup"] == got["test"]["arms"][doc["parameters"]["arm"]]["speedup"]
    # independently: the pattern table on disk (not the embedded copy) and the recorded parameters give the same figure
    config = replay_config(doc["parameters"], split="validation", seed=0, bootstrap=0)
    again = replay(workspace / "ds", load_predictor(workspace / "pat"), device="thor", config=config)
    assert again.arms[doc["parameters"]["arm"]]["speedup"] == got["validation_speedup"]


def test_previous_policy_is_enqueued(policy, workspace, tmp_path):
    doc = json.loads(policy.read_text())
    doc["parameters"]["ttl_s"] = 77.0  # unlike every built-in known point, so it cannot be deduplicated away
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps(doc))
    got = cli_json("tune", str(workspace / "ds"), "--patterns", str(workspace / "pat"), "-o", str(tmp_path / "next.json"),
                   "--trials", "4", "--previous", str(previous))
    new = json.loads((tmp_path / "next.json").read_text())
    prev = [r for r in new["trials"]["rows"] if r["known"] == "previous-policy"]
    assert len(prev) == 1 and prev[0]["number"] == 3
    assert prev[0]["params"] == {k: v for k, v in doc["parameters"].items() if k not in ("allowed", "fast_path")}
    assert got["validation"]["policy"]["speedup"] >= prev[0]["speedup"]


BPASTE_PARAMS = {"arm": "bpaste", "beam_width": 4, "beam_depth": 2, "rank": "probability", "min_prob": 0.1,
                 "interference_budget": 0.05}


@pytest.mark.parametrize("damage, expect", [
    (lambda d: d.update(schema_version=2), "has schema version 2, newer than this bpaste understands (1)"),
    (lambda d: d.pop("schema_version"), "has no schema_version"),
    (lambda d: d.update(kind="trace-dataset"), "holds a trace-dataset artifact, not a policy; pass the policy.json written by `bpaste tune`"),
    (lambda d: d["parameters"].update(slots=-1), "is invalid at parameters/slots"),
    (lambda d: d["parameters"].pop("beam_width", None) or d["parameters"].pop("top_k"), "is invalid at parameters"),
    (lambda d: d["predictor"].update(schema_version=99), "The predictor object has schema version 99, newer than this bpaste understands (1)"),
    # JSON Schema's integer accepts 4.0 and 1e30; replay would crash on them (range(4.0), seeding with a float)
    (lambda d: d["parameters"].update(BPASTE_PARAMS, beam_width=4.0), "is invalid at parameters/beam_width: 4.0 is not of type 'integer'"),
    (lambda d: d["parameters"].update(slots=2.0), "is invalid at parameters/slots"),
    (lambda d: d["provenance"].update(seed=1e30), "is invalid at provenance/seed"),
    (lambda d: d["provenance"].update(seed=2**40), "is invalid at provenance/seed: 1099511627776 is greater than the maximum of 4294967295"),
])
def test_damaged_policy_is_one_sentence(policy, tmp_path, damage, expect):
    doc = json.loads(policy.read_text())
    damage(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert expect in one_sentence_error(cli("policy", "validate", str(bad)))


@pytest.mark.parametrize("allowed", [["read-only", "mutating"], ["unknown"], ["read-only", "idempotent", "mutating", "unknown"]])
def test_unsafe_classes_need_an_acknowledgement(policy, workspace, tmp_path, allowed):
    """A policy speculating mutating or unknown calls is refused by validate, replay --policy and load_policy (the
    runtime's loader) unless acknowledged; acknowledged, it loads and says so."""
    from bpaste_cli.errors import BpasteError
    from bpaste_cli.policy import load_policy

    doc = json.loads(policy.read_text())
    doc["parameters"]["allowed"] = allowed
    risky = tmp_path / "risky.json"
    risky.write_text(json.dumps(doc))
    unsafe = " and ".join(c for c in allowed if c in ("mutating", "unknown"))
    needle = f"allows speculating {unsafe} tool calls"
    assert needle in one_sentence_error(cli("policy", "validate", str(risky)))
    assert needle in one_sentence_error(cli("replay", str(workspace / "ds"), "--policy", str(risky)))
    assert needle in one_sentence_error(cli("serve", "--policy", str(risky), "--", sys.executable, "-c", "pass"))
    with pytest.raises(BpasteError, match=needle):
        load_policy(risky)
    assert load_policy(risky, allow_unsafe_classes=True).parameters["allowed"] == allowed
    got = cli_json("policy", "validate", str(risky), "--allow-unsafe-classes")
    assert got["valid"] is True and got["warnings"] == [
        f"the policy speculates {unsafe} tool calls (acknowledged with --allow-unsafe-classes): a wrong guess may change files or state."]
    proc = cli("policy", "validate", str(risky), "--allow-unsafe-classes")
    assert proc.returncode == 0 and "warning:" in proc.stderr and unsafe in proc.stderr
    doc["parameters"]["allowed"] = ["read-only", "idempotent"]  # idempotent calls are safe to repeat: no acknowledgement
    risky.write_text(json.dumps(doc))
    assert cli_json("policy", "validate", str(risky))["warnings"] == []


def test_bad_paths_are_one_sentence(workspace, tmp_path):
    assert "does not exist" in one_sentence_error(cli("policy", "validate", str(tmp_path / "nope.json")))
    assert "is a trace-dataset directory, not a policy file" in one_sentence_error(cli("policy", "validate", str(workspace / "ds")))
    (tmp_path / "junk.json").write_text("{not json")
    assert "is not valid JSON" in one_sentence_error(cli("policy", "validate", str(tmp_path / "junk.json")))
    assert "is a trace-dataset directory" in one_sentence_error(cli("replay", str(workspace / "ds"), "--policy", str(workspace / "ds")))


def test_referenced_value_model_is_checked_by_sha256(policy, tmp_path):
    """A model referenced by relative path + sha256 (hand-made stand-in file: the check is on bytes, before parsing)."""
    folder = tmp_path / "deploy"
    folder.mkdir()
    doc = json.loads(policy.read_text())
    model = folder / "models" / "vm.json"
    model.parent.mkdir()
    model.write_bytes(b'{"kind": "not-checked-yet"}')
    doc["value_model"] = {"path": "models/vm.json", "sha256": file_sha256(model)}
    (folder / "policy.json").write_bytes(orjson.dumps(doc))
    # the hash matches, so the file is parsed and then rejected as not being a value model
    assert "not a value model" in one_sentence_error(cli("policy", "validate", str(folder / "policy.json")))
    model.write_bytes(b'{"kind": "changed"}')
    assert "recorded: it changed since tuning" in one_sentence_error(cli("policy", "validate", str(folder / "policy.json")))
    shutil.rmtree(model.parent)
    assert "does not exist beside it" in one_sentence_error(cli("policy", "validate", str(folder / "policy.json")))


def test_tune_with_a_value_model(workspace, tmp_path):
    """--model adds the `model` ranking to the search; the chosen policy embeds (or references) it only if it ranks by it."""
    from bpaste_cli.fit import FitOptions, fit
    from bpaste_cli.tune import TuneOptions, tune
    from bpaste_cli.tune.run import _value_model

    vm = tmp_path / "vm.json"
    fit(workspace / "ds", load_predictor(workspace / "pat"), device="thor", options=FitOptions(), out=vm)
    r = tune(workspace / "ds", workspace / "pat", tmp_path / "p.json", TuneOptions(trials=8, model=vm))
    ranks = {row["params"].get("rank") for row in r.policy["trials"]["rows"]}
    import optuna

    study = optuna.load_study(study_name="p", storage=f"sqlite:///{tmp_path / 'p.optuna.db'}")
    choices = {c for t in study.trials if "rank" in t.distributions for c in t.distributions["rank"].choices}
    assert choices == {"probability", "value", "model"} and ranks <= choices | {None}
    assert study.user_attrs["model_sha256"] == file_sha256(vm)
    uses = r.policy["parameters"].get("rank") == "model"
    assert (r.policy["value_model"] is not None) == uses
    assert _value_model(TuneOptions(model=vm), tmp_path / "p.json") == {"embedded": json.loads(vm.read_text())}
    assert _value_model(TuneOptions(model=vm, model_by_path=True), tmp_path / "sub" / "p.json") == {
        "path": "../vm.json", "sha256": file_sha256(vm)}
