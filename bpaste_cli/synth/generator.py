"""Seeded generator of realistic agent sessions, one archetype per session, streamed one at a time.

Three archetypes, each a small simulated agent acting on a simulated world whose tool results it
really reads: a coding agent (Grep/Glob -> Read of a matched path -> Edit of a line it read -> Bash
test loop with failures and retries), a deep-research agent (search -> parallel visits of the URLs
the search returned, rank r with probability ~2^-(r+1) -> refined search with a term read on a page)
and a data-analysis agent (list tables -> describe -> SQL built from the described column names ->
plot of the query's result id). Arguments are copied from earlier results, earlier arguments or the
user prompt; calls repeat (re-reads, test re-runs, retries after errors). Timing: think time and
per-tool latency are lognormal; people reply between tasks, sometimes after hours, sometimes leave
mid-task (idle gaps) and sometimes approve a command before it runs. `Knobs` scale the agent's think
times and the tools' latencies (not the people's waits), so a corpus can put any share of its time in
tools, and set how often the agent picks the top-ranked search result or match (how predictable it is):
slow tools beside a fast, focused model is the workload where speculation pays most.

Session i depends only on (seed, i), so a corpus of any size starts with the same sessions.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from bpaste_cli.errors import BpasteError
from bpaste_cli.synth.ids import token, uuid4
from bpaste_cli.synth.model import Call, Session, Step, Turn

ARCHETYPES = ("coding", "research", "analysis")
BASE_MS = 1_748_851_200_000  # 2025-06-02T08:00:00Z: the first session's day
SESSION_SPACING_MS = 75 * 60 * 1000

# think time (median s, lognormal sigma) and model per archetype
THINK = {"coding": (5.5, 0.65), "research": (9.0, 0.6), "analysis": (7.0, 0.6)}
MODELS = {"coding": "claude-sonnet-4-5", "research": "claude-opus-4-1", "analysis": "claude-haiku-4-5"}
OPENAI_MODELS = {"coding": "gpt-5-codex", "research": "gpt-5", "analysis": "gpt-4.1"}  # for OpenAI-shaped logs
# tool latency (median s, lognormal sigma): the long tail is the sigma
LATENCY = {
    "Grep": (0.35, 0.6),
    "Glob": (0.22, 0.5),
    "Read": (0.12, 0.5),
    "Edit": (0.18, 0.4),
    "Bash": (2.8, 1.5),
    "search": (1.6, 0.6),
    "visit": (2.2, 1.0),
    "list_tables": (0.3, 0.4),
    "describe_table": (0.45, 0.5),
    "run_sql": (1.2, 1.3),
    "plot": (1.6, 0.5),
}
GATED = {"Bash", "run_sql"}  # tools a person may have to approve first
APPROVAL_P = 0.06
IDLE_P = 0.006  # a step during which the person left (laptop closed, meeting)
STAGGER_S = 0.35  # median gap between streamed calls of one step


@dataclass(frozen=True)
class Knobs:
    """The generator's knobs: multipliers of LLM think time and tool latency (1.0: as modelled), and the
    probability that the agent picks the top-ranked item of a list (0.5 as modelled; each lower rank half as
    likely as the one above it at 0.5, generally `top_pick * (1 - top_pick) ** r`)."""

    think_scale: float = 1.0
    latency_scale: float = 1.0
    top_pick: float = 0.5

    def check(self) -> None:
        for name, v in (("think-scale", self.think_scale), ("latency-scale", self.latency_scale)):
            if not (v > 0 and math.isfinite(v)):
                raise BpasteError(f"--{name} {v:g} is not a positive factor; pass e.g. 0.5 or 3 (1 keeps the model's times).")
        if not 0 < self.top_pick < 1:
            raise BpasteError(f"--top-pick {self.top_pick:g} is not a probability between 0 and 1 (exclusive); pass e.g. "
                              "0.5 (as modelled) or 0.9 (a predictable agent).")


def _ms(seconds: float) -> int:
    return max(1, int(round(seconds * 1000)))


def rank(rng: random.Random, n: int, top: float = 0.5) -> int:
    """A result rank: 0 with probability `top`, 1 with top * (1 - top), ... (1/2, 1/4, ... at 0.5; the tail
    folds onto the last rank)."""
    r = 0
    while r < n - 1 and rng.random() >= top:
        r += 1
    return r


def ranks(rng: random.Random, n: int, k: int, top: float = 0.5) -> list[int]:
    """k distinct ranks drawn like `rank`, in the order the agent picks them."""
    weights = [(1.0 - top) ** r for r in range(n)]
    chosen: list[int] = []
    for _ in range(min(k, n)):
        pool = [r for r in range(n) if r not in chosen]
        chosen.append(rng.choices(pool, weights=[weights[r] for r in pool])[0])
    return chosen


class Run:
    """The clock and event list of one session being generated; archetypes call `user` and `step`."""

    def __init__(self, rng: random.Random, session: Session, start_ms: int, knobs: Knobs = Knobs()) -> None:
        self.rng = rng
        self.knobs = knobs
        self.session = session
        self.now = start_ms
        self.context = rng.randint(6000, 12000)  # prompt tokens so far
        self.think = THINK[session.archetype]

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0.0, sigma))

    def user(self, text: str, gap_s: float = 0.0) -> None:
        self.now += _ms(gap_s) if gap_s else 0
        self.session.items.append(Turn(self.now, text))
        self.context += len(text) // 4

    def reply_gap(self) -> float:
        """How long the person takes before the next task: usually a minute, sometimes hours."""
        if self.rng.random() < 0.1:
            return self.rng.uniform(900, 8 * 3600)
        return self.lognormal(40.0, 1.0)

    def step(self, specs: list[dict[str, Any]], text: str | None = None, answer: bool = False) -> list[Call]:
        """One LLM step emitting `specs` (tool, args, origin, result, status, data) in parallel."""
        rng = self.rng
        median, sigma = self.think
        think = self.lognormal(median * (2.5 if answer else 1.0), sigma) * self.knobs.think_scale
        if rng.random() < IDLE_P:
            think += rng.uniform(1200, 4 * 3600)
        t_start = self.now
        t_emit = t_start + _ms(think)
        calls: list[Call] = []
        t, end = t_emit, t_emit
        for k, spec in enumerate(specs):
            if k:
                t += _ms(self.lognormal(STAGGER_S, 0.5))
            tool = spec["tool"]
            exec_ms = _ms(self.lognormal(*LATENCY[tool]) * self.knobs.latency_scale)
            approval = _ms(rng.uniform(3, 90)) if tool in GATED and rng.random() < APPROVAL_P else 0
            call = Call(
                token=token(rng, 24),
                tool=tool,
                args=spec["args"],
                t_emit=t,
                t_result=t + approval + exec_ms,
                exec_ms=exec_ms,
                approval_ms=approval,
                result=spec["result"],
                status=spec.get("status", "ok"),
                origin=spec["origin"],
                data=spec.get("data"),
            )
            calls.append(call)
            end = max(end, call.t_result)
        tokens_out = int(self.lognormal(450 if answer else 110, 0.6)) + 20 * len(calls)
        self.session.items.append(Step(t_start, t_emit, text, self.context, tokens_out, calls))
        self.context += tokens_out + sum(len(c.result) for c in calls) // 4
        self.now = end
        return calls


def call(tool: str, args: dict[str, Any], origin: str, result: str, status: str = "ok", data: Any = None) -> dict:
    return {"tool": tool, "args": args, "origin": origin, "result": result, "status": status, "data": data}


# --- coding ---------------------------------------------------------------------------------------

PROJECTS = ["tallyhub", "riverbench", "quillstack", "mosaicdb", "lanternapi", "pebbleflow", "orchardctl", "ferrylog"]
MODULES = [
    "billing", "invoice", "scheduler", "parser", "cache", "router", "ledger", "metrics", "storage",
    "queue", "render", "config", "export", "pricing", "upload", "webhook", "retry", "quota",
]
VERBS = ["compute", "parse", "load", "merge", "render", "resolve", "normalize", "validate", "apply", "build", "split", "score"]
NOUNS = ["total", "header", "window", "schedule", "entries", "payload", "limits", "discount", "offset", "batch", "summary", "weights"]
CASES = [
    "the input list is empty", "two entries share a timestamp", "the discount exceeds the subtotal",
    "the window crosses midnight", "the payload has unicode keys", "the quota is zero", "ids repeat",
]
BODIES = [
    ["    if not items:", "        return 0", "    acc = 0", "    for item in items:", "        acc += {helper}(item)",
     "    if limit is not None and acc > limit:", "        return limit", "    return acc"],
    ["    result = []", "    seen = set()", "    for item in sorted(items, key=lambda i: i.key):", "        if item.key in seen:",
     "            continue", "        seen.add(item.key)", "        result.append({helper}(item))", "    return result[:limit]"],
    ["    start, end = window", "    if end < start:", "        end += 24 * 3600", "    picked = [i for i in items if start <= i.at < end]",
     "    return sum({helper}(i) for i in picked) / max(len(picked), 1)"],
]
TS_BODIES = [
    ["  if (items.length === 0) {", "    return 0;", "  }", "  let acc = 0;", "  for (const item of items) {",
     "    acc += {helper}(item);", "  }", "  return limit !== undefined && acc > limit ? limit : acc;"],
    ["  const seen = new Set<string>();", "  const out = [];", "  for (const item of items) {", "    if (seen.has(item.key)) continue;",
     "    seen.add(item.key);", "    out.push({helper}(item));", "  }", "  return out.slice(0, limit);"],
]


def _fix(line: str, rng: random.Random) -> str:
    """A plausible one-line fix of `line`."""
    for a, b in ((" > ", " >= "), (" < ", " <= "), ("0", "0.0"), ("[:limit]", "[: limit or None]"), ("max(", "min(")):
        if a in line:
            return line.replace(a, b, 1)
    return line + ("  # handle empty input" if rng.random() < 0.5 else "  # keep order stable")


class CodingWorld:
    """A small repository: modules with one public function each, tests, and a working tree."""

    def __init__(self, rng: random.Random, cwd: str) -> None:
        self.rng = rng
        self.cwd = cwd
        self.ts = rng.random() < 0.3
        self.pkg = cwd.rsplit("/", 1)[-1]
        self.files: dict[str, list[str]] = {}
        self.helpers: dict[str, str] = {}

    def path(self, mod: str) -> str:
        return f"{self.cwd}/src/{mod}.ts" if self.ts else f"{self.cwd}/src/{self.pkg}/{mod}.py"

    def test_path(self, mod: str) -> str:
        return f"{self.cwd}/tests/{mod}.test.ts" if self.ts else f"{self.cwd}/tests/test_{mod}.py"

    def test_command(self, test_path: str) -> str:
        rel = test_path[len(self.cwd) + 1 :]
        return f"npx vitest run {rel}" if self.ts else f"python -m pytest {rel} -q"

    def source(self, path: str, symbol: str) -> list[str]:
        """The file's lines (generated on first look, then edited in place)."""
        if path not in self.files:
            rng = self.rng
            helper = self.helpers[path] = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"
            body = rng.choice(TS_BODIES if self.ts else BODIES)
            if self.ts:
                head = [f"import {{ {helper} }} from './util';", "", f"export function {symbol}(items: Item[], limit?: number) {{"]
                lines = head + [b.replace("{helper}", helper) for b in body] + ["}"]
            else:
                head = [f'"""{path.rsplit("/", 1)[-1]}: {symbol} and helpers."""', "", "from __future__ import annotations",
                        "", f"from .util import {helper}", "", "", f"def {symbol}(items, limit=None, window=(0, 0)):"]
                lines = head + [b.replace("{helper}", helper) for b in body]
            pad = [f"# {rng.choice(VERBS)} {rng.choice(NOUNS)}" for _ in range(rng.randint(4, 30))]
            self.files[path] = lines + [""] + pad
        return self.files[path]


def _numbered(lines: list[str]) -> str:
    return "\n".join(f"{i:>6}\t{line}" for i, line in enumerate(lines, 1))


def _test_output(rel: str, symbol: str, n: int, failed: str | None, seconds: float, ts: bool) -> str:
    if ts:
        if failed:
            return (f" FAIL  {rel} > {failed}\nAssertionError: expected 41 to be 42\n\n"
                    f" Test Files  1 failed (1)\n      Tests  1 failed | {n - 1} passed ({n})\n   Duration  {seconds:.2f}s")
        return f" ✓ {rel} ({n} tests) {int(seconds * 1000)}ms\n\n Test Files  1 passed (1)\n      Tests  {n} passed ({n})"
    head = f"collected {n} items\n\n{rel} " + "." * (n - (1 if failed else 0)) + ("F" if failed else "")
    if failed:
        return (f"{head}\n\n=================================== FAILURES ===================================\n"
                f"_____ {failed} _____\n    assert {symbol}(items) == 42\nE   AssertionError: assert 41 == 42\n"
                f"FAILED {rel}::{failed} - AssertionError: assert 41 == 42\n1 failed, {n - 1} passed in {seconds:.2f}s")
    return f"{head}\n\n{n} passed in {seconds:.2f}s"


def _read(path: str, lines: list[str], origin: str) -> dict:
    data = {"type": "text", "file": {"filePath": path, "content": "\n".join(lines), "numLines": len(lines),
                                     "startLine": 1, "totalLines": len(lines)}}
    return call("Read", {"file_path": path}, origin, _numbered(lines), data=data)


def _bash(command: str, description: str, origin: str, out: str, failed: bool = False) -> dict:
    if failed:
        return call("Bash", {"command": command, "description": description}, origin, f"Exit code 1\n{out}", "error",
                    data=f"Error: Exit code 1\n{out}")
    data = {"stdout": out, "stderr": "", "interrupted": False, "isImage": False, "noOutputExpected": False}
    return call("Bash", {"command": command, "description": description}, origin, out, data=data)


def coding_session(run: Run) -> None:
    rng, s = run.rng, run.session
    world = CodingWorld(rng, s.cwd)
    for task, mod in enumerate(rng.sample(MODULES, rng.choice((1, 1, 2, 2, 3)))):
        symbol = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"
        path, test = world.path(mod), world.test_path(mod)
        rel, test_rel = path[len(s.cwd) + 1 :], test[len(s.cwd) + 1 :]
        case = rng.choice(CASES)
        failing = f"test_{symbol}_{case.split()[-1]}"
        named = rng.random() < 0.25  # the prompt names the file, so no search is needed
        if named:
            prompt = f"Fix {rel}: {symbol} gives the wrong answer when {case}."
        else:
            prompt = f"`{symbol}` returns the wrong value when {case}. Find the cause and fix it, then run the tests."
        run.user(prompt, run.reply_gap() if task else 0.0)

        test_found = False
        if not named:
            found = [world.path(m) for m in rng.sample(MODULES, rng.randint(1, 5)) if m != mod]
            found.insert(min(rank(rng, len(found) + 1, run.knobs.top_pick), len(found)), path)
            specs = [call("Grep", {"pattern": symbol, "path": s.cwd, "output_mode": "files_with_matches"}, "prompt",
                          f"Found {len(found)} files\n" + "\n".join(found),
                          data={"mode": "files_with_matches", "filenames": found, "numFiles": len(found)})]
            if rng.random() < 0.6:
                hits = [test] + [world.test_path(m) for m in rng.sample(MODULES, rng.randint(0, 2)) if m != mod]
                pattern = f"**/{mod}*.test.ts" if world.ts else f"tests/**/test_{mod}*.py"
                specs.append(call("Glob", {"pattern": pattern}, "constant", "\n".join(hits),
                                  data={"filenames": hits, "numFiles": len(hits), "truncated": False}))
                test_found = True
            run.step(specs, text=rng.choice([None, f"Let me find where `{symbol}` is defined."]))
            pick = found[rank(rng, len(found), run.knobs.top_pick)]  # the agent reads the r-th match; a wrong pick costs a read
            if pick != path:
                run.step([_read(pick, world.source(pick, f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"), "result")])
        lines = world.source(path, symbol)
        specs = [_read(path, lines, "prompt" if named else "result")]
        if test_found and rng.random() < 0.6:
            tlines = [f"from {world.pkg}.{mod} import {symbol}", "", "", f"def {failing}():", f"    assert {symbol}(items) == 42"]
            specs.append(_read(test, tlines, "result"))
        run.step(specs)
        if rng.random() < 0.35:  # look at the helper the function calls: its name comes from the file just read
            helper = world.helpers[path]
            util = f"{s.cwd}/src/util.ts" if world.ts else f"{s.cwd}/src/{world.pkg}/util.py"
            use = next(i for i, ln in enumerate(lines) if helper in ln)
            where = [f"{util}:{rng.randint(3, 40)}:def {helper}(item):", f"{path}:{use + 1}:{lines[use]}"]
            ulines = [f"def {helper}(item):", "    return item.value * item.weight", ""]
            run.step([call("Grep", {"pattern": helper, "path": s.cwd, "output_mode": "content"}, "result", "\n".join(where),
                           data={"mode": "content", "numFiles": 0, "filenames": [], "content": "\n".join(where), "numLines": 2}),
                      _read(util, ulines, "constant")])

        command = world.test_command(test_rel)
        for attempt in range(3):
            idx = rng.choice([i for i, ln in enumerate(lines) if ln.startswith("  ") and any(c.isalpha() for c in ln)])
            old = lines[idx]
            new = _fix(old, rng)
            if rng.random() < 0.1:  # stale view of the file: the edit misses, the agent re-reads
                stale = old.replace("items", "entries", 1) if "items" in old else old + " "
                run.step([call("Edit", {"file_path": path, "old_string": stale, "new_string": new}, "result",
                               f"<tool_use_error>String to replace not found in file.\nString: {stale}</tool_use_error>",
                               "error", data="Error: String to replace not found in file.")])
                run.step([_read(path, lines, "repeat")])
            original = "\n".join(lines)
            lines[idx] = new
            run.step([call("Edit", {"file_path": path, "old_string": old, "new_string": new}, "result",
                           f"The file {path} has been updated successfully.",
                           data={"filePath": path, "oldString": old, "newString": new, "originalFile": original,
                                 "structuredPatch": [], "userModified": False, "replaceAll": False})],
                     text=rng.choice([None, "The comparison is off by one; fixing it."]))
            failed = attempt < 2 and rng.random() < (0.45 if attempt == 0 else 0.3)
            out = _test_output(test_rel, symbol, rng.randint(3, 24), failing if failed else None, rng.uniform(0.2, 6), world.ts)
            origin = "repeat" if attempt else ("result" if test_found else "constant")
            specs = [_bash(command, "Run the tests", origin, out, failed)]
            if rng.random() < 0.35:
                lint = f"npx eslint {rel}" if world.ts else f"ruff check {rel}"
                specs.append(_bash(lint, "Lint the changed file", "argument", "All checks passed!"))
            run.step(specs)
            if not failed:
                break
            if rng.random() < 0.5:
                run.step([_read(path, lines, "repeat")])
        if rng.random() < 0.35:
            diff = f" {rel} | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)"
            specs = [_bash("git diff --stat", "Show the change", "constant", diff)]
            if rng.random() < 0.5:
                specs.append(_bash("git status --short", "Check the working tree", "constant", f" M {rel}"))
            run.step(specs)
        run.step([], text=f"Fixed `{symbol}` in {rel}: it now handles the case where {case}. Tests pass.", answer=True)


# --- research -------------------------------------------------------------------------------------

TOPICS = [
    "solid-state battery recycling", "heat pump performance in cold climates", "sparse attention kernels on edge GPUs",
    "coral reef restoration techniques", "vertical farming energy costs", "retrieval-augmented generation evaluation",
    "low-earth-orbit satellite latency", "enhanced rock weathering for carbon removal", "WebAssembly on microcontrollers",
    "municipal composting programs", "speculative decoding for LLM inference", "microplastics in drinking water",
    "open-source RISC-V cores", "urban heat island mitigation", "grid-scale iron-air batteries", "bike lane safety studies",
]
FACETS = ["cost", "latest results", "limitations", "benchmarks", "review 2024", "case studies", "comparison"]
SITES = ["openreview.net/forum?id=", "en.wikipedia.org/wiki/", "github.com/", "www.fieldnotes-review.com/", "blog.lumenlab.io/posts/",
         "arxiv.org/abs/", "www.civicdata.org/reports/", "docs.kernelworks.dev/guide/"]
WORDS = ["adoption", "efficiency", "throughput", "durability", "policy", "pilot", "trial", "baseline", "variance", "cost curve",
         "lifecycle", "scaling law", "field study", "meta-analysis", "retrofit", "latency budget", "yield", "emissions"]


def _url(rng: random.Random, topic: str) -> str:
    site = rng.choice(SITES)
    slug = "-".join(topic.split()[:3]).lower()
    if site.startswith("arxiv"):
        return f"https://{site}24{rng.randint(1, 12):02d}.{rng.randint(10000, 19999)}"
    if site.startswith("openreview"):
        return f"https://{site}{token(rng, 10)}"
    if site.startswith("en.wiki"):
        return f"https://{site}{topic.split()[0].capitalize()}_{rng.choice(WORDS).replace(' ', '_')}"
    if site.startswith("github"):
        return f"https://{site}{rng.choice(PROJECTS)}/{slug}"
    return f"https://{site}{slug}-{rng.choice(WORDS).replace(' ', '-')}-{rng.randint(2, 99)}"


def _search_result(rng: random.Random, query: str, topic: str) -> tuple[str, list[str], list[str]]:
    urls, titles, lines = [], [], [f'Results for "{query}":']
    for i in range(rng.randint(5, 8)):
        url = _url(rng, topic)
        while url in urls:
            url = _url(rng, topic)
        title = f"{topic.capitalize()}: {rng.choice(WORDS)} and {rng.choice(WORDS)}"
        urls.append(url)
        titles.append(title)
        lines.append(f"{i + 1}. {title}\n   {url}\n   A {rng.choice(['study', 'survey', 'report', 'thread'])} on {topic} "
                     f"covering {rng.choice(WORDS)}, {rng.choice(WORDS)} and {rng.choice(WORDS)}.")
    return "\n".join(lines), urls, titles


def _page(rng: random.Random, url: str, title: str, topic: str) -> tuple[str, list[str], list[str]]:
    terms = rng.sample(WORDS, 3)
    links = [_url(rng, topic) for _ in range(rng.randint(1, 3))]
    paras = [
        f"{topic.capitalize()} has seen {rng.choice(['rapid', 'uneven', 'steady'])} progress. Reported {terms[0]} "
        f"varies by {rng.randint(5, 60)}% across {rng.randint(3, 40)} sites, with {terms[1]} the main driver."
        for _ in range(rng.randint(2, 6))
    ]
    text = f"# {title}\nSource: {url}\n\n" + "\n\n".join(paras) + f"\n\nKey terms: {', '.join(terms)}\nLinks:\n" + "\n".join(
        f"- {u}" for u in links)
    return text, terms, links


def research_session(run: Run) -> None:
    rng = run.rng
    visited: set[str] = set()
    for task in range(rng.choice((1, 1, 2))):
        topic = rng.choice(TOPICS)
        ask = rng.choice(["a short summary with sources", "the three strongest results and their caveats", "how costs compare"])
        run.user(f"Research {topic}. I need {ask}.", run.reply_gap() if task else 0.0)
        queries = [topic] + ([f"{topic} {rng.choice(FACETS)}"] if rng.random() < 0.4 else [])
        for round_ in range(rng.choice((1, 2, 2, 3))):
            results = [_search_result(rng, q, topic) for q in queries]
            run.step([call("search", {"query": q}, "prompt" if q == topic else "result", r[0])
                      for q, r in zip(queries, results)])
            text, urls, titles = results[0]
            k = rng.choices((1, 2, 3, 4), weights=(0.4, 0.3, 0.2, 0.1))[0]
            top = run.knobs.top_pick
            picks = [r for r in ranks(rng, len(urls), k, top) if urls[r] not in visited] or [rank(rng, len(urls), top)]
            pages: list[tuple[str, list[str], list[str]]] = []
            specs = []
            for r in picks:
                page = _page(rng, urls[r], titles[r], topic)
                if rng.random() < 0.08:
                    specs.append(call("visit", {"url": urls[r]}, "result", f"Error: fetching {urls[r]} failed (HTTP 503)", "error"))
                else:
                    pages.append(page)
                    specs.append(call("visit", {"url": urls[r]}, "result", page[0]))
                visited.add(urls[r])
            done = run.step(specs)
            for c in done:
                if c.status == "error" and rng.random() < 0.6:
                    page = _page(rng, c.args["url"], "Retry", topic)
                    pages.append(page)
                    run.step([call("visit", {"url": c.args["url"]}, "repeat", page[0])])
            if pages and rng.random() < 0.35:
                link = rng.choice(pages[0][2])
                page = _page(rng, link, f"{topic.capitalize()} (linked)", topic)
                run.step([call("visit", {"url": link}, "result", page[0])])
                visited.add(link)
            if not pages:
                break
            term = rng.choice(pages[0][1])
            queries = [f"{topic} {term}"]
        run.step([], text=f"Summary of {topic}: ... ({len(visited)} sources read).", answer=True)


# --- analysis -------------------------------------------------------------------------------------

DATABASES: dict[str, dict[str, list[tuple[str, str]]]] = {
    "sales": {
        "orders": [("order_id", "INTEGER"), ("customer_id", "INTEGER"), ("region", "TEXT"), ("channel", "TEXT"),
                   ("order_date", "DATE"), ("amount", "REAL")],
        "customers": [("customer_id", "INTEGER"), ("name", "TEXT"), ("segment", "TEXT"), ("country", "TEXT")],
        "products": [("product_id", "INTEGER"), ("category", "TEXT"), ("unit_price", "REAL")],
        "order_items": [("order_id", "INTEGER"), ("product_id", "INTEGER"), ("quantity", "INTEGER"), ("discount", "REAL")],
        "returns": [("return_id", "INTEGER"), ("order_id", "INTEGER"), ("reason", "TEXT"), ("refunded", "REAL")],
    },
    "telemetry": {
        "devices": [("device_id", "TEXT"), ("hw_model", "TEXT"), ("firmware", "TEXT"), ("site", "TEXT")],
        "readings": [("device_id", "TEXT"), ("ts", "TIMESTAMP"), ("temperature", "REAL"), ("battery", "REAL"), ("signal", "INTEGER")],
        "alerts": [("alert_id", "INTEGER"), ("device_id", "TEXT"), ("ts", "TIMESTAMP"), ("severity", "TEXT"), ("kind", "TEXT")],
        "sites": [("site", "TEXT"), ("city", "TEXT"), ("climate_zone", "TEXT")],
    },
    "support": {
        "tickets": [("ticket_id", "INTEGER"), ("opened_at", "TIMESTAMP"), ("closed_at", "TIMESTAMP"), ("priority", "TEXT"),
                    ("team", "TEXT"), ("csat", "INTEGER")],
        "agents": [("agent_id", "INTEGER"), ("team", "TEXT"), ("hired", "DATE")],
        "messages": [("ticket_id", "INTEGER"), ("sent_at", "TIMESTAMP"), ("author", "TEXT"), ("words", "INTEGER")],
    },
}
# (database, table, group-by column, metric column, aggregate, date column, words for the prompt)
QUESTIONS = [
    ("sales", "orders", "region", "amount", "SUM", "order_date", "region", "revenue"),
    ("sales", "orders", "channel", "amount", "AVG", "order_date", "sales channel", "average order value"),
    ("sales", "returns", "reason", "refunded", "SUM", None, "return reason", "refunded amount"),
    ("telemetry", "readings", "device_id", "temperature", "MAX", "ts", "device", "peak temperature"),
    ("telemetry", "alerts", "severity", "alert_id", "COUNT", "ts", "severity", "alert count"),
    ("support", "tickets", "team", "csat", "AVG", "opened_at", "team", "satisfaction score"),
    ("support", "tickets", "priority", "ticket_id", "COUNT", "opened_at", "priority", "ticket volume"),
]


def _describe(db: str, table: str) -> str:
    cols = DATABASES[db][table]
    return f"Table {db}.{table}\n" + "\n".join(f"  {name:<14} {typ}" for name, typ in cols)


def _sql(table: str, dim: str, metric: str, agg: str, date_col: str | None, year: int) -> str:
    where = f" WHERE {date_col} >= '{year}-01-01' AND {date_col} < '{year + 1}-01-01'" if date_col else ""
    return f"SELECT {dim}, {agg}({metric}) AS value FROM {table}{where} GROUP BY {dim} ORDER BY value DESC LIMIT 10"


def analysis_session(run: Run) -> None:
    rng = run.rng
    described: set[str] = set()
    listed = False
    for task in range(rng.choice((1, 2, 2, 3))):
        db, table, dim, metric, agg, date_col, dim_word, metric_word = rng.choice(QUESTIONS)
        year = rng.choice((2022, 2023, 2024))
        run.user(f"Using the {db} database, which {dim_word} had the highest {metric_word} in {year}?",
                 run.reply_gap() if task else 0.0)
        if not listed or rng.random() < 0.3:
            names = list(DATABASES[db])
            run.step([call("list_tables", {"database": db}, "prompt" if not listed else "repeat", "\n".join(names))])
            listed = True
        if table not in described or rng.random() < 0.25:
            others = [t for t in DATABASES[db] if t != table]
            tables = [table] + (rng.sample(others, rng.randint(1, 2)) if rng.random() < 0.75 else [])
            run.step([call("describe_table", {"database": db, "table": t}, "result", _describe(db, t)) for t in tables])
            described.update(tables)
            guess = None
        else:
            guess = metric_word.split()[-1] if rng.random() < 0.4 else None
        if guess and guess != metric:  # the agent guessed a column name instead of reading it
            bad = _sql(table, dim, guess, agg, date_col, year)
            run.step([call("run_sql", {"database": db, "query": bad}, "result", f"Error: no such column: {guess}", "error")])
            run.step([call("describe_table", {"database": db, "table": table}, "repeat", _describe(db, table))])
        query = _sql(table, dim, metric, agg, date_col, year)
        result_id = "q_" + "".join(rng.choices("0123456789abcdef", k=8))
        rows = rng.randint(3, 10)
        vals = sorted((round(rng.uniform(10, 50000), 2) for _ in range(rows)), reverse=True)
        table_text = f"{dim},value\n" + "\n".join(f"{dim}_{i + 1},{v}" for i, v in enumerate(vals))
        specs = [call("run_sql", {"database": db, "query": query}, "result", f"result_id: {result_id}\nrows: {rows}\n{table_text}")]
        if rng.random() < 0.3:  # a sanity check next to the real query
            count_id = "q_" + "".join(rng.choices("0123456789abcdef", k=8))
            specs.append(call("run_sql", {"database": db, "query": f"SELECT COUNT(*) AS n FROM {table}"}, "result",
                              f"result_id: {count_id}\nrows: 1\nn\n{rng.randint(1000, 900000)}"))
        run.step(specs)
        if rng.random() < 0.04:  # transient failure, retried as is
            run.step([call("run_sql", {"database": db, "query": query}, "repeat",
                           f"result_id: {result_id}\nrows: {rows}\n{table_text}")])
        if rng.random() < 0.6:
            kind = rng.choice(("bar", "bar", "line"))
            run.step([call("plot", {"result_id": result_id, "kind": kind, "x": dim, "y": "value"}, "result",
                           f"Saved {kind} chart to /tmp/charts/{result_id}.png ({rows} points)")])
        run.step([], text=f"The {dim_word} with the highest {metric_word} in {year} is {dim}_1 ({vals[0]}).", answer=True)


# --- sessions -------------------------------------------------------------------------------------

AGENTS: dict[str, Callable[[Run], None]] = {"coding": coding_session, "research": research_session, "analysis": analysis_session}
SYSTEM = {
    "coding": "You are a coding agent working in a git repository. Use the tools to inspect and edit files and run tests.",
    "research": "You are a research agent. Search the web, read sources and answer with citations.",
    "analysis": "You are a data analyst with read access to SQL databases. Answer questions with queries and charts.",
}


def session(seed: int, index: int, archetype: str, knobs: Knobs = Knobs()) -> Session:
    """Session `index` of the corpus for `seed` (independent of every other session); `knobs` scale its
    think times and tool latencies (the same draws: the same calls and results) and set its top pick."""
    if archetype not in AGENTS:
        raise ValueError(f"unknown archetype {archetype!r}; choose from {', '.join(ARCHETYPES)}")
    rng = random.Random(f"bpaste-synth:{seed}:{index}")
    sid = uuid4(rng)
    cwd = f"/home/dev/{rng.choice(PROJECTS)}" if archetype == "coding" else f"/home/dev/{archetype}-notes"
    s = Session(sid, archetype, MODELS[archetype], OPENAI_MODELS[archetype], cwd, SYSTEM[archetype])
    start = BASE_MS + index * SESSION_SPACING_MS + rng.randint(0, 30 * 60 * 1000)
    AGENTS[archetype](Run(rng, s, start, knobs))
    return s


def generate(
    archetypes: tuple[str, ...] | list[str] = ARCHETYPES, sessions: int | None = 30, seed: int = 0,
    knobs: Knobs = Knobs(),
) -> Iterator[Session]:
    """Yield `sessions` sessions (endless if None), cycling through `archetypes`; same seed, same sessions."""
    knobs.check()
    archetypes = tuple(archetypes)
    for a in archetypes:
        if a not in AGENTS:
            raise ValueError(f"unknown archetype {a!r}; choose from {', '.join(ARCHETYPES)}")
    i = 0
    while sessions is None or i < sessions:
        yield session(seed, i, archetypes[i % len(archetypes)], knobs)
        i += 1
