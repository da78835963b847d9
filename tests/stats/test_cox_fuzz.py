"""Fuzz parity of :func:`metsurv.stats.cox.cox` with LIVE R ``coxph`` (survival 3.5-3).

1,000 small random data sets (ties, strata, counting-process rows, Efron and Breslow, case
weights, some with an aliased column, some with a separated covariate, some with one event
time at which x1 is the same for everyone at risk) are generated here with a fixed
seed, written as one CSV, and fitted by ONE ``Rscript tests/reference/make_cox_edge.R
--fuzz`` call. Skipped when Rscript is not installed."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from metsurv.stats.cox import cox
from tests.stats.helpers import needs_r, run_r_script

N_SETS = 1000

pytestmark = needs_r


def fuzz_sets(seed: int = 20261130, n_sets: int = N_SETS) -> pd.DataFrame:
    """The random data sets, one block of rows per ``ds``: whole-number times (ties),
    covariates rounded to 2 decimals (the CSV is exact), a stratum, and per set its shape:
    number of covariates, counting process or not, stratified or not, Efron or Breslow."""
    rng = np.random.default_rng(seed)
    # case weights and the one-event shape from their own stream: the other sets unchanged
    rng_w = np.random.default_rng(seed + 1)
    blocks = []
    for ds in range(n_sets):
        n = int(rng.integers(8, 41))
        ncov = int(rng.integers(1, 4))
        x = np.round(rng.normal(size=(n, 3)) * rng.choice([0.5, 1, 3], size=3), 2)
        x[:, 1] = rng.integers(0, 2, n)  # a yes/no covariate
        kind = rng.random()
        stop = rng.integers(1, 15, n).astype(float)
        if kind < 0.08 and ncov >= 2:  # aliased: a scaled copy of the first column
            x[:, ncov - 1] = np.round(x[:, 0] * 2.5, 4)
        elif kind < 0.14:  # separation: x1 = 1 exactly for the earliest times
            x[:, 0] = (stop <= np.quantile(stop, 0.3)).astype(float)
        event = (rng.random(n) < 0.7).astype(int)
        event[0] = 1
        cp = int(rng.random() < 0.3)
        start = np.zeros(n)
        if cp:
            start = np.floor(rng.random(n) * stop)
        wtd = int(rng_w.random() < 0.3)
        w = np.round(rng_w.uniform(0.3, 3, n), 2) if wtd else np.ones(n)
        if rng_w.random() < 0.05:
            # events only at the last time, x1 the same for all at risk there: the
            # likelihood does not depend on x1 (R: NA), often with x2 running off to
            # infinity (the other diagonal of the information shrinking towards 0)
            event = np.zeros(n, dtype=int)
            last = stop == stop.max()
            event[np.flatnonzero(last)[0]] = 1
            x[last, 0] = x[np.flatnonzero(last)[0], 0]
        blocks.append(pd.DataFrame({
            "ds": ds, "start": start, "stop": stop, "event": event,
            "s": rng.integers(0, 2, n), "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2],
            "ncov": ncov, "cp": cp, "strat": int(rng.random() < 0.3),
            "efron": int(rng.random() < 0.6), "w": w, "wtd": wtd}))
    return pd.concat(blocks, ignore_index=True)


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    d = fuzz_sets()
    tmp = tmp_path_factory.mktemp("cox_fuzz")
    d.to_csv(tmp / "fuzz.csv", index=False)
    run_r_script("make_cox_edge.R", "--fuzz", tmp / "fuzz.csv", tmp / "fuzz.json")
    return d, json.loads((tmp / "fuzz.json").read_text())


def _fit(g: pd.DataFrame):
    covs = [f"x{j + 1}" for j in range(int(g["ncov"].iloc[0]))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cox(g, covs, strata="s" if g["strat"].iloc[0] else None,
                   ties="efron" if g["efron"].iloc[0] else "breslow",
                   start="start" if g["cp"].iloc[0] else None, time="stop", event="event",
                   weights="w" if g["wtd"].iloc[0] else None)


def _r(v) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in np.ravel(v)], dtype=float)


def compare(d: pd.DataFrame, fits: list[dict]) -> dict[str, float]:
    """Max differences from R over the sets: coefficients (relative, where R converged
    without an infinite-coefficient warning), log-likelihoods (relative), and counts of
    sets whose iterations, convergence flag or NA pattern differ."""
    worst = {"coef_rel": 0.0, "coef_abs": 0.0, "loglik_rel": 0.0, "iter": 0,
             "converged": 0, "na": 0, "sets": 0, "infinite_sets": 0, "unconverged_sets": 0}
    for (_, g), r in zip(d.groupby("ds", sort=True), fits, strict=True):
        fit = _fit(g)
        coef = _r(r["coef"])
        worst["sets"] += 1
        worst["na"] += int((np.isnan(fit.coef) != np.isnan(coef)).any())
        worst["converged"] += int(fit.converged != r["converged"][0])
        worst["iter"] += int(fit.iterations != r["iter"][0])
        if not r["converged"][0]:
            worst["unconverged_sets"] += 1
            continue
        if any("infinite" in w for w in r["warnings"]):
            worst["infinite_sets"] += 1
            continue
        ok = ~np.isnan(coef)
        diff = np.abs(fit.coef[ok] - coef[ok])
        worst["coef_abs"] = max(worst["coef_abs"], float(diff.max(initial=0)))
        worst["coef_rel"] = max(worst["coef_rel"], float(
            (diff / np.maximum(np.abs(coef[ok]), 1e-8)).max(initial=0)))
        ll = _r(r["loglik"])
        worst["loglik_rel"] = max(worst["loglik_rel"], float(
            np.max(np.abs([fit.loglik_null, fit.loglik] - ll) / np.abs(ll))))
    return worst


def test_cox_fuzz_matches_live_R_coxph(fuzz):
    """R: for each set, coxph(Surv([start,] stop, event) ~ x1 [+ x2 + x3] [+ strata(s)],
    ties = efron | breslow [, weights = w]). Where R converges (no infinite-coefficient warning):
    coefficients 1e-6 relative (floor 1e-8), log-likelihood 1e-10 relative; everywhere:
    the same iteration count, convergence flag and NA pattern."""
    d, fits = fuzz
    worst = compare(d, fits)
    assert worst["sets"] == N_SETS
    assert worst["na"] == 0 and worst["converged"] == 0 and worst["iter"] == 0, worst
    assert worst["coef_rel"] < 1e-6, worst
    assert worst["loglik_rel"] < 1e-10, worst
    # the generated shapes are there: aliased sets (NA), separated ones (infinite)
    assert worst["infinite_sets"] > 10, worst
    assert sum(np.isnan(_r(r["coef"])).any() for r in fits) > 10
