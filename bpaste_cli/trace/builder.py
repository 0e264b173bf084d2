"""SessionBuilder: the one place where log records become schema-v1 events with timing semantics.

Readers only translate their format's records into calls of this class, in log order:
`user(...)` for a human message, `llm(...)` for a model step, `tool_call(...)` for each call the current
step emitted, `tool_result(...)` when a result arrives. Times are absolute epoch seconds (or None for
untimed logs). `finish_columns()` (or `finish()`, its row-wise view) then derives, identically for every format:

- a step's think window: from the moment its inputs were complete (latest result, user message or
  previous step output seen before its emission) to its emission;
- a call's latency: from emission to result (or the logged execution duration, when the log has one);
- human time as `user` events: user turns (from the agent's last activity to the message), idle gaps
  (a think window longer than `idle_threshold_s`: nobody thinks for that long, a person was away) and
  approval waits (result arrival later than emission + logged duration; or, with no logged duration,
  a call whose result took longer than `idle_threshold_s`, whose run time then counts as unknown and
  zero). Human time is never part of the agent's critical path.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import orjson

from bpaste_cli.trace.canonical import args_hash, canonical_json, short_hash
from bpaste_cli.trace.schema import EVENTS_SCHEMA

APPROVAL_MIN_S = 1.0
EPOCH_FLOOR = 1e8  # times below this are relative seconds, not epoch: the session has no absolute start
MAX_ABS_TIME = 32_503_680_000.0  # 3000-01-01 in epoch seconds: a time beyond it (or a non-finite one) is a bad record

# The columns an event sets itself, in the schema's order; the session's own columns and `seq` are added per session.
_ROW_FIELDS = tuple(n for n in EVENTS_SCHEMA.names if n not in ("session_id", "parent_session_id", "seq", "source_format", "source_file"))


@dataclass(frozen=True)
class Limits:
    """How much text an event keeps, and when a think window counts as a person being away."""

    max_result_chars: int = 8192
    max_text_chars: int = 2000
    idle_threshold_s: float = 900.0


def _scrub_value(value: Any, scrub: Callable[[str], str]) -> Any:
    """`value` with secrets replaced in every string, mapping keys included (a token can be a key)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {(scrub(k) if isinstance(k, str) else k): _scrub_value(v, scrub) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(v, scrub) for v in value]
    return value


def result_to_text(result: Any) -> str:
    """A tool result as text: strings as they are, structured results as canonical JSON."""
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    return canonical_json(result)


class SessionBuilder:
    """Collects one session's records in log order and turns them into event rows."""

    def __init__(
        self,
        session_id: str,
        source_format: str,
        source_file: str,
        *,
        parent_session_id: str | None = None,
        parent_call_id: str | None = None,
        limits: Limits = Limits(),
        scrub: Callable[[str], str] | None = None,
        may_hold_secret: Callable[[str], bool] | None = None,
        on_bad: Callable[[int | None, str, str], None] | None = None,
    ) -> None:
        """`on_bad(line, reason, detail)` hears of each record dropped here: a time that is not finite or
        beyond `MAX_ABS_TIME` (`bad_time`), arguments or a result nested too deep to store (`too_deep`).
        `may_hold_secret(text)`, when given, is False only for texts that `scrub` leaves as they are, in
        whole and in every piece: arguments whose canonical JSON it clears are not walked string by string."""
        self.session_id = session_id
        self.source_format = source_format
        self.source_file = source_file
        self.parent_session_id = parent_session_id
        self.parent_call_id = parent_call_id
        self.limits = limits
        self._scrub = scrub
        self._may_hold_secret = may_hold_secret
        self._items: list[dict[str, Any]] = []  # user / llm / tool records in log order
        self._calls: dict[str, dict[str, Any]] = {}
        self._on_bad = on_bad
        self._step = -1
        self._cur: dict[str, Any] | None = None  # the current llm step, None after a user message
        self._dropped: set[str] = set()  # calls dropped as bad records: their results are not reported again
        self.copied_history = False  # a reader's mark: a resumed session's copy of an older session's records

    # -- recording -------------------------------------------------------------------------------

    @property
    def n_steps(self) -> int:
        return self._step + 1

    @property
    def empty(self) -> bool:
        return not self._items

    @property
    def n_records(self) -> int:
        return len(self._items)

    def _bad(self, line: int | None, reason: str, detail: str) -> None:
        if self._on_bad is not None:
            self._on_bad(line, reason, detail)

    def _time_ok(self, line: int | None, name: str, t: float | None) -> bool:
        """Whether the time `name` is usable (None, or finite within `MAX_ABS_TIME`: NaN fails every
        comparison); a bad one drops the record (reported as `bad_time`)."""
        if t is None or -MAX_ABS_TIME <= t <= MAX_ABS_TIME:
            return True
        self._bad(line, "bad_time", f"{name}={t!r}")
        return False

    def has_call(self, call_id: str) -> bool:
        return call_id in self._calls

    def _text(self, text: str | None) -> str | None:
        if text is None:
            return None
        cut = text[: self.limits.max_text_chars + 256]
        if self._scrub:
            cut = self._scrub(cut)
        return cut[: self.limits.max_text_chars]

    def user(self, t: float | None, text: str | None = None, line: int | None = None) -> None:
        """A human message arrived at time `t`."""
        if not self._time_ok(line, "t", t):
            return
        self._items.append({"kind": "user", "t": t, "text": self._text(text), "line": line})
        self._cur = None

    def llm(
        self,
        t_emit: float | None,
        *,
        t_start: float | None = None,
        line: int | None = None,
        model: str | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        text: str | None = None,
        estimated: bool = False,
    ) -> int:
        """A model step that produced its output (first call or answer) at `t_emit`; returns its index.

        `t_start` is given only by logs that record when the step began (e.g. a span or a logged
        response latency); otherwise the think window starts when the step's inputs were complete.
        A step with a bad time is dropped: the calls that follow it get an estimated step.
        """
        if not (self._time_ok(line, "t_emit", t_emit) and self._time_ok(line, "t_start", t_start)):
            self._cur = None
            return self._step
        self._step += 1
        self._cur = {
                "kind": "llm",
                "t": t_emit,
                "t_start": t_start,
                "line": line,
                "model": model,
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "text": self._text(text),
                "step": self._step,
                "estimated": estimated,
                "n_calls": 0,
                "group": 0,  # calls of one step run one after another: the index of the current group
        }
        self._items.append(self._cur)
        return self._step

    def amend_llm(
        self,
        *,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        text: str | None = None,
        model: str | None = None,
    ) -> None:
        """Add to the current step what a later record of the same model message carries."""
        step = self._cur
        if step is None:
            return
        if tokens_in is not None:
            step["tokens_in"] = tokens_in
        if tokens_out is not None:
            step["tokens_out"] = tokens_out
        if model is not None and step["model"] is None:
            step["model"] = model
        if text:
            joined = (step["text"] + "\n" + text) if step["text"] else text
            step["text"] = self._text(joined)

    def tool_call(
        self,
        call_id: str | None,
        tool: str,
        args: Any,
        t_emit: float | None = None,
        line: int | None = None,
        *,
        after_previous: bool = False,
    ) -> str:
        """The current step emitted a call; a call with no step before it gets an estimated step.

        `after_previous`: the call was emitted only once the step's previous call had returned (the
        step's calls ran one after another), so it starts a batch of its own. Returns the call's id.
        """
        if not self._time_ok(line, "t_emit", t_emit):
            self._dropped.add(call_id or "")
            return call_id or ""
        if self._cur is None:
            self.llm(t_emit, line=line, estimated=True)
        step = self._cur
        assert step is not None
        if call_id is None or call_id in self._calls:
            call_id = f"{self.session_id}#s{step['step']}c{step['n_calls']}"
        try:
            args_json = self._args_json(args)
        except (RecursionError, orjson.JSONEncodeError) as exc:
            self._bad(line, "too_deep", f"{tool} arguments: {exc}")
            self._dropped.add(call_id)
            return call_id
        if after_previous and step["n_calls"]:
            step["group"] += 1
        item = {
            "kind": "tool",
            "t": t_emit if t_emit is not None else step["t"],
            "line": line,
            "call_id": call_id,
            "tool": tool,
            "args_json": args_json,
            "step": step["step"],
            "result": None,
            "result_hash": None,
            "status": None,
            "arrival": None,
            "duration": None,
            "group": step["group"],
        }
        step["n_calls"] += 1
        self._items.append(item)
        self._calls[call_id] = item
        return call_id

    def _args_json(self, args: Any) -> str:
        """The canonical JSON of the scrubbed arguments. Every string and key of `args` is in their
        canonical JSON as it is, up to JSON's escapes (quote, backslash, control characters), which none
        of what `may_hold_secret` looks for holds: when the whole text clears it, scrubbing changes nothing."""
        if self._scrub is None:
            return canonical_json(args)
        if self._may_hold_secret is not None:
            try:
                text = canonical_json(args)
            except (RecursionError, orjson.JSONEncodeError):
                pass  # the walk below meets the same problem and reports it
            else:
                if not self._may_hold_secret(text):
                    return text
        return canonical_json(_scrub_value(args, self._scrub))

    def tool_result(
        self,
        call_id: str,
        t: float | None,
        result: Any,
        *,
        status: str = "ok",
        duration: float | None = None,
    ) -> str | None:
        """The result of `call_id` arrived at `t`. Returns None, or the reason it could not be used (a
        bad time or a result too deep to store is reported through `on_bad` and returns None)."""
        item = self._calls.get(call_id)
        if item is None:
            return None if call_id in self._dropped else "result_without_call"
        if item["status"] is not None:
            return "duplicate_result"
        if not (self._time_ok(item["line"], "t", t) and self._time_ok(item["line"], "duration", duration)):
            return None
        try:
            text = result_to_text(result)
        except (RecursionError, orjson.JSONEncodeError) as exc:
            self._bad(item["line"], "too_deep", f"{item['tool']} result: {exc}")
            return None
        item["result_hash"] = short_hash(text)
        cut = text[: self.limits.max_result_chars + 256]
        if self._scrub:
            cut = self._scrub(cut)
        item["result"] = cut[: self.limits.max_result_chars]
        item["status"] = "error" if status == "error" else "ok"
        item["arrival"] = t
        item["duration"] = duration if duration is not None and duration >= 0 else None
        return None

    # -- finishing -------------------------------------------------------------------------------

    def finish(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The session row and its event rows (one dict per event, every column of the schema): the
        columns of `finish_columns` turned row-wise, for callers that read events one at a time."""
        session, columns = self.finish_columns()
        names = list(columns)
        return session, [dict(zip(names, values)) for values in zip(*columns.values())]

    def finish_columns(self) -> tuple[dict[str, Any], dict[str, Sequence[Any]]]:
        """The session row and its events as columns (name -> values, in the schema's column order), times
        in seconds from the session's start. Columns, not one dict per event: the dataset stores columns,
        and splitting rows back into them cost as much as building them."""
        known = [it["t"] for it in self._items if it["t"] is not None]
        known += [it["t_start"] for it in self._items if it["kind"] == "llm" and it["t_start"] is not None]
        t0 = min(known) if known else None
        timed = t0 is not None

        def rel(t: float | None) -> float | None:
            return None if t is None or t0 is None else t - t0

        rows: list[tuple[Any, ...]] = []  # one tuple of `_ROW_FIELDS` per event
        frontier: float | None = None  # latest moment the agent had something to react to
        last_activity: float | None = None  # latest end of anything the agent did

        def bump(current: float | None, t: float | None) -> float | None:
            if t is None:
                return current
            return t if current is None or t > current else current

        def wait(t_start: float | None, t_end: float | None, text: str | None, line: int | None, reason: str) -> None:
            rows.append((line, "user", None, None, None, None, None, None, None, None, None,
                         rel(t_start), rel(t_end), False, None, None, None, text, reason))

        batches = self._batches()

        pending_arrivals: list[float] = []
        next_step_start: dict[int, float | None] = {}
        llm_items = [it for it in self._items if it["kind"] == "llm"]
        for a, b in zip(llm_items, llm_items[1:]):
            next_step_start[a["step"]] = b["t"]

        for it in self._items:
            kind = it["kind"]
            if kind == "user":
                t = it["t"]
                # results that arrived before this message are inputs too
                for arr in [x for x in pending_arrivals if t is not None and x <= t]:
                    last_activity = bump(last_activity, arr)
                start = last_activity if last_activity is not None and t is not None and last_activity < t else t
                wait(start, t, it["text"], it["line"], "turn")
                frontier = bump(frontier, t)
                last_activity = bump(last_activity, t)
            elif kind == "llm":
                t_emit = it["t"]
                arrived = [x for x in pending_arrivals if t_emit is not None and x <= t_emit]
                pending_arrivals = [x for x in pending_arrivals if not (t_emit is not None and x <= t_emit)]
                for arr in arrived:
                    frontier = bump(frontier, arr)
                    last_activity = bump(last_activity, arr)
                estimated = it["estimated"]
                if it["t_start"] is not None:
                    start = it["t_start"]
                    if frontier is not None and start - frontier > self.limits.idle_threshold_s:
                        # the step began long after its inputs were complete: a person was away
                        wait(frontier, start, None, it["line"], "idle")
                elif t_emit is not None and frontier is not None and frontier <= t_emit:
                    start = frontier
                else:
                    start = t_emit
                    estimated = estimated or (t_emit is not None and frontier is not None)
                if t_emit is not None and start is not None and t_emit - start > self.limits.idle_threshold_s:
                    wait(start, t_emit, None, it["line"], "idle")
                    start, estimated = t_emit, True
                rows.append((it["line"], "llm", it["step"], it["step"], None, None, None, None, None, None, None,
                             rel(start), rel(t_emit), bool(estimated), it["model"], it["tokens_in"], it["tokens_out"],
                             it["text"], None))
                frontier = bump(frontier, t_emit)
                last_activity = bump(last_activity, t_emit)
            else:
                t_emit = it["t"]
                arrival = it["arrival"]
                estimated = False
                status = it["status"]
                if status is None:  # no result logged: the agent stopped waiting when it moved on
                    arrival = next_step_start.get(it["step"]) or t_emit
                    if arrival is not None and t_emit is not None and arrival < t_emit:
                        arrival = t_emit
                    estimated = True
                end = arrival
                approval = None
                if it["duration"] is not None and t_emit is not None:
                    end = t_emit + it["duration"]
                    if arrival is not None and arrival - end > APPROVAL_MIN_S:
                        approval = (end, arrival)
                    elif arrival is None:
                        arrival = end
                elif (
                    arrival is not None
                    and t_emit is not None
                    and arrival - t_emit > self.limits.idle_threshold_s
                ):
                    # No logged run time and a wait longer than anyone thinks or any tool usually runs:
                    # a person was asked (approval prompts). The run time is unknown; count none of the
                    # wait as tool time (conservative: speculation cannot hide a person's answer).
                    end, estimated = t_emit, True
                    approval = (t_emit, arrival)
                if end is not None and t_emit is not None and end < t_emit:
                    end, estimated = t_emit, True
                rows.append((it["line"], "tool", it["step"], batches[(it["step"], it["group"])], it["call_id"], it["tool"],
                             it["args_json"], args_hash(it["args_json"]), it["result"], it["result_hash"], status,
                             rel(t_emit), rel(end), estimated, None, None, None, None, None))
                if approval is not None:
                    wait(approval[0], approval[1], None, it["line"], "approval")
                if arrival is not None:
                    pending_arrivals.append(arrival)
        for arr in pending_arrivals:
            last_activity = bump(last_activity, arr)

        columns = self._columns(rows)
        return self._session_row(columns, t0, timed), columns

    def _columns(self, rows: list[tuple[Any, ...]]) -> dict[str, Sequence[Any]]:
        """Every column of the schema, in its order: the rows' fields, the session's own columns, `seq`."""
        n = len(rows)
        fields = dict(zip(_ROW_FIELDS, zip(*rows))) if n else dict.fromkeys(_ROW_FIELDS, ())
        own = {
            "session_id": self.session_id,
            "parent_session_id": self.parent_session_id,
            "source_format": self.source_format,
            "source_file": self.source_file,
        }
        return {
            name: (range(n) if name == "seq" else (own[name],) * n if name in own else fields[name])
            for name in EVENTS_SCHEMA.names
        }

    def _batches(self) -> dict[tuple[int, int], int]:
        """The batch of each (step, group of calls): calls emitted together share one. A step's last
        group has the step's index (the next step waits for it); the earlier groups of a step whose calls
        ran one after another are numbered after the last step."""
        last_group: dict[int, int] = {}
        for it in self._items:
            if it["kind"] == "tool":
                last_group[it["step"]] = it["group"]
        batches: dict[tuple[int, int], int] = {}
        extra = self.n_steps
        for step, last in sorted(last_group.items()):
            for group in range(last):
                batches[(step, group)] = extra
                extra += 1
            batches[(step, last)] = step
        return batches

    def _session_row(self, columns: dict[str, Sequence[Any]], t0: float | None, timed: bool) -> dict[str, Any]:
        wall = None  # the latest end
        human = 0  # time in user events
        n_llm = 0
        per_step: Counter = Counter()  # calls per step
        models: Counter = Counter()
        for kind, step, t_start, t_end, model in zip(
            columns["kind"], columns["step"], columns["t_start"], columns["t_end"], columns["model"]
        ):
            if t_end is not None and (wall is None or t_end > wall):
                wall = t_end
            if kind == "tool":
                per_step[step] += 1
            elif kind == "llm":
                n_llm += 1
                if model:
                    models[model] += 1
            elif t_end is not None and t_start is not None:
                human += t_end - t_start
        return {
            "session_id": self.session_id,
            "parent_session_id": self.parent_session_id,
            "parent_call_id": self.parent_call_id,
            "source_format": self.source_format,
            "source_file": self.source_file,
            "started_at": t0 if t0 is not None and t0 > EPOCH_FLOOR else None,
            "timed": timed,
            "model": models.most_common(1)[0][0] if models else None,
            "n_events": len(columns["seq"]),
            "n_llm_steps": n_llm,
            "n_tool_calls": sum(per_step.values()),
            "n_parallel_steps": sum(1 for n in per_step.values() if n >= 2),
            "wall_s": wall,
            "human_wait_s": human if timed else None,
            "agent_time_s": (wall - human) if wall is not None else None,
        }
