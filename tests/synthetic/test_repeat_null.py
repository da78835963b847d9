"""``outcome="ph"``: repeat resection has exactly no effect on survival.

Oracle: the data-generating process. The death time is drawn first, from baseline covariates
only; a repeat resection depends only on the past (a pulmonary relapse, timed independently
of death and covariates; the patient alive at the operation date). So among patients alive at
any time, having been re-operated is independent of the death hazard: the counting-process
Cox model (R ``coxph(Surv(start, stop, event) ~ repeat_resection)``) estimates log HR 0. Over
replicate cohorts the mean estimate must lie within 2 Monte-Carlo standard errors of 0, while
the naive "ever re-operated" comparison stays biased towards benefit (immortal time). The
earlier generator (re-operating only patients who would survive a further month, at
histology-dependent rates) gave +0.024 (about 3 SE) over 20 cohorts of 5,000 in review, and
+0.010 (2.3 SE) over these 40 cohorts of 10,000; this one +0.003 (0.6 SE).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import metsurv
from metsurv.stats.timevarying import counting_process_cox, naive_repeat_resection_comparison
from metsurv.synthetic import generate

REPLICATES = 40
N = 10_000


@pytest.fixture(scope="module")
def log_hrs() -> dict[str, np.ndarray]:
    tv, naive = [], []
    for seed in range(REPLICATES):
        c = generate("irlm1997", n=N, seed=7_000 + seed, outcome="ph")
        cohort = metsurv.load_cohort(c.patients, resections=c.resections)
        tv.append(counting_process_cox(cohort).cox.coef[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            naive.append(np.log(naive_repeat_resection_comparison(
                cohort, i_understand_immortal_time_bias=True).hr))
    return {"time_dependent": np.array(tv), "naive": np.array(naive)}


def test_counting_process_log_hr_is_zero_within_monte_carlo_error(log_hrs):
    est = log_hrs["time_dependent"]
    mc_se = est.std(ddof=1) / np.sqrt(est.size)
    assert abs(est.mean()) <= 2 * mc_se, f"mean log HR {est.mean():+.4f}, MC SE {mc_se:.4f}"


def test_naive_comparison_stays_biased(log_hrs):
    est = log_hrs["naive"]
    assert est.mean() < -0.2, f"naive mean log HR {est.mean():+.3f}"
    assert (est < 0).all()
