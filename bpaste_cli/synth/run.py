"""The synth verb: write generated sessions in each requested format, one folder per format, atomically and
incrementally (bounded memory), and the committed sample set."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import atomic_directory
from bpaste_cli.synth.generator import ARCHETYPES, generate
from bpaste_cli.synth.model import Session
from bpaste_cli.synth.writers import WRITERS
from bpaste_cli.synth.writers.common import Sink

FORMATS = tuple(WRITERS)
# The committed sample set (`sample_traces/`): (format, sessions, seed) per folder, every archetype,
# a seed of its own per folder so no session appears twice. sample_traces/README.md lists the commands.
SAMPLE_PLAN = (("claude-code", 70, 1), ("codex", 20, 2), ("otlp", 12, 3), ("chat", 20, 4), ("native", 20, 5))


@dataclass
class SynthResult:
    """What `write` produced, per format and in total, and how fast."""

    directory: Path
    sessions: int
    events: int  # user + llm + tool events in the sessions
    tool_calls: int
    llm_steps: int
    formats: dict[str, dict[str, int]]  # format -> files, lines, bytes
    seconds: float

    def summary(self) -> dict:
        total_bytes = sum(f["bytes"] for f in self.formats.values())
        return {
            "directory": str(self.directory),
            "sessions": self.sessions,
            "events": self.events,
            "tool_calls": self.tool_calls,
            "llm_steps": self.llm_steps,
            "formats": self.formats,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.events / self.seconds) if self.seconds else None,
            "mb_per_s": round(total_bytes / 1e6 / self.seconds, 1) if self.seconds else None,
        }


def parse_list(value: str | Iterable[str], known: tuple[str, ...], what: str) -> list[str]:
    """A comma-separated option as a list of known names (one clear error otherwise)."""
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    bad = [v for v in items if v not in known]
    if bad or not items:
        raise BpasteError(f"Unknown {what} {', '.join(bad) or '(none given)'}; choose from {', '.join(known)}.")
    return list(dict.fromkeys(items))


def write(
    sessions: Iterable[Session],
    out: str | Path,
    formats: str | Iterable[str] = ("native",),
    *,
    max_bytes: int | None = None,
) -> SynthResult:
    """Write `sessions` into `out/<format>/` for each format, replacing those folders atomically.

    Sessions are consumed one at a time and written at once, so memory stays bounded whatever their
    number; with `max_bytes`, writing stops after the session that brings the total output past it.
    """
    out = Path(out)
    names = parse_list(formats, FORMATS, "format")
    if out.exists() and not out.is_dir():
        raise BpasteError(f"{out} is a file; synth writes a directory, choose another -o path.")
    sinks = {name: Sink() for name in names}
    counts = {"sessions": 0, "events": 0, "tool_calls": 0, "llm_steps": 0}
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        writers = [WRITERS[n].Writer(stack.enter_context(atomic_directory(out / n)), sinks[n]) for n in names]
        for s in sessions:
            for w in writers:
                w.add(s)
            steps = s.steps
            counts["sessions"] += 1
            counts["events"] += s.n_events
            counts["llm_steps"] += len(steps)
            counts["tool_calls"] += sum(len(st.calls) for st in steps)
            if max_bytes is not None and sum(k.bytes for k in sinks.values()) >= max_bytes:
                break
        for w in writers:
            w.close()
    formats_out = {n: {"files": k.files, "lines": k.lines, "bytes": k.bytes} for n, k in sinks.items()}
    return SynthResult(out, **counts, formats=formats_out, seconds=time.perf_counter() - start)


def write_samples(out: str | Path) -> list[SynthResult]:
    """Write the sample set (`SAMPLE_PLAN`) into `out`: byte-identical to the committed `sample_traces/`."""
    return [write(generate(ARCHETYPES, sessions=n, seed=seed), out, [fmt]) for fmt, n, seed in SAMPLE_PLAN]
