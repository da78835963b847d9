"""The one builder of the CohortError messages every reader raises.

Every message is one line, ``"<file>: <what is wrong>; <what to do>."``: :func:`refusal`
builds it, and the helpers below are the shapes that recur across format families (a file
that cannot be read, a work limit exceeded, bytes that are not the format the name says).
"""

from __future__ import annotations

from metsurv.errors import CohortError

#: What a file's first bytes (see ``_common._kind_of``) say it is, in words.
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
#: The extension a file of that kind would carry.
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
#: What a file of each format (from its extension) should be, in words.
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


def brief(exc: BaseException, limit: int = 200) -> str:
    """A library exception as one short line (whitespace collapsed, cut at ``limit``)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def refusal(name: str, problem: str, todo: str) -> CohortError:
    """The CohortError ``"<name>: <problem>; <todo>."``.

    Parameters
    ----------
    name
        The file (or source) label the user knows, e.g. ``"patients.csv"``.
    problem
        What is wrong, without the trailing ``;``.
    todo
        What the user should do, without the final full stop.

    Returns
    -------
    CohortError
        To be raised by the caller.
    """
    return CohortError(f"{name}: {problem}; {todo}.")


def unreadable(name: str, exc: BaseException) -> CohortError:
    """An operating-system error while reading the file's bytes."""
    return refusal(name, f"the file cannot be read ({brief(exc)})", "check its permissions")


def over_limit(name: str, problem: str, what: str, limit: int, todo: str) -> CohortError:
    """A work limit ``what`` (``MAX_*``, now ``limit``) exceeded: ``todo``, or raise the
    limit with the environment variable ``METSURV_`` + ``what``."""
    return refusal(name, problem, f"{todo}, or raise the limit with the environment variable "
                   f"METSURV_{what} (e.g. METSURV_{what}={2 * limit})")


def wrong_format(name: str, fmt: str, kind: str) -> CohortError:
    """The file's first bytes say ``kind``, not the format ``fmt`` its extension says."""
    ext = _KIND_EXT.get(kind)
    if fmt == "csv":
        expected, what = "delimited text", _KIND_LABEL.get(kind, "binary data")
        todo = (f"rename it to {ext} if that is what it is" if ext and kind != "text"
                else "export the table again as delimited text")
    else:
        expected, what = _FORMAT_LABEL[fmt], _KIND_LABEL.get(kind, "something else")
        if ext is not None and not (fmt == "excel" and kind == "zip"):
            todo = f"rename it to {ext} if that is what it is, or export the table again"
        else:
            todo = "export the table again in the format its name says"
    return refusal(name, f"the file is not {expected} as its name says (its bytes look like "
                   f"{what})", todo)


def missing_input_message(option: str, path: object) -> str:
    """The one line for a command-line input file that is not there, the same for every
    subcommand and option (``--resections``, ``--mapping``).

    Parameters
    ----------
    option
        The option as the user typed it, e.g. ``"--resections"``.
    path
        The path given with it, shown as given.

    Returns
    -------
    str
        ``"<option> <path>: no such file; check the path."``

    >>> missing_input_message("--resections", "MISSING.csv")
    '--resections MISSING.csv: no such file; check the path.'
    """
    return str(refusal(f"{option} {path}", "no such file", "check the path"))


def require_input(option: str, path: object) -> None:
    """Refuse ``path`` given with ``option`` when it is not an existing file (None: not
    given, nothing to check).

    Raises
    ------
    CohortError
        With :func:`missing_input_message`; a folder gets the same line ("no such file").
    """
    from pathlib import Path

    if path is not None and not Path(str(path)).is_file():
        raise CohortError(missing_input_message(option, path))
