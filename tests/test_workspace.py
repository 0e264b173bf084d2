"""The workspace: locating and creating `.bpaste/`, resolving each verb's artifacts, provenance and staleness."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpaste_cli.errors import BpasteError
from bpaste_cli.workspace import (
    DIR_NAME,
    ENV_VAR,
    MANIFEST_FILE,
    STATUS_JSON_SCHEMA,
    WORKSPACE_SCHEMA_VERSION,
    Workspace,
    device_key,
    locate,
    preflight,
    read_workspace_manifest,
    status,
)

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
NO_ENV: dict[str, str] = {}


# --- locating -----------------------------------------------------------------------------------------------------

def test_no_workspace_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(BpasteError, match=r"no bpaste workspace \(\.bpaste/\) in .* pass your agent logs' files, folders or "
                       r"globs to bpaste ingest to make one here"):
        locate(cwd=tmp_path, environ=NO_ENV)
    (tmp_path / "logs").mkdir()
    with pytest.raises(BpasteError, match=r"run `bpaste ingest logs` to make one here, or name one with --workspace\.$"):
        locate(cwd=tmp_path, environ=NO_ENV)


def test_created_in_cwd_then_found_from_a_subfolder(tmp_path: Path) -> None:
    ws = locate(create=True, cwd=tmp_path, environ=NO_ENV)
    assert ws.root == tmp_path / DIR_NAME and ws.found == "created"
    doc = read_workspace_manifest(ws.root)
    assert doc["kind"] == "bpaste-workspace" and doc["schema_version"] == WORKSPACE_SCHEMA_VERSION
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    found = locate(cwd=deep, environ=NO_ENV)
    assert found.root == tmp_path / DIR_NAME and found.found == "found"
    # creating from the subfolder uses the enclosing workspace rather than nesting a second one
    assert locate(create=True, cwd=deep, environ=NO_ENV).root == tmp_path / DIR_NAME
    assert not (deep / DIR_NAME).exists()


def test_a_dot_bpaste_folder_that_is_no_workspace_is_passed_over(tmp_path: Path) -> None:
    locate(create=True, cwd=tmp_path, environ=NO_ENV)
    sub = tmp_path / "sub"
    (sub / DIR_NAME).mkdir(parents=True)  # say, a folder of settings: no workspace.json
    assert locate(cwd=sub, environ=NO_ENV).root == tmp_path / DIR_NAME
    (sub / DIR_NAME / "notes.txt").write_text("mine")
    lone = tmp_path.parent / (tmp_path.name + "-lone")
    (lone / DIR_NAME).mkdir(parents=True)
    (lone / DIR_NAME / "notes.txt").write_text("mine")
    try:
        with pytest.raises(BpasteError, match="already holds files but no workspace.json"):
            locate(create=True, cwd=lone, environ=NO_ENV)
    finally:
        shutil.rmtree(lone)


def test_flag_beats_environment_beats_search(tmp_path: Path) -> None:
    locate(create=True, cwd=tmp_path, environ=NO_ENV)
    env_ws, flag_ws = tmp_path / "env-ws", tmp_path / "flag-ws"
    made = locate(env_ws, create=True, cwd=tmp_path, environ=NO_ENV)
    assert made.root == env_ws and made.found == "flag"
    locate(flag_ws, create=True, cwd=tmp_path, environ=NO_ENV)
    env = {ENV_VAR: str(env_ws)}
    assert locate(cwd=tmp_path, environ=env) == Workspace(env_ws, "env")
    assert locate(flag_ws, cwd=tmp_path, environ=env) == Workspace(flag_ws, "flag")
    assert locate(cwd=tmp_path, environ={ENV_VAR: ""}).root == tmp_path / DIR_NAME  # empty means unset


def test_named_folder_errors_say_what_to_pass(tmp_path: Path) -> None:
    locate(create=True, cwd=tmp_path, environ=NO_ENV)
    with pytest.raises(BpasteError, match=r"is a project folder, not a workspace; name its workspace: --workspace .*\.bpaste\.$"):
        locate(tmp_path, cwd=tmp_path, environ=NO_ENV)
    with pytest.raises(BpasteError, match=r"BPASTE_WORKSPACE .*nowhere is not a bpaste workspace yet; make it: pass your agent "
                       r"logs' files, folders or globs to bpaste ingest while BPASTE_WORKSPACE names it\."):
        locate(cwd=tmp_path, environ={ENV_VAR: str(tmp_path / "nowhere")})
    (tmp_path / "file").write_text("x")
    with pytest.raises(BpasteError, match="is a file; name the folder"):
        locate(tmp_path / "file", create=True, cwd=tmp_path, environ=NO_ENV)


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "is not valid JSON"),
    (b'{"kind": "trace-dataset"}', "is not a bpaste workspace manifest"),
    (b'{"kind": "bpaste-workspace", "schema_version": 99, "bpaste_version": "9", "created_at": "x"}', "newer than this bpaste"),
    (b'{"kind": "bpaste-workspace", "schema_version": 1, "bpaste_version": "0", "created_at": "x", "ingest": {"paths": "logs"}}',
     r"invalid at ingest"),
])
def test_a_bad_manifest_is_one_sentence(tmp_path: Path, content: bytes, message: str) -> None:
    ws = locate(create=True, cwd=tmp_path, environ=NO_ENV)
    (ws.root / MANIFEST_FILE).write_bytes(content)
    with pytest.raises(BpasteError, match=message):
        locate(cwd=tmp_path, environ=NO_ENV)


@settings(max_examples=40, deadline=None)
@given(depth=st.integers(1, 6), marks=st.sets(st.integers(0, 6)), junk=st.sets(st.integers(0, 6)))
def test_the_nearest_workspace_above_wins(depth: int, marks: set[int], junk: set[int]) -> None:
    """Second method: the expected answer is the deepest marked level at or above the cwd, computed from the sets."""
    with tempfile.TemporaryDirectory() as tmp:
        levels = [Path(tmp)]
        for i in range(depth):
            levels.append(levels[-1] / f"d{i}")
        levels[-1].mkdir(parents=True)
        for i in marks:
            if i <= depth:
                locate(levels[i] / DIR_NAME, create=True, environ=NO_ENV)
        for i in junk - marks:
            if i <= depth:
                (levels[i] / DIR_NAME).mkdir()
        expected = max((i for i in marks if i <= depth), default=None)
        if expected is None:
            with pytest.raises(BpasteError):
                locate(cwd=levels[-1], environ=NO_ENV)
        else:
            assert locate(cwd=levels[-1], environ=NO_ENV).root == levels[expected] / DIR_NAME


# --- resolution ---------------------------------------------------------------------------------------------------

def test_missing_artifacts_name_the_command_that_makes_them(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    ws = locate(create=True, cwd=tmp_path, environ=NO_ENV)
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(BpasteError, match=r"^There is no dataset in the workspace \.bpaste: run `bpaste ingest logs`\.$"):
            ws.dataset()
        with pytest.raises(BpasteError, match=r"run `bpaste ingest logs`"):
            ws.patterns()  # the dataset comes first
        assert ws.model("thor") is None and ws.policy("orin") is None
        with pytest.raises(BpasteError, match=r"^There is no value model for thor in the workspace \.bpaste: run `bpaste fit --device thor`\.$"):
            ws.model("thor", required=True)
        with pytest.raises(BpasteError, match=r"^There is no policy for orin in the workspace \.bpaste: run `bpaste tune --device orin`\.$"):
            ws.policy("orin", required=True)
        flagged = Workspace(ws.root, "flag")
        with pytest.raises(BpasteError, match=r"run `bpaste tune --device thor --workspace \.bpaste`"):
            flagged.policy("thor", required=True)
    finally:
        os.chdir(old)


def test_layout_and_device_keys(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / DIR_NAME)
    assert ws.dataset_dir == ws.root / "dataset" and ws.patterns_dir == ws.root / "patterns"
    assert ws.model_path("thor") == ws.root / "models" / "thor.json"
    assert ws.policy_path("orin-nano") == ws.root / "policies" / "orin-nano.json"
    assert ws.report_path() == ws.root / "report.html"
    builtin = (Path(__file__).resolve().parent.parent / "bpaste_cli" / "devices" / "thor.toml").read_text()
    assert 'name = "thor"' in builtin
    profile = tmp_path / "lab.toml"
    profile.write_text(builtin.replace('name = "thor"', 'name = "Lab box #2"'))
    assert device_key(profile) == "Lab-box-2"
    assert ws.policy_path(profile) == ws.root / "policies" / "Lab-box-2.json"


def test_one_study_per_set_of_inputs(tmp_path: Path) -> None:
    ws = locate(create=True, cwd=tmp_path, environ=NO_ENV)
    a = {"dataset_hash": "d1", "pattern_hash": "p1", "seed": 0}
    url, name = ws.study("thor", a)
    assert url == f"sqlite:///{(ws.root / 'studies' / 'thor.optuna.db').resolve()}" and name.startswith("thor-")
    assert ws.study("thor", dict(reversed(a.items()))) == (url, name)  # key order does not matter
    assert ws.study("thor", a | {"dataset_hash": "d2"})[1] != name
    assert ws.study("orin", a)[0].endswith("orin.optuna.db")


# --- provenance and staleness, on a workspace built by the library verbs from the sample traces ------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with `logs/` (the sample traces) and a workspace holding dataset, patterns, a value model
    and a policy for thor, each written the way the workspace verbs will write them."""
    from bpaste_cli.fit import FitOptions, fit
    from bpaste_cli.workspace import pattern_table_hash
    from bpaste_cli.ingest import ingest
    from bpaste_cli.mine import load_predictor, mine
    from bpaste_cli.tune import TuneOptions, tune

    project = tmp_path_factory.mktemp("project")
    shutil.copytree(SAMPLES, project / "logs")
    ws = locate(create=True, cwd=project, environ=NO_ENV)
    old = Path.cwd()
    os.chdir(project)
    try:
        ingest(["logs"], ws.dataset_dir)
        ws.record_ingest(["logs"])
        mine(ws.dataset_dir, ws.patterns_dir)
        fit(ws.dataset_dir, load_predictor(ws.patterns_dir), device="thor", out=ws.model_path("thor"), options=FitOptions(),
            provenance={"patterns": str(ws.patterns_dir), "patterns_hash": pattern_table_hash(ws.patterns_dir)})
        storage, study = ws.study("thor", {"test": 1})
        tune(ws.dataset_dir, ws.patterns_dir, ws.policy_path("thor"),
             TuneOptions(device="thor", trials=3, storage=storage, study=study, model=ws.model_path("thor")))
    finally:
        os.chdir(old)
    return project


@pytest.fixture
def project(built: Path, tmp_path: Path):
    """A private copy of the built project, as the cwd (the copy keeps mtimes, so nothing looks changed)."""
    copy = tmp_path / "project"
    shutil.copytree(built, copy)
    record = orjson.loads((copy / DIR_NAME / MANIFEST_FILE).read_bytes())
    record["ingest"] |= {"paths": [str(copy / "logs")], "cwd": str(copy)}  # the copy's own logs
    (copy / DIR_NAME / MANIFEST_FILE).write_bytes(orjson.dumps(record))
    old = Path.cwd()
    os.chdir(copy)
    yield copy
    os.chdir(old)


def _ws(project: Path) -> Workspace:
    """The project's workspace as the verbs find it from the project folder (the cwd): `.bpaste`, relative."""
    assert Path.cwd() == project
    ws = locate(environ=NO_ENV)
    assert ws.root == Path(DIR_NAME)
    return ws


def test_a_fresh_workspace_is_current_and_says_how_each_artifact_was_made(project: Path) -> None:
    from bpaste_cli.mine.store import read_table_manifest
    from bpaste_cli.trace.dataset import load_dataset

    ws = _ws(project)
    st = status(ws)
    names = [a.name for a in st.artifacts]
    assert names == ["dataset", "patterns", "model:thor", "policy:thor", "study:thor"]
    assert st.stale == [] and st.fixes == [] and st.next == []
    ds = load_dataset(ws.dataset_dir)
    made = st.artifact("dataset").made
    assert made["dataset_hash"] == ds.hash and made["counts"]["sessions"] == ds.sessions.height == 142  # sample README: 142
    assert made["ingested_from"] == [str(project / "logs")]
    assert st.artifact("patterns").made["dataset_hash"] == ds.hash
    assert st.artifact("patterns").made["seed"] == read_table_manifest(ws.patterns_dir)["seed"] == ws.split_seed() == 0
    assert st.artifact("model:thor").made["device"] == "thor"
    pol = st.artifact("policy:thor").made
    assert pol["device"] == "thor" and pol["study"].startswith("thor-") and pol["validation_speedup"] >= 1.0
    doc = orjson.loads(orjson.dumps(st.to_json()))
    jsonschema.validate(doc, STATUS_JSON_SCHEMA)
    assert doc["artifacts"][0]["name"] == "dataset" and doc["fixes"] == [] and doc["workspace"] == str(ws.root)
    for verb in ("mine", "stats", "fit", "tune", "replay", "report"):
        assert preflight(ws, verb, device="thor") == []


def test_the_next_step_is_the_first_missing_artifact(project: Path) -> None:
    ws = _ws(project)
    for name in ("policies", "models"):
        shutil.rmtree(ws.root / name)
    assert status(ws).next == ["bpaste tune --device thor"]
    shutil.rmtree(ws.patterns_dir)
    assert status(ws).next == ["bpaste mine"]
    shutil.rmtree(ws.dataset_dir)
    assert status(ws).next == ["bpaste ingest logs"]


def test_reingesting_new_logs_makes_everything_downstream_stale(project: Path) -> None:
    from bpaste_cli.ingest import ingest

    ws = _ws(project)
    os.remove(project / "logs" / "native" / os.listdir(project / "logs" / "native")[0])  # fewer sessions: a new hash
    ingest(["logs"], ws.dataset_dir)
    st = status(ws)
    assert st.artifact("dataset").stale == []
    assert [s.sentence() for s in st.artifact("patterns").stale] == [
        "The dataset changed after the patterns were mined: run `bpaste mine`."]
    assert [s.reason for s in st.artifact("model:thor").stale] == ["the dataset changed after the value model for thor was fitted"]
    assert [s.reason for s in st.artifact("policy:thor").stale] == ["the dataset changed after the policy for thor was tuned"]
    assert st.fixes == ["bpaste mine", "bpaste fit --device thor", "bpaste tune --device thor"]
    jsonschema.validate(st.to_json(), STATUS_JSON_SCHEMA)
    assert preflight(ws, "mine") == [] and preflight(ws, "stats") == []
    for verb in ("fit", "tune", "replay", "report"):
        with pytest.raises(BpasteError, match=rf"patterns are stale \(the dataset changed after the patterns were mined\), so "
                                              rf"{verb} would give a wrong result: run `bpaste mine` first\.$"):
            preflight(ws, verb, device="thor")
    # with the patterns given explicitly, replay still checks the workspace policy, which only warns
    assert preflight(ws, "replay", device="thor", uses=("dataset", "policy")) == [
        "The dataset changed after the policy for thor was tuned: run `bpaste tune --device thor`."]


def test_logs_that_changed_after_ingest_are_counted(project: Path) -> None:
    ws = _ws(project)
    chat = sorted((project / "logs" / "chat").iterdir())
    with open(chat[0], "ab") as fh:
        fh.write(b"\n")  # grown
    os.remove(chat[1])
    shutil.copy(chat[2], project / "logs" / "chat" / "zz-new.json")
    st = status(ws)
    reason = st.artifact("dataset").stale[0]
    assert reason.reason == "the logs changed after they were ingested (1 log file added, 1 changed, 1 gone)"
    assert reason.fix == "bpaste ingest logs"
    assert preflight(ws, "mine") == ["The logs changed after they were ingested (1 log file added, 1 changed, 1 gone): "
                                     "run `bpaste ingest logs`."]
    assert [s.artifact for s in st.stale] == ["dataset"]  # the patterns still match the dataset they were mined from


def test_a_rewrite_with_the_same_size_is_found_by_its_hash(project: Path) -> None:
    ws = _ws(project)
    target = sorted((project / "logs" / "chat").iterdir())[0]
    later = (ws.dataset_dir / "manifest.json").stat().st_mtime + 5
    os.utime(target, (later, later))
    assert status(ws).artifact("dataset").stale == []  # touched, same content: current
    data = bytearray(target.read_bytes())
    data[-2] = ord("x") if data[-2] != ord("x") else ord("y")
    target.write_bytes(bytes(data))
    os.utime(target, (later, later))
    assert status(ws).artifact("dataset").stale[0].reason.endswith("ingested (1 log file changed)")


def test_a_model_fitted_after_tuning_flags_the_policy_but_does_not_block_replay(project: Path) -> None:
    ws = _ws(project)
    model, policy = ws.model_path("thor"), ws.policy_path("thor")
    later = policy.stat().st_mtime + 10
    os.utime(model, (later, later))
    st = status(ws)
    rank = st.artifact("policy:thor").made["rank"]
    if rank == "model":  # the model is embedded in the policy: same content, so still current
        assert st.artifact("policy:thor").stale == []
        return
    assert [s.reason for s in st.artifact("policy:thor").stale] == [
        "the value model for thor was fitted after the policy was tuned, which did not consider its ranking"]
    assert preflight(ws, "replay", device="thor") == [
        "The value model for thor was fitted after the policy was tuned, which did not consider its ranking: "
        "run `bpaste tune --device thor`."]
    assert preflight(ws, "replay", device="orin") == []  # another device's policy is not this verb's concern


def test_patterns_mined_again_stale_the_model(project: Path) -> None:
    from bpaste_cli.mine import MineOptions, mine

    ws = _ws(project)
    mine(ws.dataset_dir, ws.patterns_dir, MineOptions(max_context=2))  # same dataset, other tables
    st = status(ws)
    assert st.artifact("patterns").stale == []
    assert [s.reason for s in st.artifact("model:thor").stale] == ["the patterns were mined again after the value model for thor was fitted"]
    assert [s.reason for s in st.artifact("policy:thor").stale] == ["the patterns were mined again after the policy for thor was tuned"]
    with pytest.raises(BpasteError, match=r"model for thor is stale .* run `bpaste fit --device thor` first"):
        preflight(ws, "tune", device="thor")
    assert preflight(ws, "fit", device="thor") == []


def test_an_unreadable_artifact_is_reported_and_stops_the_verbs_that_need_it(project: Path) -> None:
    ws = _ws(project)
    (ws.patterns_dir / "manifest.json").write_bytes(b"{oops")
    st = status(ws)
    assert "is not valid JSON" in st.artifact("patterns").error
    with pytest.raises(BpasteError, match="is not valid JSON; re-run `bpaste mine`"):
        preflight(ws, "replay", device="thor")
    assert preflight(ws, "stats") == []


def test_a_report_older_than_its_inputs_is_stale(project: Path) -> None:
    ws = _ws(project)
    ws.report_path().write_text("<html></html>")
    assert status(ws).artifact("report").stale == []
    later = ws.report_path().stat().st_mtime + 10
    os.utime(ws.patterns_dir / "manifest.json", (later, later))
    assert [s.fix for s in status(ws).artifact("report").stale] == ["bpaste report"]


def test_a_policy_file_for_another_device_is_flagged(project: Path) -> None:
    ws = _ws(project)
    shutil.copy(ws.policy_path("thor"), ws.policy_path("orin"))
    st = status(ws)
    assert [s.reason for s in st.artifact("policy:orin").stale] == ["orin.json holds a policy for device 'thor'"]
    assert st.artifact("policy:thor").stale == []


# --- resolution per verb ------------------------------------------------------------------------------------------

def test_every_path_given_needs_no_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bpaste_cli.workspace import resolve

    monkeypatch.chdir(tmp_path)  # no workspace anywhere above a fresh temporary folder
    monkeypatch.delenv(ENV_VAR, raising=False)
    d, p, o = Path("ds"), Path("pat"), Path("out")
    cases = {
        "ingest": dict(paths=["logs"], output=o), "mine": dict(dataset=d), "stats": dict(dataset=d),
        "fit": dict(dataset=d, patterns=p, output=o), "tune": dict(dataset=d, patterns=p, output=o),
        "replay": dict(dataset=d, patterns=p), "report": dict(dataset=d, output=o),
    }
    for verb, given in cases.items():
        got = resolve(verb, **given)
        assert got.workspace is None and got.taken == () and got.warnings == [] and got.seed == 0, verb
        assert (got.dataset, got.output) == (given.get("dataset"), given.get("output")), verb
    assert resolve("replay", dataset=d, need_patterns=False).patterns is None  # serial only: no patterns needed
    with pytest.raises(BpasteError, match=r"pass your agent logs' files, folders or globs to bpaste ingest to make one"):
        resolve("stats")


def test_ingest_creates_the_workspace_and_repeats_the_recorded_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bpaste_cli.workspace import resolve

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    got = resolve("ingest", paths=["logs"])
    assert got.workspace.root == Path(DIR_NAME) and got.output == got.workspace.dataset_dir
    with pytest.raises(BpasteError, match="bpaste ingest needs the logs to read"):
        resolve("ingest")
    got.workspace.record_ingest(["logs"], ["--format", "codex"])
    again = resolve("ingest")
    assert again.paths == [str((tmp_path / "logs").resolve())]
    assert again.workspace.ingest_cmd() == "bpaste ingest logs --format codex"


def test_each_verb_takes_what_it_was_not_given_from_the_workspace(project: Path) -> None:
    from bpaste_cli.workspace import resolve

    ws = _ws(project)
    assert resolve("mine").dataset == ws.dataset_dir and resolve("mine").output == ws.patterns_dir
    assert resolve("mine", dataset=Path("other")).output is None  # an explicit dataset without -o only evaluates
    assert resolve("stats").dataset == ws.dataset_dir
    fit = resolve("fit", device="orin")
    assert (fit.dataset, fit.patterns, fit.output, fit.taken) == (ws.dataset_dir, ws.patterns_dir, ws.model_path("orin"),
                                                                  ("dataset", "patterns"))
    tune = resolve("tune", study_inputs={"objectives": ["speedup"]})
    assert (tune.model, tune.output) == (ws.model_path("thor"), ws.policy_path("thor"))
    assert tune.storage == ws.study("thor", {})[0] and tune.study.startswith("thor-")
    assert resolve("tune", study_inputs={"objectives": ["speedup"]}).study == tune.study  # same inputs: resumed
    assert resolve("tune", study_inputs={"objectives": ["speedup", "waste"]}).study != tune.study
    assert resolve("tune", device="orin").model is None  # no model for orin: tune without the model ranking
    replay = resolve("replay")
    assert (replay.patterns, replay.policy, replay.model) == (ws.patterns_dir, ws.policy_path("thor"), None)
    assert resolve("replay", need_model=True).model == ws.model_path("thor")
    with pytest.raises(BpasteError, match=r"no value model for orin .* run `bpaste fit --device orin`"):
        resolve("replay", device="orin", need_model=True)
    report = resolve("report")
    assert (report.output, report.patterns, report.policy) == (ws.report_path(), ws.patterns_dir, ws.policy_path("thor"))


def test_the_seed_follows_the_patterns(project: Path) -> None:
    from bpaste_cli.mine import MineOptions, mine
    from bpaste_cli.workspace import resolve

    ws = _ws(project)
    mine(ws.dataset_dir, ws.patterns_dir, MineOptions(seed=7))
    assert resolve("fit").seed == 7 and resolve("fit", seed=3).seed == 3
    assert resolve("stats").seed == 0  # stats takes no patterns


def test_resolution_refuses_stale_inputs_and_drops_a_stale_optional_model(project: Path) -> None:
    from bpaste_cli.mine import MineOptions, mine
    from bpaste_cli.workspace import resolve

    ws = _ws(project)
    mine(ws.dataset_dir, ws.patterns_dir, MineOptions(max_context=2))  # the model and policy are now stale
    tune = resolve("tune")
    assert tune.model is None and "model" not in tune.taken
    assert tune.warnings == ["Tuning without the value model for thor (the patterns were mined again after the value model "
                             "for thor was fitted): run `bpaste fit --device thor` to use it."]
    with pytest.raises(BpasteError, match=r"model for thor is stale"):
        resolve("replay", need_model=True)
    assert resolve("replay").warnings == [
        "The patterns were mined again after the policy for thor was tuned: run `bpaste tune --device thor`."]


def test_hints_for_a_custom_device_name_its_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    builtin = (Path(__file__).resolve().parent.parent / "bpaste_cli" / "devices" / "thor.toml").read_text()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "lab.toml").write_text(builtin.replace('name = "thor"', 'name = "lab"'))
    ws = locate(create=True, environ=NO_ENV)
    with pytest.raises(BpasteError, match=r"no policy for lab .* run `bpaste tune --device profiles/lab.toml`"):
        ws.policy("profiles/lab.toml", required=True)
    ws.record_device("profiles/lab.toml")
    assert read_workspace_manifest(ws.root)["devices"] == {"lab": str((tmp_path / "profiles" / "lab.toml").resolve())}
    assert ws.device_cmd("fit", "lab") == "bpaste fit --device profiles/lab.toml"  # from the key, as status knows it
    assert ws.device_cmd("fit", "orin") == "bpaste fit --device orin"
    ws.record_device("thor")
    assert list(read_workspace_manifest(ws.root)["devices"]) == ["lab"]  # built-ins need no record


def test_explicit_patterns_lend_their_split_seed(tmp_path: Path) -> None:
    """With every path given (no workspace), a verb without --seed takes the seed the patterns were mined with,
    as their help says: a table mined with --seed 7 replays seed 7's test split, not seed 0's."""
    from typer.testing import CliRunner

    from bpaste_cli.cli import app
    from bpaste_cli.synth import generate, write

    write(generate(("coding",), sessions=20, seed=1), tmp_path / "logs", ["native"])
    runner = CliRunner()
    for args in (["ingest", str(tmp_path / "logs" / "native"), "-o", str(tmp_path / "ds")],
                 ["mine", str(tmp_path / "ds"), "-o", str(tmp_path / "patterns"), "--seed", "7"]):
        assert runner.invoke(app, args).exit_code == 0
    replay = ["replay", str(tmp_path / "ds"), "--patterns", str(tmp_path / "patterns"), "--arm", "serial", "--json"]
    done = runner.invoke(app, replay)
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout)["config"]["seed"] == 7
    given = runner.invoke(app, [*replay, "--seed", "3"])
    assert orjson.loads(given.stdout)["config"]["seed"] == 3
