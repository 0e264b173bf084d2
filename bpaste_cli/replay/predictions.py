"""Predictions for replay, memoized: the cursor of a session is fed lazily and each answer is cached.

What a predictor answers at a decision point depends only on the real session prefix (and, inside a
beam, on the hypothetical path: each node's call and the result it observed), never on the arm or its
knobs. So answers are cached per predictor by (session, step, path) and reused by every later replay
of the same sessions (tuning replays them thousands of times); a warm replay never touches the
predictor. Every question is asked with the argument beam K_MAX wide, so the top k of an answer is the
answer at k (`PatternPredictor.candidates`): only as many candidates as asked are ranked (fewer need less
search), and only those at or above the least probability the planner uses (`at_least`: its threshold); a
question for more than the cached answer holds (a larger k, a lower probability) asks again, for what both need.
"""

from __future__ import annotations

import weakref
from typing import Any

from bpaste_cli.mine import Candidate, Event, PredictorCursor

K_MAX = 8  # the argument beam's width, and the most candidates asked (k above is clamped); the runtime's too: one ranking
MAX_ENTRIES = 2_000_000
_CACHES: weakref.WeakKeyDictionary[Any, AnswerCache] = weakref.WeakKeyDictionary()

PathKey = tuple[tuple[str, str, str | None], ...]


class AnswerCache:
    """A predictor's answers, one dict per session (by its fingerprint): a real decision point's answer under
    its step, a beam path's under (step, path key), as (k asked, least probability asked, answer); at most
    MAX_ENTRIES answers in all."""

    __slots__ = ("sessions", "entries")

    def __init__(self) -> None:
        self.sessions: dict[tuple, dict[Any, tuple[int, float, tuple[Candidate, ...]]]] = {}
        self.entries = 0


def cache_for(predictor: Any) -> AnswerCache | None:
    """The shared answer cache of `predictor` (None if it cannot be weakly referenced)."""
    try:
        cache = _CACHES.get(predictor)
        if cache is None:
            cache = _CACHES[predictor] = AnswerCache()
        return cache
    except TypeError:
        return None


class PredictionSource:
    """One session's predictions: at the real decision points and after hypothetical beam paths."""

    def __init__(self, predictor: Any, trace: Any, cache: AnswerCache | None) -> None:
        self._predictor = predictor
        self._trace = trace
        self._cache = cache if cache is not None else AnswerCache()
        self._cursor: PredictorCursor | None = None
        self._fed = 0
        self._forks: dict[tuple[int, PathKey], PredictorCursor] = {}
        self._forks_step = -1
        # the same session id ingested differently (other options, other logs) must not share answers
        fingerprint = (trace.session_id, len(trace.nodes), trace.wall, trace.agent_time)
        answers = self._cache.sessions.get(fingerprint)
        if answers is None:
            answers = self._cache.sessions[fingerprint] = {}
        self._answers = answers

    def _root_cursor(self, upto: int) -> PredictorCursor:
        if self._cursor is None:
            self._cursor = self._predictor.cursor_for(self._trace)
        nodes = self._trace.nodes
        for i in range(self._fed, upto):
            self._cursor.observe(nodes[i].event)
        self._fed = max(self._fed, upto)
        return self._cursor

    def _cursor_at(self, step: int, upto: int, path: tuple[tuple[Candidate, Event | None], ...], key: PathKey) -> PredictorCursor:
        if not path:
            return self._root_cursor(upto)
        if self._forks_step != step:
            self._forks, self._forks_step = {}, step
        cur = self._forks.get((step, key))
        if cur is None:
            base = self._cursor_at(step, upto, path[:-1], key[:-1])
            cand, real = path[-1]
            cur = base.fork()
            cur.observe(Event("llm", step=step + len(path) - 1))
            cur.observe(Event(
                "tool", step=step + len(path) - 1, tool=cand.tool, args_json=cand.args_json, args_hash=cand.args_hash,
                result_text=real.result_text if real else None, result_hash=real.result_hash if real else None,
                status=real.status if real else None,
            ))
            self._forks[(step, key)] = cur
        return cur

    def _nothing_after(self, step: int, upto: int, path: tuple[tuple[Candidate, Event | None], ...], key: PathKey,
                       at_least: float) -> bool:
        """No candidate reaches `at_least` after `path`, as its parent's cursor can tell (`ceiling`) without a fork:
        most questions below a beam's first level ask for more than anything there can offer."""
        if at_least <= 0.0:
            return False
        ceiling = getattr(self._cursor_at(step, upto, path[:-1], key[:-1]), "ceiling", None)
        if ceiling is None:
            return False
        cand, real = path[-1]
        return ceiling(cand.tool, cand.args_json, real.status if real else None) < at_least

    def predict(self, step: int, upto: int, k: int, path: tuple[tuple[Candidate, Event | None], ...] = (),
                at_least: float = 0.0) -> tuple[Candidate, ...]:
        """Top-k candidates at decision `step` (node index `upto` = its llm event) after `path`:
        hypothetical calls, each with the real event whose result it observed (None: unknown)."""
        if not path:  # a real decision point asked again (every warm replay): one lookup
            hit = self._answers.get(step)
            if hit is not None and hit[0] >= k and hit[1] <= at_least:
                return hit[2][:k]
        k = min(k, K_MAX)
        if path:
            key: PathKey = tuple([(c.tool, c.args_hash, r.result_hash if r else None) for c, r in path])
            question: Any = (step, key)
        else:
            key, question = (), step
        hit = self._answers.get(question)
        if hit is None or hit[0] < k or hit[1] > at_least:
            known = hit is not None
            wide, low = (max(k, hit[0]), min(at_least, hit[1])) if known else (k, at_least)  # what both questions need
            hit = (wide, low, () if path and self._nothing_after(step, upto, path, key, low) else
                   tuple(self._cursor_at(step, upto, path, key).predict(wide, width=K_MAX, at_least=low)))
            cache = self._cache
            if known or cache.entries < MAX_ENTRIES:
                self._answers[question] = hit
                cache.entries += not known
        return hit[2][:k]
