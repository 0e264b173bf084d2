"""Data flow: the visible state of a session, derivation rules for arguments, and their discovery.

A rule says where one argument of a target tool comes from, relative to the moment of decision:
- `copy`    field F of the r-th most recent call to tool S (pos p > 0: the p-th id inside that field's
            string, e.g. a commit or function id in an earlier command);
- `extract` the p-th distinct item of a kind (url, path, number, quoted, id, json:<path>) in the result
            of the r-th most recent call to tool S;
- `prompt`  the p-th item of a kind (or the whole text) of the latest user message;
- `const`   a constant value;
- `repeat`  (whole call) the same arguments as the r-th most recent call to the same tool;
- `template` a string with one slot filled by field F of (pos 0), the p-th id inside field F of (cast
            `id`), or the p-th path / URL / id in the result of, the r-th most recent call to tool S: the
            test loop's `pytest tests/test_x.py` after an Edit of that file, `cat <path>` after a Glob, a
            URL built around an id, `disassemble FUN_0040060d` after `decompile FUN_0040060d`.
Rules only read `SessionState`, which holds what the agent has seen before the decision; they never
invent a value: a rule whose source is absent binds nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

import orjson

from bpaste_cli.mine import values as V
from bpaste_cli.mine.keys import USER_KEY, KeyFn
from bpaste_cli.trace import canonical_json

class ConstantCounts(Counter):
    """How often each value (canonical JSON) was passed to one argument, and in how many sessions. A value
    of fewer than `min_sessions` sessions (default 2) is never offered as a constant rule: it cannot
    generalise, and it is how a secret typed once would reach a deployed policy."""

    SESSIONS_KEPT = 16  # distinct sessions remembered per value (enough for any sensible --min-sessions)

    def __init__(self) -> None:
        super().__init__()
        self._sessions: dict[str, set[Any]] = {}

    def add(self, value: str, session: Any) -> None:
        self[value] += 1
        seen = self._sessions.get(value)
        if seen is None:
            self._sessions[value] = {session}
        elif len(seen) < self.SESSIONS_KEPT:
            seen.add(session)

    def sessions(self, value: str) -> int:
        """Distinct sessions the value was seen in (at most SESSIONS_KEPT)."""
        return len(self._sessions.get(value, ()))

    def most_common(self, n: int | None = None, min_sessions: int = 2) -> list[tuple[str, int]]:
        shared = [(v, c) for v, c in super().most_common() if self.sessions(v) >= min_sessions]
        return shared if n is None else shared[:n]


ROOT = "$"  # the pseudo-argument of a call whose arguments are not a JSON object
START_KEY = "<start>"
_ABSENT = object()
SLOT = "\x00"  # where a template's value goes
TEMPLATE_KINDS = ("path", "url", "id")  # result items a template slot may take
MAX_TEMPLATE_CHARS = 500  # longer strings are not searched for a slot


class Rule(NamedTuple):
    """One derivation rule (see the module docstring); `value` is canonical JSON for `const`."""

    kind: str
    src: str = ""
    rank: int = 0
    field: str = ""
    pos: int = 0
    cast: str = ""
    value: str = ""


def parse_args(args_json: str | None) -> dict[str, Any]:
    """A call's arguments as a mapping (a non-object value becomes {ROOT: value})."""
    if not args_json:
        return {}
    try:
        v = orjson.loads(args_json)
    except orjson.JSONDecodeError:
        return {ROOT: args_json}
    return v if isinstance(v, dict) else {ROOT: v}


def loose_key(value: Any) -> str | None:
    """Discovery key of any argument value (scalars loosely, structures by canonical JSON)."""
    if isinstance(value, (dict, list)):
        return "\x00" + canonical_json(value)
    return V.match_key(value)


def same(a: Any, b: Any) -> bool:
    """Exact equality as canonical JSON (so 1 != "1" and True != 1)."""
    if isinstance(b, str):
        return isinstance(a, str) and a == b
    return canonical_json(a) == canonical_json(b)


class ResultItems:
    """The items extracted from one result text, by kind, and its JSON fields: shared by the calls that
    returned the same text (a mine makes one per distinct text), so each text is extracted once."""

    __slots__ = ("by_kind", "json")

    def __init__(self) -> None:
        self.by_kind: dict[str, list[str]] = {}
        self.json: dict[str, list[Any]] | None = None


class Call:
    """A call the agent has seen, with its result and lazily cached extractions (`extracted`: the result's
    items when another call with the same result already holds them)."""

    __slots__ = ("tool", "args_json", "args_hash", "result", "status", "_args", "_res", "_arg_ids", "_index", "_json_index",
                 "_index_of", "_slots", "_result_slots")

    def __init__(self, tool: str, args_json: str | None, args_hash: str | None, result: str | None, status: str | None,
                 extracted: ResultItems | None = None):
        self.tool = tool
        self.args_json = args_json
        self.args_hash = args_hash
        self.result = result
        self.status = status
        self._args: dict[str, Any] | None = None
        self._res = ResultItems() if extracted is None else extracted
        self._arg_ids: dict[str, list[str]] = {}
        # discovery's indexes of the arguments and of the result's JSON fields, and the template slots of the
        # arguments and of the result's items by kind, made for one max_pos (`_index_of`)
        self._index: dict[str, list[tuple[str, str, int]]] | None = None
        self._json_index: dict[str, list[tuple[str, int]]] | None = None
        self._slots: list[tuple[str, list[tuple[str, int, str]]]] | None = None
        self._result_slots: dict[str, list[tuple[str, list[tuple[str, int, str]]]]] = {}
        self._index_of = 0

    @property
    def args(self) -> dict[str, Any]:
        if self._args is None:
            self._args = parse_args(self.args_json)
        return self._args

    def json_fields(self) -> dict[str, list[Any]]:
        """The result's JSON fields (`values.json_fields`)."""
        res = self._res
        if res.json is None:
            res.json = V.json_fields(self.result) if self.result else {}
        return res.json

    def items(self, kind: str) -> list[Any]:
        """Distinct items of one kind in the result (or the text, for a user message)."""
        if kind.startswith("json:"):
            return self.json_fields().get(kind[5:], [])
        by_kind = self._res.by_kind
        got = by_kind.get(kind)
        if got is None:
            text = self.result or ""
            got = V.whole(text) if kind == "whole" else V.EXTRACTORS[kind](text)
            by_kind[kind] = got
        return got

    def arg_ids(self, field: str) -> list[str]:
        """Distinct ids inside the string argument `field` (an id an agent copies out of an earlier command)."""
        got = self._arg_ids.get(field)
        if got is None:
            v = self.args.get(field)
            got = self._arg_ids[field] = V.ids(v) if isinstance(v, str) else []
        return got

    def index(self, max_pos: int) -> dict[str, list[tuple[str, str, int]]]:
        """Discovery index of the arguments: loose key -> [(source kind `copy` or `argid`, field, position)]."""
        if self._index_of != max_pos:
            self._reset(max_pos)
        idx = self._index
        if idx is None:
            idx = self._index = {}
            for f, v in self.args.items():
                k = loose_key(v)
                if k is not None:
                    idx.setdefault(k, []).append(("copy", f, 0))
                if isinstance(v, str) and len(v) <= MAX_TEMPLATE_CHARS:
                    for p, item in enumerate(self.arg_ids(f)[:max_pos], 1):
                        if item != v:
                            idx.setdefault(item, []).append(("argid", f, p))
        return idx

    def json_index(self, max_pos: int) -> dict[str, list[tuple[str, int]]]:
        """Discovery index of the result's JSON fields: loose key -> [(`json:<path>`, position)]."""
        if self._index_of != max_pos:
            self._reset(max_pos)
        idx = self._json_index
        if idx is None:
            idx = self._json_index = {}
            for path, vals in (self.json_fields() if self.result else {}).items():
                for p, item in enumerate(vals[:max_pos], 1):
                    k = V.match_key(item)
                    if k is not None:
                        idx.setdefault(k, []).append(("json:" + path, p))
        return idx

    def slot_items(self, max_pos: int) -> list[tuple[str, list[tuple[str, int, str]]]]:
        """The strings of `index` a template slot may take (at least 4 characters: an argument, or an id in one),
        each with its (field, position, cast) sources."""
        if self._index_of != max_pos:
            self._reset(max_pos)
        if self._slots is None:
            self._slots = [(item, [(field, pos, "id" if kind == "argid" else "str") for kind, field, pos in hits])
                           for item, hits in self.index(max_pos).items() if len(item) >= 4 and item[0] != "\x00"]
        return self._slots

    def result_slots(self, kind: str, max_pos: int) -> list[tuple[str, list[tuple[str, int, str]]]]:
        """The items of one kind of TEMPLATE_KINDS in the result that a template slot may take (at least 4
        characters), each with its (kind, position, cast) source."""
        if self._index_of != max_pos:
            self._reset(max_pos)
        got = self._result_slots.get(kind)
        if got is None:
            got = self._result_slots[kind] = [(item, [(kind, p, "str")]) for p, item in enumerate(self.items(kind)[:max_pos], 1)
                                              if len(item) >= 4]
        return got

    def _reset(self, max_pos: int) -> None:
        """Drop the discovery indexes, made for another `max_pos`."""
        self._index = self._json_index = self._slots = None
        self._result_slots = {}
        self._index_of = max_pos


class SessionState:
    """What the agent has seen so far: the last K keys, the last R calls of each tool, the latest prompt.

    Bounded per tool, so `fork` is cheap and nothing ever re-scans the prefix.
    """

    __slots__ = ("keys", "last", "by_tool", "prompt", "key_fn", "needs_args", "K", "R")

    def __init__(self, key_fn: KeyFn, needs_args: bool, K: int, R: int) -> None:
        self.keys: tuple[str, ...] = (START_KEY,)
        self.last = START_KEY  # the last tool name or USER_KEY: the floor baseline's context
        self.by_tool: dict[str, list[Call]] = {}
        self.prompt: Call | None = None
        self.key_fn, self.needs_args, self.K, self.R = key_fn, needs_args, K, R

    def add_call(self, call: Call) -> None:
        key = self.key_fn(call.tool, call.args if self.needs_args else None, call.status)
        self.keys = (self.keys + (key,))[-self.K :]
        self.last = call.tool
        lst = self.by_tool.get(call.tool)
        if lst is None:
            self.by_tool[call.tool] = [call]
        else:
            lst.append(call)
            if len(lst) > self.R:
                del lst[0]

    def add_user(self, text: str | None) -> None:
        """A human message; a user event without text (an idle gap, an approval wait) changes nothing."""
        if text:
            self.keys = (self.keys + (USER_KEY,))[-self.K :]
            self.last = USER_KEY
            self.prompt = Call(USER_KEY, None, None, text, "ok")

    def fork(self) -> SessionState:
        s = SessionState(self.key_fn, self.needs_args, self.K, self.R)
        s.keys, s.last, s.prompt = self.keys, self.last, self.prompt
        s.by_tool = {t: list(v) for t, v in self.by_tool.items()}
        return s

    def recent(self, tool: str, rank: int) -> Call | None:
        lst = self.by_tool.get(tool)
        return lst[-rank] if lst and len(lst) >= rank else None


def bind(rule: Rule, state: SessionState) -> Any:
    """The value `rule` gives in `state`, or `_ABSENT` when its source is not visible."""
    kind, src_tool, rank, field, pos, how, value = rule  # every field once: the predictor binds on every decision
    if kind == "const":
        return orjson.loads(value)
    if kind == "prompt":
        src = state.prompt
    else:  # state.recent(src_tool, rank), inlined
        lst = state.by_tool.get(src_tool)
        src = lst[-rank] if lst and len(lst) >= rank else None
    if src is None:
        return _ABSENT
    if kind == "copy":
        if pos:
            got = src.arg_ids(field)
            return got[pos - 1] if len(got) >= pos else _ABSENT
        return src.args.get(field, _ABSENT)
    if kind == "template":
        item = template_slot(src, field, pos, how)
        return value.replace(SLOT, item, 1) if isinstance(item, str) and item else _ABSENT
    items = src._res.by_kind.get(field)  # src.items(field) once extracted
    if items is None:
        items = src.items(field)
    if len(items) < pos:
        return _ABSENT
    item = items[pos - 1]
    if how != "num":  # V.cast leaves anything but a number as it is
        return item
    v = V.cast(item, how)
    return _ABSENT if v is None else v


ABSENT = _ABSENT


def template_slot(src: Call, field: str, pos: int, how: str) -> Any:
    """What a template rule reading (`field`, `pos`, `how`) of `src` puts in its slot (it binds only when that is
    a non-empty string): the argument `field` (pos 0), its `pos`-th id (how `id`) or the `pos`-th item of kind
    `field` in the result (None when there are fewer)."""
    if pos == 0:
        return src.args.get(field)
    got = src.arg_ids(field) if how == "id" else src.items(field)
    return got[pos - 1] if len(got) >= pos else None


def extracts_as_is(rule: Rule) -> bool:
    """Whether `bind` gives the rule's item as extracted: `call.items(rule.field)[rule.pos - 1]` of its source call
    (an `extract` rule that casts nothing), so a caller already holding the source can take the item itself."""
    return rule.kind == "extract" and rule.cast != "num"


def discover(value: Any, state: SessionState, tools_window: int, max_pos: int) -> list[Rule]:
    """Every rule that reproduces `value` from `state` (loosely; exact rates are counted later)."""
    key = loose_key(value)
    if key is None:
        return []
    num = "num" if isinstance(value, (int, float)) and not isinstance(value, bool) else "str"
    kinds = V.item_kinds(key)
    found: list[Rule] = []
    for tool, lst in state.by_tool.items():
        n = len(lst)
        for i in range(max(0, n - tools_window), n):
            c, rank = lst[i], n - i
            for kind, field, pos in c.index(max_pos).get(key, ()):
                found.append(Rule("copy", tool, rank, field, pos, "id" if kind == "argid" else ""))
            text = c.result
            if not text:
                continue
            if key in text:  # an extracted item is a piece of the text: the regexes run only for a text holding the value
                for kind in kinds:
                    items = c.items(kind)
                    if key in items:  # distinct items: at one position
                        p = items.index(key) + 1
                        if p <= max_pos:
                            found.append(Rule("extract", tool, rank, kind, p, num))
            for field, pos in c.json_index(max_pos).get(key, ()):
                found.append(Rule("extract", tool, rank, field, pos, "json"))
    if state.prompt is not None:
        for kind in kinds + ("whole",):
            items = state.prompt.items(kind)[:max_pos]
            for p, item in enumerate(items, 1):
                if item == key:
                    found.append(Rule("prompt", "", 0, kind, p, num))
    if found or not isinstance(value, str) or SLOT in value or len(value) > MAX_TEMPLATE_CHARS:
        return found
    templates: list[Rule] = []  # only when no rule reproduces the value whole
    inside = V.kinds_inside(value)  # of TEMPLATE_KINDS: a result's other items are never extracted for it
    for tool, lst in state.by_tool.items():
        n = len(lst)
        for i in range(max(0, n - tools_window), n):
            c, rank = lst[i], n - i
            templates += _templates(value, c.slot_items(max_pos), tool, rank)
            if c.result:
                for kind in inside:
                    templates += _templates(value, c.result_slots(kind, max_pos), tool, rank)
    return templates


def _templates(value: str, slot_items: list[tuple[str, list[tuple[str, int, str]]]], tool: str, rank: int) -> list[Rule]:
    """Template rules that rebuild `value` around one string of an earlier call (an argument, or a path,
    URL or id of its result: `Call.slot_items`, `Call.result_slots`) that occurs inside it."""
    out = []
    for item, hits in slot_items:
        if item != value and item in value:
            rest = value.replace(item, SLOT, 1)
            for field, pos, cast in hits:
                out.append(Rule("template", tool, rank, field, pos, cast, rest))
    return out


FAMILY_ORDER = ("result", "template", "copy", "prompt", "repeat", "const", "none")  # the most data-driven first


def family(rule: Rule) -> str:
    """The data-flow family of a rule: `repeat` (the same call again, e.g. a test command re-run), `result
    <item>` (a path, URL, id ... taken from an earlier result), `copy` (an argument of an earlier call: ids
    copied across calls), `copy id` (an id inside an earlier argument), `template` (a string built around
    such a value: a test command re-run with the edited file; `template id` when the slot is an id, from an
    earlier result or argument), `prompt` (from the user's message) or `const`."""
    if rule.kind == "copy" and rule.pos or rule.kind == "template" and (rule.cast == "id" or rule.field == "id" and rule.pos):
        return rule.kind + " id"
    if rule.kind in ("repeat", "const", "copy", "prompt", "template"):
        return rule.kind
    return "result " + ("json field" if rule.field.startswith("json:") else rule.field)


def family_rank(fam: str) -> int:
    """Where a family stands in FAMILY_ORDER (0: the most data-driven)."""
    return FAMILY_ORDER.index(fam.split(" ")[0])


def call_family(families: list[str]) -> str:
    """A candidate's family from its arguments' families: the most data-driven one (`none`: no arguments)."""
    return min(families, key=family_rank) if families else "none"


def describe(rule: Rule, tool: str, arg: str) -> str:
    """A rule in words, e.g. `Read(file_path = 1st path in the latest Grep's result)`."""
    target = f"{tool}({arg} = " if arg != "*" else f"{tool}("
    if rule.kind == "repeat":
        return f"{tool}(same arguments as the {_nth(rule.rank, 'latest')} {tool} call)"
    if rule.kind == "const":
        return f"{target}{rule.value})"
    if rule.kind == "copy":
        inside = f"{_nth(rule.pos)} id in the " if rule.pos else ""
        return f"{target}{inside}{rule.field} of the {_nth(rule.rank, 'latest')} {rule.src} call)"
    if rule.kind == "template":
        source = (f"its {rule.field}" if rule.pos == 0 else f"the {_nth(rule.pos)} id in its {rule.field}" if rule.cast == "id"
                  else f"the {_nth(rule.pos)} {rule.field} in its result")
        return f"{target}{rule.value.replace(SLOT, '<' + source + '>')!r} of the {_nth(rule.rank, 'latest')} {rule.src} call)"
    what = rule.field[5:] + " field" if rule.field.startswith("json:") else rule.field
    if rule.kind == "prompt":
        if rule.field == "whole":
            return f"{target}the latest user message)"
        return f"{target}{_nth(rule.pos)} {what} in the latest user message)"
    return f"{target}{_nth(rule.pos)} {what} in the {_nth(rule.rank, 'latest')} {rule.src}'s result)"


def _nth(n: int, one: str | None = None) -> str:
    if n == 1 and one:
        return one
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}" + (f" {one}" if one and n > 1 else "")
