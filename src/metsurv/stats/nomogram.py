"""Points nomogram of a Cox model, as R ``rms::nomogram(cph_fit, fun = surv at times)``.

Each predictor's contribution to the linear predictor, x'beta with the uncentred covariate
values (R ``predictrms(type = "terms", center.terms = FALSE)``), is shifted so that its
lowest value is 0 and scaled so that the predictor with the widest range of contributions
spans 0 to ``maxscale`` (100) points: ``points = (x beta - min x beta) * sc`` with
``sc = maxscale / max(range)``. A patient's total points P map back to the centred linear
predictor ``lp = P / sc + sum_j min_j - xbar'beta`` and to predicted survival
``S(t | P) = exp(-H0(t) exp(lp))``, H0 the fit's baseline cumulative hazard at the
covariate means (the Efron-adjusted one for an Efron fit: what R ``survfit.coxph`` and
:meth:`metsurv.stats.cox.CoxResult.predict` give, and what ``rms::cph(surv = TRUE)``
stores). Factor levels are each a point on their predictor's line; a numeric covariate's
axis is R's ``pretty(range(x), nint)`` (rms ``datadist`` full range), or its distinct
values when it has at most 10 (rms ``datadist(n.unique = 10)``). The survival axes are
placed exactly (R's ``nomogram`` inverts ``fun`` by linear interpolation on a 1000-point
grid, within about 1e-4 points of the exact place).

Oracle: tests/reference/make_nomogram.R (rms 6.5-0, survival 3.5-3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..schema import FACTOR_TITLES
from ..schema import level_label as schema_level_label
from ._result import Result, json_safe, warn
from ._times import level_label
from .cox.design import variables
from .cox.result import CoxResult
from .cox.survfit import _baseline

#: Survival values at which the S(t) axes carry ticks (those reachable on the total-points
#: axis are drawn); the rms vignettes' ``fun.at``.
SURVIVAL_TICKS = (0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01)
#: Figure width (mm): a journal's two-column width.
FIGURE_WIDTH_MM = 170.0


def r_pretty(lo: float, hi: float, n: int = 5, min_n: int | None = None,
             shrink_sml: float = 0.75, high_u_bias: float = 1.5) -> np.ndarray:
    """R's ``pretty(c(lo, hi), n)`` (R 4.2 ``R_pretty``, ``bounds = TRUE``): about n + 1
    equally spaced round values (steps 1, 2 or 5 times a power of 10) covering [lo, hi].

    >>> r_pretty(0, 100, 10).tolist()
    [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
    >>> r_pretty(23.4, 81.2, 10).tolist()  # R: pretty(c(23.4, 81.2), 10)
    [20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 80.0, 85.0]
    """
    min_n = n // 3 if min_n is None else min_n
    h, h5 = high_u_bias, 0.5 + 1.5 * high_u_bias
    eps = np.finfo(float).eps
    dx = hi - lo
    if dx == 0 and hi == 0:
        cell, small = 1.0, True
    else:
        cell = max(abs(lo), abs(hi))
        u = 1 + (1 / (1 + h) if h5 >= 1.5 * h + 0.5 else 1.5 / (1 + h5))
        u *= max(1, n) * eps
        small = dx < cell * u * 3
    if small:
        if cell > 10:
            cell = 9 + cell / 10
        cell *= shrink_sml
        if min_n > 1:
            cell /= min_n
    else:
        cell = dx / n if n > 1 else dx
    cell = max(cell, 2.0**-20 * np.finfo(float).tiny)
    base = 10.0 ** math.floor(math.log10(cell))
    unit = base
    if 2 * base - cell < h * (cell - unit):
        unit = 2 * base
        if 5 * base - cell < h5 * (cell - unit):
            unit = 5 * base
            if 10 * base - cell < h * (cell - unit):
                unit = 10 * base
    rnd = 1e-10
    ns = math.floor(lo / unit + rnd)
    nu = math.ceil(hi / unit - rnd)
    while ns * unit > lo + rnd * unit:
        ns -= 1
    while nu * unit < hi - rnd * unit:
        nu += 1
    k = int(0.5 + nu - ns)
    if k < min_n:
        k = min_n - k
        if ns >= 0:
            nu += k // 2
            ns -= k // 2 + k % 2
        else:
            ns -= k // 2
            nu += k // 2 + k % 2
        ndiv = min_n
    else:
        ndiv = k
    a, b = min(ns * unit, lo), max(nu * unit, hi)
    s = a + np.arange(ndiv + 1) * ((b - a) / ndiv) if ndiv else np.array([a])
    if ndiv:
        s[-1] = b
        s[np.abs(s) < 1e-14 * ((b - a) / ndiv)] = 0.0
    return s


def _label(col: str, level: Any) -> str:
    """The level as tables print it (schema labels: "Complete (R0)", "DFI 0-11 mo")."""
    return str(schema_level_label(col, level_label(level)))


def _fmt(v: float) -> str:
    """A numeric axis value as R's ``format`` prints one: 7 significant digits."""
    return f"{v:.7g}"


@dataclass(frozen=True, eq=False)
class NomogramResult(Result):
    """A points nomogram of a Cox fit (R ``rms::nomogram``).

    ``points``: one row per predictor and level (factor) or axis value (numeric): predictor,
    title, level (as fitted), label, value (numeric covariates), xbeta (the uncentred
    contribution to the linear predictor), points. ``scale``: the total-points axis mapped
    to the centred linear predictor and to S(t) at each of ``times``, one row per
    ``step`` points (columns total_points, lp, ``S(36)``, ``S(60)``...). ``survival_axes``:
    where each tick of each S(t) axis sits on the total-points axis (time, survival,
    total_points), for the ticks within the totals a patient can reach (0 to the sum of
    the predictors' maxima). ``sc`` (points per unit of linear predictor), ``intercept`` (the linear
    predictor at 0 total points), ``maxscale``, ``total_axis`` (the Total Points ticks)."""

    points: pd.DataFrame
    scale: pd.DataFrame
    survival_axes: pd.DataFrame
    times: tuple[float, ...]
    sc: float
    intercept: float
    maxscale: float
    total_axis: tuple[float, ...]
    predictors: tuple[str, ...]
    titles: dict[str, str]
    n: int
    events: int
    time_unit: str = "mo"
    stratum: str | None = None

    def to_frame(self) -> pd.DataFrame:
        """The points of every level (or axis value) of every predictor."""
        return self.points.copy()

    def survival(self, total_points: Any) -> pd.DataFrame:
        """Predicted survival at each of ``times`` for the given total points (array-like):
        columns total_points, lp, ``S(t)`` per time."""
        p = np.atleast_1d(np.asarray(total_points, dtype=float))
        lp = p / self.sc + self.intercept
        out = {"total_points": p, "lp": lp}
        h0 = self.scale.attrs["H0"]
        for t, h in zip(self.times, h0, strict=True):
            with np.errstate(over="ignore"):
                out[f"S({t:g})"] = np.exp(-h * np.exp(lp))
        return pd.DataFrame(out)

    def summary_frame(self) -> pd.DataFrame:
        return self.points[["predictor", "label", "points"]]

    def _html_head(self) -> str:
        return (f"<b>NomogramResult</b> points nomogram of a Cox model (n = {self.n}, events = "
                f"{self.events}); {self.maxscale:g} points = the widest predictor; S(t) at "
                + ", ".join(f"{t:g}" for t in self.times))

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"points": self.points, "scale": self.scale,
                          "survival_axes": self.survival_axes, "times": self.times,
                          "sc": self.sc, "intercept": self.intercept,
                          "maxscale": self.maxscale, "total_axis": self.total_axis,
                          "n": self.n, "events": self.events, "stratum": self.stratum,
                          "warnings": self.warnings})

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """The publication nomogram (:func:`plot_nomogram`): a Points axis on top, one row
        per predictor with its level labels at their points, Total Points, and one S(t)
        axis per time; 170 mm wide. Returns the axes."""
        kwargs.setdefault("pyplot", True)  # a new figure Jupyter shows
        return plot_nomogram(self, ax, **kwargs)


def _numeric_values(fit: CoxResult, j: int, k: int, nint: int) -> np.ndarray:
    """The axis values of numeric design column j: its distinct fitted values when at
    most 10, else R ``pretty(range(x), nint)``. The fitted values are the centred risk-set
    column plus its centre, rounded to 12 significant digits (undoing the roundoff)."""
    risk = fit._zph_data[0]
    x = risk.X[:, j] + fit._centers[k, j]
    x = np.array([float(f"{v:.12g}") for v in np.unique(x)])  # distinct values only
    x = np.unique(x)
    if x.size <= 10:
        return x
    return r_pretty(float(x[0]), float(x[-1]), nint)


def nomogram(cox_fit: CoxResult, times: Sequence[float] = (36, 60), *, maxscale: float = 100,
             nint: int = 10, values: Mapping[str, Sequence[float]] | None = None,
             stratum: Any = None, step: float = 1.0,
             survival_ticks: Sequence[float] = SURVIVAL_TICKS,
             titles: Mapping[str, str] | None = None) -> NomogramResult:
    """Points nomogram of a Cox fit with predicted survival at ``times``, R
    ``rms::nomogram(cph_fit, fun = list(function(lp) surv(36, lp), ...), maxscale = 100,
    nint = 10)`` with ``surv <- Survival(cph_fit)``.

    Parameters
    ----------
    cox_fit : CoxResult
        A fit of :func:`metsurv.stats.cox.cox` with main effects only (factors, yes/no
        and numeric covariates; no interaction terms).
    times : sequence of float
        Horizons of the S(t) axes, in the fit's time unit (months for metsurv data).
    maxscale : float
        Points of the predictor with the widest range of contributions (rms ``maxscale``).
    nint : int
        Number of intervals of R ``pretty`` for numeric axes and the Total Points axis.
    values : mapping, optional
        Axis values of numeric covariates (rms ``nomogram(fit, age = c(40, 60, 80))``).
    stratum : optional
        For a stratified fit: the stratum whose baseline the S(t) axes use (its label).
    step : float
        Spacing of the total points in ``scale`` (the total-points-to-survival table).
    survival_ticks : sequence of float
        Survival values marked on the S(t) axes (those within the Total Points axis).
    titles : mapping, optional
        Row titles by covariate (default: :data:`metsurv.schema.FACTOR_TITLES`, else the
        column name).

    Returns
    -------
    NomogramResult
        ``to_frame()`` (points per level), ``scale`` (total points -> lp and S(t)),
        ``survival_axes``, ``survival(total_points)``, ``plot(ax=None)``.

    Raises
    ------
    DataError
        An interaction term, no estimable coefficient, a stratified fit without (or with
        an unknown) ``stratum``, a time not > 0, a numeric covariate given in ``values``
        that is not in the model.
    ValueError
        A fit made without prediction data, ``maxscale`` or ``step`` not > 0.

    Notes
    -----
    A coefficient R gives NA (aliased, a level without patients) has no points (NaN, a
    warning) and is left off the figure; it counts 0 in the linear predictor, as R's
    ``survfit`` counts it. A time after the last follow-up time of the fit has NaN
    survival and a warning (R's ``Survival`` gives NA).

    >>> from metsurv.stats.cox import cox
    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11, 20, 7],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1, 0, 1],
    ...                    "grp": list("ababababab"), "age": [60, 70, 55, 80, 65, 50, 75, 62,
    ...                                                       58, 71]})
    >>> nom = nomogram(cox(df, ["grp", "age"]), times=[6])
    >>> round(float(nom.to_frame()["points"].max()), 9)  # the widest predictor spans 0-100
    100.0
    >>> nom.to_frame()["predictor"].unique().tolist()
    ['grp', 'age']
    """
    if cox_fit._xlevels is None or cox_fit._centers is None or cox_fit._zph_data is None:
        raise ValueError("this Cox fit keeps no data for predictions; refit it with cox()")
    if maxscale <= 0 or step <= 0:
        raise ValueError(f"maxscale and step must be > 0, got {maxscale!r}, {step!r}")
    if any(":" in c for c in cox_fit.covariates):
        raise DataError("nomogram: interaction terms are not supported (rms draws one line "
                        "per combination); fit the model with main effects only")
    t = tuple(float(v) for v in np.atleast_1d(np.asarray(times, dtype=float)))
    if not t or any(not (v > 0 and math.isfinite(v)) for v in t):
        raise DataError(f"nomogram: times must be finite and > 0, got {list(times)}")
    values = dict(values or {})
    unknown = set(values) - set(cox_fit.covariates)
    if unknown:
        raise DataError(f"nomogram: values given for {sorted(unknown)}, which are not "
                        f"covariates of the fit ({', '.join(cox_fit.covariates)})")
    labels = list(cox_fit._zph_data[3])
    if cox_fit.strata:
        names = [str(v) for v in labels]
        if stratum is None or str(level_label(stratum)) not in names:
            raise DataError(f"nomogram: the fit is stratified by {', '.join(cox_fit.strata)}; "
                            f"give stratum= one of {'; '.join(names)} (its baseline gives "
                            "the S(t) axes)")
        k = names.index(str(level_label(stratum)))
    else:
        k = 0
    notes: list[str] = list(cox_fit.warnings)
    beta = np.nan_to_num(cox_fit.coef)
    xlevels = cox_fit._xlevels
    assign = cox_fit._zph_data[2]
    title_map = {**FACTOR_TITLES, **dict(titles or {})}
    rows = []
    for term, cols in zip(cox_fit.covariates, assign, strict=True):
        col = variables([term])[0]
        if col in xlevels:
            levels, ref = xlevels[col]
            coefs = dict(zip(cols, cox_fit.coef[list(cols)], strict=True))
            names = {cox_fit.terms[j]: j for j in cols}
            for lev in levels:
                j = names.get(f"{col}[{level_label(lev)}]")
                xb = 0.0 if j is None else coefs[j]
                rows.append({"predictor": col, "level": level_label(lev),
                             "label": _label(col, lev), "value": np.nan, "xbeta": xb})
        else:
            j = cols[0]
            v = (np.asarray(values[col], dtype=float) if col in values
                 else _numeric_values(cox_fit, j, k, nint))
            for x in v:
                rows.append({"predictor": col, "level": float(x), "label": _fmt(x),
                             "value": float(x), "xbeta": float(x) * cox_fit.coef[j]})
    pts = pd.DataFrame(rows)
    pts.insert(1, "title", [str(title_map.get(p, p)) for p in pts["predictor"]])
    na = pts["xbeta"].isna().to_numpy()
    if na.all():
        raise DataError("nomogram: the fit has no estimable coefficient; nothing to draw")
    for pred in pd.unique(pts.loc[na, "predictor"]):
        which = pts.loc[na & (pts["predictor"] == pred).to_numpy(), "label"].tolist()
        warn(notes, f"nomogram: {pred} {', '.join(map(str, which))} has no coefficient (R "
             "coxph gives NA): no points, left off the figure")
    grp = pts.groupby("predictor", sort=False)["xbeta"]
    lo, hi = grp.transform("min"), grp.transform("max")
    ranges = grp.max() - grp.min()
    widest = float(np.nanmax(ranges.to_numpy()))
    if not widest > 0:
        raise DataError("nomogram: every predictor has a zero effect; nothing to scale")
    sc = maxscale / widest
    pts["points"] = (pts["xbeta"] - lo) * sc
    del hi
    predictors = tuple(pd.unique(pts["predictor"]))
    centre = float(cox_fit._centers[k] @ beta)
    intercept = -centre + float(np.nansum(grp.min().to_numpy()))
    # the baseline cumulative hazard at the means at each time (step function, as R)
    b = _baseline(cox_fit, beta, k)
    H = b["haz"].cumsum()
    idx = np.searchsorted(b["time"], np.asarray(t) + 1e-6, side="right") - 1
    H0 = np.where(idx >= 0, H[np.maximum(idx, 0)], 0.0)
    late = np.asarray(t) > b["time"][-1] + 1e-6
    if late.any():
        H0 = np.where(late, np.nan, H0)
        warn(notes, f"nomogram: no follow-up beyond {b['time'][-1]:g}; S(t) at "
             f"{', '.join(f'{v:g}' for v in np.asarray(t)[late])} is NA (as R's Survival)")
    # Total Points axis as rms: pretty(0, max(maxscale, sc * max(lp.at - intercept)))
    lp_fit = cox_fit._zph_data[0].X @ beta
    lp_at = r_pretty(float(lp_fit.min()), float(lp_fit.max()), nint)
    n_ent = len(predictors)
    sum_max = maxscale if n_ent == 1 else max(maxscale, sc * float(lp_at.max() - intercept))
    total_axis = r_pretty(0.0, sum_max, nint)
    grid = np.arange(0.0, float(total_axis[-1]) + step / 2, step)
    lp = grid / sc + intercept
    scale = pd.DataFrame({"total_points": grid, "lp": lp})
    with np.errstate(over="ignore"):
        for time, h in zip(t, H0, strict=True):
            scale[f"S({time:g})"] = np.exp(-h * np.exp(lp))
    scale.attrs["H0"] = tuple(float(h) for h in H0)
    # exact place of each survival tick: S = exp(-H0 exp(lp)) <=> lp = log(-log S / H0)
    axes = []
    reach = float(pts.groupby("predictor", sort=False)["points"].max().sum())
    s_ticks = np.asarray(survival_ticks, dtype=float)
    for time, h in zip(t, H0, strict=True):
        with np.errstate(divide="ignore", invalid="ignore"):
            p = (np.log(-np.log(s_ticks) / h) - intercept) * sc
        keep = np.isfinite(p) & (p >= -1e-9) & (p <= reach + 1e-9)
        axes.append(pd.DataFrame({"time": time, "survival": s_ticks[keep],
                                  "total_points": p[keep]}))
    survival_axes = pd.concat(axes, ignore_index=True)
    titles_out = {p: str(title_map.get(p, p)) for p in predictors}
    return NomogramResult(points=pts, scale=scale, survival_axes=survival_axes, times=t,
                          sc=float(sc), intercept=float(intercept), maxscale=float(maxscale),
                          total_axis=tuple(float(v) for v in total_axis),
                          predictors=predictors, titles=titles_out, n=cox_fit.n,
                          events=cox_fit.events,
                          stratum=None if not cox_fit.strata else str(labels[k]),
                          warnings=tuple(notes))


# ---------------------------------------------------------------------------------------
# figure


def _text_width(ax: Any, text: str, size: float) -> float:
    """Width of ``text`` at ``size`` pt in data units of ``ax``'s x axis."""
    fig = ax.figure
    try:
        renderer = fig.canvas.get_renderer()
        t = ax.text(0, 0, text, fontsize=size)
        w_px = t.get_window_extent(renderer).width
        t.remove()
    except (AttributeError, RuntimeError):  # pragma: no cover - a canvas without renderer
        w_px = 0.55 * size * len(text) * fig.dpi / 72
    x0, x1 = ax.get_xlim()
    return w_px / (ax.get_window_extent().width or 1) * (x1 - x0)


def _stagger(pos: np.ndarray, widths: np.ndarray, gap: float) -> np.ndarray:
    """Row of each label (0 above the line, 1 below, 2 above and higher, ...): each label
    goes to the first row where it does not overlap the previous label of that row."""
    order = np.argsort(pos, kind="stable")
    right_edge: list[float] = []
    row = np.zeros(pos.size, dtype=int)
    for i in order:  # labels of one predictor, a handful
        left = pos[i] - widths[i] / 2
        for r, edge in enumerate(right_edge):
            if left >= edge + gap:
                right_edge[r] = pos[i] + widths[i] / 2
                row[i] = r
                break
        else:
            right_edge.append(pos[i] + widths[i] / 2)
            row[i] = len(right_edge) - 1
    return row


def plot_nomogram(nom: NomogramResult, ax: Any = None, *, title: str | None = None,
                  fontsize: float = 6.5, pyplot: bool = False) -> Any:
    """Draw a nomogram: the Points axis (0 to ``maxscale``) on top, one row per predictor
    with each level's label at its points (factor labels that would overlap are staggered
    above and below the line; a crowded numeric axis labels every k-th value and ticks the
    others), the Total Points axis, and one axis per time of predicted survival
    ("S(36 mo)") placed on the total-points scale.

    Parameters
    ----------
    nom : NomogramResult
    ax : matplotlib.axes.Axes, optional
        Where to draw (its axis frame is switched off); None: a new figure 170 mm wide
        (two journal columns) in metsurv's style, to save at 300 dpi.
    title : str, optional
    fontsize : float
        Label size in points.
    pyplot : bool
        Without ``ax``: a pyplot figure (shown by Jupyter) instead of one outside pyplot.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ..report import style

    n_rows = 1 + len(nom.predictors) + 1 + len(nom.times)
    names = ["Points", *(nom.titles.get(p, p) for p in nom.predictors), "Total Points",
             *(f"S({t:g} {nom.time_unit})" for t in nom.times)]
    with style.figure_style():
        if ax is None:
            width = FIGURE_WIDTH_MM * style.MM
            fig = style.new_figure((width, 0.36 * n_rows + 0.25), pyplot=pyplot)
            renderer = fig.canvas.get_renderer()
            # the row titles fit at the left, and the labels at a row's right end (centred
            # on their tick: half their width past it) at the right
            pts = nom.points[nom.points["points"].notna()]
            ends = (pts.loc[pts.groupby("predictor")["points"].idxmax(), "label"].astype(str)
                    .tolist() if len(pts) else [])

            def inches(texts: Sequence[str]) -> float:
                probe = [fig.text(0, 0, s, fontsize=fontsize) for s in texts]
                out = max((t.get_window_extent(renderer).width for t in probe), default=0.0)
                for t in probe:
                    t.remove()
                return out / fig.dpi

            left = min((inches(names) + 0.22) / width, 0.45)
            right = 0.99 - max(inches(ends) / 2 + 0.04, 0.1) / width
            ax = fig.add_axes((left, 0.02, right - left, 0.9 if title else 0.96))
        ax.set_xlim(-1.0, nom.maxscale + 2)
        ax.set_ylim(-n_rows + 0.45, 0.6)
        ax.set_axis_off()
        line_kw = {"color": "black", "linewidth": 0.7, "solid_capstyle": "butt"}
        tick = 0.09
        # row titles right-aligned just left of the axes (x in axes, y in data units)
        label_kw = {"fontsize": fontsize, "ha": "right", "va": "center",
                    "transform": ax.get_yaxis_transform()}
        left = -0.03

        def axis_row(y: float, pos: Sequence[float], texts: Sequence[str], name: str,
                     minor: Sequence[float] = ()) -> None:
            pos = np.asarray(pos, dtype=float)
            ax.plot([pos.min(), pos.max()], [y, y], **line_kw)
            for p, s in zip(pos, texts, strict=True):
                ax.plot([p, p], [y, y + tick], **line_kw)
                ax.text(p, y + tick + 0.05, s, fontsize=fontsize, ha="center", va="bottom")
            for p in minor:
                ax.plot([p, p], [y, y + tick / 2], **line_kw)
            ax.text(left, y, name, **label_kw)

        # Points axis
        major = r_pretty(0, nom.maxscale, 10)
        minor = [v for v in np.linspace(0, nom.maxscale, 51) if v not in major]
        axis_row(0.0, major, [_fmt(v) for v in major], "Points", minor)
        # predictor rows
        for r, pred in enumerate(nom.predictors, start=1):
            y = -float(r)
            g = nom.points[(nom.points["predictor"] == pred) & nom.points["points"].notna()]
            if not len(g):
                continue
            # levels at the same points share one label (rms joins them)
            merged = (g.groupby("points", sort=True)["label"]
                      .agg(lambda s: ", ".join(map(str, s))).reset_index())
            pos = merged["points"].to_numpy()
            texts = merged["label"].tolist()
            ax.plot([pos.min(), pos.max()], [y, y], **line_kw)
            widths = np.array([_text_width(ax, s, fontsize) for s in texts])
            rows = _stagger(pos, widths, gap=0.8)
            if g["value"].notna().all() and rows.max() > 0:
                # a numeric axis: label every k-th value on one row, tick every value
                every = 2
                while every < len(pos):
                    shown = np.arange(len(pos)) % every == 0
                    if _stagger(pos[shown], widths[shown], gap=0.8).max() == 0:
                        break
                    every += 1
                shown = np.arange(len(pos)) % every == 0
                for p in pos[~shown]:
                    ax.plot([p, p], [y, y + tick / 2], **line_kw)
                pos, widths = pos[shown], widths[shown]
                texts = [t for t, k in zip(texts, shown, strict=True) if k]
                rows = np.zeros(len(pos), dtype=int)
            for p, s, rr in zip(pos, texts, rows, strict=True):
                up = rr % 2 == 0
                lift = 0.05 + 0.26 * (rr // 2)
                ax.plot([p, p], [y, y + (tick if up else -tick)], **line_kw)
                ax.text(p, y + (tick + lift if up else -tick - lift), s, fontsize=fontsize,
                        ha="center", va="bottom" if up else "top")
            ax.text(left, y, nom.titles.get(pred, pred), **label_kw)
        # Total Points axis, drawn on the 0..maxscale width
        y = -float(len(nom.predictors) + 1)
        total = np.asarray(nom.total_axis)
        f = nom.maxscale / total[-1]
        axis_row(y, total * f, [_fmt(v) for v in total], "Total Points")
        # S(t) axes
        unit = nom.time_unit
        for i, time in enumerate(nom.times, start=1):
            yy = y - i
            s = nom.survival_axes[nom.survival_axes["time"] == time]
            if not len(s):
                continue
            axis_row(yy, s["total_points"].to_numpy() * f,
                     [f"{v:g}" for v in s["survival"]], f"S({time:g} {unit})")
        if title:
            ax.set_title(title, loc="left", fontsize=fontsize + 1)
    return ax
