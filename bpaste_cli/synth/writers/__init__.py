"""One writer per output format: `Writer(directory, sink)`, `.add(session)` per session, `.close()`."""

from __future__ import annotations

from types import ModuleType

from bpaste_cli.synth.writers import chat, claude_code, codex, native, otlp

WRITERS: dict[str, ModuleType] = {m.NAME: m for m in (native, claude_code, codex, chat, otlp)}
