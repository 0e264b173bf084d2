"""The cyclic garbage collector paused around work that builds many objects and no reference cycles.

Mining, trace preparation and replay allocate millions of small tuples, lists and nodes beside millions of
live ones (the event columns, the prepared traces, the cached answers); each full collection walks every live
object, for no garbage."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collection_paused() -> Iterator[None]:
    """The collector off for the duration, and back as it was after (a caller that had it off keeps it off).

    On resuming, what the pause left alive joins the oldest generation unexamined (`gc.freeze()` then
    `gc.unfreeze()`, whose documented effect is just that): otherwise the first collection after the pause
    walks every object made during it, about 0.1 s per million (206 ms for 2M), for no garbage. A cycle made
    during the pause would still be found by the next full collection. When the program keeps objects frozen
    of its own, they stay frozen and the pause's objects are left where they are."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
