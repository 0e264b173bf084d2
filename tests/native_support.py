"""Test support: small native JSONL sessions whose events and timings are easy to count by hand."""

from __future__ import annotations


def native_session(sid: str, n_steps: int, t0: float = 0.0) -> list[dict]:
    """A user turn, then `n_steps` steps of think 2 s + one 1 s Read call, then a 2 s answer: 2 + 2 * n_steps
    events."""
    lines = [{"session_id": sid, "kind": "user", "t": t0, "text": "start"}]
    t = t0
    for i in range(n_steps):
        t += 2
        lines.append({"session_id": sid, "kind": "llm", "t_end": t})
        lines.append({"session_id": sid, "kind": "tool", "tool": "Read", "args": {"file_path": f"f{i}.py"},
                      "t_start": t, "t_end": t + 1, "result": f"content {i}"})
        t += 1
    lines.append({"session_id": sid, "kind": "llm", "t_end": t + 2, "text": "done"})
    return lines
