"""Counting-process Cox against R survival 3.5 (``tests/reference/extra_tv.json``), and the
immortal-time demonstration on a cohort where repeat resection has no effect.

Tolerances: coefficients and log-likelihood 1e-6 relative; standard errors 1e-8 absolute.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from metsurv.stats.timevarying import counting_process_cox

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
