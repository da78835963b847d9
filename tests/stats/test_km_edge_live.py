"""Rerun tests/reference/make_km_edge.R with the installed R and check that the committed
fixtures are what R produces today, and that metsurv matches the fresh ones (skipped when
Rscript, or one of its packages, is not available)."""

from __future__ import annotations

import numpy as np
import pytest

from metsurv.stats import km
from tests.stats.helpers import (
    ABS_EST,
    assert_r_reproduces,
    dataset,
    needs_r,
    reference,
    rerun_r,
)
from tests.stats.test_km_edge import r_values

pytestmark = needs_r


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    return rerun_r(tmp_path_factory, "make_km_edge.R")


def test_committed_km_edge_fixtures_are_reproduced_by_R(fresh):
    """Inputs identical; every number within 1e-6 relative or 1e-8 absolute."""
    assert_r_reproduces("km_edge", fresh, "km_edge*.csv")


def test_python_matches_fresh_R_delayed_entry_with_fractional_weights(fresh):
    """R: survfit(Surv(entry, time, status) ~ g, weights = w_frac, conf.type = 'log'):
    surv and std.err (infinitesimal jackknife), 1e-8 absolute."""
    case = next(c for c in reference("km_edge", fresh)["km"]
                if c["name"] == "sim_start_fractional_by")
    tab = km(dataset("km_edge_sim", fresh), by="g", time="time", event="status",
             start="entry", weights="w_frac", conf_type="log").to_frame()
    np.testing.assert_allclose(tab["estimate"], r_values(case["table"]["estimate"]),
                               atol=ABS_EST, rtol=0)
    np.testing.assert_allclose(tab["std_err"], r_values(case["table"]["std_err"]),
                               atol=ABS_EST, rtol=0)
