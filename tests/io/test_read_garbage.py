"""Broken, empty, mislabelled and random inputs: read_table raises only CohortError."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import sys
import zipfile
import zlib

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metsurv.io.read as read_mod
from metsurv.errors import CohortError
from metsurv.io.read import SqlSource, read_table


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "age": [61.0, np.nan, 47.0],
                         "op_date": pd.to_datetime(["2019-03-01", None, "2020-12-31"])})


def _xlsx(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["patient_id", "age"])
    for i in range(200):
        ws.append([f"P{i}", i])
    wb.save(path)


def _raises(path_or_source, *fragments, **kw) -> CohortError:
    with pytest.raises(CohortError) as info:
        read_table(path_or_source, **kw)
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, msg
    assert "\n" not in msg
    return info.value


# ----------------------------------------------------------------------------------------
# file-level problems
# ----------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    _raises(tmp_path / "registry.csv", "registry.csv", "does not exist")


def test_directory(tmp_path):
    d = tmp_path / "export.csv"
    d.mkdir()
    _raises(d, "export.csv", "directory")


def test_unknown_extension(tmp_path):
    p = tmp_path / "registry.ods"
    p.write_bytes(b"whatever")
    _raises(p, "registry.ods", "not supported", ".csv")


def test_legacy_xls_and_compressed(tmp_path):
    p = tmp_path / "old.xls"
    p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))
    _raises(p, "old.xls", ".xlsx")
    g = tmp_path / "registry.csv.gz"
    g.write_bytes(b"\x1f\x8b\x08\x00")
    _raises(g, "registry.csv.gz", "compressed")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet", ".sav", ".dta", ".sas7bdat",
                                    ".xpt", ".duckdb", ".sqlite", ".db", ".txt"])
def test_empty_file(tmp_path, suffix):
    p = tmp_path / f"registry{suffix}"
    p.write_bytes(b"")
    _raises(p, f"registry{suffix}", "empty (0 bytes)")


def test_blank_lines_only(tmp_path):
    p = tmp_path / "blank.csv"
    p.write_text("\n\r\n  \n")
    _raises(p, "blank.csv", "only blank lines")


def test_header_only(tmp_path):
    p = tmp_path / "header.csv"
    p.write_text("patient_id;age;sex\n")
    _raises(p, "header.csv", "the table has columns but no rows")


def test_header_only_typed(tmp_path):
    p = tmp_path / "header.parquet"
    _frame().iloc[:0].to_parquet(p)
    _raises(p, "header.parquet", "columns but no rows")
    _raises(_frame().iloc[:0], "DataFrame", "columns but no rows")


def test_duplicated_column_names(tmp_path):
    p = tmp_path / "dups.csv"
    p.write_text("patient_id,age,sex,age ,sex\n1,2,3,4,5\n")
    _raises(p, "dups.csv", '"age", "sex"', "more than once")


def test_duplicated_column_names_excel(tmp_path):
    p = tmp_path / "dups.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["id", "id"])
    wb.active.append([1, 2])
    wb.save(p)
    _raises(p, "dups.xlsx", '"id"', "more than once")


def test_blank_column_name(tmp_path):
    p = tmp_path / "blank.csv"
    p.write_text("patient_id,,age\n1,x,3\n")
    _raises(p, "blank.csv", "column 2 has no name")


def test_blank_trailing_column_with_data(tmp_path):
    p = tmp_path / "trail.csv"
    p.write_text("a;b;\n1;2;\n3;4;oops\n")
    _raises(p, "trail.csv", "column 3 has no name")


def test_excel_value_outside_header(tmp_path):
    p = tmp_path / "stray.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "age"])
    ws.append([1, 2, "note"])
    wb.save(p)
    _raises(p, "stray.xlsx", "row 2", "column C")


def test_ragged_rows_name_the_line(tmp_path):
    p = tmp_path / "ragged.csv"
    p.write_text("a;b;c\n1;2;3\n4;5;6\n\n7;8\n9;10;11\n")
    _raises(p, "ragged.csv", "line 5 has 2 fields but the header has 3")
    q = tmp_path / "long.csv"
    q.write_text("a,b\n1,2\n3,4,5\n")
    _raises(q, "long.csv", "line 3 has 3 fields")


def test_unclosed_quote(tmp_path):
    p = tmp_path / "quote.csv"
    p.write_text('a,b\n1,2\n3,4\n5,"open\n6,7\n')
    _raises(p, "quote.csv", "line 4", "never closed")


def test_binary_bytes_named_csv(tmp_path):
    p = tmp_path / "registry.csv"
    p.write_bytes(bytes(range(256)) * 10)
    _raises(p, "registry.csv", "not delimited text")


def test_high_bytes_named_csv(tmp_path):
    p = tmp_path / "encrypted.csv"
    p.write_bytes(bytes(range(0x80, 0x100)) * 8)
    _raises(p, "encrypted.csv", "neither UTF-8 nor plausible latin-1")


def test_nul_late_in_csv(tmp_path):
    p = tmp_path / "late.csv"
    p.write_bytes(b"a,b\n" + b"1,2\n" * 30000 + b"3,\x00\n")
    _raises(p, "late.csv", "binary")


def test_xlsx_named_csv_says_what_it_is(tmp_path):
    p = tmp_path / "registry.csv"
    _xlsx(p)
    _raises(p, "registry.csv", "ZIP archive", ".xlsx")


def test_truncated_xlsx(tmp_path):
    full = tmp_path / "full.xlsx"
    _xlsx(full)
    data = full.read_bytes()
    p = tmp_path / "registry.xlsx"
    p.write_bytes(data[: len(data) // 2])
    err = _raises(p, "registry.xlsx", "damaged or incomplete")
    assert err.__cause__ is not None


def test_zip_that_is_not_a_workbook(tmp_path):
    p = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "hello")
    _raises(p, "archive.xlsx", "Excel")


def test_csv_named_xlsx(tmp_path):
    p = tmp_path / "registry.xlsx"
    p.write_text("a,b\n1,2\n")
    _raises(p, "registry.xlsx", "not an Excel .xlsx workbook", "text file", ".csv")


def test_parquet_cut_in_half(tmp_path):
    full = tmp_path / "full.parquet"
    _frame().to_parquet(full)
    data = full.read_bytes()
    p = tmp_path / "registry.parquet"
    p.write_bytes(data[: len(data) // 2])
    _raises(p, "registry.parquet", "incomplete")


def test_parquet_corrupt_middle(tmp_path):
    full = tmp_path / "full.parquet"
    pd.DataFrame({"x": np.arange(5000)}).to_parquet(full)
    data = bytearray(full.read_bytes())
    data[20:len(data) - 40] = b"\xff" * (len(data) - 60)
    p = tmp_path / "corrupt.parquet"
    p.write_bytes(bytes(data))
    _raises(p, "corrupt.parquet")


def test_sav_that_is_not_spss(tmp_path):
    p = tmp_path / "registry.sav"
    p.write_text("patient_id,age\nP1,61\n")
    _raises(p, "registry.sav", "not an SPSS")
    q = tmp_path / "garbage.sav"
    q.write_bytes(b"$FL2" + bytes(range(256)) * 4)
    _raises(q, "garbage.sav", "damaged")


@pytest.mark.parametrize("suffix,writer", [
    (".sav", lambda df, p: pyreadstat.write_sav(df, p)),
    (".dta", lambda df, p: pyreadstat.write_dta(df, p)),
    (".xpt", lambda df, p: pyreadstat.write_xport(df, p)),
])
def test_truncated_readstat_files(tmp_path, suffix, writer):
    full = tmp_path / f"full{suffix}"
    writer(pd.DataFrame({"pid": [f"P{i}" for i in range(300)], "age": np.arange(300.0)}), full)
    data = full.read_bytes()
    assert read_table(full).frame.shape == (300, 2)
    # XPORT files are whole 80-byte records: a cut on a record boundary is undetectable
    for cut in (len(data) // 3 + 1, len(data) // 2 + 3, len(data) - 7, len(data) - 1):
        p = tmp_path / f"cut{suffix}"
        p.write_bytes(data[:cut])
        _raises(p, f"cut{suffix}")


# A .sav with random flipped bytes on which readstat (pyreadstat 1.3.7) segfaults: read_table
# parses readstat formats in a forked child first, so the crash becomes a CohortError.
_CRASHING_SAV = (
    "eNql019v0lAYBvCWbgJRkyUuxgtNTnQx07hBD38KaKWdhUkyCJEtxss6CCOOsUw0xhv7CfwWfgJvvfPDGBMT8V7F"
    "nnLoeYD3zpOccNrfed/TPLRb9QPubN+5xzrtTod57qHL6o2DGtthJ+Px+etKJtMfjE/evNw9Hg0zzwfv/Ytu0z/O"
    "POv53c7YH7OEpmlrmho8Xr1wOGet0VvGi2a2YloVbrH/HGFXcZ4B52mGHs12w4u2CE+iJ/VottxGbe7YIpFaj6a7"
    "X2Pgamxej6YnH0EU6jFOqsborCfur8n7hjzfkLmkRAtoNw2HLveKs77/me2f7zXknun051T+fvgrr5Oyl6hdD+fR"
    "YX2nJG5elg2uyENScODyWl9ai/qrcn0rnGGQ9vmgm265zZp95g976TAa2+/30p7dFZs3ZHECms3/9W8y13Z2llbz"
    "65fT094Fg2d4d+lzeq9tUj6pxs7Jeif2HOUp5XnKN5QXKN90tEB6kfIbqt6i/KbyEuVMeZny28rNLOFbofelm4Tf"
    "hXpO+DZ4GOC1Zb8PnifqH4AXCN8FLy77J03LznwoPArw92K9CfUloj8HL6M7M88p54v5fYw8D67yM+L+BXDOJivn"
    "F8FzxPNZ4FR+JXAqvzJ4kfAKuEX4Q/DF/LzIH4GXiXobvi/q/XsMTr1/VXDOfqy4A07kF6BT+bngRH4BOpXfHjiR"
    "X4BOvX9PwIn8AvB8nF9V1XvgRH4BOvX91sBfEfXoq/n90urgVH7oVH774FR+6FR+T8Gp/JT/AysItGI="
)


def test_readstat_crash_is_contained(tmp_path):
    p = tmp_path / "flipped.sav"
    p.write_bytes(zlib.decompress(base64.b64decode(_CRASHING_SAV)))
    try:
        read_table(p)
    except CohortError as exc:  # a fixed readstat may instead report a damaged file
        assert "flipped.sav" in str(exc)


def test_sav_announcing_impossible_row_count(tmp_path):
    # the case count sits at byte 80 of the SPSS header; a damaged one must not make the
    # reader allocate gigabytes (or wake the out-of-memory killer)
    p = tmp_path / "huge.sav"
    pyreadstat.write_sav(pd.DataFrame({"pid": ["P1", "P2"], "age": [1.0, 2.0]}), p)
    data = bytearray(p.read_bytes())
    assert int.from_bytes(data[80:84], "little") == 2
    data[80:84] = (900_000_000).to_bytes(4, "little")
    p.write_bytes(bytes(data))
    _raises(p, "huge.sav", "more rows than a file of its size can hold")


@pytest.mark.skipif(not hasattr(os, "fork") or not sys.platform.startswith("linux"),
                    reason="the crash guard forks (Linux only)")
def test_crash_guard_reports_signal():
    def crash():
        os.kill(os.getpid(), signal.SIGSEGV)

    with pytest.raises(CohortError, match=r"x\.sav: .*crashed on it \(signal 11\)"):
        read_mod._crash_guard(crash, "x.sav", "an SPSS .sav/.zsav file", 10)
    read_mod._crash_guard(lambda: None, "x.sav", "an SPSS file", 10)  # a clean parse passes
    read_mod._crash_guard(lambda: 1 / 0, "x.sav", "an SPSS file", 10)  # exceptions: parent's job


@pytest.mark.parametrize("suffix", [".duckdb", ".sqlite", ".db"])
def test_not_a_database(tmp_path, suffix):
    p = tmp_path / f"registry{suffix}"
    p.write_text("a,b\n1,2\n")
    _raises(p, f"registry{suffix}", "not a DuckDB or SQLite database")
    _raises(SqlSource(p, query="SELECT 1"), f"registry{suffix}", "not a DuckDB or SQLite")


def test_truncated_sqlite(tmp_path):
    full = tmp_path / "full.sqlite"
    con = sqlite3.connect(full)
    con.execute("CREATE TABLE t (a TEXT, b REAL)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(f"x{i}" * 20, i) for i in range(3000)])
    con.commit()
    con.close()
    data = full.read_bytes()
    assert len(read_table(full).frame) == 3000
    p = tmp_path / "cut.sqlite"
    for cut in (len(data) // 2, len(data) - 4096):
        p.write_bytes(data[:cut])
        _raises(p, "cut.sqlite", "incomplete")


def test_truncated_duckdb(tmp_path):
    full = tmp_path / "full.duckdb"
    con = duckdb.connect(str(full))
    con.execute("CREATE TABLE t AS SELECT range AS a, 'x' || range AS b FROM range(100000)")
    con.close()
    data = full.read_bytes()
    p = tmp_path / "cut.duckdb"
    for cut in (len(data) // 5, len(data) // 2, len(data) - 4096):
        p.write_bytes(data[:cut])
        _raises(p, "cut.duckdb")


def test_empty_database(tmp_path):
    p = tmp_path / "empty.sqlite"
    sqlite3.connect(p).execute("CREATE TABLE t (a TEXT)").connection.commit()
    _raises(p, "empty.sqlite", "no rows")
    q = tmp_path / "none.duckdb"
    duckdb.connect(str(q)).close()
    _raises(q, "none.duckdb", "no tables")


def test_sql_multiple_statements_and_non_select(tmp_path):
    p = tmp_path / "reg.sqlite"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE t (a TEXT)")
    con.execute("INSERT INTO t VALUES ('x')")
    con.commit()
    con.close()
    _raises(SqlSource(p, query="SELECT 1; SELECT 2"), "reg.sqlite")
    _raises(SqlSource(p, query="PRAGMA user_version = 3"), "reg.sqlite")
    _raises(SqlSource(p, query="   "), "reg.sqlite", "non-empty")


def test_bad_arguments(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("a,b\n1,2\n")
    _raises(p, "a.csv", "encoding", encoding="klingon")
    _raises(p, "a.csv", "delimiter", delimiter=";;")
    _raises(p, "a.csv", "decimal mark", decimal="x")
    _raises(42, "pass a file path")
    _raises(None, "pass a file path")
    _raises(p.with_suffix(".xlsx"), "a.xlsx", "does not exist")
    x = tmp_path / "a.xlsx"
    _xlsx(x)
    _raises(x, "a.xlsx", "no sheet at position 5", sheet=5)
    _raises(x, "a.xlsx", "sheet must be", sheet=1.5)


def test_wrong_encoding_given(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("a;b\n1;M\xfcller\n".encode("latin-1").replace(b"\\xfc", b"\xfc"))
    _raises(p, "latin.csv", encoding="utf-8")


def test_dataframe_problems():
    _raises(pd.DataFrame({"a": [1], " a": [2]}), "DataFrame", '"a"', "more than once")
    _raises(pd.DataFrame(index=[0, 1]), "DataFrame", "no columns")
    df = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]))
    _raises(df, "DataFrame", "header levels")


@pytest.mark.parametrize("suffix", [".parquet", ".sav", ".dta", ".sas7bdat", ".xpt", ".xlsx"])
def test_wrong_extension_for_typed_formats(tmp_path, suffix):
    # a real parquet file carrying another format's extension, and vice versa
    pq_file = tmp_path / "real.parquet"
    _frame().to_parquet(pq_file)
    p = tmp_path / f"registry{suffix}"
    if suffix == ".parquet":
        pyreadstat.write_sav(_frame(), p)
        fragments = ("registry.parquet", "SPSS", ".sav")
    else:
        p.write_bytes(pq_file.read_bytes())
        fragments = (f"registry{suffix}", "Parquet file", ".parquet")
    _raises(p, *fragments)


# ----------------------------------------------------------------------------------------
# property: random bytes or text under every extension -> only CohortError
# ----------------------------------------------------------------------------------------

SUFFIXES = [".csv", ".tsv", ".txt", ".xlsx", ".parquet", ".sas7bdat", ".xpt", ".dta", ".sav",
            ".zsav", ".duckdb", ".db", ".sqlite"]
MAGIC = [b"", b"PK\x03\x04", b"PAR1", b"SQLite format 3\x00", b"\x00" * 8 + b"DUCK",
         b"$FL2", b"<stata_dta>", b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!",
         b"\xef\xbb\xbf", b"\xff\xfe"]

_contents = st.one_of(
    st.binary(max_size=600),
    st.tuples(st.sampled_from(MAGIC), st.binary(max_size=400)).map(lambda t: t[0] + t[1]),
    st.text(alphabet=st.sampled_from(list("ab1,;\t|\"' \n\r.äß") + ["\ufeff"]),
            max_size=300).map(lambda s: s.encode("utf-8")),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(suffix=st.sampled_from(SUFFIXES), content=_contents)
def test_random_input_raises_only_cohort_error(tmp_path, suffix, content):
    p = tmp_path / f"random{suffix}"
    p.write_bytes(content)
    try:
        t = read_table(p)
    except CohortError as exc:
        assert f"random{suffix}" in str(exc)
    else:
        assert len(t.frame) > 0 and len(t.rows) == len(t.frame)
        assert t.rows.dtype == np.int64
