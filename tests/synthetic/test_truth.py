"""Known truth: with outcome="ph" a Cox model recovers the stated log hazard ratios.

Oracle: the true log HRs in the manifest. One large draw per preset must have each true value
inside its family-wise 95% CI (lifelines CoxPHFitter, Efron ties); over 200 replicate cohorts the Wald
95% CI must cover the truth in 92-98% of intervals (pooled over coefficients: each binomial
±2 SD band per coefficient alone would fail by chance one time in three). The replicates are
fitted with ``metsurv.stats.cox`` (R coxph, Efron ties; fast enough for a minute's budget);
benchmarks/bench_synth_coverage.py is the longer form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from scipy.stats import norm

from metsurv.stats.cox import cox
from metsurv.synthetic import PRESETS, generate, get_preset
from metsurv.synthetic.calibration import analysis_frame, ph_covariates

REPLICATES = 200
N_REPLICATE = 800


def _design(preset: str, n: int, seed: int) -> pd.DataFrame:
    return ph_covariates(analysis_frame(generate(preset, n=n, seed=seed, outcome="ph")), preset)


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


def replicate_coverage(preset: str, replicates: int, n: int, seed: int = 10_000
                       ) -> pd.DataFrame:
    """One row per replicate, one column per true log HR: does the Wald 95% CI of
    ``metsurv.stats.cox`` (R coxph, Efron ties) cover the truth?"""
    truth = pd.Series(get_preset(preset).ph.log_hr)
    names = {key: f"x{i}" for i, key in enumerate(truth.index)}
    covered = np.zeros((replicates, truth.size), dtype=bool)
    for r in range(replicates):
        d = _design(preset, n, seed=seed + r).rename(columns=names)
        fit = cox(d, list(names.values()))
        covered[r] = np.abs(fit.coef - truth.to_numpy()) <= norm.ppf(0.975) * fit.se
    return pd.DataFrame(covered, columns=truth.index)


def test_replicate_coverage_is_nominal():
    covered = replicate_coverage("irlm1997", REPLICATES, N_REPLICATE)
    pooled = covered.to_numpy().mean()
    assert 0.92 <= pooled <= 0.98, f"pooled coverage {pooled:.3f}"
    per_coef = covered.mean()
    assert (per_coef >= 0.88).all(), per_coef.to_dict()
