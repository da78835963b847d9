"""Bounded work for .xlsx (issue 10, item 4): a workbook that expands beyond the size,
compression-ratio, row or cell limit is refused within seconds, with a message naming the
limit and the environment variable that raises it; an ordinary workbook is unaffected."""

from __future__ import annotations

import time
import zipfile

import openpyxl
import pytest

from metsurv.errors import CohortError
from metsurv.io import read
from metsurv.io.read import read_table

SHEET = "xl/worksheets/sheet1.xml"
HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>patient_id</t></is></c>'
        b'<c r="B1" t="inlineStr"><is><t>note</t></is></c></row>')
TAIL = b"</sheetData></worksheet>"


def _template(path):
    wb = openpyxl.Workbook()
    wb.active.append(["patient_id", "note"])
    wb.active.append(["a", "x"])
    wb.save(path)


def _with_sheet_xml(tmp_path, name, parts):
    """A real workbook whose first sheet's XML is replaced by the streamed ``parts``."""
    src = tmp_path / "template.xlsx"
    _template(src)
    out = tmp_path / name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename == SHEET:
                with zout.open(SHEET, "w", force_zip64=True) as fh:
                    for part in parts:
                        fh.write(part)
            else:
                zout.writestr(info, zin.read(info.filename))
    return out


def _huge_cell(n_mib):
    yield HEAD + b'<row r="2"><c r="A2" t="inlineStr"><is><t>'
    block = b"A" * (1 << 20)
    for _ in range(n_mib):
        yield block
    yield b"</t></is></c></row>" + TAIL


def _many_rows(n):
    yield HEAD
    step = 100_000
    for lo in range(2, n + 2, step):
        yield b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (i, i, i)
                       for i in range(lo, min(lo + step, n + 2)))
    yield TAIL


def _refused(path, match):
    start = time.monotonic()
    with pytest.raises(CohortError, match=match) as err:
        read_table(path)
    elapsed = time.monotonic() - start
    assert elapsed < 5, f"refusal took {elapsed:.1f} s"
    assert str(err.value).startswith(path.name + ":")
    return str(err.value)


def test_xlsx_zip_bomb_cell_refused_by_compression_ratio(tmp_path):
    p = _with_sheet_xml(tmp_path, "bomb.xlsx", _huge_cell(64))  # 64 MiB cell, ~65 KB file
    assert p.stat().st_size < 1 << 20
    msg = _refused(p, r"expands \d[\d,]* times .*zip bomb.*MAX_XLSX_RATIO")
    assert "METSURV_MAX_XLSX_RATIO" in msg


def test_xlsx_decompressed_size_limit_named_and_raisable(tmp_path, monkeypatch):
    p = _with_sheet_xml(tmp_path, "big.xlsx", _huge_cell(3))
    monkeypatch.setenv("METSURV_MAX_XLSX_BYTES", str(2 << 20))
    msg = _refused(p, r"big\.xlsx: the workbook expands to [\d,]+ bytes, over the limit "
                      r"MAX_XLSX_BYTES = 2,097,152;")
    assert "environment variable METSURV_MAX_XLSX_BYTES" in msg
    monkeypatch.setenv("METSURV_MAX_XLSX_BYTES", str(64 << 20))
    t = read_table(p)  # raised: read
    assert len(t.frame.loc[0, "patient_id"]) == 3 << 20


def test_xlsx_many_rows_refused_within_seconds(tmp_path):
    p = _with_sheet_xml(tmp_path, "rows.xlsx", _many_rows(read.MAX_XLSX_ROWS + 10))
    _refused(p, r"the sheet xl/worksheets/sheet1\.xml has more than 1,048,576 rows.*"
                  r"METSURV_MAX_XLSX_ROWS")


def test_xlsx_row_and_cell_limits_raisable_by_environment(tmp_path, monkeypatch):
    p = tmp_path / "cells.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append([f"c{j}" for j in range(10)])
    for i in range(100):
        wb.active.append([i] * 10)
    wb.save(p)
    monkeypatch.setenv("METSURV_MAX_XLSX_CELLS", "500")
    _refused(p, r"more than 500 cells, over the limit MAX_XLSX_CELLS = 500")
    monkeypatch.setenv("METSURV_MAX_XLSX_CELLS", "1010")
    monkeypatch.setenv("METSURV_MAX_XLSX_ROWS", "50")
    _refused(p, r"more than 50 rows, over the limit MAX_XLSX_ROWS = 50")
    monkeypatch.setenv("METSURV_MAX_XLSX_ROWS", "101")
    assert read_table(p).frame.shape == (100, 10)
    monkeypatch.setenv("METSURV_MAX_XLSX_ROWS", "-3")
    _refused(p, "METSURV_MAX_XLSX_ROWS must be a positive whole number")


def test_xlsx_row_count_is_exact_across_stream_chunks(tmp_path, monkeypatch):
    n = 60_000  # ~2.7 MB of sheet XML: several 1 MiB chunks, tags cut at the seams
    p = _with_sheet_xml(tmp_path, "exact.xlsx", _many_rows(n))
    monkeypatch.setenv("METSURV_MAX_XLSX_ROWS", str(n + 1))  # header + n records
    monkeypatch.setenv("METSURV_MAX_XLSX_CELLS", str(n + 2))  # 2 header cells + n
    assert len(read_table(p).frame) == n
    monkeypatch.setenv("METSURV_MAX_XLSX_CELLS", str(n + 1))
    _refused(p, "MAX_XLSX_CELLS")
