"""Regression tests for problems a review found in the loader (each failed before its fix).

Oracles: hand computation on the small tables below, and the rules of docs/mapping.md.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metsurv import CohortError, load_cohort
from metsurv.cli import main


def _t(**cols) -> pd.DataFrame:
    n = max(len(v) for v in cols.values() if isinstance(v, list))
    base = {"patient_id": [str(i) for i in range(n)], "os_months": ["10"] * n,
            "os_event": ["1"] * n}
    return pd.DataFrame({**base, **cols})


def test_missing_codes_keep_their_punctuation():
    """missing ["99", "-1"] must not swallow 9.9 months or the event code "1"."""
    df = _t(os_months=["9.9", "12", "-1", "99"])
    c = load_cohort(df, mapping={"version": 1, "missing": {"all": ["99", "-1"]}})
    assert c.patients["os_months"].tolist() == [9.9, 12.0]
    assert c.patients["os_event"].all()


def test_decimal_comma_keeps_point_decimals_and_reads_thousands():
    # in days: 1234.5 or 1500 months of DFI would be out of its plausible range (issue 10)
    df = _t(dfi_months=["1,5", "65.5", "1.234,5", "1.500"])
    c = load_cohort(df, mapping={"version": 1, "source": {"decimal": ","},
                                 "units": {"dfi_months": "days"}})
    days = c.patients["dfi_months"].to_numpy() * 30.4375
    assert days.tolist() == pytest.approx([1.5, 65.5, 1234.5, 1500.0], rel=1e-12)


def test_time_zone_aware_dates_keep_their_calendar_day():
    op = pd.Series(pd.to_datetime(["2001-03-01 00:00"]).tz_localize("Europe/Berlin"))
    df = pd.DataFrame({"patient_id": ["a"], "metastasectomy_date": op,
                       "last_followup_date": ["2001-04-01"], "vital_status": ["alive"]})
    p = load_cohort(df).patients
    assert p.loc[0, "metastasectomy_date"] == pd.Timestamp("2001-03-01")
    assert p.loc[0, "os_months"] == pytest.approx(31 / 30.4375)


def test_bad_strptime_directive_is_a_mapping_error():
    with pytest.raises(CohortError, match="strptime"):
        load_cohort(_t(os_months=["1"]), mapping={"version": 1, "dates": {"all": "%Q.%m.%Y"}})


def test_lms_flag_alone_means_sarcoma():
    p = load_cohort(_t(leiomyosarcoma=["yes", "no", "LMS"])).patients
    assert p["histology_group"].tolist() == ["sarcoma", np.nan, "sarcoma"]
    assert p["leiomyosarcoma"].tolist()[0] and p["leiomyosarcoma"].tolist()[2]


def test_given_completeness_and_irlm_group_are_kept_when_not_derivable():
    p = load_cohort(_t(complete_resection=["yes", "no"], irlm_group=["I", "IV"])).patients
    assert p["complete_resection"].tolist() == [True, False]
    assert p["irlm_group"].tolist() == ["I", "IV"]


@pytest.mark.parametrize("primary, diagnosis, group", [
    ("2001-01-01", "2002-01-01", "12-35"),   # one calendar year is 12 months, not 11.99
    ("2001-01-01", "2001-12-31", "0-11"),
    ("2001-01-01", "2004-01-01", ">=36"),    # three years, with or without a leap day
    ("1999-01-01", "2002-01-01", ">=36"),
    ("2001-01-15", "2004-01-14", "12-35"),
])
def test_dfi_group_from_dates_counts_calendar_months(primary, diagnosis, group):
    p = load_cohort(_t(primary_treatment_date=[primary],
                       metastasis_diagnosis_date=[diagnosis])).patients
    assert p.loc[0, "dfi_group"] == group


def test_negative_given_dfi_is_synchronous():
    p = load_cohort(_t(dfi_months=["-2", "5"])).patients
    assert p["dfi_months"].tolist() == [0.0, 5.0]
    assert p["synchronous"].tolist() == [True, False]


def test_recurrence_after_last_followup_leaves_dfs_missing():
    df = pd.DataFrame({"patient_id": ["a", "b"], "metastasectomy_date": ["2001-01-01"] * 2,
                       "last_followup_date": ["2002-01-01"] * 2, "vital_status": ["alive"] * 2,
                       "recurrence_date": ["2003-01-01", "2001-07-01"]})
    c = load_cohort(df)
    p = c.patients
    assert pd.isna(p.loc[0, "dfs_months"]) and p.loc[1, "dfs_months"] == pytest.approx(
        181 / 30.4375)
    assert (p["dfs_months"].dropna() <= p["os_months"][p["dfs_months"].notna()]).all()
    assert c.findings["rule"].str.contains("DFS set to missing").any()


def test_infinite_values_do_not_break_json(tmp_path, capsys):
    path = tmp_path / "inf.parquet"
    pd.DataFrame({"patient_id": ["a", "b"], "os_months": [np.inf, 3.0],
                  "os_event": [1, 0]}).to_parquet(path)
    assert main(["validate", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_analysed"] == 1


def test_decomposed_unicode_column_names_match_the_mapping():
    import unicodedata

    name = unicodedata.normalize("NFD", "Überleben")
    df = pd.DataFrame({"patient_id": ["a"], name: ["5"], "os_event": ["1"]})
    c = load_cohort(df, mapping={"version": 1, "columns": {"Überleben": "os_months"}})
    assert c.patients["os_months"].tolist() == [5.0]


def test_large_float_ids_stay_distinct():
    df = pd.DataFrame({"patient_id": [1e19, 2e19], "os_months": [1.0, 2.0], "os_event": [1, 0]})
    assert load_cohort(df).patients["patient_id"].tolist() == [
        "10000000000000000000", "20000000000000000000"]


def test_resection_duplicates_same_day_and_after_followup():
    """Exported twice -> excluded; two rows of one day -> one operation; an operation after
    the last contact -> warned. By hand: 'rep' has operations at 0 and 184 days."""
    patients = pd.DataFrame({
        "patient_id": ["dup", "day", "late", "rep", "zero"],
        "metastasectomy_date": ["2001-01-01"] * 5,
        "last_followup_date": ["2002-01-01"] * 3 + ["2002-01-01", "2001-01-01"],
        "vital_status": ["alive", "alive", "alive", "dead", "dead"]})
    res = pd.DataFrame({
        "patient_id": ["dup", "dup", "day", "day", "late", "late", "rep", "rep", "zero"],
        "operation_date": ["2001-01-01", "2001-01-01", "2001-01-01", "2001-01-01",
                           "2001-01-01", "2002-06-01", "2001-01-01", "2001-07-04",
                           "2001-01-01"],
        "extent": ["wedge", "wedge", "wedge", "lobectomy", "wedge", "wedge", "wedge", "wedge",
                   "wedge"]})
    c = load_cohort(patients, resections=res)
    assert {r["reason"]: r["count"] for r in c.excluded("resections").to_dict("records")} == {
        "duplicate resection": 1}
    n = c.patients.set_index("patient_id")["n_metastasectomies"]
    assert n.to_dict() == {"dup": 1, "day": 1, "late": 2, "rep": 2, "zero": 1}
    rules = c.findings["rule"]
    assert rules.str.contains("same operation date").sum() == 1
    assert rules.str.contains("after the last follow-up").sum() == 1
    assert rules.str.contains("zero follow-up").sum() == 1
    cp = c.counting_process
    assert set(cp["patient_id"]) == {"dup", "day", "late", "rep"}
    assert cp.loc[cp["patient_id"] == "day", "repeat_resection"].tolist() == [False]
    rep = cp[cp["patient_id"] == "rep"]
    np.testing.assert_allclose(rep["start"], [0, 184 / 30.4375])
    assert rep["repeat_resection"].tolist() == [False, True]
    assert rep["event"].tolist() == [False, True]


def test_first_event_from_a_registry_dfs():
    """A registry's own DFS: an event before death (or in a survivor) is a recurrence of
    unrecorded site; an event at the time of death is the death."""
    df = pd.DataFrame({"patient_id": list("abcd"), "os_months": [40.0, 30, 30, 50],
                       "os_event": [0, 1, 1, 0], "dfs_months": [12.0, 30, 20, 50],
                       "dfs_event": [1, 1, 1, 0], "recurrence_site": [None, None, "lung", None]})
    p = load_cohort(df).patients
    assert p["first_event"].tolist() == ["recurrence_site_unknown", "death_without_recurrence",
                                         "pulmonary_recurrence", "event_free"]
