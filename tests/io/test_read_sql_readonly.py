"""Queries read, never write (issue 10, item 6): SQLite and DuckDB sources refuse every
statement that would write, attach, copy, load or reach another file, and create no file."""

from __future__ import annotations

import hashlib
import os

import pytest

from metsurv.errors import CohortError
from metsurv.io.read import SqlSource, read_table
from tests.io.sql_helpers import make_duckdb, make_sqlite


@pytest.fixture
def sqlite_db(tmp_path):
    make_sqlite(tmp_path / "reg.sqlite")
    return tmp_path / "reg.sqlite"


@pytest.fixture
def duckdb_db(tmp_path):
    make_duckdb(tmp_path / "reg.duckdb")
    return tmp_path / "reg.duckdb"


def _state(folder, db):
    """Every file in the folder, and the database's bytes and mtime."""
    st = os.stat(db)
    return (sorted(os.listdir(folder)), hashlib.sha256(db.read_bytes()).hexdigest(),
            st.st_mtime_ns, st.st_size)


def _refused_without_trace(tmp_path, db, query, match):
    before = _state(tmp_path, db)
    with pytest.raises(CohortError, match=match) as err:
        read_table(SqlSource(db, query=query))
    assert str(err.value).startswith(db.name + ":")
    assert "\n" not in str(err.value)
    assert _state(tmp_path, db) == before, "the query changed or created a file"
    return str(err.value)


WRITES = {
    "vacuum_into": "VACUUM INTO 'copy.db'",
    "vacuum": "VACUUM",
    "attach": "ATTACH 'attached.db' AS x",
    "attach_uri_rwc": "ATTACH 'file:attached2.db?mode=rwc' AS y",
    "insert": "INSERT INTO patients VALUES ('c', 2.0)",
    "update": "UPDATE patients SET os_months = 0",
    "delete": "DELETE FROM patients",
    "create_table": "CREATE TABLE t (a INTEGER)",
    "create_temp_table": "CREATE TEMP TABLE t AS SELECT * FROM patients",
    "drop": "DROP TABLE patients",
    "pragma_write": "PRAGMA user_version = 7",
    "pragma_read": "PRAGMA table_info(patients)",
    "pragma_function": "SELECT name FROM pragma_table_info('patients')",
    "cte_then_delete": "WITH x AS (SELECT 1) DELETE FROM patients",
}


@pytest.mark.parametrize("query", list(WRITES.values()), ids=list(WRITES))
def test_sqlite_query_that_writes_is_refused_and_leaves_no_file(tmp_path, sqlite_db, query):
    db = sqlite_db
    msg = _refused_without_trace(tmp_path, db, query, "only one SELECT statement is allowed")
    assert "SQLite refused" in msg


@pytest.mark.parametrize("query", ["SELECT 1; DELETE FROM patients",
                                   "SELECT * FROM patients; VACUUM INTO 'copy.db'",
                                   "SELECT 1 AS a; SELECT 2 AS b"])
def test_sqlite_several_statements_refused(tmp_path, sqlite_db, query):
    db = sqlite_db
    _refused_without_trace(tmp_path, db, query,
                           r"more than one statement, but only one SELECT statement is allowed")


def test_sqlite_load_extension_function_refused(tmp_path, sqlite_db):
    db = sqlite_db
    _refused_without_trace(tmp_path, db, "SELECT load_extension('x')",
                           r"only one SELECT.*load_extension")


def test_sqlite_reading_queries_still_work(tmp_path, sqlite_db):
    db = sqlite_db
    before = _state(tmp_path, db)
    q = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2) "
         "SELECT p.patient_id, upper(p.patient_id) AS up, n.i FROM patients p JOIN n "
         "ON n.i = p.rowid; ")
    t = read_table(SqlSource(db, query=q))
    assert t.frame["up"].tolist() == ["A", "B"]
    assert len(read_table(db).frame) == 2  # the one table, listed from sqlite_master
    assert _state(tmp_path, db) == before


DUCKDB_WRITES = {
    "copy_to": "COPY patients TO 'out.csv'",
    "copy_select_to": "COPY (SELECT * FROM patients) TO 'out.parquet' (FORMAT parquet)",
    "attach": "ATTACH 'attached.duckdb' AS x",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "insert": "INSERT INTO patients VALUES ('c', 2.0)",
    "create_table": "CREATE TABLE t AS SELECT 1 AS a",
    "drop": "DROP TABLE patients",
    "set_external_access": "SET enable_external_access = true",
    "export_database": "EXPORT DATABASE 'dump'",
}


@pytest.mark.parametrize("query", list(DUCKDB_WRITES.values()), ids=list(DUCKDB_WRITES))
def test_duckdb_query_that_writes_is_refused_and_leaves_no_file(tmp_path, duckdb_db, query):
    db = duckdb_db
    _refused_without_trace(tmp_path, db, query, "only one SELECT statement is allowed")


def test_duckdb_several_statements_refused(tmp_path, duckdb_db):
    db = duckdb_db
    _refused_without_trace(tmp_path, db, "SELECT 1 AS a; SELECT 2 AS b",
                           "holds 2 statements, but only one SELECT statement is allowed")
    _refused_without_trace(tmp_path, db, "SELECT * FROM patients; DELETE FROM patients",
                           "holds 2 statements")


@pytest.mark.parametrize("query", ["SELECT * FROM read_csv('other.csv')",
                                   "SELECT * FROM 'other.csv'",
                                   "SELECT * FROM read_text('other.csv')"])
def test_duckdb_select_of_another_file_refused(tmp_path, duckdb_db, query):
    db = duckdb_db
    (tmp_path / "other.csv").write_text("patient_id\nz\n")
    msg = _refused_without_trace(tmp_path, db, query, "reaches outside the database|failed")
    assert "patient_id" not in msg.split("says:")[0]


def test_duckdb_reading_queries_still_work(tmp_path, duckdb_db):
    db = duckdb_db
    before = _state(tmp_path, db)
    t = read_table(SqlSource(db, query="FROM patients WHERE os_months > 1 ORDER BY 1;"))
    assert t.frame["patient_id"].tolist() == ["a", "b"]
    assert _state(tmp_path, db) == before


@pytest.mark.parametrize("suffix,maker", [(".sqlite", make_sqlite), (".duckdb", make_duckdb)])
@pytest.mark.parametrize("query", ["VACUUM INTO 'copy.db'", "ATTACH 'x.db' AS x",
                                   "SELECT 1; DELETE FROM patients"])
def test_validate_cli_query_that_writes_exits_2_with_one_line(tmp_path, capsys, monkeypatch,
                                                               suffix, maker, query):
    from metsurv.cli import main

    db = tmp_path / f"reg{suffix}"
    maker(db)
    monkeypatch.chdir(tmp_path)  # a relative target would land here
    before = _state(tmp_path, db)
    assert main(["validate", str(db), "--query", query]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and db.name in err
    assert "one SELECT" in err or "syntax error" in err  # DuckDB has no VACUUM INTO
    assert _state(tmp_path, db) == before
