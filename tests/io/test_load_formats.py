"""Every supported format round-trips a cohort through load_cohort (write, load, compare).

Oracle: the same cohort loaded from an in-memory DataFrame. Files are written with pandas,
pyreadstat, duckdb and sqlite3 into a temporary directory; database files are real files.
"""

from __future__ import annotations

import sqlite3

import duckdb
import pandas as pd
import pyreadstat
import pytest

from metsurv import SqlSource, load_cohort
from tests.conftest import registry_rows

COMPARE = ["patient_id", "sex", "os_months", "os_event", "resection_status", "dfi_months",
           "n_metastases", "histology_group", "irlm_group", "nodal_status"]


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return load_cohort(registry_rows()).patients[COMPARE]


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if c.endswith("_date"):
            out[c] = pd.to_datetime(out[c])
    return out


def _write(fmt: str, path, df: pd.DataFrame):
    if fmt == "csv_semicolon_latin1":
        df.to_csv(path, sep=";", index=False, encoding="latin-1")
    elif fmt == "tsv_bom":
        df.to_csv(path, sep="\t", index=False, encoding="utf-8-sig")
    elif fmt == "xlsx":
        _typed(df).to_excel(path, index=False)
    elif fmt == "parquet":
        _typed(df).to_parquet(path, index=False)
    elif fmt == "sav":
        pyreadstat.write_sav(_typed(df), str(path))
    elif fmt == "dta":
        pyreadstat.write_dta(_typed(df), str(path))
    elif fmt == "xpt":
        t = _typed(df)
        short = [f"V{i}" for i in range(len(t.columns))]  # XPORT v5 names: 8 characters
        t.columns = short
        pyreadstat.write_xport(t, str(path))
        return {"version": 1, "columns": dict(zip(short, df.columns, strict=True))}
    elif fmt == "duckdb":
        con = duckdb.connect(str(path))
        con.register("src", _typed(df))
        con.execute("CREATE TABLE patients AS SELECT * FROM src")
        con.close()
        return SqlSource(path, query="SELECT * FROM patients ORDER BY patient_id")
    elif fmt == "sqlite":
        con = sqlite3.connect(str(path))
        df.to_sql("patients", con, index=False)
        con.close()
        return SqlSource(path, table="patients")
    return None


@pytest.mark.parametrize("fmt, suffix", [
    ("csv_semicolon_latin1", ".csv"), ("tsv_bom", ".tsv"), ("xlsx", ".xlsx"),
    ("parquet", ".parquet"), ("sav", ".sav"), ("dta", ".dta"), ("xpt", ".xpt"),
    ("duckdb", ".duckdb"), ("sqlite", ".sqlite"),
])
def test_format_round_trip(tmp_path, expected, fmt, suffix):
    df = registry_rows()
    path = tmp_path / f"cohort{suffix}"
    extra = _write(fmt, path, df)
    if isinstance(extra, SqlSource):
        cohort = load_cohort(extra)
    else:
        cohort = load_cohort(path, mapping=extra)
    assert cohort.n_analysed == cohort.n_read == len(df)
    got = cohort.patients[COMPARE].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_dtype=False)
    assert cohort.provenance["sha256"]
