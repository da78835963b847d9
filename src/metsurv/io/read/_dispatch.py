"""The entry point :func:`read_table`: pick the format family from the extension and the
file's first bytes, read, then turn time-zone aware columns into registry wall-clock time."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pandas as pd

from metsurv.errors import CohortError
from metsurv.io.read._common import (
    _EXPECTED_KIND,
    RawTable,
    SqlSource,
    _as_path,
    _check_file,
    _finish,
    _format_of,
    _head,
    _kind_of,
    _label_of,
    _record_numbers,
)
from metsurv.io.read.database import (
    _read_sql,
)
from metsurv.io.read.errors import brief, refusal, wrong_format
from metsurv.io.read.excel import (
    _read_excel,
)
from metsurv.io.read.parquet import _read_parquet
from metsurv.io.read.statistical import (
    _read_readstat,
)
from metsurv.io.read.text import (
    _read_csv,
)

# --------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------


def read_table(
    source: Any,
    *,
    sheet: str | int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    decimal: str | None = None,
    timezone: str | None = None,
) -> RawTable:
    """Read a registry export into a :class:`RawTable`.

    Parameters
    ----------
    source
        A path (``str`` / ``os.PathLike``) to CSV/TSV/.txt, Excel .xlsx, Parquet, SAS
        (.sas7bdat, .xpt), Stata (.dta), SPSS (.sav, .zsav) or a DuckDB/SQLite database
        file holding exactly one table; an :class:`SqlSource`; or a pandas DataFrame
        (copied, never mutated).
    sheet
        Excel only: sheet name or 0-based position among the worksheets. Default: the
        workbook's active sheet if it is visible, else the first visible one (never a
        hidden sheet); with several sheets, ``RawTable.notes`` says which was read.
    encoding, delimiter, decimal
        Delimited text only: override detection. ``decimal`` is only recorded (cells stay
        strings); the mapping layer uses it to parse numbers.
    timezone
        The registry's time zone (an IANA name such as ``"Europe/Rome"``). Time-zone aware
        timestamps (DuckDB TIMESTAMPTZ, Parquet timestamps with a zone) are converted to
        wall-clock time there, so a date is the registry's calendar day and never depends on
        the machine's zone. Default: the zone stored with the column (UTC for DuckDB,
        whose session zone would be the machine's), with a note naming it.

    Raises
    ------
    CohortError
        For every problem with the input as a whole (missing, empty, corrupt, wrong format,
        duplicated or blank column names, ragged rows, SQL errors, no rows), for a query
        that is not one SELECT, and for an input beyond a work limit (an .xlsx beyond
        :data:`MAX_XLSX_BYTES`, :data:`MAX_XLSX_RATIO`, :data:`MAX_XLSX_ROWS` or
        :data:`MAX_XLSX_CELLS`; a CSV header line beyond :data:`MAX_HEADER_BYTES`). Each limit
        is raised by the environment variable of the same name with ``METSURV_`` in front
        (e.g. ``METSURV_MAX_XLSX_ROWS=2000000``).
    """
    label = _label_of(source)
    zone = _zone(timezone, label)
    try:
        raw = _read_any(source, sheet=sheet, encoding=encoding, delimiter=delimiter,
                        decimal=decimal)
        return _local_times(raw, zone, timezone is None)
    except CohortError:
        raise
    except MemoryError as exc:
        raise refusal(label, "there is not enough memory to read the table",
                      "free memory or export fewer columns") from exc
    except Exception as exc:  # any library exception becomes one readable sentence
        raise refusal(label, f"the table could not be read ({brief(exc)})",
                      "check that the file is complete and export it again if needed") from exc


def _zone(timezone: Any, label: str):
    """The registry's zone as a ``zoneinfo.ZoneInfo`` (UTC when not given; then each
    column keeps the zone stored with it, see :func:`_local_times`)."""
    import zoneinfo

    if timezone is None:
        return zoneinfo.ZoneInfo("UTC")
    try:
        if not isinstance(timezone, str):
            raise ValueError(timezone)
        return zoneinfo.ZoneInfo(timezone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise refusal(label, f"timezone must be an IANA time zone name such as 'Europe/Rome' (got "
                      f"{timezone!r})", "correct 'timezone' in the mapping's source") from None


def _local_times(raw: RawTable, zone: Any, default: bool) -> RawTable:
    """Time-zone aware columns as naive wall-clock time in the registry's zone ``zone``
    (a date stays the registry's calendar day, whatever the machine's zone)."""
    frame = raw.frame
    aware = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    if not aware:
        return raw
    frame = frame.copy()
    zones = []
    for col in aware:
        if default and raw.format == "duckdb":
            # DuckDB hands TIMESTAMPTZ over in its session zone, which is the machine's:
            # UTC instead, the same on every machine
            zones.append(f"{col!r} (UTC)")
            frame[col] = frame[col].dt.tz_convert("UTC").dt.tz_localize(None)
        elif default:  # the zone the file states with the column
            zones.append(f"{col!r} ({frame[col].dt.tz})")
            frame[col] = frame[col].dt.tz_localize(None)
        else:
            frame[col] = frame[col].dt.tz_convert(zone).dt.tz_localize(None)
    notes = raw.notes
    if default:
        notes = (*notes, f"time-zone aware column(s) {', '.join(zones)} read as calendar days "
                 "in the zone stored with them; give the registry's zone as 'timezone:' in "
                 "the mapping's source (e.g. Europe/Rome) to convert them to it")
    return replace(raw, frame=frame, notes=notes)


def _read_any(source: Any, *, sheet, encoding, delimiter, decimal) -> RawTable:
    if isinstance(source, pd.DataFrame):
        return _read_dataframe(source)
    if isinstance(source, SqlSource):
        return _read_sql(source)
    if isinstance(source, bytes | str | os.PathLike):
        path = _as_path(source)
    else:
        raise CohortError(
            f"read_table: cannot read a {type(source).__name__}; "
            "pass a file path, an SqlSource or a pandas DataFrame."
        )
    name = path.name or str(path)
    _check_file(path, name)
    fmt = _format_of(path, name)
    if sheet is not None and fmt != "excel":
        # a mapping written for the centre's workbook, used on its CSV export: say so
        raise refusal(name, f"the mapping's source: sheet ({sheet!r}) is for Excel "
                      f"workbooks", f"this is a {fmt} file. Remove sheet from the mapping")
    if fmt == "csv":
        return _read_csv(path, name, encoding=encoding, delimiter=delimiter, decimal=decimal)
    if fmt == "database":
        return _read_sql(SqlSource(path))
    head = _head(path, name)
    expected = _EXPECTED_KIND[fmt]
    kind = _kind_of(head)
    if kind != expected:
        raise wrong_format(name, fmt, kind)
    if fmt == "excel":
        return _read_excel(path, name, sheet)
    if fmt == "parquet":
        return _read_parquet(path, name)
    return _read_readstat(path, name, fmt)



# DataFrame
# --------------------------------------------------------------------------------------


def _read_dataframe(df: pd.DataFrame) -> RawTable:
    label = "DataFrame"
    if isinstance(df.columns, pd.MultiIndex):
        raise refusal(label, "the columns have several header levels", "flatten them to one name "
                      "per column first")
    frame = df.copy(deep=True)
    frame = _finish(frame.reset_index(drop=True), label)
    return RawTable(frame=frame, source=label, format="dataframe",
                    rows=_record_numbers(len(frame)), sha256=None, encoding=None,
                    delimiter=None, decimal=".")


# --------------------------------------------------------------------------------------
