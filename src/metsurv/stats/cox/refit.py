"""Fast refits of one Cox model on many row resamples (the bootstrap's common case).

:func:`metsurv.stats.cox.cox` reads the data, validates it, builds the design matrix and
merges near-tied times on every call; for a bootstrap those steps are the same each time.
:class:`CoxDesign` does them once; :meth:`CoxDesign.refit` then takes the rows of one
resample (indices into the prepared rows, with repeats) and runs the same engine as
:func:`~metsurv.stats.cox.cox` (the sorted risk sets of :mod:`.risk`, R ``coxfit6``'s
Newton iteration of :mod:`.newton`), so each refit's coefficients are those of ``cox()`` on
the resampled rows (tests/test_bootstrap.py checks 1e-10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import DataError
from .._times import survival_data
from .design import _design, variables
from .newton import EPS, ITER_MAX, TOLER_CHOL, newton


@dataclass(frozen=True, eq=False)
class CoxDesign:
    """A right-censored, unstratified, unweighted Cox model prepared once for refits.

    Attributes
    ----------
    names : tuple of str
        Column names of the design (``column[level]``), as ``cox(...).terms``.
    references : dict
        Reference level of each factor (chosen on all prepared rows).
    X : ndarray, shape (n, q)
        Design matrix of the n complete rows, its q <= p columns that vary among them
        (``_active`` marks which of the p ``names``).
    time, event, code : ndarray, shape (n,)
        Times (near ties merged), 0/1 events, each time's rank among the distinct times.
    n_dropped : int
        Rows left out for a missing value.
    """

    names: tuple[str, ...]
    references: dict[str, Any]
    X: np.ndarray
    time: np.ndarray
    event: np.ndarray
    code: np.ndarray
    n_dropped: int
    ties: str = "efron"
    _order: np.ndarray = field(default=None, repr=False)  # rows by time (stable)
    #: design columns that vary among the prepared rows (the others are NA in every refit)
    _active: np.ndarray = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return int(self.time.size)

    def refit(self, rows: np.ndarray | None = None, iter_max: int = ITER_MAX,
              eps: float = EPS, toler_chol: float = TOLER_CHOL) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients and model SEs of the Cox fit on the prepared rows ``rows`` (indices,
        repeats allowed; None: all rows). A column that cannot be estimated on these rows
        (a level no resampled patient has) is NaN, as ``cox()`` reports it.

        Returns
        -------
        coef, se : ndarray, shape (p,)
        """
        if rows is None:
            counts = np.ones(self.n, dtype=np.int64)
        else:
            counts = np.bincount(np.asarray(rows, dtype=np.int64), minlength=self.n)
        coef = np.full(len(self.names), np.nan)
        se = coef.copy()
        if not (counts * self.event).any():
            return coef, se
        risk = _Counted(self, counts)
        fit = newton(risk, iter_max=iter_max, eps=eps, toler_chol=toler_chol)
        na = np.where(fit.singular, np.nan, 1.0)
        # columns constant on every prepared row (a level no complete case has) are NA in
        # every resample, as cox() reports them: left out of the refits (cheaper), NaN here
        coef[self._active] = fit.beta * na
        se[self._active] = np.sqrt(np.diag(fit.var)) * na
        return coef, se


def prepare_cox(data: Any, covariates: Sequence[str], *, time: str = "os_months",
                event: str = "os_event", reference: Mapping[str, Any] | None = None,
                ties: str = "efron") -> CoxDesign:
    """Read the data and build the design of ``cox(data, covariates, ...)`` once.

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient.
    covariates : sequence of str
        Column names (``"a:b"`` interactions), as :func:`metsurv.stats.cox.cox`.
    time, event, reference, ties :
        As :func:`metsurv.stats.cox.cox` (no strata, weights or entry times).

    Returns
    -------
    CoxDesign

    Raises
    ------
    DataError
        No rows or no events after dropping missing values.
    KeyError
        A named column is absent.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1],
    ...                    "age": [60, 70, 55, 80, 65, 50, 75, 62]})
    >>> coef, se = prepare_cox(df, ["age"]).refit()
    >>> round(float(coef[0]), 4)  # R coxph: 0.2799259
    0.2799
    """
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if not covariates:
        raise ValueError("prepare_cox needs at least one covariate")
    sd = survival_data(data, time, event, variables(covariates), start=False)
    if sd.time.size == 0 or sd.event.sum() == 0:
        raise DataError(f"no {'rows' if sd.time.size == 0 else 'events'} left after dropping "
                        "rows with missing values: nothing to fit", column=event)
    design = _design(sd.frame, covariates, dict(reference or {}))
    X = np.asarray(design.X, dtype=float)
    active = (X != X[:1]).any(axis=0) if len(X) else np.zeros(X.shape[1], dtype=bool)
    return CoxDesign(names=tuple(design.names), references=dict(design.references),
                     X=np.ascontiguousarray(X[:, active]), time=sd.time,
                     event=np.asarray(sd.event), code=sd.time_code,
                     n_dropped=int(sd.n_dropped), ties=ties,
                     _order=np.argsort(sd.time_code, kind="stable"), _active=active)


class _Counted:
    """The risk-set sums of :class:`.risk._Risk` for rows repeated ``counts`` times (a
    resample with replacement), without building the repeated rows: a row drawn c times
    is c identical rows, so every risk-set sum takes it with weight c, and a time with
    d = sum(c * event) deaths has d Efron sub-steps (k / d, k = 0..d-1), exactly as the
    repeated rows have (not R's case-weighted Efron, whose d counts distinct rows). The
    rows keep the order of the prepared data sorted by time (sorted once). What
    :func:`.newton.newton` reads: ``p``, ``start`` (None), ``scale`` (R's column scaling on
    the repeated rows) and ``derivs(beta)``."""

    start = None

    def __init__(self, design: CoxDesign, counts: np.ndarray):
        order = design._order
        c = counts[order]
        keep = c > 0
        rows = order[keep]
        w = c[keep].astype(float)
        code = design.code[rows]
        X = design.X[rows]
        e = design.event[rows].astype(float)
        tot = w.sum()
        mean = (w @ X) / tot
        self.p = X.shape[1]
        dev = w @ np.abs(X - mean)
        self.scale = np.where(dev > 0, tot / np.where(dev > 0, dev, 1.0), 1.0)
        self.X = np.asfortranarray(X - mean)
        self.w = w
        starts = np.r_[0, np.flatnonzero(np.diff(code)) + 1]
        self.starts = starts
        sizes = np.diff(np.r_[starts, code.size])
        we = w * e
        deaths = np.add.reduceat(we, starts)
        ev = np.flatnonzero(deaths > 0)
        d = deaths[ev].astype(np.int64)
        self.ev, self.d = ev, d
        self.sub = np.repeat(np.arange(d.size), d)  # event block of each Efron sub-step
        k = np.arange(self.sub.size) - np.repeat(np.cumsum(d) - d, d)
        self.frac = k / np.repeat(d, d) if design.ties == "efron" else np.zeros(k.size)
        self.block = np.repeat(np.arange(starts.size), sizes)
        self.dead = np.flatnonzero(we > 0)
        pos = np.full(starts.size, -1)
        pos[ev] = np.arange(ev.size)
        self.dead_ev = pos[self.block[self.dead]]  # event block of each death row
        self.we = we
        self.we_x = we @ self.X
        self.dead_starts = np.r_[0, np.flatnonzero(np.diff(self.dead_ev)) + 1]

    def _risk_sums(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sum of v (rows, or rows x columns) over the risk set and over the deaths of each
        event block."""
        per = np.add.reduceat(v, self.starts, axis=0)
        at_risk = np.cumsum(per[::-1], axis=0)[::-1][self.ev]
        # death rows are in time order: one run of rows per event block
        return at_risk, np.add.reduceat(v[self.dead], self.dead_starts, axis=0)

    def derivs(self, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log partial likelihood, score and information at ``beta`` (as ``_Risk``)."""
        X = self.X
        eta = X @ beta if self.p else np.zeros(X.shape[0])
        ex = np.exp(eta)
        r = self.w * ex
        # r and r * X summed in one pass over the risk sets (column 0: r)
        both = np.empty((r.size, self.p + 1))
        both[:, 0] = r
        np.multiply(X, r[:, None], out=both[:, 1:])
        S, D = self._risk_sums(both)
        S0, D0, S1, D1 = S[:, 0], D[:, 0], S[:, 1:], D[:, 1:]
        sb, frac = self.sub, self.frac
        denom = S0[sb] - frac * D0[sb]
        mean = (S1[sb] - frac[:, None] * D1[sb]) / denom[:, None]
        ll = float(self.we @ eta - np.log(denom).sum())
        U = self.we_x - mean.sum(axis=0)
        # information: sum over sub-steps of the risk-set covariance, regrouped into one
        # weight per row (as _Risk.information)
        ne = self.ev.size
        a = np.bincount(sb, 1.0 / denom, ne)
        b = np.bincount(sb, frac / denom, ne)
        cum_a = np.zeros(self.starts.size)
        cum_a[self.ev] = a
        wrow = np.cumsum(cum_a)[self.block] * r
        wrow[self.dead] -= r[self.dead] * b[self.dead_ev]
        info = X.T @ (X * wrow[:, None]) - mean.T @ mean
        return ll, U, info
