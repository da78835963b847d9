"""Decision curve analysis at a horizon (metsurv.stats.dca).

Oracles: R (the committed tests/reference/make_dca.R -> dca.json: dcurves' survival
computation written out with survival::survfit, as dcurves is not installable; datasets
survival::lung with a Cox-model risk, a 4-level marker, a 0/1 marker and a rounded age score,
and a synthetic cohort with half-month ties, censoring before the horizon, delayed entry,
missing predictions and hand-made predictors for dcurves' NA rules), compared to 1e-10; and
synthetic truth (a perfectly calibrated predictor's expected net benefit, known in closed
form)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.stats.dca import COLUMNS, DEFAULT_THRESHOLDS, decision_curve
from tests.stats.helpers import (
    assert_close_abs,
    assert_r_reproduces,
    dataset,
    needs_r,
    reference,
    rerun_r,
)

REF = reference("dca")
CASES = {c["name"]: c for c in REF["cases"]}
TOL = 1e-10
NUMERIC = ["test_pos_rate", "risk_rate_among_test_pos", "tp_rate", "fp_rate", "harm",
           "net_benefit", "net_intervention_avoided", "standardized_net_benefit"]


def _num(values) -> np.ndarray:
    conv = {"NA": np.nan, "NaN": np.nan, "Inf": np.inf, "-Inf": -np.inf}
    return np.array([conv.get(v, v) if isinstance(v, str) or v is None else v
                     for v in values], dtype=float)


def _run(case):
    harm = case["harm"] if isinstance(case["harm"], dict) else None
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return decision_curve(dataset(case["data"]), list(case["predictors"]), case["time"],
                              case["event"], case["horizon"], DEFAULT_THRESHOLDS,
                              start=case["entry"] if case["entry"] != "NA" else False,
                              harm=harm, nper=case["nper"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_dca_matches_r_dcurves_computation(name):
    case = CASES[name]
    res = _run(case)
    got, ref = res.to_frame(), case["table"]
    assert list(got.columns) == COLUMNS
    assert got["variable"].tolist() == ref["variable"]
    assert res.n == case["n"] and (got["n"] == case["n"]).all()
    # R's seq(0, 0.99, by = 0.01) is 0 + (0:99) * 0.01 exactly; the JSON keeps 15 digits
    # (0.7000000000000001 prints 0.7), so the thresholds are DEFAULT_THRESHOLDS, not those
    assert_close_abs(np.tile(DEFAULT_THRESHOLDS, 2 + len(case["predictors"])),
                     ref["threshold"], 1e-15, "threshold")
    assert_close_abs([res.prevalence], [case["pos_rate"]], TOL, "pos_rate")
    for col in NUMERIC:
        a, e = got[col].to_numpy(float), _num(ref[col])
        # NA/NaN in the same places, +-Inf equal (interventions avoided at threshold 0)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{name} {col} NaN")
        np.testing.assert_array_equal(a[np.isinf(e)], e[np.isinf(e)], err_msg=col)
        ok = np.isfinite(e)
        np.testing.assert_allclose(a[ok], e[ok], rtol=0, atol=TOL, err_msg=f"{name} {col}")


def test_fixture_covers_dcurves_edge_rules():
    """The fixture exercises what it claims: NA net benefits (KM short of the horizon and no
    time before it), an empty test-positive set (0), risks of exactly 0 and 1, ties."""
    sim = pd.DataFrame(CASES["sim_24"]["table"])
    nb = _num(sim["net_benefit"])
    late = (sim["variable"] == "risk_late").to_numpy()
    thr = sim["threshold"].to_numpy(float)
    assert np.isnan(nb[late & (thr > 0.905) & (thr < 0.985)]).all()
    assert nb[late & (thr > 0.986)].tolist() == [0.0]  # nobody >= 0.99: dcurves gives 0
    lung = pd.DataFrame(CASES["lung_365"]["table"])
    binary = lung[lung["variable"] == "risk_binary"]
    # a 0/1 marker: the same test-positives at every threshold, including 0 and 0.99
    assert binary["test_pos_rate"].nunique() == 1
    d = dataset("dca_lung")
    assert set(d["risk_binary"].dropna()) == {0.0, 1.0}
    assert d["time"].duplicated().any() and ((d["event"] == 0) & (d["time"] < 365)).any()


def test_missing_predictions_warned_and_excluded_jointly():
    df = dataset("dca_sim")
    with pytest.warns(StatsWarning, match=r"8 row\(s\) with a missing value excluded .*"
                                          r"risk_round: 8"):
        res = decision_curve(df, ["risk_true", "risk_round"], "time", "status", 24,
                             start=False)
    assert res.n == 492 and res.n_excluded == 8
    assert any("risk_round" in w for w in res.warnings)


def test_na_thresholds_are_warned():
    with pytest.warns(StatsWarning, match=r"risk_late: net benefit NA at threshold 0.91 to "
                                          r"0.98 .*none of their follow-up times"):
        decision_curve(dataset("dca_sim"), "risk_late", "time", "status", 24, start=False)


@pytest.mark.parametrize("bad, match", [
    ({"risk_true": 1.2}, r"column 'risk_true': predicted risk 1.2 is outside \[0, 1\]"),
    ({"risk_true": -0.1}, r"predicted risk -0.1 is outside"),
    ({"risk_true": "high"}, r"column 'risk_true': 'high' is not a number"),
])
def test_bad_risk_raises(bad, match):
    df = dataset("dca_sim")
    df["risk_true"] = df["risk_true"].astype(object)
    for col, value in bad.items():
        df.loc[3, col] = value
    with pytest.raises(DataError, match=match):
        decision_curve(df, "risk_true", "time", "status", 24, start=False)


def test_horizon_and_threshold_errors():
    df = dataset("dca_sim")
    last = df["time"].max()
    with pytest.raises(DataError, match=rf"horizon 500 is after the last follow-up time "
                                        rf"{last:g} in column 'time'") as info:
        decision_curve(df, "risk_true", "time", "status", 500, start=False)
    assert info.value.column == "time"
    with pytest.raises(DataError, match="before the first follow-up time"):
        decision_curve(df, "risk_true", "time", "status", 0.1, start=False)
    with pytest.raises(DataError, match="threshold 1 is outside"):
        decision_curve(df, "risk_true", "time", "status", 24, [0.5, 1.0], start=False)
    with pytest.raises(KeyError, match="nope"):
        decision_curve(df, "nope", "time", "status", 24, start=False)


def test_threshold_order_kept_and_labels():
    df = dataset("dca_sim")
    thr = [0.3, 0.05, 0.2]
    res = decision_curve(df, {"risk_true": "True risk"}, "time", "status", 24, thr,
                         start=False)
    full = decision_curve(df, "risk_true", "time", "status", 24, start=False).to_frame()
    got = res.to_frame()
    assert got["label"].unique().tolist() == ["Treat All", "Treat None", "True risk"]
    for var in ("all", "risk_true"):
        a = got[got["variable"] == var].set_index("threshold")["net_benefit"]
        b = full[full["variable"] == var].set_index("threshold")["net_benefit"]
        assert a.index.tolist() == thr
        assert_close_abs(a.to_numpy(), b.loc[DEFAULT_THRESHOLDS[[30, 5, 20]]].to_numpy(),
                         1e-15, var)


def test_calibrated_predictor_beats_default_strategies():
    """Synthetic truth: exponential times with known individual rates, so the risk by the
    horizon r_i = 1 - exp(-rate_i h) is perfectly calibrated; independent censoring. Its
    expected net benefit is E[(r - w (1 - r)) 1{r >= pt}] with w = pt / (1 - pt), which is
    >= max(treat all, treat none) at every pt. Checked on n = 40,000 (SE of a net benefit
    about 0.003)."""
    rng = np.random.default_rng(20261130)
    n, h = 40_000, 24.0
    x = rng.normal(size=n)
    rate = 0.02 * np.exp(0.9 * x)
    t_event = rng.exponential(1 / rate)
    t_cens = rng.uniform(6, 72, n)
    df = pd.DataFrame({"time": np.minimum(t_event, t_cens),
                       "event": (t_event <= t_cens).astype(int),
                       "risk": 1 - np.exp(-rate * h)})
    thr = np.arange(0, 0.8, 0.05)
    res = decision_curve(df, "risk", "time", "event", h, thr, start=False).to_frame()
    model = res[res["variable"] == "risk"]["net_benefit"].to_numpy()
    treat_all = res[res["variable"] == "all"]["net_benefit"].to_numpy()
    w = thr / (1 - thr)
    r = df["risk"].to_numpy()
    rr = r[:, None]
    expected = ((rr - w * (1 - rr)) * (rr >= thr)).mean(axis=0)
    expected_all = r.mean() - w * (1 - r.mean())
    np.testing.assert_allclose(model, expected, atol=0.012)
    np.testing.assert_allclose(treat_all, expected_all, atol=0.012)
    assert (model >= np.maximum(treat_all, 0) - 0.012).all()
    # and the gain is real where the strategies disagree (pt near the mean risk)
    mid = (thr >= 0.2) & (thr <= 0.5)
    assert (model[mid] - np.maximum(treat_all[mid], 0) > 0.01).all()


def test_plot_draws_clipped_curves(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    res = decision_curve(dataset("dca_lung").dropna(), ["risk_cox", "risk_ecog"], "time",
                         "event", 365, start=False)
    ax = res.plot()
    assert len(ax.lines) == 4  # all, none, 2 predictors
    lo, hi = ax.get_ylim()
    assert lo == pytest.approx(-0.1 * res.prevalence - 0.055 * res.prevalence)
    assert hi == pytest.approx(res.prevalence + 0.055 * res.prevalence)
    ax.figure.savefig(tmp_path / "dca.png", dpi=100)
    ax2 = res.plot(type="net_intervention_avoided")
    assert ax2.get_ylim()[0] < 0 < ax2.get_ylim()[1] <= 1.06


@needs_r
def test_r_script_reproduces_fixture(tmp_path_factory):
    fresh = rerun_r(tmp_path_factory, "make_dca.R")
    assert_r_reproduces("dca", fresh, "dca_*.csv", rel=0, abs_tol=1e-12)


def test_no_event_by_the_horizon_raises():
    """Every patient censored (or every event after the horizon): the observed risk is 0 in
    every group, so the curve cannot be estimated. dcurves would print standardised net
    benefits of -Inf and 1.0 interventions avoided by treat none; here a DataError."""
    df = dataset("dca_sim")
    with pytest.raises(DataError, match=r"no event at or before the horizon 24 in column "
                                        r"'status' \(0 event\(s\) in all") as info:
        decision_curve(df.assign(status=0), "risk_true", "time", "status", 24, start=False)
    assert info.value.column == "status"
    late = df.assign(status=np.where(df["time"] <= 24, 0, df["status"]))
    assert late["status"].sum() > 0
    with pytest.raises(DataError, match="no event at or before the horizon 24"):
        decision_curve(late, "risk_true", "time", "status", 24, start=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"harm": {"risk_true": -0.5}}, r"harm for 'risk_true' is -0.5: give a number in \[0, 1\)"),
    ({"harm": {"risk_true": 1.0}}, r"harm for 'risk_true' is 1.0: give a number in \[0, 1\)"),
    ({"harm": {"risk_true": float("nan")}}, r"harm for 'risk_true' is nan"),
    ({"harm": {"risk_true": "0.1"}}, r"harm for 'risk_true' is '0.1'"),
    ({"harm": {"other": 0.1}}, r"harm names \['other'\], which are not predictors"),
    ({"nper": 0}, r"nper is 0: give a positive number"),
    ({"nper": -100}, r"nper is -100: give a positive number"),
    ({"nper": float("inf")}, r"nper is inf: give a positive number"),
])
def test_harm_and_nper_checked(kwargs, match):
    with pytest.raises(DataError, match=match):
        decision_curve(dataset("dca_sim"), "risk_true", "time", "status", 24, [0.2],
                       start=False, **kwargs)


def test_valid_harm_and_nper_accepted():
    """harm 0 and a small harm are accepted; harm is subtracted (synthetic truth: the
    definition net_benefit = tp - w fp - harm) and nper scales interventions avoided."""
    df = dataset("dca_sim")
    base = decision_curve(df, "risk_true", "time", "status", 24, [0.2], start=False)
    res = decision_curve(df, "risk_true", "time", "status", 24, [0.2], start=False,
                         harm={"risk_true": 0.02}, nper=100)
    a, b = base.to_frame().set_index("variable"), res.to_frame().set_index("variable")
    assert b.loc["risk_true", "net_benefit"] == pytest.approx(
        a.loc["risk_true", "net_benefit"] - 0.02, abs=1e-15)
    assert b.loc["risk_true", "net_intervention_avoided"] == pytest.approx(
        100 * (a.loc["risk_true", "net_intervention_avoided"] - 0.02 / 0.25), abs=1e-12)
