"""Delayed entry (left truncation) from a registry export that records the entry date.

The loader derives ``entry_months`` from ``registry_entry_date``, excludes rows with no
follow-up after entry, sets DFS that ended at or before entry to missing, and
``metsurv.stats.km(cohort)`` then analyses the cohort left-truncated by default. Oracle: R
survival 3.5 ``survfit(Surv(entry, os, status) ~ 1, conf.type = "log-log")`` on the same
export, with R deriving the times itself (``tests/reference/make_entry_reference.R``,
fixture ``entry.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv import load_cohort
from metsurv.stats import km

REF = Path(__file__).resolve().parents[1] / "reference"
MAPPING = {"version": 1, "columns": {
    "PatNr": "patient_id", "OP_Datum": "metastasectomy_date",
    "Aufnahmedatum": "registry_entry_date", "Letzter_Kontakt": "last_followup_date",
    "Status": "vital_status", "Rezidiv_Datum": "recurrence_date",
    "Resektion": "resection_status"}}
#: Dates give times as days / 30.4375 in both programs; only rounding can differ.
TOL = 1e-10


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "entry.json").read_text())


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(REF / "data" / "entry_registry.csv", mapping=MAPPING)


def _assert_fit(table: pd.DataFrame, r: dict, rows: np.ndarray | slice = slice(None)) -> None:
    for col, key in (("time", "time"), ("n_risk", "n_risk"), ("n_event", "n_event"),
                     ("estimate", "surv"), ("std_err", "std_err"), ("lower", "lower"),
                     ("upper", "upper")):
        want = np.array([np.nan if v is None else v for v in np.asarray(r[key], dtype=object)[
            rows]], dtype=float)
        np.testing.assert_allclose(table[col].to_numpy(float), want, rtol=TOL, atol=TOL,
                                   err_msg=col)


def test_entry_months_and_exclusions_as_R_derives_them(cohort, ref):
    """entry_months = max(0, days(op -> entry) / 30.4375), the R script's derivation, to
    1e-10; rows with entry on or after the last follow-up are excluded under their own
    reason with a finding naming row, column and entry date, never silently."""
    p = cohort.patients.set_index("patient_id")
    want = pd.Series(ref["entry_months"])
    np.testing.assert_allclose(p.loc[want.index, "entry_months"], want.to_numpy(), atol=TOL)
    assert (p.loc["P003", "entry_months"] == 0.0)  # entered on the day of the operation
    assert cohort.n_read == ref["n_read"]
    assert sorted(set(cohort.findings.loc[cohort.findings["severity"] == "error",
                                          "patient_id"])) == ref["excluded_ids"]
    assert cohort.excluded().to_dict("records") == [
        {"reason": "no follow-up after registry entry", "count": len(ref["excluded_ids"])}]
    first = cohort.findings[cohort.findings["patient_id"] == "P001"].iloc[0]
    assert (first["row"], first["column"], first["value"]) == (2, "Aufnahmedatum", "15.08.2012")


def test_dfs_ending_before_entry_is_missing_with_a_finding(cohort, ref):
    """A patient registered after the recurrence was never observed disease-free: DFS (and
    the competing-risks first event) missing, OS kept; one warning per such patient."""
    p = cohort.patients.set_index("patient_id")
    gone = ref["dfs_missing_ids"]
    assert p.loc[gone, "dfs_months"].isna().all() and p.loc[gone, "first_event"].isna().all()
    assert p.loc[gone, "os_months"].notna().all()
    kept = p.drop(index=gone)
    assert (kept["dfs_months"] > kept["entry_months"]).all()
    warned = cohort.findings[cohort.findings["rule"].str.startswith(
        "disease-free survival ended at or before registry entry")]
    assert sorted(warned["patient_id"]) == gone


def test_km_of_cohort_is_left_truncated_as_R_survfit_entry(cohort, ref):
    """km(cohort) == R survfit(Surv(entry, os, status) ~ 1, conf.type = "log-log"):
    time, n.risk, n.event, surv, std.err and CI at every time, tol 1e-10."""
    fit = km(cohort)
    _assert_fit(fit.curves[0].table, ref["os"])


def test_km_of_cohort_by_group_left_truncated_as_R(cohort, ref):
    """km(cohort, by="resection_status") == R survfit(Surv(entry, os, status) ~ Resektion,
    conf.type = "log-log") per stratum, tol 1e-10."""
    fit = km(cohort, by="resection_status")
    strata = np.array(ref["os_by_resection"]["strata"])
    for level in ("R0", "R1"):
        _assert_fit(fit.curve(level).table, ref["os_by_resection"],
                    np.flatnonzero(strata == f"Resektion={level}"))


def test_km_of_dfs_left_truncated_as_R(cohort, ref):
    """km(cohort, time="dfs_months", event="dfs_event") == R survfit(Surv(entry, dfs,
    dfs_event) ~ 1) on the patients whose DFS ended after entry, tol 1e-10."""
    fit = km(cohort, time="dfs_months", event="dfs_event")
    _assert_fit(fit.curves[0].table, ref["dfs"])
    assert fit.n_dropped == len(ref["dfs_missing_ids"])


def test_start_false_ignores_entry_as_R_without_it(cohort, ref):
    """km(cohort, start=False) == R survfit(Surv(os, status) ~ 1): the naive analysis is
    still there when asked for, and differs from the left-truncated default."""
    naive = km(cohort, start=False).curves[0].table
    _assert_fit(naive, ref["os_ignoring_entry"])
    assert not np.allclose(km(cohort).curves[0].table["estimate"].iloc[-10:],
                           naive["estimate"].iloc[-10:])


def test_analysis_ready_entry_months_without_dates():
    """A table with only os_months/os_event may give entry_months: negative reads as 0 (entry
    before the operation), entry >= os is excluded with its reason."""
    df = pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "os_months": [10.0, 5.0, 8.0, 7.0],
                       "os_event": [1, 0, 1, 1], "entry_months": [2.0, 5.0, -1.0, None]})
    c = load_cohort(df)
    assert c.patients["entry_months"].tolist()[:2] == [2.0, 0.0]
    assert np.isnan(c.patients["entry_months"].iloc[2])
    assert c.excluded().to_dict("records") == [
        {"reason": "no follow-up after registry entry", "count": 1}]
    unknown = c.findings[c.findings["rule"].str.startswith("entry time unknown")]
    assert unknown["patient_id"].tolist() == ["d"]


def test_no_entry_column_changes_nothing():
    """Without registry entry the cohort has no entry_months and no entry findings."""
    df = pd.DataFrame({"patient_id": ["a", "b"], "os_months": [10.0, 5.0],
                       "os_event": [1, 0]})
    c = load_cohort(df)
    assert "entry_months" not in c.patients and c.findings.empty


def test_counting_process_starts_at_entry():
    """Repeat resection as a time-dependent covariate under delayed entry: follow-up starts
    at entry (R: coxph(Surv(start, stop, event) ~ repeat_resection) on (entry, stop]); a
    resection before entry still counts, intervals ending by entry are dropped; a patient
    with unknown entry is left out (as from every left-truncated analysis)."""
    day = pd.Timestamp("2010-01-01")
    months = [pd.Timedelta(days=round(m * 30.4375)) for m in (5, 10, 20, 30)]
    patients = pd.DataFrame({
        "patient_id": ["a", "b", "c"], "metastasectomy_date": [day] * 3,
        "registry_entry_date": [day + months[1], day - months[0], pd.NaT],
        "last_followup_date": [day + months[3]] * 3, "vital_status": ["dead", "alive", "dead"]})
    resections = pd.DataFrame({
        "patient_id": ["a", "a", "a", "b", "b", "c"],
        "operation_date": [day, day + months[0], day + months[2], day, day + months[2], day]})
    cp = load_cohort(patients, resections=resections).counting_process
    got = cp.assign(start=cp["start"].round(6), stop=cp["stop"].round(6))
    m = [round(d.days / 30.4375, 6) for d in months]
    assert got[["patient_id", "start", "stop", "event", "resection_number"]].values.tolist() == [
        ["a", m[1], m[2], False, 2], ["a", m[2], m[3], True, 3],
        ["b", 0.0, m[2], False, 1], ["b", m[2], m[3], False, 2]]


def test_entry_in_days_and_given_months_that_disagree_with_the_date():
    """``units: {entry_months: days}`` converts a given entry time (61 days = 2.0041
    months); where the date is also given the date wins and a warning names the clash."""
    df = pd.DataFrame({"patient_id": ["a", "b"], "os_months": [10.0, 8.0], "os_event": [1, 0],
                       "entry_days": [61, 30]})
    c = load_cohort(df, mapping={"version": 1, "columns": {"entry_days": "entry_months"},
                                 "units": {"entry_months": "days"}})
    np.testing.assert_allclose(c.patients["entry_months"], [61 / 30.4375, 30 / 30.4375])
    dated = pd.DataFrame({
        "patient_id": ["a", "b"], "metastasectomy_date": ["2010-01-01"] * 2,
        "last_followup_date": ["2012-01-01"] * 2, "vital_status": ["dead", "alive"],
        "registry_entry_date": ["2010-03-03", "2010-03-03"], "entry_months": [2.0, 9.0]})
    c = load_cohort(dated)
    np.testing.assert_allclose(c.patients["entry_months"], [61 / 30.4375] * 2)
    clash = c.findings[c.findings["rule"].str.startswith("entry_months disagrees")]
    assert clash[["patient_id", "value"]].values.tolist() == [["b", 9.0]]
