"""Conditional survival S(t | alive at s) against R survival 3.5 (oracle: the committed
tests/reference/make_conditional.R -> conditional.json, computed from survfit two ways that
agree to 1e-12: S(t)/S(s) with the Greenwood sum over (s, t], and survfit on the patients at
risk after s with shifted times; the fractional-weight case is the latter, R's robust
variance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.stats import km
from metsurv.stats.conditional import conditional_figure, conditional_survival
from tests.stats.helpers import dataset, reference

REF = reference("conditional")
CASES = {c["name"]: c for c in REF["cases"]}
TOL = 1e-10


def _num(values) -> np.ndarray:
    conv = {"NA": np.nan, "NaN": np.nan, "Inf": np.inf, "-Inf": -np.inf}
    return np.array([conv.get(v, v) if isinstance(v, str) or v is None else v
                     for v in values], dtype=float)


def _arg(v):
    return None if v in ("NA", None) else v


def _fit(case):
    df = dataset("conditional")
    fit = km(df, by="g", time="time", event="status", start=_arg(case["start"]) or False,
             weights=_arg(case["weights"]), conf_type=case["conf_type"])
    return df, fit


@pytest.mark.parametrize("name", sorted(CASES))
def test_conditional_matches_r(name):
    """Oracle: R survfit (make_conditional.R), estimate / SE / limits to 1e-10. The
    fixture reads summary(fit, times, extend = TRUE): compared with extend=True (group b,
    given 60, t = 120 lies after b's last follow-up, 110.5)."""
    case = CASES[name]
    df, fit = _fit(case)
    tab = pd.DataFrame(case["table"])
    with pytest.warns(StatsWarning):  # group c: nobody at risk after 12
        got = pd.concat([
            conditional_survival(fit, s, tab.loc[tab["given"] == s, "time"].unique(),
                                 data=df, extend=True).to_frame()
            for s in tab["given"].unique()], ignore_index=True)
    got = got.sort_values(["group", "given", "time"], kind="stable").reset_index(drop=True)
    assert got["group"].tolist() == tab["group"].tolist()
    np.testing.assert_array_equal(got["time"], tab["time"])
    for col in ("estimate", "std_err", "lower", "upper", "n_risk_given"):
        e = _num(tab[col])
        g = got[col].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e), err_msg=f"{name} {col} NaN")
        np.testing.assert_allclose(g, e, rtol=0, atol=TOL, equal_nan=True,
                                   err_msg=f"{name} {col}")


def test_given_zero_is_the_km_curve():
    """Synthetic truth: S(t | alive at 0) is S(t) itself, with km's SE and limits."""
    df, fit = _fit(CASES["loglog"])
    times = [6.0, 12.0, 36.0]
    got = fit.conditional(given=0, times=times).to_frame()
    ref = fit.survival_at(times)
    a = got[got["group"] == "a"].reset_index(drop=True)
    r = ref[ref["group"] == "a"].reset_index(drop=True)
    for col in ("estimate", "std_err", "lower", "upper"):
        np.testing.assert_allclose(a[col], r[col], rtol=0, atol=1e-14)


def test_nan_with_reason_and_bad_input():
    df, fit = _fit(CASES["loglog"])
    with pytest.warns(StatsWarning, match="group 'c': nobody is at risk after 24"):
        res = fit.conditional(given=24, times=[36])
    row = res.to_frame().set_index("group").loc["c"]
    assert np.isnan(row["estimate"]) and row["n_risk_given"] == 0
    assert any("nobody is at risk" in w for w in res.warnings)
    with pytest.raises(DataError, match="must be >= the time already survived"):
        fit.conditional(given=24, times=[12])
    with pytest.raises(DataError, match="given must be"):
        fit.conditional(given=-1, times=[12])
    _, frac = _fit(CASES["weights_fractional"])
    with pytest.raises(DataError, match="pass data="):
        frac.conditional(given=12, times=[24])


@pytest.mark.parametrize("name", ["loglog", "weights_fractional"])
def test_time_after_last_follow_up_is_nan_not_extrapolated(name):
    """R summary(fit, times, extend = FALSE) drops a time after the last follow-up: group
    b's last time is 110.5, so S(120 | 60) is NaN with a warning (extend=True gives R's
    extend = TRUE value, checked against the fixture above); within follow-up (t = 96) the
    R fixture value is kept; a curve that reached 0 (group c) stays 0 beyond it."""
    case = CASES[name]
    df, fit = _fit(case)
    tab = pd.DataFrame(case["table"]).set_index(["group", "given", "time"])
    with pytest.warns(StatsWarning, match=r"group 'b': time\(s\) 120 after the last "
                                          r"follow-up \(110.5\)"):
        res = fit.conditional(given=60, times=[96, 120], data=df)
    b = res.to_frame().set_index(["group", "time"]).loc["b"]
    assert b.loc[120.0, "n_risk"] == 0
    for col in ("estimate", "std_err", "lower", "upper"):
        assert np.isnan(b.loc[120.0, col])
    np.testing.assert_allclose(b.loc[96.0, "estimate"],
                               _num([tab.loc[("b", 60, 96), "estimate"]])[0], atol=TOL)
    assert any("not extrapolated" in w for w in res.warnings)
    with pytest.warns(StatsWarning):
        zero = fit.conditional(given=0, times=[500], data=df).to_frame().set_index("group")
    assert zero.loc["c", "estimate"] == 0  # c's curve reached 0 at 12: 0, not NaN
    assert np.isnan(zero.loc["a", "estimate"]) and np.isnan(zero.loc["b", "estimate"])


def test_survival_zero_at_given_is_nan():
    """A curve that reached 0 before s: S(s) = 0, conditional survival undefined."""
    df = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 1, 1, 1], "entry": [0, 0, 0, 3.5]})
    fit = km(df, time="t", event="e", start="entry")  # 0 at 3; one enters at 3.5
    with pytest.warns(StatsWarning, match="survival is 0 at 3"):
        out = conditional_survival(fit, 3, [4]).to_frame()
    assert np.isnan(out["estimate"][0])


def test_conditional_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    df, fit = _fit(CASES["loglog"])
    with pytest.warns(StatsWarning):
        ax = conditional_figure(fit, horizon=60, given_years=range(0, 6))
    assert ax.get_ylabel() == "5-year conditional survival"
    assert len(ax.containers) == 3  # one errorbar set per group
    ax.figure.savefig(tmp_path / "conditional.png")
    assert (tmp_path / "conditional.png").stat().st_size > 0
