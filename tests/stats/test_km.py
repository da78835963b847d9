"""Kaplan-Meier parity with R survival (fixtures from tests/reference/make_reference.R)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metsurv.stats import km
from tests.stats.helpers import ABS_EST, assert_close_abs, cases, dataset, reference

KM_CASES = cases("km")


def _fit(name: str, i: int):
    ref = reference(name)["km"][i]
    fit = km(dataset(name), by=ref["by"], time="time", event="event",
             conf_type=ref["conf_type"], conf_level=ref["conf_level"], times=ref["times"])
    return ref, fit


def _ids(c):
    name, i = c
    ref = reference(name)["km"][i]
    return f"{name}-{ref['by'] or 'all'}-{ref['conf_type']}-{ref['conf_level']}"


@pytest.mark.parametrize("case", KM_CASES, ids=_ids)
def test_km_table_matches_R_survfit(case):
    """R: summary(survfit(Surv(time, event) ~ by, data, conf.type = ...), censored = TRUE).
    time, n.risk, n.event, n.censor, surv, std.err (of S), lower, upper: 1e-8 absolute."""
    ref, fit = _fit(*case)
    exp = pd.DataFrame(ref["table"])
    got = fit.to_frame()
    assert [str(g) for g in got["group"]] == [str(g) for g in exp["group"]]
    for col in ["time", "n_risk", "n_event", "n_censor", "estimate", "std_err", "lower", "upper"]:
        assert_close_abs(got[col], exp[col].tolist(), ABS_EST, what=col)


@pytest.mark.parametrize("case", KM_CASES, ids=_ids)
def test_km_median_ci_matches_R_print_survfit(case):
    """R: summary(fit)$table[, c("records", "events", "median", "0.95LCL", "0.95UCL")]
    (print.survfit's minmin rule, midpoint when flat at 0.5): 1e-8 absolute."""
    ref, fit = _fit(*case)
    exp = pd.DataFrame(ref["median"])
    got = fit.medians()
    assert [str(g) for g in got["group"]] == [str(g) for g in exp["group"]]
    for col in ["n", "events", "median", "lower", "upper"]:
        assert_close_abs(got[col], exp[col].tolist(), ABS_EST, what=col)


@pytest.mark.parametrize("case", KM_CASES, ids=_ids)
def test_km_at_times_matches_R_summary_times(case):
    """R: summary(fit, times = times, extend = TRUE): n.risk, surv, std.err, lower, upper
    at the requested times: 1e-8 absolute."""
    ref, fit = _fit(*case)
    exp = pd.DataFrame(ref["at_times"])
    got = fit.survival_at()
    for col in ["time", "n_risk", "estimate", "std_err", "lower", "upper"]:
        assert_close_abs(got[col], exp[col].tolist(), ABS_EST, what=col)


def test_km_flat_at_half_takes_midpoint():
    """R: survfit(Surv(1:10, rep(1, 10)) ~ 1) prints median 5.5 (flat segment at 0.5)."""
    fit = km(pd.DataFrame({"t": np.arange(1.0, 11.0), "e": 1}), time="t", event="e")
    assert fit.curves[0].median == 5.5


def test_km_degenerate_groups_give_nan_medians_not_errors():
    df = pd.DataFrame({"t": [1.0, 2.0, 3.0, 4.0, 5.0], "e": [0, 0, 0, 1, 0],
                       "g": ["none", "none", "single", "x", "x"]})
    fit = km(df, by="g", time="t", event="e", times=[0.5, 2, 10])
    med = fit.medians().set_index("group")
    assert med.loc[["none", "single"], ["median", "lower", "upper"]].isna().all().all()
    assert fit.curve("single").n == 1
    json.dumps(fit.to_dict(), allow_nan=False)  # raises unless JSON-safe (NaN -> null)


def test_km_drops_and_counts_missing_rows():
    df = pd.DataFrame({"t": [1.0, np.nan, 3.0, 4.0], "e": [1, 1, None, 1],
                       "g": ["a", "a", "a", None]})
    assert km(df, by="g", time="t", event="e").n_dropped == 3
    assert km(df, time="t", event="e").n_dropped == 2


def test_km_accepts_object_with_patients_and_categorical_order():
    class Cohort:
        patients = pd.DataFrame({"os_months": [1.0, 2, 3, 4],
                                 "os_event": [True, False, True, True],
                                 "resection_status": pd.Categorical(
                                     ["R2", "R0", "R0", "R1"], categories=["R0", "R1", "R2"])})

    fit = km(Cohort(), by="resection_status")
    assert fit.groups == ["R0", "R1", "R2"]
    risk = fit.at_risk([0, 2, 5])
    assert risk.loc["R0"].tolist() == [2, 2, 0]  # times 2 and 3: both at risk at t = 2


def test_km_steps_and_censor_marks():
    df = dataset("lung")
    c = km(df, time="time", event="event").curves[0]
    steps = c.steps()
    assert steps["time"].iloc[0] == 0 and steps["estimate"].iloc[0] == 1
    # the distinct times of the censored rows, counted from the input (lung: whole days)
    censored = np.unique(df.loc[df["event"] == 0, "time"].to_numpy(dtype=float))
    np.testing.assert_array_equal(c.censor_times, censored)


def test_km_rejects_bad_options():
    df = dataset("lung")
    with pytest.raises(ValueError, match="conf_type"):
        km(df, time="time", event="event", conf_type="logit")
    with pytest.raises(KeyError):
        km(df, time="nope", event="event")


def test_text_form_is_the_table_not_a_field_dump():
    """print(result) reads like R's print (a table and the test line), not a dataclass dump."""
    import pandas as pd

    from metsurv.stats import logrank

    df = pd.DataFrame({"os_months": [1, 2, 3, 4, 5, 6], "os_event": [1, 1, 0, 1, 1, 0],
                       "g": list("aabbab")})
    text = repr(logrank(df, by="g"))
    assert text.startswith("LogRankResult\n") and "Chisq =" in text
    assert "array(" not in text and "observed=" not in text
