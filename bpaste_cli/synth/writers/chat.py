"""OpenAI-style chat messages (untimed): one JSON file per session holding the message list.

system, user, assistant messages with `tool_calls` (arguments as a JSON string) and one `tool`
message per call answering it by `tool_call_id`, the shape tau-bench, ToolBench and most agent
frameworks export.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from bpaste_cli.synth.model import Session, Turn
from bpaste_cli.synth.writers.common import Sink

NAME = "chat"


class Writer:
    def __init__(self, directory: Path, sink: Sink) -> None:
        self.directory = directory
        self.sink = sink

    def add(self, s: Session) -> None:
        messages: list[dict] = [{"role": "system", "content": s.system}]
        for it in s.items:
            if isinstance(it, Turn):
                messages.append({"role": "user", "content": it.text})
                continue
            msg: dict = {"role": "assistant", "content": it.text}
            if it.calls:
                msg["tool_calls"] = [{"id": f"call_{c.token}", "type": "function",
                                      "function": {"name": c.tool, "arguments": orjson.dumps(c.args).decode()}} for c in it.calls]
            messages.append(msg)
            messages.extend({"role": "tool", "tool_call_id": f"call_{c.token}", "name": c.tool, "content": c.result}
                            for c in it.calls)
        data = orjson.dumps(messages, option=orjson.OPT_INDENT_2) + b"\n"
        self.sink.write_bytes(self.directory / f"{s.session_id}.json", data, data.count(b"\n"))

    def close(self) -> None:
        pass
