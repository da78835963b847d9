"""Counting-process Cox against R survival 3.5 (``tests/reference/extra_tv.json``), and the
immortal-time demonstration on a cohort where repeat resection has no effect.

Tolerances: coefficients, statistics and p-values 1e-6 relative; variances, standard
errors, concordance and residuals 1e-8 absolute.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from metsurv.stats._times import aeq_times
from metsurv.stats.cox import cox
from metsurv.stats.landmark import landmark
from metsurv.stats.timevarying import counting_process_cox, naive_repeat_resection_comparison
from tests.stats.helpers import (
    ABS_EST,
    REL_STAT,
    assert_close_abs,
    assert_close_rel,
    dataset,
    reference,
)

from ._simulate import null_repeat_resection_cohort

REF = reference("extra_tv")


def tv_cohort() -> SimpleNamespace:
    patients = dataset("extra_tv_patients")
    # make_reference_extra.R: strata(parity), odd and even patient numbers
    number = patients["patient_id"].str[1:].astype(int)
    patients["parity"] = np.where(number % 2 == 0, "even", "odd")
    return SimpleNamespace(patients=patients, counting_process=dataset("extra_tv_cp"))


#: fixture key -> counting_process_cox options (the R call is stored in the fixture)
TV_CASES = {
    "efron": {},
    "breslow": {"ties": "breslow"},
    "number": {"time_dependent": ("resection_number",)},
    "robust": {"robust": True},
    "strata_breslow_robust": {"ties": "breslow", "robust": True, "strata": "parity"},
    "strata_efron": {"time_dependent": ("resection_number",), "strata": "parity"},
}


def _r_names(ref) -> list[str]:
    """R's term names in metsurv's spelling: the logical exposure is a two-level factor."""
    return [f"{n}[True]" if n == "repeat_resection" else n for n in ref["names"]]


def assert_cox_matches_R(fit, ref) -> None:
    """coef, loglik, score / Wald / robust score statistics 1e-6 relative; model-based and
    robust variances 1e-8 absolute; rows and events exact."""
    robust = bool(ref["naive_var"])
    assert_close_rel(fit.coef, ref["coef"], REL_STAT, "coef")
    assert_close_rel([fit.loglik_null, fit.loglik], ref["loglik"], REL_STAT, "loglik")
    assert_close_abs(fit.vcov, ref["naive_var"] if robust else ref["var"], ABS_EST, "vcov")
    assert_close_rel(fit.score[0], ref["score"], REL_STAT, "score test")
    assert_close_rel(fit.wald[0], ref["wald"], REL_STAT, "Wald test")
    if robust:
        assert_close_abs(fit.vcov_robust, ref["var"], ABS_EST, "robust vcov")
        assert_close_rel(fit.robust_score[0], ref["robust_score"], REL_STAT, "robust score")
    else:
        assert fit.vcov_robust is None
    assert (fit.n, fit.events) == (ref["n"], ref["nevent"])


@pytest.mark.parametrize("key", TV_CASES)
def test_counting_process_cox_against_R(key):
    """R: ``coxph(Surv(start, stop, event) ~ repeat_resection + x [+ strata(parity)],
    ties = 'efron' | 'breslow' [, cluster = patient_id])`` and ``~ resection_number + x``
    (exact calls in extra_tv.json): see :func:`assert_cox_matches_R`; the table's SE is
    the robust one when robust (as ``summary.coxph``), 1e-8 absolute."""
    ref, opts = REF[key], dict(TV_CASES[key])
    fit = counting_process_cox(tv_cohort(), baseline=("x",), **opts)
    assert fit.table["term"].tolist() == _r_names(ref)
    assert_cox_matches_R(fit.cox, ref)
    se = fit.table["robust_se" if opts.get("robust") else "se"]
    assert_close_abs(se, np.sqrt(np.diag(ref["var"])), ABS_EST, "table se")
    assert fit.loglik == pytest.approx(ref["loglik"][1], rel=REL_STAT)
    assert fit.n_patients == 300 and fit.n_rows == ref["n"]
    json.dumps(fit.to_dict())


@pytest.mark.parametrize("key", ["efron", "breslow", "robust", "strata_breslow_robust",
                                 "neartie"])
def test_cox_start_concordance_matches_R(key):
    """R: ``fit$concordance`` of the (start, stop] fits (concordancefit -> concordance4:
    partners are the rows at risk at each event time; std clustered by patient with
    ``cluster``): counts exact, concordance and std 1e-8 absolute."""
    fit = _cox_start(key)
    ref = REF[key]
    assert_close_abs(fit.concordance, ref["concordance"], ABS_EST, "C")
    assert_close_abs(fit.concordance_se, ref["concordance_se"], ABS_EST, "C std")
    rc, got = ref["concordance_count"], fit.concordance_counts
    assert [got["concordant"], got["discordant"], got["tied_x"], got["tied_y"],
            got["tied_xy"]] == [rc["concordant"], rc["discordant"], rc["tied.x"],
                                rc["tied.y"], rc["tied.xy"]]


@pytest.mark.parametrize("key", ["efron_zph", "robust", "strata_breslow_robust",
                                 "strata_efron", "neartie"])
def test_cox_start_ph_test_matches_R_cox_zph(key):
    """R: ``cox.zph(fit, transform = 'km' | 'rank')`` on the (start, stop] fits (KM of the
    counting-process data; events listed as R does, tied deaths in reverse row order):
    chisq and p 1e-6 relative, df exact; x, time and scaled residuals y 1e-8 absolute."""
    fit = _cox_start(key)
    zr = REF[key]["zph"]
    zph = fit.ph_test()
    assert list(zph.terms) == [*fit.covariates, "GLOBAL"]
    assert_close_rel(zph.chisq, zr["chisq"], REL_STAT, "chisq")
    assert_close_rel(zph.p, zr["p"], REL_STAT, "p")
    assert zph.df.tolist() == zr["df"]
    rank = fit.ph_test("rank")
    assert_close_rel(rank.chisq, REF[key]["zph_rank"]["chisq"], REL_STAT, "rank chisq")
    res = zph.residuals
    assert_close_abs(res["time"], zr["time"], ABS_EST, "time")
    assert_close_abs(res["x"], zr["x"], ABS_EST, "x")
    y = res[[c if c != "x" else "y:x" for c in fit.covariates]].to_numpy()
    assert_close_abs(y, np.asarray(zr["y"], dtype=float).ravel(), ABS_EST, "y")


def _cox_start(key):
    """``cox(start=...)`` directly, as the fixture's R call."""
    if key == "neartie":
        rows = dataset("extra_tv_neartie")
    else:
        cohort = tv_cohort()
        rows = cohort.counting_process.merge(cohort.patients[["patient_id", "x", "parity"]],
                                             on="patient_id")
    opts = {"efron_zph": {}, "neartie": {"cluster": "patient_id"}}.get(key)
    if opts is None:
        opts = dict(TV_CASES[key])
        opts = {"ties": opts.get("ties", "efron"), "strata": opts.get("strata"),
                "cluster": "patient_id" if opts.get("robust") else None,
                "covariates": list(opts.get("time_dependent", ("repeat_resection",)))}
    covs = [*opts.pop("covariates", ["repeat_resection"]), "x"]
    return cox(rows, covs, start="start", time="stop", event="event", **opts)


def test_cox_start_merges_near_tied_start_and_stop_as_R_aeqSurv():
    """R: ``coxph(Surv(start, stop, event) ~ repeat_resection + x, cluster = patient_id)``
    on boundaries recomputed along two arithmetic paths (extra_tv_neartie): start and stop
    merged together (``aeqSurv``), so every patient is at risk once at each event time.
    Fit as :func:`assert_cox_matches_R`; merged distinct times as R's."""
    ref = REF["neartie"]
    fit = _cox_start("neartie")
    assert_cox_matches_R(fit, ref)
    rows = dataset("extra_tv_neartie")
    both = np.r_[rows["start"], rows["stop"]]
    assert np.unique(aeq_times(both)).size == ref["n_unique_aeq"] < np.unique(both).size


def test_cox_start_validates_intervals():
    rows = pd.DataFrame({"start": [0.0, 3, 0], "stop": [2.0, 3, 4], "event": [1, 1, 0],
                         "x": [1.0, 2, 3]})
    with pytest.raises(ValueError, match="start"):
        cox(rows, ["x"], start="start", time="stop", event="event")


def test_counting_process_cox_needs_a_counting_process_table():
    with pytest.raises(TypeError, match="counting-process"):
        counting_process_cox(dataset("extra_tv_patients"))


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
        np.testing.assert_allclose(res.cox.coef, ref["cox"]["coef"], rtol=REL_STAT)
        np.testing.assert_allclose(res.cox.se, np.sqrt(np.diag(ref["cox"]["var"])),
                                   atol=ABS_EST, rtol=0)
        surv = res.km.survival_at()
        assert_close_abs(surv["estimate"], ref["km"]["surv"], ABS_EST)
        assert_close_abs(surv["std_err"], ref["km"]["std_err"], ABS_EST)
    assert res.to_dict()["n_excluded"] == 300 - ref["n"]


def test_landmark_keeps_delayed_entry_after_the_landmark():
    """A patient who entered the registry after the landmark is at risk only from entry - at
    (months from the landmark): the landmark analysis of a cohort with ``entry_months`` equals
    km/logrank/cox on the hand-built landmark set ``Surv(pmax(entry - 24, 0), os - 24,
    event)`` (each of those is proven against R: km R survfit(Surv(start, stop, event)),
    cox R coxph, logrank tests/reference/make_logrank_entry.R), and differs from ignoring entry
    (``start=False``), which counts patients at risk before anyone could see them."""
    from metsurv.stats import km, logrank

    cohort = tv_cohort()
    p = cohort.patients.copy()
    rng = np.random.default_rng(7)
    p["entry_months"] = np.where(rng.random(len(p)) < 0.4,
                                 rng.uniform(0, 1, len(p)) * p["os_months"], 0.0)
    data = SimpleNamespace(patients=p, counting_process=cohort.counting_process)
    res = landmark(data, at=24, covariates=["x"], times=[12, 36])
    lm = res.data
    hand = lm.assign(s=np.clip(p.set_index("patient_id").loc[lm["patient_id"],
                                                              "entry_months"].to_numpy() - 24,
                               0, None))
    outcome = {"time": "os_months", "event": "os_event", "start": "s"}
    want_km = km(hand, by="repeat_resection", times=[12, 36], **outcome).survival_at()
    assert_close_abs(res.km.survival_at()["estimate"], want_km["estimate"], 1e-12)
    want_lr = logrank(hand, by="repeat_resection", **outcome)
    assert res.logrank.statistic == pytest.approx(want_lr.statistic, rel=1e-12)
    want_cox = cox(hand, ["repeat_resection", "x"], reference={"repeat_resection": False},
                   **outcome)
    np.testing.assert_allclose(res.cox.coef, want_cox.coef, rtol=1e-10)
    naive = landmark(data, at=24, covariates=["x"], times=[12, 36], start=False)
    assert not np.allclose(naive.km.survival_at()["estimate"],
                           res.km.survival_at()["estimate"])
