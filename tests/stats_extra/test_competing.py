"""Competing risks against R cmprsk 2.2 (``tests/reference/extra_cr.json``).

Tolerances: estimates and variances 1e-8 absolute; Gray's statistic and p 1e-6 relative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv.schema import FIRST_EVENTS
from metsurv.stats.competing import (
    CENSORED,
    DEATH,
    EXTRATHORACIC_RECURRENCE,
    FIRST_EVENT_STATUS,
    PULMONARY_RECURRENCE,
    RECURRENCE_SITE_UNKNOWN,
    cause_specific_cox,
    cuminc,
    recurrence_status,
)
from tests.stats.helpers import ABS_EST, REL_STAT, assert_close_abs, dataset, reference

CASES = {
    "three_groups": {"by": "grp"},
    "three_groups_rho1": {"by": "grp", "rho": 1},
    "three_groups_strata": {"by": "grp", "strata": "stratum"},
    "two_groups": {"by": "grp", "subset": "grp != 'c'"},
    "one_group": {},
    "edge": {"by": "grp", "dataset": "extra_cr_edge"},
}


def assert_cuminc_matches(res, ref: dict, ungrouped: bool = False) -> None:
    """Compare every curve (cmprsk step corners: the value after each jump) and test."""
    for key, cur in ref["curves"].items():
        group, cause = key.rsplit(" ", 1)
        t = np.asarray(cur["time"])[2:-1:2]
        est = np.asarray(cur["est"])[2:-1:2]
        var = np.asarray(cur["var"])[2:-1:2]
        tab = res.table
        mine = tab[(tab["cause"] == int(cause)) & (ungrouped | (tab["group"].astype(str) == group))]
        np.testing.assert_array_equal(mine["time"].to_numpy(), t)
        assert_close_abs(mine["estimate"].to_numpy(), est, ABS_EST)
        assert_close_abs(mine["variance"].to_numpy(), var, ABS_EST)
    for test in ref.get("tests", []):
        row = res.tests.set_index("cause").loc[int(test["cause"])]
        assert row["df"] == test["df"]
        np.testing.assert_allclose(row["statistic"], test["stat"], rtol=REL_STAT)
        np.testing.assert_allclose(row["p"], test["pv"], rtol=REL_STAT)


@pytest.mark.parametrize("case", CASES)
def test_cuminc_against_R_cmprsk(case):
    """R: ``cmprsk::cuminc(time, status, grp, strata, rho)`` (calls in the fixture):
    ``$est``/``$var`` 1e-8 absolute, ``$Tests`` stat and pv 1e-6 relative."""
    ref = reference("extra_cr")[case]
    opts = dict(CASES[case])
    df = dataset(opts.pop("dataset", "extra_cr"))
    if "subset" in opts:
        df = df.query(opts.pop("subset"))
    res = cuminc(df, time="time", status="status", **opts)
    assert_cuminc_matches(res, ref["fit"], ungrouped="by" not in opts)


def test_cuminc_ties_are_not_jittered():
    """The same data give the same answer every time, and tied events of both causes at one
    time enter together (the heavy-tie dataset has such times)."""
    df = dataset("extra_cr")
    both = df.groupby("time")["status"].agg(lambda s: {1, 2} <= set(s))
    assert both.any()
    a = cuminc(df, "time", "status", by="grp").table
    b = cuminc(df.sample(frac=1, random_state=1), "time", "status", by="grp").table
    pd.testing.assert_frame_equal(a, b)


def test_cuminc_sums_to_one_minus_km():
    """Sum of the CIFs over causes equals 1 - all-cause KM at the last time."""
    df = dataset("extra_cr")
    res = cuminc(df, "time", "status")
    last = res.at([df["time"].max()])
    km_all = np.prod(1 - df.groupby("time")["status"].agg(lambda s: (s > 0).sum())
                     / (len(df) - df.groupby("time").size().cumsum().shift(fill_value=0)))
    assert last["estimate"].sum() == pytest.approx(1 - km_all, abs=1e-12)


def test_cuminc_confidence_limits_bracket_estimate():
    res = cuminc(dataset("extra_cr"), "time", "status", by="grp")
    tab = res.table.dropna(subset=["lower"])
    assert ((tab["lower"] <= tab["estimate"]) & (tab["estimate"] <= tab["upper"])).all()
    assert res.to_dict()["tests"][0]["cause"] == 1


def test_recurrence_status_follows_first_event():
    """Every first event is its own cause; a missing first event is a missing status."""
    events = ["pulmonary_recurrence", "extrathoracic_recurrence", "recurrence_site_unknown",
              "death_without_recurrence", "event_free", None]
    df = pd.DataFrame({"first_event": pd.Categorical(events, categories=list(FIRST_EVENTS))})
    assert recurrence_status(df).tolist() == [PULMONARY_RECURRENCE, EXTRATHORACIC_RECURRENCE,
                                              RECURRENCE_SITE_UNKNOWN, DEATH, CENSORED, pd.NA]
    assert set(FIRST_EVENT_STATUS) == set(FIRST_EVENTS)
    with pytest.raises(ValueError, match="first_event"):
        recurrence_status(df.drop(columns="first_event"))


def test_cuminc_uses_first_event_not_recurrence_columns():
    """Regression: a recurrence without a recorded site was counted as extrathoracic, and a
    recurrence date the loader rejected (before the operation: first event missing) still
    counted. The loader's first_event decides; the rejected row is dropped and counted."""
    df = pd.DataFrame({
        "dfs_months": [5.0, 7.0, 9.0, 3.0, 4.0, 6.0],
        "dfs_event": [True, True, False, True, True, True],
        "recurrence_date": pd.to_datetime(["2020-01-01", None, None, "2021-02-01",
                                           "2021-03-01", "1999-01-01"]),
        "recurrence_site": pd.Categorical(["pulmonary", None, None, "extrathoracic", None,
                                           "pulmonary"]),
        "first_event": pd.Categorical(
            ["pulmonary_recurrence", "death_without_recurrence", "event_free",
             "extrathoracic_recurrence", "recurrence_site_unknown", None],
            categories=list(FIRST_EVENTS)),
    })
    res = cuminc(df)
    assert res.n_dropped == 1
    assert res.causes == (PULMONARY_RECURRENCE, DEATH, EXTRATHORACIC_RECURRENCE,
                          RECURRENCE_SITE_UNKNOWN)
    n_events = res.table.groupby("cause")["n_event"].sum().to_dict()
    assert n_events == {1: 1, 2: 1, 3: 1, 4: 1}


def test_cuminc_first_event_against_R_cmprsk():
    """R: ``cuminc(time, status, grp, cencode = 0)`` on extra_cr_first_event with status
    0 event_free, 1 pulmonary, 2 death, 3 extrathoracic, 4 site unknown (fixture call):
    ``$est``/``$var`` 1e-8 absolute, ``$Tests`` 1e-6 relative; the 15 rows cmprsk omits
    for a missing status are metsurv's n_dropped."""
    ref = reference("extra_cr")["first_event"]
    df = dataset("extra_cr_first_event")
    df["first_event"] = pd.Categorical(df["first_event"], categories=list(FIRST_EVENTS))
    res = cuminc(df, time="time", by="grp")
    assert res.causes == (1, 2, 3, 4)
    assert res.n_dropped == ref["n_omitted"] == 15
    assert_cuminc_matches(res, ref["fit"])


def test_cause_specific_cox_first_event_against_R():
    """R: ``coxph(Surv(time, status == 1) ~ grp, ties = 'efron')`` on extra_cr_first_event
    (rows with a missing status dropped): coef and loglik 1e-6 relative, se 1e-8 absolute;
    n and events exact."""
    ref = reference("extra_cr")["first_event_cause_specific_cox"]
    df = dataset("extra_cr_first_event")
    df["first_event"] = pd.Categorical(df["first_event"], categories=list(FIRST_EVENTS))
    fit = cause_specific_cox(df, ["grp"], time="time")
    assert (fit.n, fit.events, fit.n_dropped) == (ref["n"], ref["nevent"], 15)
    np.testing.assert_allclose(fit.coef, ref["coef"], rtol=REL_STAT)
    assert_close_abs(fit.se, np.sqrt(np.diag(ref["var"])), ABS_EST)
    np.testing.assert_allclose(fit.loglik, ref["loglik"][1], rtol=REL_STAT)


def test_cause_specific_cox_against_R():
    """R: ``coxph(Surv(time, status == 1) ~ grp, ties = "efron")``: coef and loglik 1e-6
    relative, se 1e-8 absolute."""
    ref = reference("extra_cr")["cause_specific_cox"]
    fit = cause_specific_cox(dataset("extra_cr"), ["grp"], cause=1, time="time", status="status")
    assert list(fit.terms) == ["grp[b]", "grp[c]"] and ref["names"] == ["grpb", "grpc"]
    np.testing.assert_allclose(fit.coef, ref["coef"], rtol=REL_STAT)
    assert_close_abs(fit.se, np.sqrt(np.diag(ref["var"])), ABS_EST)
    np.testing.assert_allclose(fit.loglik, ref["loglik"][1], rtol=REL_STAT)
