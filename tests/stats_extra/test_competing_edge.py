"""Competing risks on the designs of issue 9, against R (fixtures:
tests/reference/make_km_edge.R -> km_edge.json): Gray's test with a singular covariance
(cmprsk), and the Aalen-Johansen estimate with case weights and entry times (R survfit on
a multi-state Surv, infinitesimal-jackknife std.err)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.stats.competing import GrayTestResult, cause_specific_cox, cuminc, gray_test
from tests.stats.helpers import ABS_EST, REL_STAT, dataset, reference
from tests.stats.test_km_edge import r_arg

EDGE = reference("km_edge")
GRAY = {c["name"]: c for c in EDGE["gray"]}
AJ = {c["name"]: c for c in EDGE["aj"]}


def _gray_data(name):
    if name == "sim":
        return dataset("km_edge_sim").assign(status=lambda d: d["cause"])
    df = dataset("km_edge_gray_singular")
    return df[df["g"] != "a"] if name == "two_groups" else df


@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
@pytest.mark.parametrize("name", GRAY)
def test_gray_test_matches_R_cmprsk_including_singular(name):
    """R: cmprsk::cuminc(time, status, g)$Tests: df exact; pv 1e-6 relative; stat 1e-6
    relative, and where cmprsk flags a singular covariance (stat -1, pv 1 for every cause)
    metsurv gives p = 1, statistic NaN and singular = True for every cause."""
    ref = GRAY[name]
    res = cuminc(_gray_data(name), time="time", status="status", by="g")
    assert [str(g.cause) for g in res.gray] == ref["cause"]
    for g, stat, pv, df in zip(res.gray, ref["stat"], ref["pv"], ref["df"], strict=True):
        assert isinstance(g, GrayTestResult) and g.df == df
        np.testing.assert_allclose(g.p, pv, rtol=REL_STAT)
        if stat == -1:
            assert g.singular and np.isnan(g.statistic)
        else:
            assert not g.singular
            np.testing.assert_allclose(g.statistic, stat, rtol=REL_STAT)
    np.testing.assert_allclose(res.tests["p"], ref["pv"], rtol=REL_STAT)


def test_singular_gray_test_warns_alike_for_every_cause():
    """Regression (issue 9): two causes of the same call answered differently."""
    with pytest.warns(StatsWarning, match="singular"):
        res = cuminc(_gray_data("three_groups"), time="time", status="status", by="g")
    assert [g.p for g in res.gray] == [1.0, 1.0]
    assert len(res.warnings) == 2 and all("singular" in w for w in res.warnings)
    d = res.gray[0].to_dict()
    assert d["p"] == 1.0 and d["statistic"] is None and d["singular"] is True
    json.dumps(res.to_dict(), allow_nan=False)


def test_gray_test_is_a_result_and_needs_two_groups():
    df = _gray_data("sim")
    res = gray_test(df["time"], df["status"], df["g"], cause=2)
    assert (res.statistic, res.df, res.p) == (res.to_dict()["statistic"], 2, res.to_dict()["p"])
    assert list(res.to_frame()["group"]) == ["a", "b"]
    with pytest.raises(DataError, match="two groups"):
        gray_test(df["time"], df["status"], ["a"] * len(df))


@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
@pytest.mark.parametrize("name", AJ)
def test_weighted_left_truncated_cuminc_matches_R_survfit(name):
    """R: survfit(Surv([entry,] time, state) ~ [g], data, [weights = w,] id = row) (call
    in the fixture), pstate and std.err of recurrence (1) and death (2) at each cause's
    event times: 1e-8 absolute (metsurv variance="survfit")."""
    ref = AJ[name]
    res = cuminc(dataset("km_edge_sim"), time="time", status="cause", by=r_arg(ref["by"]),
                 start=r_arg(ref["start"]) or False, weights=r_arg(ref["weights"]),
                 variance="survfit")
    assert res.variance == "survfit"
    groups = np.asarray(ref["group"], dtype=str)
    times = np.asarray(ref["time"], dtype=float)
    for cause in (1, 2):
        mine = res.table[res.table["cause"] == cause]
        for g in np.unique(groups):
            cur = mine[mine["group"].astype(str) == g]
            at = np.isin(times[groups == g], cur["time"].to_numpy())
            assert at.sum() == len(cur)
            np.testing.assert_allclose(cur["estimate"],
                                       np.asarray(ref[f"estimate_{cause}"])[groups == g][at],
                                       atol=ABS_EST, rtol=0)
            np.testing.assert_allclose(cur["std_err"],
                                       np.asarray(ref[f"std_err_{cause}"])[groups == g][at],
                                       atol=ABS_EST, rtol=0)


def test_weights_switch_to_survfit_variance_and_skip_gray():
    df = dataset("km_edge_sim")
    with pytest.warns(StatsWarning, match="Gray's test is not computed"):
        res = cuminc(df, time="time", status="cause", by="g", weights="w_frac")
    assert res.variance == "survfit" and res.gray == () and res.tests.empty
    assert res.to_dict()["weights"] == "w_frac"
    with pytest.raises(ValueError, match="variance='survfit'"):
        cuminc(df, time="time", status="cause", weights="w_frac", variance="cmprsk")


def test_unit_weights_give_the_unweighted_estimate():
    """Weights of 1 change nothing in the estimate (hand check of the weighted sums)."""
    df = dataset("km_edge_sim").assign(one=1.0)
    a = cuminc(df, time="time", status="cause", variance="survfit").table
    b = cuminc(df, time="time", status="cause", weights="one").table
    pd.testing.assert_series_equal(a["estimate"], b["estimate"])
    c = cuminc(df, time="time", status="cause").table  # cmprsk's variance
    np.testing.assert_allclose(a["estimate"], c["estimate"], atol=1e-15)


@pytest.mark.parametrize("bad", [-1.0, np.nan])
def test_cuminc_refuses_bad_weights(bad):
    df = dataset("km_edge_sim")
    df.loc[5, "w_frac"] = bad
    with pytest.raises(DataError, match="weight"):
        cuminc(df, time="time", status="cause", weights="w_frac")


def test_cause_specific_cox_passes_entry_and_weights_to_cox():
    """cause_specific_cox(start=, weights=) is cox on Surv(entry, time, cause == 1) with the
    same weights (R coxph(Surv(entry, time, cause == 1) ~ g, weights = w_int)); the fit's
    warnings travel on the result."""
    from metsurv.stats.cox import cox

    df = dataset("km_edge_sim")
    fit = cause_specific_cox(df, ["g"], cause=1, time="time", status="cause", start="entry",
                             weights="w_int")
    direct = cox(df.assign(ev=(df["cause"] == 1).astype(int)), ["g"], time="time", event="ev",
                 start="entry", weights="w_int")
    np.testing.assert_allclose(fit.coef, direct.coef, rtol=1e-12)
    assert fit.warnings == direct.warnings
