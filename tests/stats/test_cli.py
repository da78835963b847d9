"""The JSON objects behind `metsurv km --json` and `metsurv cox --json`."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from metsurv.cli.cox import cox_json, format_cox
from metsurv.cli.km import format_km, km_json
from tests.stats.helpers import ABS_EST, assert_close_abs, assert_close_rel, dataset, reference


def test_km_json_schema_and_values_match_R():
    """R: summary(survfit(Surv(time, event) ~ sex, lung, conf.type = 'log-log'),
    times = ..., extend = TRUE) and survdiff(..., rho = 0 / 1): values 1e-8 abs,
    statistics 1e-6 rel."""
    ref = next(k for k in reference("lung")["km"] if k["by"] == "sex"
               and "log-log" in k["call"])
    out = km_json(dataset("lung"), "time", "event", "sex", ref["times"], "log-log",
                  extend=True)
    json.dumps(out)
    assert set(out) == {"groups", "logrank", "peto", "n_dropped", "by", "time", "event",
                        "start", "weights", "conf_type", "warnings"}
    assert (out["start"], out["weights"], out["warnings"]) == (None, None, [])
    g = out["groups"][0]
    assert set(g) == {"group", "n", "events", "median", "median_ci", "survival"}
    assert set(g["survival"][0]) == {"time", "estimate", "se", "lower", "upper", "at_risk"}
    at = pd.DataFrame(ref["at_times"])
    got = pd.DataFrame([dict(s, group=gr["group"]) for gr in out["groups"]
                        for s in gr["survival"]])
    for mine, theirs in (("estimate", "estimate"), ("se", "std_err"), ("lower", "lower"),
                         ("upper", "upper"), ("at_risk", "n_risk")):
        assert_close_abs(got[mine].astype(float), at[theirs].tolist(), ABS_EST, mine)
    med = pd.DataFrame(ref["median"])
    assert_close_abs([x["median"] for x in out["groups"]], med["median"].tolist())
    assert_close_abs([x["median_ci"][0] for x in out["groups"]], med["lower"].tolist())
    sd = reference("lung")["survdiff"]
    assert_close_rel(out["logrank"]["statistic"], sd[0]["chisq"])
    assert_close_rel(out["peto"]["statistic"], sd[1]["chisq"])
    assert "Log-rank" in format_km(out)


@pytest.mark.parametrize("case", ["by_sex", "by_sex_extend", "overall", "overall_extend"])
def test_km_json_times_beyond_follow_up_against_R(case):
    """R: ``summary(survfit(Surv(time, event) ~ sex, lung, conf.type = 'log-log'),
    times = c(180, 365, 900, 965, 1000, 1022, 1100), extend = FALSE / TRUE)``
    (fixture extra_km): the same rows (a time after a group's last follow-up, female 965
    and male 1022, left out by default), estimate, se and limits 1e-8 absolute, at risk
    exact. Times are given unsorted: R sorts them."""
    ref = reference("extra_km")
    want = ref[case]
    by = "sex" if case.startswith("by_sex") else None
    out = km_json(dataset("extra_rmst"), "time", "event", by, ref["times"][::-1],
                  "log-log", extend=case.endswith("extend"))
    got = pd.DataFrame([dict(s, group=g["group"]) for g in out["groups"]
                        for s in g["survival"]])
    assert got["group"].tolist() == want["strata"]
    assert got["time"].tolist() == want["time"]
    assert got["at_risk"].tolist() == want["n_risk"]
    for mine, theirs in (("estimate", "surv"), ("se", "std_err"), ("lower", "lower"),
                         ("upper", "upper")):
        assert_close_abs(got[mine].astype(float), want[theirs], ABS_EST, mine)


def test_km_json_without_by_has_null_tests():
    out = km_json(dataset("lung"), "time", "event", by=None, times=[180, 365])
    assert out["logrank"] is None and out["peto"] is None
    assert [s["time"] for s in out["groups"][0]["survival"]] == [180.0, 365.0]


def test_cox_json_schema_and_values_match_R():
    """R: coxph(Surv(time, event) ~ age + sex + ph_ecog, lung) and cox.zph(fit): coef,
    loglik, concordance and zph chisq 1e-6 relative."""
    ref = reference("lung")["cox"][0]
    out = cox_json(dataset("lung"), "time", "event", ["age", "sex", "ph_ecog"], "efron", None)
    json.dumps(out)
    assert {"n", "events", "loglik", "concordance", "terms", "ph_test"} <= set(out)
    assert set(out["terms"][0]) == {"term", "coef", "se", "robust_se", "hr", "lower",
                                    "upper", "p"}
    assert out["terms"][0]["robust_se"] is None
    assert_close_rel([t["coef"] for t in out["terms"]], ref["coef"])
    assert_close_rel(out["loglik"], ref["loglik"][1])
    assert_close_rel(out["concordance"], ref["concordance"])
    assert out["ph_test"][-1]["term"] == "GLOBAL"
    assert_close_rel([z["chisq"] for z in out["ph_test"]], ref["zph"]["chisq"])
    assert (out["n"], out["events"]) == (ref["n"], ref["events"])
    text = format_cox(out)
    assert "GLOBAL" in text and "ph_ecog" in text


def test_cox_json_passes_ties_and_robust():
    out = cox_json(dataset("lung"), "time", "event", ["age", "sex"], ties="breslow",
                   robust=True)
    assert [t["term"] for t in out["terms"]] == ["age", "sex"]
    assert out["terms"][0]["robust_se"] is not None


@pytest.mark.parametrize("name, options", [
    ("age_sex_robust", {"robust": True}),
    ("age_sex_cluster_inst", {"cluster": "inst"}),
])
def test_cox_json_robust_and_cluster_against_R(name, options):
    """R: ``coxph(Surv(time, event) ~ age + sex, lung, robust = TRUE)`` and
    ``~ age + sex + cluster(inst)`` (fixture lung.json): robust_se, HR limits 1e-8
    absolute; coef and p (from the robust SE, as summary.coxph) 1e-6 relative; n, events
    and the one row without inst dropped, exact."""
    ref = next(c for c in reference("lung")["cox"] if c["name"] == name)
    out = cox_json(dataset("lung"), "time", "event", ["age", "sex"], **options)
    assert out["robust"] is True and out["cluster"] == options.get("cluster")
    assert (out["n"], out["events"]) == (ref["n"], ref["events"])
    assert out["n_dropped"] == 228 - ref["n"]
    terms = pd.DataFrame(out["terms"])
    assert terms["term"].tolist() == ref["terms"]
    assert_close_rel(terms["coef"], ref["coef"])
    assert_close_abs(terms["robust_se"], ref["robust_se"], ABS_EST, "robust_se")
    assert_close_abs(terms["se"], ref["se"], ABS_EST, "se")
    assert_close_rel(terms["p"], ref["p"])
    assert_close_abs(terms["lower"], ref["lower"], ABS_EST, "lower")
    assert_close_abs(terms["upper"], ref["upper"], ABS_EST, "upper")
    assert "robust (sandwich) SE" in format_cox(out)


def test_cox_json_lists_reference_levels():
    """R: ``coxph(Surv(time, event) ~ sex_f + ph_karno + wt_loss, lung)`` (R's default
    coding: female first, term sex_fmale): metsurv's term sex_f[male] against the
    reference "female" that the JSON states; coef 1e-6 relative."""
    ref = next(c for c in reference("lung")["cox"] if c["name"] == "sexf_karno_wtloss")
    out = cox_json(dataset("lung"), "time", "event", ["sex_f", "ph_karno", "wt_loss"])
    assert out["references"] == {"sex_f": "female"}
    assert out["robust"] is False and out["cluster"] is None
    assert [t["term"] for t in out["terms"]] == ["sex_f[male]", "ph_karno", "wt_loss"]
    assert_close_rel([t["coef"] for t in out["terms"]], ref["coef"])
    assert "reference levels: sex_f = female" in format_cox(out)

