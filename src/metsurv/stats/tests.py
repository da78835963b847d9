"""The log-rank family of tests, as R ``survival::survdiff``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from ._result import Result, json_safe
from ._times import group_codes, group_levels, level_label, survival_data


@dataclass(frozen=True, eq=False)
class LogRankResult(Result):
    """Observed, expected, variance and the chi-square test of a G-rho family test.

    ``observed`` and ``expected`` are weighted by S(t-)^rho, as survdiff reports them.
    ``trend_*`` is the 1-df test for trend over the ordered groups (see :func:`logrank`).
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
            }
        )

    def _repr_html_(self) -> str:
        head = (f"<b>{self.name} test</b>: chisq = {self.statistic:.4g} on {self.df} df, "
                f"p = {self.p:.4g}")
        return head + self.to_frame().to_html(index=False, na_rep="NA")


def _stratum_oev(
    code: np.ndarray, e: np.ndarray, g: np.ndarray, k: int, rho: float, n_times: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected (k) and variance (k x k) within one stratum: survdiff's
    algorithm, vectorised over the distinct times (``code`` indexes them)."""
    cell = code * k + g
    leave = np.bincount(cell, minlength=n_times * k).reshape(n_times, k)
    dead = np.bincount(cell, weights=e, minlength=n_times * k).reshape(n_times, k)
    present = leave.any(axis=1)
    leave, dead = leave[present], dead[present]
    risk = leave[::-1].cumsum(axis=0)[::-1].astype(float)  # n at risk by group
    nrisk = risk.sum(axis=1)
    deaths = dead.sum(axis=1)
    nb = nrisk.size
    if rho != 0:
        # left-continuous KM of the pooled stratum: S(t-)
        surv = np.cumprod(1.0 - deaths / nrisk)
        wt = np.concatenate(([1.0], surv[:-1])) ** rho
    else:
        wt = np.ones(nb)
    ev = deaths > 0
    wt, risk, nrisk, deaths, dead = wt[ev], risk[ev], nrisk[ev], deaths[ev], dead[ev]
    observed = (wt[:, None] * dead).sum(axis=0)
    frac = risk / nrisk[:, None]
    expected = ((wt * deaths)[:, None] * frac).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kk = np.where(nrisk > 1, wt**2 * deaths * (nrisk - deaths) / (nrisk - 1), 0.0)
    # V_gh = sum kk * p_g (delta_gh - p_h), p = n_g / n
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
) -> LogRankResult:
    """Log-rank (``rho=0``) or Peto-Peto (``rho=1``) test of the G-rho family, matching R
    ``survdiff(Surv(time, event) ~ by + strata(strata), data, rho = rho)``: observed and
    expected events per group (weighted by S(t-)^rho, S the pooled left-continuous KM of
    the stratum), their variance, chisq, df = groups with E > 0 minus 1, and p.

    ``trend=True`` (scores 1..k in group order) or a sequence of scores adds the test for
    trend over ordered groups, computed from the same (stratum-summed) O, E and V:
    ``chisq = (s'(O - E))^2 / (s' V s)`` on 1 df (Collett, Modelling Survival Data in
    Medical Research, 3rd ed. 2015, section 2.7; Klein & Moeschberger 2003, section 7.4).
    In R: ``sd <- survdiff(...); s <- 1:k;
    sum(s * (rowSums(sd$obs) - rowSums(sd$exp)))^2 / (t(s) %*% sd$var %*% s)``.
    Near-tied times are merged first (R ``aeqSurv``). Rows with a missing time, event,
    group or stratum are dropped and counted in ``n_dropped``.

    >>> df = pd.DataFrame({"os_months": [1, 2, 3, 4, 5, 6, 7, 8],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 0],
    ...                    "arm": ["a", "a", "a", "a", "b", "b", "b", "b"]})
    >>> res = logrank(df, by="arm")  # R: survdiff(Surv(os_months, os_event) ~ arm, df)
    >>> res.df, round(res.statistic, 4)  # R: $chisq 5.347772
    (1, 5.3478)
    """
    sd = survival_data(data, time, event, [by, strata] if strata else [by])
    levels = group_levels(sd.frame[by])
    k = len(levels)
    g = group_codes(sd.frame[by], levels)
    if strata is None:
        s = np.zeros(g.size, dtype=np.int64)
        n_strata = 1
    else:
        slev = group_levels(sd.frame[strata])
        s = group_codes(sd.frame[strata], slev)
        n_strata = len(slev)
    observed, expected, var = np.zeros(k), np.zeros(k), np.zeros((k, k))
    for j in range(n_strata):
        m = s == j
        if m.any():
            o, ex, v = _stratum_oev(sd.time_code[m], sd.event[m], g[m], k, float(rho),
                                    sd.unique_times.size)
            observed += o
            expected += ex
            var += v
    # survdiff: drop groups with E = 0, then the first remaining group
    use = np.flatnonzero(expected > 0)
    if use.size < 2:
        stat = 0.0
    else:
        idx = use[1:]
        diff = (observed - expected)[idx]
        stat = float(diff @ np.linalg.solve(var[np.ix_(idx, idx)], diff))
    df = int(use.size) - 1
    p = float(chi2.sf(stat, df)) if df > 0 else float("nan")
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
    )
