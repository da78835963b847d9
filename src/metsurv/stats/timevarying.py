"""Repeat resection as a time-dependent covariate: counting-process Cox.

A second metastasectomy can only happen to a patient who lived long enough to recur and be
re-operated. Classifying patients at baseline by "had a repeat resection" credits the
repeat group with that event-free time (immortal-time bias, Suissa 2008) and makes repeat
resection look protective even when it does nothing. The correct model splits each
patient's follow-up at the repeat resection into ``(start, stop]`` rows: the patient counts
as unexposed until the operation and exposed afterwards.

:func:`counting_process_cox` matches R
``coxph(Surv(start, stop, event) ~ repeat_resection + covariates, ties = "efron")`` (and
Breslow, strata, ``cluster = patient_id``): it is :func:`metsurv.stats.cox` with ``start``.
:func:`naive_repeat_resection_comparison` exists to show the bias (teaching, sensitivity
tables); it refuses to run without an explicit acknowledgement and always warns.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from metsurv.stats._result import Result, json_safe
from metsurv.stats._times import as_frame
from metsurv.stats.cox import CoxResult, cox

#: Columns of the counting-process table (Cohort.counting_process).
CP_COLUMNS = ("patient_id", "start", "stop", "event")

IMMORTAL_TIME_WARNING = (
    "naive comparison of patients with and without a repeat resection is biased by immortal "
    "time: a patient must survive, recur and be re-operated to enter the repeat group, so "
    "that group is credited with survival it was guaranteed to have. The hazard ratio is "
    "biased towards benefit. Use counting_process_cox (repeat resection as a time-dependent "
    "covariate) or landmark() instead."
)


def counting_process_table(data: Any, counting_process: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``(start, stop]`` table: ``counting_process`` if given, else ``data.counting_process``."""
    cp = counting_process if counting_process is not None else getattr(data, "counting_process", None)
    if not isinstance(cp, pd.DataFrame):
        raise TypeError(
            "a counting-process table is needed: pass a Cohort (with .counting_process) or "
            "counting_process=DataFrame with columns patient_id, start, stop, event"
        )
    absent = [c for c in CP_COLUMNS if c not in cp.columns]
    if absent:
        raise KeyError(f"counting-process table lacks column(s): {', '.join(absent)}")
    return cp


@dataclasses.dataclass(frozen=True, eq=False)
class TimeVaryingCoxResult(Result):
    """Counting-process Cox fit: one row per term (coef, HR with CI, se, z, p; robust SE
    and robust z, p, CI when ``robust``), and the full :class:`CoxResult` in ``cox``
    (log-likelihood tests, concordance, ``ph_test()``)."""

    table: pd.DataFrame
    covariance: np.ndarray  # robust (clustered by patient) when robust, else model-based
    loglik: float
    n_patients: int
    n_rows: int
    n_events: int
    n_dropped: int
    ties: str
    robust: bool
    conf_level: float
    cox: CoxResult = dataclasses.field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "cox"}
        return json_safe({**out, "cox": self.cox.to_dict()})

    def hazard_ratio(self, term: str) -> tuple[float, float, float]:
        """(HR, lower, upper) of one term; a yes/no exposure may be named by its column
        (``"repeat_resection"`` for the term ``repeat_resection[True]``)."""
        tab = self.table.set_index("term")
        if term not in tab.index:
            hits = [t for t in tab.index if t.startswith(f"{term}[")]
            if len(hits) != 1:
                raise KeyError(f"no single term for {term!r} among {list(tab.index)}")
            term = hits[0]
        r = tab.loc[term]
        return float(r["hr"]), float(r["lower"]), float(r["upper"])


def counting_process_cox(
    data: Any,
    time_dependent: Sequence[str] = ("repeat_resection",),
    baseline: Sequence[str] = (),
    counting_process: pd.DataFrame | None = None,
    ties: str = "efron",
    robust: bool = False,
    strata: str | Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> TimeVaryingCoxResult:
    """Cox model on ``(start, stop]`` rows with time-dependent exposure(s).

    ``time_dependent`` are columns of the counting-process table (``repeat_resection``:
    a second metastasectomy at or before ``start``; ``resection_number``); ``baseline`` (and
    ``strata``) are patient-level columns merged by ``patient_id``. Factors and yes/no
    columns are coded against the schema reference level as :func:`metsurv.stats.cox`
    does (``repeat_resection[True]`` against no repeat resection).

    The fit is :func:`metsurv.stats.cox` with ``start``, matching R
    ``coxph(Surv(start, stop, event) ~ time_dependent + baseline [+ strata(strata)],
    ties = ties [, cluster = patient_id])``: ``robust=True`` gives the sandwich variance
    clustered by patient (R ``cluster(patient_id)``), used for the table's z, p and CI.
    Tests (tests/stats_extra): coefficients, statistics and p 1e-6 relative, standard
    errors 1e-8 absolute, for Efron, Breslow, strata and robust.

    >>> cp = pd.DataFrame({"patient_id": [1, 1, 2, 3, 3, 4, 5, 6],
    ...                    "start": [0, 5, 0, 0, 2, 0, 0, 0],
    ...                    "stop": [5, 9, 7, 2, 11, 4, 8, 10],
    ...                    "event": [0, 1, 1, 0, 0, 1, 1, 0],
    ...                    "repeat_resection": [False, True, False, False, True, False,
    ...                                         False, False]})
    >>> fit = counting_process_cox(pd.DataFrame({"patient_id": range(1, 7)}),
    ...                            counting_process=cp)
    >>> fit.table["term"].tolist()
    ['repeat_resection[True]']
    """
    cp = counting_process_table(data, counting_process)
    strata_cols = [strata] if isinstance(strata, str) else list(strata or [])
    rows = cp[list(CP_COLUMNS) + [c for c in time_dependent if c not in CP_COLUMNS]]
    patient_level = [c for c in (*baseline, *strata_cols) if c not in rows.columns]
    if patient_level:
        patients = as_frame(data)
        rows = rows.merge(patients[["patient_id", *patient_level]], on="patient_id",
                          how="left", validate="many_to_one")
    fit = cox(rows, [*time_dependent, *baseline], strata=strata_cols or None, ties=ties,
              cluster="patient_id" if robust else None, start="start", time="stop",
              event="event", conf_level=conf_level)
    kept = rows[["patient_id", "start", "stop", "event", *time_dependent, *baseline,
                 *strata_cols]].notna().all(axis=1)
    return TimeVaryingCoxResult(
        table=fit.to_frame(),
        covariance=fit.vcov_robust if robust else fit.vcov,
        loglik=fit.loglik,
        n_patients=int(rows.loc[kept, "patient_id"].nunique()),
        n_rows=fit.n,
        n_events=fit.events,
        n_dropped=fit.n_dropped,
        ties=ties,
        robust=robust,
        conf_level=conf_level,
        cox=fit,
        warnings=fit.warnings,  # an NA or infinite term, as the Cox fit says
    )


@dataclasses.dataclass(frozen=True, eq=False)
class NaiveComparisonResult(Result):
    """The biased baseline comparison "ever had a repeat resection" vs "never", kept only
    to show the size of the immortal-time bias. ``warning`` says why it is biased."""

    n_repeat: int
    n_single: int
    hr: float
    hr_lower: float
    hr_upper: float
    cox_p: float
    logrank_p: float
    warning: str = IMMORTAL_TIME_WARNING

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}])


def ever_repeat_resection(data: Any) -> pd.Series:
    """Whether each patient ever had a repeat metastasectomy (baseline-style, biased for
    survival comparisons): ``repeat_resection``, else ``n_metastasectomies >= 2``, else any
    counting-process row with ``repeat_resection``."""
    p = as_frame(data)
    if "repeat_resection" in p.columns:
        return p["repeat_resection"].astype("boolean")
    if "n_metastasectomies" in p.columns:
        return (pd.to_numeric(p["n_metastasectomies"]) >= 2).astype("boolean")
    cp = counting_process_table(data)
    ever = cp.groupby("patient_id")["repeat_resection"].any()
    return p["patient_id"].map(ever).fillna(False).astype("boolean")


def naive_repeat_resection_comparison(
    data: Any,
    *,
    i_understand_immortal_time_bias: bool = False,
    time: str = "os_months",
    event: str = "os_event",
) -> NaiveComparisonResult:
    """Cox and log-rank of "ever had a repeat resection" as a baseline factor. BIASED.

    Refuses to run unless ``i_understand_immortal_time_bias=True`` and always emits a
    ``UserWarning`` saying why (see :data:`IMMORTAL_TIME_WARNING`). Use
    :func:`counting_process_cox` or :func:`metsurv.stats.landmark.landmark` for inference.
    """
    if not i_understand_immortal_time_bias:
        raise ValueError(
            "the naive repeat-resection comparison is biased by immortal time and is only "
            "available with i_understand_immortal_time_bias=True; use counting_process_cox "
            "or landmark for inference"
        )
    warnings.warn(IMMORTAL_TIME_WARNING, UserWarning, stacklevel=2)
    from metsurv.stats.tests import logrank

    p = as_frame(data)
    frame = pd.DataFrame({time: p[time], event: p[event],
                          "ever_repeat": ever_repeat_resection(data).astype(float)})
    fit = cox(frame, ["ever_repeat"], time=time, event=event)
    row = fit.to_frame().iloc[0]
    test = logrank(frame, by="ever_repeat", time=time, event=event)
    ever = frame["ever_repeat"]
    return NaiveComparisonResult(
        n_repeat=int((ever == 1).sum()),
        n_single=int((ever == 0).sum()),
        hr=float(row["hr"]),
        hr_lower=float(row["lower"]),
        hr_upper=float(row["upper"]),
        cox_p=float(row["p"]),
        logrank_p=float(test.p),
        warnings=tuple(dict.fromkeys([IMMORTAL_TIME_WARNING, *fit.warnings, *test.warnings])),
    )
