"""The proportional-hazards test of a Cox fit, as R ``cox.zph`` (its own function taking a
fit, as in R survival's ``cox.zph.R``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import chi2, rankdata

from .newton import solve_quad
from .result import _ZPH_AXES, PHTestResult

if TYPE_CHECKING:
    from .result import CoxResult


def cox_zph(fit: CoxResult, transform: str = "km") -> PHTestResult:
    """Proportional-hazards test as R ``cox.zph(fit, transform = "km")`` (survival
    >= 3.0): a score test, at the fitted coefficients, of adding x * g(t) for each
    term, g(t) = 1 - S(t-) with S the Kaplan-Meier of all subjects (strata ignored),
    centred at its mean over the deaths. Per term (all columns of a categorical
    term jointly) and GLOBAL (all terms), chi-square on df = columns. ``transform``
    may also be "rank", "identity" or "log", as in R.

    Terms whose coefficient is NA (not estimable) are left out of the terms and of the
    GLOBAL degrees of freedom, as R does. Case weights weight the score and information
    as in R ``zph1``/``zph2``; the KM transform is unweighted, as R's ``survfitKM`` call
    there.

    Parameters
    ----------
    fit : CoxResult
        A fit from :func:`metsurv.stats.cox.cox`.
    transform : {"km", "rank", "identity", "log"}
        The time transform g(t).

    Returns
    -------
    PHTestResult
        chisq, df, p per term and GLOBAL (last); ``residuals``: one row per event. Its
        ``warnings`` are the fit's, plus a note naming terms left out.

    Raises
    ------
    ValueError
        An unknown ``transform``.

    >>> from metsurv.stats.cox import cox
    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1],
    ...                    "age": [60, 70, 55, 80, 65, 50, 75, 62]})
    >>> cox_zph(cox(df, ["age"])).to_frame()["term"].tolist()
    ['age', 'GLOBAL']
    """
    risk, beta, assign, stratum_labels = fit._zph_data[:4]
    # a column that is the same for everyone at risk at every event time has no
    # information (R: coef NA; when the fit ran out of iterations R keeps a number and
    # its cox.zph stops on the singular matrix): left out like an NA coefficient
    keep = np.isfinite(fit.coef) & ~risk.flat
    notes: list[str] = list(fit.warnings)
    if not keep.all():
        # R cox.zph drops the NA coefficients' columns, and the terms left with none
        cols = np.flatnonzero(keep)
        new = np.full(keep.size, -1)
        new[cols] = np.arange(cols.size)
        kept = [(term, tuple(int(new[c]) for c in a if keep[c]))
                for term, a in zip(fit.covariates, assign, strict=True)]
        dropped = [t for t, a in kept if not a]
        kept = [(t, a) for t, a in kept if a]
        risk, beta = risk.subset(cols), beta[cols]
        covariates = tuple(t for t, _ in kept)
        assign = tuple(a for _, a in kept)
        if dropped:
            notes.append(f"{', '.join(dropped)} left out of the PH test (not estimable; "
                         "R cox.zph drops NA coefficients)")
        if not cols.size:  # nothing estimable: nothing to test (R cox.zph fails here)
            return PHTestResult(terms=("GLOBAL",), chisq=np.array([np.nan]),
                                df=np.array([0]), p=np.array([np.nan]), transform=transform,
                                residuals=None, warnings=tuple(notes))
    else:
        covariates = fit.covariates
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
        rows = st.rows
        X = risk.X[rows]
        gt = g[rows][st.starts[st.ev_blocks]][st.sub_block]  # g at each sub-step
        sw = st.sub_w  # mean case weight of the tied deaths (R zph1: wtave)
        u2 += (g[rows] * risk.we[rows]) @ X - (gt * sw) @ z["mean"]
        block = np.zeros((2 * p, 2 * p))
        for j, k in risk.pairs:
            v = z[f"v{j}_{k}"]
            for a, b, w in ((0, 0, sw), (0, p, sw * gt), (p, p, sw * gt * gt)):
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
        stats.append(_quad(imat[np.ix_(kk, kk)], u[kk]))
        dfs.append(len(cols))
    stats.append(_quad(imat, u))
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
    if fit.strata:
        axes["stratum"] = np.asarray(stratum_labels, dtype=object)[risk.s[dead]]
    frame = pd.DataFrame(axes)
    for j, cov in enumerate(covariates):
        frame[f"y:{cov}" if cov in _ZPH_AXES else cov] = resid[:, j]
    return PHTestResult(
        terms=(*covariates, "GLOBAL"),
        chisq=stats_a,
        df=dfs_a,
        p=chi2.sf(stats_a, dfs_a),
        transform=transform,
        residuals=frame,
        warnings=tuple(notes),
    )


def _quad(A: np.ndarray, u: np.ndarray) -> float:
    """u' A^-1 u by an ordinary solve, as R ``cox.zph`` (``solve(imat, u)``): a nearly
    singular block (a coefficient running off to infinity) keeps its tiny but real
    contribution, which a tolerance would drop; R's generalised inverse only when the
    block is exactly singular."""
    try:
        return float(u @ np.linalg.solve(A, u))
    except np.linalg.LinAlgError:
        return solve_quad(A, u)


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
