"""Shared access to the R fixtures written by tests/reference/make_reference_extra.R."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
#: Estimates and standard errors / variances: absolute tolerance.
ATOL_EST = 1e-8
#: Coefficients, statistics and p-values: relative tolerance.
RTOL_STAT = 1e-6


def fixture(name: str, root: Path = REFERENCE) -> dict:
    return json.loads((root / f"{name}.json").read_text())


def data(name: str, root: Path = REFERENCE) -> pd.DataFrame:
    return pd.read_csv(root / "data" / f"{name}.csv")
