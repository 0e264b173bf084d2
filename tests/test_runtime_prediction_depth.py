"""Live planning asks the predictor the question replay asks (`replay.K_MAX` candidates, then the top k).

The mined predictor binds a signature's arguments with a beam as wide as the k it is asked for, so its top 3
at k=3 can differ from the first 3 of its top 8. Replay caches the top K_MAX and cuts it; a live context that
asked for k itself would plan on other candidates than the replay that chose the policy.
"""

from __future__ import annotations

from types import SimpleNamespace

from bpaste_cli.mine.api import Candidate
from bpaste_cli.replay import K_MAX
from bpaste_cli.runtime.planning import LiveContext


class DepthCursor:
    """A cursor whose answer past the first place depends on the k asked, as a narrow binding beam's does."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def predict(self, k: int) -> list[Candidate]:
        self.asked.append(k)
        second = "wide" if k >= K_MAX else "narrow"
        return [Candidate("Read", '{"x":"a"}', "a", 0.5, "test"), Candidate("Read", f'{{"x":"{second}"}}', second, 0.2, "test")][:k]


def test_live_context_cuts_the_replay_depth_answer():
    cursor = DepthCursor()
    ctx = LiveContext(SimpleNamespace(spec=None), SimpleNamespace(step=3, epoch=0), 0.0, base=cursor)
    got = ctx.predict(2)
    assert cursor.asked == [K_MAX]
    assert [c.args_hash for c in got] == ["a", "wide"]
    assert set(ctx.candidates) == {("Read", "a"), ("Read", "wide")}
