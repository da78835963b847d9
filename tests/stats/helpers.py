"""Shared fixtures loading and assertion helpers for the R-parity tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
DATASETS = ("lung", "veteran", "ties", "neartie", "noevent")

#: tolerances from the issue: estimates / SEs / limits absolute; coefficients, statistics
#: and p-values relative
ABS_EST = 1e-8
REL_STAT = 1e-6


@cache
def reference(name: str) -> dict:
    return json.loads((REFERENCE / f"{name}.json").read_text())


#: factor levels R used (make_reference.R), given to pandas as Categorical order
R_LEVELS = {"veteran": {"celltype": ["squamous", "smallcell", "adeno", "large"]}}


@cache
def _read(name: str) -> pd.DataFrame:
    # round_trip: pandas' default parser can be 1 ulp off, which would undo the near ties
    df = pd.read_csv(REFERENCE / "data" / f"{name}.csv", float_precision="round_trip")
    for col, levels in R_LEVELS.get(name, {}).items():
        df[col] = pd.Categorical(df[col], categories=levels)
    return df


def dataset(name: str) -> pd.DataFrame:
    """The input CSV written by make_reference.R (a fresh copy each call)."""
    return _read(name).copy()


def as_float(values) -> np.ndarray:
    """JSON list (with None for R's NA) to a float array with NaN."""
    return np.array([np.nan if v is None else v for v in np.ravel(values)], dtype=float)


def max_abs_dev(actual, expected) -> float:
    a, e = np.asarray(actual, dtype=float), as_float(expected)
    both = ~np.isnan(a) & ~np.isnan(e)
    return float(np.max(np.abs(a[both] - e[both]), initial=0.0))


def assert_close_abs(actual, expected, tol: float = ABS_EST, what: str = "") -> None:
    """Equal within ``tol`` absolute, and missing (NaN/None) in the same places."""
    a, e = np.asarray(actual, dtype=float).ravel(), as_float(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NaN pattern")
    np.testing.assert_allclose(a, e, rtol=0, atol=tol, equal_nan=True, err_msg=what)


def assert_close_rel(actual, expected, tol: float = REL_STAT, what: str = "") -> None:
    """Equal within ``tol`` relative (absolute ``tol * 1e-3`` floor for values near 0)."""
    a, e = np.asarray(actual, dtype=float).ravel(), as_float(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NaN pattern")
    np.testing.assert_allclose(a, e, rtol=tol, atol=tol * 1e-3, equal_nan=True, err_msg=what)


def cases(section: str) -> list[tuple[str, int]]:
    """(dataset, index) of every reference entry in ``section`` (km, survdiff, cox)."""
    return [(d, i) for d in DATASETS for i in range(len(reference(d).get(section, [])))]


def case_id(case: tuple[str, int]) -> str:
    name, i = case
    entry = reference(name)
    sec = next(s for s in ("km", "survdiff", "cox") if i < len(entry.get(s, [])))
    return f"{name}-{i}-{sec}"
