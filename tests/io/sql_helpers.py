"""The small registry databases the SQL source tests read (test_read_sql_readonly.py,
test_sql_time_limit.py): one table ``patients`` of two rows, ('a', 1.5) and ('b', 30.0)."""

from __future__ import annotations

import sqlite3

import duckdb


def make_sqlite(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE patients (patient_id TEXT, os_months REAL)")
    con.executemany("INSERT INTO patients VALUES (?, ?)", [("a", 1.5), ("b", 30.0)])
    con.commit()
    con.close()


def make_duckdb(path):
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE patients (patient_id VARCHAR, os_months DOUBLE)")
    con.execute("INSERT INTO patients VALUES ('a', 1.5), ('b', 30.0)")
    con.close()
