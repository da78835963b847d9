"""Shared draws for the synthetic-data tests (drawn once per session: they are the slow part)."""

from __future__ import annotations

import pandas as pd
import pytest

from metsurv.synthetic import generate
from metsurv.synthetic.calibration import analysis_frame


@pytest.fixture(scope="session")
def irlm():
    """The irlm1997 preset at its published size, seed 0."""
    return generate("irlm1997", seed=0)


@pytest.fixture(scope="session")
def sarcoma():
    return generate("sarcoma", n=3000, seed=0)


@pytest.fixture(scope="session")
def irlm_frame(irlm) -> pd.DataFrame:
    return analysis_frame(irlm)
