"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
import datetime as dt


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def export_date(text: str) -> dt.date:
    """``--today``: a calendar date written YYYY-MM-DD, not before 1900."""
    try:
        value = dt.date.fromisoformat(text.strip())
        if len(text.strip()) != 10:
            raise ValueError(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "must be a date written YYYY-MM-DD (the export date), e.g. 2024-06-30") from None
    if value.year < 1900:
        raise argparse.ArgumentTypeError(f"must be in 1900 or later, not {value.year}")
    return value


def add_source(p: argparse.ArgumentParser, resections: bool = True) -> None:
    p.add_argument("source", help="registry export: CSV/TSV, .xlsx, Parquet, SAS, Stata, SPSS, "
                                  "or a DuckDB/SQLite database file")
    p.add_argument("--mapping", help="mapping YAML (docs/mapping.md)")
    p.add_argument("--table", help="database file: the table to read")
    p.add_argument("--query", help="database file: the SQL query to run")
    p.add_argument("--today", type=export_date, metavar="YYYY-MM-DD",
                   help="the export date: a later date in the data is in the future, "
                   "implausible (default: the machine's date)")
    if resections:
        p.add_argument("--resections", help="resections table (one row per metastasectomy)")


def add_survival(p: argparse.ArgumentParser) -> None:
    """--time/--event (a plain survival table), --start (delayed entry), --weights."""
    p.add_argument("--time", help="time column of any survival table (default os_months)")
    p.add_argument("--event", help="event column (1/0, true/false; default os_event)")
    p.add_argument("--start", metavar="COL",
                   help="entry time column: delayed entry (left truncation) or the start of "
                   "(start, stop] intervals, R Surv(start, time, event). A cohort with "
                   "entry_months uses it by default; the column used is printed")
    p.add_argument("--weights", metavar="COL",
                   help="case weights column (>= 0, finite), R weights = COL")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="one JSON object on stdout (warnings also on stderr)")


def add_backend(p: argparse.ArgumentParser) -> None:
    """--workers N | --scheduler ADDRESS: where replicates run (metsurv.run_replicates):
    in-process by default, a local Dask cluster of N processes, or a running scheduler."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None,
                       help="start a local Dask cluster of N worker processes (default: run "
                       "in this process); results do not depend on it")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="use a running Dask scheduler, e.g. tcp://127.0.0.1:8786")


def column_list(text: str, option: str, example: str) -> list[str]:
    """The columns named by a comma-separated option (``--covariates a,b``), blanks dropped.

    Raises
    ------
    DataError
        The option names no column; the message shows ``example``.
    """
    from metsurv.errors import DataError

    columns = [c.strip() for c in text.split(",") if c.strip()]
    if not columns:
        raise DataError(f"{option} names no column; give at least one, e.g. {option} {example}")
    return columns
