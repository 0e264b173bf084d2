"""Codex CLI rollout JSONL, as ~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl holds it.

One file per session: a `session_meta` record; per user turn `event_msg` task_started and
user_message (plus the `response_item` user message and a `turn_context`); per model step, mostly a
reasoning summary, then the assistant `message` and its `function_call`s (arguments as a JSON string,
`call_id`) followed by an `event_msg` token_count; each `function_call_output` when its result
arrives. Codex emits a step's calls together, so they share the step's timestamp. Shell (`Bash`)
outputs open with Codex's `Exit code: N / Wall time: S seconds / Output:` header; the wall time is
the command's own run time from that emission, so a call that first waited for approval shows the
wait as the difference.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from bpaste_cli.synth.model import Session, Turn
from bpaste_cli.synth.ids import Ids
from bpaste_cli.synth.writers.common import Sink, dumps, iso

NAME = "codex"
CLI_VERSION = "0.46.0"
CONTEXT_WINDOW = 272000
REASONING = ("**Writing the answer**", "**Checking the result**", "**Running independent lookups together**",
             "**Batching the remaining reads**")


def _rec(t: int, kind: str, payload: dict) -> dict:
    return {"timestamp": iso(t), "type": kind, "payload": payload}


class Writer:
    def __init__(self, directory: Path, sink: Sink) -> None:
        self.directory = directory
        self.sink = sink

    def add(self, s: Session) -> None:
        ids = Ids(s.session_id, NAME)
        t0 = s.items[0].t if isinstance(s.items[0], Turn) else s.items[0].t_start
        recs: list[tuple[int, int, dict]] = []

        def add(t: int, kind: str, payload: dict) -> None:
            recs.append((t, len(recs), _rec(t, kind, payload)))

        add(t0, "session_meta", {"id": s.session_id, "timestamp": iso(t0), "cwd": s.cwd, "originator": "codex_cli_rs",
                                 "cli_version": CLI_VERSION, "source": "cli", "model_provider": "openai",
                                 "base_instructions": {"text": s.system}})
        total = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0, "reasoning_output_tokens": 0, "total_tokens": 0}
        turn_id = ""
        for it in s.items:
            if isinstance(it, Turn):
                turn_id = ids.uuid()
                add(it.t, "event_msg", {"type": "task_started", "turn_id": turn_id, "model_context_window": CONTEXT_WINDOW})
                add(it.t, "response_item", {"type": "message", "role": "user", "content": [{"type": "input_text", "text": it.text}]})
                add(it.t, "event_msg", {"type": "user_message", "message": it.text, "images": []})
                add(it.t, "turn_context", {"turn_id": turn_id, "cwd": s.cwd, "approval_policy": "on-request",
                                           "sandbox_policy": {"type": "workspace-write"}, "model": s.openai_model,
                                           "effort": "medium", "summary": "auto"})
                continue
            t = it.t_emit
            if ids.rng.random() < 0.7:  # reasoning summary plus the encrypted reasoning itself
                summary = REASONING[len(it.calls) % len(REASONING)]
                add(t, "event_msg", {"type": "agent_reasoning", "text": summary})
                add(t, "response_item", {"type": "reasoning", "summary": [{"type": "summary_text", "text": summary}],
                                         "content": None, "encrypted_content": ids.token(ids.rng.randint(400, 2000))})
            if it.text:
                add(t, "event_msg", {"type": "agent_message", "message": it.text})
                add(t, "response_item", {"type": "message", "role": "assistant",
                                         "content": [{"type": "output_text", "text": it.text}]})
            for c in it.calls:
                add(t, "response_item", {"type": "function_call", "name": c.tool,
                                         "arguments": orjson.dumps(c.args).decode(), "call_id": f"call_{c.token}"})
            cached = it.tokens_in * 4 // 5
            last = {"input_tokens": it.tokens_in, "cached_input_tokens": cached, "output_tokens": it.tokens_out,
                    "reasoning_output_tokens": it.tokens_out // 3, "total_tokens": it.tokens_in + it.tokens_out}
            total = {k: total[k] + v for k, v in last.items()}
            add(t, "event_msg", {"type": "token_count", "info": {"total_token_usage": total, "last_token_usage": last,
                                                                 "model_context_window": CONTEXT_WINDOW}, "rate_limits": None})
            for c in it.calls:
                out = c.result
                if c.tool == "Bash":
                    code = 1 if c.status == "error" else 0
                    body = out.removeprefix("Exit code 1\n")
                    out = f"Exit code: {code}\nWall time: {(c.t_result - t - c.approval_ms) / 1000:.3f} seconds\nOutput:\n{body}"
                add(c.t_result, "response_item", {"type": "function_call_output", "call_id": f"call_{c.token}", "output": out})
            if not it.calls:
                add(t, "event_msg", {"type": "task_complete", "turn_id": turn_id, "last_agent_message": it.text})
        recs.sort(key=lambda r: (r[0], r[1]))
        stamp = iso(t0)[:19].replace(":", "-")
        path = self.directory / stamp[:4] / stamp[5:7] / stamp[8:10] / f"rollout-{stamp}-{s.session_id}.jsonl"
        self.sink.write_lines(path, [dumps(r[2]) for r in recs])

    def close(self) -> None:
        pass
