"""Date columns without a mapping format (issue 11, item 6): one unambiguous format is read
with an info finding naming it; a column that fits several formats with different dates is
refused, naming the candidates and the mapping key to set."""

from __future__ import annotations

import pandas as pd
import pytest

from metsurv.errors import CohortError
from metsurv.io import load_cohort

TODAY = "2024-06-30"


def _write(tmp_path, op, fu, name="p.csv"):
    n = len(op)
    df = pd.DataFrame({"patient_id": [f"p{i}" for i in range(n)], "op_datum": op,
                       "last_followup_date": fu,
                       "vital_status": ["dead" if i % 2 else "alive" for i in range(n)]})
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


MAPPING = {"version": 1, "columns": {"op_datum": "metastasectomy_date"}}


def _notes(cohort, column):
    f = cohort.findings
    return f[f["column"] == column]


def test_day_first_with_a_day_above_12_is_read_with_a_finding(tmp_path):
    path = _write(tmp_path, ["13/04/2012", "01/02/2010", "05/06/2011"],
                  ["20/05/2015", "01/02/2013", "07/08/2014"])
    cohort = load_cohort(path, MAPPING, today=TODAY)
    assert cohort.n_analysed == 3
    p = cohort.patients.set_index("patient_id")
    assert p.loc["p0", "metastasectomy_date"] == pd.Timestamp("2012-04-13")
    assert p.loc["p1", "metastasectomy_date"] == pd.Timestamp("2010-02-01")  # not 2 January
    assert p.loc["p2", "last_followup_date"] == pd.Timestamp("2014-08-07")
    note = _notes(cohort, "op_datum")
    assert len(note) == 1 and note["severity"].iloc[0] == "info"
    rule = note["rule"].iloc[0]
    assert "dd/mm/yyyy" in rule and "%d/%m/%Y" in rule and "metastasectomy_date" in rule
    assert "rules out mm/dd/yyyy" in rule
    assert note["row"].isna().all()  # about the column, not a row


def test_month_first_proven_by_a_second_field_above_12(tmp_path):
    path = _write(tmp_path, ["04/13/2012", "02/01/2010"], ["05/20/2015", "02/01/2013"])
    cohort = load_cohort(path, MAPPING, today=TODAY)
    p = cohort.patients.set_index("patient_id")
    assert p.loc["p1", "metastasectomy_date"] == pd.Timestamp("2010-02-01")
    assert "mm/dd/yyyy" in _notes(cohort, "op_datum")["rule"].iloc[0]


def test_all_days_up_to_12_is_refused_with_candidates_and_key(tmp_path):
    path = _write(tmp_path, ["03/04/2012", "01/02/2010", "05/06/2011"],
                  ["13/05/2015", "01/02/2013", "07/08/2014"])
    with pytest.raises(CohortError) as err:
        load_cohort(path, MAPPING, today=TODAY)
    msg = str(err.value)
    assert "p.csv" in msg and "'op_datum'" in msg
    assert "dd/mm/yyyy" in msg and "mm/dd/yyyy" in msg
    assert 'dates: {metastasectomy_date: "%d/%m/%Y"}' in msg
    assert "03/04/2012" not in msg  # never a patient's date in a message
    assert "\n" not in msg


def test_ambiguous_formats_giving_identical_dates_are_read(tmp_path):
    path = _write(tmp_path, ["01/01/2012", "05/05/2010"], ["13/05/2015", "20/02/2013"])
    cohort = load_cohort(path, MAPPING, today=TODAY)
    assert cohort.patients["metastasectomy_date"].tolist() == [
        pd.Timestamp("2012-01-01"), pd.Timestamp("2010-05-05")]
    assert "give the same dates" in _notes(cohort, "op_datum")["rule"].iloc[0]


def test_refused_ambiguity_is_resolved_by_the_mapping_key(tmp_path):
    path = _write(tmp_path, ["03/04/2012", "01/02/2010"], ["13/05/2015", "01/02/2013"])
    mapping = {**MAPPING, "dates": {"metastasectomy_date": "%m/%d/%Y",
                                    "last_followup_date": "%d/%m/%Y"}}
    cohort = load_cohort(path, mapping, today=TODAY)
    assert cohort.patients["metastasectomy_date"].iloc[0] == pd.Timestamp("2012-03-04")
    assert not cohort.findings["rule"].str.contains("without a format").any()


def test_iso_and_dotted_read_as_before_without_a_finding(tmp_path):
    path = _write(tmp_path, ["2012-04-13", "2010-02-01"], ["20.05.2015", "01.02.2013"])
    cohort = load_cohort(path, MAPPING, today=TODAY)
    assert cohort.n_analysed == 2
    assert cohort.patients["last_followup_date"].iloc[1] == pd.Timestamp("2013-02-01")
    assert not cohort.findings["rule"].str.contains("without a format").any()


def test_iso_column_with_one_typo_keeps_the_typo_unreadable(tmp_path):
    path = _write(tmp_path, ["2012-04-13", "2010-02-01", "2011-13-45"],
                  ["2015-05-20", "2013-02-01", "2014-08-07"])
    cohort = load_cohort(path, MAPPING, today=TODAY)
    assert cohort.n_analysed == 2
    assert cohort.excluded().to_dict("records") == [
        {"reason": "unreadable required date", "count": 1}]


def test_excel_serial_numbers_in_a_csv_are_dates(tmp_path):
    path = _write(tmp_path, ["40000", "40100", ""], ["42000", "41000", "43000"])
    cohort = load_cohort(path, MAPPING, today=TODAY)
    p = cohort.patients.set_index("patient_id")
    assert p.loc["p0", "metastasectomy_date"] == pd.Timestamp("2009-07-06")  # Excel: 40000
    assert p.loc["p0", "last_followup_date"] == pd.Timestamp("2014-12-27")  # Excel: 42000
    rule = _notes(cohort, "op_datum")["rule"].iloc[0]
    assert "Excel serial" in rule
    assert cohort.n_analysed == 2  # the empty date is still missing


def test_excel_serials_in_an_excel_numeric_column(tmp_path):
    path = tmp_path / "p.xlsx"
    pd.DataFrame({"patient_id": ["a", "b"], "metastasectomy_date": [40000, 40100],
                  "last_followup_date": [42000.0, 41000.0],
                  "vital_status": ["dead", "alive"]}).to_excel(path, index=False)
    cohort = load_cohort(path, today=TODAY)
    assert cohort.patients["metastasectomy_date"].tolist() == [
        pd.Timestamp("2009-07-06"), pd.Timestamp("2009-10-14")]


def test_numbers_beyond_the_export_date_are_not_serials(tmp_path):
    # 99999 days is in 2173: not a plausible Excel date, so the column is not read as one
    path = _write(tmp_path, ["99999", "98000"], ["2015-05-20", "2013-02-01"])
    cohort = load_cohort(path, MAPPING, today=TODAY)
    assert cohort.n_analysed == 0
    assert not cohort.findings["rule"].str.contains("Excel").any()


def test_yyyymmdd_numbers_are_read_with_a_finding(tmp_path):
    path = _write(tmp_path, ["20120413", "20100201"], ["20150520", "20130201"])
    cohort = load_cohort(path, MAPPING, today=TODAY)
    assert cohort.patients["metastasectomy_date"].tolist() == [
        pd.Timestamp("2012-04-13"), pd.Timestamp("2010-02-01")]
    assert "yyyymmdd" in _notes(cohort, "op_datum")["rule"].iloc[0]


def test_day_first_dashes_and_resections_table(tmp_path):
    path = _write(tmp_path, ["13-04-2012", "01-02-2010"], ["20-05-2015", "01-02-2013"])
    res = tmp_path / "r.csv"
    pd.DataFrame({"patient_id": ["p0", "p1"],
                  "operation_date": ["13/04/2012", "01/02/2010"]}).to_csv(res, index=False)
    cohort = load_cohort(path, MAPPING, resections=res, today=TODAY)
    assert cohort.patients["metastasectomy_date"].iloc[1] == pd.Timestamp("2010-02-01")
    assert sorted(cohort.resections["operation_date"].tolist()) == [
        pd.Timestamp("2010-02-01"), pd.Timestamp("2012-04-13")]
    f = cohort.findings
    assert ((f["table"] == "resections") & f["rule"].str.contains("dd/mm/yyyy")).any()


def test_detection_runs_on_distinct_values(tmp_path):
    # 20,000 rows, few distinct dates: read quickly, one note per column
    n = 20_000
    op = ["13/04/2012", "01/02/2010"] * (n // 2)
    fu = ["20/05/2015", "01/02/2013"] * (n // 2)
    cohort = load_cohort(_write(tmp_path, op, fu), MAPPING, today=TODAY)
    assert cohort.n_analysed == n
    assert len(_notes(cohort, "op_datum")) == 1


def test_every_ambiguous_column_is_named_at_once(tmp_path):
    # both date columns of the patients table and the operation date of the resections
    # table fit dd/mm/yyyy and mm/dd/yyyy: one refusal names all three, with the key of each
    path = _write(tmp_path, ["03/04/2012", "01/02/2010"], ["05/06/2015", "01/02/2013"])
    res = tmp_path / "r.csv"
    pd.DataFrame({"patient_id": ["p0", "p1"],
                  "op_dt": ["03/04/2012", "01/02/2010"]}).to_csv(res, index=False)
    mapping = {**MAPPING, "resections": {"columns": {"op_dt": "operation_date"}}}
    with pytest.raises(CohortError) as err:
        load_cohort(path, mapping, resections=res, today=TODAY)
    msg = str(err.value)
    assert "\n" not in msg
    assert "p.csv" in msg and "r.csv" in msg
    assert "'op_datum'" in msg and "'last_followup_date'" in msg and "'op_dt'" in msg
    for field_ in ("metastasectomy_date", "last_followup_date"):
        for fmt in ("%d/%m/%Y", "%m/%d/%Y"):
            assert f'dates: {{{field_}: "{fmt}"}}' in msg
    assert 'resections: {dates: {operation_date: "%d/%m/%Y"}}' in msg
    assert msg.count("dd/mm/yyyy or mm/dd/yyyy") == 3
    assert "'##/##/####'" in msg  # a sample's shape, never a patient's date
    for date in ("03/04/2012", "01/02/2010", "05/06/2015", "01/02/2013"):
        assert date not in msg
    # the columns are named in the order of their files, resections last
    assert msg.index("'op_datum'") < msg.index("'last_followup_date'") < msg.index("'op_dt'")


def test_mapping_keys_named_by_the_refusal_resolve_it(tmp_path):
    path = _write(tmp_path, ["03/04/2012", "01/02/2010"], ["05/06/2015", "01/02/2013"])
    with pytest.raises(CohortError) as err:
        load_cohort(path, MAPPING, today=TODAY)
    msg = str(err.value)
    assert "2 date columns" in msg and msg.count(" or ") >= 2
    mapping = {**MAPPING, "dates": {"metastasectomy_date": "%d/%m/%Y",
                                    "last_followup_date": "%d/%m/%Y"}}
    cohort = load_cohort(path, mapping, today=TODAY)
    assert cohort.n_analysed == 2
    assert cohort.patients["last_followup_date"].iloc[0] == pd.Timestamp("2015-06-05")
