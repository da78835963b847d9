"""The notebook view of results (issue 12, item 7): ``.plot(ax=None)`` on the KM, cumulative
incidence, Cox and PH-test results draws into the axes it is given (or a new notebook-sized
figure) and returns it; ``_repr_html_`` rounds, drops all-NA columns and heads the table
with one line.

Oracle: the number of drawn artists follows from the data (one step line per group, one
per cause, one error bar per estimable term, four lines per PH panel); the rounded texts
are written out by hand from the fitted numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from metsurv.report.plotting import NOTEBOOK_FIGSIZE  # noqa: E402
from metsurv.stats import cox, km  # noqa: E402
from metsurv.stats._result import html_table, round_sig  # noqa: E402
from metsurv.stats.competing import cuminc  # noqa: E402


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(12)
    n = 300
    grp = rng.choice(["a", "b", "c"], n)
    t = rng.exponential(np.where(grp == "a", 30.0, 60.0)) + 0.1
    c = rng.uniform(10, 200, n)
    status = np.where(t <= c, rng.choice([1, 2], n), 0)
    return pd.DataFrame({"os_months": np.minimum(t, c), "os_event": status > 0,
                         "status": status, "grp": grp, "age": rng.normal(60, 10, n)})


def _steps(ax: Axes) -> list:
    return [ln for ln in ax.get_lines() if ln.get_drawstyle() == "steps-post"]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_km_plot_new_figure_one_step_line_per_group(data):
    ax = km(data, by="grp").plot()
    assert isinstance(ax, Axes)
    assert len(_steps(ax)) == 3
    w, h = ax.figure.get_size_inches()
    assert (w, h) == pytest.approx(NOTEBOOK_FIGSIZE)
    assert ax.figure.dpi == 100


def test_km_plot_draws_into_given_axes(data):
    fig, (a1, a2) = plt.subplots(1, 2)
    out = km(data).plot(ax=a2)
    assert out is a2
    assert len(_steps(a2)) == 1 and not a1.get_lines()


def test_cif_plot_one_curve_per_cause(data):
    res = cuminc(data, time="os_months", status="status")
    ax = res.plot()
    assert isinstance(ax, Axes) and len(_steps(ax)) == 2
    fig, given = plt.subplots()
    by = cuminc(data, time="os_months", status="status", by="grp")
    assert by.plot(ax=given) is given
    assert len(_steps(given)) == 6  # 3 groups x 2 causes


def test_cox_forest_one_bar_per_term(data):
    fit = cox(data, ["grp", "age"])
    ax = fit.plot()
    assert isinstance(ax, Axes)
    assert len(ax.containers) == 1 and len(ax.containers[0].lines[0].get_xdata()) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == list(fit.terms)
    assert ax.get_xscale() == "log"
    fig, given = plt.subplots()
    assert fit.plot(ax=given) is given


def test_ph_plot_panel_per_term_and_one_term(data):
    ph = cox(data, ["grp", "age"]).ph_test()
    axes = ph.plot()
    assert isinstance(axes, np.ndarray) and len(axes) == 2
    for a in axes:
        assert len(a.get_lines()) == 4  # residuals, smooth, two limits
    fig, given = plt.subplots()
    assert ph.plot(ax=given, term="age") is given
    assert given.get_ylabel() == "Beta(t) for age"
    with pytest.raises(ValueError, match="no term"):
        ph.plot(term="sex")
    with pytest.raises(ValueError, match="axes given"):
        ph.plot(ax=given)


def test_round_sig():
    assert [round_sig(v) for v in (0.568164, 1.765024, 14.0, 13.988, 5206.4, 12.0)] == [
        "0.568", "1.77", "14", "14.0", "5206", "12"]


def test_html_drops_all_na_columns_and_rounds(data):
    fit = cox(data, ["grp", "age"])
    html = fit._repr_html_()
    assert "robust_se" not in html and ">NA<" not in html
    assert f"{fit.hr[0]:.3g}" in html and f"{fit.hr[0]:.6f}" not in html
    head = html.split("<table")[0]
    assert f"n = {fit.n}" in head and f"events = {fit.events}" in head
    robust = cox(data.assign(id=np.arange(len(data)) // 2), ["age"], cluster="id")
    assert "robust_se" in robust._repr_html_()


def test_html_p_column_and_km_head(data):
    t = html_table(pd.DataFrame({"term": ["x", "y"], "p": [0.0004, 0.2345],
                                 "empty": [np.nan, np.nan]}))
    assert "&lt; 0.001" in t and "0.23" in t and "empty" not in t
    res = km(data, by="grp")
    head = res._repr_html_().split("<table")[0]
    assert "n = 300" in head and f"events = {int(data['os_event'].sum())}" in head
    assert "median" in res._repr_html_()
