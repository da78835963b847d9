"""Counting-process Cox against R survival 3.5 (``tests/reference/extra_tv.json``), and the
immortal-time demonstration on a cohort where repeat resection has no effect.

Tolerances: coefficients and log-likelihood 1e-6 relative; standard errors 1e-8 absolute.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from metsurv.stats.landmark import landmark
from metsurv.stats.timevarying import counting_process_cox, naive_repeat_resection_comparison

from ._reference import ATOL_EST, RTOL_STAT, data, fixture
from ._simulate import null_repeat_resection_cohort

REF = fixture("extra_tv")


def tv_cohort() -> SimpleNamespace:
    return SimpleNamespace(patients=data("extra_tv_patients"),
                           counting_process=data("extra_tv_cp"))


@pytest.mark.parametrize(("key", "exposure"), [("efron", "repeat_resection"),
                                               ("number", "resection_number")])
def test_counting_process_cox_against_R(key, exposure):
    """R: ``coxph(Surv(start, stop, event) ~ repeat_resection + x)`` (Efron) and
    ``~ resection_number + x``: coef and loglik 1e-6 relative, se 1e-8 absolute."""
    ref = REF[key]
    fit = counting_process_cox(tv_cohort(), time_dependent=(exposure,), baseline=("x",))
    assert fit.table["term"].tolist() == ref["names"]
    np.testing.assert_allclose(fit.table["coef"], ref["coef"], rtol=RTOL_STAT)
    np.testing.assert_allclose(fit.table["se"], np.sqrt(np.diag(ref["var"])), atol=ATOL_EST,
                               rtol=0)
    assert fit.loglik == pytest.approx(ref["loglik"][1], rel=RTOL_STAT)
    assert fit.n_patients == 300 and fit.n_events == int(data("extra_tv_patients")["os_event"].sum())


def test_counting_process_cox_needs_a_counting_process_table():
    with pytest.raises(TypeError, match="counting-process"):
        counting_process_cox(data("extra_tv_patients"))


def test_time_dependent_model_finds_no_effect_when_there_is_none():
    """Repeat resection has no effect in the simulation: the 95% CI of the time-dependent
    hazard ratio covers 1."""
    fit = counting_process_cox(null_repeat_resection_cohort())
    hr, lo, hi = fit.hazard_ratio("repeat_resection")
    assert lo < 1 < hi


def test_naive_comparison_refuses_without_acknowledgement():
    with pytest.raises(ValueError, match="immortal time"):
        naive_repeat_resection_comparison(null_repeat_resection_cohort())


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_immortal_time_bias_naive_vs_time_dependent(seed):
    """Repeat resection has NO effect on death in the simulation. The naive baseline
    comparison finds a spurious benefit (HR < 1, p < 0.05) and warns; the counting-process
    model and the 24-month landmark do not (95% CI covers 1)."""
    cohort = null_repeat_resection_cohort(seed=seed)
    with pytest.warns(UserWarning, match="immortal time"):
        naive = naive_repeat_resection_comparison(cohort, i_understand_immortal_time_bias=True)
    assert naive.hr < 1 and naive.cox_p < 0.05 and naive.logrank_p < 0.05
    _, lo, hi = counting_process_cox(cohort).hazard_ratio("repeat_resection")
    assert lo < 1 < hi
    row = landmark(cohort, at=24).to_frame().set_index("group").loc[True]
    assert row["hr_lower"] < 1 < row["hr_upper"]


def test_landmark_against_R():
    """R (fixture ``landmark``): ``lm <- subset(pat, os_months > 24)``,
    ``coxph(Surv(os_months - 24, os_event) ~ rr24 + x, lm)`` coef 1e-6 relative, se 1e-8
    absolute; ``summary(survfit(Surv(os_months - 24, os_event) ~ rr24, lm), times =
    c(12, 36, 60))`` surv and std.err 1e-8 absolute. Exposure from the counting process and
    from the repeat-resection month give the same answer."""
    ref = REF["landmark"]
    for kw in ({}, {"exposure_time": "rr1_months"}):
        res = landmark(tv_cohort(), at=24, covariates=["x"], times=[12, 36, 60], **kw)
        assert (res.n_eligible, res.n_exposed) == (ref["n"], ref["n_exposed"])
        np.testing.assert_allclose(res.cox.coef, ref["cox"]["coef"], rtol=RTOL_STAT)
        np.testing.assert_allclose(res.cox.se, np.sqrt(np.diag(ref["cox"]["var"])),
                                   atol=ATOL_EST, rtol=0)
        surv = res.km.survival_at()
        np.testing.assert_allclose(surv["estimate"], ref["km"]["surv"], atol=ATOL_EST, rtol=0)
        np.testing.assert_allclose(surv["std_err"], ref["km"]["std_err"], atol=ATOL_EST, rtol=0)
    assert res.to_dict()["n_excluded"] == 300 - ref["n"]
