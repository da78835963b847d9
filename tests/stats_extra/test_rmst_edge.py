"""RMST with delayed entry, case weights and an infinite censoring time, against R survival
(fixtures: tests/reference/make_km_edge.R -> km_edge.json)."""

from __future__ import annotations

import numpy as np
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.stats.rmst import rmst
from tests.stats.helpers import ABS_EST, dataset, reference
from tests.stats.test_km_edge import edge_data, r_arg, r_values

CASES = {c["name"]: c for c in reference("km_edge")["km"] if "rmean" in c}


@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
@pytest.mark.parametrize("name", CASES)
def test_rmst_matches_R_rmean_with_entry_and_weights(name):
    """R: summary(survfit(Surv([start,] time, status) ~ by, data, weights = w),
    rmean = tau)$table[, c("rmean", "se(rmean)")] (call in the fixture): 1e-8 absolute."""
    case = CASES[name]
    res = rmst(edge_data(case), case["rmean"]["tau"], by=r_arg(case["by"]), time="time",
               event="status", start=r_arg(case["start"]), weights=r_arg(case["weights"]),
               beyond_follow_up="extend")
    np.testing.assert_allclose(res.table["rmst"], r_values(case["rmean"]["rmean"]),
                               atol=ABS_EST, rtol=0)
    np.testing.assert_allclose(res.table["se"], r_values(case["rmean"]["se"]),
                               atol=ABS_EST, rtol=0)
    assert res.start == r_arg(case["start"]) and res.weights == r_arg(case["weights"])


def test_rmst_warning_travels_with_the_result():
    """Case 09 (delayed entry): the curve ends at 12 above 0; tau = 20 extends it."""
    df = dataset("km_edge_delayed")
    with pytest.warns(StatsWarning, match="after the last follow-up"):
        res = rmst(df, 20, time="exit", event="status", start="entry")
    assert res.extended == ("all",) and "last follow-up 12" in res.warnings[0]
    assert res.to_dict()["warnings"] == list(res.warnings)


@pytest.mark.parametrize("bad", [-2.0, np.nan])
def test_rmst_refuses_bad_weights(bad):
    df = dataset("km_edge_weights")
    df.loc[0, "w_frac"] = bad
    with pytest.raises(DataError, match="weight"):
        rmst(df, 5, time="time", event="status", weights="w_frac")
