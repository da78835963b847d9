"""Simplified integer risk score from a Cox model (Sullivan, Massaro & D'Agostino 2004),
its risk groups with their Kaplan-Meier curves, and its Harrell C-index beside the IRLM
grouping's on the same patients.

Method (Sullivan LM, Massaro JM, D'Agostino RB. Presentation of multivariate data for
clinical use: the Framingham Study risk score functions. Stat Med 2004;23:1631-60):

1. Each covariate is split into categories: a factor's levels; a numeric covariate's
   intervals ``[b_k, b_k+1)`` (``bins``; default the inner breaks of R
   ``pretty(range(x), 4)``), each with a reference value W (the median of the patients'
   values in it; Sullivan's step 2).
2. Each category's effect in regression units (step 3), measured from the covariate's
   lowest-risk category (Sullivan's reference category, taken as the lowest-risk one, so
   the points do not depend on the fit's reference level and the score is >= 0): beta of
   the level (0 for the fit's reference level) for a factor, ``beta W_k`` for a numeric
   covariate, less the covariate's minimum over its categories.
3. B, the regression units of one point (step 4): ``unit`` (a number), or
   ``unit=(term, amount)`` for |beta(term)| x amount (``("age", 10)``: 10 years of age make
   one point, as Sullivan's "5 years of age"), by default the smallest non-zero effect of
   any category (the weakest difference within a covariate is 1 point).
4. ``points = round(effect / B)`` (step 5; R's ``round``, halves to even).
5. A patient's score is the sum of the points of their categories; risk groups are score
   intervals (``cuts``; default the score's tertiles, rounded up to whole points).

The C-indexes are Harrell's C of R ``survival::concordance(Surv(time, status) ~ score,
reverse = TRUE)`` (a higher score for the earlier death is concordant; tied scores count
1/2; the standard error is R's infinitesimal jackknife), for the integer score, the IRLM
group (I < II < III < IV, column ``irlm_group``) and the Cox model's linear predictor, all on
the patients who have the score and an IRLM group.

Oracle: tests/reference/make_nomogram.R (its ``score`` part).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..schema import FACTOR_TITLES, IRLM_GROUPS
from ..schema import level_label as schema_level_label
from ._result import Result, json_safe, warn
from ._times import as_frame, group_codes, level_label
from .cox.concordance import _concordance
from .cox.design import variables
from .cox.fit import cox
from .cox.result import CoxResult
from .cox.survfit import _level_index, _new_design
from .km import KMResult, km
from .nomogram import r_pretty

#: Names of the risk groups when there are three.
THREE_GROUPS = ("Low", "Intermediate", "High")


@dataclass(frozen=True, eq=False)
class ScoreResult(Result):
    """An integer risk score (Sullivan et al. 2004) with risk groups and C-indexes.

    ``points`` (``to_frame()``): one row per covariate and category: covariate, title,
    level (a factor level, or the category's index for a numeric covariate), label,
    reference_value (W, numeric covariates), effect (regression units), points.
    ``unit``: B, the regression units of one point, and ``unit_source`` (how it was set).
    ``cuts``: the lowest score of each risk group after the first. ``groups``: group,
    scores (range), n, events. ``c_index``: model ("integer score", "IRLM group", "Cox
    model"), c_index, se, n, events, concordant, discordant, tied_x. ``scores``: each scored
    patient's score and risk group (index of the data). ``km``: Kaplan-Meier curves of the
    risk groups (:func:`metsurv.stats.km`)."""

    points: pd.DataFrame
    unit: float
    unit_source: str
    cuts: tuple[int, ...]
    groups: pd.DataFrame
    c_index: pd.DataFrame
    scores: pd.DataFrame
    km: KMResult
    covariates: tuple[str, ...]
    time: str
    event: str
    n: int
    events: int

    def to_frame(self) -> pd.DataFrame:
        """The points of every category of every covariate."""
        return self.points.copy()

    def summary_frame(self) -> pd.DataFrame:
        return self.points[["covariate", "label", "points"]]

    def _html_head(self) -> str:
        c = dict(zip(self.c_index["model"], self.c_index["c_index"], strict=True))
        cs = ", ".join(f"{k} {v:.3f}" for k, v in c.items() if np.isfinite(v))
        return (f"<b>ScoreResult</b> integer score (Sullivan 2004; 1 point = {self.unit:.4g} "
                f"log hazard units), n = {self.n}, events = {self.events}; C-index: {cs}")

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"points": self.points, "unit": self.unit,
                          "unit_source": self.unit_source, "cuts": self.cuts,
                          "groups": self.groups, "c_index": self.c_index,
                          "covariates": self.covariates, "n": self.n, "events": self.events,
                          "warnings": self.warnings})

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Kaplan-Meier curves of the risk groups (:func:`plot_score_km`). Returns the
        axes."""
        kwargs.setdefault("pyplot", True)  # a new figure Jupyter shows
        return plot_score_km(self, ax, **kwargs)


def _cat_label(inner: np.ndarray, k: int) -> str:
    if inner.size == 0:
        return "all"
    if k == 0:
        return f"<{inner[0]:g}"
    if k == inner.size:
        return f"\u2265{inner[-1]:g}"
    return f"{inner[k - 1]:g} to <{inner[k]:g}"


def _group_labels(cuts: Sequence[int], top: int) -> list[str]:
    """Score ranges of the groups: "0-3", "4-6", ">=7" (a single score alone)."""
    lows = [0, *cuts]
    out = []
    for i, lo in enumerate(lows):
        hi = lows[i + 1] - 1 if i + 1 < len(lows) else None
        if hi is None:
            out.append(f"{lo}" if lo >= top else f"\u2265{lo}")
        else:
            out.append(f"{lo}" if hi == lo else f"{lo}-{hi}")
    return out


def integer_score(model: Any, data: Any = None, covariates: Sequence[str] | None = None, *,
                  unit: float | tuple[str, float] | None = None,
                  bins: Mapping[str, Sequence[float]] | None = None,
                  cuts: Sequence[int] | None = None, n_groups: int = 3,
                  irlm: str = "irlm_group", time: str = "os_months",
                  event: str = "os_event") -> ScoreResult:
    """Simplified integer points from a Cox model (Sullivan, Massaro & D'Agostino 2004),
    risk groups by total score, their Kaplan-Meier curves, and the score's Harrell C-index
    beside the IRLM grouping's and the Cox model's on the same patients.

    Parameters
    ----------
    model : CoxResult, DataFrame or Cohort
        A fit of :func:`metsurv.stats.cox.cox` (main effects; its coefficients are used),
        or the data, which is then fitted with ``cox(data, covariates, time=, event=)``.
    data : DataFrame or Cohort, optional
        The patients to score (required with a fit; default: ``model`` when it is data).
    covariates : sequence of str, optional
        The model's covariates when ``model`` is data.
    unit : float or (str, float), optional
        B, the regression units (log hazard) of one point: a number, or ``(term,
        amount)`` for |beta(term)| x amount (a design term: ``"age_at_metastasectomy"``,
        ``"dfi_group[0-11]"``). Default: the smallest absolute category effect.
    bins : mapping of str to sequence of float, optional
        Inner cut points of each numeric covariate's categories ``[b_k, b_k+1)``
        (default: the inner breaks of R ``pretty(range(x), 4)``).
    cuts : sequence of int, optional
        Lowest score of each risk group after the first (increasing): ``[3, 6]`` gives
        0-2, 3-5, >=6. Default: the score's quantiles at 1/n_groups, 2/n_groups, ...
        (R type 7), rounded up, distinct.
    n_groups : int
        Number of risk groups when ``cuts`` is not given (>= 2).
    irlm : str
        Column of the IRLM group (I-IV) to compare with; absent or all missing: its
        C-index is NaN with a warning.
    time, event : str
        Follow-up and event columns when ``model`` is data (a fit brings its own).

    Returns
    -------
    ScoreResult
        ``to_frame()`` (points per category), ``c_index``, ``groups``, ``scores``,
        ``km``, ``plot(ax=None)``.

    Raises
    ------
    DataError
        A fit without ``data``; data without ``covariates``; an interaction term; a
        covariate or ``irlm`` value the fit did not see; no estimable non-zero effect;
        ``unit`` not > 0 or naming an unknown or non-estimable term; bad ``cuts`` or
        ``bins``; no patient with complete data.

    Notes
    -----
    A coefficient R gives NA (aliased, a level without patients) has no points (NaN, a
    warning) and counts 0 in the patients' totals, as R's ``predict.coxph`` counts it. A
    stratified fit's strata are ignored by the score and by the C-indexes (unstratified).

    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11, 20, 7],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1, 0, 1],
    ...                    "grp": list("ababababab"),
    ...                    "irlm_group": ["I", "II", "I", "IV", "III", "I", "IV", "II", "I", "III"]})
    >>> res = integer_score(df, covariates=["grp"], cuts=[1])
    >>> res.to_frame()[["label", "points"]].values.tolist()
    [['a', 0.0], ['b', 1.0]]
    """
    if isinstance(model, CoxResult):
        fit = model
        if data is None:
            raise DataError("integer_score: a Cox fit does not keep its patients; pass "
                            "data= (the rows to score)")
        frame = as_frame(data)
    else:
        if covariates is None:
            raise DataError("integer_score: give covariates= (the model's columns) with data")
        frame = as_frame(model if data is None else data)
        fit = cox(as_frame(model), list(covariates), time=time, event=event)
    if fit._xlevels is None or fit._zph_data is None:
        raise ValueError("this Cox fit keeps no data for predictions; refit it with cox()")
    if any(":" in c for c in fit.covariates):
        raise DataError("integer_score: interaction terms have no points of their own; fit "
                        "the model with main effects only")
    if n_groups < 2:
        raise DataError(f"integer_score: n_groups must be >= 2, got {n_groups}")
    notes: list[str] = list(fit.warnings)
    time, event, start = fit.time, fit.event, fit.start
    cols = variables(fit.covariates)
    need = [time, event, *cols, *([start] if start else [])]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataError(f"integer_score: the data have no column {missing[0]!r}, which the "
                        "fit uses; add it", column=missing[0])
    keep = frame[need].notna().all(axis=1).to_numpy()
    if not keep.any():
        raise DataError("integer_score: no patient has every covariate, time and event")
    rows = frame.loc[keep]
    bins = dict(bins or {})
    xlevels = fit._xlevels
    assign = fit._zph_data[2]
    term_index = {name: j for j, name in enumerate(fit.terms)}
    # categories of each covariate: (code of each patient, table rows)
    cats: dict[str, np.ndarray] = {}
    table = []
    for term, tcols in zip(fit.covariates, assign, strict=True):
        col = term
        title = str(FACTOR_TITLES.get(col, col))
        if col in xlevels:
            levels, _ = xlevels[col]
            cats[col] = _level_index(rows[col], levels, col)
            for k, lev in enumerate(levels):
                j = term_index.get(f"{col}[{level_label(lev)}]")
                table.append({"covariate": col, "title": title, "level": level_label(lev),
                              "label": str(schema_level_label(col, level_label(lev))),
                              "reference_value": np.nan, "code": k,
                              "effect": 0.0 if j is None else float(fit.coef[j])})
        else:
            x = pd.to_numeric(rows[col]).to_numpy(dtype=float)
            if col in bins:
                inner = np.asarray(bins[col], dtype=float)
                if inner.ndim != 1 or np.any(np.diff(inner) <= 0) or not np.isfinite(inner).all():
                    raise DataError(f"integer_score: bins of {col!r} must be increasing finite "
                                    f"numbers, got {list(bins[col])}", column=col)
            else:
                br = r_pretty(float(x.min()), float(x.max()), 4)
                inner = br[1:-1]
            code = np.searchsorted(inner, x, side="right")  # R findInterval
            cats[col] = code
            present = np.unique(code)
            med = {int(k): float(np.median(x[code == k])) for k in present}
            beta = float(fit.coef[tcols[0]])
            w0 = med[int(present[0])]
            for k in present:
                table.append({"covariate": col, "title": title, "level": int(k),
                              "label": _cat_label(inner, int(k)),
                              "reference_value": med[int(k)], "code": int(k),
                              "effect": beta * (med[int(k)] - w0)})
    pts = pd.DataFrame(table)
    # effects from each covariate's lowest-risk category: points that do not depend on
    # which level the fit took as reference
    low = pts.groupby("covariate", sort=False)["effect"].transform("min")
    pts["effect"] = pts["effect"] - low
    eff = pts["effect"].to_numpy()
    # B
    if unit is None:
        nz = eff[np.isfinite(eff) & (eff > 0)]
        if nz.size == 0:
            raise DataError("integer_score: no covariate has an estimable non-zero effect; "
                            "there is nothing to score")
        B = float(nz.min())
        source = "smallest non-zero category effect"
    elif isinstance(unit, tuple):
        term, amount = unit
        if term not in term_index:
            raise DataError(f"integer_score: unit term {term!r} is not a term of the fit "
                            f"({', '.join(fit.terms)})")
        B = abs(float(fit.coef[term_index[term]])) * float(amount)
        source = f"|beta({term})| x {amount:g}"
    else:
        B = float(unit)
        source = "given"
    if not (B > 0 and math.isfinite(B)):
        raise DataError(f"integer_score: the unit of one point must be a number > 0, got {B!r} "
                        "(a non-estimable or zero coefficient?)")
    pts["points"] = np.round(eff / B)
    na = pts["points"].isna().to_numpy()
    for cov in pd.unique(pts.loc[na, "covariate"]):
        labs = pts.loc[na & (pts["covariate"] == cov).to_numpy(), "label"].tolist()
        warn(notes, f"integer_score: {cov} {', '.join(map(str, labs))} has no coefficient "
             "(R coxph gives NA): no points; counted 0 in the totals")
    # each patient's score: sum of the points of their categories
    score = np.zeros(len(rows))
    for cov in cols:
        g = pts[pts["covariate"] == cov]
        lookup = np.zeros(int(g["code"].max()) + 1)
        lookup[g["code"].to_numpy()] = np.nan_to_num(g["points"].to_numpy())
        score += lookup[cats[cov]]
    score = score.astype(np.int64)
    top = int(pts.groupby("covariate")["points"].max().sum())
    # risk groups
    if cuts is None:
        q = np.quantile(score, np.arange(1, n_groups) / n_groups)
        cut = sorted({int(math.ceil(v)) for v in q if math.ceil(v) > score.min()})
    else:
        cut = [int(c) for c in cuts]
        if any(b <= a for a, b in zip(cut, cut[1:], strict=False)) or any(c <= 0 for c in cut):
            raise DataError(f"integer_score: cuts must be increasing whole scores > 0, got "
                            f"{list(cuts)}")
    labels = _group_labels(cut, top)
    names = (list(THREE_GROUPS) if len(labels) == 3
             else [f"Group {i + 1}" for i in range(len(labels))])
    glabels = [f"{n} ({lab})" for n, lab in zip(names, labels, strict=True)]
    gcode = np.searchsorted(np.asarray(cut, dtype=float), score, side="right")
    group = pd.Categorical.from_codes(gcode, categories=glabels)
    t = pd.to_numeric(rows[time]).to_numpy(dtype=float)
    e = rows[event].astype(float).to_numpy().astype(np.int64)
    st = None if not start else pd.to_numeric(rows[start]).to_numpy(dtype=float)
    scored = pd.DataFrame({"score": score, "risk_group": group}, index=rows.index)
    kmf = pd.DataFrame({time: t, event: e, "risk_group": group}, index=rows.index)
    if st is not None:
        kmf[start] = st
    curves = km(kmf, by="risk_group", time=time, event=event, conf_type="log-log",
                start=start if start else False)
    groups = pd.DataFrame({"group": glabels, "scores": labels,
                           "n": np.bincount(gcode, minlength=len(glabels)),
                           "events": np.bincount(gcode, e, minlength=len(glabels)).astype(int)})
    # C-indexes on the patients with an IRLM group
    if irlm in rows.columns and rows[irlm].notna().any():
        has = rows[irlm].notna().to_numpy()
        icode = group_codes(rows.loc[has, irlm].astype(object), list(IRLM_GROUPS))
        if (icode < 0).any():
            bad = rows.loc[has, irlm].astype(object)[icode < 0].iloc[0]
            raise DataError(f"integer_score: column {irlm!r} value {bad!r} is not an IRLM "
                            f"group ({', '.join(IRLM_GROUPS)})", column=irlm)
        if (~has).any():
            warn(notes, f"integer_score: {int((~has).sum())} scored patient(s) have no "
                 f"{irlm}: the C-indexes use the {int(has.sum())} who have one")
    else:
        has = np.ones(len(rows), dtype=bool)
        icode = None
        warn(notes, f"integer_score: no {irlm} column (or all missing): no IRLM C-index")
    X = _new_design(fit, rows)
    lp = np.nan_to_num(X) @ np.nan_to_num(fit.coef)
    zero = np.zeros(int(has.sum()), dtype=np.int64)
    sub = (t[has], e[has], zero, None, None if st is None else st[has])
    out = []
    for name, x in (("integer score", score[has].astype(float)),
                    ("IRLM group", None if icode is None else icode.astype(float)),
                    ("Cox model", lp[has])):
        if x is None:
            out.append({"model": name, "c_index": np.nan, "se": np.nan, "n": int(has.sum()),
                        "events": int(e[has].sum()), "concordant": np.nan,
                        "discordant": np.nan, "tied_x": np.nan})
            continue
        c, se, counts = _concordance(sub[0], sub[1], x, sub[2], sub[3], sub[4])
        out.append({"model": name, "c_index": c, "se": se, "n": int(has.sum()),
                    "events": int(e[has].sum()), "concordant": counts["concordant"],
                    "discordant": counts["discordant"], "tied_x": counts["tied_x"]})
    cidx = pd.DataFrame(out)
    if not np.isfinite(cidx["c_index"].iloc[0]):
        warn(notes, "integer_score: no comparable pair (no event?): the C-index is NA")
    return ScoreResult(points=pts.drop(columns="code"), unit=B, unit_source=source,
                       cuts=tuple(cut), groups=groups, c_index=cidx, scores=scored, km=curves,
                       covariates=tuple(fit.covariates), time=time, event=event,
                       n=int(len(rows)), events=int(e.sum()), warnings=tuple(notes))


def plot_score_km(res: ScoreResult, ax: Any = None, *, time_unit: str = "years",
                  pyplot: bool = False, **kwargs: Any) -> Any:
    """Kaplan-Meier curves of the score's risk groups
    (the report's :func:`metsurv.report.figures.plot_km`; keyword arguments go there), with the
    C-indexes of the score and of the IRLM grouping on the same patients in the corner.
    Without ``ax``: a new 85 mm (one journal column) figure in metsurv's style, to save at
    300 dpi (a pyplot one, shown by Jupyter, with ``pyplot=True``). Returns the axes."""
    from ..report import figures as F
    from ..report import style
    from ..report.plotting import _max_time

    scale = F.UNIT_SCALE[time_unit]
    last = max((float(c.table["time"].replace(np.inf, np.nan).max())
                for c in res.km.curves if len(c.table)), default=1.0)
    max_time = kwargs.pop("max_time", None) or _max_time(last, scale)
    ticks = F.time_ticks(max_time, kwargs.get("tick_step"))
    panel = F.panel_from_km(res.km, at_risk_times=list(ticks / scale),
                            labels={g: g for g in res.groups["group"]})
    with style.figure_style():
        new = ax is None
        if new:
            fig = style.new_figure((style.COLUMN_WIDTH_IN, style.COLUMN_WIDTH_IN * 0.9),
                                   pyplot=pyplot)
            ax = fig.add_subplot(1, 1, 1)
        kwargs.setdefault("legend_loc", "above")
        kwargs.setdefault("endpoint", "os")
        F.plot_km(panel, ax, None, time_unit=time_unit, max_time=max_time, **kwargs)
        leg = ax.get_legend()
        if new and leg is not None and kwargs["legend_loc"] == "above":
            # the legend rows (n, median, 5-year survival) are wider than the plot area of
            # a one-column figure: start them over the y-axis label
            leg.set_bbox_to_anchor((-0.17, 1.01), transform=ax.transAxes)
        c = dict(zip(res.c_index["model"], res.c_index["c_index"], strict=True))
        text = "\n".join(f"Harrell's C, {k}: {v:.3f}" for k, v in c.items()
                         if k != "Cox model" and np.isfinite(v))
        ax.text(0.98, 0.97, text, transform=ax.transAxes, fontsize=6, va="top",
                ha="right")
        if new:
            ax.figure.tight_layout()
    return ax
