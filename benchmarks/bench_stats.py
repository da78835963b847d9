"""Timing of metsurv.stats against lifelines and R survival on synthetic data.

Tasks: (1) Kaplan-Meier by a 3-level group + log-rank test; (2) a 5-covariate Cox model
(Efron ties); and the same Kaplan-Meier and Cox fits (3-4) with case weights and (5-6)
with delayed entry (left truncation), beside the unweighted ones:

- KM, weighted: ``km(d, by="grp", weights="w")``; R ``survfit(Surv(os_months, os_event)
  ~ grp, weights = w)``; lifelines ``KaplanMeierFitter().fit(..., weights=)`` per group.
- KM, delayed entry: ``km(d, by="grp", start="entry")``; R ``survfit(Surv(entry,
  os_months, os_event) ~ grp)``; lifelines ``fit(..., entry=)`` per group.
- Cox, weighted: ``cox(d, covariates, weights="w")``; R ``coxph(..., weights = w)``; with
  weights that are not whole numbers both compute the robust (sandwich) variance by
  default; lifelines ``CoxPHFitter().fit(..., weights_col="w", robust=True)``. R takes
  minutes for it at 100,000 rows, so it is timed up to 100,000 rows only.
- Cox, weighted, model SE: the same fit with ``robust=False`` (R ``robust = FALSE``,
  lifelines ``weights_col`` alone): the comparison at 1,000,000 rows.
- Cox, delayed entry: ``cox(d, covariates, start="entry")``; R ``coxph(Surv(entry,
  os_months, os_event) ~ ...)``; lifelines ``CoxPHFitter().fit(..., entry_col="entry")``.

Weights are uniform on [0.5, 2] (inverse-probability-like, not integers); 40% of the rows
enter late, at up to 24 months and at most half their follow-up. Sizes: 5,206 (the IRLM),
100,000 and 1,000,000 rows. R is timed inside R with ``system.time`` (reading the CSV is
not timed) when ``Rscript`` is installed. Every time is the best of ``--repeat`` runs; on a
shared machine timings vary by tens of percent between runs.

    python benchmarks/bench_stats.py [--sizes 5206,100000,1000000] [--no-r]
        [--no-lifelines] [--repeat 1] [--tasks km,cox,km_w,km_entry,cox_w,cox_entry]

Targets (2-core machine): KM + log-rank on 1,000,000 rows <= 2 s; weighted KM and Cox
within 20% of the unweighted fits at 1,000,000 rows (issue 9).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metsurv.stats import cox, km, logrank

COVARIATES = ["age", "male", "dfi", "n_mets", "r1"]

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
reps <- as.integer(args[2])
tasks <- strsplit(args[3], ",")[[1]]
best <- function(f) min(sapply(seq_len(reps), function(i) system.time(f())[["elapsed"]]))
rhs <- ~ age + male + dfi + n_mets + r1
out <- list()
if ("km" %in% tasks) out$km <- best(function() {
  fit <- survfit(Surv(os_months, os_event) ~ grp, data = d, conf.type = "log-log")
  sd <- survdiff(Surv(os_months, os_event) ~ grp, data = d)
})
if ("cox" %in% tasks) out$cox <- best(function()
  coxph(update(rhs, Surv(os_months, os_event) ~ .), data = d))
if ("km_w" %in% tasks) out$km_w <- best(function()
  survfit(Surv(os_months, os_event) ~ grp, data = d, weights = w, conf.type = "log-log"))
if ("km_entry" %in% tasks) out$km_entry <- best(function()
  survfit(Surv(entry, os_months, os_event) ~ grp, data = d, conf.type = "log-log"))
if ("cox_w" %in% tasks) out$cox_w <- best(function()
  coxph(update(rhs, Surv(os_months, os_event) ~ .), data = d, weights = w))
if ("cox_w_model" %in% tasks) out$cox_w_model <- best(function()
  coxph(update(rhs, Surv(os_months, os_event) ~ .), data = d, weights = w, robust = FALSE))
if ("cox_entry" %in% tasks) out$cox_entry <- best(function()
  coxph(update(rhs, Surv(entry, os_months, os_event) ~ .), data = d))
cat(toJSON(out, auto_unbox = TRUE))
"""


def make_data(n: int, seed: int = 20240607) -> pd.DataFrame:
    """Simple synthetic cohort: 3 groups, 5 covariates, exponential survival in months
    (to 0.01 month, so some ties), uniform censoring."""
    rng = np.random.default_rng(seed)
    grp = rng.integers(0, 3, n)
    age = rng.normal(60, 10, n)
    male = rng.integers(0, 2, n)
    dfi = rng.exponential(30, n)
    n_mets = rng.integers(1, 6, n)
    r1 = (rng.random(n) < 0.15).astype(int)
    lp = 0.3 * grp + 0.02 * (age - 60) + 0.2 * male - 0.01 * dfi + 0.1 * n_mets + 0.6 * r1
    t = rng.exponential(40 * np.exp(-lp))
    c = rng.uniform(6, 180, n)
    os_months = np.round(np.maximum(np.minimum(t, c), 0.01), 2)
    # drawn after the original columns, so those stay what earlier runs timed
    w = np.round(rng.uniform(0.5, 2.0, n), 3)
    late = rng.random(n) < 0.4
    # at most half the follow-up, floored to 0.01: entry < os_months always
    entry = np.where(late, np.floor(np.minimum(rng.uniform(0, 24, n), os_months / 2) * 100)
                     / 100, 0.0)
    return pd.DataFrame({
        "os_months": os_months,
        "os_event": (t <= c).astype(int),
        "grp": np.array(["a", "b", "c"])[grp],
        "age": np.round(age, 1), "male": male, "dfi": np.round(dfi, 1), "n_mets": n_mets,
        "r1": r1, "w": w, "entry": entry,
    })


def best_of(fn, df: pd.DataFrame, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(df)
        times.append(time.perf_counter() - t0)
    return min(times)


def metsurv_km_logrank(df: pd.DataFrame) -> None:
    km(df, by="grp")
    logrank(df, by="grp")


def metsurv_cox(df: pd.DataFrame) -> None:
    cox(df, COVARIATES)


def lifelines_km_logrank(df: pd.DataFrame) -> None:
    from lifelines.statistics import multivariate_logrank_test

    _lifelines_km(df)
    multivariate_logrank_test(df["os_months"], df["grp"], df["os_event"])


def _lifelines_km(df: pd.DataFrame, **columns: str) -> None:
    """One KaplanMeierFitter per group (lifelines has no by=); ``columns`` maps its
    keywords (entry, weights) to data columns."""
    from lifelines import KaplanMeierFitter

    with warnings.catch_warnings():  # non-integer weights: a note on the CI, not an error
        warnings.simplefilter("ignore")
        for _, part in df.groupby("grp"):
            KaplanMeierFitter().fit(part["os_months"], part["os_event"],
                                    **{k: part[c] for k, c in columns.items()})


def lifelines_cox(df: pd.DataFrame, **options: Any) -> None:
    from lifelines import CoxPHFitter

    extra = [c for c in (options.get("weights_col"), options.get("entry_col")) if c]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        CoxPHFitter().fit(df[["os_months", "os_event", *COVARIATES, *extra]], "os_months",
                          "os_event", **options)


@dataclass(frozen=True)
class Task:
    """One timed fit: metsurv's call, lifelines' (None: not comparable) and the R key."""

    key: str
    label: str
    metsurv: Callable[[pd.DataFrame], Any]
    lifelines: Callable[[pd.DataFrame], Any] | None
    #: the unweighted, entry-free task this one is compared with ("" for itself)
    baseline: str = ""
    #: lifelines is timed up to this many rows (its robust and delayed-entry Cox take
    #: 1-6 s at 5,206 rows and grow faster than linearly: minutes at 100,000)
    lifelines_max_rows: int = 10**9
    #: R is timed up to this many rows (its robust variance with one cluster per row)
    r_max_rows: int = 10**9


#: Rows up to which lifelines' weighted (robust) and delayed-entry Cox fits are timed.
LIFELINES_SLOW_MAX = 20_000

TASKS: tuple[Task, ...] = (
    Task("km", "KM + log-rank", metsurv_km_logrank, lifelines_km_logrank),
    Task("cox", "Cox, 5 covariates", metsurv_cox, lifelines_cox),
    Task("km_w", "KM, weighted", lambda d: km(d, by="grp", weights="w"),
         lambda d: _lifelines_km(d, weights="w"), baseline="km_only"),
    Task("km_entry", "KM, delayed entry", lambda d: km(d, by="grp", start="entry"),
         lambda d: _lifelines_km(d, entry="entry"), baseline="km_only"),
    Task("cox_w", "Cox, weighted", lambda d: cox(d, COVARIATES, weights="w"),
         lambda d: lifelines_cox(d, weights_col="w", robust=True), baseline="cox",
         lifelines_max_rows=LIFELINES_SLOW_MAX, r_max_rows=100_000),
    Task("cox_w_model", "Cox, weighted, model SE",
         lambda d: cox(d, COVARIATES, weights="w", robust=False),
         lambda d: lifelines_cox(d, weights_col="w"), baseline="cox"),
    Task("cox_entry", "Cox, delayed entry", lambda d: cox(d, COVARIATES, start="entry"),
         lambda d: lifelines_cox(d, entry_col="entry"), baseline="cox",
         lifelines_max_rows=LIFELINES_SLOW_MAX),
)


def timed(fn: Callable[[pd.DataFrame], Any], df: pd.DataFrame, repeat: int) -> float:
    """Best time of ``fn``; NaN (with the reason printed) when the installed version does
    not take the keyword (weights=/start= being added) or refuses the data."""
    try:
        return best_of(fn, df, repeat)
    except (TypeError, NotImplementedError, ValueError) as exc:
        print(f"    (not timed: {type(exc).__name__}: {str(exc)[:120]})", flush=True)
        return float("nan")


def r_times(df: pd.DataFrame, repeat: int, tasks: list[str]) -> dict[str, float] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "d.csv", Path(tmp) / "bench.R"
        df.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(script), str(csv), str(repeat), ",".join(tasks)],
                             capture_output=True, text=True, timeout=3600)
        if out.returncode != 0:
            print(out.stderr)
            return None
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5206,100000,1000000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-lifelines", action="store_true")
    ap.add_argument("--tasks", default=",".join(t.key for t in TASKS))
    ap.add_argument("--lifelines-max-rows", type=int, default=10**9,
                    help="time lifelines only up to this many rows (it takes minutes at 1M)")
    opts = ap.parse_args()
    chosen = [t for t in TASKS if t.key in opts.tasks.split(",")]
    rows = []
    for n in (int(s) for s in opts.sizes.split(",")):
        df = make_data(n)
        rt = None if opts.no_r else r_times(df, opts.repeat,
                                            [t.key for t in chosen if n <= t.r_max_rows])
        # the plain KM (no log-rank), the baseline of the weighted and delayed-entry KM
        base = {"km_only": best_of(lambda d: km(d, by="grp"), df, opts.repeat)}
        for task in chosen:
            t_m = timed(task.metsurv, df, opts.repeat)
            base.setdefault(task.key, t_m)
            t_l = (np.nan if opts.no_lifelines or task.lifelines is None
                   or n > min(task.lifelines_max_rows, opts.lifelines_max_rows)
                   else timed(task.lifelines, df, opts.repeat))
            t_r = np.nan if rt is None else float(rt.get(task.key, np.nan))
            t_b = base.get(task.baseline, np.nan) if task.baseline else np.nan
            rows.append({"rows": n, "task": task.label, "metsurv_s": t_m, "lifelines_s": t_l,
                         "R_s": t_r, "lifelines/metsurv": t_l / t_m, "R/metsurv": t_r / t_m,
                         "metsurv/unweighted": t_m / t_b})
            print(f"{n:>9,}  {task.label:<24} metsurv {t_m:8.3f}s  lifelines {t_l:8.3f}s  "
                  f"R {t_r:8.3f}s", flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("metsurv/unweighted: time over the same fit without weights or entry (KM without "
          "log-rank for the KM rows). R's weighted survfit and coxph include the robust "
          "variance R computes by default for non-integer weights; lifelines' weighted Cox is "
          f"run with robust=True; its weighted and delayed-entry Cox are timed up to "
          f"{LIFELINES_SLOW_MAX:,} rows only, R's robust weighted Cox up to 100,000 "
          "(NaN above). Timings on a shared 2-core machine vary by tens of percent.")
    big = table[(table["rows"] == 1_000_000) & (table["task"] == "KM + log-rank")]
    if len(big):
        t = float(big["metsurv_s"].iloc[0])
        print(f"\nTarget KM + log-rank on 1,000,000 rows <= 2 s: {t:.2f} s "
              f"({'met' if t <= 2 else 'NOT met'})")
    weighted = table[(table["rows"] == 1_000_000) & table["task"].str.contains("weighted")]
    for task, ratio in zip(weighted["task"], weighted["metsurv/unweighted"], strict=True):
        print(f"Target {task} within 20% of unweighted at 1,000,000 rows: x{ratio:.2f} "
              f"({'met' if ratio <= 1.2 else 'NOT met'})")


if __name__ == "__main__":
    main()
