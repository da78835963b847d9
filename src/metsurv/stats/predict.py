"""Does a model predict survival after metastasectomy better than the IRLM grouping?

Four predictors are compared by stratified K-fold cross-validation with a fixed seed:

* ``irlm_group``: the published IRLM prognostic groups I-IV used as they are (no fitting);
  risk score = group number, survival curve = Kaplan-Meier of the training patients of
  the same group (of all training patients when the fold has none of that group);
* ``cox``: Cox model on the IRLM factors (scikit-survival ``CoxPHSurvivalAnalysis``, Efron);
* ``coxnet``: elastic-net Cox (``CoxnetSurvivalAnalysis``, l1_ratio 0.5), penalty chosen
  by an inner 3-fold CV on Harrell's C within each training fold;
* ``rsf``: ``RandomSurvivalForest`` (100 trees, min_samples_leaf 15, n_jobs 1).

Orientation, everywhere: **risk scores are higher for a worse prognosis**, and every
concordance (Harrell's C, Uno's C, time-dependent AUC) is reported so that **higher means
better discrimination** (0.5 = chance). The integrated Brier score is lower = better.

Metrics per held-out fold (scikit-survival): Harrell's C (``concordance_index_censored``),
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

    def __init__(self, name: str, seed: int):
        self.name, self.seed = name, seed

    def _make(self, alpha: float | None = None):
        from sksurv.ensemble import RandomSurvivalForest
        from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis

        if self.name == "cox":
            # a whisper of ridge keeps a sparse level (separation) from diverging
            return CoxPHSurvivalAnalysis(alpha=1e-4, ties="efron")
        if self.name == "coxnet":
            kw = {"alphas": [alpha]} if alpha is not None else {"n_alphas": 30}
            return CoxnetSurvivalAnalysis(l1_ratio=0.5, alpha_min_ratio=0.01,
                                          fit_baseline_model=True, **kw)
        return RandomSurvivalForest(n_estimators=100, min_samples_leaf=15, n_jobs=1,
                                    random_state=self.seed, low_memory=False)

    def _choose_alpha(self, x: np.ndarray, y: np.ndarray) -> float:
        from sksurv.metrics import concordance_index_censored

        path = self._make().fit(x, y).alphas_
        inner = StratifiedKFold(3, shuffle=True, random_state=self.seed)
        score = np.zeros(path.size)
        for tr, te in inner.split(x, y["event"]):
            m = self._make().fit(x[tr], y[tr])
            for j, a in enumerate(path):
                risk = m.predict(x[te], alpha=a)
                score[j] += concordance_index_censored(y["event"][te], y["time"][te], risk)[0]
        return float(path[int(np.argmax(score))])

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Sksurv:
        alpha = self._choose_alpha(x, y) if self.name == "coxnet" else None
        self.model_ = self._make(alpha).fit(x, y)
        return self

    def risk(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model_.predict(x), dtype=float)

    def survival(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        fns = self.model_.predict_survival_function(x)
        return np.vstack([_step_at(f.x, f.y, times) for f in fns])


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
) -> PredictionResult:
    """Cross-validated comparison of the IRLM grouping, Cox, penalised Cox and a random
    survival forest (see the module docstring for orientation and metrics).

    ``times`` (months) for the AUC and Brier score default to the 10th-80th percentiles
    of the training fold's event times (8 points); ``tau`` for Uno's C defaults to the
    80th percentile of the training fold's follow-up. Rows missing the outcome,
    ``irlm_group`` (when that model is requested) or a feature are dropped and counted in
    ``n_dropped``.

    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"os_months": rng.exponential(40, 120),
    ...                    "os_event": rng.random(120) < 0.8,
    ...                    "irlm_group": rng.choice(["I", "II", "III", "IV"], 120)})
    >>> res = compare_models(df, models=("irlm_group",), n_splits=3)
    >>> res.summary.columns[:3].tolist()
    ['model', 'harrell_c_mean', 'harrell_c_std']
    """
    from sksurv.metrics import (
        concordance_index_censored,
        concordance_index_ipcw,
        cumulative_dynamic_auc,
        integrated_brier_score,
    )

    unknown = set(models) - set(MODELS)
    if unknown:
        raise ValueError(f"unknown model(s) {sorted(unknown)}; choose from {MODELS}")
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
    folds, aucs, grids, taus = [], [], [], []
    splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    for k, (tr, te) in enumerate(splitter.split(x, e)):
        y_tr = y[tr]
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
        g = grid[inside]
        for name in models:
            if name == "irlm_group":
                m = _IRLMGrouping().fit(frame.iloc[tr], time, event)
                risk = m.risk(frame.iloc[te])
                surv = m.survival(frame.iloc[te], g)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = _Sksurv(name, seed).fit(x[tr], y_tr)
                risk = m.risk(x[te])
                surv = m.survival(x[te], g)
            harrell = concordance_index_censored(y_te["event"], y_te["time"], risk)[0]
            uno = concordance_index_ipcw(y_tr, y_te, risk, tau=tau_k)[0]
            auc_t, auc_mean = cumulative_dynamic_auc(y_tr, y_te, risk, g)
            ibs = integrated_brier_score(y_tr, y_te, surv, g) if g.size > 1 else np.nan
            folds.append({"model": name, "fold": k, "harrell_c": harrell, "uno_c": uno,
                          "mean_auc": auc_mean, "ibs": ibs, "tau": tau_k})
            aucs.extend({"model": name, "fold": k, "point": j, "time": tt, "auc": a}
                        for j, tt, a in zip(np.flatnonzero(inside), g, auc_t, strict=True))
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
