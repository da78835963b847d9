"""Cox proportional-hazards regression, as R ``survival::coxph`` (and ``cox.zph``).

The fit is a vectorised Newton-Raphson of our own: rows are sorted once by (stratum,
time); risk-set sums are reverse cumulative sums over the distinct times; the Efron
correction expands each event time into one sub-step per tied death. The iteration follows
R's ``coxfit6`` exactly (start at 0, full Newton steps, step halving when the
log-likelihood falls, stop when ``|1 - old/new| <= 1e-9``), so the coefficients agree with R
to the last digits rather than only to the convergence tolerance. Counting-process
``(start, stop]`` data use the same iteration: each risk-set sum is the reverse cumulative
sum over stop times less the one over start times (R ``agfit4``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm, rankdata

from ..schema import REFERENCE_LEVELS
from ._result import Result, json_safe
from ._times import group_codes, group_levels, level_label, survival_data

TIES = ("efron", "breslow")
_EPS = 1e-9  # coxph.control(eps)
_MAXITER = 20  # coxph.control(iter.max)


# ----------------------------------------------------------------------------- design
@dataclass(frozen=True, eq=False)
class _Design:
    names: tuple[str, ...]  # one per column of X
    terms: tuple[str, ...]  # one per covariate (a categorical term spans several columns)
    assign: tuple[tuple[int, ...], ...]  # columns of each term
    references: dict[str, Any]  # reference level of each categorical covariate
    X: np.ndarray


def _is_categorical(s: pd.Series) -> bool:
    """Factors: Categorical, object/string, and yes/no (numpy bool or pandas nullable
    "boolean", as the loader gives them) - a yes/no field is a two-level factor, not 0/1."""
    return (
        isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(s.dtype)
        or pd.api.types.is_object_dtype(s.dtype)
        or pd.api.types.is_string_dtype(s.dtype)
    )


def _same_level(a: Any, b: Any) -> bool:
    """Equal levels, True never standing in for 1 (nor False for 0)."""
    is_bool = isinstance(a, (bool, np.bool_)), isinstance(b, (bool, np.bool_))
    return is_bool[0] == is_bool[1] and a == b


def _design(frame: pd.DataFrame, covariates: Sequence[str], reference: Mapping[str, Any]) -> _Design:
    cols: list[np.ndarray] = []
    names: list[str] = []
    assign: list[tuple[int, ...]] = []
    refs: dict[str, Any] = {}
    for cov in covariates:
        s = frame[cov]
        if _is_categorical(s):
            levels = group_levels(s)
            if cov in reference:
                ref = reference[cov]
            else:  # the schema's stated reference (IRLM order), else the first level
                ref = REFERENCE_LEVELS.get(cov)
                if not any(_same_level(ref, lev) for lev in levels):
                    ref = levels[0] if levels else None
            if ref not in levels:
                raise ValueError(f"reference level {ref!r} of {cov!r} not among {levels}")
            refs[cov] = level_label(ref)
            codes = group_codes(s, levels)
            start = len(names)
            for i, lev in enumerate(levels):
                if lev == ref:
                    continue
                cols.append((codes == i).astype(float))
                names.append(f"{cov}[{level_label(lev)}]")
            assign.append(tuple(range(start, len(names))))
        else:
            cols.append(pd.to_numeric(s).to_numpy(dtype=float))
            names.append(cov)
            assign.append((len(names) - 1,))
    unknown = set(reference) - set(refs)
    if unknown:
        raise ValueError(f"reference given for non-categorical or absent covariate(s): {unknown}")
    X = np.column_stack(cols) if cols else np.zeros((len(frame), 0))
    return _Design(tuple(names), tuple(covariates), tuple(assign), refs, X)


def design_matrix(
    frame: pd.DataFrame, covariates: Sequence[str], reference: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """The numeric design :func:`cox` fits, one named column per term: indicators
    ``col[level]`` against the reference level for factors and yes/no columns, numbers as
    they are. For models fitted elsewhere (scikit-survival) on complete rows.

    >>> design_matrix(pd.DataFrame({"complete_resection": [True, False, True]}),
    ...               ["complete_resection"]).columns.tolist()
    ['complete_resection[False]']
    """
    d = _design(frame, covariates, dict(reference or {}))
    return pd.DataFrame(d.X, columns=list(d.names), index=frame.index)


# ----------------------------------------------------------------------------- risk sets
@dataclass(frozen=True, eq=False)
class _Stratum:
    """One stratum, rows sorted by time: block = run of equal times."""

    rows: slice  # its rows in the sorted arrays
    starts: np.ndarray  # first row (relative) of each block
    block: np.ndarray  # block of each row
    ev_blocks: np.ndarray  # blocks with >= 1 death
    d: np.ndarray  # deaths per event block
    sub_block: np.ndarray  # event block (position in ev_blocks) of each Efron sub-step
    frac: np.ndarray  # k / d of each sub-step (0 for Breslow)
    dead_rows: np.ndarray  # rows (relative) with an event
    dead_block: np.ndarray  # their event block (position in ev_blocks)
    # (start, stop] data only: rows (relative) by start time; for each event block the
    # position in that order from which rows start at or after it (not yet at risk); for
    # each row the number of event blocks at or before its start
    start_order: np.ndarray | None = None
    late: np.ndarray | None = None
    ev_before: np.ndarray | None = None


class _Risk:
    """Sorted data and the vectorised sums over risk sets that every quantity needs.

    Right-censored data: the risk set at t is every row with time >= t, a reverse
    cumulative sum. Counting-process data (``start`` given): rows with start < t <= stop,
    i.e. that sum less the rows that start at or after t (R ``agfit4`` keeps the same two
    running sums)."""

    def __init__(self, X: np.ndarray, t: np.ndarray, e: np.ndarray, s: np.ndarray,
                 efron: bool, start: np.ndarray | None = None):
        order = np.lexsort((t, s))
        self.order = order
        # centring changes nothing but roundoff; columns contiguous for the sums
        self.X = np.asfortranarray(X[order] - X.mean(axis=0))
        self.t, self.e, self.s = t[order], e[order].astype(float), s[order]
        self.start = None if start is None else start[order]
        self.p = X.shape[1]
        self.pairs = [(j, k) for j in range(self.p) for k in range(j + 1)]
        self.strata: list[_Stratum] = []
        bounds = np.flatnonzero(np.diff(self.s)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, self.s.size], strict=True):
            tt, ee = self.t[lo:hi], self.e[lo:hi]
            starts = np.r_[0, np.flatnonzero(np.diff(tt)) + 1]
            block = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, tt.size]))
            deaths = np.add.reduceat(ee, starts)
            ev_blocks = np.flatnonzero(deaths > 0)
            d = deaths[ev_blocks].astype(np.int64)
            sub_block = np.repeat(np.arange(d.size), d)
            k = np.arange(sub_block.size) - np.repeat(np.cumsum(d) - d, d)
            frac = k / np.repeat(d, d) if efron else np.zeros(k.size)
            dead_rows = np.flatnonzero(ee > 0)
            pos = np.full(starts.size, -1)
            pos[ev_blocks] = np.arange(ev_blocks.size)
            entry: dict[str, np.ndarray] = {}
            if self.start is not None:
                t0 = self.start[lo:hi]
                start_order = np.argsort(t0, kind="stable")
                ev_times = tt[starts[ev_blocks]]
                entry = {"start_order": start_order,
                         "late": np.searchsorted(t0[start_order], ev_times, side="left"),
                         "ev_before": np.searchsorted(ev_times, t0, side="right")}
            self.strata.append(
                _Stratum(slice(int(lo), int(hi)), starts, block, ev_blocks, d, sub_block, frac,
                         dead_rows, pos[block[dead_rows]], **entry)
            )

    def _sums(self, st: _Stratum, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Risk-set sum and deaths-only sum of ``w`` at each event block."""
        per_block = w if st.starts.size == w.size else np.add.reduceat(w, st.starts)
        at_risk = np.cumsum(per_block[::-1])[::-1][st.ev_blocks]
        if st.start_order is not None:
            later = np.cumsum(w[st.start_order][::-1])[::-1]
            at_risk = at_risk - np.r_[later, 0.0][st.late]
        dead = np.bincount(st.dead_block, w[st.dead_rows], st.d.size)
        return at_risk, dead

    def steps(
        self, beta: np.ndarray, st: _Stratum, second: bool = False
    ) -> dict[str, np.ndarray]:
        """Per Efron sub-step: denominator and weighted mean of x; with ``second`` the
        information (summed) and each sub-step's weighted covariance ``v{j}_{k}`` (cox.zph
        weights them by g(t); the fit itself uses :meth:`information`)."""
        X = self.X[st.rows]
        eta = _lp(X, beta)
        r = np.exp(eta)
        S0, D0 = self._sums(st, r)
        sb, frac = st.sub_block, st.frac
        denom = S0[sb] - frac * D0[sb]
        mean = np.empty((sb.size, self.p))
        for j in range(self.p):
            S1, D1 = self._sums(st, r * X[:, j])
            mean[:, j] = (S1[sb] - frac * D1[sb]) / denom
        out = {"eta": eta, "r": r, "denom": denom, "mean": mean}
        if second:
            cov = np.empty((self.p, self.p))
            for j, k in self.pairs:
                S2, D2 = self._sums(st, r * X[:, j] * X[:, k])
                v = (S2[sb] - frac * D2[sb]) / denom - mean[:, j] * mean[:, k]
                out[f"v{j}_{k}"] = v
                cov[j, k] = cov[k, j] = v.sum()
            out["info"] = cov
        return out

    def information(self, st: _Stratum, z: dict[str, np.ndarray]) -> np.ndarray:
        """The information of one stratum, sum over sub-steps of the weighted covariance
        of x, without a risk-set sum per pair of columns: with a_i = 1 / denom_i and
        b_i = frac_i / denom_i, sum_i (S2 - frac_i D2) a_i regroups into one weight per
        row, r times the a's of the risk sets the row belongs to (less the b's of its own
        sub-steps for a death), so the whole matrix is X' W X - M'M (two products instead
        of p(p + 1) / 2 passes over the rows)."""
        X, r, mean = self.X[st.rows], z["r"], z["mean"]
        ne = st.d.size
        a = np.bincount(st.sub_block, 1.0 / z["denom"], ne)
        b = np.bincount(st.sub_block, st.frac / z["denom"], ne)
        cum_a = np.zeros(st.starts.size)
        cum_a[st.ev_blocks] = a
        cum_a = np.cumsum(cum_a)
        w = cum_a[st.block]  # event blocks at or before the row's time
        if st.ev_before is not None:  # less those at or before its start
            w = w - np.r_[0.0, np.cumsum(a)][st.ev_before]
        w *= r
        w[st.dead_rows] -= r[st.dead_rows] * b[st.dead_block]
        return X.T @ (X * w[:, None]) - mean.T @ mean

    def derivs(self, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log partial likelihood, score and information at ``beta``."""
        ll, U, info = 0.0, np.zeros(self.p), np.zeros((self.p, self.p))
        for st in self.strata:
            if st.d.size == 0:
                continue
            z = self.steps(beta, st)
            e = self.e[st.rows]
            ll += float(e @ z["eta"] - np.log(z["denom"]).sum())
            U += e @ self.X[st.rows] - z["mean"].sum(axis=0)
            info += self.information(st, z)
        return ll, U, info

    def score_residuals(self, beta: np.ndarray) -> np.ndarray:
        """Score residuals (rows in sorted order), Efron-aware as R ``coxscore2`` (and
        ``agscore3`` for (start, stop] rows, which take only the event times inside their
        interval): a death at a tied time receives only the fraction (1 - k/d) of the k-th
        sub-step."""
        res = np.zeros((self.t.size, self.p))
        for st in self.strata:
            X = self.X[st.rows]
            if st.d.size == 0:
                continue
            z = self.steps(beta, st)
            h = 1.0 / z["denom"]
            hd = (1.0 - st.frac) * h
            nb, ne = st.starts.size, st.d.size
            H = np.zeros(nb)
            G = np.zeros((nb, self.p))
            H[st.ev_blocks] = np.bincount(st.sub_block, h, ne)
            Hd = np.bincount(st.sub_block, hd, ne)
            M = np.zeros((ne, self.p))
            Gd = np.zeros((ne, self.p))
            for j in range(self.p):
                G[st.ev_blocks, j] = np.bincount(st.sub_block, h * z["mean"][:, j], ne)
                Gd[:, j] = np.bincount(st.sub_block, hd * z["mean"][:, j], ne)
                M[:, j] = np.bincount(st.sub_block, z["mean"][:, j], ne) / st.d
            cH, cG = np.cumsum(H), np.cumsum(G, axis=0)
            b = st.block
            Hi, Gi = cH[b], cG[b]
            if st.ev_before is not None:  # less the event times at or before the start
                k = st.ev_before
                Hi = Hi - np.r_[0.0, cH[st.ev_blocks]][k]
                Gi = Gi - np.r_[np.zeros((1, self.p)), cG[st.ev_blocks]][k]
            # deaths: replace the full share of their own time by the Efron share
            dead, eb = st.dead_rows, st.dead_block
            Hi[dead] += Hd[eb] - H[b[dead]]
            Gi[dead] += Gd[eb] - G[b[dead]]
            r = z["r"]
            out = -r[:, None] * (X * Hi[:, None] - Gi)
            out[dead] += X[dead] - M[eb]
            res[st.rows] = out
        return res


_TOLER_CHOL = float(np.finfo(float).eps ** 0.75)  # coxph.control(toler.chol)


def _lp(X: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """X @ beta column by column: elementwise arithmetic, so identical covariate rows get
    bit-identical scores (BLAS may round rows differently, which would break ties in the
    concordance)."""
    out = np.zeros(X.shape[0])
    for j, b in enumerate(beta):
        out += X[:, j] * b
    return out


def _solve_quad(A: np.ndarray, u: np.ndarray, toler: float = _TOLER_CHOL) -> float:
    """u' A^- u with R's generalised Cholesky (``cholesky2`` + ``chsolve2``): a pivot below
    ``toler`` times the largest diagonal is treated as 0 and its direction ignored, so a
    singular matrix (e.g. a robust variance from fewer clusters than coefficients) gives
    the same statistic as R instead of an error."""
    n = u.size
    if n == 0:
        return 0.0
    m = np.array(A, dtype=float)
    top = max(float(np.max(np.diag(m))), 0.0)
    eps = toler if top == 0 else top * toler
    for i in range(n):
        piv = m[i, i]
        if not np.isfinite(piv) or piv < eps:
            m[i, i] = 0.0
            continue
        col = m[i + 1 :, i] / piv
        m[i + 1 :, i + 1 :] -= np.outer(col, col) * piv
        m[i + 1 :, i] = col
    y = np.array(u, dtype=float)
    for i in range(n):  # F b = u (unit lower triangle)
        y[i] -= y[:i] @ m[i, :i]
    z = np.zeros(n)
    for i in range(n - 1, -1, -1):  # D F' z = b
        if m[i, i] != 0:
            z[i] = y[i] / m[i, i] - z[i + 1 :] @ m[i + 1 :, i]
    return float(u @ z)


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    loglik0: float
    loglik: float
    score0: float  # score test at beta = 0
    info: np.ndarray
    iterations: int
    converged: bool


def _newton(risk: _Risk) -> _Fit:
    """R coxfit6's iteration (start at 0, Newton steps, halving, relative loglik test)."""
    p = risk.p
    beta = np.zeros(p)
    ll0, U0, info0 = risk.derivs(beta)
    ll, info = ll0, info0
    score0 = _solve_quad(info0, U0)
    newbeta = beta + np.linalg.solve(info0, U0)
    halving = False
    for it in range(1, _MAXITER + 1):
        newlk, U, newinfo = risk.derivs(newbeta)
        finite = np.isfinite(newlk) and np.isfinite(U).all()
        if finite and abs(1 - ll / newlk) <= _EPS and not halving:
            return _Fit(newbeta, ll0, newlk, score0, newinfo, it, True)
        if it == _MAXITER:
            break
        if not finite or newlk < ll:
            halving = True
            newbeta = (newbeta + beta) / 2
        else:
            halving = False
            ll, info = newlk, newinfo
            beta = newbeta
            newbeta = beta + np.linalg.solve(newinfo, U)
    return _Fit(beta, ll0, ll, score0, info, _MAXITER, False)


# ----------------------------------------------------------------------------- concordance
def _prefix_counts(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each position i: sum of w_j over j < i with v_j < v_i, and with v_j <= v_i.

    Bottom-up merge counting, vectorised per level: at each level the order from the
    previous one consists of sorted runs, which numpy's stable sort (timsort) merges in
    linear time, so the whole is O(n log n) without a Python loop over subjects."""
    n = v.size
    M = int(v.max(initial=0)) + 1
    perm = np.arange(n, dtype=np.int64)
    vp = v.astype(np.int64)
    wp = np.asarray(w, dtype=float)
    lt = np.zeros(n)
    le = np.zeros(n)
    idx = np.arange(n, dtype=np.int64)
    change = np.empty(n, dtype=bool)
    k = 0
    while (1 << k) < n:
        sh = k + 1
        # sort by (pair of blocks, value, half): the two halves are already sorted runs
        key = (((perm >> sh) * M + vp) << 1) | ((perm >> k) & 1)
        order = np.argsort(key, kind="stable")
        perm, vp, wp = perm[order], vp[order], wp[order]
        right = ((perm >> k) & 1).astype(bool)
        wl = np.where(right, 0.0, wp)
        cl = np.cumsum(wl)
        cl_ex = cl - wl
        grp = (perm >> sh) * M + vp
        change[0] = True
        np.not_equal(grp[1:], grp[:-1], out=change[1:])
        gstart = np.maximum.accumulate(np.where(change, idx, 0))
        pr = perm[right]
        base = cl_ex[(pr >> sh) << sh]  # sorted position of the pair's first element
        lt[pr] += cl_ex[gstart[right]] - base
        le[pr] += cl[right] - base
        k += 1
    return lt, le


def _before_counts(
    point_time: np.ndarray, point_v: np.ndarray, query_time: np.ndarray,
    query_v: np.ndarray, descending: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each query: how many points lie at or beyond its time (time >= the query's when
    ``descending``, else time <= it) with a lower score, a lower or equal score, any score.
    Times are integer codes, scores integer ranks."""
    n_p = point_time.size
    time = np.r_[point_time, query_time]
    kind = np.r_[np.zeros(n_p, np.int64), np.ones(query_time.size, np.int64)]
    order = np.lexsort((kind, -time if descending else time))
    v = np.r_[point_v, query_v][order]
    w = (kind[order] == 0).astype(float)
    lt, le = _prefix_counts(v, w)
    total = np.cumsum(w) - w
    back = np.empty(order.size, np.int64)
    back[order] = np.arange(order.size)
    q = back[n_p:]
    return lt[q], le[q], total[q]


def _concordance(
    t: np.ndarray, e: np.ndarray, x: np.ndarray, s: np.ndarray, cluster: np.ndarray | None,
    start: np.ndarray | None = None,
) -> tuple[float, float, dict[str, float]]:
    """Harrell's C as R ``concordancefit(y, lp, strata, reverse = TRUE)`` (what
    ``coxph`` reports): comparable pairs are an event and a subject with a longer time
    or censored at the same time, within a stratum; a higher risk score for the earlier
    event is concordant; C = (concordant + tied.x / 2) / (concordant + discordant + tied.x).
    The standard error is R's infinitesimal jackknife (per-subject pair counts).

    For (start, stop] rows (R ``concordance4``) the partners of an event at t are the rows
    at risk at t (start < t), so the rows starting at or after t are taken off both the
    event's counts and, as partners, theirs."""
    n = t.size
    C = np.zeros(n)
    D = np.zeros(n)
    T = np.zeros(n)
    tied_y = tied_xy = 0.0
    for lev in np.unique(s):
        idx = np.flatnonzero(s == lev)
        ts, es, xs = t[idx], e[idx], x[idx]
        if es.sum() == 0:
            continue
        tr = np.unique(ts, return_inverse=True)[1].ravel().astype(np.int64)
        vr = np.unique(xs, return_inverse=True)[1].ravel().astype(np.int64)
        # sequence: later times first, censored before events at the same time, and
        # tied events by decreasing risk score; an event's comparable partners are the
        # subjects before it, less the earlier members of its own tied-event group
        a = -2 * tr + es
        order = np.lexsort((-vr, a))
        a_o, e_o, v_o = a[order], es[order].astype(float), vr[order]
        pos = np.arange(a_o.size)
        gstart = np.maximum.accumulate(np.where(np.r_[True, a_o[1:] != a_o[:-1]], pos, 0))
        key = a_o * (int(vr.max()) + 1) + v_o
        kstart = np.maximum.accumulate(np.where(np.r_[True, key[1:] != key[:-1]], pos, 0))
        last = np.r_[np.flatnonzero(a_o[1:] != a_o[:-1]), a_o.size - 1]
        gend = np.repeat(last, np.diff(np.r_[-1, last]))
        kl = np.r_[np.flatnonzero(key[1:] != key[:-1]), key.size - 1]
        kend = np.repeat(kl, np.diff(np.r_[-1, kl]))
        ev = e_o == 1
        in_before, eq_before = pos - gstart, pos - kstart
        in_after, eq_after = gend - pos, kend - pos
        # the event as the earlier member: partners before it in the sequence
        lt, le = _prefix_counts(v_o, np.ones(a_o.size))
        less = lt
        leq = le - eq_before
        total = pos - in_before
        ci = np.where(ev, less, 0.0)
        ti = np.where(ev, leq - less, 0.0)
        di = np.where(ev, total - leq, 0.0)
        # every subject as the later member: events after it in the sequence
        lt_r, le_r = _prefix_counts((v_o.max() - v_o)[::-1], e_o[::-1])
        lt_r, le_r = lt_r[::-1], le_r[::-1]
        ev_after = np.cumsum(e_o[::-1])[::-1] - e_o
        own_eq = np.where(ev, eq_after, 0)
        own_all = np.where(ev, in_after, 0)
        cj = lt_r
        tj = le_r - lt_r - own_eq
        dj = ev_after - le_r - (own_all - own_eq)
        back = idx[order]
        C[back] += ci + cj
        T[back] += ti + tj
        D[back] += di + dj
        if start is not None:
            codes = np.unique(np.r_[start[idx], ts], return_inverse=True)[1].ravel()
            c0, c1 = codes[: idx.size], codes[idx.size :]
            dead_i = np.flatnonzero(es == 1)
            # events: partners that start at or after the event are not at risk
            lt, le, tot = _before_counts(c0, vr, c1[dead_i], vr[dead_i], descending=True)
            C[idx[dead_i]] -= lt
            T[idx[dead_i]] -= le - lt
            D[idx[dead_i]] -= tot - le
            # partners: events at or before their start are not theirs (scores flipped)
            flip = int(vr.max()) - vr
            gt, ge, tot = _before_counts(c1[dead_i], flip[dead_i], c0, flip, descending=False)
            C[idx] -= gt
            T[idx] -= ge - gt
            D[idx] -= tot - ge
        # pairs of events at the same time: tied on y (and on x)
        dead = es == 1
        _, cnt = np.unique(ts[dead], return_counts=True)
        _, cnt_xy = np.unique(np.column_stack((ts[dead], xs[dead])), axis=0, return_counts=True)
        pairs_xy = float((cnt_xy * (cnt_xy - 1) / 2).sum())
        tied_xy += pairs_xy
        tied_y += float((cnt * (cnt - 1) / 2).sum()) - pairs_xy
    conc, disc, tx = C.sum() / 2, D.sum() / 2, T.sum() / 2
    npair = conc + disc + tx
    counts = {"concordant": conc, "discordant": disc, "tied_x": tx, "tied_y": tied_y,
              "tied_xy": tied_xy}
    if npair == 0:
        return float("nan"), float("nan"), counts
    somer = (conc - disc) / npair
    dfbeta = ((C - D) - (C + D + T) * somer) / (2 * npair)
    if cluster is not None:
        dfbeta = np.bincount(cluster, dfbeta)
    return (somer + 1) / 2, float(np.sqrt(np.sum(dfbeta**2))), counts


# ----------------------------------------------------------------------------- results
_ZPH_AXES = ("time", "x", "stratum")


@dataclass(frozen=True, eq=False)
class PHTestResult(Result):
    """Test of proportional hazards per term and GLOBAL, as R ``cox.zph``."""

    terms: tuple[str, ...]  # covariate terms, then "GLOBAL"
    chisq: np.ndarray
    df: np.ndarray
    p: np.ndarray
    transform: str
    #: cox.zph's plot data, one row per event: time, x (transformed time), stratum (when
    #: stratified) and the scaled Schoenfeld residual of each term (y; its smooth
    #: against x estimates beta(t), flat when hazards are proportional), in a column named
    #: as the term (``y:<term>`` for a term itself called time, x or stratum)
    residuals: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"term": list(self.terms), "chisq": self.chisq, "df": self.df, "p": self.p}
        )

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"transform": self.transform, "table": self.to_frame(),
                          "residuals": self.residuals})


@dataclass(frozen=True, eq=False)
class CoxResult(Result):
    """A fitted Cox model. Term names: a numeric covariate keeps its name, a categorical
    one gives ``column[level]`` per non-reference level (R would say ``columnlevel``)."""

    terms: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray | None
    vcov: np.ndarray
    vcov_robust: np.ndarray | None
    conf_level: float
    loglik_null: float
    loglik: float
    lrt: tuple[float, int, float]
    wald: tuple[float, int, float]
    score: tuple[float, int, float]
    robust_score: tuple[float, int, float] | None
    n: int
    events: int
    n_dropped: int
    iterations: int
    converged: bool
    ties: str
    covariates: tuple[str, ...]
    references: dict[str, Any]
    strata: tuple[str, ...]
    cluster: str | None
    time: str
    event: str
    start: str | None = None
    _zph_data: Any = field(default=None, repr=False)
    _cluster_codes: np.ndarray | None = field(default=None, repr=False)

    @property
    def hr(self) -> np.ndarray:
        return np.exp(self.coef)

    # Harrell's C costs as much as the fit itself on a large cohort (O(n log n) sorts over
    # every subject), and most callers (the report, the IRLM battery) never read it: it is
    # computed on first access of any of the three, once.
    @cached_property
    def _concordance_fit(self) -> tuple[float, float, dict[str, float]]:
        risk, beta = self._zph_data[:2]
        return _concordance(risk.t, risk.e.astype(np.int64), _lp(risk.X, beta), risk.s,
                            self._cluster_codes, risk.start)

    @property
    def concordance(self) -> float:
        """Harrell's C as R ``fit$concordance`` (computed on first access)."""
        return self._concordance_fit[0]

    @property
    def concordance_se(self) -> float:
        """Its infinitesimal-jackknife standard error (R ``sqrt(fit$var)``)."""
        return self._concordance_fit[1]

    @property
    def concordance_counts(self) -> dict[str, float]:
        """Concordant, discordant, tied_x, tied_y, tied_xy pair counts (R ``count``)."""
        return self._concordance_fit[2]

    def _se_used(self) -> np.ndarray:
        return self.robust_se if self.robust_se is not None else self.se

    def to_frame(self) -> pd.DataFrame:
        """term, coef, hr, se, robust_se, z, p, lower, upper (HR limits). With a robust
        variance, z, p and the limits use the robust SE (as R ``summary.coxph``)."""
        se = self._se_used()
        z = self.coef / se
        q = norm.ppf(1 - (1 - self.conf_level) / 2)
        return pd.DataFrame(
            {
                "term": list(self.terms),
                "coef": self.coef,
                "hr": self.hr,
                "se": self.se,
                "robust_se": self.robust_se if self.robust_se is not None else np.nan,
                "z": z,
                "p": 2 * norm.sf(np.abs(z)),
                "lower": np.exp(self.coef - q * se),
                "upper": np.exp(self.coef + q * se),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        names = [f for f in self.__dataclass_fields__ if not f.startswith("_")]
        at = names.index("robust_score") + 1  # the keys' order since they were fields
        names[at:at] = ["concordance", "concordance_se", "concordance_counts"]
        out = {f: getattr(self, f) for f in names}
        out["table"] = self.to_frame()
        for k in ("lrt", "wald", "score", "robust_score"):
            v = out[k]
            out[k] = None if v is None else {"statistic": v[0], "df": v[1], "p": v[2]}
        return json_safe(out)

    def _repr_html_(self) -> str:
        head = (f"<b>CoxResult</b> n = {self.n}, events = {self.events} "
                f"({self.n_dropped} dropped), ties = {self.ties}, "
                f"concordance = {self.concordance:.3f}")
        return head + self.to_frame().to_html(index=False, na_rep="NA")

    def ph_test(self, transform: str = "km") -> PHTestResult:
        """Proportional-hazards test as R ``cox.zph(fit, transform = "km")`` (survival
        >= 3.0): a score test, at the fitted coefficients, of adding x * g(t) for each
        term, g(t) = 1 - S(t-) with S the Kaplan-Meier of all subjects (strata ignored),
        centred at its mean over the deaths. Per term (all columns of a categorical
        term jointly) and GLOBAL (all terms), chi-square on df = columns. ``transform``
        may also be "rank", "identity" or "log", as in R.

        >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11],
        ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1],
        ...                    "age": [60, 70, 55, 80, 65, 50, 75, 62]})
        >>> cox(df, ["age"]).ph_test().to_frame()["term"].tolist()
        ['age', 'GLOBAL']
        """
        risk, beta, assign, stratum_labels = self._zph_data
        p = risk.p
        if transform == "km":
            # KM of everyone, left-continuous, at each subject's (stop) time
            ut, inv = np.unique(risk.t, return_inverse=True)
            deaths = np.bincount(inv, risk.e)
            nrisk = np.cumsum(np.bincount(inv)[::-1])[::-1]
            if risk.start is not None:  # at risk at t: start < t <= stop
                nrisk = nrisk - (risk.start.size
                                 - np.searchsorted(np.sort(risk.start), ut, side="left"))
            surv = np.cumprod(1 - deaths / nrisk)
            g = 1 - np.r_[1.0, surv[:-1]][inv]
        elif transform == "rank":
            g = rankdata(risk.t)  # R rank(): average ranks over all subjects
        elif transform == "identity":
            g = risk.t.copy()
        elif transform == "log":
            g = np.log(risk.t)
        else:
            raise ValueError(f"transform must be km, rank, identity or log, got {transform!r}")
        x_plot = g  # R's cox.zph x: the transformed time, before centring
        g = g - g[risk.e > 0].mean()
        u2 = np.zeros(p)
        imat = np.zeros((2 * p, 2 * p))
        schoen = np.zeros((int(risk.e.sum()), p))
        used = np.zeros((len(risk.strata), p))
        at = 0
        for i, st in enumerate(risk.strata):
            if st.d.size == 0:
                continue
            z = risk.steps(beta, st, second=True)
            rows, e = st.rows, risk.e[st.rows]
            X = risk.X[rows]
            gt = g[rows][st.starts[st.ev_blocks]][st.sub_block]  # g at each sub-step
            u2 += (g[rows] * e) @ X - gt @ z["mean"]
            block = np.zeros((2 * p, 2 * p))
            for j, k in risk.pairs:
                v = z[f"v{j}_{k}"]
                for a, b, w in ((0, 0, 1.0), (0, p, gt), (p, p, gt * gt)):
                    val = float(np.sum(w * v))
                    block[a + j, b + k] = block[a + k, b + j] = val
                    block[b + k, a + j] = block[b + j, a + k] = val
            imat += block
            # Schoenfeld residuals: x minus the mean of the Efron sub-step means
            mean_of_means = np.column_stack(
                [np.bincount(st.sub_block, z["mean"][:, j], st.d.size) / st.d
                 for j in range(p)])
            nd = st.dead_rows.size
            schoen[at : at + nd] = X[st.dead_rows] - mean_of_means[st.dead_block]
            at += nd
            used[i] = np.where(np.ptp(X, axis=0) > 0, nd, 0)
        u = np.r_[np.zeros(p), u2]
        stats, dfs = [], []
        for cols in assign:
            kk = np.r_[np.arange(p), p + np.asarray(cols)]
            stats.append(_solve_quad(imat[np.ix_(kk, kk)], u[kk]))
            dfs.append(len(cols))
        stats.append(_solve_quad(imat, u))
        dfs.append(p)
        stats_a, dfs_a = np.array(stats), np.array(dfs)
        dead = np.flatnonzero(risk.e > 0)
        resid = _scaled_schoenfeld(schoen, used, imat[:p, :p], assign, beta)
        if risk.start is not None:
            # R lists (start, stop] events by rev(order(-strata, -stop)): tied deaths in
            # reverse row order
            flip = np.lexsort((-np.arange(dead.size), risk.t[dead], risk.s[dead]))
            dead, resid = dead[flip], resid[flip]
        axes = {"time": risk.t[dead], "x": x_plot[dead]}
        if self.strata:
            axes["stratum"] = np.asarray(stratum_labels, dtype=object)[risk.s[dead]]
        frame = pd.DataFrame(axes)
        for j, cov in enumerate(self.covariates):
            frame[f"y:{cov}" if cov in _ZPH_AXES else cov] = resid[:, j]
        return PHTestResult(
            terms=(*self.covariates, "GLOBAL"),
            chisq=stats_a,
            df=dfs_a,
            p=chi2.sf(stats_a, dfs_a),
            transform=transform,
            residuals=frame,
        )


def _scaled_schoenfeld(
    schoen: np.ndarray,
    used: np.ndarray,
    info: np.ndarray,
    assign: tuple[tuple[int, ...], ...],
    beta: np.ndarray,
) -> np.ndarray:
    """cox.zph's ``y``: Schoenfeld residuals (events in stratum-then-time order) scaled by
    the average information per event (Grambsch & Therneau 1994), per stratum over the
    terms that vary in it, plus the coefficient (1 for a multi-column term, whose
    residual is the linear predictor's). Plotting y against x shows beta(t)."""
    used = used.copy()
    for cols in assign:  # R: a factor level unused in a stratum takes the term's count
        c = list(cols)
        if len(c) > 1 and (used[:, c] == 0).any():
            used[:, c] = used[:, c].max(axis=1, keepdims=True)
    wt = sum(np.minimum.outer(u, u) for u in used)
    vmean = info / np.where(wt == 0, 1, wt)
    p, nterm = schoen.shape[1], len(assign)
    if any(len(c) > 1 for c in assign):
        temp = np.zeros((p, nterm))
        for i, cols in enumerate(assign):
            temp[list(cols), i] = 1.0 if len(cols) == 1 else beta[list(cols)]
        schoen, vmean = schoen @ temp, temp.T @ vmean @ temp
        used = used[:, [c[0] for c in assign]]
    out = np.full(schoen.shape, np.nan)
    start = 0
    for row in used:
        n = int(row.max())
        k = np.flatnonzero(row > 0)
        if n and k.size:
            block = schoen[start : start + n][:, k]
            out[start : start + n, k] = np.linalg.solve(vmean[np.ix_(k, k)], block.T).T
        start += n
    add = np.array([beta[c[0]] if len(c) == 1 else 1.0 for c in assign])
    return out + add


def _test(stat: float, df: int) -> tuple[float, int, float]:
    return float(stat), int(df), float(chi2.sf(stat, df)) if df > 0 else float("nan")


def cox(
    data: Any,
    covariates: Sequence[str],
    strata: str | Sequence[str] | None = None,
    ties: str = "efron",
    robust: bool = False,
    cluster: str | None = None,
    reference: Mapping[str, Any] | None = None,
    time: str = "os_months",
    event: str = "os_event",
    conf_level: float = 0.95,
    start: str | None = None,
) -> CoxResult:
    """Cox proportional-hazards model matching R
    ``coxph(Surv(time, event) ~ covariates + strata(strata) [+ cluster(cluster)], data,
    ties = ties, robust = robust)`` (survival 3.5): coefficients, model-based SE, robust
    (sandwich) SE from the Efron-aware dfbeta residuals (``robust=TRUE`` or ``cluster``,
    which implies ``robust``), HR with CI, z and p (robust SE when robust, as
    ``summary.coxph``), null and fitted log partial likelihood, likelihood-ratio, Wald
    (robust variance when robust) and score tests, R's robust score test, and the
    concordance ``coxph`` reports (``concordancefit`` on the linear predictor with its
    jackknife standard error; computed when first read, as it costs as much as the fit).

    Counting-process data: with ``start`` each row is an interval ``(start, time]`` and
    the model is R ``coxph(Surv(start, time, event) ~ ...)``: the risk set at an event time
    t is every row with start < t <= time (time-dependent covariates, delayed entry).
    Efron and Breslow ties, strata, the robust variance (give ``cluster="patient_id"`` for
    R's ``cluster(id)`` when a patient has several rows), the concordance (R
    ``concordance4``: partners are the rows at risk at the event time) and ``ph_test``
    (R ``cox.zph`` on (start, stop] data) all follow.

    Categorical covariates (pandas Categorical, object/string, and yes/no columns: numpy
    bool or nullable "boolean") become indicator terms ``column[level]`` against a
    reference level: ``reference={"col": level}``, else the level stated in
    :data:`metsurv.schema.REFERENCE_LEVELS` when present (IRLM order: complete resection,
    DFI >= 36, single metastasis, N0, non-LMS, ...; R ``relevel()``), else the first
    category of a Categorical, else the first sorted value (False for yes/no). So
    ``complete_resection`` gives ``complete_resection[False]`` (incomplete vs complete) and
    ``leiomyosarcoma`` gives ``leiomyosarcoma[True]``. Rows with a missing time, start,
    event, covariate, stratum or cluster are dropped and counted in ``n_dropped``.
    Near-tied times are merged first (R ``aeqSurv``; start and stop together).

    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1],
    ...                    "age": [60, 70, 55, 80, 65, 50, 75, 62]})
    >>> fit = cox(df, ["age"])
    >>> fit.terms, round(float(fit.coef[0]), 4)  # R: coef(coxph(Surv(...) ~ age)) 0.2799259
    (('age',), 0.2799)
    >>> cp = pd.DataFrame({"start": [0, 5, 0, 0, 2, 0, 0, 0],
    ...                    "stop": [5, 9, 7, 2, 11, 4, 8, 10],
    ...                    "event": [0, 1, 1, 0, 0, 1, 1, 0],
    ...                    "exposed": [0, 1, 0, 0, 1, 0, 0, 0]})
    >>> cox(cp, ["exposed"], start="start", time="stop", event="event").n
    8
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    covariates = list(covariates)
    if not covariates:
        raise ValueError("cox needs at least one covariate")
    strata_cols = [strata] if isinstance(strata, str) else list(strata or [])
    extra = strata_cols + ([cluster] if cluster else [])
    sd = survival_data(data, time, event, covariates + extra, start=start)
    design = _design(sd.frame, covariates, dict(reference or {}))
    if strata_cols:
        # R strata(a, b): levels in the order of a's levels, then b's (first slowest)
        s = np.zeros(sd.time.size, dtype=np.int64)
        for col in strata_cols:
            levels = group_levels(sd.frame[col])
            s = s * len(levels) + group_codes(sd.frame[col], levels)
        _, first, s = np.unique(s, return_index=True, return_inverse=True)
        s = s.ravel()
        first_rows = sd.frame[strata_cols].iloc[first]
        stratum_labels = [", ".join(str(level_label(v)) for v in row)
                          for row in first_rows.itertuples(index=False)]
    else:
        stratum_labels = ["all"]
        s = np.zeros(sd.time.size, dtype=np.int64)
    X = design.X
    const = np.flatnonzero(np.ptp(X, axis=0) == 0) if X.shape[0] else np.array([], int)
    if const.size:
        raise ValueError(f"covariate column(s) constant after dropping missing rows: "
                         f"{[design.names[i] for i in const]}")
    if sd.event.sum() == 0:
        raise ValueError("no events after dropping rows with missing values: nothing to fit")
    risk = _Risk(X, sd.time, sd.event, s, efron=ties == "efron", start=sd.start)
    try:
        fit = _newton(risk)
    except np.linalg.LinAlgError as err:
        raise ValueError(
            f"the information matrix is singular (collinear covariates among "
            f"{list(design.names)}, or a covariate constant within every stratum)"
        ) from err
    if not fit.converged:
        warnings.warn(
            f"Cox fit did not converge in {_MAXITER} iterations; a coefficient may be "
            "infinite (complete separation)", RuntimeWarning, stacklevel=2)
    beta, ll0, ll = fit.beta, fit.loglik0, fit.loglik
    var = np.linalg.inv(fit.info)
    p = beta.size

    cl = None
    if cluster is not None:
        cl = group_codes(sd.frame[cluster], group_levels(sd.frame[cluster]))[risk.order]
    robust = robust or cluster is not None
    vcov_robust = robust_se = robust_score = None
    if robust:
        dfb = risk.score_residuals(beta) @ var
        res0 = risk.score_residuals(np.zeros(p))
        if cl is not None:
            dfb = np.vstack([np.bincount(cl, dfb[:, j]) for j in range(p)]).T
            res0 = np.vstack([np.bincount(cl, res0[:, j]) for j in range(p)]).T
        vcov_robust = dfb.T @ dfb
        robust_se = np.sqrt(np.diag(vcov_robust))
        u0 = res0.sum(axis=0)
        robust_score = _test(_solve_quad(res0.T @ res0, u0), p)

    wald_var = vcov_robust if vcov_robust is not None else var
    return CoxResult(
        terms=design.names,
        coef=beta,
        se=np.sqrt(np.diag(var)),
        robust_se=robust_se,
        vcov=var,
        vcov_robust=vcov_robust,
        conf_level=conf_level,
        loglik_null=ll0,
        loglik=ll,
        lrt=_test(2 * (ll - ll0), p),
        wald=_test(_solve_quad(wald_var, beta), p),
        score=_test(fit.score0, p),
        robust_score=robust_score,
        n=int(sd.time.size),
        events=int(sd.event.sum()),
        n_dropped=sd.n_dropped,
        iterations=fit.iterations,
        converged=fit.converged,
        ties=ties,
        covariates=tuple(covariates),
        references=design.references,
        strata=tuple(strata_cols),
        cluster=cluster,
        time=time,
        event=event,
        start=start,
        _zph_data=(risk, beta, design.assign, stratum_labels),
        _cluster_codes=cl,
    )
