"""`bpaste serve` against real MCP servers nobody here wrote, each in its own environment (never mocked).

Upstreams: mcp-server-sqlite and mcp-server-git (PyPI), @modelcontextprotocol/server-filesystem (npm),
named by BPASTE_MCP_SQLITE / BPASTE_MCP_GIT / BPASTE_MCP_FILESYSTEM (see tests/serve_support.py); a test
skips with the reason when its server is absent. Results through the proxy are compared as bytes with
the upstream's direct results; safety is checked on the upstream's real state (rows, commits, files).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from serve_support import (
    SAFETY_TOML, SLOW_QUERY, client, dump, env, first_table, make_db, proxied, rows, server, sqlite_session,
)

THINK_S = 0.15
WRITE = "INSERT INTO zeta (name) VALUES ('written')"


def run(coro):
    return asyncio.run(coro)


def bpaste(*args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "bpaste_cli", *args], cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def both(upstream: list[str], calls: list[tuple[str, dict]], *options: str) -> tuple[list[bytes], list[bytes]]:
    """The results of `calls` made directly and through the proxy."""
    out = []
    for command in (upstream, proxied(upstream, *options)):
        async with client(command) as s:
            out.append([dump(await s.call_tool(tool, args)) for tool, args in calls])
    return out[0], out[1]


def test_sqlite_results_through_the_proxy_are_identical_bytes(tmp_path):
    exe = server("sqlite")
    make_db(tmp_path / "a.db", ["alpha", "zeta"])
    calls = [("list_tables", {}), ("describe_table", {"table_name": "alpha"}), ("read_query", {"query": "SELECT * FROM alpha"}),
             ("read_query", {"query": "SELECT nonsense FROM nowhere"})]  # the server's own error text
    direct, proxy = run(both([exe, "--db-path", str(tmp_path / "a.db")], calls, "--log", str(tmp_path / "run.jsonl")))
    assert direct == proxy
    assert b"no such table" in direct[3]
    lines = [orjson.loads(x) for x in (tmp_path / "run.jsonl").read_bytes().splitlines()]
    tools = [x for x in lines if x["kind"] == "tool"]
    assert [t["tool"] for t in tools] == [c[0] for c in calls]
    assert tools[0]["result"] == "[{'name': 'alpha'}, {'name': 'zeta'}]"
    assert all(t["t_end"] >= t["t_start"] for t in tools)


def test_git_and_filesystem_results_through_the_proxy_are_identical_bytes(tmp_path):
    git_exe, fs_exe = server("git"), server("filesystem")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.txt").write_text("hello\n")
    g = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*g, "add", "a.txt"], check=True)
    subprocess.run([*g, "commit", "-qm", "first"], check=True)
    direct, proxy = run(both([git_exe, "--repository", str(repo)],
                             [("git_status", {"repo_path": str(repo)}), ("git_log", {"repo_path": str(repo)})]))
    assert direct == proxy and b"first" in direct[1]
    direct, proxy = run(both([fs_exe, str(repo)], [("list_directory", {"path": str(repo)}),
                                                   ("read_text_file", {"path": str(repo / "a.txt")})]))
    assert direct == proxy and b"hello" in direct[1]


def _log_counts(path: Path) -> dict[str, float]:
    lines = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    spec = [x for x in lines if x["kind"] == "speculative"]
    served = [x for x in lines if x["kind"] == "tool" and x.get("served")]
    return {
        "hits": len(served), "speculative_starts": len(spec),
        "wasted_s": sum(x["t_end"] - x["t_start"] for x in spec if x["outcome"] != "served"),
        "served_records": sum(x["outcome"] == "served" for x in spec),
    }


def test_full_loop_log_ingest_mine_tune_then_serve_hits_and_never_speculate_a_write(tmp_path):
    exe = server("sqlite")
    (tmp_path / "safety.toml").write_text(SAFETY_TOML)

    async def sessions(n: int, tag: str, *options: str, together: int = 4) -> list[list[tuple[str, bytes]]]:
        async def one(i: int):
            db = tmp_path / f"{tag}{i}.db"
            make_db(db, [f"t{i % 3}", "zeta"])
            async with client(proxied([exe, "--db-path", str(db)], *options)) as s:
                return [(tool, dump(res)) for tool, res, _ in await sqlite_session(s, THINK_S, write=WRITE)]

        out = []
        for lo in range(0, n, together):
            out += await asyncio.gather(*(one(i) for i in range(lo, min(n, lo + together))))
        return out

    # 1: no policy: a transparent, logging pass-through
    first = run(sessions(16, "a", "--log", str(tmp_path / "run1.jsonl")))
    assert _log_counts(tmp_path / "run1.jsonl")["speculative_starts"] == 0
    assert _log_counts(tmp_path / "run1.jsonl")["hits"] == 0
    # 2: the live log is a dataset like any other
    bpaste("ingest", "run1.jsonl", "-o", "ds.bpaste", cwd=tmp_path)
    bpaste("mine", "ds.bpaste", "-o", "patterns.bpaste", cwd=tmp_path)
    bpaste("tune", "ds.bpaste", "--patterns", "patterns.bpaste", "-o", "policy.json", "--trials", "8", "--safety",
           "safety.toml", "--device", "laptop", cwd=tmp_path)
    # 3: with the policy, one session after another (each rewrites the summary: the last one stays)
    second = run(sessions(4, "b", "--policy", str(tmp_path / "policy.json"), "--log", str(tmp_path / "run2.jsonl"), "--summary",
                          str(tmp_path / "s2.json"), together=1))
    # every result is what the upstream itself returns for the same database state
    assert second == first[:4]
    summary = orjson.loads((tmp_path / "s2.json").read_bytes())
    logged = _log_counts(tmp_path / "run2.jsonl")
    assert summary["hits"] > 0
    # the summary of the last session equals what its log lines show (the log holds all four sessions)
    lines = [orjson.loads(x) for x in (tmp_path / "run2.jsonl").read_bytes().splitlines()]
    last = lines[-1]["session_id"] if lines[-1].get("session_id") else None
    mine = [x for x in lines if x.get("session_id") == last]
    (tmp_path / "last.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in mine))
    one = _log_counts(tmp_path / "last.jsonl")
    assert (one["hits"], one["speculative_starts"]) == (summary["hits"], summary["speculative_starts"])
    assert one["served_records"] == summary["hits"]
    assert one["wasted_s"] == pytest.approx(summary["wasted_s"], abs=1e-5)
    assert logged["hits"] >= summary["hits"]
    # the write followed a perfect pattern, and ran exactly once per session: never speculatively
    for i in range(4):
        assert rows(tmp_path / f"b{i}.db", "zeta") == 5 + 1
    assert not any(x["tool"] == "write_query" for x in lines if x["kind"] == "speculative")
    # and `bpaste ingest` reads the live log with speculation in it
    bpaste("ingest", "run2.jsonl", "-o", "ds2.bpaste", cwd=tmp_path)


def _pid(path: Path) -> int:
    for _ in range(100):
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError("the upstream never wrote its pid")


def test_a_killed_upstream_fails_the_call_cleanly_and_every_later_one_at_once(tmp_path):
    from mcp.shared.exceptions import MCPError

    from serve_support import with_pidfile

    exe = server("sqlite")
    make_db(tmp_path / "a.db", ["alpha"])
    up = with_pidfile([exe, "--db-path", str(tmp_path / "a.db")], tmp_path / "pid")

    async def go():
        async with client(proxied(up, "--timeout", "20"), timeout=30) as s:
            first = await s.call_tool("list_tables", {})
            os.kill(_pid(tmp_path / "pid"), signal.SIGKILL)
            t = time.perf_counter()
            errors = []
            for _ in range(2):
                with pytest.raises(MCPError) as caught:
                    await s.call_tool("list_tables", {})
                errors.append(caught.value.message)
            return first, errors, time.perf_counter() - t

    first, errors, took = run(go())
    assert "alpha" in dump(first).decode()
    assert all("upstream server exited" in e for e in errors)
    assert took < 10


def test_a_hanging_upstream_times_out_with_a_clean_error(tmp_path):
    from mcp.shared.exceptions import MCPError

    from serve_support import with_pidfile

    exe = server("sqlite")
    make_db(tmp_path / "a.db", ["alpha"])
    up = with_pidfile([exe, "--db-path", str(tmp_path / "a.db")], tmp_path / "pid")

    async def go():
        async with client(proxied(up, "--timeout", "1"), timeout=30) as s:
            await s.call_tool("list_tables", {})
            pid = _pid(tmp_path / "pid")
            os.kill(pid, signal.SIGSTOP)
            try:
                t = time.perf_counter()
                with pytest.raises(MCPError) as caught:
                    await s.call_tool("list_tables", {})
                return caught.value.message, time.perf_counter() - t
            finally:
                os.kill(pid, signal.SIGCONT)

    message, took = run(go())
    assert "did not answer within 1 s" in message
    assert took < 8


def test_a_malformed_answer_fails_that_call_and_the_session_goes_on(tmp_path):
    from mcp.shared.exceptions import MCPError

    from serve_support import GARBLER

    exe = server("sqlite")
    make_db(tmp_path / "a.db", ["alpha"])
    up = [sys.executable, "-c", GARBLER, exe, "--db-path", str(tmp_path / "a.db")]

    async def go():
        async with client(proxied(up, "--timeout", "20"), timeout=30) as s:
            with pytest.raises(MCPError) as caught:
                await s.call_tool("read_query", {"query": "SELECT 'GARBLE' AS x"})
            after = await s.call_tool("list_tables", {})
            return caught.value.message, after

    message, after = run(go())
    assert "malformed" in message
    assert "alpha" in dump(after).decode()
