"""Memory a finished step freed, handed back to the operating system.

glibc's allocator keeps freed heap pages mapped in the process: after loading a
million-patient export, about 0.47 GB of freed temporaries (raw text columns, their
factorized copies) stayed in the process's resident set, and in every worker forked from
it. ``malloc_trim(0)`` returns them (measured at 1e6 patients: 1.41 GB -> 0.94 GB resident,
in 0.01 s). Elsewhere (macOS, Windows, musl) this is a no-op.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from functools import cache

__all__ = ["return_freed_memory"]


@cache
def _malloc_trim():  # type: ignore[no-untyped-def]
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def return_freed_memory(collect: bool = False) -> bool:
    """Return freed heap memory to the operating system (glibc ``malloc_trim(0)``).

    Parameters
    ----------
    collect : bool
        Run the cycle collector first (``gc.collect()``: frames that refer to themselves
        are freed only by it; at 1e6 patients 0.07 s, 40 MB more returned after loading).

    Returns
    -------
    bool
        True where glibc released memory, False where nothing was released or the C library
        has no ``malloc_trim``.
    """
    if collect:
        gc.collect()
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
