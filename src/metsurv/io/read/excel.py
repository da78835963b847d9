"""Excel .xlsx workbooks: the zip directory and every sheet's XML are checked against the
``MAX_XLSX_*`` limits before openpyxl parses anything; stale formulas and zero-padded
codes are handled as the user sees them."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import CohortError
from metsurv.io.read._common import (
    MAX_XLSX_ROWS,
    RawTable,
    _check_columns,
    _finish,
    _limit,
    _no_rows,
    _sha256,
)
from metsurv.io.read.errors import brief, over_limit, refusal

# Excel
# --------------------------------------------------------------------------------------




_RATIO_FROM = 16 << 20
_ZIP_CHUNK = 1 << 20


def _xlsx_refusal(name: str, found: str, what: str, limit: int) -> CohortError:
    return over_limit(name, f"{found}, over the limit {what} = {limit:,}", what, limit,
                      "if the workbook is genuine, export the table as CSV or Parquet")


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
        raise refusal(name, f"every worksheet of the workbook is hidden "
                      f"({', '.join(repr(ws.title) for ws in sheets)})", "unhide the one to read, "
                      "or " "name it with 'sheet:' in the mapping's source")
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
        raise refusal(name, f"the workbook is damaged or incomplete ({brief(exc, 80)})",
                      "save it again from Excel or export the table again") from exc
    except Exception as exc:
        raise refusal(name, f"the file is not a readable Excel .xlsx workbook ({brief(exc, 80)})",
                      "save it again from Excel as .xlsx or export the table as CSV") from exc
    notes: tuple[str, ...] = ()
    try:
        sheets = wb.worksheets
        titles = [ws.title for ws in sheets]
        if not sheets:
            raise refusal(name, "the workbook has no worksheets", "save the table on a worksheet")
        if sheet is None:
            ws, notes = _default_sheet(wb, name)
        elif isinstance(sheet, bool) or not isinstance(sheet, int | str):
            raise refusal(name, f"sheet must be a sheet name or a 0-based position (got {sheet!r})",
                          f"the workbook has {', '.join(map(repr, titles))}")
        elif isinstance(sheet, int):
            if not -len(sheets) <= sheet < len(sheets):
                raise refusal(name, f"there is no sheet at position {sheet} (the workbook has "
                              f"{len(sheets)}: {', '.join(map(repr, titles))})",
                              "pass a valid sheet")
            ws = sheets[sheet]
        else:
            if sheet not in titles:
                raise refusal(name, f"there is no sheet named {sheet!r} (the workbook has "
                              f"{', '.join(map(repr, titles))})", "pass one of those")
            ws = wb[sheet]
        label = f"{name} [{ws.title}]" if sheet is not None else name
        try:
            header, records, row_numbers = _excel_rows(ws, label,
                                                       _limit("MAX_XLSX_ROWS", name))
        except CohortError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as exc:
            raise refusal(name, f"the workbook is damaged or incomplete ({brief(exc, 80)})",
                          "save it again from Excel or export the table again") from exc
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
            raise refusal(label, f"row {number} has a value in column {_excel_letter(extra)}, "
                          "which has no name in the header row", "give that column a name or "
                          "delete " "the stray cells")
        if len(values) < width:
            values = values + (None,) * (width - len(values))
        records.append(values[:width])
        numbers.append(number)
    if header is None:
        raise refusal(label, "the sheet is empty", "put the table (header row and records) on it")
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
        raise refusal(label, f"column(s) {cols} hold formulas whose results were never calculated "
                      "(a workbook written by a program and not recalculated)",
                      "open the workbook in " "Excel or LibreOffice and save it (this calculates "
                      "the formulas), or export the " "sheet as CSV, then read it again")


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
