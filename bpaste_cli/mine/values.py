"""Values an argument can be derived from: the items a tool result or a user message contains.

Each extractor returns the *distinct* items of one kind in order of first appearance, so "the 2nd URL"
means the second different URL. Kinds: url, path (has a slash), number, quoted (between quotes or
backticks), id (an identifier-like token with a digit, e.g. an order or user id), and JSON fields
(`json:<path>`, the scalar values under one key path of a JSON result, `[]` marking list elements).
Regexes run once per result and kind (once per distinct result text in a mine: `dataflow.ResultItems`), and
only when a rule or the discovery asks for that kind (the discovery asks of a text that holds the value it
looks for, for the kinds whose shape the value has, and for a template's slot of the kinds that fit inside
the value: `dataflow.discover`).
"""

from __future__ import annotations

import re
from typing import Any, Callable

import orjson

MAX_ITEMS = 64  # items kept per kind and text: positions beyond this are never a rule's source
MAX_JSON_DEPTH = 8

_URL = re.compile(r"https?://[^\s\"'<>`\\)\]}]+")
# A path is (?<![\w/.:~@%+-])(?:~|\.{1,2})?/?(?:[\w.@+-]+/)+[\w.@+-]+ searched through the text. Every character it
# takes is one of its look-behind's, so a match starts where a run of those characters starts and lies inside that
# run: matching `_PATH` at the start of each run that holds a slash finds the same paths, without the regex engine
# trying the look-behind at every position of the text
_PATH_RUN = re.compile(r"[\w/.:~@%+-]+")
_PATH = re.compile(r"(?:~|\.{1,2})?/?(?:[\w.@+-]+/)+[\w.@+-]+")
# (?<![\w.])-?\d+(?:\.\d+)?(?![\w.]*\w), written to start with a character class (its first character, then
# the look-behind one character further back), so the regex engine skips ahead to a sign or digit
_NUMBER = re.compile(r"[-\d](?<![\w.].)(?:(?<=-)\d+|(?<=\d)\d*)(?:\.\d+)?(?![\w.]*\w)")
_QUOTED = re.compile(r"\"([^\"\n]{1,200})\"|'([^'\n]{1,200})'|`([^`\n]{1,200})`")
_ID = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{3,63}(?![\w-])")
_TRAIL = ".,;:!?"


def _distinct(items: Any) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item and item not in seen:
            seen[item] = None
            if len(seen) >= MAX_ITEMS:
                break
    return list(seen)


def urls(text: str) -> list[str]:
    return _distinct(m.group(0).rstrip(_TRAIL) for m in _URL.finditer(text)) if "://" in text else []


def paths(text: str) -> list[str]:
    if "/" not in text:
        return []
    match = _PATH.match
    return _distinct([m.group(0).rstrip(_TRAIL) for run in _PATH_RUN.findall(text) if "/" in run and (m := match(run))])


def numbers(text: str) -> list[str]:
    return _distinct(m.group(0) for m in _NUMBER.finditer(text))


def quoted(text: str) -> list[str]:
    return _distinct(m.group(1) or m.group(2) or m.group(3) for m in _QUOTED.finditer(text))


def ids(text: str) -> list[str]:
    return _distinct(m.group(0) for m in _ID.finditer(text))


def whole(text: str) -> list[str]:
    """The whole text, stripped (a prompt copied verbatim into a search query)."""
    s = text.strip()
    return [s] if s else []


_NUMBER_ITEM = re.compile(r"-?\d+(?:\.\d+)?")  # the shape of what _NUMBER finds
_ID_ITEM = re.compile(r"(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{3,63}")  # of what _ID finds


def item_kinds(s: str) -> tuple[str, ...]:
    """The kinds an extracted item equal to `s` can be of: a URL holds `://`, a path a slash, a number and an id
    have their regexes' shapes, a quoted string is one line of 1 to 200 characters (so the discovery of a value
    extracts no other kind)."""
    return tuple(kind for kind, fits in (("url", "://" in s), ("path", "/" in s), ("number", _NUMBER_ITEM.fullmatch(s)),
                                         ("quoted", 0 < len(s) <= 200 and "\n" not in s), ("id", _ID_ITEM.fullmatch(s))) if fits)


_DIGIT, _LETTER = re.compile(r"\d"), re.compile(r"[A-Za-z]")


def kinds_inside(s: str) -> tuple[str, ...]:
    """The kinds among path, url and id (a template slot's) whose items can lie inside `s`: a path holds a slash,
    a URL `://` and an id a digit and an ASCII letter."""
    return tuple(kind for kind, fits in (("path", "/" in s), ("url", "://" in s),
                                         ("id", bool(_DIGIT.search(s) and _LETTER.search(s)))) if fits)


EXTRACTORS: dict[str, Callable[[str], list[str]]] = {
    "url": urls,
    "path": paths,
    "number": numbers,
    "quoted": quoted,
    "id": ids,
}
ORDINAL_KINDS = tuple(EXTRACTORS)


def json_fields(text: str) -> dict[str, list[Any]]:
    """Scalar values of a JSON document grouped by key path (`a.b`, `items[].id`), distinct, in order.

    Returns {} for text that is not a JSON object or array.
    """
    s = text.lstrip()
    if not s or s[0] not in "[{":
        return {}
    try:
        doc = orjson.loads(s)
    except orjson.JSONDecodeError:
        return {}
    out: dict[str, dict[Any, Any]] = {}
    _walk_json(doc, "", 0, out)
    return {p: list(b.values()) for p, b in out.items()}


def _walk_json(node: Any, path: str, depth: int, out: dict[str, dict[Any, Any]]) -> None:
    """Add the scalars under `node` to `out` (path -> {(type, value): value}). A module function, not a closure:
    a closure calling itself is a reference cycle, left for the cyclic collector, per document."""
    if depth > MAX_JSON_DEPTH:
        return
    if isinstance(node, dict):
        for k, v in node.items():
            _walk_json(v, f"{path}.{k}" if path else str(k), depth + 1, out)
    elif isinstance(node, list):
        for v in node:
            _walk_json(v, path + "[]", depth + 1, out)
    elif node is not None and path:
        bucket = out.get(path)
        if bucket is None:
            bucket = out[path] = {}
        key = (type(node).__name__, node)
        if key not in bucket and len(bucket) < MAX_ITEMS:
            bucket[key] = node


def match_key(value: Any) -> str | None:
    """The loose form used to discover where a value came from: strings as-is, numbers as JSON text."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return orjson.dumps(value).decode()
    return None


def cast(text: str, how: str) -> Any:
    """An extracted string as the argument type a rule produces (`num` -> JSON number, else string)."""
    if how == "num":
        try:
            v = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    return text
