"""Complete-case analysis vs multiple imputation under covariates missing at random given
the outcome (issue 13, item 4; "Done when": complete-case biased, MI recovers the truth).

Each replicate: ``generate("irlm1997", n, seed, outcome="ph")`` (true log HRs in the
manifest), then ``dfi_group`` and ``n_metastases_group`` made missing with probability
expit(-3 + 3 event - 1 [os_months >= 36] + 1 complete_resection) (about 45% each; MAR: it
depends only on observed values). Fitted: the Cox model on the full data (before deletion),
on complete cases, and on m imputations by ``metsurv.stats.impute`` pooled with Rubin's
rules. Printed per term: mean estimate - truth (bias), empirical SD, 95% CI coverage, and
the mean fraction of missing information; then the mean |bias| over terms and the time.

    .venv/bin/python benchmarks/bench_impute.py [--replicates 40] [--n 3000] [--m 10]
        [--iterations 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import norm

from metsurv.stats.cox import cox
from metsurv.stats.impute import impute
from metsurv.synthetic import generate
from metsurv.synthetic.calibration import analysis_frame

COVARIATES = ["complete_resection", "dfi_group", "n_metastases_group", "histology_group"]


def replicate(seed: int, n: int, m: int, iterations: int) -> pd.DataFrame:
    c = generate("irlm1997", n=n, seed=seed, outcome="ph")
    f = analysis_frame(c)[["os_months", "os_event", *COVARIATES]].copy()
    truth = c.manifest["true_parameters"]["ph"]["log_hr"]
    full = cox(f, COVARIATES)
    rng = np.random.default_rng(10_000 + seed)
    lp = (-3 + 3.0 * f["os_event"].to_numpy(bool) - 1.0 * (f["os_months"].to_numpy() >= 36)
          + 1.0 * f["complete_resection"].to_numpy(bool))
    for col in ("n_metastases_group", "dfi_group"):
        f.loc[rng.random(len(f)) < 1 / (1 + np.exp(-lp)), col] = np.nan
    cc = cox(f, COVARIATES)
    mi = impute(f, COVARIATES, m=m, seed=seed, iterations=iterations).fit(
        lambda d: cox(d, COVARIATES))
    true = np.array([truth[t.replace("[", "=").rstrip("]")] for t in full.terms])
    z = norm.ppf(0.975)
    return pd.DataFrame({
        "seed": seed, "term": full.terms, "truth": true,
        "full": full.coef, "cc": cc.coef, "mi": mi["estimate"].to_numpy(),
        "cover_full": np.abs(full.coef - true) <= z * full.se,
        "cover_cc": np.abs(cc.coef - true) <= z * cc.se,
        "cover_mi": (mi["lower"].to_numpy() <= true) & (true <= mi["upper"].to_numpy()),
        "fmi": mi["fmi"].to_numpy(), "missing_cc": 1 - cc.n / len(f),
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=40)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--m", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = pd.concat([replicate(s, args.n, args.m, args.iterations)
                      for s in range(1, args.replicates + 1)])
    elapsed = time.perf_counter() - t0
    by = rows.groupby("term", sort=False)
    table = pd.DataFrame({
        "truth": by["truth"].first(),
        **{f"bias_{k}": by[k].mean() - by["truth"].first() for k in ("full", "cc", "mi")},
        **{f"sd_{k}": by[k].std() for k in ("cc", "mi")},
        **{f"cover_{k}": by[f"cover_{k}"].mean() for k in ("full", "cc", "mi")},
        "fmi": by["fmi"].mean(),
    })
    pd.set_option("display.width", 200)
    print(f"irlm1997 ph, n={args.n}, replicates={args.replicates}, m={args.m}, "
          f"iterations={args.iterations}; rows dropped by complete-case "
          f"{rows['missing_cc'].mean():.1%}")
    print(table.round(3).to_string())
    for k in ("full", "cc", "mi"):
        print(f"mean |bias| {k}: {table[f'bias_{k}'].abs().mean():.3f}   "
              f"coverage {table[f'cover_{k}'].mean():.3f}")
    print(f"time {elapsed:.1f} s ({elapsed / args.replicates:.1f} s per replicate)")


if __name__ == "__main__":
    main()
