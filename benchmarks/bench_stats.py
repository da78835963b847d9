"""Timing of metsurv.stats against lifelines and R survival on synthetic data.

Tasks: (1) Kaplan-Meier by a 3-level group + log-rank test; (2) a 5-covariate Cox model
(Efron ties). Sizes: 5,206 (the IRLM), 100,000 and 1,000,000 rows. R is timed inside R with
``system.time`` (reading the CSV is not timed) when ``Rscript`` is installed.

    python benchmarks/bench_stats.py [--sizes 5206,100000,1000000] [--no-r]
        [--no-lifelines] [--repeat 1]

Targets (2-core machine): KM + log-rank on 1,000,000 rows <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from metsurv.stats import cox, km, logrank

COVARIATES = ["age", "male", "dfi", "n_mets", "r1"]

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
reps <- as.integer(args[2])
best <- function(f) min(sapply(seq_len(reps), function(i) system.time(f())[["elapsed"]]))
t_km <- best(function() {
  fit <- survfit(Surv(os_months, os_event) ~ grp, data = d, conf.type = "log-log")
  sd <- survdiff(Surv(os_months, os_event) ~ grp, data = d)
})
t_cox <- best(function()
  coxph(Surv(os_months, os_event) ~ age + male + dfi + n_mets + r1, data = d))
cat(toJSON(list(km_logrank = t_km, cox = t_cox), auto_unbox = TRUE))
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
    return pd.DataFrame({
        "os_months": np.round(np.maximum(np.minimum(t, c), 0.01), 2),
        "os_event": (t <= c).astype(int),
        "grp": np.array(["a", "b", "c"])[grp],
        "age": np.round(age, 1), "male": male, "dfi": np.round(dfi, 1), "n_mets": n_mets,
        "r1": r1,
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
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    for _, part in df.groupby("grp"):
        KaplanMeierFitter().fit(part["os_months"], part["os_event"])
    multivariate_logrank_test(df["os_months"], df["grp"], df["os_event"])


def lifelines_cox(df: pd.DataFrame) -> None:
    from lifelines import CoxPHFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        CoxPHFitter().fit(df[["os_months", "os_event", *COVARIATES]], "os_months", "os_event")


def r_times(df: pd.DataFrame, repeat: int) -> dict[str, float] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "d.csv", Path(tmp) / "bench.R"
        df.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(script), str(csv), str(repeat)],
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
    opts = ap.parse_args()
    rows = []
    for n in (int(s) for s in opts.sizes.split(",")):
        df = make_data(n)
        rt = None if opts.no_r else r_times(df, opts.repeat)
        for task, mine, theirs in (("KM + log-rank", metsurv_km_logrank, lifelines_km_logrank),
                                   ("Cox, 5 covariates", metsurv_cox, lifelines_cox)):
            t_m = best_of(mine, df, opts.repeat)
            t_l = np.nan if opts.no_lifelines else best_of(theirs, df, opts.repeat)
            key = "km_logrank" if task.startswith("KM") else "cox"
            t_r = np.nan if rt is None else float(rt[key])
            rows.append({"rows": n, "task": task, "metsurv_s": t_m, "lifelines_s": t_l,
                         "R_s": t_r, "lifelines/metsurv": t_l / t_m, "R/metsurv": t_r / t_m})
            print(f"{n:>9,}  {task:<18} metsurv {t_m:8.3f}s  lifelines {t_l:8.3f}s  "
                  f"R {t_r:8.3f}s", flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    big = table[(table["rows"] == 1_000_000) & (table["task"] == "KM + log-rank")]
    if len(big):
        t = float(big["metsurv_s"].iloc[0])
        print(f"\nTarget KM + log-rank on 1,000,000 rows <= 2 s: {t:.2f} s "
              f"({'met' if t <= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
