"""The Speculator's core: identity, epochs, TTL, reuse vs promotion, errors, sessions, fail-open, counters.

Speculative calls are started by hand (`spec.launch`) so each rule is tested on its own; planning by a
real policy is tested end to end in test_serve.py. The tools are plain async functions that record
every execution, so "never executed" and "executed once" are checked on what really ran.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from bpaste_cli.runtime import Speculator
from bpaste_cli.safety import load_safety


class Tools:
    """Async tools that log every execution; `read` takes `delay` seconds."""

    def __init__(self, delay: float = 0.0, slow: dict[str, float] | None = None) -> None:
        self.ran: list[tuple[str, dict]] = []
        self.delay = delay
        self.slow = slow or {}  # path -> delay, overriding `delay`
        self.value = 0

    async def __call__(self, tool: str, args: dict):
        self.ran.append((tool, args))
        if tool == "read":
            await asyncio.sleep(self.slow.get(args.get("path"), self.delay))
            return f"{args.get('path')}={self.value}"
        if tool == "write":
            self.value += 1
            return "ok"
        if tool == "fail":
            raise RuntimeError("boom")
        return "?"


def spec_for(tools: Tools, ttl: float = 60.0, **kw) -> Speculator:
    spec = Speculator(None, tools, **kw)
    spec.safety = (load_safety(None).with_tool("read", "read-only", "io").with_tool("write", "mutating", "io")
                   .with_tool("fail", "read-only", "io"))
    spec.allowed = frozenset({"read-only"})
    spec.ttl = ttl
    return spec


def run(coro):
    return asyncio.run(coro)


def launch(spec: Speculator, session: str, tool: str, args: dict):
    return spec.launch(spec.session(session), tool, orjson.dumps(args).decode(), 0.9, 1, "io")


def test_completed_reuse_serves_the_finished_result_without_running_again():
    async def go():
        tools = Tools()
        spec = spec_for(tools)
        launch(spec, "s", "read", {"path": "a"})
        await asyncio.sleep(0.01)
        out = await spec.call("s", "read", {"path": "a"})
        return out, tools.ran, spec.counters()

    out, ran, c = run(go())
    assert out == "a=0"
    assert ran == [("read", {"path": "a"})]  # once: speculatively
    assert (c["real_calls"], c["hits"], c["completed_reuse"], c["inflight_promotions"], c["misses"]) == (1, 1, 1, 0, 0)
    assert c["speculative_starts"] == 1 and c["wasted_s"] == 0.0 and c["amplification"] == 1.0


def test_inflight_promotion_awaits_the_running_job():
    async def go():
        tools = Tools(delay=0.2)
        spec = spec_for(tools)
        launch(spec, "s", "read", {"path": "a"})
        await asyncio.sleep(0.05)
        t = asyncio.get_running_loop().time()
        out = await spec.call("s", "read", {"path": "a"})
        return out, asyncio.get_running_loop().time() - t, tools.ran, spec.counters()

    out, waited, ran, c = run(go())
    assert out == "a=0" and len(ran) == 1
    assert 0.08 < waited < 0.19  # the remaining ~0.15 s of the job, not a fresh 0.2 s
    assert (c["inflight_promotions"], c["completed_reuse"], c["misses"]) == (1, 0, 0)


def test_identity_is_tool_and_canonical_args():
    async def go():
        tools = Tools()
        spec = spec_for(tools)
        launch(spec, "s", "read", {"path": "a", "n": 1.0})
        await asyncio.sleep(0.01)
        hit = await spec.call("s", "read", {"n": 1, "path": "a"})  # same canonical arguments
        launch(spec, "s", "read", {"path": "b"})
        await asyncio.sleep(0.01)
        miss = await spec.call("s", "read", {"path": "B"})
        return hit, miss, spec.counters()

    hit, miss, c = run(go())
    assert hit == "a=0" and miss == "B=0"
    assert (c["hits"], c["misses"]) == (1, 1)


def test_a_result_never_crosses_sessions():
    async def go():
        tools = Tools()
        spec = spec_for(tools)
        launch(spec, "one", "read", {"path": "a"})
        await asyncio.sleep(0.01)
        await spec.call("two", "read", {"path": "a"})
        return tools.ran, spec.counters()

    ran, c = run(go())
    assert len(ran) == 2
    assert c["hits"] == 0 and c["sessions"]["two"]["misses"] == 1


def test_occupying_jobs_are_the_running_unaccounted_ones_across_sessions():
    """The planner's load comes from `Speculator.occupying`, kept as jobs start, finish and close; it equals a
    scan of every session's jobs (running and not closed) at each moment."""
    def scan(spec):
        return sorted(id(j) for s in spec.sessions.values() for j in s.jobs.values() if j.running and not j.closed)

    async def go():
        tools = Tools(slow={"a": 0.2, "b": 0.2, "c": 0.01})
        spec = spec_for(tools)
        seen = []
        launch(spec, "s1", "read", {"path": "a"})
        launch(spec, "s2", "read", {"path": "b"})
        launch(spec, "s2", "read", {"path": "c"})
        seen.append((len(spec.occupying), sorted(spec.occupying) == scan(spec)))
        await asyncio.sleep(0.05)  # c finished (held for reuse, not occupying)
        seen.append((len(spec.occupying), sorted(spec.occupying) == scan(spec)))
        await spec.call("s1", "write", {})  # invalidates s1: a is cancelled and accounted
        seen.append((len(spec.occupying), sorted(spec.occupying) == scan(spec)))
        await spec.call("s2", "read", {"path": "b"})  # promoted: runs to its end
        seen.append((len(spec.occupying), sorted(spec.occupying) == scan(spec)))
        await spec.close()
        return seen

    assert run(go()) == [(3, True), (2, True), (1, True), (0, True)]


def test_a_mutating_call_invalidates_and_cancels_pending_speculation():
    async def go():
        tools = Tools(slow={"a": 0.3})
        spec = spec_for(tools)
        done = launch(spec, "s", "read", {"path": "a"})
        launch(spec, "s", "read", {"path": "b"})
        await asyncio.sleep(0.05)  # a: still running (0.3 s); b: finished
        await spec.call("s", "write", {})
        a = await spec.call("s", "read", {"path": "a"})
        b = await spec.call("s", "read", {"path": "b"})
        return a, b, done, tools.ran, spec.counters()

    a, b, job_a, ran, c = run(go())
    assert (a, b) == ("a=1", "b=1")  # read after the write: fresh results, never the speculated =0
    assert job_a.task.cancelled()
    assert c["hits"] == 0 and c["cancelled"] == 1
    assert c["wasted_s"] > 0.0
    assert [t for t, _ in ran].count("read") == 4


def test_unknown_tools_invalidate_too_and_are_never_served():
    async def go():
        tools = Tools()
        spec = spec_for(tools)
        launch(spec, "s", "read", {"path": "a"})
        await asyncio.sleep(0.01)
        await spec.call("s", "mystery", {})
        await spec.call("s", "read", {"path": "a"})
        return spec.counters()

    c = run(go())
    assert c["hits"] == 0 and c["misses"] == 2


def test_errors_are_never_served():
    async def go():
        tools = Tools()
        spec = spec_for(tools)
        launch(spec, "s", "fail", {})
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="boom"):
            await spec.call("s", "fail", {})
        return tools.ran, spec.counters()

    ran, c = run(go())
    assert len(ran) == 2  # the speculative error was not served: the real call ran and failed itself
    assert c["hits"] == 0 and c["misses"] == 1


def test_expired_results_are_not_served():
    async def go():
        tools = Tools()
        spec = spec_for(tools, ttl=0.05)
        launch(spec, "s", "read", {"path": "a"})
        await asyncio.sleep(0.12)
        await spec.call("s", "read", {"path": "a"})
        return tools.ran, spec.counters()

    ran, c = run(go())
    assert len(ran) == 2 and c["hits"] == 0
    assert c["wasted_s"] > 0.0


def test_a_tools_own_ttl_from_the_safety_table_overrides_the_policys():
    async def go():
        tools = Tools()
        spec = spec_for(tools, ttl=60.0)
        spec.safety = spec.safety.with_tool("read", "read-only", "io", ttl_s=0.05)
        launch(spec, "s", "read", {"path": "a"})
        await asyncio.sleep(0.12)
        await spec.call("s", "read", {"path": "a"})  # expired by the tool's 0.05 s, though the policy says 60 s
        return tools.ran, spec.counters()

    ran, c = run(go())
    assert len(ran) == 2 and c["hits"] == 0


def test_a_hint_can_only_make_a_tool_less_eligible():
    async def go():
        tools = Tools()
        spec = spec_for(tools, hint={"read": "mutating", "write": "read-only"}.get)
        assert spec.classify("read", "{}").safety == "mutating"
        assert spec.classify("write", "{}").safety == "mutating"  # "read-only" from a hint is ignored
        launch(spec, "s", "read", {"path": "a"})
        await asyncio.sleep(0.01)
        await spec.call("s", "read", {"path": "a"})
        return spec.counters()

    assert run(go())["hits"] == 0


def test_fail_open_when_planning_raises(caplog):
    class Broken:
        def observe_think(self, s):
            pass

        def observe_tool(self, t, s):
            pass

        def plan(self, s, now):
            raise ValueError("planner bug")

    class Cursor:
        def observe(self, e):
            pass

    async def go():
        tools = Tools()
        spec = spec_for(tools)
        spec.planner = Broken()
        spec.session("s").cursor = Cursor()
        return [await spec.call("s", "read", {"path": str(i)}) for i in range(3)], spec.counters()

    out, c = run(go())
    assert out == ["0=0", "1=0", "2=0"] and c["real_calls"] == 3
    assert "planning failed" in caplog.text


def test_wrap_routes_named_tools_through_the_speculator(tmp_path):
    async def read_file(path: str) -> str:
        return f"contents of {path}"

    async def go():
        spec = Speculator(None, summary_path=tmp_path / "summary.json", log_path=tmp_path / "run.jsonl")
        tools = spec.wrap({"read_file": read_file})
        out = await tools["read_file"](path="x.txt")
        await spec.close()
        return out

    assert run(go()) == "contents of x.txt"
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert summary["real_calls"] == 1 and summary["hits"] == 0
    lines = [orjson.loads(x) for x in (tmp_path / "run.jsonl").read_bytes().splitlines()]
    assert [x["kind"] for x in lines] == ["llm", "tool"]
    assert lines[1]["args"] == {"path": "x.txt"} and lines[1]["result"] == "contents of x.txt"


def test_close_accounts_running_speculation_as_cancelled_waste(tmp_path):
    async def go():
        tools = Tools(delay=1.0)
        spec = spec_for(tools, log_path=tmp_path / "run.jsonl")
        launch(spec, "s", "read", {"path": "a"})
        await asyncio.sleep(0.05)
        return await spec.close()

    c = run(go())
    assert c["cancelled"] == 1 and c["speculative_starts"] == 1 and 0.04 < c["wasted_s"] < 0.5
    rec = orjson.loads((tmp_path / "run.jsonl").read_bytes().splitlines()[-1])
    assert rec["kind"] == "speculative" and rec["outcome"] == "cancelled"


def test_the_run_log_scrubs_secrets_as_ingest_does(tmp_path):
    key = "sk-ant-" + "a" * 30

    async def go():
        async def echo(token: str) -> str:
            return f"used {token}"

        spec = Speculator(None, log_path=tmp_path / "run.jsonl")
        await spec.wrap({"echo": echo})["echo"](token=key)
        await spec.close()

    run(go())
    text = (tmp_path / "run.jsonl").read_text()
    assert key not in text and "<secret:" in text


# -- planning: the policy's arm through the wall-clock planning context ---------------------------


class ChainCursor:
    """A toy predictor: after `start` it predicts `list` (p 0.9); after `list` returned NAME it predicts
    read(path=NAME) (p 0.9), the argument bound from the result it observed."""

    def __init__(self, last=None) -> None:
        self.last = last

    def observe(self, event) -> None:
        if event.kind == "tool":
            self.last = event

    def predict(self, k: int = 5, width: int | None = None, at_least: float = 0.0):
        from bpaste_cli.mine import Candidate
        from bpaste_cli.trace.canonical import args_hash, canonical_json

        def cand(tool, args):
            j = canonical_json(args)
            return Candidate(tool, j, args_hash(j), 0.9, "toy")

        if self.last is None:
            return []
        if self.last.tool == "start":
            return [cand("list", {})]
        if self.last.tool == "list" and self.last.result_text:
            return [cand("read", {"path": self.last.result_text})]
        return []

    def fork(self):
        return ChainCursor(self.last)


class ChainPredictor:
    def cursor(self):
        return ChainCursor()


def toy_policy(arm: str = "bpaste", latency: dict | None = None, **params):
    from pathlib import Path

    from bpaste_cli.device import load_device
    from bpaste_cli.policy import Policy

    safety = load_safety(None)
    for t in ("start", "list", "read"):
        safety = safety.with_tool(t, "read-only", "io")
    base = {"arm": arm, "slots": 4, "ttl_s": 60.0, "allowed": ["read-only"], "fast_path": False}
    if arm == "bpaste":
        base |= {"beam_width": 2, "beam_depth": 2, "rank": "probability", "min_prob": 0.05, "interference_budget": 10.0}
    else:
        base |= {"top_k": 2, "threshold": 0.1}
    doc = {"parameters": base | params, "provenance": {"seed": 0}}
    if latency is not None:
        doc["latency"] = latency
    return Policy(Path("policy.json"), doc, ChainPredictor(), load_device("laptop"), safety, None)


class ChainTools:
    def __init__(self) -> None:
        self.ran: list[tuple[str, dict]] = []

    async def __call__(self, tool: str, args: dict):
        self.ran.append((tool, args))
        await asyncio.sleep(0.02)
        return {"start": "go", "list": "a.txt", "read": f"contents of {args.get('path')}"}[tool]


def test_bpaste_binds_a_deeper_node_from_its_parents_speculative_result():
    async def go():
        tools = ChainTools()
        spec = Speculator(toy_policy("bpaste"), tools)
        await spec.call("s", "start", {})
        await asyncio.sleep(0.2)  # the model thinks; list runs speculatively, then read(a.txt) below it
        listed = await spec.call("s", "list", {})
        await asyncio.sleep(0.05)
        read = await spec.call("s", "read", {"path": "a.txt"})
        return listed, read, tools.ran, await spec.close()

    listed, read, ran, c = run(go())
    assert (listed, read) == ("a.txt", "contents of a.txt")
    # each tool ran once: list and read(a.txt) speculatively, the latter bound from list's speculative result
    assert ran == [("start", {}), ("list", {}), ("read", {"path": "a.txt"})]
    assert (c["real_calls"], c["hits"], c["completed_reuse"], c["speculative_starts"]) == (3, 2, 2, 2)


def test_paste_plans_only_the_next_step():
    async def go():
        tools = ChainTools()
        spec = Speculator(toy_policy("paste"), tools)
        await spec.call("s", "start", {})
        await asyncio.sleep(0.2)
        await spec.call("s", "list", {})  # a hit; its decision point then speculates read(a.txt)
        await asyncio.sleep(0.2)
        await spec.call("s", "read", {"path": "a.txt"})
        return tools.ran, await spec.close()

    ran, c = run(go())
    assert ran == [("start", {}), ("list", {}), ("read", {"path": "a.txt"})]
    assert (c["hits"], c["speculative_starts"]) == (2, 2)


def test_latency_statistics_start_from_the_policy_and_follow_live_calls():
    from bpaste_cli.runtime.planning import PRIOR_WEIGHT, OnlineLatency

    policy = toy_policy(latency={"think_s": 7.0, "tool_s": {"list": 2.0}, "default_tool_s": 0.5})
    stats = OnlineLatency(policy.latency)
    assert (stats.think_s, stats.latency("list"), stats.latency("other")) == (7.0, 2.0, 0.5)
    for _ in range(PRIOR_WEIGHT + 1):  # more live observations than the prior's weight: the median moves
        stats.think(1.0)
        stats.tool("list", 0.1)
    assert (stats.think_s, stats.latency("list")) == (1.0, 0.1)
    fresh = OnlineLatency(toy_policy().latency)  # a policy without statistics: replay's defaults
    from bpaste_cli.replay import LatencyStats

    assert fresh.think_s == LatencyStats.from_traces([]).think_s



class ShellCursor:
    """Predicts, after any call, four shell commands with high probability: two read-only, two not."""

    COMMANDS = ("ls -la", "rm -rf build", "git status", "cat a > b")

    def __init__(self, seen: bool = False) -> None:
        self.seen = seen

    def observe(self, event) -> None:
        self.seen = self.seen or event.kind == "tool"

    def predict(self, k: int = 5, width: int | None = None, at_least: float = 0.0):
        from bpaste_cli.mine import Candidate
        from bpaste_cli.trace.canonical import args_hash, canonical_json

        out = []
        for c in self.COMMANDS if self.seen else ():
            j = canonical_json({"command": c})
            out.append(Candidate("Bash", j, args_hash(j), 0.9, "toy"))
        return out[:k]

    def fork(self):
        return ShellCursor(self.seen)


def test_a_shell_tool_is_speculated_only_when_the_classifier_calls_the_command_read_only():
    from bpaste_cli.safety import load_safety as default_safety

    class ShellPredictor:
        def cursor(self):
            return ShellCursor()

    async def go():
        ran = []

        async def bash(tool, args):
            ran.append(args["command"])
            return "ok"

        policy = toy_policy("paste", top_k=4, threshold=0.1)
        policy.safety = default_safety(None)  # the shipped table: Bash is classed by the shell classifier
        policy.predictor = ShellPredictor()
        spec = Speculator(policy, bash)
        await spec.call("s", "Bash", {"command": "pwd"})
        await asyncio.sleep(0.1)
        return ran, await spec.close()

    ran, c = run(go())
    assert sorted(ran[1:]) == ["git status", "ls -la"]  # rm and a redirection: never run speculatively
    assert c["speculative_starts"] == 2
