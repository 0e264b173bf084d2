"""Mines of overlapping session sets (the calibration's folds of train) share each session's counted flow;
each must give exactly the tables a fresh mine of the same sessions gives."""

from __future__ import annotations

import pytest

from bpaste_cli.mine.patterns import MineOptions, Rows, mine_predictor, mine_rows
from bpaste_cli.synth import ARCHETYPES, generate, write


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from bpaste_cli.ingest import ingest
    from bpaste_cli.trace import load_dataset

    tmp = tmp_path_factory.mktemp("folds")
    write(generate(ARCHETYPES, sessions=90, seed=5), tmp / "logs", ["native"])
    ingest([str(tmp / "logs" / "native")], tmp / "ds")
    return load_dataset(tmp / "ds")


# small caps, so that the folds search and sample other calls than the whole does
OPTIONS = [MineOptions(min_support=2), MineOptions(discovery_cap=25, dataflow_cap=60, min_support=2),
           MineOptions(key="refined", recent_calls=2, min_sessions=1, discovery_cap=40)]


@pytest.mark.parametrize("opt", OPTIONS, ids=["default", "caps", "refined"])
def test_fold_mines_on_shared_flows_equal_fresh_mines(corpus, opt):
    ids = corpus.sessions["session_id"].to_list()
    rows = Rows(corpus.events, ids, keep_calls=True)
    whole = mine_rows(rows, opt)[0]
    assert whole.tables["rules"]["tool"] and whole.tables == mine_predictor(corpus.events, ids, opt)[0].tables
    order = rows.session_ids()
    for i in range(3):
        keep = [b for j, b in enumerate(rows.sessions) if j % 3 != i]
        sub_ids = [s for j, s in enumerate(order) if j % 3 != i]
        assert mine_rows(rows.subset(keep), opt)[0].tables == mine_predictor(corpus.events, sub_ids, opt)[0].tables
    assert mine_rows(rows, opt)[0].tables == whole.tables  # the flows the folds grew leave the whole unchanged


def test_rows_and_their_flows_are_freed_without_the_cyclic_collector(corpus):
    """A whole mine runs with the cyclic collector paused; rows (their columns, calls and flows) must then go
    as soon as nothing refers to them, not at the next collection."""
    import gc
    import weakref

    gc.collect()
    gc.disable()
    try:
        rows = Rows(corpus.events, keep_calls=True)
        mine_rows(rows.subset(rows.sessions[::2]), MineOptions())
        gone = weakref.ref(rows)
        del rows
        assert gone() is None
    finally:
        gc.enable()
