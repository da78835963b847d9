"""RMST against R survival 3.5 (``tests/reference/extra_rmst.json``, survival::lung).

Tolerances: rmean and se 1e-8 absolute; p-values 1e-6 relative.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from metsurv.stats.irlm import irlm_comparisons
from metsurv.stats.rmst import rmst
from tests.stats.helpers import ABS_EST, REL_STAT, assert_close_abs, dataset, reference

REF = reference("extra_rmst")
TAUS = [r["tau"] for r in REF["overall"]]


@pytest.mark.parametrize("i", range(len(TAUS)), ids=[str(t) for t in TAUS])
def test_rmst_against_R_survmean(i):
    """R: ``summary(survfit(Surv(time, event) ~ 1), rmean = tau)$table`` and ``~ sex``:
    ``rmean`` and ``se(rmean)``, 1e-8 absolute (tau at a death time, at the last time and
    beyond it included: R's rmean extends the curve flat, ``beyond_follow_up="extend"``)."""
    df = dataset("extra_rmst")
    tau = TAUS[i]
    overall = rmst(df, tau, time="time", event="event", beyond_follow_up="extend").table
    assert_close_abs(overall["rmst"], REF["overall"][i]["rmean"], ABS_EST)
    assert_close_abs(overall["se"], REF["overall"][i]["se"], ABS_EST)
    by = rmst(df, tau, by="sex", time="time", event="event", beyond_follow_up="extend").table
    assert by["group"].tolist() == ["female", "male"]
    assert_close_abs(by["rmst"], REF["by_sex"][i]["rmean"], ABS_EST)
    assert_close_abs(by["se"], REF["by_sex"][i]["se"], ABS_EST)


@pytest.mark.parametrize("i", range(len(TAUS)), ids=[str(t) for t in TAUS])
def test_rmst_difference_against_survRM2_formula(i):
    """R (survRM2 ``rmst2`` normal approximation, written out in the fixture script):
    female - male difference, se, CI 1e-8 absolute; p 1e-6 relative."""
    ref = REF["difference"][i]
    res = rmst(dataset("extra_rmst"), TAUS[i], by="sex", time="time", event="event",
               reference="male", beyond_follow_up="extend")
    c = res.contrasts.iloc[0]
    assert c["group"] == "female" and c["reference"] == "male"
    for mine, theirs in (("difference", "diff"), ("se", "se"), ("lower", "lower"),
                         ("upper", "upper")):
        assert c[mine] == pytest.approx(ref[theirs], abs=ABS_EST)
    assert c["p_value"] == pytest.approx(ref["p"], rel=REL_STAT)


def test_rmst_before_first_time_is_tau():
    df = dataset("extra_rmst")
    res = rmst(df, 1.0, time="time", event="event").table.iloc[0]
    assert res["rmst"] == 1.0 and res["se"] == 0.0
    assert rmst(df, 100, by="sex", time="time", event="event").to_dict()["tau"] == 100.0


def test_rmst_beyond_follow_up_warns_names_group_and_flags_it():
    """Regression: tau after a group's last follow-up (lung: female 965, male 1022) was
    extrapolated silently. Default: R rmean's number, a UserWarning naming the group and
    its last time, and the group in ``extended``; "error" refuses as survRM2 rmst2."""
    df = dataset("extra_rmst")
    with pytest.warns(UserWarning, match=r"'female' \(last follow-up 965\)") as rec:
        res = rmst(df, 1000, by="sex", time="time", event="event")
    assert "male" not in str(rec[0].message).replace("'female'", "")
    assert res.extended == ("female",)
    assert res.table["extended"].tolist() == [True, False]
    assert res.table["last_time"].tolist() == [965.0, 1022.0]
    assert res.to_dict()["extended"] == ["female"]
    quiet = rmst(df, 1000, by="sex", time="time", event="event", beyond_follow_up="extend")
    pd.testing.assert_frame_equal(quiet.table, res.table)
    with pytest.raises(ValueError, match="survRM2"):
        rmst(df, 1000, by="sex", time="time", event="event", beyond_follow_up="error")
    with pytest.raises(ValueError, match="beyond_follow_up"):
        rmst(df, 1000, time="time", event="event", beyond_follow_up="flat")


def test_rmst_at_last_time_or_curve_at_zero_is_not_extended():
    """tau equal to the last time, or a curve already at 0, is not an extrapolation."""
    df = dataset("extra_rmst")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rmst(df, 1022, time="time", event="event").extended == ()
        dead = pd.DataFrame({"os_months": [1.0, 2.0, 3.0], "os_event": [1, 1, 1]})
        assert rmst(dead, 10).extended == ()


def test_rmst_and_irlm_battery_share_the_follow_up_rule():
    """The battery's RMST to 5 years is missing exactly where rmst() extends the curve."""
    rng = np.random.default_rng(7)
    n = 120
    df = pd.DataFrame({"os_months": rng.uniform(1, 80, n), "os_event": rng.random(n) < 0.5,
                       "complete_resection": np.arange(n) % 3 > 0})
    # incomplete resections followed for less than 5 years, still alive at the end
    short = ~df["complete_resection"]
    df.loc[short, "os_months"] = rng.uniform(1, 50, short.sum())
    df.loc[short & (df["os_months"] == df.loc[short, "os_months"].max()), "os_event"] = False
    battery = irlm_comparisons(df, min_n=5, min_events=2).levels.set_index("level")
    with pytest.warns(UserWarning, match="last follow-up"):
        res = rmst(df, 60, by="complete_resection")
    assert res.extended == (False,)
    assert np.isnan(battery.loc[False, "rmst_5y"])
    complete = res.table.set_index("group").loc[True, "rmst"]
    assert battery.loc[True, "rmst_5y"] == pytest.approx(complete, abs=ABS_EST)

