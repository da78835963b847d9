"""RMST against R survival 3.5 (``tests/reference/extra_rmst.json``, survival::lung).

Tolerances: rmean and se 1e-8 absolute; p-values 1e-6 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from metsurv.stats.rmst import rmst
from tests.stats.helpers import ABS_EST, REL_STAT, dataset, reference

REF = reference("extra_rmst")
TAUS = [r["tau"] for r in REF["overall"]]


@pytest.mark.parametrize("i", range(len(TAUS)), ids=[str(t) for t in TAUS])
def test_rmst_against_R_survmean(i):
    """R: ``summary(survfit(Surv(time, event) ~ 1), rmean = tau)$table`` and ``~ sex``:
    ``rmean`` and ``se(rmean)``, 1e-8 absolute (tau at a death time, at the last time and
    beyond it included)."""
    df = dataset("extra_rmst")
    tau = TAUS[i]
    overall = rmst(df, tau, time="time", event="event").table
    np.testing.assert_allclose(overall["rmst"], REF["overall"][i]["rmean"], atol=ABS_EST, rtol=0)
    np.testing.assert_allclose(overall["se"], REF["overall"][i]["se"], atol=ABS_EST, rtol=0)
    by = rmst(df, tau, by="sex", time="time", event="event").table
    assert by["group"].tolist() == ["female", "male"]
    np.testing.assert_allclose(by["rmst"], REF["by_sex"][i]["rmean"], atol=ABS_EST, rtol=0)
    np.testing.assert_allclose(by["se"], REF["by_sex"][i]["se"], atol=ABS_EST, rtol=0)


@pytest.mark.parametrize("i", range(len(TAUS)), ids=[str(t) for t in TAUS])
def test_rmst_difference_against_survRM2_formula(i):
    """R (survRM2 ``rmst2`` normal approximation, written out in the fixture script):
    female - male difference, se, CI 1e-8 absolute; p 1e-6 relative."""
    ref = REF["difference"][i]
    res = rmst(dataset("extra_rmst"), TAUS[i], by="sex", time="time", event="event",
               reference="male")
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
