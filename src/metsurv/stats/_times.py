"""Input preparation shared by km, tests and cox: pick the columns, drop incomplete rows
(and count them), check the event coding, and merge near-tied times as R does.

R survival merges times that differ only by floating-point noise before counting anything
(``aeqSurv``, called by ``survfit``, ``survdiff`` and ``coxph`` through ``timefix = TRUE``).
Without it, months computed as ``days / 30.4375`` along two arithmetic paths can produce
two "distinct" times a few ulps apart, which splits a risk set and changes every estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: R's default: ``sqrt(.Machine$double.eps)``, the same tolerance as ``all.equal``.
AEQ_TOLERANCE: float = float(np.sqrt(np.finfo(float).eps))


def aeq_times(times: np.ndarray, tolerance: float = AEQ_TOLERANCE) -> np.ndarray:
    """Merge near-tied times as R survival's ``aeqSurv`` does.

    Sorted unique finite times ``y`` are compared with their predecessor; a gap ``dy`` is a
    tie when ``dy <= tolerance`` or ``dy / mean(|y|) <= tolerance``. Each run of tied values
    is replaced by its smallest member (R: ``findInterval`` on the retained cut points).

    >>> aeq_times(np.array([1.0, 1.0 + 1e-12, 2.0])).tolist()
    [1.0, 1.0, 2.0]
    """
    x = np.asarray(times, dtype=float)
    if tolerance <= 0:
        return x
    y = np.unique(x[np.isfinite(x)])
    if y.size < 2:
        return x
    dy = np.diff(y)
    tied = (dy <= tolerance) | (dy / np.mean(np.abs(y)) <= tolerance)
    if not tied.any():
        return x
    cuts = y[np.concatenate(([True], ~tied))]
    out = x.copy()
    finite = np.isfinite(x)
    out[finite] = cuts[np.searchsorted(cuts, x[finite], side="right") - 1]
    return out


def as_frame(data: Any) -> pd.DataFrame:
    """The patients table of ``data``: a DataFrame, or any object with a ``.patients`` one."""
    if isinstance(data, pd.DataFrame):
        return data
    patients = getattr(data, "patients", None)
    if isinstance(patients, pd.DataFrame):
        return patients
    raise TypeError(
        f"expected a pandas DataFrame or an object with a .patients DataFrame, "
        f"got {type(data).__name__}"
    )


@dataclass(frozen=True, eq=False)
class SurvivalData:
    """Complete cases of the requested columns, with times merged (``aeqSurv``)."""

    frame: pd.DataFrame  # the kept rows, the requested columns only
    time: np.ndarray  # float, near ties merged
    event: np.ndarray  # int 0/1
    n_dropped: int  # rows removed for a missing value in any requested column


def survival_data(
    data: Any, time: str, event: str, columns: list[str] | tuple[str, ...] = ()
) -> SurvivalData:
    """Select ``time``, ``event`` and ``columns``, drop rows with a missing value in any of
    them (counted in ``n_dropped``), validate, and merge near-tied times."""
    df = as_frame(data)
    wanted = list(dict.fromkeys([time, event, *[c for c in columns if c is not None]]))
    absent = [c for c in wanted if c not in df.columns]
    if absent:
        raise KeyError(f"column(s) not found: {', '.join(absent)}")
    sub = df[wanted]
    keep = sub.notna().all(axis=1).to_numpy()
    sub = sub.loc[keep]
    t = pd.to_numeric(sub[time], errors="raise").to_numpy(dtype=float)
    if not np.isfinite(t).all():
        raise ValueError(f"{time!r} has infinite values")
    ev = sub[event]
    e = ev.astype(int).to_numpy() if ev.dtype == bool else pd.to_numeric(ev).to_numpy()
    if not np.isin(e, (0, 1)).all():
        raise ValueError(f"{event!r} must be coded 0 (censored) / 1 (event) or bool")
    return SurvivalData(
        frame=sub, time=aeq_times(t), event=e.astype(np.int64), n_dropped=int((~keep).sum())
    )


def group_levels(values: pd.Series) -> list:
    """Levels of a grouping column in R's order: the categories of a pandas Categorical
    (only those present), otherwise the sorted distinct values."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    return sorted(values.dropna().unique().tolist())


def group_codes(values: pd.Series, levels: list) -> np.ndarray:
    """Integer code of each value in ``levels`` (0-based)."""
    return pd.Categorical(values, categories=levels).codes.astype(np.int64)


def level_label(level: Any) -> Any:
    """Display label of a level: whole floats (an integer column with missing values,
    read as float) show as integers, numpy scalars as Python values."""
    if isinstance(level, (float, np.floating)) and float(level).is_integer():
        return int(level)
    if isinstance(level, np.generic):
        return level.item()
    return level
