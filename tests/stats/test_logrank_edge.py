"""Log-rank edge cases against R survdiff (fixtures: tests/reference/make_km_edge.R ->
km_edge.json): groups without expected events, no events at all, strata."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import StatsWarning
from metsurv.stats import logrank
from tests.stats.helpers import ABS_EST, REL_STAT, dataset, reference
from tests.stats.test_km_edge import r_values

CASES = {c["name"]: c for c in reference("km_edge")["logrank"]}
DATA = {
    "zero_expected_three": ("km_edge_zero_expected", None, None),
    "zero_expected_three_strata": ("km_edge_zero_expected", None, "s"),
    "zero_expected_two": ("km_edge_zero_expected", "g != 'b'", None),
    "no_events": (None, None, None),
    "sim": ("km_edge_sim", None, None),
    "sim_strata": ("km_edge_sim", None, "stratum"),
}


def _data(name):
    source, subset, _ = DATA[name]
    if source is None:  # as the R script builds it
        return pd.DataFrame({"time": np.arange(1.0, 7.0), "status": 0, "g": ["a", "b"] * 3})
    df = dataset(source)
    return df.query(subset) if subset else df


@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
@pytest.mark.parametrize("name", CASES)
def test_logrank_edge_matches_R_survdiff(name):
    """R: survdiff(Surv(time, status) ~ g [+ strata(s)], data) (call in the fixture):
    observed, expected, var 1e-8 absolute; chisq 1e-6 relative (0 exactly where R has 0);
    df = groups with E > 0 minus 1, exact (-1 without events); p 1e-6 relative, 1 on 0 df
    and NaN (R NA) on -1 df."""
    ref = CASES[name]
    res = logrank(_data(name), by="g", strata=DATA[name][2], time="time", event="status")
    assert [str(g) for g in res.groups] == list(np.ravel(ref["groups"]))
    np.testing.assert_allclose(res.observed, r_values(ref["observed"]), atol=ABS_EST)
    np.testing.assert_allclose(res.expected, r_values(ref["expected"]), atol=ABS_EST)
    np.testing.assert_allclose(res.var.ravel(), r_values(ref["var"]), atol=ABS_EST)
    np.testing.assert_allclose(res.statistic, ref["chisq"], rtol=REL_STAT, atol=0)
    assert res.df == ref["df"]
    np.testing.assert_allclose(res.p, r_values(ref["p"])[0], rtol=REL_STAT, equal_nan=True)


def test_group_without_expected_events_warns_and_gives_p_1():
    """R: survdiff with groups a and c, c censored before the first event: chisq 0 on 0 df,
    p = 1; metsurv the same, with a warning naming group 'c' kept on the result."""
    with pytest.warns(StatsWarning, match="'c'"):
        res = logrank(_data("zero_expected_two"), by="g", time="time", event="status")
    assert (res.statistic, res.df, res.p) == (0.0, 0, 1.0)
    d = res.to_dict()
    assert d["p"] == 1.0 and "no expected events" in d["warnings"][0]
    json.dumps(d, allow_nan=False)


def test_no_events_is_not_a_confident_p():
    with pytest.warns(StatsWarning, match="no events"):
        res = logrank(_data("no_events"), by="g", time="time", event="status")
    assert np.isnan(res.p) and res.to_dict()["p"] is None


def test_logrank_formula_with_strata_is_the_column_call():
    df = dataset("km_edge_sim")
    a = logrank(df, "Surv(time, status) ~ g + strata(stratum)")
    b = logrank(df, by="g", strata="stratum", time="time", event="status")
    assert (a.statistic, a.df, a.p) == (b.statistic, b.df, b.p)
    # Surv(start, stop, event): left-truncated risk sets (survdiff refuses them; see
    # test_logrank_entry.py for the oracles)
    c = logrank(df, "Surv(entry, time, status) ~ g")
    d = logrank(df, by="g", time="time", event="status", start="entry")
    assert (c.statistic, c.df, c.p, c.start) == (d.statistic, d.df, d.p, "entry")
    assert c.statistic != logrank(df, by="g", time="time", event="status").statistic
