"""Every verb, given bad input, says what is wrong and what to do in one sentence, exits 2, shows no
traceback (a traceback only with --debug). The real CLI runs in subprocesses, all cases at once.

The cases are tables: a verb that reads a dataset, a pattern table, logs, a device, or writes a
directory adds one row to the matching table below and is checked against every bad input of it.
Set BPASTE_BAD_INPUT_LOG=path to get a list of what each case printed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import orjson
import pytest

from bpaste_cli.ingest import ingest
from bpaste_cli.mine import mine
from bpaste_cli.synth import ARCHETYPES, generate, write

REPO = Path(__file__).resolve().parent.parent


@dataclass
class World:
    """The inputs, good and bad, that the cases refer to (all invented or generated, in a tmp dir)."""

    root: Path
    logs: Path  # good native logs
    ds: Path  # good dataset
    pat: Path  # good pattern table, mined from ds

    def __getattr__(self, name: str) -> str:  # w.missing, w.plain, ...: a path under root
        return str(self.root / name)

    def out(self, name: str) -> str:
        return str(self.root / "out" / name)


def _set_schema_version(directory: Path, version: int) -> None:
    manifest = orjson.loads((directory / "manifest.json").read_bytes())
    manifest["schema_version"] = version
    (directory / "manifest.json").write_bytes(orjson.dumps(manifest))


def build_world(root: Path) -> World:
    corpus = root / "corpus"
    write(generate(ARCHETYPES, sessions=20, seed=1), corpus, ["native"])
    w = World(root, corpus / "native" / "sessions.jsonl", root / "ds", root / "pat")
    ingest([w.logs], w.ds)
    mine(w.ds, w.pat)
    for src, dst in ((w.ds, "newer_ds"), (w.pat, "newer_pat")):
        shutil.copytree(src, root / dst)
        _set_schema_version(root / dst, 99)
    (root / "only_notes").mkdir()
    (root / "only_notes" / "notes.txt").write_text("shopping list: eggs\n")
    ingest([root / "only_notes"], root / "empty_ds")  # the unrecognised file is listed, no events
    no_tools = root / "no_tools.jsonl"  # 12 sessions of a user turn and an answer, no call
    no_tools.write_text("".join(
        json.dumps({"session_id": f"chat{i}", "kind": kind, "t" if kind == "user" else "t_end": t, "text": "hi"}) + "\n"
        for i in range(12) for kind, t in (("user", 0.0), ("llm", 2.0))))
    ingest([no_tools], root / "no_tools_ds")
    untimed = root / "untimed.jsonl"  # 12 sessions with a call each, and no time anywhere
    untimed.write_text("".join(
        json.dumps(r) + "\n" for i in range(12) for r in (
            {"session_id": f"u{i}", "kind": "llm"},
            {"session_id": f"u{i}", "kind": "tool", "tool": "Read", "args": {"path": f"f{i}"}, "result": "x"})))
    ingest([untimed], root / "untimed_ds")
    (root / "plain.txt").write_text("not a log, not a dataset\n")
    (root / "policy.json").write_text(json.dumps(
        {"schema_version": 1, "kind": "policy", "device": {"name": "thor"}, "parameters": {"beam_width": 3}}))
    (root / "empty_dir").mkdir()
    (root / "precious").mkdir()
    (root / "precious" / "thesis.tex").write_text("years of work\n")
    (root / "out").mkdir()
    return w


@dataclass(frozen=True)
class Case:
    argv: Callable[[World], list[str]]
    expect: str  # regex the one sentence must match (the problem, and the fix)
    ok: bool = False  # the input is legitimate for this verb: exit 0
    usage: bool = False  # caught by Typer's option parsing (its own message box, also exit 2)


# --- the tables: one row per verb and slot -----------------------------------------------------------
# verb -> argv with a dataset in the slot
DATASET_VERBS: dict[str, Callable[[World, str], list[str]]] = {
    "stats": lambda w, d: ["stats", d],
    "mine": lambda w, d: ["mine", d],
    "replay": lambda w, d: ["replay", d, "--patterns", str(w.pat), "--arm", "serial,paste,bpaste"],
    "report": lambda w, d: ["report", d, "--patterns", str(w.pat), "-o", w.out("report.html")],
    "fit": lambda w, d: ["fit", d, "--patterns", str(w.pat), "-o", w.out("model.json")],
    "tune": lambda w, d: ["tune", d, "--patterns", str(w.pat), "-o", w.out("policy.json"), "--trials", "2"],
}
BAD_DATASETS: dict[str, tuple[Callable[[World], str], str]] = {
    "missing": (lambda w: w.missing_ds, r"missing_ds does not exist; create a dataset with `bpaste ingest"),
    "pattern_table": (lambda w: str(w.pat), r"holds a pattern-table artifact, not a trace dataset; pass the directory written by `bpaste ingest`"),
    "plain_file": (lambda w: w.plain + ".txt", r"is a file, not a trace dataset .*ingest the file first"),
    "policy_json": (lambda w: w.policy + ".json", r"is a file, not a trace dataset"),
    "newer_schema": (lambda w: w.newer_ds, r"newer_ds has schema version 99, newer than this bpaste understands \(1\); upgrade bpaste"),
    "empty": (lambda w: w.empty_ds, r"empty_ds has no events; ingest some agent logs into it first"),
    "no_tool_calls": (lambda w: w.no_tools_ds, r"no_tools_ds has no tool calls, so there (are no patterns to mine|is nothing to speculate)[^;]*; ingest logs of an agent that calls tools"),
    "empty_dir": (lambda w: w.empty_dir, r"empty_dir has no manifest.json, so it is not a trace dataset; make one with `bpaste ingest`"),
}
ACCEPTED = {  # think time of an agent without tools is still a valid answer
    ("stats", "no_tool_calls"),
    ("report", "no_tool_calls"),
}

# verb -> argv with a pattern table in the slot
PATTERN_VERBS: dict[str, Callable[[World, str], list[str]]] = {
    "replay --patterns": lambda w, p: ["replay", str(w.ds), "--patterns", p, "--arm", "paste"],
    "mine --show": lambda w, p: ["mine", p, "--show"],
    "report --patterns": lambda w, p: ["report", str(w.ds), "--patterns", p, "-o", w.out("report.html")],
    "fit --patterns": lambda w, p: ["fit", str(w.ds), "--patterns", p, "-o", w.out("model.json")],
    "tune --patterns": lambda w, p: ["tune", str(w.ds), "--patterns", p, "-o", w.out("policy.json"), "--trials", "2"],
}
BAD_PATTERNS: dict[str, tuple[Callable[[World], str], str]] = {
    "missing": (lambda w: w.missing_pat, r"missing_pat does not exist; make a pattern table with `bpaste mine DATASET -o"),
    "dataset": (lambda w: str(w.ds), r"holds a trace-dataset artifact, not a pattern table; pass the directory written by `bpaste mine`"),
    "plain_file": (lambda w: w.plain + ".txt", r"is a file, not a pattern table \(a directory made by `bpaste mine`\); pass the pattern table directory"),
    "policy_json": (lambda w: w.policy + ".json", r"is a file, not a pattern table"),
    "newer_schema": (lambda w: w.newer_pat, r"newer_pat has schema version 99, newer than this bpaste understands \(\d+\); upgrade bpaste"),
}
PATTERN_EXPECT = {  # `mine X --show` reads X as a dataset unless X is a pattern table
    ("mine --show", "missing"): r"missing_pat does not exist; create a dataset with `bpaste ingest",
    ("mine --show", "plain_file"): r"is a file, not a trace dataset",
    ("mine --show", "policy_json"): r"is a file, not a trace dataset",
}
PATTERN_ACCEPTED = {("mine --show", "dataset")}  # mines the dataset and shows its patterns

# verb -> argv with a device in the slot
DEVICE_VERBS: dict[str, Callable[[World, str], list[str]]] = {
    "replay": lambda w, d: ["replay", str(w.ds), "--arm", "serial", "--device", d],
    "device show": lambda w, d: ["device", "show", d],
    "report": lambda w, d: ["report", str(w.ds), "--patterns", str(w.pat), "-o", w.out("report.html"), "--device", d],
    "fit": lambda w, d: ["fit", str(w.ds), "--patterns", str(w.pat), "-o", w.out("model.json"), "--device", d],
    "tune": lambda w, d: ["tune", str(w.ds), "--patterns", str(w.pat), "-o", w.out("policy.json"), "--trials", "2", "--device", d],
}
BAD_DEVICES: dict[str, tuple[Callable[[World], str], str]] = {
    "unknown": (lambda w: "nowhere", r"No device profile 'nowhere': use one of laptop, orin, orin-nano, server, thor or the path of a TOML profile"),
    "policy_json": (lambda w: w.policy + ".json", r"The device profile .*policy.json is not valid TOML"),
}

# verb -> argv with log paths in the slot
LOG_VERBS: dict[str, Callable[[World, str], list[str]]] = {
    "ingest": lambda w, p: ["ingest", p, "-o", w.out("ingest")],
}
BAD_LOGS: dict[str, tuple[Callable[[World], str], str]] = {
    "missing": (lambda w: w.missing_log, r"missing_log does not exist; pass a log file, a directory of logs, or a glob"),
    "plain_file": (lambda w: w.plain + ".txt", r"plain.txt is in no log format bpaste knows \(.*\); pass --format to force one"),
    "policy_json": (lambda w: w.policy + ".json", r"policy.json is in no log format bpaste knows"),
    "empty_dir": (lambda w: w.empty_dir, r"No log files found under the given paths; pass files, directories or globs"),
    "glob_no_match": (lambda w: f"{w.root}/nothing*.jsonl", r"No file matches .*nothing\*.jsonl; check the pattern"),
}

# verb -> argv with its output directory in the slot
WRITING_VERBS: dict[str, Callable[[World, str], list[str]]] = {
    "ingest": lambda w, o: ["ingest", str(w.logs), "-o", o],
    "mine": lambda w, o: ["mine", str(w.ds), "-o", o],
    "synth": lambda w, o: ["synth", "-o", o, "--sessions", "2"],
}
BAD_OUTPUTS: dict[str, tuple[Callable[[World], str], str]] = {
    "a_file": (lambda w: w.plain + ".txt", r"plain.txt is a file; `bpaste \w+ -o` writes a directory, choose another -o path"),
    "foreign_directory": (lambda w: w.precious, r"precious already holds files bpaste did not write, which `bpaste \w+ -o .*precious` would delete; choose a new or empty directory"),
    "other_artifact": (lambda w: str(w.pat), r"pat already holds a pattern-table artifact, which `bpaste \w+ -o .*` would delete"),
}
OUTPUT_EXPECT = {("synth", "a_file"): r"plain.txt is a file; synth writes a directory, choose another -o path"}
OUTPUT_ACCEPTED = {
    ("mine", "other_artifact"),  # -o onto an existing pattern table rewrites it: that is the point of -o
    ("synth", "foreign_directory"),  # synth only replaces its own <dir>/<format>/ subfolders
    ("synth", "other_artifact"),
}

# options with a closed set of values (and other one-off cases)
OPTION_CASES: dict[str, Case] = {
    "serve --policy": Case(lambda w: ["serve", "--policy", w.out("missing.json"), "--", "true"],
                           r"missing.json does not exist; make a policy with `bpaste tune"),
    "serve upstream": Case(lambda w: ["serve", "--", "no-such-mcp-server-here"],
                           r"Cannot start the upstream server: 'no-such-mcp-server-here' is not an executable on PATH"),
    "ingest --format": Case(lambda w: ["ingest", str(w.logs), "-o", w.out("i"), "--format", "bogus"],
                            r"Unknown format 'bogus'; bpaste reads: auto, claude-code, .*native"),
    "synth --format": Case(lambda w: ["synth", "-o", w.out("s"), "--format", "bogus"],
                           r"Unknown format bogus; choose from native, claude-code, codex, chat, otlp"),
    "synth --archetype": Case(lambda w: ["synth", "-o", w.out("s"), "--archetype", "bogus"],
                              r"Unknown archetype bogus; choose from coding, research, analysis"),
    "replay --arm": Case(lambda w: ["replay", str(w.ds), "--arm", "bogus"],
                         r"Unknown arm 'bogus'; choose from serial, oracle, paste, bpaste"),
    "replay --arm empty": Case(lambda w: ["replay", str(w.ds), "--arm", ","],
                               r"--arm names no arm; pass a comma-separated list of serial, oracle, paste, bpaste"),
    "replay --split": Case(lambda w: ["replay", str(w.ds), "--arm", "serial", "--split", "bogus"],
                           r"Unknown split 'bogus'; choose train, validation, test or all"),
    "replay --rank": Case(lambda w: ["replay", str(w.ds), "--patterns", str(w.pat), "--arm", "bpaste", "--rank", "bogus"],
                          r"Unknown ranking 'bogus'; choose one of probability, value"),
    "replay without --patterns": Case(lambda w: ["replay", str(w.ds), "--arm", "paste"],
                                      r"The paste and bpaste arms need --patterns: a pattern table \(`bpaste mine .*ds -o patterns.bpaste` makes one\) or `oracle`"),
    "replay --safety": Case(lambda w: ["replay", str(w.ds), "--arm", "serial", "--safety", w.missing_safety],
                            r"The safety file .*missing_safety does not exist"),
    "replay --per-session dir": Case(lambda w: ["replay", str(w.ds), "--arm", "serial", "--per-session", w.empty_dir],
                                     r"--per-session .*empty_dir is a directory; pass the path of a file to write"),
    "replay --seed negative": Case(lambda w: ["replay", str(w.ds), "--arm", "serial", "--seed", "-1"],
                                   r"Invalid value for '--seed'", usage=True),
    "ingest --append onto a pattern table": Case(lambda w: ["ingest", str(w.logs), "-o", str(w.pat), "--append"],
                                                 r"pat holds a pattern-table artifact, not a trace dataset"),
    "ingest --append onto a newer dataset": Case(lambda w: ["ingest", str(w.logs), "-o", w.newer_ds, "--append"],
                                                 r"newer_ds has schema version 99, newer than this bpaste understands"),
    "ingest --append onto an empty directory": Case(lambda w: ["ingest", str(w.logs), "-o", w.empty_dir, "--append"],
                                                    r"empty_dir has no manifest.json, so it is not a trace dataset"),
    "mine --key": Case(lambda w: ["mine", str(w.ds), "--key", "bogus"],
                       r"Unknown event key 'bogus'; choose one of tool, status, refined"),
    "mine --context 0": Case(lambda w: ["mine", str(w.ds), "--context", "0"], r"--context, --recent-calls and --min-support must each be at least 1"),
    "policy validate missing": Case(lambda w: ["policy", "validate", w.missing_policy + ".json"],
                                    r"missing_policy.json does not exist; make a policy with `bpaste tune DATASET --patterns PATTERNS -o"),
    "policy validate a dataset": Case(lambda w: ["policy", "validate", str(w.ds)],
                                      r"ds is a trace-dataset directory, not a policy file; pass the policy.json written by `bpaste tune`"),
    "policy validate a foreign document": Case(lambda w: ["policy", "validate", w.policy + ".json"],
                                               r"policy.json holds a policy artifact, not a policy; pass the policy.json written by `bpaste tune`"),
    "replay --policy missing": Case(lambda w: ["replay", str(w.ds), "--policy", w.missing_policy + ".json"],
                                    r"missing_policy.json does not exist; make a policy with `bpaste tune"),
    "tune --objectives": Case(lambda w: ["tune", str(w.ds), "--patterns", str(w.pat), "-o", w.out("p.json"), "--objectives", "bogus"],
                              r"--objectives bogus is not supported; use speedup or speedup,waste"),
    "tune -o a directory": Case(lambda w: ["tune", str(w.ds), "--patterns", str(w.pat), "-o", w.empty_dir],
                                r"-o .*empty_dir is a directory; pass the path of the policy file to write"),
    "fit -o a directory": Case(lambda w: ["fit", str(w.ds), "--patterns", str(w.pat), "-o", w.empty_dir],
                               r"-o .*empty_dir is a directory; pass the path of the JSON file to write"),
    "report -o a directory": Case(lambda w: ["report", str(w.ds), "-o", w.empty_dir],
                                  r"-o .*empty_dir is a directory; pass the path of the HTML file to write"),
    "replay untimed": Case(lambda w: ["replay", w.untimed_ds, "--arm", "serial", "--split", "all"],
                           r"The all split of .*untimed_ds has no session replay can time \(12 untimed\); replay needs logs with timestamps"),
    "live --policy missing": Case(lambda w: ["live", str(w.ds), "--policy", w.missing_policy + ".json"],
                                  r"missing_policy.json does not exist; make a policy with `bpaste tune"),
    "live --time-scale 0": Case(lambda w: ["live", str(w.ds), "--policy", w.missing_policy + ".json", "--time-scale", "0"],
                                r"--time-scale 0 is not positive; pass a factor such as 0.1"),
    "live --arm": Case(lambda w: ["live", str(w.ds), "--policy", w.missing_policy + ".json", "--arm", "oracle"],
                       r"Unknown live arm 'oracle'; choose from paste, bpaste"),
    "demo --samples missing": Case(lambda w: ["demo", "--out", w.out("demo"), "--samples", w.missing_logs],
                                   r"missing_logs is not a directory of agent logs; pass the sample_traces folder or omit --samples"),
    "status --workspace missing": Case(lambda w: ["status", "--workspace", w.missing_ws],
                                       r"missing_ws is not a bpaste workspace yet; make it: pass your agent logs' files, "
                                       r"folders or globs to bpaste ingest with --workspace .*missing_ws\."),
    "status --workspace a file": Case(lambda w: ["status", "--workspace", str(w.logs)],
                                      r"--workspace .*sessions.jsonl is a file; name the folder bpaste keeps its artifacts in"),
    "mine --workspace not a workspace": Case(lambda w: ["mine", "--workspace", str(w.ds)],
                                             r"ds already holds files but no workspace.json, so it is not a bpaste workspace"),
}


def _cases() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for table, bad, expect, accepted, slot in (
        (DATASET_VERBS, BAD_DATASETS, {}, ACCEPTED, "dataset"),
        (PATTERN_VERBS, BAD_PATTERNS, PATTERN_EXPECT, PATTERN_ACCEPTED, "patterns"),
        (DEVICE_VERBS, BAD_DEVICES, {}, set(), "device"),
        (LOG_VERBS, BAD_LOGS, {}, set(), "logs"),
        (WRITING_VERBS, BAD_OUTPUTS, OUTPUT_EXPECT, OUTPUT_ACCEPTED, "output"),
    ):
        for verb, argv in table.items():
            for name, (path, regex) in bad.items():
                key = (verb, name)
                regex = expect.get(key, regex)
                cases[f"{verb}: {slot} {name}"] = Case(
                    lambda w, argv=argv, path=path: argv(w, path(w)), regex, ok=key in accepted)
    cases.update({f"option {k}": v for k, v in OPTION_CASES.items()})
    return cases


CASES = _cases()


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpaste_cli", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(REPO)})


def _debug_cases() -> set[str]:
    """--debug is checked on the first refused case of each verb (main() treats every error alike)."""
    first: dict[str, str] = {}
    for name, case in CASES.items():
        if not (case.ok or case.usage):
            first.setdefault(name.removeprefix("option ").split()[0], name)
    return set(first.values())


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple]:
    """Every case run once (and some with --debug), in parallel; a case that writes gets its own world."""
    base = tmp_path_factory.mktemp("bad_input")
    template = build_world(base / "template")
    debug_cases = _debug_cases()

    def run(item: tuple[int, str]) -> tuple[str, tuple]:
        i, name = item
        case = CASES[name]
        w = template
        if any(a in ("-o", "--append", "--per-session") for a in case.argv(w)):
            root = base / f"w{i}"
            shutil.copytree(template.root, root, symlinks=True)
            w = World(root, root / "corpus" / "native" / "sessions.jsonl", root / "ds", root / "pat")
        argv = case.argv(w)
        plain = _run(argv, w.root)
        debug = _run(["--debug", *argv], w.root) if name in debug_cases else None
        return name, (plain, debug, [a.replace(str(w.root), "…") for a in argv])

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        done = dict(pool.map(run, enumerate(CASES)))
    log = os.environ.get("BPASTE_BAD_INPUT_LOG")
    if log:
        with open(log, "w") as fh:
            for name, (plain, _, argv) in done.items():
                text = re.sub(re.escape(str(base)) + r"/(template|w\d+)", "…", plain.stderr.strip())
                fh.write(f"- `{name}` (`bpaste {' '.join(argv)}`) -> exit {plain.returncode}: {text or '(accepted)'}\n")
    return done


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_sentence_and_exit_2(results, name):
    case = CASES[name]
    plain, debug, argv = results[name]
    if case.ok:
        assert plain.returncode == 0, plain.stderr
        return
    assert plain.returncode == 2, (plain.returncode, plain.stderr[-2000:])
    assert "Traceback" not in plain.stderr
    assert plain.stdout == "", "nothing on stdout when the input is refused (scripts parse stdout)"
    if case.usage:  # Typer's own message box: names the option
        assert re.search(case.expect, plain.stderr)
        return
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith("."), plain.stderr
    assert re.search(case.expect, lines[0]), lines[0]
    if debug is not None:
        assert debug.returncode != 0
        assert "Traceback" in debug.stderr and "BpasteError" in debug.stderr, debug.stderr[-1000:]


def test_refused_output_directories_are_untouched(tmp_path):
    """The guard behind `foreign_directory`: nothing of the user's directory is deleted."""
    w = build_world(tmp_path)
    before = sorted(p.name for p in (tmp_path / "precious").iterdir())
    for verb in ("ingest", "mine"):
        proc = _run(WRITING_VERBS[verb](w, w.precious), tmp_path)
        assert proc.returncode == 2
    assert sorted(p.name for p in (tmp_path / "precious").iterdir()) == before == ["thesis.tex"]
    assert (tmp_path / "precious" / "thesis.tex").read_text() == "years of work\n"


def test_every_verb_has_bad_input_rows():
    """A verb registered on the CLI without a row here fails this test: add it to a table above."""
    from bpaste_cli.cli import app

    verbs = {c.name or c.callback.__name__ for c in app.registered_commands} | {g.name for g in app.registered_groups}
    tables = (DATASET_VERBS, PATTERN_VERBS, DEVICE_VERBS, LOG_VERBS, WRITING_VERBS, OPTION_CASES)
    covered = {verb.split()[0] for table in tables for verb in table}
    assert verbs <= covered, f"verbs without bad-input cases: {sorted(verbs - covered)}"
