"""Safety coverage, what-if replays and the independent-sequential figure, on hand-made logs whose every
figure is computed by hand below."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpaste_cli.coverage import safety_coverage, toml_line
from bpaste_cli.ingest import ingest
from bpaste_cli.replay import ReplayConfig, what_if
from bpaste_cli.safety import load_safety
from bpaste_cli.shell_safety import ShellRules, classify_command, unknown_reason
from bpaste_cli.stats import compute_stats
from bpaste_cli.trace.dataset import load_dataset

SAFETY = load_safety()
RULES = ShellRules.from_table(SAFETY.shell)

# one timed session: think 0-2, crawl 2-7 (unknown tool, 5 s), think 7-8, Grep + Bash(pytest) 8-9 / 8-11,
# think 11-12, Edit 12-13, think 13-14
LINES = [
    {"session_id": "a", "kind": "user", "t": 0, "text": "go"},
    {"session_id": "a", "kind": "llm", "t_end": 2.0},
    {"session_id": "a", "kind": "tool", "tool": "crawl", "args": {"url": "u"}, "t_start": 2.0, "t_end": 7.0, "result": "page"},
    {"session_id": "a", "kind": "llm", "t_end": 8.0},
    {"session_id": "a", "kind": "tool", "tool": "Grep", "args": {"pattern": "p"}, "t_start": 8.0, "t_end": 9.0, "result": "a.py"},
    {"session_id": "a", "kind": "tool", "tool": "Bash", "args": {"command": "pytest -x"}, "t_start": 8.0, "t_end": 11.0, "result": "ok"},
    {"session_id": "a", "kind": "llm", "t_end": 12.0},
    {"session_id": "a", "kind": "tool", "tool": "Edit", "args": {"path": "a.py"}, "t_start": 12.0, "t_end": 13.0, "result": "ok"},
    {"session_id": "a", "kind": "llm", "t_end": 14.0, "text": "done"},
]


def _dataset(tmp_path, lines):
    f = tmp_path / "s.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in lines))
    ingest([f], tmp_path / "ds")
    return load_dataset(tmp_path / "ds")


def test_coverage_by_class_tool_and_program(tmp_path):
    c = safety_coverage(_dataset(tmp_path, LINES), SAFETY)
    cls = c["safety_classes"]
    # tool time 5 + 1 + 3 + 1 = 10; the unknown class holds crawl (5) and the pytest command (3)
    assert cls["unknown"] == {"calls": 2, "tool_s": 8.0, "critical_s": 8.0, "share": 0.8}
    # batch 1's stall (8 -> 11) is the Bash call's (it finished last); Grep holds none of the critical path
    assert cls["read-only"] == {"calls": 1, "tool_s": 1.0, "critical_s": 0.0, "share": 0.1}
    assert cls["mutating"]["critical_s"] == 1.0 and cls["idempotent"]["calls"] == 0
    assert c["unclassified_tools"] == [{"tool": "crawl", "calls": 1, "tool_s": 5.0, "critical_s": 5.0,
                                        "toml": 'crawl = { safety = "read-only", resource = "cpu" }'}]
    assert c["unknown_shell_programs"] == [{"program": "pytest", "calls": 1, "tool_s": 3.0, "critical_s": 3.0}]


def test_stats_carries_coverage_and_a_user_table_changes_it(tmp_path):
    ds = _dataset(tmp_path, LINES)
    f = tmp_path / "safety.toml"
    f.write_text("[tools]\n" + toml_line("crawl") + "\n")
    s = compute_stats(ds, load_safety(f))
    assert s["unclassified_tools"] == [] and s["safety_classes"]["read-only"]["tool_s"] == 6.0


@pytest.mark.parametrize("tool", ["crawl", "mcp__srv__fetch", "a b", 'we"ird'])
def test_toml_line_classifies_the_tool(tmp_path, tool):
    f = tmp_path / "t.toml"
    f.write_text("[tools]\n" + toml_line(tool, "read-only", "net") + "\n")
    got = load_safety(f).classify(tool, "{}")
    assert (got.safety, got.resource) == ("read-only", "net")


def test_what_if_allowing_the_unknown_tool(tmp_path):
    ds = _dataset(tmp_path, LINES)
    cov = safety_coverage(ds, SAFETY)
    w = what_if(ds, None, cov, device="server", config=ReplayConfig(split="all"), safety=SAFETY)
    # as the table stands the oracle can start only Grep early (at 7, finishing at 8 < its emission):
    # hides 1 s of Grep, but Bash (unknown) ends the batch at 11 anyway: agent 14 -> 14.
    assert w["baseline"]["oracle"] == pytest.approx(1.0)
    crawl = next(r for r in w["rows"] if r["name"] == "crawl")
    # crawl allowed: launched at the first decision (0), it ends at 5 instead of 7: agent 12, 14 / 12
    assert crawl["oracle"] == pytest.approx(14 / 12) and crawl["oracle_gain"] == pytest.approx(14 / 12 - 1)
    # pytest enabled in [shell] read_only: the crawl (unknown) still opens a new epoch at step 1, whose
    # decision is at 7; the oracle starts the Bash call there (7 -> 10), so the batch ends at 10, not 11
    pytest_row = next(r for r in w["rows"] if r["name"] == "pytest")
    assert pytest_row["oracle"] == pytest.approx(14 / 13)


def test_independent_sequential_by_hand(tmp_path):
    lines = [
        {"session_id": "a", "kind": "user", "t": 0, "text": "go"},
        {"session_id": "a", "kind": "llm", "t_end": 1.0},
        {"session_id": "a", "kind": "tool", "tool": "Read", "args": {"file_path": "a.py"}, "t_start": 1.0, "t_end": 3.0,
         "result": "import b.py"},
        {"session_id": "a", "kind": "llm", "t_end": 3.5},  # 0.5 s: no think
        {"session_id": "a", "kind": "tool", "tool": "Read", "args": {"file_path": "c.py"}, "t_start": 3.5, "t_end": 4.5, "result": "c"},
        {"session_id": "a", "kind": "llm", "t_end": 4.8},
        # b.py came from the first Read's result: data flow, so it is not independent of it
        {"session_id": "a", "kind": "tool", "tool": "Read", "args": {"file_path": "b.py"}, "t_start": 4.8, "t_end": 5.8, "result": "b"},
        {"session_id": "a", "kind": "llm", "t_end": 10.0},  # thought: the next call is not chained
        {"session_id": "a", "kind": "tool", "tool": "Read", "args": {"file_path": "d.py"}, "t_start": 10.0, "t_end": 11.0, "result": "d"},
        {"session_id": "a", "kind": "llm", "t_end": 12.0, "text": "done"},
    ]
    ind = compute_stats(_dataset(tmp_path, lines))["independent_sequential"]
    # one run: Read a.py (2 s) then Read c.py (1 s): issued at once it would take 2 s, saving 1 s
    assert (ind["runs"], ind["calls"], ind["saving_s"]) == (1, 2, pytest.approx(1.0))
    assert ind["share_of_agent_time"] == pytest.approx(1.0 / 12.0)


COMMANDS = st.lists(st.sampled_from(["ls", "pytest", "cat a", "> f", "|", "&&", ";", "$(", ")", "'", "`", "git", "status",
                                     "push", "-x", "rm", "FOO=1", "LANG=C", "x", "./run.sh", "sed", "-i", "[REDACTED]"]),
                    max_size=8).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(COMMANDS)
def test_unknown_reason_explains_exactly_the_unknown_verdicts(command):
    reason = unknown_reason(command, RULES)
    assert (reason is not None) == (classify_command(command, RULES) == "unknown")
    assert reason is None or reason.strip()


def test_replay_reports_coverage_and_what_if(tmp_path):
    from bpaste_cli.replay import replay

    ds = _dataset(tmp_path, LINES)
    rep = replay(ds, None, device="server", config=ReplayConfig(arms=("serial", "oracle"), split="all", bootstrap=0),
                 safety=SAFETY, what_if=1)
    assert rep.coverage == safety_coverage(ds, SAFETY)
    assert [(r["kind"], r["name"]) for r in rep.what_if["rows"]] == [("tool", "crawl"), ("program", "pytest")]
    assert rep.to_json()["what_if"]["rows"][0]["oracle"] == pytest.approx(14 / 12)


def test_report_page_shows_coverage_and_what_if(tmp_path):
    from bpaste_cli.report import build_report

    ds = _dataset(tmp_path, LINES)
    page = build_report(ds, patterns="oracle", split="all", compare=(), bootstrap=0)
    assert "Tools the safety table does not know" in page and 'crawl = { safety = &quot;read-only&quot;' in page
    assert "What if one more tool or program were allowed" in page and "shell: pytest" in page
