"""Conditional survival: S(t | alive at s) = S(t) / S(s), per group, with a pointwise CI, and
the figure of t-year survival as a function of the years already survived.

Method. The conditional curve is the product-limit (Kaplan-Meier) estimator over (s, t]:
``S_c(t) = prod_{s < t_j <= t} (1 - d_j / n_j) = S(t) / S(s)``, with the risk sets ``n_j``
of the whole fit (so delayed entry and case weights are those of the fit). Its variance is
Greenwood's over (s, t]: ``var S_c(t) = S_c(t)^2 sum_{s < t_j <= t} d_j / (n_j (n_j - d_j))``
(weighted counts for whole case weights, as R survfit). For a fit with fractional case
weights R (and :func:`metsurv.stats.km`) use the infinitesimal jackknife instead, which needs
the patients: pass ``data`` and the curve is refitted on those still at risk after s (entry
moved to ``max(entry, s)``), whose product-limit estimate over (s, t] is the same and whose
jackknife variance is that of the conditional curve. The CI is R survival's
``survfit_confint`` on the fit's ``conf_type`` (metsurv's default is log-log, R's is log),
with the standard error on the cumulative-hazard scale ``sqrt(sum d / (n (n - d)))``.
Equivalent R: ``survfit(Surv(pmax(entry, s) - s, time - s, status) ~ g, subset(d, time > s))``
read at ``t - s`` (tests/reference/make_conditional.R checks both ways agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..schema import MONTHS_PER_YEAR, months
from ._result import Result, warn

COLUMNS = ["group", "given", "time", "estimate", "std_err", "lower", "upper", "n_risk_given",
           "n_risk"]


@dataclass(frozen=True, eq=False)
class ConditionalResult(Result):
    """Conditional survival S(t | alive at ``given``) per group. ``table`` (``to_frame()``)
    has one row per group, given and time: ``estimate``, ``std_err`` (of the conditional
    survival), ``lower``/``upper`` (pointwise, ``conf_type`` at ``conf_level``),
    ``n_risk_given`` (the risk set of the first time after ``given``: the patients the
    conditional curve starts from; sums of weights for a weighted fit) and ``n_risk`` (R's
    number at risk at ``time``). NaN rows: nobody at risk after ``given``, S(given) = 0, or
    a ``time`` after the group's last follow-up while its curve is above 0 (R
    ``summary(fit, times, extend = FALSE)`` drops such times; ``extend=True`` carries the
    estimate forward as ``extend = TRUE``); the reasons are in ``warnings``."""

    table: pd.DataFrame
    conf_type: str
    conf_level: float
    variance: str

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def _greenwood_curve(curve: Any, given: float, times: np.ndarray,
                     conf_type: str, conf_level: float) -> dict[str, np.ndarray]:
    """Conditional estimate, SE and limits of one :class:`~metsurv.stats.km.KMCurve` from
    its table (Greenwood)."""
    from .km import _confint

    tab = curve.table
    tt = tab["time"].to_numpy(float)
    nr = tab["n_risk"].to_numpy(float)
    ne = tab["n_event"].to_numpy(float)
    sv = tab["estimate"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        all_die = (ne > 0) & (nr - ne <= 1e-12 * nr)
        inc = np.where(ne > 0, ne / (nr * (nr - ne)), 0.0)
        inc[all_die] = np.inf
    v = np.cumsum(inc)
    i_s = np.searchsorted(tt, given, side="right") - 1
    s_s = sv[i_s] if i_s >= 0 else 1.0
    v_s = v[i_s] if i_s >= 0 else 0.0
    i_t = np.searchsorted(tt, times, side="right") - 1
    s_t = np.where(i_t >= 0, sv[np.maximum(i_t, 0)], 1.0)
    v_t = np.where(i_t >= 0, v[np.maximum(i_t, 0)], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = s_t / s_s
        se = np.sqrt(np.where(i_t > i_s, v_t - v_s, 0.0))
        std_err = est * se  # 0 x inf (curve reached 0) is NaN, as R's std.err
    lower, upper = _confint(est, se, conf_type, conf_level)
    # no time in (s, t]: before the conditional curve's first time, limits 1 (R summary)
    first = i_t <= i_s
    lower, upper = np.where(first, 1.0, lower), np.where(first, 1.0, upper)
    return {"estimate": est, "std_err": std_err, "lower": lower, "upper": upper}


def _refit_curves(result: Any, data: Any, given: float) -> dict[Any, Any]:
    """The curves of ``result`` refitted on the rows of ``data`` still at risk after
    ``given`` (entry moved to ``max(entry, given)``): label -> KMCurve."""
    from .km import km

    if not isinstance(data, pd.DataFrame):
        data = data.to_frame() if hasattr(data, "to_frame") else pd.DataFrame(data)
    stop = pd.to_numeric(data[result.time], errors="coerce")
    sub = data.loc[stop > given].copy()
    entry = (pd.to_numeric(sub[result.start], errors="coerce") if result.start is not None
             else pd.Series(0.0, index=sub.index))
    sub["_metsurv_given_entry"] = np.fmax(entry.to_numpy(float), given)
    if sub.empty:
        return {}
    fit = km(sub, by=result.by, time=result.time, event=result.event,
             conf_type=result.conf_type, conf_level=result.conf_level,
             start="_metsurv_given_entry", weights=result.weights)
    return {c.group: c for c in fit.curves}


def conditional_survival(result: Any, given: float | Sequence[float], times: Sequence[float],
                         data: Any = None, *, extend: bool = False) -> ConditionalResult:
    """Conditional survival ``S(t | alive at given) = S(t) / S(given)`` for each group of a
    :func:`metsurv.stats.km` fit, with standard error and pointwise CI (method: module
    docstring; Greenwood over (s, t], CI on the fit's ``conf_type``).

    Parameters
    ----------
    result : KMResult
        The Kaplan-Meier fit (times in its unit, months for a cohort).
    given : float or sequence of float
        Time(s) s already survived, >= 0.
    times : sequence of float
        Absolute times t (same unit), each >= every ``given``; row ``t = s`` is 1.
    data : DataFrame, optional
        The data given to ``km``; needed only when the fit used the infinitesimal
        jackknife (fractional case weights).
    extend : bool
        False (default, R ``summary(fit, times, extend = FALSE)``): a time after the
        group's last follow-up time is NaN with a warning, unless the curve has reached 0
        there (then 0). True: the estimate at the last time carried forward, R
        ``extend = TRUE``, with ``n_risk`` 0.

    Returns
    -------
    ConditionalResult
        ``to_frame()``: group, given, time, estimate, std_err, lower, upper, n_risk_given,
        n_risk (rows: groups x given x times).

    Raises
    ------
    DataError
        A negative ``given``, a time before a ``given``, no times, or a jackknife fit
        without ``data``.

    Examples
    --------
    >>> from metsurv.stats import km
    >>> df = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 0, 1, 1, 0, 1]})
    >>> f = km(df, time="t", event="e")
    >>> c = conditional_survival(f, given=2, times=[4])  # S(4) / S(2) = 0.4167 / 0.8333
    >>> round(float(c.to_frame()["estimate"][0]), 4)
    0.5
    """
    givens = np.atleast_1d(np.asarray(given, dtype=float))
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if t.size == 0 or givens.size == 0:
        raise DataError("conditional survival needs at least one time and one given time")
    if np.any(~np.isfinite(givens)) or np.any(givens < 0):
        raise DataError(f"given must be finite times >= 0, got {givens.tolist()}")
    if np.any(np.isnan(t)) or t.min() < givens.max():
        raise DataError(f"every time must be >= the time already survived (given = "
                        f"{givens.max():g}); got times {t.tolist()}")
    jackknife = result.variance != "greenwood"
    if jackknife and data is None:
        raise DataError("this fit has fractional case weights (infinitesimal-jackknife "
                        "variance): pass data= (the data given to km) to conditional()")
    notes: list[str] = []
    frames = []
    for s in givens:
        refits = _refit_curves(result, data, float(s)) if jackknife else {}
        for curve in result.curves:
            tt = curve.table["time"].to_numpy(float)
            after = np.searchsorted(tt, s, side="right")
            n_given = float(curve.table["n_risk"].to_numpy()[after]) if after < tt.size else 0.0
            i_s = after - 1
            s_s = float(curve.table["estimate"].to_numpy()[i_s]) if i_s >= 0 else 1.0
            cols: dict[str, Any]
            if n_given == 0 or s_s == 0:
                why = "nobody is at risk after" if n_given == 0 else "survival is 0 at"
                warn(notes, f"group {curve.group!r}: {why} {s:g}; conditional survival "
                            "is NaN")
                nan = np.full(t.shape, np.nan)
                cols = {"estimate": nan, "std_err": nan, "lower": nan, "upper": nan}
            elif jackknife:
                at = refits[curve.group].at(t)
                cols = {c: at[c].to_numpy(float) for c in ("estimate", "std_err", "lower",
                                                           "upper")}
            else:
                cols = _greenwood_curve(curve, float(s), t, result.conf_type,
                                        result.conf_level)
            if not extend and tt.size:
                # after the last follow-up time nobody is observed: R summary(extend = FALSE)
                # drops these times; NaN with a reason, unless the curve already reached 0
                beyond = (t > tt[-1]) & np.isfinite(cols["estimate"]) & (
                    float(curve.table["estimate"].to_numpy()[-1]) > 0)
                if beyond.any():
                    warn(notes, f"group {curve.group!r}: time(s) "
                                f"{', '.join(f'{v:g}' for v in t[beyond])} after the last "
                                f"follow-up ({tt[-1]:g}); conditional survival is NaN, not "
                                "extrapolated (R summary(extend = FALSE) drops them)")
                    cols = {c: np.where(beyond, np.nan, np.asarray(v, dtype=float))
                            for c, v in cols.items()}
            frames.append(pd.DataFrame({"group": curve.group, "given": float(s), "time": t,
                                        **cols, "n_risk_given": n_given,
                                        "n_risk": curve.at(t)["n_risk"].to_numpy(float)}))
    table = pd.concat(frames, ignore_index=True)[COLUMNS]
    return ConditionalResult(table=table, conf_type=result.conf_type,
                             conf_level=result.conf_level, variance=result.variance,
                             warnings=tuple(notes))


def conditional_figure(km_result: Any, horizon: float = 60,
                       given_years: Sequence[float] = range(0, 6), *, data: Any = None,
                       ax: Any = None) -> Any:
    """Figure: ``horizon``-month survival as a function of the years already survived, per
    group, with pointwise CI bars (:func:`conditional_survival` at ``given = 12 y`` and
    ``t = 12 y + horizon`` for each y of ``given_years``). Points beyond follow-up (nobody
    at risk at t and a positive estimate) and NaN points are not drawn.

    Parameters
    ----------
    km_result : KMResult
        A :func:`metsurv.stats.km` fit with times in months.
    horizon : float
        Months of further survival (60: 5-year survival).
    given_years : sequence of float
        Years already survived (x axis).
    data : DataFrame, optional
        As :func:`conditional_survival` (fractional case weights only).
    ax : matplotlib.axes.Axes, optional
        Where to draw; None: a new notebook-sized figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ..report import style
    from ..report.plotting import _new_axes, _tidy, notebook_style

    years = np.asarray(list(given_years), dtype=float)
    frames = [conditional_survival(km_result, months(y), [months(y) + horizon],
                                   data).to_frame() for y in years]
    tab = pd.concat(frames, ignore_index=True)
    new = ax is None
    k = len(km_result.curves)
    with notebook_style():
        ax = _new_axes(ax)
        for i, curve in enumerate(km_result.curves):
            g = tab[tab["group"] == curve.group]
            show = g["estimate"].notna() & ((g["n_risk"] > 0) | (g["estimate"] == 0))
            g = g[show]
            x = g["given"].to_numpy(float) / MONTHS_PER_YEAR + (i - (k - 1) / 2) * 0.06
            y = g["estimate"].to_numpy(float)
            lo = np.nan_to_num(y - g["lower"].to_numpy(float), nan=0.0)
            hi = np.nan_to_num(g["upper"].to_numpy(float) - y, nan=0.0)
            label = str(curve.group) if km_result.by else None
            ax.errorbar(x, y, yerr=[lo, hi], color=style.colour(i), marker="o", ms=4,
                        capsize=2.5, lw=1.4, label=label)
        yrs = horizon / MONTHS_PER_YEAR
        ax.set_xlabel(f"Years already survived (points need patients at risk {yrs:g} years "
                      "later)")
        ax.set_ylabel(f"{yrs:g}-year conditional survival")
        ax.set_ylim(0, 1.02)
        ax.set_xticks(years)
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
        ax.grid(axis="y", lw=0.5, alpha=0.4)
        if km_result.by:
            # the upper band is empty (survival rarely > 90%); lower right hid the points
            ax.legend(title=km_result.by, frameon=False, loc="upper left", ncols=k)
        _tidy(ax, new)
    return ax
