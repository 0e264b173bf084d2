"""The collector's pause: restored as it was, what it leaves alive aged unexamined, cycles still collected."""

from __future__ import annotations

import gc
import weakref

import pytest

from bpaste_cli.gcpause import collection_paused


class _Holder:
    """An object that can refer to itself, and be weakly referred to."""


def test_collection_paused_restores_the_collector():
    assert gc.isenabled()
    with pytest.raises(KeyError):
        with collection_paused():
            assert not gc.isenabled()
            raise KeyError("x")
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()  # left off, as it was
    finally:
        gc.enable()


def test_what_a_pause_leaves_alive_joins_the_oldest_generation_and_its_cycles_are_still_collected():
    gc.collect()
    with collection_paused():
        kept = [[i] for i in range(5000)]
        cycle = _Holder()
        cycle.me = cycle
    oldest = {id(o) for o in gc.get_objects(generation=2)}  # unexamined: the first collection after would have moved them one up
    assert id(kept) in oldest and all(id(x) in oldest for x in kept[::500])
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert gone() is None  # the pause's cycle, found by a full collection
    assert gc.get_freeze_count() == 0


def test_a_pause_leaves_the_programs_own_frozen_objects_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collection_paused():
            made = [[i] for i in range(100)]
        assert gc.get_freeze_count() == frozen and made and gc.isenabled()  # none thawed, none added
    finally:
        gc.unfreeze()
