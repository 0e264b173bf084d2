"""Support for the `bpaste serve` tests and benchmark: real upstream MCP servers, a scripted MCP client.

The upstreams are installed outside the repository, each in its own environment (`.ci/run` does it), and
named by environment variables holding their executables: BPASTE_MCP_SQLITE (`mcp-server-sqlite`),
BPASTE_MCP_GIT (`mcp-server-git`), BPASTE_MCP_FILESYSTEM (`mcp-server-filesystem`, npm). The client is
the `mcp` SDK's `ClientSession` over a real stdio subprocess: the upstream itself, or `bpaste serve`
in front of it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVERS = {"sqlite": "BPASTE_MCP_SQLITE", "git": "BPASTE_MCP_GIT", "filesystem": "BPASTE_MCP_FILESYSTEM"}

# The scripted workload: tables are listed, the first is described, then a slow read-only query runs
# (a recursive count of 250 000 rows, ~0.15-0.3 s, so the tool takes long enough for speculation to matter)
# and, optionally, a write. mcp-server-sqlite's read_query accepts only statements that start with SELECT
# (anything else is an error result, which is never served), hence the CTE inside a scalar subquery.
SLOW_QUERY = ("SELECT (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 250000) "
              "SELECT count(*) FROM c) AS n")

SAFETY_TOML = """
[tools]
list_tables = { safety = "read-only", resource = "io" }
describe_table = { safety = "read-only", resource = "io" }
read_query = { safety = "read-only", resource = "io" }
write_query = { safety = "mutating", resource = "io" }
create_table = { safety = "mutating", resource = "io" }
append_insight = { safety = "mutating", resource = "io" }
git_status = { safety = "read-only", resource = "io" }
git_log = { safety = "read-only", resource = "io" }
git_add = { safety = "mutating", resource = "io" }
git_commit = { safety = "mutating", resource = "io" }
list_directory = { safety = "read-only", resource = "io" }
read_text_file = { safety = "read-only", resource = "io" }
write_file = { safety = "mutating", resource = "io" }
"""


def server(name: str) -> str:
    """The executable of upstream `name`, or skip the test with the reason."""
    var = SERVERS[name]
    path = os.environ.get(var)
    if not path:
        pytest.skip(f"{var} is not set: install the upstream MCP server in its own environment (as .ci/run does) "
                    "and point the variable at its executable")
    found = shutil.which(path)
    if found is None:
        pytest.skip(f"{var}={path} is not an executable")
    return found


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def proxied(upstream: list[str], *options: str) -> list[str]:
    """The command line of `bpaste serve OPTIONS -- UPSTREAM`."""
    return [sys.executable, "-m", "bpaste_cli", "serve", *options, "--", *upstream]


@asynccontextmanager
async def client(command: list[str], timeout: float = 60.0) -> AsyncIterator[Any]:
    """An initialized `ClientSession` to `command` over stdio."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=command[0], args=command[1:], env=env())
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=timeout) as session:
            await asyncio.wait_for(session.initialize(), timeout)
            yield session


def dump(result: Any) -> bytes:
    """A result as the bytes of its JSON form (what "identical" means in these tests)."""
    return result.model_dump_json(by_alias=True).encode()


def make_db(path: Path, tables: list[str]) -> None:
    con = sqlite3.connect(path)
    for t in tables:
        con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT)")
        con.executemany(f"INSERT INTO {t} (name) VALUES (?)", [(f"{t}-{i}",) for i in range(5)])
    con.commit()
    con.close()


def first_table(list_tables_result: Any) -> str:
    text = list_tables_result.content[0].text
    return text.split("'name': '", 1)[1].split("'", 1)[0]


async def sqlite_session(session: Any, think_s: float, write: str | None = None) -> list[tuple[str, Any, float]]:
    """One scripted agent session: list_tables -> describe_table(first) -> read_query(SLOW_QUERY)
    [-> write_query(write)], with a think pause after each result. Returns (tool, result, seconds waited)."""
    out = []

    async def call(tool: str, args: dict[str, Any]) -> Any:
        t = time.perf_counter()
        res = await session.call_tool(tool, args)
        out.append((tool, res, time.perf_counter() - t))
        await asyncio.sleep(think_s)
        return res

    tables = await call("list_tables", {})
    await call("describe_table", {"table_name": first_table(tables)})
    await call("read_query", {"query": SLOW_QUERY})
    if write is not None:
        await call("write_query", {"query": write})
    return out


def rows(db: Path, table: str) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


# A real upstream whose answers are damaged on the way out: any line holding GARBLE becomes non-JSON.
GARBLER = r"""
import subprocess, sys, threading
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def pump():
    for line in sys.stdin.buffer:
        p.stdin.write(line); p.stdin.flush()
    p.stdin.close()
threading.Thread(target=pump, daemon=True).start()
for line in p.stdout:
    sys.stdout.buffer.write(b"this is not json\n" if b"GARBLE" in line else line)
    sys.stdout.buffer.flush()
"""


def with_pidfile(command: list[str], pidfile: Path) -> list[str]:
    """`command` started through sh, which records its pid (the pid the upstream then has) in `pidfile`."""
    return ["sh", "-c", f'echo $$ > "{pidfile}"; exec "$@"', "sh", *command]


def pinned_policy(directory: Path, dataset: Path, patterns: Path, safety_toml: Path, out: Path, seed: int = 0) -> Path:
    """A policy for the mined `patterns` with B-PASTE pinned on, built by `policy.build_policy` as tune builds
    one (its figures from a replay of the training split of split seed `seed`, the one the patterns were mined
    with), so a safety test does not depend on what a study would pick from a handful of sessions: speculation
    is certainly live."""
    from bpaste_cli import __version__
    from bpaste_cli.device import load_device
    from bpaste_cli.mine import load_predictor, pattern_hash
    from bpaste_cli.policy import build_policy, replay_config, write_policy
    from bpaste_cli.replay import prepare_split, replay
    from bpaste_cli.safety import load_safety
    from bpaste_cli.trace.dataset import load_dataset

    ds, predictor, device, safety = load_dataset(dataset), load_predictor(patterns), load_device("laptop"), load_safety(safety_toml)
    params = {"arm": "bpaste", "slots": 4, "ttl_s": 60.0, "allowed": ["read-only"], "fast_path": False, "beam_width": 3,
              "beam_depth": 2, "rank": "probability", "min_prob": 0.05, "interference_budget": 1.0}
    report = replay(ds, predictor, device=device, safety=safety, config=replay_config(
        params, split="train", seed=seed, bootstrap=0, arms=("serial", "bpaste")))
    keep = ("speedup", "speedup_ci95", "agent_time_s", "serial_agent_time_s", "amplification", "interference_s",
            "wasted_spec_s", "sessions")
    doc = build_policy(
        device=device, parameters=params, safety=safety, predictor=predictor, value_model=None,
        provenance={"bpaste_version": __version__, "dataset": str(dataset), "dataset_hash": ds.hash, "patterns": str(patterns),
                    "pattern_hash": pattern_hash(predictor), "seed": seed, "storage": "none", "study": "pinned", "trial": 0,
                    "objectives": ["speedup"], "constraints": {"max_interference": 1.0, "max_amplification": 10.0},
                    "selection": "pinned by the test"},
        validation={"split": "validation", "sessions": report.sessions_replayed,
                    "policy": {k: report.arms["bpaste"][k] for k in keep},
                    "serial": {k: report.arms["serial"][k] for k in keep}, "baselines": {}},
        trials={"complete": 0, "rows": [], "pareto": []},
        latency=prepare_split(ds, "train", seed, safety).stats,
    )
    write_policy(out, doc)
    return out
