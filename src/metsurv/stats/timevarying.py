"""Repeat resection as a time-dependent covariate: counting-process Cox.

A second metastasectomy can only happen to a patient who lived long enough to recur and be
re-operated. Classifying patients at baseline by "had a repeat resection" credits the
repeat group with that event-free time (immortal-time bias, Suissa 2008) and makes repeat
resection look protective even when it does nothing. The correct model splits each
patient's follow-up at the repeat resection into ``(start, stop]`` rows: the patient counts
as unexposed until the operation and exposed afterwards.

:func:`counting_process_cox` matches R
``coxph(Surv(start, stop, event) ~ repeat_resection + covariates, ties = "efron")``.
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
from scipy import stats as sps

from metsurv.schema import REFERENCE_LEVELS
from metsurv.stats._result import Result
from metsurv.stats._times import aeq_times, as_frame

#: Columns of the counting-process table (Cohort.counting_process).
CP_COLUMNS = ("patient_id", "start", "stop", "event")
#: Time-dependent exposures the counting-process table carries.
TIME_DEPENDENT = ("repeat_resection", "resection_number")

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


def design_matrix(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Numeric design: yes/no columns as 0/1 (named ``col``; as ``col[False]`` when the
    schema reference level is True, e.g. ``complete_resection[False]`` = incomplete),
    coded factors as indicators ``col[level]`` against the schema reference level (else
    the first level), numbers as they are."""
    parts = []
    for col in columns:
        s = df[col]
        if s.dtype == bool or str(s.dtype) == "boolean":
            x = s.astype(float)
            if REFERENCE_LEVELS.get(col) is True:
                parts.append((1.0 - x).rename(f"{col}[False]"))
            else:
                parts.append(x.rename(col))
        elif isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            cat = s.astype("category")
            present = [c for c in cat.cat.categories if (cat == c).any()]
            ref = REFERENCE_LEVELS.get(col)
            ref = ref if ref in present else present[0]
            for level in present:
                if level != ref:
                    parts.append((cat == level).astype(float).where(cat.notna()).rename(
                        f"{col}[{level}]"))
        else:
            parts.append(pd.to_numeric(s).astype(float).rename(col))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=df.index)


@dataclasses.dataclass(frozen=True, eq=False)
class TimeVaryingCoxResult(Result):
    """Counting-process Cox fit: one row per term (coef, se, HR with CI, z, p)."""

    table: pd.DataFrame
    covariance: np.ndarray
    loglik: float
    n_patients: int
    n_rows: int
    n_events: int
    n_dropped: int
    ties: str
    engine: str
    conf_level: float

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def hazard_ratio(self, term: str) -> tuple[float, float, float]:
        """(HR, lower, upper) of one term."""
        r = self.table.set_index("term").loc[term]
        return float(r["hr"]), float(r["lower"]), float(r["upper"])


def _coef_table(names, coef, cov, conf_level) -> pd.DataFrame:
    se = np.sqrt(np.diag(cov))
    z = sps.norm.ppf(0.5 + conf_level / 2)
    return pd.DataFrame({
        "term": list(names), "coef": coef, "se": se, "hr": np.exp(coef),
        "lower": np.exp(coef - z * se), "upper": np.exp(coef + z * se), "z": coef / se,
        "p": 2 * sps.norm.sf(np.abs(coef / se)),
    })


def counting_process_cox(
    data: Any,
    time_dependent: Sequence[str] = ("repeat_resection",),
    baseline: Sequence[str] = (),
    counting_process: pd.DataFrame | None = None,
    ties: str = "efron",
    conf_level: float = 0.95,
) -> TimeVaryingCoxResult:
    """Cox model on ``(start, stop]`` rows with time-dependent exposure(s).

    ``time_dependent`` are columns of the counting-process table (``repeat_resection``:
    a second metastasectomy at or before ``start``; ``resection_number``); ``baseline`` are
    patient-level columns merged by ``patient_id`` (factors coded against the schema
    reference level). Matches R
    ``coxph(Surv(start, stop, event) ~ time_dependent + baseline, ties = "efron")``:
    coefficients 1e-6 relative, standard errors 1e-8 absolute (tests/stats_extra).

    Engine: lifelines ``CoxTimeVaryingFitter`` (Efron ties, model-based variance only);
    ``ties="breslow"`` and robust variances are not available for ``(start, stop]`` data
    until the core ``cox`` accepts start/stop.

    >>> cp = pd.DataFrame({"patient_id": [1, 1, 2, 3, 3, 4, 5, 6],
    ...                    "start": [0, 5, 0, 0, 2, 0, 0, 0],
    ...                    "stop": [5, 9, 7, 2, 11, 4, 8, 10],
    ...                    "event": [0, 1, 1, 0, 0, 1, 1, 0],
    ...                    "repeat_resection": [False, True, False, False, True, False,
    ...                                         False, False]})
    >>> fit = counting_process_cox(pd.DataFrame({"patient_id": range(1, 7)}),
    ...                            counting_process=cp)
    >>> fit.table["term"].tolist()
    ['repeat_resection']
    """
    if ties != "efron":
        raise NotImplementedError(
            "only Efron ties for (start, stop] data (lifelines CoxTimeVaryingFitter)")
    from lifelines import CoxTimeVaryingFitter

    cp = counting_process_table(data, counting_process)
    rows = cp[list(CP_COLUMNS) + [c for c in time_dependent if c not in CP_COLUMNS]].copy()
    if baseline:
        patients = as_frame(data)
        rows = rows.merge(patients[["patient_id", *baseline]], on="patient_id", how="left",
                          validate="many_to_one")
    x = design_matrix(rows, [*time_dependent, *baseline])
    frame = pd.concat([rows[list(CP_COLUMNS)], x], axis=1)
    keep = frame.notna().all(axis=1)
    frame = frame.loc[keep].reset_index(drop=True)
    # R aeqSurv merges near ties over start and stop times together
    both = aeq_times(np.concatenate([frame["start"].to_numpy(dtype=float),
                                     frame["stop"].to_numpy(dtype=float)]))
    start, stop = both[: len(frame)], both[len(frame):]
    frame = frame.assign(start=start, stop=stop, event=frame["event"].astype(int))
    frame["patient_id"] = pd.factorize(frame["patient_id"])[0]
    names = list(x.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' convergence chatter; checked below
        fit = CoxTimeVaryingFitter().fit(
            frame, id_col="patient_id", start_col="start", stop_col="stop", event_col="event")
    pos = [list(fit.params_.index).index(n) for n in names]
    coef = fit.params_.to_numpy()[pos]
    cov = np.asarray(fit.variance_matrix_)[np.ix_(pos, pos)]
    return TimeVaryingCoxResult(
        table=_coef_table(names, coef, cov, conf_level),
        covariance=cov,
        loglik=float(fit.log_likelihood_),
        n_patients=int(frame["patient_id"].nunique()),
        n_rows=len(frame),
        n_events=int(frame["event"].sum()),
        n_dropped=int((~keep).sum()),
        ties=ties,
        engine="lifelines.CoxTimeVaryingFitter",
        conf_level=conf_level,
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
    from metsurv.stats.cox import cox
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
    )
