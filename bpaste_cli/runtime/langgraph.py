"""LangGraph's tool hook: a `ToolNode`'s tool calls go through a Speculator (`pip install 'bpaste[langgraph]'`).

`speculating_tool_call(spec, tools)` returns an `awrap_tool_call` for `ToolNode(tools, awrap_tool_call=...)`
(and so for `create_react_agent`-style graphs built on it): each call the model emits is a real call of
`spec` (served from speculation on exact identity), and the Speculator runs the same tool objects
speculatively, with the arguments the policy predicts. One hook is one speculation session (one
conversation thread); results keep LangGraph's form (a `ToolMessage` with the tool's output as content).

Tools whose arguments LangGraph injects (state, store, the runtime) are not speculable — their input is
not the model's call — so the hook hands them to `execute` untouched, as it does any tool it was not given.
LangGraph is an optional dependency, imported only here.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Sequence

import orjson

from bpaste_cli.runtime.speculator import Speculator


def _content(output: Any) -> Any:
    """A tool's output as ToolMessage content: text and content blocks as they are, anything else as JSON."""
    if isinstance(output, str) or (isinstance(output, list) and all(isinstance(x, (str, dict)) for x in output)):
        return output
    try:
        return orjson.dumps(output).decode()
    except TypeError:
        return str(output)


def _injects(tool: Any) -> bool:
    """The tool takes arguments the model does not write (LangGraph's injected state, store or runtime):
    its full input schema has fields the schema shown to the model (`tool_call_schema`) lacks."""
    try:
        full = set(tool.get_input_schema().model_fields)
        shown = tool.tool_call_schema
        seen = set(shown.model_fields) if hasattr(shown, "model_fields") else set(shown.get("properties") or ())
        return full != seen or "runtime" in full
    except Exception:  # an unusual schema: leave the tool to LangGraph
        return True


def speculating_tool_call(spec: Speculator, tools: Sequence[Any], session: str = "default"
                          ) -> Callable[[Any, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]:
    """An `awrap_tool_call` hook for LangGraph's `ToolNode` that calls `tools` (LangChain tools) through `spec`."""
    from langchain_core.messages import ToolMessage

    by_name = {t.name: t for t in tools if not _injects(t)}

    def runner(tool: Any) -> Callable[..., Awaitable[Any]]:
        async def run(**kwargs: Any) -> Any:
            return await tool.ainvoke(kwargs)

        return run

    through = spec.wrap({name: runner(t) for name, t in by_name.items()}, session=session)

    async def hook(request: Any, execute: Callable[[Any], Awaitable[Any]]) -> Any:
        call = request.tool_call
        fn = through.get(call["name"])
        if fn is None or not isinstance(call.get("args"), dict):
            return await execute(request)
        output = await fn(**call["args"])
        return ToolMessage(content=_content(output), name=call["name"], tool_call_id=call["id"])

    return hook
