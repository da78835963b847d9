"""DuckDB and SQLite databases: read-only connections, one SELECT only (SQLite authorizer,
DuckDB statement check), bounded by ``MAX_QUERY_SECONDS`` and ``MAX_QUERY_ROWS``."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import CohortError
from metsurv.io.read._common import (
    RawTable,
    SqlSource,
    _as_path,
    _check_columns,
    _check_file,
    _finish,
    _head,
    _kind_of,
    _limit,
    _record_numbers,
    _sha256,
)
from metsurv.io.read.errors import _KIND_LABEL, brief, over_limit, refusal

# SQL: DuckDB and SQLite
# --------------------------------------------------------------------------------------



#: Rows fetched per step, so the row limit is checked while reading, not after.
_FETCH_ROWS = 1 << 20


def _query_timeout(name: str, seconds: int) -> CohortError:
    return over_limit(name, f"the query ran longer than the limit MAX_QUERY_SECONDS = {seconds:,} "
                      "s and was stopped (a recursive query without an end?)",
                      "MAX_QUERY_SECONDS", seconds, "check the query")


def _query_too_long(name: str, rows: int) -> CohortError:
    return over_limit(name, f"the query returns more than the limit MAX_QUERY_ROWS = {rows:,} rows",
                      "MAX_QUERY_ROWS", rows, "narrow the query")


def _read_sql(src: SqlSource) -> RawTable:
    path = _as_path(src.path)
    name = path.name or str(path)
    if src.query is not None and src.table is not None:
        raise refusal(name, "give either a query or a table, not both", "drop one of them")
    for option, value in (("query", src.query), ("table", src.table)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise refusal(name, f"the {option} must be a non-empty string (got {value!r})",
                          f"pass the {option} as text")
    _check_file(path, name)
    kind = _kind_of(_head(path, name, 64))
    if kind not in ("sqlite", "duckdb"):
        raise refusal(name, f"the file is not a DuckDB or SQLite database " f"(its bytes look "
                      f"like {_KIND_LABEL.get(kind, 'something else')})", "pass the database file "
                      "itself")
    sha = _sha256(path, name)
    if kind == "sqlite":
        columns, records, query = _sqlite_query(path, name, src)
    else:
        columns, records, query = _duckdb_query(path, name, src)
    label = f"{name}: {_short_query(query)}"
    names = _check_columns(columns, label)
    if isinstance(records, pd.DataFrame):
        frame = records
        frame.columns = names
    else:
        frame = pd.DataFrame.from_records(records, columns=names, coerce_float=True)
        _exact_sql_integers(frame, records)
    if len(frame) == 0:
        raise refusal(label, "the query returned no rows", "check the query " "(a WHERE clause "
                      "that matches nothing?) or the table's contents")
    frame = _finish(frame, label)
    return RawTable(frame=frame, source=label, format=kind, rows=_record_numbers(len(frame)),
                    sha256=sha, encoding=None, delimiter=None, decimal=".")


def _exact_sql_integers(frame: pd.DataFrame, records: list[tuple]) -> None:
    """Integer columns with a NULL as nullable Int64, not float64 (which rounds ids above
    2**53); only float columns holding a NaN are checked, in C (``pd.array``)."""
    for j in range(frame.shape[1]):
        col = frame.iloc[:, j]
        if col.dtype != np.float64 or not col.isna().any():
            continue
        values = [r[j] for r in records]
        if all(v is None or type(v) is int for v in values):
            try:
                frame.isetitem(j, pd.array(values, dtype="Int64"))
            except (OverflowError, TypeError, ValueError):
                pass  # beyond int64: stays as read


def _short_query(query: str, limit: int = 100) -> str:
    text = " ".join(query.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pick_table(name: str, src: SqlSource, tables: list[tuple[str, str]],
                default_schema: str) -> str:
    """Resolve ``src.table`` (or the only table) to a quoted, qualified identifier."""
    shown = ", ".join(t if s == default_schema else f"{s}.{t}" for s, t in tables[:20])
    if src.table is None:
        if len(tables) == 1:
            schema, table = tables[0]
        elif not tables:
            raise refusal(name, "the database has no tables", "pass the right file")
        else:
            raise refusal(name, f"the database has {len(tables)} tables ({shown})",
                          "choose one with SqlSource(path, table=...) or give a query")
    else:
        matches = [(s, t) for s, t in tables if t == src.table or f"{s}.{t}" == src.table]
        if not matches:
            matches = [(s, t) for s, t in tables if t.lower() == src.table.lower()
                       or f"{s}.{t}".lower() == src.table.lower()]
        if len(matches) != 1:
            raise refusal(name, f"there is no table named {src.table!r} " f"(the database has "
                          f"{shown or 'no tables'})", "pass one of those")
        schema, table = matches[0]
    return f"{_quote_ident(schema)}.{_quote_ident(table)}"


def _check_sqlite_complete(path: Path, name: str) -> None:
    """The header records the database size in pages (when its version counter is valid);
    a shorter file was cut off, and SQLite may not notice when it reads only early pages."""
    head = _head(path, name, 100)
    if len(head) < 100:
        raise refusal(name, "the SQLite database is incomplete (shorter than its header)",
                      "copy or export the database again")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    valid = head[24:28] == head[92:96] and pages > 0
    if valid and path.stat().st_size < pages * page_size:
        raise refusal(name, f"the SQLite database is incomplete (the file is shorter than the "
                      f"{pages} pages its header announces)", "copy or export the database again")


#: (schema, table) of every user table, per database engine.
_SQLITE_TABLES = ("SELECT 'main', name FROM sqlite_master WHERE type IN ('table', 'view') "
                  "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
_DUCKDB_TABLES = ("SELECT table_schema, table_name FROM information_schema.tables "
                  "WHERE table_catalog = current_database() "
                  "AND table_schema NOT IN ('information_schema', 'pg_catalog') "
                  "ORDER BY table_schema, table_name")


def _run_query(con: Any, name: str, src: SqlSource, list_tables: str, engine: str):
    """Run the user's query, or SELECT * from the one table named or present; (query, cursor,
    column names). Same DB-API steps for SQLite and DuckDB; errors are the caller's to word."""
    if src.query is None:
        found = con.execute(list_tables).fetchall()
        query = f"SELECT * FROM {_pick_table(name, src, found, 'main')}"
    else:
        query = src.query
    cur = con.execute(query)
    if cur.description is None:
        raise _not_a_select(name, engine, query)
    return query, cur, [d[0] for d in cur.description]


def _not_a_select(name: str, engine: str, query: str, refused: str | None = None) -> CohortError:
    """The one message for a query that is not a single SELECT (metsurv only reads)."""
    why = f" ({engine} refused: {refused})" if refused else ""
    return refusal(name, f"only one SELECT statement is allowed, and the query "
                   f"({_short_query(query, 60)}) is not one{why}", "metsurv opens databases "
                   "read-only and " "never writes, attaches or copies: give a single SELECT query")


#: SQLite authorizer action codes (sqlite3.h); those not listed in _SQLITE_ALLOWED are denied.
_SQLITE_ACTIONS = {
    1: "CREATE INDEX", 2: "CREATE TABLE", 3: "CREATE TEMP INDEX", 4: "CREATE TEMP TABLE",
    5: "CREATE TEMP TRIGGER", 6: "CREATE TEMP VIEW", 7: "CREATE TRIGGER", 8: "CREATE VIEW",
    9: "DELETE", 10: "DROP INDEX", 11: "DROP TABLE", 12: "DROP TEMP INDEX",
    13: "DROP TEMP TABLE", 14: "DROP TEMP TRIGGER", 15: "DROP TEMP VIEW", 16: "DROP TRIGGER",
    17: "DROP VIEW", 18: "INSERT", 19: "PRAGMA", 20: "READ", 21: "SELECT", 22: "TRANSACTION",
    23: "UPDATE", 24: "ATTACH (or VACUUM)", 25: "DETACH", 26: "ALTER TABLE", 27: "REINDEX",
    28: "ANALYZE", 29: "CREATE VIRTUAL TABLE", 30: "DROP VIRTUAL TABLE", 31: "FUNCTION",
    32: "SAVEPOINT", 33: "RECURSIVE",
}
_SQLITE_ALLOWED = {20, 21, 31, 33}  # READ, SELECT, FUNCTION, RECURSIVE (WITH RECURSIVE)
#: Core or common extension functions that reach outside the database or a pointer.
_SQLITE_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile",
                               "edit"})


def _sqlite_authorizer(denied: list[str]):
    """An authorizer that lets a connection only read: SELECT, READ and ordinary functions.
    No PRAGMA (the reader needs none; even the table-valued pragma_*() functions ask to
    UPDATE sqlite_master). Everything else is denied at prepare time, before anything runs; ATTACH
    is denied too, which also stops ``VACUUM INTO`` (it attaches its target file). The name
    of the first denied action is kept in ``denied`` for the message."""

    def authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None,
                  _trigger: str | None) -> int:
        if action in _SQLITE_ALLOWED and not (
                action == 31 and (arg2 or "").lower() in _SQLITE_FUNCTIONS):
            return sqlite3.SQLITE_OK
        what = _SQLITE_ACTIONS.get(action, f"action {action}")
        if action == 31:
            what = f"the function {arg2}()"
        elif action == 19:
            what = f"PRAGMA {arg1}"
        denied.append(what)
        return sqlite3.SQLITE_DENY

    return authorize


def _sqlite_query(path: Path, name: str, src: SqlSource):
    _check_sqlite_complete(path, name)
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise refusal(name, f"the SQLite database cannot be opened ({brief(exc, 100)})",
                      "check the file and its permissions") from exc
    # mode=ro stops writes to this file, not a new file: VACUUM INTO and ATTACH create
    # one. The authorizer lets only reads through; no attached database is possible at all.
    denied: list[str] = []
    con.set_authorizer(_sqlite_authorizer(denied))
    con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    seconds, max_rows = _limit("MAX_QUERY_SECONDS", name), _limit("MAX_QUERY_ROWS", name)
    deadline = time.monotonic() + seconds
    expired: list[bool] = []

    def over_time() -> int:
        # called every few thousand VM steps; non-zero aborts the statement
        if time.monotonic() > deadline:
            expired.append(True)
            return 1
        return 0

    con.set_progress_handler(over_time, 10_000)
    query = src.query if src.query is not None else ""
    try:
        try:
            query, cur, columns = _run_query(con, name, src, _SQLITE_TABLES, "SQLite")
            records: list = []
            while chunk := cur.fetchmany(_FETCH_ROWS):
                records += chunk
                if len(records) > max_rows:
                    raise _query_too_long(name, max_rows)
        except CohortError:
            raise
        except sqlite3.OperationalError as exc:
            if expired:
                raise _query_timeout(name, seconds) from exc
            raise _sqlite_error(name, query, denied, exc) from exc
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            raise _sqlite_error(name, query, denied, exc) from exc
    finally:
        con.close()
    return columns, records, query


def _sqlite_error(name: str, query: str, denied: list[str], exc: Exception) -> CohortError:
    """The CohortError for an exception SQLite raised while running the user's query (a
    ProgrammingError other than "more than one statement" is a bug here: re-raised)."""
    if isinstance(exc, sqlite3.ProgrammingError):
        if "one statement" not in str(exc):
            raise exc
        return refusal(name, "the query holds more than one statement, but only one SELECT "
                       "statement is allowed", "remove everything after the first ';'")
    if denied:
        shown = ", ".join(dict.fromkeys(denied[:20]))
        return _not_a_select(name, "SQLite", query, shown)
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return refusal(name, f"the SQLite database is damaged (SQLite says: {brief(exc, 120)})",
                       "copy or export the database again")
    return refusal(name, f"the SQL query failed (SQLite says: {brief(exc, 120)})",
                   "check the query against the database's tables and columns")


_DUCKDB_LOCK = re.compile(r"\b(?:could not set lock|conflicting lock)\b")


def _duckdb_query(path: Path, name: str, src: SqlSource):
    import duckdb

    try:
        # an absolute path (never a "md:" / "s3://"-style name), read-only, and no
        # extension installs or file/network access from inside the query
        con = duckdb.connect(
            str(path.resolve()), read_only=True,
            config={"autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                    "enable_external_access": False,
                    # no SET can loosen the settings above from inside a query
                    "lock_configuration": True},
        )
    except Exception as exc:
        text = str(exc).lower()
        # the words of DuckDB's lock error only: "lock" alone also matches "block" (a
        # damaged file's "invalid block" must not be blamed on another program)
        if _DUCKDB_LOCK.search(text):
            todo = "close the other program that has it open and try again"
        elif "version" in text or "storage" in text:
            todo = "export it again with a DuckDB version compatible with the installed one"
        else:
            todo = "the file is probably damaged or incomplete: copy or export it again"
        raise refusal(name, f"the DuckDB database cannot be opened (DuckDB says: "
                      f"{brief(exc, 120)})", f"{todo}") from exc
    seconds, max_rows = _limit("MAX_QUERY_SECONDS", name), _limit("MAX_QUERY_ROWS", name)
    expired = threading.Event()

    def stop() -> None:
        # DuckDB has no progress callback: interrupt() from another thread aborts the
        # running query with an InterruptException
        expired.set()
        con.interrupt()

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    query = src.query if src.query is not None else ""
    try:
        try:
            if src.query is not None:
                _duckdb_one_select(con, name, src.query)
            query, rel, columns = _run_query(con, name, src, _DUCKDB_TABLES, "DuckDB")
            _check_columns(columns, f"{name}: {_short_query(query)}")
            frame = _duckdb_fetch(rel, name, max_rows)
        except CohortError:
            raise
        except Exception as exc:
            if expired.is_set():
                raise _query_timeout(name, seconds) from exc
            if isinstance(exc, duckdb.IOException | duckdb.SerializationException) or (
                    "corrupt" in str(exc).lower()):
                raise refusal(name, f"the DuckDB database is damaged or incomplete "
                              f"(DuckDB says: {brief(exc, 120)})", "copy or export the "
                              "database again") from exc
            if isinstance(exc, duckdb.PermissionException):
                raise refusal(name, f"the query reaches outside the database (DuckDB says: "
                              f"{brief(exc, 120)})", "metsurv reads only the database file itself: "
                              "query its tables only") from exc
            raise refusal(name, f"the SQL query failed (DuckDB says: {brief(exc, 120)})",
                          "check the query against the database's tables and columns") from exc
    finally:
        timer.cancel()
        con.close()
    return columns, frame, query


def _duckdb_fetch(rel: Any, name: str, max_rows: int) -> pd.DataFrame:
    """The result as one DataFrame, fetched in chunks so the row limit holds while reading
    (one chunk, the usual case, is exactly ``fetch_df()``)."""
    chunks = []
    rows = 0
    while True:
        chunk = rel.fetch_df_chunk(max(1, _FETCH_ROWS // 2048))
        if len(chunk) == 0:
            break
        rows += len(chunk)
        if rows > max_rows:
            raise _query_too_long(name, max_rows)
        chunks.append(chunk)
    if not chunks:
        return chunk
    if len(chunks) == 1:
        return chunks[0]
    return pd.concat(chunks, ignore_index=True)


def _duckdb_one_select(con: Any, name: str, query: str) -> None:
    """DuckDB runs every statement of a script and returns the last result: allow one
    SELECT only (read-only mode and no external access already refuse writes and files)."""
    import duckdb

    try:
        statements = con.extract_statements(query)
    except duckdb.Error:
        return  # a syntax error: running the query reports it with DuckDB's own words
    if len(statements) > 1:
        raise refusal(name, f"the query holds {len(statements)} statements, but only one SELECT "
                      "statement is allowed", "remove everything after the first ';'")
    if statements and statements[0].type != duckdb.StatementType.SELECT:
        raise _not_a_select(name, "DuckDB", query, f"{statements[0].type.name} statement")
