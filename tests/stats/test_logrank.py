"""Log-rank family parity with R survival::survdiff (fixtures: make_reference.R)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from metsurv.errors import DataError
from metsurv.stats import logrank
from tests.stats.helpers import (
    assert_close_rel,
    assert_logrank_matches,
    cases,
    dataset,
    reference,
)

SD_CASES = cases("survdiff")


def _ids(c):
    name, i = c
    ref = reference(name)["survdiff"][i]
    return f"{name}-{ref['by']}-rho{ref['rho']}-strata_{ref['strata']}-{i}"


def _fit(name, i):
    ref = reference(name)["survdiff"][i]
    res = logrank(dataset(name), by=ref["by"], strata=ref["strata"], rho=ref["rho"],
                  trend=ref["trend_scores"], time="time", event="event")
    return ref, res


@pytest.mark.parametrize("case", SD_CASES, ids=_ids)
def test_logrank_matches_R_survdiff(case):
    """R: survdiff(Surv(time, event) ~ by [+ strata(s)], data, rho = 0 or 1).
    chisq and p: 1e-6 relative; observed, expected, var: 1e-8 absolute; df exact."""
    ref, res = _fit(*case)
    assert_logrank_matches(res, ref)


@pytest.mark.parametrize("case", SD_CASES, ids=_ids)
def test_logrank_trend_matches_R_survdiff_scores(case):
    """R (make_reference.R): sum(s * (O - E))^2 / (t(s) %*% sd$var %*% s) from survdiff's
    stratum-summed O, E, V, scores 1..k or given; chisq and p 1e-6 relative."""
    ref, res = _fit(*case)
    assert_close_rel(res.trend_statistic, ref["trend_chisq"], what="trend chisq")
    assert_close_rel(res.trend_p, ref["trend_p"], what="trend p")


def test_logrank_result_is_json_safe_and_tabular():
    res = logrank(dataset("noevent"), by="grp", time="time", event="event", trend=True)
    d = res.to_dict()
    json.dumps(d)
    assert d["trend"]["df"] == 1
    assert list(res.to_frame()["group"]) == ["flat", "mixed", "none", "single"]
    assert "chisq" in res._repr_html_()


def test_logrank_single_group_is_a_data_error():
    """Regression (issue 9): one group gave chisq 0 on 0 df; R survdiff stops with "There is
    only 1 group", metsurv raises a DataError naming the column and the group."""
    df = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 0, 1, 1], "g": ["a", "a", "a", None]})
    with pytest.raises(DataError, match="needs at least two groups; 'g' has one: 'a'"):
        logrank(df, by="g", time="t", event="e")
    with pytest.raises(DataError, match="'g' has none"):
        logrank(df.assign(g=None), by="g", time="t", event="e")


def test_logrank_trend_needs_one_score_per_group():
    with pytest.raises(ValueError, match="scores"):
        logrank(dataset("ties"), by="grp", trend=[1, 2], time="time", event="event")
