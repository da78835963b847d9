"""Read any registry export into a raw table: :func:`read_table`.

This is the first step of the loader (io.read -> io.mapping -> io.derive -> io.validate).
It does no interpretation at all: delimited text arrives as strings exactly as written
("", "99", "unk", "." included; dtype ``pd.ArrowDtype(pa.string())``, never NaN), typed
formats (Excel, Parquet, SAS, Stata, SPSS, DuckDB, SQLite) arrive with their native dtypes
(value labels applied, date formats as datetime64, missing as NaN/NaT/NA), and every record
carries the row number a user would look up in the source.

Safety: files are opened as local files only (no URI resolution, no decompression). A
query reads, never writes: DuckDB is opened read-only with extension installs, external
access and configuration changes disabled; SQLite in read-only mode (``mode=ro``) with an
authorizer that allows only SELECT, READ and ordinary functions (so no ATTACH, VACUUM INTO,
PRAGMA or write); either refuses more than one statement. Work is bounded: an .xlsx is
checked against :data:`MAX_XLSX_BYTES`, :data:`MAX_XLSX_RATIO`, :data:`MAX_XLSX_ROWS` and
:data:`MAX_XLSX_CELLS` before it is parsed, a CSV header line against
:data:`MAX_HEADER_BYTES`, a database query against :data:`MAX_QUERY_SECONDS` (wall clock)
and :data:`MAX_QUERY_ROWS`; each limit is raised by the environment variable ``METSURV_`` +
its name. The C parser for SAS/Stata/SPSS runs first in a forked child on Linux, so a crash
on a damaged file becomes a CohortError.

Every problem with the input as a whole raises :class:`metsurv.errors.CohortError` with one
sentence that names the file and says what to do; no other exception type escapes.
The module makes no network call and never unpickles or evaluates input.
"""

from __future__ import annotations

import codecs
import csv
import faulthandler
import hashlib
import io
import os
import re
import signal
import sqlite3
import sys
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import CohortError

__all__ = ["RawTable", "SqlSource", "read_table", "FORMATS", "MAX_HEADER_BYTES", "MAX_XLSX_BYTES",
           "MAX_XLSX_CELLS", "MAX_XLSX_RATIO", "MAX_XLSX_ROWS", "MAX_QUERY_SECONDS",
           "MAX_QUERY_ROWS"]

# --------------------------------------------------------------------------------------
# public contract
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlSource:
    """A query against a database file (DuckDB or SQLite, told apart by the file's bytes).

    ``query`` is run as given. ``table`` is shorthand for ``SELECT * FROM "table"``. With
    neither, the database must hold exactly one table (or view), which is read.
    """

    path: str | os.PathLike
    query: str | None = None
    table: str | None = None


@dataclass(frozen=True)
class RawTable:
    """A table as it stands in the source, plus where it came from.

    ``rows`` gives, per record, the row number a user would look up: for CSV/TSV the line
    number in the file (header = line 1, so the first record is usually 2), for Excel the
    sheet row number, for every other format the 1-based record number.
    """

    frame: pd.DataFrame
    source: str
    format: str
    rows: np.ndarray
    sha256: str | None
    encoding: str | None
    delimiter: str | None
    decimal: str
    #: Excel only: the title of the sheet that was read.
    sheet: str | None = None
    #: Facts about the reading that the loader reports as table-level findings, one sentence
    #: each (e.g. which sheet of a workbook with several was read, and why).
    notes: tuple[str, ...] = ()
    #: SAS/Stata/SPSS only: column -> name of its user format (value labels) whose labels are
    #: not in the file, or not for every value (a SAS catalog not exported). Its numbers are
    #: codes nobody can read: the mapping layer refuses to guess them for coded fields.
    unlabelled: dict[str, str] = field(default_factory=dict)


FORMATS = (
    "csv",
    "excel",
    "parquet",
    "sas7bdat",
    "xport",
    "stata",
    "spss",
    "duckdb",
    "sqlite",
    "dataframe",
)

_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".sas7bdat": "sas7bdat",
    ".xpt": "xport",
    ".xport": "xport",
    ".dta": "stata",
    ".sav": "spss",
    ".zsav": "spss",
    ".duckdb": "database",
    ".ddb": "database",
    ".db": "database",
    ".sqlite": "database",
    ".sqlite3": "database",
}

_SUPPORTED = (
    ".csv/.tsv/.txt, .xlsx, .parquet, .sas7bdat, .xpt, .dta, .sav/.zsav, "
    ".duckdb or .db/.sqlite"
)

_DELIMITERS = (",", ";", "\t", "|")
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_HEAD_BYTES = 1 << 16
_CHUNK = 1 << 24

# what a file's first bytes say it is
_SAS7BDAT_MAGIC = (
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\xc2\xea\x81\x60\xb3\x14\x11\xcf\xbd\x92\x08\x00\x09\xc7\x31\x8c\x18\x1f\x10\x11"
)
_KIND_LABEL = {
    "zip": "a ZIP archive (an Excel .xlsx workbook?)",
    "ole2": "an old-style Office file (a legacy .xls workbook or a password-protected one)",
    "parquet": "a Parquet file",
    "sqlite": "a SQLite database",
    "duckdb": "a DuckDB database",
    "sas7bdat": "a SAS .sas7bdat dataset",
    "xport": "a SAS transport (.xpt) file",
    "stata": "a Stata .dta file",
    "spss": "an SPSS .sav file",
    "gzip": "a gzip-compressed file",
    "pdf": "a PDF document",
    "text": "a text file",
    "binary": "binary data",
}
_KIND_EXT = {
    "zip": ".xlsx",
    "parquet": ".parquet",
    "sqlite": ".sqlite",
    "duckdb": ".duckdb",
    "sas7bdat": ".sas7bdat",
    "xport": ".xpt",
    "stata": ".dta",
    "spss": ".sav",
    "text": ".csv",
}
_EXPECTED_KIND = {
    "excel": "zip",
    "parquet": "parquet",
    "sas7bdat": "sas7bdat",
    "xport": "xport",
    "stata": "stata",
    "spss": "spss",
}
_FORMAT_LABEL = {
    "csv": "delimited text (CSV)",
    "excel": "an Excel .xlsx workbook",
    "parquet": "a Parquet file",
    "sas7bdat": "a SAS .sas7bdat dataset",
    "xport": "a SAS transport (.xpt) file",
    "stata": "a Stata .dta file",
    "spss": "an SPSS .sav/.zsav file",
    "database": "a DuckDB or SQLite database",
}


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
        raise CohortError(
            f"{label}: there is not enough memory to read the table; "
            "free memory or export fewer columns."
        ) from exc
    except Exception as exc:  # any library exception becomes one readable sentence
        raise CohortError(
            f"{label}: the table could not be read ({_brief(exc)}); "
            "check that the file is complete and export it again if needed."
        ) from exc


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
        raise CohortError(
            f"{label}: timezone must be an IANA time zone name such as 'Europe/Rome' (got "
            f"{timezone!r}); correct 'timezone' in the mapping's source."
        ) from None


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
        raise CohortError(f"{name}: the mapping's source: sheet ({sheet!r}) is for Excel "
                          f"workbooks; this is a {fmt} file. Remove sheet from the mapping.")
    if fmt == "csv":
        return _read_csv(path, name, encoding=encoding, delimiter=delimiter, decimal=decimal)
    if fmt == "database":
        return _read_sql(SqlSource(path))
    head = _head(path, name)
    expected = _EXPECTED_KIND[fmt]
    kind = _kind_of(head)
    if kind != expected:
        raise CohortError(_mismatch_message(name, fmt, kind))
    if fmt == "excel":
        return _read_excel(path, name, sheet)
    if fmt == "parquet":
        return _read_parquet(path, name)
    return _read_readstat(path, name, fmt)


# --------------------------------------------------------------------------------------
# helpers: names, files, magic bytes
# --------------------------------------------------------------------------------------


def _label_of(source: Any) -> str:
    try:
        if isinstance(source, pd.DataFrame):
            return "DataFrame"
        if isinstance(source, SqlSource):
            return Path(os.fsdecode(source.path)).name or "database"
        if isinstance(source, bytes | str | os.PathLike):
            return Path(os.fsdecode(source)).name or str(source)
    except Exception:  # noqa: BLE001 - a label must never fail
        pass
    return "read_table"


def _brief(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _as_path(source: Any) -> Path:
    try:
        return Path(os.fsdecode(source)).expanduser()
    except Exception as exc:
        raise CohortError(
            f"read_table: {source!r} is not a usable file path; pass the path as a string."
        ) from exc


def _format_of(path: Path, name: str) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    ext = suffixes[-1] if suffixes else ""
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    if ext in (".gz", ".bz2", ".zip", ".xz", ".zst", ".7z"):
        raise CohortError(
            f"{name}: compressed files are not read directly; "
            "extract it first and read the file inside."
        )
    if ext == ".xls":
        raise CohortError(
            f"{name}: the old Excel .xls format is not supported; "
            "open it in Excel and save it as .xlsx or CSV."
        )
    shown = f'"{ext}"' if ext else "no extension"
    raise CohortError(
        f"{name}: the file type ({shown}) is not supported; "
        f"export the table as one of {_SUPPORTED}."
    )


def _check_file(path: Path, name: str) -> None:
    try:
        if not path.exists():
            raise CohortError(
                f"{name}: the file does not exist ({path.absolute()}); check the path."
            )
        if path.is_dir():
            raise CohortError(
                f"{name}: this is a directory, not a file; pass the path of the export file."
            )
        size = path.stat().st_size
    except CohortError:
        raise
    except OSError as exc:
        raise CohortError(
            f"{name}: the file cannot be opened ({_brief(exc)}); check the path and permissions."
        ) from exc
    if size == 0:
        raise CohortError(
            f"{name}: the file is empty (0 bytes); export the table again with a header row."
        )


def _head(path: Path, name: str, n: int = _HEAD_BYTES) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise CohortError(
            f"{name}: the file cannot be read ({_brief(exc)}); check its permissions."
        ) from exc


def _sha256(path: Path, name: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as exc:
        raise CohortError(
            f"{name}: the file cannot be read ({_brief(exc)}); check its permissions."
        ) from exc
    return digest.hexdigest()


_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


def _kind_of(head: bytes) -> str:
    """What the first bytes of a file say it is."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole2"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if len(head) >= 12 and head[8:12] == b"DUCK":
        return "duckdb"
    if head.startswith(_SAS7BDAT_MAGIC):
        return "sas7bdat"
    if head.startswith(b"HEADER RECORD*******LIB") or head.startswith(b"HEADER RECORD*******LIBV8"):
        return "xport"
    if head.startswith(b"<stata_dta>") or (
        len(head) >= 4 and head[0] in (104, 105, 108, 110, 111, 113, 114, 115)
        and head[1] in (1, 2) and head[2] == 1 and head[3] == 0
    ):
        return "stata"
    if head.startswith(b"$FL2") or head.startswith(b"$FL3"):
        return "spss"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "text"
    if b"\x00" in head:
        return "binary"
    controls = sum(head.count(bytes([c])) for c in _CONTROL)
    if head and controls > max(2, len(head) // 100):
        return "binary"
    return "text"


def _mismatch_message(name: str, fmt: str, kind: str) -> str:
    what = _KIND_LABEL.get(kind, "something else")
    expected = _FORMAT_LABEL[fmt]
    ext = _KIND_EXT.get(kind)
    if ext is not None and not (fmt == "excel" and kind == "zip"):
        todo = f"rename it to {ext} if that is what it is, or export the table again"
    else:
        todo = "export the table again in the format its name says"
    return (
        f"{name}: the file is not {expected} as its name says (its bytes look like {what}); "
        f"{todo}."
    )


#: A column name made only of digits and separators (1, 2011-05-06, 4711-0815, 12,5) is a
#: value: no data dictionary names a column so. Used here and by io.load.
VALUE_LIKE_NAME = re.compile(r"[\d\s.,:;/+\-]+")


def headerless(label: str) -> CohortError:
    """The refusal of a header-less export; it never quotes the line (the first patient's
    id and dates)."""
    return CohortError(
        f"{label}: the first line looks like data, not a header (a column name made of "
        "digits, like a date or a number); export the table with its header row."
    )


def _check_columns(names: list[Any], label: str) -> list[str]:
    """Strip whitespace/BOM from column names and reject blank or duplicated ones."""
    clean: list[str] = []
    for raw in names:
        text = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
        clean.append(text.strip().strip("\ufeff").strip())
    if not clean:
        raise CohortError(
            f"{label}: the table has no columns; export it again with a header row."
        )
    blank = [i + 1 for i, c in enumerate(clean) if c == ""]
    if blank:
        where = ", ".join(str(i) for i in blank[:10]) + (" …" if len(blank) > 10 else "")
        raise CohortError(
            f"{label}: column{'s' if len(blank) > 1 else ''} {where} "
            f"{'have' if len(blank) > 1 else 'has'} no name in the header row; "
            "give every column a name and export the table again."
        )
    seen: dict[str, int] = {}
    for c in clean:
        seen[c] = seen.get(c, 0) + 1
    dups = [c for c, k in seen.items() if k > 1]
    if any(VALUE_LIKE_NAME.fullmatch(str(c)) for c in dups):
        # a header-less export: its "names" are the first patient's values (dates, ids),
        # which an error message must not echo
        raise headerless(label)
    if dups:
        shown = ", ".join(f'"{c}"' for c in dups[:10]) + (" …" if len(dups) > 10 else "")
        raise CohortError(
            f"{label}: the column name{'s' if len(dups) > 1 else ''} {shown} "
            f"appear{'' if len(dups) > 1 else 's'} more than once; "
            "rename the duplicates so that every column name is unique."
        )
    return clean


def _no_rows(label: str) -> CohortError:
    return CohortError(
        f"{label}: the table has columns but no rows; export it again including the records."
    )


def _refuse_nested(frame: pd.DataFrame, label: str) -> None:
    """A column of lists, maps, arrays or raw bytes (Parquet/Arrow nested and binary types,
    a DuckDB LIST, a DataFrame cell holding a list) is no registry field: refuse it by name
    instead of failing later on an unhashable value. ``infer_dtype`` scans in C, so plain
    text and number columns cost little; only an already mixed column is looked at in Python."""
    for name in frame.columns:
        col = frame[name]
        if col.dtype != object:
            continue
        kind = pd.api.types.infer_dtype(col, skipna=True)
        if kind not in ("mixed", "bytes", "mixed-integer", "unknown-array"):
            continue
        nested = col.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray, bytes,
                                                   bytearray, memoryview)))
        if nested.any():
            what = "binary data" if kind == "bytes" else "nested values (lists or maps)"
            raise CohortError(
                f"{label}: column {name!r} holds {what}, which no registry field can take; "
                "export it as plain text or numbers, or leave the column out."
            )


def _finish(frame: pd.DataFrame, label: str, check_types: bool = True) -> pd.DataFrame:
    frame.columns = _check_columns(list(frame.columns), label)
    if len(frame) == 0:
        raise _no_rows(label)
    if check_types:  # delimited text holds only strings: nothing nested to find
        _refuse_nested(frame, label)
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
            and frame.index.step == 1):
        frame = frame.reset_index(drop=True)
    return frame


def _record_numbers(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.int64)


# --------------------------------------------------------------------------------------
# DataFrame
# --------------------------------------------------------------------------------------


def _read_dataframe(df: pd.DataFrame) -> RawTable:
    label = "DataFrame"
    if isinstance(df.columns, pd.MultiIndex):
        raise CohortError(
            f"{label}: the columns have several header levels; "
            "flatten them to one name per column first."
        )
    frame = df.copy(deep=True)
    frame = _finish(frame.reset_index(drop=True), label)
    return RawTable(frame=frame, source=label, format="dataframe",
                    rows=_record_numbers(len(frame)), sha256=None, encoding=None,
                    delimiter=None, decimal=".")


# --------------------------------------------------------------------------------------
# delimited text
# --------------------------------------------------------------------------------------


@dataclass
class _TextScan:
    sha256: str
    size: int
    utf8: bool
    has_c1: bool  # bytes 0x80-0x9F (cp1252 punctuation when the file is not UTF-8)
    has_nul: bool
    newlines: int  # number of b"\n"
    trailing_newlines: int  # b"\n" in the run of CR/LF at the very end
    lone_cr: bool  # a CR not followed by LF (old Mac line ends, or stray CRs)


def _scan_text(path: Path, name: str, check_utf8: bool) -> _TextScan:
    """One streaming pass: checksum, UTF-8 validity, NUL bytes, line count."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")() if check_utf8 else None
    utf8 = check_utf8
    has_c1 = has_nul = False
    newlines = size = crs = crlfs = 0
    tail = b""
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                size += len(chunk)
                digest.update(chunk)
                newlines += chunk.count(b"\n")
                if not has_nul and b"\x00" in chunk:
                    has_nul = True
                if b"\r" in chunk or tail.endswith(b"\r"):
                    crs += chunk.count(b"\r")
                    crlfs += chunk.count(b"\r\n") + (tail.endswith(b"\r")
                                                     and chunk.startswith(b"\n"))
                if utf8:
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError:
                        utf8 = False
                if not utf8 and not has_c1 and _has_c1(chunk):
                    has_c1 = True
                tail = chunk[-4096:] if len(chunk) >= 4096 else (tail + chunk)[-4096:]
            if utf8:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8 = False
            if not utf8 and not has_c1 and check_utf8:
                # the C1 check only started once UTF-8 failed: redo it from the start
                fh.seek(0)
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    if _has_c1(chunk):
                        has_c1 = True
                        break
    except OSError as exc:
        raise CohortError(
            f"{name}: the file cannot be read ({_brief(exc)}); check its permissions."
        ) from exc
    stripped = tail.rstrip(b"\r\n")
    trailing = tail[len(stripped):].count(b"\n")
    return _TextScan(digest.hexdigest(), size, utf8, has_c1, has_nul, newlines, trailing,
                     crs != crlfs)


_C1 = [bytes([b]) for b in range(0x80, 0xA0)]


def _has_c1(chunk: bytes) -> bool:
    """Any byte 0x80-0x9F (cp1252 punctuation such as the euro sign, dashes and quotes)."""
    return any(b in chunk for b in _C1)  # memchr per byte value: far faster than a regex


#: A header line longer than this is refused: no registry export has one (5,000 columns of
#: 60-character names are 300 KB), and reading further would only find a file that is not
#: delimited text. Raise it with the environment variable METSURV_MAX_HEADER_BYTES.
MAX_HEADER_BYTES = 16 << 20


def _text_head(path: Path, name: str, enc: str) -> tuple[str, int]:
    """The start of the file as text: the whole header line, however long, plus about
    :data:`_HEAD_BYTES` more (cut at a line end), and the header's length in bytes.

    The header ends at the first line break outside double quotes (after any blank lines);
    reading stops there, or with a CohortError at :data:`MAX_HEADER_BYTES`.
    """
    limit = _limit("MAX_HEADER_BYTES", name)
    decoder = codecs.getincrementaldecoder(enc)(errors="replace")
    text = ""
    consumed = 0
    header_end = -1  # index in text just after the header's line break
    scan_from = -1  # where to look for the header's end; -1: only blank lines seen so far
    quotes = 0  # double quotes seen between the header's start and scan_from
    eof = False
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(max(_HEAD_BYTES, consumed))  # doubling: linear in the header
                eof = not chunk
                text += decoder.decode(chunk, final=eof)
                consumed += len(chunk)
                if header_end < 0:
                    if scan_from < 0:  # blank lines before the header are skipped
                        start = len(text) - len(text.lstrip("\ufeff\r\n"))
                        scan_from = start if start < len(text) else -1
                    if scan_from >= 0:
                        header_end, scan_from, quotes = _line_end(text, scan_from, quotes)
                    if header_end < 0 and consumed > limit:
                        raise CohortError(
                            f"{name}: the header line is longer than {limit >> 20} MiB (or "
                            "has a quote that is never closed), so this is not a delimited "
                            "table metsurv can read; check the file, or raise the limit with "
                            "the environment variable METSURV_MAX_HEADER_BYTES."
                        )
                if eof or (header_end >= 0 and consumed >= _HEAD_BYTES
                           and len(text) - header_end >= _HEAD_BYTES // 2):
                    break
    except OSError as exc:
        raise CohortError(
            f"{name}: the file cannot be read ({_brief(exc)}); check its permissions."
        ) from exc
    if not eof:  # drop a partial last line; the header itself is always kept whole
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut + 1 > max(header_end, 0):
            text = text[: cut + 1]
    header_bytes = len(text[: header_end if header_end >= 0 else len(text)].encode(
        "utf-8", errors="replace"))
    return text, header_bytes


def _line_end(text: str, pos: int, quotes: int) -> tuple[int, int, int]:
    """First line break at or after ``pos`` with an even number of double quotes before
    it (so outside a quoted value); (index after it or -1, where to resume, quotes seen)."""
    while True:
        nl = min((i for i in (text.find("\n", pos), text.find("\r", pos)) if i >= 0),
                 default=-1)
        if nl < 0:
            return -1, len(text), quotes + text.count('"', pos)
        quotes += text.count('"', pos, nl)
        if quotes % 2 == 0:
            end = nl + 1
            if text[nl] == "\r" and text[end:end + 1] == "\n":
                end += 1
            return end, end, quotes
        pos = nl + 1


def _limit(what: str, name: str) -> int:
    """The work limit ``what`` (a module constant such as :data:`MAX_XLSX_ROWS`), raised (or
    lowered) by the environment variable ``METSURV_`` + ``what`` holding a whole number."""
    var, default = f"METSURV_{what}", globals()[what]
    raw = os.environ.get(var)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise CohortError(
            f"{name}: the environment variable {var} must be a positive whole number "
            f"(got {raw!r}); set it to e.g. {default} or unset it."
        )
    return value


def _raise_with(what: str, limit: int) -> str:
    """The end of every over-the-limit message: how to raise the limit ``what``."""
    return f"the environment variable METSURV_{what} (e.g. METSURV_{what}={2 * limit})"


def _sniff_delimiter(text: str, preferred: str | None) -> str:
    """Pick the candidate that splits the head into the most consistent, widest rows."""
    lines = text.splitlines(keepends=True)
    sample = "".join(lines[:200])
    complete = len(lines) <= 200 and text.endswith(("\n", "\r"))
    order = list(_DELIMITERS)
    if preferred in order:
        order.remove(preferred)
        order.insert(0, preferred)
    best: tuple | None = None
    best_delim = None
    for rank, d in enumerate(order):
        try:
            reader = csv.reader(io.StringIO(sample, newline=""), delimiter=d, quotechar='"')
            rows = [r for r in reader if r]
        except csv.Error:
            continue
        if not complete and len(rows) > 2:
            rows = rows[:-1]  # the last line of a cut head may be partial
        if not rows:
            continue
        counts: dict[int, int] = {}
        for r in rows[1:] or rows:
            counts[len(r)] = counts.get(len(r), 0) + 1
        width, hits = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        if width < 2:
            continue
        fraction = hits / sum(counts.values())
        score = (len(rows[0]) == width, round(fraction, 2), width, -rank)
        if best is None or score > best:
            best, best_delim = score, d
    if best_delim is not None:
        return best_delim
    try:
        return csv.Sniffer().sniff(sample[:20000], delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        return preferred or ","


_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
_DECIMAL_POINT = re.compile(r"^\s*-?\d+\.\d+\s*$")


def _sniff_decimal(text: str, delim: str) -> str:
    if delim == ",":
        return "."
    commas = points = 0
    lines = text.splitlines()[1:500]
    try:
        for row in csv.reader(lines, delimiter=delim, quotechar='"'):
            for cell in row:
                if _DECIMAL_COMMA.match(cell):
                    commas += 1
                elif _DECIMAL_POINT.match(cell):
                    points += 1
    except csv.Error:
        return "."
    return "," if commas > points else "."


def _resolve_encoding(scan: _TextScan, head: bytes, name: str) -> str:
    if head.startswith(codecs.BOM_UTF8):
        if scan.utf8:
            return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if scan.utf8:
        return "utf-8"
    return "cp1252" if scan.has_c1 and _cp1252_ok(head) else "latin-1"


def _cp1252_ok(head: bytes) -> bool:
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def _read_csv(path: Path, name: str, *, encoding: str | None, delimiter: str | None,
              decimal: str | None) -> RawTable:
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError) as exc:
            raise CohortError(
                f"{name}: the encoding {encoding!r} is unknown; "
                "pass e.g. 'utf-8', 'latin-1' or 'cp1252', or leave it unset to detect it."
            ) from exc
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1
                                  or delimiter in '"\r\n'):
        raise CohortError(
            f"{name}: the delimiter must be a single character such as ',' ';' '\\t' or '|' "
            f"(got {delimiter!r}); pass one of those or leave it unset to detect it."
        )
    if decimal is not None and decimal not in (".", ","):
        raise CohortError(
            f"{name}: the decimal mark must be '.' or ',' (got {decimal!r}); "
            "pass one of those or leave it unset to detect it."
        )

    head = _head(path, name)
    kind = _kind_of(head)
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        encoding is not None and codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    )
    if not utf16 and kind not in ("text",):
        raise CohortError(_binary_message(name, kind))
    scan = _scan_text(path, name, check_utf8=encoding is None and not utf16)
    if scan.has_nul and not utf16:
        raise CohortError(_binary_message(name, "binary"))
    enc = encoding or _resolve_encoding(scan, head, name)
    if encoding is None and not scan.utf8 and not utf16 and len(head) >= 64 and (
            sum(head.count(bytes([b])) for b in range(0x80, 0x100)) > 0.3 * len(head)):
        # latin-1 decodes any byte, but real text is not one third accented letters
        raise CohortError(
            f"{name}: the file is not delimited text (its bytes are neither UTF-8 nor "
            "plausible latin-1/cp1252 text); export the table again as CSV, or pass "
            "encoding=... if it is text in another encoding."
        )

    text_head, header_bytes = _text_head(path, name, enc)
    if not text_head.strip().strip("\ufeff").strip():
        raise CohortError(
            f"{name}: the file contains only blank lines; "
            "export the table again with a header row and records."
        )
    preferred = "\t" if path.suffix.lower() in (".tsv", ".tab") else None
    delim = delimiter or _sniff_delimiter(text_head, preferred)
    dec = decimal or _sniff_decimal(text_head, delim)

    header = _header_of(text_head, delim)
    if len(header) > 1 and header[-1].strip() == "":
        _check_columns(header[:-1], name)  # a trailing delimiter: checked after reading
    else:
        _check_columns(header, name)  # fail fast on blank or duplicated names

    data = None
    if codecs.lookup(enc).name not in ("utf-8", "utf-8-sig"):
        data, enc = _transcode(path, name, enc, user_given=encoding is not None)
    frame, simple = _parse_csv(path, name, enc, delim, header, data,
                               block_size=max(_CHUNK, 4 * header_bytes))
    del data
    frame = _drop_trailing_empty_column(frame)
    frame = _finish(frame, name, check_types=False)

    # Each record on one line, header on line 1, no blank lines: the line count says so
    # (a blank line or a value with a line break adds lines without adding records).
    n = len(frame)
    content_lines = scan.newlines - scan.trailing_newlines + 1
    if simple and not scan.lone_cr and not utf16 and content_lines == n + 1:
        rows = np.arange(2, n + 2, dtype=np.int64)
    else:
        rows = _record_lines(path, name, enc, delim, n)
    return RawTable(frame=frame, source=name, format="csv", rows=rows, sha256=scan.sha256,
                    encoding=enc, delimiter=delim, decimal=dec)


def _binary_message(name: str, kind: str) -> str:
    what = _KIND_LABEL.get(kind, "binary data")
    ext = _KIND_EXT.get(kind)
    todo = (f"rename it to {ext} if that is what it is" if ext and kind != "text"
            else "export the table again as delimited text")
    return (
        f"{name}: the file is not delimited text as its name says (its bytes look like "
        f"{what}); {todo}."
    )


def _header_of(text_head: str, delim: str) -> list[str]:
    reader = csv.reader(io.StringIO(text_head, newline=""), delimiter=delim, quotechar='"')
    try:
        for row in reader:
            if row:
                return row
    except csv.Error:
        pass
    return []


def _drop_trailing_empty_column(frame: pd.DataFrame) -> pd.DataFrame:
    """A delimiter at the end of every line makes a nameless, empty last column: drop it."""
    if frame.shape[1] < 2:
        return frame
    last = frame.columns[-1]
    if str(last).strip().strip("\ufeff").strip() != "":
        return frame
    col = frame.iloc[:, -1]
    if len(col) and not (col.fillna("").astype(str).str.strip() == "").all():
        return frame
    return frame.iloc[:, :-1]


def _transcode(path: Path, name: str, enc: str, user_given: bool) -> tuple[bytes, str]:
    """The file re-encoded as UTF-8 (Arrow's own transcoder is several times slower).

    Holds about two copies of the file for a moment. A cp1252 guess that meets a byte
    cp1252 leaves undefined falls back to latin-1, which decodes every byte.
    """
    while True:
        decoder = codecs.getincrementaldecoder(enc)()
        parts: list[bytes] = []
        try:
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    parts.append(decoder.decode(chunk).encode("utf-8"))
                parts.append(decoder.decode(b"", final=True).encode("utf-8"))
        except UnicodeDecodeError as exc:
            if not user_given and codecs.lookup(enc).name == "cp1252":
                enc = "latin-1"
                continue
            raise CohortError(
                f"{name}: the file is not valid {enc} text ({_brief(exc, 80)}); pass the "
                "right encoding (e.g. encoding='cp1252') or leave it unset to detect it."
            ) from exc
        except OSError as exc:
            raise CohortError(
                f"{name}: the file cannot be read ({_brief(exc)}); check its permissions."
            ) from exc
        data = b"".join(parts)
        del parts
        if data.startswith(codecs.BOM_UTF8):  # a UTF-16 BOM, re-encoded
            data = data[len(codecs.BOM_UTF8):]
        return data, enc


def _parse_csv(path: Path, name: str, enc: str, delim: str, header: list[str],
               data: bytes | None = None, block_size: int = _CHUNK
               ) -> tuple[pd.DataFrame, bool]:
    """Parse with pyarrow (all strings); fall back to pandas' C engine. Returns (frame, simple).

    ``data``: the file already transcoded to UTF-8 (for files in other encodings).
    ``block_size``: pyarrow's block, which must hold the header line and any one record.
    """
    import pyarrow as pa
    from pyarrow import csv as pacsv

    first_error: Exception | None = None
    for newlines_in_values in (False, True):
        try:
            if data is not None:
                stream = pa.BufferReader(data)
            else:
                stream = pa.OSFile(str(path.resolve()))  # a local file: no URI, no unzip
            table = pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(encoding="utf8", block_size=block_size),
                parse_options=pacsv.ParseOptions(
                    delimiter=delim, quote_char='"', double_quote=True, escape_char=False,
                    newlines_in_values=newlines_in_values, ignore_empty_lines=True,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in header},
                    null_values=[], true_values=[], false_values=[],
                    strings_can_be_null=False, quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowException, UnicodeError, ValueError, OSError) as exc:
            first_error = first_error or exc
            continue
        if table.num_columns != len(header) or not all(
                t == pa.string() or t == pa.large_string() for t in table.schema.types):
            first_error = first_error or ValueError("column types")
            break
        names = list(table.column_names)
        table = table.rename_columns([f"c{i}" for i in range(len(names))])
        frame = table.to_pandas(types_mapper=_string_mapper(), self_destruct=True,
                                split_blocks=True)
        del table
        frame.columns = names
        return frame, True
    # pyarrow could not: find a ragged line (names it), else try pandas' C engine
    _raise_if_ragged(path, name, enc, delim, len(header))
    try:
        frame = pd.read_csv(
            path, sep=delim, dtype=str, keep_default_na=False, na_filter=False,
            encoding=enc, engine="c", quotechar='"', doublequote=True, skip_blank_lines=True,
        )
    except UnicodeError as exc:
        raise CohortError(
            f"{name}: the file is not valid {enc} text ({_brief(exc, 80)}); "
            "pass the right encoding (e.g. encoding='latin-1') or leave it unset to detect it."
        ) from exc
    except Exception as exc:
        cause = first_error if first_error is not None else exc
        raise CohortError(
            f"{name}: the file could not be parsed as {_DELIM_NAMES.get(delim, repr(delim))}"
            f"-delimited text ({_brief(cause, 160)}); check the delimiter and quoting, "
            "or export the table again."
        ) from exc
    frame = frame.astype(pd.ArrowDtype(pa.string()))
    return frame, False


def _string_mapper():
    """Arrow strings stay Arrow strings in pandas (``pd.ArrowDtype(pa.string())``): zero
    copy, where ``"string[pyarrow]"`` would cast every column to large_string."""
    import pyarrow as pa

    mapping = {pa.string(): pd.ArrowDtype(pa.string()),
               pa.large_string(): pd.ArrowDtype(pa.large_string())}
    return mapping.get


def _iter_csv_records(path: Path, enc: str, delim: str, strict: bool = False,
                      position: list[int] | None = None):
    """Yield (start_line, row) for every non-blank record, header included.

    ``position[0]`` is kept at the last line consumed, so after a csv.Error the failing
    record started on line ``position[0] + 1``.
    """
    position = position if position is not None else [0]
    with open(path, encoding=enc, newline="", errors="replace") as fh:
        reader = csv.reader(fh, delimiter=delim, quotechar='"', doublequote=True, strict=strict)
        for row in reader:
            start = position[0] + 1
            position[0] = reader.line_num
            if not row:
                continue
            yield start, row


def _raise_if_ragged(path: Path, name: str, enc: str, delim: str, width: int) -> None:
    try:
        records = _iter_csv_records(path, enc, delim)
        next(records, None)  # header
        for line, row in records:
            if len(row) != width:
                raise CohortError(
                    f"{name}: line {line} has {len(row)} field{'s' if len(row) != 1 else ''} "
                    f"but the header has {width} ({_DELIM_NAMES.get(delim, repr(delim))}-"
                    "delimited); fix that line (a stray delimiter or an unclosed quote?) "
                    "and read the file again."
                )
    except (csv.Error, UnicodeError, OSError):
        return


def _record_lines(path: Path, name: str, enc: str, delim: str, n: int) -> np.ndarray:
    """Line numbers of the records' first lines, for files with blank lines or multi-line
    quoted values (header excluded). Also catches a quote left open until the end."""
    for strict in (True, False):
        lines = np.empty(n, dtype=np.int64)
        i = 0
        position = [0]
        try:
            records = _iter_csv_records(path, enc, delim, strict=strict, position=position)
            next(records, None)
            for line, _ in records:
                if i >= n:
                    i += 1
                    break
                lines[i] = line
                i += 1
        except csv.Error as exc:
            if strict and "unexpected end of data" in str(exc):
                raise CohortError(
                    f"{name}: the record starting on line {position[0] + 1} opens a quote "
                    "that is never closed, so "
                    "the rest of the file reads as one value; close the quote (or double "
                    "the quote character inside values) and read the file again."
                ) from exc
            continue
        except (UnicodeError, OSError):
            break
        if i == n:
            return lines
        break
    # the two parsers disagree: fall back to the simple numbering
    return np.arange(2, n + 2, dtype=np.int64)


# --------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------


#: Work limits for .xlsx workbooks (a 2 MB workbook can expand to a 2 GiB cell, an 8 MB one
#: can hold 30 million rows). Size and ratio are checked from the zip directory before
#: anything is parsed; rows and cells by counting tags in the XML stream of every sheet
#: before openpyxl opens the workbook. Each is raised by the environment variable ``METSURV_`` + its name.
#: Sum of the uncompressed sizes of all parts of the workbook, in bytes.
MAX_XLSX_BYTES = 1 << 30
#: Uncompressed / compressed size of any one part larger than 16 MiB (spreadsheet XML
#: compresses 5-50 : 1; a zip bomb near deflate's limit of about 1,000 : 1).
MAX_XLSX_RATIO = 200
#: Rows in any one sheet: Excel's own maximum.
MAX_XLSX_ROWS = 1_048_576
#: Cells in any one sheet: each costs about 100 bytes of memory (so about 1 GB at the
#: limit) and openpyxl parses about 60,000 a second, so the limit is about three minutes.
MAX_XLSX_CELLS = 10_000_000

_RATIO_FROM = 16 << 20
_ZIP_CHUNK = 1 << 20


def _xlsx_refusal(name: str, found: str, what: str, limit: int) -> CohortError:
    return CohortError(
        f"{name}: {found}, over the limit {what} = {limit:,}; if the workbook is genuine, "
        f"export the table as CSV or Parquet, or raise the limit with {_raise_with(what, limit)}."
    )


def _check_xlsx_work(path: Path, name: str) -> None:
    """Refuse a workbook that would expand beyond the limits, before openpyxl opens it
    (opening already walks every sheet that lacks a ``<dimension>`` tag to its end).

    Size and ratio come from the zip directory alone; its sizes can be trusted as bounds,
    because Python's zip reader stops at a part's declared size and fails its checksum
    when there is more. Rows and cells are counted in every XML part (a worksheet may be
    stored under any name), each in one streaming pass: zlib in C, a fraction of the time
    openpyxl takes to parse the same part.
    """
    max_bytes = _limit("MAX_XLSX_BYTES", name)
    max_ratio = _limit("MAX_XLSX_RATIO", name)
    max_rows = _limit("MAX_XLSX_ROWS", name)
    max_cells = _limit("MAX_XLSX_CELLS", name)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise _xlsx_refusal(name, f"the workbook expands to {total:,} bytes",
                                "MAX_XLSX_BYTES", max_bytes)
        for info in infos:
            if info.file_size > _RATIO_FROM:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > max_ratio:
                    raise _xlsx_refusal(
                        name, f"the workbook's part {info.filename} expands {ratio:,.0f} "
                        f"times (to {info.file_size:,} bytes), like a zip bomb",
                        "MAX_XLSX_RATIO", max_ratio)
        for info in infos:
            if info.filename.lower().endswith(".xml") and not info.is_dir():
                _count_xlsx_rows(zf, info.filename, name, max_rows, max_cells)


def _count_xlsx_rows(zf: zipfile.ZipFile, member: str, name: str, max_rows: int,
                     max_cells: int) -> None:
    """Count the row and cell tags of one XML part and refuse it once it passes a limit.
    ``<`` never stands unescaped in XML text, so the count is exact."""
    rows = cells = 0
    prev = b""
    with zf.open(member) as fh:
        chunk = fh.read(4096)
        found = re.search(rb"<(\w+):worksheet\b", chunk)
        prefix = found.group(1) + b":" if found else b""
        row_tags = (b"<" + prefix + b"row",)
        cell_tags = (b"<" + prefix + b"c ", b"<" + prefix + b"c>", b"<" + prefix + b"c/")
        while chunk:
            for tags, is_row in ((row_tags, True), (cell_tags, False)):
                n = 0
                for tag in tags:
                    # exact at chunk seams: the window holds only tags that cross the seam
                    seam = prev[-(len(tag) - 1):] + chunk[: len(tag) - 1]
                    n += chunk.count(tag) + seam.count(tag)
                if is_row:
                    rows += n
                else:
                    cells += n
            if rows > max_rows:
                raise _xlsx_refusal(name, f"the sheet {member} has more than {max_rows:,} "
                                    "rows", "MAX_XLSX_ROWS", max_rows)
            if cells > max_cells:
                raise _xlsx_refusal(name, f"the sheet {member} has more than {max_cells:,} "
                                    "cells", "MAX_XLSX_CELLS", max_cells)
            prev = chunk
            chunk = fh.read(_ZIP_CHUNK)


def _default_sheet(wb: Any, name: str) -> tuple[Any, tuple[str, ...]]:
    """The sheet Excel shows on opening: the active sheet if visible, else the first
    visible worksheet; never a hidden one. With several sheets, a note says which."""
    sheets = wb.worksheets
    visible = [ws for ws in sheets if getattr(ws, "sheet_state", "visible") == "visible"]
    if not visible:
        raise CohortError(
            f"{name}: every worksheet of the workbook is hidden "
            f"({', '.join(repr(ws.title) for ws in sheets)}); unhide the one to read, or "
            "name it with 'sheet:' in the mapping's source."
        )
    try:
        active = wb.active
    except (IndexError, AttributeError):
        active = None
    if active is not None and any(active is ws for ws in visible):
        ws, why = active, "the active sheet"
    else:
        ws = visible[0]
        why = "the first visible sheet"
        if active is not None and hasattr(active, "title"):
            why += f"; the active one, {active.title!r}, is hidden or not a worksheet"
    all_sheets = wb.sheetnames
    if len(all_sheets) < 2:
        return ws, ()
    others = []
    for title in all_sheets:
        if title == ws.title:
            continue
        state = getattr(wb[title], "sheet_state", "visible")
        others.append(f"{title!r}" + (f" ({state})" if state != "visible" else ""))
    note = (f"sheet {ws.title!r} was read ({why}); the workbook also has "
            f"{', '.join(others)}: to read another, name it with 'sheet:' in the mapping's "
            "source")
    return ws, (note,)


def _read_excel(path: Path, name: str, sheet: str | int | None) -> RawTable:
    import openpyxl

    sha = _sha256(path, name)
    try:
        _check_xlsx_work(path, name)
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except CohortError:
        raise
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise CohortError(
            f"{name}: the workbook is damaged or incomplete ({_brief(exc, 80)}); "
            "save it again from Excel or export the table again."
        ) from exc
    except Exception as exc:
        raise CohortError(
            f"{name}: the file is not a readable Excel .xlsx workbook ({_brief(exc, 80)}); "
            "save it again from Excel as .xlsx or export the table as CSV."
        ) from exc
    notes: tuple[str, ...] = ()
    try:
        sheets = wb.worksheets
        titles = [ws.title for ws in sheets]
        if not sheets:
            raise CohortError(
                f"{name}: the workbook has no worksheets; save the table on a worksheet."
            )
        if sheet is None:
            ws, notes = _default_sheet(wb, name)
        elif isinstance(sheet, bool) or not isinstance(sheet, int | str):
            raise CohortError(
                f"{name}: sheet must be a sheet name or a 0-based position (got {sheet!r}); "
                f"the workbook has {', '.join(map(repr, titles))}."
            )
        elif isinstance(sheet, int):
            if not -len(sheets) <= sheet < len(sheets):
                raise CohortError(
                    f"{name}: there is no sheet at position {sheet} (the workbook has "
                    f"{len(sheets)}: {', '.join(map(repr, titles))}); pass a valid sheet."
                )
            ws = sheets[sheet]
        else:
            if sheet not in titles:
                raise CohortError(
                    f"{name}: there is no sheet named {sheet!r} (the workbook has "
                    f"{', '.join(map(repr, titles))}); pass one of those."
                )
            ws = wb[sheet]
        label = f"{name} [{ws.title}]" if sheet is not None else name
        try:
            header, records, row_numbers = _excel_rows(ws, label,
                                                       _limit("MAX_XLSX_ROWS", name))
        except CohortError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as exc:
            raise CohortError(
                f"{name}: the workbook is damaged or incomplete ({_brief(exc, 80)}); "
                "save it again from Excel or export the table again."
            ) from exc
    finally:
        try:
            wb.close()
        except Exception:  # noqa: BLE001
            pass
    names = _check_columns(header, label)
    if not records:
        raise _no_rows(label)
    _refuse_stale_formulas(path, ws.title, label, names, records, row_numbers)
    records = _zero_padded_cells(path, ws.title, records, row_numbers)
    columns = {}
    for j, col in enumerate(names):
        columns[col] = _excel_column([r[j] for r in records])
    frame = pd.DataFrame(columns)
    frame = _finish(frame, label)
    return RawTable(frame=frame, source=label, format="excel",
                    rows=np.asarray(row_numbers, dtype=np.int64), sha256=sha, encoding=None,
                    delimiter=None, decimal=".", sheet=ws.title, notes=notes)


def _excel_rows(ws, label: str, max_rows: int = MAX_XLSX_ROWS
                ) -> tuple[list[Any], list[tuple], list[int]]:
    # the <dimension> a writer records can be wrong (too small): read every stored row
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()
    header: list[Any] | None = None
    width = 0
    records: list[tuple] = []
    numbers: list[int] = []
    for number, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
        if number > max_rows:  # the tag count missed them (an unusual writer): stop anyway
            raise _xlsx_refusal(label, f"the sheet has more than {max_rows:,} rows",
                                "MAX_XLSX_ROWS", max_rows)
        values = tuple(None if (isinstance(v, str) and v == "") else v for v in values)
        if header is None:
            if all(v is None for v in values):
                continue
            row = list(values)
            while row and row[-1] is None:
                row.pop()
            header = row
            width = len(header)
            continue
        if all(v is None for v in values):
            continue
        if len(values) > width and any(v is not None for v in values[width:]):
            extra = next(k for k in range(width, len(values)) if values[k] is not None)
            raise CohortError(
                f"{label}: row {number} has a value in column {_excel_letter(extra)}, "
                "which has no name in the header row; give that column a name or delete "
                "the stray cells."
            )
        if len(values) < width:
            values = values + (None,) * (width - len(values))
        records.append(values[:width])
        numbers.append(number)
    if header is None:
        raise CohortError(
            f"{label}: the sheet is empty; put the table (header row and records) on it."
        )
    return header, records, numbers


_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _has_formulas(path: Path) -> bool:
    """True when a worksheet part of the .xlsx holds a formula (a ``<f>`` element); a
    streamed byte scan, far cheaper than a second parse of the sheet."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not (info.filename.startswith("xl/worksheets/") and
                    info.filename.endswith(".xml")):
                continue
            tail = b""
            with zf.open(info) as fh:
                while chunk := fh.read(_ZIP_CHUNK):
                    if _FORMULA_TAG.search(tail + chunk):
                        return True
                    tail = chunk[-16:]
    return False


def _refuse_stale_formulas(path: Path, title: str, label: str, names: list[str],
                           records: list[tuple], numbers: list[int]) -> None:
    """Refuse a column whose cells are formulas without a calculated result.

    openpyxl reads a formula's result as Excel cached it when it last calculated; a workbook
    written by a script (openpyxl, xlsxwriter) and never opened in Excel has no result (or a
    0) there, which would give, say, every patient 0 months of follow-up. A column is refused
    when every one of its formula cells has an empty result, or when it has several formula
    cells and every result is 0. Only when the sheet holds formulas is it parsed a second
    time (with formulas), so plain workbooks cost nothing more.
    """
    if not _has_formulas(path):
        return
    import openpyxl

    at = {n: i for i, n in enumerate(numbers)}
    width = len(names)
    formulas = [0] * width
    empty = [0] * width
    zero = [0] * width
    wb = openpyxl.load_workbook(path, read_only=True, data_only=False, keep_links=False)
    try:
        ws = wb[title]
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()
        for number, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
            i = at.get(number)
            if i is None:
                continue
            cached = records[i]
            for j, v in enumerate(values[:width]):
                if isinstance(v, str) and v.startswith("=") and cached[j] != v:
                    formulas[j] += 1
                    c = cached[j]
                    if c is None:
                        empty[j] += 1
                    elif type(c) in (int, float) and c == 0:
                        zero[j] += 1
    finally:
        wb.close()
    stale = [j for j in range(width) if formulas[j] and (
        empty[j] == formulas[j] or (formulas[j] >= 2 and empty[j] + zero[j] == formulas[j]))]
    if stale:
        cols = ", ".join(f"{names[j]!r} ({formulas[j]} formula cells, results "
                         f"{'missing' if empty[j] == formulas[j] else 'all 0 or missing'})"
                         for j in stale)
        raise CohortError(
            f"{label}: column(s) {cols} hold formulas whose results were never calculated "
            "(a workbook written by a program and not recalculated); open the workbook in "
            "Excel or LibreOffice and save it (this calculates the formulas), or export the "
            "sheet as CSV, then read it again."
        )


_ZERO_FORMAT = re.compile(rb'formatCode="(0{2,})"')


def _zero_padded_cells(path: Path, title: str, records: list[tuple],
                       numbers: list[int]) -> list[tuple]:
    """Whole numbers under an Excel number format of zeros only ("0000") as the text Excel
    shows ("0123"), so ids keep their leading zeros. The cell formats are read (a second,
    cell-level pass) only when the workbook's styles define such a format."""
    with zipfile.ZipFile(path) as zf:
        try:
            styles = zf.read("xl/styles.xml")
        except KeyError:
            return records
    if not _ZERO_FORMAT.search(styles):
        return records
    import openpyxl

    at = {n: i for i, n in enumerate(numbers)}
    width = len(records[0]) if records else 0
    padded: dict[tuple[int, int], str] = {}
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        ws = wb[title]
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()
        for number, cells in enumerate(ws.iter_rows(min_row=1), start=1):
            i = at.get(number)
            if i is None:
                continue
            for j, cell in enumerate(cells[:width]):
                v = getattr(cell, "value", None)
                fmt = getattr(cell, "number_format", "") or ""
                if type(v) in (int, float) and fmt and set(fmt) == {"0"} and len(fmt) > 1 \
                        and float(v).is_integer() and abs(v) < 2**63:
                    padded[(i, j)] = str(int(v)).zfill(len(fmt))
    finally:
        wb.close()
    if not padded:
        return records
    out = [list(r) for r in records]
    for (i, j), text in padded.items():
        out[i][j] = text
    return [tuple(r) for r in out]


def _excel_letter(index: int) -> str:
    index += 1
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _excel_column(values: list[Any]) -> pd.Series:
    series = pd.Series(values, dtype=object)
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return series
    inferred = series.infer_objects()
    if inferred.dtype == object and kinds <= {int, float}:
        inferred = pd.to_numeric(series)
    return inferred


# --------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------


def _read_parquet(path: Path, name: str) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sha = _sha256(path, name)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size >= 8:
            fh.seek(size - 4)
            tail = fh.read(4)
        else:
            tail = b""
    if size < 12 or tail != b"PAR1":
        raise CohortError(
            f"{name}: the Parquet file is incomplete (it does not end with the Parquet footer); "
            "copy or export the file again."
        )
    try:
        with pa.OSFile(str(path.resolve())) as fh:  # a local file, never a URI
            table = pq.read_table(fh)
        frame = table.to_pandas(date_as_object=False)
        _exact_integers(frame, table)
    except Exception as exc:
        raise CohortError(
            f"{name}: the Parquet file is damaged or cannot be read ({_brief(exc, 120)}); "
            "copy or export the file again."
        ) from exc
    if not (isinstance(frame.index, pd.RangeIndex)):
        if any(n is not None for n in frame.index.names):
            frame = frame.reset_index()
        else:
            frame = frame.reset_index(drop=True)
    frame = _finish(frame, name)
    return RawTable(frame=frame, source=name, format="parquet",
                    rows=_record_numbers(len(frame)), sha256=sha, encoding=None,
                    delimiter=None, decimal=".")


def _exact_integers(frame: pd.DataFrame, table: Any) -> None:
    """Integer columns with a null as nullable Int64/UInt64, not float64: an id above 2**53
    must not be rounded (two ids would then collide)."""
    import pyarrow as pa

    for i, fld in enumerate(table.schema):
        col = table.column(i)
        if pa.types.is_integer(fld.type) and col.null_count:
            dtype = pd.UInt64Dtype() if pa.types.is_uint64(fld.type) else pd.Int64Dtype()
            frame.isetitem(i, col.to_pandas(types_mapper=lambda _t, d=dtype: d))


# --------------------------------------------------------------------------------------
# SAS, Stata, SPSS (pyreadstat)
# --------------------------------------------------------------------------------------


def _read_readstat(path: Path, name: str, fmt: str) -> RawTable:
    import pyreadstat

    sha = _sha256(path, name)
    _check_readstat_complete(path, name, fmt)
    catalog = _sas_catalog(path) if fmt == "sas7bdat" else None
    readers = {"sas7bdat": pyreadstat.read_sas7bdat, "xport": pyreadstat.read_xport,
               "stata": pyreadstat.read_dta, "spss": pyreadstat.read_sav}
    extra = {"catalog_file": catalog} if catalog is not None else {}
    size = path.stat().st_size

    def plausible() -> None:
        """Reject a header that announces more rows than the file can hold (a damaged
        count would make the reader allocate, and touch, gigabytes)."""
        _, meta = readers[fmt](path, metadataonly=True, output_format="dict", **extra)
        rows = getattr(meta, "number_rows", None)
        cols = max(1, int(getattr(meta, "number_columns", 1) or 1))
        # at most ~1,100 : 1 compression (zlib in .zsav, RLE/RDC in SAS) and >= 1 byte
        # per value otherwise
        if isinstance(rows, int) and rows > 1000 + size * 1100 // cols:
            raise _Implausible(rows)

    def parse() -> None:
        plausible()
        readers[fmt](path, output_format="dict", disable_datetime_conversion=True, **extra)

    if not _crash_guard(parse, name, _FORMAT_LABEL[fmt], size):
        try:
            plausible()  # no fork on this platform: at least check the row count in-process
        except _Implausible:
            raise CohortError(_implausible_message(name)) from None
        except Exception:  # noqa: BLE001 - the full read below reports it
            pass
    # dates arrive as numbers and are converted below, vectorised: one 9999-12-31 or a year
    # 1018 then costs its row (a finding downstream), not the whole file
    common = {"disable_datetime_conversion": True}
    try:
        if fmt == "sas7bdat":
            if catalog is not None:
                frame, meta = pyreadstat.read_sas7bdat(path, catalog_file=catalog,
                                                       formats_as_category=False, **common)
            else:
                frame, meta = pyreadstat.read_sas7bdat(path, **common)
        elif fmt == "xport":
            frame, meta = pyreadstat.read_xport(path, **common)
        elif fmt == "stata":
            frame, meta = pyreadstat.read_dta(path, apply_value_formats=True,
                                              formats_as_category=False, **common)
        else:
            frame, meta = pyreadstat.read_sav(path, apply_value_formats=True,
                                              formats_as_category=False, **common)
    except Exception as exc:
        raise CohortError(
            f"{name}: the file is damaged or is not {_FORMAT_LABEL[fmt]} "
            f"({_brief(exc, 120)}); export the table again."
        ) from exc
    expected = getattr(meta, "number_rows", None)
    if isinstance(expected, int) and expected >= 0 and expected != len(frame):
        raise CohortError(
            f"{name}: the file announces {expected} rows but holds {len(frame)}, so it is "
            "incomplete or damaged; copy or export the file again."
        )
    frame, unlabelled = _as_shown(frame, meta, fmt)
    frame = _finish(frame, name)
    notes = tuple(
        f"column {col!r} holds numbers under the user format {f!r} whose value labels are "
        "not (all) in the file: such codes are not guessed for coded fields; give a code table "
        "('codes:' in the mapping) or put the format catalog (.sas7bcat) next to the file"
        for col, f in unlabelled.items())
    return RawTable(frame=frame, source=name, format=fmt, rows=_record_numbers(len(frame)),
                    sha256=sha, encoding=None, delimiter=None, decimal=".", notes=notes,
                    unlabelled=unlabelled)


# How SAS, Stata and SPSS show a number, from its display format. Dates as in pyreadstat
# (``_readstat_parser.pyx``), whose lists these follow: SAS and Stata count from 1960-01-01
# (days for dates, seconds / milliseconds for datetimes), SPSS counts seconds from 1582-10-14.
_SAS_DATE = frozenset({
    "WEEKDATE", "MMDDYY", "DDMMYY", "YYMMDD", "DATE", "DDMMYYB", "DDMMYYC", "DDMMYYD",
    "DDMMYYN", "DDMMYYP", "DDMMYYS", "MMDDYYB", "MMDDYYC", "MMDDYYD", "MMDDYYN", "MMDDYYP",
    "MMDDYYS", "WEEKDATX", "DTDATE", "IS8601DA", "E8601DA", "B8601DA", "YYMMDDB", "YYMMDDD",
    "YYMMDDN", "YYMMDDP", "YYMMDDS"})
_SAS_DATETIME = frozenset({"DATETIME", "E8601DT", "DATEAMPM", "MDYAMPM", "IS8601DT", "B8601DT",
                           "B8601DN"})
#: SAS formats that come with SAS (numbers shown as numbers, never codes with labels).
_SAS_BUILTIN = _SAS_DATE | _SAS_DATETIME | frozenset({
    "BEST", "F", "W", "D", "E", "Z", "COMMA", "COMMAX", "DOLLAR", "DOLLARX", "EURO", "EUROX",
    "PERCENT", "PERCENTN", "NEGPAREN", "PVALUE", "FRACT", "HEX", "OCTAL", "BINARY", "ROMAN",
    "WORDS", "WORDF", "SSN", "TIME", "HHMM", "HOUR", "MMSS", "TOD", "TIMEAMPM", "YEAR",
    "MONTH", "DAY", "QTR", "QTRR", "MONYY", "MONNAME", "WEEKDAY", "DOWNAME", "YYQ", "YYMM",
    "MMYY", "WORDDATE", "WORDDATX", "JULIAN", "NLDATE", "NLNUM", "NUMX", "IS8601TM",
    "E8601TM", "B8601TM", "BESTD", "CHAR"})
_SPSS_DATE = frozenset({"DATE", "ADATE", "EDATE", "JDATE", "SDATE"})
_SPSS_DATETIME = frozenset({"DATETIME", "YMDHMS"})
_SAS_FORMAT = re.compile(r"^\$?([A-Z_][A-Z0-9_]*?)(\d+)?(?:\.\d*)?$")
_STATA_ZEROS = re.compile(r"^%-?0(\d+)\.0f$")
_SPSS_ZEROS = re.compile(r"^N(\d+)$")
_SAS_ZEROS = re.compile(r"^Z(\d+)(?:\.0?)?$")
#: seconds from each origin to 1970-01-01
_ORIGIN_SECONDS = {"1960": 315_619_200, "1582": 12_219_379_200}
#: pandas' datetime64[ns] spans 1677-09-21 .. 2262-04-11 (seconds since 1970)
_NS_SECONDS = (-9_223_372_036, 9_223_372_036)


def _as_shown(frame: pd.DataFrame, meta: Any, fmt: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Numbers as the exporting program shows them, from their display formats.

    Dates and datetimes (stored as counts from an origin) become ``datetime64[ns]``; numbers
    under a zero-padding format (Stata ``%04.0f``, SPSS ``N4``, SAS ``Z4.``) become the text
    the program shows ("0123"), so ids keep their leading zeros and link to other files.
    Returns the frame and the columns whose user format (value labels) is not in the file.
    """
    formats = getattr(meta, "original_variable_types", None) or {}
    to_label = getattr(meta, "variable_to_label", None) or {}
    label_sets = getattr(meta, "value_labels", None) or {}
    unlabelled: dict[str, str] = {}
    for col in list(frame.columns):
        f = str(formats.get(col) or "").strip()
        values = frame[col]
        if fmt in ("stata", "spss") and col in to_label:
            if to_label[col] not in label_sets or _has_bare_numbers(values):
                # no label set in the file, or values it does not label
                unlabelled[str(col)] = str(to_label[col])
        if not pd.api.types.is_numeric_dtype(values.dtype) or \
                pd.api.types.is_bool_dtype(values.dtype):
            continue
        kind, width, user = _display_kind(f, fmt) if f else (None, None, False)
        if kind is not None:
            frame[col] = _count_to_dates(values.to_numpy(dtype=float), *kind)
        elif width is not None:
            frame[col] = _zero_padded(values.to_numpy(dtype=float), width)
        elif user and fmt in ("sas7bdat", "xport"):
            unlabelled[str(col)] = f
    return frame, unlabelled


def is_number(v: Any) -> bool:
    """A number (not a bool, not text): under a user format without labels, a bare code.
    Also io.convert's test, so the reader's "unlabelled" and the converter agree."""
    return isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))


def _has_bare_numbers(values: pd.Series) -> bool:
    """True when a column holds a number (a value its label set does not label), checked on
    the distinct values only."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return bool(values.notna().any())
    _, uniques = pd.factorize(values)
    return any(is_number(u) for u in uniques)


def _display_kind(f: str, fmt: str) -> tuple[tuple[str, float] | None, int | None, bool]:
    """(origin and seconds per unit for a date format, zero-padding width, user format?)."""
    if fmt == "stata":
        if f.startswith(("%td", "%d")):
            return ("1960", 86400.0), None, False
        if f.startswith(("%tc", "%tC")):
            return ("1960", 0.001), None, False
        m = _STATA_ZEROS.match(f)
        return None, int(m.group(1)) if m else None, False
    upper = f.upper()
    m = _SAS_FORMAT.match(upper)
    name = m.group(1) if m else upper
    if fmt == "spss":
        if name in _SPSS_DATE or name in _SPSS_DATETIME:
            return ("1582", 1.0), None, False
        z = _SPSS_ZEROS.match(upper)
        return None, int(z.group(1)) if z else None, False
    if name in _SAS_DATE:
        return ("1960", 86400.0), None, False
    if name in _SAS_DATETIME:
        return ("1960", 1.0), None, False
    z = _SAS_ZEROS.match(upper)
    if z:
        return None, int(z.group(1)), False
    return None, None, bool(m) and name not in _SAS_BUILTIN


def _count_to_dates(counts: np.ndarray, origin: str, unit: float) -> pd.Series:
    """Counts from ``origin`` (``unit`` seconds each) as datetime64[ns], vectorised.

    A count outside pandas' range (a 9999-12-31 sentinel, a year 1018) does not fail the
    file: it stays on its row as a ``datetime.date`` (or, beyond year 9999, as text), which
    the mapping layer reports as an unreadable or implausible date of that row.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        seconds = counts * unit - _ORIGIN_SECONDS[origin]
    finite = np.isfinite(seconds)
    ok = finite & (seconds > _NS_SECONDS[0]) & (seconds < _NS_SECONDS[1])
    ns = np.zeros(len(counts), dtype=np.int64)
    # whole microseconds: a float count of days is not exact in nanoseconds
    ns[ok] = np.round(seconds[ok] * 1e6).astype(np.int64) * 1000
    out = ns.view("datetime64[ns]").copy()
    out[~ok] = np.datetime64("NaT")
    bad = np.flatnonzero(finite & ~ok)
    if bad.size == 0:
        return pd.Series(out)
    import datetime as dt

    epoch = dt.date(1970, 1, 1)
    distinct, inverse = np.unique(counts[bad], return_inverse=True)
    shown = np.empty(len(distinct), dtype=object)
    for k, count in enumerate(distinct):  # distinct out-of-range values only: a handful
        try:
            shown[k] = epoch + dt.timedelta(seconds=float(count * unit - _ORIGIN_SECONDS[origin]))
        except (OverflowError, ValueError):
            shown[k] = (f"{count:.0f} ({'days' if unit == 86400 else 'seconds'} since "
                        f"{origin}): out of range")
    column = pd.Series(out).astype(object).to_numpy()  # Timestamps, not integers
    column[~ok] = None
    column[bad] = shown[inverse]
    return pd.Series(column, dtype=object)


def _zero_padded(values: np.ndarray, width: int) -> pd.Series:
    """Whole numbers as text with leading zeros to ``width`` ("0123"); None where missing.
    A column with a fraction or a number beyond int64 is left as numbers."""
    finite = np.isfinite(values)
    if not finite.any() or (values[finite] != np.round(values[finite])).any() or \
            (np.abs(values[finite]) >= 2.0**63).any():
        return pd.Series(values)
    text = np.full(len(values), None, dtype=object)
    digits = np.char.zfill(values[finite].astype(np.int64).astype(str), width)
    text[finite] = digits.astype(object)
    return pd.Series(text, dtype=object)


class _Implausible(Exception):
    """A file header announces more rows than the file can hold."""


def _implausible_message(name: str) -> str:
    return (
        f"{name}: the file announces more rows than a file of its size can hold, so it is "
        "damaged; copy or export the file again."
    )


def _crash_guard(parse, name: str, what: str, size: int) -> bool:
    """Run ``parse`` in a forked child before running it here.

    The SAS/Stata/SPSS parser is C code (readstat) that can crash the whole Python process
    (a segmentation fault, e.g. on a .sav with flipped bytes) instead of raising. The child
    takes that risk: if it dies from a signal or does not finish, the file is rejected with
    a CohortError; otherwise the parse is deterministic and safe to repeat in-process.
    Linux only (fork is cheap there: no re-import); elsewhere nothing runs and this
    returns False.
    """
    if not _CRASH_GUARD or not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded fork" (3.12+)
        pid = os.fork()
    if pid == 0:  # child: parse, report only through the exit status
        code = 1
        try:
            faulthandler.disable()  # a crash here is expected, not worth a traceback
            _limit_child_memory()
            parse()
            code = 0
        except MemoryError:
            code = 3
        except _Implausible:
            code = 4
        except BaseException:  # noqa: BLE001 - the parent re-raises it properly
            code = 1
        finally:
            os._exit(code)
    limit = 120.0 + 10.0 * size / 2**20
    start = time.monotonic()
    delay = 0.0005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > limit:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise CohortError(
                f"{name}: reading the file did not finish within {limit:.0f} s, so it is "
                f"probably damaged; export {what} again."
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    if os.WIFSIGNALED(status):
        raise CohortError(
            f"{name}: the file is damaged: the reader for {what} crashed on it "
            f"(signal {os.WTERMSIG(status)}); export the table again."
        )
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3:
        raise CohortError(
            f"{name}: reading the file needs more memory than is available (a damaged file "
            "can announce an impossible number of rows); check the file, or free memory "
            "and try again."
        )
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 4:
        raise CohortError(_implausible_message(name))
    return True


def _limit_child_memory() -> None:
    """Make an impossible allocation raise MemoryError in the guard's child, instead of
    waking the kernel's out-of-memory killer (which may pick the parent)."""
    import resource

    try:
        with open("/proc/self/status") as fh:
            vm = next(int(line.split()[1]) for line in fh if line.startswith("VmSize:"))
        with open("/proc/meminfo") as fh:
            avail = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:"))
        limit = (vm + avail) * 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        if soft == resource.RLIM_INFINITY or limit < soft:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError, StopIteration):
        pass


_CRASH_GUARD = True


def _check_readstat_complete(path: Path, name: str, fmt: str) -> None:
    """Truncation that readstat would not notice: XPORT files are whole 80-byte records,
    and Stata 13+ files end with a closing tag."""
    size = path.stat().st_size
    if fmt == "xport":
        complete = size % 80 == 0
    elif fmt == "stata" and _head(path, name, 11) == b"<stata_dta>":
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 12))
            complete = fh.read() == b"</stata_dta>"
    else:
        return
    if not complete:
        raise CohortError(
            f"{name}: the file is incomplete (it was cut off before its end); "
            "copy or export the file again."
        )


def _sas_catalog(path: Path) -> Path | None:
    """A SAS format catalog next to the data set: same stem, or formats.sas7bcat."""
    for candidate in (path.with_suffix(".sas7bcat"), path.with_name("formats.sas7bcat")):
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            continue
    return None


# --------------------------------------------------------------------------------------
# SQL: DuckDB and SQLite
# --------------------------------------------------------------------------------------

#: Wall-clock seconds a database query may run (a recursive CTE without an end runs forever
#: and reads nothing from the file). Raise it with METSURV_MAX_QUERY_SECONDS.
MAX_QUERY_SECONDS = 60
#: Rows a database query may return (each row costs memory before anything is checked).
#: Raise it with METSURV_MAX_QUERY_ROWS.
MAX_QUERY_ROWS = 20_000_000
#: Rows fetched per step, so the row limit is checked while reading, not after.
_FETCH_ROWS = 1 << 20


def _query_timeout(name: str, seconds: int) -> CohortError:
    return CohortError(
        f"{name}: the query ran longer than the limit MAX_QUERY_SECONDS = {seconds:,} s and "
        "was stopped (a recursive query without an end?); check the query, or raise the limit "
        f"with {_raise_with('MAX_QUERY_SECONDS', seconds)}."
    )


def _query_too_long(name: str, rows: int) -> CohortError:
    return CohortError(
        f"{name}: the query returns more than the limit MAX_QUERY_ROWS = {rows:,} rows; "
        f"narrow the query, or raise the limit with {_raise_with('MAX_QUERY_ROWS', rows)}."
    )


def _read_sql(src: SqlSource) -> RawTable:
    path = _as_path(src.path)
    name = path.name or str(path)
    if src.query is not None and src.table is not None:
        raise CohortError(
            f"{name}: give either a query or a table, not both; drop one of them."
        )
    for option, value in (("query", src.query), ("table", src.table)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise CohortError(
                f"{name}: the {option} must be a non-empty string (got {value!r}); "
                f"pass the {option} as text."
            )
    _check_file(path, name)
    kind = _kind_of(_head(path, name, 64))
    if kind not in ("sqlite", "duckdb"):
        raise CohortError(
            f"{name}: the file is not a DuckDB or SQLite database "
            f"(its bytes look like {_KIND_LABEL.get(kind, 'something else')}); "
            "pass the database file itself."
        )
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
        raise CohortError(
            f"{label}: the query returned no rows; check the query "
            "(a WHERE clause that matches nothing?) or the table's contents."
        )
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
            raise CohortError(f"{name}: the database has no tables; pass the right file.")
        else:
            raise CohortError(
                f"{name}: the database has {len(tables)} tables ({shown}); "
                "choose one with SqlSource(path, table=...) or give a query."
            )
    else:
        matches = [(s, t) for s, t in tables if t == src.table or f"{s}.{t}" == src.table]
        if not matches:
            matches = [(s, t) for s, t in tables if t.lower() == src.table.lower()
                       or f"{s}.{t}".lower() == src.table.lower()]
        if len(matches) != 1:
            raise CohortError(
                f"{name}: there is no table named {src.table!r} "
                f"(the database has {shown or 'no tables'}); pass one of those."
            )
        schema, table = matches[0]
    return f"{_quote_ident(schema)}.{_quote_ident(table)}"


def _check_sqlite_complete(path: Path, name: str) -> None:
    """The header records the database size in pages (when its version counter is valid);
    a shorter file was cut off, and SQLite may not notice when it reads only early pages."""
    head = _head(path, name, 100)
    if len(head) < 100:
        raise CohortError(
            f"{name}: the SQLite database is incomplete (shorter than its header); "
            "copy or export the database again."
        )
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    valid = head[24:28] == head[92:96] and pages > 0
    if valid and path.stat().st_size < pages * page_size:
        raise CohortError(
            f"{name}: the SQLite database is incomplete (the file is shorter than the "
            f"{pages} pages its header announces); copy or export the database again."
        )


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
    return CohortError(
        f"{name}: only one SELECT statement is allowed, and the query "
        f"({_short_query(query, 60)}) is not one{why}; metsurv opens databases read-only and "
        "never writes, attaches or copies: give a single SELECT query."
    )


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
        raise CohortError(
            f"{name}: the SQLite database cannot be opened ({_brief(exc, 100)}); "
            "check the file and its permissions."
        ) from exc
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
        return CohortError(
            f"{name}: the query holds more than one statement, but only one SELECT "
            "statement is allowed; remove everything after the first ';'."
        )
    if denied:
        shown = ", ".join(dict.fromkeys(denied[:20]))
        return _not_a_select(name, "SQLite", query, shown)
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return CohortError(
            f"{name}: the SQLite database is damaged (SQLite says: {_brief(exc, 120)}); "
            "copy or export the database again."
        )
    return CohortError(
        f"{name}: the SQL query failed (SQLite says: {_brief(exc, 120)}); "
        "check the query against the database's tables and columns."
    )


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
        raise CohortError(
            f"{name}: the DuckDB database cannot be opened (DuckDB says: {_brief(exc, 120)}); "
            f"{todo}."
        ) from exc
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
                raise CohortError(
                    f"{name}: the DuckDB database is damaged or incomplete "
                    f"(DuckDB says: {_brief(exc, 120)}); copy or export the database again."
                ) from exc
            if isinstance(exc, duckdb.PermissionException):
                raise CohortError(
                    f"{name}: the query reaches outside the database (DuckDB says: "
                    f"{_brief(exc, 120)}); metsurv reads only the database file itself: "
                    "query its tables only."
                ) from exc
            raise CohortError(
                f"{name}: the SQL query failed (DuckDB says: {_brief(exc, 120)}); "
                "check the query against the database's tables and columns."
            ) from exc
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
        raise CohortError(
            f"{name}: the query holds {len(statements)} statements, but only one SELECT "
            "statement is allowed; remove everything after the first ';'."
        )
    if statements and statements[0].type != duckdb.StatementType.SELECT:
        raise _not_a_select(name, "DuckDB", query, f"{statements[0].type.name} statement")
