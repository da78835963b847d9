"""Kaplan-Meier estimates, as R ``survival::survfit(Surv(time, event) ~ by)``, with delayed
entry (``Surv(start, stop, event)``) and case weights (``weights =``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..format import format_num
from ._result import Result, json_safe, warn
from ._times import AEQ_TOLERANCE, group_codes, group_levels, level_label, survival_data

CONF_TYPES = ("log", "log-log", "plain")
_TABLE_COLUMNS = ["time", "n_risk", "n_event", "n_censor", "estimate", "std_err", "lower", "upper"]
_AT_COLUMNS = ["time", "n_risk", "estimate", "std_err", "lower", "upper"]


def _confint(
    surv: np.ndarray, se_cumhaz: np.ndarray, conf_type: str, conf_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits as R survival 3.5 ``survfit_confint`` (se on the cumulative-hazard
    scale). Undefined limits (log of 0, log-log at 0 or 1) are NaN, as R gives NA."""
    z = norm.ppf(1 - (1 - conf_level) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            half = se_cumhaz * surv * z
            lower = np.fmax(surv - half, 0.0)
            upper = np.fmin(surv + half, 1.0)
            bad = np.isnan(half)
            lower[bad] = np.nan
            upper[bad] = np.nan
        elif conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            lower = np.exp(np.log(xx) - z * se_cumhaz)
            upper = np.fmin(np.exp(np.log(xx) + z * se_cumhaz), 1.0)
            upper[np.isnan(lower)] = np.nan
        else:  # log-log
            xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
            half = z * se_cumhaz / np.log(xx)
            loglog = np.log(-np.log(xx))
            lower = np.exp(-np.exp(loglog - half))
            upper = np.exp(-np.exp(loglog + half))
    return lower, upper


def _first_below_half(y: np.ndarray, x: np.ndarray) -> float:
    """R print.survfit's ``minmin``: the first x whose y is <= 0.5 (NA y skipped); when
    that y equals 0.5 (within all.equal tolerance) and the curve drops further later, the
    midpoint between that x and the x of the next drop (the flat-at-0.5 case)."""
    # R compares with all.equal, whose tolerance is aeqSurv's
    keep = ~np.isnan(y) & (y < 0.5 + AEQ_TOLERANCE)
    if not keep.any():
        return float("nan")
    xk, yk = x[keep], y[keep]
    if abs(yk[0] - 0.5) < AEQ_TOLERANCE:
        lower = np.flatnonzero(yk < yk[0])
        if lower.size:
            return float((xk[0] + xk[lower[0]]) / 2)
    return float(xk[0])


def followed(n_risk: Any, estimate: Any) -> Any:
    """Whether a survival estimate at t rests on follow-up: someone is still at risk at t
    (``n_risk > 0``), or the curve has already reached 0. After a curve's last time R's
    ``summary(fit, times, extend = TRUE)`` and ``print(fit, rmean = tau)`` carry the last
    value forward, which reports survival nobody was observed to have. metsurv's one
    "beyond follow-up" rule: the IRLM battery, :func:`metsurv.stats.rmst.rmst` and the
    report use it. Scalars give a bool, arrays an array.

    >>> followed(0, 0.0), followed(0, 0.12), followed(3, 0.12)
    (True, False, True)
    >>> followed(np.array([2, 0]), np.array([0.5, 0.3])).tolist()
    [True, False]
    """
    ok = (np.asarray(n_risk) > 0) | (np.asarray(estimate) == 0)
    return bool(ok) if ok.ndim == 0 else ok


@dataclass(frozen=True, eq=False)
class KMCurve(Result):
    """One Kaplan-Meier curve. ``table`` has one row per distinct stop time (events and
    censorings, as ``summary(fit, censored = TRUE)``; a censoring at Inf is a row at
    ``inf``, as in R); ``std_err`` is the standard error of S(t), as the ``std.err`` of R
    ``summary.survfit``. There is no ``n_enter`` column: R survival 3.5-3 reports
    ``n.enter`` only for a robust fit of ``(start, stop]`` data with an id, and there it
    loses the entries that fall strictly between the first two times. ``n`` counts records; with case weights ``events``, ``n_risk``,
    ``n_event`` and ``n_censor`` are sums of weights, as R reports them."""

    group: Any
    n: int
    events: float
    table: pd.DataFrame
    median: float
    median_lower: float
    median_upper: float
    conf_type: str
    conf_level: float

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    @property
    def censor_times(self) -> np.ndarray:
        """Times with at least one censoring (the tick marks of a KM figure)."""
        return self.table.loc[self.table["n_censor"] > 0, "time"].to_numpy()

    def steps(self) -> pd.DataFrame:
        """Right-continuous step data for drawing, starting at (0, 1): time, estimate,
        lower, upper (limits at time 0 are 1)."""
        start = pd.DataFrame({"time": [0.0], "estimate": [1.0], "lower": [1.0], "upper": [1.0]})
        rows = self.table[["time", "estimate", "lower", "upper"]]
        if len(rows) and rows["time"].iloc[0] <= 0:
            return rows.reset_index(drop=True)
        return pd.concat([start, rows], ignore_index=True)

    @property
    def median_n_risk(self) -> float:
        """How many the median rests on: the number at risk at its time (``at``'s rule),
        NaN when the median is not reached. A report under small-cell suppression hides a
        median resting on fewer than k, as it hides such a survival estimate."""
        if not np.isfinite(self.median):
            return float("nan")
        return float(self.at([float(self.median)])["n_risk"].iloc[0])

    def quantile(self, probs: Sequence[float]) -> dict[float, float]:
        """Survival-time quantiles as R ``quantile(survfit, probs)$quantile``: for each p
        the first time the curve is at or below 1 - p; where it equals 1 - p over an
        interval, the midpoint of that interval, which ends at the next drop or, if none,
        the last time (R's quantile and print's median differ there: the median of
        ``Surv(c(1, 2, 3, 4), c(1, 1, 0, 0))`` is 2 in print, 3 in quantile). NaN: not
        reached. Keys are ``probs``; times in the curve's unit.

        >>> f = km(pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 0]}), time="t", event="e")
        >>> f.curves[0].quantile([0.25, 0.5])  # R: quantile(f, c(.25, .5)): 1.5, 3
        {0.25: 1.5, 0.5: 3.0}
        """
        t = self.table["time"].to_numpy(float)
        s = self.table["estimate"].to_numpy(float)
        out = {}
        for p in probs:
            at_or_below = np.flatnonzero(s <= 1 - p + AEQ_TOLERANCE)
            if not at_or_below.size:
                out[p] = float("nan")
                continue
            i = at_or_below[0]
            if abs(s[i] - (1 - p)) < AEQ_TOLERANCE:  # flat at 1 - p: to the next drop
                drop = np.flatnonzero(s[i + 1:] < s[i] - AEQ_TOLERANCE)
                out[p] = float((t[i] + (t[i + 1 + drop[0]] if drop.size else t[-1])) / 2)
            else:
                out[p] = float(t[i])
        return out

    def at(self, times: Sequence[float]) -> pd.DataFrame:
        """Survival at given times as R ``summary(fit, times = times, extend = TRUE)``:
        the estimate of the last distinct time <= t, and ``n_risk`` the risk set of the
        first distinct time >= t (R's rule; without delayed entry this is the number of
        subjects with time >= t, with it the number with ``start < u <= stop`` at that time
        u, so it is right for left-truncated data). Before the first time: S = 1, se 0,
        limits 1. After the last time the estimate is carried forward with ``n_risk`` 0
        (see :func:`followed`)."""
        t = np.asarray(times, dtype=float)
        tab = self.table
        tt = tab["time"].to_numpy()
        idx = np.searchsorted(tt, t, side="right") - 1
        before = idx < 0
        safe = np.where(before, 0, idx)
        out = {"time": t}
        nxt = np.searchsorted(tt, t, side="left")
        risk = np.concatenate((tab["n_risk"].to_numpy(), [0]))
        out["n_risk"] = risk[nxt]
        for col, first in (("estimate", 1.0), ("std_err", 0.0), ("lower", 1.0), ("upper", 1.0)):
            v = tab[col].to_numpy()[safe] if len(tab) else np.full(t.shape, np.nan)
            out[col] = np.where(before, first, v)
        return pd.DataFrame(out)[_AT_COLUMNS]


@dataclass(frozen=True, eq=False)
class KMResult(Result):
    """Kaplan-Meier curves, one per group (``group`` is ``"all"`` without ``by``).
    ``start``/``weights``: the entry-time and case-weight columns used (None when not)."""

    curves: tuple[KMCurve, ...]
    by: str | None
    time: str
    event: str
    conf_type: str
    conf_level: float
    times: tuple[float, ...]
    n_dropped: int
    start: str | None = None
    weights: str | None = None
    variance: str = "greenwood"

    def to_frame(self) -> pd.DataFrame:
        """The estimate tables of all groups stacked, with a ``group`` column."""
        frames = [c.table.assign(group=c.group) for c in self.curves]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return df[["group", *_TABLE_COLUMNS]] if len(df) else df

    def curve(self, group: Any) -> KMCurve:
        for c in self.curves:
            if c.group == group or str(c.group) == str(group):
                return c
        raise KeyError(f"no group {group!r}; groups are {[c.group for c in self.curves]}")

    @property
    def groups(self) -> list:
        return [c.group for c in self.curves]

    def medians(self) -> pd.DataFrame:
        """n, events, median and its CI per group, as R ``print(survfit(...))``."""
        return pd.DataFrame(
            {
                "group": [c.group for c in self.curves],
                "n": [c.n for c in self.curves],
                "events": [c.events for c in self.curves],
                "median": [c.median for c in self.curves],
                "lower": [c.median_lower for c in self.curves],
                "upper": [c.median_upper for c in self.curves],
            }
        )

    def survival_at(self, times: Sequence[float] | None = None) -> pd.DataFrame:
        """Survival with CI and numbers at risk at ``times`` (default: those given to km)."""
        t = self.times if times is None else tuple(times)
        frames = [c.at(t).assign(group=c.group) for c in self.curves]
        if not frames:
            return pd.DataFrame(columns=["group", *_AT_COLUMNS])
        return pd.concat(frames, ignore_index=True)[["group", *_AT_COLUMNS]]

    def at_risk(self, times: Sequence[float]) -> pd.DataFrame:
        """Numbers at risk per group (rows) and time (columns), by R's rule (see
        :meth:`KMCurve.at`): time >= t, and entered before the time, for delayed entry."""
        t = list(times)
        rows = {c.group: c.at(t)["n_risk"].to_numpy() for c in self.curves}
        return pd.DataFrame.from_dict(rows, orient="index", columns=t).rename_axis("group")

    def conditional(self, given: float | Sequence[float], times: Sequence[float],
                    data: Any = None, *, extend: bool = False) -> Any:
        """Conditional survival S(t | alive at ``given``) = S(t) / S(given) per group with
        Greenwood SE and CI on this fit's ``conf_type``: see
        :func:`metsurv.stats.conditional.conditional_survival` (``data``: only for a fit
        with fractional case weights; ``extend``: carry the estimate past a group's last
        follow-up, R ``extend = TRUE``, instead of NA). Returns a ``ConditionalResult``
        (``to_frame()``)."""
        from .conditional import conditional_survival

        return conditional_survival(self, given, times, data, extend=extend)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "by": self.by,
                "time": self.time,
                "event": self.event,
                "start": self.start,
                "weights": self.weights,
                "variance": self.variance,
                "conf_type": self.conf_type,
                "conf_level": self.conf_level,
                "n_dropped": self.n_dropped,
                "medians": self.medians(),
                "survival": self.survival_at() if self.times else [],
                "curves": [
                    {"group": c.group, "table": c.table, "censor_times": c.censor_times}
                    for c in self.curves
                ],
                "warnings": self.warnings,
            }
        )

    def _html_head(self) -> str:
        by = f" by {self.by}" if self.by else ""
        n = sum(c.n for c in self.curves)
        events = format_num(sum(c.events for c in self.curves))
        return (f"<b>KMResult</b> Kaplan-Meier {self.time}{by}: n = {n}, events = {events}"
                f" ({self.n_dropped} dropped); median and {self.conf_level:.0%} CI "
                f"({self.conf_type})")

    def _html_frame(self) -> pd.DataFrame:
        return self.medians()

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw the curves into ``ax`` as the report draws a Kaplan-Meier panel
        (:func:`metsurv.report.plotting.plot_km_result`; keyword arguments go there) and
        return the axes. Without ``ax``, a new figure sized for a notebook."""
        from ..report.plotting import plot_km_result

        return plot_km_result(self, ax, **kwargs)


def _ij_variance(
    surv: np.ndarray,
    n_risk: np.ndarray,
    n_event: np.ndarray,
    has_event: np.ndarray,
    cell: np.ndarray,
    entry_cell: np.ndarray | None,
    w: np.ndarray,
) -> np.ndarray:
    """Infinitesimal-jackknife variance of S(t), as R ``survfitkm`` computes it when some
    case weight is not a whole number (``robust = TRUE``, each row its own cluster), for
    every group and pooled time at once (arrays ``k x T``).

    With ``h_j = d_j / n_j`` and ``q_j = 1 / (n_j (1 - h_j))``, the weighted influence of
    row i is ``S(t) w_i sum_{t_j <= t} q_j (Y_i(t_j) h_j - dN_i(t_j))`` and the variance is
    the sum of its squares. Summed in closed form, with no loop over rows: a row that has
    left at ``t_j`` contributes ``w_i^2 (B_j - B(start_i) - e_i q_j)^2``, a row at risk
    ``w_i^2 (B(t) - B(start_i))^2``, ``B`` the running sum of ``q h``; both expanded in
    powers of ``B(start_i)`` so that only per-time sums of the rows are needed.
    ``cell``: ``2 (group T + time) + event`` of each row; ``entry_cell``:
    ``group (T + 1) + index of the first time after the row's start`` (None: no entry
    times)."""
    k, size = surv.shape

    def per_cell(x: np.ndarray) -> np.ndarray:  # k x T x (censored, event)
        return np.bincount(cell, weights=x, minlength=2 * k * size).reshape(k, size, 2)

    def both(x: np.ndarray) -> np.ndarray:  # censored + event (faster than sum(axis=2))
        return x[:, :, 0] + x[:, :, 1]

    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(has_event, n_event / n_risk, 0.0)
        q = np.where(has_event, 1.0 / (n_risk * (1.0 - h)), 0.0)
        b = np.cumsum(h * q, axis=1)
        w2 = w * w
        by_kind = per_cell(w2)
        left_w2 = both(by_kind)
        gone = (b - q) ** 2 * by_kind[:, :, 1] + b**2 * by_kind[:, :, 0]
        if entry_cell is None:  # everyone at risk from the start: B(start) = 0
            total = left_w2.sum(axis=1, keepdims=True)
            var = np.cumsum(gone, axis=1) + (total - np.cumsum(left_w2, axis=1)) * b**2
        else:
            # B at the last time <= each row's start
            b_start = np.hstack((np.zeros((k, 1)), b)).ravel()[entry_cell]
            wb = w2 * b_start
            wbb = wb * b_start
            wb_kind = per_cell(wb)
            left_wb = both(wb_kind)
            left_wbb = both(per_cell(wbb))
            gone += -2 * (b * left_wb - q * wb_kind[:, :, 1]) + left_wbb

            def at_risk(x: np.ndarray, x_left: np.ndarray) -> np.ndarray:
                came = np.bincount(entry_cell, weights=x, minlength=k * (size + 1))
                came = np.cumsum(came.reshape(k, size + 1)[:, :size], axis=1)
                return came - np.cumsum(x_left, axis=1)

            var = (np.cumsum(gone, axis=1) + at_risk(w2, left_w2) * b**2
                   - 2 * b * at_risk(wb, left_wb) + at_risk(wbb, left_wbb))
        var = surv**2 * var
    # at S = 0 every influence is 0 in R (the survivors' weights are 0)
    return np.where(surv == 0, 0.0, np.fmax(var, 0.0))


def _km_arrays(
    g: np.ndarray,
    k: int,
    code: np.ndarray,
    e: np.ndarray,
    size: int,
    w: np.ndarray | None,
    entered: np.ndarray | None,
    robust: bool,
) -> dict[str, np.ndarray]:
    """Counts, Kaplan-Meier and its standard error of ``k`` groups at once on the pooled
    grid of ``size`` distinct stop times (``k x size`` arrays): one bincount per weight
    vector over all rows, no sort and no mask per group. ``g``/``code``/``e``: each row's
    group, time index and event; ``w``: case weights; ``entered``: index of the first time
    after each row's start (delayed entry: the risk set at t is ``start < t <= stop``, R
    ``Surv(start, stop, event)``); ``robust``: the infinitesimal jackknife instead of
    Greenwood's variance."""
    cell = (g * size + code) * 2 + e
    by_kind = np.bincount(cell, minlength=2 * k * size).reshape(k, size, 2)
    cnt = by_kind[:, :, 0] + by_kind[:, :, 1]
    if w is None:
        leave = cnt.astype(float)
        n_event = by_kind[:, :, 1].astype(float)
    else:
        weighted = np.bincount(cell, weights=w, minlength=2 * k * size).reshape(k, size, 2)
        leave = weighted[:, :, 0] + weighted[:, :, 1]
        n_event = weighted[:, :, 1]
    n_risk = np.cumsum(leave[:, ::-1], axis=1)[:, ::-1]
    entry_cell = None
    if entered is not None:
        # a row is not yet at risk at t_j when start >= t_j, i.e. j < entered
        entry_cell = g * (size + 1) + entered
        late = np.bincount(entry_cell, weights=w, minlength=k * (size + 1)).reshape(k, size + 1)
        n_risk = n_risk - np.cumsum(late[:, ::-1], axis=1)[:, ::-1][:, 1:]
    # R steps where some event row has a positive weight (d0 > 0 and d1 > 0); with
    # weights >= 0 that is a positive weighted count
    has_event = n_event > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        # everyone (by weight) at risk has the event: exactly 0, no rounding residue
        all_die = has_event & (n_risk - n_event <= 1e-12 * n_risk)
        surv = np.cumprod(np.where(all_die, 0.0, np.where(has_event, 1.0 - n_event / n_risk,
                                                           1.0)), axis=1)
        if robust:
            var = _ij_variance(surv, n_risk, n_event, has_event, cell, entry_cell,
                               w if w is not None else np.ones(e.size))
            std_err = np.sqrt(var)
            # R survfit_confint(logse = FALSE): se / S, with 0 kept as 0
            se_cumhaz = np.where(std_err == 0, 0.0, std_err / surv)
        else:
            # Greenwood on the cumulative-hazard scale; d = n (curve reaches 0) gives inf
            inc = np.where(has_event, n_event / (n_risk * (n_risk - n_event)), 0.0)
            inc[all_die] = np.inf
            se_cumhaz = np.sqrt(np.cumsum(inc, axis=1))
            std_err = surv * se_cumhaz
    return {"cnt": cnt, "leave": leave, "n_event": n_event, "n_risk": n_risk, "surv": surv,
            "std_err": std_err, "se_cumhaz": se_cumhaz}


def _km_curve(
    group: Any,
    arrays: dict[str, np.ndarray],
    i: int,
    unique_times: np.ndarray,
    weighted: bool,
    conf_type: str,
    conf_level: float,
) -> KMCurve:
    """Group ``i`` of :func:`_km_arrays` as a curve: the rows of its own times."""
    present = arrays["cnt"][i] > 0
    utime = unique_times[present]
    n_risk, n_event, leave = (arrays[c][i][present] for c in ("n_risk", "n_event", "leave"))
    surv, std_err = arrays["surv"][i][present], arrays["std_err"][i][present]
    lower, upper = _confint(surv, arrays["se_cumhaz"][i][present], conf_type, conf_level)
    if not weighted:
        n_risk = np.rint(n_risk).astype(np.int64)
        n_event = n_event.astype(np.int64)
    table = pd.DataFrame(
        {
            "time": utime,
            "n_risk": n_risk,
            "n_event": n_event,
            "n_censor": leave - n_event if weighted
            else np.rint(leave).astype(np.int64) - n_event,
            "estimate": surv,
            "std_err": std_err,
            "lower": lower,
            "upper": upper,
        }
    )
    return KMCurve(
        group=group,
        n=int(arrays["cnt"][i].sum()),
        events=float(n_event.sum()) if weighted else int(n_event.sum()),
        table=table,
        median=_first_below_half(surv, utime),
        # R print.survfit: the CI of the median is where the lower and upper
        # pointwise limits cross 0.5 (Brookmeyer-Crowley style inversion)
        median_lower=_first_below_half(lower, utime),
        median_upper=_first_below_half(upper, utime),
        conf_type=conf_type,
        conf_level=conf_level,
    )


def _from_formula(text: str, start: Any) -> tuple[str | None, str, str, Any]:
    """(by, time, event, start) of ``"Surv([start,] time, event) ~ by"`` (``~ 1``: no
    groups; one grouping column, written as a term or as ``strata(by)``)."""
    from .formula import parse_formula

    f = parse_formula(text)
    groups = [*f.covariates, *f.strata]
    if len(groups) > 1 or any(":" in g for g in groups) or f.cluster is not None:
        raise ValueError(f"km takes one grouping column on the right of {text!r}; make one "
                         "column of the combinations first")
    return (groups[0] if groups else None, f.time, f.event,
            f.start if f.start is not None else start)


def km(
    data: Any,
    by: str | None = None,
    time: str = "os_months",
    event: str = "os_event",
    conf_type: str = "log-log",
    conf_level: float = 0.95,
    times: Sequence[float] | None = None,
    *,
    start: str | None | bool = None,
    weights: str | None = None,
) -> KMResult:
    """Kaplan-Meier survival per group, matching R
    ``survfit(Surv(time, event) ~ by, data, conf.type = conf_type, conf.int = conf_level)``
    (survival 3.5), its ``summary(fit, censored = TRUE)`` table, ``print(fit)`` median and
    CI (including R's midpoint rule when the curve is flat at exactly 0.5) and
    ``summary(fit, times = times, extend = TRUE)``.

    **Default CI differs from R:** metsurv uses ``conf_type="log-log"`` (R's default is
    ``"log"``); pass ``conf_type="log"`` for R's default output. Near-tied times are merged
    first (R ``aeqSurv``). Rows with a missing time, event, start or group are dropped and
    counted in ``n_dropped``. Groups without events, with one patient, or all censored give
    NaN medians; a group without events adds a warning.

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient (or per ``(start, stop]`` interval).
    by : str, optional
        Grouping column; one curve per level (R's level order for a Categorical). Or an
        R formula ``"Surv([start,] time, event) ~ by"`` (``~ 1`` for one curve), which
        then names ``time``, ``event`` and ``start`` (parsed by
        :func:`metsurv.stats.formula.parse_formula`, never evaluated).
    time, event : str
        Follow-up time (months; a censoring time may be ``inf``, which R keeps as a table
        row at ``Inf``) and event indicator (1/0 or bool).
    conf_type, conf_level : str, float
        Pointwise CI transform (``"log-log"``, ``"log"``, ``"plain"``) and level.
    times : sequence of float, optional
        Times for :meth:`KMResult.survival_at`.
    start : str or False, optional
        Entry time column (delayed entry, left truncation): R
        ``survfit(Surv(start, time, event) ~ by)``; the risk set at t is
        ``start < t <= time``. ``None`` on a Cohort means its ``entry_months`` (see
        :func:`metsurv.stats._times.default_start`); ``False`` ignores entry times. The
        column used is ``result.start``.
    weights : str, optional
        Case-weight column (finite, >= 0): R ``survfit(..., weights = w)``. ``n_risk``,
        ``n_event`` and ``n_censor`` are then sums of weights, as R reports them. The
        standard error is R's: Greenwood's formula on the weighted counts when every
        weight is a whole number, else (R sets ``robust = TRUE``) the infinitesimal
        jackknife (``result.variance`` says which).

    Returns
    -------
    KMResult
        ``curves`` (one :class:`KMCurve` per group, its ``table`` with columns time,
        n_risk, n_event, n_censor, estimate, std_err, lower, upper), ``medians()``,
        ``survival_at()``, ``warnings``.

    Raises
    ------
    KeyError
        A named column is absent.
    DataError
        Bad times, event codes, entry times or weights (see
        :func:`metsurv.stats._times.survival_data`).
    ValueError
        Bad ``conf_type`` or ``conf_level``.

    Examples
    --------
    >>> df = pd.DataFrame({"os_months": [1, 2, 3, 4, 5, 6], "os_event": [1, 0, 1, 1, 0, 1]})
    >>> fit = km(df, times=[3])  # R: f <- survfit(Surv(os_months, os_event) ~ 1, df)
    >>> fit.curves[0].median  # R: summary(f)$table["median"]
    4.0
    >>> round(float(fit.survival_at()["estimate"][0]), 4)  # R: summary(f, times = 3)$surv
    0.625
    >>> late = df.assign(entry=[0, 0, 2, 2, 0, 0])  # R: Surv(entry, os_months, os_event)
    >>> km(late, start="entry").curves[0].table["n_risk"].tolist()
    [4, 3, 4, 3, 2, 1]
    >>> km(late, "Surv(entry, os_months, os_event) ~ 1").start
    'entry'
    """
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be between 0 and 1, got {conf_level!r}")
    if by is not None and "~" in by:
        by, time, event, start = _from_formula(by, start)
    sd = survival_data(data, time, event, [by] if by else [], start=start, weights=weights)
    if by is None:
        labels = ["all"]
        g = np.zeros(sd.time.size, dtype=np.int64)
    else:
        levels = group_levels(sd.frame[by])
        labels = [level_label(lev) for lev in levels]
        g = group_codes(sd.frame[by], levels)
    # R survfitKM: robust (IJ) variance as soon as any weight is not a whole number
    robust = sd.weight is not None and bool(np.any(sd.weight != np.floor(sd.weight)))
    entered = (None if sd.start is None
               else np.searchsorted(sd.unique_times, sd.start, side="right"))
    arrays = _km_arrays(g, len(labels), sd.time_code, sd.event, sd.unique_times.size,
                        sd.weight, entered, robust)
    curves = tuple(_km_curve(lab, arrays, i, sd.unique_times, sd.weight is not None,
                             conf_type, conf_level) for i, lab in enumerate(labels))
    notes: list[str] = []
    for c in curves:
        if c.events == 0:
            what = "the data have" if by is None else f"group {c.group!r} has"
            warn(notes, f"{what} no events: survival stays at 1 and the median is not "
                        "reached (NA)")
    return KMResult(
        curves=curves,
        by=by,
        time=time,
        event=event,
        conf_type=conf_type,
        conf_level=conf_level,
        times=tuple(float(x) for x in times) if times is not None else (),
        n_dropped=sd.n_dropped,
        start=sd.start_name,
        weights=weights,
        variance="infinitesimal jackknife" if robust else "greenwood",
        warnings=tuple(notes),
    )
