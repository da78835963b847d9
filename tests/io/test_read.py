"""Round trips through read_table for every supported format."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import sqlite3
import zlib

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyreadstat
import pytest

from metsurv.errors import CohortError
from metsurv.io.read import RawTable, SqlSource, read_table

IDS = ["P001", "P002", "P003", "P004"]
NAMES = ["Müller", "Größe", "Øster", None]
AGES = [61, None, 47, 70]
DFI = [12.5, None, 3.25, 0.0]
DATES = [dt.datetime(2019, 3, 1), None, dt.datetime(2020, 12, 31), dt.datetime(2001, 1, 15)]


def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": IDS,
            "name": pd.Series(NAMES, dtype=object),
            "age": pd.Series(AGES, dtype="float64"),
            "dfi_months": DFI,
            "op_date": pd.to_datetime(pd.Series(DATES)),
        }
    )


def _missing(v) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v))


def _norm(v):
    if _missing(v):
        return None
    if isinstance(v, pd.Timestamp | np.datetime64 | dt.datetime):
        return pd.Timestamp(v).to_pydatetime().replace(tzinfo=None)
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, np.generic):
        return v.item()
    return v


def assert_column(frame: pd.DataFrame, col: str, expected: list, *, blank_is_missing=False):
    got = [_norm(v) for v in frame[col].tolist()]
    want = [_norm(v) for v in expected]
    if blank_is_missing:
        got = [None if v == "" else v for v in got]
        want = [None if v == "" else v for v in want]
    assert got == want, f"{col}: {got!r} != {want!r}"


def assert_mixed(t: RawTable, *, blank_is_missing=False):
    assert list(t.frame.columns) == ["patient_id", "name", "age", "dfi_months", "op_date"]
    assert isinstance(t.frame.index, pd.RangeIndex) and t.frame.index.start == 0
    assert_column(t.frame, "patient_id", IDS)
    assert_column(t.frame, "name", NAMES, blank_is_missing=blank_is_missing)
    assert_column(t.frame, "age", AGES)
    assert_column(t.frame, "dfi_months", DFI)
    assert_column(t.frame, "op_date", DATES)
    assert pd.api.types.is_numeric_dtype(t.frame["age"])
    assert pd.api.types.is_float_dtype(t.frame["dfi_months"])
    assert pd.api.types.is_datetime64_any_dtype(t.frame["op_date"])
    assert t.rows.dtype == np.int64


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------
# delimited text
# ----------------------------------------------------------------------------------------


def test_csv_semicolon_decimal_comma_latin1(tmp_path):
    p = tmp_path / "registry.csv"
    mixed_frame().to_csv(p, sep=";", decimal=",", index=False, encoding="latin-1",
                         date_format="%d.%m.%Y")
    t = read_table(p)
    assert (t.format, t.encoding, t.delimiter, t.decimal) == ("csv", "latin-1", ";", ",")
    assert t.source == "registry.csv"
    assert t.sha256 == sha(p)
    f = t.frame
    assert all(f[c].dtype == pd.ArrowDtype(pa.string()) for c in f.columns)
    assert f["name"].tolist() == ["Müller", "Größe", "Øster", ""]
    assert f["dfi_months"].tolist() == ["12,5", "", "3,25", "0,0"]
    assert f["age"].tolist() == ["61,0", "", "47,0", "70,0"]
    assert f["op_date"].tolist() == ["01.03.2019", "", "31.12.2020", "15.01.2001"]
    assert t.rows.tolist() == [2, 3, 4, 5]


def test_csv_cp1252_punctuation(tmp_path):
    p = tmp_path / "win.csv"
    p.write_bytes("id;note\n1;Gr\u00f6\u00dfe \u2013 \u201eok\u201c\n".encode("cp1252"))
    t = read_table(p)
    assert t.encoding == "cp1252"
    assert t.frame["note"].tolist() == ["Größe – „ok“"]


def test_csv_tab_utf8(tmp_path):
    p = tmp_path / "export.tsv"
    p.write_text("id\tname\tdfi\nP1\tMüller\t12.5\nP2\t\t.\n", encoding="utf-8")
    t = read_table(p)
    assert (t.encoding, t.delimiter, t.decimal) == ("utf-8", "\t", ".")
    assert t.frame.to_dict("list") == {"id": ["P1", "P2"], "name": ["Müller", ""],
                                       "dfi": ["12.5", "."]}


def test_csv_utf8_bom_and_padded_header(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeff patient_id , sex \nP1,unk\nP2,99\n".encode())
    t = read_table(p)
    assert t.encoding == "utf-8-sig"
    assert list(t.frame.columns) == ["patient_id", "sex"]
    assert t.frame["sex"].tolist() == ["unk", "99"]


def test_csv_quoted_fields_and_pipe(tmp_path):
    p = tmp_path / "quoted.txt"
    p.write_text('id|note|x\n1|"a|b"|"say ""hi"""\n2|plain|\n', encoding="utf-8")
    t = read_table(p)
    assert t.delimiter == "|"
    assert t.frame["note"].tolist() == ["a|b", "plain"]
    assert t.frame["x"].tolist() == ['say "hi"', ""]


def test_csv_quoted_comma_and_newline_line_numbers(tmp_path):
    p = tmp_path / "multi.csv"
    p.write_text('id,note\n1,"Leber, Lunge"\n2,"two\nlines"\n\n3,x\n', encoding="utf-8")
    t = read_table(p)
    assert t.frame["note"].tolist() == ["Leber, Lunge", "two\nlines", "x"]
    assert t.rows.tolist() == [2, 3, 6]


def test_csv_blank_lines_keep_line_numbers(tmp_path):
    p = tmp_path / "gaps.csv"
    p.write_text("a,b\r\n1,2\r\n\r\n3,4\r\n\r\n\r\n", encoding="utf-8")
    t = read_table(p)
    assert t.frame["a"].tolist() == ["1", "3"]
    assert t.rows.tolist() == [2, 4]


def test_csv_old_mac_line_ends(tmp_path):
    p = tmp_path / "mac.csv"
    p.write_bytes(b"a;b\r1;2\r\r3;4\r")
    t = read_table(p)
    assert t.frame.to_dict("list") == {"a": ["1", "3"], "b": ["2", "4"]}
    assert t.rows.tolist() == [2, 4]


def test_csv_keeps_raw_missing_codes(tmp_path):
    p = tmp_path / "na.csv"
    p.write_text("a,b,c,d\nNA,,.,NULL\n99,unk,nan,N/A\n", encoding="utf-8")
    f = read_table(p).frame
    assert f.iloc[0].tolist() == ["NA", "", ".", "NULL"]
    assert f.iloc[1].tolist() == ["99", "unk", "nan", "N/A"]
    assert not f.isna().any().any()


def test_csv_leading_zeros_and_long_ids_stay_text(tmp_path):
    p = tmp_path / "ids.csv"
    p.write_text("id,zip\n007,01234\n12345678901234567890,0\n", encoding="utf-8")
    f = read_table(p).frame
    assert f["id"].tolist() == ["007", "12345678901234567890"]


def test_csv_trailing_delimiter_column_dropped(tmp_path):
    p = tmp_path / "trail.csv"
    p.write_text("a;b;\n1;2;\n3;4;\n", encoding="utf-8")
    t = read_table(p)
    assert list(t.frame.columns) == ["a", "b"]


def test_csv_overrides(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("a;b\n1,5;2\n", encoding="utf-8")
    t = read_table(p, delimiter="|", encoding="utf-8", decimal=".")
    assert list(t.frame.columns) == ["a;b"]
    assert t.frame["a;b"].tolist() == ["1,5;2"]
    assert (t.delimiter, t.decimal) == ("|", ".")
    t2 = read_table(p, delimiter=";")
    assert t2.decimal == ","


def test_csv_single_column(tmp_path):
    p = tmp_path / "single.csv"
    p.write_text("patient_id\nP1\nP2\n", encoding="utf-8")
    t = read_table(p)
    assert t.frame["patient_id"].tolist() == ["P1", "P2"]


def test_csv_utf16_excel_unicode_text(tmp_path):
    p = tmp_path / "unicode.txt"
    p.write_bytes("id\tname\nP1\tMüller\n".encode("utf-16"))
    t = read_table(p)
    assert t.encoding == "utf-16" and t.delimiter == "\t"
    assert t.frame["name"].tolist() == ["Müller"]


def test_csv_multiline_value_deep_in_a_large_file(tmp_path):
    # a quoted newline far into the file shifts the line numbers of all later records
    p = tmp_path / "big.csv"
    lines = ["id,note"] + [f"{i},row{i}" for i in range(400_000)]
    lines.insert(300_000, '999999,"split\nvalue"')
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    t = read_table(p)
    assert len(t.frame) == 400_001
    k = t.frame.index[t.frame["id"] == "999999"][0]
    assert t.frame.at[k, "note"] == "split\nvalue"
    assert t.rows[k] == 300_001
    assert t.rows[k + 1] == 300_003


# ----------------------------------------------------------------------------------------
# Excel
# ----------------------------------------------------------------------------------------


def _write_xlsx(path, sheets: dict[str, list[list]]):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r, row in enumerate(rows, start=1):
            for c, v in enumerate(row, start=1):
                if v is not None:
                    ws.cell(row=r, column=c, value=v)
    wb.save(path)


def _mixed_rows():
    header = ["patient_id", "name", "age", "dfi_months", "op_date"]
    body = [list(r) for r in zip(IDS, NAMES, AGES, DFI, DATES, strict=True)]
    return [header, *body]


def test_excel_round_trip_and_sheet_rows(tmp_path):
    p = tmp_path / "registry.xlsx"
    rows = _mixed_rows()
    # a title-free sheet with the header on row 2 and a blank row between records
    sheet = [[None], rows[0], rows[1], rows[2], [None], rows[3], rows[4]]
    _write_xlsx(p, {"Patienten": sheet, "Codes": [["code", "label"], [1, "R0"]]})
    t = read_table(p)
    assert t.format == "excel" and t.source == "registry.xlsx"
    assert_mixed(t)
    assert t.rows.tolist() == [3, 4, 6, 7]
    assert t.sha256 == sha(p)
    codes = read_table(p, sheet="Codes")
    assert codes.frame.to_dict("list") == {"code": [1], "label": ["R0"]}
    assert read_table(p, sheet=1).frame.equals(codes.frame)
    with pytest.raises(CohortError, match="no sheet named 'Nope'.*'Patienten', 'Codes'"):
        read_table(p, sheet="Nope")


def test_excel_mixed_type_column_keeps_raw_values(tmp_path):
    p = tmp_path / "mixed.xlsx"
    _write_xlsx(p, {"S": [["id", "age"], ["a", 61], ["b", "unk"], ["c", None]]})
    f = read_table(p).frame
    assert f["age"].tolist()[:2] == [61, "unk"] and _missing(f["age"].tolist()[2])


def test_excel_wrong_dimension_tag_reads_every_row(tmp_path):
    # some writers record a too-small <dimension>; openpyxl's read-only mode would stop there
    import re
    import zipfile

    src = tmp_path / "src.xlsx"
    _write_xlsx(src, {"S": [["id", "v"]] + [[i, f"x{i}"] for i in range(10)]})
    p = tmp_path / "dim.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(p, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:B3"/>', data)
            zout.writestr(item, data)
    t = read_table(p)
    assert len(t.frame) == 10 and t.rows[-1] == 11


# ----------------------------------------------------------------------------------------
# Parquet
# ----------------------------------------------------------------------------------------


def test_parquet_round_trip(tmp_path):
    p = tmp_path / "registry.parquet"
    mixed_frame().to_parquet(p, index=False)
    t = read_table(p)
    assert t.format == "parquet" and t.sha256 == sha(p) and t.decimal == "."
    assert_mixed(t)
    assert t.rows.tolist() == [1, 2, 3, 4]


def test_parquet_named_index_becomes_column(tmp_path):
    p = tmp_path / "indexed.parquet"
    mixed_frame().set_index("patient_id").to_parquet(p)
    t = read_table(p)
    assert_mixed(t)


def test_parquet_date32_arrives_as_datetime(tmp_path):
    import pyarrow.parquet as pq

    p = tmp_path / "dates.parquet"
    pq.write_table(pa.table({"d": pa.array([dt.date(2020, 1, 2), None], pa.date32())}), p)
    f = read_table(p).frame
    assert pd.api.types.is_datetime64_any_dtype(f["d"])


# ----------------------------------------------------------------------------------------
# SAS, Stata, SPSS
# ----------------------------------------------------------------------------------------

# Written by R haven 2.5.1 (there is no Python sas7bdat writer), zlib-compressed, base64:
# tests/io/make_sas7bdat.R makes it from the same data as mixed_frame().
_SAS7BDAT = (
    "eNrt2k1LAkEYB/Bnrcisg1GHqCCpS4HEbkoQdFDQJNAw9NDNBLcSTEU36JbdO3Xq1ifoFHQqkDx4iugQdOveB6ig"
    "F1t3Rl0H7YUIiv4/Dw/z35lnYGBhByRqOL/bXT0e7L8827dST1nZGxqz97uIxkkihd412DSKeCOOhcWg3+eNeiP+"
    "qKMd+kB1PZtXLB9pt95GFVQ72YksQjw3LSuyEpL16tbrbDCZ3tomAAAAAAAAAAAAAAAAAACA/8im/4hu+thosqP5"
    "aZHnQ8KqLM/DtUBixclzn5AXe1lNCXmB5x6hv6dNTm3yoq11XmiTAwAAAMDPeH2qGD4730ed31r/3f1/2/pntryy"
    "IuTGKVkt9dPqNjJL7fOYrMZYogHTmKwSjQjPzfhWFbmejBL7fJ7k+ziJXQ9kns8b+5q98B7zpkz8P3A2riXVtBZL"
    "JojS8U01vq5SYi0Z28yktY08USYbS8Q1tfr/YP+9rrqmS9jnQfeZ85swn1cLXR81sLeOKwK86fAnSezNCMuyEiqd"
    "plJqjt2bl/iNecqonuFrjz5lJpArnZQOVePJ1eOOWPUprtJBXuNNqBDgXWysnhtd3E0X9OXmq3ngAld1AAAAAAAA"
    "gC96A7fjrac="
)


def test_sas7bdat_round_trip(tmp_path):
    p = tmp_path / "registry.sas7bdat"
    p.write_bytes(zlib.decompress(base64.b64decode(_SAS7BDAT)))
    t = read_table(p)
    assert t.format == "sas7bdat" and t.sha256 == sha(p)
    assert_mixed(t, blank_is_missing=True)  # SAS has no missing character value: ""


def test_xport_round_trip(tmp_path):
    p = tmp_path / "registry.xpt"
    df = mixed_frame().rename(columns={"patient_id": "pid", "dfi_months": "dfi"})
    pyreadstat.write_xport(df, p, file_format_version=8)
    t = read_table(p)
    assert t.format == "xport"
    t = RawTable(**{**t.__dict__, "frame": t.frame.rename(
        columns={"pid": "patient_id", "dfi": "dfi_months"})})
    assert_mixed(t, blank_is_missing=True)


def test_stata_round_trip_with_value_labels(tmp_path):
    p = tmp_path / "registry.dta"
    df = mixed_frame()
    df["sex"] = [1, 2, 2, 3]
    pyreadstat.write_dta(df, p, variable_value_labels={"sex": {1: "female", 2: "male"}})
    t = read_table(p)
    assert t.format == "stata"
    assert_mixed_extra(t, blank_is_missing=True)
    assert t.frame["sex"].tolist() == ["female", "male", "male", 3]


def assert_mixed_extra(t, **kw):
    base = RawTable(**{**t.__dict__, "frame": t.frame.drop(columns=["sex"])})
    assert_mixed(base, **kw)


@pytest.mark.parametrize("suffix", [".sav", ".zsav"])
def test_spss_round_trip_with_value_labels(tmp_path, suffix):
    p = tmp_path / f"registry{suffix}"
    df = mixed_frame()
    df["sex"] = [1.0, 2.0, None, 1.0]
    pyreadstat.write_sav(df, p, compress=suffix == ".zsav",
                         variable_value_labels={"sex": {1.0: "female", 2.0: "male"}})
    t = read_table(p)
    assert t.format == "spss" and t.sha256 == sha(p)
    assert_mixed_extra(t, blank_is_missing=True)
    sexes = t.frame["sex"].tolist()
    assert sexes[:2] == ["female", "male"] and _missing(sexes[2]) and sexes[3] == "female"


# ----------------------------------------------------------------------------------------
# SQL databases
# ----------------------------------------------------------------------------------------


def _make_duckdb(path, extra_table=False):
    con = duckdb.connect(str(path))
    con.register("src", mixed_frame())
    con.execute("CREATE TABLE patients AS SELECT * FROM src")
    if extra_table:
        con.execute("CREATE TABLE codes (code INTEGER, label VARCHAR)")
        con.execute("INSERT INTO codes VALUES (1, 'R0'), (2, 'R1')")
    con.close()


def _make_sqlite(path, extra_table=False):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE patients (patient_id TEXT, name TEXT, age INTEGER, "
                "dfi_months REAL, op_date TEXT)")
    con.executemany(
        "INSERT INTO patients VALUES (?, ?, ?, ?, ?)",
        [(i, n, a, d, None if o is None else o.date().isoformat())
         for i, n, a, d, o in zip(IDS, NAMES, AGES, DFI, DATES, strict=True)],
    )
    if extra_table:
        con.execute("CREATE TABLE codes (code INTEGER, label TEXT)")
        con.execute("INSERT INTO codes VALUES (1, 'R0')")
    con.commit()
    con.close()


def test_duckdb_table_query_and_bare_path(tmp_path):
    p = tmp_path / "registry.duckdb"
    _make_duckdb(p)
    before = sha(p)
    t = read_table(p)  # one table: bare path works
    assert t.format == "duckdb" and t.sha256 == before
    assert t.source == 'registry.duckdb: SELECT * FROM "main"."patients"'
    assert_mixed(t)
    q = read_table(SqlSource(p, query="SELECT patient_id, age FROM patients WHERE age > 50"))
    assert q.source == "registry.duckdb: SELECT patient_id, age FROM patients WHERE age > 50"
    assert q.frame["patient_id"].tolist() == ["P001", "P004"]
    assert q.rows.tolist() == [1, 2]
    assert sha(p) == before  # opened read-only


def test_duckdb_several_tables(tmp_path):
    p = tmp_path / "multi.db"
    _make_duckdb(p, extra_table=True)
    with pytest.raises(CohortError, match=r"multi\.db: the database has 2 tables \(codes, patients\)"):
        read_table(p)
    t = read_table(SqlSource(p, table="codes"))
    assert t.frame.to_dict("list") == {"code": [1, 2], "label": ["R0", "R1"]}
    with pytest.raises(CohortError, match="no table named 'nope'"):
        read_table(SqlSource(p, table="nope"))


def test_sqlite_table_query_and_bare_path(tmp_path):
    p = tmp_path / "registry.sqlite"
    _make_sqlite(p)
    t = read_table(p)
    assert t.format == "sqlite" and t.sha256 == sha(p)
    assert t.frame["patient_id"].tolist() == IDS
    assert_column(t.frame, "name", NAMES)
    assert_column(t.frame, "age", AGES)
    assert_column(t.frame, "dfi_months", DFI)
    assert t.frame["op_date"].tolist()[0] == "2019-03-01"  # SQLite stores dates as text
    q = read_table(SqlSource(p, query="SELECT name FROM patients WHERE age IS NULL"))
    assert q.frame["name"].tolist() == ["Größe"]


def test_sqlite_several_tables_and_named_table(tmp_path):
    p = tmp_path / "multi.db"
    _make_sqlite(p, extra_table=True)
    with pytest.raises(CohortError, match="2 tables"):
        read_table(p)
    t = read_table(SqlSource(p, table="codes"))
    assert t.source == 'multi.db: SELECT * FROM "main"."codes"'
    assert t.frame.to_dict("list") == {"code": [1], "label": ["R0"]}


@pytest.mark.parametrize("maker", [_make_sqlite, _make_duckdb])
def test_sql_errors(tmp_path, maker):
    p = tmp_path / "reg.db"
    maker(p)
    with pytest.raises(CohortError, match=r"reg\.db: the SQL query failed .*says") as e:
        read_table(SqlSource(p, query="SELECT nope FROM patients"))
    assert e.value.__cause__ is not None
    with pytest.raises(CohortError, match="returned no rows"):
        read_table(SqlSource(p, query="SELECT * FROM patients WHERE 1 = 0"))
    with pytest.raises(CohortError, match="more than once"):
        read_table(SqlSource(p, query="SELECT patient_id, patient_id FROM patients"))
    with pytest.raises(CohortError, match="either a query or a table"):
        read_table(SqlSource(p, query="SELECT 1", table="patients"))


def test_sqlite_is_read_only(tmp_path):
    p = tmp_path / "reg.sqlite"
    _make_sqlite(p)
    with pytest.raises(CohortError, match="reg.sqlite"):
        read_table(SqlSource(p, query="DELETE FROM patients"))
    assert len(read_table(p).frame) == 4


# ----------------------------------------------------------------------------------------
# DataFrame
# ----------------------------------------------------------------------------------------


def test_dataframe_copied_not_mutated():
    df = mixed_frame()
    df.index = [10, 11, 12, 13]
    df.columns = [" patient_id", "name", "age ", "dfi_months", "op_date"]
    snapshot = df.copy()
    t = read_table(df)
    assert t.format == "dataframe" and t.source == "DataFrame" and t.sha256 is None
    assert_mixed(t)
    t.frame.iloc[0, 0] = "changed"
    pd.testing.assert_frame_equal(df, snapshot)


def test_rawtable_is_frozen(tmp_path):
    t = read_table(mixed_frame())
    with pytest.raises(AttributeError):
        t.source = "x"  # type: ignore[misc]
