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

Layout: :mod:`._common` (RawTable, SqlSource, work limits, magic bytes, column checks),
:mod:`.errors` (the one builder of every CohortError message), one module per format
family (:mod:`.text`, :mod:`.excel`, :mod:`.parquet`, :mod:`.statistical`,
:mod:`.database`) and :mod:`._dispatch` (:func:`read_table`, which picks the family).
"""

# also importable from here, as before the split: CohortError, VALUE_LIKE_NAME, headerless,
# is_number (io.load, io.convert) and the private names tests use
from metsurv.errors import CohortError  # noqa: F401
from metsurv.io.read._common import (  # noqa: F401
    FORMATS,
    MAX_HEADER_BYTES,
    MAX_QUERY_ROWS,
    MAX_QUERY_SECONDS,
    MAX_XLSX_BYTES,
    MAX_XLSX_CELLS,
    MAX_XLSX_RATIO,
    MAX_XLSX_ROWS,
    VALUE_LIKE_NAME,
    RawTable,
    SqlSource,
    _limit,
    headerless,
)
from metsurv.io.read._dispatch import read_table
from metsurv.io.read.database import _DUCKDB_LOCK  # noqa: F401
from metsurv.io.read.statistical import (  # noqa: F401
    _as_shown,
    _count_to_dates,
    _crash_guard,
    is_number,
)

__all__ = ["RawTable", "SqlSource", "read_table", "FORMATS", "MAX_HEADER_BYTES", "MAX_XLSX_BYTES",
           "MAX_XLSX_CELLS", "MAX_XLSX_RATIO", "MAX_XLSX_ROWS", "MAX_QUERY_SECONDS",
           "MAX_QUERY_ROWS"]
