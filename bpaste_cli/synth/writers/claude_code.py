"""Claude Code session JSONL, as ~/.claude/projects/<project>/<sessionId>.jsonl holds it.

One file per session. Records are written in time order, each with `uuid`, `parentUuid` (the record
before it), `sessionId`, `timestamp`; an assistant message is split into one record per content block
(text, then each tool_use) sharing `message.id`, streamed calls have their own timestamps, and a
call's result (a `user` record with a `tool_result` block and a `toolUseResult`) can arrive between
two tool_use records of the same message, as in real sessions. Each prompt is preceded by a
file-history-snapshot record and each finished turn is followed by a system turn_duration record. Half of the messages open with a
`thinking` block (text and signature), as extended thinking writes them.
"""

from __future__ import annotations

from pathlib import Path

from bpaste_cli.synth.model import Session, Step, Turn
from bpaste_cli.synth.ids import Ids
from bpaste_cli.synth.writers.common import Sink, dumps, iso

NAME = "claude-code"
VERSION = "2.0.76"
THOUGHTS = ("I have what I need; time to answer.", "Next I should look at the result.", "Let me check these in parallel.",
            "Several independent lookups; I can run them together.")


def project_dir(cwd: str) -> str:
    return cwd.replace("/", "-").replace(".", "-")


def _usage(step: Step) -> dict:
    cached = step.tokens_in * 17 // 20
    fresh = step.tokens_in % 7 + 1
    return {"input_tokens": fresh, "cache_creation_input_tokens": step.tokens_in - cached - fresh,
            "cache_read_input_tokens": cached, "output_tokens": step.tokens_out, "service_tier": "standard"}


class Writer:
    def __init__(self, directory: Path, sink: Sink) -> None:
        self.directory = directory
        self.sink = sink

    def add(self, s: Session) -> None:
        ids = Ids(s.session_id, NAME)
        base = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": s.cwd, "sessionId": s.session_id,
                "version": VERSION, "gitBranch": "main" if s.archetype == "coding" else ""}
        # (time, order, record) triples: sorted by time; `order` keeps log order among equal times
        recs: list[tuple[int, int, dict]] = []
        turn_start = 0

        def add(t: int, rec: dict) -> None:
            recs.append((t, len(recs), rec))

        for it in s.items:
            if isinstance(it, Turn):
                turn_start = it.t
                uid = ids.uuid()
                add(it.t, {"type": "file-history-snapshot", "messageId": uid,
                           "snapshot": {"messageId": uid, "trackedFileBackups": {}, "timestamp": iso(it.t)},
                           "isSnapshotUpdate": False})
                add(it.t, base | {"type": "user", "message": {"role": "user", "content": it.text}, "uuid": uid,
                                  "timestamp": iso(it.t), "permissionMode": "default"})
                continue
            msg_id, usage = "msg_01" + ids.token(22), _usage(it)
            request = "req_011" + ids.token(21)
            blocks: list[tuple[int, dict]] = []
            if ids.rng.random() < 0.5:  # extended thinking: a summary and its signature, no event of its own
                blocks.append((it.t_emit, {"type": "thinking", "thinking": THOUGHTS[len(it.calls) % len(THOUGHTS)],
                                           "signature": ids.token(ids.rng.randint(200, 600))}))
            if it.text:
                blocks.append((it.t_emit, {"type": "text", "text": it.text}))
            for c in it.calls:
                blocks.append((c.t_emit, {"type": "tool_use", "id": "toolu_01" + c.token, "name": c.tool, "input": c.args}))
            uuids = []
            for t, block in blocks:
                uuids.append(ids.uuid())
                msg = {"model": s.model, "id": msg_id, "type": "message", "role": "assistant", "content": [block],
                       "stop_reason": None, "stop_sequence": None, "usage": usage}
                add(t, base | {"message": msg, "requestId": request, "type": "assistant",
                               "uuid": uuids[-1], "timestamp": iso(t)})
            first_call = len(blocks) - len(it.calls)
            for k, c in enumerate(it.calls):
                result = c.data if c.data is not None else [{"type": "text", "text": c.result}]
                add(c.t_result, base | {"type": "user", "message": {"role": "user", "content": [
                    {"tool_use_id": "toolu_01" + c.token, "type": "tool_result", "content": c.result,
                     "is_error": c.status == "error"}]}, "uuid": ids.uuid(), "timestamp": iso(c.t_result),
                    "toolUseResult": result, "sourceToolAssistantUUID": uuids[first_call + k]})
            if not it.calls:  # the answer ends the turn
                add(it.t_emit, base | {"type": "system", "subtype": "turn_duration", "durationMs": it.t_emit - turn_start,
                                       "timestamp": iso(it.t_emit), "uuid": ids.uuid(), "isMeta": False})
        recs.sort(key=lambda r: (r[0], r[1]))
        lines, parent = [], None
        for _, _, rec in recs:
            if "parentUuid" in rec:
                rec["parentUuid"] = parent
                parent = rec["uuid"]
            lines.append(dumps(rec))
        self.sink.write_lines(self.directory / project_dir(s.cwd) / f"{s.session_id}.jsonl", lines)

    def close(self) -> None:
        pass
