"""Internal validation of a Cox prognostic model by Harrell's bootstrap optimism correction:
discrimination and calibration indexes (R ``rms::validate``) and the calibration of predicted
survival at a horizon (R ``rms::calibrate(cmethod = "KM")``, with Austin, Harrell & van
Klaveren's ICI, E50 and E90).

Each bootstrap replicate draws n patients with replacement (replicate k from the stream of
:func:`metsurv.replicate.run_replicates`, so the same call gives the same result on one core
or on Dask), refits the model on the resample with the fast engine of
:mod:`metsurv.stats.cox.refit` (rows counted, not copied) and evaluates it twice: on the
resample it was fitted on ("training") and on the original data ("test"). The optimism is
the mean of training - test over the replicates and the corrected index is the apparent one
(``index.orig``, the model fitted and evaluated on all patients) minus the optimism
(Harrell, Lee & Mark 1996; Harrell 2015, section 5.3.5). The computations follow rms 6.5's
``validate.cph``, ``calibrate.cph`` and ``predab.resample`` line by line, including their
loose Newton convergence (``eps = 1e-4``, ``iter.max = 10``: a fit that needs 10 iterations
is a failed replicate, as in rms), so that given the same bootstrap rows (``indices=``) the
tables equal rms's (tests/reference/make_validate.R checks 1e-8).

>>> from metsurv.synthetic import generate
>>> from metsurv.synthetic.calibration import analysis_frame
>>> df = analysis_frame(generate("irlm1997", n=400, seed=1))
>>> res = validate(df, ["complete_resection", "dfi_group"], replicates=20, seed=1,
...                progress=False)
>>> res.to_frame().columns.tolist()
['index', 'index.orig', 'training', 'test', 'optimism', 'index.corrected', 'n']
>>> bool(res.c_index["index.corrected"] <= res.c_index["index.orig"] + 0.05)
True
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from .._blas import one_blas_thread
from ..bootstrap import resample_rows
from ..errors import DataError, StatsWarning
from ._result import Result, json_safe
from ._times import missing_by_column, missing_text
from .cox.concordance import _prefix_counts
from .cox.design import variables
from .cox.newton import newton
from .cox.refit import CoxDesign, _Counted, prepare_cox

__all__ = ["CalibrationResult", "ValidationResult", "calibrate", "calibration_ici",
           "validate"]

#: rms's Newton settings in ``cph`` and in ``validate.cph``/``calibrate.cph`` refits
#: (``coxphFit(iter.max = 10, eps = 1e-4, toler.chol = 1e-9)``).
RMS_EPS = 1e-4
RMS_ITER_MAX = 10
RMS_TOLER_CHOL = 1e-9

#: Rows of :meth:`ValidationResult.to_frame`, as rms prints them, with Harrell's C after Dxy.
INDEXES = ("Dxy", "C", "R2", "Slope", "D", "U", "Q", "g")
_MEASURED = ("Dxy", "R2", "Slope", "D", "U", "Q", "g")  # what each evaluation computes

ICI_METHOD = ("cox-rcs3: Cox model of the outcome on a restricted cubic spline (3 knots) of "
              "log(-log predicted S(u)) (Austin, Harrell & van Klaveren 2020)")


# ---------------------------------------------------------------------------------------
# building blocks


class _ReplicateFailure(RuntimeError):
    """A resample on which rms's refit fails (singular, or not converged in 10 iterations):
    the replicate is recorded as failed and left out, as ``predab.resample`` skips it.
    ``aliased`` names the design columns that are not estimable (a singular fit). Never
    reaches the user: a failed fit on all rows becomes a DataError (:func:`_original_fit`)."""

    def __init__(self, message: str, aliased: Sequence[str] = ()):
        super().__init__(message)
        self.aliased = tuple(aliased)


def _dxy(code: np.ndarray, event: np.ndarray, score: np.ndarray) -> float:
    """Somers' Dxy between a risk score and survival, as rms ``dxy.cens(x, y, type =
    "hazard")`` (survival's ``survConcordance.fit`` counts): comparable pairs are an event
    and a subject with a later time or censored at the same time; a higher score for the
    earlier event is concordant, ties in the score count half; ties in time between events
    are not compared. ``code`` are integer time ranks. Rows may repeat (a resample). O(n log
    n) (the merge counting of :mod:`metsurv.stats.cox.concordance`). NaN without pairs."""
    if code.size < 2:
        return float("nan")
    e = np.asarray(event, dtype=np.int64)
    vr = np.unique(score, return_inverse=True)[1].ravel().astype(np.int64)
    a = -2 * np.asarray(code, dtype=np.int64) + e
    # later times first, censored before events at a time, tied events by decreasing score
    order = np.lexsort((-vr, a))
    a_o, v_o, ev = a[order], vr[order], e[order] == 1
    pos = np.arange(a_o.size)
    new_a = np.r_[True, a_o[1:] != a_o[:-1]]
    gstart = np.maximum.accumulate(np.where(new_a, pos, 0))
    key = a_o * (int(vr.max()) + 1) + v_o
    kstart = np.maximum.accumulate(np.where(np.r_[True, key[1:] != key[:-1]], pos, 0))
    lt, le = _prefix_counts(v_o, np.ones(v_o.size))
    # partners of an event: the subjects before it, less the earlier events of its own time
    total = pos - (pos - gstart)
    leq = le - (pos - kstart)
    conc = float(lt[ev].sum())
    tied = float((leq - lt)[ev].sum())
    disc = float((total - leq)[ev].sum())
    pairs = conc + disc + tied
    return (conc - disc) / pairs if pairs > 0 else float("nan")


def _gini_md(x: np.ndarray) -> float:
    """Gini's mean difference, as Hmisc ``GiniMd``: the mean |x_i - x_j| over pairs i != j."""
    n = x.size
    if n < 2:
        return float("nan")
    w = 4.0 * (np.arange(1, n + 1) - (n - 1) / 2.0) / n / (n - 1)
    return float(w @ np.sort(x - x.mean()))


def _score_design(design: CoxDesign, score: np.ndarray) -> CoxDesign:
    """The prepared rows with one covariate, ``score`` (rms's calibration-slope fit)."""
    return replace(design, names=("score",), references={},
                   X=np.ascontiguousarray(score, dtype=float)[:, None],
                   _active=np.ones(1, dtype=bool))


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray  # over design.X's columns
    loglik0: float
    loglik: float


def _rms_fit(design: CoxDesign, counts: np.ndarray) -> _Fit:
    """rms ``coxphFit(x, y, iter.max = 10, eps = 1e-4, toler.chol = 1e-9)`` on the rows
    repeated ``counts`` times; _ReplicateFailure where rms's fit fails (no events, a
    singular design, 10 iterations reached)."""
    if not (counts * design.event).any():
        raise _ReplicateFailure("no events in the resample")
    fit = newton(_Counted(design, counts), iter_max=RMS_ITER_MAX, eps=RMS_EPS,
                 toler_chol=RMS_TOLER_CHOL)
    if fit.singular.any():
        bad = [design.names[j] for j in np.flatnonzero(design._active)[fit.singular]]
        raise _ReplicateFailure(f"singular fit (not estimable: {', '.join(bad)})", bad)
    if fit.iterations >= RMS_ITER_MAX or not np.isfinite(fit.loglik):
        raise _ReplicateFailure(f"no convergence in {RMS_ITER_MAX} iterations")
    return _Fit(np.asarray(fit.beta, dtype=float), float(fit.loglik0), float(fit.loglik))


#: rms ``discrim`` for a linear predictor with one value (no covariate effect at all)
_CONSTANT = {"Dxy": 0.0, "R2": 0.0, "Slope": 1.0, "D": 0.0, "U": 0.0, "Q": 0.0, "g": 0.0}


def _apparent(fit: _Fit, code: np.ndarray, event: np.ndarray, lp: np.ndarray
              ) -> dict[str, float]:
    """rms ``validate.cph``'s ``discrim(evalfit = TRUE)``: the indexes of a fit on the rows
    it was fitted on (``lp`` over those rows, repeats included)."""
    n = lp.size
    if np.ptp(lp) == 0:
        return dict(_CONSTANT)
    lr = -2.0 * (fit.loglik0 - fit.loglik)
    ll0 = -2.0 * fit.loglik0
    r2 = (1 - np.exp(-lr / n)) / (1 - np.exp(-ll0 / n))
    d = (lr - 1) / ll0
    u = -2.0 / ll0
    return {"Dxy": _dxy(code, event, lp), "R2": float(r2), "Slope": 1.0, "D": float(d),
            "U": float(u), "Q": float(d - u), "g": _gini_md(lp)}


def _tested(design: CoxDesign, lp: np.ndarray) -> dict[str, float]:
    """rms ``discrim(evalfit = FALSE)``: the indexes of a linear predictor ``lp`` on all
    prepared rows, with the calibration slope (a Cox fit of the outcome on ``lp``) and its
    log-likelihood ratio."""
    n = lp.size
    if np.ptp(lp) == 0:
        return dict(_CONSTANT)
    one = np.ones(n, dtype=np.int64)
    sd = _score_design(design, lp)
    try:
        f = _rms_fit(sd, one)
    except _ReplicateFailure as exc:
        raise _ReplicateFailure(f"calibration-slope fit on the original data: {exc}") from None
    slope = float(f.beta[0])
    frozen = float(_Counted(sd, one).derivs(np.ones(1))[0])  # log-likelihood at slope 1
    lr = -2.0 * (f.loglik0 - f.loglik)
    ll0 = -2.0 * f.loglik0
    r2 = (1 - np.exp(-lr / n)) / (1 - np.exp(-ll0 / n))
    d = (lr - 1) / ll0
    u = -2.0 * (frozen - f.loglik) / ll0
    return {"Dxy": _dxy(design.code, design.event, lp), "R2": float(r2), "Slope": slope,
            "D": float(d), "U": float(u), "Q": float(d - u), "g": _gini_md(slope * lp)}


def _baseline_at(design: CoxDesign, counts: np.ndarray, lp: np.ndarray, u: float
                 ) -> tuple[float, float]:
    """Baseline survival at ``u`` of a fit on the rows repeated ``counts`` times, at the
    centre (mean linear predictor of those rows), and that centre: R ``survfit.coxph`` at
    the mean covariates (what rms ``cph(surv = TRUE)`` stores in ``surv.summary``; Efron's
    hazard for tied deaths, d sub-steps for d deaths counted with their repeats)."""
    keep = counts > 0
    w = counts[keep].astype(float)
    code, ev, x = design.code[keep], design.event[keep].astype(float), lp[keep]
    centre = float(w @ x / w.sum())
    r = w * np.exp(x - centre)
    size = int(design.code.max()) + 1
    at_risk = np.cumsum(np.bincount(code, r, size)[::-1])[::-1]
    deaths = np.bincount(code, w * ev, size)
    dead_r = np.bincount(code, r * ev, size)
    t_of = np.full(size, np.inf)
    t_of[design.code] = design.time
    k = np.flatnonzero((deaths > 0) & (t_of <= u))
    d = np.rint(deaths[k]).astype(np.int64)
    sub = np.repeat(np.arange(k.size), d)
    step = np.arange(sub.size) - np.repeat(np.cumsum(d) - d, d)
    frac = step / np.repeat(d, d) if design.ties == "efron" else np.zeros(step.size)
    hazard = float(np.sum(1.0 / (at_risk[k][sub] - frac * dead_r[k][sub])))
    return float(np.exp(-hazard)), centre


def _groups(pred: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Interval of each prediction among ``cuts`` as Hmisc ``cut2(x, cuts)``: [c_i, c_i+1),
    the last one closed."""
    return np.clip(np.searchsorted(cuts, pred, side="right") - 1, 0, cuts.size - 2)


def _group_km(group: np.ndarray, n_groups: int, code: np.ndarray, time: np.ndarray,
              event: np.ndarray, u: float, weight: np.ndarray | None = None
              ) -> dict[str, np.ndarray]:
    """Kaplan-Meier survival at ``u`` in each group as rms ``groupkm`` (the estimate at the
    last time <= u + 1e-6; NA when follow-up ends before u with survival above 0, or the
    group is empty), with its SE of log S (Greenwood, survfitKM), size and events."""
    w = np.ones(code.size) if weight is None else np.asarray(weight, dtype=float)
    size = int(code.max()) + 1
    cell = group * size + code
    tot = np.bincount(cell, w, n_groups * size).reshape(n_groups, size)
    dead = np.bincount(cell, w * event, n_groups * size).reshape(n_groups, size)
    at_risk = np.cumsum(tot[:, ::-1], axis=1)[:, ::-1]
    t_of = np.full(size, np.inf)
    t_of[code] = time
    use = t_of <= u + 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where((dead > 0) & use, 1.0 - dead / at_risk, 1.0)
        green = np.where((dead > 0) & use & (at_risk > dead),
                         dead / (at_risk * (at_risk - dead)), 0.0)
        surv = np.prod(q, axis=1)
    se = np.sqrt(green.sum(axis=1))
    n_g = np.bincount(group, w, n_groups)
    d_g = np.bincount(group, w * event, n_groups)
    last = np.full(n_groups, -np.inf)
    np.maximum.at(last, group, time)
    na = (n_g == 0) | ((u > last + 1e-6) & (surv > 0))
    surv = np.where(na, np.nan, surv)
    se = np.where(na | (surv == 0), np.nan, se)
    return {"KM": surv, "std_err": se, "n": n_g, "events": d_g}


def _group_mean(group: np.ndarray, n_groups: int, x: np.ndarray,
                weight: np.ndarray | None = None) -> np.ndarray:
    w = np.ones(x.size) if weight is None else weight
    n_g = np.bincount(group, w, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_g > 0, np.bincount(group, w * x, n_groups) / n_g, np.nan)


def _predicted_survival(design: CoxDesign, counts: np.ndarray, lp: np.ndarray, u: float
                        ) -> np.ndarray:
    """S(u | x) of every prepared row from a fit on ``counts``: S_c(u)^exp(lp - centre)."""
    s_c, centre = _baseline_at(design, counts, lp, u)
    return s_c ** np.exp(lp - centre)


def _km_distance(design: CoxDesign, rows: np.ndarray | None, pred: np.ndarray,
                 cuts: np.ndarray, u: float) -> np.ndarray:
    """rms ``calibrate.cph``'s ``distance`` (``what = "observed-predicted"``): per group of
    predicted S(u) (the original ``cuts``), KM observed minus mean predicted; NaN for every
    group when the rows have fewer than 5 events (rms returns NA)."""
    g = cuts.size - 1
    if rows is None:
        code, time, event, p = design.code, design.time, design.event, pred
    else:
        code, time, event, p = (design.code[rows], design.time[rows], design.event[rows],
                                pred[rows])
    if event.sum() < 5:
        return np.full(g, np.nan)
    grp = _groups(p, cuts)
    km = _group_km(grp, g, code, time, event.astype(float), u)["KM"]
    return km - _group_mean(grp, g, p)


# ---------------------------------------------------------------------------------------
# replicates


def _check_indices(indices: Any, n: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.shape[1] != n or idx.shape[0] < 1:
        raise DataError(f"indices must be a (replicates, {n}) matrix of row numbers of the "
                        f"complete cases, got shape {idx.shape}; give one resample per row")
    if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n:
        raise DataError(f"indices must be integers in 0..{n - 1} (0-based rows of the "
                        f"complete cases); subtract 1 from R's 1-based sample() rows")
    return idx.astype(np.int64)


def _rows(rng: np.random.Generator, k: int, n: int, indices: np.ndarray | None
          ) -> np.ndarray:
    return resample_rows(rng, n) if indices is None else indices[k]


def _validate_one(rng: np.random.Generator, k: int, design: CoxDesign,
                  indices: np.ndarray | None) -> dict[str, float]:
    rows = _rows(rng, k, design.n, indices)
    counts = np.bincount(rows, minlength=design.n)
    with one_blas_thread():
        fit = _rms_fit(design, counts)
        lp = design.X @ fit.beta
        train = _apparent(fit, design.code[rows], design.event[rows], lp[rows])
        test = _tested(design, lp)
    return {**{f"training:{k_}": v for k_, v in train.items()},
            **{f"test:{k_}": v for k_, v in test.items()}}


def _calibrate_one(rng: np.random.Generator, k: int, design: CoxDesign,
                   indices: np.ndarray | None, cuts: np.ndarray, u: float
                   ) -> dict[str, float]:
    rows = _rows(rng, k, design.n, indices)
    counts = np.bincount(rows, minlength=design.n)
    if (counts * design.event).sum() < 5:  # rms coxfit: sum(e) < 5 -> fail
        raise _ReplicateFailure("fewer than 5 events in the resample")
    with one_blas_thread():
        fit = _rms_fit(design, counts)
        pred = _predicted_survival(design, counts, design.X @ fit.beta, u)
        train = _km_distance(design, rows, pred, cuts, u)
        test = _km_distance(design, None, pred, cuts, u)
        ici_train = calibration_ici(design, pred, u, grid=0, counts=counts)
        ici_test = calibration_ici(design, pred, u, grid=0)
    out = {f"training:{j}": float(v) for j, v in enumerate(train)}
    out.update({f"test:{j}": float(v) for j, v in enumerate(test)})
    for name in ("ici", "e50", "e90"):
        out[f"training:{name.upper()}"] = ici_train[name]
        out[f"test:{name.upper()}"] = ici_test[name]
    return out


def _optimism(table: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """predab.resample's summary: per index the mean training and test values over the
    replicates where both are finite, their difference and that count."""
    rows = []
    for name in names:
        tr = table[f"training:{name}"].to_numpy(float) if len(table) else np.zeros(0)
        te = table[f"test:{name}"].to_numpy(float) if len(table) else np.zeros(0)
        ok = np.isfinite(tr) & np.isfinite(te)
        num = int(ok.sum())
        mtr = float(tr[ok].mean()) if num else float("nan")
        mte = float(te[ok].mean()) if num else float("nan")
        rows.append({"index": name, "training": mtr, "test": mte, "optimism": mtr - mte,
                     "n": num})
    return pd.DataFrame(rows)


def _failures(failed: pd.DataFrame, replicates: int, notes: list[str]) -> None:
    if len(failed):
        reasons = "; ".join(sorted({e.split(": ", 1)[-1] for e in failed["error"]}))
        msg = (f"divergence or singularity in {len(failed)} of {replicates} resamples "
               f"({reasons}); the optimism averages the other {replicates - len(failed)}")
        notes.append(msg)
        _warnings.warn(msg, StatsWarning, stacklevel=3)


def _prepare(data: Any, covariates: Sequence[str], time: str, event: str,
             reference: Mapping[str, Any] | None) -> tuple[CoxDesign, list[str]]:
    """The complete cases (rms ``na.delete``) and the notes so far: the rows left out for a
    missing value, counted per column and warned."""
    design = prepare_cox(data, covariates, time=time, event=event, reference=reference)
    if design.n < 10:
        raise DataError(f"bootstrap validation needs at least 10 complete rows, got "
                        f"{design.n}", column=event)
    notes: list[str] = []
    if design.n_dropped:
        covs = [covariates] if isinstance(covariates, str) else list(covariates)
        missing = {c: k for c, k in missing_by_column(
            data, [time, event, *variables(covs)]).items() if k}
        which = (f"of {next(iter(missing))}" if len(missing) == 1 else
                 f"({missing_text(missing)})")
        msg = (f"{design.n_dropped} row{'s' if design.n_dropped != 1 else ''} with a missing "
               f"value {which} left out (R na.delete); {design.n} complete cases analysed")
        notes.append(msg)
        _warnings.warn(msg, StatsWarning, stacklevel=3)
    return design, notes


def _original_fit(design: CoxDesign, event: str) -> _Fit:
    """The model on all complete rows (rms ``cph``'s fit, ``eps = 1e-4``, ``iter.max =
    10``), before any replicate runs; DataError naming the cause when it cannot be made: an
    aliased covariate (R cph: "X matrix deemed to be singular; variable ..."), or no
    convergence (R: "Ran out of iterations and did not converge", with too few events or a
    covariate that separates them, a coefficient going to infinity)."""
    try:
        return _rms_fit(design, np.ones(design.n, dtype=np.int64))
    except _ReplicateFailure as exc:
        failure = exc
    events = int(design.event.sum())
    rows = (f"the {design.n} complete rows ({events} event{'s' if events != 1 else ''}, "
            f"{design.X.shape[1]} coefficients)")
    if failure.aliased:
        bad = ", ".join(failure.aliased)
        col = failure.aliased[0].split("[", 1)[0]
        raise DataError(f"the Cox model cannot be fitted on {rows}: covariate {bad} is "
                        "aliased (a linear combination of the other covariates; R cph: 'X "
                        f"matrix deemed to be singular; variable {bad}'); leave it out",
                        column=None if ":" in col else col)
    raise DataError(f"the Cox model does not converge in {RMS_ITER_MAX} iterations on {rows}: "
                    "too few events for the covariates, or a covariate that separates the "
                    "events (a coefficient going to infinity); use fewer covariates or more "
                    "patients", column=event)


def _replicate_args(replicates: int, indices: Any, n: int) -> tuple[int, np.ndarray | None]:
    if indices is None:
        if isinstance(replicates, bool) or int(replicates) < 1:
            raise ValueError(f"replicates must be >= 1, got {replicates!r}")
        return int(replicates), None
    idx = _check_indices(indices, n)
    return idx.shape[0], idx


# ---------------------------------------------------------------------------------------
# validate


@dataclass(frozen=True, eq=False)
class ValidationResult(Result):
    """Bootstrap-validated indexes of a Cox model (R ``validate(cph(...), B)``).

    Attributes
    ----------
    table : DataFrame
        One row per index of :data:`INDEXES` (``Dxy``, ``C`` = Dxy / 2 + 0.5, ``R2``
        (Nagelkerke), ``Slope`` (calibration slope), ``D`` (discrimination), ``U``
        (unreliability), ``Q`` = D - U, ``g`` (Gini's mean difference of the linear
        predictor)); columns ``index.orig``, ``training``, ``test``, ``optimism``,
        ``index.corrected``, ``n`` (replicates averaged).
    replicates : DataFrame
        Per successful replicate: ``replicate``, ``training:<index>``, ``test:<index>``.
    failed : DataFrame
        Failed replicates (``replicate``, ``seed``, ``error``), left out as rms leaves them.
    n, events : int
        Complete cases and their events.
    n_dropped : int
        Rows left out for a missing time, event or covariate (warned, per column).
    B : int
        Replicates asked for.
    seed : Any
        Root seed of the replicate engine (None with ``indices``).
    coef : dict
        The apparent model's coefficients (rms's ``eps = 1e-4``).
    """

    table: pd.DataFrame
    replicates: pd.DataFrame
    failed: pd.DataFrame
    n: int
    events: int
    B: int
    seed: Any
    coef: dict[str, float]
    n_dropped: int = 0

    def to_frame(self) -> pd.DataFrame:
        """The rms table: ``index`` then index.orig, training, test, optimism,
        index.corrected, n."""
        return self.table.copy()

    @property
    def c_index(self) -> pd.Series:
        """The C row (apparent, training, test, optimism, corrected, n)."""
        return self.table.set_index("index").loc["C"]

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"n": self.n, "n_dropped": self.n_dropped, "events": self.events,
                          "B": self.B, "seed": self.seed,
                          "n_failed": int(len(self.failed)), "coef": self.coef,
                          "table": self.table, "warnings": list(self.warnings)})


def validate(data: Any, covariates: Sequence[str], *, time: str = "os_months",
             event: str = "os_event", replicates: int = 200, seed: int | None = 0,
             workers: int | None = None, scheduler: str | None = None,
             progress: bool | None = None, indices: Any = None,
             reference: Mapping[str, Any] | None = None) -> ValidationResult:
    """Bootstrap optimism-corrected indexes of a Cox model, as R ``rms::validate(cph(Surv(time,
    event) ~ covariates, x = TRUE, y = TRUE, surv = TRUE), method = "boot", B = replicates)``.

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient; rows with a missing time, event or covariate are left out
        once (rms ``na.delete``), leaving n complete cases; counted in ``n_dropped`` and
        warned ("3 rows with a missing value of age left out").
    covariates : sequence of str
        As :func:`metsurv.stats.cox.cox` (factors get treatment contrasts; no strata).
    time, event : str
        Follow-up (months) and event (0/1) columns.
    replicates : int
        Bootstrap replicates B (ignored when ``indices`` is given).
    seed : int or None
        Root seed of the replicate engine; replicate k resamples with
        :func:`metsurv.bootstrap.resample_rows` from its stream.
    workers, scheduler, progress :
        As :func:`metsurv.replicate.run_replicates` (in-process, a local Dask cluster, or
        a scheduler's workers).
    indices : array of int, shape (B, n), optional
        The bootstrap rows themselves (0-based rows of the complete cases, one resample per
        row): to reproduce a run of R, ``t(replicate(B, sample(n, replace = TRUE))) - 1``
        after the same ``set.seed``.
    reference : dict, optional
        Reference level per factor.

    Returns
    -------
    ValidationResult
        ``to_frame()``: Dxy, C, R2, Slope, D, U, Q, g by index.orig, training, test,
        optimism, index.corrected, n.

    Raises
    ------
    DataError
        Fewer than 10 complete rows, no events, malformed ``indices``, or a model that
        cannot be fitted on all complete rows (an aliased covariate, named; no convergence
        in 10 iterations, e.g. too few events), before any replicate runs.
    KeyError
        A named column is absent.
    ValueError
        ``replicates`` < 1.

    Notes
    -----
    As rms: the apparent (and each training) R2, D and U use the fit's own log-likelihoods
    (slope 1); the test indexes come from a Cox fit of the outcome on the training model's
    linear predictor over the original rows (its coefficient is the calibration slope; U
    compares its log-likelihood with that at slope 1). Every fit uses rms's ``eps = 1e-4``,
    ``iter.max = 10``; a resample whose refit is singular (a factor level not drawn) or
    reaches 10 iterations is recorded in ``failed`` and left out (rms: "Divergence or
    singularity in k samples"), with a warning.
    """
    design, notes = _prepare(data, covariates, time, event, reference)
    B, idx = _replicate_args(replicates, indices, design.n)
    with one_blas_thread():
        fit = _original_fit(design, event)
        lp = design.X @ fit.beta
        orig = _apparent(fit, design.code, design.event, lp)
    from ..replicate import run_replicates

    res = run_replicates(partial(_validate_one, design=design, indices=idx), B,
                         None if idx is not None else seed, workers=workers,
                         scheduler=scheduler, progress=progress)
    summ = _optimism(res.table, _MEASURED).set_index("index")
    summ.insert(0, "index.orig", pd.Series(orig))
    summ["index.corrected"] = summ["index.orig"] - summ["optimism"]
    c = summ.loc["Dxy"].copy()
    for col in ("index.orig", "training", "test", "index.corrected"):
        c[col] = c[col] / 2 + 0.5
    c["optimism"] = c["optimism"] / 2
    summ = pd.concat([summ.loc[["Dxy"]], c.to_frame("C").T, summ.drop(index="Dxy")])
    summ.index.name = "index"
    table = summ.reset_index()[["index", "index.orig", "training", "test", "optimism",
                                "index.corrected", "n"]]
    table["n"] = table["n"].astype("int64")
    _failures(res.failed, B, notes)
    coef = np.full(len(design.names), np.nan)
    coef[design._active] = fit.beta
    return ValidationResult(table=table, replicates=res.table, failed=res.failed, n=design.n,
                            events=int(design.event.sum()), B=B,
                            seed=None if idx is not None else res.seed,
                            coef=dict(zip(design.names, coef.tolist(), strict=True)),
                            n_dropped=design.n_dropped, warnings=tuple(notes))


# ---------------------------------------------------------------------------------------
# calibration


def _rcs3_knots(x: np.ndarray) -> np.ndarray | None:
    """Knots of Hmisc ``rcspline.eval(x, nk = 3)`` (what rms ``rcs(x, 3)`` uses): the 10th,
    50th and 90th percentiles (type 7), the outer ones the 5th smallest and largest values
    below 100 observations; an extreme value held by >= 5% of the rows (when no inner one
    is) becomes a knot of its own; with <= 5 distinct values the inner distinct values.
    None when fewer than 3 distinct knots result (R stops)."""
    xx = np.asarray(x, dtype=float)
    xu, counts = np.unique(xx, return_counts=True)
    if xu.size - 2 <= 3:
        knots = xu[1:-1]
    else:
        first: list[float] = []
        last: list[float] = []
        override_first = override_last = False
        nke = 3
        f = counts / xx.size
        if f[1:-1].max() < 0.05:
            if f[0] >= 0.05:
                first = [float(xu[1])]
                xx = xx[xx > first[0]]
                nke -= 1
                override_first = True
            if f[-1] >= 0.05:
                last = [float(xu[-2])]
                xx = xx[xx < last[0]]
                nke -= 1
                override_last = True
        if nke == 1:
            knots = np.array([np.median(xx)])
        else:
            p = np.linspace(0.5, 0.9, nke) if nke == 2 else np.linspace(0.1, 0.9, nke)
            knots = np.quantile(xx, p)
            if np.unique(knots).size < min(nke, 3):
                return None  # rms falls back to an alternate algorithm, with a warning
            if xx.size < 100:
                xs = np.sort(xx)
                if not override_first:
                    knots[0] = xs[4]
                if not override_last:
                    knots[-1] = xs[-5]
        knots = np.r_[first, knots, last]
    knots = np.unique(knots)
    return knots if knots.size >= 3 else None


def _rcs3(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """The nonlinear column of ``rcspline.eval(x, knots, inclx = TRUE)`` for 3 knots
    (``norm = 2``)."""
    k1, k2, k3 = knots
    kd = (k3 - k1) ** (2 / 3)

    def pos(z: np.ndarray) -> np.ndarray:
        return np.maximum(z / kd, 0.0) ** 3

    return pos(x - k1) + ((k2 - k1) * pos(x - k3) - (k3 - k1) * pos(x - k2)) / (k3 - k2)


def calibration_ici(design: CoxDesign, pred: np.ndarray, u: float, grid: int = 100,
                    counts: np.ndarray | None = None) -> dict[str, Any]:
    """Austin, Harrell & van Klaveren (2020)'s ICI, E50 and E90 of predicted S(u), "cox"
    version: a Cox model of the outcome on ``rcs(log(-log(pred)), 3)`` (rms ``cph``, its
    ``eps = 1e-4``) gives each patient's smoothed observed S(u) (``survest``); the absolute
    differences from the predictions are averaged (ICI), and their median (E50) and 90th
    percentile (E90) taken.

    Parameters
    ----------
    design : CoxDesign
        The prepared rows (their times and events).
    pred : ndarray, shape (n,)
        Predicted S(u) of each row, in (0, 1).
    u : float
        Horizon (months).
    grid : int
        Points of the smoothed curve, evenly spaced between the 1st and 99th percentiles of
        ``pred`` (as Austin et al.'s code); 0 for none.
    counts : ndarray of int, shape (n,), optional
        How many times each row is taken (a bootstrap resample; default once each): the
        knots, the fit and the summaries are those of the repeated rows.

    Returns
    -------
    dict
        ``ici``, ``e50``, ``e90`` (float; NaN when fewer than 3 distinct knots exist or the
        spline fit fails), ``knots`` (on the log(-log) scale), ``observed`` (shape (n,)) and
        ``curve`` (DataFrame ``predicted``, ``observed``).
    """
    nan = float("nan")
    one = np.ones(design.n, dtype=np.int64) if counts is None else np.asarray(counts)
    used = one > 0
    ok = (pred > 0) & (pred < 1)
    cll = np.log(-np.log(np.where(ok, pred, 0.5)))
    knots = _rcs3_knots(np.repeat(cll, one)) if ok[used].all() else None
    empty = {"ici": nan, "e50": nan, "e90": nan, "knots": None,
             "observed": np.full(pred.size, nan),
             "curve": pd.DataFrame({"predicted": [], "observed": []})}
    if knots is None:
        return empty
    X = np.column_stack([cll, _rcs3(cll, knots)])
    sd = replace(design, names=("cll", "cll'"), references={}, X=X,
                 _active=np.ones(2, dtype=bool))
    try:
        fit = _rms_fit(sd, one)
    except _ReplicateFailure:
        return empty
    lp = X @ fit.beta
    s_c, centre = _baseline_at(sd, one, lp, u)
    observed = s_c ** np.exp(lp - centre)
    diff = np.repeat(np.abs(pred - observed), one)
    curve = pd.DataFrame({"predicted": [], "observed": []})
    if grid:
        lo, hi = np.quantile(np.repeat(pred, one), [0.01, 0.99])
        gp = np.linspace(lo, hi, grid)
        gc = np.log(-np.log(gp))
        glp = np.column_stack([gc, _rcs3(gc, knots)]) @ fit.beta
        curve = pd.DataFrame({"predicted": gp, "observed": s_c ** np.exp(glp - centre)})
    return {"ici": float(diff.mean()), "e50": float(np.median(diff)),
            "e90": float(np.quantile(diff, 0.9)), "knots": knots.tolist(),
            "observed": observed, "curve": curve}


@dataclass(frozen=True, eq=False)
class CalibrationResult(Result):
    """Calibration of predicted survival at a horizon ``u`` (R ``calibrate(cph(...), u = u,
    cmethod = "KM", m = m, B = B)``) with Austin et al.'s ICI, E50, E90.

    Attributes
    ----------
    table : DataFrame
        One row per group of predicted S(u) (cut at quantiles of the predictions, about m
        patients each): ``group``, ``mean_predicted``, ``KM`` (observed), ``std_err`` (of
        log KM), ``n_patients``, ``events``; then rms's ``index.orig``, ``training``,
        ``test`` (KM - predicted), ``optimism`` (rms ``mean.optimism``), ``KM_corrected``
        (KM - optimism, rms ``KM.corrected``, clipped to [0, 1] with a warning where it
        falls outside: rms reports it unclipped, = ``KM - optimism`` of this table) and
        ``n`` (replicates averaged; a warning when below half of B).
    u : float
        Horizon (months).
    cuts : ndarray
        Group limits on the predicted S(u) scale.
    ici, e50, e90 : float
        Mean, median and 90th percentile of |predicted - smoothed observed| S(u)
        (apparent: the model evaluated on the patients it was fitted on).
    ici_method : str
        :data:`ICI_METHOD`.
    curve : DataFrame
        The smoothed calibration curve: ``predicted``, ``observed`` S(u).
    predicted : ndarray, shape (n,)
        Each complete case's predicted S(u).
    n, events, B : int
    failed : DataFrame
    n_dropped : int
        Rows left out for a missing time, event or covariate (warned, per column).
    knots : list of float or None
        The spline's knots on the log(-log S) scale.
    ici_table : DataFrame
        ICI, E50 and E90 bootstrap-corrected as rms corrects its indexes: ``index``,
        ``index.orig`` (the apparent values above), ``training`` (each training model's
        predictions smoothed on its own resample), ``test`` (on the original rows),
        ``optimism``, ``index.corrected``, ``n``.
    """

    table: pd.DataFrame
    u: float
    cuts: np.ndarray
    ici: float
    e50: float
    e90: float
    ici_method: str
    curve: pd.DataFrame
    predicted: np.ndarray
    n: int
    events: int
    B: int
    failed: pd.DataFrame
    knots: list[float] | None = None
    ici_table: pd.DataFrame | None = None
    n_dropped: int = 0

    def to_frame(self) -> pd.DataFrame:
        """The grouped calibration table (see the class attributes)."""
        return self.table.copy()

    def summary_frame(self) -> pd.DataFrame:
        return self.table[["group", "mean_predicted", "KM", "KM_corrected", "optimism",
                           "n_patients", "n"]]

    def _html_head(self) -> str:
        return (f"<b>CalibrationResult</b> S({self.u:g}), n = {self.n}, events = "
                f"{self.events}, B = {self.B}; ICI = {self.ici:.4f}, E50 = {self.e50:.4f}, "
                f"E90 = {self.e90:.4f}")

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"u": self.u, "n": self.n, "n_dropped": self.n_dropped,
                          "events": self.events, "B": self.B,
                          "n_failed": int(len(self.failed)), "cuts": self.cuts,
                          "ici": self.ici, "e50": self.e50, "e90": self.e90,
                          "ici_method": self.ici_method, "knots": self.knots,
                          "table": self.table, "ici_table": self.ici_table,
                          "curve": self.curve,
                          "warnings": list(self.warnings)})

    def plot(self, ax: Any = None, *, time_unit: str = "months") -> Any:
        """Observed against predicted S(u): the 45-degree line of perfect calibration, the
        groups' KM (95% CI, log scale) at their mean prediction, the bootstrap-corrected
        KM, the smoothed (cox-rcs3) curve and a spike histogram of the predictions; into
        ``ax`` or a new notebook figure. Returns the axes."""
        from ..report.plotting import _new_axes, _tidy
        from ..report.style import PALETTE

        new = ax is None
        ax = _new_axes(ax, figsize=(4.8, 4.5)) if new else ax
        t = self.table.dropna(subset=["KM", "mean_predicted"])
        lo = min(float(np.nanmin(self.predicted)), float(t["KM"].min()) if len(t) else 1.0)
        lo = max(0.0, np.floor(lo * 10) / 10)
        ax.plot([lo, 1], [lo, 1], color="0.6", lw=0.8, ls=(0, (4, 2)), zorder=1,
                label="ideal")
        if len(self.curve):
            ax.plot(self.curve["predicted"], self.curve["observed"], color=PALETTE[0],
                    lw=1.2, zorder=2, label="smoothed (Cox, rcs 3 knots)")
        if len(t):
            se = t["std_err"].fillna(0).to_numpy()
            km = t["KM"].to_numpy()
            z = 1.959963984540054
            yerr = np.vstack([km - km * np.exp(-z * se), np.minimum(1, km * np.exp(z * se))
                              - km])
            ax.errorbar(t["mean_predicted"], km, yerr=yerr, fmt="o", ms=3, color=PALETTE[1],
                        elinewidth=0.6, capsize=0, zorder=3, mfc="white",
                        label="Kaplan-Meier by group (95% CI)")
            if t["KM_corrected"].notna().any():
                ax.plot(t["mean_predicted"], t["KM_corrected"], "x", ms=4, color=PALETTE[2],
                        zorder=4, label=f"bootstrap-corrected (B = {self.B})")
        # distribution of the predictions along the bottom (as rms's plot.calibrate)
        counts, edges = np.histogram(self.predicted, bins=50, range=(lo, 1))
        if counts.max() > 0:
            ax.vlines((edges[:-1] + edges[1:]) / 2, lo, lo + 0.06 * (1 - lo) * counts
                      / counts.max(), color="0.5", lw=0.8, zorder=1)
        ax.set_xlim(lo, 1)
        ax.set_ylim(lo, 1)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel(f"predicted survival at {self.u:g} {time_unit}")
        ax.set_ylabel(f"observed survival at {self.u:g} {time_unit}")
        text = f"ICI {self.ici:.3f}   E50 {self.e50:.3f}   E90 {self.e90:.3f}"
        if self.ici_table is not None and np.isfinite(self.ici_table["index.corrected"]).all():
            ici, e50, e90 = self.ici_table["index.corrected"]
            text += f"\ncorrected: {ici:.3f}   {e50:.3f}   {e90:.3f}"
        ax.text(0.98, 0.09, text, transform=ax.transAxes, ha="right", va="bottom",
                multialignment="right")
        ax.legend(frameon=False, loc="upper left")
        _tidy(ax, new)
        return ax


def calibrate(data: Any, covariates: Sequence[str], *, u: float, time: str = "os_months",
              event: str = "os_event", replicates: int = 200, seed: int | None = 0,
              m: int = 150, workers: int | None = None, scheduler: str | None = None,
              progress: bool | None = None, indices: Any = None,
              reference: Mapping[str, Any] | None = None) -> CalibrationResult:
    """Calibration of a Cox model's predicted survival at ``u``, bootstrap-corrected, as R
    ``rms::calibrate(cph(Surv(time, event) ~ covariates, x = TRUE, y = TRUE, surv = TRUE,
    time.inc = u), u = u, cmethod = "KM", m = m, B = replicates)``, with Austin, Harrell &
    van Klaveren (2020)'s ICI, E50 and E90 (their "cox" version: a Cox model on a 3-knot
    restricted cubic spline of log(-log predicted S(u))).

    Parameters
    ----------
    data, covariates, time, event, replicates, seed, workers, scheduler, progress, indices,
    reference :
        As :func:`validate`.
    u : float
        Horizon, in the unit of ``time`` (months), > 0.
    m : int
        About how many patients per group: floor(n / m) groups, cut at quantiles of the
        predicted S(u) (rms: ``quantile(c(0, 1, S), seq(0, 1, length = g + 1))``).

    Returns
    -------
    CalibrationResult
        ``to_frame()``: per group mean predicted, KM observed, the optimism of KM -
        predicted and the corrected KM; ``ici``, ``e50``, ``e90``, ``curve``; ``.plot()``.

    Raises
    ------
    DataError
        As :func:`validate`; ``u`` not positive or beyond the last follow-up; fewer than 5
        events.
    ValueError
        ``m`` < 2.

    Notes
    -----
    Predicted S(u | x) = S_c(u)^exp(lp - c): the Efron baseline of the fit at the mean
    linear predictor c (R ``survfit.coxph``, rms ``surv.summary``). A replicate with fewer
    than 5 events, or a singular or unconverged refit, is left out (rms's ``coxfit`` fails);
    a group whose KM is not defined at u (follow-up ends before u) is NaN in that replicate
    and averaged over the others (``n``; a warning names the groups where n < B / 2, as
    near the last follow-up). Where KM - optimism leaves [0, 1] (u near the last follow-up,
    KM 0 or 1), ``KM_corrected`` is clipped to [0, 1] and a warning gives the unclipped
    values: rms ``calibrate.cph`` (and its print and plot) report KM - optimism as is. The
    ICI is apparent (no optimism correction).
    """
    design, notes = _prepare(data, covariates, time, event, reference)
    u = float(u)
    if not np.isfinite(u) or u <= 0:
        raise DataError(f"u must be a positive horizon in the unit of {time!r}, got {u!r}",
                        column=time)
    if u > float(design.time.max()):
        raise DataError(f"u = {u:g} is beyond the last follow-up ({design.time.max():g}); "
                        f"choose a horizon inside the follow-up", column=time)
    if isinstance(m, bool) or int(m) < 2:
        raise ValueError(f"m (patients per group) must be >= 2, got {m!r}")
    events = int(design.event.sum())
    if events < 5:  # rms: distance() is NA and every coxfit fails below 5 events
        raise DataError(f"calibration needs at least 5 events among the {design.n} complete "
                        f"rows, got {events} (rms calibrate.cph gives NA for every group)",
                        column=event)
    B, idx = _replicate_args(replicates, indices, design.n)
    one = np.ones(design.n, dtype=np.int64)
    with one_blas_thread():
        fit = _original_fit(design, event)
        pred = _predicted_survival(design, one, design.X @ fit.beta, u)
    g = max(1, design.n // int(m))
    cuts = np.unique(np.quantile(np.r_[0.0, 1.0, pred], np.linspace(0, 1, g + 1)))
    n_groups = cuts.size - 1
    grp = _groups(pred, cuts)
    km = _group_km(grp, n_groups, design.code, design.time, design.event.astype(float), u)
    mean_pred = _group_mean(grp, n_groups, pred)
    orig = km["KM"] - mean_pred
    from ..replicate import run_replicates

    res = run_replicates(partial(_calibrate_one, design=design, indices=idx, cuts=cuts, u=u),
                         B, None if idx is not None else seed, workers=workers,
                         scheduler=scheduler, progress=progress)
    summ = _optimism(res.table, [str(j) for j in range(n_groups)])
    opt = summ["optimism"].to_numpy()
    raw = km["KM"] - opt  # rms calibrate.cph's KM.corrected, unclipped
    corrected = np.clip(raw, 0.0, 1.0)  # NaN stays NaN
    table = pd.DataFrame({
        "group": [f"[{cuts[j]:.3f}, {cuts[j + 1]:.3f}{']' if j == n_groups - 1 else ')'}"
                  for j in range(n_groups)],
        "mean_predicted": mean_pred, "KM": km["KM"], "std_err": km["std_err"],
        "n_patients": km["n"].astype("int64"), "events": km["events"].astype("int64"),
        "index.orig": orig, "training": summ["training"].to_numpy(),
        "test": summ["test"].to_numpy(), "optimism": opt, "KM_corrected": corrected,
        "n": summ["n"].to_numpy().astype("int64")})
    _failures(res.failed, B, notes)
    few = np.flatnonzero(table["n"].to_numpy() < B / 2)
    if few.size:
        msg = (f"the optimism of {few.size} of {n_groups} groups of predicted S({u:g}) rests "
               f"on fewer than half of the {B} replicates (n = "
               f"{', '.join(str(int(table['n'][j])) for j in few)} for "
               f"{', '.join(table['group'][j] for j in few)}; the other resamples had no "
               f"Kaplan-Meier estimate at u there, or failed): KM_corrected is unreliable "
               "there; choose an earlier u or more replicates")
        notes.append(msg)
        _warnings.warn(msg, StatsWarning, stacklevel=2)
    out = np.flatnonzero(np.isfinite(raw) & ((raw < 0) | (raw > 1)))
    if out.size:
        msg = (f"KM - optimism falls outside [0, 1] in {out.size} group"
               f"{'s' if out.size != 1 else ''} ("
               + ", ".join(f"{table['group'][j]}: {raw[j]:.6g}" for j in out)
               + "): KM_corrected is clipped to [0, 1] there (rms calibrate.cph reports "
               "the unclipped KM - optimism); a probability cannot leave [0, 1]")
        notes.append(msg)
        _warnings.warn(msg, StatsWarning, stacklevel=2)
    empty = int((km["n"] == 0).sum())
    ended = int(np.isnan(km["KM"]).sum()) - empty
    if empty:  # few distinct predictions: a quantile interval nobody falls in
        msg = (f"{empty} of {n_groups} groups of predicted S({u:g}) are empty (the "
               "predictions take few distinct values): NA there")
        notes.append(msg)
        _warnings.warn(msg, StatsWarning, stacklevel=2)
    if ended:
        msg = (f"Kaplan-Meier survival at u = {u:g} is not defined in {ended} of "
               f"{n_groups} groups (their follow-up ends before u): NA there")
        notes.append(msg)
        _warnings.warn(msg, StatsWarning, stacklevel=2)
    with one_blas_thread():
        ici = calibration_ici(design, pred, u)
    if not np.isfinite(ici["ici"]):
        msg = ("ICI, E50, E90 not computed: the predictions take too few distinct values "
               "for a 3-knot spline (or its Cox fit failed)")
        notes.append(msg)
        _warnings.warn(msg, StatsWarning, stacklevel=2)
    ici_tab = _optimism(res.table, ["ICI", "E50", "E90"])
    ici_tab.insert(1, "index.orig", [ici["ici"], ici["e50"], ici["e90"]])
    ici_tab.insert(5, "index.corrected", ici_tab["index.orig"] - ici_tab["optimism"])
    return CalibrationResult(table=table, u=u, cuts=cuts, ici=ici["ici"], e50=ici["e50"],
                             e90=ici["e90"], ici_method=ICI_METHOD, curve=ici["curve"],
                             predicted=pred, n=design.n, events=int(design.event.sum()),
                             B=B, failed=res.failed, knots=ici["knots"], ici_table=ici_tab,
                             n_dropped=design.n_dropped, warnings=tuple(notes))
