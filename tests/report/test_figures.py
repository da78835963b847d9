"""Figures: the number-at-risk table equals the estimator's counts and sits under the ticks;
figures render to every format, in subplot grids, deterministically, and stay light."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv.report import figures as F
from metsurv.report import style
from metsurv.stats import km


def _cohort(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["0-11", "12-35", ">=36"], n)
    t = rng.exponential(np.select([group == "0-11", group == "12-35"], [30, 45], 70))
    c = rng.uniform(0, 200, n)
    return pd.DataFrame({
        "os_months": np.round(np.minimum(t, c), 1),  # ties on purpose
        "os_event": t <= c,
        "dfi_group": pd.Categorical(group, categories=["0-11", "12-35", ">=36"]),
    })


def _panel(df: pd.DataFrame, ticks_years: np.ndarray) -> F.KMPanel:
    fit = km(df, by="dfi_group", times=[60])
    return F.panel_from_km(fit, at_risk_times=list(ticks_years * 12), p_logrank=0.012,
                           p_trend=0.004)


def _risk_texts(risk_ax) -> dict[tuple[float, int], str]:
    return {(round(t.get_position()[0], 9), int(t.get_position()[1])): t.get_text()
            for t in risk_ax.texts if t.get_text() and t.get_text() != "Number at risk"}


def test_at_risk_numbers_equal_km_at_risk_and_the_definition():
    df = _cohort()
    ticks = F.time_ticks(15)
    panel = _panel(df, ticks)
    fig = F.km_figure(panel)
    ax, risk_ax = fig.axes
    texts = _risk_texts(risk_ax)
    fit = km(df, by="dfi_group")
    expected = fit.at_risk(list(ticks * 12))
    for row, level in enumerate(["0-11", "12-35", ">=36"]):
        for t in ticks:
            drawn = int(texts[(t, row)].replace(",", ""))
            assert drawn == int(expected.loc[level, t * 12])
            # and the definition in the caption: patients with time >= t
            sub = df[df["dfi_group"] == level]
            assert drawn == int((sub["os_months"] >= t * 12).sum())


def test_at_risk_counts_sit_exactly_under_the_ticks():
    panel = _panel(_cohort(), F.time_ticks(15))
    fig = F.km_figure(panel)
    ax, risk_ax = fig.axes
    fig.canvas.draw()
    tick_x = {round(t, 9): ax.transData.transform((t, 0))[0] for t in ax.get_xticks()}
    assert sorted(tick_x) == F.time_ticks(15).tolist()
    assert risk_ax.get_shared_x_axes().joined(ax, risk_ax)
    for t in risk_ax.texts:
        if t.get_text() and t.get_text() != "Number at risk":
            x_disp = risk_ax.transData.transform(t.get_position())[0]
            assert x_disp == pytest.approx(tick_x[round(t.get_position()[0], 9)], abs=1e-6)
            assert t.get_horizontalalignment() == "center"


def test_labels_carry_n_median_five_year_survival_and_p_values():
    df = _cohort()
    fig = F.km_figure(_panel(df, F.time_ticks(15)))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    fit = km(df, by="dfi_group")
    s5 = fit.survival_at([60]).set_index("group")["estimate"]
    c = next(c for c in fit.curves if c.group == "0-11")
    y = F.UNIT_SCALE["years"]  # months -> years, as the figure scales them
    assert labels[0] == (f"DFI 0-11 mo (n = {(df['dfi_group'] == '0-11').sum()}; median "
                         f"{c.median * y:.1f} y [{c.median_lower * y:.1f}\u2013"
                         f"{c.median_upper * y:.1f}]; "
                         f"5-y {100 * s5['0-11']:.0f}%)")
    assert labels[-1] == "Log-rank p = 0.012; trend p = 0.004"
    assert ax.get_ylabel() == "Overall survival (%)"
    assert ax.get_xlim() == (0.0, 15.0)


def test_renders_to_png_svg_pdf_byte_identically(tmp_path):
    panel = _panel(_cohort(), F.time_ticks(15))
    paths_a = F.save_figure(F.km_figure(panel), tmp_path / "a" / "km")
    paths_b = F.save_figure(F.km_figure(panel), tmp_path / "b" / "km")
    magic = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}
    for a, b in zip(paths_a, paths_b, strict=False):
        data = a.read_bytes()
        assert data.startswith(magic[a.suffix])
        assert data == b.read_bytes(), a.name
    svg = paths_a[1].read_text()
    assert "<dc:date>" not in svg
    assert b"CreationDate" not in paths_a[2].read_bytes()


def test_panels_in_a_subplot_grid_survive_every_format(tmp_path):
    df = _cohort()
    with style.figure_style():
        fig = style.new_figure((7, 3.4))
        gs = fig.add_gridspec(1, 2, wspace=0.45, left=0.12, right=0.98, bottom=0.08)
        for j in range(2):
            ax, risk_ax = F.km_axes(fig, gs[0, j], n_groups=3)
            F.plot_km(_panel(df, F.time_ticks(10)), ax, risk_ax, max_time=10)
            assert risk_ax.get_shared_x_axes().joined(ax, risk_ax)
            assert len(_risk_texts(risk_ax)) == 3 * len(F.time_ticks(10))
        for path in F.save_figure(fig, tmp_path / "grid"):
            assert path.stat().st_size > 1000


def test_a_million_censorings_draw_a_bounded_number_of_marks():
    """More censoring times than MAX_CENSOR_MARKS in the drawn range: no ticks (they would
    merge into a band; the at-risk row shows the thinning); at most that many: all."""
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 180, 1_000_000))
    assert F._thin_censor_marks(times, 180).size == 0
    few = times[:: len(times) // F.MAX_CENSOR_MARKS][: F.MAX_CENSOR_MARKS]
    assert F._thin_censor_marks(few, 180).size == few.size
    steps_t = np.linspace(0, 180, 200_000)
    x, y = F._display_steps(steps_t, np.linspace(1, 0, 200_000), 180)
    assert x.size <= F.MAX_STEP_POINTS + 1 and np.all(np.diff(y) <= 0)


def test_small_cell_suppression_reaches_the_at_risk_row():
    df = _cohort(60)
    fig = F.km_figure(_panel(df, F.time_ticks(15)), suppress_below=5)
    shown = set(_risk_texts(fig.axes[1]).values())
    assert "<5" in shown
    assert not any(s in shown for s in ("1", "2", "3", "4"))


def test_forest_plot_lists_every_term(tmp_path):
    t = pd.DataFrame({"term": ["Completeness of resection: Incomplete (R1/R2) vs Complete (R0)",
                               "Number of metastases: 2-3 vs Single", "Age"],
                      "hr": [2.7, 1.4, 1.01], "lower": [2.3, 1.2, 1.0],
                      "upper": [3.1, 1.6, 1.02], "p": [1e-9, 1e-4, 0.04]})
    fig = F.forest_figure({"Univariable": t, "Multivariable": t})
    texts = [x.get_text() for x in fig.texts]
    assert "   Incomplete (R1/R2) vs Complete (R0)" in texts
    assert texts.count("2.70 (2.30\u20133.10)") == 2
    assert all(p.stat().st_size > 1000 for p in F.save_figure(fig, tmp_path / "forest"))


def _inside_at_png_dpi(fig) -> list[str]:
    """Texts of the figure that reach outside it when laid out at the PNG's 300 dpi."""
    fig.set_dpi(300)
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()
    w, h = fig.bbox.width, fig.bbox.height
    out = []
    for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent")):
        if not (t.get_text() and t.get_visible()):
            continue
        e = t.get_window_extent(r)
        if e.x0 < 0 or e.x1 > w or e.y0 < 0 or e.y1 > h:
            out.append(t.get_text())
    return out


@pytest.mark.parametrize("labels", [
    {"0-11": "Incomplete (R1/R2)", "12-35": "Stable disease", ">=36": "No chemotherapy"},
    {"0-11": "Incomplete resection, R1 or R2 margins (microscopic or gross)",
     "12-35": "b", ">=36": "c"},
])
def test_long_group_labels_fit_the_png(labels):
    """Reviewers saw "ncomplete": at 100 dpi text is hinted narrower than in the 300-dpi
    PNG, so the layout measured there left the first letter outside the figure."""
    df = _cohort(n=2000)
    fit = km(df, by="dfi_group", times=[60])
    panel = F.panel_from_km(fit, at_risk_times=list(F.time_ticks(15) * 12), labels=labels,
                            p_logrank=0.012, p_trend=0.004)
    fig = F.km_figure(panel)
    assert fig.get_figwidth() == pytest.approx(style.COLUMN_WIDTH_IN)
    assert _inside_at_png_dpi(fig) == []
    # counts still sit exactly under the ticks
    risk_ax = fig.axes[1]
    assert {x for x, _ in _risk_texts(risk_ax)} == {round(float(t), 9)
                                                    for t in F.time_ticks(15)}


def test_title_heads_the_legend_and_hides_no_p_value():
    df = _cohort()
    fig = F.km_figure(_panel(df, F.time_ticks(15)), title="Survival by DFI group")
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()
    legend = fig.axes[0].get_legend()
    assert legend.get_title().get_text() == "Survival by DFI group"
    title = legend.get_title().get_window_extent(r)
    for t in legend.get_texts():
        assert not title.overlaps(t.get_window_extent(r)), t.get_text()
    assert fig.axes[0].get_title(loc="left") == ""
    assert _inside_at_png_dpi(fig) == []


def test_benchmark_points_match_factor_subset_and_level():
    from metsurv.published import published_figures

    pub = published_figures("IRLM 1997")
    pts, sources = F.benchmark_points(pub, "dfi_group", "complete_resection",
                                      ["0-11", "12-35", ">=36"])
    assert set(pts["group"]) == {"0-11", ">=36"} and len(sources) == 1
    assert F.benchmark_points(pub, "dfi_group", None, ["0-11"]) == (None, ())


def _at_dpi(fig, dpi=300):
    fig.set_dpi(dpi)
    fig.draw_without_rendering()
    return fig.canvas.get_renderer()


def test_at_risk_labels_stand_clear_of_the_first_count():
    """Reviewers read "N0 240": the group label nearly touched the count under t = 0."""
    rng = np.random.default_rng(1)
    for n in (480, 3000, 30):  # 3-, 4- and 2-digit counts under t = 0
        df = pd.DataFrame({"os_months": rng.exponential(60, n), "os_event": True,
                           "dfi_group": pd.Categorical(np.repeat(["0-11", ">=36"], n // 2),
                                                       categories=["0-11", "12-35", ">=36"])})
        _assert_label_gap(F.km_figure(_panel(df, F.time_ticks(15))))


def _assert_label_gap(fig):
    risk_ax = fig.axes[1]
    r = _at_dpi(fig)
    for row, label in enumerate(risk_ax.get_yticklabels()):
        first = next(t for t in risk_ax.texts if t.get_position() == (0.0, row))
        gap_pt = (first.get_window_extent(r).x0 - label.get_window_extent(r).x1) / 300 * 72
        # 7 pt (2.5 mm, about two digits): it was 5 pt, which reads as "N0 240"
        assert gap_pt >= 7.0, (label.get_text(), first.get_text(), gap_pt)


def _bands(ax) -> int:
    from matplotlib.collections import PolyCollection

    return sum(isinstance(c, PolyCollection) for c in ax.collections)


def test_ci_bands_default_off_above_three_groups_and_can_be_forced():
    rng = np.random.default_rng(2)
    four = pd.DataFrame({"os_months": rng.exponential(50, 800), "os_event": True,
                         "irlm_group": rng.choice(["I", "II", "III", "IV"], 800)})
    panel4 = F.panel_from_km(km(four, by="irlm_group"), at_risk_times=[0, 60])
    assert _bands(F.km_figure(panel4).axes[0]) == 0
    assert _bands(F.km_figure(panel4, ci=True).axes[0]) == 4
    panel3 = _panel(_cohort(), F.time_ticks(15))
    assert _bands(F.km_figure(panel3).axes[0]) == 3
    assert _bands(F.km_figure(panel3, ci=False).axes[0]) == 0


def test_benchmarks_from_secondary_sources_are_marked_and_explained():
    """IRLM's group medians come from reviews or are "commonly quoted": the legend must not
    call them "IRLM 1997 (published)"; they get an open circle and a note."""
    from metsurv.published import published_figures

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"os_months": rng.exponential(50, 800), "os_event": True,
                       "irlm_group": rng.choice(["I", "II", "III", "IV"], 800),
                       "complete_resection": rng.random(800) < 0.8})
    pub = published_figures("IRLM 1997")
    fit = km(df, by="irlm_group")
    pts, sources = F.benchmark_points(pub, "irlm_group", None, fit.groups)
    assert not pts["primary"].any()
    fig = F.km_figure(F.panel_from_km(fit, at_risk_times=[0, 60], benchmarks=pts,
                                      benchmark_label="IRLM 1997", benchmark_sources=sources))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "IRLM 1997, quoted by others (see note)" in legend
    assert not any("(published)" in t for t in legend)
    markers = {ln.get_marker() for ln in fig.axes[0].lines if ln.get_linestyle() == "None"
               and ln.get_marker() not in ("|", "None", None)}
    assert markers == {style.BENCHMARK_SECONDARY_MARKER}
    notes = " ".join(t.get_text() for t in fig.texts)
    assert "\u25cb quoted by a review or commonly quoted, not verified" in notes
    # figures read from the abstract keep the diamond and "(published)"
    fit = km(df, by="complete_resection")
    pts, sources = F.benchmark_points(pub, "complete_resection", None, fit.groups)
    fig = F.km_figure(F.panel_from_km(fit, at_risk_times=[0, 60], benchmarks=pts,
                                      benchmark_label="IRLM 1997", benchmark_sources=sources))
    assert "IRLM 1997 (published)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def _cif_curves():
    from metsurv.stats.competing import cuminc

    rng = np.random.default_rng(4)
    n = 600
    df = pd.DataFrame({"t": np.round(rng.exponential(40, n), 1),
                       "s": rng.choice([0, 1, 2, 3], n, p=[0.3, 0.4, 0.25, 0.05])})
    df.loc[df["s"] == 3, "t"] = np.minimum(df.loc[df["s"] == 3, "t"], 20.0)  # an early cause
    res = cuminc(df, "t", "s")
    curves = []
    for cause in res.causes:
        cur = res.table[res.table["cause"] == cause]
        curves.append(F.Curve(label=f"cause {cause}",
                              time=np.r_[0.0, cur["time"].to_numpy(float)],
                              estimate=np.r_[0.0, cur["estimate"].to_numpy(float)]))
    return df, curves


def test_cif_curves_run_to_the_end_of_follow_up_not_their_last_event():
    df, curves = _cif_curves()
    end = float(df["t"].max())
    fig = F.cif_figure(curves, end_of_followup=end)
    ax = fig.axes[0]
    ends = [float(np.max(ln.get_xdata())) for ln in ax.lines if ln.get_label().startswith("cause")]
    assert len(ends) == 3
    # drawn at least to the end of follow-up (beyond the axis end the axes clip it); the
    # early cause once stopped at its last event, under 2 years
    assert min(ends) >= min(end, 180.0) / 12 - 1e-9


def test_cif_number_at_risk_is_the_dfs_kaplan_meier_count():
    df, curves = _cif_curves()
    ticks = F.time_ticks(15)
    fit = km(df.assign(e=df["s"] > 0), time="t", event="e")
    at_risk = fit.at_risk(list(ticks * 12))
    fig = F.cif_figure(curves, end_of_followup=float(df["t"].max()), at_risk=at_risk)
    risk_ax = fig.axes[1]
    shown = {x: t for (x, _), t in _risk_texts(risk_ax).items()}
    for t in ticks:
        assert int(shown[t].replace(",", "")) == int((df["t"] >= 12 * t).sum())
    assert [lbl.get_text() for lbl in risk_ax.get_yticklabels()] == ["All patients"]
