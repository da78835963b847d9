"""Inputs read as the exporting program shows them (issue 10, item 3): display formats and
value labels of Stata/SPSS/SAS, numeric codes without labels never guessed, stale formula
results refused, one bad date costs its row, time zones, exact integers, dates stored as
numbers, and a damaged DuckDB file not blamed on a lock."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from pathlib import Path

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest

from metsurv.errors import CohortError
from metsurv.io import read as read_mod
from metsurv.io.load import load_cohort
from metsurv.io.read import read_table

DATA = Path(__file__).parent.parent / "data" / "io"
TODAY = "2025-01-01"


def _outcome(n: int) -> dict:
    return {"metastasectomy_date": ["2012-03-04"] * n, "last_followup_date": ["2015-06-30"] * n,
            "vital_status": ["dead"] * n}


def _findings_text(cohort) -> str:
    return " | ".join(map(str, cohort.findings.astype(str).to_numpy().ravel()))


# -- display formats and value labels -------------------------------------------------------

def test_stata_zero_padded_ids_read_as_shown_handed_file():
    raw = read_table(DATA / "T03_stata_ids_format_04.dta")
    assert raw.frame["patient_id"].tolist() == ["0123", "0456", "0789", "1011"]
    assert str(raw.frame["metastasectomy_date"].dtype) == "datetime64[ns]"


def test_stata_zero_padded_ids_keep_missing(tmp_path):
    df = pd.DataFrame({"patient_id": [7.0, np.nan, 12.0], **{k: [1.0] * 3 for k in ("x",)}})
    path = tmp_path / "ids.dta"
    pyreadstat.write_dta(df, path, variable_format={"patient_id": "%05.0f"})
    ids = read_table(path).frame["patient_id"].tolist()
    assert ids[0] == "00007" and ids[2] == "00012" and ids[1] is None


def test_spss_n_format_ids_and_value_labels_applied(tmp_path):
    df = pd.DataFrame({"patient_id": [123.0, 45.0], "resection_status": [1.0, 2.0]})
    path = tmp_path / "ids.sav"
    pyreadstat.write_sav(df, path, variable_format={"patient_id": "N4"},
                         variable_value_labels={"resection_status": {1.0: "R0", 2.0: "R1"}})
    frame = read_table(path).frame
    assert frame["patient_id"].tolist() == ["0123", "0045"]
    assert frame["resection_status"].tolist() == ["R0", "R1"]


def test_stata_value_labels_applied_for_coded_field(tmp_path):
    df = pd.DataFrame({"patient_id": ["a", "b"], "resection_status": [1, 3],
                       **{k: v[:2] for k, v in _outcome(2).items() if k == "vital_status"}})
    path = tmp_path / "labels.dta"
    pyreadstat.write_dta(df, path, variable_value_labels={
        "resection_status": {1: "R0", 3: "R2"}})
    assert read_table(path).frame["resection_status"].tolist() == ["R0", "R2"]


def test_excel_number_format_zeros_ids_read_as_shown(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["patient_id", "n_metastases"])
    for pid, n in ((123, 2), (4567, 1)):
        ws.append([pid, n])
    for row in ws.iter_rows(min_row=2, max_col=1):
        row[0].number_format = "0000"
    path = tmp_path / "ids.xlsx"
    wb.save(path)
    frame = read_table(path).frame
    assert frame["patient_id"].tolist() == ["0123", "4567"]
    assert frame["n_metastases"].tolist() == [2, 1]


def test_xport_sas_z_format_ids_and_user_format_codes(tmp_path):
    path = tmp_path / "x.xpt"
    pyreadstat.write_xport(pd.DataFrame({"ID": [12.0, 3.0], "RES": [1.0, 2.0]}), path,
                           variable_format={"ID": "Z4", "RES": "RESF"})
    raw = read_table(path)
    assert raw.frame["ID"].tolist() == ["0012", "0003"]
    assert raw.unlabelled == {"RES": "RESF"}


# -- numeric codes without labels never guessed -----------------------------------------------

def test_sas_user_format_without_catalog_codes_not_guessed_handed_file():
    path = DATA / "A02_sas_user_formats_no_catalog.sas7bdat"
    raw = read_table(path)
    assert raw.unlabelled == {"resection_status": "RESF", "nodal_status": "NODF"}
    cohort = load_cohort(path, today=TODAY)
    # 1 is R0 in this registry: never read as R1 (the built-in synonym), never guessed at all
    assert cohort.patients["resection_status"].isna().all()
    assert cohort.patients["nodal_status"].isna().all()
    text = _findings_text(cohort)
    assert "RESF" in text and "code table" in text


def test_sas_user_format_without_catalog_read_with_mapping_code_table():
    path = DATA / "A02_sas_user_formats_no_catalog.sas7bdat"
    cohort = load_cohort(path, {"version": 1, "codes": {"resection_status": {
        "1": "R0", "2": "R1", "3": "R2"}}}, today=TODAY)
    assert cohort.patients["resection_status"].astype(str).tolist() == ["R0", "R1", "R0", "R2"]


def test_stata_partly_labelled_codes_unlabelled_number_not_guessed(tmp_path):
    # 2 is labelled R1; 1 has no label: it must not become R1 via the built-in synonym
    df = pd.DataFrame({"patient_id": ["a", "b", "c"], "resection_status": [2, 1, 2],
                       **_outcome(3)})
    path = tmp_path / "partly.dta"
    pyreadstat.write_dta(df, path, variable_value_labels={"resection_status": {2: "R1"}})
    raw = read_table(path)
    assert "resection_status" in raw.unlabelled
    status = load_cohort(path, today=TODAY).patients.set_index("patient_id")["resection_status"]
    assert status["a"] == "R1" and status["c"] == "R1" and pd.isna(status["b"])


def test_stata_label_set_missing_codes_not_guessed(tmp_path):
    df = pd.DataFrame({"patient_id": ["a", "b"], "nodal_status": [1.0, 2.0], **_outcome(2)})
    path = tmp_path / "nolabels.dta"
    pyreadstat.write_dta(df, path)
    meta = type("M", (), {"original_variable_types": {}, "variable_to_label":
                          {"nodal_status": "nodf"}, "value_labels": {}})()
    frame, unlabelled = read_mod._as_shown(read_table(path).frame.copy(), meta, "stata")
    assert unlabelled == {"nodal_status": "nodf"}


# -- stale or missing formula results -------------------------------------------------------

def test_excel_formula_results_cached_zero_refused_handed_file():
    with pytest.raises(CohortError, match=r"os_months.*never calculated.*LibreOffice"):
        read_table(DATA / "X14_excel_formula_cached_zero.xlsx")


def test_excel_formulas_without_cached_results_refused(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["patient_id", "a", "b", "os_months"])
    for i in range(2, 5):
        ws.append([f"p{i}", 1, 2, f"=C{i}-B{i}"])
    path = tmp_path / "script.xlsx"
    wb.save(path)  # openpyxl stores no results: never calculated
    with pytest.raises(CohortError, match=r"'os_months' \(3 formula cells, results missing\)"):
        read_table(path)


def test_excel_without_formulas_is_read(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["patient_id", "os_months"])
    ws.append(["p1", 0])
    ws.append(["p2", 0])
    path = tmp_path / "plain.xlsx"
    wb.save(path)
    assert read_table(path).frame["os_months"].tolist() == [0, 0]


# -- a bad value in a statistical file costs its row ----------------------------------------

@pytest.mark.parametrize("bad", [dt.date(9999, 12, 31), dt.date(1018, 5, 1)])
def test_stata_bad_date_costs_its_row_not_the_file(tmp_path, bad):
    df = pd.DataFrame({"patient_id": ["a", "b", "c"],
                       "metastasectomy_date": [dt.date(2012, 3, 4), bad, dt.date(2013, 1, 2)],
                       "last_followup_date": [dt.date(2015, 6, 30)] * 3,
                       "vital_status": ["dead", "alive", "dead"]})
    path = tmp_path / "bad_date.dta"
    pyreadstat.write_dta(df, path)
    raw = read_table(path)
    assert raw.frame["metastasectomy_date"].iloc[0] == pd.Timestamp("2012-03-04")
    cohort = load_cohort(path, today=TODAY)
    assert sorted(cohort.patients["patient_id"]) == ["a", "c"]
    flow = cohort.flow.set_index("step")
    assert flow.loc["read", "n"] == 3
    assert flow.loc["excluded", "reason"] == "unreadable required date"
    assert "metastasectomy_date" in _findings_text(cohort)


def test_spss_bad_date_costs_its_row_not_the_file(tmp_path):
    df = pd.DataFrame({"patient_id": ["a", "b"],
                       "metastasectomy_date": [dt.date(2012, 3, 4), dt.date(9999, 12, 31)]})
    path = tmp_path / "bad_date.sav"
    pyreadstat.write_sav(df, path)
    col = read_table(path).frame["metastasectomy_date"]
    assert col.iloc[0] == pd.Timestamp("2012-03-04")
    assert isinstance(col.iloc[1], dt.date) and col.iloc[1].year == 9999


def test_count_to_dates_vectorised_out_of_range_kept_on_row():
    days = np.array([0.0, 2_936_547.0, -342_000.0, np.nan])  # 1960, ~9999, ~1023, missing
    out = read_mod._count_to_dates(days, "1960", 86400.0)
    assert out.iloc[0] == pd.Timestamp("1960-01-01")
    assert isinstance(out.iloc[1], dt.date) and out.iloc[1].year == 9999
    assert isinstance(out.iloc[2], dt.date) and out.iloc[2].year < 1100
    assert out.iloc[3] is None or pd.isna(out.iloc[3])


# -- time zones -----------------------------------------------------------------------------

def _tz_db(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t(patient_id VARCHAR, metastasectomy_date TIMESTAMPTZ)")
    # 23:30 UTC on 3 March is 4 March in Rome
    con.execute("INSERT INTO t VALUES ('a', '2012-03-03 23:30:00+00')")
    con.close()


def test_duckdb_timestamptz_to_registry_zone_not_machine_zone(tmp_path, monkeypatch):
    path = tmp_path / "tz.duckdb"
    _tz_db(path)
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        rome = read_table(path, timezone="Europe/Rome")
        utc = read_table(path)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert rome.frame["metastasectomy_date"].iloc[0] == pd.Timestamp("2012-03-04 00:30")
    assert utc.frame["metastasectomy_date"].iloc[0] == pd.Timestamp("2012-03-03 23:30")
    assert any("UTC" in n for n in utc.notes) and not rome.notes


def test_parquet_tz_aware_to_registry_zone(tmp_path):
    ts = pd.Series(pd.to_datetime(["2012-03-03 23:30"]).tz_localize("UTC"))
    path = tmp_path / "tz.parquet"
    pd.DataFrame({"patient_id": ["a"], "d": ts}).to_parquet(path)
    frame = read_table(path, timezone="Europe/Rome").frame
    assert frame["d"].iloc[0] == pd.Timestamp("2012-03-04 00:30")


def test_mapping_source_timezone_gives_registry_local_date(tmp_path):
    path = tmp_path / "tz.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t(patient_id VARCHAR, metastasectomy_date TIMESTAMPTZ, "
                "last_followup_date DATE, vital_status VARCHAR)")
    con.execute("INSERT INTO t VALUES ('a', '2012-03-03 23:30:00+00', '2015-06-30', 'dead')")
    con.close()
    cohort = load_cohort(path, {"version": 1, "source": {"timezone": "Europe/Rome"}},
                         today=TODAY)
    assert cohort.patients["metastasectomy_date"].iloc[0] == pd.Timestamp("2012-03-04")


def test_unknown_timezone_refused(tmp_path):
    path = tmp_path / "tz.parquet"
    pd.DataFrame({"patient_id": ["a"]}).to_parquet(path)
    with pytest.raises(CohortError, match="IANA"):
        read_table(path, timezone="Mars/Olympus")


# -- integers kept exact --------------------------------------------------------------------

BIG = 2**53 + 1


def test_parquet_int64_ids_above_2_53_with_null_kept_exact(tmp_path):
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"patient_id": pa.array([BIG, None, BIG + 2], pa.int64())}), path)
    ids = read_table(path).frame["patient_id"]
    assert ids.iloc[0] == BIG and ids.iloc[2] == BIG + 2 and pd.isna(ids.iloc[1])


def test_sqlite_int64_ids_above_2_53_with_null_kept_exact(tmp_path):
    path = tmp_path / "ids.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t(patient_id INTEGER, x REAL)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(BIG, 1.5), (None, None), (BIG + 2, 2.0)])
    con.commit()
    con.close()
    frame = read_table(path).frame
    assert frame["patient_id"].iloc[0] == BIG and frame["patient_id"].iloc[2] == BIG + 2
    assert frame["x"].dtype == np.float64


# -- dates stored as numbers ----------------------------------------------------------------

def test_dates_stored_as_numbers_read_with_mapping_format(tmp_path):
    path = tmp_path / "num_dates.parquet"
    pd.DataFrame({"patient_id": ["a", "b"], "metastasectomy_date": [20120304, 20100101],
                  "last_followup_date": [20150630, 20120101],
                  "vital_status": ["dead", "alive"]}).to_parquet(path)
    cohort = load_cohort(path, {"version": 1, "dates": {"all": "%Y%m%d"}}, today=TODAY)
    assert cohort.patients["metastasectomy_date"].tolist() == [
        pd.Timestamp("2012-03-04"), pd.Timestamp("2010-01-01")]


# -- DuckDB: a damaged file is not a lock ---------------------------------------------------

def test_duckdb_damaged_block_not_blamed_on_lock():
    assert not read_mod._DUCKDB_LOCK.search("invalid block in file: checksum mismatch")
    assert read_mod._DUCKDB_LOCK.search(
        'io error: could not set lock on file "x.duckdb": conflicting lock is held')


def test_environment_tz_restored():
    assert os.environ.get("TZ") != "America/Los_Angeles"


@pytest.mark.parametrize("ext,writer", [(".dta", pyreadstat.write_dta),
                                        (".sav", pyreadstat.write_sav),
                                        (".xpt", pyreadstat.write_xport)])
def test_dates_converted_from_counts_match_pyreadstat(tmp_path, ext, writer):
    """The vectorised conversion gives the dates and datetimes pyreadstat itself gives
    (``dates_as_pandas_datetime=True``) for ordinary values."""
    df = pd.DataFrame({"d": [dt.date(1960, 1, 1), dt.date(2012, 3, 4), dt.date(1901, 2, 28)],
                       "t": [dt.datetime(2012, 3, 4, 23, 30, 15), dt.datetime(1999, 12, 31),
                             dt.datetime(1970, 1, 1, 0, 0, 1)]})
    path = tmp_path / f"dates{ext}"
    writer(df, path)
    reader = {".dta": pyreadstat.read_dta, ".sav": pyreadstat.read_sav,
              ".xpt": pyreadstat.read_xport}[ext]
    expected, _ = reader(path, dates_as_pandas_datetime=True)
    frame = read_table(path).frame
    for col in ("d", "t"):
        assert str(frame[col].dtype) == "datetime64[ns]"
        assert frame[col].tolist() == pd.to_datetime(expected[col]).tolist()
