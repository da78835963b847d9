"""report.docx (issue 12, item 1): the report's sections as a Word document, checked by
reading it back with python-docx: the tables are Word tables holding the sections' printed
cells, every figure is an inline PNG with its numbered caption in report order, the Methods
paragraph is there, and a second write gives the same bytes."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

docx = pytest.importorskip("docx")

from docx.enum.section import WD_ORIENT  # noqa: E402
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT  # noqa: E402
from docx.oxml.ns import qn  # noqa: E402
from docx.table import Table as WordTable  # noqa: E402
from docx.text.paragraph import Paragraph  # noqa: E402

from metsurv.report import analyse, compose, load_config, load_study  # noqa: E402
from metsurv.report.document import Table, absent, figures_of, item_named  # noqa: E402
from metsurv.report.render_docx import (  # noqa: E402
    WIDE_COLUMNS,
    png_bytes,
    render_docx,
    table_docx,
)

BUILT = "30 November 2026, 08:26:27 UTC"


@pytest.fixture(scope="module")
def study(small_study: Path, tmp_path_factory) -> SimpleNamespace:
    """The small study composed once, its figures as PNG bytes, and its report.docx."""
    cfg = load_config(small_study)
    cohort = load_study(cfg)
    sections = compose(cfg, analyse(cfg, cohort))
    pngs = {}
    for f in figures_of(sections):
        fig = f.draw()
        pngs[f.name] = png_bytes(fig)
        import matplotlib.pyplot as plt

        plt.close(fig)
    path = tmp_path_factory.mktemp("docx") / "report.docx"
    render_docx(cfg, cohort, sections, path, BUILT, pngs)
    return SimpleNamespace(cfg=cfg, cohort=cohort, sections=sections, pngs=pngs, path=path,
                           doc=docx.Document(str(path)))


def _body(doc) -> list[Paragraph | WordTable]:
    """The document's paragraphs and tables in order."""
    out = []
    for el in doc.element.body.iterchildren():
        if el.tag == qn("w:p"):
            out.append(Paragraph(el, doc))
        elif el.tag == qn("w:tbl"):
            out.append(WordTable(el, doc))
    return out


def _word_table(doc, title: str) -> tuple[str, WordTable]:
    """The caption and the Word table right under the caption ending in ``title``."""
    body = _body(doc)
    for a, b in zip(body, body[1:], strict=False):
        if isinstance(a, Paragraph) and isinstance(b, WordTable) and a.text.endswith(title):
            return a.text, b
    raise AssertionError(f"no Word table captioned {title!r}")


def _cells(table: WordTable) -> list[list[str]]:
    return [[c.text for c in row.cells] for row in table.rows]


@pytest.mark.parametrize("name", ["table1", "survival", "cox", "irlm_battery", "flow"])
def test_tables_are_word_tables_of_the_printed_cells(study, name):
    item = item_named(study.sections, name)
    assert isinstance(item, Table) and not item.frame.empty
    title = re.sub(r"^Table \d+\. ", "", item.title)
    caption, table = _word_table(study.doc, title)
    frame = item.frame.astype(object).where(item.frame.notna(), "").astype(str)
    assert _cells(table) == [list(map(str, frame.columns))] + frame.values.tolist()
    first = table.rows[0]._tr
    assert first.find(qn("w:trPr")).find(qn("w:tblHeader")) is not None  # repeated header
    if name == "table1":
        assert caption == title.join(["Table 1. ", ""])  # Table 1 is the first numbered
    if name == "flow":
        assert not caption.startswith("Table ")  # record-keeping: unnumbered


def test_table_numbers_follow_report_order(study):
    captions = [p.text for p in study.doc.paragraphs if re.match(r"Table \d+\. ", p.text)]
    numbers = [int(re.match(r"Table (\d+)\.", c).group(1)) for c in captions]
    assert numbers == list(range(1, len(numbers) + 1))
    shown = [t for s in study.sections for t in s.items
             if isinstance(t, Table) and not t.frame.empty and t.name not in {"flow", "findings"}]
    assert len(numbers) == len(shown)


def test_caption_and_warnings_are_notes_under_the_table(study):
    item = item_named(study.sections, "cox")
    body = _body(study.doc)
    _, table = _word_table(study.doc, item.title)
    i = next(k for k, el in enumerate(body) if isinstance(el, WordTable)
             and el._tbl is table._tbl)
    after = [el.text for el in body[i + 1:i + 2 + len(item.notes)]]
    assert after[0] == item.caption
    assert after[1:] == [f"Warning: {n}" for n in item.notes]


def test_numbers_on_a_decimal_tab_text_left(study):
    """Numbers sit on one decimal tab stop per column (tests/report/test_docx_alignment.py
    checks where), their header right-aligned over them; text columns are plain."""
    item = item_named(study.sections, "survival")
    _, table = _word_table(study.doc, item.title)
    cols = list(item.frame.columns)
    n_col, factor_col = cols.index("n"), cols.index("Factor")
    assert table.rows[0].cells[n_col].paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.RIGHT
    stops = set()
    for row in table.rows[1:]:
        p = row.cells[n_col].paragraphs[0]
        assert p.alignment is None
        assert [t.alignment for t in p.paragraph_format.tab_stops] == [WD_TAB_ALIGNMENT.DECIMAL]
        stops.add(p.paragraph_format.tab_stops[0].position)
        assert row.cells[factor_col].paragraphs[0].alignment is None
        assert len(row.cells[factor_col].paragraphs[0].paragraph_format.tab_stops) == 0
    assert len(stops) == 1  # one stop for the column


def test_wide_tables_on_landscape_pages(study):
    """Each table of more than WIDE_COLUMNS columns lies in a landscape section, the others
    in portrait ones."""
    body = study.doc.element.body
    orient = []  # orientation of each table, from the section break that closes it
    pending = 0
    for el in body.iterchildren():
        if el.tag == qn("w:tbl"):
            pending += 1
            orient.append(None)
            continue
        sect = el.find(".//" + qn("w:sectPr")) if el.tag == qn("w:p") else (
            el if el.tag == qn("w:sectPr") else None)
        if sect is not None and pending:
            size = sect.find(qn("w:pgSz"))
            landscape = size.get(qn("w:orient")) == "landscape"
            orient[-pending:] = [landscape] * pending
            pending = 0
    tables = [t for s in study.sections for t in s.items
              if isinstance(t, Table) and not t.frame.empty]
    assert len(orient) == len(tables)
    assert [t.frame.shape[1] > WIDE_COLUMNS for t in tables] == orient
    assert any(orient)  # the battery is wide
    assert study.doc.sections[0].orientation == WD_ORIENT.PORTRAIT
    assert round(study.doc.sections[0].page_width.cm, 1) == 21.0  # A4
    assert round(study.doc.sections[0].left_margin.cm, 1) == 2.0


def test_every_figure_inline_with_numbered_caption_in_order(study):
    figures = figures_of(study.sections)
    assert figures
    body = _body(study.doc)
    pics = [i for i, el in enumerate(body) if isinstance(el, Paragraph)
            and el._p.xpath(".//w:drawing/wp:inline")]
    assert len(pics) == len(figures) == len(study.doc.inline_shapes)
    for k, (i, fig) in enumerate(zip(pics, figures, strict=True), 1):
        caption = body[i + 1].text
        assert caption == f"Figure {k}. {fig.title}. {fig.caption}"
        r_id = body[i]._p.xpath(".//a:blip/@r:embed")[0]
        assert study.doc.part.related_parts[r_id].blob == study.pngs[fig.name]
        notes = [el.text for el in body[i + 2:i + 2 + len(fig.notes)]]
        assert notes == [f"Warning: {n}" for n in fig.notes]


def test_title_lead_methods_and_section_headings(study):
    texts = [p.text for p in study.doc.paragraphs]
    assert texts[0] == study.cfg.title
    headings = [p.text for p in study.doc.paragraphs if p.style.name == "Heading 1"]
    assert headings[:len(study.sections)] == [f"{i}. {s.title}"
                                             for i, s in enumerate(study.sections, 1)]
    methods = next(s for s in study.sections if s.id == "methods")
    assert methods.intro and methods.intro in texts
    assert texts.index(methods.intro) == texts.index(
        f"{len(study.sections)}. Methods") + 1
    for sec in study.sections:
        if sec.intro:
            assert sec.intro in texts


def test_absent_section_is_one_line(study, tmp_path):
    sections = [*study.sections[:1], absent("competing", "Competing risks",
                                            "no recurrence dates in the data")]
    path = tmp_path / "r.docx"
    render_docx(study.cfg, study.cohort, sections, path, BUILT, study.pngs)
    body = [p.text for p in docx.Document(str(path)).paragraphs]
    i = body.index("2. Competing risks")
    assert body[i + 1] == "Not shown: no recurrence dates in the data"
    assert body[i + 2] == "Provenance"


def test_second_write_byte_identical_with_fixed_dates(study, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    again = tmp_path / "again.docx"
    render_docx(study.cfg, study.cohort, study.sections, again, BUILT, study.pngs)
    assert again.read_bytes() == study.path.read_bytes()
    with zipfile.ZipFile(again) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert "docProps/thumbnail.jpeg" not in z.namelist()
    props = docx.Document(str(again)).core_properties
    assert props.created == props.modified == datetime(2026, 11, 30, 8, 26, 27, tzinfo=UTC)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    render_docx(study.cfg, study.cohort, study.sections, again, BUILT, study.pngs)
    assert docx.Document(str(again)).core_properties.created == datetime(1970, 1, 1, tzinfo=UTC)


def test_figures_drawn_or_read_from_files_alike(study, tmp_path):
    """figure_png None (drawn here), a mapping to PNG files and a function give the same
    document."""
    folder = tmp_path / "figures"
    folder.mkdir()
    paths = {}
    for name, blob in study.pngs.items():
        paths[name] = folder / f"{name}.png"
        paths[name].write_bytes(blob)
    out = {}
    for how, arg in (("paths", paths), ("call", study.pngs.__getitem__), ("drawn", None)):
        out[how] = tmp_path / f"{how}.docx"
        render_docx(study.cfg, study.cohort, study.sections, out[how], BUILT, arg)
    blobs = {how: p.read_bytes() for how, p in out.items()}
    assert blobs["paths"] == blobs["call"] == blobs["drawn"] == study.path.read_bytes()


def test_page_size_letter_and_unknown(study, tmp_path):
    path = tmp_path / "letter.docx"
    render_docx(study.cfg, study.cohort, study.sections[:1], path, BUILT, study.pngs,
                page_size="Letter")
    sec = docx.Document(str(path)).sections[0]
    assert round(sec.page_width.inches, 2) == 8.5 and round(sec.page_height.inches, 2) == 11
    with pytest.raises(ValueError, match="page_size"):
        render_docx(study.cfg, study.cohort, study.sections[:1], path, BUILT, study.pngs,
                    page_size="A5")


def test_table_docx_writes_one_table(study, tmp_path):
    item = item_named(study.sections, "irlm_battery")
    path = tmp_path / "battery.docx"
    table_docx(item, path, number=3)
    doc = docx.Document(str(path))
    assert len(doc.tables) == 1 and not doc.inline_shapes
    assert doc.paragraphs[0].text == f"Table 3. {item.title}"
    frame = item.frame.astype(object).where(item.frame.notna(), "").astype(str)
    assert _cells(doc.tables[0]) == [list(frame.columns)] + frame.values.tolist()
    assert doc.sections[-1].orientation == WD_ORIENT.LANDSCAPE  # 12 columns
    first = path.read_bytes()
    table_docx(item, path, number=3)
    assert path.read_bytes() == first
    empty = Table("km_x", "X", "Not shown: no data", item.frame.iloc[0:0])
    with pytest.raises(ValueError, match="no rows"):
        table_docx(empty, tmp_path / "empty.docx")


def test_embedded_figures_are_readable_pngs(study):
    """What Word shows: each embedded image decodes as a PNG at 300 dpi, no wider than the
    text column."""
    from PIL import Image

    doc = study.doc
    text_width = doc.sections[0].page_width - doc.sections[0].left_margin \
        - doc.sections[0].right_margin
    for shape in doc.inline_shapes:
        assert 0 < shape.width <= text_width
    for part in doc.part.package.parts:
        if part.partname.endswith(".png"):
            im = Image.open(io.BytesIO(part.blob))
            assert im.format == "PNG" and round(im.info["dpi"][0]) == 300

