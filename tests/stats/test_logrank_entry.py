"""Log-rank family with delayed entry (left truncation), which R survdiff refuses ("Right
censored data only"). Fixtures: tests/reference/make_logrank_entry.R -> logrank_entry.json.

Oracles, named in each test:
(a) the R script's own implementation from the definition: risk set ``start < t <= stop`` at
    each event time, O, E and the hypergeometric V, chisq = (O-E)' V^- (O-E) with an eigen
    generalised inverse (df = rank of V), S(t-) of the left-truncated pooled KM (checked
    in R against ``survfit(Surv(start, stop, event) ~ 1)``);
(b) for rho = 0, R ``coxph(Surv(start, stop, event) ~ factor(g) [+ strata(s)])$score``: with
    ``ties = "breslow"`` on data without tied event times, with ``ties = "exact"`` on data
    with ties (the exact partial likelihood's information is the hypergeometric variance);
and with every entry at 0, R ``survdiff`` itself."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from metsurv.errors import DataError, StatsWarning
from metsurv.stats import logrank
from tests.stats.helpers import (
    ABS_EST,
    REFERENCE,
    assert_close_abs,
    assert_close_rel,
    assert_logrank_matches,
    assert_r_reproduces,
    dataset,
    needs_r,
    reference,
    run_r_script,
)

CASES = {c["name"]: c for c in reference("logrank_entry")["cases"]}
#: where oracle (b) applies: no tied event times (Breslow) or ties = "exact"
BRESLOW = [n for n in CASES if n.startswith("noties") and "coxph_breslow" in CASES[n]]
EXACT = [n for n in CASES if "coxph_exact" in CASES[n]]
TIED_BRESLOW = [n for n in CASES if n.startswith("ties") and "coxph_breslow" in CASES[n]]
SURVDIFF = [n for n in CASES if "survdiff" in CASES[n]]


def _arg(value):
    """R's NULL (written as {}) to None."""
    return None if value == {} else value


def _data(case: dict, root: Path = REFERENCE) -> pd.DataFrame:
    df = dataset(case["data"], root)
    keep = _arg(case.get("keep"))
    return df[df[case["by"]].isin(keep)] if keep else df


def _fit(case: dict, root: Path = REFERENCE, **kw):
    return logrank(_data(case, root), by=case["by"], strata=_arg(case["strata"]),
                   rho=case["rho"], trend=case.get("trend_scores", False), time="time",
                   event="status", **({"start": case["start"]} | kw))


def _hand_r(res, case: dict) -> None:
    assert_logrank_matches(res, case)
    if "trend_chisq" in case:
        assert_close_rel(res.trend_statistic, case["trend_chisq"], what="trend chisq")
        assert_close_rel(res.trend_p, case["trend_p"], what="trend p")


@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
@pytest.mark.parametrize("name", CASES)
def test_left_truncated_logrank_matches_R_hand_risk_sets(name):
    """Oracle (a), make_logrank_entry.R ``hand(d, by, strata, rho, start)``: 2 and 3 groups,
    strata, rho 0 / 0.5 / 1, trend, tied events and entries, entries after events, a group
    entering after the last event. O, E, V 1e-8 absolute; chisq, p, trend 1e-6 relative;
    df exact."""
    case = CASES[name]
    res = _fit(case)
    assert res.start == case["start"]
    _hand_r(res, case)


@pytest.mark.parametrize("name", BRESLOW)
def test_left_truncated_logrank_is_R_coxph_breslow_score_without_ties(name):
    """Oracle (b): R ``coxph(Surv(entry, time, status) ~ factor(g) [+ strata(stratum)],
    ties = "breslow")$score`` on data without tied event times equals the log-rank
    chisq (the Breslow information at beta = 0 is then the hypergeometric variance);
    1e-6 relative."""
    case = CASES[name]
    assert_close_rel(_fit(case).statistic, case["coxph_breslow"]["score"], what="score")


@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
@pytest.mark.parametrize("name", EXACT)
def test_left_truncated_logrank_is_R_coxph_exact_score_with_ties(name):
    """Oracle (b) with tied event times: R ``coxph(Surv(entry, time, status) ~ factor(g)
    [+ strata(stratum)], ties = "exact")$score``, 1e-6 relative."""
    case = CASES[name]
    assert_close_rel(_fit(case).statistic, case["coxph_exact"]["score"], what="score")


@pytest.mark.parametrize("name", TIED_BRESLOW)
def test_with_tied_events_coxph_breslow_score_is_smaller(name):
    """Why the Breslow oracle needs untied data: with d tied events among n at risk the
    Breslow information lacks the hypergeometric factor (n - d) / (n - 1), so its score
    test (R ``coxph(..., ties = "breslow")$score``) is smaller than the log-rank chisq."""
    case = CASES[name]
    res = _fit(case)
    assert case["coxph_breslow"]["score"] < res.statistic * (1 - 1e-3)


@pytest.mark.parametrize("name", SURVDIFF)
def test_every_entry_at_zero_is_R_survdiff(name):
    """R ``survdiff(Surv(time, status) ~ g [+ strata(stratum)], rho = rho)`` (call in the
    fixture) for ``start`` = a column of zeros: O, E, V 1e-8 absolute, chisq and p 1e-6
    relative; and the same numbers as ``start=False`` to 1e-12."""
    case = CASES[name]
    res = _fit(case)
    sd = case["survdiff"]
    assert_close_abs(res.observed, sd["observed"], ABS_EST, "observed")
    assert_close_abs(res.expected, sd["expected"], ABS_EST, "expected")
    assert_close_abs(res.var, sd["var"], ABS_EST, "var")
    assert_close_rel(res.statistic, sd["chisq"], what="chisq")
    assert_close_rel(res.p, sd["p"], what="p")
    plain = _fit(case, start=False)
    assert plain.start is None and res.start == "zero"
    np.testing.assert_allclose(res.var, plain.var, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.statistic, plain.statistic, rtol=1e-12)


def test_group_entering_after_the_last_event_is_left_out_as_survdiff_does():
    """Group "late" enters after the last event: E = 0, left out with a warning; with the
    other two groups chisq on 1 df (oracle (a), case late_three); with one other group
    chisq 0 on 0 df and p = 1 (case late_two), as R survdiff treats E = 0."""
    with pytest.warns(StatsWarning, match="'late'.*no expected events"):
        res = _fit(CASES["late_three"])
    assert res.df == 1 and res.expected[2] == 0 and res.n[2] == 2
    with pytest.warns(StatsWarning, match="'late'"):
        two = _fit(CASES["late_two"])
    assert (two.statistic, two.df, two.p) == (0.0, 0, 1.0)


def test_entry_time_defaults_to_entry_months_and_is_recorded():
    """``start=None`` takes a table's ``entry_months`` for ``os_months`` (as km and cox);
    ``start=False`` ignores it; the column used is ``start`` on the result and in JSON."""
    case = CASES["sim_three_trend"]
    df = _data(case).rename(columns={"time": "os_months", "status": "os_event",
                                     "entry": "entry_months"})
    res = logrank(df, by="g", trend=True)
    assert res.start == "entry_months"
    assert_close_rel(res.statistic, case["chisq"], what="chisq")
    naive = logrank(df, by="g", start=False)
    assert naive.start is None and not np.isclose(naive.statistic, res.statistic, rtol=1e-3)
    d = res.to_dict()
    assert d["start"] == "entry_months" and naive.to_dict()["start"] is None
    json.dumps(d, allow_nan=False)
    assert "left-truncated" in res._repr_html_()


def test_formula_with_entry_is_the_column_call():
    """``"Surv(entry, time, status) ~ g + strata(stratum)"`` is ``start="entry"``."""
    df = dataset("logrank_entry_sim")
    a = logrank(df, "Surv(entry, time, status) ~ g + strata(stratum)", rho=1)
    b = logrank(df, by="g", strata="stratum", rho=1, time="time", event="status",
                start="entry")
    assert (a.statistic, a.df, a.p, a.start) == (b.statistic, b.df, b.p, "entry")
    _hand_r(a, CASES["sim_three_strata_rho1"])


def test_entry_not_before_exit_is_a_data_error():
    df = dataset("logrank_entry_late")
    df.loc[0, "entry"] = df.loc[0, "time"]
    with pytest.raises(DataError, match="'entry' < 'time'"):
        logrank(df, by="g", time="time", event="status", start="entry")


# ---------------------------------------------------------------------------- the report
MAPPING = {"version": 1, "columns": {
    "PatNr": "patient_id", "OP_Datum": "metastasectomy_date",
    "Aufnahmedatum": "registry_entry_date", "Letzter_Kontakt": "last_followup_date",
    "Status": "vital_status", "Rezidiv_Datum": "recurrence_date",
    "Resektion": "resection_status"}}


def test_report_on_a_registry_with_entry_dates_quotes_the_left_truncated_logrank(tmp_path):
    """A report on a registry with ``registry_entry_date`` (tests/reference/data/
    entry_registry.csv) draws left-truncated KM curves; its log-rank p (IRLM battery,
    survival table) is now the left-truncated ``logrank(cohort)`` p (1e-12 relative), where
    it used to be the untruncated one (0.21 printed instead of 0.20)."""
    from metsurv.io import load_cohort
    from metsurv.report import analyse, compose, load_config, load_study
    from metsurv.report.document import item_named
    from metsurv.stats.irlm import irlm_comparisons

    F = importlib.import_module("metsurv.report.figures")
    source = REFERENCE / "data" / "entry_registry.csv"
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(MAPPING))
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({
        "title": "Delayed entry", "factors": ["complete_resection"],
        "data": {"source": str(source), "mapping": str(tmp_path / "mapping.yaml")},
        "cox": {"covariates": ["complete_resection"]}, "landmark_times": [],
        "formats": ["svg"], "competing_risks": False}))
    cfg = load_config(tmp_path / "study.yaml")
    table = item_named(compose(cfg, analyse(cfg, load_study(cfg))), "survival")

    cohort = load_cohort(source, mapping=MAPPING)
    truncated = logrank(cohort, by="complete_resection")
    naive = logrank(cohort, by="complete_resection", start=False)
    assert truncated.start == "entry_months"
    battery = irlm_comparisons(cohort).factors.set_index("factor")
    np.testing.assert_allclose(battery.loc["complete_resection", "logrank_p"], truncated.p,
                               rtol=1e-12)
    want = F.format_p(truncated.p, label=False)
    assert want != F.format_p(naive.p, label=False)  # the test can tell them apart
    row = table.frame[table.frame["Factor"] == "Completeness of resection"].iloc[0]
    assert row["Log-rank p"] == want  # as printed
    data = table.data[table.data["factor_code"] == "complete_resection"]  # tables/survival.csv
    np.testing.assert_allclose(data["logrank_p"].to_numpy(float), truncated.p, rtol=1e-12)


# ---------------------------------------------------------------------------- live R
@needs_r
@pytest.mark.filterwarnings("ignore::metsurv.errors.StatsWarning")
def test_committed_logrank_entry_fixtures_are_reproduced_by_R(tmp_path):
    """Rerun make_logrank_entry.R (it stops if its hand computation disagrees with
    survdiff, survfit or coxph's score test): inputs identical, numbers within 1e-6
    relative or 1e-8 absolute, and metsurv matches the fresh values (oracle (a))."""
    run_r_script("make_logrank_entry.R", tmp_path)
    assert_r_reproduces("logrank_entry", tmp_path, "logrank_entry_*.csv")
    for case in reference("logrank_entry", tmp_path)["cases"]:
        _hand_r(_fit(case, tmp_path), case)
