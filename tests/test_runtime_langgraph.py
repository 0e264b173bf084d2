"""The README's LangGraph example, run for real: a `ToolNode` whose tool calls go through a Speculator.

Skips with the reason when the optional extra (`pip install 'bpaste[langgraph]'`) is absent; `.ci/run`
installs it. The model is replaced by the tool calls it would emit (AIMessages), so the graph's own tool
execution is what runs; the policy is the toy chain policy of test_runtime (list -> read(its result)).
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("langgraph", reason="the optional extra is not installed: pip install 'bpaste[langgraph]'")

from langchain_core.messages import AIMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import InjectedState, ToolNode  # noqa: E402
from typing_extensions import Annotated  # noqa: E402

from bpaste_cli.runtime import Speculator  # noqa: E402
from bpaste_cli.runtime.langgraph import speculating_tool_call  # noqa: E402
from test_runtime import toy_policy  # noqa: E402

RAN: list[tuple[str, dict]] = []


@tool
async def start() -> str:
    """Begin."""
    RAN.append(("start", {}))
    return "go"


@tool("list")
async def list_files() -> str:
    """The one file there is."""
    RAN.append(("list", {}))
    await asyncio.sleep(0.05)
    return "a.txt"


@tool
async def read(path: str) -> str:
    """A file's contents."""
    RAN.append(("read", {"path": path}))
    await asyncio.sleep(0.05)
    return f"contents of {path}"


@tool
async def peek(path: str, state: Annotated[dict, InjectedState]) -> str:
    """A tool whose state LangGraph injects: never speculated, run by LangGraph itself."""
    RAN.append(("peek", {"path": path}))
    return f"{path}: {len(state['messages'])} messages"


def step(name: str, args: dict, i: int) -> dict:
    return {"messages": [AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call{i}"}])]}


def test_a_langgraph_tool_node_serves_speculated_results():
    RAN.clear()

    async def go():
        tools = [start, list_files, read, peek]
        spec = Speculator(toy_policy("bpaste"))
        graph = StateGraph(MessagesState)
        graph.add_node("tools", ToolNode(tools, awrap_tool_call=speculating_tool_call(spec, tools)))
        graph.add_edge(START, "tools")
        graph.add_edge("tools", END)
        app = graph.compile()
        out = []
        for i, (name, args) in enumerate([("start", {}), ("list", {}), ("read", {"path": "a.txt"}), ("peek", {"path": "b"})]):
            result = await app.ainvoke(step(name, args, i))
            out.append(result["messages"][-1])
            await asyncio.sleep(0.3)  # the model thinks: list, then read(a.txt) below it, run speculatively
        return out, await spec.close()

    messages, counters = asyncio.run(go())
    assert [m.content for m in messages] == ["go", "a.txt", "contents of a.txt", "b: 1 messages"]
    assert [m.tool_call_id for m in messages] == ["call0", "call1", "call2", "call3"]
    assert RAN == [("start", {}), ("list", {}), ("read", {"path": "a.txt"}), ("peek", {"path": "b"})]  # each once
    assert (counters["real_calls"], counters["hits"]) == (3, 2)  # peek went to LangGraph, not the Speculator


def test_the_readme_example_runs():
    import re
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    readme = (repo / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme[readme.index("With LangGraph"):], re.S).group(1)
    done = subprocess.run([sys.executable, "-c", block], cwd=repo, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(readme)), "1"]  # the whole file came back through one real call
