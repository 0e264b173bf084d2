"""bpaste synth: determinism, the statistics the generator promises, round trips through every reader,
bounded-memory streaming, and the committed sample set being exactly what the documented command makes.

Expected timings are computed here from the generator's own session objects (integer milliseconds),
independently of the writers and readers, following the timing semantics of ARCHITECTURE.md §3.
"""

from __future__ import annotations

import hashlib
import re
import statistics
import tracemalloc
from collections import Counter
from pathlib import Path

import orjson
import pytest

from bpaste_cli.errors import BpasteError
from bpaste_cli.synth import ARCHETYPES, FORMATS, SAMPLE_PLAN, Knobs, generate, write, write_samples
from bpaste_cli.synth.generator import LATENCY, rank
from bpaste_cli.synth.model import Session, Turn
from bpaste_cli.trace.canonical import canonical_json

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_traces"


def sample_command(fmt: str, sessions: int, seed: int) -> str:
    return f"bpaste synth -o sample_traces --archetype coding,research,analysis --sessions {sessions} --seed {seed} --format {fmt}"
IDLE_S = 900.0  # the builder's default idle threshold
TIMED = ("native", "claude-code", "codex", "otlp")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }


@pytest.fixture(scope="module")
def corpus() -> list[Session]:
    """A few hundred sessions for the statistical checks."""
    return list(generate(ARCHETYPES, sessions=300, seed=11))


# -- determinism --------------------------------------------------------------------------------


def test_same_seed_same_bytes_different_seed_different_bytes(tmp_path):
    a = write(generate(sessions=9, seed=5), tmp_path / "a", FORMATS)
    write(generate(sessions=9, seed=5), tmp_path / "b", FORMATS)
    write(generate(sessions=9, seed=6), tmp_path / "c", FORMATS)
    ha, hb, hc = (tree_hashes(tmp_path / x) for x in "abc")
    assert ha == hb
    assert len(ha) == sum(f["files"] for f in a.formats.values())  # every file counted, all compared
    for fmt in FORMATS:  # every format's bytes depend on the seed
        assert {k: v for k, v in ha.items() if k.startswith(fmt + "/")} != {
            k: v for k, v in hc.items() if k.startswith(fmt + "/")
        }


def test_session_i_does_not_depend_on_corpus_size():
    small = list(generate(sessions=4, seed=2))
    large = list(generate(sessions=7, seed=2))
    assert [s.session_id for s in small] == [s.session_id for s in large[:4]]
    assert [len(s.items) for s in small] == [len(s.items) for s in large[:4]]


def test_unknown_names_are_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown archetype"):
        next(generate(("coding", "poetry")))
    with pytest.raises(BpasteError, match="Unknown format"):
        write(generate(sessions=1), tmp_path, ["native", "xml"])


# -- statistics ---------------------------------------------------------------------------------


def test_timing_distributions(corpus):
    calls = [c for s in corpus for c in s.calls]
    steps = [st for s in corpus for st in s.steps]
    latency = [(c.t_result - c.t_emit - c.approval_ms) / 1000 for c in calls]
    think = [(st.t_emit - st.t_start) / 1000 for st in steps]
    assert 0.2 <= statistics.median(latency) <= 2.0
    assert 4.0 <= statistics.median(think) <= 18.0
    # a long tail per tool: the 95th percentile is far above the median
    for tool in ("Bash", "visit", "run_sql", "Read"):
        lat = sorted((c.t_result - c.t_emit - c.approval_ms) / 1000 for c in calls if c.tool == tool)
        median, p95 = lat[len(lat) // 2], lat[int(len(lat) * 0.95)]
        assert p95 > 2.0 * median, tool
        assert median == pytest.approx(LATENCY[tool][0], rel=0.3), tool


def test_timing_scales_think_and_latency_and_nothing_else():
    """--think-scale / --latency-scale multiply the same draws: the same calls, arguments and results,
    each tool run `latency_scale` times as long, each think (idle gaps aside) `think_scale` times."""
    base = list(generate(("research", "analysis", "coding"), sessions=12, seed=3))
    fast = list(generate(("research", "analysis", "coding"), sessions=12, seed=3, knobs=Knobs(0.25, 3.0)))
    assert list(generate(sessions=3, seed=3, knobs=Knobs())) == list(generate(sessions=3, seed=3))
    thinks = calls = 0
    for a, b in zip(base, fast):
        assert [(c.tool, c.args, c.result, c.status) for c in a.calls] == [(c.tool, c.args, c.result, c.status) for c in b.calls]
        for ca, cb in zip(a.calls, b.calls):
            assert abs(cb.exec_ms - 3.0 * ca.exec_ms) <= 3.0 * 0.5 + 0.5  # each side rounded to whole ms
            calls += 1
        for sa, sb in zip(a.steps, b.steps):
            think_a, think_b = sa.t_emit - sa.t_start, sb.t_emit - sb.t_start
            if think_a < 600_000:  # not a step the person left during
                assert abs(think_b - 0.25 * think_a) <= 0.25 * 0.5 + 0.5
                thinks += 1
    assert calls > 50 and thinks > 50
    # the share of agent time in tools rises (the point of the knobs)
    def tool_share(sessions):
        tool = sum(c.exec_ms for s in sessions for c in s.calls)
        return tool / (tool + sum(st.t_emit - st.t_start for s in sessions for st in s.steps if st.t_emit - st.t_start < 600_000))
    assert tool_share(fast) > 2 * tool_share(base)


def test_top_pick_sets_how_often_the_top_rank_is_chosen():
    """`rank` follows top * (1 - top)^r (counted over many draws); at 0.5 the corpus is the modelled one."""
    import random

    rng = random.Random(4)
    draws = Counter(rank(rng, 6, 0.9) for _ in range(20000))
    assert draws[0] / 20000 == pytest.approx(0.9, abs=0.01)
    assert draws[1] / 20000 == pytest.approx(0.09, abs=0.01)
    assert list(generate(sessions=4, seed=9, knobs=Knobs(top_pick=0.5))) == list(generate(sessions=4, seed=9))
    # research sessions visit the first search result more often with a focused agent
    def first_visits(top):  # visits of a URL listed first in one of the session's search results
        hits = 0
        for s in generate(("research",), sessions=60, seed=2, knobs=Knobs(top_pick=top)):
            firsts = {re.search(r"https://\S+", c.result).group(0) for c in s.calls if c.tool == "search"}
            hits += sum(c.tool == "visit" and c.args["url"] in firsts for c in s.calls)
        return hits
    assert first_visits(0.9) > 1.2 * first_visits(0.5)


@pytest.mark.parametrize("bad", ["0", "-1", "nan"])
def test_timing_scale_must_be_a_positive_factor(tmp_path, bad):
    with pytest.raises(BpasteError, match="not a positive factor"):
        next(generate(sessions=1, knobs=Knobs(latency_scale=float(bad))))
    with pytest.raises(BpasteError, match="--top-pick"):
        next(generate(sessions=1, knobs=Knobs(top_pick=float(bad))))
    from cli_support import bpaste

    out = bpaste(["bpaste", "synth", "-o", "x", "--think-scale", bad], tmp_path)
    assert out.returncode == 2
    assert "--think-scale" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x").exists()


def test_parallel_steps_errors_and_repeats(corpus):
    steps = [st for s in corpus for st in s.steps]
    parallel = sum(1 for st in steps if len(st.calls) >= 2) / len(steps)
    assert 0.18 <= parallel <= 0.37
    calls = [c for s in corpus for c in s.calls]
    errors = sum(c.status == "error" for c in calls) / len(calls)
    assert 0.02 <= errors <= 0.15
    # exact repeats of an earlier call (same tool, same canonical args) in the same session
    repeats = 0
    for s in corpus:
        seen = set()
        for c in s.calls:
            key = (c.tool, canonical_json(c.args))
            repeats += key in seen
            seen.add(key)
    assert 0.03 <= repeats / len(calls) <= 0.25


def test_human_waits_present(corpus):
    """User turns between tasks (some after hours), idle gaps inside steps, approval waits."""
    gaps = []
    for s in corpus:
        last = None
        for it in s.items:
            if isinstance(it, Turn) and last is not None:
                gaps.append((it.t - last) / 1000)
            if not isinstance(it, Turn):
                last = max([it.t_emit] + [c.t_result for c in it.calls])
    assert len(gaps) > 100 and any(g > 3600 for g in gaps) and statistics.median(gaps) < 300
    assert any((st.t_emit - st.t_start) / 1000 > IDLE_S for s in corpus for st in s.steps)
    approvals = [c for s in corpus for c in s.calls if c.approval_ms]
    assert approvals and {c.tool for c in approvals} <= {"Bash", "run_sql"}


def test_search_rank_of_first_visit_halves(corpus):
    """The first URL visited after a search is the search's r-th result with probability ~2^-(r+1)."""
    first_ranks = []
    for s in corpus:
        steps = s.steps
        for a, b in zip(steps, steps[1:]):
            if a.calls and a.calls[0].tool == "search" and b.calls and b.calls[0].tool == "visit":
                urls = re.findall(r"^   (https://\S+)$", a.calls[0].result, re.M)
                first_ranks.append(urls.index(b.calls[0].args["url"]))
    n = Counter(first_ranks)
    total = len(first_ranks)
    assert total > 100
    assert 0.38 <= n[0] / total <= 0.62
    assert n[0] > n[1] > n[2] > 0


def test_rank_distribution_is_geometric():
    import random

    rng = random.Random(0)
    draws = Counter(rank(rng, 6) for _ in range(20000))
    assert draws[0] / 20000 == pytest.approx(0.5, abs=0.02)
    assert draws[1] / 20000 == pytest.approx(0.25, abs=0.02)
    assert draws[5] / 20000 == pytest.approx(1 / 32, abs=0.01)  # the tail folds onto the last rank


def test_arguments_flow_from_earlier_results(tmp_path, ingest_paths):
    """Measured on the ingested dataset, without the generator's labels: a call's argument (a string
    leaf, or a whitespace-separated token of it of 8+ characters) appears verbatim in an earlier
    result of the same session."""
    write(generate(sessions=150, seed=4), tmp_path, ["native"])
    _, ds = ingest_paths([tmp_path / "native"])
    ev = ds.events.sort("session_id", "seq")
    copied = total = 0
    results: list[str] = []
    current = None
    for sid, kind, args, result in ev.select("session_id", "kind", "args_json", "result_text").iter_rows():
        if sid != current:
            current, results = sid, []
        if kind != "tool":
            continue
        leaves = [v for v in orjson.loads(args).values() if isinstance(v, str)]
        pieces = leaves + [tok for v in leaves for tok in v.split() if len(tok) >= 8]
        total += 1
        copied += any(len(p) >= 4 and any(p in r for r in results) for p in pieces)
        results.append(result or "")
    assert total > 1000
    assert copied / total >= 0.5


# -- round trips through the readers ------------------------------------------------------------


def expected(s: Session, fmt: str) -> dict:
    """What ingest must derive from `s` written as `fmt` (times in s from the first user message).

    Think = emission - inputs complete, except that a window over the idle threshold becomes an idle
    wait and a zero think; OTLP spans carry no user messages, so there a gap over the threshold before
    a step's logged start is an idle wait too. Latency = result - emission; Codex emits a step's calls together at the
    step's time and logs a shell call's own run time (`Wall time`), so there a Bash latency excludes
    an approval wait, which becomes a user event of its own.
    """
    t0 = s.items[0].t
    out: dict = {"llm": [], "tool": [], "idle": 0, "approval": 0, "turns": sum(isinstance(i, Turn) for i in s.items)}
    frontier = None  # OTLP: spans log each step's start, so a long gap before it is an idle wait
    for st in s.steps:
        think = (st.t_emit - st.t_start) / 1000
        out["idle"] += think > IDLE_S
        if fmt == "otlp" and frontier is not None and (st.t_start - frontier) / 1000 > IDLE_S:
            out["idle"] += 1
        frontier = max([st.t_emit, *(c.t_result for c in st.calls)] + ([frontier] if frontier is not None else []))
        out["llm"].append(((st.t_emit - t0) / 1000, 0.0 if think > IDLE_S else think))
        for c in st.calls:
            emit = st.t_emit if fmt == "codex" else c.t_emit
            latency = c.t_result - emit
            if fmt == "codex" and c.tool == "Bash" and c.approval_ms:
                latency -= c.approval_ms
                out["approval"] += 1
            out["tool"].append(((emit - t0) / 1000, latency / 1000, c))
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(fmt, tmp_path, ingest_paths):
    sessions = list(generate(ARCHETYPES, sessions=45, seed=21))
    written = write(sessions, tmp_path, [fmt])
    result, ds = ingest_paths([tmp_path / fmt])
    assert result.report.total == 0 and {f["format"] for f in result.files} == {fmt}
    assert (result.sessions, result.tool_calls, result.llm_steps) == (
        written.sessions, written.tool_calls, written.llm_steps)
    events = ds.events.sort("session_id", "seq")
    by_session = {UUID.search(sid).group(0): events.filter(events["session_id"] == sid) for sid in ds.sessions["session_id"]}
    assert set(by_session) == {s.session_id for s in sessions}
    for s in sessions:
        ev = by_session[s.session_id]
        exp = expected(s, fmt)
        llm = ev.filter(ev["kind"] == "llm")
        tools = ev.filter(ev["kind"] == "tool")
        users = ev.filter(ev["kind"] == "user")
        assert llm.height == len(exp["llm"]) and tools.height == len(exp["tool"])
        waits = Counter(users["wait_reason"].to_list())
        if fmt != "otlp":  # GenAI spans carry no user messages
            assert waits["turn"] == exp["turns"]
        for (_, _, c), args, text, status in zip(exp["tool"], tools["args_json"], tools["result_text"], tools["status"]):
            assert args == canonical_json(c.args)
            if fmt == "codex" and c.tool == "Bash":  # Codex's shell header, then the output
                assert text.startswith(f"Exit code: {int(c.status == 'error')}\nWall time: ")
                assert status == c.status
            else:
                assert text == c.result
                if fmt in ("native", "claude-code", "otlp"):
                    assert status == c.status
        if fmt not in TIMED:
            assert llm["t_end"].null_count() == llm.height
            continue
        assert (waits["idle"], waits["approval"]) == (exp["idle"], exp["approval"])
        for (t_emit, think), t_start, t_end in zip(exp["llm"], llm["t_start"], llm["t_end"]):
            assert t_end == pytest.approx(t_emit, abs=1e-3)
            assert t_end - t_start == pytest.approx(think, abs=1e-3)
        for (t_emit, latency, _), t_start, t_end in zip(exp["tool"], tools["t_start"], tools["t_end"]):
            assert t_start == pytest.approx(t_emit, abs=1e-3)
            assert t_end - t_start == pytest.approx(latency, abs=1e-3)


def test_round_trip_through_the_cli(tmp_path):
    """`bpaste ingest` itself (not only the library) reads what synth wrote."""
    from typer.testing import CliRunner

    from bpaste_cli.cli import app

    w = write(generate(sessions=6, seed=8), tmp_path / "logs", ["native", "claude-code"])
    out = CliRunner().invoke(app, ["ingest", str(tmp_path / "logs"), "-o", str(tmp_path / "ds"), "--json"])
    assert out.exit_code == 0, out.output
    summary = orjson.loads(out.output)
    assert summary["sessions"] == 2 * w.sessions
    assert summary["tool_calls"] == 2 * w.tool_calls


# -- scale ---------------------------------------------------------------------------------------


def test_streams_in_bounded_memory(tmp_path):
    """Memory does not grow with the corpus: 10x the sessions, about the same peak."""

    def peak(n: int) -> int:
        tracemalloc.start()
        write(generate(sessions=n, seed=1), tmp_path / str(n), ["claude-code", "native"])
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    small, large = peak(30), peak(300)
    assert large < 2 * small  # holding 300 sessions (about 10 MB of records) would not fit


def test_max_bytes_stops_after_the_session_that_reaches_it(tmp_path):
    r = write(generate(sessions=None, seed=3), tmp_path, ["claude-code"], max_bytes=400_000)
    files = list((tmp_path / "claude-code").rglob("*.jsonl"))
    size = sum(p.stat().st_size for p in files)
    assert len(files) == r.sessions and size == r.formats["claude-code"]["bytes"]
    last = max(files, key=lambda p: p.stat().st_mtime_ns).stat().st_size
    assert 400_000 <= size < 400_000 + last + 1


# -- the committed sample set -------------------------------------------------------------------


def test_sample_set_is_what_the_documented_commands_make(tmp_path):
    readme = (SAMPLES / "README.md").read_text()
    for fmt, sessions, seed in SAMPLE_PLAN:
        assert sample_command(fmt, sessions, seed) in readme
    write_samples(tmp_path)
    assert tree_hashes(tmp_path) == tree_hashes(SAMPLES)
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 5_000_000
    assert {p.name for p in SAMPLES.iterdir() if p.is_dir()} == set(FORMATS)


def test_sample_set_via_cli(tmp_path):
    from typer.testing import CliRunner

    from bpaste_cli.cli import app

    for fmt, sessions, seed in SAMPLE_PLAN:
        args = sample_command(fmt, sessions, seed).split()[1:]
        args[args.index("sample_traces")] = str(tmp_path)
        result = CliRunner().invoke(app, [*args, "--json"])
        assert result.exit_code == 0, result.output
    assert tree_hashes(tmp_path) == tree_hashes(SAMPLES)


def test_sample_sessions_are_distinct_across_formats(ingest_paths):
    result, ds = ingest_paths([SAMPLES])
    assert result.sessions == sum(n for _, n, _ in SAMPLE_PLAN) == ds.sessions.height
    assert result.report.total == 0
