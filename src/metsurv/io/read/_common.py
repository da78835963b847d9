"""What every reader shares: :class:`RawTable`, :class:`SqlSource`, the extension and
magic-byte tables, file checks, column-name checks, and the work limits (``MAX_*``) with
:func:`_limit`, which lets the environment raise them."""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import CohortError
from metsurv.io.read.errors import brief, refusal, unreadable

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
_EXPECTED_KIND = {
    "excel": "zip",
    "parquet": "parquet",
    "sas7bdat": "sas7bdat",
    "xport": "xport",
    "stata": "stata",
    "spss": "spss",
}
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
        raise refusal(name, "compressed files are not read directly", "extract it first and read "
                      "the file inside")
    if ext == ".xls":
        raise refusal(name, "the old Excel .xls format is not supported", "open it in Excel and "
                      "save it as .xlsx or CSV")
    shown = f'"{ext}"' if ext else "no extension"
    raise refusal(name, f"the file type ({shown}) is not supported", f"export the table as one of "
                  f"{_SUPPORTED}")


def _check_file(path: Path, name: str) -> None:
    try:
        if not path.exists():
            raise refusal(name, f"the file does not exist ({path.absolute()})",
                          "check the path")
        if path.is_dir():
            raise refusal(name, "this is a directory, not a file", "pass the path of the export "
                          "file")
        size = path.stat().st_size
    except CohortError:
        raise
    except OSError as exc:
        raise refusal(name, f"the file cannot be opened ({brief(exc)})",
                      "check the path and permissions") from exc
    if size == 0:
        raise refusal(name, "the file is empty (0 bytes)", "export the table again with a header "
                      "row")


def _head(path: Path, name: str, n: int = _HEAD_BYTES) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise unreadable(name, exc) from exc


def _sha256(path: Path, name: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as exc:
        raise unreadable(name, exc) from exc
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


#: A column name made only of digits and separators (1, 2011-05-06, 4711-0815, 12,5) is a
#: value: no data dictionary names a column so. Used here and by io.load.
VALUE_LIKE_NAME = re.compile(r"[\d\s.,:;/+\-]+")


def headerless(label: str) -> CohortError:
    """The refusal of a header-less export; it never quotes the line (the first patient's
    id and dates)."""
    return refusal(label, "the first line looks like data, not a header (a column name made "
                   "of digits, like a date or a number)", "export the table with its header row")


def _check_columns(names: list[Any], label: str) -> list[str]:
    """Strip whitespace/BOM from column names and reject blank or duplicated ones."""
    clean: list[str] = []
    for raw in names:
        text = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
        clean.append(text.strip().strip("\ufeff").strip())
    if not clean:
        raise refusal(label, "the table has no columns", "export it again with a header row")
    blank = [i + 1 for i, c in enumerate(clean) if c == ""]
    if blank:
        where = ", ".join(str(i) for i in blank[:10]) + (" …" if len(blank) > 10 else "")
        raise refusal(label, f"column{'s' if len(blank) > 1 else ''} {where} "
                      f"{'have' if len(blank) > 1 else 'has'} no name in the header row",
                      "give every column a name and export the table again")
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
        raise refusal(label, f"the column name{'s' if len(dups) > 1 else ''} {shown} "
                      f"appear{'' if len(dups) > 1 else 's'} more than once", "rename the "
                      "duplicates so that every column name is unique")
    return clean


def _no_rows(label: str) -> CohortError:
    return refusal(label, "the table has columns but no rows", "export it again including the "
                   "records")


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
            raise refusal(label, f"column {name!r} holds {what}, which no registry field can take",
                          "export it as plain text or numbers, or leave the column out")


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


#: A header line longer than this is refused: no registry export has one (5,000 columns of
#: 60-character names are 300 KB), and reading further would only find a file that is not
#: delimited text. Raise it with the environment variable METSURV_MAX_HEADER_BYTES.
MAX_HEADER_BYTES = 16 << 20


#: Work limits for .xlsx workbooks (a 2 MB workbook can expand to a 2 GiB cell, an 8 MB one
#: can hold 30 million rows). Size and ratio are checked from the zip directory before
#: anything is parsed; rows and cells by counting tags in the XML stream of every sheet
#: before openpyxl opens the workbook. Each is raised by the environment variable
#: ``METSURV_`` + its name.
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

#: Wall-clock seconds a database query may run (a recursive CTE without an end runs forever
#: and reads nothing from the file). Raise it with METSURV_MAX_QUERY_SECONDS.
MAX_QUERY_SECONDS = 60
#: Rows a database query may return (each row costs memory before anything is checked).
#: Raise it with METSURV_MAX_QUERY_ROWS.
MAX_QUERY_ROWS = 20_000_000


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
        raise refusal(name, f"the environment variable {var} must be a positive whole number "
                      f"(got {raw!r})", f"set it to e.g. {default} or unset it")
    return value


