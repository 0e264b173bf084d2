"""The planning context is complete: PasteArm and BPasteArm plan through a second, minimal implementation
of it (no simulator, no trace), the way a wall-clock speculator drives them.

The toy context answers like a live one: it never knows a result before a speculative call has finished
(`known_result` is None) and refuses to launch a call whose arguments depend on an unknown result. The
expected launches are worked out by hand below from PASTE's utility and the beam's prefix value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bpaste_cli.device import load_device
from bpaste_cli.mine.api import Candidate, Event
from bpaste_cli.replay import BeamConfig, BeamSettings, BPasteArm, LatencyStats, PasteArm, PlanningContext, scorer_for
from bpaste_cli.safety import load_safety

SAFETY = load_safety()
STATS = LatencyStats(think_s=2.0, tool_s={"Read": 1.0, "Grep": 1.0, "Edit": 1.0}, default_tool_s=1.0)


def cand(tool: str, arg: str, prob: float) -> Candidate:
    return Candidate(tool, f'{{"x":"{arg}"}}', arg, prob, "test")


@dataclass
class Handle:
    key: tuple[str, str]


@dataclass
class ToyContext:
    """A wall-clock-like context: predictions from a table keyed by the hypothetical path's calls and results."""

    answers: dict[tuple, list[Candidate]]
    slots: int = 4
    now: float = 10.0
    device: object = field(default_factory=lambda: load_device("thor").without_interference())
    launched: list[tuple] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    asked: list[tuple] = field(default_factory=list)

    def predict(self, k, path=(), at_least=0.0):
        key = tuple((c.tool, c.args_hash, r.result_text if r else None) for c, r in path)
        self.asked.append(key)
        return self.answers.get(key, [])[:k]

    def classify(self, tool, args_json):
        return SAFETY.classify(tool, args_json)

    def load(self):
        jm = self.device.job_memory_gb
        return len(self.launched), sum(jm[r[2]] for r in self.launched)

    def pending(self, key):
        return any(r[0] == key for r in self.launched)

    def known_result(self, key):
        return None

    def launch(self, key, tool, resource, prob, depth, *, after=None, bound=True):
        if not bound:
            self.refused.append(key)
            return None
        self.launched.append((key, tool, resource, round(prob, 6), depth, after.key if after else None))
        return Handle(key)


def test_the_toy_is_a_planning_context():
    ctx: PlanningContext = ToyContext({})  # structural: type checkers accept it; here every method exists
    for name in ("now", "slots", "device", "predict", "classify", "load", "pending", "known_result", "launch"):
        assert hasattr(ctx, name)


def test_paste_launches_by_utility_within_slots():
    # U = p·min(S, T) − (1 − p)·λ·S with T = 2, S = 1, λ(load 0) = 0.02:
    # Read a: .9 − .1·.02 = .898; Grep b: .5 − .5·.02 = .49; Edit (mutating) and Read d (p < threshold) never.
    answers = {(): [cand("Edit", "e", 0.95), cand("Read", "a", 0.9), cand("Grep", "b", 0.5), cand("Read", "d", 0.1)]}
    arm = PasteArm(STATS, frozenset({"read-only"}), top_k=4, threshold=0.2)
    ctx = ToyContext(answers, slots=1)
    arm.plan(ctx)
    assert ctx.launched == [(("Read", "a"), "Read", "io", 0.9, 1, None)]
    # with Read a already speculated the next best takes the slot
    ctx2 = ToyContext(answers, slots=2)
    ctx2.launched.append((("Read", "a"), "Read", "io", 0.9, 1, None))
    arm.plan(ctx2)
    assert [r[0] for r in ctx2.launched] == [("Read", "a"), ("Grep", "b")]
    assert ctx2.asked == [()]


@pytest.fixture
def beam_arm():
    seen = []
    settings = BeamSettings(STATS, frozenset({"read-only"}), scorer_for("value"), BeamConfig(width=3, depth=2, min_prob=0.1))
    return BPasteArm(settings, observe=lambda ctx, nodes: seen.extend(nodes)), seen


ANSWERS = {
    (): [cand("Read", "a", 0.9), cand("Grep", "b", 0.6)],
    (("Read", "a", None),): [cand("Grep", "c", 0.8)],  # after Read a, before its result is known
    (("Read", "a", "contents of a"),): [cand("Grep", "c", 0.8)],  # after Read a returned
}


def test_bpaste_plans_roots_through_the_context_and_defers_unbound_children(beam_arm):
    # Values (λ = .02, T = 2, S = 1): Read a .9 − .002 = .898; Grep b .6 − .008 = .592; the prefix
    # Read a → Grep c adds q = .72, lead 3: .72 − .0056, so its prefix is worth .898 + .7144 (over 2 s of slack).
    # All three fit (4 slots, no interference); a live context cannot bind Grep c before Read a returns.
    arm, seen = beam_arm
    ctx = ToyContext(ANSWERS)
    arm.plan(ctx)
    assert ctx.launched == [(("Read", "a"), "Read", "io", 0.9, 1, None), (("Grep", "b"), "Grep", "io", 0.6, 1, None)]
    assert ctx.refused == [("Grep", "c")]
    assert ctx.asked == [(), (("Read", "a", None),), (("Grep", "b", None),)]
    by_key = {n.key: n for n in seen}
    assert by_key[("Grep", "c")].bound is False and by_key[("Grep", "c")].features.q == pytest.approx(0.72)
    assert by_key[("Read", "a")].score == pytest.approx(0.898)
    assert by_key[("Grep", "c")].score == pytest.approx(0.898 + 0.72 - 0.02 * 0.28)


def test_bpaste_extends_below_a_node_when_its_result_arrives(beam_arm):
    arm, seen = beam_arm
    ctx = ToyContext(ANSWERS)
    arm.plan(ctx)
    root = next(n for n in seen if n.key == ("Read", "a"))
    result = Event("tool", step=0, tool="Read", args_json=root.cand.args_json, args_hash="a", result_text="contents of a",
                   result_hash="h", status="ok")
    ctx.now = 11.0
    launched = arm.extend(ctx, root, result)
    assert [n.key for n in launched] == [("Grep", "c")]
    assert launched[0].bound and launched[0].depth == 2
    assert ctx.launched[-1] == (("Grep", "c"), "Grep", "io", 0.72, 2, ("Read", "a"))
    assert ctx.asked[-1] == (("Read", "a", "contents of a"),)
    # at the beam's depth nothing grows further
    assert arm.extend(ctx, launched[0], result) == []
