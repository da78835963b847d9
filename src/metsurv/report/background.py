"""One computation run in a forked worker process while the builder goes on with the rest.

Why: on 2 cores the analysis of a registry of a million patients is two halves that do
not depend on each other until the end (the IRLM batteries, and everything else). The
worker is forked, so it reads the builder's data without pickling them (only its result
comes back); it drops the build lock and dies with its builder as the figure workers do
(:func:`metsurv.report.output._worker_start`). The result is the one the same call gives
in the builder: the same code on the same data, one BLAS thread in both.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable
from typing import Any

#: the job the forked worker runs (set before it forks, read by :func:`_run`)
_JOB: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []


def _run() -> Any:
    fn, args = _JOB[0]
    return fn(*args)


class Background:
    """``fn(*args)`` in a forked worker (``enabled`` and fork available), else in this
    process when :meth:`result` is first called.

    Use as a context manager; :meth:`result` waits for the worker and returns what ``fn``
    returned, or raises what it raised. A worker that dies (killed, out of memory) is
    replaced by running ``fn`` here, so the build never depends on the worker.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, enabled: bool = True) -> None:
        self.fn, self.args = fn, args
        self.enabled = enabled and "fork" in multiprocessing.get_all_start_methods()
        self.pool: Any = None
        self.future: Any = None

    def __enter__(self) -> Background:
        if not self.enabled:
            return self
        from concurrent.futures import ProcessPoolExecutor

        from metsurv.report.output import _worker_start

        _JOB[:] = [(self.fn, self.args)]
        gc.freeze()  # the worker's garbage collections must not touch (copy) shared pages
        try:
            self.pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("fork"),
                initializer=_worker_start, initargs=(os.getpid(),))
            self.future = self.pool.submit(_run)
        except OSError:
            self.pool = self.future = None
        finally:
            gc.unfreeze()
        return self

    def result(self) -> Any:
        if not hasattr(self, "_value"):
            self._value = self._compute()
        return self._value

    def _compute(self) -> Any:
        if self.future is not None:
            from concurrent.futures.process import BrokenProcessPool

            try:
                return self.future.result()
            except BrokenProcessPool:  # the worker died: do it here
                pass
        return self.fn(*self.args)

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.pool is not None:
            if exc_type is not None and not hasattr(self, "_value"):
                # the builder failed: nobody will read the worker's result, so the error is
                # not kept waiting for it (at 1e6 patients, seconds of batteries)
                for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
                    proc.terminate()
            self.pool.shutdown(wait=True, cancel_futures=True)
        _JOB.clear()
