"""The Newton-Raphson iteration of R ``coxfit6`` (right-censored data) and ``agfit4``
(counting-process data), step for step, and R's generalised Cholesky (``cholesky2``,
``chsolve2``, ``chinv2``), which is how R finds the non-estimable columns of a design.

The two C routines differ, and each is reproduced as it is (survival 3.5-3):

- ``coxfit6`` accepts convergence while it is halving a step; each halving moves the
  trial point to ``(new + h * old) / (h + 1)`` (h = how many halvings in a row), so it
  gets more cautious; when it runs out of iterations it reports ``iter.max + 1``
  iterations, the last accepted coefficients and the log-likelihood recomputed there, and
  a variance that is the inverse of the *diagonal* of the information (it inverts the
  freshly computed, not yet factored, matrix).
- ``agfit4`` refuses convergence while halving (and when the rank of the information
  changed or a term is not finite); at ``iter.max`` it keeps the last trial unless that
  is worse than the best by more than ``eps``, in which case it goes back to the best.

The iteration runs on columns scaled as R scales them (sum of weights over the weighted
sum of absolute deviations), which only matters for the Cholesky tolerance: a pivot below
``toler_chol`` times the largest diagonal of the scaled information marks a column that
is linearly dependent on earlier ones (or constant within every stratum). Its Newton step
is 0, its coefficient is reported as NA, as R's ``coef[which.sing] <- NA``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from .risk import _Risk

EPS = 1e-9  # coxph.control(eps)
ITER_MAX = 20  # coxph.control(iter.max)
TOLER_CHOL = float(np.finfo(float).eps ** 0.75)  # coxph.control(toler.chol)


def cholesky2(A: np.ndarray, toler: float = TOLER_CHOL) -> tuple[np.ndarray, int]:
    """R ``cholesky2``: A = F D F' with F unit lower triangular (returned below the
    diagonal) and D on the diagonal. A pivot that is not finite or below ``toler`` times
    the largest diagonal (``toler`` itself when no diagonal is positive) is set to 0 and
    its column is not eliminated. Returns (factor, rank), rank negated when A is not
    non-negative definite (a pivot below -8 times the threshold).

    >>> m, rank = cholesky2(np.array([[1.0, 2.0], [2.0, 4.0]]))  # column 2 = 2 x column 1
    >>> rank, float(m[1, 1]), chsolve2(m, np.array([1.0, 2.0])).tolist()
    (1, 0.0, [1.0, 0.0])
    """
    m = np.array(A, dtype=float)
    n = m.shape[0]
    d = np.diag(m)
    top = float(np.max(d[d > 0], initial=0.0))
    eps = toler if top == 0 else top * toler
    rank, nonneg = 0, 1
    for i in range(n):
        pivot = m[i, i]
        if not np.isfinite(pivot) or pivot < eps:
            m[i, i] = 0.0
            if pivot < -8 * eps:
                nonneg = -1
            continue
        rank += 1
        col = m[i + 1 :, i].copy()
        m[i + 1 :, i + 1 :] -= np.outer(col, col) / pivot
        m[i + 1 :, i] = col / pivot
    return m, rank * nonneg


def chsolve2(m: np.ndarray, y: np.ndarray) -> np.ndarray:
    """R ``chsolve2``: solve F D F' b = y from :func:`cholesky2`'s factor, with b = 0 in
    the directions of zero pivots (a generalised inverse: the later of two dependent
    columns gets no step)."""
    n = y.size
    b = np.array(y, dtype=float)
    for i in range(n):
        b[i] -= b[:i] @ m[i, :i]
    for i in range(n - 1, -1, -1):
        if m[i, i] == 0:
            b[i] = 0.0
        else:
            b[i] = b[i] / m[i, i] - b[i + 1 :] @ m[i + 1 :, i]
    return b


def chinv2(m: np.ndarray) -> np.ndarray:
    """R ``chinv2``: the generalised inverse F'^-1 D^+ F^-1 of a :func:`cholesky2` factor;
    rows and columns of zero pivots are 0 (so R's ``diag(var) == 0`` finds them)."""
    n = m.shape[0]
    if n == 0:
        return np.zeros((0, 0))
    d = np.diag(m).copy()
    sing = d == 0
    F = np.tril(m, -1)
    F[:, sing] = 0.0  # R never sweeps with a singular column
    F += np.eye(n)
    Finv = solve_triangular(F, np.eye(n), lower=True, unit_diagonal=True)
    dinv = np.where(sing, 0.0, 1.0 / np.where(sing, 1.0, d))
    out = Finv.T @ (Finv * dinv[:, None])
    out[sing, :] = 0.0
    out[:, sing] = 0.0
    return out


def solve_quad(A: np.ndarray, u: np.ndarray, toler: float = TOLER_CHOL) -> float:
    """u' A^- u with R's generalised Cholesky (``coxph.wtest``): the statistic R gives
    also for a singular matrix (a robust variance from fewer clusters than coefficients)."""
    if u.size == 0:
        return 0.0
    m, _ = cholesky2(A, toler)
    return float(u @ chsolve2(m, u))


@dataclass(frozen=True, eq=False)
class _Fit:
    beta: np.ndarray  # original units; 0 for a non-estimable column
    loglik0: float
    loglik: float
    score0: float  # score test at beta = 0 (R sctest)
    var: np.ndarray  # R fit$var (generalised inverse, zero rows for singular pivots)
    u: np.ndarray  # score at the returned beta (R coxfit$u), original units
    iterations: int  # as R reports fit$iter
    converged: bool
    flag: int  # R: rank, -2 (converged while halving), 1000 (coxfit6 not converged)
    singular: np.ndarray  # R which.sing


def _ratio_change(best: float, new: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(abs(1.0 - np.float64(best) / np.float64(new)))


class _Scaled:
    """The log-likelihood, score and information at scaled coefficients (R's units)."""

    def __init__(self, risk: _Risk):
        self.risk, self.sc = risk, risk.scale

    def __call__(self, bs: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ll, U, info = self.risk.derivs(bs * self.sc)
        return ll, U * self.sc, info * np.outer(self.sc, self.sc)

    def unscale(self, var: np.ndarray) -> np.ndarray:
        return var * np.outer(self.sc, self.sc)


def _finite(ll: float, U: np.ndarray, info: np.ndarray) -> bool:
    return bool(np.isfinite(ll) and np.isfinite(U).all() and np.isfinite(info).all())


def newton(risk: _Risk, iter_max: int = ITER_MAX, eps: float = EPS,
           toler_chol: float = TOLER_CHOL) -> _Fit:
    """Fit from beta = 0 as R ``coxph.fit`` (``coxfit6``) or, for counting-process data,
    ``agreg.fit`` (``agfit4``)."""
    if risk.start is None:
        return _coxfit6(risk, iter_max, eps, toler_chol)
    return _agfit4(risk, iter_max, eps, toler_chol)


def _at_zero(risk: _Risk, toler: float):
    """What both fits start from, at beta = 0 in scaled units: the derivatives, the
    Cholesky factor of the information and its rank, the Newton step and the score test."""
    f = _Scaled(risk)
    ll0, U, info = f(np.zeros(risk.p))
    m, rank = cholesky2(info, toler)
    a = chsolve2(m, U)
    return f, ll0, U, m, rank, a, float(U @ a)


def _coxfit6(risk: _Risk, iter_max: int, eps: float, toler: float) -> _Fit:
    p = risk.p
    beta = np.zeros(p)
    f, ll0, U, m, flag, a, score0 = _at_zero(risk, toler)

    def done(b, ll, var_s, u_s, it, conv, flag):
        var = f.unscale(var_s)
        sing = np.diag(var) == 0 if flag < p else np.zeros(p, dtype=bool)
        return _Fit(b * f.sc, ll0, ll, score0, var, u_s / f.sc, it, conv, flag, sing)

    if iter_max == 0 or not np.isfinite(ll0):
        return done(beta, ll0, chinv2(m), U, 0, False, flag)
    best = ll0
    new = beta + a
    halving = 0
    for it in range(1, iter_max + 1):
        newlk, U, info = f(new)
        m, flag = cholesky2(info, toler)
        finite = _finite(newlk, U, info)
        if finite and _ratio_change(best, newlk) <= eps:
            return done(new, newlk, chinv2(m), U, it, True, -2 if halving else flag)
        if not finite or newlk < best:
            halving += 1  # more cautious each time it fails again
            new = (new + halving * beta) / (halving + 1.0)
        else:
            halving = 0
            best = newlk
            step = chsolve2(m, U)
            beta, new = new, new + step
    # out of iterations: R reports the last accepted beta; with iter.max > 1 it recomputes
    # the loglik, score and information there and inverts that matrix without factoring
    # it first, which leaves the inverse of its diagonal
    if iter_max > 1:
        best, U, info = f(beta)
        d = np.diag(info)
        var_s = np.diag(np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0))
    else:
        var_s = chinv2(m)
    return done(beta, best, var_s, U, iter_max + 1, False, 1000)


def _agfit4(risk: _Risk, iter_max: int, eps: float, toler: float) -> _Fit:
    p = risk.p
    beta = np.zeros(p)
    f, ll0, U, m, rank, a, score0 = _at_zero(risk, toler)
    newlk, it, converged = ll0, 0, False
    if iter_max > 0 and np.isfinite(ll0):
        best = ll0
        old, beta = beta, beta + a
        halving = 0
        for it in range(1, iter_max + 1):
            newlk, U, info = f(beta)
            fail = int((~np.isfinite(np.diag(info))).sum())
            m, rank2 = cholesky2(info, toler)
            fail += int(not np.isfinite(newlk)) + abs(rank - rank2)
            if fail == 0 and halving == 0 and _ratio_change(best, newlk) <= eps:
                converged = True
                break
            if it == iter_max:
                # the last trial worse than the best by more than roundoff: go back
                with np.errstate(divide="ignore", invalid="ignore"):
                    worse = (np.float64(newlk) - best) / abs(np.float64(best)) < -eps
                if iter_max > 1 and worse:
                    beta = old
                    newlk, U, info = f(beta)
                    m, _ = cholesky2(info, toler)
                break
            if fail > 0 or newlk < best:
                halving += 1
                beta = (old * halving + beta) / (halving + 1.0)
            else:
                halving = 0
                best = newlk
                step = chsolve2(m, U)
                old, beta = beta, beta + step
    var = f.unscale(chinv2(m))
    sing = np.diag(var) == 0 if rank < p else np.zeros(p, dtype=bool)
    return _Fit(beta * f.sc, ll0, newlk, score0, var, U / f.sc, it, converged, rank, sing)
