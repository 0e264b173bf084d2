"""`bpaste serve`: a speculating MCP stdio proxy in front of any MCP server.

The client (Claude Code, Codex, an SDK) talks newline-delimited JSON-RPC to this process on stdin/stdout;
the upstream server runs as a child process through the official `mcp` SDK (`stdio_client`,
`ClientSession`), in its own environment (the proxy never shares its SDK with the server behind it).
`initialize`, `tools/list`, `tools/call` and `ping` are handled; other requests are forwarded as they
are. Results travel as the upstream's JSON, untouched, hit or not. The MCP session is the speculation
session.

Safety: the policy's safety table decides; MCP annotations are hints from a possibly untrusted server,
so `destructiveHint: true` or `readOnlyHint: false` only make a tool less eligible (it is treated as
mutating). `isError` results and results that ask for more input are never speculated into a hit.
With `advertise_read_only`, tools that the policy classes read-only (and no annotation contradicts) are
listed with `readOnlyHint: true`, so clients run them in parallel; opt-in, and said in the log.

Failures: an upstream that exits, hangs (no answer within `timeout` seconds) or sends a malformed
message gives the affected call a JSON-RPC error, one sentence on stderr, and ends all speculation;
after an exit every call is answered with an error at once, never from speculation.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bpaste_cli.runtime.speculator import ResultView, Speculator

log = logging.getLogger("bpaste.serve")

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
UPSTREAM_ERROR = -32000  # the upstream died, hung or answered garbage
STARTUP_S = 30.0  # initialize may take at least this long (servers started through npx or uvx are slow to start)


class UpstreamFailure(Exception):
    """The upstream cannot answer this call (exited, hung, malformed answer): one sentence for the client."""


class McpResultView(ResultView):
    """MCP `CallToolResult`s as JSON: text content for the predictor, `isError` and input requests unservable."""

    def text(self, result: Any) -> str:
        content = result.get("content") if isinstance(result, dict) else None
        if isinstance(content, list) and content and all(isinstance(c, dict) and c.get("type") == "text" for c in content):
            return "\n".join(str(c.get("text", "")) for c in content)
        from bpaste_cli.trace import result_to_text

        return result_to_text(content if content is not None else result)

    def servable(self, result: Any) -> bool:
        if not isinstance(result, dict) or result.get("isError") is True:
            return False
        if result.get("resultType", "complete") != "complete" or "inputRequests" in result:
            return False
        return True


def tool_hints(tools: list[Any]) -> dict[str, str]:
    """Tool name -> "mutating" for tools whose annotations say they write (`destructiveHint: true` or
    `readOnlyHint: false`); other annotations are ignored: hints never make a tool more eligible."""
    out = {}
    for t in tools:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            continue
        ann = t.get("annotations") or {}
        if isinstance(ann, dict) and (ann.get("destructiveHint") is True or ann.get("readOnlyHint") is False):
            out[t["name"]] = "mutating"
    return out


@dataclass
class ServeOptions:
    command: list[str]
    policy: Path | None = None
    log: Path | None = None
    summary: Path | None = None
    timeout: float = 120.0
    advertise_read_only: bool = False
    keep_secrets: bool = False
    allow_unsafe_classes: bool = False  # a policy speculating mutating/unknown calls is refused without it
    env: dict[str, str] | None = None
    cwd: Path | None = None


@dataclass
class _Upstream:
    session: Any = None
    dead: str | None = None  # why, once it cannot answer any more
    calls: set[asyncio.Task] = field(default_factory=set)  # requests waiting on the upstream
    malformed: set[asyncio.Task] = field(default_factory=set)  # ...cancelled because it sent garbage


class Proxy:
    """One MCP session between a client (this process's stdin/stdout) and the upstream child."""

    def __init__(self, options: ServeOptions, policy: Any | None) -> None:
        self.options = options
        self.up = _Upstream()
        self.hints: dict[str, str] = {}
        self.session_id = f"mcp-{uuid.uuid4().hex[:12]}"
        self.spec = Speculator(policy, self._call_upstream, view=McpResultView(), hint=self.hints.get,
                               log_path=options.log, summary_path=options.summary, keep_secrets=options.keep_secrets)
        self._out_lock = asyncio.Lock()
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: dict[Any, asyncio.Task] = {}
        self._told: set[str] = set()
        if options.advertise_read_only:
            text = "tools the policy classes read-only are advertised to the client with readOnlyHint: true"
            self._say(text)
            if self.spec.runlog is not None:
                self.spec.runlog.note(text)

    # -- talking to people and the client -------------------------------------------------------

    def _say(self, sentence: str) -> None:
        """One sentence on stderr, once per distinct sentence."""
        if sentence not in self._told:
            self._told.add(sentence)
            sys.stderr.write(f"bpaste serve: {sentence}\n")
            sys.stderr.flush()

    async def _send(self, message: dict[str, Any]) -> None:
        data = orjson.dumps({"jsonrpc": "2.0"} | message) + b"\n"
        async with self._out_lock:
            assert self._writer is not None
            self._writer.write(data)
            await self._writer.drain()

    async def _reply(self, rid: Any, result: Any) -> None:
        await self._send({"id": rid, "result": result})

    async def _error(self, rid: Any, code: int, message: str, data: Any = None) -> None:
        err: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            err["data"] = data
        await self._send({"id": rid, "error": err})

    # -- the upstream ----------------------------------------------------------------------------

    def _mark_dead(self, why: str) -> None:
        if self.up.dead is None:
            self.up.dead = why
            self._say(why)
            for s in self.spec.sessions.values():
                self.spec.invalidate(s, self.spec.now())

    async def _on_upstream_message(self, message: Any) -> None:
        """Transport exceptions (a line that is not JSON-RPC) fail the calls waiting on the upstream."""
        if isinstance(message, Exception):
            self._say("the upstream server sent a malformed message; the calls waiting on it fail")
            for task in list(self.up.calls):
                self.up.malformed.add(task)
                task.cancel()

    async def _request(self, method: str, params: dict[str, Any] | None) -> dict[str, Any]:
        """Send one request upstream and return its raw JSON result (or raise UpstreamFailure / MCPError)."""
        import mcp_types as types
        from mcp.shared.exceptions import MCPError
        from pydantic import ValidationError

        if self.up.dead is not None:
            raise UpstreamFailure(self.up.dead)
        if method == "tools/call":
            request = types.CallToolRequest(params=types.CallToolRequestParams.model_validate(params or {}))
        elif method == "tools/list":
            request = types.ListToolsRequest(params=types.PaginatedRequestParams.model_validate(params) if params else None)
        else:
            request = types.Request[Any, str](method=method, params=params)
        task = asyncio.current_task()
        assert task is not None
        self.up.calls.add(task)
        try:
            return await self.up.session.send_request(request, _raw(), request_read_timeout_seconds=self.options.timeout)
        except asyncio.CancelledError:
            if task in self.up.malformed:
                self.up.malformed.discard(task)
                task.uncancel()
                raise UpstreamFailure("the upstream server sent a malformed message instead of an answer") from None
            raise
        except ValidationError:
            raise UpstreamFailure(f"the upstream server answered {method} with a malformed result") from None
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                self._mark_dead("the upstream server exited; every further call fails")
                raise UpstreamFailure(self.up.dead) from None
            if exc.code == types.REQUEST_TIMEOUT:
                self._say(f"the upstream server did not answer {method} within {self.options.timeout:g} s")
                raise UpstreamFailure(f"the upstream server did not answer within {self.options.timeout:g} s") from None
            raise
        finally:
            self.up.calls.discard(task)

    async def _call_upstream(self, tool: str, args: Any) -> Any:
        """The Speculator's executor: one tools/call upstream, its raw result."""
        return await self._request("tools/call", {"name": tool, "arguments": args})

    # -- requests from the client ----------------------------------------------------------------

    async def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        import mcp_types as types

        raw = await self._request_initialize(types.InitializeRequestParams.model_validate(params))
        self.up.session.adopt(types.InitializeResult.model_validate(raw))
        await self.up.session.send_notification(types.InitializedNotification())
        return raw

    async def _request_initialize(self, params: Any) -> dict[str, Any]:
        import mcp_types as types

        if self.up.dead is not None:
            raise UpstreamFailure(self.up.dead)
        wait = max(self.options.timeout, STARTUP_S)
        try:
            return await asyncio.wait_for(self.up.session.send_request(types.InitializeRequest(params=params), _raw()), wait)
        except asyncio.TimeoutError:
            self._mark_dead(f"the upstream server did not answer initialize within {wait:g} s")
            raise UpstreamFailure(self.up.dead) from None

    async def _tools_list(self, params: dict[str, Any] | None) -> dict[str, Any]:
        raw = await self._request("tools/list", params)
        tools = raw.get("tools") if isinstance(raw, dict) else None
        if isinstance(tools, list):
            self.hints.update(tool_hints(tools))
            if self.options.advertise_read_only:
                raw = dict(raw)
                raw["tools"] = [self._advertise(t) for t in tools]
        return raw

    def _advertise(self, tool: Any) -> Any:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or tool["name"] in self.hints:
            return tool
        if self.spec.classify(tool["name"], None).safety != "read-only":
            return tool
        ann = dict(tool.get("annotations") or {})
        ann["readOnlyHint"] = True
        return tool | {"annotations": ann}

    async def _handle(self, msg: dict[str, Any]) -> None:
        from mcp.shared.exceptions import MCPError
        from pydantic import ValidationError

        rid, method, params = msg.get("id"), msg.get("method"), msg.get("params")
        try:
            if method == "initialize":
                await self._reply(rid, await self._initialize(params or {}))
            elif method == "ping":
                await self._reply(rid, {})
            elif method == "tools/list":
                await self._reply(rid, await self._tools_list(params))
            elif method == "tools/call":
                if not isinstance(params, dict) or not isinstance(params.get("name"), str):
                    await self._error(rid, INVALID_PARAMS, "tools/call needs params with a tool name")
                    return
                if self.up.dead is not None:
                    raise UpstreamFailure(self.up.dead)
                args = params.get("arguments")
                result = await self.spec.call(self.session_id, params["name"], {} if args is None else args)
                await self._reply(rid, result)
            else:
                await self._reply(rid, await self._request(method, params))
        except UpstreamFailure as exc:
            await self._error(rid, UPSTREAM_ERROR, str(exc))
        except MCPError as exc:
            await self._error(rid, exc.code, exc.message, exc.data)
        except ValidationError as exc:
            await self._error(rid, INVALID_PARAMS, f"{method}: invalid params ({exc.error_count()} problem(s))")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never a traceback at the client: one sentence
            log.debug("handling %s failed", method, exc_info=True)
            await self._error(rid, INTERNAL_ERROR, f"bpaste serve could not handle {method}: {type(exc).__name__}: {exc}")

    async def _dispatch(self, line: bytes) -> None:
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            await self._error(None, PARSE_ERROR, "not a JSON-RPC message (invalid JSON)")
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
            if isinstance(msg, dict) and ("result" in msg or "error" in msg):
                return  # a response to a request the proxy never sends downstream
            await self._error(msg.get("id") if isinstance(msg, dict) else None, INVALID_REQUEST, "not a JSON-RPC request")
            return
        if "id" not in msg:  # a notification
            if msg["method"] == "notifications/cancelled":
                rid = (msg.get("params") or {}).get("requestId")
                task = self._tasks.get(rid)
                if task is not None:
                    task.cancel()
            return
        task = asyncio.get_running_loop().create_task(self._handle(msg))
        self._tasks[msg["id"]] = task
        task.add_done_callback(lambda t, rid=msg["id"]: self._tasks.pop(rid, None))

    # -- running ---------------------------------------------------------------------------------

    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, Any]:
        """Serve until the client closes stdin; returns the counters."""
        from mcp.client.session import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client

        self._writer = writer
        params = StdioServerParameters(command=self.options.command[0], args=self.options.command[1:],
                                       env=self.options.env if self.options.env is not None else dict(os.environ),
                                       cwd=self.options.cwd)
        try:
            async with AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(stdio_client(params))
                self.up.session = await stack.enter_async_context(
                    ClientSession(read, write, message_handler=self._on_upstream_message))
                while True:
                    line = await reader.readline()
                    if not line:
                        break
                    if line.strip():
                        await self._dispatch(line)
                for task in list(self._tasks.values()):
                    task.cancel()
                if self._tasks:
                    await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        finally:
            counters = await self.spec.close()
        return counters


@functools.cache
def _raw() -> Any:
    """A result type for `ClientSession.send_request` that keeps the upstream's JSON as it came."""
    from pydantic import TypeAdapter

    return TypeAdapter(dict[str, Any])


async def _stdio_streams() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def serve(options: ServeOptions) -> dict[str, Any]:
    """Run `bpaste serve` on this process's stdin/stdout; returns the counters when the client leaves."""
    from bpaste_cli.policy import load_policy, unsafe_warning

    policy = None
    if options.policy is not None:
        policy = load_policy(options.policy, allow_unsafe_classes=options.allow_unsafe_classes)
        for warning in unsafe_warning(policy):
            log.warning(warning)
    proxy = Proxy(options, policy)
    reader, writer = await _stdio_streams()
    return await proxy.run(reader, writer)


__all__ = ["McpResultView", "Proxy", "ServeOptions", "serve", "tool_hints"]
