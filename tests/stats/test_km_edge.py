"""Kaplan-Meier with delayed entry, case weights and an infinite censoring time, against R
survival 3.5 (fixtures: tests/reference/make_km_edge.R -> km_edge.json), and the handed
cases 09, 14 and 18 of issue 9 with R's values."""

from __future__ import annotations

import json
import time as _clock

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.stats import km
from tests.stats.helpers import ABS_EST, dataset, reference

EDGE = reference("km_edge")
DATA = {"delayed": "km_edge_delayed", "weights": "km_edge_weights", "inf": "km_edge_inf",
        "sim": "km_edge_sim"}


def r_values(values) -> np.ndarray:
    """R's JSON (na = "string") to floats: "NA"/"NaN" -> NaN, "Inf"/"-Inf" -> +-inf."""
    conv = {"NA": np.nan, "NaN": np.nan, "Inf": np.inf, "-Inf": -np.inf, None: np.nan}
    return np.array([conv.get(v, v) if isinstance(v, str) or v is None else v
                     for v in np.ravel(values)], dtype=float)


def r_arg(value):
    """R's NULL (written as {}) to None."""
    return None if value == {} else value


def edge_data(case: dict) -> pd.DataFrame:
    name = case["name"]
    key = ("delayed" if name.startswith("delayed") else "weights" if name.startswith("weights")
           else "inf" if name.startswith("inf") else "sim")
    df = dataset(DATA[key])
    return df.rename(columns={"exit": "time"})


def fit_case(case: dict):
    return km(edge_data(case), by=r_arg(case["by"]), time="time", event="status",
              start=r_arg(case["start"]), weights=r_arg(case["weights"]),
              conf_type=case["conf_type"],
              times=case["at_times"]["times"] if "at_times" in case else None)


KM = {c["name"]: c for c in EDGE["km"]}


def _close(got, expected, what):
    e = r_values(expected)
    g = np.asarray(got, dtype=float)
    assert g.shape == e.shape, f"{what}: shape {g.shape} != {e.shape}"
    np.testing.assert_array_equal(np.isnan(g), np.isnan(e), err_msg=f"{what}: NaN pattern")
    np.testing.assert_allclose(g, e, rtol=0, atol=ABS_EST, equal_nan=True, err_msg=what)


@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
@pytest.mark.parametrize("name", KM)
def test_km_edge_table_matches_R_survfit_summary(name):
    """R (call in the fixture): summary(survfit(Surv([start,] time, status) ~ by, data,
    conf.type, weights = w), censored = TRUE): time, n.risk, n.event, n.censor (weighted
    sums with weights), surv, std.err (Greenwood for whole weights, infinitesimal jackknife
    for fractional ones), lower, upper: 1e-8 absolute; an Inf censoring time is an Inf row."""
    case = KM[name]
    got = fit_case(case).to_frame()
    exp = case["table"]
    assert [str(g) for g in got["group"]] == [str(g) for g in np.ravel(exp["group"])]
    for col in ["time", "n_risk", "n_event", "n_censor", "estimate", "std_err", "lower",
                "upper"]:
        _close(got[col], exp[col], f"{name}: {col}")


@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
@pytest.mark.parametrize("name", KM)
def test_km_edge_medians_match_R_print_survfit(name):
    """R: summary(fit)$table[, c("records", "events", "median", "0.95LCL", "0.95UCL")]
    (events a sum of weights with weights): 1e-8 absolute, NA where R has NA."""
    case = KM[name]
    got = fit_case(case).medians()
    exp = case["median"]
    for col in ["n", "events", "median", "lower", "upper"]:
        _close(got[col], exp[col], f"{name}: {col}")


AT = [n for n, c in KM.items() if "at_times" in c]


@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
@pytest.mark.parametrize("name", AT)
def test_km_edge_at_times_matches_R_summary_times(name):
    """R: summary(fit, times = times, extend = TRUE): n.risk (the risk set of the next
    time: entered and not yet left, for delayed entry), surv, std.err, lower, upper at
    the requested times: 1e-8 absolute."""
    case = KM[name]
    got = fit_case(case).survival_at()
    exp = case["at_times"]
    assert [str(g) for g in got["group"]] == [str(g) for g in np.ravel(exp["group"])]
    for col in ["time", "n_risk", "estimate", "std_err", "lower", "upper"]:
        _close(got[col], exp[col], f"{name}: {col}")


def test_case_09_delayed_entry_against_R():
    """Case 09, R survfit(Surv(entry, exit, status) ~ 1): S(5) = 0.512 (se 0.1982967),
    S(9) = 0.2133333 (se 0.1262097), 1e-7 absolute (the digits R printed); ignoring entry
    gives 0.741 and 0.317."""
    df = dataset("km_edge_delayed")
    fit = km(df, time="exit", event="status", start="entry", times=[5, 9])
    at = fit.survival_at()
    np.testing.assert_allclose(at["estimate"], [0.512, 0.2133333], atol=1e-7)
    np.testing.assert_allclose(at["std_err"], [0.1982967, 0.1262097], atol=1e-7)
    assert fit.start == "entry" and fit.to_dict()["start"] == "entry"
    naive = km(df, time="exit", event="status", times=[5, 9]).survival_at()["estimate"]
    np.testing.assert_allclose(naive, [0.741, 0.317], atol=1e-3)
    # n at risk at t = 1: subjects 1, 4, 8, 11 (entered at 0) and 6 (entered at 1, at risk
    # just after 1): R reports the risk set of the next time, 2, which is 5 - not 12 - 0
    assert fit.curves[0].at([1.0])["n_risk"].tolist() == [5]


def test_cohort_entry_months_is_used_and_recorded():
    """A Cohort whose patients carry entry_months is analysed left-truncated by default,
    start=False switches it off; the result records the column used."""

    class Cohort:
        patients = dataset("km_edge_delayed").rename(
            columns={"exit": "os_months", "status": "os_event", "entry": "entry_months"})

    fit = km(Cohort(), times=[5])
    assert fit.start == "entry_months"
    # R (km_edge.json, case "delayed"): survfit(Surv(entry, time, status) ~ 1) has S(5) =
    # 0.8 * 0.8 * 0.8 = 0.512 (events at 2, 3, 5 with 5 at risk each)
    assert fit.survival_at()["estimate"].iloc[0] == pytest.approx(0.512, abs=1e-12)
    off = km(Cohort(), start=False)
    assert off.start is None and off.to_dict()["start"] is None


def test_case_14_weighted_km_against_R():
    """Case 14, R survfit(Surv(time, status) ~ arm, weights = w): S(2) = 0.75 (A), 0.875
    (B), exact; n.risk at time 1 is the weight sum 8."""
    fit = km(dataset("km_edge_weights"), by="arm", time="time", event="status", weights="w",
             times=[2])
    assert fit.survival_at()["estimate"].tolist() == [0.75, 0.875]
    assert fit.curve("A").table["n_risk"].iloc[0] == 8.0
    assert fit.weights == "w" and fit.variance == "greenwood"
    frac = km(dataset("km_edge_weights"), time="time", event="status", weights="w_frac")
    assert frac.variance == "infinitesimal jackknife"


def test_case_18_infinite_censoring_against_R():
    """Case 18, R survfit(Surv(time, status) ~ arm): 3 rows dropped; medians A 5 (95% CI
    1 to NA, R's default log CI), B 4; the censoring at Inf is a table row at Inf, as R's."""
    fit = km(dataset("km_edge_inf"), by="arm", time="time", event="status", conf_type="log")
    assert fit.n_dropped == 3
    med = fit.medians().set_index("group")
    assert med.loc["A", ["median", "lower"]].tolist() == [5.0, 1.0]
    assert np.isnan(med.loc["A", "upper"]) and med.loc["B", "median"] == 4.0
    assert np.isinf(fit.curve("A").table["time"].iloc[-1])
    text = json.dumps(fit.to_dict(), allow_nan=False)
    assert '"Inf"' in text


def test_hand_worked_delayed_entry_and_weights():
    """Worked by hand, rows (start, stop] = (0, 1], (2, 3], (0, 2], (2, 4], all events,
    weights 1, 2, 1, 1; at risk at t: start < t <= stop.
    t=1: rows 1 and 3, weight 2, event weight 1 -> S = 1/2;
    t=2: row 3 only (rows 2 and 4 enter at 2, not at risk at 2) -> S = 0;
    t=3: rows 2 and 4, weight 3; t=4: row 4, weight 1 (S stays 0)."""
    df = pd.DataFrame({"t": [1.0, 3.0, 2.0, 4.0], "e": 1, "s": [0.0, 2.0, 0.0, 2.0],
                       "w": [1.0, 2.0, 1.0, 1.0]})
    tab = km(df, time="t", event="e", start="s", weights="w").curves[0].table
    assert tab["n_risk"].tolist() == [2.0, 1.0, 3.0, 1.0]
    assert tab["estimate"].tolist() == [0.5, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_bad_weights_are_refused(bad):
    df = dataset("km_edge_weights")
    df["w"] = df["w"].astype(float)
    df.loc[3, "w"] = bad
    with pytest.raises(DataError, match="weight"):
        km(df, by="arm", time="time", event="status", weights="w")


def test_group_without_events_warns_and_travels():
    df = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 0, 0, 0], "g": ["a", "a", "b", "b"]})
    with pytest.warns(StatsWarning, match="'b' has no events"):
        fit = km(df, by="g", time="t", event="e")
    assert fit.warnings == ("group 'b' has no events: survival stays at 1 and the median is "
                            "not reached (NA)",)
    assert fit.to_dict()["warnings"] == list(fit.warnings)


def test_weighted_km_is_vectorised(benchmark_rows=200_000):
    """Weighted KM (fractional weights: the IJ variance) costs about what unweighted does;
    a loose bound here (the 1M-row measurement is in the report of issue 9)."""
    rng = np.random.default_rng(1)
    n = benchmark_rows
    df = pd.DataFrame({"t": np.round(rng.exponential(30, n), 2), "e": rng.random(n) < 0.6,
                       "w": rng.uniform(0.1, 3, n), "g": rng.integers(0, 3, n)})

    def best(**kw):
        out = []
        for _ in range(3):
            t0 = _clock.perf_counter()
            km(df, by="g", time="t", event="e", **kw)
            out.append(_clock.perf_counter() - t0)
        return min(out)

    assert best(weights="w") < 3 * best() + 0.05


def test_formula_gives_the_same_fit_as_columns():
    """km(data, "Surv(entry, time, status) ~ g") is km(data, by="g", time="time",
    event="status", start="entry"); more than one grouping term is refused."""
    df = dataset("km_edge_sim")
    a = km(df, "Surv(entry, time, status) ~ g", weights="w_frac").to_frame()
    b = km(df, by="g", time="time", event="status", start="entry", weights="w_frac").to_frame()
    pd.testing.assert_frame_equal(a, b)
    one = km(df, "Surv(time, status) ~ 1")
    assert one.groups == ["all"] and one.start is None
    with pytest.raises(ValueError, match="one grouping column"):
        km(df, "Surv(time, status) ~ g + stratum")
