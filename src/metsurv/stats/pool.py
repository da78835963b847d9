"""Rubin's rules for m analyses of multiply imputed data, as R ``mice::pool`` (mice 3.15).

Per term, over the m estimates ``Q_l`` with variances ``U_l`` (the squared standard errors;
R ``pool.fitlist`` with ``rule = "rubin1987"``):

* ``estimate`` = qbar = mean(Q); ``ubar`` = mean(U); ``b`` = var(Q) (denominator m - 1);
  ``t`` = ubar + (1 + 1/m) b;
* ``riv`` = (1 + 1/m) b / ubar (relative increase in variance), ``lambda`` = (1 + 1/m) b / t
  (proportion of the variance due to missingness);
* ``df``: Barnard & Rubin (1999) as mice ``barnard.rubin``: lambda floored at 1e-4,
  df_old = (m - 1) / lambda^2, df_obs = (dfcom + 1) / (dfcom + 3) dfcom (1 - lambda),
  df = df_old df_obs / (df_old + df_obs) (df_old when dfcom is infinite);
* ``fmi`` = (riv + 2 / (df + 3)) / (riv + 1), the fraction of missing information;
* ``std_error`` = sqrt(t), ``statistic`` = estimate / std_error, ``p`` = 2 P(T_df > |statistic|)
  (df floored at 0.001), ``lower``/``upper`` = estimate -/+ qt(1 - alpha/2, df) std_error
  (R ``summary(pool(fit), conf.int = TRUE)``).

``dfcom`` (complete-data degrees of freedom) as mice ``get.dfcom``: the value given (at least
1); for Cox fits the number of events minus the number of coefficients (at least 1), as mice
does for ``coxph``; else infinite (mice warns "Infinite sample size assumed").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from metsurv.errors import DataError


def barnard_rubin(m: int, b: np.ndarray, t: np.ndarray, dfcom: float = np.inf) -> np.ndarray:
    """Barnard-Rubin (1999) degrees of freedom, as R ``mice:::barnard.rubin``.

    >>> round(float(barnard_rubin(5, np.array([0.01]), np.array([0.05]))[0]), 4)
    69.4444
    """
    b = np.asarray(b, dtype=float)
    t = np.asarray(t, dtype=float)
    lam = np.maximum((1 + 1 / m) * b / t, 1e-4)
    dfold = (m - 1) / lam**2
    if np.isinf(dfcom):
        return dfold
    dfobs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    return dfold * dfobs / (dfold + dfobs)


def _as_estimates(estimates: Any, variances: Any) -> tuple[np.ndarray, np.ndarray, list[str],
                                                            float | None]:
    """(m, k) estimates, (m, k) variances, term names, and the Cox dfcom when fits were given."""
    first = estimates[0] if len(estimates) else None
    if first is not None and hasattr(first, "coef") and hasattr(first, "vcov"):
        if variances is not None:
            raise ValueError("pass either fitted results or estimates with variances, not both")
        q = np.array([np.asarray(f.coef, dtype=float) for f in estimates])
        # mice pool takes broom's robust.se when the fit has one (coxph robust/cluster)
        u = np.array([np.diag(np.asarray(
            f.vcov_robust if getattr(f, "vcov_robust", None) is not None else f.vcov,
            dtype=float)) for f in estimates])
        terms = list(getattr(first, "terms", [f"x{j}" for j in range(q.shape[1])]))
        dfcom = None
        if hasattr(first, "events"):
            dfcom = float(max(int(first.events) - q.shape[1], 1))
        return q, u, terms, dfcom
    q = np.asarray(estimates, dtype=float)
    if q.ndim == 1:
        q = q[:, None]
    v = np.asarray(variances, dtype=float)
    if v.ndim == 3:
        v = np.diagonal(v, axis1=1, axis2=2)
    elif v.ndim == 1:
        v = v[:, None]
    if v.shape != q.shape:
        raise ValueError(f"variances of shape {v.shape} do not match estimates {q.shape}: "
                         "give one variance (or a k x k vcov) per estimate")
    terms = [f"x{j}" for j in range(q.shape[1])]
    if isinstance(estimates, pd.DataFrame):
        terms = [str(c) for c in estimates.columns]
    return q, v, terms, None


def pool(estimates: Sequence[Any] | np.ndarray, variances: Any = None,
         dfcom: float | None = None, conf_level: float = 0.95,
         terms: Sequence[str] | None = None) -> pd.DataFrame:
    """Pool m analyses with Rubin's rules exactly as R ``mice::pool`` + ``summary(...,
    conf.int = TRUE)`` (mice 3.15, ``rule = "rubin1987"``).

    Parameters
    ----------
    estimates : sequence of m fitted results, or array (m,) or (m, k)
        Fitted results with ``coef`` and ``vcov`` (a metsurv :class:`CoxResult`: its robust
        variance when it has one, as mice takes broom's ``robust.se``), or the m estimates
        of k terms (a DataFrame's columns name the terms).
    variances : array (m,), (m, k) or (m, k, k), optional
        With raw estimates: the squared standard errors, or the m variance-covariance
        matrices (their diagonals are used, as mice pools term by term).
    dfcom : float, optional
        Complete-data degrees of freedom (mice ``dfcom``). None: events minus coefficients
        for Cox fits (mice ``get.dfcom`` for ``coxph``), else infinity.
    conf_level : float
        Level of the t-based confidence interval.
    terms : sequence of str, optional
        Term names (default: the fits' terms, a DataFrame's columns, else ``x0, x1, ...``).

    Returns
    -------
    DataFrame
        One row per term: ``term, m, estimate, ubar, b, t, dfcom, df, riv, lambda, fmi,
        std_error, statistic, p, lower, upper`` (mice's ``pooled`` columns, then its
        summary's). ``attrs["vcov"]`` holds the pooled total covariance matrix
        ``Ubar + (1 + 1/m) B`` (k x k) when vcov matrices or fits were given.

    Raises
    ------
    DataError
        Fewer than two analyses (mice pools nothing with m = 1).
    ValueError
        Shapes that do not match.

    References
    ----------
    Rubin DB (1987). Multiple Imputation for Nonresponse in Surveys. Barnard J, Rubin DB
    (1999). Small-sample degrees of freedom with multiple imputation. Biometrika 86:948-955.
    van Buuren S (2018). Flexible Imputation of Missing Data, 2nd ed., section 2.3.

    >>> out = pool([1.0, 1.2, 0.9, 1.1, 1.05], [0.04, 0.05, 0.04, 0.045, 0.05])
    >>> out[["estimate", "b", "t"]].round(5).to_dict("records")
    [{'estimate': 1.05, 'b': 0.0125, 't': 0.06}]
    """
    if len(estimates) < 2:
        raise DataError(f"pooling needs at least 2 analyses (imputations), got "
                        f"{len(estimates)}: use m >= 2")
    q, u, names, cox_dfcom = _as_estimates(estimates, variances)
    if terms is not None:
        names = list(terms)
    m = q.shape[0]
    if dfcom is not None:
        dfc = float(max(dfcom, 1))
    elif cox_dfcom is not None:
        dfc = cox_dfcom
    else:
        dfc = np.inf
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    df = barnard_rubin(m, b, t, dfc)
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / t
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
        se = np.sqrt(t)
        stat = qbar / se
    p = 2 * sps.t.sf(np.abs(stat), np.maximum(df, 0.001))
    crit = sps.t.ppf(1 - (1 - conf_level) / 2, df)
    out = pd.DataFrame({
        "term": names, "m": m, "estimate": qbar, "ubar": ubar, "b": b, "t": t,
        "dfcom": dfc, "df": df, "riv": riv, "lambda": lam, "fmi": fmi,
        "std_error": se, "statistic": stat, "p": p,
        "lower": qbar - crit * se, "upper": qbar + crit * se,
    })
    vcovs = _vcovs(estimates, variances)
    if vcovs is not None:
        dev = q - qbar
        out.attrs["vcov"] = vcovs.mean(axis=0) + (1 + 1 / m) * dev.T @ dev / (m - 1)
    return out


def _vcovs(estimates: Any, variances: Any) -> np.ndarray | None:
    first = estimates[0]
    if hasattr(first, "vcov"):
        return np.array([np.asarray(
            f.vcov_robust if getattr(f, "vcov_robust", None) is not None else f.vcov,
            dtype=float) for f in estimates])
    v = np.asarray(variances, dtype=float)
    return v if v.ndim == 3 else None
