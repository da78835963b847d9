"""Work shared by the report's steps on one frame, computed once per step.

:func:`analyse <metsurv.report.analysis.analyse>` and :func:`compose
<metsurv.report.sections.compose>` each run inside :func:`frame_cache`: while it is open,
:func:`cached` keeps what was computed from a frame (a subset's rows, a column's level
codes) and gives it back to the next caller that asks for the same thing of the same
frame. At a million patients this replaces hundreds of boolean subsets of the whole frame
by one each. The frames are not changed while a step runs, and the store (which holds a
reference to each frame, so that an object id cannot be reused) is dropped when the
outermost :func:`frame_cache` closes. Outside one, :func:`cached` computes afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["frame_cache", "cached"]

V = TypeVar("V")

_STORE: list[dict[tuple[int, Hashable], tuple[Any, Any]]] = []


@contextmanager
def frame_cache() -> Iterator[None]:
    """Keep what :func:`cached` computes until the outermost ``with frame_cache()`` ends.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1, 2]})
    >>> with frame_cache():
    ...     first = cached(df, "total", lambda: int(df["a"].sum()))
    ...     again = cached(df, "total", lambda: -1)
    >>> first, again, cached(df, "total", lambda: -1)
    (3, 3, -1)
    """
    if _STORE:
        yield
        return
    _STORE.append({})
    try:
        yield
    finally:
        _STORE.clear()


def cached(frame: Any, key: Hashable, make: Callable[[], V]) -> V:
    """``make()``, computed once per ``frame`` object and ``key`` while a
    :func:`frame_cache` is open (every time otherwise)."""
    if not _STORE:
        return make()
    store = _STORE[0]
    slot = (id(frame), key)
    hit = store.get(slot)
    if hit is not None and hit[0] is frame:
        return hit[1]
    value = make()
    store[slot] = (frame, value)
    return value
