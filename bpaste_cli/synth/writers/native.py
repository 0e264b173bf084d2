"""bpaste native JSONL (see bpaste_cli/ingest/native.py): one event per line, all sessions in one file."""

from __future__ import annotations

from pathlib import Path

from bpaste_cli.synth.model import Session, Turn
from bpaste_cli.synth.writers.common import Sink, dumps, iso

NAME = "native"
FILE = "sessions.jsonl"


class Writer:
    def __init__(self, directory: Path, sink: Sink) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.fh = open(directory / FILE, "wb")
        self.sink = sink
        sink.files += 1

    def add(self, s: Session) -> None:
        sid = s.session_id
        lines = []
        for it in s.items:
            if isinstance(it, Turn):
                lines.append(dumps({"session_id": sid, "kind": "user", "t": iso(it.t), "text": it.text}))
                continue
            lines.append(dumps({"session_id": sid, "kind": "llm", "t_start": iso(it.t_start), "t_end": iso(it.t_emit),
                                "model": s.model, "tokens_in": it.tokens_in, "tokens_out": it.tokens_out, "text": it.text}))
            for c in it.calls:
                lines.append(dumps({"session_id": sid, "kind": "tool", "tool": c.tool, "args": c.args, "call_id": f"call_{c.token}",
                                    "t_start": iso(c.t_emit), "t_end": iso(c.t_result), "result": c.result, "status": c.status}))
        data = b"\n".join(lines) + b"\n"
        self.fh.write(data)
        self.sink.lines += len(lines)
        self.sink.bytes += len(data)

    def close(self) -> None:
        self.fh.close()
