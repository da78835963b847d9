"""SAS (.sas7bdat, .xpt), Stata (.dta) and SPSS (.sav, .zsav) via pyreadstat: values as
shown by their display formats, the C parser run first in a forked child on Linux."""

from __future__ import annotations

import faulthandler
import os
import re
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import CohortError
from metsurv.io.read._common import (
    RawTable,
    _finish,
    _head,
    _record_numbers,
    _sha256,
)
from metsurv.io.read.errors import _FORMAT_LABEL, brief, refusal

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
            raise _implausible(name) from None
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
        raise refusal(name, f"the file is damaged or is not {_FORMAT_LABEL[fmt]} "
                      f"({brief(exc, 120)})", "export the table again") from exc
    expected = getattr(meta, "number_rows", None)
    if isinstance(expected, int) and expected >= 0 and expected != len(frame):
        raise refusal(name, f"the file announces {expected} rows but holds {len(frame)}, so it is "
                      "incomplete or damaged", "copy or export the file again")
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


def _implausible(name: str) -> CohortError:
    return refusal(name, "the file announces more rows than a file of its size can hold, so it "
                   "is damaged", "copy or export the file again")


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
            raise refusal(name, f"reading the file did not finish within {limit:.0f} s, so it is "
                          f"probably damaged", f"export {what} again")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    if os.WIFSIGNALED(status):
        raise refusal(name, f"the file is damaged: the reader for {what} crashed on it "
                      f"(signal {os.WTERMSIG(status)})", "export the table again")
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3:
        raise refusal(name, "reading the file needs more memory than is available (a damaged file "
                      "can announce an impossible number of rows)", "check the file, or free "
                      "memory " "and try again")
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 4:
        raise _implausible(name)
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
        raise refusal(name, "the file is incomplete (it was cut off before its end)",
                      "copy or export the file again")


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
