"""The JSON objects behind `metsurv km --json` and `metsurv cox --json`."""

from __future__ import annotations

import json

import pandas as pd

from metsurv.stats.cli import cox_json, format_cox, format_km, km_json
from tests.stats.helpers import ABS_EST, assert_close_abs, assert_close_rel, dataset, reference


def test_km_json_schema_and_values_match_R():
    """R: summary(survfit(Surv(time, event) ~ sex, lung, conf.type = 'log-log'),
    times = ...) and survdiff(..., rho = 0 / 1): values 1e-8 abs, statistics 1e-6 rel."""
    ref = next(k for k in reference("lung")["km"] if k["by"] == "sex"
               and "log-log" in k["call"])
    out = km_json(dataset("lung"), "time", "event", "sex", ref["times"], "log-log")
    json.dumps(out)
    assert set(out) == {"groups", "logrank", "peto", "n_dropped"}
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
