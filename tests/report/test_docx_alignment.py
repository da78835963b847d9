"""Decimal-aligned numbers in report.docx (issue 12, item 1): each column of numbers has one
decimal tab stop, placed so that the widest part left of the aligned point and the widest
part right of it fit in the column; text columns and the header row have none.

Oracles: the aligned point is Word's rule for a decimal tab (the first ".", else the end of
the first number; LibreOffice's Word-compatible layout, sw/source/core/text/inftxt.cxx
ScanPortionEnd, implements the same), checked by hand-written cells (synthetic truth), and
LibreOffice's rendering of the file: the points' x positions in the PDF it prints."""

from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest

docx = pytest.importorskip("docx")

from docx.enum.text import WD_ALIGN_PARAGRAPH  # noqa: E402
from docx.oxml.ns import qn  # noqa: E402

from metsurv.report import analyse, compose, load_config, load_study  # noqa: E402
from metsurv.report.document import Table, item_named  # noqa: E402
from metsurv.report.render_docx import (  # noqa: E402
    CELL_MARGIN_CM,
    _decimal_split,
    _decimal_tab,
    _numeric_columns,
    _text_cm,
    render_docx,
    table_docx,
)

BUILT = "30 November 2026, 08:26:27 UTC"

#: The cells the issue names, in one column of estimates and one of p-values.
CELLS = pd.DataFrame({
    "Term": ["Age", "Sex: male vs female", "Histology: sarcoma", "Nodal status: N1",
             "Stage", "Grade", "Centre", "Year"],
    "HR (95% CI)": ["33.2 (31.7–34.9)", "1.00 (ref)", "0.54 (0.48–0.61)", "4,572",
                    "12 (3.4%)", "NA", "—", "reference"],
    "p": ["<0.001", "< 0.001", "0.047", "NA", "0.20", "", "—", "1"],
})


def _stops(p) -> list[tuple[str, int]]:
    """A paragraph's tab stops as (kind, position in twips), from its XML."""
    return [(t.get(qn("w:val")), int(t.get(qn("w:pos"))))
            for t in p._p.xpath("./w:pPr/w:tabs/w:tab")]


@pytest.mark.parametrize(("text", "parts"), [
    ("33.2 (31.7–34.9)", ("33", ".2 (31.7–34.9)")),  # estimate (CI): its first point
    ("0.54 (0.48–0.61)", ("0", ".54 (0.48–0.61)")),
    ("1.00 (ref)", ("1", ".00 (ref)")),
    ("4,572", ("4,572", "")),  # an integer: its last digit (thousands comma inside)
    ("12 (3.4%)", ("12", " (3.4%)")),  # n (%): the count's last digit, not the % point
    ("<0.001", ("<0", ".001")),
    ("< 0.001", ("< 0", ".001")),
    ("-13.8 (-15.4–-12.1)", ("-13", ".8 (-15.4–-12.1)")),
    ("0–1", ("0", "–1")),
    ("NA", None), ("—", None), ("reference", None), ("", None),
])
def test_decimal_split_is_words_aligned_point(text, parts):
    assert _decimal_split(text) == parts


def test_numeric_columns_keep_placeholders_out_of_the_vote():
    rows = [list(CELLS.columns)] + CELLS.values.tolist()
    assert _numeric_columns(rows) == [False, True, True]
    # text with a few numbers stays text; a column of words alone is not numeric
    assert _numeric_columns([["Level"], ["Single"], ["2-3"], ["≥4"]]) == [False]
    assert _numeric_columns([["x"], ["NA"], ["—"]]) == [False]
    assert _numeric_columns([["Level"], ["DFI 0-11 mo"], ["DFI 12-35 mo"], ["7"]]) == [False]


def test_tab_fits_widest_integer_and_widest_fraction():
    cells = CELLS["HR (95% CI)"].tolist()
    size = 8.0
    parts = [p for p in map(_decimal_split, cells) if p]
    left = max(_text_cm(a, size) for a, _ in parts)  # "4,572"
    right = max(_text_cm(b, size) for _, b in parts)  # ".54 (0.48–0.61)"
    assert _text_cm("4,572", size) == left and _text_cm(".54 (0.48–0.61)", size) == right
    wide = 5.0
    stop = _decimal_tab(cells, wide, size)
    text = wide - 2 * CELL_MARGIN_CM
    assert stop + right <= text < stop + right + 0.05  # flush right, as its header
    assert stop >= left
    # too narrow for both: the integer parts fit, the stop stays inside the column
    narrow = left + 2 * CELL_MARGIN_CM + 0.2
    assert _decimal_tab(cells, narrow, size) == pytest.approx(left)
    assert _decimal_tab(["NA", "—"], wide, size) is None
    # Calibri's digits are all 1038/2048 em wide: "4,572" is 4 digits and a comma
    assert _text_cm("4,572", 10) == pytest.approx((4 * 1038 + 511) / 2048 * 10 / 72 * 2.54)


@pytest.fixture(scope="module")
def cells_doc(tmp_path_factory):
    path = tmp_path_factory.mktemp("align") / "cells.docx"
    table_docx(Table("cells", "Aligned cells", "Synthetic cells.", CELLS), path, number=1)
    return path, docx.Document(str(path)).tables[0]


def test_numeric_cells_have_one_decimal_stop_per_column(cells_doc):
    path, table = cells_doc
    rows = table.rows
    for j, name in enumerate(CELLS.columns):
        head = rows[0].cells[j].paragraphs[0]
        assert _stops(head) == []  # the header row is as it was
        assert head.alignment == (WD_ALIGN_PARAGRAPH.RIGHT if j else None)
        positions = set()
        for i, text in enumerate(CELLS[name], start=1):
            p = rows[i].cells[j].paragraphs[0]
            assert p.text == text  # the printed cell, no tab character added
            stops = _stops(p)
            if j == 0 or not text:
                assert stops == [] and p.alignment is None
            elif _decimal_split(text) is None and not positions:
                raise AssertionError("rows are ordered: a number comes first")
            elif _decimal_split(text) is None and _text_cm(text, 8.0) > min(positions) / 567:
                assert stops == [] and p.alignment == WD_ALIGN_PARAGRAPH.CENTER
            else:  # numbers, and words that fit left of the point end at it
                assert [k for k, _ in stops] == ["decimal"] and p.alignment is None
                positions.add(stops[0][1])
        if j:
            assert len(positions) == 1
            grid = int(table._tbl.tblGrid.findall(qn("w:gridCol"))[j].get(qn("w:w")))
            margin = round(CELL_MARGIN_CM / 2.54 * 1440)
            assert 0 < positions.pop() < grid - 2 * margin


def test_word_wider_than_integer_parts_is_centred(tmp_path):
    """'reference' among hazard ratios whose integer parts are one digit: it cannot end
    at the point, so it is centred; 'NA' can, so it does."""
    frame = pd.DataFrame({"Level": ["a", "b", "c", "d"],
                          "Hazard ratio, univariable model (95% CI)": ["2.11 (1.93–2.31)", "reference", "NA",
                                          "0.32 (0.26–0.38)"]})
    path = tmp_path / "ref.docx"
    table_docx(Table("ref", "Ref", "", frame), path)
    cells = [r.cells[1].paragraphs[0] for r in docx.Document(str(path)).tables[0].rows[1:]]
    stop = _stops(cells[0])[0][1] / 567  # cm
    assert _text_cm("reference", 8.0) > stop > _text_cm("NA", 8.0)
    assert _stops(cells[1]) == [] and cells[1].alignment == WD_ALIGN_PARAGRAPH.CENTER
    # centred on the block of numbers (flush right under the wide header), not the column
    grid = int(docx.Document(str(path)).tables[0]._tbl.tblGrid.findall(qn("w:gridCol"))[1]
               .get(qn("w:w"))) / 567 - 2 * CELL_MARGIN_CM
    indent = cells[1].paragraph_format.left_indent
    centre = ((indent.cm if indent else 0.0) + grid) / 2
    block = (stop - _text_cm("2", 8.0), stop + _text_cm(".11 (1.93–2.31)", 8.0))
    assert centre > grid / 2 and block[0] < centre < block[1]
    assert abs(centre - sum(block) / 2) < 0.05
    assert _stops(cells[2]) == _stops(cells[3]) == _stops(cells[0])
    assert cells[2].alignment is None


def test_table_docx_byte_identical(cells_doc, tmp_path):
    path, _ = cells_doc
    again = tmp_path / "again.docx"
    table_docx(Table("cells", "Aligned cells", "Synthetic cells.", CELLS), again, number=1)
    assert again.read_bytes() == path.read_bytes()


@pytest.fixture(scope="module")
def report_doc(small_study, tmp_path_factory):
    cfg = load_config(small_study)
    cohort = load_study(cfg)
    sections = compose(cfg, analyse(cfg, cohort))
    blank = _blank_png()
    path = tmp_path_factory.mktemp("align") / "report.docx"
    render_docx(cfg, cohort, sections, path, BUILT, lambda name: blank)
    return sections, docx.Document(str(path))


def _blank_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (10, 10), "white").save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("name", ["table1", "cox", "survival", "irlm_battery"])
def test_report_tables_numbers_on_decimal_stops(report_doc, name):
    """In the report's tables every cell holding a number is on its column's decimal
    stop; the header row and the label columns carry no tab stop."""
    sections, doc = report_doc
    item = item_named(sections, name)
    title = re.sub(r"^Table \d+\. ", "", item.title)
    tables = [t for t in doc.tables
              if t._tbl.getprevious() is not None
              and "".join(t._tbl.getprevious().itertext()).endswith(title)]
    assert len(tables) == 1
    table = tables[0]
    frame = item.frame.astype(object).where(item.frame.notna(), "").astype(str)
    rows = [list(frame.columns)] + frame.values.tolist()
    numeric = _numeric_columns(rows)
    assert not numeric[0] and any(numeric)
    for j in range(len(rows[0])):
        assert _stops(table.rows[0].cells[j].paragraphs[0]) == []
        pos = set()
        for i in range(1, len(rows)):
            p = table.rows[i].cells[j].paragraphs[0]
            stops = _stops(p)
            assert not p.text.startswith("\t")
            if numeric[j] and _decimal_split(rows[i][j]) is not None:
                assert [k for k, _ in stops] == ["decimal"]
                pos.add(stops[0][1])
            elif not numeric[j]:
                assert stops == []
        assert len(pos) == (1 if numeric[j] else 0)


def _carlito() -> bool:
    fc = shutil.which("fc-match")
    if not fc:
        return False
    out = subprocess.run([fc, "Calibri"], capture_output=True, text=True).stdout
    return "Carlito" in out or "Calibri" in out


@pytest.mark.skipif(not (shutil.which("soffice") and shutil.which("pdftotext") and _carlito()),
                    reason="needs LibreOffice, pdftotext and Calibri or Carlito")
def test_libreoffice_renders_points_in_one_line(tmp_path):
    """LibreOffice prints the file with the aligned points of a column at one x: from
    each cell's first word box, its left edge plus the printed width of the part before
    the point (Calibri metrics; Carlito has the same), within 0.3 pt."""
    values = ["33.2 (31.7–34.9)", "1.00 (ref)", "4,572", "12 (3.4%)", "< 0.001",
              "246.9 (155.2–NA)", "7", "0.54 (0.48–0.61)"]
    frame = pd.DataFrame({"Row": [f"r{i}" for i in range(len(values))], "Value": values})
    path = tmp_path / "t.docx"
    table_docx(Table("t", "T", "", frame), path)
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                    str(path)], check=True, capture_output=True, timeout=180)
    html = subprocess.run(["pdftotext", "-bbox", str(tmp_path / "t.pdf"), "-"],
                          check=True, capture_output=True, text=True).stdout
    words = [(float(x0), float(x1), float(y0), w) for x0, y0, x1, w in re.findall(
        r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', html)]
    points = []
    for i, v in enumerate(values):
        y = next(y0 for _, _, y0, w in words if w == f"r{i}")  # the row's line
        line = sorted((x0, w) for x0, _, y0, w in words if abs(y0 - y) < 1 and w != f"r{i}")
        before = _decimal_split(v)[0].split()  # "< 0": the point is in the 2nd word
        x0, word = line[len(before) - 1]
        assert word == v.split()[len(before) - 1]
        points.append(x0 + _text_cm(before[-1], 8.0) / 2.54 * 72)
    assert max(points) - min(points) < 0.3, points
