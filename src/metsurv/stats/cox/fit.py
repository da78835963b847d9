"""The front end of the Cox model, as R ``coxph()``: read the data, build the design, call
the engine (:mod:`.newton` over :mod:`.risk`, R ``coxph.fit``/``agreg.fit``), turn what it
returns into R's answer (NA for non-estimable terms, R's warnings, robust variance, tests)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from ..._blas import one_blas_thread
from ...errors import DataError
from .._result import warn
from .._times import as_frame, group_codes, group_levels, level_label, survival_data
from .design import _Design, _design, _is_categorical, variables
from .newton import EPS, ITER_MAX, TOLER_CHOL, _Fit, newton, solve_quad
from .result import CoxResult
from .risk import _LazyRisk, _Risk, collapsed_risk, design_patterns

TIES = ("efron", "breslow")


def _test(stat: float, df: int) -> tuple[float, int, float]:
    return float(stat), int(df), float(chi2.sf(stat, df)) if df > 0 else float("nan")


def _strata(frame: pd.DataFrame, cols: list[str], n: int) -> tuple[np.ndarray, list[str]]:
    """Stratum code of each row and the strata labels, in R's order for ``strata(a, b)``:
    levels in the order of a's levels, then b's (first slowest)."""
    if not cols:
        return np.zeros(n, dtype=np.int64), ["all"]
    s = np.zeros(n, dtype=np.int64)
    for col in cols:
        levels = group_levels(frame[col])
        s = s * len(levels) + group_codes(frame[col], levels)
    _, first, s = np.unique(s, return_index=True, return_inverse=True)
    first_rows = frame[cols].iloc[first]
    labels = [", ".join(str(level_label(v)) for v in row)
              for row in first_rows.itertuples(index=False)]
    return s.ravel(), labels


#: spread of a covariate column beyond which its products overflow (or underflow) double
#: precision in the information matrix: the fit would stop with coefficients of 0 or NaN
_SPREAD = (1e-100, 1e100)


def _check_magnitudes(design: _Design) -> None:
    """Refuse a column whose values differ by more than 1e100 (or by less than 1e-100 while
    not all equal): its risk-set sums overflow double precision, so the fit would give a
    confident coefficient of 0 or NaN. R rescales such a column inside ``coxph.fit``; here
    the user is asked to change its units."""
    with np.errstate(invalid="ignore", over="ignore"):
        spread = np.ptp(design.X, axis=0) if design.X.size else np.zeros(0)
    bad = ~np.isfinite(spread) | (spread > _SPREAD[1]) | ((spread > 0) & (spread < _SPREAD[0]))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(f"covariate {design.names[j]!r} has values that differ by "
                        f"{spread[j]:.3g}: outside what a Cox fit can take in double precision "
                        f"({_SPREAD[0]:g} to {_SPREAD[1]:g}); express it in other units "
                        "(multiply or divide it by a power of 10) first", column=design.names[j])


def _why_not_estimable(design: _Design, j: int, s: np.ndarray, flat: bool = False) -> str:
    """Why column j has no coefficient, in words a clinician can act on (``flat``: the
    column takes one value among the patients at risk at every event time)."""
    x, name = design.X[:, j], design.names[j]
    if "[" in name and ":" not in name and not x.any():
        return "no patient at this level"
    if np.ptp(x) == 0:
        return "constant in the data"
    order = np.argsort(s, kind="stable")
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s[order])) + 1]
    if (np.maximum.reduceat(xs, starts) == np.minimum.reduceat(xs, starts)).all():
        return "constant within every stratum"
    if flat:
        return "the same for every patient at risk at each event time"
    return "linearly dependent on other terms"


def _na_warnings(notes: list[str], design: _Design, sing: np.ndarray, s: np.ndarray,
                 flat: np.ndarray) -> None:
    by_reason: dict[str, list[str]] = {}
    for j in np.flatnonzero(sing):
        by_reason.setdefault(_why_not_estimable(design, int(j), s, bool(flat[j])),
                             []).append(design.names[j])
    for reason, names in by_reason.items():
        verb = "is" if len(names) == 1 else "are"
        warn(notes, f"{', '.join(names)} {verb} not estimable ({reason}; R coxph gives NA)",
             stacklevel=4)


def _r_warnings(notes: list[str], fit: _Fit, names: tuple[str, ...],
                lp: Callable[[], np.ndarray], counting: bool, iter_max: int, eps: float,
                toler_inf: float) -> None:
    """R ``coxph.fit`` / ``agreg.fit`` after the C routine: iterations run out, or the
    loglik converged while a coefficient was still moving (monotone likelihood). ``lp``
    gives the centred linear predictor (R ``coxph.fit``'s test of ``max(lp) > 500``)."""
    if iter_max <= 1:
        return
    with np.errstate(invalid="ignore", over="ignore"):
        infs = np.abs(fit.u @ fit.var)
    if not fit.converged:
        warn(notes, "Ran out of iterations and did not converge", stacklevel=4)
        if not counting and (lp().max(initial=-np.inf) > 500 or not np.isfinite(infs).all()):
            warn(notes, "one or more coefficients may be infinite", stacklevel=4)
        return
    coef = fit.beta
    with np.errstate(invalid="ignore"):
        if counting:  # agreg.fit: relative to 1 + |coef|, no eps floor
            bad = ~np.isfinite(fit.u) | (infs > toler_inf * (1 + np.abs(coef)))
        else:
            bad = ~np.isfinite(fit.u) | ((infs > eps) & (infs > toler_inf * np.abs(coef)))
    if bad.any():
        idx = np.flatnonzero(bad)
        which = ",".join(str(i + 1) for i in idx)
        named = ", ".join(names[i] for i in idx)
        warn(notes, f"Loglik converged before variable {which} ({named}); coefficient may "
             "be infinite", stacklevel=4)


def _prediction_data(frame: pd.DataFrame, covariates: list[str], strata_cols: list[str],
                     design: _Design, X: np.ndarray, s: np.ndarray, w: np.ndarray
                     ) -> tuple[dict[str, tuple[tuple[Any, ...], Any]], np.ndarray]:
    """What :mod:`.survfit` needs to code new patients as the fit coded its rows: each
    categorical covariate's levels (a Categorical's categories, else the sorted levels
    present, as :func:`.design._main_effect`) with its raw reference level, each stratum
    column's levels, and the weighted mean of each design column within each stratum."""
    xlevels: dict[str, tuple[tuple[Any, ...], Any]] = {}
    for var in variables(covariates):
        col = frame[var]
        if _is_categorical(col):
            levels = (tuple(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype)
                      else tuple(group_levels(col)))
            label = design.references.get(var)
            ref = next((lev for lev in levels if level_label(lev) == label), None)
            xlevels[var] = (levels, ref)
    for col in strata_cols:  # a covariate that is also a stratum keeps its reference
        xlevels.setdefault(col, (tuple(group_levels(frame[col])), None))
    k = int(s.max()) + 1 if s.size else 1
    tot = np.bincount(s, w, k)
    centers = np.vstack([np.bincount(s, w * X[:, j], k) / tot for j in range(X.shape[1])]).T
    return xlevels, centers.reshape(k, X.shape[1])


def _from_formula(data: Any, text: str, kw: dict[str, Any]) -> tuple[Any, list[str]]:
    """``"Surv(t, e) ~ a + b*c + strata(s) + cluster(id)"``: the outcome, terms, strata and
    cluster from the formula (they win over the keywords left at their defaults)."""
    from ..formula import parse_formula

    frame = as_frame(data)
    f = parse_formula(text, list(frame.columns), require_covariates=True)
    kw.update(time=f.time, event=f.event)
    if f.start is not None:
        kw["start"] = f.start
    if f.strata:
        kw["strata"] = list(f.strata)
    if f.cluster is not None:
        kw["cluster"] = f.cluster
    if f.categorical:  # factor(x): categorical whatever its dtype, levels sorted as R
        frame = frame.copy()
        for col in f.categorical:
            frame[col] = pd.Categorical(frame[col])
        data = frame
    return data, [":".join(t) for t in f.terms]


def cox(
    data: Any,
    covariates: Sequence[str] | str,
    strata: str | Sequence[str] | None = None,
    ties: str = "efron",
    robust: bool | None = None,
    cluster: str | None = None,
    reference: Mapping[str, Any] | None = None,
    time: str = "os_months",
    event: str = "os_event",
    conf_level: float = 0.95,
    start: str | None | bool = None,
    *,
    weights: str | None = None,
    iter_max: int = ITER_MAX,
    eps: float = EPS,
    toler_chol: float = TOLER_CHOL,
    toler_inf: float | None = None,
) -> CoxResult:
    """Cox proportional-hazards model matching R ``coxph`` (survival 3.5-3).

    R call matched: ``coxph(Surv([start,] time, event) ~ covariates + strata(strata)
    [+ cluster(cluster)], data, weights = weights, ties = ties, robust = robust,
    control = coxph.control(eps, toler.chol, iter.max, toler.inf))``. Returned:
    coefficients, model-based SE, robust (sandwich) SE from the Efron-aware dfbeta
    residuals times the case weights, summed within cluster (``robust=True`` or
    ``cluster``, which implies ``robust``), HR with CI, z and p (robust SE when robust,
    as ``summary.coxph``), null and fitted log partial likelihood, likelihood-ratio, Wald
    (robust variance when robust) and score tests, R's robust score test, and the
    concordance ``coxph`` reports (``concordancefit`` on the linear predictor with its
    jackknife standard error, pairs weighted w_i w_j with case weights; computed when
    first read).

    The iteration is R's ``coxfit6`` (``agfit4`` for counting-process data) step for
    step: Newton steps from 0 on scaled columns, R's step halving, its convergence test
    ``|1 - loglik_old / loglik_new| <= eps``, its iteration count and what it returns when
    ``iter_max`` runs out (see :mod:`metsurv.stats.cox.newton`).

    **Terms R cannot estimate.** A column linearly dependent on earlier ones (dose in g
    and in mg; male and female indicators), constant within every stratum (a centre-level
    covariate with ``strata="center"``), constant in the data, or a factor level with no
    patient (a category of a pandas Categorical absent from the fitted rows) is found as
    R finds it (a pivot of the generalised Cholesky of the information below
    ``toler_chol`` times the largest) and gets coef/se/HR/CI/z/p NaN, as R's NA; the
    others are fitted exactly as R fits them, the tests count only estimable columns, and
    a :class:`~metsurv.errors.StatsWarning` (kept in ``result.warnings``) names the terms.
    **Infinite estimates** (monotone likelihood, a factor level with no events) are
    detected as R does (``Loglik converged before variable k; coefficient may be
    infinite``); their HR limits may be 0 and +Inf.

    Counting-process data: with ``start`` each row is an interval ``(start, time]`` and
    the model is R ``coxph(Surv(start, time, event) ~ ...)``: the risk set at an event time
    t is every row with start < t <= time (time-dependent covariates, delayed entry).
    For a Cohort with ``entry_months``, ``start=None`` means that column (delayed entry
    by default); ``start=False`` ignores it.

    Categorical covariates (pandas Categorical, object/string, and yes/no columns: numpy
    bool or nullable "boolean") become indicator terms ``column[level]`` against a
    reference level: ``reference={"col": level}``, else the level stated in
    :data:`metsurv.schema.REFERENCE_LEVELS` when present among the fitted rows (IRLM
    order: complete resection, DFI >= 36, single metastasis, N0, non-LMS, ...; R
    ``relevel()``), else the first level present (category order of a Categorical, else
    sorted; False for yes/no). An interaction is written ``"a:b"`` (R's product columns,
    named ``dfi_group[0-11]:age``). Rows with a missing time, start, event, covariate,
    stratum, cluster or weight are dropped and counted in ``n_dropped``. Near-tied times
    are merged first (R ``aeqSurv``; start and stop together).

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient (per interval with ``start``).
    covariates : sequence of str, or str
        Column names (``"a:b"`` for an interaction), or an R formula
        ``"Surv(t, e) ~ a + b*c + strata(s) + cluster(id)"`` (parsed by
        :func:`metsurv.stats.formula.parse_formula`; its outcome, strata and cluster are
        used in place of ``time``, ``event``, ``start``, ``strata`` and ``cluster``).
    strata, ties, robust, cluster, reference, conf_level
        As R ``coxph``: ``ties`` is "efron" or "breslow"; ``robust=None`` is R's default
        (robust with a ``cluster``, or with case weights that are not whole numbers).
    time, event, start, weights : str
        The outcome's columns (months; 0/1; entry time; case weights > 0).
    iter_max, eps, toler_chol, toler_inf : R ``coxph.control``
        Defaults 20, 1e-9, eps_machine^0.75, sqrt(eps).

    Returns
    -------
    CoxResult
        Per term (length p): coef, se, robust_se, HR and limits; vcov (p x p), tests,
        n, events, iterations as R reports them, converged, warnings.

    Raises
    ------
    DataError
        No events, or no rows, after dropping missing values; a case weight of 0.
    ValueError
        Unknown ``ties``, a reference level that is not among the data, no covariate.
    KeyError
        A named column is absent.

    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1],
    ...                    "age": [60, 70, 55, 80, 65, 50, 75, 62]})
    >>> fit = cox(df, ["age"])
    >>> fit.terms, round(float(fit.coef[0]), 4)  # R: coef(coxph(Surv(...) ~ age)) 0.2799259
    (('age',), 0.2799)
    >>> df["age_months"] = df["age"] * 12  # aliased: R gives NA
    >>> import warnings; warnings.simplefilter("ignore")
    >>> cox(df, ["age", "age_months"]).to_frame()["coef"].round(4).tolist()
    [0.2799, nan]
    >>> cp = pd.DataFrame({"start": [0, 5, 0, 0, 2, 0, 0, 0],
    ...                    "stop": [5, 9, 7, 2, 11, 4, 8, 10],
    ...                    "event": [0, 1, 1, 0, 0, 1, 1, 0],
    ...                    "exposed": [0, 1, 0, 0, 1, 0, 0, 0]})
    >>> cox(cp, ["exposed"], start="start", time="stop", event="event").n
    8
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    if isinstance(covariates, str) and "~" in covariates:
        kw: dict[str, Any] = {"time": time, "event": event, "start": start, "strata": strata,
                              "cluster": cluster}
        data, covariates = _from_formula(data, covariates, kw)
        time, event, start = kw["time"], kw["event"], kw["start"]
        strata, cluster = kw["strata"], kw["cluster"]
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if not covariates:
        raise ValueError("cox needs at least one covariate")
    # a term given twice (x, x; a:b and b:a) is one term, as in an R formula
    covariates = list({frozenset(c.split(":")): c for c in reversed(covariates)}.values())[::-1]
    strata_cols = [strata] if isinstance(strata, str) else list(strata or [])
    extra = strata_cols + ([cluster] if cluster else [])
    sd = survival_data(data, time, event, variables(covariates) + extra, start=start,
                       weights=weights)
    if sd.time.size == 0:
        raise DataError("no rows left after dropping rows with missing values: nothing to "
                        "fit")
    if sd.event.sum() == 0:
        raise DataError("no events after dropping rows with missing values: nothing to fit "
                        "(R coxph gives NA coefficients)", column=event)
    w = sd.weight
    if w is not None and (w <= 0).any():
        raise DataError(f"column {weights!r}: a case weight of 0; R coxph requires weights > 0 "
                        "(drop those rows first)", column=weights)
    design = _design(sd.frame, covariates, dict(reference or {}))
    _check_magnitudes(design)
    s, stratum_labels = _strata(sd.frame, strata_cols, sd.time.size)
    X = design.X
    # One BLAS thread: the sums over risk sets then come out bit for bit the same on any
    # machine (a threaded BLAS splits them by its thread count), and the fit is faster
    # (measured at n 1e6 on 2 cores: analyse 39.8 s -> 32.9 s)
    with one_blas_thread():
        # factor-only designs on many rows: the Newton steps run on the distinct cells
        # (collapsed_risk); cox.zph, residuals and survfit get the full rows when asked
        cells = None
        pat = design_patterns(X, sd.start)  # the distinct rows, for both uses below
        if sd.start is None and w is None and cluster is None and not robust:
            cells = collapsed_risk(X, sd.time, sd.event, s, ties == "efron", sd.time_code,
                                   patterns=pat)
        if cells is None:
            risk = _Risk(X, sd.time, sd.event, s, efron=ties == "efron", start=sd.start, w=w,
                         code=sd.time_code, patterns=pat)
        else:
            risk = _LazyRisk(X, sd.time, sd.event, s, efron=ties == "efron",
                             code=sd.time_code, patterns=pat)
        fitted = cells or risk
        wt = np.ones(sd.time.size) if w is None else w
        xlevels, centers = _prediction_data(sd.frame, covariates, strata_cols, design, X, s,
                                            wt)
        rows = None  # (codes, table of distinct rows) when X itself is not kept
        if cells is None and pat is not None:
            # a factor design on many rows: every row is a row of its small table of
            # distinct rows, which the risk sets now hold; the n x p design itself is
            # rebuilt from it only where it is read again (an NA coefficient, a fit out of
            # iterations), not kept through the Newton steps (1e6 x 15 columns: 0.1 GB)
            rows, X = (pat[0], X[pat[1]]), None
            design = replace(design, X=None)

        def design_x() -> np.ndarray:
            return X if rows is None else rows[1][rows[0]]

        fit = newton(fitted, iter_max=iter_max, eps=eps, toler_chol=toler_chol)
    notes: list[str] = []
    sing = fit.singular if iter_max > 0 else np.zeros(fitted.p, dtype=bool)
    ok = ~sing
    _na_warnings(notes, replace(design, X=design_x()) if sing.any() else design, sing, s,
                 fitted.flat)

    def lp() -> np.ndarray:
        # read only for a fit that ran out of iterations: the centred design is a copy of
        # X (at a million rows of 15 columns, 0.1 GB), not made for every fit
        Xf = design_x()
        with np.errstate(over="ignore", invalid="ignore"):
            return (Xf - (wt @ Xf) / wt.sum()) @ fit.beta

    _r_warnings(notes, fit, design.names, lp, sd.start is not None, iter_max, eps,
                float(np.sqrt(eps)) if toler_inf is None else toler_inf)
    beta = fit.beta
    var = fit.var

    cl = None
    if cluster is not None:
        cl = group_codes(sd.frame[cluster], group_levels(sd.frame[cluster]))[risk.order]
    if robust is None:  # R coxph's default: a cluster, or weights that are not whole
        robust = w is not None and bool((w != np.floor(w)).any())
    robust = robust or cluster is not None
    vcov_robust = robust_se = robust_score = None
    if robust and ok.any():
        with np.errstate(over="ignore", invalid="ignore"):
            dfb = risk.score_residuals(beta) @ var
            res0 = risk.score_residuals(np.zeros(risk.p))
        if cl is not None:
            dfb = np.vstack([np.bincount(cl, dfb[:, j]) for j in range(risk.p)]).T
            res0 = np.vstack([np.bincount(cl, res0[:, j]) for j in range(risk.p)]).T
        vcov_robust = dfb.T @ dfb
        robust_score = _test(solve_quad(res0.T @ res0, res0.sum(axis=0), toler_chol),
                             int(ok.sum()))

    wald_var = vcov_robust if vcov_robust is not None else var
    wald = _test(solve_quad(wald_var[np.ix_(ok, ok)], beta[ok], toler_chol), int(ok.sum()))
    na = np.where(ok, 1.0, np.nan)
    mask2 = np.outer(na, na)
    se = np.sqrt(np.diag(var)) * na
    if vcov_robust is not None:
        robust_se = np.sqrt(np.diag(vcov_robust)) * na
        vcov_robust = vcov_robust * mask2
    df = int(ok.sum())
    return CoxResult(
        terms=design.names,
        coef=beta * na,
        se=se,
        robust_se=robust_se,
        vcov=var * mask2,
        vcov_robust=vcov_robust,
        conf_level=conf_level,
        loglik_null=fit.loglik0,
        loglik=fit.loglik,
        lrt=_test(2 * (fit.loglik - fit.loglik0), df),
        wald=wald,
        score=_test(fit.score0, df),
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
        start=sd.start_name,
        weights=weights,
        warnings=tuple(notes),
        _zph_data=(risk, beta, design.assign, stratum_labels),
        _cluster_codes=cl,
        _xlevels=xlevels,
        _centers=centers,
    )
