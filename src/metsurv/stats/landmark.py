"""Landmark analysis of a time-dependent exposure (repeat resection).

Choose a landmark month ``at``; keep the patients alive and under follow-up beyond it;
classify them by the exposure *as known at the landmark* (a repeat metastasectomy at or
before ``at``); restart the clock at the landmark. What happens after the landmark cannot
move a patient between groups, so no group is credited with immortal time (Anderson,
Cain & Gelber 1983; Dafni 2011). Patients re-operated after the landmark stay "unexposed",
which dilutes, never inflates, the exposure effect.

Which R call each number matches (on the landmark data set ``lm <- subset(d, time > at)``,
``lm$t <- lm$time - at``, ``lm$exposed <- exposure time <= at``):
Kaplan-Meier ``survfit(Surv(t, event) ~ exposed, lm)`` (metsurv ``km``), log-rank
``survdiff`` (metsurv ``logrank``), Cox ``coxph(Surv(t, event) ~ exposed + covariates, lm)``
(metsurv ``cox``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from metsurv.stats._result import Result, json_safe
from metsurv.stats._times import as_frame, default_start
from metsurv.stats.cox import CoxResult, cox
from metsurv.stats.km import KMResult, km
from metsurv.stats.tests import LogRankResult, logrank
from metsurv.stats.timevarying import counting_process_table

#: the landmark data set's entry time (months from the landmark), when entry times apply
_ENTRY = "entry_from_landmark"


@dataclasses.dataclass(frozen=True, eq=False)
class LandmarkResult(Result):
    """Survival from the landmark by exposure status at the landmark.

    ``data``: the landmark data set (``patient_id``, ``time`` from the landmark, ``event``,
    the exposure as known at the landmark, covariates). ``n_excluded``: patients who died
    or were censored at or before the landmark; ``n_unknown_exposure``: patients alive at
    the landmark whose exposure is not known there (no counting-process row covers it),
    left out.
    """

    at: float
    exposure: str
    n_eligible: int
    n_excluded: int
    n_exposed: int
    n_unknown_exposure: int
    km: KMResult
    logrank: LogRankResult | None
    cox: CoxResult | None
    data: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """One row per exposure level: n, events, median (CI) from the landmark, and the
        Cox hazard ratio (CI, p) of the exposure against the unexposed."""
        med = self.km.medians()
        out = med.rename(columns={"lower": "median_lower", "upper": "median_upper"})
        out.insert(0, "landmark", self.at)
        hr = np.ones(len(out))
        lo, hi, p = (np.full(len(out), np.nan) for _ in range(3))
        if self.cox is not None:
            tab = self.cox.to_frame().set_index("term")
            for i, g in enumerate(out["group"]):
                term = f"{self.exposure}[{g}]"
                if term in tab.index:
                    hr[i], lo[i], hi[i], p[i] = tab.loc[term, ["hr", "lower", "upper", "p"]]
        return out.assign(hr=hr, hr_lower=lo, hr_upper=hi, p=p)

    def to_dict(self) -> dict[str, Any]:
        return json_safe({
            "at": self.at, "exposure": self.exposure, "n_eligible": self.n_eligible,
            "n_excluded": self.n_excluded, "n_exposed": self.n_exposed,
            "table": self.to_frame(),
            "logrank_p": None if self.logrank is None else self.logrank.p,
            "cox": None if self.cox is None else self.cox.to_dict(),
            "warnings": self.warnings,
        })


def exposure_at(
    data: Any,
    at: float,
    exposure: str = "repeat_resection",
    counting_process: pd.DataFrame | None = None,
    exposure_time: str | None = None,
) -> pd.Series:
    """Exposure of each patient as known at month ``at``, indexed by ``patient_id``.

    With ``exposure_time`` (a patients column: month the exposure began, missing if never)
    the exposure is ``exposure_time <= at``; otherwise it is the value of ``exposure`` in
    the counting-process row covering ``at`` (``start <= at < stop``), so a repeat
    resection exactly at the landmark counts.
    """
    if exposure_time is not None:
        p = as_frame(data)
        known = pd.to_numeric(p[exposure_time]) <= at
        return pd.Series(known.to_numpy(dtype=bool), index=p["patient_id"], name=exposure)
    cp = counting_process_table(data, counting_process)
    covering = cp[(cp["start"] <= at) & (cp["stop"] > at)]
    return covering.groupby("patient_id", sort=False)[exposure].last().rename(exposure)


def landmark(
    data: Any,
    at: float = 24.0,
    exposure: str = "repeat_resection",
    covariates: Sequence[str] = (),
    time: str = "os_months",
    event: str = "os_event",
    counting_process: pd.DataFrame | None = None,
    exposure_time: str | None = None,
    times: Sequence[float] | None = None,
    conf_type: str = "log-log",
    start: str | None | bool = None,
) -> LandmarkResult:
    """Landmark analysis at month ``at`` of ``exposure`` (default: repeat resection).

    Patients with ``time > at`` are kept; their time restarts at the landmark; the
    exposure is taken as known at the landmark (see :func:`exposure_at`). Returns KM by
    exposure (``times`` are months from the landmark), log-rank, and a Cox model of the
    exposure plus ``covariates`` (reference: unexposed).

    Delayed entry: with an entry-time column (``start``, or by default a cohort's
    ``entry_months``, as every estimator) a patient who entered the registry after the
    landmark is at risk only from ``entry - at`` on (time from the landmark), so the
    landmark data set stays left-truncated; ``start=False`` ignores entry times.

    >>> from types import SimpleNamespace
    >>> patients = pd.DataFrame({"patient_id": [1, 2, 3, 4, 5, 6],
    ...                          "os_months": [10, 40, 50, 30, 60, 26],
    ...                          "os_event": [1, 1, 0, 1, 0, 1]})
    >>> cp = pd.DataFrame({"patient_id": [1, 2, 2, 3, 4, 5, 5, 6],
    ...                    "start": [0, 0, 20, 0, 0, 0, 30, 0],
    ...                    "stop": [10, 20, 40, 50, 30, 30, 60, 26],
    ...                    "event": [1, 0, 1, 0, 1, 0, 0, 1],
    ...                    "repeat_resection": [False, False, True, False, False, False,
    ...                                         True, False]})
    >>> res = landmark(SimpleNamespace(patients=patients, counting_process=cp), at=24)
    >>> res.n_eligible, res.n_excluded, res.n_exposed
    (5, 1, 1)
    """
    p = as_frame(data)
    alive = pd.to_numeric(p[time]) > at
    lm = p.loc[alive, ["patient_id", time, event, *covariates]].copy()
    entry = default_start(data, time, start)
    if entry is not None:  # time from the landmark at which the patient enters the risk set
        lm[_ENTRY] = (pd.to_numeric(p.loc[alive, entry]) - at).clip(lower=0.0)
    known = exposure_at(data, at, exposure, counting_process, exposure_time)
    lm[exposure] = lm["patient_id"].map(known)
    unknown = lm[exposure].isna()
    lm = lm.loc[~unknown].assign(**{time: pd.to_numeric(lm.loc[~unknown, time]) - at})
    if not pd.api.types.is_numeric_dtype(lm[exposure]) or str(lm[exposure].dtype) == "boolean":
        lm[exposure] = lm[exposure].astype(bool)
    outcome = {"time": time, "event": event,
               "start": _ENTRY if entry is not None and (lm[_ENTRY] > 0).any() else False}
    fit_km = km(lm, by=exposure, conf_type=conf_type, times=times, **outcome)
    groups = lm[exposure].dropna().nunique()
    test = logrank(lm, by=exposure, **outcome) if groups > 1 else None
    reference = {exposure: False} if lm[exposure].dtype == bool else {}
    fit_cox = (cox(lm, [exposure, *covariates], reference=reference, **outcome)
               if groups > 1 else None)
    exposed = lm[exposure].astype(float).fillna(0)
    return LandmarkResult(
        at=float(at),
        exposure=exposure,
        n_eligible=len(lm),
        n_excluded=int((~alive).sum()),
        n_unknown_exposure=int(unknown.sum()),
        n_exposed=int((exposed > 0).sum()),
        km=fit_km,
        logrank=test,
        cox=fit_cox,
        data=lm.reset_index(drop=True),
        # the warnings of the estimators it is made of (an NA or infinite Cox term, ...)
        warnings=tuple(dict.fromkeys(
            w for r in (fit_km, test, fit_cox) if r is not None for w in r.warnings)),
    )
