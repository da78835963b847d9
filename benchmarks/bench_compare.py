"""Propensity-weighted treatment comparison (issue 13): coverage, multiple imputation, scale.

(a) **Coverage.** ``--replicates`` (default 200) cohorts of ``--n`` (4,000) patients with the
    synthetic confounded treatment (``generate(..., outcome="ph", treatment_effect=LOGHR)``)
    for log HR 0 and -0.5; on each, :func:`metsurv.stats.compare.compare_treatments` with
    IPTW (ATE) and with overlap weights (ATO), confounders n_metastases_group, dfi_group,
    laterality (the true assignment model's covariates). Bias and 95% CI coverage of the log
    HR, with Monte Carlo SEs, of
      - the unadjusted HR against the conditional log HR (the generator's ``log_hr``),
      - the IPTW HR against the marginal ATE log HR,
      - the overlap HR against the marginal ATO log HR,
    the marginal truths from :func:`metsurv.synthetic.treatment_truth` (counterfactual
    simulation; the HR is not collapsible, so for -0.5 they are nearer 0 than -0.5). Target
    coverage 92-98% (binomial 95% band for 200 replicates at 0.95: 0.92-0.98).
(b) **Multiple imputation.** ``--mi-replicates`` (30) cohorts with log HR -0.5 in which
    n_metastases_group and dfi_group are additionally made missing at random given the
    outcome and the treatment (probability 0.5 for a VATS patient who died, 0.1 for the
    others, each column independently): the complete-case IPTW log HR against
    ``compare_treatments(..., impute=m)`` (m = ``--m``, 5), both against the ATE truth.
(c) **Scale.** ``metsurv synth`` writes a ``--big-n`` (1,000,000) patient cohort with log HR
    -0.5 under benchmarks/out/; ``metsurv compare`` on its patients.csv (IPTW, no
    imputation) is timed as a whole CLI process (target 60 s).

Replicates run in a process pool of ``--workers`` (2). Default runtime about 10 min on two
cores.

    .venv/bin/python benchmarks/bench_compare.py [--replicates 200] [--mi-replicates 30]
        [--m 5] [--n 4000] [--big-n 1000000] [--workers 2] [--skip a b c]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from metsurv.stats.compare import compare_treatments
from metsurv.synthetic import generate, treatment_truth
from metsurv.synthetic.calibration import analysis_frame

PRESET = "irlm1997"
LEVELS = ("vats", "thoracotomy")
CONFOUNDERS = ["n_metastases_group", "dfi_group", "laterality"]
OUT = Path(__file__).resolve().parent / "out"
METSURV = Path(sys.executable).with_name("metsurv")
SEED0 = 130_000


def _log_ci(effect: dict) -> tuple[float, float, float]:
    return float(np.log(effect["estimate"])), float(np.log(effect["lower"])), float(
        np.log(effect["upper"]))


def coverage_replicate(job: tuple[float, int, int]) -> dict:
    """One cohort: the unadjusted, IPTW (ATE) and overlap (ATO) log HRs with CI limits."""
    log_hr, seed, n = job
    warnings.simplefilter("ignore")
    frame = analysis_frame(generate(PRESET, n=n, seed=seed, outcome="ph",
                                    treatment_effect=log_hr))
    iptw = compare_treatments(frame, "approach", LEVELS, CONFOUNDERS, method="iptw").to_dict()
    overlap = compare_treatments(frame, "approach", LEVELS, CONFOUNDERS,
                                 method="overlap").to_dict()
    row = {"log_hr": log_hr, "seed": seed}
    for name, eff in (("unadjusted", iptw["unadjusted_hr"]), ("iptw", iptw["hr"]),
                      ("overlap", overlap["hr"])):
        row[name], row[f"{name}_lower"], row[f"{name}_upper"] = _log_ci(eff)
    return row


def make_missing(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """n_metastases_group and dfi_group missing at random given outcome and treatment."""
    out = frame.copy()
    hi = (out["os_event"].to_numpy() == 1) & (out["approach"].to_numpy() == LEVELS[0])
    p = np.where(hi, 0.5, 0.1)
    for col in ("n_metastases_group", "dfi_group"):
        out.loc[rng.random(len(out)) < p, col] = np.nan
    return out


def mi_replicate(job: tuple[float, int, int, int]) -> dict:
    """One cohort with extra MAR missingness: complete-case vs imputed-and-pooled IPTW."""
    log_hr, seed, n, m = job
    warnings.simplefilter("ignore")
    frame = analysis_frame(generate(PRESET, n=n, seed=seed, outcome="ph",
                                    treatment_effect=log_hr))
    frame = make_missing(frame, np.random.default_rng([seed, 7]))
    cc = compare_treatments(frame, "approach", LEVELS, CONFOUNDERS).to_dict()
    mi = compare_treatments(frame, "approach", LEVELS, CONFOUNDERS, impute=m,
                            seed=seed).to_dict()
    row = {"seed": seed, "n_cc": cc["n"], "n_mi": mi["n"], "fmi": mi["hr"]["fmi"]}
    for name, eff in (("complete_case", cc["hr"]), ("imputed", mi["hr"])):
        row[name], row[f"{name}_lower"], row[f"{name}_upper"] = _log_ci(eff)
    return row


def summarise(rows: pd.DataFrame, estimators: dict[str, float]) -> pd.DataFrame:
    """Bias, empirical SD, mean CI-based SE, coverage, with Monte Carlo SEs."""
    out = []
    r = len(rows)
    for name, truth in estimators.items():
        est = rows[name].to_numpy()
        lo, up = rows[f"{name}_lower"].to_numpy(), rows[f"{name}_upper"].to_numpy()
        cover = (lo < truth) & (truth < up)
        cov = cover.mean()
        out.append({"estimator": name, "truth": truth, "mean": est.mean(),
                    "bias": est.mean() - truth, "bias_mcse": est.std(ddof=1) / np.sqrt(r),
                    "emp_sd": est.std(ddof=1), "mean_se": ((up - lo) / (2 * 1.959964)).mean(),
                    "coverage": cov, "coverage_mcse": np.sqrt(cov * (1 - cov) / r)})
    return pd.DataFrame(out)


def run_coverage(args: argparse.Namespace, pool: ProcessPoolExecutor) -> None:
    for log_hr in (0.0, -0.5):
        start = time.perf_counter()
        ate = treatment_truth(PRESET, log_hr, "ATE", n=args.truth_n, seed=1)
        ato = treatment_truth(PRESET, log_hr, "ATO", n=args.truth_n, seed=1)
        jobs = [(log_hr, SEED0 + i, args.n) for i in range(args.replicates)]
        rows = pd.DataFrame(list(pool.map(coverage_replicate, jobs, chunksize=4)))
        table = summarise(rows, {"unadjusted": log_hr, "iptw": ate, "overlap": ato})
        print(f"\n(a) coverage, log HR {log_hr:g} (conditional), n {args.n}, "
              f"{args.replicates} replicates ({time.perf_counter() - start:.0f} s); truths: "
              f"unadjusted vs conditional {log_hr:g}, IPTW vs marginal ATE {ate:.4f}, "
              f"overlap vs marginal ATO {ato:.4f}")
        print(table.round(4).to_string(index=False))


def run_mi(args: argparse.Namespace, pool: ProcessPoolExecutor) -> None:
    log_hr = -0.5
    start = time.perf_counter()
    ate = treatment_truth(PRESET, log_hr, "ATE", n=args.truth_n, seed=1)
    jobs = [(log_hr, SEED0 + 50_000 + i, args.n, args.m) for i in range(args.mi_replicates)]
    rows = pd.DataFrame(list(pool.map(mi_replicate, jobs)))
    table = summarise(rows, {"complete_case": ate, "imputed": ate})
    print(f"\n(b) MI, log HR {log_hr:g}, IPTW ATE vs marginal truth {ate:.4f}; "
          f"n_metastases_group and dfi_group missing w.p. 0.5 (VATS, died) / 0.1 (others); "
          f"n {args.n}, {args.mi_replicates} replicates, m {args.m} "
          f"({time.perf_counter() - start:.0f} s)")
    print(f"patients analysed: complete case {rows['n_cc'].mean():.0f}, imputed "
          f"{rows['n_mi'].mean():.0f} (mean); FMI of the pooled log HR {rows['fmi'].mean():.2f}")
    print(table.round(4).to_string(index=False))


def run_big(args: argparse.Namespace) -> None:
    out = OUT / f"compare_{PRESET}_n{args.big_n}_seed1"
    csv = out / "patients.csv"
    if not csv.exists():
        start = time.perf_counter()
        subprocess.run([str(METSURV), "synth", "--preset", PRESET, "--n", str(args.big_n),
                        "--outcome", "ph", "--treatment-effect", "-0.5", "--seed", "1",
                        "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
        print(f"\n(c) wrote {csv} in {time.perf_counter() - start:.0f} s")
    cmd = [str(METSURV), "compare", str(csv), "--treatment", "approach", "--levels",
           ",".join(LEVELS), "--confounders", ",".join(CONFOUNDERS), "--json"]
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    result = json.loads(done.stdout)
    hr, un = result["hr"], result["unadjusted_hr"]
    print(f"\n(c) {' '.join(cmd[1:])}\n    wall {wall:.1f} s (target 60 s) for "
          f"{args.big_n:,} records, {result['n']:,} analysed; IPTW HR {hr['estimate']:.3f} "
          f"({hr['lower']:.3f}-{hr['upper']:.3f}), unadjusted {un['estimate']:.3f}; "
          f"ESS {result['ess']['treated']:.0f} / {result['ess']['control']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--mi-replicates", type=int, default=30)
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--big-n", type=int, default=1_000_000)
    parser.add_argument("--truth-n", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["a", "b", "c"])
    args = parser.parse_args()
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        if "a" not in args.skip:
            run_coverage(args, pool)
        if "b" not in args.skip:
            run_mi(args, pool)
    if "c" not in args.skip:
        run_big(args)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
