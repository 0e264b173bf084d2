"""The runtime: `policy.json` in a running agent (the wall clock of ARCHITECTURE.md §3).

`Speculator` sits between an agent and its tools: real calls go through `await spec.call(session, tool,
args)`; when a batch of results has been returned (the model now thinks) the policy's arm plans
speculative calls, and a later real call with the same identity is served from them. `bpaste serve`
(`runtime.proxy`) puts a Speculator in front of any MCP server. `runtime.planning` is the wall-clock
planning context through which replay's arm objects plan live; `runtime.runlog` writes the native
JSONL run log that `bpaste ingest` reads; `runtime.langgraph` is LangGraph's tool hook (optional extra).
"""

from bpaste_cli.runtime.speculator import COUNTER_KEYS, ResultView, Speculator

__all__ = ["COUNTER_KEYS", "ResultView", "Speculator"]
