"""Nonparametric (patient) bootstrap of any statistic, on the replicate engine.

:func:`bootstrap` resamples patients (rows) with replacement, replicate k with the stream of
:func:`metsurv.replicate.run_replicates` (so the same call gives the same replicates on one
core, a local Dask cluster or a scheduler), evaluates a statistic on each resample and gives
the bias, the bootstrap SE, percentile and normal intervals (R ``boot::boot`` and
``boot.ci(type = c("norm", "perc"))``; Efron & Tibshirani 1993, chapters 6 and 13).
:func:`bootstrap_cox` is the fast path for Cox coefficients: the design is built once and
each resample is refitted by :mod:`metsurv.stats.cox.refit` (the engine of
:func:`metsurv.stats.cox.cox`, rows counted instead of copied).

>>> import pandas as pd
>>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 10.0]})
>>> res = bootstrap(df, lambda d: float(d["x"].mean()), replicates=200, seed=1,
...                 progress=False)
>>> res.t0["statistic"], res.n_failed, len(res.replicates)
(4.0, 0, 200)
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from metsurv._blas import one_blas_thread
from metsurv.errors import DataError


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap replicates of one or more scalar statistics and their intervals.

    Attributes
    ----------
    t0 : dict
        The statistic(s) on the original data.
    replicates : DataFrame
        One row per successful replicate: ``replicate`` then one column per statistic.
    failed : DataFrame
        Failed replicates (``replicate``, ``seed``, ``error``): counted, never dropped.
    n_resampled : int
        Rows resampled per replicate.
    conf_level : float
    seed : int
    """

    t0: dict[str, float]
    replicates: pd.DataFrame
    failed: pd.DataFrame
    n_resampled: int
    conf_level: float
    seed: Any

    @property
    def n_failed(self) -> int:
        return int(len(self.failed))

    @property
    def warnings(self) -> tuple[str, ...]:
        """One line per statistic that is NaN (or whose resample failed) in k of the B
        resamples: "<name>: not estimable in k of B resamples; SE and intervals use the
        other B-k" (a factor level absent from a resample, a separated fit: the SE and
        intervals then describe the resamples where it was estimable, which may
        understate the spread)."""
        total = int(len(self.replicates)) + self.n_failed
        out = []
        for name in self.t0:
            t = self.replicates[name].to_numpy(float) if name in self.replicates else \
                np.zeros(0)
            k = total - int(np.isfinite(t).sum())
            if k:
                out.append(f"{name}: not estimable in {k} of {total} resamples; SE and "
                           f"intervals use the other {total - k}")
        return tuple(out)

    def to_frame(self) -> pd.DataFrame:
        """Per statistic: ``estimate`` (t0), ``bias`` (mean(t*) - t0), ``se`` (SD of t*,
        divisor R - 1 as R ``sd``), ``normal_lower``/``normal_upper`` (R ``boot.ci`` "norm":
        t0 - bias -/+ z se), ``percentile_lower``/``percentile_upper`` (quantiles of t*,
        numpy's linear interpolation; R ``boot.ci`` "perc" interpolates on the normal
        quantile scale, which differs by a fraction of one order statistic), ``n`` (finite
        replicates)."""
        z = norm.ppf(0.5 + self.conf_level / 2)
        a = (1 - self.conf_level) / 2
        rows = []
        for name, t0 in self.t0.items():
            t = self.replicates[name].to_numpy(float) if name in self.replicates else \
                np.zeros(0)
            t = t[np.isfinite(t)]
            nan = float("nan")
            bias = float(t.mean() - t0) if t.size else nan
            se = float(t.std(ddof=1)) if t.size > 1 else nan
            lo, hi = (np.quantile(t, [a, 1 - a]) if t.size else (nan, nan))
            rows.append({"statistic": name, "estimate": t0, "bias": bias, "se": se,
                         "normal_lower": t0 - bias - z * se, "normal_upper": t0 - bias + z * se,
                         "percentile_lower": float(lo), "percentile_upper": float(hi),
                         "n": int(t.size)})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        from metsurv.stats._result import json_safe

        return json_safe({"replicates": int(len(self.replicates)) + self.n_failed,
                           "n_failed": self.n_failed, "seed": self.seed,
                           "conf_level": self.conf_level, "n_resampled": self.n_resampled,
                           "statistics": self.to_frame().to_dict("records"),
                           "failed": self.failed.astype(str).to_dict("records"),
                           "warnings": list(self.warnings)})


def _warned(result: BootstrapResult) -> BootstrapResult:
    """Issue the result's warnings (kept in ``result.warnings`` too) as UserWarnings."""
    for w in result.warnings:
        _warnings.warn(w, UserWarning, stacklevel=3)
    return result


def _as_dict(value: Any) -> dict[str, float]:
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    return {"statistic": float(value)}


def resample_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """The rows of one bootstrap resample: n draws with replacement from 0..n-1
    (``rng.integers(0, n, n)``), the draw :func:`bootstrap` and :func:`bootstrap_cox` make
    first from each replicate's stream."""
    return rng.integers(0, n, size=n)


def _boot_one(rng: np.random.Generator, index: int, frame: pd.DataFrame,
              statistic: Callable[[pd.DataFrame], Any]) -> dict[str, float]:
    rows = resample_rows(rng, len(frame))
    return _as_dict(statistic(frame.iloc[rows].reset_index(drop=True)))


def _frame(data: Any) -> pd.DataFrame:
    frame = getattr(data, "patients", data)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"bootstrap needs a DataFrame or a Cohort, got {type(data).__name__}")
    if len(frame) < 2:
        raise DataError(f"bootstrap needs at least 2 rows to resample, got {len(frame)}")
    return frame


def _check(replicates: int, conf_level: float) -> None:
    if int(replicates) < 2:
        raise ValueError(f"replicates must be at least 2, got {replicates}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be between 0 and 1, got {conf_level}")


def bootstrap(data: Any, statistic: Callable[[pd.DataFrame], Any], replicates: int = 1000,
              seed: int = 0, workers: int | None = None, scheduler: str | None = None,
              conf_level: float = 0.95, progress: bool | None = None) -> BootstrapResult:
    """Patient bootstrap of a statistic (R ``boot::boot(data, function(d, i)
    statistic(d[i, ]), R)`` with ``boot.ci(type = c("norm", "perc"))``).

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient (a Cohort's ``patients``); n rows.
    statistic : callable
        ``statistic(frame) -> float | dict[str, float]`` on a resampled frame (n rows,
        index 0..n-1): a median, an RMST, a log HR, a C-index. Must be picklable for Dask
        (a module-level function or a ``functools.partial`` of one). A replicate where it
        raises is recorded in ``failed``.
    replicates : int
        Bootstrap replicates R (>= 2).
    seed : int
        Root seed; replicate k resamples with the engine's stream k
        (:func:`metsurv.replicate.replicate_rng`), first drawing :func:`resample_rows`.
    workers, scheduler, progress :
        As :func:`metsurv.replicate.run_replicates`.
    conf_level : float
        Level of the intervals.

    Returns
    -------
    BootstrapResult
        ``to_frame()``: estimate, bias, SE, normal and percentile limits per statistic;
        ``warnings``: each statistic NaN or failed in some resamples, with the count.

    Raises
    ------
    DataError
        Fewer than 2 rows, or not a table.
    ValueError
        ``replicates`` < 2, ``conf_level`` outside (0, 1).
    """
    from functools import partial

    from metsurv.replicate import run_replicates

    _check(replicates, conf_level)
    frame = _frame(data)
    t0 = _as_dict(statistic(frame))
    res = run_replicates(partial(_boot_one, frame=frame, statistic=statistic),
                         int(replicates), seed, workers=workers, scheduler=scheduler,
                         progress=progress)
    return _warned(BootstrapResult(t0, res.table, res.failed, len(frame), float(conf_level),
                                   res.seed))


def _cox_one(rng: np.random.Generator, index: int, design: Any) -> dict[str, float]:
    rows = resample_rows(rng, design.n)
    with one_blas_thread():  # small matrices: BLAS threads only cost time
        coef, _ = design.refit(rows)
    return dict(zip(design.names, coef.tolist(), strict=True))


def bootstrap_cox(data: Any, covariates: Sequence[str], replicates: int = 1000, seed: int = 0,
                  workers: int | None = None, scheduler: str | None = None,
                  conf_level: float = 0.95, progress: bool | None = None, *,
                  time: str = "os_months", event: str = "os_event",
                  reference: Mapping[str, Any] | None = None,
                  ties: str = "efron") -> BootstrapResult:
    """Patient bootstrap of Cox coefficients (R ``boot(d, function(d, i) coef(coxph(Surv(time,
    event) ~ covariates, d[i, ], ties = ties)), R)``), fast.

    The complete cases of ``time``, ``event`` and the covariates (n rows; rows with a
    missing value are left out once, as ``na.omit`` before ``boot``) are read and coded
    once (:func:`metsurv.stats.cox.refit.prepare_cox`); replicate k draws
    :func:`resample_rows` of those n rows and refits with the engine of
    :func:`metsurv.stats.cox.cox`: each replicate's coefficients equal ``cox()`` on
    ``complete.iloc[rows]`` (to 1e-10). Factor codings and reference levels are those of
    the whole data; a level absent from a resample gives NaN, as ``cox()`` does.

    Parameters
    ----------
    data : DataFrame or Cohort
    covariates : sequence of str
        As :func:`metsurv.stats.cox.cox` (no strata, weights or entry times here).
    replicates, seed, workers, scheduler, conf_level, progress :
        As :func:`bootstrap`.
    time, event, reference, ties :
        As :func:`metsurv.stats.cox.cox`.

    Returns
    -------
    BootstrapResult
        One statistic per coefficient (named as ``cox(...).terms``); ``t0`` the fit on all
        n rows.

    Raises
    ------
    DataError, KeyError, ValueError
        As :func:`metsurv.stats.cox.cox` and :func:`bootstrap`.
    """
    from functools import partial

    from metsurv.replicate import run_replicates
    from metsurv.stats.cox.refit import prepare_cox

    _check(replicates, conf_level)
    design = prepare_cox(data, covariates, time=time, event=event, reference=reference,
                         ties=ties)
    if design.n < 2:
        raise DataError(f"bootstrap needs at least 2 complete rows, got {design.n}")
    with one_blas_thread():
        coef, _ = design.refit()
    t0 = dict(zip(design.names, (float(c) for c in coef), strict=True))
    res = run_replicates(partial(_cox_one, design=design), int(replicates), seed,
                         workers=workers, scheduler=scheduler, progress=progress)
    return _warned(BootstrapResult(t0, res.table, res.failed, design.n, float(conf_level),
                                   res.seed))
