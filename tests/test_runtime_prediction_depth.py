"""Live planning asks the predictor the question replay asks (the top k of a `replay.K_MAX`-wide search).

The mined predictor binds a signature's arguments with a beam; a narrower beam can rank differently past the
first places, so replay fixes the width at K_MAX whatever k an arm asks for; a live context that searched
narrower would plan on other candidates than the replay that chose the policy.
"""

from __future__ import annotations

from types import SimpleNamespace

from bpaste_cli.mine.api import Candidate
from bpaste_cli.replay import K_MAX
from bpaste_cli.runtime.planning import LiveContext


class DepthCursor:
    """A cursor whose answer past the first place depends on the width searched, as a binding beam's does."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int | None]] = []

    def predict(self, k: int, width: int | None = None, at_least: float = 0.0) -> list[Candidate]:
        self.asked.append((k, width))
        second = "wide" if (width or k) >= K_MAX else "narrow"
        return [Candidate("Read", '{"x":"a"}', "a", 0.5, "test"), Candidate("Read", f'{{"x":"{second}"}}', second, 0.2, "test")][:k]


def test_live_context_asks_the_replay_width():
    cursor = DepthCursor()
    ctx = LiveContext(SimpleNamespace(spec=None), SimpleNamespace(step=3, epoch=0), 0.0, base=cursor)
    got = ctx.predict(2)
    assert cursor.asked == [(2, K_MAX)]
    assert [c.args_hash for c in got] == ["a", "wide"]
    assert set(ctx.candidates) == {("Read", "a"), ("Read", "wide")}
