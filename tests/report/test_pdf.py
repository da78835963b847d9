"""report.pdf typeset by Typst (render_pdf): one page size, embedded TrueType fonts and no
monospace, numbered captions, page numbers, the Methods, deterministic bytes."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from metsurv.errors import CohortError
from metsurv.report import render_pdf as R
from metsurv.report.document import Figure, absent, figures_of

pytest.importorskip("typst")
poppler = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("pdffonts", "pdfinfo", "pdftotext")),
    reason="needs poppler-utils (pdffonts, pdfinfo, pdftotext)")

BUILT = "1 January 2026, 00:00:00 UTC"


@pytest.fixture(scope="module")
def composed(small_study: Path):
    """(cfg, cohort, sections, drawn) of the small study, with an absent section added."""
    from metsurv.report import analyse, compose, load_config, load_study

    cfg = load_config(small_study)
    cohort = load_study(cfg)
    sections = compose(cfg, analyse(cfg, cohort))
    sections.insert(-1, absent("test_absent", "A section the data cannot support",
                               "no recurrence dates in the data"))
    drawn = {f.name: f.draw() for f in figures_of(sections)}
    return cfg, cohort, sections, drawn


@pytest.fixture(scope="module")
def pdf(composed, tmp_path_factory) -> Path:
    cfg, cohort, sections, drawn = composed
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    R.render_pdf(cfg, cohort, sections, path, BUILT, drawn)
    return path


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def _page_sizes(path: Path) -> set[str]:
    pages = int(re.search(r"Pages:\s+(\d+)", _run("pdfinfo", str(path))).group(1))
    info = _run("pdfinfo", "-f", "1", "-l", str(pages), "-box", str(path))
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+ x [\d.]+)", info)
    assert len(sizes) == pages
    return set(sizes)


@poppler
def test_fonts_are_embedded_truetype_never_type3_nor_monospace(pdf: Path):
    rows = _run("pdffonts", str(pdf)).splitlines()[2:]
    assert rows
    for row in rows:
        assert "Type 3" not in row, row
        assert "TrueType" in row or "OpenType" in row, row
        assert not re.search(r"mono|courier|consol", row, re.I), row
        assert row.split()[-5] == "yes", row  # emb


@poppler
def test_every_page_is_a4_and_letter_on_request(pdf: Path, composed, tmp_path):
    assert _page_sizes(pdf) == {"595.276 x 841.89"}
    cfg, cohort, sections, drawn = composed
    letter = tmp_path / "letter.pdf"
    R.render_pdf(cfg, cohort, sections, letter, BUILT, drawn, page_size="Letter")
    assert _page_sizes(letter) == {"612 x 792"}


@poppler
def test_text_has_numbered_captions_page_numbers_sections_and_methods(pdf: Path, composed):
    _, _, sections, _ = composed
    text = _run("pdftotext", str(pdf), "-")
    flat = " ".join(text.split())
    pages = int(re.search(r"Pages:\s+(\d+)", _run("pdfinfo", str(pdf))).group(1))
    n_fig = len(figures_of(sections))
    assert "Figure 1." in flat and f"Figure {n_fig}." in flat
    assert f"Figure {n_fig + 1}." not in flat
    assert "Table 1." in flat and "Table 2." in flat
    # the flow of records and the data checks are unnumbered (as in Word): the patients'
    # characteristics are Table 1, and its title's own "Table 1." is not printed twice
    assert "Table 1. Patient characteristics" in flat
    assert "Flow of records" in flat and "Table 1. Flow of records" not in flat
    assert "Page 1 of" in flat and f"Page {pages} of {pages}" in flat
    for i, sec in enumerate(sections, 1):
        assert f"{i}. {sec.title}" in flat, sec.title
    assert "Not shown: no recurrence dates in the data" in flat
    methods = next(s for s in sections if s.id == "methods")
    assert " ".join(methods.intro.split())[:200] in flat
    # each figure's caption, e.g. "complete resections only", stands with its number
    sub = next(f for f in figures_of(sections) if "complete resections" in f.caption)
    n = figures_of(sections).index(sub) + 1
    assert f"Figure {n}. {sub.title}." in flat


def test_same_sections_and_built_give_identical_bytes(pdf: Path, composed, tmp_path):
    cfg, cohort, sections, drawn = composed
    again = tmp_path / "again.pdf"
    R.render_pdf(cfg, cohort, sections, again, BUILT, drawn)
    assert again.read_bytes() == pdf.read_bytes()


def test_figures_read_from_svg_files_give_the_same_pdf(pdf: Path, composed, tmp_path):
    """The SVG files the output step writes and the in-memory SVG are the same figure."""
    from metsurv.report import figures as F

    cfg, cohort, sections, drawn = composed
    for name, fig in drawn.items():
        F.save_figure(fig, tmp_path / name, ("svg",))
    out = tmp_path / "from_files.pdf"
    R.render_pdf(cfg, cohort, sections, out, BUILT, drawn, svg_dir=tmp_path)
    assert out.read_bytes() == pdf.read_bytes()


def test_every_table_fits_the_text_width(composed):
    cfg, cohort, sections, _ = composed
    for paper in ("A4", "Letter"):
        data = R.pdf_data(cfg, cohort, sections, BUILT, paper)
        width = R._TEXT_WIDTH_PT[R.PAGE_SIZES[paper.lower()]]
        tables = [it for s in data["sections"] for it in s["items"] if it["type"] == "table"]
        assert any(it["cols"][0] > 0 for it in tables)  # at least one table laid out
        for it in tables:
            assert sum(it["cols"]) <= width + 0.5, (it["title"], sum(it["cols"]), width)
            assert len(it["cols"]) == len(it["header"]) == len(it["num"])


def test_numbers_are_in_order_of_appearance(composed):
    cfg, cohort, sections, _ = composed
    data = R.pdf_data(cfg, cohort, sections, BUILT)
    items = [it for s in data["sections"] for it in s["items"]]
    assert [it["n"] for it in items if it["type"] == "figure"] == list(
        range(1, len(figures_of(sections)) + 1))
    tabs = [it["n"] for it in items if it["type"] == "table"]
    unnumbered = [it["title"] for it in items if it["type"] == "table" and it["n"] is None]
    assert unnumbered == ["Flow of records"] + (["Data checks"] if "Data checks" in str(
        items) else [])
    numbered = [n for n in tabs if n is not None]
    assert numbered == list(range(1, len(numbered) + 1))
    assert not [it for it in items if it.get("title", "").startswith("Table ")]


@poppler
def test_markup_characters_in_titles_are_printed_as_written(composed, tmp_path):
    cfg, cohort, sections, drawn = composed
    title = 'Costs $5 and $10 * #1 _x_ = "y" \\ <z> @ref'
    cfg2 = dataclasses.replace(cfg, title=title)
    out = tmp_path / "literal.pdf"
    R.render_pdf(cfg2, cohort, sections, out, BUILT, drawn)
    assert title in " ".join(_run("pdftotext", str(out), "-").split())


def test_an_unknown_page_size_is_a_cohort_error(composed, tmp_path):
    cfg, cohort, sections, drawn = composed
    with pytest.raises(CohortError, match="page_size: 'A5'.*A4 or Letter"):
        R.render_pdf(cfg, cohort, sections, tmp_path / "x.pdf", BUILT, drawn, page_size="A5")


def test_forest_plot_is_page_width_and_others_a_column(composed):
    cfg, cohort, sections, _ = composed
    data = R.pdf_data(cfg, cohort, sections, BUILT)
    figs = {it["file"]: it["width"] for s in data["sections"] for it in s["items"]
            if it["type"] == "figure"}
    kinds = {f"{f.name}.svg": f.kind for f in figures_of(sections) if isinstance(f, Figure)}
    assert figs and all(w == (174.0 if kinds[k] == "forest" else 85.0) for k, w in figs.items())


@poppler
def test_creation_date_is_fixed_or_source_date_epoch(pdf: Path, composed, tmp_path,
                                                     monkeypatch):
    assert "1970" in next(ln for ln in _run("pdfinfo", str(pdf)).splitlines()
                          if ln.startswith("CreationDate"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    cfg, cohort, sections, drawn = composed
    out = tmp_path / "epoch.pdf"
    R.render_pdf(cfg, cohort, sections, out, BUILT, drawn)
    assert "2023" in next(ln for ln in _run("pdfinfo", str(out)).splitlines()
                          if ln.startswith("CreationDate"))


def test_figures_are_set_at_the_width_they_were_drawn(composed):
    _, _, sections, drawn = composed
    svgs = R._figure_svgs(sections, drawn, None)
    for f in figures_of(sections):
        want = 174.0 if f.kind == "forest" else 85.0
        assert abs(R._svg_width_mm(svgs[f.name], 0.0) - want) < 0.5, f.name
