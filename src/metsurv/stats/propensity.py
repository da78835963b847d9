"""Propensity scores and weights for comparing two treatments in an observational cohort.

The score is the fitted probability of the treated level from a logistic model of treatment
on the confounders (main effects), fitted by R's own algorithm (``glm.fit``: iteratively
reweighted least squares from ``mustart = (y + 0.5) / 2``, stopping when the relative
change of the deviance is below 1e-8, R's link clamping at |eta| > 30; each step solves the
normal equations by Cholesky instead of R's QR, agreeing to about 1e-13 on the fixture and
twice as fast at 1e6 rows), so that it equals R
``glm(treated ~ confounders, family = binomial)`` to rounding. Weights (``p`` the share of
treated patients among the rows analysed, ``e`` the score):

=========  ==========  ===================  ======================================
method     estimand    treated              control
=========  ==========  ===================  ======================================
iptw       ATE         p / e                (1 - p) / (1 - e)   (stabilised)
iptw       ATT         1                    e / (1 - e) * p0/p  with p0 = 1 - p
overlap    ATE (ATO)   1 - e                e
=========  ==========  ===================  ======================================

Sum conventions: stabilised ATE weights sum to about n per group in expectation (not
exactly); ATT control weights to about n_control; overlap weights of the two groups sum to
exactly the same total (the logistic score equations with an intercept), and overlap
weights balance every model term's mean exactly (Li, Morgan & Zaslavsky 2018).
"""

from __future__ import annotations

import dataclasses
import html as _html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve
from scipy.special import ndtr

from ..errors import CohortError, DataError
from ..schema import level_label
from ._result import Result, html_table, warn
from ._times import as_frame, group_codes
from .balance import BalanceTable, balance, factor_levels, is_factor, love_plot

__all__ = ["PropensityResult", "propensity", "logistic_fit"]

_DBL_EPS = np.finfo(float).eps
_THRESH = 30.0  # R's logit link: eta beyond +-30 gives mu = eps or 1 - eps


def _linkinv(eta: np.ndarray) -> np.ndarray:
    """R ``C_logit_linkinv``."""
    e = np.clip(eta, -_THRESH, _THRESH)
    mu = np.exp(e) / (1.0 + np.exp(e))
    mu[eta < -_THRESH] = _DBL_EPS
    mu[eta > _THRESH] = 1.0 - _DBL_EPS
    return mu


def _mu_eta(eta: np.ndarray) -> np.ndarray:
    """R ``C_logit_mu_eta``."""
    ex = np.exp(np.clip(eta, -_THRESH, _THRESH))
    out = ex / (1.0 + ex) ** 2
    out[np.abs(eta) > _THRESH] = _DBL_EPS
    return out


def _deviance(y: np.ndarray, mu: np.ndarray) -> float:
    return float(-2.0 * (np.sum(np.log(mu[y == 1])) + np.sum(np.log1p(-mu[y == 0]))))


def logistic_fit(X: np.ndarray, y: np.ndarray, epsilon: float = 1e-8,
                 maxit: int = 25) -> dict[str, Any]:
    """Logistic regression by R's ``glm.fit`` (IRLS, binomial family, logit link).

    Parameters
    ----------
    X : array of shape (n, k)
        Design matrix with the intercept column; full column rank.
    y : array of shape (n,)
        0/1 outcome.
    epsilon, maxit : float, int
        R ``glm.control``: stop when ``|dev - dev_old| / (|dev| + 0.1) < epsilon``.

    Returns
    -------
    dict
        ``coef`` (k,), ``se`` (k,) from ``(X'WX)^-1`` at the weights of the last weighted
        least squares (``summary.glm``'s ``chol2inv`` of that fit's R), ``mu`` (n,) fitted probabilities, ``deviance``,
        ``iterations``, ``converged``, ``boundary`` (a fitted probability within
        ``10 * eps`` of 0 or 1, R's "fitted probabilities numerically 0 or 1 occurred").

    >>> X = np.column_stack([np.ones(6), [1.0, 2, 3, 4, 5, 6]])
    >>> fit = logistic_fit(X, np.array([0.0, 0, 1, 0, 1, 1]))
    >>> np.round(fit["coef"], 6).tolist(), fit["converged"]
    ([-4.249097, 1.214028], True)
    """
    y = np.asarray(y, dtype=float)
    mu = (y + 0.5) / 2.0
    eta = np.log(mu / (1.0 - mu))
    devold = _deviance(y, mu)
    coef = np.zeros(X.shape[1])
    gram = X.T @ X
    converged = False
    it = 0
    for it in range(1, maxit + 1):  # noqa: B007 - iterations of IRLS, not patients
        mev = _mu_eta(eta)
        z = eta + (y - mu) / mev
        w2 = mev**2 / (mu * (1.0 - mu))
        # weighted least squares by the normal equations, columns scaled to unit diagonal
        # (R solves the same system by QR; with a full-rank design both agree far below
        # 1e-6, and X'WX costs a fraction of a QR of the n x k matrix)
        gram = (X * w2[:, None]).T @ X
        scale = 1.0 / np.sqrt(np.diag(gram))
        chol = cho_factor(gram * np.outer(scale, scale))
        coef = scale * cho_solve(chol, scale * (X.T @ (w2 * z)))
        eta = X @ coef
        mu = _linkinv(eta)
        dev = _deviance(y, mu)
        if not np.isfinite(dev):
            break
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        devold = dev
    # summary.glm: chol2inv of the last weighted fit's R, i.e. (X'WX)^-1 at those weights
    scale = 1.0 / np.sqrt(np.diag(gram))
    cov = np.outer(scale, scale) * np.linalg.inv(gram * np.outer(scale, scale))
    se = np.sqrt(np.diag(cov))
    eps10 = 10 * _DBL_EPS
    return {"coef": coef, "se": se, "mu": mu, "deviance": _deviance(y, mu),
            "iterations": it, "converged": converged,
            "boundary": bool(np.any(mu > 1 - eps10) or np.any(mu < eps10))}


def _design(frame: pd.DataFrame, confounders: Sequence[str]) -> tuple[np.ndarray, list]:
    """Intercept, numbers as they are, factors as indicators of every level but the first
    (R treatment contrasts). Returns X and, per column, (term, covariate, level)."""
    cols = [np.ones(len(frame))]
    names: list[tuple] = [("(Intercept)", None, None)]
    for cov in confounders:
        s = frame[cov]
        if is_factor(s):
            levels = factor_levels(s)
            codes = group_codes(s, levels)
            for i, lev in enumerate(levels[1:], start=1):
                cols.append((codes == i).astype(float))
                names.append((f"{cov}[{level_label(cov, lev)}]", cov, lev))
        else:
            cols.append(pd.to_numeric(s).to_numpy(dtype=float))
            names.append((cov, cov, None))
    return np.column_stack(cols), names


def _separation(frame: pd.DataFrame, t: np.ndarray, confounders: Sequence[str],
                levels: Sequence[Any], treatment: str) -> str | None:
    """A sentence naming the first confounder that on its own perfectly predicts treatment
    (a factor level held by one group only; numbers whose group ranges do not overlap)."""
    tl, cl = (level_label(treatment, v) for v in levels)
    for cov in confounders:
        s = frame[cov]
        if is_factor(s):
            levs = factor_levels(s)
            codes = group_codes(s, levs)
            n_t = np.bincount(codes[t], minlength=len(levs))
            n_c = np.bincount(codes[~t], minlength=len(levs))
            for i, lev in enumerate(levs):
                if (n_t[i] == 0) != (n_c[i] == 0):
                    who = cl if n_t[i] == 0 else tl
                    return (f"confounder {cov!r}: every patient with level "
                            f"{level_label(cov, lev)!r} ({n_t[i] + n_c[i]}) is {who}")
        else:
            x = pd.to_numeric(s).to_numpy(dtype=float)
            if x[t].max() < x[~t].min() or x[~t].max() < x[t].min():
                return (f"confounder {cov!r}: its values in {tl} and {cl} patients do not "
                        "overlap")
    return None


@dataclasses.dataclass(frozen=True, eq=False)
class PropensityResult(Result):
    """Propensity scores, weights and balance.

    ``data``: the analysed rows of the input (index kept, all columns) plus ``ps`` (the
    score), ``weight`` and ``treated`` (bool); columns of those names in the input are
    replaced. ``coefficients``: the logistic model (``term``, ``covariate``, ``level``,
    ``estimate``, ``std_error``, ``z``, ``p``; R ``summary(glm)``). ``ess``: Kish effective
    sample size ``(sum w)^2 / sum w^2`` by group (keys "treated", "control"). ``excluded``:
    rows left out by reason (``reason``, ``column``, ``n``; each row counted once, under the
    first reason: treatment, then confounders in order, then trimming). ``balance``: the
    :class:`~metsurv.stats.balance.BalanceTable` before/after weighting. ``trimmed``:
    rows dropped by ``trim`` per group; ``truncated``: weights capped and the cap.
    """

    data: pd.DataFrame
    coefficients: pd.DataFrame
    ess: dict[str, float]
    excluded: pd.DataFrame
    balance: BalanceTable
    treatment: str
    levels: tuple[Any, Any]
    confounders: tuple[str, ...]
    method: str
    estimand: str
    n: int
    trim: float | None
    truncate: float | None
    trimmed: dict[str, int]
    truncated: dict[str, float]
    iterations: int

    def to_frame(self) -> pd.DataFrame:
        """One row per group: ``group`` (treated/control), ``level``, ``n``,
        ``sum_weights``, ``ess``, ``ps_min``, ``ps_max``."""
        rows = []
        for name, lev, mask in (("treated", self.levels[0], self.data["treated"]),
                                ("control", self.levels[1], ~self.data["treated"])):
            d = self.data.loc[mask]
            rows.append({"group": name, "level": lev, "n": int(len(d)),
                         "sum_weights": float(d["weight"].sum()), "ess": self.ess[name],
                         "ps_min": float(d["ps"].min()), "ps_max": float(d["ps"].max())})
        return pd.DataFrame(rows)

    def _html_head(self) -> str:
        t, c = (level_label(self.treatment, v) for v in self.levels)
        ex = int(self.excluded["n"].sum()) if len(self.excluded) else 0
        return (f"<b>PropensityResult</b> {_html.escape(t)} vs {_html.escape(c)}: "
                f"{self.method.upper()} {self.estimand}, n = {self.n} ({ex} excluded)")

    def _html_frame(self) -> pd.DataFrame:
        f = self.to_frame()
        f["level"] = [level_label(self.treatment, v) for v in f["level"]]
        return f

    def _repr_html_(self) -> str:
        notes = "".join(f"<br><i>Warning: {_html.escape(w)}</i>" for w in self.warnings)
        return (f"<div>{self._html_head()}" + html_table(self._html_frame())
                + "<br><b>Balance</b> (SD denominator: "
                + _html.escape(self.balance.sd_denominator) + ")"
                + html_table(self.balance._html_frame()) + notes + "</div>")

    def plot(self, ax: Any = None) -> Any:
        """The love plot of :attr:`balance` (:func:`metsurv.stats.balance.love_plot`)."""
        return love_plot(self.balance, ax)


def _numbers_as_text(values: pd.Series, column: str) -> None:
    """Refuse a text column that is mostly numbers (``"66,6"``, ``"unk"`` among ages): as a
    factor it would get one level per value and look like perfect prediction.

    Raises
    ------
    DataError
        Naming the column, how many values are not numbers and the first of them.
    """
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return
    present = values.dropna()
    if present.empty:
        return
    uniques = pd.Series(pd.unique(present.astype(str)))
    numeric = pd.to_numeric(uniques, errors="coerce").notna()
    if numeric.sum() >= 10 and numeric.mean() >= 0.8 and not numeric.all():
        bad = uniques[~numeric]
        raise DataError(f"confounder {column!r} holds numbers written as text, and "
                        f"{len(bad)} value(s) that are not numbers, e.g. {bad.iloc[0]!r}: "
                        "correct them, declare them missing, or give the decimal mark in a "
                        "mapping file (docs/mapping.md)", column=column)


def _kish(w: np.ndarray) -> float:
    return float(np.sum(w) ** 2 / np.sum(w * w))


def check_weighting(method: str, estimand: str, trim: float | None = None,
                    truncate: float | None = None) -> tuple[str, str]:
    """The weighting options of :func:`propensity`, checked (``method`` in lower case,
    ``estimand`` in upper case, returned); one check for every caller, so that a caller
    with slow work before the weights (imputation) can refuse bad options first.

    Raises
    ------
    DataError
        ``method`` not "iptw"/"overlap", ``estimand`` not "ATE"/"ATT", overlap weights with
        the ATT, ``trim`` outside (0, 0.5) or ``truncate`` outside (0.5, 1).
    """
    method, estimand = str(method).lower(), str(estimand).upper()
    if method not in ("iptw", "overlap"):
        raise DataError(f"method must be 'iptw' or 'overlap', not {method!r}")
    if estimand not in ("ATE", "ATT"):
        raise DataError(f"estimand must be 'ATE' or 'ATT', not {estimand!r}")
    if method == "overlap" and estimand != "ATE":
        raise DataError("overlap weights target the overlap population (ATO), not the "
                        "treated: use estimand ATE with overlap weights (--estimand ate), "
                        "or IPTW for the ATT (--method iptw)")
    if trim is not None and not 0 < trim < 0.5:
        raise DataError(f"trim must be in (0, 0.5), not {trim!r}")
    if truncate is not None and not 0.5 < truncate < 1:
        raise DataError(f"truncate must be in (0.5, 1), not {truncate!r}")
    return method, estimand


def propensity(
    data: Any,
    treatment: str,
    levels: Sequence[Any],
    confounders: Sequence[str],
    method: str = "iptw",
    estimand: str = "ATE",
    trim: float | None = None,
    truncate: float | None = None,
) -> PropensityResult:
    """Propensity scores (logistic model, R ``glm(family = binomial)``), weights, effective
    sample sizes and balance before/after weighting.

    Parameters
    ----------
    data : pandas.DataFrame or Cohort
        One row per patient.
    treatment : str
        Treatment column.
    levels : (treated, control)
        The two values compared; rows with another value are excluded (counted).
    confounders : sequence of str
        Numeric or factor (Categorical / string / bool) columns; a factor is coded with one
        indicator per level but the first (Categorical order, else sorted; False first).
    method : {"iptw", "overlap"}
        Stabilised inverse probability of treatment weights, or overlap weights.
    estimand : {"ATE", "ATT"}
        Overlap weights target the overlap population (ATO) and accept only "ATE".
    trim : float in (0, 0.5), optional
        Drop rows with a score outside ``[trim, 1 - trim]`` (Crump et al. 2009); the score is
        not refitted, the stabilising share ``p`` is that of the rows kept. Counted in
        ``excluded`` and ``trimmed``.
    truncate : float in (0.5, 1), optional
        Cap weights at their ``truncate`` quantile (R ``quantile`` type 7, over all rows
        analysed; WeightIt ``trim(at =)``). Recorded in ``truncated`` (``n``, ``cap``).

    Returns
    -------
    PropensityResult

    Raises
    ------
    CohortError
        A confounder perfectly predicts treatment (separation: no overlap), naming it.
    DataError
        A column is absent, a group is empty, or the confounders are collinear; bad
        ``method``, ``estimand``, ``trim`` or ``truncate`` (:func:`check_weighting`).
    ValueError
        ``levels`` not two different values.

    >>> d = pd.DataFrame({"t": ["a", "b"] * 4, "x": [1.0, 2, 3, 1, 5, 4, 2, 6]})
    >>> r = propensity(d, "t", ("a", "b"), ["x"], method="overlap")
    >>> w = r.data.groupby("treated")["weight"].sum()  # overlap: equal sums
    >>> bool(abs(w[True] - w[False]) < 1e-9), r.n
    (True, 8)
    """
    frame = as_frame(data)
    method, estimand = check_weighting(method, estimand, trim, truncate)
    if len(levels) != 2 or levels[0] == levels[1]:
        raise ValueError(f"levels must be two different values (treated, control), "
                         f"got {levels!r}")
    confounders = tuple(confounders)
    for col in (treatment, *confounders):
        if col not in frame.columns:
            raise DataError(f"column {col!r} not in the data; columns: "
                            f"{', '.join(map(str, frame.columns))}", column=col)

    for cov in confounders:
        _numbers_as_text(frame[cov], cov)

    # ---- exclusions, each row under its first reason
    s = frame[treatment]
    left = np.ones(len(frame), dtype=bool)
    excluded = []

    def drop(mask: np.ndarray, reason: str, column: str) -> None:
        hit = left & mask
        if hit.any():
            excluded.append({"reason": reason, "column": column, "n": int(hit.sum())})
        left[hit] = False

    drop(s.isna().to_numpy(), "missing treatment", treatment)
    drop(~s.isin(list(levels)).to_numpy(), "treatment not in levels", treatment)
    for cov in confounders:
        drop(frame[cov].isna().to_numpy(), "missing confounder", cov)
    sub = frame.loc[left]
    t = (sub[treatment] == levels[0]).to_numpy(dtype=bool)
    tl, cl = (level_label(treatment, v) for v in levels)
    if len(t) == 0 and confounders:
        worst = max(confounders, key=lambda c: int(frame[c].isna().sum()))
        raise DataError(f"no patient of either group has every confounder recorded "
                        f"({worst!r} is missing in {int(frame[worst].isna().sum())} of "
                        f"{len(frame)} rows): leave it out, or impute (--impute M)",
                        column=worst)
    if t.all() or not t.any():
        raise DataError(f"column {treatment!r}: no {cl if t.all() else tl} patients among "
                        f"the {len(t)} rows with complete confounders", column=treatment)

    # ---- the score
    for cov in confounders:
        if sub[cov].nunique() < 2:
            raise DataError(f"confounder {cov!r} has a single value among the {len(sub)} rows "
                            "analysed: it cannot adjust for anything; leave it out", column=cov)
    sep = _separation(sub, t, confounders, levels, treatment)
    if sep:
        raise CohortError(f"{sep}: it perfectly predicts treatment (no overlap), so no "
                          "propensity weight exists; merge that level, restrict the cohort "
                          "or leave the confounder out")
    X, names = _design(sub, confounders)
    gram = X.T @ X
    unit = 1.0 / np.sqrt(np.diag(gram))  # no zero column: numbers vary, levels are present
    eig = np.linalg.eigvalsh(gram * np.outer(unit, unit))
    if eig[0] < 1e-10 * eig[-1]:
        raise DataError("the confounders are collinear (a column is a combination of "
                        f"others): {', '.join(confounders)}; leave one out",
                        column=confounders[-1] if confounders else None)
    fit = logistic_fit(X, t.astype(float))
    if fit["boundary"] or not fit["converged"]:
        raise CohortError(f"the confounders {', '.join(map(repr, confounders))} together "
                          f"perfectly predict treatment {treatment!r} (fitted probabilities "
                          "numerically 0 or 1: no overlap); leave one out or restrict "
                          "the cohort")
    e = fit["mu"]
    notes: list[str] = []

    # ---- trimming
    trimmed = {"treated": 0, "control": 0}
    if trim is not None:
        out = (e < trim) | (e > 1 - trim)
        trimmed = {"treated": int((out & t).sum()), "control": int((out & ~t).sum())}
        if out.any():
            excluded.append({"reason": f"trimmed (ps outside [{trim:g}, {1 - trim:g}])",
                             "column": "ps", "n": int(out.sum())})
        sub, t, e = sub.loc[~out], t[~out], e[~out]
        if t.all() or not t.any():
            raise DataError(f"trim={trim:g} leaves no {cl if t.all() else tl} patients",
                            column=treatment)

    # ---- weights
    p = t.mean()
    if method == "overlap":
        w = np.where(t, 1.0 - e, e)
    elif estimand == "ATE":
        w = np.where(t, p / e, (1.0 - p) / (1.0 - e))
    else:
        w = np.where(t, 1.0, e / (1.0 - e) * (1.0 - p) / p)
    truncated: dict[str, float] = {}
    if truncate is not None:
        cap = float(np.quantile(w, truncate))
        truncated = {"n": int((w > cap).sum()), "cap": cap}
        w = np.minimum(w, cap)
    ess = {"treated": _kish(w[t]), "control": _kish(w[~t])}
    for g in ("treated", "control"):
        if ess[g] < 0.1 * (t.sum() if g == "treated" else (~t).sum()):
            warn(notes, f"the effective sample size of the {g} group ({ess[g]:.1f}) is below "
                 "10% of its size: extreme weights; consider overlap weights or trimming")

    est, se = fit["coef"], fit["se"]
    z = est / se
    coefficients = pd.DataFrame({
        "term": [n[0] for n in names], "covariate": [n[1] for n in names],
        "level": [n[2] for n in names], "estimate": est, "std_error": se, "z": z,
        "p": 2.0 * ndtr(-np.abs(z))})
    out_data = sub.copy()
    out_data["ps"] = e
    out_data["weight"] = w
    out_data["treated"] = t
    bal = balance(out_data, "treated", (True, False), confounders, weights=w,
                  estimand="ATO" if method == "overlap" else estimand)
    bal = dataclasses.replace(bal, treatment=treatment, levels=(levels[0], levels[1]))
    return PropensityResult(
        data=out_data, coefficients=coefficients, ess=ess,
        excluded=pd.DataFrame(excluded, columns=["reason", "column", "n"]), balance=bal,
        treatment=treatment, levels=(levels[0], levels[1]), confounders=confounders,
        method=method, estimand=estimand, n=int(len(t)), trim=trim, truncate=truncate,
        trimmed=trimmed, truncated=truncated, iterations=int(fit["iterations"]),
        warnings=tuple(notes))
