"""Known truth: with outcome="ph" a Cox model recovers the stated log hazard ratios.

Oracle: the true log HRs in the manifest. One large draw per preset must have each true value
inside its family-wise 95% CI (lifelines CoxPHFitter, Efron ties); over 200 replicate cohorts the Wald
95% CI must cover the truth in 92-98% of intervals (pooled over coefficients: each binomial
±2 SD band per coefficient alone would fail by chance one time in three). The replicates use
a small Breslow Newton-Raphson Cox (checked against lifelines below) to stay within a minute;
benchmarks/bench_synth_coverage.py is the longer form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from scipy.stats import norm

from metsurv.synthetic import PRESETS, generate, get_preset
from metsurv.synthetic.calibration import analysis_frame, ph_covariates

REPLICATES = 200
N_REPLICATE = 800


def cox_breslow(x: np.ndarray, time: np.ndarray, event: np.ndarray, iterations: int = 25
                ) -> tuple[np.ndarray, np.ndarray]:
    """Cox partial likelihood (Breslow ties) by Newton-Raphson: (coef, standard error)."""
    order = np.argsort(-time, kind="stable")  # descending: risk sets are prefixes
    x, time, event = x[order], time[order], event[order].astype(bool)
    last = np.r_[time[1:] != time[:-1], True]  # last row of each tied block (in this order)
    ends = np.where(last, np.arange(time.size), time.size)
    block_end = np.minimum.accumulate(ends[::-1])[::-1]  # risk set: rows up to the tie's end
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        w = np.exp(x @ beta)
        s0 = np.cumsum(w)[block_end]
        s1 = np.cumsum(w[:, None] * x, axis=0)[block_end]
        s2 = np.cumsum(w[:, None, None] * x[:, :, None] * x[:, None, :], axis=0)[block_end]
        xe, s0e, s1e, s2e = x[event], s0[event], s1[event], s2[event]
        mean = s1e / s0e[:, None]
        grad = (xe - mean).sum(axis=0)
        info = (s2e / s0e[:, None, None] - mean[:, :, None] * mean[:, None, :]).sum(axis=0)
        step = np.linalg.solve(info, grad)
        beta += step
        if np.abs(step).max() < 1e-9:
            break
    return beta, np.sqrt(np.diag(np.linalg.inv(info)))


def _design(preset: str, n: int, seed: int) -> pd.DataFrame:
    return ph_covariates(analysis_frame(generate(preset, n=n, seed=seed, outcome="ph")), preset)


def test_breslow_helper_matches_lifelines():
    d = _design("irlm1997", 3000, seed=99)
    cols = [c for c in d.columns if "=" in c]
    beta, se = cox_breslow(d[cols].to_numpy(), d["os_months"].to_numpy(),
                           d["os_event"].to_numpy())
    ref = CoxPHFitter().fit(d, "os_months", "os_event").summary.loc[cols]
    np.testing.assert_allclose(beta, ref["coef"], atol=2e-3)
    np.testing.assert_allclose(se, ref["se(coef)"], rtol=1e-2)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_large_draw_recovers_every_true_log_hr(preset):
    """Each true log HR inside its 95% CI, family-wise (Bonferroni over the k coefficients:
    with nine separate 95% intervals one would miss in a third of correct draws)."""
    d = _design(preset, 30_000, seed=12)
    s = CoxPHFitter().fit(d, "os_months", "os_event").summary
    truth = pd.Series(get_preset(preset).ph.log_hr)
    z = norm.ppf(1 - 0.025 / truth.size)
    est, se = s.loc[truth.index, "coef"], s.loc[truth.index, "se(coef)"]
    outside = truth[(truth - est).abs() > z * se]
    assert outside.empty, f"true log HR outside the 95% CI: {outside.to_dict()}"
    ordinary = ((truth - est).abs() <= 1.959964 * se).mean()
    assert ordinary >= 0.75, "most ordinary 95% intervals cover too"


def test_replicate_coverage_is_nominal():
    preset = "irlm1997"
    truth = pd.Series(get_preset(preset).ph.log_hr)
    covered = np.zeros((REPLICATES, truth.size), dtype=bool)
    for r in range(REPLICATES):
        d = _design(preset, N_REPLICATE, seed=10_000 + r)
        beta, se = cox_breslow(d[truth.index].to_numpy(), d["os_months"].to_numpy(),
                               d["os_event"].to_numpy())
        covered[r] = np.abs(beta - truth.to_numpy()) <= 1.959964 * se
    pooled = covered.mean()
    assert 0.92 <= pooled <= 0.98, f"pooled coverage {pooled:.3f}"
    per_coef = pd.Series(covered.mean(axis=0), index=truth.index)
    assert (per_coef >= 0.88).all(), per_coef.to_dict()
