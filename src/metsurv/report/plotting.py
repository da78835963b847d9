"""Axes-level drawing of metsurv.stats results for notebooks: the ``.plot(ax=None)`` methods
of the Kaplan-Meier, cumulative incidence, Cox and PH-test results draw here (lifelines'
``fitter.plot(ax=)`` convention: draw into ``ax``, return it).

Kaplan-Meier panels are drawn by the report's own :func:`metsurv.report.figures.plot_km`
(from :func:`~metsurv.report.figures.panel_from_km`), curves of cumulative incidence by its
step-and-band drawing; the forest plot and the PH plot are the report's figures redrawn into
one given axes (the report's versions lay out a whole figure in inches). Nothing here
estimates anything: every number comes from the result.

Without ``ax`` a new pyplot figure of :data:`NOTEBOOK_FIGSIZE` inches at
:data:`NOTEBOOK_DPI` dpi is made (about 650 px wide in Jupyter), with fonts sized for it
(:data:`NOTEBOOK_RC`), so Jupyter's inline backend shows it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from metsurv.format import format_p
from metsurv.report import figures as F
from metsurv.report import style

__all__ = ["NOTEBOOK_FIGSIZE", "NOTEBOOK_DPI", "plot_km_result", "plot_cif_result",
           "plot_forest", "plot_ph_test"]

#: A new figure's size (inches) and resolution: about 650 x 450 px in a notebook.
NOTEBOOK_FIGSIZE = (6.5, 4.5)
NOTEBOOK_DPI = 100
#: The report's style with fonts and lines for a screen-sized figure (the report's are set
#: for an 85 mm journal column).
NOTEBOOK_RC: dict[str, object] = {
    **style.RC, "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9,
    "lines.linewidth": 1.6, "axes.linewidth": 0.8, "xtick.major.width": 0.8,
    "ytick.major.width": 0.8, "xtick.major.size": 3.5, "ytick.major.size": 3.5,
    "figure.dpi": NOTEBOOK_DPI,
}


@contextmanager
def notebook_style() -> Iterator[None]:
    """:data:`NOTEBOOK_RC` inside a block, global settings untouched."""
    with mpl.rc_context(NOTEBOOK_RC):
        yield


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = NOTEBOOK_FIGSIZE) -> Axes:
    """``ax``, or the axes of a new pyplot figure (so Jupyter shows it) of ``figsize``."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize, dpi=NOTEBOOK_DPI)
    return fig.add_subplot(1, 1, 1)


def _tidy(ax: Axes, new: bool) -> None:
    if new:
        ax.figure.tight_layout()


#: The default axis end (months): the report's 15 years; later times rest on few patients.
DEFAULT_MAX_MONTHS = 180.0


def _max_time(months: float, scale: float) -> float:
    """The axis end in display units: the last time, at most :data:`DEFAULT_MAX_MONTHS`,
    rounded up to a tick step."""
    top = max(min(months, DEFAULT_MAX_MONTHS) * scale, 1e-9)
    step = F._nice_step(top)
    return float(math.ceil(top / step - 1e-9) * step)


# ---------------------------------------------------------------------------------------
# Kaplan-Meier


def plot_km_result(result: Any, ax: Axes | None = None, *, time_unit: str = "years",
                   max_time: float | None = None, labels: Any = None,
                   order: Sequence[Any] | None = None, p_logrank: float | None = None,
                   risk_ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Draw a :func:`metsurv.stats.km` result into ``ax`` as the report draws a panel.

    Parameters
    ----------
    result : KMResult
        Times in months (the cohort's unit).
    ax : matplotlib.axes.Axes, optional
        Where to draw; None: a new figure of :data:`NOTEBOOK_FIGSIZE` inches.
    time_unit : {"years", "months"}
        The unit of the time axis.
    max_time : float, optional
        Axis end in ``time_unit``; default: the last time of any curve, at most 15
        years, rounded up to a tick.
    labels, order
        Group display names and curve order (:func:`~metsurv.report.figures.panel_from_km`).
    p_logrank : float, optional
        A log-rank p-value to print in the legend.
    risk_ax : matplotlib.axes.Axes, optional
        An axes under ``ax`` for the numbers at risk (e.g. from
        :func:`~metsurv.report.figures.km_axes`); none drawn without it.
    **kwargs
        Passed to :func:`~metsurv.report.figures.plot_km` (``ci``, ``legend``,
        ``legend_loc``, ``endpoint``, ``xlabel``, ``tick_step``, ``suppress_below``).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``; one step line per drawn group.

    Raises
    ------
    KeyError
        ``time_unit`` is not "years" or "months".
    """
    scale = F.UNIT_SCALE[time_unit]
    last = max((float(c.table["time"].replace(np.inf, np.nan).max())
                for c in result.curves if len(c.table)), default=1.0)
    if max_time is None:
        max_time = _max_time(last if np.isfinite(last) else 1.0, scale)
    ticks = F.time_ticks(max_time, kwargs.get("tick_step"))
    panel = F.panel_from_km(result, at_risk_times=list(ticks / scale), labels=labels,
                            order=order, p_logrank=p_logrank)
    endpoint = str(result.time).removesuffix("_months")
    kwargs.setdefault("endpoint", endpoint)
    if endpoint not in F.ENDPOINT_LABELS and "xlabel" not in kwargs:
        kwargs["xlabel"] = f"{F.UNIT_LABEL[time_unit]} ({result.time})"
    new = ax is None
    with notebook_style():
        ax = _new_axes(ax)
        F.plot_km(panel, ax, risk_ax, time_unit=time_unit, max_time=max_time, **kwargs)
        _tidy(ax, new)
    return ax


# ---------------------------------------------------------------------------------------
# cumulative incidence


def _cif_curves(result: Any) -> list[F.Curve]:
    """One :class:`~metsurv.report.figures.Curve` per (group, cause) of a cuminc result,
    starting at (0, 0)."""
    from metsurv.stats.competing import STATUS_LABELS

    curves = []
    several = len(result.groups) > 1
    for (g, k), cur in result.table.groupby(["group", "cause"], sort=False, observed=True):
        cause = str(STATUS_LABELS.get(k, k)).replace("_", " ")
        cause = cause[:1].upper() + cause[1:]
        curves.append(F.Curve(
            label=f"{g}: {cause}" if several else cause,
            time=np.r_[0.0, cur["time"].to_numpy(float)],
            estimate=np.r_[0.0, cur["estimate"].to_numpy(float)],
            lower=np.r_[0.0, cur["lower"].to_numpy(float)],
            upper=np.r_[0.0, cur["upper"].to_numpy(float)]))
    return curves


def plot_cif_result(result: Any, ax: Axes | None = None, *, time_unit: str = "years",
                    max_time: float | None = None, ci: bool = True,
                    ylabel: str = "Cumulative incidence (%)",
                    xlabel: str | None = None, title: str | None = None) -> Axes:
    """Draw a :func:`metsurv.stats.competing.cuminc` result into ``ax``: one rising step
    curve per cause (and group), its CI shaded, as the report's
    :func:`~metsurv.report.figures.cif_figure` draws them; each curve runs flat to the
    last time of any curve (the end of follow-up seen in the result).

    Parameters
    ----------
    result : CumulativeIncidence
        Times in months.
    ax : matplotlib.axes.Axes, optional
        Where to draw; None: a new notebook-sized figure.
    time_unit, max_time
        As :func:`plot_km_result`.
    ci : bool
        Shade the pointwise confidence bands.
    ylabel, xlabel, title : str, optional
        Axis labels and a title.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``; one step line per (group, cause).
    """
    scale = F.UNIT_SCALE[time_unit]
    curves = _cif_curves(result)
    end = max((float(np.max(c.time)) for c in curves), default=1.0)
    if max_time is None:
        max_time = _max_time(end, scale)
    new = ax is None
    with notebook_style():
        ax = _new_axes(ax)
        for i, c in enumerate(curves):
            F._draw_curve(ax, c, i, min(end, max_time / scale), scale, c.label, band=ci)
        ax.set_xlim(0, max_time)
        ax.set_ylim(0, 100)
        ax.set_xticks(F.time_ticks(max_time))
        ax.set_xlabel(xlabel or f"{F.UNIT_LABEL[time_unit]} after pulmonary metastasectomy")
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper left", frameon=False)
        if title:
            ax.set_title(title, loc="left", fontweight="bold")
        _tidy(ax, new)
    return ax


# ---------------------------------------------------------------------------------------
# forest plot


def plot_forest(table: pd.DataFrame, ax: Axes | None = None, *, title: str | None = None,
                text: bool = True) -> Axes:
    """Hazard ratios with their CIs on a log axis, one row per term, top to bottom, as
    the report's :func:`~metsurv.report.figures.forest_figure` draws one model.

    Parameters
    ----------
    table : pandas.DataFrame
        ``term``, ``hr``, ``lower``, ``upper`` (a :meth:`CoxResult.to_frame`), and ``p``
        when there is one.
    ax : matplotlib.axes.Axes, optional
        Where to draw; None: a new notebook figure, taller with more terms.
    title : str, optional
        A bold title over the axes.
    text : bool
        Print "HR (lower–upper)" and p beside each row, right of the axes.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``; one error bar per estimable term (a term R gives NA is labelled "not
        estimable" and has no bar).

    Raises
    ------
    ValueError
        ``table`` lacks one of the columns.
    """
    missing = {"term", "hr", "lower", "upper"} - set(table.columns)
    if missing:
        raise ValueError(f"forest table lacks columns {sorted(missing)}")
    terms = [str(t) for t in table["term"]]
    hr, lo, hi = (table[c].to_numpy(float) for c in ("hr", "lower", "upper"))
    ok = np.isfinite(hr) & np.isfinite(lo) & np.isfinite(hi) & (lo > 0)
    y = np.arange(len(terms), dtype=float)
    new = ax is None
    with notebook_style():
        ax = _new_axes(ax, (NOTEBOOK_FIGSIZE[0], max(2.2, 1.2 + 0.32 * len(terms))))
        col = style.colour(0)
        ax.errorbar(hr[ok], y[ok], xerr=[hr[ok] - lo[ok], hi[ok] - hr[ok]], fmt="o",
                    color=col, markersize=5, elinewidth=1.2, capsize=0)
        ax.axvline(1.0, color="0.45", linewidth=0.8, linestyle=(0, (2, 2)), zorder=0)
        ax.set_xscale("log")
        lo_lim = min([*lo[ok], 0.8]) / 1.15
        hi_lim = max([*hi[ok], 1.25]) * 1.15
        ax.set_xlim(lo_lim, hi_lim)
        cand = np.array([0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 10, 20, 50])
        ticks = cand[(cand >= lo_lim) & (cand <= hi_lim)]
        if ticks.size > 4:  # the axis is narrow beside the labels and the text column
            ticks = ticks[np.isin(ticks, [0.1, 0.25, 0.5, 1, 2, 4, 10])]
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_yticks(y, terms)
        ax.set_ylim(len(terms) - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_xlabel("Hazard ratio (95% CI), log scale")
        if text:
            p = table["p"].to_numpy(float) if "p" in table else np.full(len(terms), np.nan)
            trans = ax.get_yaxis_transform()  # x in axes fraction, y in data
            # beside the axes, left out of tight_layout (the rect below keeps their room)
            ax.text(1.03, -0.5, "HR (95% CI)      p", transform=trans, va="bottom",
                    fontweight="bold").set_in_layout(False)
            for j in range(len(terms)):
                cell = (f"{hr[j]:.2f} ({lo[j]:.2f}\u2013{hi[j]:.2f})   "
                        f"{format_p(p[j], label=False)}" if ok[j] else "not estimable")
                ax.text(1.03, y[j], cell, transform=trans, va="center").set_in_layout(False)
        if title:
            ax.set_title(title, loc="left", fontweight="bold")
        if new:
            ax.figure.tight_layout(rect=(0, 0, 0.68 if text else 1, 1))
    return ax


# ---------------------------------------------------------------------------------------
# proportional hazards (R plot.cox.zph)


def _ph_column(ph: Any, term: str) -> str:
    cols = ph.residuals.columns
    return term if term in cols and term not in ("time", "x", "stratum") else f"y:{term}"


def plot_ph_test(ph: Any, ax: Any = None, *, term: str | None = None,
                 coefs: dict[str, float] | None = None, legend: bool = True) -> Any:
    """R ``plot(cox.zph(fit))``: each term's scaled Schoenfeld residuals against
    (transformed) time with the smooth of :func:`metsurv.stats.cox.zph.zph_smooth`, one
    panel per term (or only ``term``), titled with the term's PH-test p.

    Parameters
    ----------
    ph : PHTestResult
        From :func:`metsurv.stats.cox.cox_zph`, with residuals.
    ax : Axes or sequence of Axes, optional
        One axes per term drawn; None: a new figure (one row of 6.5 x 4.5 in per two
        terms).
    term : str, optional
        Draw only this term.
    coefs : dict, optional
        term -> fitted coefficient, drawn as a dotted line (for a one-column term).
    legend : bool
        A legend in the first panel.

    Returns
    -------
    Axes or numpy.ndarray of Axes
        One axes for one term, else an array with one axes per term.

    Raises
    ------
    ValueError
        No residuals, an unknown ``term``, or a number of axes different from the number
        of terms.
    """
    from metsurv.stats.cox.zph import zph_smooth, zph_time_axis

    if ph.residuals is None:
        raise ValueError("the PH test has no residuals (no estimable term): nothing to plot")
    terms = [t for t in ph.terms if t != "GLOBAL"]
    if term is not None:
        if term not in terms:
            raise ValueError(f"no term {term!r} in the PH test; terms are {terms}")
        terms = [term]
    given = ax is not None
    axes = list(np.atleast_1d(np.asarray(ax, dtype=object))) if given else []
    if given and len(axes) != len(terms):
        raise ValueError(f"{len(axes)} axes given for {len(terms)} terms {terms}: pass one "
                         "axes per term, or term=")
    ticks = zph_time_axis(ph)
    p_of = dict(zip(ph.terms, np.asarray(ph.p, float), strict=True))
    with notebook_style():
        if not given:
            import matplotlib.pyplot as plt

            ncol = min(2, len(terms))
            nrow = math.ceil(len(terms) / ncol)
            fig = plt.figure(figsize=(NOTEBOOK_FIGSIZE[0] * (1 if ncol == 1 else 1.6),
                                      NOTEBOOK_FIGSIZE[1] * (1 if nrow == 1 else 0.8 * nrow)),
                             dpi=NOTEBOOK_DPI)
            axes = [fig.add_subplot(nrow, ncol, i + 1) for i in range(len(terms))]
        for i, (t, a) in enumerate(zip(terms, axes, strict=True)):
            col = _ph_column(ph, t)
            F.plot_ph(a, ph.residuals["x"], ph.residuals[col], zph_smooth(ph, col), t,
                      coef=(coefs or {}).get(t), ticks=ticks, transform=ph.transform,
                      title=t, p=p_of.get(t), legend="best" if legend and i == 0 else None,
                      marker_size=2.2, line_width=1.0)
        if not given:
            axes[0].figure.tight_layout()
    return axes[0] if len(axes) == 1 else np.array(axes, dtype=object)
