"""bpaste native JSONL (see bpaste_cli/ingest/native.py): one event per line, all sessions in one file."""

from __future__ import annotations

from bpaste_cli.synth.model import Session, Turn
from bpaste_cli.synth.writers.common import OneFileWriter, dumps, iso

NAME = "native"
FILE = "sessions.jsonl"


class Writer(OneFileWriter):
    FILE = FILE

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
        self.append(lines)
