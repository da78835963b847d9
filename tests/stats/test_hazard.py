"""Hazard over time (metsurv.stats.hazard).

Oracles: (1) R, the committed tests/reference/make_hazard.R -> data/hazard_smoothed.json
(the Ramlau-Hansen kernel sum with Mueller-Wang boundary kernels written in R from the
formulas, muhaz being unavailable) and data/hazard_annual.json (survival::pyears and
poisson.test); (2) synthetic truth: exponential data (constant hazard) and Weibull data
(increasing hazard), the smoothed estimate near the known hazard away from the boundaries
and its CI covering it."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.stats.hazard import annual_hazard, boundary_kernel, smoothed_hazard
from tests.stats.helpers import REFERENCE, needs_r, run_r_script

DATA = REFERENCE / "data"
TOL = 1e-10


def _load(name: str) -> dict:
    return json.loads((DATA / f"hazard_{name}.json").read_text())


def _num(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(DATA / "hazard_input.csv")


SMOOTHED = _load("smoothed")
ANNUAL = _load("annual")


@pytest.mark.parametrize("name", sorted(SMOOTHED))
def test_smoothed_hazard_matches_r_formula(data, name):
    """Oracle: make_hazard.R's kernel sum (estimate, SE, log CI, tau, bandwidth), 1e-10."""
    case = SMOOTHED[name]
    df = data if case["group"] is None else data[data["g"] == case["group"]]
    grid = case["grid"] if case["grid"] is not None else case["grid_times"]
    with pytest.warns(StatsWarning) if case["grid"] is None else _nothing():
        res = smoothed_hazard(df, "time", "status", bandwidth=case["given_bandwidth"],
                              grid=grid, kernel=case["kernel"],
                              start="entry" if case["entry"] else False)
    tab = res.to_frame()
    bw = res.bandwidths.iloc[0]
    assert bw["max_time"] == pytest.approx(case["tau"], abs=TOL)
    assert bw["bandwidth"] == pytest.approx(case["bandwidth"], abs=TOL)
    assert bw["events"] == case["events"]
    np.testing.assert_allclose(tab["time"], _num(case["time"]), atol=TOL)
    for col in ("estimate", "std_err", "lower", "upper"):  # R: per month
        np.testing.assert_allclose(tab[col] / 12, _num(case[col]), atol=TOL, rtol=0,
                                   equal_nan=True, err_msg=col)
    np.testing.assert_array_equal(tab["n_risk"], _num(case["n_risk"]))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
def test_grouped_fit_equals_fits_of_each_group(data):
    """Oracle: the R fixture of each group (group_a_biquadratic with biquadratic kernel)."""
    res = smoothed_hazard(data, "time", "status", by="g", bandwidth=9.0, start=False,
                          kernel="biquadratic")
    a = res.to_frame().query("group == 'a'")
    np.testing.assert_allclose(a["estimate"] / 12,
                               _num(SMOOTHED["group_a_biquadratic"]["estimate"]), atol=TOL)
    assert list(res.bandwidths["group"]) == ["a", "b"]


@pytest.mark.parametrize("name", sorted(ANNUAL))
def test_annual_hazard_matches_pyears(data, name):
    """Oracle: survival::pyears + poisson.test (entry: person-time written out in R)."""
    ref = ANNUAL[name]
    df = {"group_a": data[data["g"] == "a"], "group_b": data[data["g"] == "b"]}.get(name, data)
    width = 6.0 if name == "width6" else 12.0
    tab = annual_hazard(df, "time", "status", width=width,
                        start="entry" if name == "entry" else False).to_frame()
    assert len(tab) == len(ref["start"])
    for col in ("start", "end", "events", "person_years", "rate", "lower", "upper"):
        np.testing.assert_allclose(tab[col], _num(ref[col]), atol=TOL, rtol=0,
                                   equal_nan=True, err_msg=col)


def test_annual_hazard_by_group_and_empty_intervals(data):
    """Oracle: pyears of group a; intervals past group a's follow-up have no person-time
    and are NaN (R: NA), not 0."""
    tab = annual_hazard(data, "time", "status", by="g", start=False).to_frame()
    a = tab[tab["group"] == "a"].reset_index(drop=True)
    ref = ANNUAL["group_a"]
    k = len(ref["start"])
    np.testing.assert_allclose(a["rate"][:k], _num(ref["rate"]), atol=TOL, equal_nan=True)
    late = a.iloc[k:]
    assert (late["person_years"] == 0).all() and late["rate"].isna().all()
    assert late["lower"].isna().all()


def test_boundary_kernels_are_second_order():
    """Synthetic truth: each Mueller-Wang kernel integrates to 1 with first moment 0 on
    [-1, q] (trapezoid on a fine grid), and q = 1 is the interior kernel."""
    for kernel in ("epanechnikov", "biquadratic", "rectangle"):
        for q in (0.0, 0.25, 0.6, 1.0):
            x = np.linspace(-1, q, 200001)
            k = boundary_kernel(x, q, kernel)
            assert np.trapezoid(k, x) == pytest.approx(1.0, abs=1e-6)
            assert np.trapezoid(x * k, x) == pytest.approx(0.0, abs=1e-6)
    assert boundary_kernel(1.5, 1.0).item() == 0.0


def _simulate(rng, n, draw, cens_max):
    t = draw(n)
    c = rng.uniform(0, cens_max, n)
    return pd.DataFrame({"time": np.minimum(t, c), "status": (t <= c).astype(int)})


def test_exponential_constant_hazard_recovered():
    """Synthetic truth: exponential, hazard 0.02 per month = 0.24 per patient-year; where
    at least 1000 remain at risk the estimate is within 10%, including at time 0 (the
    boundary kernel keeps the end unbiased; a plain kernel would halve h(0))."""
    rng = np.random.default_rng(15)
    df = _simulate(rng, 20000, lambda n: rng.exponential(50.0, n), 200.0)
    tab = smoothed_hazard(df, "time", "status", grid=61).to_frame()
    many = tab[tab["n_risk"] >= 1000]
    assert len(many) > 20
    np.testing.assert_allclose(many["estimate"], 0.24, rtol=0.10)
    assert tab["estimate"].iloc[0] == pytest.approx(0.24, rel=0.10)


def test_ci_coverage_exponential():
    """Synthetic truth: over 300 samples of 600 exponential patients (hazard 0.24 per
    patient-year), the 95% log CI covers the truth in 90-99% of samples, in the interior
    (24 months) and at the left boundary (time 0)."""
    rng = np.random.default_rng(1515)
    hit = np.zeros(2)
    reps = 300
    for _ in range(reps):
        df = _simulate(rng, 600, lambda n: rng.exponential(50.0, n), 120.0)
        tab = smoothed_hazard(df, "time", "status", grid=[0.0, 24.0]).to_frame()
        hit += ((tab["lower"] <= 0.24) & (tab["upper"] >= 0.24)).to_numpy()
    assert np.all((hit / reps >= 0.90) & (hit / reps <= 0.99)), hit / reps


def test_weibull_increasing_hazard_recovered():
    """Synthetic truth: Weibull shape 2, scale 60 months: h(t) = 2 t / 60^2 per month,
    increasing; the estimate is within 10% of it between 12 and 60 months and increases."""
    rng = np.random.default_rng(16)
    df = _simulate(rng, 20000, lambda n: 60.0 * rng.weibull(2.0, n), 150.0)
    tab = smoothed_hazard(df, "time", "status", grid=np.arange(12.0, 61.0, 4.0)).to_frame()
    truth = 12 * 2 * tab["time"] / 60.0**2
    np.testing.assert_allclose(tab["estimate"], truth, rtol=0.10)
    assert np.all(np.diff(tab["estimate"]) > 0)


def test_bandwidth_changes_smoothness_and_errors(data):
    """Synthetic truth: a wider bandwidth gives a smoother curve (smaller total variation);
    bad inputs raise DataError naming the problem."""
    narrow = smoothed_hazard(data, "time", "status", bandwidth=3.0, start=False).to_frame()
    wide = smoothed_hazard(data, "time", "status", bandwidth=20.0, start=False).to_frame()
    assert np.abs(np.diff(wide["estimate"])).sum() < np.abs(np.diff(narrow["estimate"])).sum()
    with pytest.raises(DataError, match="bandwidth"):
        smoothed_hazard(data, "time", "status", bandwidth=0)
    with pytest.raises(DataError, match="kernel"):
        smoothed_hazard(data, "time", "status", kernel="gaussian")
    with pytest.raises(DataError, match="no events"):
        smoothed_hazard(data.assign(status=0), "time", "status")
    with pytest.raises(DataError, match="width"):
        annual_hazard(data, "time", "status", width=-1)


def test_plot_draws_groups_with_bands(data):
    """The plot shows one line and one band per group, y from 0, per patient-year."""
    import matplotlib

    matplotlib.use("Agg")
    res = smoothed_hazard(data, "time", "status", by="g", start=False)
    ax = res.plot()
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    assert ax.get_ylim()[0] == 0 and "patient-year" in ax.get_ylabel()
    assert ax.lines[0].get_linestyle() != ax.lines[1].get_linestyle()
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


@needs_r
def test_fixture_script_reproduces(tmp_path):
    """The committed R script writes the fixtures the tests read (same numbers)."""
    run_r_script("make_hazard.R", tmp_path)
    new = json.loads((tmp_path / "data" / "hazard_smoothed.json").read_text())
    assert new == SMOOTHED


def test_times_in_another_unit_refused_quickly(data):
    """Break15 finding 2: times in seconds (x 2.6e6) or 1e9x ran for minutes or asked for
    157 GiB; now one DataError naming the column and its largest value, asking for months,
    before any interval is allocated."""
    import time as _time

    for factor in (2.6e6, 1e9):
        scaled = data.assign(time=data["time"] * factor)
        big = re.escape(f"{scaled['time'].max():.6g}")
        for fn in (annual_hazard, smoothed_hazard):
            t0 = _time.perf_counter()
            with pytest.raises(DataError, match=rf"column 'time': largest time {big} is "
                                                r"more than 1200 months .*in months\?"):
                fn(scaled, "time", "status", start=False)
            assert _time.perf_counter() - t0 < 2.0
    with pytest.raises(DataError, match="more than 1000 intervals"):
        annual_hazard(data, "time", "status", width=0.01, start=False)
    with pytest.raises(DataError, match="max_time"):
        annual_hazard(data, "time", "status", max_time=np.inf, start=False)


def test_dropped_rows_counted_and_warned(data):
    """Break15 finding 4: rows with a missing time, event or group are counted in n and
    n_dropped (oracle: km's n_dropped on the same data) with a warning, and the estimates
    are those of the complete rows (synthetic truth: the same call without those rows)."""
    from metsurv.stats import km

    df = data.copy()
    df.loc[df.index[:5], "time"] = np.nan
    df.loc[df.index[5:8], "status"] = np.nan
    df.loc[df.index[8:10], "g"] = None
    complete = df.dropna(subset=["time", "status", "g"])
    n_dropped = km(df, time="time", event="status", by="g", start=False).n_dropped
    assert n_dropped == 10
    msg = r"10 row\(s\) dropped for a missing value \(time: 5, status: 3, g: 2\)"
    with pytest.warns(StatsWarning, match=msg):
        sm = smoothed_hazard(df, "time", "status", by="g", start=False)
    with pytest.warns(StatsWarning, match=msg):
        an = annual_hazard(df, "time", "status", by="g", start=False)
    for res in (sm, an):
        assert (res.n, res.n_dropped) == (len(complete), n_dropped)
        assert any("dropped" in w for w in res.warnings)
    pd.testing.assert_frame_equal(
        sm.to_frame(), smoothed_hazard(complete, "time", "status", by="g",
                                       start=False).to_frame())
    pd.testing.assert_frame_equal(
        an.to_frame(), annual_hazard(complete, "time", "status", by="g",
                                     start=False).to_frame())
    clean = annual_hazard(complete, "time", "status", start=False)
    assert clean.n_dropped == 0 and not any("dropped" in w for w in clean.warnings)
