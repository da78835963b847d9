"""Kaplan-Meier figures (issue 12): curves end where fewer than ``min_at_risk`` remain at
risk, the legend quotes each group's median (95% CI) as the estimator gives it, censoring
ticks follow the stated rule at any n, and the at-risk labels stand clear of the counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import CohortError
from metsurv.report import figures as F
from metsurv.report import load_config
from metsurv.report.sections._common import km_caption, plot_kwargs
from metsurv.stats import km

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def _cohort(sizes: dict[str, int], seed: int = 5, scale: float = 50.0,
            follow: float = 200.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = np.repeat(list(sizes), list(sizes.values()))
    t = rng.exponential(scale, group.size)
    c = rng.uniform(0, follow, group.size)
    return pd.DataFrame({"os_months": np.round(np.minimum(t, c), 2), "os_event": t <= c,
                         "g": group})


def _figure(df: pd.DataFrame, **kwargs):
    fit = km(df, by="g", times=[60])
    ticks = F.time_ticks(kwargs.get("max_time", 15))
    panel = F.panel_from_km(fit, at_risk_times=list(ticks * 12))
    return fit, F.km_figure(panel, **kwargs)


def _curve_lines(ax, labels):
    """The step line of each group, by its legend label's start."""
    out = {}
    for g in labels:
        lines = [ln for ln in ax.lines if ln.get_label().startswith(f"{g} (")]
        assert len(lines) == 1, g
        out[g] = lines[0]
    return out


def _mth_largest(times: np.ndarray, m: int) -> float:
    """The last time at which at least m patients are at risk (time >= t): the m-th largest
    observed time. From the raw data, not from the estimator."""
    return float(np.sort(times)[-m])


@pytest.mark.parametrize("m", [10, 25])
def test_curves_end_at_the_last_time_min_at_risk_remain(m):
    df = _cohort({"A": 300, "B": 120}, follow=400)
    _, fig = _figure(df, min_at_risk=m, max_time=40)
    lines = _curve_lines(fig.axes[0], ["A", "B"])
    for g, ln in lines.items():
        times = df.loc[df["g"] == g, "os_months"].to_numpy()
        end = float(np.max(ln.get_xdata())) * 12  # years on the axis
        last_ok = _mth_largest(times, m)
        # after last_ok fewer than m are at risk: nothing is drawn there
        assert end <= last_ok + 1e-6, (g, end, last_ok)
        # and the curve reaches it (the axis, 40 years, is longer than follow-up)
        assert end == pytest.approx(last_ok, abs=1e-6)
        assert (times >= end - 1e-9).sum() >= m
        assert (times > end + 1e-9).sum() < m


def test_min_at_risk_zero_draws_to_the_end_of_follow_up():
    df = _cohort({"A": 200}, follow=300)
    _, fig = _figure(df, min_at_risk=0, max_time=30)
    end = float(np.max(_curve_lines(fig.axes[0], ["A"])["A"].get_xdata())) * 12
    assert end == pytest.approx(df["os_months"].max(), abs=1e-6)
    _, fig10 = _figure(df, max_time=30)  # the default is 10
    end10 = float(np.max(_curve_lines(fig10.axes[0], ["A"])["A"].get_xdata())) * 12
    assert F.MIN_AT_RISK == 10
    assert end10 == pytest.approx(_mth_largest(df["os_months"].to_numpy(), 10), abs=1e-6)
    assert end10 < end


def test_suppression_k_still_cuts_when_larger_than_min_at_risk():
    df = _cohort({"A": 300}, follow=400)
    times = df["os_months"].to_numpy()
    _, fig = _figure(df, min_at_risk=10, suppress_below=40, max_time=40)
    end = float(np.max(_curve_lines(fig.axes[0], ["A"])["A"].get_xdata())) * 12
    # the k rule (unchanged): nothing drawn after the first time fewer than k are at risk,
    # which is earlier than the min_at_risk end
    distinct = np.unique(times)
    at_risk = np.array([(times >= t).sum() for t in distinct])
    first_below_k = distinct[np.flatnonzero(at_risk < 40)[0]]
    assert end <= first_below_k + 1e-6
    assert end < _mth_largest(times, 10)


def test_legend_medians_with_ci_equal_the_km_result():
    df = _cohort({"A": 400, "B": 250}, scale=40)
    fit, fig = _figure(df)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    med = fit.medians().set_index("group")
    for g in ("A", "B"):
        m, lo, hi = (med.loc[g, c] / 12 for c in ("median", "lower", "upper"))
        assert np.isfinite([m, lo, hi]).all()
        text = f"median {m:.1f} y [{lo:.1f}\u2013{hi:.1f}]"
        row = next(t for t in legend if t.startswith(f"{g} ("))
        assert text in row, (row, text)
        assert row.startswith(f"{g} (n = {int(med.loc[g, 'n'])}; median ")
    # in months when the axis is in months
    fit = km(df, by="g")
    panel = F.panel_from_km(fit, at_risk_times=list(F.time_ticks(180)))
    fig = F.km_figure(panel, time_unit="months", max_time=180)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    m, lo, hi = (med.loc["A", c] for c in ("median", "lower", "upper"))
    assert f"median {m:.1f} mo [{lo:.1f}\u2013{hi:.1f}]" in legend[0]


def test_legend_says_not_reached():
    rng = np.random.default_rng(2)
    t = rng.uniform(1, 100, 200)
    df = pd.DataFrame({"os_months": t, "os_event": (t < 20) & (rng.random(200) < 0.3),
                       "g": "A"})
    fit, fig = _figure(df)
    assert np.isnan(fit.medians()["median"].iloc[0])
    legend = fig.axes[0].get_legend().get_texts()[0].get_text()
    assert "median NR;" in legend
    # a median reached with its upper limit not: NR inside the brackets
    c = F.Curve("x", np.zeros(1), np.ones(1), median=30.0, median_lower=24.0,
                median_upper=float("nan"))
    assert F.median_text(c) == "median 2.5 y [2.0\u2013NR]"


def test_legend_hides_the_median_of_a_suppressed_group():
    df = _cohort({"A": 200, "B": 3})
    _, fig = _figure(df, suppress_below=5)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "median" in legend[0]
    assert "median" not in legend[1]


def _marks(ax, colour):
    return [ln for ln in ax.lines if ln.get_marker() == "|" and ln.get_color() == colour]


def test_censor_marks_at_n_5000_follow_the_rule():
    """At n = 5,000 a curve has thousands of censoring times: no ticks (the at-risk row
    shows follow-up); a small group in the same figure keeps a tick at each time."""
    rng = np.random.default_rng(4)
    big = _cohort({"Big": 5000}, seed=1)
    small = pd.DataFrame({"os_months": np.r_[np.round(rng.uniform(0, 150, 30), 1),
                                             rng.exponential(40, 30)],
                          "os_event": np.r_[np.zeros(30, bool), np.ones(30, bool)],
                          "g": "Small"})
    df = pd.concat([big, small], ignore_index=True)
    fit, fig = _figure(df)
    ax = fig.axes[0]
    big_censored = np.unique(big.loc[~big["os_event"], "os_months"])
    assert big_censored.size > F.MAX_CENSOR_MARKS
    assert _marks(ax, F.style.colour(0)) == []
    (small_marks,) = _marks(ax, F.style.colour(1))
    # a tick at each distinct censoring time up to the curve's end (min_at_risk = 10)
    times = small["os_months"].to_numpy()
    stop = _mth_largest(times, F.MIN_AT_RISK)
    expected = np.unique(small.loc[~small["os_event"] & (small["os_months"] <= stop),
                                   "os_months"])
    np.testing.assert_allclose(np.sort(small_marks.get_xdata()) * 12, expected, atol=1e-9)


@pytest.mark.parametrize("count", [F.MAX_CENSOR_MARKS, F.MAX_CENSOR_MARKS + 1])
def test_the_censor_rule_boundary(count):
    times = np.arange(1, count + 1, dtype=float)
    marks = F._thin_censor_marks(np.r_[times, times], 1e9)  # ties are one tick
    assert marks.size == (count if count <= F.MAX_CENSOR_MARKS else 0)


def _gaps_pt(fig) -> list[tuple[str, str, float]]:
    """(label, first count, clear space in points) of each at-risk row, on the figure
    rendered at the PNG's 300 dpi."""
    fig.set_dpi(300)
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()
    risk_ax = fig.axes[1]
    out = []
    for row, label in enumerate(risk_ax.get_yticklabels()):
        first = next(t for t in risk_ax.texts if t.get_position() == (0.0, row))
        gap = (first.get_window_extent(r).x0 - label.get_window_extent(r).x1) / 300 * 72
        out.append((label.get_text(), first.get_text(), gap))
    return out


@pytest.mark.parametrize("n", [8, 30, 480, 5206, 120_000])
def test_at_risk_label_gap_is_at_least_the_constant_at_any_n(n):
    df = _cohort({"N0": n, "NX (not assessed)": max(n // 3, 4), "N1": 12})
    _, fig = _figure(df)
    gaps = _gaps_pt(fig)
    assert len(gaps) == 3
    for label, first, gap in gaps:
        assert gap >= F.AT_RISK_LABEL_GAP_PT, (label, first, gap)
        # and not absurdly far: within 3 pt of the constant for the widest first count
    assert min(g for _, _, g in gaps) <= F.AT_RISK_LABEL_GAP_PT + 3.0


def test_at_risk_label_gap_under_suppression_texts():
    df = _cohort({"A": 40, "B": 300})
    _, fig = _figure(df, suppress_below=50)
    for label, first, gap in _gaps_pt(fig):
        assert gap >= F.AT_RISK_LABEL_GAP_PT, (label, first, gap)


def test_footnotes_fit_the_column_width():
    from metsurv.published import published_figures

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"os_months": rng.exponential(50, 800), "os_event": True,
                       "irlm_group": rng.choice(["I", "II", "III", "IV"], 800)})
    fit = km(df, by="irlm_group")
    pts, sources = F.benchmark_points(published_figures("IRLM 1997"), "irlm_group", None,
                                      fit.groups)
    fig = F.km_figure(F.panel_from_km(fit, at_risk_times=[0, 60], benchmarks=pts,
                                      benchmark_label="IRLM 1997", benchmark_sources=sources))
    fig.set_dpi(300)
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()
    width_px = fig.get_figwidth() * 300
    assert len(fig.texts) >= 3
    for t in fig.texts:
        e = t.get_window_extent(r)
        assert 0 <= e.x0 and e.x1 <= width_px, t.get_text()


def test_same_figure_same_bytes(tmp_path):
    """Also from two processes a second apart: the PDF's embedded font subsets carry a
    timestamp (it made every build's figures/*.pdf differ)."""
    import os
    import subprocess
    import sys
    import time

    code = ("import sys; import numpy as np; import pandas as pd\n"
            "from metsurv.report import figures as F\nfrom metsurv.stats import km\n"
            "rng = np.random.default_rng(1)\n"
            "df = pd.DataFrame({'os_months': rng.exponential(50, 300), 'os_event': True})\n"
            "p = F.panel_from_km(km(df), at_risk_times=[0, 60, 120])\n"
            # as a build saves: its font-subset cache re-reads each subset with fontTools
            "import contextlib; from metsurv.report import output\n"
            "with getattr(output, '_font_subsets', contextlib.nullcontext)():\n"
            "    F.save_figure(F.km_figure(p), sys.argv[1], formats=('pdf', 'png', 'svg'))\n")
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], check=True,
                       env=env, timeout=300)
        time.sleep(1.1)
    for ext in ("png", "svg", "pdf"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()


def test_config_key_and_caption():
    cfg = load_config(REPORTS / "irlm1997.yaml")
    assert cfg.min_at_risk == 10
    assert plot_kwargs(cfg)["min_at_risk"] == 10
    text = km_caption(cfg, "DFI")
    assert "Each curve ends where fewer than 10 patients remain at risk" in text
    assert f"at most {F.MAX_CENSOR_MARKS} of them" in text
    assert "median survival [95% CI] in years (NR: not reached)" in text
    import dataclasses

    assert "runs to its last follow-up" in km_caption(dataclasses.replace(cfg, min_at_risk=0),
                                                      None)
    raw = {"title": "x", "data": {"source": str(cfg.source)}}
    assert load_config({**raw, "min_at_risk": 0}).min_at_risk == 0
    for bad in (-1, 2.5, "10", True):
        with pytest.raises(CohortError, match="min_at_risk"):
            load_config({**raw, "min_at_risk": bad})


def test_a_group_below_min_at_risk_from_the_start_says_it_is_not_drawn():
    """A group of 7 under the default rule of 10: no line, and its legend row says why
    (a legend with a median but no curve reads as a drawing error)."""
    df = _cohort({"A": 200, "B": 7}, follow=300)
    _, fig = _figure(df, max_time=20)
    lines = _curve_lines(fig.axes[0], ["A", "B"])
    assert "not drawn: < 10 at risk" in lines["B"].get_label()
    assert "not drawn" not in lines["A"].get_label()
    assert np.asarray(lines["B"].get_xdata()).size == 0 or np.max(lines["B"].get_xdata()) == 0
    _, fig0 = _figure(df, min_at_risk=0, max_time=20)
    assert "not drawn" not in _curve_lines(fig0.axes[0], ["B"])["B"].get_label()
