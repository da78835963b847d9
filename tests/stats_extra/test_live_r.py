"""Re-run tests/reference/make_reference_extra.R with the installed R and check that the
stored fixtures are what R produces today and that Python still matches them. Skipped when
Rscript (or cmprsk) is not available."""

from __future__ import annotations

import numpy as np
import pytest

from metsurv.stats.competing import cuminc
from metsurv.stats.rmst import rmst
from metsurv.stats.timevarying import counting_process_cox
from tests.stats.helpers import (
    ABS_EST,
    REL_STAT,
    assert_close_abs,
    assert_r_reproduces,
    dataset,
    needs_r,
    reference,
    rerun_r,
)

from .test_competing import assert_cuminc_matches

pytestmark = needs_r


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    return rerun_r(tmp_path_factory, "make_reference_extra.R")


@pytest.mark.parametrize("name", ["extra_cr", "extra_rmst", "extra_km", "extra_tv",
                                  "extra_schema"])
def test_stored_fixtures_are_reproduced_by_R(fresh, name):
    """Inputs identical; every stored number within 1e-8 absolute or 1e-6 relative."""
    assert_r_reproduces(name, fresh, f"{name}*.csv")


def test_python_matches_fresh_R(fresh):
    """cuminc (cmprsk), rmean (survival) and counting-process coxph against today's R."""
    cr = reference("extra_cr", fresh)["three_groups_strata"]["fit"]
    res = cuminc(dataset("extra_cr", fresh), "time", "status", by="grp", strata="stratum")
    assert_cuminc_matches(res, cr)
    rm = reference("extra_rmst", fresh)["by_sex"][3]
    tab = rmst(dataset("extra_rmst", fresh), rm["tau"], by="sex", time="time", event="event").table
    assert_close_abs(tab["rmst"], rm["rmean"], ABS_EST)
    assert_close_abs(tab["se"], rm["se"], ABS_EST)
    tv = reference("extra_tv", fresh)["efron"]
    from types import SimpleNamespace

    cohort = SimpleNamespace(patients=dataset("extra_tv_patients", fresh),
                             counting_process=dataset("extra_tv_cp", fresh))
    fit = counting_process_cox(cohort, baseline=("x",))
    np.testing.assert_allclose(fit.table["coef"], tv["coef"], rtol=REL_STAT)
