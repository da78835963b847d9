"""Kaplan-Meier estimates, as R ``survival::survfit(Surv(time, event) ~ by)``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ._result import Result, json_safe
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
    """One Kaplan-Meier curve. ``table`` has one row per distinct time (events and
    censorings, as ``summary(fit, censored = TRUE)``); ``std_err`` is the Greenwood
    standard error of S(t), as the ``std.err`` of R ``summary.survfit``."""

    group: Any
    n: int
    events: int
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

    def at(self, times: Sequence[float]) -> pd.DataFrame:
        """Survival at given times as R ``summary(fit, times = times, extend = TRUE)``:
        the estimate of the last distinct time <= t, and ``n_risk`` the number of
        subjects with time >= t. Before the first time: S = 1, se 0, limits 1. After the
        last time the estimate is carried forward with ``n_risk`` 0 (see :func:`followed`)."""
        t = np.asarray(times, dtype=float)
        tab = self.table
        tt = tab["time"].to_numpy()
        idx = np.searchsorted(tt, t, side="right") - 1
        before = idx < 0
        safe = np.where(before, 0, idx)
        out = {"time": t}
        # n at risk at t: n minus everyone whose time is < t
        leaving = np.concatenate(([0], np.cumsum(tab["n_event"] + tab["n_censor"])))
        out["n_risk"] = self.n - leaving[np.searchsorted(tt, t, side="left")]
        for col, first in (("estimate", 1.0), ("std_err", 0.0), ("lower", 1.0), ("upper", 1.0)):
            v = tab[col].to_numpy()[safe] if len(tab) else np.full(t.shape, np.nan)
            out[col] = np.where(before, first, v)
        return pd.DataFrame(out)[_AT_COLUMNS]


@dataclass(frozen=True, eq=False)
class KMResult(Result):
    """Kaplan-Meier curves, one per group (``group`` is ``"all"`` without ``by``)."""

    curves: tuple[KMCurve, ...]
    by: str | None
    time: str
    event: str
    conf_type: str
    conf_level: float
    times: tuple[float, ...]
    n_dropped: int

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
        """Numbers at risk (time >= t) per group (rows) and time (columns)."""
        t = list(times)
        rows = {c.group: c.at(t)["n_risk"].to_numpy() for c in self.curves}
        return pd.DataFrame.from_dict(rows, orient="index", columns=t).rename_axis("group")

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "by": self.by,
                "time": self.time,
                "event": self.event,
                "conf_type": self.conf_type,
                "conf_level": self.conf_level,
                "n_dropped": self.n_dropped,
                "medians": self.medians(),
                "survival": self.survival_at() if self.times else [],
                "curves": [
                    {"group": c.group, "table": c.table, "censor_times": c.censor_times}
                    for c in self.curves
                ],
            }
        )

    def _repr_html_(self) -> str:
        head = f"<b>KMResult</b> ({self.conf_type} CI, {self.n_dropped} rows dropped)"
        return head + self.medians().to_html(index=False, na_rep="NA")


def _km_curve(
    group: Any,
    code: np.ndarray,
    e: np.ndarray,
    unique_times: np.ndarray,
    conf_type: str,
    conf_level: float,
) -> KMCurve:
    """One curve from the rows' codes into the (pooled, merged) distinct times: counting
    with bincount needs no sort per group."""
    cnt = np.bincount(code, minlength=unique_times.size)
    present = cnt > 0
    counts = cnt[present]
    n_event = np.bincount(code, weights=e, minlength=unique_times.size)[present].astype(np.int64)
    utime = unique_times[present]
    n = int(code.size)
    n_risk = n - np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - n_event / n_risk)
        # Greenwood on the cumulative-hazard scale; d = n (curve reaches 0) gives inf
        inc = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
        se_cumhaz = np.sqrt(np.cumsum(inc))
        std_err = surv * se_cumhaz
    lower, upper = _confint(surv, se_cumhaz, conf_type, conf_level)
    table = pd.DataFrame(
        {
            "time": utime,
            "n_risk": n_risk,
            "n_event": n_event,
            "n_censor": (counts - n_event).astype(np.int64),
            "estimate": surv,
            "std_err": std_err,
            "lower": lower,
            "upper": upper,
        }
    )
    return KMCurve(
        group=group,
        n=n,
        events=int(e.sum()),
        table=table,
        median=_first_below_half(surv, utime),
        # R print.survfit: the CI of the median is where the lower and upper
        # pointwise limits cross 0.5 (Brookmeyer-Crowley style inversion)
        median_lower=_first_below_half(lower, utime),
        median_upper=_first_below_half(upper, utime),
        conf_type=conf_type,
        conf_level=conf_level,
    )


def km(
    data: Any,
    by: str | None = None,
    time: str = "os_months",
    event: str = "os_event",
    conf_type: str = "log-log",
    conf_level: float = 0.95,
    times: Sequence[float] | None = None,
) -> KMResult:
    """Kaplan-Meier survival per group, matching R
    ``survfit(Surv(time, event) ~ by, data, conf.type = conf_type, conf.int = conf_level)``
    (survival 3.5), its ``summary(fit, censored = TRUE)`` table, ``print(fit)`` median and
    CI (including R's midpoint rule when the curve is flat at exactly 0.5) and
    ``summary(fit, times = times, extend = TRUE)``.

    **Default CI differs from R:** metsurv uses ``conf_type="log-log"`` (R's default is
    ``"log"``); pass ``conf_type="log"`` for R's default output. ``std_err`` is the
    Greenwood standard error of S(t). Near-tied times are merged first (R ``aeqSurv``).
    Rows with a missing time, event or group are dropped and counted in ``n_dropped``.
    Groups without events, with one patient, or all censored give NaN medians.

    >>> df = pd.DataFrame({"os_months": [1, 2, 3, 4, 5, 6], "os_event": [1, 0, 1, 1, 0, 1]})
    >>> fit = km(df, times=[3])  # R: f <- survfit(Surv(os_months, os_event) ~ 1, df)
    >>> fit.curves[0].median  # R: summary(f)$table["median"]
    4.0
    >>> round(float(fit.survival_at()["estimate"][0]), 4)  # R: summary(f, times = 3)$surv
    0.625
    """
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be between 0 and 1, got {conf_level!r}")
    sd = survival_data(data, time, event, [by] if by else [])
    if by is None:
        parts = [("all", np.ones(sd.time.size, dtype=bool))]
    else:
        levels = group_levels(sd.frame[by])
        codes = group_codes(sd.frame[by], levels)
        parts = [(level_label(lev), codes == i) for i, lev in enumerate(levels)]
    curves = tuple(
        _km_curve(g, sd.time_code[m], sd.event[m], sd.unique_times, conf_type, conf_level)
        for g, m in parts
    )
    return KMResult(
        curves=curves,
        by=by,
        time=time,
        event=event,
        conf_type=conf_type,
        conf_level=conf_level,
        times=tuple(float(x) for x in times) if times is not None else (),
        n_dropped=sd.n_dropped,
    )
