"""The hazard over time: a kernel-smoothed hazard with pointwise CI, and annual hazard
rates with exact Poisson CI. The evidence for a surveillance schedule ("the hazard of
recurrence is highest in the first two years").

**Smoothed hazard** (:func:`smoothed_hazard`). The Ramlau-Hansen (1983) kernel estimator
smooths the Nelson-Aalen increments ``dN(t_j) / Y(t_j)`` (``d_j`` events among ``Y_j`` at
risk at each distinct event time; entry times, when given, shrink the risk sets)::

    h(z) = (1 / b) sum_j K_z((z - t_j) / b) d_j / Y_j
    var h(z) = (1 / b^2) sum_j K_z((z - t_j) / b)^2 d_j / Y_j^2     (Ramlau-Hansen 1983)

with one (global) bandwidth ``b`` and, within ``b`` of either end of the domain ``[0,
tau]``, the boundary kernels of Mueller & Wang (1994, Biometrics 50:61-76, Table 1): for
``z < b`` the kernel ``K_q`` with ``q = z / b`` on ``[-1, q]``; for ``z > tau - b`` the
mirrored ``K_q(-x)`` with ``q = (tau - z) / b``; the Epanechnikov one is
``K_q(x) = 12 (x + 1) / (1 + q)^4 * ((1 - 2q) x + (3q^2 - 2q + 1) / 2)``. This is the
estimator R ``muhaz(times, delta, bw.method = "global", bw.grid = b, b.cor = "both")``
computes (muhaz's Fortran ``hazden``), except that muhaz weights each event by
``1 / (n - i + 1)`` (its rank among sorted times) where this uses ``d_j / Y_j`` (the same
without tied times; with ties the Nelson-Aalen increment), and muhaz has no variance. A
boundary kernel takes negative values, so an estimate can come out below 0: it is set to 0,
as muhaz does, and its CI is NaN. The pointwise CI is on the log scale:
``h exp(+-z_{1-alpha/2} se / h)``.

The domain's right end ``tau`` is, as muhaz's default ``max.time``, the time at which 10
patients remain at risk (linear interpolation of time on the number at risk, R
``approx(fit$n.risk, fit$time, xout = 10)``). **Default bandwidth:**
``b = tau / (4 d^(1/5))`` months, ``d`` the number of events on ``[0, tau]``: twice
Mueller & Wang's pilot bandwidth ``tau / (8 d^(1/5))`` (muhaz's ``bw.pilot``; the pilot is
meant for the bias estimate of their bandwidth search and undersmooths on its own, four times
it smeared the steep first-year hazard of the bundled cohort; the ``d^(-1/5)`` rate is that
of the optimal bandwidth of a second-order kernel). muhaz's search for the
IMSE-optimal global bandwidth is not implemented: pass ``bandwidth=`` (months) to choose.

**Annual hazard** (:func:`annual_hazard`): events and person-years in the intervals
``[0, w], (w, 2w], ...`` months (``w = width``; an event exactly at ``w`` falls in the first,
as R ``pyears`` counts it), the rate per patient-year and its exact (Garwood 1936) Poisson CI
``qchisq(alpha/2, 2d) / (2 PY)``, ``qchisq(1 - alpha/2, 2d + 2) / (2 PY)`` (R
``poisson.test(d, PY)$conf.int``). Intervals without person-time are NaN.

Oracle: tests/reference/make_hazard.R (the kernel sums and boundary kernels written in R
from the formulas above, since muhaz is not installed; ``survival::pyears`` and
``poisson.test`` for the annual rates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _st

from ..errors import DataError
from ..schema import DAYS_PER_MONTH, MAX_MONTHS, MONTHS_PER_YEAR
from ._result import Result, warn
from ._times import (
    SurvivalData,
    group_codes,
    group_levels,
    level_label,
    missing_by_column,
    missing_text,
    survival_data,
)

__all__ = ["HazardResult", "AnnualHazardResult", "smoothed_hazard", "annual_hazard",
           "boundary_kernel", "KERNELS", "MIN_AT_RISK_END", "MAX_INTERVALS"]

#: Kernels (muhaz's names) and their boundary versions (Mueller & Wang 1994, Table 1).
KERNELS = ("epanechnikov", "biquadratic", "rectangle")
#: The domain ends where this many patients remain at risk (muhaz's default max.time).
MIN_AT_RISK_END = 10
#: Points of the default estimation grid (muhaz ``n.est.grid``).
GRID_POINTS = 101

#: At most this many intervals in :func:`annual_hazard` (its work grows with their number).
MAX_INTERVALS = 1000

BANDWIDTH_RULE = ("tau / (4 d^(1/5)) months: tau the time at which 10 patients remain at "
                  "risk, d the events up to tau (twice the Mueller-Wang pilot bandwidth)")



#: the leading constant of Mueller & Wang (1994)'s boundary Epanechnikov kernel (a number of
#: the kernel, not months per year)
_MW_EPANECHNIKOV = 12.0

def boundary_kernel(x: Any, q: float, kernel: str = "epanechnikov") -> np.ndarray:
    """The kernel ``K_q(x)`` of Mueller & Wang (1994, Table 1), zero outside ``[-1, q]``;
    ``q = 1`` is the ordinary (interior) kernel. Each integrates to 1 with first moment 0
    on its support.

    Parameters
    ----------
    x : array-like
        ``(z - t) / b``.
    q : float
        In (0, 1]: the distance to the boundary in bandwidths.
    kernel : {"epanechnikov", "biquadratic", "rectangle"}

    Returns
    -------
    numpy.ndarray, shape of ``x``

    Examples
    --------
    >>> float(boundary_kernel(0.0, 1.0)), float(boundary_kernel(0.0, 0.5))
    (0.75, 0.8888888888888888)
    """
    x = np.asarray(x, dtype=float)
    inside = (x >= -1.0) & (x <= q)
    if q >= 1.0:
        q = 1.0
        if kernel == "epanechnikov":
            k = 0.75 * (1.0 - x * x)
        elif kernel == "biquadratic":
            k = 15.0 / 16.0 * (1.0 - x * x) ** 2
        else:
            k = np.full_like(x, 0.5)
    elif kernel == "epanechnikov":
        k = _MW_EPANECHNIKOV * (x + 1.0) / (1.0 + q) ** 4 * (
            0.5 * (3.0 * q * q - 2.0 * q + 1.0) + x * (1.0 - 2.0 * q))
    elif kernel == "biquadratic":
        k = (60.0 * (x + 1.0) ** 2 * (q - x) / (1.0 + q) ** 6
             * (2.0 * q * q - 2.0 * q + 1.0 + x * (2.0 - 3.0 * q)))
    else:
        k = 2.0 / (1.0 + q) ** 3 * (2.0 * (1.0 - q + q * q) + 3.0 * (1.0 - q) * x)
    return np.where(inside, k, 0.0)


def _end_time(times: np.ndarray, n_risk: np.ndarray, m: int = MIN_AT_RISK_END
              ) -> tuple[float, bool]:
    """(tau, found): the time at which ``m`` remain at risk, interpolated
    between the last distinct time with at least that many at risk and the next (R
    ``approx(n.risk, time, xout = 10)``); the last time when never fewer, or when fewer from
    the start (found False)."""
    below = np.flatnonzero(n_risk < m)
    if below.size == 0:
        return float(times[-1]), True
    j = int(below[0])
    if j == 0:
        return float(times[-1]), False
    y0, y1, t0, t1 = n_risk[j - 1], n_risk[j], times[j - 1], times[j]
    return float(t0 + (m - y0) * (t1 - t0) / (y1 - y0)), True


def _check_time_scale(t: np.ndarray, column: str) -> None:
    """Refuse follow-up beyond :data:`metsurv.schema.MAX_MONTHS` (100 years): times in
    another unit (days, seconds) would give nonsense rates per patient-year and, in
    :func:`annual_hazard`, an unbounded number of intervals. Vectorised: one max."""
    finite = t[np.isfinite(t)]
    if finite.size and finite.max() > MAX_MONTHS:
        raise DataError(
            f"column {column!r}: largest time {finite.max():.6g} is more than "
            f"{MAX_MONTHS:g} months ({MAX_MONTHS / MONTHS_PER_YEAR:g} years); are the times "
            f"in months? (days / {DAYS_PER_MONTH:g} = months)", column=column)


def _note_dropped(notes: list[str], data: Any, sd: SurvivalData, columns: list[str]) -> None:
    """Warn with the number of rows dropped for a missing time, event, entry or group
    (``sd.n_dropped``) and the missing count per column."""
    if not sd.n_dropped:
        return
    which = missing_text(missing_by_column(data, columns))
    warn(notes, f"{sd.n_dropped} row(s) dropped for a missing value ({which}); "
                f"n = {sd.time.size} used", stacklevel=4)


def _risk_table(time: np.ndarray, event: np.ndarray, start: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times (all rows), events and number at risk ``start < t <= time`` at each."""
    ut, code = np.unique(time, return_inverse=True)
    d = np.bincount(code, weights=event, minlength=ut.size)
    return ut, d, _at_risk(time, start, ut)


def _at_risk(time: np.ndarray, start: np.ndarray | None, at: np.ndarray) -> np.ndarray:
    """Number at risk ``start < z <= time`` at each ``z`` of ``at`` (at ``z = 0``: those
    observed from the origin, ``start <= 0 <= time``)."""
    stop = np.sort(time)
    y = stop.size - np.searchsorted(stop, at, side="left")
    if start is not None:
        s = np.sort(start)
        entered = np.where(at == 0, np.searchsorted(s, at, side="right"),
                           np.searchsorted(s, at, side="left"))
        y = y - (s.size - entered)
    return y.astype(float)


def _smooth(zs: np.ndarray, tj: np.ndarray, inc: np.ndarray, inc2: np.ndarray, b: float,
            tau: float, kernel: str) -> tuple[np.ndarray, np.ndarray]:
    """Kernel sums at grid points ``zs`` over event times ``tj`` (increments ``inc`` =
    d/Y, ``inc2`` = d/Y^2): estimate and variance (one pass per grid point, vectorised
    over event times in its window)."""
    est = np.empty(zs.size)
    var = np.empty(zs.size)
    for i, z in enumerate(zs):
        lo = np.searchsorted(tj, z - b, side="left")
        hi = np.searchsorted(tj, z + b, side="right")
        u = (z - tj[lo:hi]) / b
        if z < b:  # left boundary (takes precedence, as muhaz)
            k = boundary_kernel(u, z / b, kernel)
        elif z > tau - b:  # right boundary: mirrored kernel
            k = boundary_kernel(-u, (tau - z) / b, kernel)
        else:
            k = boundary_kernel(u, 1.0, kernel)
        est[i] = np.dot(k, inc[lo:hi]) / b
        var[i] = np.dot(k * k, inc2[lo:hi]) / (b * b)
    return est, var


@dataclass(frozen=True, eq=False)
class HazardResult(Result):
    """Kernel-smoothed hazard per group (method: :mod:`metsurv.stats.hazard`).

    ``table`` (``to_frame()``): one row per group and grid time: ``group``, ``time``
    (months), ``estimate`` (hazard per patient-year), ``std_err``, ``lower``, ``upper``
    (pointwise, log scale, ``conf_level``), ``n_risk`` (at risk at ``time``).
    ``bandwidths``: one row per group: ``group``, ``bandwidth`` (months), ``max_time``
    (tau, months), ``events`` (up to tau), ``n``. ``n``: rows used (all groups);
    ``n_dropped``: rows dropped for a missing time, event, entry or group (as ``km``).
    """

    table: pd.DataFrame
    bandwidths: pd.DataFrame
    by: str | None
    time: str
    event: str
    kernel: str
    conf_level: float
    bandwidth_rule: str
    start: str | None = None
    n: int = 0
    n_dropped: int = 0

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary_frame(self) -> pd.DataFrame:
        return self.bandwidths.copy()

    def plot(self, ax: Any = None, *, unit: str = "years", labels: dict | None = None,
             ci: bool = True) -> Any:
        """Hazard per patient-year against time, a CI band per group, groups in the
        Okabe-Ito colours with line styles (:func:`plot_hazards`). Returns the axes."""
        from ..report.plotting import _new_axes, _tidy, notebook_style

        new = ax is None
        with notebook_style():
            ax = _new_axes(ax)
            plot_hazards(ax, [(str(g) if labels is None else labels.get(g, str(g)),
                               self.table[self.table["group"] == g])
                              for g in self.bandwidths["group"]],
                         unit=unit, ci=ci, legend_title=self.by)
            _tidy(ax, new)
        return ax


def plot_hazards(ax: Any, curves: Sequence[tuple[str, pd.DataFrame]], *,
                 unit: str = "years", ci: bool = True, legend_title: str | None = None,
                 max_time: float | None = None) -> Any:
    """Draw smoothed hazards into ``ax``: ``curves`` are (label, rows of
    :meth:`HazardResult.to_frame`) pairs; x in ``unit`` ("years" or "months"), y per
    patient-year; CI bands (alpha 0.18) where the estimate is positive; Okabe-Ito colours
    with line styles; the y axis from 0 to the highest upper limit, at most twice the
    highest estimate (a band wider than that runs off the top). ``max_time`` (months) clips the x axis."""
    from ..report import style
    from ..schema import TIME_UNITS

    scale = TIME_UNITS[unit].scale
    top = top_est = 0.0
    for i, (label, rows) in enumerate(curves):
        x = rows["time"].to_numpy(float) * scale
        y = rows["estimate"].to_numpy(float)
        shown = x <= max_time * scale if max_time is not None else np.ones(x.size, bool)
        ax.plot(x, y, color=style.colour(i), linestyle=style.linestyle(i), label=label)
        top_est = max(top_est, np.nanmax(y[shown], initial=0.0))
        if ci:
            lo, hi = rows["lower"].to_numpy(float), rows["upper"].to_numpy(float)
            ax.fill_between(x, lo, hi, color=style.colour(i), alpha=0.18, linewidth=0)
            top = max(top, np.nanmax(hi[shown], initial=0.0))
    # the band near the right end (few at risk, boundary kernel) can be many times the
    # curve: the axis stops at twice the highest estimate, the band runs off the top
    top = min(max(top, top_est), 2.0 * top_est)
    ax.set_ylim(0, top * 1.05 if top > 0 else 1.0)
    ax.set_xlim(0, None if max_time is None else max_time * scale)
    ax.set_xlabel(f"{TIME_UNITS[unit].label} after pulmonary metastasectomy")
    ax.set_ylabel("Hazard per patient-year")
    if len(curves) > 1 or legend_title:
        ax.legend(title=legend_title, frameon=False, loc="upper right")
    return ax


def _grid(grid: Any, tau: float) -> np.ndarray:
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        if grid < 2:
            raise DataError(f"grid must be at least 2 points, got {grid}")
        return np.linspace(0.0, tau, int(grid))
    g = np.asarray(grid, dtype=float).ravel()
    if g.size == 0 or not np.isfinite(g).all() or (g < 0).any():
        raise DataError("grid must be a number of points or finite times >= 0 (months)")
    return np.sort(g)


def _groups(data: Any, time: str, event: str, by: str | None, start: Any
            ) -> tuple[Any, list[str], list[str], np.ndarray]:
    """The rows both estimators use (``survival_data``, times checked to be months, the rows
    dropped noted), the group labels and each row's group code (one group "all" without
    ``by``)."""
    sd = survival_data(data, time, event, [by] if by else [], start=start)
    _check_time_scale(sd.time, time)
    notes: list[str] = []
    _note_dropped(notes, data, sd, [time, event, sd.start_name, by])
    if by is None:
        return sd, notes, ["all"], np.zeros(sd.time.size, dtype=np.int64)
    levels = group_levels(sd.frame[by])
    return sd, notes, [level_label(v) for v in levels], group_codes(sd.frame[by], levels)


def smoothed_hazard(data: Any, time: str = "os_months", event: str = "os_event",
                    by: str | None = None, bandwidth: float | None = None,
                    grid: int | Sequence[float] = GRID_POINTS, kernel: str = "epanechnikov",
                    conf_level: float = 0.95, *, start: str | None | bool = None,
                    max_time: float | None = None,
                    min_at_risk: int = MIN_AT_RISK_END) -> HazardResult:
    """Kernel-smoothed hazard (Ramlau-Hansen 1983, Mueller-Wang 1994 boundary kernels) with
    its Ramlau-Hansen variance and a pointwise log-scale CI, per group. Method, default
    bandwidth and R equivalent: module docstring (R ``muhaz(..., bw.method = "global",
    bw.grid = b, b.cor = "both")``; muhaz is not installed, the oracle is the formula in R).

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient.
    time, event : str
        Follow-up (months) and event indicator (1/0 or bool).
    by : str, optional
        Grouping column: one curve per level, each with its own tau and default bandwidth.
    bandwidth : float, optional
        Months (> 0), the same for every group; None: ``tau / (4 d^(1/5))`` per group.
    grid : int or sequence of float
        Number of equally spaced points on ``[0, tau]`` (default 101, muhaz's), or times
        (months); times beyond tau are NaN (with a warning).
    kernel : {"epanechnikov", "biquadratic", "rectangle"}
    conf_level : float
        Level of the pointwise CI.
    start : str or False, optional
        Entry time column (left truncation); None on a Cohort: its ``entry_months``.
    max_time : float, optional
        The domain's right end tau (months) instead of the at-risk rule.
    min_at_risk : int
        The rule's number: tau is where this many remain at risk (muhaz: 10).

    Returns
    -------
    HazardResult
        ``to_frame()``: group, time, estimate (per patient-year), std_err, lower, upper,
        n_risk; ``bandwidths``; ``plot(ax=None)``.

    Raises
    ------
    KeyError
        A named column is absent.
    DataError
        Bad times or event codes, a time beyond ``MAX_MONTHS`` (1200 months: another
        unit?), a bandwidth <= 0, an unknown kernel, a bad grid, a conf_level outside
        (0, 1), or a group without events.

    Warns
    -----
    StatsWarning
        Rows dropped for a missing time, event, entry or group (counted in
        ``n_dropped``), and the notes listed in ``warnings``.

    Examples
    --------
    >>> df = pd.DataFrame({"t": np.arange(1.0, 41.0), "e": 1})
    >>> h = smoothed_hazard(df, "t", "e", bandwidth=6.0, grid=[12.0])
    >>> round(float(h.to_frame()["estimate"][0]) / 12, 4)  # about 1 / 29 at risk per month
    0.0345
    """
    if kernel not in KERNELS:
        raise DataError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    if not 0 < conf_level < 1:
        raise DataError(f"conf_level must be between 0 and 1, got {conf_level!r}")
    if bandwidth is not None and not (np.isfinite(bandwidth) and bandwidth > 0):
        raise DataError(f"bandwidth must be a positive number of months, got {bandwidth!r}")
    sd, notes, labels, g = _groups(data, time, event, by, start)
    zq = float(_st.norm.ppf(0.5 + conf_level / 2))
    frames, bws = [], []
    for i, lab in enumerate(labels):
        sel = g == i
        t, e = sd.time[sel], sd.event[sel].astype(float)
        s0 = sd.start[sel] if sd.start is not None else None
        what = "the data" if by is None else f"group {lab!r}"
        if e.sum() == 0:
            raise DataError(f"{what} has no events: no hazard can be estimated")
        ut, d, y = _risk_table(t, e, s0)
        if max_time is not None:
            tau = float(max_time)
        else:
            tau, found = _end_time(ut, y, min_at_risk)
            if not found:
                warn(notes, f"{what}: fewer than {min_at_risk} patients at risk from the "
                            "start; the domain runs to the last time")
        ev = (d > 0) & (ut <= tau)
        tj, dj, yj = ut[ev], d[ev], y[ev]
        n_ev = float(dj.sum())
        if n_ev == 0:
            raise DataError(f"{what} has no events up to {tau:g} months")
        b = float(bandwidth) if bandwidth is not None else tau / (4.0 * n_ev ** 0.2)
        if 2 * b > tau:
            warn(notes, f"{what}: bandwidth {b:.3g} months is more than half the domain "
                        f"[0, {tau:.3g}]; boundary kernels overlap")
        zs = _grid(grid, tau)
        inside = zs <= tau * (1 + 1e-12)
        if not inside.all():
            warn(notes, f"{what}: grid times beyond {tau:.4g} months (the domain's end) "
                        "are NaN")
        est, var = np.full(zs.size, np.nan), np.full(zs.size, np.nan)
        est[inside], var[inside] = _smooth(zs[inside], tj, dj / yj, dj / (yj * yj), b, tau,
                                           kernel)
        negative = est < 0
        if negative.any():
            warn(notes, f"{what}: the boundary kernel gave a negative estimate at "
                        f"{int(negative.sum())} grid time(s); set to 0 (as muhaz), CI NaN")
        est = np.where(negative, 0.0, est)
        se = np.sqrt(var)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(est > 0, np.exp(zq * se / est), np.nan)
        lower, upper = est / w, est * w
        n_risk = _at_risk(t, s0, zs)
        per_year = MONTHS_PER_YEAR
        frames.append(pd.DataFrame({
            "group": lab, "time": zs, "estimate": est * per_year, "std_err": se * per_year,
            "lower": lower * per_year, "upper": upper * per_year, "n_risk": n_risk}))
        bws.append({"group": lab, "bandwidth": b, "max_time": tau, "events": n_ev,
                    "n": int(sel.sum())})
    return HazardResult(
        table=pd.concat(frames, ignore_index=True), bandwidths=pd.DataFrame(bws), by=by,
        time=time, event=event, kernel=kernel, conf_level=conf_level,
        bandwidth_rule="given" if bandwidth is not None else BANDWIDTH_RULE,
        start=sd.start_name, n=int(sd.time.size), n_dropped=sd.n_dropped,
        warnings=tuple(notes))


@dataclass(frozen=True, eq=False)
class AnnualHazardResult(Result):
    """Hazard rates per interval (method: :mod:`metsurv.stats.hazard`). ``table``: one row
    per group and interval: ``group``, ``start``, ``end`` (months), ``events``,
    ``person_years``, ``rate`` (per patient-year), ``lower``, ``upper`` (exact Poisson,
    ``conf_level``); NaN rate where there is no person-time. ``n``: rows used;
    ``n_dropped``: rows dropped for a missing time, event, entry or group (as ``km``)."""

    table: pd.DataFrame
    by: str | None
    time: str
    event: str
    width: float
    conf_level: float
    start_column: str | None = None
    n: int = 0
    n_dropped: int = 0

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def poisson_ci(events: Any, exposure: Any, conf_level: float = 0.95
               ) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood 1936) CI of a Poisson rate ``events / exposure``, as R
    ``poisson.test(events, exposure)$conf.int``; NaN where exposure is 0.

    >>> lo, hi = poisson_ci([3], [10.0])
    >>> round(float(lo[0]), 6), round(float(hi[0]), 6)
    (0.061867, 0.876727)
    """
    d = np.asarray(events, dtype=float)
    py = np.asarray(exposure, dtype=float)
    a = 1 - conf_level
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(d > 0, _st.chi2.ppf(a / 2, 2 * d) / 2, 0.0) / py
        hi = _st.chi2.ppf(1 - a / 2, 2 * d + 2) / 2 / py
    bad = ~(py > 0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def annual_hazard(data: Any, time: str = "os_months", event: str = "os_event",
                  by: str | None = None, width: float = 12.0, conf_level: float = 0.95,
                  *, start: str | None | bool = None, max_time: float | None = None
                  ) -> AnnualHazardResult:
    """Events, person-years and the hazard rate per patient-year in consecutive intervals
    of ``width`` months (``[0, w], (w, 2w], ...``), with exact Poisson CI: R
    ``pyears(Surv(time, event) ~ tcut(0, breaks), scale = 12)`` and ``poisson.test``.

    Parameters
    ----------
    data : DataFrame or Cohort
    time, event : str
        Follow-up (months) and event indicator.
    by : str, optional
        One set of intervals per level.
    width : float
        Interval width in months (12: yearly).
    conf_level : float
    start : str or False, optional
        Entry time column (person-time counted from entry); None on a Cohort: its
        ``entry_months``.
    max_time : float, optional
        Last interval end (months); default: the longest follow-up, rounded up to ``width``.

    Returns
    -------
    AnnualHazardResult
        ``to_frame()``: group, start, end, events, person_years, rate, lower, upper.

    Raises
    ------
    KeyError, DataError
        Missing columns, bad times or events, ``width`` <= 0, a time beyond ``MAX_MONTHS``
        (1200 months: another unit?), more than ``MAX_INTERVALS`` (1000) intervals.

    Warns
    -----
    StatsWarning
        Rows dropped for a missing time, event, entry or group (counted in ``n_dropped``).

    Examples
    --------
    >>> df = pd.DataFrame({"t": [6.0, 18.0, 30.0], "e": [1, 0, 1]})
    >>> annual_hazard(df, "t", "e").to_frame()[["events", "person_years"]].values.tolist()
    [[1.0, 2.5], [0.0, 1.5], [1.0, 0.5]]
    """
    if not (np.isfinite(width) and width > 0):
        raise DataError(f"width must be a positive number of months, got {width!r}")
    if not 0 < conf_level < 1:
        raise DataError(f"conf_level must be between 0 and 1, got {conf_level!r}")
    if max_time is not None and not (np.isfinite(max_time) and max_time > 0):
        raise DataError(f"max_time must be a positive number of months, got {max_time!r}")
    sd, notes, labels, g = _groups(data, time, event, by, start)
    t = sd.time
    finite = np.isfinite(t)
    end = max_time if max_time is not None else (
        float(np.ceil(t[finite].max() / width) * width) if finite.any() else width)
    if end / width > MAX_INTERVALS:  # before anything of that size is allocated
        raise DataError(f"{end:.6g} months in intervals of width {width:g} is more than "
                        f"{MAX_INTERVALS} intervals (column {time!r}); are the times and "
                        "width in months? Choose a larger width or a smaller max_time")
    k = max(int(np.ceil(end / width - 1e-9)), 1)
    edges = np.arange(k + 1) * float(width)
    s0 = sd.start if sd.start is not None else np.zeros_like(t)
    # the interval of each event: (edges[i], edges[i+1]], an event at 0 in the first
    cell = np.clip(np.searchsorted(edges, t, side="left") - 1, 0, None)
    ev = (sd.event == 1) & (t <= edges[-1])
    events = np.zeros((len(labels), k))
    np.add.at(events, (g[ev], cell[ev]), 1.0)
    months = np.zeros((len(labels), k))
    for j in range(k):  # loop over intervals, vectorised over patients
        pt = np.clip(np.minimum(t, edges[j + 1]) - np.maximum(s0, edges[j]), 0, None)
        months[:, j] = np.bincount(g, weights=pt, minlength=len(labels))
    py = months / MONTHS_PER_YEAR
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(py > 0, events / py, np.nan)
    lo, hi = poisson_ci(events, py, conf_level)
    table = pd.DataFrame({
        "group": np.repeat(np.array(labels, dtype=object), k),
        "start": np.tile(edges[:-1], len(labels)), "end": np.tile(edges[1:], len(labels)),
        "events": events.ravel(), "person_years": py.ravel(), "rate": rate.ravel(),
        "lower": lo.ravel(), "upper": hi.ravel()})
    return AnnualHazardResult(table=table, by=by, time=time, event=event,
                              width=float(width), conf_level=conf_level,
                              start_column=sd.start_name, n=int(sd.time.size),
                              n_dropped=sd.n_dropped, warnings=tuple(notes))
