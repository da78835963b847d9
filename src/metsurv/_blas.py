"""One BLAS thread for metsurv's numerics: sums over risk sets then come out bit for bit the
same on any machine (a threaded BLAS splits them by its thread count), and small matrices
are not slowed by thread start-up. The libraries are looked up once per process (threadpoolctl
scans them in about 1.5 ms, too slow to repeat for each of a thousand bootstrap refits)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["one_blas_thread"]


@lru_cache(maxsize=1)
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> Any:
    """A context manager limiting BLAS to one thread (``threadpoolctl``), cheap to enter.

    >>> import numpy as np
    >>> with one_blas_thread():
    ...     float(np.ones((2, 2)) @ np.ones(2) @ np.ones(2))
    4.0
    """
    return _controller().limit(limits=1, user_api="blas")
