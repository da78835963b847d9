"""Bounded work for database queries (issue 10, item 4): a query that never ends is stopped
at MAX_QUERY_SECONDS, a query that returns too many rows at MAX_QUERY_ROWS; both refused
with a CohortError naming the limit and its environment variable, and nothing is written."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from metsurv.errors import CohortError
from metsurv.io.read import SqlSource, read_table
from tests.io.sql_helpers import make_duckdb, make_sqlite

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT * FROM c"
#: An endless query that returns nothing until it ends (DuckDB materialises recursive CTEs).
ENDLESS_COUNT = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
                 "SELECT count(*) AS n FROM c")


def _state(folder, db):
    return sorted(os.listdir(folder)), hashlib.sha256(db.read_bytes()).hexdigest()


@pytest.fixture(params=["sqlite", "duckdb"])
def db(request, tmp_path):
    path = tmp_path / f"reg.{request.param}"
    (make_sqlite if request.param == "sqlite" else make_duckdb)(path)
    return path


@pytest.mark.parametrize("query", [ENDLESS, ENDLESS_COUNT], ids=["rows", "count"])
def test_endless_query_is_stopped_at_the_time_limit(db, tmp_path, monkeypatch, query):
    monkeypatch.setenv("METSURV_MAX_QUERY_SECONDS", "1")
    monkeypatch.setenv("METSURV_MAX_QUERY_ROWS", "500000000")  # the clock, not the rows
    before = _state(tmp_path, db)
    start = time.monotonic()
    with pytest.raises(CohortError, match="MAX_QUERY_SECONDS = 1 s") as err:
        read_table(SqlSource(db, query=query))
    assert time.monotonic() - start < 3
    assert "METSURV_MAX_QUERY_SECONDS" in str(err.value)
    assert _state(tmp_path, db) == before


def test_endless_query_is_stopped_at_the_row_limit(db, tmp_path, monkeypatch):
    monkeypatch.setenv("METSURV_MAX_QUERY_ROWS", "1000")
    before = _state(tmp_path, db)
    with pytest.raises(CohortError, match="MAX_QUERY_ROWS = 1,000 rows"):
        read_table(SqlSource(db, query=ENDLESS + " LIMIT 3000000"))
    assert _state(tmp_path, db) == before


def test_query_within_limits_reads_every_row(db, monkeypatch):
    monkeypatch.setenv("METSURV_MAX_QUERY_SECONDS", "5")
    monkeypatch.setenv("METSURV_MAX_QUERY_ROWS", "3")
    raw = read_table(SqlSource(db, query="SELECT * FROM patients"))
    assert len(raw.frame) == 2


def test_query_limit_not_a_number_is_refused(db, monkeypatch):
    monkeypatch.setenv("METSURV_MAX_QUERY_SECONDS", "soon")
    with pytest.raises(CohortError, match="METSURV_MAX_QUERY_SECONDS must be a positive"):
        read_table(SqlSource(db, query="SELECT * FROM patients"))
