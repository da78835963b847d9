"""Decision curve analysis for a survival outcome at a horizon (Vickers & Elkin 2006, Med
Decis Making 26:565; Vickers, Cronin, Elkin & Gonen 2008, "Extensions to decision curve
analysis", BMC Med Inform Decis Mak 8:53), equal to R ``dcurves::dca(Surv(time, event) ~
x1 + x2, data, time = horizon)`` (dcurves 0.5).

Method. A predictor is each patient's predicted risk of the event by the horizon
(``1 - S(horizon)``, 0-1). At a threshold probability ``pt`` the patients with
``risk >= pt`` are treated. Their observed risk is the Kaplan-Meier estimate
``r(pt) = 1 - S_KM(horizon | risk >= pt)`` (censoring handled by KM, as Vickers 2008), so
per patient in the whole sample::

    test_pos_rate = #(risk >= pt) / n
    tp_rate = r(pt) * test_pos_rate          fp_rate = (1 - r(pt)) * test_pos_rate
    net_benefit = tp_rate - pt / (1 - pt) * fp_rate - harm

"Treat all" uses everybody (``r`` = the cohort's KM risk, ``pos_rate``), "treat none" nobody
(net benefit 0). ``net_intervention_avoided = (net_benefit - net_benefit[treat all]) /
(pt / (1 - pt)) * nper`` (dcurves ``net_intervention_avoided()``) and
``standardized_net_benefit = net_benefit / pos_rate`` (dcurves
``standardized_net_benefit()``).

dcurves' conventions, reproduced (tests/reference/make_dca.R writes them out with
survival::survfit, as dcurves itself is not installable here):

- a row missing the time, the event or *any* predictor is dropped for all predictors
  (R ``model.frame``); a warning counts them;
- a risk of exactly 0 is never test-positive (not even at threshold 0) and a risk of exactly
  1 always is (dcurves moves them by ``.Machine$double.eps``);
- nobody at or above the threshold: ``r(pt) = 0`` (net benefit 0);
- the KM of the test-positives is read as ``broom::tidy(survfit())`` is: **NA** when their
  last follow-up time is before the horizon (even when everyone of them died: the curve does
  not reach the horizon) and NA when none of their times is at or before it. Those net
  benefits are NaN here, with a warning naming the thresholds;
- the cohort's own KM must reach the horizon (else :class:`~metsurv.errors.DataError`).

Beyond dcurves (which has no such checks and would print ``-Inf`` standardised net benefits
and 1.0 interventions avoided): no event at or before the horizon in the whole sample is a
:class:`~metsurv.errors.DataError` (the observed risk is 0 in every group, so there is no true
positive to weigh against false positives: every curve is degenerate); ``harm`` must be in
[0, 1) and ``nper`` a positive number.

Computation: thresholds are visited from the highest down, adding each band of patients
to running event and at-risk counts on the grid of distinct event times up to the horizon,
so the whole curve costs O(n + thresholds x event times) with no loop over patients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ._result import Result, warn
from ._times import (
    _number,
    as_frame,
    default_start,
    missing_by_column,
    missing_text,
    survival_data,
)

__all__ = ["DecisionCurveResult", "decision_curve", "DEFAULT_THRESHOLDS"]

#: dcurves' default thresholds, ``seq(0, 0.99, by = 0.01)`` (computed as R does:
#: ``0 + (0:99) * 0.01``).
DEFAULT_THRESHOLDS: np.ndarray = np.arange(100) * 0.01

COLUMNS = ["variable", "label", "n", "threshold", "pos_rate", "test_pos_rate",
           "risk_rate_among_test_pos", "tp_rate", "fp_rate", "harm", "net_benefit",
           "net_intervention_avoided", "standardized_net_benefit"]

_EPS = float(np.finfo(float).eps)  # R .Machine$double.eps


@dataclass(frozen=True, eq=False)
class DecisionCurveResult(Result):
    """Net benefit by threshold for treat-all, treat-none and each predictor.

    ``table`` (``to_frame()``): one row per variable and threshold, dcurves' columns:
    ``variable`` (``all``, ``none``, then the predictor columns), ``label``, ``n``,
    ``threshold``, ``pos_rate`` (KM risk by the horizon in the whole sample),
    ``test_pos_rate``, ``risk_rate_among_test_pos`` (KM risk among ``risk >= threshold``),
    ``tp_rate``, ``fp_rate``, ``harm``, ``net_benefit``, ``net_intervention_avoided`` (per
    ``nper`` patients) and ``standardized_net_benefit``. NaN where dcurves gives NA (the
    reasons are in ``warnings``). ``summary_frame()`` is the net benefit wide: one row per
    threshold, one column per label."""

    table: pd.DataFrame
    horizon: float
    n: int
    n_excluded: int
    prevalence: float
    time: str
    event: str
    nper: float

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary_frame(self) -> pd.DataFrame:
        wide = self.table.pivot(index="threshold", columns="label", values="net_benefit")
        wide = wide[list(dict.fromkeys(self.table["label"]))]
        wide.columns.name = None
        return wide.reset_index()

    def _html_head(self) -> str:
        return (f"<b>DecisionCurveResult</b> net benefit at {self.time} = "
                f"{_number(self.horizon)}, n = {self.n}, KM risk by then = "
                f"{self.prevalence:.3g}")

    def plot(self, ax: Any = None, *, type: str = "net_benefit") -> Any:
        """The decision curve: ``type`` (``"net_benefit"``, ``"net_intervention_avoided"``
        or ``"standardized_net_benefit"``) against the threshold probability, one line per
        predictor and for treat-all and treat-none. The y axis is clipped as dcurves'
        ``plot.dca`` does: net benefit from ``-0.1 * pos_rate`` to ``pos_rate``
        (interventions avoided 0 to ``nper``, standardised -0.02 to 1.02); NaN values are
        gaps. Draws into ``ax`` (a new notebook-sized figure when None) and returns it."""
        return plot_decision_curve(self, ax, type=type)


def _predictor_names(predictors: Any) -> dict[str, str]:
    if isinstance(predictors, str):
        return {predictors: predictors}
    if isinstance(predictors, Mapping):
        return {str(k): str(v) for k, v in predictors.items()}
    names = [str(p) for p in predictors]
    if not names:
        raise DataError("give at least one predictor column (a predicted risk, 0-1)")
    return {p: p for p in names}


def _harms(harm: Mapping[str, float] | None, names: Mapping[str, str]) -> dict[str, float]:
    """Check ``harm``: predictor names only, each a number in [0, 1)."""
    harm = dict(harm or {})
    unknown = [k for k in harm if k not in names]
    if unknown:
        raise DataError(f"harm names {unknown}, which are not predictors ({list(names)})")
    out = {}
    for k, v in harm.items():
        ok = not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))
        if not ok or not 0 <= float(v) < 1:
            raise DataError(f"harm for {k!r} is {v!r}: give a number in [0, 1), the cost of "
                            "the test per patient in true positives (e.g. 0.01 = one event "
                            "per 100 tests); a negative harm would add net benefit and 1 or "
                            "more could never beat treat none")
        out[k] = float(v)
    return out


def _nper(nper: Any) -> float:
    """Check ``nper``: a finite number > 0."""
    ok = not isinstance(nper, bool) and isinstance(nper, (int, float, np.integer, np.floating))
    if not ok or not (np.isfinite(nper) and nper > 0):
        raise DataError(f"nper is {nper!r}: give a positive number of patients, e.g. 100 for "
                        "net interventions avoided per 100 patients")
    return float(nper)


def _positive_risk(
    risk: np.ndarray, thresholds: np.ndarray, time: np.ndarray, event_le_h: np.ndarray,
    p: np.ndarray, q: np.ndarray | None, n_grid: int, horizon: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For sorted ``thresholds`` (K): the number of patients with ``risk >= pt``, the KM
    risk by the horizon among them, and whether their last time is before the horizon
    (``short``) or none of their times is at or before it (``late``).

    ``p``: number of grid event times <= each patient's time (at risk at grid times
    ``j < p``; the event, if any, is at ``p - 1``); ``q``: grid times <= entry (not yet at
    risk at ``j < q``)."""
    k = thresholds.size
    band = np.searchsorted(thresholds, risk, side="right")  # positive for thresholds < band
    order = np.argsort(band, kind="stable")
    edges = np.searchsorted(band[order], np.arange(k + 2))
    leave = np.zeros(n_grid + 1, dtype=np.int64)
    entered = np.zeros(n_grid + 1, dtype=np.int64)
    died = np.zeros(n_grid, dtype=np.int64)
    count = np.zeros(k, dtype=np.int64)
    km_risk = np.zeros(k)
    last = np.full(k, -np.inf)
    first = np.full(k, np.inf)
    n_pos, t_max, t_min, r = 0, -np.inf, np.inf, 0.0
    for m in range(k - 1, -1, -1):  # highest threshold first: the sets only grow
        idx = order[edges[m + 1]:edges[m + 2]]  # the band just above threshold m
        if idx.size:
            leave += np.bincount(p[idx], minlength=n_grid + 1)
            if q is not None:
                entered += np.bincount(q[idx], minlength=n_grid + 1)
            dead = idx[event_le_h[idx]]
            if dead.size:
                died += np.bincount(p[dead] - 1, minlength=n_grid)
            n_pos += idx.size
            t_max, t_min = max(t_max, time[idx].max()), min(t_min, time[idx].min())
            n_risk = np.cumsum(leave[::-1])[::-1][1:]
            if q is not None:
                n_risk = n_risk - np.cumsum(entered[::-1])[::-1][1:]
            has = died > 0
            factor = np.ones(n_grid)
            factor[has] = 1.0 - died[has] / n_risk[has]
            r = 1.0 - (float(np.cumprod(factor)[-1]) if n_grid else 1.0)
        count[m], km_risk[m], last[m], first[m] = n_pos, r, t_max, t_min
    short = (count > 0) & (last < horizon)
    late = (count > 0) & (first > horizon)
    return count, km_risk, short, late


def _band_text(th: np.ndarray) -> str:
    return (f"{th.min():g}" if th.size == 1 else f"{th.min():g} to {th.max():g}")


def decision_curve(
    data: Any,
    predictors: str | Sequence[str] | Mapping[str, str],
    time: str = "os_months",
    event: str = "os_event",
    horizon: float = 60.0,
    thresholds: Sequence[float] | np.ndarray | None = None,
    *,
    start: str | None | bool = None,
    harm: Mapping[str, float] | None = None,
    nper: float = 1.0,
) -> DecisionCurveResult:
    """Decision curve (net benefit by threshold probability) of predicted risks for a
    survival outcome at ``horizon``, with treat-all and treat-none: R
    ``dcurves::dca(Surv(time, event) ~ p1 + p2, data, thresholds, time = horizon, harm =)``
    followed by ``net_intervention_avoided(nper =)`` and ``standardized_net_benefit()``
    (Vickers et al. 2008, KM-based observed risk; see the module text for dcurves'
    conventions, which are reproduced).

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient.
    predictors : str, sequence of str, or mapping
        Column(s) holding each patient's predicted probability of the event by ``horizon``
        (0-1, e.g. ``1 - S(horizon)`` from a model); a mapping gives ``{column: label}``.
    time, event : str
        Follow-up time (same units as ``horizon``) and event (1/0 or bool) columns.
    horizon : float
        The time at which risk is assessed (months for a cohort: 60 = 5 years).
    thresholds : sequence of float, optional
        Threshold probabilities in [0, 1); default dcurves' ``seq(0, 0.99, by = 0.01)``
        (:data:`DEFAULT_THRESHOLDS`). Kept in the order given.
    start : str, None or False
        Entry time column for delayed entry (``Surv(start, time, event)``); None: a cohort's
        ``entry_months`` as in :func:`metsurv.stats.km`; False: none.
    harm : mapping, optional
        ``{column: harm}`` subtracted from that predictor's net benefit (dcurves ``harm``):
        the cost of the test per patient tested in units of true positives, in [0, 1)
        (e.g. 0.01: one test in 100 is worth one missed event).
    nper : float
        Net interventions avoided are per ``nper`` patients (dcurves default 1), > 0.

    Returns
    -------
    DecisionCurveResult
        ``to_frame()``: (2 + predictors) x thresholds rows (see the class).

    Raises
    ------
    KeyError
        A named column is absent.
    DataError
        A predictor that is not a number or outside [0, 1]; a threshold outside [0, 1); a
        horizon that is not a finite number, after the last follow-up time or before the
        first (the cohort's KM does not reach it: dcurves' "Cannot calculate outcome
        prevalence"); no event at or before the horizon (every patient censored or event
        free by then: the decision curve cannot be estimated); a ``harm`` that is not a
        number in [0, 1) or an ``nper`` that is not a positive number; time/event problems
        as :func:`metsurv.stats.km`.

    Examples
    --------
    >>> df = pd.DataFrame({"t": [2.0, 3, 5, 7, 9, 12, 12, 15], "d": [1, 1, 0, 1, 0, 1, 0, 0],
    ...                    "risk": [.9, .7, .2, .6, .3, .5, .1, .2]})
    >>> res = decision_curve(df, "risk", "t", "d", horizon=10, thresholds=[0.1, 0.5])
    >>> res.to_frame()[["variable", "threshold", "net_benefit"]].round(4)
      variable  threshold  net_benefit
    0      all        0.1       0.3333
    1      all        0.5      -0.2000
    2     none        0.1       0.0000
    3     none        0.5       0.0000
    4     risk        0.1       0.3333
    5     risk        0.5       0.2500
    """
    names = _predictor_names(predictors)
    harm = _harms(harm, names)
    nper_value = _nper(nper)
    df = as_frame(data)
    absent = [c for c in names if c not in df.columns]
    if absent:
        raise KeyError(f"column(s) not found: {', '.join(absent)}")
    try:
        h = float(horizon)
    except (TypeError, ValueError):
        raise DataError(f"horizon {horizon!r} is not a number") from None
    if not np.isfinite(h):
        raise DataError(f"horizon {_number(h)} is not a finite time")
    thr = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=float)
    if thr.ndim != 1 or thr.size == 0:
        raise DataError("thresholds must be a non-empty list of probabilities")
    bad = thr[~((thr >= 0) & (thr < 1))]
    if bad.size:
        raise DataError(f"threshold {_number(bad[0])} is outside [0, 1): thresholds are "
                        "probabilities, e.g. 0.05 to 0.5")

    notes: list[str] = []
    start_col = default_start(data, time, start)
    needed = [c for c in (time, event, start_col, *names) if c is not None]
    missing = missing_by_column(df, needed)
    sd = survival_data(data, time, event, columns=list(names), start=start)
    if sd.n_dropped:
        which = missing_text(missing)
        warn(notes, f"{sd.n_dropped} row(s) with a missing value excluded from every curve "
                    f"({which}); R dcurves drops them too (model.frame)")
    t, e, n = sd.time, sd.event, sd.time.size
    if n == 0:
        raise DataError("no complete rows: every row misses the time, event or a predictor")
    if t.max() < h:
        raise DataError(f"horizon {_number(h)} is after the last follow-up time "
                        f"{_number(t.max())} in column {time!r}: the Kaplan-Meier curve does "
                        "not reach it; choose an earlier horizon", column=time)
    if t.min() > h:
        raise DataError(f"horizon {_number(h)} is before the first follow-up time "
                        f"{_number(t.min())} in column {time!r} (dcurves cannot estimate the "
                        "risk there); choose a later horizon", column=time)
    risks: dict[str, np.ndarray] = {}
    for col in names:
        values = sd.frame[col]
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        if np.isnan(v).any():
            raise DataError(f"column {col!r}: {values[np.isnan(v)].iloc[0]!r} is not a "
                            "number; give the predicted risk (0-1)", column=col)
        out = v[(v < 0) | (v > 1)]
        if out.size:
            raise DataError(f"column {col!r}: predicted risk {_number(out[0])} is outside "
                            "[0, 1]; give the probability of the event by the horizon, "
                            "e.g. 1 - S(horizon)", column=col)
        risks[col] = v

    if not ((e == 1) & (t <= h)).any():
        raise DataError(f"no event at or before the horizon {_number(h)} in column {event!r} "
                        f"({int((e == 1).sum())} event(s) in all, {n} patients): the observed "
                        "risk is 0 for every strategy, so a decision curve cannot be "
                        "estimated; check the event coding (1 = event) or choose a later "
                        "horizon", column=event)
    grid = np.unique(t[(e == 1) & (t <= h)])  # distinct event times up to the horizon
    p = np.searchsorted(grid, t, side="right")
    q = None if sd.start is None else np.searchsorted(grid, sd.start, side="right")
    event_le_h = (e == 1) & (t <= h)
    sorted_thr, back = np.unique(thr, return_inverse=True)
    variables = {"all": ("Treat All", np.ones(n)), "none": ("Treat None", np.zeros(n))}
    variables.update({c: (names[c], risks[c]) for c in names})
    frames = []
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = thr / (1 - thr)
        for var, (label, r) in variables.items():
            r = np.where(r == 0, 0 - _EPS, np.where(r == 1, 1 + _EPS, r))
            count, km_risk, short, late = _positive_risk(r, sorted_thr, t, event_le_h, p, q,
                                                         grid.size, h)
            rr = np.where(short | late, np.nan, km_risk)
            for flag, why in ((short, "their last follow-up is before it, so their "
                                      "Kaplan-Meier curve does not reach it"),
                              (late, "none of their follow-up times is at or before it")):
                if flag.any():
                    warn(notes, f"{label}: net benefit NA at threshold "
                                f"{_band_text(sorted_thr[flag])} (horizon {_number(h)}): "
                                f"{why} (dcurves: NA)")
            test_pos = count[back] / n
            rate = rr[back]
            tp, fp = rate * test_pos, (1 - rate) * test_pos
            hv = float(harm.get(var, 0.0))
            frames.append(pd.DataFrame({
                "variable": var, "label": label, "n": n, "threshold": thr,
                "pos_rate": np.nan, "test_pos_rate": test_pos,
                "risk_rate_among_test_pos": rate, "tp_rate": tp, "fp_rate": fp,
                "harm": hv, "net_benefit": tp - odds * fp - hv}))
        table = pd.concat(frames, ignore_index=True)
        prevalence = float(frames[0]["risk_rate_among_test_pos"].iloc[0])
        table["pos_rate"] = prevalence
        nb_all = np.tile(frames[0]["net_benefit"].to_numpy(), len(frames))
        table["net_intervention_avoided"] = ((table["net_benefit"] - nb_all)
                                             / np.tile(odds, len(frames)) * nper_value)
        table["standardized_net_benefit"] = table["net_benefit"] / prevalence
    return DecisionCurveResult(table=table[COLUMNS], horizon=h, n=n,
                               n_excluded=sd.n_dropped, prevalence=prevalence, time=time,
                               event=event, nper=nper_value, warnings=tuple(notes))


_YLABEL = {"net_benefit": "Net benefit",
           "net_intervention_avoided": "Net reduction in interventions",
           "standardized_net_benefit": "Standardized net benefit"}


def plot_decision_curve(result: DecisionCurveResult, ax: Any = None, *,
                        type: str = "net_benefit") -> Any:
    """Draw :meth:`DecisionCurveResult.plot` (see there)."""
    import contextlib

    import matplotlib as mpl

    from ..report import style
    from ..report.plotting import _new_axes, _tidy, notebook_style

    if type not in _YLABEL:
        raise ValueError(f"type must be one of {list(_YLABEL)}, not {type!r}")
    tab = result.table
    new = ax is None
    # a given axes keeps its figure's style (e.g. the report's 85 mm figure_style)
    with notebook_style() if new else contextlib.nullcontext():
        ax = _new_axes(ax)
        lw = float(mpl.rcParams["lines.linewidth"])
        i = 0
        for var in dict.fromkeys(tab["variable"]):
            rows = tab[tab["variable"] == var].sort_values("threshold")
            x, y = rows["threshold"].to_numpy(float), rows[type].to_numpy(float)
            y = np.where(np.isfinite(y), y, np.nan)  # dcurves drops NA; Inf is off-scale
            label = str(rows["label"].iloc[0])
            if var == "all":
                ax.plot(x, y, color="0.55", lw=0.8 * lw, label=label, zorder=2)
            elif var == "none":
                ax.plot(x, y, color="0.15", lw=0.6 * lw, label=label, zorder=2)
            else:
                ax.plot(x, y, color=style.colour(i), linestyle=style.linestyle(i),
                        lw=lw, label=label, zorder=3)
                i += 1
        if type == "net_benefit":
            lo, hi = -0.1 * result.prevalence, result.prevalence
        elif type == "net_intervention_avoided":
            lo, hi = 0.0, result.nper
        else:
            lo, hi = -0.02, 1.02
        pad = 0.05 * (hi - lo)  # ggplot's default expansion of coord_cartesian
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlim(float(tab["threshold"].min()), float(tab["threshold"].max()))
        ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
        ax.set_xlabel("Threshold probability")
        ylabel = _YLABEL[type]
        if type == "net_intervention_avoided" and result.nper != 1:
            ylabel += f" per {result.nper:g} patients"
        ax.set_ylabel(ylabel)
        # the horizon in words, not the time column's name ("os_months = 60")
        unit = "months" if str(result.time).endswith("_months") else "time units"
        ax.legend(frameon=False, loc="upper right",
                  title=f"Risk of the event by {_number(result.horizon)} {unit}")
        _tidy(ax, new)
    return ax
