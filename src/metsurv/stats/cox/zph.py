"""The proportional-hazards test of a Cox fit, as R ``cox.zph`` (its own function taking a
fit, as in R survival's ``cox.zph.R``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import chi2, rankdata

from .._times import _unique_inverse
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
        ut, inv = _unique_inverse(risk.t)
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
        rows = st.rows
        X = risk.X[rows]
        gt = g[rows][st.starts[st.ev_blocks]][st.sub_block]  # g at each sub-step
        sw = st.sub_w  # mean case weight of the tied deaths (R zph1: wtave)
        block = np.zeros((2 * p, 2 * p))
        sw_gt = sw * gt
        weights = ((0, 0, sw), (0, p, sw_gt), (p, p, sw_gt * gt))

        def add_pair(j: int, k: int, v: np.ndarray, block=block, weights=weights) -> None:
            for a, b, w in weights:  # each sub-step's covariance, weighted by g(t)^0,1,2
                val = float(np.sum(w * v))
                block[a + j, b + k] = block[a + k, b + j] = val
                block[b + k, a + j] = block[b + j, a + k] = val

        z = risk.steps(beta, st, second=True, pair=add_pair)
        u2 += (g[rows] * risk.we[rows]) @ X - (gt * sw) @ z["mean"]
        imat += block
        # Schoenfeld residuals: x minus the mean of the Efron sub-step means
        mean_of_means = np.column_stack(
            [np.bincount(st.sub_block, z["mean"][:, j], st.d.size) / st.d
             for j in range(p)])
        nd = st.dead_rows.size
        for j in range(p):  # column by column: no (deaths x p) temporaries
            schoen[at : at + nd, j] = X[st.dead_rows, j] - mean_of_means[st.dead_block, j]
        at += nd
        used[i] = np.where(np.ptp(X, axis=0) > 0, nd, 0)
        del z  # its per-death arrays are not needed past this stratum
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
    resid, vmean = _scaled_schoenfeld(schoen, used, imat[:p, :p], assign, beta)
    if risk.start is not None:
        # R lists (start, stop] events by rev(order(-strata, -stop)): tied deaths in
        # reverse row order
        flip = np.lexsort((-np.arange(dead.size), risk.t[dead], risk.s[dead]))
        dead, resid = dead[flip], resid[flip]
    axes = {"time": risk.t[dead], "x": x_plot[dead]}
    if fit.strata:
        axes["stratum"] = np.asarray(stratum_labels, dtype=object)[risk.s[dead]]
    frame = pd.DataFrame(axes)
    names = [f"y:{cov}" if cov in _ZPH_AXES else cov for cov in covariates]
    for j, name in enumerate(names):
        frame[name] = resid[:, j]
    # R's cox.zph ``var`` (solve(vmean)), the scale of plot.cox.zph's band (zph_smooth)
    try:
        var = np.linalg.inv(vmean)
    except np.linalg.LinAlgError:
        var = np.full(vmean.shape, np.nan)
    var_frame = pd.DataFrame(var, index=names, columns=names)
    return PHTestResult(
        terms=(*covariates, "GLOBAL"),
        chisq=stats_a,
        df=dfs_a,
        p=chi2.sf(stats_a, dfs_a),
        transform=transform,
        residuals=frame,
        var=var_frame,
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
    residual is the linear predictor's). Plotting y against x shows beta(t). Also returns
    R's ``vmean`` (per term), whose inverse is cox.zph's ``var``."""
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
    out += add  # in place: one (deaths x terms) array fewer
    return out, vmean


def zph_smooth(
    ph: PHTestResult,
    column: str,
    fit: CoxResult | None = None,
    df: int = 4,
    n: int = 40,
) -> pd.DataFrame:
    """The smooth of one term's scaled Schoenfeld residuals against transformed time,
    with its +-2 SE band, as R ``plot.cox.zph(zph, resid = TRUE, se = TRUE, df = 4,
    nsmo = 40)`` (survival 3.5-3) draws it: the estimate of beta(t).

    R source matched (``survival:::plot.cox.zph``)::

        pred.x <- seq(min(xx), max(xx), length = nsmo)
        lmat <- ns(c(pred.x, xx), df = df, intercept = TRUE)
        pmat <- lmat[1:nsmo, ]; xmat <- lmat[-(1:nsmo), ]
        qmat <- qr(xmat[keep, ])                  # keep: y not NA
        yhat <- pmat %*% qr.coef(qmat, y)
        bk <- backsolve(qmat$qr[1:df, 1:df], diag(df)); xtx <- bk %*% t(bk)
        seval <- ((pmat %*% xtx) * pmat) %*% rep(1, df)
        yup, ylow <- yhat +- 2 * sqrt(x$var[i, i] * seval)

    The natural-spline basis is built here (the truncated-power basis of natural cubic
    splines, Hastie, Tibshirani & Friedman 2009 eq. 5.4–5.5) on R's knots: boundary knots
    at the range of ``c(pred.x, xx)`` and ``df - 2`` interior knots at its type-7
    quantiles. It spans the same space as R's B-spline form of ``ns``; the fit and
    ``seval = diag(P (L'L)^-1 P')`` do not depend on the basis chosen within the space.
    ``x$var`` is cox.zph's ``var``, ``solve(vmean)`` with vmean the information per event
    (not the fit's ``vcov``).

    Parameters
    ----------
    ph : PHTestResult
        From :func:`cox_zph`; its ``residuals`` must be present.
    column : str
        A residual column of ``ph.residuals`` (a term name, or ``y:<term>``).
    fit : CoxResult, optional
        The fit ``ph`` was computed from; needed only when ``ph`` has no ``var``
        (cox.zph's ``var``), which is then recomputed from it.
    df : int
        Degrees of freedom of the natural spline (R ``df``), at least 2.
    n : int
        Number of grid points (R ``nsmo``), at least 2.

    Returns
    -------
    pandas.DataFrame
        ``n`` rows: ``x`` (grid of transformed time, R ``pred.x``), ``time`` (the grid in
        the time unit: exp(x) for transform "log", x for "identity", else interpolated
        from the events' (x, time) pairs as R places its axis labels), ``estimate``
        (yhat), ``lower``, ``upper`` (yhat -+ 2 SE).

    Raises
    ------
    ValueError
        No residuals, an unknown ``column``, no ``var`` and no ``fit``, ``df`` or ``n``
        below 2, or a singular spline fit (fewer than ``df`` distinct event times with a
        residual; R warns "spline fit is singular" and skips the term).

    >>> from metsurv.stats.cox import cox
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"os_months": rng.exponential(20, 60), "os_event": 1,
    ...                   "age": rng.normal(60, 8, 60)})
    >>> ph = cox_zph(cox(d, ["age"]))
    >>> zph_smooth(ph, "age").columns.tolist()
    ['x', 'time', 'estimate', 'lower', 'upper']
    """
    res = ph.residuals
    if res is None:
        raise ValueError("the PH test has no residuals (no estimable term)")
    if column in _ZPH_AXES or column not in res.columns:
        raise ValueError(f"{column!r} is not a residual column of the PH test; columns: "
                         f"{[c for c in res.columns if c not in _ZPH_AXES]}")
    if df < 2 or n < 2:
        raise ValueError(f"df and n must be at least 2, got df={df}, n={n}")
    var = ph.var
    if var is None:
        if fit is None:
            raise ValueError("the PH test carries no var: pass fit")
        var = cox_zph(fit, ph.transform).var
    xx = res["x"].to_numpy(float)
    y = res[column].to_numpy(float)
    keep = ~np.isnan(y)
    pred_x = np.linspace(xx.min(), xx.max(), n)
    basis = _ns_basis(np.r_[pred_x, xx], df)
    pmat, xmat = basis[:n], basis[n:][keep]
    q, r = np.linalg.qr(xmat)
    if np.linalg.matrix_rank(xmat) < df:
        raise ValueError(f"spline fit is singular for {column!r} (fewer than {df} distinct "
                         "event times with a residual); R skips the term")
    yhat = pmat @ np.linalg.solve(r, q.T @ y[keep])
    pr = np.linalg.solve(r.T, pmat.T).T  # P R^-1: seval = rowSums((P R^-1)^2)
    seval = np.einsum("ij,ij->i", pr, pr)
    half = 2 * np.sqrt(float(var.loc[column, column]) * seval)
    return pd.DataFrame({"x": pred_x, "time": _x_to_time(ph, pred_x), "estimate": yhat,
                         "lower": yhat - half, "upper": yhat + half})


def zph_time_axis(ph: PHTestResult) -> tuple[np.ndarray, list[str]]:
    """Where R ``plot.cox.zph`` puts its x-axis labels (time values) on the transformed
    axis: 8 points evenly inside the range of x (``seq(min, max, length = 17)[2 * 1:8]``),
    their times rounded to 2 significant digits, mapped back to x by linear
    interpolation (R ``approx``; a rounded time outside the events' range is dropped, as
    R's NA). For transform "identity" and "log" R uses an ordinary (log) axis: empty.

    Parameters
    ----------
    ph : PHTestResult
        From :func:`cox_zph`, with residuals.

    Returns
    -------
    positions : numpy.ndarray
        Tick positions on the x (transformed time) axis, shape (k,), k <= 8.
    labels : list of str
        The time values there, as R formats them.

    Raises
    ------
    ValueError
        The PH test has no residuals.
    """
    if ph.residuals is None:
        raise ValueError("the PH test has no residuals (no estimable term)")
    if ph.transform in ("identity", "log"):
        return np.empty(0), []
    xs, ts = _x_time_pairs(ph)
    at = np.linspace(xs.min(), xs.max(), 17)[1::2]
    times = np.array([float(f"{v:.2g}") for v in np.interp(at, xs, ts)])
    ok = (times >= ts.min()) & (times <= ts.max())
    times = times[ok]
    pos = np.interp(times, ts, xs)
    return pos, [np.format_float_positional(v, trim="-") for v in times]


def _x_time_pairs(ph: PHTestResult) -> tuple[np.ndarray, np.ndarray]:
    """(x, time) of the events, first row of each distinct x (R ``!duplicated(xx)``),
    sorted by x (x is nondecreasing in time for the km and rank transforms)."""
    res = ph.residuals
    xx, tt = res["x"].to_numpy(float), res["time"].to_numpy(float)
    _, first = np.unique(xx, return_index=True)
    return xx[first], tt[first]


def _x_to_time(ph: PHTestResult, x: np.ndarray) -> np.ndarray:
    if ph.transform == "identity":
        return x.copy()
    if ph.transform == "log":
        return np.exp(x)
    xs, ts = _x_time_pairs(ph)
    return np.interp(x, xs, ts)


def _ns_basis(x: np.ndarray, df: int) -> np.ndarray:
    """A basis (n, df) of the natural cubic splines with intercept on R ``ns(x, df,
    intercept = TRUE)``'s knots: boundary at range(x), df - 2 interior at the type-7
    quantiles. Truncated-power form on x scaled to [0, 1] (same space; better
    conditioned)."""
    lo, hi = x.min(), x.max()
    u = (x - lo) / (hi - lo) if hi > lo else x - lo
    inner = np.quantile(u, np.linspace(0, 1, df)[1:-1])
    knots = np.r_[0.0, inner, 1.0]  # K = df knots, df basis functions

    def d(k: int) -> np.ndarray:
        span = knots[-1] - knots[k]
        return (np.maximum(u - knots[k], 0) ** 3 - np.maximum(u - knots[-1], 0) ** 3) / span

    last = d(len(knots) - 2)
    cols = [np.ones_like(u), u, *(d(k) - last for k in range(len(knots) - 2))]
    return np.column_stack(cols)
