"""Render a report's sections as a Word document (``report.docx``), for a manuscript.

The document holds what ``index.html`` holds, in Word's own terms: the title and the lead
(endpoint, counts), each section's heading and introduction, every table as a real Word
table (header row repeated on each page, numbers aligned on the decimal point by a decimal
tab stop per column, caption "Table N. title" above, the table's caption and its results'
warnings as notes under it), every figure as a PNG with its caption "Figure N. title.
caption", a section the data cannot support as its heading and one line "Not shown:
reason", and the Methods paragraph. Tables of more than
:data:`WIDE_COLUMNS` columns are set on landscape pages.

Written with python-docx (``python-docx>=1.1``). The file is reproducible: the same sections
and build time give a byte-identical file (fixed document dates, fixed zip entry dates).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metsurv.report import style
from metsurv.report import tables as T
from metsurv.report.config import ReportConfig
from metsurv.report.document import UNNUMBERED_TABLES, Figure, Section, Table
from metsurv.report.render_html import BUILT_PREFIX
from metsurv.report.sections._common import endpoint_text, lead_counts, version

__all__ = ["render_docx", "table_docx", "png_bytes", "WIDE_COLUMNS", "PAGE_SIZES"]

#: Tables with more columns than this are set on a landscape page.
WIDE_COLUMNS = 8
#: Page sizes (width, height) in centimetres, portrait.
PAGE_SIZES = {"A4": (21.0, 29.7), "Letter": (21.59, 27.94)}
#: Page margins, centimetres.
MARGIN_CM = 2.0
#: Body and table fonts: a proportional font (Word and LibreOffice substitute a metric
#: equivalent, e.g. Carlito, when Calibri is missing).
FONT = "Calibri"
BODY_PT = 10.5
#: Table text sizes, tried in turn: the largest at which no word of the table is broken
#: (8 pt fits all but the widest tables; 7 pt the 20 columns of the published comparison).
TABLE_SIZES = (8.0, 7.5, 7.0)
#: Left and right cell padding, centimetres.
CELL_MARGIN_CM = 0.1
NOTE_PT = 8.0
#: Zip entry date of every part (the zip format's earliest date: no build time leaks).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_TABLE_PREFIX = re.compile(r"^Table\s+\d+[.:]\s*")
#: Advance widths of Calibri's regular face in 1/2048 em, characters 32-126 (read from its
#: metric twin Carlito-Regular.ttf; fixed here so the document does not depend on the fonts
#: installed). They place the decimal tab stops.
_ASCII_WIDTHS = (
    463, 667, 821, 1020, 1038, 1464, 1397, 452, 621, 621, 1020, 1020, 511, 627, 517, 791,
    1038, 1038, 1038, 1038, 1038, 1038, 1038, 1038, 1038, 1038, 548, 548, 1020, 1020, 1020, 949,
    1831, 1185, 1114, 1092, 1260, 1000, 941, 1292, 1276, 516, 653, 1064, 861, 1751, 1322, 1356,
    1058, 1378, 1112, 941, 998, 1314, 1162, 1822, 1063, 998, 959, 628, 791, 628, 1020, 1020,
    596, 981, 1076, 866, 1076, 1019, 625, 964, 1076, 470, 490, 931, 470, 1636, 1076, 1080,
    1076, 1076, 714, 801, 686, 1076, 925, 1464, 887, 927, 809, 644, 943, 644, 1020)
_OTHER_WIDTHS = {"\u2013": 1020, "\u2014": 1854, "\u2212": 1020, "\u2264": 1020,
                 "\u2265": 1020, "\u00b1": 1020, "\u00d7": 1020, "\u00b7": 517}
#: Width of any other character (wider than most letters: a tab stop errs to the left).
_WIDE_CHAR = 1400
#: Gap kept between the widest number and the cell's right text edge, centimetres (the
#: renderer's rounding must not wrap a number that just fits).
_TAB_SLACK_CM = 0.03

FigurePNG = Callable[[str], bytes] | Mapping[str, Any] | None


def render_docx(cfg: ReportConfig, cohort: Any, sections: list[Section], path: Path,
                built: str, figure_png: FigurePNG = None, *, page_size: str = "A4") -> None:
    """Write the report as a Word document.

    Parameters
    ----------
    cfg : ReportConfig
        The study config (title, endpoint).
    cohort : LoadedCohort
        The cohort as loaded (its counts and input SHA-256 go in the lead and provenance).
    sections : list of Section
        The report's sections (:func:`metsurv.report.sections.compose`).
    path : Path
        File to write (``report.docx``); overwritten.
    built : str
        The build time as printed (:func:`metsurv.report.output.built_at`); it is printed
        under the title and fixes the document's dates (``SOURCE_DATE_EPOCH`` first).
    figure_png : callable, mapping or None
        Each figure's PNG by name: a function ``name -> bytes``, or a mapping of name to a
        path of a PNG file (``figures/<name>.png``) or to PNG bytes. None: each figure is
        drawn (:meth:`Figure.draw`) and saved as PNG at 300 dpi in memory.
    page_size : {"A4", "Letter"}
        Paper size; portrait with 2 cm margins (wide tables on landscape pages).

    Raises
    ------
    ValueError
        ``page_size`` is not one of :data:`PAGE_SIZES`.
    KeyError
        ``figure_png`` is a mapping without one of the figures.
    """
    doc = _new_document(page_size)
    doc.add_paragraph(cfg.title, style="Title")
    doc.add_paragraph(f"{endpoint_text(cfg)} {lead_counts(cohort, cfg)}")
    _small(doc.add_paragraph(f"{BUILT_PREFIX}{built} with metsurv {version('metsurv')}"),
           gray=True)
    png = _png_source(figure_png, sections)
    n_table = n_figure = 0
    for i, sec in enumerate(sections, 1):
        # a section that opens with a wide table starts on its landscape page
        _orientation(doc, landscape=bool(sec.items) and _is_wide(sec.items[0]))
        doc.add_heading(f"{i}. {sec.title}", level=1)
        if sec.reason:
            _small(doc.add_paragraph(f"Not shown: {sec.reason}"), gray=True, size=BODY_PT)
        if sec.intro:
            doc.add_paragraph(sec.intro)
        for item in sec.items:
            if isinstance(item, Figure):
                n_figure += 1
                _portrait(doc)
                _add_figure(doc, item, png(item.name), n_figure)
            elif item.frame.empty:  # a factor the data cannot show: its reason
                p = doc.add_paragraph()
                p.add_run(f"{_strip_number(item.title)}. ").bold = True
                p.add_run(item.caption)
            else:
                number = None
                if item.name not in UNNUMBERED_TABLES:
                    n_table += 1
                    number = n_table
                _add_table(doc, item, number)
    _portrait(doc)
    prov = cohort.provenance
    doc.add_heading("Provenance", level=1)
    text = f"Input SHA-256: {prov.get('sha256', '')}"
    if isinstance(prov.get("resections"), dict):
        text += f"; resections {prov['resections'].get('sha256', '')}"
    _small(doc.add_paragraph(text + ". Full record: provenance.json."))
    doc.core_properties.title = cfg.title
    _save(doc, Path(path), _fixed_time(built))


def table_docx(table: Table, path: Path, *, number: int | None = None,
               page_size: str = "A4") -> None:
    """Write one table on its own as a Word document (for a manuscript).

    Parameters
    ----------
    table : Table
        A report table (printed cells, title, caption, warnings).
    path : Path
        File to write; overwritten.
    number : int, optional
        Printed as "Table N." before the title; without it, the title alone.
    page_size : {"A4", "Letter"}
        Paper size; a table of more than :data:`WIDE_COLUMNS` columns is set landscape.

    Raises
    ------
    ValueError
        ``page_size`` is unknown, or the table has no rows (a factor that is not shown).
    """
    if table.frame.empty:
        raise ValueError(f"table {table.name!r} has no rows: {table.caption}")
    doc = _new_document(page_size)
    _add_table(doc, table, number)
    doc.core_properties.title = _strip_number(table.title)
    _save(doc, Path(path), _fixed_time(""))


def png_bytes(fig: Any, dpi: int = 300) -> bytes:
    """A matplotlib figure as PNG bytes, as :func:`metsurv.report.figures.save_figure`
    writes it (same dpi and metadata: byte-identical to ``figures/<name>.png``)."""
    buf = io.BytesIO()
    with style.figure_style():
        fig.savefig(buf, format="png", dpi=dpi, metadata=style.PNG_METADATA)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------
# document set-up


def _new_document(page_size: str) -> Any:
    from docx import Document
    from docx.shared import Cm, Pt, RGBColor

    if page_size not in PAGE_SIZES:
        raise ValueError(f"page_size {page_size!r}: use one of {', '.join(PAGE_SIZES)}")
    doc = Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = (Cm(v) for v in PAGE_SIZES[page_size])
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Cm(MARGIN_CM))
    sec.header_distance = sec.footer_distance = Cm(1.0)
    for name in ("Normal", "Title", "Heading 1", "Heading 2"):
        st = doc.styles[name]
        _font(st.element, FONT)
        st.font.name = FONT
        if name != "Normal":
            st.font.color.rgb = RGBColor(0, 0, 0)
    doc.styles["Normal"].font.size = Pt(BODY_PT)
    doc.styles["Title"].font.size = Pt(20)
    doc.styles["Heading 1"].font.size = Pt(14)
    pf = doc.styles["Normal"].paragraph_format
    pf.space_after = Pt(4)
    # the Title style's bottom rule and theme colours: a plain black title
    for bdr in doc.styles["Title"].element.xpath(".//w:pBdr"):
        bdr.getparent().remove(bdr)
    _page_number_footer(sec)
    return doc


def _font(el: Any, name: str) -> None:
    """Set every script's font of a style or run element (no theme font left to win)."""
    from docx.oxml.ns import qn

    rpr = el.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, fonts)
    for attr in list(fonts.attrib):
        del fonts.attrib[attr]
    for key in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(key), name)


def _page_number_footer(sec: Any) -> None:
    """A centred page number in the footer (every later section links to it)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    p = sec.footer.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    fld = OxmlElement("w:fldSimple")
    fld.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    fld.append(run)
    p._p.append(fld)


def _orientation(doc: Any, landscape: bool) -> None:
    """Start a new page section in the given orientation unless the current one has it."""
    from docx.enum.section import WD_ORIENT, WD_SECTION

    cur = doc.sections[-1]
    if (cur.orientation == WD_ORIENT.LANDSCAPE) == landscape:
        return
    empty = len(doc.element.body) == 1  # only the final sectPr: turn the first page
    _turn(cur if empty else doc.add_section(WD_SECTION.NEW_PAGE), landscape)


def _turn(sec: Any, landscape: bool) -> None:
    from docx.enum.section import WD_ORIENT

    w, h = sec.page_width, sec.page_height
    sec.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = (max(w, h), min(w, h)) if landscape else (min(w, h),
                                                                                 max(w, h))


def _portrait(doc: Any) -> None:
    _orientation(doc, landscape=False)


def _text_width_cm(doc: Any) -> float:
    sec = doc.sections[-1]
    return (sec.page_width - sec.left_margin - sec.right_margin) / 360000


def _small(p: Any, gray: bool = False, size: float = NOTE_PT, italic: bool = False) -> Any:
    from docx.shared import Pt, RGBColor

    for run in p.runs:
        run.font.size = Pt(size)
        run.italic = italic or None
        if gray:
            run.font.color.rgb = RGBColor(0x4D, 0x4D, 0x4D)
    return p


# ---------------------------------------------------------------------------------------
# figures


def _png_source(figure_png: FigurePNG, sections: list[Section]) -> Callable[[str], bytes]:
    if figure_png is None:
        figs = {f.name: f for sec in sections for f in sec.items if isinstance(f, Figure)}

        def draw(name: str) -> bytes:
            import matplotlib.pyplot as plt

            fig = figs[name].draw()
            try:
                return png_bytes(fig)
            finally:
                plt.close(fig)
        return draw
    if callable(figure_png):
        return figure_png

    def read(name: str) -> bytes:
        v = figure_png[name]
        return bytes(v) if isinstance(v, bytes | bytearray) else Path(v).read_bytes()
    return read


def _add_figure(doc: Any, item: Figure, png: bytes, number: int) -> None:
    """The figure at its own size (300 dpi; no wider than the text), centred, with its
    caption and warnings under it, kept on one page with the caption."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm

    pic = doc.add_paragraph()
    pic.alignment = WD_ALIGN_PARAGRAPH.CENTER
    pic.paragraph_format.keep_with_next = True
    run = pic.add_run()
    shape = run.add_picture(io.BytesIO(png))
    limit = Cm(_text_width_cm(doc))
    if shape.width > limit:
        shape.height = int(shape.height * limit / shape.width)
        shape.width = limit
    # a stable picture name (python-docx numbers them; keep the figure's name for readers)
    for docpr in run._r.xpath(".//wp:docPr"):
        docpr.set("descr", item.title)
    cap = doc.add_paragraph()
    cap.add_run(f"Figure {number}. ").bold = True
    cap.add_run(f"{item.title}. ").bold = True
    cap.add_run(item.caption)
    _small(cap, size=9)
    _notes(doc, (), item.notes)


# ---------------------------------------------------------------------------------------
# tables


def _is_wide(item: Figure | Table) -> bool:
    return isinstance(item, Table) and not item.frame.empty and item.frame.shape[1] > WIDE_COLUMNS


def _strip_number(title: str) -> str:
    return _TABLE_PREFIX.sub("", title)


def _cells(frame: pd.DataFrame) -> list[list[str]]:
    """The printed cells as text ("" for a missing value), header first."""
    body = frame.astype(object).where(frame.notna(), "")
    rows = [[str(c) for c in frame.columns]]
    rows += [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r]
             for r in body.itertuples(index=False)]
    return rows


def _numeric_columns(rows: list[list[str]]) -> list[bool]:
    """Columns of numbers: some body cell reads as a number, and at least half of the
    other non-empty body cells do, not counting placeholders (one word without a digit:
    "reference", "NA", "—"), so that a column of hazard ratios or p-values with those
    among them is still a column of numbers.

    >>> _numeric_columns([["p", "Level"], ["NA", "Single"], ["NA", "2-3"], ["0.20", "≥4"]])
    [True, False]
    """
    out = []
    for j in range(len(rows[0])):
        vals = [t for r in rows[1:] if (t := r[j].strip())]
        n_num = sum(map(T._looks_numeric, vals))
        n_word = sum(len(t.split()) == 1 and not any(c.isdigit() for c in t) for t in vals)
        out.append(n_num > 0 and 2 * n_num >= len(vals) - n_word)
    return out


def _decimal_split(text: str) -> tuple[str, str] | None:
    """The cell's text left and right of the point a decimal tab stop aligns, as Word (and
    LibreOffice for Word documents) finds it: the first ".", else the first character
    after the first run of digits that is neither a digit nor a thousands comma, else the
    end; None without a digit or "." (the text then ends at the tab stop).

    So "33.2 (31.7–34.9)" aligns on its first point, "4,572" and "12 (3.4%)" on the last
    digit of their first number, "< 0.001" on its point.

    >>> _decimal_split("12 (3.4%)"), _decimal_split("< 0.001"), _decimal_split("NA")
    (('12', ' (3.4%)'), ('< 0', '.001'), None)
    """
    digits = False
    for k, ch in enumerate(text):
        if "0" <= ch <= "9":
            digits = True
        elif ch == "." or (digits and ch not in ",'"):
            return text[:k], text[k:]
    return (text, "") if digits else None


def _text_cm(text: str, size_pt: float) -> float:
    """Printed width of ``text`` in Calibri at ``size_pt``, centimetres."""
    units = sum(_ASCII_WIDTHS[o - 32] if 32 <= (o := ord(ch)) < 127
                else _OTHER_WIDTHS.get(ch, _WIDE_CHAR) for ch in text)
    return units / 2048 * size_pt / 72 * 2.54


def _decimal_tab(cells: list[str], width_cm: float, size_pt: float) -> float | None:
    """Where a column's decimal tab stop goes, centimetres from the cell's left text edge:
    the block of numbers flush right (the widest part right of the aligned point ends at
    the right text edge, as the right-aligned header above it), moved right if needed so
    that the widest part left of it fits; None when no cell holds a number.

    ``cells`` are the body cells, ``width_cm`` the column's width (cell padding included).
    """
    parts = [p for p in map(_decimal_split, cells) if p is not None]
    if not parts:
        return None
    text_cm = width_cm - 2 * CELL_MARGIN_CM
    left = max(_text_cm(a, size_pt) for a, _ in parts)
    right = max(_text_cm(b, size_pt) for _, b in parts)
    return min(max(text_cm - right - _TAB_SLACK_CM, left), text_cm)


def _word_indent(cells: list[str], stop: float, word: str, width_cm: float,
                 size_pt: float) -> float:
    """Left indent, centimetres, that centres ``word`` (a cell without a number, wider than
    the space left of the decimal tab stop ``stop``) on a column's block of numbers rather
    than on the whole column (a wide header leaves the block right of the centre); less
    when the word would not fit right of it, never below 0."""
    parts = [p for p in map(_decimal_split, cells) if p is not None]
    left = max(_text_cm(a, size_pt) for a, _ in parts)
    right = max(_text_cm(b, size_pt) for _, b in parts)
    text_cm = width_cm - 2 * CELL_MARGIN_CM
    centre = stop + (right - left) / 2
    room = text_cm - _text_cm(word, size_pt) - 2 * _TAB_SLACK_CM
    return max(0.0, min(2 * centre - text_cm, room))


def _column_widths(rows: list[list[str]], total_cm: float, size_pt: float,
                   numeric: list[bool] | None = None) -> tuple[list[float], bool]:
    """Column widths in cm from the cells' lengths.

    Each column wants its longest cell (capped at 42 characters: longer text wraps), a
    column of numbers (``numeric``) the longest part left of the decimal point plus the
    longest part right of it (the cells aligned on their points), and
    needs at least its longest word, header included (no word broken). When the wanted
    widths exceed the text width, each column gives up a share of its slack (wanted minus
    needed), so narrow number columns keep their width and long text columns wrap; only
    when the needed widths alone are too wide are all shrunk alike.
    """
    char_cm = size_pt * 0.52 / 72 * 2.54
    pad_cm = 2 * CELL_MARGIN_CM + 0.1
    want, need = [], []
    for j in range(len(rows[0])):
        words = [w for r in rows for w in r[j].split()]
        longest_word = max((len(w) for w in words), default=0)
        body = max((len(r[j]) for r in rows[1:]), default=0)
        if numeric is not None and numeric[j]:
            parts = [p for r in rows[1:] if (p := _decimal_split(r[j])) is not None]
            if parts:
                body = max(body, max(len(a) for a, _ in parts) + max(len(b) for _, b in parts))
        head = rows[0][j]
        n_need = max(longest_word, 3)
        n_want = max(min(body, 42), min(len(head), 42) / 3, n_need)
        need.append(n_need * char_cm + pad_cm)
        want.append(n_want * char_cm + pad_cm)
    w, n = np.asarray(want), np.asarray(need)
    fits = bool(n.sum() <= total_cm)
    if w.sum() > total_cm:
        slack = w - n
        if n.sum() < total_cm and slack.sum() > 0:
            w = w - slack * ((w.sum() - total_cm) / slack.sum())
        else:
            w = n * (total_cm / n.sum())
    return [float(v) for v in w], fits


def _add_table(doc: Any, item: Table, number: int | None) -> None:
    """A Word table of the printed cells: caption above, notes under, header row repeated,
    three horizontal rules (top, under the header, bottom).

    A column of numbers (:func:`_numeric_columns`) has its header right-aligned and one
    decimal tab stop (:func:`_decimal_tab`) in each body cell; in a table cell Word aligns
    the text on a sole decimal tab stop without a tab character (Word's behaviour, which
    LibreOffice follows for Word files; a leading tab would jump past the stop). The
    cells align on the decimal point of their first number ("33.2 (31.7–34.9)"), an
    integer on its last digit ("4,572", "12 (3.4%)"), a cell without a number ("NA", "—")
    ends at the point when it fits left of it and is otherwise centred on the block of
    numbers ("reference", "suppressed"; :func:`_word_indent`)."""
    from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt, Twips

    # a "Source" column (the published comparison) becomes numbered notes, as in the HTML
    frame, row_ref, refs = T.source_notes(item.frame, "Source")
    rows = _cells(frame)
    for i, ref in enumerate(row_ref, start=1):  # row 0 is the header
        if ref is not None:
            rows[i][0] = f"{rows[i][0]} [{ref}]"
    n_cols = len(rows[0])
    _orientation(doc, landscape=n_cols > WIDE_COLUMNS)
    cap = doc.add_paragraph()
    cap.paragraph_format.keep_with_next = True
    cap.paragraph_format.space_before = Pt(6)
    title = _strip_number(item.title)
    cap.add_run(f"Table {number}. " if number is not None else "").bold = True
    cap.add_run(title).bold = True

    numeric = _numeric_columns(rows)
    for size in TABLE_SIZES:  # the largest size at which no word is broken
        widths, fits = _column_widths(rows, _text_width_cm(doc), size, numeric)
        if fits:
            break
    tabs = [_decimal_tab([r[j] for r in rows[1:]], widths[j], size) if numeric[j] else None
            for j in range(n_cols)]
    table = doc.add_table(rows=len(rows), cols=n_cols)
    table.alignment = WD_TABLE_ALIGNMENT.LEFT
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "bottom"):
        b = OxmlElement(f"w:{edge}")
        for k, v in (("val", "single"), ("sz", "8"), ("space", "0"), ("color", "000000")):
            b.set(qn(f"w:{k}"), v)
        borders.append(b)
    tbl_pr.insert_element_before(borders, "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook",
                                 "w:tblCaption", "w:tblDescription")
    margins = OxmlElement("w:tblCellMar")
    for edge in ("left", "right"):
        m = OxmlElement(f"w:{edge}")
        m.set(qn("w:w"), str(int(round(CELL_MARGIN_CM / 2.54 * 1440))))
        m.set(qn("w:type"), "dxa")
        margins.append(m)
    tbl_pr.insert_element_before(margins, "w:tblLook", "w:tblCaption", "w:tblDescription")
    for col, w in zip(table._tbl.tblGrid.findall(qn("w:gridCol")), widths, strict=True):
        col.set(qn("w:w"), str(int(round(w / 2.54 * 1440))))
    for i, (row, cells) in enumerate(zip(table.rows, rows, strict=True)):
        tr_pr = row._tr.get_or_add_trPr()
        no_split = OxmlElement("w:cantSplit")
        tr_pr.append(no_split)
        if i == 0:
            tr_pr.append(OxmlElement("w:tblHeader"))  # repeated on every page
        for j, (cell, text) in enumerate(zip(row.cells, cells, strict=True)):
            cell.width = Cm(widths[j])
            p = cell.paragraphs[0]
            pf = p.paragraph_format
            pf.space_before = pf.space_after = Pt(0.5 if i else 1)
            pf.line_spacing = 1.0
            if i == 0:
                pf.keep_with_next = True
            if i and tabs[j] is not None and text:
                stop = tabs[j]
                if _decimal_split(text) is not None or _text_cm(text, size) <= stop:
                    # the cell's only tab stop: Word (and LibreOffice) align a table cell
                    # on it without a tab character (a tab would move on to the next stop)
                    pf.tab_stops.add_tab_stop(Twips(int(round(stop / 2.54 * 1440))),
                                              WD_TAB_ALIGNMENT.DECIMAL)
                else:  # a word wider than the numbers' integer parts
                    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
                    indent = _word_indent([r[j] for r in rows[1:]], stop, text, widths[j],
                                          size)
                    if indent > 0:
                        pf.left_indent = Twips(int(round(indent / 2.54 * 1440)))
            elif numeric[j] and (i == 0 or tabs[j] is None):  # the header over numbers
                p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            run = p.add_run(text)
            run.font.size = Pt(size)
            if i == 0:
                run.bold = True
                tc_pr = cell._tc.get_or_add_tcPr()
                tc_borders = OxmlElement("w:tcBorders")
                b = OxmlElement("w:bottom")
                for k, v in (("val", "single"), ("sz", "6"), ("space", "0"),
                             ("color", "000000")):
                    b.set(qn(f"w:{k}"), v)
                tc_borders.append(b)
                tc_pr.append(tc_borders)
                cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM
    sources = tuple(f"[{k}] {text}" for text, k in refs.items())
    _notes(doc, ((item.caption,) if item.caption else ()) + sources, item.notes)


def _notes(doc: Any, notes: Iterable[str], warnings: Iterable[str]) -> None:
    """Notes under a table or figure: its caption text, then each warning."""
    from docx.shared import Pt

    for text in notes:
        p = doc.add_paragraph(text)
        p.paragraph_format.space_before = Pt(2)
        _small(p)
    for text in warnings:
        p = doc.add_paragraph()
        p.add_run("Warning: ").bold = True
        p.add_run(text)
        _small(p)


# ---------------------------------------------------------------------------------------
# reproducible file


def _fixed_time(built: str) -> datetime:
    """The document's dates: ``SOURCE_DATE_EPOCH`` when set, else the build time printed
    in ``built`` ("30 November 2026, 08:26:27 UTC"), else 1 January 2000."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC).replace(tzinfo=None)
    try:
        return datetime.strptime(built.strip(), "%d %B %Y, %H:%M:%S UTC")
    except ValueError:
        return datetime(2000, 1, 1)


def _drop_thumbnail(doc: Any) -> None:
    """Remove python-docx's template thumbnail (a picture of another document)."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT

    rels = doc.part.package.rels
    for r_id in [r_id for r_id, rel in rels.items() if rel.reltype == RT.THUMBNAIL]:
        rels.pop(r_id)


def _save(doc: Any, path: Path, when: datetime) -> None:
    """Save with fixed core properties and zip entries of a fixed date, in a fixed order:
    the same document gives the same bytes."""
    props = doc.core_properties
    props.author = props.last_modified_by = "metsurv"
    props.created = props.modified = props.last_printed = when
    props.revision = 1
    props.comments = "written by metsurv"
    _drop_thumbnail(doc)
    buf = io.BytesIO()
    doc.save(buf)
    buf.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    path.write_bytes(out.getvalue())
