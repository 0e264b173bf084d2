"""BFCL multi-turn ground truth: the reference call sequences of the Berkeley Function Calling Leaderboard.

A `possible_answer/BFCL_v*_multi_turn_*.json` file is JSONL, one task per line:
`{"id": ..., "ground_truth": [[call, ...] per turn]}` where each call is a Python call string such as
`cd(folder='document')`. Each line becomes one untimed session `bfcl:<id>`: per turn a user message (its
text taken from the sibling question file `../question/<same name>`, or `../<same name>` as laid out in
the gorilla repo, when one exists) followed by the turn's calls. The ground truth is an ordered sequence
that says nothing about which calls a model could emit together, so every call is its own LLM step (no
parallel batches). Calls have no results (status null). Arguments are the call's literals parsed with
`ast`: keywords by name; a positional argument takes its parameter's name from the benchmark's
function docs (`../func_doc/*.json` or `../multi_turn_func_doc/*.json`, parameters in signature order)
when they name the function unambiguously, so `cd('x')` and `cd(folder='x')` are the same call; without
docs it stays under its position ("0", "1", ...). A call that is not a plain call of literals is
skipped as `unparsable_call`. The question and function-doc files are inputs of the benchmark, not
logs: they are not claimed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Iterator

import orjson

from bpaste_cli.ingest.base import ReadContext, iter_jsonl
from bpaste_cli.trace import SessionBuilder

NAME = "bfcl"
DESCRIPTION = (
    "Berkeley Function Calling Leaderboard multi-turn ground truth (gorilla repo, "
    "bfcl_eval/data/possible_answer/BFCL_v*_multi_turn_*.json); user turns come from the sibling question file."
)
_OPENING = re.compile(rb'\A\{\s*"id"\s*:\s*"[^"\\]*"\s*,\s*"ground_truth"\s*:\s*\[\s*\[')
_INT_LIMIT = 2**63  # the canonical JSON encoder takes 64-bit integers only


def _is_answer(obj: Any) -> bool:
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        return False
    gt = obj.get("ground_truth")
    return isinstance(gt, list) and all(isinstance(t, list) and all(isinstance(c, str) for c in t) for t in gt)


def sniff(head: bytes) -> bool:
    """The first line is a multi-turn answer record: a string `id` and a list of turns of call strings.
    A first line longer than the head is judged by its opening alone."""
    first = head.lstrip().split(b"\n", 1)
    if not first[0]:
        return False
    for text in (first[0], first[0].decode("utf-8", "replace")):
        try:
            return _is_answer(orjson.loads(text))
        except orjson.JSONDecodeError:
            pass
    return len(first) == 1 and _OPENING.match(first[0]) is not None


def _json_value(value: Any) -> Any:
    """A Python literal as a JSON value; raises ValueError for literals JSON has no form for."""
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        if abs(value) >= _INT_LIMIT:
            raise ValueError("integer out of 64-bit range")
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from escapes: replaced, as undecodable bytes are
            value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        if not all(k is None or isinstance(k, (str, int, float)) for k in value):
            raise ValueError("dict key is not a scalar")
        return {_json_value(k) if isinstance(k, str) else str(k): _json_value(v) for k, v in value.items()}
    raise ValueError(f"{type(value).__name__} literal has no JSON form")


def _func_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_func_name(node.value)}.{node.attr}"
    raise ValueError("callee is not a (dotted) name")


def parse_call(text: str) -> tuple[str, dict[str, Any]]:
    """`name(args)` with literal arguments -> (name, args); raises ValueError for anything else."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
        if not isinstance(node, ast.Call):
            raise ValueError("not a call")
        name = _func_name(node.func)
        args: dict[str, Any] = {}
        for i, arg in enumerate(node.args):
            args[str(i)] = _json_value(ast.literal_eval(arg))
        for kw in node.keywords:
            if kw.arg is None:
                raise ValueError("**kwargs")
            if kw.arg in args:
                raise ValueError(f"keyword {kw.arg!r} repeated")
            args[kw.arg] = _json_value(ast.literal_eval(kw.value))
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    return name, args


def _question_file(path: Path) -> Path | None:
    for candidate in (path.parent.parent / "question" / path.name, path.parent.parent / path.name):
        if candidate.is_file() and candidate.resolve() != path.resolve():
            return candidate
    return None


def _questions(path: Path | None) -> dict[str, list[Any]]:
    """id -> turns of the question file. It is the benchmark's input, not the log: a line of it that
    does not parse only leaves that task's user turns without text."""
    out: dict[str, list[Any]] = {}
    if path is None:
        return out
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                obj = orjson.loads(raw.decode("utf-8", "replace"))
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("id"), str) and isinstance(obj.get("question"), list):
                out[obj["id"]] = obj["question"]
    return out


def _parameter_orders(path: Path) -> dict[str, tuple[str, ...]]:
    """Function name -> its parameter names in order, from the function-doc files beside the answers
    (JSONL of {"name", "parameters": {"properties": {...}}}). A name documented with two different
    orders is left out: its positional arguments cannot be named."""
    seen: dict[str, set[tuple[str, ...]]] = {}
    for folder in (path.parent.parent / "func_doc", path.parent.parent / "multi_turn_func_doc"):
        for doc in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            with open(doc, "rb") as fh:
                for raw in fh:
                    try:
                        obj = orjson.loads(raw)
                        props = obj["parameters"]["properties"]
                        if isinstance(obj["name"], str) and isinstance(props, dict):
                            seen.setdefault(obj["name"], set()).add(tuple(props))
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        continue
    return {name: next(iter(orders)) for name, orders in seen.items() if len(orders) == 1}


def name_positional(args: dict[str, Any], order: tuple[str, ...] | None) -> dict[str, Any]:
    """Positional arguments ("0", "1", ...) renamed to their parameters, when every one can be."""
    positional = [k for k in args if k.isdigit()]
    if not positional or order is None:
        return args
    names = {k: order[int(k)] for k in positional if int(k) < len(order)}
    if len(names) < len(positional) or any(n in args for n in names.values()):
        return args
    return {names.get(k, k): v for k, v in args.items()}


def _turn_text(turns: list[Any], k: int) -> str | None:
    if k >= len(turns) or not isinstance(turns[k], list):
        return None
    texts = [
        m["content"]
        for m in turns[k]
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)
    ]
    return "\n".join(texts) if texts else None


def read(path: Path, ctx: ReadContext) -> Iterator[SessionBuilder]:
    questions = _questions(_question_file(path))
    orders = _parameter_orders(path)
    for line, obj in iter_jsonl(ctx):
        if not isinstance(obj, dict):
            ctx.skip(line, "unknown_record", type(obj).__name__)
            continue
        if not isinstance(obj.get("id"), str) or "ground_truth" not in obj:
            ctx.skip(line, "missing_field", "id" if not isinstance(obj.get("id"), str) else "ground_truth")
            continue
        if not isinstance(obj["ground_truth"], list):
            ctx.skip(line, "unknown_record", "ground_truth is not a list of turns")
            continue
        b = ctx.session(f"bfcl:{obj['id']}", NAME)
        turns = questions.get(obj["id"], [])
        for k, calls in enumerate(obj["ground_truth"]):
            if not isinstance(calls, list):
                ctx.skip(line, "unknown_record", f"turn {k} is not a list of calls")
                continue
            b.user(None, _turn_text(turns, k), line)
            for text in calls:
                try:
                    if not isinstance(text, str):
                        raise ValueError(f"{type(text).__name__}, not a call string")
                    name, args = parse_call(text)
                except ValueError as exc:
                    ctx.skip(line, "unparsable_call", f"{str(text)[:80]}: {exc}")
                    continue
                b.llm(None, line=line)
                b.tool_call(None, name, name_positional(args, orders.get(name)), None, line)
        yield b
