"""Figures of a metastasectomy report: Kaplan-Meier with numbers at risk, forest plot,
cumulative incidence, landmark analysis.

Every function here *draws* a result that :mod:`metsurv.stats` computed; none estimates
anything (architecture: one-way data flow). Times arrive in months (the cohort's unit) and
are only rescaled for display.

The number-at-risk table is its own axes under the plot, sharing the x-axis, so the counts
sit exactly under the ticks in any subplot grid and survive ``savefig`` to every format
(lifelines draws it as twin-axis tick labels, which breaks in subplots and on export:
lifelines #562, #358, #1624).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.gridspec import SubplotSpec
from matplotlib.lines import Line2D

from metsurv import schema
from metsurv.format import format_p
from metsurv.report import style
from metsurv.report._format import shows_estimates, suppress_count
from metsurv.report.suppression import AT_RISK_SECONDARY, Partition
from metsurv.stats.km import followed

__all__ = [
    "Curve",
    "KMPanel",
    "panel_from_km",
    "benchmark_points",
    "is_primary",
    "km_axes",
    "plot_km",
    "km_figure",
    "forest_figure",
    "cif_figure",
    "hazard_figure",
    "save_figure",
    "plot_ph",
    "draw",
    "time_ticks",
    "too_few_text",
    "ENDPOINT_LABELS",
    "AT_RISK_CAPTION",
    "CIF_AT_RISK_CAPTION",
    "MAX_CENSOR_MARKS",
    "MIN_AT_RISK",
    "censor_rule_text",
    "median_text",
    "UNIT_SCALE",
    "UNIT_LABEL",
]

#: Y-axis label of each endpoint (from :data:`metsurv.schema.ENDPOINTS`).
ENDPOINT_LABELS = {key: e.axis_label for key, e in schema.ENDPOINTS.items()}
AT_RISK_CAPTION = (
    "Number at risk: patients still under observation (time \u2265 t) at each tick."
)
#: Under a cumulative incidence plot the count is of the DFS endpoint.
CIF_AT_RISK_CAPTION = (
    "Number at risk: patients free of any first event and still followed (DFS time \u2265 t)."
)
#: Confidence bands are shaded by default up to this many groups (more overlap unreadably).
MAX_CI_BAND_GROUPS = 3
#: Clear space (points) between an at-risk row's label and its first count, at any count
#: width (2.5 mm, about two digits: at 5 pt "N0 240" read as one word). Measured on the
#: rendered text (see :func:`_draw_risk_rows`).
AT_RISK_LABEL_GAP_PT = 7.0
#: A curve is drawn with a tick at each censoring time when it has at most this many
#: distinct censoring times in the drawn range; with more, without ticks (they would merge
#: into a band along the line, thicken it and hide its CI): the numbers at risk show how
#: follow-up thins. See :func:`_thin_censor_marks`.
MAX_CENSOR_MARKS = 50
#: Default of ``min_at_risk``: a Kaplan-Meier curve ends where fewer than this many patients
#: remain at risk (its tail rests on too few to read; Pocock et al., Lancet 2002;359:1686).
MIN_AT_RISK = 10
#: Step functions with more points than this are resampled for display only (2000 points
#: across an 85 mm axis at 300 dpi, about 1000 pixels, is finer than a pixel).
MAX_STEP_POINTS = 2000

#: Months -> display unit, and the unit's axis title (from :data:`metsurv.schema.TIME_UNITS`).
UNIT_SCALE = {name: u.scale for name, u in schema.TIME_UNITS.items()}
UNIT_LABEL = {name: u.label for name, u in schema.TIME_UNITS.items()}


@dataclass(frozen=True)
class Curve:
    """One group's survival step function, as :func:`metsurv.stats.km` returned it.

    ``time`` starts at 0 (estimate 1); ``lower``/``upper`` are pointwise confidence limits;
    ``censor_times`` are the times of censored observations; ``n`` the group size;
    ``surv_5y`` the 5-year estimate (proportion) the legend quotes and ``n_risk_5y`` the
    number at risk it rests on; ``n_risk`` the number at risk at each ``time`` (None: not
    known). ``median``, ``median_lower``, ``median_upper``: the median survival time and its
    95% CI in months, as R ``print(survfit)`` (NaN: not reached; None: not known, e.g. a
    cumulative incidence). ``suppressed`` is the report's small-cell decision for the group's n
    ("primary": fewer than k; "secondary": hidden so that a total cannot give a smaller
    group back; None: shown): a hidden group is not drawn.
    """

    label: str
    time: np.ndarray
    estimate: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    censor_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    n: int = 0
    surv_5y: float | None = None
    level: Any = None
    n_risk: np.ndarray | None = None
    n_risk_5y: float | None = None
    suppressed: str | None = None
    median: float | None = None
    median_lower: float | None = None
    median_upper: float | None = None


@dataclass(frozen=True)
class KMPanel:
    """Everything one Kaplan-Meier panel shows: curves, at-risk counts and test results.

    ``at_risk`` is a DataFrame indexed by curve label with one column per time in months
    (the stats layer's ``at_risk(times)``), ``p_logrank``/``p_trend`` the test results,
    ``benchmarks`` published points (see :func:`benchmark_points`).
    """

    curves: tuple[Curve, ...]
    at_risk: pd.DataFrame | None = None
    p_logrank: float | None = None
    p_trend: float | None = None
    title: str | None = None
    benchmarks: pd.DataFrame | None = None
    benchmark_label: str | None = None
    benchmark_sources: tuple[str, ...] = ()
    #: the at-risk counts as printed, decided by a report's suppression across figures
    #: (:meth:`~metsurv.report.suppression.Suppression.at_risk`): one row per curve, one
    #: text per time of ``at_risk``'s columns; None: decided by this figure alone
    at_risk_printed: tuple[tuple[str, ...], ...] | None = None


def panel_from_km(
    result: Any,
    *,
    at_risk_times: Sequence[float],
    labels: Mapping[Any, str] | None = None,
    order: Sequence[Any] | None = None,
    five_year_months: float = 60.0,
    p_logrank: float | None = None,
    p_trend: float | None = None,
    title: str | None = None,
    benchmarks: pd.DataFrame | None = None,
    benchmark_label: str | None = None,
    benchmark_sources: Sequence[str] = (),
    groups: Partition | None = None,
) -> KMPanel:
    """A :class:`KMPanel` from a :func:`metsurv.stats.km` result.

    The at-risk table is the result's own ``at_risk(at_risk_times)`` (months), the legend's
    5-year survival its ``survival_at([five_year_months])`` and its medians (95% CI) the
    curves' ``median``, ``median_lower``, ``median_upper`` (``result.medians()``): nothing is
    re-estimated.
    ``labels`` maps group values to display names (default: the report's names for the
    factor's levels, e.g. "Complete (R0)"); ``order`` fixes the curve order.
    ``benchmarks`` rows carry ``group`` (a group value), ``months`` and ``survival``.
    ``groups``: the report's suppression decision for the groups' counts
    (:class:`~metsurv.report.suppression.Partition`), shared with every table that prints
    them.
    """
    curves_in = list(result.curves)
    if order is not None:
        rank = {str(g): i for i, g in enumerate(order)}
        curves_in.sort(key=lambda c: rank.get(str(c.group), len(rank)))
    from metsurv.report.tables import level_label

    by = getattr(result, "by", None)
    label_of = {c.group: (labels or {}).get(
        c.group, level_label(by, c.group) if by else str(c.group)) for c in curves_in}
    s5 = result.survival_at([five_year_months])
    at_risk = result.at_risk(list(at_risk_times))
    at_risk.index = [label_of.get(g, str(g)) for g in at_risk.index]
    curves = []
    for c in curves_in:
        steps = c.steps()
        row = s5[s5["group"].astype(str) == str(c.group)]
        surv5 = (float(row["estimate"].iloc[0])
                 if len(row) and followed(row["n_risk"].iloc[0], row["estimate"].iloc[0])
                 else None)
        # n at risk at each step time (the start, time 0, has everyone)
        risk = c.table["n_risk"].to_numpy(float)
        if len(steps) > len(risk):
            risk = np.concatenate(([float(c.n)], risk))
        curves.append(Curve(
            label=label_of[c.group],
            time=steps["time"].to_numpy(float),
            estimate=steps["estimate"].to_numpy(float),
            lower=steps["lower"].to_numpy(float),
            upper=steps["upper"].to_numpy(float),
            censor_times=np.asarray(c.censor_times, float),
            n=int(c.n),
            surv_5y=surv5,
            level=c.group,
            n_risk=risk,
            n_risk_5y=float(row["n_risk"].iloc[0]) if len(row) else None,
            suppressed=groups.how(c.group) if groups is not None else None,
            median=float(c.median), median_lower=float(c.median_lower),
            median_upper=float(c.median_upper),
        ))
    bench = None
    if benchmarks is not None and len(benchmarks):
        bench = benchmarks.assign(curve=[label_of.get(g, str(g)) for g in benchmarks["group"]])
    return KMPanel(curves=tuple(curves), at_risk=at_risk, p_logrank=p_logrank, p_trend=p_trend,
                   title=title, benchmarks=bench, benchmark_label=benchmark_label,
                   benchmark_sources=tuple(benchmark_sources))


def benchmark_points(published: pd.DataFrame | None, factor: str, subset: str | None,
                     groups: Sequence[Any], *, histologies: Sequence[str] | None = None
                     ) -> tuple[pd.DataFrame | None, tuple[str, ...]]:
    """Published points for one Kaplan-Meier panel of ``factor`` (drawn on ``subset``, a key
    of :data:`metsurv.report.config.SUBSETS`, or None) with curves for ``groups``: each
    figure of the same factor, population and a level the panel has, as rows ``group``,
    ``months``, ``survival`` (survival at 2-15 years; a median drawn at 50%), ``source``
    and ``primary`` (read from the study's abstract, see :func:`is_primary`; a figure quoted
    in a review or "commonly quoted" is drawn with another marker), and the citations.
    ``(None, ())`` when nothing matches. Pass it to :func:`panel_from_km`.

    A figure's population is its subset and its histologies
    (:func:`metsurv.report.tables.published_match`): a sarcoma series is drawn only on a
    panel of sarcomas (``subset="sarcoma"``). ``histologies``, the histology groups of the
    panel's patients (:func:`metsurv.report.tables.cohort_histologies`), also keeps an
    all-histology series off a panel of one histology
    (:func:`metsurv.report.tables.population_gap`); None: the subset's histology for a
    histology subset, else not known (all-histology series are drawn).

    >>> from metsurv.published import published_figures
    >>> pts, src = benchmark_points(published_figures("IRLM 1997"), "complete_resection",
    ...                             None, [True, False])
    >>> sorted(set(pts["group"])), len(src)
    ([False, True], 1)
    >>> benchmark_points(published_figures("IRLM 1997"), "complete_resection", None,
    ...                  [True, False], histologies=("sarcoma",))
    (None, ())
    """
    from metsurv.published import SURVIVAL_COLUMNS
    from metsurv.report.config import SUBSETS
    from metsurv.report.tables import _histology_subset, population_gap, published_match

    if published is None or not len(published):
        return None, ()
    if histologies is None and subset is not None and SUBSETS[subset][0] == "histology_group":
        histologies = (str(SUBSETS[subset][1]),)
    rows, sources = [], []
    for _, p in published.iterrows():
        match = published_match(p)
        if match is None or match[0] != factor:
            continue
        # a panel of one histology without a subset (sarcoma subtype: only sarcomas have
        # one) is that histology's subset
        panel_subset = (subset if subset is not None or histologies is None
                        or len(histologies) != 1 else _histology_subset(histologies[0]))
        if match[2] not in (subset, panel_subset):
            continue
        if population_gap(p, histologies) is not None:
            continue
        level = [g for g in groups if str(g) == str(match[1])]
        if not level:
            continue
        pts = [(schema.months(y), p[c]) for c, y in SURVIVAL_COLUMNS.items() if pd.notna(p[c])]
        if pd.notna(p["median_months"]):
            pts.append((float(p["median_months"]), 0.5))
        rows.extend({"group": level[0], "months": m, "survival": float(s),
                     "source": p["source"], "primary": is_primary(p.get("confidence"))}
                    for m, s in pts)
        if pts and p["source"] not in sources:
            sources.append(p["source"])
    if not rows:
        return None, ()
    return pd.DataFrame(rows), tuple(sources)


def is_primary(confidence: Any) -> bool:
    """Whether a published figure was read from the study itself (its ``confidence`` in
    :func:`metsurv.published.published_figures` starts with "abstract"), not quoted by a
    review or "commonly quoted".

    >>> is_primary("abstract"), is_primary("abstract+review"), is_primary("commonly quoted")
    (True, True, False)
    """
    return str(confidence).startswith("abstract")


# ---------------------------------------------------------------------------------------
# small helpers


def time_ticks(max_time: float, step: float | None = None) -> np.ndarray:
    """Tick positions (display unit) of a survival axis; the at-risk counts sit under them.

    >>> time_ticks(15).tolist(), time_ticks(180).tolist()
    ([0.0, 3.0, 6.0, 9.0, 12.0, 15.0], [0.0, 36.0, 72.0, 108.0, 144.0, 180.0])
    """
    if step is None:
        step = _nice_step(max_time)
    n = int(np.floor(max_time / step + 1e-9))
    return np.round(np.arange(n + 1) * step, 10)


def _nice_step(max_time: float) -> float:
    # At most 6 intervals, so 4-digit counts fit under every tick at 85 mm:
    # 0-15 years -> 3, 0-10 years -> 2, 0-180 months -> 36.
    for step in (0.5, 1, 2, 3, 5, 6, 10, 12, 24, 36, 60, 120):
        if max_time / step <= 6 + 1e-9:
            return float(step)
    return float(max_time / 6)


def _display_steps(time: np.ndarray, y: np.ndarray, t_end: float) -> tuple[np.ndarray, ...]:
    """Step vertices for drawing, extended flat to the end of follow-up.

    Display only: with more than MAX_STEP_POINTS steps (a million-patient cohort has
    hundreds of thousands of distinct event times) the function is sampled on a grid finer
    than a printed pixel, so SVG/PDF stay small; the estimate itself is untouched.
    """
    time = np.asarray(time, float)
    y = np.asarray(y, float)
    if time.size > MAX_STEP_POINTS:
        # t_end is where the drawing stops (end of follow-up or of the axis)
        grid = np.linspace(0.0, t_end if t_end > 0 else time[-1], MAX_STEP_POINTS)
        time, y = grid, _step_value(time, y, grid)
    if t_end > time[-1]:
        time = np.append(time, t_end)
        y = np.append(y, y[-1])
    return time, y


def _band_limit(limit: np.ndarray | None, estimate: np.ndarray) -> np.ndarray:
    """A confidence limit for shading: where it is undefined (log-log CI while S = 1 or
    S = 0) the band collapses onto the estimate instead of spanning the whole axis."""
    limit = np.asarray(limit, float)
    return np.where(np.isfinite(limit), limit, np.asarray(estimate, float))


def _step_value(time: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """A right-continuous step function's value at ``at`` (its first value before ``time[0]``)."""
    idx = np.searchsorted(np.asarray(time, float), np.asarray(at, float), side="right") - 1
    return np.asarray(y, float)[np.clip(idx, 0, None)]


def _thin_censor_marks(times: np.ndarray, t_max: float) -> np.ndarray:
    """Censor times to mark on a curve drawn up to ``t_max`` months: each distinct one when
    there are at most :data:`MAX_CENSOR_MARKS`, none when there are more.

    Display only. With more marks than that along an 85 mm axis (1.2 mm apart on average,
    0.2 mm wide each) they merge into a solid band that thickens the line and hides its
    confidence band; merging them into bins would still draw that band (120 bins did, at
    n = 5,206) and make a tick stand for an unknown number of patients. The at-risk row
    under the plot shows how follow-up thins instead (:func:`censor_rule_text`).

    >>> _thin_censor_marks(np.array([1.0, 1.0, 2.0, 99.0]), 12.0).tolist()
    [1.0, 2.0]
    >>> _thin_censor_marks(np.arange(1.0, 52.0), 60.0).size
    0
    """
    times = np.asarray(times, float)
    times = np.unique(times[np.isfinite(times) & (times <= t_max)])
    return times if times.size <= MAX_CENSOR_MARKS else times[:0]


def censor_rule_text() -> str:
    """How a Kaplan-Meier figure marks censored patients, for its caption.

    >>> censor_rule_text()[:46]
    'ticks mark censoring times on a curve with at '
    """
    return (f"ticks mark censoring times on a curve with at most {MAX_CENSOR_MARKS} of them in "
            "the drawn range; a curve with more is drawn without ticks (they would merge "
            "into a band), its numbers at risk showing how follow-up thins")


def median_text(c: Curve, time_unit: str = "years") -> str | None:
    """A curve's median survival and its 95% CI as the legend prints it, in ``time_unit``
    with one decimal ("NR": not reached); None when the curve carries no median.

    >>> median_text(Curve("x", np.zeros(1), np.ones(1), median=30.0, median_lower=24.0,
    ...                   median_upper=float("nan")))
    'median 2.5 y [2.0–NR]'
    >>> median_text(Curve("x", np.zeros(1), np.ones(1), median=28.14, median_lower=25.0,
    ...                   median_upper=31.0), "months")
    'median 28.1 mo [25.0–31.0]'
    """
    if c.median is None:
        return None
    scale, unit = UNIT_SCALE[time_unit], _UNIT_ABBREVIATION.get(time_unit, time_unit)

    def fmt(v: float | None) -> str:
        return "NR" if v is None or not np.isfinite(v) else f"{v * scale:.1f}"

    if not np.isfinite(c.median) and not (c.median_lower is not None
                                          and np.isfinite(c.median_lower)):
        return "median NR"
    return (f"median {fmt(c.median)}{'' if not np.isfinite(c.median) else ' ' + unit} "
            f"[{fmt(c.median_lower)}–{fmt(c.median_upper)}]")


#: The unit after a median in the legend.
_UNIT_ABBREVIATION = {"years": "y", "months": "mo"}


def _min_at_risk_stop(c: Curve, m: int) -> float:
    """The last time (months) at which at least ``m`` patients are at risk on curve ``c``
    (inf: all along, or ``m`` = 0, or the numbers at risk not known): the curve is drawn up
    to it, steps at it included.

    ``c.time`` holds every distinct event and censoring time with ``c.n_risk`` (time >= t)
    at each, so between two of them the number at risk is that of the later one: it falls
    below ``m`` just after the last time with at least ``m``.

    >>> c = Curve("x", np.array([0.0, 1, 2, 3]), np.array([1.0, .9, .8, .7]),
    ...           n_risk=np.array([12.0, 12, 10, 9]))
    >>> _min_at_risk_stop(c, 10), _min_at_risk_stop(c, 0), _min_at_risk_stop(c, 9)
    (2.0, inf, inf)
    """
    if not m or c.n_risk is None or not len(c.n_risk):
        return np.inf
    low = np.flatnonzero(np.asarray(c.n_risk, float) < m)
    if not low.size:
        return np.inf
    if low[0] == 0:
        return 0.0
    return float(c.time[int(low[0]) - 1])


# ---------------------------------------------------------------------------------------
# Kaplan-Meier


def km_axes(
    fig: Figure, spec: SubplotSpec | None = None, n_groups: int = 2, risk_row_in: float = 0.12,
    gap_in: float = 0.38,
) -> tuple[Axes, Axes]:
    """Create a (plot, at-risk table) axes pair in ``spec`` (or the whole figure).

    The table axes shares the plot's x-axis, so its columns line up with the ticks whatever
    the grid; between them, ``gap_in`` inches hold the tick labels and the axis label. The
    table's height is proportional to the number of groups.

    >>> fig = style.new_figure((6, 3))
    >>> gs = fig.add_gridspec(1, 2)
    >>> ax, risk_ax = km_axes(fig, gs[0, 1], n_groups=3)
    >>> risk_ax.get_shared_x_axes().joined(ax, risk_ax)
    True
    """
    if spec is None:
        spec = fig.add_gridspec(1, 1)[0, 0]
    gs = spec.get_gridspec()
    rows = spec.rowspan.stop - spec.rowspan.start
    # inches available to this cell, approximately (the grid's margins and spacing aside)
    height = fig.get_figheight() * rows / gs.nrows * (gs.top - gs.bottom
                                                     if hasattr(gs, "top") and gs.top else 0.8)
    risk_h = risk_row_in * (n_groups + 1)
    main_h = max(height - risk_h - gap_in, risk_h)
    sub = spec.subgridspec(3, 1, height_ratios=[main_h, gap_in, risk_h], hspace=0.0)
    ax = fig.add_subplot(sub[0])
    risk_ax = fig.add_subplot(sub[2], sharex=ax)
    return ax, risk_ax


def plot_km(
    panel: KMPanel,
    ax: Axes,
    risk_ax: Axes | None = None,
    *,
    endpoint: str = "os",
    time_unit: str = "years",
    max_time: float = 15.0,
    tick_step: float | None = None,
    ci: bool | None = None,
    legend: bool = True,
    legend_loc: str = "best",
    suppress_below: int = 0,
    xlabel: str | None = None,
    min_at_risk: int = MIN_AT_RISK,
) -> None:
    """Draw a Kaplan-Meier panel into ``ax`` and its number-at-risk table into ``risk_ax``.

    ``max_time`` and ``tick_step`` are in ``time_unit`` (years or months); the curves are in
    months. At-risk counts are read from ``panel.at_risk`` at the tick times and never
    recomputed here; with ``suppress_below`` = k, counts 1..k-1 print as "<k" and a group
    of fewer than k patients is not drawn: its legend row says "fewer than k patients: not
    shown" and its at-risk row is blank.
    ``legend_loc`` is a matplotlib location, or "above" to put the legend over the axes.
    ``ci``: shade the 95% CIs; None (default) shades them for up to
    :data:`MAX_CI_BAND_GROUPS` groups (more overlapping bands are unreadable).
    ``xlabel`` replaces the time axis label ("Months after pulmonary metastasectomy").
    ``min_at_risk``: each curve ends at the last time at least this many patients are at
    risk (0: at its end of follow-up); with suppression, also where fewer than k remain.
    The legend gives each group's n, median (95% CI; :func:`median_text`) and 5-year
    survival; censoring ticks follow :func:`_thin_censor_marks`.
    """
    scale = UNIT_SCALE[time_unit]
    if ci is None:
        ci = len(panel.curves) <= MAX_CI_BAND_GROUPS
    t_end_months = max_time / scale
    ticks = time_ticks(max_time, tick_step)
    for i, c in enumerate(panel.curves):
        col = style.colour(i)
        if not curve_drawn(c, suppress_below):
            # A curve's steps of 1/n give its n away: a group hidden by the report's
            # suppression is not drawn, and its legend row says so without a count.
            ax.plot([], [], linestyle="none", label=f"{c.label} ({_hidden_text(c, suppress_below)})")
            continue
        last = max(float(np.max(c.time)) if c.time.size else 0.0,
                   float(np.max(c.censor_times)) if c.censor_times.size else 0.0)
        c, cut = _resting_on_k(c, suppress_below)
        enough = _min_at_risk_stop(c, min_at_risk)
        if np.isfinite(enough):
            c = _through(c, enough)
        t_stop = min(last, t_end_months, cut, enough)
        parts = [f"n = {suppress_count(c.n, suppress_below)}"] if c.n else []
        med = median_text(c, time_unit) if shows_estimates(c.n, suppress_below) else None
        if med:
            parts.append(med)
        if (c.surv_5y is not None and np.isfinite(c.surv_5y)
                and shows_estimates(c.n_risk_5y, suppress_below)):
            parts.append(f"5-y {100 * c.surv_5y:.0f}%")
        if enough == 0.0:  # a group smaller than min_at_risk: no line, said where it is
            parts.append(f"not drawn: < {min_at_risk} at risk")
        label = c.label + (f" ({'; '.join(parts)})" if parts else "")
        _draw_curve(ax, c, i, t_stop, scale, label, band=ci, zorder=3)
        marks = _thin_censor_marks(c.censor_times, t_stop)
        if marks.size:
            ax.plot(marks * scale, 100 * _step_value(c.time, c.estimate, marks), linestyle="none",
                    marker="|", markersize=3.2, markeredgewidth=0.6, color=col, zorder=4)
    _draw_benchmarks(panel, ax, scale, max_time)

    ax.set_xlim(0, max_time)
    ax.set_ylim(0, 102)
    ax.set_yticks([0, 20, 40, 60, 80, 100])
    ax.set_xticks(ticks)
    ax.tick_params(labelbottom=True)
    ax.set_xlabel(xlabel or f"{UNIT_LABEL[time_unit]} after pulmonary metastasectomy")
    ax.set_ylabel(ENDPOINT_LABELS.get(endpoint, "Survival (%)"))
    if panel.title and not (legend and legend_loc == "above"):
        ax.set_title(panel.title, loc="left", fontweight="bold")
    lines = []
    if panel.p_logrank is not None:
        lines.append(f"Log-rank {format_p(panel.p_logrank)}")
        if panel.p_trend is not None:
            lines[-1] += f"; trend {format_p(panel.p_trend)}"
    elif panel.p_trend is not None:
        lines.append(f"Log-rank trend {format_p(panel.p_trend)}")
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        for marker, text in _benchmark_kinds(panel):
            handles.append(Line2D([], [], marker=marker, color="0.35",
                                  markerfacecolor="white", linestyle="none", markersize=3.5))
            labels.append(text)
        # p-values as handle-less legend rows: they travel with the legend, which goes where
        # the curves are not ("best" is deterministic: it scores fixed candidate spots).
        handles.extend(Line2D([], [], linestyle="none") for _ in lines)
        labels.extend(lines)
        if legend_loc == "above":
            # Outside the data: it can never hide a curve (km_figure reserves the room).
            # The panel title heads the legend: an axes title would sit where the legend's
            # last rows (the p-values) are.
            title = {} if not panel.title else {
                "title": panel.title, "alignment": "left",
                "title_fontproperties": {"weight": "bold", "size": mpl.rcParams["axes.titlesize"]}}
            ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.01),
                      frameon=False, handlelength=2.6, borderaxespad=0.0, labelspacing=0.3,
                      **title)
        else:
            ax.legend(handles, labels, loc=legend_loc, frameon=False, handlelength=2.6,
                      borderaxespad=0.3, labelspacing=0.3)
    elif lines:
        ax.text(0.98, 0.98, "\n".join(lines), transform=ax.transAxes, ha="right", va="top",
                fontsize=6)
    if risk_ax is not None:
        _draw_at_risk(panel, risk_ax, ticks, scale, suppress_below)


def curve_drawn(c: Curve, k: int) -> bool:
    """Whether a curve may be drawn under small-cell suppression with threshold ``k``: not
    when the report hides its group's n (its steps of 1/n would say it)."""
    return c.suppressed is None and shows_estimates(c.n, k)


def _hidden_text(c: Curve, k: int) -> str:
    """What the legend says for a curve that is not drawn."""
    if c.suppressed == "secondary":
        return HIDDEN_WITH_SMALL_TEXT
    return too_few_text(k)


#: Legend text of a group hidden so that the factor's total cannot give a smaller one back.
HIDDEN_WITH_SMALL_TEXT = "not shown, to protect a smaller group"



def _resting_on_k(c: Curve, k: int) -> tuple[Curve, float]:
    """The part of a curve drawn under suppression: up to the first time fewer than ``k``
    are at risk (a step there is d/n of fewer than k: its size says n), and that time
    (inf: the whole curve)."""
    if not k or c.n_risk is None or not len(c.n_risk):
        return c, np.inf
    low = np.flatnonzero(np.asarray(c.n_risk, float) < k)
    if not low.size or low[0] == 0:
        return c, np.inf
    cut = float(c.time[int(low[0])])
    return _before(c, cut), cut


def _through(c: Curve, t: float) -> Curve:
    """``c`` without its steps after ``t`` (months)."""
    return _before(c, float(np.nextafter(t, np.inf)))


def _before(c: Curve, t: float) -> Curve:
    """``c`` without its steps at or after ``t`` (months)."""
    keep = np.asarray(c.time, float) < t
    return dataclasses.replace(
        c, time=c.time[keep], estimate=c.estimate[keep],
        lower=None if c.lower is None else c.lower[keep],
        upper=None if c.upper is None else c.upper[keep],
        censor_times=c.censor_times[c.censor_times < t],
        n_risk=None if c.n_risk is None else c.n_risk[keep])


def _draw_curve(ax: Axes, c: Curve, i: int, t_stop: float, scale: float, label: str,
                band: bool = True, zorder: float = 2) -> None:
    """The i-th group's step function (percent) up to ``t_stop`` months, with its
    confidence band shaded when it has one."""
    x, y = _display_steps(c.time, c.estimate, t_stop)
    ax.step(x * scale, 100 * y, where="post", color=style.colour(i),
            linestyle=style.linestyle(i), label=label, zorder=zorder)
    if band and c.lower is not None and c.upper is not None:
        _, lo = _display_steps(c.time, _band_limit(c.lower, c.estimate), t_stop)
        _, hi = _display_steps(c.time, _band_limit(c.upper, c.estimate), t_stop)
        ax.fill_between(x * scale, 100 * lo, 100 * hi, step="post", color=style.colour(i),
                        alpha=0.13, linewidth=0, zorder=1)


def _draw_at_risk(panel: KMPanel, risk_ax: Axes, ticks: np.ndarray, scale: float,
                  suppress_below: int = 0) -> None:
    cells = _at_risk_cells(panel, ticks / scale, suppress_below)
    _draw_risk_rows(risk_ax, [(c.label, style.colour(i), row)
                              for i, (c, row) in enumerate(zip(panel.curves, cells,
                                                               strict=True))], ticks)


def _draw_risk_rows(risk_ax: Axes, rows: Sequence[tuple[str, str, list[str]]],
                    ticks: np.ndarray) -> None:
    """Number-at-risk rows, (label, colour, count under each tick), in the table axes."""
    n = len(rows)
    risk_ax.set_ylim(n - 0.5, -1.5)
    for side in ("top", "right", "bottom", "left"):
        risk_ax.spines[side].set_visible(False)
    risk_ax.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    # The count under the first tick (t = 0, on the axis) is centred on it and reaches left
    # of the axes by half its width: the group labels stand that far out plus
    # AT_RISK_LABEL_GAP_PT, so that "N0" and "240" never read as "N0 240". Widths are of
    # the glyph outlines (no hinting, so the same at every dpi), with 0.5 pt for the pixel
    # rounding of a rendered extent; the tick itself has no length.
    reach = max((_text_width_pt(cells[0], 6) / 2 for _, _, cells in rows
                 if cells and cells[0]), default=0.0)
    risk_ax.tick_params(axis="y", which="both", left=False, length=0,
                        pad=AT_RISK_LABEL_GAP_PT + 0.5 + reach)
    risk_ax.set_yticks(range(n))
    risk_ax.set_yticklabels([label for label, _, _ in rows], fontsize=6)
    for lbl, (_, colour, _) in zip(risk_ax.get_yticklabels(), rows, strict=True):
        lbl.set_color(colour)
        lbl.set_verticalalignment("center")  # on the counts' line, not their baseline
    if n:
        risk_ax.text(0.0, -1.1, "Number at risk", transform=risk_ax.get_yaxis_transform(),
                     ha="left", va="center", fontsize=6)
    # Data coordinates on the shared x-axis: each count sits exactly under its tick.
    for i, (_, colour, cells) in enumerate(rows):
        for t_disp, text in zip(ticks, cells, strict=False):
            risk_ax.text(t_disp, i, text, ha="center", va="center", fontsize=6,
                         color=colour, clip_on=False)


def _text_width_pt(text: str, size: float) -> float:
    """Width in points of ``text`` set at ``size`` points in the figure font (its outline:
    no hinting)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(size=size)
    return float(TextToPath().get_text_width_height_descent(text, prop, ismath=False)[0])


def _at_risk_cells(panel: KMPanel, months: np.ndarray, suppress_below: int) -> list[list[str]]:
    """The printed at-risk counts, one row per curve, read from ``panel.at_risk``.

    Under suppression with threshold k a count 1..k-1 prints "<k"; a curve not drawn has
    a blank row; and at each time, as the rows add up to the row of all patients that
    another figure prints, a further count is hidden (:data:`AT_RISK_SECONDARY`) where the
    total would give a hidden one back (:func:`~metsurv.report.suppression.protect_cells`,
    with the rows not printed as unknown)."""
    from metsurv.report.suppression import protect_cells

    k = suppress_below
    if panel.at_risk_printed is not None and panel.at_risk is not None:
        cols = np.asarray(panel.at_risk.columns, float)
        where = [np.flatnonzero(np.isclose(cols, t, rtol=0, atol=1e-6)) for t in months]
        return [["" if not w.size else row[w[0]] for w in where]
                for row in panel.at_risk_printed]
    rows: list[list[float | None]] = []
    for c in panel.curves:
        if panel.at_risk is None or c.label not in panel.at_risk.index:
            rows.append([None] * len(months))
        else:
            row = panel.at_risk.loc[c.label]
            rows.append([_lookup(row, t) for t in months])
    drawn = [curve_drawn(c, k) for c in panel.curves]
    out = [[""] * len(months) for _ in panel.curves]
    for j in range(len(months)):
        values = {i: int(r[j]) for i, r in enumerate(rows) if r[j] is not None}
        hidden = (protect_cells(values, [[(i, 1) for i in values]], k,
                                latent=[i for i in values if not drawn[i]])
                  if k and values else {})
        for i, v in values.items():
            if drawn[i]:
                out[i][j] = (AT_RISK_SECONDARY if hidden.get(i) == "secondary"
                             else suppress_count(v, k))
    return out


def _risk_cells(row: pd.Series, months: Iterable[float], suppress_below: int) -> list[str]:
    """One at-risk row as printed: the count at each time in months, read from ``row``
    (an ``at_risk(times)`` row, months as columns), blank where it has no such column."""
    return ["" if v is None else suppress_count(v, suppress_below)
            for v in (_lookup(row, t) for t in months)]


def too_few_text(k: int) -> str:
    """What a legend or at-risk row says for a group of fewer than ``k`` patients.

    >>> too_few_text(11)
    'fewer than 11 patients: not shown'
    """
    return f"fewer than {k} patients: not shown"


def _lookup(row: pd.Series, t: float) -> float | None:
    cols = np.asarray(row.index, float)
    hit = np.flatnonzero(np.isclose(cols, t, rtol=0, atol=1e-6))
    if not hit.size:
        return None
    v = row.iloc[hit[0]]
    return None if pd.isna(v) else float(v)


def _draw_benchmarks(panel: KMPanel, ax: Axes, scale: float, max_time: float) -> None:
    """Published points: survival at 2/3/5/10/15 years, and the median as (median, 50%)."""
    if panel.benchmarks is None or not len(panel.benchmarks):
        return
    labels = [c.label for c in panel.curves]
    for _, row in panel.benchmarks.iterrows():
        if row["curve"] not in labels:
            continue
        i = labels.index(row["curve"])
        x = row["months"] * scale
        if x > max_time:
            continue
        marker = (style.BENCHMARK_MARKER if bool(row.get("primary", True))
                  else style.BENCHMARK_SECONDARY_MARKER)
        ax.plot([x], [100 * row["survival"]], marker=marker, markersize=3.8,
                markerfacecolor="white", markeredgecolor=style.colour(i), markeredgewidth=0.9,
                linestyle="none", zorder=5, clip_on=False)


def km_figure(
    panel: KMPanel,
    *,
    width_in: float = style.COLUMN_WIDTH_IN,
    plot_height_in: float | None = None,
    footnote: bool = True,
    title: str | None = None,
    **kwargs: Any,
) -> Figure:
    """A stand-alone Kaplan-Meier figure at journal column width with its at-risk table.

    ``kwargs`` go to :func:`plot_km`; ``title`` (default ``panel.title``) heads the legend
    above the plot. The footnote says how the numbers at risk are counted and cites the
    published benchmark, so the PNG stands on its own. The width is fixed in inches (not a
    tight bounding box, which would change it) and the axes are placed so that the longest
    group label and the counts under the first and last ticks fit inside it; the same panel
    always gives the same file.
    """
    if title is not None:
        panel = dataclasses.replace(panel, title=title)
    with style.figure_style():
        n = len(panel.curves)
        plot_h = plot_height_in if plot_height_in is not None else width_in * 0.62
        risk_h = 0.12 * (n + 1)
        notes = _footnotes(panel, width_in) if footnote else []
        gap, bottom = 0.36, 0.06 + 0.095 * len(notes)
        fig = style.new_figure((width_in, plot_h + gap + risk_h + bottom + 1.0))
        ax = fig.add_axes((0.2, 0.5, 0.7, 0.4))
        risk_ax = fig.add_axes((0.2, 0.1, 0.7, 0.2), sharex=ax)
        kwargs.setdefault("legend_loc", "above")
        plot_km(panel, ax, risk_ax, **kwargs)
        height = _km_layout(fig, ax, risk_ax, plot_h=plot_h, gap=gap, risk_h=risk_h,
                            bottom=bottom)
        _draw_footnotes(fig, notes, width_in, height)
    return fig


def _draw_footnotes(fig: Figure, notes: Sequence[str], width_in: float, height: float) -> None:
    """Footnote lines at the bottom of a figure laid out by :func:`_km_layout`."""
    for k, text in enumerate(notes):
        fig.text(0.04 / width_in, (0.03 + 0.095 * (len(notes) - 1 - k)) / height, text,
                 fontsize=5, ha="left", va="bottom", color="0.25")


def _km_layout(fig: Figure, ax: Axes, risk_ax: Axes, *, plot_h: float, gap: float,
               risk_h: float, bottom: float, pad: float = 0.05, min_left: float = 0.3,
               min_right: float = 0.14, min_plot: float = 1.8) -> float:
    """Fix the figure's height and place the plot and at-risk axes (all in inches) so that
    everything beside them fits the fixed width: the widest group label or count on the
    left, the count and tick label at the last tick on the right, the legend (and title)
    above. Return the height.

    A group label too long for the room left of the at-risk table is shortened there with
    an ellipsis (the legend, in the same colour and order, keeps it whole); a legend wider
    than the figure slides left, then wraps its rows. Text is measured at the PNG's dpi:
    hinted at screen dpi (100) it comes out narrower than in the 300-dpi PNG and in the
    vector files, and a label that just fitted on screen lost its first letter in the PNG
    ("ncomplete")."""
    width = fig.get_figwidth()
    dpi = fig.dpi
    fig.set_dpi(float(mpl.rcParams["savefig.dpi"]))
    try:
        def inches(extent: Any) -> tuple[float, float, float, float]:
            return tuple(v / fig.dpi for v in (extent.x0, extent.y0, extent.x1, extent.y1))

        def side_overhang() -> tuple[float, float]:
            fig.draw_without_rendering()
            r = fig.canvas.get_renderer()
            left = right = 0.0
            for a in (ax, risk_ax):
                x0, _, x1, _ = inches(a.get_window_extent(r))
                for item in [*a.get_yticklabels(), *a.get_xticklabels(), a.yaxis.label,
                             *a.texts]:
                    if item.get_text() and item.get_visible():
                        e0, _, e1, _ = inches(item.get_window_extent(r))
                        left, right = max(left, x0 - e0), max(right, e1 - x1)
            return left, right

        left, right = side_overhang()
        right_in = max(right + pad, min_right)
        room = width - right_in - min_plot - pad
        if left > room:
            _shorten_labels(risk_ax, left - room, fig)
            left, _ = side_overhang()
        left_in = min(max(left + pad, min_left), width - right_in - min_plot)
        plot_w = width - left_in - right_in
        for a in (ax, risk_ax):  # provisional height; only the horizontal place matters yet
            a.set_position((left_in / width, a.get_position().y0, plot_w / width,
                            a.get_position().height))
        legend = ax.get_legend()
        if legend is not None:
            fig.draw_without_rendering()
            x0, _, x1, _ = inches(legend.get_window_extent(fig.canvas.get_renderer()))
            excess = x1 - (width - pad)
            if excess > 0:  # slide it left, never past the figure's edge; then wrap
                shift = min(excess, x0 - pad)
                legend.set_bbox_to_anchor((-shift / plot_w, 1.01), transform=ax.transAxes)
                if excess > shift:
                    fig.draw_without_rendering()  # the legend at its new place
                    _wrap_legend(legend, width - pad, fig)
        # what stands above the plot (legend, title), with the plot at its final height
        h0 = fig.get_figheight()
        ax.set_position((left_in / width, (bottom + risk_h + gap) / h0, plot_w / width,
                         plot_h / h0))
        fig.draw_without_rendering()
        r = fig.canvas.get_renderer()
        y1_axes = inches(ax.get_window_extent(r))[3]
        above = [legend, ax.title] if legend is not None else [ax.title]
        top = max([inches(a.get_window_extent(r))[3] - y1_axes for a in above
                   if a is not None and a.get_visible()
                   and (a is legend or a.get_text())] + [0.0]) + 0.06
        height = top + plot_h + gap + risk_h + bottom
        fig.set_size_inches(width, height)
        ax.set_position((left_in / width, (bottom + risk_h + gap) / height, plot_w / width,
                         plot_h / height))
        risk_ax.set_position((left_in / width, bottom / height, plot_w / width,
                              risk_h / height))
    finally:
        fig.set_dpi(dpi)
    return height


def _shorten_labels(risk_ax: Axes, by_in: float, fig: Figure) -> None:
    """Cut the at-risk group labels wider than the widest less ``by_in`` inches, ending
    them with an ellipsis."""
    r = fig.canvas.get_renderer()
    labels = risk_ax.get_yticklabels()
    widths = [lbl.get_window_extent(r).width / fig.dpi for lbl in labels]
    limit = max(widths, default=0.0) - by_in
    texts = []
    for lbl, w in zip(labels, widths, strict=True):
        full = text = lbl.get_text()
        while w > limit and len(text) > 1:
            text = text[:-1]
            lbl.set_text(text.rstrip() + "\u2026")
            w = lbl.get_window_extent(r).width / fig.dpi
        texts.append(lbl.get_text() if text != full else full)
    # tick labels are redrawn from the axis formatter: give it the shortened texts
    risk_ax.set_yticklabels(texts)


def _wrap_legend(legend: Any, right_in: float, fig: Figure) -> None:
    """Wrap the legend's rows that reach past ``right_in`` (inches from the figure's left)."""
    r = fig.canvas.get_renderer()
    for t in legend.get_texts():
        text = t.get_text()
        width = max(len(text), 1)
        while t.get_window_extent(r).x1 / fig.dpi > right_in and width > 8:
            width -= 2
            t.set_text("\n".join(textwrap.wrap(text, width)))


def _benchmark_kinds(panel: KMPanel) -> list[tuple[str, str]]:
    """(marker, legend text) of the kinds of published points the panel draws: figures
    read from the study's abstract, and figures quoted by others (see note)."""
    b = panel.benchmarks
    if b is None or not len(b):
        return []
    label = panel.benchmark_label or "published"
    primary = b["primary"].astype(bool) if "primary" in b else pd.Series(True, index=b.index)
    if primary.all():
        return [(style.BENCHMARK_MARKER, f"{label} (published)")]
    kinds = [(style.BENCHMARK_SECONDARY_MARKER, f"{label}, quoted by others (see note)")]
    if primary.any():
        kinds.insert(0, (style.BENCHMARK_MARKER, f"{label} (published abstract)"))
    return kinds


def _fit_lines(text: str, width_in: float, size: float = 5.0) -> list[str]:
    """``text`` wrapped into lines that fit ``width_in`` inches less the footnotes' margins
    at ``size`` points (measured, not counted: 95 characters overran 85 mm)."""
    room = (width_in - 0.08) * 72
    for width in range(max(len(text), 1), 19, -1):
        lines = textwrap.wrap(text, width)
        if all(_text_width_pt(line, size) <= room for line in lines):
            return lines
    return textwrap.wrap(text, 20)


def _footnotes(panel: KMPanel, width_in: float = style.COLUMN_WIDTH_IN) -> list[str]:
    notes = [AT_RISK_CAPTION]
    b = panel.benchmarks
    if b is None or not len(b) or not panel.benchmark_sources:
        return notes
    if "primary" not in b or b["primary"].astype(bool).all():
        text = "\u25c7 published: " + "; ".join(panel.benchmark_sources)
        return notes + _fit_lines(text, width_in)
    parts = []
    for primary, head in ((True, "\u25c7 published abstract: "),
                          (False, "\u25cb quoted by a review or commonly quoted, not verified "
                                  "in the study's full text: ")):
        sources = [x for x in panel.benchmark_sources
                   if x in set(b.loc[b["primary"].astype(bool) == primary, "source"])]
        if sources:
            parts.append(head + "; ".join(sources))
    return notes + [line for text in parts for line in _fit_lines(text, width_in)]


# ---------------------------------------------------------------------------------------
# Forest plot of Cox hazard ratios


def forest_figure(
    tables: Mapping[str, pd.DataFrame],
    *,
    width_in: float = style.PAGE_WIDTH_IN,
    title: str | None = None,
) -> Figure:
    """Hazard ratios with 95% CIs on a log axis, one marker style per model.

    ``tables`` maps a model name ("Univariable", "Multivariable") to a frame with columns
    ``term`` ("Factor: level vs reference", see :func:`metsurv.report.tables.cox_frame`),
    ``hr``, ``lower``, ``upper``. Terms of one factor are grouped under a factor heading;
    a term missing from a model is left blank for it. Layout fixed in inches.
    """
    models = list(tables)
    terms: list[str] = []
    for df in tables.values():
        terms.extend(t for t in df["term"] if t not in terms)
    # rows: factor headings and indented levels
    rows: list[tuple[str, str | None]] = []  # (text, term or None for a heading)
    last = None
    for t in terms:
        head, _, rest = t.partition(": ")
        if rest:
            if head != last:
                rows.append((head, None))
                last = head
            rows.append(("   " + rest, t))
        else:
            rows.append((t, t))
            last = None
    row_h, top_h, bottom_h = 0.17, 0.42 + (0.18 if title else 0), 0.42
    height = top_h + bottom_h + row_h * len(rows)
    with style.figure_style():
        fig = style.new_figure((width_in, height))
        renderer = fig.canvas.get_renderer()
        probe = [fig.text(0, 0, r[0], fontsize=6.5) for r in rows]
        label_w = max((p.get_window_extent(renderer).width for p in probe), default=0) / fig.dpi
        for p in probe:
            p.remove()
        col_w = 1.15
        left = 0.08 + label_w + 0.1
        plot_w = max(width_in - left - col_w * len(models) - 0.15, 1.2)
        ax = fig.add_axes((left / width_in, bottom_h / height, plot_w / width_in,
                           row_h * len(rows) / height))
        ax.set_ylim(len(rows) - 0.5, -0.5)
        offsets = (np.linspace(-0.18, 0.18, len(models)) if len(models) > 1 else np.zeros(1))
        markers = ("o", "s", "^", "v")
        lo_all, hi_all = [], []
        y_of = {t: j for j, (_, t) in enumerate(rows) if t is not None}
        for m, (name, df) in enumerate(tables.items()):
            col = style.colour(m)
            d = df[np.isfinite(df["hr"]) & np.isfinite(df["lower"]) & np.isfinite(df["upper"])
                   & (df["lower"] > 0)]
            ys = np.array([y_of[t] for t in d["term"]], float) + offsets[m]
            hr, lo, hi = (d[c].to_numpy(float) for c in ("hr", "lower", "upper"))
            ax.errorbar(hr, ys, xerr=[hr - lo, hi - hr], fmt=markers[m % 4], color=col,
                        markersize=3.4, elinewidth=0.9, capsize=0, label=name,
                        markerfacecolor=col if m == 0 else "white", markeredgewidth=0.9)
            lo_all.extend(lo)
            hi_all.extend(hi)
            x_text = (left + plot_w + 0.12 + col_w * m) / width_in
            fig.text(x_text, (bottom_h + row_h * len(rows) + 0.05) / height,
                     f"{name}\nHR (95% CI)", fontsize=6.5, color=col, va="bottom")
            for _, r in df.iterrows():
                j = y_of[r["term"]]
                txt = (f"{r['hr']:.2f} ({r['lower']:.2f}\u2013{r['upper']:.2f})"
                       if np.isfinite(r["hr"]) else "not estimable")
                y = (bottom_h + row_h * (len(rows) - j - 0.5)) / height
                fig.text(x_text, y, txt, fontsize=6.5, color=col, va="center")
        for j, (text, term) in enumerate(rows):
            y = (bottom_h + row_h * (len(rows) - j - 0.5)) / height
            fig.text(0.08 / width_in, y, text, fontsize=6.5, va="center",
                     color="0.1" if term is not None else "0.0",
                     fontstyle="normal" if term is not None else "italic")
        ax.axvline(1.0, color="0.45", linewidth=0.6, linestyle=(0, (2, 2)), zorder=0)
        ax.set_xscale("log")
        lo_lim = min([*lo_all, 0.8]) / 1.15
        hi_lim = max([*hi_all, 1.25]) * 1.15
        ax.set_xlim(lo_lim, hi_lim)
        cand = np.array([0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 10, 20, 50])
        ticks = cand[(cand >= lo_lim) & (cand <= hi_lim)]
        if ticks.size > 6:
            ticks = ticks[np.isin(ticks, [0.1, 0.25, 0.5, 1, 2, 4, 10])]
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlabel("Hazard ratio (95% CI), log scale")
        if len(models) > 1:
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(models),
                      frameon=False, borderaxespad=0.15, handletextpad=0.3, fontsize=6.5)
        if title:
            fig.text(0.08 / width_in, 1 - 0.06 / height, title, fontsize=7.5, va="top",
                     fontweight="bold")
    return fig


# ---------------------------------------------------------------------------------------
# Cumulative incidence (competing risks)


def cif_figure(
    curves: Sequence[Curve],
    *,
    time_unit: str = "years",
    max_time: float = 15.0,
    tick_step: float | None = None,
    ylabel: str = "Cumulative incidence (%)",
    title: str | None = None,
    note: str | None = None,
    width_in: float = style.COLUMN_WIDTH_IN,
    end_of_followup: float | None = None,
    at_risk: pd.DataFrame | None = None,
    suppress_below: int = 0,
    stop_at: float | None = None,
) -> Figure:
    """Cumulative incidence curves (Aalen-Johansen), one per event type, rising from 0.

    ``curves`` hold the stats layer's step functions (``estimate`` is the incidence, as a
    proportion). Not 1 - KM: the competing event is a curve of its own. Each curve runs
    flat to ``end_of_followup`` (months; default: its own last event) or the axis end,
    whichever comes first: a curve that stopped at its cause's last event would read as
    the end of follow-up. ``at_risk``, a :func:`metsurv.stats.km` ``at_risk(times)`` frame
    of one row (months as columns, e.g. on the DFS endpoint: patients with
    ``dfs_months`` >= t), is printed under the plot, counts 1..k-1 as "<k". ``stop_at``
    (months) ends every curve there: under small-cell suppression, where fewer than k
    remain at risk (a step there is d/n of fewer than k: its size says n), as the Kaplan-Meier
    curves do.
    """
    scale = UNIT_SCALE[time_unit]
    ticks = time_ticks(max_time, tick_step)
    with style.figure_style():
        plot_h, gap = width_in * 0.62, 0.36
        risk_h = 0.12 * 2 if at_risk is not None else 0.0
        notes = ([CIF_AT_RISK_CAPTION] if at_risk is not None else []) + ([note] if note else [])
        bottom = 0.06 + 0.095 * len(notes)
        fig = style.new_figure((width_in, plot_h + gap + risk_h + bottom + 1.0))
        ax = fig.add_axes((0.2, 0.5, 0.7, 0.4))
        risk_ax = fig.add_axes((0.2, 0.1, 0.7, 0.2), sharex=ax)
        for i, c in enumerate(curves):
            last = float(np.max(c.time)) if c.time.size else 0.0
            end = end_of_followup if end_of_followup is not None else last
            t_stop = min(max(end, last), max_time / scale)
            if stop_at is not None:
                c, t_stop = _before(c, stop_at), min(t_stop, stop_at)
            _draw_curve(ax, c, i, t_stop, scale, c.label)
        ax.set_xlim(0, max_time)
        ax.set_ylim(0, 100)
        ax.set_xticks(ticks)
        ax.tick_params(labelbottom=True)
        ax.set_xlabel(f"{UNIT_LABEL[time_unit]} after pulmonary metastasectomy")
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper left", frameon=False)
        if title:
            ax.set_title(title, loc="left", fontweight="bold")
        if at_risk is not None:
            cells = _risk_cells(at_risk.iloc[0], ticks / scale, suppress_below)
            _draw_risk_rows(risk_ax, [("All patients", "0.15", cells)], ticks)
        else:
            _draw_risk_rows(risk_ax, [], ticks)
        height = _km_layout(fig, ax, risk_ax, plot_h=plot_h, gap=gap, risk_h=risk_h,
                            bottom=bottom)
        _draw_footnotes(fig, notes, width_in, height)
    return fig


# ---------------------------------------------------------------------------------------
# saving


def save_figure(fig: Figure, stem: Path, formats: Iterable[str] = ("png", "svg", "pdf"),
                dpi: int = 300) -> list[Path]:
    """Write ``fig`` as ``stem.<fmt>`` for each format; byte-identical for identical figures.

    SVG and PDF get no creation date and a fixed creator; the SVG hash salt is fixed by the
    style (``svg.hashsalt``), so element ids do not change between runs. The fonts a PDF
    embeds are subset by fontTools, which stamps each subset's ``head.modified`` with the
    time of saving: it gets ``SOURCE_DATE_EPOCH`` when set, else 0 (as the report's PDF),
    so that two builds a second apart write the same bytes.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    meta = {"svg": style.SVG_METADATA, "pdf": style.PDF_METADATA, "png": style.PNG_METADATA}
    with style.figure_style(), _font_timestamp():
        for fmt in formats:
            path = stem.with_suffix("." + fmt)
            fig.savefig(path, format=fmt, dpi=dpi, metadata=meta.get(fmt))
            written.append(path)
    return written


@contextlib.contextmanager
def _font_timestamp() -> Iterator[None]:
    """``SOURCE_DATE_EPOCH`` = 0 while saving unless already set (fontTools reads it for
    the embedded font subsets' timestamps)."""
    if "SOURCE_DATE_EPOCH" in os.environ:
        yield
        return
    os.environ["SOURCE_DATE_EPOCH"] = "0"
    try:
        yield
    finally:
        os.environ.pop("SOURCE_DATE_EPOCH", None)


# ---------------------------------------------------------------------------------------
# proportional hazards: scaled Schoenfeld residuals against time (R plot.cox.zph)

#: above this many residual points the scatter is rasterised (a vector file stays small)
MAX_VECTOR_POINTS = 5000
#: the opacity of one residual's marker
RESIDUAL_ALPHA = 0.8
#: points drawn k times over look opaque from this k on (1 - 0.2^5 = 0.9997)
_STACK_CAP = 5


def _stacked_points(x: np.ndarray, y: np.ndarray, alpha: float
                    ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The points (x, y) as groups (xs, ys, opacity) that draw the same picture with each
    distinct point drawn once: a point that occurs k times takes the opacity of k stacked
    markers of one colour, 1 - (1 - alpha)^k (compositing one colour does not depend on
    the order; only the antialiased rims of repeated markers come out fainter: in the
    1e6-patient report's residual plots 0.04% of the pixels differ by more than 10 of
    255, tested against drawing every point). The deaths of one covariate pattern at one time share their residual:
    at a million patients 685,119 residuals are about 20,000 distinct points, and drawing
    them was two thirds of the build's figure time. Groups in order of k, k = 1 first;
    k >= ``_STACK_CAP`` drawn as one group (their opacities differ by under 0.0004)."""
    if x.size == 0:
        return [(x, y, alpha)]
    frame = pd.DataFrame({"x": x, "y": y})
    counts = frame.groupby(["x", "y"], sort=False).size()
    k = np.minimum(counts.to_numpy(), _STACK_CAP)
    if k.max() == 1:
        return [(x, y, alpha)]  # nothing repeats: as given
    xs = counts.index.get_level_values(0).to_numpy(float)
    ys = counts.index.get_level_values(1).to_numpy(float)
    return [(xs[k == m], ys[k == m], 1 - (1 - alpha) ** m) for m in np.unique(k)]


def ph_figure(
    residuals_x: Any,
    residuals_y: Any,
    smooth: pd.DataFrame,
    term_label: str,
    *,
    coef: float | None = None,
    ticks: tuple[Sequence[float], Sequence[str]] | None = None,
    transform: str = "km",
    xlabel: str = "Months after pulmonary metastasectomy",
    title: str | None = None,
    p: float | None = None,
    width_in: float = style.COLUMN_WIDTH_IN,
) -> Figure:
    """The scaled Schoenfeld residuals of one term against (transformed) time with their
    smooth and +-2 SE band, as R ``plot.cox.zph(cox.zph(fit, transform), var = term)``
    draws it (plus, dotted, the fitted constant coefficient, R's optional ``abline(h =
    coef(fit))``). A flat smooth is what proportional hazards look like.

    Parameters
    ----------
    residuals_x : array-like, shape (n_events,)
        The events' transformed time (``PHTestResult.residuals["x"]``).
    residuals_y : array-like, shape (n_events,)
        The term's scaled Schoenfeld residuals (its column of ``residuals``); missing
        values (a term constant in a stratum) are not drawn.
    smooth : pandas.DataFrame
        :func:`metsurv.stats.cox.zph.zph_smooth` output: ``x``, ``time``, ``estimate``,
        ``lower``, ``upper``.
    term_label : str
        The term as readers know it; the y axis reads "Beta(t) for <term_label>".
    coef : float, optional
        The fitted coefficient (for a multi-column term, cox.zph's residual is on the
        linear-predictor scale, whose constant is 1): a dotted, labelled line.
    ticks : (positions, labels), optional
        x ticks on the transformed axis labelled with time values, as R does
        (:func:`metsurv.stats.cox.zph.zph_time_axis`); without them the axis shows the
        transformed time itself and is labelled so.
    transform : str
        The PH test's transform. "log": drawn against time on a log axis (as R);
        "identity": x is time.
    xlabel : str
        The x label when the axis shows time.
    title, p : optional
        A bold title, and the term's PH-test p-value appended to it.
    width_in : float
        Figure width in inches (journal column by default).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        ``residuals_x`` and ``residuals_y`` of different lengths, or ``smooth`` without
        its columns.
    """
    with style.figure_style():
        fig = style.new_figure((width_in, width_in * 0.95))  # room for the legend below
        ax = fig.add_subplot(1, 1, 1)
        plot_ph(ax, residuals_x, residuals_y, smooth, term_label, coef=coef, ticks=ticks,
                transform=transform, xlabel=xlabel, title=title, p=p, legend="below")
        fig.tight_layout(pad=0.4)
    return fig


def plot_ph(ax: Axes, residuals_x: Any, residuals_y: Any, smooth: pd.DataFrame,
            term_label: str, *, coef: float | None = None,
            ticks: tuple[Sequence[float], Sequence[str]] | None = None,
            transform: str = "km", xlabel: str = "Months after pulmonary metastasectomy",
            title: str | None = None, p: float | None = None,
            legend: str | None = "best", marker_size: float = 1.6,
            line_width: float = 0.8) -> Axes:
    """Draw :func:`ph_figure`'s plot into ``ax`` (arguments as there): scaled Schoenfeld
    residuals (grey points), their smooth (solid) and +-2 SE band (dashed), the fitted
    coefficient (dotted) when given. ``legend``: "below" (under the axes), a matplotlib
    location, or None. Returns ``ax``.

    Raises
    ------
    ValueError
        ``residuals_x`` and ``residuals_y`` of different lengths, or ``smooth`` without
        its columns.
    """
    import textwrap

    x = np.asarray(residuals_x, float)
    y = np.asarray(residuals_y, float)
    if x.shape != y.shape:
        raise ValueError(f"residuals_x and residuals_y differ in length: {x.size} != {y.size}")
    missing = {"x", "time", "estimate", "lower", "upper"} - set(smooth.columns)
    if missing:
        raise ValueError(f"smooth lacks columns {sorted(missing)} (use zph_smooth)")
    ok = ~np.isnan(y)
    x, y = x[ok], y[ok]
    on_time = transform == "log"
    px = np.exp(x) if on_time else x
    gx = smooth["time" if on_time else "x"].to_numpy(float)
    line = style.colour(0)
    groups = _stacked_points(px, y, RESIDUAL_ALPHA)
    raster = sum(g[0].size for g in groups) > MAX_VECTOR_POINTS
    for i, (gx_, gy_, alpha) in enumerate(groups):
        ax.plot(gx_, gy_, linestyle="none", marker="o", markersize=marker_size,
                markeredgewidth=0, color="0.6", alpha=alpha, rasterized=raster,
                label="Scaled Schoenfeld residual" if i == 0 else "_nolegend_", zorder=1)
    ax.plot(gx, smooth["estimate"], color=line, linestyle="-", label="Smooth (spline, 4 df)",
            zorder=3)
    ax.plot(gx, smooth["upper"], color=line, linestyle=(0, (4, 2)), linewidth=line_width,
            label="\u00b12 SE", zorder=3)
    ax.plot(gx, smooth["lower"], color=line, linestyle=(0, (4, 2)), linewidth=line_width,
            zorder=3)
    if coef is not None and np.isfinite(coef):
        ax.axhline(coef, color="0.15", linestyle=":", linewidth=line_width + 0.1, zorder=2,
                   label=f"Fitted coefficient ({coef:.3g})")
    # every residual shown, as R plot.cox.zph does
    lo = np.nanmin(np.r_[y, smooth["lower"]]) if y.size else smooth["lower"].min()
    hi = np.nanmax(np.r_[y, smooth["upper"]]) if y.size else smooth["upper"].max()
    pad = 0.04 * (hi - lo) if hi > lo else 1.0
    ax.set_ylim(lo - pad, hi + pad)
    if on_time:
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
    elif transform == "identity":
        ax.set_xlabel(xlabel)
    elif ticks is not None and len(ticks[0]):
        ax.set_xticks(np.asarray(ticks[0], float), list(ticks[1]))
        scale = "KM" if transform == "km" else transform
        ax.set_xlabel(f"{xlabel} ({scale} scale)")
    else:
        ax.set_xlabel(f"Time, {transform}-transformed")
    ax.set_ylabel("\n".join(textwrap.wrap(f"Beta(t) for {term_label}", 34)))
    # the title wrapped to the column and the PH test on a line of its own: a long factor
    # name ran off the figure ("... (PH test p < 0.0")
    head = textwrap.wrap(title or "", 44) + ([f"PH test {format_p(p)}"] if p is not None
                                             else [])
    if head:
        ax.set_title("\n".join(head), loc="left", fontweight="bold")
    if legend == "below":  # over the plot it hid residual points and the smooth
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, markerscale=2.0,
                  frameon=False, fontsize="small")
    elif legend:
        ax.legend(loc=legend, markerscale=2.0, frameon=True, framealpha=0.85,
                  edgecolor="none")
    return ax




def balance_figure(table: Any) -> Figure:
    """The love plot of a treatment comparison: absolute standardized mean differences
    before and after weighting, one row per confounder (level), the threshold dashed
    (cobalt ``love.plot(abs = TRUE, thresholds = 0.1)``); 85 mm wide at 300 dpi.

    Parameters
    ----------
    table : metsurv.stats.balance.BalanceTable

    Returns
    -------
    matplotlib.figure.Figure
    """
    from metsurv.stats.balance import love_plot

    return love_plot(table).figure


def hazard_figure(curves: Sequence[tuple[str, pd.DataFrame]], *, time_unit: str = "years",
                  max_time: float = 15.0, tick_step: float | None = None,
                  note: str | None = None, width_in: float = style.COLUMN_WIDTH_IN) -> Figure:
    """Smoothed hazards (:func:`metsurv.stats.hazard.smoothed_hazard` rows, one
    ``(label, frame)`` per curve) per patient-year against time with their pointwise CI
    bands, drawn by :func:`metsurv.stats.hazard.plot_hazards` on the report's time axis
    (``max_time`` and ``tick_step`` in ``time_unit``); ``note`` is printed under the plot."""
    from metsurv.stats.hazard import plot_hazards

    scale = UNIT_SCALE[time_unit]
    with style.figure_style():
        fig = style.new_figure((width_in, width_in * 0.72 + (0.1 if note else 0.0)))
        ax = fig.add_subplot(1, 1, 1)
        plot_hazards(ax, curves, unit=time_unit, max_time=max_time / scale)
        ax.set_xticks(time_ticks(max_time, tick_step))
        ax.set_xlim(0, max_time)
        if ax.get_legend() is not None:
            ax.get_legend().set_loc("upper right")
        fig.tight_layout(pad=0.4, rect=(0, 0.06 if note else 0, 1, 1))
        if note:
            fig.text(0.02, 0.015, note, fontsize=5, color="0.3")
    return fig


def draw(kind: str, args: Mapping[str, Any]) -> Figure:
    """Draw a report figure from its data: ``kind`` "km", "forest", "cif", "ph",
    "balance" or "hazard" names :func:`km_figure`, :func:`forest_figure`, :func:`cif_figure`,
    :func:`ph_figure`, :func:`balance_figure` or :func:`hazard_figure`, which gets ``args``
    as keyword arguments.

    Raises
    ------
    ValueError
        ``kind`` is none of these.
    """
    drawers = {"km": km_figure, "forest": forest_figure, "cif": cif_figure, "ph": ph_figure,
               "balance": balance_figure, "hazard": hazard_figure}
    if kind not in drawers:
        raise ValueError(f"unknown figure kind {kind!r}; expected one of {sorted(drawers)}")
    return drawers[kind](**args)
