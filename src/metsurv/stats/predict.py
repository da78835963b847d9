"""Does a model predict survival after metastasectomy better than the IRLM grouping?

Four predictors are compared by stratified K-fold cross-validation with a fixed seed:

* ``irlm_group``: the published IRLM prognostic groups I-IV used as they are (no fitting);
  risk score = group number, survival curve = Kaplan-Meier of the training patients of
  the same group (of all training patients when the fold has none of that group);
* ``cox``: Cox model on the IRLM factors (scikit-survival ``CoxPHSurvivalAnalysis``, Efron);
* ``coxnet``: elastic-net Cox (``CoxnetSurvivalAnalysis``, l1_ratio 0.5), penalty chosen
  by an inner 3-fold CV on Harrell's C within each training fold;
* ``rsf``: ``RandomSurvivalForest`` (100 trees, min_samples_leaf 15).

Orientation, everywhere: **risk scores are higher for a worse prognosis**, and every
concordance (Harrell's C, Uno's C, time-dependent AUC) is reported so that **higher means
better discrimination** (0.5 = chance). The integrated Brier score is lower = better.

Metrics per held-out fold (scikit-survival): Harrell's C (``concordance_index_censored``;
counted here by covariate pattern, the same number),
Uno's C (``concordance_index_ipcw`` truncated at ``tau``), the cumulative/dynamic AUC at
``times`` and its survival-weighted mean (``cumulative_dynamic_auc``), and the integrated
Brier score over ``times`` (``integrated_brier_score``). The IPCW metrics estimate the
censoring distribution on the training fold, so test follow-up is administratively
censored at the largest training time (the standard device; otherwise the weights are
undefined). Every evaluation setting not given is taken from the training fold alone (the
time grid, ``tau``), never from the patients it is tested on; the grid is then cut to the
test fold's follow-up range, as ``cumulative_dynamic_auc`` requires.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from metsurv.errors import CohortError
from metsurv.schema import IRLM_GROUPS
from metsurv.stats._result import Result
from metsurv.stats._times import as_frame
from metsurv.stats.cox import design_matrix
from metsurv.stats.km import km

#: IRLM factors used by the fitted models (those present in the data).
DEFAULT_FEATURES = ("complete_resection", "dfi_group", "n_metastases_group", "histology_group")
MODELS = ("irlm_group", "cox", "coxnet", "rsf")
METRICS = ("harrell_c", "uno_c", "mean_auc", "ibs")


@dataclasses.dataclass(frozen=True, eq=False)
class PredictionResult(Result):
    """Cross-validated discrimination and calibration of each model.

    ``folds``: one row per model and fold (with the fold's ``tau``); ``summary``: mean
    and SD over folds; ``auc``: time-dependent AUC per model and grid point, mean over
    folds (``time`` is the point's mean over folds: with the default grid each training
    fold has its own percentiles). ``times`` and ``tau``: each fold's grid and Uno tau.
    """

    summary: pd.DataFrame
    folds: pd.DataFrame
    auc: pd.DataFrame
    features: tuple[str, ...]
    times: tuple[tuple[float, ...], ...]
    tau: tuple[float, ...]
    n: int
    n_events: int
    n_splits: int
    seed: int
    n_dropped: int

    def to_frame(self) -> pd.DataFrame:
        return self.summary


def _structured(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    y = np.empty(time.size, dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = event, time
    return y


def _step_at(fn_x: np.ndarray, fn_y: np.ndarray, times: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(fn_x, times, side="right") - 1
    return np.where(idx < 0, 1.0, fn_y[np.clip(idx, 0, None)])


def _distinct_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``x`` (n, p) and the (n,) index of each row among them.

    The models predict row by row, so predicting the distinct covariate patterns (a
    factor design has a few dozen) and indexing back gives the same numbers as
    predicting every patient.
    """
    rows, inverse = np.unique(x, axis=0, return_inverse=True)
    return rows, inverse.reshape(-1)


#: above this many cells (distinct times x groups, or groups x groups), Harrell's C is
#: left to sksurv's loop over events
_HARRELL_CELLS = 20_000_000


def _comparable_pairs(event: np.ndarray, time: np.ndarray, group: np.ndarray,
                      n_groups: int) -> np.ndarray | None:
    """Comparable pairs for Harrell's C counted by the two patients' groups.

    ``pairs[a, b]`` is the number of pairs (i, j) with i an event in group ``a`` and j in
    group ``b`` with a longer time, or censored at i's time (sksurv's rule: two events at
    the same time are not comparable). Counted by (distinct time, group) cells, not by
    patient: ``partners[t, b]`` = patients of group b beyond time t plus those censored
    at t. Integer counts held in float64 (exact below 2**53). ``None`` when the cell
    table would exceed ``_HARRELL_CELLS``.

    Parameters
    ----------
    event, time : numpy.ndarray, shape (n,)
        Event indicator (bool) and follow-up time.
    group : numpy.ndarray of int, shape (n,)
        Each patient's group in ``0 .. n_groups - 1`` (a distinct score or covariate
        pattern: patients of a group share their risk score).
    n_groups : int

    Returns
    -------
    numpy.ndarray, shape (n_groups, n_groups), or None
    """
    times, t_code = np.unique(time, return_inverse=True)
    nt, k = times.size, n_groups
    if max(nt * k, k * k) > _HARRELL_CELLS:
        return None
    cell = t_code.reshape(-1) * k + group
    n_all = np.bincount(cell, minlength=nt * k).reshape(nt, k)
    n_cens = np.bincount(cell[~event], minlength=nt * k).reshape(nt, k)
    later = np.cumsum(n_all[::-1], axis=0)[::-1] - n_all
    return (n_all - n_cens).T.astype(float) @ (later + n_cens).astype(float)


def _harrell_from_pairs(pairs: np.ndarray, scores: np.ndarray,
                        tied_tol: float = 1e-8) -> float:
    """Harrell's C from ``_comparable_pairs`` and the (n_groups,) risk score of each group:
    pairs whose scores are within ``tied_tol`` count 1/2, a higher score for the event
    counts 1 (the comparisons sksurv makes, ``|est - est_i| <= tied_tol`` and
    ``est < est_i``). Returns NaN when there is no comparable pair."""
    # [a, b]: the partner's score b against the event's score a
    tied = np.absolute(scores[None, :] - scores[:, None]) <= tied_tol
    concordant = (scores[None, :] < scores[:, None]) & ~tied
    denominator = float(pairs.sum())
    if denominator == 0:
        return float("nan")
    return (float(pairs[concordant].sum()) + 0.5 * float(pairs[tied].sum())) / denominator


def _harrell_c(event: np.ndarray, time: np.ndarray, risk: np.ndarray,
               tied_tol: float = 1e-8) -> float:
    """Harrell's C, the number ``sksurv.metrics.concordance_index_censored`` returns.

    Same pairs and rules (see ``_comparable_pairs`` and ``_harrell_from_pairs``), counted
    by distinct score instead of a Python loop over events. Every count is an integer
    below 2**53, so the sums are exact and the ratio is the same float as sksurv's.
    Degenerate inputs (no event, no comparable pair, non-finite scores: sksurv raises or
    returns NaN) and very many distinct scores and times go to sksurv.

    Parameters
    ----------
    event, time, risk : numpy.ndarray, shape (n,)
        Event indicator (bool), follow-up time, risk score (higher = worse).
    tied_tol : float
        Risks at most this far apart are tied, as in sksurv.

    Returns
    -------
    float
        C in [0, 1].
    """
    event = np.asarray(event, dtype=bool)
    time = np.asarray(time, dtype=float)
    risk = np.asarray(risk, dtype=float)
    pairs = None
    if event.any() and np.isfinite(risk).all():
        scores, code = np.unique(risk, return_inverse=True)
        pairs = _comparable_pairs(event, time, code.reshape(-1), scores.size)
    if pairs is None or pairs.sum() == 0:
        from sksurv.metrics import concordance_index_censored

        return float(concordance_index_censored(event, time, risk, tied_tol)[0])
    return _harrell_from_pairs(pairs, scores, tied_tol)


class _IRLMGrouping:
    """The IRLM groups as a fixed predictor: risk = group number (I = 1 ... IV = 4)."""

    def fit(self, frame: pd.DataFrame, time: str, event: str) -> _IRLMGrouping:
        fit = km(frame, by="irlm_group", time=time, event=event)
        self.curves_ = {str(c.group): c for c in fit.curves}
        # a group absent from the training fold (rare group IV in a small cohort)
        self.pooled_ = km(frame, time=time, event=event).curves[0]
        return self

    def risk(self, frame: pd.DataFrame) -> np.ndarray:
        order = {g: i + 1 for i, g in enumerate(IRLM_GROUPS)}
        return frame["irlm_group"].astype(str).map(order).to_numpy(dtype=float)

    def survival(self, frame: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        groups = frame["irlm_group"].astype(str).to_numpy()
        out = np.empty((len(frame), times.size))
        for g in np.unique(groups):
            curve = self.curves_.get(g, self.pooled_)
            out[groups == g] = curve.at(times)["estimate"].to_numpy()
        return out


class _Sksurv:
    """A scikit-survival estimator on the factor design matrix."""

    def __init__(self, name: str, seed: int, n_jobs: int = 1):
        self.name, self.seed, self.n_jobs = name, seed, n_jobs

    def _make(self, alpha: float | None = None):
        from sksurv.ensemble import RandomSurvivalForest
        from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis

        if self.name == "cox":
            # a whisper of ridge keeps a sparse level (separation) from diverging
            return CoxPHSurvivalAnalysis(alpha=1e-4, ties="efron")
        if self.name == "coxnet":
            # the penalty path and the inner CV only rank by the linear predictor: no
            # baseline hazard (a Breslow fit per penalty) is needed there
            kw = {"alphas": [alpha]} if alpha is not None else {"n_alphas": 30}
            return CoxnetSurvivalAnalysis(l1_ratio=0.5, alpha_min_ratio=0.01,
                                          fit_baseline_model=alpha is not None, **kw)
        # trees are grown in threads (each tree has its own seed drawn up front, so the
        # forest is the same for any n_jobs); prediction runs with n_jobs 1, see fit.
        # (low_memory=True grows the same trees and risk scores, but its 10% less fitting
        # time is spent again rebuilding the leaf curves the Brier score needs)
        return RandomSurvivalForest(n_estimators=100, min_samples_leaf=15, n_jobs=self.n_jobs,
                                    random_state=self.seed, low_memory=False)

    def _choose_alpha(self, x: np.ndarray, y: np.ndarray) -> float:
        path = self._make().fit(x, y).alphas_
        inner = StratifiedKFold(3, shuffle=True, random_state=self.seed)
        score = np.zeros(path.size)
        for tr, te in inner.split(x, y["event"]):
            m = self._make().fit(x[tr], y[tr])
            rows, pattern = _distinct_rows(x[te])
            # the comparable pairs by covariate pattern, shared by every penalty
            pairs = _comparable_pairs(y["event"][te], y["time"][te], pattern, len(rows))
            for j, a in enumerate(path):
                risk = np.asarray(m.predict(rows, alpha=a), dtype=float)
                score[j] += (_harrell_c(y["event"][te], y["time"][te], risk[pattern])
                             if pairs is None or pairs.sum() == 0 else
                             _harrell_from_pairs(pairs, risk))
        return float(path[int(np.argmax(score))])

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Sksurv:
        alpha = self._choose_alpha(x, y) if self.name == "coxnet" else None
        self.model_ = self._make(alpha).fit(x, y)
        if self.name == "rsf":
            # a threaded prediction sums the trees in the order they finish
            self.model_.set_params(n_jobs=1)
        return self

    def risk(self, x: np.ndarray) -> np.ndarray:
        rows, inverse = _distinct_rows(x)
        return np.asarray(self.model_.predict(rows), dtype=float)[inverse]

    def survival(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        # one curve per distinct covariate pattern (a loop over patterns, not patients)
        rows, inverse = _distinct_rows(x)
        fns = self.model_.predict_survival_function(rows)
        return np.vstack([_step_at(f.x, f.y, times) for f in fns])[inverse]


@dataclasses.dataclass(frozen=True)
class _Fold:
    """One outer fold: its rows, the administratively censored test outcome, the
    evaluation grid (training-fold percentiles) with the points inside the test follow-up,
    and Uno's tau."""

    train: np.ndarray
    test: np.ndarray
    y_test: np.ndarray
    grid: np.ndarray
    inside: np.ndarray
    tau: float


@dataclasses.dataclass(frozen=True)
class _Shared:
    """What every (fold, model) task reads: the analysed rows and the folds."""

    frame: pd.DataFrame
    x: np.ndarray
    y: np.ndarray
    time: str
    event: str
    seed: int
    folds: tuple[_Fold, ...]


def _evaluate(shared: _Shared, k: int, name: str, rsf_jobs: int = 1
              ) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Fit model ``name`` on fold ``k``'s training rows and score it on its test rows:
    the fold's metrics and its AUC(t) rows (point index, time, AUC)."""
    from sksurv.metrics import (
        concordance_index_ipcw,
        cumulative_dynamic_auc,
        integrated_brier_score,
    )

    from metsurv._blas import one_blas_thread

    fold = shared.folds[k]
    tr, te, y_te = fold.train, fold.test, fold.y_test
    y_tr = shared.y[tr]
    g = fold.grid[fold.inside]
    with one_blas_thread():
        if name == "irlm_group":
            m = _IRLMGrouping().fit(shared.frame.iloc[tr], shared.time, shared.event)
            risk = m.risk(shared.frame.iloc[te])
            surv = m.survival(shared.frame.iloc[te], g)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = _Sksurv(name, shared.seed, rsf_jobs).fit(shared.x[tr], y_tr)
            risk = m.risk(shared.x[te])
            surv = m.survival(shared.x[te], g)
        harrell = _harrell_c(y_te["event"], y_te["time"], risk)
        uno = concordance_index_ipcw(y_tr, y_te, risk, tau=fold.tau)[0]
        auc_t, auc_mean = cumulative_dynamic_auc(y_tr, y_te, risk, g)
        ibs = integrated_brier_score(y_tr, y_te, surv, g) if g.size > 1 else np.nan
    row = {"harrell_c": harrell, "uno_c": uno, "mean_auc": auc_mean, "ibs": ibs}
    auc_rows = [{"point": j, "time": tt, "auc": a}
                for j, tt, a in zip(np.flatnonzero(fold.inside), g, auc_t, strict=True)]
    return row, auc_rows


#: the data of the running compare_models, read by its forked workers (not pickled)
_SHARED: list[_Shared] = []


def _evaluate_forked(k: int, name: str) -> tuple[dict[str, float], list[dict[str, float]]]:
    return _evaluate(_SHARED[0], k, name)


#: rough relative cost of a fit, to start the longest first
_COST = {"rsf": 5.0, "cox": 2.0, "coxnet": 1.0, "irlm_group": 0.1}


def _run_tasks(tasks: list[tuple[int, str]], shared: _Shared, workers: int | None
               ) -> list[tuple[dict[str, float], list[dict[str, float]]]]:
    """Every (fold, model) task, in ``tasks`` order, in forked worker processes (longest
    first, so the workers finish together) or here when there is one worker."""
    import multiprocessing
    import os

    if workers is None:
        text = os.environ.get("METSURV_WORKERS", "").strip()
        if text and (not text.isdigit() or int(text) < 1):
            raise CohortError(f"METSURV_WORKERS: {text[:12]!r} is not a whole number of "
                              "worker processes (1 or more); set it to e.g. 2, or unset it")
        workers = int(text) if text else max(1, min(4, os.cpu_count() or 1))
    workers = min(workers, len(tasks))
    if (workers == 1 or "fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon):  # a daemon may not have children
        # in this process the forest may grow its trees in threads (same trees)
        return [_evaluate(shared, k, name, rsf_jobs=workers) for k, name in tasks]
    from concurrent.futures import ProcessPoolExecutor

    _SHARED[:] = [shared]
    try:
        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            order = sorted(range(len(tasks)), key=lambda i: -_COST[tasks[i][1]])
            submitted = {i: pool.submit(_evaluate_forked, *tasks[i]) for i in order}
            return [submitted[i].result() for i in range(len(tasks))]
    finally:
        _SHARED.clear()


def compare_models(
    data: Any,
    time: str = "os_months",
    event: str = "os_event",
    features: Sequence[str] | None = None,
    models: Sequence[str] = MODELS,
    times: Sequence[float] | None = None,
    tau: float | None = None,
    n_splits: int = 5,
    seed: int = 0,
    workers: int | None = None,
) -> PredictionResult:
    """Cross-validated comparison of the IRLM grouping, Cox, penalised Cox and a random
    survival forest (see the module docstring for orientation and metrics).

    ``times`` (months) for the AUC and Brier score default to the 10th-80th percentiles
    of the training fold's event times (8 points); ``tau`` for Uno's C defaults to the
    80th percentile of the training fold's follow-up. Rows missing the outcome,
    ``irlm_group`` (when that model is requested) or a feature are dropped and counted in
    ``n_dropped``.

    The (fold, model) fits run in ``workers`` forked processes (default: the
    ``METSURV_WORKERS`` environment variable, else the cores, at most 4; 1 = in this
    process, as where fork is unavailable). Every fit is seeded by ``seed`` alone and
    its sums run on one BLAS thread, so the result is the same for any ``workers``.

    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"os_months": rng.exponential(40, 120),
    ...                    "os_event": rng.random(120) < 0.8,
    ...                    "irlm_group": rng.choice(["I", "II", "III", "IV"], 120)})
    >>> res = compare_models(df, models=("irlm_group",), n_splits=3)
    >>> res.summary.columns[:3].tolist()
    ['model', 'harrell_c_mean', 'harrell_c_std']
    """
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ValueError(f"unknown model(s) {sorted(unknown)}; choose from {MODELS}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers must be a whole number from 1, not {workers!r}")
    df = as_frame(data)
    feats = tuple(f for f in (features or DEFAULT_FEATURES) if f in df.columns)
    if not feats and set(models) - {"irlm_group"}:
        raise ValueError("none of the features is in the data")
    needed = [time, event, *feats] + (["irlm_group"] if "irlm_group" in models else [])
    frame = df[list(dict.fromkeys(needed))]
    keep = frame.notna().all(axis=1)
    frame = frame.loc[keep].reset_index(drop=True)
    t = frame[time].to_numpy(dtype=float)
    e = frame[event].astype(bool).to_numpy()
    y = _structured(t, e)
    x = design_matrix(frame, feats).to_numpy(dtype=float) if feats else np.zeros((len(t), 0))
    specs, grids, taus = [], [], []
    splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    for tr, te in splitter.split(x, e):
        # evaluation settings from the training fold only
        grid = np.asarray(times if times is not None else
                          np.percentile(t[tr][e[tr]], np.linspace(10, 80, 8)), dtype=float)
        # administrative censoring of the test fold at the last training time (IPCW)
        cap = t[tr].max()
        tau_k = min(float(tau if tau is not None else np.percentile(t[tr], 80)), cap)
        grids.append(tuple(float(v) for v in grid))
        taus.append(tau_k)
        y_te = _structured(np.minimum(t[te], cap), e[te] & (t[te] <= cap))
        inside = (grid > y_te["time"].min()) & (grid < y_te["time"].max())
        specs.append(_Fold(tr, te, y_te, grid, inside, tau_k))
    tasks = [(k, name) for k in range(len(specs)) for name in models]
    outcomes = _run_tasks(tasks, _Shared(frame, x, y, time, event, seed, tuple(specs)),
                          workers)
    folds, aucs = [], []
    for (k, name), (row, auc_rows) in zip(tasks, outcomes, strict=True):
        folds.append({"model": name, "fold": k, **row, "tau": specs[k].tau})
        aucs.extend({"model": name, "fold": k, **a} for a in auc_rows)
    fold_df = pd.DataFrame(folds)
    summary = fold_df.groupby("model", sort=False)[list(METRICS)].agg(["mean", "std"])
    summary.columns = [f"{m}_{s}" for m, s in summary.columns]
    rank = {m: i for i, m in enumerate(models)}
    auc_df = (pd.DataFrame(aucs).groupby(["model", "point"])[["time", "auc"]].mean()
              .reset_index().sort_values(["model", "point"], key=lambda c: c.map(rank)
                                         if c.name == "model" else c)
              .drop(columns="point").reset_index(drop=True))
    return PredictionResult(
        summary=summary.reset_index(),
        folds=fold_df,
        auc=auc_df,
        features=feats,
        times=tuple(grids),
        tau=tuple(taus),
        n=len(frame),
        n_events=int(e.sum()),
        n_splits=n_splits,
        seed=seed,
        n_dropped=int((~keep).sum()),
    )
