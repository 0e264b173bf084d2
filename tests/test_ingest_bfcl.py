"""BFCL multi-turn ground-truth reader: the real file (read in place), call-string parsing, malformed lines."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bpaste_cli.ingest import bfcl, swe_agent
from bpaste_cli.ingest.base import ReadContext, SkipReport
from bpaste_cli.ingest.bfcl import parse_call
from bpaste_cli.trace.builder import Limits
from bpaste_cli.trace.canonical import canonical_json

ANSWER = "BFCL_v4_multi_turn_base.json"

# -- hand-made inputs (invented content) ------------------------------------------------------------

ANSWERS = [
    {"id": "task_a", "ground_truth": [["open_door(room='hall')", "light(on=True, level=3)"], [], ["say('bye')"]]},
    {"id": "task_b", "ground_truth": [["wait(seconds=-1.5)"]]},
]
QUESTIONS = [
    {"id": "task_a", "question": [[{"role": "user", "content": "Open the hall and light it"}], [],
                                  [{"role": "user", "content": "Say goodbye"}]], "initial_config": {}},
    {"id": "task_b", "question": [[{"role": "system", "content": "s"}, {"role": "user", "content": "Hold on"}]]},
]


def _jsonl(path: Path, records, *, raw_lines: list[bytes] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(json.dumps(r).encode() + b"\n" for r in records) + b"".join(raw_lines)
    path.write_bytes(data)
    return path


def _tools(ds):
    return ds.events.filter(pl.col("kind") == "tool")


# -- real log -------------------------------------------------------------------------------------


def test_real_ground_truth_counts(shared_traces, ingest_paths):
    folder = shared_traces / "bfcl-multi-turn"
    result, ds = ingest_paths([folder])
    # Independent counts, run once with jq and grep over the raw files:
    #   jq -s 'length' possible_answer/*.json                              -> 200 tasks
    #   jq -s '[.[].ground_truth | length] | add' possible_answer/*.json   -> 734 turns
    #   jq -s '[.[].ground_truth[] | length] | add' possible_answer/*.json -> 1142 calls
    #   jq -r '.ground_truth[][]' ... | grep -cE '^[A-Za-z_][A-Za-z_0-9]*\(.*\)$' -> 1142 (all well formed)
    assert result.sessions == 200
    assert result.tool_calls == 1142 and result.llm_steps == 1142  # one call per step
    assert result.report.total == 0
    assert ds.sessions["n_parallel_steps"].sum() == 0
    users = ds.events.filter(pl.col("kind") == "user")
    assert users.height == 734
    # jq -s '[.[].question | length] | add' question/*.json -> 734, none of them empty: every turn has text
    assert users["text"].null_count() == 0
    assert _tools(ds)["status"].null_count() == 1142  # ground truth has no results
    assert not ds.sessions["timed"].any()
    # only the answer file is a log: the question file and the 12 function docs are not claimed
    statuses = {Path(f["path"]).parent.name + "/" + Path(f["path"]).name: f["status"] for f in result.files}
    assert statuses["possible_answer/" + ANSWER] == "ingested"
    assert statuses["question/" + ANSWER] == "unrecognised"
    assert sum(1 for k, v in statuses.items() if k.startswith("func_doc/") and v == "unrecognised") == 12


def test_real_argument_shapes(shared_traces, ingest_paths):
    _, ds = ingest_paths([shared_traces / "bfcl-multi-turn" / "possible_answer" / ANSWER])
    args = _tools(ds)["args_json"]
    # jq -r '.ground_truth[][]' | grep -c '()$'                             -> 101 calls without arguments
    # ... | grep -E '^\w+\([^=()]*(,|\)$)' | grep -v '()' | wc -l           -> 40 with a positional first argument
    assert (args == "{}").sum() == 101
    # the 40 are get_zipcode_based_on_city x26, cd, mean, post_tweet (with tags and mentions), displayCarStatus
    # x2 each, sort, touch, message_login, fillFuelTank, get_stock_info, get_available_stocks x1 (Python's ast
    # over the answer file), and func_doc names each one's first parameter: none stays positional
    assert not args.str.contains('"0":', literal=True).any()
    tools = _tools(ds)
    zip_args = tools.filter(pl.col("tool") == "get_zipcode_based_on_city")["args_json"]
    assert zip_args.str.starts_with('{"city":').all()
    assert tools.filter(pl.col("tool") == "post_tweet")["args_json"].str.contains('"content":', literal=True).all()


def test_sniff_on_real_files(shared_traces):
    folder = shared_traces / "bfcl-multi-turn"
    for path in sorted(folder.rglob("*.json")):
        head = path.read_bytes()[: 64 * 1024]
        assert bfcl.sniff(head) == (path.parent.name == "possible_answer"), path
        assert not swe_agent.sniff(head)


# -- hand-made files --------------------------------------------------------------------------------


def test_turns_user_text_and_calls(tmp_path, ingest_paths):
    answer = _jsonl(tmp_path / "possible_answer" / ANSWER, ANSWERS)
    _jsonl(tmp_path / "question" / ANSWER, QUESTIONS)
    result, ds = ingest_paths([answer])
    assert result.report.total == 0
    a = ds.events.filter(pl.col("session_id") == "bfcl:task_a")
    assert a.select("kind", "step", "tool", "args_json", "status", "text", "source_line").rows() == [
        ("user", None, None, None, None, "Open the hall and light it", 1),
        ("llm", 0, None, None, None, None, 1),
        ("tool", 0, "open_door", '{"room":"hall"}', None, None, 1),
        ("llm", 1, None, None, None, None, 1),
        ("tool", 1, "light", '{"level":3,"on":true}', None, None, 1),
        ("user", None, None, None, None, None, 1),  # a turn with no calls still is a turn
        ("user", None, None, None, None, "Say goodbye", 1),
        ("llm", 2, None, None, None, None, 1),
        ("tool", 2, "say", '{"0":"bye"}', None, None, 1),
    ]
    b = ds.events.filter(pl.col("session_id") == "bfcl:task_b")
    assert b["text"].to_list()[0] == "Hold on"  # only user messages, not the system one
    assert b["source_line"].to_list() == [2, 2, 2]
    assert ds.events["t_start"].null_count() == ds.events.height  # untimed


def test_positional_arguments_take_their_names_from_function_docs(tmp_path, ingest_paths):
    answer = _jsonl(tmp_path / "possible_answer" / ANSWER, [
        {"id": "t", "ground_truth": [["say('hi')", "say(text='hi')", "post('x', tags=['#a'])", "pair(1, 2, 3)",
                                      "twice('a')"]]}])
    docs = [{"name": "say", "parameters": {"properties": {"text": {}}}},
            {"name": "post", "parameters": {"properties": {"content": {}, "tags": {}}}},
            {"name": "pair", "parameters": {"properties": {"a": {}, "b": {}}}},  # 3 positional, 2 names: kept
            {"name": "twice", "parameters": {"properties": {"a": {}}}}]
    _jsonl(tmp_path / "func_doc" / "api.json", docs)
    _jsonl(tmp_path / "func_doc" / "other_api.json", [{"name": "twice", "parameters": {"properties": {"b": {}}}}])
    _, ds = ingest_paths([answer])
    assert _tools(ds)["args_json"].to_list() == [
        '{"text":"hi"}', '{"text":"hi"}', '{"content":"x","tags":["#a"]}', '{"0":1,"1":2,"2":3}',
        '{"0":"a"}',  # documented twice with different parameters: ambiguous, left positional
    ]


def test_question_file_in_gorilla_layout_and_absent(tmp_path, ingest_paths):
    # gorilla keeps the questions at data/<name> and the answers at data/possible_answer/<name>
    answer = _jsonl(tmp_path / "data" / "possible_answer" / ANSWER, ANSWERS[1:])
    _jsonl(tmp_path / "data" / ANSWER, QUESTIONS[1:])
    _, ds = ingest_paths([answer])
    assert ds.events.filter(pl.col("kind") == "user")["text"].to_list() == ["Hold on"]
    lone = _jsonl(tmp_path / "elsewhere" / ANSWER, ANSWERS[1:])
    _, ds = ingest_paths([lone])
    assert ds.events.filter(pl.col("kind") == "user")["text"].to_list() == [None]


def test_bad_lines_are_skipped_and_counted(tmp_path, ingest_paths):
    records = [
        {"id": "ok_1", "ground_truth": [["a(x=1)", "b(y=z)", "c(**opts)", 5, "d()"]]},
        [1, 2],
        {"id": "no_truth"},
        {"ground_truth": [["a()"]]},
        {"id": "flat", "ground_truth": "a()"},
        {"id": "bad_turn", "ground_truth": ["a()", ["b()"]]},
    ]
    raw = [b"{not json}\n", b"\n", b'{"id": "cut", "ground_truth": [["a(x=']
    path = _jsonl(tmp_path / ANSWER, records, raw_lines=raw)
    result, ds = ingest_paths([path], format="bfcl")
    assert dict(result.report.by_reason) == {
        "unparsable_call": 3,  # b(y=z): a name, not a literal; c(**opts); 5: not a string
        "unknown_record": 3,  # a list; ground_truth not a list; a turn that is not a list
        "missing_field": 2,  # no ground_truth; no id
        "not_json": 1,
        "truncated_last_line": 1,
    }
    assert sorted(ds.sessions["session_id"].to_list()) == ["bfcl:bad_turn", "bfcl:ok_1"]
    assert _tools(ds)["tool"].to_list() == ["a", "d", "b"]


def test_empty_file_and_non_utf8(tmp_path, ingest_paths):
    empty = tmp_path / "empty" / ANSWER
    empty.parent.mkdir()
    empty.write_bytes(b"")
    result, _ = ingest_paths([empty], format="bfcl")
    assert result.sessions == 0 and result.report.total == 0
    raw = tmp_path / "raw" / ANSWER
    raw.parent.mkdir()
    raw.write_bytes(b'{"id": "u", "ground_truth": [["say(text=\'caf\xe9\')"]]}\n')
    result, ds = ingest_paths([raw])
    assert result.report.total == 0
    assert _tools(ds)["args_json"].to_list() == ['{"text":"caf\ufffd"}']


def test_huge_line(tmp_path, ingest_paths):
    blob = "x" * 2_000_000
    path = _jsonl(tmp_path / ANSWER, [{"id": "big", "ground_truth": [[f"write(data='{blob}')"] * 2]}])
    result, ds = ingest_paths([path])
    assert result.report.total == 0 and result.tool_calls == 2
    assert _tools(ds)["args_hash"].n_unique() == 1


@pytest.mark.parametrize(
    "head, claimed",
    [
        (b'{"id": "t_1", "ground_truth": [["f(a=1)"], []]}\n', True),
        (b'\n\n{"id": "t_1", "ground_truth": []}\n', True),
        (b'{"id": "t_1", "question": [[{"role": "user", "content": "hi"}]], "initial_config": {}}\n', False),
        (b'{"name": "f", "description": "d", "parameters": {"type": "dict", "properties": {}}}\n', False),
        (b'{"id": "simple_0", "ground_truth": [{"f": {"a": [1]}}]}\n', False),  # single-turn answers
        (b'{"session_id": "s", "kind": "llm"}\n', False),  # native
        (b'[{"task_id": 0, "traj": []}]', False),  # tau-bench
        (b'{"answer_generation": {"valid_data": true}}', False),  # ToolBench
        (b'{"type": "user", "sessionId": "abc"}\n', False),  # Claude Code
        (b'{"id": "t_1", "ground_truth": [["f(a=1)", "g(s=\'' + b"x" * 70_000, True),  # a line longer than the head
        (b'{"id": "t_1", "ground_truth": [["f(a=1)"]\n{"id": 2}\n', False),  # a complete first line that is broken
        (b'{"id": "t_1", "ground_truth": [{"f": {"a": [' + b"1, " * 30_000, False),  # long single-turn answer
        (b"", False),
    ],
)
def test_sniff(head, claimed):
    assert bfcl.sniff(head) is claimed


# -- the call-string parser --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, name, args",
    [
        ("cd(folder='docs')", "cd", {"folder": "docs"}),
        ("  echo(content=\"it's, quoted: \\\"x\\\"\", file_name='a, b.txt')  ",
         "echo", {"content": 'it\'s, quoted: "x"', "file_name": "a, b.txt"}),
        ("mean(numbers=[1, 2.5, -3])", "mean", {"numbers": [1, 2.5, -3]}),
        ("book(info={'seat': {'row': 7, 'ok': True}, 'tags': ['a', ('b', 'c')]})", "book",
         {"info": {"seat": {"row": 7, "ok": True}, "tags": ["a", ["b", "c"]]}}),
        ("move(dx=-4, dy=-0.5, dz=+2)", "move", {"dx": -4, "dy": -0.5, "dz": 2}),
        ("ls(a=True, b=False, c=None)", "ls", {"a": True, "b": False, "c": None}),
        ("post('hello', 3, tags=['#x'])", "post", {"0": "hello", "1": 3, "tags": ["#x"]}),
        ("Api.sub.call(x=1)", "Api.sub.call", {"x": 1}),
        ("logout()", "logout", {}),
        ("f(s='multi\\nline')", "f", {"s": "multi\nline"}),
        ("f(d={1: 'int key'})", "f", {"d": {"1": "int key"}}),
        ("f(s='\\ud800')", "f", {"s": "\ufffd"}),  # a lone surrogate cannot be stored: replaced
    ],
)
def test_parse_call(text, name, args):
    assert parse_call(text) == (name, args)


@pytest.mark.parametrize(
    "text",
    [
        "f(x=y)", "f(x=1+2)", "f(**k)", "f(*a)", "f(a=1, a=2)", "f(x={1, 2})", "f(x=b'raw')",
        "f(x=...)", "f(x=1j)", "f(x=99999999999999999999)", "f(x=10**3)", "x", "f(", "g()()",
        "f(x=1); g()", "lambda: 0", "", "f(x=[" + "[" * 300 + "]" * 301 + ")", "f(x=" + "9" * 5000 + ")",
    ],
)
def test_parse_call_rejects(text):
    with pytest.raises(ValueError):
        parse_call(text)


# -- properties -------------------------------------------------------------------------------------

_identifier = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s not in {"if", "in", "is", "or", "and", "as", "def", "del", "for", "not", "try", "with", "from",
                        "else", "elif", "pass", "class", "while", "yield", "break", "raise", "async", "await",
                        "global", "import", "lambda", "return", "assert", "except", "finally", "continue",
                        "nonlocal", "match", "case"}
)
_literal = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=15),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300)
@given(name=_identifier, kwargs=st.dictionaries(_identifier, _literal, max_size=5),
       positional=st.lists(_literal, max_size=3))
def test_calls_from_random_literals_round_trip(name, kwargs, positional):
    parts = [repr(v) for v in positional] + [f"{k}={v!r}" for k, v in kwargs.items()]
    got_name, got_args = parse_call(f"{name}({', '.join(parts)})")
    expected = {str(i): v for i, v in enumerate(positional)} | kwargs
    assert got_name == name
    assert canonical_json(got_args) == canonical_json(expected)


@settings(max_examples=400)
@given(base=st.sampled_from(["cd(folder='x')", "post('a', tags=['#b'], n=-2)", "f(d={'k': [1, {'z': None}]})"]),
       cut=st.integers(0, 40), insert=st.text(max_size=6))
def test_mutated_call_strings_never_crash(base, cut, insert):
    text = base[:cut] + insert + base[cut + len(insert) // 2 :]
    try:
        name, args = parse_call(text)
    except ValueError:
        return
    assert isinstance(name, str) and name
    canonical_json(args)  # whatever parses can be stored


_CALLS = ["cd(folder='x')", "f(1, k=[True, None])", "g(x=y)", "h(", 7, None, ["nested()"]]
_record = st.builds(
    lambda i, gt: json.dumps({"id": f"t{i}", "ground_truth": gt}),
    st.integers(0, 99),
    st.lists(st.one_of(st.lists(st.sampled_from(_CALLS), max_size=3), st.sampled_from(_CALLS)), max_size=3),
)
_mutated_line = st.one_of(
    _record,
    st.builds(lambda line, cut: line[:cut], _record, st.integers(0, 60)),
    st.builds(lambda line, at, junk: line[:at] + junk + line[at:], _record, st.integers(0, 60), st.text(max_size=4)),
    st.builds(json.dumps, _literal),
)


def _parses(text: str) -> bool:
    try:
        parse_call(text)
    except ValueError:
        return False
    return True


def _expected(data: bytes) -> tuple[int, int, int]:
    """(sessions, calls, skips) by the rules in the module docstring, counted the plain way: every
    non-blank line is a session or one skip, every call string of a session is a call or one skip."""
    sessions = calls = skips = 0
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw.strip())  # the reader strips what JSON does not call whitespace too (\f, \v)
        except orjson.JSONDecodeError:
            skips += 1
            continue
        if not (isinstance(obj, dict) and isinstance(obj.get("id"), str) and isinstance(obj.get("ground_truth"), list)):
            skips += 1
            continue
        sessions += 1
        for turn in obj["ground_truth"]:
            if not isinstance(turn, list):
                skips += 1
                continue
            for call in turn:
                ok = isinstance(call, str) and _parses(call)  # the parser itself is tested above
                calls, skips = calls + ok, skips + (not ok)
    return sessions, calls, skips


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_mutated_line, min_size=1, max_size=8))
@example(lines=['\x0c{"id": "t0", "ground_truth": []}'])  # a form feed before the object: the line is still read
def test_mutated_lines_never_crash_and_are_all_accounted_for(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("m") / ANSWER
    path.write_bytes("\n".join(lines).encode("utf-8") + b"\n")
    report = SkipReport()
    ctx = ReadContext(path=path, display=path.name, report=report, limits=Limits(), scrub=None)
    builders = list(bfcl.read(path, ctx))
    sessions, calls, skips = _expected(path.read_bytes())
    assert (len(builders), sum(b.n_steps for b in builders), report.total) == (sessions, calls, skips)
    for b in builders:
        b.finish()
