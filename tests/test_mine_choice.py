"""The predictor never worse than its floor: back-off chosen on validation, calibration steps with enough
support, and exact-call hits per data-flow family; values worked out by hand."""

from __future__ import annotations

import pytest

from bpaste_cli.mine.dataflow import Rule, call_family, family
from bpaste_cli.mine.evaluate import fit_isotonic
from bpaste_cli.mine.run import _beats


def test_calibration_steps_need_thirty_pairs():
    # 100 pairs at score 0.1 with 10 hits, then 3 at 0.99 all right: plain PAV maps 0.99 to 1.0 on 3 pairs;
    # with 30 pairs per step the two pool into one step of 13 / 103
    pairs = [(0.1, int(i < 10)) for i in range(100)] + [(0.99, 1)] * 3
    assert fit_isotonic(pairs, min_block=1)["y"] == pytest.approx([0.1, 1.0])
    got = fit_isotonic(pairs)
    assert got["y"] == pytest.approx([13 / 103]) and got["x"] == pytest.approx([(10 + 2.97) / 103])
    # two well-supported steps stay apart
    two = [(0.1, int(i < 10)) for i in range(100)] + [(0.9, int(i < 24)) for i in range(30)]
    assert fit_isotonic(two)["y"] == pytest.approx([0.1, 0.8])
    assert fit_isotonic(pairs[:49]) == {"x": [], "y": []}  # fewer than 50 pairs: identity


def test_a_mined_back_off_must_beat_the_floor_by_more_than_noise():
    # 100 decisions, floor right in 50: the standard error of a difference is sqrt(2 * 100 * 0.25) = 7.07
    assert not _beats(57, 50, 100) and _beats(58, 50, 100)
    # tiny validation: at least 2 decisions more
    assert not _beats(3, 2, 4) and _beats(4, 2, 4)  # sqrt(2 * 4 * 0.25) = 1.41 < 2: needs 2 more
    assert not _beats(3, 2, 10) and _beats(4, 2, 10)  # sqrt(2 * 10 * 0.2 * 0.8) = 1.79 < 2


def test_families_of_rules_and_calls():
    assert family(Rule("extract", "Grep", 1, "path", 1, "str")) == "result path"
    assert family(Rule("extract", "search", 1, "json:items.url", 1, "str")) == "result json field"
    assert [family(Rule(k)) for k in ("repeat", "const", "copy", "prompt")] == ["repeat", "const", "copy", "prompt"]
    assert call_family(["const", "result url", "copy"]) == "result url"  # the most data-driven argument
    assert call_family(["const", "prompt"]) == "prompt" and call_family([]) == "none"
