"""One replicate engine for power, simulation studies and the bootstrap: map a function over
replicate indices, each with its own random stream, in-process or on Dask.

Replicate ``k`` always draws from ``numpy.random.SeedSequence(seed).spawn(replicates)[k]``
(equal to ``SeedSequence(seed, spawn_key=(k,))``), whatever the backend, the number of workers
or the batching, so the same call gives the same table on one core, on a local Dask cluster
or on a Dask scheduler given by address. A replicate whose function raises is recorded (index,
seed, error) and never dropped; a worker that dies mid-run has its tasks rerun by Dask with
the same seeds, and results are keyed by replicate index (nothing lost, nothing twice).

>>> import numpy as np
>>> def draw(rng, k):
...     return {"x": float(rng.standard_normal())}
>>> res = run_replicates(draw, 3, seed=1, progress=False)
>>> res.table["replicate"].tolist(), res.n_failed, res.backend
([0, 1, 2], 0, 'in-process')
>>> bool(res.table["x"].iloc[2] == draw(replicate_rng(1, 2), 2)["x"])
True
"""

from __future__ import annotations

import math
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import CohortError
from metsurv.progress import progress_wanted

__all__ = ["ReplicateResult", "replicate_rng", "run_replicates", "SCHEDULER_TIMEOUT",
           "TASKS_PER_WORKER"]

#: Seconds allowed to reach a Dask scheduler given by address before giving up.
SCHEDULER_TIMEOUT = 5.0

#: Tasks per worker when ``batch`` is not given: enough to balance the load and to keep the
#: progress bar moving, few enough that Dask's per-task overhead stays small.
TASKS_PER_WORKER = 8


def replicate_rng(seed: int | np.random.SeedSequence | None, index: int) -> np.random.Generator:
    """The generator replicate ``index`` of ``run_replicates(..., seed=seed)`` draws from.

    Parameters
    ----------
    seed : int or numpy.random.SeedSequence
        The run's seed (its entropy when a SeedSequence).
    index : int
        The replicate index, 0-based.

    Returns
    -------
    numpy.random.Generator
        ``default_rng(SeedSequence(seed).spawn(index + 1)[index])``: the same stream as in a
        run of any size (numpy ``SeedSequence.spawn`` gives child ``k`` the spawn key
        ``(k,)``).

    >>> float(replicate_rng(7, 4).random()) == float(
    ...     np.random.default_rng(np.random.SeedSequence(7).spawn(5)[4]).random())
    True
    """
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    child = np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (index,),
                                   pool_size=root.pool_size)
    return np.random.default_rng(child)


def _seed_text(entropy: Any, spawn_key: tuple[int, ...]) -> str:
    """How a replicate's seed is recorded: enough to rebuild its stream exactly."""
    return f"SeedSequence(entropy={entropy}, spawn_key={tuple(spawn_key)})"


def _is_scalar(value: Any) -> bool:
    return value is None or bool(pd.api.types.is_scalar(value))


def _rows_of(out: Any) -> list[dict[str, Any]]:
    """A replicate's return value as a list of row dicts (TypeError when it is neither a dict
    nor a list of dicts of scalars)."""
    rows = [out] if isinstance(out, Mapping) else out
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, Mapping) for r in rows):
        raise TypeError(f"the replicate function returned {type(out).__name__}; "
                        "return a dict (one row) or a list of dicts")
    if not rows:  # else the replicate would be in neither the table nor the failures
        raise TypeError("the replicate function returned no rows (an empty list); return "
                        "at least one dict, or raise to record a failure")
    clean = []
    for row in rows:
        for key, value in row.items():
            if key == "replicate":
                raise TypeError("the replicate function returned a column named 'replicate'; "
                                "the engine adds it, rename yours")
            if not _is_scalar(value):
                raise TypeError(f"the replicate function returned a non-scalar value for "
                                f"{key!r} ({type(value).__name__}); return scalars")
        clean.append(dict(row))
    return clean


#: One replicate's outcome from a batch: (index, rows or None, error text or None).
_Outcome = tuple[int, list[dict[str, Any]] | None, str | None]


def _run_batch(start: int, stop: int, payload: tuple[Callable[..., Any], tuple[Any, ...]],
               entropy: Any, spawn_key: tuple[int, ...], pool_size: int) -> list[_Outcome]:
    """Run replicates ``start .. stop-1``: ``(index, rows, None)`` for each success and
    ``(index, None, error text)`` for each failure. Pure given its arguments, so Dask may
    rerun it after a worker is lost."""
    fn, args = payload
    out: list[_Outcome] = []
    for k in range(start, stop):
        child = np.random.SeedSequence(entropy, spawn_key=tuple(spawn_key) + (k,),
                                       pool_size=pool_size)
        try:
            rows = _rows_of(fn(np.random.default_rng(child), k, *args))
        except Exception as exc:  # a failed replicate is recorded, never dropped
            text = f"{type(exc).__name__}: {exc}".replace("\n", " ").strip()
            out.append((k, None, text))
        else:
            out.append((k, rows, None))
    return out


@dataclass
class ReplicateResult:
    """The outcome of :func:`run_replicates`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per row returned by the replicate function: ``replicate`` (int) then the
        function's columns in order of first appearance, sorted by replicate (rows of one
        replicate in the order returned). Failed replicates have no rows here.
    failed : pandas.DataFrame
        One row per failed replicate: ``replicate``, ``seed`` (the SeedSequence that rebuilds
        its stream, as text) and ``error`` (exception type and message), by replicate.
    replicates : int
        Replicates asked for.
    seed : int
        The root entropy (the ``seed`` given, or fresh entropy when it was None).
    backend : str
        ``"in-process"``, ``"local-dask"`` or ``"dask:<scheduler address>"``.
    workers : int
        Workers used (1 in-process).
    batch : int
        Replicates per task.
    elapsed : float
        Wall seconds of the run (not part of any output meant to be byte-identical).
    spawn_key : tuple of int
        The root SeedSequence's spawn key (empty unless ``seed`` was a spawned SeedSequence).
    """

    table: pd.DataFrame
    failed: pd.DataFrame
    replicates: int
    seed: Any
    backend: str
    workers: int = 1
    batch: int = 1
    elapsed: float = field(default=0.0, compare=False)
    spawn_key: tuple[int, ...] = ()

    @property
    def n_failed(self) -> int:
        """Number of failed replicates."""
        return int(len(self.failed))

    @property
    def n_ok(self) -> int:
        """Number of replicates that returned rows."""
        return self.replicates - self.n_failed

    def rng(self, index: int) -> np.random.Generator:
        """The generator replicate ``index`` drew from (to rerun one replicate alone)."""
        return replicate_rng(np.random.SeedSequence(self.seed, spawn_key=self.spawn_key), index)

    def __repr__(self) -> str:
        return (f"ReplicateResult(replicates={self.replicates}, failed={self.n_failed}, "
                f"seed={self.seed}, backend={self.backend!r}, rows={len(self.table)})")


def _assemble(results: Mapping[int, tuple[list[dict[str, Any]] | None, str | None]],
              replicates: int, entropy: Any, spawn_key: tuple[int, ...]
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy table and the failures, in replicate order, from results keyed by index."""
    missing = [k for k in range(replicates) if k not in results]
    if missing:  # cannot happen unless a backend broke its contract; never drop silently
        raise RuntimeError(f"replicates missing from the results: {missing[:10]}")
    records: list[dict[str, Any]] = []
    columns: dict[str, None] = {"replicate": None}
    fails: list[dict[str, Any]] = []
    for k in range(replicates):
        rows, error = results[k]
        if rows is None:
            fails.append({"replicate": k,
                          "seed": _seed_text(entropy, tuple(spawn_key) + (k,)),
                          "error": error})
            continue
        for row in rows:
            columns.update(dict.fromkeys(row))
            records.append({"replicate": k, **row})
    table = pd.DataFrame.from_records(records, columns=list(columns))
    table["replicate"] = table["replicate"].astype("int64")
    failed = pd.DataFrame.from_records(fails, columns=["replicate", "seed", "error"])
    failed["replicate"] = failed["replicate"].astype("int64")
    return table.reset_index(drop=True), failed


class _Progress:
    """A tqdm bar over replicates (tqdm.auto: text on a terminal, a widget in Jupyter), shown
    as :func:`progress_wanted` decides (never under ``CI``, nor when standard error is not a
    terminal, nor with ``progress=False``)."""

    def __init__(self, enabled: bool | None, total: int, desc: str) -> None:
        self.bar: Any = None
        if not progress_wanted(enabled):
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            return
        try:
            self.bar = tqdm(total=total, desc=desc, unit="rep", file=sys.stderr, leave=False,
                            dynamic_ncols=True)
        except ImportError:  # tqdm.notebook without ipywidgets: fall back to text
            from tqdm import tqdm as text_tqdm

            self.bar = text_tqdm(total=total, desc=desc, unit="rep", file=sys.stderr,
                                 leave=False)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _batches(replicates: int, batch: int) -> list[tuple[int, int]]:
    return [(s, min(s + batch, replicates)) for s in range(0, replicates, batch)]


def _auto_batch(replicates: int, workers: int) -> int:
    return max(1, math.ceil(replicates / (TASKS_PER_WORKER * max(1, workers))))


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _in_process(fn: Callable[..., Any], args: tuple[Any, ...], root: np.random.SeedSequence,
                replicates: int, batch: int, bar: _Progress
                ) -> dict[int, tuple[list[dict[str, Any]] | None, str | None]]:
    results: dict[int, tuple[list[dict[str, Any]] | None, str | None]] = {}
    for start, stop in _batches(replicates, batch):
        for k, rows, error in _run_batch(start, stop, (fn, args), root.entropy,
                                         tuple(root.spawn_key), root.pool_size):
            results[k] = (rows, error)
        bar.update(stop - start)
    return results


def run_replicates(fn: Callable[..., Any], replicates: int,
                   seed: int | np.random.SeedSequence | None, *, args: Iterable[Any] = (),
                   workers: int | None = None, scheduler: str | None = None,
                   progress: bool | None = None, batch: int | None = None) -> ReplicateResult:
    """Run ``fn`` once per replicate, each with its own random stream, and gather a tidy table.

    Parameters
    ----------
    fn : callable
        ``fn(rng, index, *args) -> dict | list[dict]``: one replicate's rows (one dict per
        term or statistic, scalar values), from ``rng`` (a ``numpy.random.Generator``) only.
        It must be picklable for the Dask backends (a module-level function, or a
        ``functools.partial`` of one).
    replicates : int
        Number of replicates R (>= 1).
    seed : int, numpy.random.SeedSequence or None
        Root seed. Replicate k uses ``numpy.random.SeedSequence(seed).spawn(R)[k]`` (numpy
        ``SeedSequence.spawn``), the same stream on every backend; None draws fresh entropy,
        which is recorded in ``result.seed``.
    args : iterable, optional
        Extra positional arguments for ``fn`` (a data set, a design); sent to the Dask workers
        once (``Client.scatter(broadcast=True)``), not once per task.
    workers : int, optional
        None or 1 (and no ``scheduler``): in-process. N >= 2: a
        ``dask.distributed.LocalCluster`` of N single-threaded worker processes, started and
        closed by this call.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``): use its workers
        (``dask.distributed.Client(scheduler)``). Not with ``workers``.
    progress : bool, optional
        Show a tqdm bar over replicates (True), never (False), or by default when standard
        error is a terminal or in Jupyter, and ``CI`` is not set.
    batch : int, optional
        Replicates per Dask task; default ``ceil(R / (8 * workers))`` so that the per-task
        overhead of the scheduler is paid a few times per worker, not per replicate. The
        results do not depend on it.

    Returns
    -------
    ReplicateResult
        ``table`` (``replicate`` + fn's columns, in replicate order; shape (rows, 1 + columns)),
        ``failed`` (``replicate``, ``seed``, ``error``; one row per failed replicate),
        ``n_failed``, ``replicates``, ``seed``, ``backend``.

    Raises
    ------
    ValueError
        ``replicates`` < 1, ``workers`` < 1, ``batch`` < 1, both ``workers`` and
        ``scheduler`` given, or ``fn`` not callable.
    metsurv.errors.CohortError
        The scheduler at ``scheduler`` cannot be reached within :data:`SCHEDULER_TIMEOUT`
        seconds or has no workers, the local cluster cannot start, or ``fn`` and ``args``
        cannot be sent to the workers (not picklable, or not importable there).

    Notes
    -----
    Scheduling, retries after a lost worker and the task stream are dask.distributed's
    (``Client.map`` over batches of replicates, ``as_completed``); a task is a pure function
    of its replicate indices and the root seed, so a rerun gives the same rows, and results
    are kept by replicate index, so a rerun task cannot add rows twice. An exception raised
    by ``fn`` is caught per replicate and recorded in ``failed`` (never dropped); a task that
    Dask gives up on (``fn`` kills its worker more often than
    ``distributed.scheduler.allowed-failures``) has each of its replicates recorded there,
    with the reason.

    >>> def coin(rng, k, p):
    ...     if k == 1:
    ...         raise RuntimeError("boom")
    ...     return [{"stat": "heads", "value": int(rng.random() < p)}]
    >>> res = run_replicates(coin, 3, seed=2, args=(0.5,), progress=False)
    >>> res.table.columns.tolist(), res.failed[["replicate", "error"]].values.tolist()
    (['replicate', 'stat', 'value'], [[1, 'RuntimeError: boom']])
    """
    if not callable(fn):
        raise ValueError(f"fn must be a callable fn(rng, index, *args), got {type(fn).__name__}")
    replicates = _check_int("replicates", replicates, 1)
    if workers is not None:
        workers = _check_int("workers", workers, 1)
    if batch is not None:
        batch = _check_int("batch", batch, 1)
    if scheduler is not None and workers is not None:
        raise ValueError("give either workers (a local Dask cluster) or scheduler (an "
                         "existing one), not both")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"scheduler must be an address such as 'tcp://127.0.0.1:8786', "
                         f"got {scheduler!r}")
    args = tuple(args)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    spawn_key = tuple(root.spawn_key)
    t0 = time.perf_counter()
    if scheduler is None and (workers is None or workers == 1):
        size = batch or replicates
        bar = _Progress(progress, replicates, "replicates")
        try:
            results = _in_process(fn, args, root, replicates, size, bar)
        finally:
            bar.close()
        backend, n_workers = "in-process", 1
    else:
        results, backend, n_workers, size = _on_dask(fn, args, root, replicates, workers,
                                                     scheduler, progress, batch)
    table, failed = _assemble(results, replicates, root.entropy, spawn_key)
    return ReplicateResult(table=table, failed=failed, replicates=replicates,
                           seed=root.entropy, backend=backend, workers=n_workers, batch=size,
                           elapsed=time.perf_counter() - t0, spawn_key=spawn_key)


def _on_dask(fn: Callable[..., Any], args: tuple[Any, ...], root: np.random.SeedSequence,
             replicates: int, workers: int | None, scheduler: str | None,
             progress: bool | None, batch: int | None
             ) -> tuple[dict[int, tuple[list[dict[str, Any]] | None, str | None]], str, int, int]:
    """Run the batches on a local Dask cluster (``workers``) or on the scheduler at
    ``scheduler``; results keyed by replicate index."""
    import logging

    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is not None:
        client = _connect(Client, scheduler)
        backend = f"dask:{scheduler}"
    else:
        import multiprocessing

        if getattr(multiprocessing.current_process(), "_inheriting", False):
            # a worker process starting up runs the user's script again (it imports
            # __main__): the script lacks the guard; stop here, quietly, not by starting
            # a cluster of its own
            raise SystemExit(1)
        try:
            # dashboard on a free port: its HTTP server starts anyway, and 8787 may be taken
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=":0",
                                   silence_logs=logging.ERROR)
        except Exception as exc:
            main = sys.modules.get("__main__")
            hint = ("; a script that runs replicates on workers must do so under "
                    "`if __name__ == \"__main__\":` (each worker process starts by importing "
                    "the script)" if getattr(main, "__file__", None) else "")
            raise CohortError(f"cannot start a local Dask cluster of {workers} workers: "
                              f"{type(exc).__name__}: {str(exc).rstrip('.')}{hint}") from None
        client = Client(cluster, set_as_default=False)
        backend = "local-dask"
    try:
        n_workers = _wait_workers(client, workers if cluster is not None else 1, scheduler)
        size = batch or _auto_batch(replicates, n_workers)
        try:
            payload = client.scatter([(fn, args)], broadcast=True, hash=False)[0]
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            raise CohortError(
                f"cannot send the replicate function and its args to the Dask workers "
                f"({text}); use a module-level function importable on the workers (or a "
                f"functools.partial of one) and picklable args") from None
        spans = _batches(replicates, size)
        # one key per batch: a rerun after a lost worker is the same task, never a second one
        run = uuid.uuid4().hex[:12]
        futures = client.map(_run_batch, [s for s, _ in spans], [e for _, e in spans],
                             payload=payload, entropy=root.entropy,
                             spawn_key=tuple(root.spawn_key), pool_size=root.pool_size,
                             pure=False, retries=2,
                             key=[f"metsurv-replicate-{run}-{s}-{e}" for s, e in spans])
        results: dict[int, tuple[list[dict[str, Any]] | None, str | None]] = {}
        bar = _Progress(progress, replicates, "replicates")
        try:
            span_of = {f.key: span for f, span in zip(futures, spans, strict=True)}
            for future, part in as_completed(futures, loop=client.loop, with_results=True,
                                             raise_errors=False):
                if future.status != "finished":
                    # the task itself failed (e.g. fn crashed its worker more often than
                    # distributed.scheduler.allowed-failures): its replicates are recorded
                    # as failed, with the reason, not dropped
                    start, stop = span_of[future.key]
                    if isinstance(part, tuple):  # (type, exception, traceback)
                        part = part[1]
                    text = (f"task of replicates {start}-{stop - 1} failed on Dask: "
                            f"{type(part).__name__}: {part}").replace("\n", " ")
                    part = [(k, None, text) for k in range(start, stop)]
                fresh = 0
                for k, rows, error in part:
                    if k not in results:
                        fresh += 1
                    results[k] = (rows, error)
                bar.update(fresh)
        finally:
            bar.close()
        return results, backend, n_workers, size
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _connect(client_class: Any, scheduler: str) -> Any:
    """A client of the scheduler at ``scheduler``, within a hard time limit: what answers at
    a wrong address (a web server, the dashboard port) can make the handshake read garbage
    or wait for ever, whatever the client's own timeout; the connection is made in a daemon
    thread that is abandoned after ``3 * SCHEDULER_TIMEOUT`` seconds.

    Raises
    ------
    CohortError
        The address is not ``protocol://host:port`` or ``host:port``, or no scheduler
        answered in time, naming the address.
    """
    import threading

    fix = ("start one with 'dask scheduler' and 'dask worker ADDRESS', or check the "
           "address (tcp://host:8786; 8787 is the dashboard, not the scheduler)")
    if not re.fullmatch(r"([a-z]+://)?[^\s:/]+(:\d+)?", scheduler.strip()):
        raise CohortError(f"--scheduler {scheduler!r} is not a scheduler address; {fix}")
    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = client_class(scheduler, timeout=SCHEDULER_TIMEOUT,
                                         set_as_default=False)
        except BaseException as exc:  # noqa: BLE001 - garbage from a wrong server included
            box["error"] = exc

    thread = threading.Thread(target=connect, name="metsurv-connect", daemon=True)
    thread.start()
    thread.join(3 * SCHEDULER_TIMEOUT)
    if "client" in box:
        return box["client"]
    why = (type(box["error"]).__name__ if "error" in box
           else f"no answer after {3 * SCHEDULER_TIMEOUT:g} s")
    raise CohortError(f"cannot reach a Dask scheduler at {scheduler} ({why}); {fix}")


def _wait_workers(client: Any, expected: int, scheduler: str | None) -> int:
    """Wait until ``expected`` workers are up (a local cluster: all of them; a scheduler: at
    least one) and return how many threads the run can use."""
    try:
        client.wait_for_workers(expected, timeout=60 if scheduler is None else 30)
    except TimeoutError:
        where = f"the Dask scheduler at {scheduler}" if scheduler else "the local cluster"
        raise CohortError(f"{where} has no workers after waiting; start some with "
                          f"'dask worker {scheduler or 'ADDRESS'}'") from None
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) \
        else client.scheduler_info()
    threads = sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())
    return max(1, threads)


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters
