"""SWE-agent `.traj` files: one JSON document per run, `{"trajectory": [...], "history": [...], "info": ...}`.

Each trajectory step is one model step that emitted exactly one action (SWE-agent never runs actions in
parallel), and its `observation` is that action's result. The action text is what SWE-agent executed in
its shell, whatever style the model used to express it (a bash block, XML, or function calling whose
arguments SWE-agent renders into this text), so one rule covers every style: tool = the action's first
word (`open`, `edit`, `find_file`, `python`, `submit`, ...), args = `{"command": <action, stripped>}`;
equal commands get equal args across styles. The task is the first non-demonstration user message of
`history`. A file with no trajectory steps (some demonstrations) is read from `history` instead:
assistant messages with an `action`, each followed by its observation message.

Timing: a .traj has no clock. Some files log `execution_time` per step; it is passed on as the call's
logged `duration`, but no timeline is built from it: that would need the model's think time, which is
not logged, and a made-up (zero) think time would turn the session's wall time into tool time only.
Sessions stay untimed. `source_line` is None (steps of one JSON document have no line of their own).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterator

import orjson

from bpaste_cli.ingest.base import ReadContext, content_text, load_json_document
from bpaste_cli.trace import SessionBuilder

NAME = "swe-agent"
DESCRIPTION = (
    "SWE-agent trajectories (`<run dir>/<instance>.traj` under SWE-agent's trajectories/ output folder), "
    "one JSON document per run."
)
# The document opens with its trajectory or history (after an optional "environment" string).
_OPENING = re.compile(rb'\A\s*\{\s*(?:"environment"\s*:\s*"[^"\\]*"\s*,\s*)?"(?:trajectory|history)"\s*:\s*\[')


def sniff(head: bytes) -> bool:
    """A JSON object that opens with a trajectory or history list and has actions in it."""
    return _OPENING.match(head) is not None and b'"action"' in head


def _seconds(value: Any) -> float | None:
    """A logged duration (a number, or a number in a string); None unless finite and non-negative."""
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _model(doc: dict[str, Any]) -> str | None:
    """The model named in the run's own config (`replay_config.agent.model.name`), if any."""
    config = doc.get("replay_config")
    if isinstance(config, str):
        try:
            config = orjson.loads(config)
        except orjson.JSONDecodeError:
            return None
    for key in ("agent", "model", "name"):
        config = config.get(key) if isinstance(config, dict) else None
    return config if isinstance(config, str) else None


def _call(b: SessionBuilder, action: str) -> str | None:
    """The step's action as a call (None for an empty action: the step emitted no command)."""
    command = action.strip()
    if not command:
        return None
    return b.tool_call(None, command.split(None, 1)[0], {"command": command})


def _task(history: list[Any]) -> str | None:
    for m in history:
        if not isinstance(m, dict) or m.get("is_demo"):
            continue
        if m.get("role") == "assistant":
            return None
        if m.get("role") == "user":
            return content_text(m.get("content"))
    return None


def _from_trajectory(b: SessionBuilder, doc: dict[str, Any], ctx: ReadContext, model: str | None) -> None:
    history = doc.get("history")
    task = _task(history) if isinstance(history, list) else None
    if task is not None:
        b.user(None, task)
    for i, step in enumerate(doc["trajectory"]):
        if not isinstance(step, dict):
            ctx.skip(None, "unknown_record", f"trajectory[{i}] is {type(step).__name__}")
            continue
        action = step.get("action")
        if not isinstance(action, str):
            ctx.skip(None, "missing_field", f"trajectory[{i}].action")
            continue
        b.llm(None, model=model, text=content_text(step.get("thought")) or content_text(step.get("response")))
        call_id = _call(b, action)
        observation = step.get("observation")
        if call_id is not None and observation is not None:
            b.tool_result(call_id, None, observation, duration=_seconds(step.get("execution_time")))


def _from_history(b: SessionBuilder, history: list[Any], ctx: ReadContext, model: str | None) -> None:
    pending: str | None = None  # the call waiting for its observation
    for i, m in enumerate(history):
        if not isinstance(m, dict):
            ctx.skip(None, "unknown_record", f"history[{i}] is {type(m).__name__}")
            continue
        role = m.get("role")
        if m.get("is_demo") or role == "system":  # the prompt, not this run
            continue
        if role == "assistant":
            b.llm(None, model=model, text=content_text(m.get("thought")) or content_text(m.get("content")))
            action = m.get("action")
            pending = _call(b, action) if isinstance(action, str) else None
        elif role in ("user", "tool"):
            if pending is not None:
                b.tool_result(pending, None, content_text(m.get("content")) or "")
                pending = None
            elif b.n_steps == 0:
                b.user(None, content_text(m.get("content")))
            else:
                ctx.skip(None, "result_without_call", f"history[{i}]")
        else:
            ctx.skip(None, "unknown_record", f"history[{i}] role={role!r}")


def read(path: Path, ctx: ReadContext) -> Iterator[SessionBuilder]:
    doc = load_json_document(ctx)
    if doc is None:
        return
    trajectory = doc.get("trajectory") if isinstance(doc, dict) else None
    history = doc.get("history") if isinstance(doc, dict) else None
    if not isinstance(trajectory, list) and not isinstance(history, list):
        ctx.skip(None, "unknown_record", "no trajectory or history list")
        return
    # SWE-agent names a run `<run dir>/<instance>.traj`: the pair identifies it
    b = ctx.session(f"swe-agent:{path.resolve().parent.name}/{path.stem}", NAME)
    model = _model(doc)
    if isinstance(trajectory, list) and trajectory:
        _from_trajectory(b, doc, ctx, model)
    elif isinstance(history, list):
        _from_history(b, history, ctx, model)
    yield b
