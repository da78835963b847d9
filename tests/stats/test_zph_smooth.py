"""The cox.zph plot smooth (``zph_smooth``) and time axis (``zph_time_axis``) against
what R survival 3.5-3 ``plot.cox.zph`` draws. Fixtures: ``tests/reference/make_zph_smooth.R``
-> ``zph_smooth.json`` and ``data/zph_smooth_*.csv`` (rerun live below when Rscript
exists); plus a hand check of the spline space against scipy's natural cubic spline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.interpolate import CubicSpline

from metsurv.stats.cox import cox
from metsurv.stats.cox.result import PHTestResult
from metsurv.stats.cox.zph import cox_zph, zph_smooth, zph_time_axis
from tests.stats.helpers import (
    assert_close_abs,
    assert_r_reproduces,
    dataset,
    needs_r,
    reference,
    run_r_script,
)

CASES = reference("zph_smooth")["cases"]
TERMS = [(c["name"], t["term"]) for c in CASES for t in c["terms"]]


def _case(name: str) -> dict:
    return next(c for c in CASES if c["name"] == name)


def _ph(case: dict) -> PHTestResult:
    """cox.zph of the case's fit, as the R script fits it (rhs 'a + b + strata(s)')."""
    parts = [p.strip() for p in case["rhs"].split("+")]
    cov = [p for p in parts if not p.startswith("strata(")]
    strata = [p[len("strata("):-1] for p in parts if p.startswith("strata(")]
    fit = cox(dataset(case["data"]), cov, strata=strata or None, time="time", event="event")
    return cox_zph(fit, case["transform"])


@pytest.mark.parametrize(("name", "term"), TERMS)
def test_zph_smooth_matches_R_plot_cox_zph(name, term):
    """R: plot.cox.zph(cox.zph(fit, transform), var = term): the grid, smooth and +-2 SE
    band it draws, 1e-8 absolute (x on the identity/log axis 1e-8 relative); cases: a
    binary factor, continuous covariates, a 3- and a 4-level factor, strata, residuals
    missing in one stratum, transforms km, identity, log and rank."""
    case = _case(name)
    ref = next(t for t in case["terms"] if t["term"] == term)
    ph = _ph(case)
    s = zph_smooth(ph, term)
    assert len(s) == 40
    # R draws the log transform on exp(pred.x), i.e. on the time scale
    drawn_x = s["time"] if case["transform"] == "log" else s["x"]
    np.testing.assert_allclose(drawn_x, ref["pred_x"], rtol=1e-8, atol=1e-8)
    assert_close_abs(s["estimate"], ref["yhat"], 1e-8, f"{name} {term} yhat")
    assert_close_abs(s["upper"], ref["yup"], 1e-8, f"{name} {term} yup")
    assert_close_abs(s["lower"], ref["ylow"], 1e-8, f"{name} {term} ylow")
    var = ph.var.loc[term, term]
    np.testing.assert_allclose(var, ref["var"], rtol=1e-8)


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_zph_time_axis_matches_R_axis_labels(name):
    """R plot.cox.zph's axis(1, xaxisval, xaxislab): positions 1e-8, labels equal (none
    for identity and log)."""
    case = _case(name)
    pos, labels = zph_time_axis(_ph(case))
    ref = case["terms"][0]
    ref_at = np.atleast_1d(np.array(ref["axis_at"], dtype=float))
    ref_labels = ref["axis_labels"] if isinstance(ref["axis_labels"], list) else [
        ref["axis_labels"]]
    assert labels == ref_labels
    np.testing.assert_allclose(pos, ref_at, rtol=0, atol=1e-8)


def _hand_ph(x: np.ndarray, y: np.ndarray, var: float) -> PHTestResult:
    frame = pd.DataFrame({"time": x, "x": x, "b": y})
    return PHTestResult(terms=("b", "GLOBAL"), chisq=np.zeros(2), df=np.ones(2),
                        p=np.ones(2), transform="identity", residuals=frame,
                        var=pd.DataFrame([[var]], index=["b"], columns=["b"]))


def _scipy_basis(u: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Natural cubic splines through the unit vectors at the knots: another basis of the
    same space (K knots, K functions), built by scipy."""
    return np.column_stack([CubicSpline(knots, np.eye(knots.size)[k], bc_type="natural")(u)
                            for k in range(knots.size)])


def test_zph_smooth_equals_hand_computation_with_scipy_natural_spline():
    """A y that is itself a natural cubic spline on R's knots is reproduced exactly; the
    band equals 2 sqrt(var * diag(P (L'L)^-1 P')) with L and P from scipy's basis; rows
    with a missing residual are left out of the fit but not of the knots."""
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(0, 10, 80))
    grid = np.linspace(x.min(), x.max(), 40)
    knots = np.quantile(np.r_[grid, x], [0, 1 / 3, 2 / 3, 1])
    truth = CubicSpline(knots, [0.3, -0.2, 0.5, 0.1], bc_type="natural")
    y = truth(x)
    y[::9] = np.nan
    s = zph_smooth(_hand_ph(x, y, 0.7), "b")
    np.testing.assert_allclose(s["estimate"], truth(grid), atol=1e-10)
    keep = ~np.isnan(y)
    L, P = _scipy_basis(x[keep], knots), _scipy_basis(grid, knots)
    seval = np.einsum("ij,jk,ik->i", P, np.linalg.inv(L.T @ L), P)
    np.testing.assert_allclose(s["upper"] - s["estimate"], 2 * np.sqrt(0.7 * seval),
                               rtol=1e-9)
    np.testing.assert_allclose(s["estimate"] - s["lower"], 2 * np.sqrt(0.7 * seval),
                               rtol=1e-9)
    # noisy y: the least-squares projection on scipy's basis
    y2 = np.where(keep, rng.normal(size=x.size), np.nan)
    coef = np.linalg.lstsq(L, y2[keep], rcond=None)[0]
    np.testing.assert_allclose(zph_smooth(_hand_ph(x, y2, 1.0), "b")["estimate"], P @ coef,
                               atol=1e-10)


def test_zph_smooth_time_column_maps_grid_to_time():
    """km: the grid's time is interpolated between the events' (x, time) and runs from
    the first to the last event time; log: exp(x)."""
    ph = _ph(_case("lung_sex_age_km"))
    s = zph_smooth(ph, "age")
    res = ph.residuals
    assert s["time"].iloc[0] == res["time"].min() and s["time"].iloc[-1] == pytest.approx(
        res["time"].max())
    assert np.all(np.diff(s["time"]) >= 0)
    ph_log = _ph(_case("lung_age_log"))
    s_log = zph_smooth(ph_log, "age")
    np.testing.assert_allclose(s_log["time"], np.exp(s_log["x"]))


def test_zph_smooth_recomputes_var_from_fit_when_var_is_absent():
    case = _case("lung_sex_age_km")
    ph = _ph(case)
    fit = cox(dataset(case["data"]), ["sex_f", "age"], time="time", event="event")
    stripped = PHTestResult(terms=ph.terms, chisq=ph.chisq, df=ph.df, p=ph.p,
                            transform=ph.transform, residuals=ph.residuals.copy())
    with pytest.raises(ValueError, match="pass fit"):
        zph_smooth(stripped, "age")
    pd.testing.assert_frame_equal(zph_smooth(stripped, "age", fit), zph_smooth(ph, "age"))


def test_zph_smooth_errors():
    ph = _ph(_case("lung_sex_age_km"))
    with pytest.raises(ValueError, match="not a residual column"):
        zph_smooth(ph, "nope")
    with pytest.raises(ValueError, match="not a residual column"):
        zph_smooth(ph, "time")
    with pytest.raises(ValueError, match="at least 2"):
        zph_smooth(ph, "age", df=1)
    x = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.0])  # 3 distinct times < df 4
    with pytest.raises(ValueError, match="singular"):
        zph_smooth(_hand_ph(x, np.arange(6.0), 1.0), "b")


@needs_r
def test_make_zph_smooth_R_reproduces_committed_fixtures(tmp_path):
    """Rscript tests/reference/make_zph_smooth.R <tmp>: every JSON value equal to the
    committed one (1e-12 relative), every input CSV identical."""
    run_r_script("make_zph_smooth.R", tmp_path)
    assert_r_reproduces("zph_smooth", tmp_path, "zph_smooth_*.csv", 1e-12, 1e-14,
                        same_survival=True)


@pytest.mark.parametrize("name", ["veteran_celltype_karno_km", "lung_age_log",
                                  "veteran_strata_identity", "veteran_strata_partial_km"])
def test_ph_figure_draws_residuals_smooth_band_and_coefficient(name, tmp_path):
    """ph_figure: one point per non-missing residual, the smooth and its two band lines
    at zph_smooth's values, a dotted line at coef, R's time labels on a km axis, a log x
    axis for transform log; it saves to PNG."""
    from metsurv.report.figures import ph_figure, save_figure

    case = _case(name)
    ph = _ph(case)
    term = case["terms"][0]["term"]
    s = zph_smooth(ph, term)
    y = ph.residuals[term]
    fig = ph_figure(ph.residuals["x"], y, s, "the term", coef=0.25,
                    ticks=zph_time_axis(ph), transform=ph.transform, xlabel="Days",
                    title="T", p=0.01)
    ax = fig.axes[0]
    # every non-missing residual, each distinct point drawn once with the opacity of its
    # k stacked markers, 1 - 0.2^k (k capped at 5)
    groups = [ln for ln in ax.lines if ln.get_linestyle() == "None"]
    drawn = pd.concat([pd.DataFrame({"x": ln.get_xdata(), "y": ln.get_ydata(),
                                     "alpha": ln.get_alpha()}) for ln in groups])
    px = ph.residuals["x"].to_numpy(float)
    px = np.exp(px) if ph.transform == "log" else px
    k = pd.DataFrame({"x": px, "y": y.to_numpy(float)}).dropna().value_counts()
    assert len(drawn) == len(k) and k.sum() == int(y.notna().sum())
    got = drawn.set_index(["x", "y"])["alpha"].sort_index()
    np.testing.assert_allclose(got, 1 - 0.2 ** np.minimum(k.sort_index().to_numpy(), 5))
    assert groups[0].get_label() == "Scaled Schoenfeld residual"
    est, up, low, coef = ax.lines[len(groups):len(groups) + 4]
    np.testing.assert_allclose(est.get_ydata(), s["estimate"])
    np.testing.assert_allclose(up.get_ydata(), s["upper"])
    np.testing.assert_allclose(low.get_ydata(), s["lower"])
    assert coef.get_ydata()[0] == 0.25 and coef.get_linestyle() == ":"
    assert coef.get_label() == "Fitted coefficient (0.25)"
    assert ax.get_ylabel() == "Beta(t) for the term"
    assert "p = 0.010" in ax.get_title(loc="left")
    if ph.transform == "km":
        pos, labels = zph_time_axis(ph)
        np.testing.assert_allclose(ax.get_xticks(), pos)
        assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert ax.get_xscale() == ("log" if ph.transform == "log" else "linear")
    (path,) = save_figure(fig, tmp_path / "ph_term", formats=("png",))
    assert path.stat().st_size > 1000


def test_ph_figure_rejects_mismatched_residuals():
    from metsurv.report.figures import ph_figure

    ph = _ph(_case("lung_sex_age_km"))
    s = zph_smooth(ph, "age")
    with pytest.raises(ValueError, match="differ in length"):
        ph_figure(ph.residuals["x"], ph.residuals["age"][:-1], s, "Age")
    with pytest.raises(ValueError, match="lacks columns"):
        ph_figure(ph.residuals["x"], ph.residuals["age"], s.drop(columns="upper"), "Age")


def test_repeated_residuals_drawn_once_give_the_picture_of_every_point():
    """Oracle: the same cloud drawn point by point (900 markers over 300 places). Drawn
    once per place with the stacked opacity, the pixels agree but for the antialiased
    rims of markers: mean difference under 3 of 255, fewer than 5% of pixels off by > 3."""
    import matplotlib.pyplot as plt

    from metsurv.report.figures import RESIDUAL_ALPHA, _stacked_points

    rng = np.random.default_rng(1)
    at = rng.integers(0, 300, 900)  # each place 0 to about 9 times
    x, y = rng.random(300)[at], rng.normal(size=300)[at]

    def pixels(groups):
        fig = plt.figure(figsize=(3, 3), dpi=100)
        ax = fig.add_axes([0, 0, 1, 1])
        ax.set_xlim(-0.1, 1.1)
        ax.set_ylim(-4, 4)
        for gx, gy, alpha in groups:
            ax.plot(gx, gy, linestyle="none", marker="o", markersize=3, markeredgewidth=0,
                    color="0.6", alpha=alpha)
        fig.canvas.draw()
        out = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
        plt.close(fig)
        return out

    groups = _stacked_points(x, y, RESIDUAL_ALPHA)
    assert sum(g[0].size for g in groups) == len(set(zip(x, y, strict=True))) and len(groups) > 1
    diff = np.abs(pixels([(x, y, RESIDUAL_ALPHA)]) - pixels(groups)).max(axis=2)
    assert diff.mean() < 3 and (diff > 3).mean() < 0.05
    # nothing repeated: drawn as given
    (only,) = _stacked_points(np.arange(4.0), np.arange(4.0), RESIDUAL_ALPHA)
    assert only[2] == RESIDUAL_ALPHA and only[0].tolist() == [0, 1, 2, 3]
