"""Wall time of the replicate engine (metsurv.replicate) in-process and on Dask, its speed-up
per worker, and the per-replicate and per-task overhead of the Dask path.

The replicate is a realistic small analysis: draw a two-group exponential survival data set
(``--n`` patients, allocation 1:1, hazard 0.05/month in the control group, HR 0.7, uniform
censoring on 12-60 months) from the replicate's generator and fit
``metsurv.stats.cox.cox(d, ["group"])`` (Efron ties); one row per replicate (coef, se, p).

Timed, for ``--replicates`` replicates (best of ``--repeat``):

1. in-process (``workers=None``);
2. on a running ``LocalCluster`` of 1 and of 2 (``--workers``) single-threaded worker
   processes, given by address (``scheduler=``): the steady-state cost, cluster start-up
   excluded; and the same through ``workers=N`` (start-up of the cluster included, what a
   one-off call pays);
3. the Dask overhead per task: a replicate that does nothing, one replicate per task
   (``batch=1``), on 1 worker, divided by the number of tasks; and the per-replicate overhead
   of the default batching, ``(T_dask,1 worker - T_in-process) / replicates``.

From the measured fixed cost F (connect, scatter, gather: the no-op run with one task) and
per-task cost c, the expected wall time on W workers with the default ``8 W`` tasks is
``T(W) = T_1 / W + F + c * 8``, tasks spread over W workers, plus the scheduler's serial
work ``s * 8 W`` (s: scheduler time per task, bounded by c). The note printed at the end
gives the speed-up this predicts at 16 and 64 workers (Amdahl's law with F and the
scheduler's share as the serial part).

    python benchmarks/bench_replicates.py [--replicates 1000] [--n 500] [--workers 1,2]
        [--repeat 1] [--seed 1] [--json FILE]

Goal (issue 14): speed-up >= 0.8 x workers. On a 2-core machine shared with other jobs, the
2-worker time is bounded by the load (state ``uptime``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

import numpy as np
import pandas as pd

from metsurv.replicate import run_replicates
from metsurv.stats.cox import cox


def cox_replicate(rng: np.random.Generator, k: int, n: int) -> dict:
    """One replicate: a two-group exponential data set of ``n`` patients, Cox of group."""
    group = rng.integers(0, 2, n)
    rate = 0.05 * np.exp(np.log(0.7) * group)
    event_time = rng.exponential(1.0 / rate)
    censor = rng.uniform(12.0, 60.0, n)
    d = pd.DataFrame({"time": np.minimum(event_time, censor),
                      "event": (event_time <= censor).astype(int), "group": group})
    row = cox(d, ["group"], time="time", event="event").to_frame().iloc[0]
    return {"coef": float(row["coef"]), "se": float(row["se"]), "p": float(row["p"])}


def noop(rng: np.random.Generator, k: int) -> dict:
    """A replicate that costs nothing: what remains is the engine's overhead."""
    return {"u": float(rng.random())}


def best(repeat: int, call) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    from distributed import LocalCluster

    R, workers = a.replicates, [int(w) for w in a.workers.split(",")]
    out: dict = {"replicates": R, "n": a.n, "cpus": os.cpu_count(),
                 "load_before": os.getloadavg()[0]}
    print(f"{R} replicates of Cox on n={a.n}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")

    t_in, base = best(a.repeat, lambda: run_replicates(cox_replicate, R, a.seed,
                                                      args=(a.n,), progress=False))
    csv = base.table.to_csv(index=False)
    out["in_process_s"] = t_in
    print(f"in-process, 1 worker      : {t_in:7.2f} s  ({1e3 * t_in / R:.2f} ms/replicate)")

    out["dask"] = {}
    for w in workers:
        cluster = LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=":0",
                               silence_logs=logging.ERROR)
        try:
            addr = cluster.scheduler_address
            # warm the workers (imports of metsurv and numpy), as a running cluster is
            run_replicates(cox_replicate, 2 * w, a.seed, args=(a.n,), scheduler=addr,
                           progress=False)
            t_w, res = best(a.repeat, lambda addr=addr: run_replicates(
                cox_replicate, R, a.seed, args=(a.n,), scheduler=addr, progress=False))
            assert res.table.to_csv(index=False) == csv, "Dask table differs from in-process"
            rec = {"wall_s": t_w, "speedup": t_in / t_w, "per_worker": t_in / t_w / w,
                   "batch": res.batch, "tasks": -(-R // res.batch)}
            if w == 1:
                t_noop1, _ = best(a.repeat, lambda addr=addr: run_replicates(
                    noop, 1, a.seed, scheduler=addr, progress=False))
                t_noop, _ = best(a.repeat, lambda addr=addr: run_replicates(
                    noop, R, a.seed, scheduler=addr, batch=1, progress=False))
                rec.update(fixed_s=t_noop1, per_task_s=(t_noop - t_noop1) / (R - 1),
                           per_replicate_overhead_s=(t_w - t_in) / R)
        finally:
            cluster.close()
        startup = ""
        if w > 1:  # workers=1 is the in-process path by design
            t0 = time.perf_counter()
            res = run_replicates(cox_replicate, R, a.seed, args=(a.n,), workers=w,
                                 progress=False)
            rec["with_startup_s"] = time.perf_counter() - t0
            assert res.table.to_csv(index=False) == csv
            startup = f"; workers={w}: {rec['with_startup_s']:.2f} s with cluster start-up"
        out["dask"][w] = rec
        print(f"Dask, {w} worker{'s' if w > 1 else ' '}           : {t_w:7.2f} s  speed-up "
              f"{rec['speedup']:.2f} ({rec['per_worker']:.2f} x workers), {rec['tasks']} "
              f"tasks of {rec['batch']}{startup}")

    one = out["dask"].get(1)
    if one:
        F, c = one["fixed_s"], one["per_task_s"]
        print(f"Dask overhead: fixed {F * 1e3:.0f} ms per run (connect, scatter, gather), "
              f"{c * 1e3:.2f} ms per task, {one['per_replicate_overhead_s'] * 1e3:.3f} ms per "
              f"replicate at the default batching ({one['tasks']} tasks; in-process "
              f"{1e3 * t_in / R:.2f} ms per replicate)")
        # Amdahl: each worker pays F once and c for each of its 8 tasks (in parallel); the
        # scheduler's own work per task is serial: at most c (pessimistic bound, the whole
        # per-task latency), at least 0 (optimistic)
        out["projection"] = {}
        for W in (16, 64):
            ideal = t_in / W
            hi = t_in / W + F + 8 * c + 8 * W * c
            lo = t_in / W + F + 8 * c
            out["projection"][W] = {"ideal_s": ideal, "wall_s_bounds": [lo, hi],
                                    "per_worker_bounds": [t_in / hi / W, t_in / lo / W]}
            print(f"  {W:2d} workers: predicted {lo:5.2f}-{hi:5.2f} s for {R} replicates "
                  f"(ideal {ideal:.2f} s): {t_in / hi / W:.2f}-{t_in / lo / W:.2f} x workers")
        print(f"  serial part: F + 8 c = {F + 8 * c:.2f} s per run, plus up to "
              f"{8 * c * 1e3:.0f} ms per worker of scheduler work; 0.8 x workers needs "
              f"T_1 >= 4 W (F + 8 c) (+ 32 W^2 c at worst): at 16 workers a job of "
              f"{64 * (F + 8 * c):.0f}-{64 * (F + 8 * c) + 32 * 256 * c:.0f} s in-process, "
              f"at 64 workers {256 * (F + 8 * c):.0f}-{256 * (F + 8 * c) + 32 * 4096 * c:.0f} "
              f"s; the overhead does not grow with the replicate's cost, so longer jobs "
              f"(more replicates, larger n) approach linear speed-up")
    out["load_after"] = os.getloadavg()[0]
    print(f"load average after: {out['load_after']:.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
