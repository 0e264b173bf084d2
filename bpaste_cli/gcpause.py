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
    """The collector off for the duration, and back as it was after (a caller that had it off keeps it off)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
