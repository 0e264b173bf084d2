"""Fuzz the readers with mutated real and synthetic logs: ingest never crashes, and nothing vanishes.

JSONL formats: every non-blank line of the mutated file is accounted for. A line that is not JSON must be
counted as skipped (the count is checked exactly, against json.loads run here). A line whose content
the mutation changed must produce an event or be counted as skipped, unless the same line was already
passed over by design in the unmutated file (bookkeeping records, continuation lines of one message).
Whole-document formats: no crash, a document that does not parse counts one `not_json` skip, and a
document that yields no session counts at least one skip.

Real logs are read in place from ../shared/traces (the `shared_traces` fixture skips when absent); the
synthetic ones come from `bpaste_cli.synth`, so the fuzz also runs offline.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bpaste_cli.ingest.base as base
from bpaste_cli.ingest import IngestOptions, ingest
from bpaste_cli.synth import generate, write
from bpaste_cli.trace.dataset import load_dataset

SETTINGS = settings(max_examples=int(os.environ.get("BPASTE_FUZZ_EXAMPLES", "50")),  # 1000 clean locally; more in a nightly run
                    deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
WINDOW = 25  # lines of a real file per example

# format -> real JSONL files (relative to ../shared/traces); a new reader adds one row
REAL_JSONL = {
    "claude-code": ["claude-code-spotter/tool_heavy.jsonl", "claude-code-spotter/short.jsonl",
                    "claude-code-spotter/ae4a77f8-aedd-4bc1-888f-c94edc91af04/subagents/agent-aac57f5.jsonl"],
    "codex": ["codex-localpush/raw/sessions/rollout-2026-02-23T20-34-25-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl",
              "codex-localpush/raw/sessions/rollout-2026-02-23T12-41-04-019c8a4d-8f45-7010-8b5d-7fad920aa6f9.jsonl"],
    "openhands": ["openhands/resolver_mock_output.jsonl"],
}
REAL_DOCUMENTS = {
    "chat": ["mini-swe-agent/local.traj.json", "toolbench/answer/G1_answer/10_ChatGPT_DFS_woFilter_w2.json"],
    "swe-agent": ["swe-agent/trajectories/demonstrations/ctf/crypto/eps.traj"],
    "openhands": ["openhands/trajs/basic.json"],
}
SYNTH_JSONL = {"native": "native/sessions.jsonl", "claude-code": "claude-code/**/*.jsonl", "codex": "codex/**/*.jsonl",
               "otlp": "otlp/traces.jsonl"}
SYNTH_DOCUMENTS = {"chat": "chat/**/*.json"}


@pytest.fixture(autouse=True)
def all_skip_examples(monkeypatch):
    """Keep every skip with its line number (not only the first 200) so lines can be accounted for."""
    monkeypatch.setattr(base, "MAX_EXAMPLES", 10**9)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzz_synth")
    write(generate(("coding", "research", "analysis"), sessions=3, seed=5), out, ["native", "claude-code", "codex", "otlp", "chat"])
    return out


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8", "replace"))
        return True
    except ValueError:
        return False


def run_ingest(lines: list[bytes], fmt: str, trailing_newline: bool = True) -> tuple[dict, set[int], dict[int, str]]:
    """Ingest `lines` as one file: (summary, lines that produced events, skipped line -> reason)."""
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "log.jsonl"
        f.write_bytes(b"\n".join(lines) + (b"\n" if trailing_newline else b""))
        result = ingest([f], Path(tmp) / "ds", options=IngestOptions(format=fmt))
        events = load_dataset(Path(tmp) / "ds", require_events=False).events
        used = set(events["source_line"].drop_nulls().to_list())
    skipped = {s.line: s.reason for s in result.report.examples if s.line is not None}
    return result.summary(), used, skipped


# --- mutations -------------------------------------------------------------------------------------------
def _change_field(raw: bytes, rnd: random.Random, how: str) -> bytes:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    node = obj
    for _ in range(rnd.randint(0, 3)):  # walk down a few levels
        children = [v for v in (node.values() if isinstance(node, dict) else node if isinstance(node, list) else [])
                    if isinstance(v, (dict, list)) and v]
        if not children:
            break
        node = rnd.choice(children)
    if isinstance(node, dict) and node:
        key = rnd.choice(sorted(node))
        if how == "delete":
            del node[key]
        elif how == "duplicate":
            node[key + "_copy"] = node[key]
        else:
            node[key] = rnd.choice([None, 7, -1.5, "x", [], {}, True, "2024-13-45T99:99:99Z"])
    elif isinstance(node, list) and node:
        i = rnd.randrange(len(node))
        if how == "delete":
            del node[i]
        elif how == "duplicate":
            node.insert(i, node[i])
        else:
            node[i] = rnd.choice([None, 7, "x", {}])
    return orjson.dumps(obj)


def mutate(lines: list[bytes], seed: int, n_ops: int) -> tuple[list[bytes], set[int], list[int]]:
    """Mutated lines, the indexes (into the result) whose content changed, and each line's origin index
    (-1 for inserted garbage)."""
    rnd = random.Random(seed)
    items = [(i, raw, False) for i, raw in enumerate(lines)]
    for _ in range(n_ops):
        if not items:
            break
        k = rnd.randrange(len(items))
        origin, raw, changed = items[k]
        op = rnd.choice(["flip", "truncate", "delete", "duplicate", "retype", "drop", "dup_line", "swap", "garbage"])
        if op == "flip" and raw:
            b = bytearray(raw)
            b[rnd.randrange(len(b))] = rnd.randrange(256)
            items[k] = (origin, bytes(b).replace(b"\n", b" "), True)
        elif op == "truncate" and raw:
            items[k] = (origin, raw[: rnd.randrange(len(raw))], True)
        elif op in ("delete", "duplicate", "retype"):
            new = _change_field(raw, rnd, op)
            items[k] = (origin, new, changed or new != raw)
        elif op == "drop":
            del items[k]
        elif op == "dup_line":
            items.insert(k, items[k])
        elif op == "swap":
            j = rnd.randrange(len(items))
            items[k], items[j] = items[j], items[k]
        elif op == "garbage":
            junk = rnd.choice([b"\xff\xfe not json", b"{\"half\": ", b"[1, 2, 3]", b"42", b"null", b"{}",
                               bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40))).replace(b"\n", b"")])
            items.insert(k, (-1, junk, True))
    return [r for _, r, _ in items], {n for n, (_, _, c) in enumerate(items) if c}, [o for o, _, _ in items]


def _consumed_unchanged(lines: list[bytes], mutated: list[bytes], origins: list[int], n: int, fmt: str,
                        trailing_newline: bool) -> bool:
    """Whether line n, restored to its original content in the mutated file, is also passed over by design:
    then its new place (e.g. the middle of a step whose first line starts the event), not its changed
    content, is why it produced nothing of its own."""
    if origins[n] < 0:
        return False
    restored = mutated[:n] + [lines[origins[n]]] + mutated[n + 1:]
    _, used, skipped = run_ingest(restored, fmt, trailing_newline)
    return n + 1 not in used and n + 1 not in skipped


def check_lines(lines: list[bytes], fmt: str, seed: int, n_ops: int, trailing_newline: bool) -> None:
    _, base_used, base_skipped = run_ingest(lines, fmt)
    passed_over = {i for i in range(len(lines)) if i + 1 not in base_used and i + 1 not in base_skipped}
    mutated, changed, origins = mutate(lines, seed, n_ops)
    summary, used, skipped = run_ingest(mutated, fmt, trailing_newline)  # must not raise

    nonblank = [n for n, raw in enumerate(mutated) if raw.strip()]
    not_json = sum(1 for n in nonblank if not _parses(mutated[n].strip()))
    by_reason = summary["skipped_by_reason"]
    assert by_reason.get("not_json", 0) + by_reason.get("truncated_last_line", 0) == not_json, by_reason
    vanished = [n + 1 for n in nonblank
                if n in changed and n + 1 not in used and n + 1 not in skipped
                and not (origins[n] >= 0 and origins[n] in passed_over)
                and not _consumed_unchanged(lines, mutated, origins, n, fmt, trailing_newline)]
    assert not vanished, f"changed lines neither used nor skipped: {vanished[:5]} " + repr(
        [mutated[v - 1][:200] for v in vanished[:2]])


def check_document(data: bytes, fmt: str, seed: int, n_ops: int, suffix: str) -> None:
    rnd = random.Random(seed)
    byte_level = rnd.random() < 0.3
    if byte_level:
        b = bytearray(data)
        for _ in range(n_ops):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        data = bytes(b[: rnd.randrange(len(b) // 2, len(b) + 1)])
    else:
        for _ in range(n_ops):
            data = _change_field(data, rnd, rnd.choice(["delete", "duplicate", "retype"]))
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / f"doc{suffix}"
        f.write_bytes(data)
        result = ingest([f], Path(tmp) / "ds", options=IngestOptions(format=fmt)).summary()  # must not raise
    assert result["skipped_by_reason"].get("not_json", 0) == (0 if _parses(data) else 1), result["skipped_by_reason"]
    if result["sessions"] == 0:
        assert result["skipped_lines"] >= 1, "an unusable document vanished without a skip"


def _window(path: Path, seed: int) -> list[bytes]:
    lines = path.read_bytes().split(b"\n")
    lines = [l for l in lines if l.strip()]
    start = random.Random(seed).randrange(max(1, len(lines) - WINDOW + 1))
    return lines[start: start + WINDOW]


FUZZ = dict(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(1, 8), trailing_newline=st.booleans())


@pytest.mark.parametrize("fmt", list(REAL_JSONL))
@SETTINGS
@given(**FUZZ, pick=st.integers(0, 100))
def test_real_jsonl_lines_are_used_or_skipped(shared_traces, fmt, seed, n_ops, trailing_newline, pick):
    files = REAL_JSONL[fmt]
    check_lines(_window(shared_traces / files[pick % len(files)], seed), fmt, seed, n_ops, trailing_newline)


@pytest.mark.parametrize("fmt", list(REAL_DOCUMENTS))
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(1, 6), pick=st.integers(0, 100))
def test_real_documents_never_crash_or_vanish(shared_traces, fmt, seed, n_ops, pick):
    files = REAL_DOCUMENTS[fmt]
    path = shared_traces / files[pick % len(files)]
    check_document(path.read_bytes(), fmt, seed, n_ops, "".join(path.suffixes))


@pytest.mark.parametrize("fmt", list(SYNTH_JSONL))
@SETTINGS
@given(**FUZZ, pick=st.integers(0, 100))
def test_synthetic_jsonl_lines_are_used_or_skipped(synth_dir, fmt, seed, n_ops, trailing_newline, pick):
    files = sorted(synth_dir.glob(SYNTH_JSONL[fmt]))
    check_lines(_window(files[pick % len(files)], seed), fmt, seed, n_ops, trailing_newline)


@pytest.mark.parametrize("fmt", list(SYNTH_DOCUMENTS))
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(1, 6), pick=st.integers(0, 100))
def test_synthetic_documents_never_crash_or_vanish(synth_dir, fmt, seed, n_ops, pick):
    files = sorted(synth_dir.glob(SYNTH_DOCUMENTS[fmt]))
    check_document(files[pick % len(files)].read_bytes(), fmt, seed, n_ops, ".json")
