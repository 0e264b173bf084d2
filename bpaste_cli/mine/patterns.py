"""Mining: training sessions -> control, signature and rule tables (a `PatternPredictor`).

Two passes over the sessions, both walking the same `SessionState` the predictor's cursor uses, so a
rule is counted exactly as it will later be applied. The calls of one step are matched against the
state *before* that step (a parallel batch is emitted at once: none of its calls sees another).
Pass 1 counts contexts, signatures and constant values, and discovers candidate rules (every source
that reproduces a value, on at most `discovery_cap` calls per tool). Pass 2 counts, for every
candidate rule, how often it binds (`bindable`) and how often the bound value is exactly right
(`exact`); `rate = exact / bindable`. It counts the rules of an argument as groups reading the same earlier
call (`group_rules`, `count_argument`): the exact ones among a group's extracts and templates are looked up
from where the value is among its items or where the slot's item occurs in it, not bound and compared one by one.

Both passes count one session at a time into its `SessionFlow` (a session's state starts empty, so what it
counts depends on it alone) and add the flows up. When the rows share their calls (`keep_calls`) the flows are
kept, and a later mine of some of the same sessions (a calibration fold) adds up the kept flows, walking a
session again only for the calls it searches that were not searched before and the rules not yet counted on it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Callable, NamedTuple

import polars as pl

from bpaste_cli.gcpause import collection_paused
from bpaste_cli.mine.control import ControlCounts
from bpaste_cli.mine.dataflow import (
    ABSENT,
    SLOT,
    START_KEY,
    Call,
    ConstantCounts,
    ResultItems,
    Rule,
    SessionState,
    bind,
    discover,
    extracts_as_is,
    parse_args,
    same,
    template_slot,
)
from bpaste_cli.mine.keys import USER_KEY
from bpaste_cli.mine.keys import KEYS, NEEDS_ARGS
from bpaste_cli.mine.predictor import (
    CONTROL_COLUMNS,
    RULE_COLUMNS,
    SIGNATURE_COLUMNS,
    PatternPredictor,
)
from bpaste_cli.trace import canonical_json

ONE_CALL_KINDS = ("copy", "extract", "template")  # rule kinds that read the `rank`-th latest call of `src`
COLUMNS = ("kind", "step", "tool", "args_json", "args_hash", "result_text", "status", "text")
FEW_VALUES = ("kind", "tool", "status")  # columns of few distinct strings (see `shared_strings`)


@dataclass(frozen=True)
class MineOptions:
    """Mining parameters (recorded in the pattern table's manifest, where the context length is `K` and the
    recent calls per tool are `R`)."""

    max_context: int = 3  # longest control-flow context, in event keys
    key: str = "tool"  # event key function (see keys.KEYS)
    alpha: float = 2.0  # shrinkage of a context toward its shorter suffix
    min_support: int = 3  # fewest decisions / exact hits for a context or rule to be kept
    min_sessions: int = 2  # fewest distinct training sessions a rule's exact hits (a constant's uses) come from
    recent_calls: int = 3  # source calls considered per tool: the r-th most recent, r = 1..recent_calls
    max_pos: int = 10  # positions of extracted items considered (1st .. max_pos-th)
    max_rules: int = 8  # rules kept per (tool, argument)
    min_rate: float = 0.02  # rules reproducing fewer of their bindable cases are dropped
    top_tools: int = 10  # next tools kept per context
    discovery_cap: int = 2000  # calls per tool searched for rule sources
    dataflow_cap: int = 5000  # calls per tool whose sessions feed the data-flow counts
    min_prob: float = 0.0  # candidates below this calibrated probability are withheld (abstention)
    seed: int = 0

    def params(self) -> dict[str, Any]:
        """The parameters as the pattern table records them (`K`, `R`: the file format's names)."""
        names = {"max_context": "K", "recent_calls": "R"}
        return {names.get(k, k): v for k, v in asdict(self).items()}


class SessionFlow:
    """What one session adds to the data-flow counts: its calls' signatures and values, the rule sources
    discovered at its searched calls, its `repeat` counts and its counts of the candidate rules evaluated on it
    so far. Each depends on the session alone (its state starts empty), so mines of overlapping sets of
    sessions (the calibration's folds of train) can add up the same flows instead of walking them again."""

    __slots__ = ("calls", "found", "repeats", "counts", "evaluated")

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...], list[tuple[str, str]]]] = []  # per call of a step: tool, signature, (argument, canonical value)
        self.found: list[dict[str, set[Rule]] | None] = []  # per call: argument -> rules discovered; None until searched
        self.repeats: dict[str, list[list[int]]] = {}  # tool -> per rank r - 1: [bindable, exact] of "the r-th latest call again"
        self.counts: dict[int, list[int]] = {}  # candidate rule id -> [bindable, exact], for the rules that bound
        self.evaluated: set[int] = set()  # the candidate rules counted on this session


class FlowCache:
    """The `SessionFlow` of each session (by its first row in the root `Rows`) under one set of options, when
    `keep`, and the ids of the candidate rules counted so far."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.flows: dict[int, SessionFlow] = {}
        self.rules: list[tuple[tuple[str, str], Rule]] = []  # rule id -> ((tool, argument), rule)
        self._ids: dict[tuple[tuple[str, str], Rule], int] = {}

    def rule_id(self, ta: tuple[str, str], rule: Rule) -> int:
        rid = self._ids.get((ta, rule))
        if rid is None:
            rid = self._ids[(ta, rule)] = len(self.rules)
            self.rules.append((ta, rule))
        return rid


class Rows:
    """Columns of some sessions' events as Python lists (made on first use), with each session's [lo, hi) rows.

    With `keep_calls`, a row's `Call` is made once and shared by every pass and every `subset` (its parsed
    arguments and extractions are cached on it), and so is each session's `SessionFlow`, so the calibration's
    fold mines add up what the main mine counted; without, each pass makes its own (a single mine of a large
    corpus keeps less alive). Either way, the calls made from rows with the same result text share its
    extracted items."""

    def __init__(self, events: pl.DataFrame, session_ids: list[str] | None = None, *, keep_calls: bool = False) -> None:
        self._source = src = events.select([c for c in ("session_id", "seq", *COLUMNS) if c in events.columns])
        keys = src.select("session_id", "seq").with_row_index("row")
        if session_ids is not None:
            keys = keys.filter(pl.col("session_id").is_in(session_ids))
        # sorted by session id then seq: the ids are sorted once each (an Enum's codes follow its categories),
        # then the rows by two integers
        sid = keys["session_id"]
        code = sid.cast(pl.Enum(sid.drop_nulls().unique().sort())).to_physical()
        by = pl.DataFrame({"code": code, "seq": keys["seq"]}).select(pl.arg_sort_by("code", "seq")).to_series()
        self._order = keys["row"].gather(by)  # row i is row _order[i] of the source
        code = code.gather(by)
        bounds = (code != code.shift(1)).fill_null(True).arg_true().to_list() + [len(code)]
        self.sessions = list(zip(bounds, bounds[1:]))
        self._parent: Rows | None = None  # the root Rows of a subset (None: these rows are the root; not self, which
        # would be a reference cycle keeping every column alive until the cyclic collector runs)
        self._index: list[int] | None = None  # row i of a subset is row _index[i] of the root
        self._calls: list[Call | None] | None = [None] * len(code) if keep_calls else None
        self._flows: dict[MineOptions, FlowCache] = {}
        self._results: dict[str, ResultItems] = {}  # a result text -> its items, shared by the calls that returned it

    @property
    def _root(self) -> Rows:
        return self if self._parent is None else self._parent

    def column(self, name: str) -> pl.Series:
        """One column of these rows, in their order (gathered from the events only when asked for, so a mine
        sorts the payload of the sessions its data flow reads, not of every session)."""
        return self._source[name].gather(self._order)

    def __getattr__(self, name: str) -> list[Any]:
        if name not in COLUMNS:
            raise AttributeError(name)
        column = self.column(name)
        values = shared_strings(column) if name in FEW_VALUES else column.to_list()
        setattr(self, name, values)
        return values

    def subset(self, sessions: list[tuple[int, int]]) -> Rows:
        """The same columns for some of the sessions (given by their row ranges), in the order given."""
        idx = [i for lo, hi in sessions for i in range(lo, hi)]
        sub = Rows.__new__(Rows)
        sub._source, sub._order = self._source, self._order.gather(idx)
        bounds, n = [], 0
        for lo, hi in sessions:
            bounds.append((n, n + hi - lo))
            n += hi - lo
        sub.sessions = bounds
        sub._parent, sub._calls, sub._index = self._root, None, None
        if self._root._calls is not None:  # share the root's calls
            sub._index = idx if self._index is None else [self._index[i] for i in idx]
        return sub

    def root_row(self, i: int) -> int:
        """Row `i` as a row of the root `Rows` (when calls are shared; else `i`)."""
        return i if self._index is None else self._index[i]

    def flow_cache(self, opt: MineOptions) -> FlowCache:
        """The root's session flows for `opt` when calls are shared, else a cache that keeps none."""
        root = self._root
        if root._calls is None:
            return FlowCache(keep=False)
        cache = root._flows.get(opt)
        if cache is None:
            cache = root._flows[opt] = FlowCache(keep=True)
        return cache

    def session_ids(self) -> list[str]:
        """Each session's id, in the order of `sessions`."""
        return self._source["session_id"].gather(self._order.gather([lo for lo, _ in self.sessions])).to_list()

    def call(self, i: int) -> Call:
        """Row `i` as the `Call` the mining state holds (one object per row of the root `Rows`)."""
        if self._index is not None:
            return self._root.call(self._index[i])
        calls = self._calls
        c = None if calls is None else calls[i]
        if c is None:
            text = self.result_text[i]  # type: ignore[attr-defined]
            extracted = None
            if text:
                extracted = self._root._results.get(text)
                if extracted is None:
                    extracted = self._root._results[text] = ResultItems()
            c = Call(self.tool[i], self.args_json[i], self.args_hash[i], text, self.status[i], extracted)  # type: ignore[attr-defined]
            if calls is not None:
                calls[i] = c
        return c


class SourceGroup(NamedTuple):
    """The candidate rules of one argument that read one earlier call (`src`, `rank`; None, 0: not one call, e.g.
    the prompt), split by how mining counts them without `bind`: `as_is` (kind -> [(position, rule id)]) for the
    `extracts_as_is` rules, `copies` ([(field, rule id)]) for the copies of a whole argument, `slots` for the
    templates, per slot source (field, pos, cast) a map (text before the slot, text after) -> rule id and the
    ids, and `others` ([(rule, rule id)]) bound one by one."""

    src: str | None
    rank: int
    as_is: list[tuple[str, list[tuple[int, int]]]]
    copies: list[tuple[str, int]]
    slots: list[tuple[tuple[str, int, str], dict[tuple[str, str], int], list[int]]]
    others: list[tuple[Rule, int]]


def group_rules(rules: list[tuple[Rule, int]]) -> list[SourceGroup]:
    """The rules (with their ids) of one argument as `SourceGroup`s, so that a call that is not in the state skips
    every rule reading it and the rules reading the same item of it find that item once."""
    groups: dict[tuple[str | None, int], SourceGroup] = {}
    for rule, rid in rules:
        source = (rule.src, rule.rank) if rule.kind in ONE_CALL_KINDS else (None, 0)
        g = groups.get(source)
        if g is None:
            g = groups[source] = SourceGroup(*source, [], [], [], [])
        if extracts_as_is(rule):
            positions = next((ps for kind, ps in g.as_is if kind == rule.field), None)
            if positions is None:
                g.as_is.append((rule.field, positions := []))
            positions.append((rule.pos, rid))
        elif rule.kind == "copy" and rule.pos == 0:
            g.copies.append((rule.field, rid))
        elif rule.kind == "template":
            slot = (rule.field, rule.pos, rule.cast)
            found = next((s for s in g.slots if s[0] == slot), None)
            if found is None:
                g.slots.append(found := (slot, {}, []))
            before, after = rule.value.split(SLOT, 1)
            found[1][(before, after)] = rid
            found[2].append(rid)
        else:
            g.others.append((rule, rid))
    return list(groups.values())


def count_argument(groups: list[SourceGroup], state: SessionState, v: Any, counts: dict[int, list[int]]) -> None:
    """Add to `counts` (rule id -> [bindable, exact]) what the rules of `groups` give for an argument whose value
    is `v`, in `state`: each as `bind` and `same` would count it. A template binds when its slot's item is a
    non-empty string and is exact when `v` is the text before its slot, the item, then the text after, so the
    templates of one slot are matched by looking up each place the item occurs in `v`."""
    text = isinstance(v, str)
    by_tool = state.by_tool
    for src, rank, as_is, copies, slots, others in groups:
        if src is not None:
            lst = by_tool.get(src)
            if not lst or len(lst) < rank:
                continue  # the source call is not visible: none of these rules binds
            source = lst[-rank]
            for kind, positions in as_is:
                items = source.items(kind)
                n = len(items)
                if text:  # the items are distinct: a string is at one position at most (0: none)
                    at = items.index(v) + 1 if v in items else 0
                    for pos, rid in positions:
                        if pos <= n:
                            s = counts.get(rid)
                            if s is None:
                                s = counts[rid] = [0, 0]
                            s[0] += 1
                            if pos == at:
                                s[1] += 1
                    continue
                for pos, rid in positions:
                    if pos <= n:
                        s = counts.get(rid)
                        if s is None:
                            s = counts[rid] = [0, 0]
                        s[0] += 1
                        if same(items[pos - 1], v):
                            s[1] += 1
            if copies:
                got = source.args
                for field, rid in copies:
                    b = got.get(field, ABSENT)
                    if b is not ABSENT:
                        s = counts.get(rid)
                        if s is None:
                            s = counts[rid] = [0, 0]
                        s[0] += 1
                        if (isinstance(b, str) and b == v) if text else same(b, v):
                            s[1] += 1
            for (field, pos, how), by_frame, rids in slots:
                item = template_slot(source, field, pos, how)
                if not (isinstance(item, str) and item):
                    continue
                for rid in rids:
                    s = counts.get(rid)
                    if s is None:
                        s = counts[rid] = [0, 0]
                    s[0] += 1
                if text:  # a bound template is a string: never the same as a value of another type
                    n = len(item)
                    at = v.find(item)
                    while at >= 0:
                        rid = by_frame.get((v[:at], v[at + n :]))
                        if rid is not None:
                            counts[rid][1] += 1
                        at = v.find(item, at + 1)
        for rule, rid in others:
            b = bind(rule, state)
            if b is not ABSENT:
                s = counts.get(rid)
                if s is None:
                    s = counts[rid] = [0, 0]
                s[0] += 1
                if (isinstance(b, str) and b == v) if text else same(b, v):
                    s[1] += 1


def shared_strings(column: pl.Series) -> list[Any]:
    """`column.to_list()`, each distinct string one object: to_list makes a string per row (some fifty bytes
    each, a hundred megabytes over the kinds, tools and statuses of a million events), this one per value."""
    if column.dtype != pl.String:
        return column.to_list()
    distinct = column.drop_nulls().unique(maintain_order=True)
    codes = column.cast(pl.Enum(distinct)).to_physical().fill_null(len(distinct)).to_list()
    return list(map([*distinct.to_list(), None].__getitem__, codes))


def walk(rows: Rows, lo: int, hi: int, state: SessionState, on_decision: Callable[[tuple[str, ...], list[Call]], None]) -> None:
    """Replay one session into `state`, calling on_decision(keys, calls of the step) before each step is absorbed."""
    kinds, texts = rows.kind, rows.text  # type: ignore[attr-defined]
    pending: tuple[tuple[str, ...], list[Call]] | None = None

    def flush() -> None:
        if pending is not None:
            on_decision(*pending)
            for c in pending[1]:
                state.add_call(c)

    for i in range(lo, hi):
        kind = kinds[i]
        if kind == "tool":
            if pending is None:
                state.add_call(rows.call(i))
            else:
                pending[1].append(rows.call(i))
        elif kind == "llm":
            flush()
            pending = (state.keys, [])
        elif texts[i]:
            flush()
            pending = None
            state.add_user(texts[i])
    flush()


def control_pass(rows: Rows, opt: MineOptions) -> tuple[ControlCounts, ControlCounts, list[Counter[str]]]:
    """Control-flow and floor counts over every session (keys only, no payload), and each session's calls per tool."""
    key_fn, needs_args = KEYS[opt.key], opt.key in NEEDS_ARGS
    plain = opt.key == "tool"
    kinds, tools, texts = rows.kind, rows.tool, rows.text  # type: ignore[attr-defined]
    statuses = None if plain else rows.status  # type: ignore[attr-defined]
    args = rows.args_json if needs_args else None  # type: ignore[attr-defined]
    # each distinct decision (context, tools called) with its count, in order of first sight: a decision repeats,
    # and a list of every one would hold a million tuples at once on a large corpus
    decisions: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
    floor_decisions: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
    per_session: list[Counter[str]] = []
    K = opt.max_context
    for lo, hi in rows.sessions:
        keys = [START_KEY]  # every key of the session so far; a context is its last K
        last = START_KEY
        ctx: tuple[str, ...] | None = None
        step: list[str] = []
        called: list[str] = []
        for i in range(lo, hi):
            kind = kinds[i]
            if kind == "tool":
                t = tools[i]
                step.append(t)
                called.append(t)
                keys.append(t if plain else key_fn(t, parse_args(args[i]) if needs_args else None, statuses[i]))
                if ctx is None:
                    last = t
            elif kind == "llm" or texts[i]:
                if ctx is not None:
                    done = tuple(step)
                    d = (ctx, done)
                    decisions[d] = decisions.get(d, 0) + 1
                    d = ((last,), done)
                    floor_decisions[d] = floor_decisions.get(d, 0) + 1
                    if step:
                        last = step[-1]
                step = []
                if kind == "llm":
                    ctx = tuple(keys[-K:])
                else:
                    ctx, last = None, USER_KEY
                    keys.append(USER_KEY)
        if ctx is not None:
            done = tuple(step)
            d = (ctx, done)
            decisions[d] = decisions.get(d, 0) + 1
            d = ((last,), done)
            floor_decisions[d] = floor_decisions.get(d, 0) + 1
        per_session.append(Counter(called))
    control, floor = ControlCounts(K), ControlCounts(1)
    control.add_many(decisions)
    floor.add_many(floor_decisions)
    return control, floor, per_session


def sample_sessions(rows: Rows, per_session: list[Counter[str]], cap: int) -> list[tuple[int, int]]:
    """Sessions, in order, that bring some tool closer to `cap` calls (all sessions for rarer tools)."""
    seen: Counter[str] = Counter()
    out = []
    for bounds, called in zip(rows.sessions, per_session):
        if any(seen[t] < cap for t in called):
            out.append(bounds)
            seen.update(called)
    return out


def mine_predictor(events: pl.DataFrame, session_ids: list[str], opt: MineOptions) -> tuple[PatternPredictor, ControlCounts, dict[str, int]]:
    """Mine the tables from `session_ids`; returns the predictor, the last-tool floor counts and totals."""
    predictor, _, floor, totals = mine_rows(Rows(events, session_ids), opt)
    return predictor, floor, totals


@collection_paused()
def mine_rows(rows: Rows, opt: MineOptions) -> tuple[PatternPredictor, ControlCounts, ControlCounts, dict[str, int]]:
    """Mine the tables from `rows`' sessions; returns the predictor, the control and last-tool floor counts
    (for re-cutting the control table) and totals.

    Control flow counts every session. Data flow (signatures, constants, rule discovery and rule
    counts) runs on the sessions needed to see `dataflow_cap` calls of each tool (every session of
    rarer tools): rates are estimated from at least that many calls per tool.
    """
    control, floor, per_session = control_pass(rows, opt)
    totals = {"sessions": len(rows.sessions), "decisions": control.n[()], "calls": sum(sum(c.values()) for c in per_session)}
    sample = sample_sessions(rows, per_session, opt.dataflow_cap)
    totals["dataflow_sessions"] = len(sample)
    if len(sample) < len(rows.sessions):
        rows, sample = (sub := rows.subset(sample)), sub.sessions
    cache = rows.flow_cache(opt)
    key_fn, needs_args = KEYS[opt.key], opt.key in NEEDS_ARGS
    R, cap = opt.recent_calls, opt.discovery_cap
    sigs: dict[str, Counter[tuple[str, ...]]] = {}
    consts: dict[tuple[str, str], ConstantCounts] = {}
    hits: dict[tuple[str, str], Counter[Rule]] = {}
    # per tool, its `repeat` rules: [bindable, exact, sessions with an exact hit]
    repeat: dict[str, dict[Rule, list[int]]] = {}
    searched: Counter[str] = Counter()

    def new_state() -> SessionState:
        return SessionState(key_fn, needs_args, opt.max_context, R)

    def sources(c: Call, st: SessionState) -> dict[str, set[Rule]]:
        found = {}
        for a, v in c.args.items():
            rules = set(discover(v, st, R, opt.max_pos))
            if rules:
                found[a] = rules
        return found

    def first_walk(lo: int, hi: int) -> tuple[SessionFlow, list[bool]]:
        """The session's flow, its calls searched (the first `discovery_cap` of each tool) discovered on the way."""
        flow, flags, st = SessionFlow(), [], new_state()

        def on_decision(keys: tuple[str, ...], calls: list[Call]) -> None:
            for c in calls:
                args = c.args
                flow.calls.append((c.tool, tuple(sorted(args)), [(a, canonical_json(v)) for a, v in args.items()]))
                reps = flow.repeats.get(c.tool)
                if reps is None:
                    reps = flow.repeats[c.tool] = [[0, 0] for _ in range(R)]
                for prev, rep in zip(reversed(st.by_tool.get(c.tool, ())), reps):  # the r-th latest call, r = 1..R
                    rep[0] += 1
                    if prev.args_hash == c.args_hash:
                        rep[1] += 1
                search = searched[c.tool] < cap
                if search:
                    searched[c.tool] += 1
                flags.append(search)
                flow.found.append(sources(c, st) if search else None)

        walk(rows, lo, hi, st, on_decision)
        return flow, flags

    def rediscover(lo: int, hi: int, flow: SessionFlow, wanted: set[int]) -> None:
        """Discover the sources of the session's calls `wanted` (by their order in `flow.calls`)."""
        st, j = new_state(), 0

        def on_decision(keys: tuple[str, ...], calls: list[Call]) -> None:
            nonlocal j
            for c in calls:
                if j in wanted:
                    flow.found[j] = sources(c, st)
                j += 1

        walk(rows, lo, hi, st, on_decision)

    flows: list[tuple[int, int, SessionFlow | None]] = []  # (lo, hi, the flow when it is kept)
    for lo, hi in sample:
        key = rows.root_row(lo)
        flow = cache.flows.get(key) if cache.keep else None
        if flow is None:
            flow, flags = first_walk(lo, hi)
            if cache.keep:
                cache.flows[key] = flow
        else:
            flags = []
            for tool, _, _ in flow.calls:
                search = searched[tool] < cap
                if search:
                    searched[tool] += 1
                flags.append(search)
            wanted = {j for j, f in enumerate(flags) if f and flow.found[j] is None}
            if wanted:
                rediscover(lo, hi, flow, wanted)
        for j, (tool, sig, values) in enumerate(flow.calls):  # (get, then make: a setdefault would make a counter per call)
            cnt = sigs.get(tool)
            if cnt is None:
                cnt = sigs[tool] = Counter()
            cnt[sig] += 1
            for a, value in values:
                cc = consts.get((tool, a))
                if cc is None:
                    cc = consts[(tool, a)] = ConstantCounts()
                cc.add(value, key)
            if flags[j]:
                for a, found in flow.found[j].items():  # type: ignore[union-attr]
                    got = hits.get((tool, a))
                    if got is None:
                        got = hits[(tool, a)] = Counter()
                    got.update(found)
        for tool, reps in flow.repeats.items():
            rs = repeat.get(tool)
            if rs is None:
                rs = repeat[tool] = {Rule("repeat", tool, r): [0, 0, 0] for r in range(1, R + 1)}
            for s, (b, e) in zip(rs.values(), reps):
                s[0] += b
                s[1] += e
                s[2] += e > 0
        flows.append((lo, hi, flow if cache.keep else None))

    # candidate rules: discovered ones with enough loose hits
    cand: dict[tuple[str, str], list[Rule]] = {}
    for ta, cnt in hits.items():
        cand[ta] = [r for r, n in sorted(cnt.items(), key=lambda kv: (-kv[1], kv[0])) if n >= opt.min_support][: 4 * opt.max_rules]
    occ: Counter[tuple[str, str]] = Counter({ta: sum(c.values()) for ta, c in consts.items()})
    # per rule: [bindable, exact, sessions with an exact hit]
    stats: dict[tuple[str, str], dict[Rule, list[int]]] = {ta: {r: [0, 0, 0] for r in rs} for ta, rs in cand.items() if rs}
    by_id = {cache.rule_id(ta, rule): s for ta, rs in stats.items() for rule, s in rs.items()}
    every = frozenset(by_id)
    plans: dict[frozenset[int], dict[tuple[str, str], list[SourceGroup]]] = {}

    def plan(ids: frozenset[int]) -> dict[tuple[str, str], list[SourceGroup]]:
        """Per (tool, argument): the rules `ids`, grouped by the earlier call they read (`group_rules`)."""
        got = plans.get(ids)
        if got is None:
            by_ta: dict[tuple[str, str], list[tuple[Rule, int]]] = {}
            for rid in sorted(ids):
                ta, rule = cache.rules[rid]
                by_ta.setdefault(ta, []).append((rule, rid))
            got = plans[ids] = {ta: group_rules(rules) for ta, rules in by_ta.items()}
        return got

    def count_rules(lo: int, hi: int, by_source: dict[tuple[str, str], list[SourceGroup]], counts: dict[int, list[int]]) -> None:
        """Add to `counts` (rule id -> [bindable, exact]) what the rules of `by_source` do on one session."""
        st = new_state()

        def on_decision(keys: tuple[str, ...], calls: list[Call]) -> None:
            for c in calls:
                for a, v in c.args.items():
                    groups = by_source.get((c.tool, a))
                    if groups is not None:
                        count_argument(groups, st, v, counts)

        walk(rows, lo, hi, st, on_decision)

    for lo, hi, kept in flows:
        if kept is None:
            counts: dict[int, list[int]] = {}
            count_rules(lo, hi, plan(every), counts)
        else:
            counts = kept.counts
            missing = every - kept.evaluated
            if missing:
                count_rules(lo, hi, plan(missing), counts)
                kept.evaluated |= missing
        for rid, (b, e) in counts.items():
            s = by_id.get(rid)
            if s is not None:
                s[0] += b
                s[1] += e
                s[2] += e > 0

    tables = {
        "control": control_table(control, opt),
        "signatures": _signature_table(sigs, opt),
        "rules": _rule_table(stats, repeat, consts, occ, {t: sum(c.values()) for t, c in sigs.items()}, opt),
    }
    return PatternPredictor(opt.params(), tables), control, floor, totals


def _columns(names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    return {n: [r[i] for r in rows] for i, n in enumerate(names)}


def control_table(control: ControlCounts, opt: MineOptions, max_len: int | None = None) -> dict[str, list[Any]]:
    """The control table's columns (contexts of at most `max_len` keys, default all), smoothed by `opt.alpha`."""
    rows = []
    for ctx, n, tools in control.table(opt.alpha, opt.min_support, opt.top_tools):
        if max_len is not None and len(ctx) > max_len:
            continue
        for tool, count, p in tools:
            rows.append((list(ctx), n, tool, count, p))
    return _columns(CONTROL_COLUMNS, rows)


def _signature_table(sigs: dict[str, Counter[tuple[str, ...]]], opt: MineOptions) -> dict[str, list[Any]]:
    rows = []
    for tool in sorted(sigs):
        cnt = sigs[tool]
        total = sum(cnt.values())
        for sig, n in sorted(cnt.items(), key=lambda kv: (-kv[1], kv[0]))[:3]:
            if n >= opt.min_support:
                rows.append((tool, list(sig), n, n / total))
    return _columns(SIGNATURE_COLUMNS, rows)


def _rule_table(stats, repeat, consts, occ, calls: dict[str, int], opt: MineOptions) -> dict[str, list[Any]]:
    rows: list[tuple[Any, ...]] = []

    def keep(tool: str, arg: str, found: list[tuple[Rule, int, int, int]], occurrences: int) -> None:
        good = [(r, b, e) for r, b, e, n in found if e >= opt.min_support and e / b >= opt.min_rate and n >= opt.min_sessions]
        good.sort(key=lambda x: (-x[2] / x[1], -x[2], x[0]))
        for r, b, e in good[: opt.max_rules]:
            rows.append((tool, arg, *r, occurrences, b, e, e / b))

    def constants(cnt: ConstantCounts, total: int) -> list[tuple[Rule, int, int, int]]:
        return [(Rule("const", value=v), total, n, cnt.sessions(v)) for v, n in cnt.most_common(3, opt.min_sessions)]

    for (tool, arg), rs in sorted(stats.items()):
        found = [(r, s[0], s[1], s[2]) for r, s in rs.items() if s[0]]
        total = occ[(tool, arg)]
        keep(tool, arg, found + constants(consts[(tool, arg)], total), total)
    for (tool, arg), cnt in sorted(consts.items()):
        if (tool, arg) not in stats:
            keep(tool, arg, constants(cnt, occ[(tool, arg)]), occ[(tool, arg)])
    for tool, rs in sorted(repeat.items()):
        keep(tool, "*", [(r, s[0], s[1], s[2]) for r, s in rs.items() if s[0]], calls[tool])
    return _columns(RULE_COLUMNS, rows)

