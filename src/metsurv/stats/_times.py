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
    return aeq_codes(times, tolerance)[0]


def aeq_codes(
    times: np.ndarray, tolerance: float = AEQ_TOLERANCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`aeq_times` plus what every estimator needs next, from the same single sort:
    (merged times, code of each time in the distinct merged times, distinct merged times).
    Times must be finite."""
    x = np.asarray(times, dtype=float)
    y, inv = np.unique(x, return_inverse=True)
    inv = inv.ravel()
    if tolerance > 0 and y.size > 1:
        dy = np.diff(y)
        tied = (dy <= tolerance) | (dy / np.mean(np.abs(y)) <= tolerance)
        if tied.any():
            # every unique value maps to the first value of its run of ties (R's cuts)
            first = np.concatenate(([True], ~tied))
            run = np.cumsum(first) - 1
            y = y[first]
            inv = run[inv]
            x = y[inv]
    return x, inv.astype(np.int64), y


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

    frame: pd.DataFrame  # the kept rows of the extra columns (not time and event)
    time: np.ndarray  # float, near ties merged (the stop time of (start, stop] data)
    event: np.ndarray  # int 0/1
    n_dropped: int  # rows removed for a missing value in any requested column
    time_code: np.ndarray  # index of each time in unique_times
    unique_times: np.ndarray  # sorted distinct (merged) times
    start: np.ndarray | None = None  # start of each (start, stop] interval, merged with time


def survival_data(
    data: Any,
    time: str,
    event: str,
    columns: list[str] | tuple[str, ...] = (),
    start: str | None = None,
) -> SurvivalData:
    """Select ``time``, ``event`` and ``columns``, drop rows with a missing value in any of
    them (counted in ``n_dropped``), validate, and merge near-tied times.

    With ``start`` the data are ``(start, time]`` intervals (counting process); start and
    stop times are merged together, as R ``aeqSurv`` does for ``Surv(start, stop, event)``,
    and every interval must have ``start < time`` after merging."""
    df = as_frame(data)
    extra = [c for c in dict.fromkeys(columns)
             if c is not None and c not in (time, event, start)]
    wanted = [time, event, *([start] if start is not None else []), *extra]
    absent = [c for c in wanted if c not in df.columns]
    if absent:
        raise KeyError(f"column(s) not found: {', '.join(absent)}")
    keep = np.ones(len(df), dtype=bool)
    for c in wanted:
        keep &= df[c].notna().to_numpy()
    everything = bool(keep.all())
    ts, ev = df[time], df[event]
    if not everything:
        ts, ev = ts[keep], ev[keep]
    t = pd.to_numeric(ts, errors="raise").to_numpy(dtype=float)
    if not np.isfinite(t).all():
        raise ValueError(f"{time!r} has infinite values")
    e = ev.to_numpy().astype(np.int64) if ev.dtype == bool else pd.to_numeric(ev).to_numpy()
    if not ((e == 0) | (e == 1)).all():
        raise ValueError(f"{event!r} must be coded 0 (censored) / 1 (event) or bool")
    frame = df[extra] if everything else df.loc[keep, extra]
    t0 = None
    if start is not None:
        t0 = pd.to_numeric(df[start][keep] if not everything else df[start],
                           errors="raise").to_numpy(dtype=float)
        if not np.isfinite(t0).all():
            raise ValueError(f"{start!r} has infinite values")
        if not (t0 < t).all():
            raise ValueError(f"every interval needs {start!r} < {time!r} (R: stop time must "
                             f"be > start time); {int((t0 >= t).sum())} row(s) are not")
        both = aeq_times(np.concatenate([t0, t]))
        t0, t = both[: t.size], both[t.size :]
        if not (t0 < t).all():  # R aeqSurv: "an interval has effective length 0"
            raise ValueError("merging near-tied times left an interval of length 0")
    # (start, stop] times are already merged, jointly: do not merge the stops again
    merged, code, unique = aeq_codes(t, AEQ_TOLERANCE if t0 is None else 0.0)
    return SurvivalData(
        frame=frame,
        time=merged,
        event=e.astype(np.int64),
        n_dropped=int((~keep).sum()),
        time_code=code,
        unique_times=unique,
        start=t0,
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
