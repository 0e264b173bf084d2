"""The run log: a live run as bpaste native JSONL, so `bpaste ingest RUN.jsonl` reads it like any log.

Per session: an `llm` line when a new batch of calls starts (`t_start`: when the previous batch's last
result was returned, i.e. the model began thinking; `t_end`: the batch's first emission), then one `tool`
line per real call with its emission and result times, arguments and result, cut and scrubbed exactly as
ingest cuts and scrubs them (`visible`), and `served` (`completed_reuse`, `inflight_promotion` or null).
Every speculative start adds a `speculative` line with its outcome (`served`, `wasted`, `cancelled`) and
its start and end; ingest reads those as bookkeeping (not events, not skipped lines): they are there
for the run's own accounting. Each line is one write, flushed, so a killed run leaves whole
lines. Times are epoch seconds.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson

from bpaste_cli.errors import BpasteError
from bpaste_cli.ingest.secrets import scrub
from bpaste_cli.trace.builder import Limits, _scrub_value, result_to_text
from bpaste_cli.trace import canonical_json

LIMITS = Limits()


def visible_args(args: Any, keep_secrets: bool = False) -> Any:
    """The arguments as a dataset holds them (secret-shaped values replaced)."""
    return args if keep_secrets else _scrub_value(args, scrub)


def visible_result(text: str, keep_secrets: bool = False, limit: int = LIMITS.max_result_chars) -> str:
    """A result text as a dataset holds it: cut, scrubbed, cut (as `SessionBuilder.tool_result` does)."""
    cut = text[: limit + 256]
    if not keep_secrets:
        cut = scrub(cut)
    return cut[:limit]


def visible_args_json(args: Any, keep_secrets: bool = False) -> str:
    return canonical_json(visible_args(args, keep_secrets))


class RunLog:
    """Appends native JSONL lines to `path` (created or appended to)."""

    def __init__(self, path: Path, *, keep_secrets: bool = False, max_result_chars: int = LIMITS.max_result_chars) -> None:
        self.path = Path(path)
        self.keep_secrets = keep_secrets
        self.max_result_chars = max_result_chars
        try:
            self._fh = open(self.path, "ab")
        except OSError as exc:
            raise BpasteError(f"Cannot write the run log {self.path} ({exc.strerror}); pass a writable --log path.") from None
        self._lock = threading.Lock()

    def _write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS) + b"\n"
        with self._lock:
            if not self._fh.closed:
                self._fh.write(line)
                self._fh.flush()

    def llm(self, session: str, t_end: float, t_start: float | None) -> None:
        rec: dict[str, Any] = {"session_id": session, "kind": "llm", "t_end": t_end}
        if t_start is not None:
            rec["t_start"] = t_start
        self._write(rec)

    def tool(self, session: str, *, call_id: str, tool: str, args: Any, t_start: float, t_end: float, result: Any,
             status: str, duration: float | None, served: str | None) -> None:
        rec: dict[str, Any] = {
            "session_id": session, "kind": "tool", "tool": tool, "call_id": call_id,
            "args": visible_args(args, self.keep_secrets), "t_start": t_start, "t_end": t_end,
            "result": visible_result(result_to_text(result), self.keep_secrets, self.max_result_chars),
            "status": status, "served": served,
        }
        if duration is not None:
            rec["duration"] = duration
        self._write(rec)

    def speculative(self, session: str, *, tool: str, args: Any, depth: int, prob: float, t_start: float, t_end: float,
                    outcome: str) -> None:
        self._write({
            "session_id": session, "kind": "speculative", "tool": tool, "args": visible_args(args, self.keep_secrets),
            "depth": depth, "prob": prob, "t_start": t_start, "t_end": t_end, "outcome": outcome,
        })

    def note(self, text: str) -> None:
        """A line for people reading the log (ingest skips it: it has no session)."""
        self._write({"kind": "note", "text": text})

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()
