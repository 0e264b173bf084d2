"""`bpaste live`: a policy measured in real time on this machine, beside replay's estimate of the same sessions.

A trace-driven agent re-enacts each logged timed session on the wall clock: every event starts when the
events it depended on in the log have ended (replay's rule, ARCHITECTURE.md §4) plus its logged gap; an
LLM step thinks for its logged duration (the CPU-bound `StandInLLM` when the profile's LLM is local, a
sleep when remote); a tool call goes through the runtime's real `Speculator` (or, with `via_mcp`,
through `bpaste serve` over real stdio) to the replay tool server (`lab.toolserver`), which answers
with the logged result after the logged latency. Human waits take no time live (they are not agent
time). Every duration is multiplied by `time_scale`; figures are reported in logged seconds.

Arms: serial (no speculation), the policy, and the extra arms (default paste, bpaste: the policy's
predictor, safety table and allowed classes with replay's default knobs), order-balanced (the arm order
reverses every session: ABBA), paired per session, with replay's session bootstrap CI. The same
sessions are replayed in virtual time with the same device, safety table and parameters. Where the two
speedups differ by more than the live CI, the gap is attributed to the term measured live that
replay does not model: planning overhead (timed around the speculator's planner), interference (CPU
work stretched beyond its deadline, over serial's, minus replay's interference), queueing (speculative
jobs finishing after their latency) or timer resolution (sleeps overshooting, over serial's).
"""

from __future__ import annotations

import asyncio
import heapq
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from pathlib import Path
from statistics import median
from typing import Any, Callable

import orjson

from bpaste_cli.device import Device
from bpaste_cli.errors import BpasteError
from bpaste_cli.lab.toolserver import Execution, Paced, ReplayToolServer, Script
from bpaste_cli.lab.workloads import CpuBurn, StandInLLM
from bpaste_cli.policy import Policy, replay_config, write_policy
from bpaste_cli.replay import ReplayConfig, SessionTrace, bootstrap_ci, prepare_split, run_session, summarize
from bpaste_cli.runtime import Speculator
from bpaste_cli.safety import SafetyTable, safety_doc
from bpaste_cli.split import select_split
from bpaste_cli.trace.dataset import Dataset

EXTRA_ARMS = ("paste", "bpaste")
TERMS = ("planning", "interference", "queueing", "timer")


@dataclass(frozen=True)
class LiveOptions:
    """How a live run is set up (every field is reported with its figures)."""

    sessions: int = 4
    seed: int = 0
    time_scale: float = 1.0
    arms: tuple[str, ...] = EXTRA_ARMS
    split: str = "test"
    via_mcp: bool = False
    bootstrap: int = 1000

    def check(self) -> None:
        """One sentence on an option no run can use (before anything is loaded)."""
        if not self.time_scale > 0:
            raise BpasteError(f"--time-scale {self.time_scale:g} is not positive; pass a factor such as 0.1 "
                              "(every logged duration is multiplied by it).")
        if self.sessions < 1:
            raise BpasteError("--sessions must be at least 1.")
        bad = [a for a in self.arms if a not in EXTRA_ARMS]
        if bad:
            raise BpasteError(f"Unknown live arm {bad[0]!r}; choose from {', '.join(EXTRA_ARMS)} (serial and the policy "
                              "always run).")


@dataclass
class Enactment:
    """One session under one arm, live: agent seconds (logged scale) and what was measured on the way."""

    session_id: str
    arm: str
    agent_s: float  # comparable with replay's agent_s: the log's agent time + live span - logged span
    span_s: float
    counters: dict[str, Any]
    per_tool: dict[str, dict[str, float]]
    think_stretch_s: float = 0.0
    tool_stretch_s: float = 0.0
    spec_lateness_s: float = 0.0
    timer_s: float = 0.0
    planning_s: float | None = 0.0
    decision_points: int = 0


# -- the sessions, the arms ----------------------------------------------------------------------

def pick_sessions(ds: Dataset, split: str, split_seed: int, seed: int, n: int) -> list[str]:
    """`n` timed sessions of `split` (the policy's split seed), chosen by `seed`: another seed, other sessions."""
    ids = set(select_split(ds.sessions, split, split_seed))
    timed = [r for r in ds.sessions.select("session_id", "timed", "agent_time_s").iter_rows()
             if r[0] in ids and r[1] and r[2] is not None]
    chosen = sorted(r[0] for r in timed)
    random.Random(seed).shuffle(chosen)
    return sorted(chosen[:n])


def arm_policies(policy: Policy, device: Device, safety: SafetyTable, extra: tuple[str, ...]) -> dict[str, Policy | None]:
    """Each arm's policy (serial: none): the policy itself under `policy`, and each extra arm with the
    policy's allowed classes and replay's default knobs; all on `device` and `safety`."""
    def variant(params: dict[str, Any], value_model: Any) -> Policy:
        doc = dict(policy.doc, parameters=params, device={"name": device.name, "profile": device.doc},
                   safety=safety_doc(safety))
        return replace(policy, doc=doc, device=device, safety=safety, value_model=value_model)

    defaults = ReplayConfig()
    known = {f.name for f in fields(ReplayConfig)}
    out: dict[str, Policy | None] = {"serial": None, "policy": variant(dict(policy.parameters), policy.value_model)}
    for name in extra:
        params = {k: (getattr(defaults, k) if k in known and k != "allowed" else v) for k, v in policy.parameters.items()}
        params["arm"] = name
        if isinstance(params.get("allowed"), tuple):
            params["allowed"] = list(params["allowed"])
        out[name] = variant(params, None)
    return out


def _replay_config(pol: Policy | None, split: str, seed: int) -> ReplayConfig:
    if pol is None:
        return ReplayConfig(arms=("serial",), split=split, seed=seed, bootstrap=0)
    return replay_config(pol.parameters, split=split, seed=seed, bootstrap=0)


def script_for(trace: SessionTrace, stats: Any, time_scale: float) -> Script:
    """What the replay tool server answers in this session (from its log; typical latencies from train)."""
    calls: dict[str, list[tuple[float, str, str, str]]] = {}
    resource: dict[str, str] = {}
    for nd in trace.nodes:
        if nd.kind != "tool":
            continue
        args = _args(nd.event.args_json)
        calls.setdefault(Script.key(nd.tool, args), []).append(
            (nd.logged_end - nd.logged_start, nd.event.result_text or "", nd.event.status or "ok", nd.resource or "net"))
        resource.setdefault(nd.tool, nd.resource or "net")
    return Script(calls, dict(stats.tool_s), resource, float(stats.default_tool_s), time_scale)


def _args(args_json: str | None) -> Any:
    if not args_json:
        return {}
    try:
        return orjson.loads(args_json)
    except orjson.JSONDecodeError:
        return args_json


def logged_span(trace: SessionTrace) -> float:
    """The session's span under the live agent's rules with nothing speculated (human waits take no time):
    what a serial live run should take, in logged seconds."""
    heap: list[tuple[float, float]] = []
    flog = frep = base = trace.nodes[0].logged_start
    last = base
    for nd in trace.nodes:
        while heap and heap[0][0] <= nd.logged_start:
            el, er = heapq.heappop(heap)
            flog, frep = max(flog, el), max(frep, er)
        start = nd.logged_start + frep - flog
        end = start if nd.kind not in ("llm", "tool") else start + nd.logged_end - nd.logged_start
        heapq.heappush(heap, (nd.logged_end, end))
        last = max(last, end)
    return last - base


# -- the live agent ------------------------------------------------------------------------------

class Thinker:
    """An LLM step for `seconds` of wall time: the CPU-bound stand-in (local LLM; `Paced` work, so co-running
    jobs stretch it past its deadline) or a sleep (remote LLM). Records its overruns."""

    def __init__(self, local: bool) -> None:
        self.llm = StandInLLM() if local else None
        self.paced = Paced(self.llm.passes) if self.llm is not None else None
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="bpaste-live-llm")
        self.overrun_s = 0.0

    async def think(self, seconds: float, due: float) -> None:
        """Think for `seconds`, due to start at `due` (perf_counter): a remote LLM's sleep ends at `due +
        seconds` however late this task woke (the wake-up's lateness is the lab's clock, not the agent's); the
        stand-in's fixed work starts now and waits out the rest of its own `seconds`."""
        t0 = time.perf_counter()
        end = (t0 if self.paced is not None else min(t0, max(due, t0 - seconds))) + seconds
        if seconds > 0:
            if self.paced is not None:
                await asyncio.get_running_loop().run_in_executor(self._pool, self.paced.run, seconds)
            elif end > time.perf_counter():
                await asyncio.sleep(end - time.perf_counter())
        self.overrun_s += max(0.0, time.perf_counter() - end)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def drive(trace: SessionTrace, call: Callable[[str, Any], Any], thinker: Thinker, scale: float,
                track: set | None = None) -> tuple[float, float]:
    """Re-enact `trace` on the wall clock; returns (live span in logged seconds, gap-sleep overshoot in
    logged seconds). `call(tool, args)` makes a real call; `track` collects the tasks making them."""
    base = trace.nodes[0].logged_start
    t0 = time.perf_counter()
    heap: list[tuple[float, int]] = []
    flog = frep = base
    ends: dict[int, float] = {}
    done: dict[int, asyncio.Event] = {}
    tasks: list[asyncio.Task] = []
    late = 0.0

    def now() -> float:
        return base + (time.perf_counter() - t0) / scale

    async def run(nd: Any, ev: asyncio.Event, due: float) -> None:
        try:
            if nd.kind == "llm":
                await thinker.think((nd.logged_end - nd.logged_start) * scale, due)
            elif nd.kind == "tool":
                await call(nd.tool, _args(nd.event.args_json))
        finally:
            ends[nd.index] = now()
            ev.set()
            if track is not None:
                track.discard(asyncio.current_task())

    for nd in trace.nodes:
        while heap and heap[0][0] <= nd.logged_start:
            el, idx = heapq.heappop(heap)
            await done[idx].wait()
            flog, frep = max(flog, el), max(frep, ends[idx])
        start = nd.logged_start + frep - flog
        due = t0 + (start - base) * scale
        wait = (start - now()) * scale
        if wait > 0:
            await asyncio.sleep(wait)
            if nd.kind != "llm" or thinker.paced is not None:  # a remote think absorbs its late start
                late += max(0.0, now() - start)
        ev = done[nd.index] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(run(nd, ev, due))
        if track is not None and nd.kind == "tool":
            track.add(task)
        tasks.append(task)
        heapq.heappush(heap, (nd.logged_end, nd.index))
    await asyncio.gather(*tasks)
    return max(ends.values()) - base, late


def _runlog_per_tool(path: Path) -> dict[str, dict[str, float]]:
    """Per tool: real calls, hits (served from speculation) and wasted speculative seconds, from a run log."""
    out: dict[str, dict[str, float]] = {}
    if not path.exists():
        return out
    for line in path.read_bytes().splitlines():
        rec = orjson.loads(line)
        if rec.get("kind") not in ("tool", "speculative"):
            continue
        row = out.setdefault(rec["tool"], {"calls": 0, "hits": 0, "spec_started": 0, "wasted_spec_s": 0.0})
        if rec["kind"] == "tool":
            row["calls"] += 1
            row["hits"] += rec.get("served") is not None
        else:
            row["spec_started"] += 1
            if rec.get("outcome") != "served":
                row["wasted_spec_s"] += max(0.0, rec["t_end"] - rec["t_start"])
    return out


def _account(en: Enactment, executions: list[Execution], thinker_overrun: float, local: bool, scale: float) -> None:
    """Split what overran into the terms (logged seconds)."""
    for ex in executions:
        over = ex.overrun_s / scale
        if ex.resource != "cpu":
            en.timer_s += over
        elif ex.real is False:
            en.spec_lateness_s += over
        else:
            en.tool_stretch_s += over
    if local:
        en.think_stretch_s += thinker_overrun / scale
    else:
        en.timer_s += thinker_overrun / scale


async def enact_in_process(trace: SessionTrace, arm: str, pol: Policy | None, script: Script, thinker: Thinker,
                           scale: float, local: bool, work: Path) -> Enactment:
    """One session under one arm through an in-process Speculator."""
    server = ReplayToolServer(script)
    log_path = work / f"{arm}-{trace.session_id[:40]}.jsonl".replace("/", "_")
    spec = Speculator(pol, executor=server.execute, log_path=log_path)
    planning = [0.0, 0]
    if spec.planner is not None:
        plan = spec.planner.plan

        def timed(s: Any, now: float) -> None:
            t = time.perf_counter()
            try:
                plan(s, now)
            finally:
                planning[0] += time.perf_counter() - t
                planning[1] += 1

        spec.planner.plan = timed
    sid = trace.session_id
    thinker.overrun_s = 0.0
    try:
        span, late = await drive(trace, lambda tool, args: spec.call(sid, tool, args), thinker, scale, server.real_tasks)
    finally:
        counters = await spec.close()
        server.close()
    en = Enactment(sid, arm, trace.agent_time + span - logged_span(trace), span, _counters(counters),
                   _runlog_per_tool(log_path), planning_s=planning[0] / scale, decision_points=planning[1])
    en.timer_s += late
    _account(en, server.executions, thinker.overrun_s, local, scale)
    return en


def _counters(c: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in c.items() if k != "sessions"}


class StdioClient:
    """A minimal MCP client over a subprocess's stdin/stdout (newline-delimited JSON-RPC)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._ids = 0
        self._waiting: dict[int, asyncio.Future] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                msg = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            fut = self._waiting.pop(msg.get("id"), None) if isinstance(msg, dict) else None
            if fut is not None and not fut.done():
                fut.set_result(msg)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(BpasteError("bpaste serve exited during a live run; rerun with --debug to see why."))

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        self._ids += 1
        fut = self._waiting[self._ids] = asyncio.get_running_loop().create_future()
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}) + b"\n")
        await self.proc.stdin.drain()
        msg = await fut
        if "error" in msg:
            raise BpasteError(f"bpaste serve answered {method} with an error: {msg['error'].get('message')}.")
        return msg["result"]

    def notify(self, method: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps({"jsonrpc": "2.0", "method": method}) + b"\n")

    async def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 60)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()


async def enact_via_mcp(trace: SessionTrace, arm: str, pol: Policy | None, script: Script, thinker: Thinker,
                        scale: float, local: bool, work: Path) -> Enactment:
    """One session under one arm through `bpaste serve` (a subprocess, real stdio) in front of the replay
    tool server (its child). Planning happens inside `bpaste serve`, so it is not timed here."""
    tag = f"{arm}-{abs(hash(trace.session_id)) % 10**8}"
    script_path, exec_path = work / f"{tag}.script.json", work / f"{tag}.exec.json"
    log_path, summary_path = work / f"{tag}.jsonl", work / f"{tag}.summary.json"
    script_path.write_bytes(script.to_json())
    argv = [sys.executable, "-m", "bpaste_cli", "serve", "--log", str(log_path), "--summary", str(summary_path)]
    if pol is not None:
        policy_path = work / f"{tag}.policy.json"
        write_policy(policy_path, pol.doc)
        argv += ["--policy", str(policy_path)]
    argv += ["--", sys.executable, "-m", "bpaste_cli.lab.toolserver", str(script_path), str(exec_path)]
    with open(work / f"{tag}.stderr", "wb") as stderr:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                    stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    client = StdioClient(proc)
    try:
        await client.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                            "clientInfo": {"name": "bpaste-live", "version": "1"}})
        client.notify("notifications/initialized")
        await client.request("tools/list", {})

        async def call(tool: str, args: Any) -> Any:
            return await client.request("tools/call", {"name": tool, "arguments": args if isinstance(args, dict) else {}})

        thinker.overrun_s = 0.0
        span, late = await drive(trace, call, thinker, scale)
    finally:
        await client.close()
    if not summary_path.exists():
        why = (work / f"{tag}.stderr").read_text(errors="replace").strip().splitlines()
        raise BpasteError(f"bpaste serve wrote no summary in a live run ({why[-1] if why else 'no message'}).")
    counters = orjson.loads(summary_path.read_bytes())
    en = Enactment(trace.session_id, arm, trace.agent_time + span - logged_span(trace), span, counters,
                   _runlog_per_tool(log_path), planning_s=None)
    en.timer_s += late
    executions = [Execution(**e) for e in orjson.loads(exec_path.read_bytes())] if exec_path.exists() else []
    _account(en, executions, thinker.overrun_s, local, scale)
    return en


# -- measurements of the clock -------------------------------------------------------------------

def timer_resolution(samples: int = 25, want_s: float = 0.002) -> dict[str, float]:
    """How late a short sleep wakes on this machine now (asyncio and thread), median and worst, seconds."""
    async def loop_sleeps() -> list[float]:
        out = []
        for _ in range(samples):
            t = time.perf_counter()
            await asyncio.sleep(want_s)
            out.append(time.perf_counter() - t - want_s)
        return out

    a = asyncio.run(loop_sleeps())
    b = []
    for _ in range(samples):
        t = time.perf_counter()
        time.sleep(want_s)
        b.append(time.perf_counter() - t - want_s)
    return {"asyncio_sleep_late_median_s": median(a), "asyncio_sleep_late_max_s": max(a),
            "thread_sleep_late_median_s": median(b), "requested_s": want_s,
            "clock_resolution_s": time.get_clock_info("perf_counter").resolution}


# -- the run -------------------------------------------------------------------------------------

def live(ds: Dataset, policy: Policy, *, device: Device | None = None, safety: SafetyTable | None = None,
         options: LiveOptions = LiveOptions(), progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Measure `policy` live on this machine and replay the same sessions; the `--json` figures of `bpaste live`."""
    options.check()
    device = device or policy.device
    safety = safety or policy.safety
    ids = pick_sessions(ds, options.split, policy.seed, options.seed, options.sessions)
    if not ids:
        raise BpasteError(f"{ds.path} has no timed session in its {options.split} split: `bpaste live` needs logged "
                          "start and end times; pass --split all, or a dataset from logs with timestamps.")
    policies = arm_policies(policy, device, safety, options.arms)
    allowed = frozenset(policy.parameters.get("allowed", ("read-only",)))
    prepared = prepare_split(ds, options.split, policy.seed, safety, allowed=allowed, sessions=ids)
    traces = [t for t in prepared.traces if t.nodes]
    local = bool(device.doc.get("hardware", {}).get("llm_local", {}).get("value", 0))
    arm_names = list(policies)
    resolution = timer_resolution()

    # replay: the same sessions, device, safety and parameters, in virtual time
    replayed: dict[str, list[Any]] = {}
    for name, pol in policies.items():
        cfg = _replay_config(pol, options.split, policy.seed)
        arm = cfg.arms[0]
        replayed[name] = [run_session(t, arm, device, cfg, prepared.stats, safety, policy.predictor,
                                      value_model=pol.value_model if pol is not None else None) for t in traces]

    # live: order-balanced, paired per session
    load_before = _load()
    thinker = Thinker(local)
    enact = enact_via_mcp if options.via_mcp else enact_in_process
    runs: dict[str, list[Enactment]] = {name: [] for name in arm_names}
    t_start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bpaste-live-") as tmp:
            for i, tr in enumerate(traces):
                order = arm_names if i % 2 == 0 else arm_names[::-1]
                cpu_rate = Paced.measure(CpuBurn.burn)  # the machine's rate now, the same for every arm
                if thinker.paced is not None:
                    thinker.paced.rate = Paced.measure(thinker.paced.work)
                for name in order:
                    script = script_for(tr, prepared.stats, options.time_scale)
                    script.cpu_rate = cpu_rate
                    en = asyncio.run(enact(tr, name, policies[name], script, thinker, options.time_scale, local, Path(tmp)))
                    runs[name].append(en)
                    if progress:
                        progress(1)
    finally:
        thinker.close()
    wall = time.perf_counter() - t_start
    warnings = list(prepared.warnings)
    load = [load_before, _load()]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if any(x is not None and x > cores for x in load):
        warnings.append(f"the machine was busy (load average {max(x for x in load if x is not None):.1f} on {cores} cores): "
                        "CPU work ran late for reasons no arm caused; rerun when the machine is quiet, or prefer ratios.")
    report = _report(ds, policy, device, options, traces, runs, replayed, resolution, local, wall, warnings)
    report["load_average"] = load
    return report


def _load() -> float | None:
    """The 1-minute load average (None where the OS has none): a busy machine measures busy."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _report(ds: Dataset, policy: Policy, device: Device, options: LiveOptions, traces: list[SessionTrace],
            runs: dict[str, list[Enactment]], replayed: dict[str, list[Any]], resolution: dict[str, float],
            local: bool, wall: float, warnings: list[str]) -> dict[str, Any]:
    serial_live = [e.agent_s for e in runs["serial"]]
    logged = [t.agent_time for t in traces]
    serial_rep = [r.agent_s for r in replayed["serial"]]
    base = _terms(runs["serial"])
    arms: dict[str, Any] = {}
    for name, ens in runs.items():
        live_s = [e.agent_s for e in ens]
        rep = summarize(replayed[name], bootstrap=options.bootstrap, seed=options.seed)
        live_speedup = sum(serial_live) / sum(live_s) if sum(live_s) > 0 else 1.0
        live_ci = list(bootstrap_ci(serial_live, live_s, options.bootstrap, options.seed))
        hits_live = sum(e.counters.get("hits", 0) for e in ens)
        row = {
            "live_speedup": live_speedup, "live_ci": live_ci,
            "replay_speedup": rep["speedup"], "replay_ci": rep["speedup_ci95"],
            "live_saved_s": sum(serial_live) - sum(live_s), "replay_saved_s": sum(serial_rep) - rep["agent_time_s"],
            "live_agent_time_s": sum(live_s), "replay_agent_time_s": rep["agent_time_s"],
            "hits_live": hits_live, "hits_replay": rep["hits"] + rep["inflight_promotions"],
            "real_calls_live": sum(e.counters.get("real_calls", 0) for e in ens), "real_calls_replay": rep["real_calls"],
            "spec_started_live": sum(e.counters.get("speculative_starts", 0) for e in ens),
            "spec_started_replay": rep["spec_started"],
            "waste_live_s": sum(e.counters.get("wasted_s", 0.0) for e in ens) / options.time_scale,
            "waste_replay_s": rep["wasted_spec_s"],
            "interference_replay_s": rep["interference_s"],
            "measured": _terms(ens),
            "per_session": [{"session_id": e.session_id, "live_s": e.agent_s, "replay_s": r.agent_s,
                             "logged_s": t.agent_time, "hits_live": e.counters.get("hits", 0),
                             "hits_replay": r.hits + r.promotions}
                            for e, r, t in zip(ens, replayed[name], traces)],
            "per_tool": _per_tool(ens, replayed[name]),
        }
        row["interference_live_s"] = row["measured"]["stretch_s"] - base["stretch_s"]
        if name != "serial":
            row["disagreement"] = _disagreement(row, base)
            warnings.extend(_planning_warning(name, row["measured"], row["live_agent_time_s"], row["replay_saved_s"],
                                              options.time_scale))
        arms[name] = row
    return {
        "dataset": str(ds.path), "policy": str(policy.path), "policy_arm": policy.parameters["arm"],
        "device": device.name, "llm": "local stand-in (CPU-bound, not a language model)" if local else "remote (a sleep)",
        "time_scale": options.time_scale, "sessions": len(traces), "session_ids": [t.session_id for t in traces],
        "split": options.split, "seed": options.seed, "via_mcp": options.via_mcp,
        "order": "ABBA: arms in order on even sessions, reversed on odd ones",
        "serial_vs_logged": sum(serial_live) / sum(logged) if sum(logged) > 0 else 1.0,
        "logged_agent_time_s": sum(logged),
        "timer": resolution, "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "live_wall_s": wall, "arms": arms, "warnings": warnings,
    }


def _planning_warning(arm: str, measured: dict[str, Any], agent_s: float, saved_s: float, scale: float) -> list[str]:
    """Planning takes the same wall time whatever --time-scale compresses, so a small scale inflates it by 1/scale
    in logged seconds (and it delays the lab's timers while it runs): one sentence when it exceeds 3% of the
    saving replay predicts (1% of the agent time when replay predicts none), with the scale that keeps it under."""
    planning, points = measured.get("planning_s"), measured.get("decision_points", 0)
    limit = 0.03 * saved_s if saved_s > 0 else 0.01 * agent_s
    if planning is None or not points or limit <= 0 or planning <= limit:
        return []
    wall_s = planning * scale
    return [f"{arm}: planning took {wall_s / points * 1e3:.2f} ms per decision point, which at --time-scale {scale:g} "
            f"counts as {planning:.1f} logged seconds ({wall_s:.2f} s at full scale) beside a predicted saving of "
            f"{saved_s:.1f} s, and delays the lab's timers while it runs: rerun with --time-scale "
            f"{min(1.0, wall_s / limit):.2g} or more for a figure planning does not distort."]


def _terms(ens: list[Enactment]) -> dict[str, Any]:
    planning = [e.planning_s for e in ens]
    return {
        "planning_s": None if any(p is None for p in planning) else float(sum(planning)),
        "decision_points": sum(e.decision_points for e in ens),
        "stretch_s": sum(e.think_stretch_s + e.tool_stretch_s for e in ens),
        "think_stretch_s": sum(e.think_stretch_s for e in ens),
        "tool_stretch_s": sum(e.tool_stretch_s for e in ens),
        "queueing_s": sum(e.spec_lateness_s for e in ens),
        "timer_s": sum(e.timer_s for e in ens),
    }


def _disagreement(row: dict[str, Any], serial: dict[str, Any]) -> dict[str, Any]:
    """Does replay's speedup fall outside the live CI, and which measured term accounts for the gap."""
    lo, hi = row["live_ci"]
    differs = not (lo <= row["replay_speedup"] <= hi) if lo == lo and hi == hi else False
    m = row["measured"]
    terms = {
        "planning": m["planning_s"],
        "interference": row["interference_live_s"] - row["interference_replay_s"],
        "queueing": m["queueing_s"],
        "timer": m["timer_s"] - serial["timer_s"],
    }
    gap = row["live_saved_s"] - row["replay_saved_s"]
    known = {k: v for k, v in terms.items() if v is not None}
    responsible = max(known, key=lambda k: abs(known[k])) if differs and known else None
    explained = sum(known.values())
    if not differs:
        note = "replay's speedup lies inside the live CI: no disagreement beyond noise."
    else:
        note = (f"live saved {gap:+.3f} s vs replay; the largest measured term is {responsible} "
                f"({known[responsible]:.3f} s added live); the terms together account for {explained:.3f} s.")
    return {"differs": differs, "gap_s": gap, "terms_s": terms, "explained_s": explained, "responsible": responsible,
            "note": note}


def _per_tool(ens: list[Enactment], results: list[Any]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for e in ens:
        for tool, row in e.per_tool.items():
            acc = out.setdefault(tool, {"calls_live": 0, "hits_live": 0, "calls_replay": 0, "hits_replay": 0})
            acc["calls_live"] += row["calls"]
            acc["hits_live"] += row["hits"]
    for r in results:
        for tool, t in r.per_tool.items():
            acc = out.setdefault(tool, {"calls_live": 0, "hits_live": 0, "calls_replay": 0, "hits_replay": 0})
            acc["calls_replay"] += t.calls
            acc["hits_replay"] += t.hits + t.inflight_promotions
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["calls_replay"]))
