"""treatment_effects against R survival (oracle: tests/reference/make_effects.R ->
effects.json, input data/effects.csv): weighted and unweighted survfit curves, coxph with
weights and robust = TRUE, RMST per arm (summary(survfit, rmean = tau)) and the difference
with se sqrt(se1^2 + se0^2); plus the bootstrap, errors and the figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError
from metsurv.stats.effects import TreatmentEffects, treatment_effects
from tests.stats.helpers import dataset, reference

REL = 1e-6
R = reference("effects")


def r_num(values) -> np.ndarray:
    conv = {"NA": np.nan, "NaN": np.nan, "Inf": np.inf, "-Inf": -np.inf}
    return np.array([conv.get(v, v) if isinstance(v, str) else v for v in np.ravel(values)],
                    dtype=float)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return dataset("effects")


@pytest.fixture(scope="module")
def res(data) -> TreatmentEffects:
    return treatment_effects(data, "approach", "vats", "thoracotomy", weights="w",
                             horizon=R["tau"], time="time", event="status", times=R["times"])


def _row(res, analysis, measure):
    e = res.to_frame()
    return e[(e["analysis"] == analysis) & (e["measure"] == measure)].iloc[0]


def test_rows_compared_and_excluded(res):
    assert sum(res.n.values()) == R["n"]
    assert res.n_excluded == R["n_excluded"]  # the sternotomy patients


@pytest.mark.parametrize("analysis", ["adjusted", "unadjusted"])
def test_hazard_ratio_matches_r_coxph(res, analysis):
    """R: coxph(Surv(time, status) ~ approach, weights = w, robust = TRUE) (adjusted) or
    without weights (unadjusted)."""
    r = R[analysis]["cox"]
    row = _row(res, analysis, "hazard_ratio")
    fit = getattr(res, f"cox_{analysis}")
    np.testing.assert_allclose(fit.coef[0], r["coef"], rtol=REL)
    np.testing.assert_allclose(fit.se[0], r["se"], rtol=REL)
    se = r["robust_se"] if analysis == "adjusted" else r["se"]
    np.testing.assert_allclose(row["se"], se, rtol=REL)
    np.testing.assert_allclose(row[["estimate", "lower", "upper", "p"]].to_numpy(float),
                               [r["hr"], r["lower"], r["upper"], r["p"]], rtol=REL)


@pytest.mark.parametrize("analysis", ["adjusted", "unadjusted"])
def test_rmst_difference_matches_r_rmean(res, analysis):
    """R: summary(survfit(..., weights = w), rmean = tau)$table rmean and se(rmean)."""
    r = R[analysis]["rmst"]
    table = getattr(res, f"rmst_{analysis}").table.set_index("group")
    np.testing.assert_allclose(table.loc[r["group"], "rmst"], r["rmst"], rtol=REL)
    np.testing.assert_allclose(table.loc[r["group"], "se"], r["se"], rtol=REL)
    row = _row(res, analysis, "rmst_difference")
    np.testing.assert_allclose(
        row[["estimate", "se", "lower", "upper", "p"]].to_numpy(float),
        [r["difference"], r["difference_se"], r["lower"], r["upper"], r["p"]], rtol=REL)


@pytest.mark.parametrize("analysis", ["adjusted", "unadjusted"])
def test_curves_match_r_survfit(res, analysis):
    """R: summary(survfit(Surv(time, status) ~ approach, weights = w, conf.type =
    'log-log'), times = times, extend = TRUE) (the IJ variance for fractional weights)."""
    r = R[analysis]["km"]
    s = res.survival()
    s = s[s["analysis"] == analysis].set_index(["group", "time"])
    keys = list(zip(r["group"], r_num(r["time"]), strict=True))
    for col in ("n_risk", "estimate", "std_err", "lower", "upper"):
        np.testing.assert_allclose(s.loc[keys, col].to_numpy(float), r_num(r[col]), rtol=REL,
                                   err_msg=col)


def test_without_weights_only_the_unadjusted_analysis(data):
    res = treatment_effects(data, "approach", "vats", "thoracotomy", horizon=R["tau"],
                            time="time", event="status")
    assert res.km_adjusted is None and res.cox_adjusted is None
    assert res.to_frame()["analysis"].unique().tolist() == ["unadjusted"]
    np.testing.assert_allclose(_row(res, "unadjusted", "hazard_ratio")["estimate"],
                               R["unadjusted"]["cox"]["hr"], rtol=REL)


def test_default_horizon_is_the_shorter_follow_up(data):
    """survRM2 rmst2's default tau: the smaller of the arms' last follow-up times."""
    res = treatment_effects(data, "approach", "vats", "thoracotomy", weights="w",
                            time="time", event="status")
    two = data[data["approach"].isin(["vats", "thoracotomy"])]
    assert res.horizon == two.groupby("approach")["time"].max().min()
    assert not res.warnings


def test_bootstrap_is_seeded_and_brackets_the_estimate(data):
    kw = {"weights": "w", "horizon": R["tau"], "time": "time", "event": "status",
          "bootstrap": 40}
    a = treatment_effects(data, "approach", "vats", "thoracotomy", seed=5, **kw)
    b = treatment_effects(data, "approach", "vats", "thoracotomy", seed=5, **kw)
    c = treatment_effects(data, "approach", "vats", "thoracotomy", seed=6, **kw)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert not a.to_frame().equals(c.to_frame())
    hr = _row(a, "adjusted", "hazard_ratio")
    assert hr["boot_lower"] < hr["estimate"] < hr["boot_upper"]
    # bootstrap SE of the log HR near the robust SE (same order: within a factor 1.5)
    assert 1 / 1.5 < hr["boot_se"] / hr["se"] < 1.5
    assert a.boot_curves["lower"].le(a.boot_curves["upper"]).all()
    assert a.boot_failed == 0


def test_bootstrap_refit_gets_the_resample(data):
    seen = []

    def refit(sample: pd.DataFrame) -> np.ndarray:
        seen.append(len(sample))
        assert set(sample["approach"].unique()) <= {"vats", "thoracotomy"}
        return np.ones(len(sample))

    res = treatment_effects(data, "approach", "vats", "thoracotomy", weights="w",
                            horizon=R["tau"], time="time", event="status", bootstrap=5,
                            seed=1, refit=refit)
    assert seen == [sum(res.n.values())] * 5


def test_errors(data):
    with pytest.raises(DataError, match="no patient with level 'robotic'"):
        treatment_effects(data, "approach", "robotic", "thoracotomy", time="time",
                          event="status")
    with pytest.raises(DataError, match="'nope'"):
        treatment_effects(data, "nope", "vats", "thoracotomy", time="time", event="status")
    with pytest.raises(ValueError, match="differ"):
        treatment_effects(data, "approach", "vats", "vats", time="time", event="status")
    with pytest.raises(ValueError, match="weights column"):
        treatment_effects(data, "approach", "vats", "thoracotomy", time="time",
                          event="status", refit=lambda s: None)
    bad = data.assign(w=data["w"].where(data.index != 0, -1.0))
    with pytest.raises(DataError):
        treatment_effects(bad, "approach", "vats", "thoracotomy", weights="w", time="time",
                          event="status")


def test_zero_weights_are_dropped_and_counted(data):
    two = data[data["approach"].isin(["vats", "thoracotomy"])]
    z = data.assign(w=data["w"].where(data.index != two.index[0], 0.0))
    res = treatment_effects(z, "approach", "vats", "thoracotomy", weights="w",
                            horizon=R["tau"], time="time", event="status")
    assert res.n_zero_weight == 1 and sum(res.n.values()) == R["n"] - 1


def test_html_and_plot(res, tmp_path):
    html = res._repr_html_()
    assert "TreatmentEffects" in html and "hazard_ratio" in html
    assert f"{R['adjusted']['cox']['hr']:.3g}" in html  # rounded to 3 significant digits
    ax = res.plot()
    assert len(ax.get_lines()) == 2 and ax.get_ylim()[0] == 0
    ax.figure.savefig(tmp_path / "effects.png")
    import matplotlib.pyplot as plt

    plt.close("all")
