"""The log-rank family of tests, as R ``survival::survdiff``, with left-truncated risk sets
under delayed entry (which survdiff refuses: "Right censored data only")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from ..errors import DataError
from ..format import format_p
from ._result import Result, json_safe, warn
from ._times import group_codes, group_levels, level_label, survival_data


@dataclass(frozen=True, eq=False)
class LogRankResult(Result):
    """Observed, expected, variance and the chi-square test of a G-rho family test.

    ``observed`` and ``expected`` are weighted by S(t-)^rho, as survdiff reports them.
    ``trend_*`` is the 1-df test for trend over the ordered groups (see :func:`logrank`).
    ``start`` is the entry-time column whose left-truncated risk sets were used (None: right-
    censored data, R survdiff).
    """

    by: str
    strata: str | None
    rho: float
    groups: tuple
    n: tuple[int, ...]
    observed: np.ndarray
    expected: np.ndarray
    var: np.ndarray
    statistic: float
    df: int
    p: float
    trend_scores: tuple[float, ...] | None
    trend_statistic: float
    trend_p: float
    n_dropped: int
    start: str | None = None

    @property
    def name(self) -> str:
        return "log-rank" if self.rho == 0 else ("Peto-Peto" if self.rho == 1 else "G-rho")

    def to_frame(self) -> pd.DataFrame:
        """One row per group: n, observed, expected, (O-E)^2/E, (O-E)^2/V."""
        o, e, v = self.observed, self.expected, np.diag(self.var)
        with np.errstate(divide="ignore", invalid="ignore"):
            return pd.DataFrame(
                {
                    "group": list(self.groups),
                    "n": list(self.n),
                    "observed": o,
                    "expected": e,
                    "(O-E)^2/E": (o - e) ** 2 / e,
                    "(O-E)^2/V": (o - e) ** 2 / v,
                }
            )

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "test": self.name,
                "by": self.by,
                "strata": self.strata,
                "start": self.start,
                "rho": self.rho,
                "statistic": self.statistic,
                "df": self.df,
                "p": self.p,
                "groups": self.to_frame(),
                "var": self.var,
                "trend": None
                if self.trend_scores is None
                else {"scores": self.trend_scores, "statistic": self.trend_statistic,
                      "df": 1, "p": self.trend_p},
                "n_dropped": self.n_dropped,
                "warnings": self.warnings,
            }
        )

    def _html_head(self) -> str:
        head = (f"<b>{self.name} test</b> by {self.by}: n = {sum(self.n)}, chisq = "
                f"{self.statistic:.1f} on {self.df} df, {format_p(self.p)}")
        if self.start is not None:
            head += f" (left-truncated: entry times from {self.start})"
        return head


def _stratum_oev(
    stop: np.ndarray, start: np.ndarray | None, e: np.ndarray, g: np.ndarray, k: int,
    rho: float, n_times: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected (k) and variance (k x k) within one stratum: survdiff's
    algorithm, vectorised over the distinct times.

    ``stop`` (and ``start``) index one sorted grid of ``n_times`` distinct times. A row is
    at risk at grid time j when ``start < j <= stop`` (R ``Surv(start, stop, event)``); so
    the number at risk is the reverse cumulative count of stops minus that of starts (an
    entry at j is not yet at risk at j). Without ``start`` every row is at risk from 0, as
    in survdiff."""
    cell = stop * k + g
    leave = np.bincount(cell, minlength=n_times * k).reshape(n_times, k)
    dead = np.bincount(cell, weights=e, minlength=n_times * k).reshape(n_times, k)
    risk = leave[::-1].cumsum(axis=0)[::-1]  # n at risk by group
    if start is not None:
        enter = np.bincount(start * k + g, minlength=n_times * k).reshape(n_times, k)
        risk = risk - enter[::-1].cumsum(axis=0)[::-1]
    deaths = dead.sum(axis=1)
    ev = deaths > 0
    # only event times count (a time with censorings or entries only has weight factor 1)
    risk, deaths, dead = risk[ev].astype(float), deaths[ev], dead[ev]
    nrisk = risk.sum(axis=1)
    if rho != 0:
        # left-continuous KM of the pooled stratum, S(t-), from the same (left-truncated)
        # risk sets: R survfit(Surv([start, ]stop, event) ~ 1)
        surv = np.cumprod(1.0 - deaths / nrisk)
        wt = np.concatenate(([1.0], surv[:-1])) ** rho
    else:
        wt = np.ones(nrisk.size)
    observed = (wt[:, None] * dead).sum(axis=0)
    frac = risk / nrisk[:, None]
    expected = ((wt * deaths)[:, None] * frac).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kk = np.where(nrisk > 1, wt**2 * deaths * (nrisk - deaths) / (nrisk - 1), 0.0)
    # hypergeometric: V_gh = sum kk * p_g (delta_gh - p_h), p = n_g / n
    var = np.diag((kk[:, None] * frac).sum(axis=0)) - (frac * kk[:, None]).T @ frac
    return observed, expected, var


def logrank(
    data: Any,
    by: str,
    strata: str | None = None,
    rho: float = 0,
    trend: bool | Sequence[float] = False,
    time: str = "os_months",
    event: str = "os_event",
    start: str | None | bool = None,
) -> LogRankResult:
    """Log-rank (``rho=0``) or Peto-Peto (``rho=1``) test of the G-rho family, matching R
    ``survdiff(Surv(time, event) ~ by + strata(strata), data, rho = rho)``: observed and
    expected events per group (weighted by S(t-)^rho, S the pooled left-continuous KM of
    the stratum), their variance, chisq, df = groups with E > 0 minus 1, and p.

    **Delayed entry (left truncation).** With an entry time (``start``, or by default a
    cohort's ``entry_months``, as :func:`metsurv.stats.km` and :func:`metsurv.stats.cox`
    use it) the risk set at each event time t is the rows with ``start < t <= time``; O, E,
    the hypergeometric variance and the G-rho weight (S(t-) of the left-truncated pooled KM,
    R ``survfit(Surv(start, time, event) ~ 1)``) are computed from those risk sets as
    above. R ``survdiff`` refuses such data ("Right censored data only"); this is the
    test SAS PROC LIFETEST computes with ``ENTRY=`` (not checked against SAS here; Klein &
    Moeschberger, Survival Analysis, 2nd ed. 2003, chapter 7, with left-truncated risk
    sets). It is tested against a direct R computation of O, E and V from the risk sets
    (``tests/reference/make_logrank_entry.R``), and for ``rho=0`` it equals the score test
    of R ``coxph(Surv(start, time, event) ~ by [+ strata(s)])$score`` with ``ties =
    "breslow"`` when no event times are tied, ``ties = "exact"`` in general (Breslow's
    information lacks the hypergeometric factor (n - d) / (n - 1) at d tied events, so
    its score test is then smaller). With every entry at 0 the result is survdiff's. The
    column used is recorded in ``start`` of the result.

    ``trend=True`` (scores 1..k in group order) or a sequence of scores adds the test for
    trend over ordered groups, computed from the same (stratum-summed) O, E and V:
    ``chisq = (s'(O - E))^2 / (s' V s)`` on 1 df (Collett, Modelling Survival Data in
    Medical Research, 3rd ed. 2015, section 2.7; Klein & Moeschberger 2003, section 7.4).
    In R: ``sd <- survdiff(...); s <- 1:k;
    sum(s * (rowSums(sd$obs) - rowSums(sd$exp)))^2 / (t(s) %*% sd$var %*% s)``.
    Near-tied times are merged first (R ``aeqSurv``; entry and follow-up times together).
    Rows with a missing time, event, entry time, group or stratum are dropped and counted
    in ``n_dropped``.

    Groups with no expected events (nobody at risk at any event time, e.g. a group that
    entered after the last event) are left out of the
    test as survdiff leaves them out, with a warning; when one group is left R reports
    chisq 0 on 0 df and p = 1, and so does ``logrank``. Without any event R reports chisq 0
    on -1 df and p = NA: ``p`` is NaN, with a warning.

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient.
    by : str
        Grouping column (at least two groups after dropping missing values), or an R
        formula ``"Surv([start, ]time, event) ~ by [+ strata(s)]"`` naming time, event,
        entry time, group and stratum (:func:`metsurv.stats.formula.parse_formula`).
    strata : str, optional
        Stratification column: O, E and V are summed over strata (R ``strata()``).
    rho : float
        0 log-rank, 1 Peto-Peto (Fleming-Harrington G-rho weight S(t-)^rho).
    trend : bool or sequence of float
        Add the 1-df test for trend (scores 1..k, or those given).
    time, event : str
        Follow-up time (months) and event indicator.
    start : str, None or False
        Entry time column (months, ``start < time`` on every row) for left-truncated risk
        sets. ``None``: a cohort's ``entry_months`` when ``time`` is its own
        ``os_months``/``dfs_months`` and some patient entered late
        (:func:`metsurv.stats._times.default_start`), else none; ``False``: ignore entry
        times (right-censored data, R survdiff).

    Returns
    -------
    LogRankResult
        ``statistic``, ``df``, ``p``, per-group ``observed``/``expected`` (length k),
        ``var`` (k x k), ``start`` (the entry column used, or None), ``warnings``.

    Raises
    ------
    DataError
        Fewer than two groups, or bad times, entry times (``start >= time``) or event
        codes.
    ValueError
        ``trend`` scores not one per group.

    >>> df = pd.DataFrame({"os_months": [1, 2, 3, 4, 5, 6, 7, 8],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 0],
    ...                    "arm": ["a", "a", "a", "a", "b", "b", "b", "b"]})
    >>> res = logrank(df, by="arm")  # R: survdiff(Surv(os_months, os_event) ~ arm, df)
    >>> res.df, round(res.statistic, 4)  # R: $chisq 5.347772
    (1, 5.3478)

    Two patients of arm b entered follow-up late, at month 4.5 (left truncation):

    >>> late = df.assign(entry_months=[0, 0, 0, 0, 4.5, 0, 4.5, 0])
    >>> res = logrank(late, by="arm")  # entry_months by default
    >>> res.start, round(res.statistic, 4)  # R: coxph(Surv(entry_months, os_months,
    ... # os_event) ~ arm, late, ties = "breslow")$score 2.863636 (no tied event times)
    ('entry_months', 2.8636)
    """
    if "~" in by:
        from .formula import parse_formula

        f = parse_formula(by)
        if len(f.covariates) != 1 or ":" in f.covariates[0] or len(f.strata) > 1:
            raise ValueError(f"logrank takes one group column and at most one strata() "
                             f"column: {by!r}")
        by, time, event = f.covariates[0], f.time, f.event
        strata = f.strata[0] if f.strata else strata
        start = f.start if f.start is not None else start
    sd = survival_data(data, time, event, [by, strata] if strata else [by], start=start)
    levels = group_levels(sd.frame[by])
    k = len(levels)
    if k < 2:
        have = "none" if k == 0 else f"one: {level_label(levels[0])!r}"
        raise DataError(f"log-rank test needs at least two groups; {by!r} has {have} "
                        f"(after dropping {sd.n_dropped} row(s) with a missing value)",
                        column=by)
    g = group_codes(sd.frame[by], levels)
    if strata is None:
        s = np.zeros(g.size, dtype=np.int64)
        n_strata = 1
    else:
        slev = group_levels(sd.frame[strata])
        s = group_codes(sd.frame[strata], slev)
        n_strata = len(slev)
    if sd.start is None:
        stop, entry, n_times = sd.time_code, None, sd.unique_times.size
    else:
        # one grid of the (jointly merged, so exactly equal where tied) entry and exit times
        grid = np.unique(np.concatenate([sd.unique_times, sd.start]))
        stop, entry = np.searchsorted(grid, sd.time), np.searchsorted(grid, sd.start)
        n_times = grid.size
    observed, expected, var = np.zeros(k), np.zeros(k), np.zeros((k, k))
    for j in range(n_strata):
        m = s == j
        if m.any():
            o, ex, v = _stratum_oev(stop[m], None if entry is None else entry[m], sd.event[m],
                                    g[m], k, float(rho), n_times)
            observed += o
            expected += ex
            var += v
    notes: list[str] = []
    # survdiff: drop groups with E = 0, then the first remaining group
    use = np.flatnonzero(expected > 0)
    if use.size < k and use.size > 0:
        none = ", ".join(repr(level_label(levels[i])) for i in np.flatnonzero(expected <= 0))
        warn(notes, f"group(s) {none} of {by!r} have no expected events (nobody at risk at "
                    "any event time) and are left out of the test, as R survdiff does")
    if use.size < 2:
        stat = 0.0
    else:
        idx = use[1:]
        diff = (observed - expected)[idx]
        stat = float(diff @ np.linalg.solve(var[np.ix_(idx, idx)], diff))
    # R: df = groups with E > 0 minus 1 (-1 without any event), p = pchisq(chisq, df,
    # lower.tail = FALSE): 1 on 0 df, NA on -1 df
    df = int(use.size) - 1
    if df > 0:
        p = float(chi2.sf(stat, df))
    elif df == 0:
        p = 1.0
    else:
        p = float("nan")
        warn(notes, "no events: the log-rank test is not defined (R survdiff: chisq 0 on "
                    "-1 df, p = NA)")
    scores: tuple[float, ...] | None = None
    t_stat = t_p = float("nan")
    if trend is not False:
        sc = np.arange(1.0, k + 1) if trend is True else np.asarray(trend, dtype=float)
        if sc.size != k:
            raise ValueError(f"trend needs {k} scores (one per group), got {sc.size}")
        scores = tuple(float(x) for x in sc)
        t_stat = float((sc @ (observed - expected)) ** 2 / (sc @ var @ sc))
        t_p = float(chi2.sf(t_stat, 1))
    return LogRankResult(
        by=by,
        strata=strata,
        rho=float(rho),
        groups=tuple(level_label(lev) for lev in levels),
        n=tuple(int(x) for x in np.bincount(g, minlength=k)),
        observed=observed,
        expected=expected,
        var=var,
        statistic=stat,
        df=df,
        p=p,
        trend_scores=scores,
        trend_statistic=t_stat,
        trend_p=t_p,
        n_dropped=sd.n_dropped,
        start=sd.start_name,
        warnings=tuple(notes),
    )
