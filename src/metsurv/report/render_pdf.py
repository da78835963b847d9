"""Render a report's sections as one typeset PDF (``report.pdf``) with Typst.

Every page has one size (A4, or US Letter by ``page_size``); tables are real tables in a
proportional font (header repeated on each page, numbers right-aligned as in the HTML
report, :func:`metsurv.report.tables._looks_numeric`), set smaller when wide so that they
fit the portrait page; figures and tables are numbered in the order they appear
("Figure 3.", "Table 2.") with their captions; pages carry a running head and "Page n of N".
Figures are the SVG of the output step (vector, their text drawn as paths) at their size:
85 mm column figures with the caption beside them, the 174 mm page-width forest plot with
the caption under it. Typst embeds the text fonts as
TrueType (CID) subsets, never Type 3. Every string reaches Typst as JSON data, so a "$", "*"
or "#" in a title is printed as written. The same sections and ``built`` give a
byte-identical file.

WeasyPrint (HTML + CSS, sharing :func:`metsurv.report.tables.to_html`) was measured on the
bundled report and rejected: its pure-Python SVG painter took 65 s for the 15 figures
(Typst: 2 s), see ``docs/report.md``.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from metsurv.errors import CohortError
from metsurv.report import style
from metsurv.report import tables as T
from metsurv.report.config import ReportConfig
from metsurv.report.document import UNNUMBERED_TABLES, Figure, Section
from metsurv.report.render_html import BUILT_PREFIX
from metsurv.report.sections._common import endpoint_text, lead_counts, version

__all__ = ["render_pdf", "pdf_data", "PAGE_SIZES", "TEMPLATE"]

#: Page sizes by name (Typst ``paper``); every page of a report has the one chosen.
PAGE_SIZES = {"a4": "a4", "letter": "us-letter"}

#: A title's own number ("Table 1. Patient characteristics"): the PDF numbers items itself.
_OWN_NUMBER = re.compile(r"^(?:Table|Figure)\s+\d+[.:]\s*")

#: Estimated width (characters) above which a table is set in smaller type, and the sizes.
_WIDE_CHARS, _WIDER_CHARS = 120, 190
_TYPE_SIZES = {"": 7.5, "wide": 6.3, "wider": 5.2}

#: Fonts of the text, as the figures' (``style._font_family``): proportional only.
FONTS = ("Liberation Sans", "DejaVu Sans")

#: The Typst document; it reads everything it prints from ``data.json`` (strings, never
#: markup), and the figures from the SVG files beside it.
TEMPLATE = r"""
#let d = json("data.json")
#let warn = rgb("#8a3b00")
#set document(title: d.title, author: "metsurv")
#set page(paper: d.paper, margin: (x: 16mm, top: 18mm, bottom: 18mm),
  header: context if here().page() > 1 {
    set text(7pt, fill: luma(90))
    let pg = here().page()
    let on = query(heading.where(level: 1)).filter(h => h.location().page() == pg)
    let before = query(heading.where(level: 1).before(here()))
    grid(columns: (1fr, auto), column-gutter: 8pt, d.title,
      if on.len() > 0 { on.first().body } else if before.len() > 0 { before.last().body })
  },
  footer: context {
    set align(center)
    set text(7.5pt, fill: luma(60))
    [Page #counter(page).display() of #counter(page).final().first()]
  })
#set text(font: d.fonts, size: 9pt, lang: "en")
#set par(leading: 0.55em, spacing: 0.9em, justify: false)
#show heading.where(level: 1): it => {
  block(below: 8pt, stroke: (bottom: 0.5pt + luma(170)), inset: (bottom: 3pt), width: 100%,
        text(12.5pt, weight: "bold", it.body))
}
#show outline.entry.where(level: 1): set text(9.5pt)

#text(17pt, weight: "bold", d.title)
#v(4pt)
#par(d.lead)
#block(text(7.5pt, fill: luma(80), d.built))
#block(breakable: false, text(7pt, fill: luma(80), d.inputs))
#v(12pt)
#block(above: 14pt, below: 8pt, text(12.5pt, weight: "bold", "Contents"))
#outline(title: none, depth: 1)
#for (i, sec) in d.sections.enumerate() {
  // a section starts a page; one the data cannot support is one line, after the last
  if sec.reason == "" { pagebreak(weak: true) }
  heading(level: 1, str(i + 1) + ". " + sec.title)
  if sec.reason != "" { par(emph(text(fill: luma(80), "Not shown: " + sec.reason))) }
  for p in sec.intro { par(p) }
  for it in sec.items {
    if it.type == "figure" {
      let cap = {
        text(8pt, [#strong("Figure " + str(it.n) + ".") #strong(it.title + ".") #it.caption])
        for w in it.notes { block(above: 4pt, text(7.5pt, fill: warn, "Warning: " + w)) }
      }
      // a column figure (85 mm) has its caption beside it, a page-width one under it
      block(breakable: false, above: 12pt, below: 14pt, if it.width < 120 {
        grid(columns: (it.width * 1mm, 1fr), column-gutter: 6mm, align: (left, bottom),
             image(it.file, width: it.width * 1mm), block(inset: (bottom: 4pt), cap))
      } else {
        image(it.file, width: it.width * 1mm)
        v(2pt)
        cap
      })
    } else if it.type == "absent" {
      par(text(fill: luma(60), [#strong(it.title + ".") #it.caption]))
    } else {
      block(above: 12pt, below: 14pt, breakable: it.rows.len() > 12, {
        set text(it.size * 1pt)
        set par(leading: 0.35em)
        block(below: 4pt, sticky: true, text(8.5pt,
          if it.n == none [#strong(it.title)] else [#strong("Table " + str(it.n) + ".") #it.title]))
        let cols = it.cols.map(c => if c == 0 { auto } else { c * 1pt })
        table(columns: cols, stroke: none,
          align: (x, y) => (if it.num.at(x) { right } else { left })
            + (if y == 0 { bottom } else { top }),
          // a text column after a number column (a source after the last figure) keeps
          // a visible gap: the number is flush right, the text flush left
          inset: (x, y) => (y: 1.6pt, right: it.inset * 1pt, left: it.inset * 1pt
            + (if x > 0 and it.num.at(x - 1) and not it.num.at(x) { 4pt } else { 0pt })),
          table.hline(stroke: 0.9pt),
          table.header(..it.header.enumerate().map(((x, h)) => if it.rot.at(x) {
            align(right, rotate(-90deg, reflow: true, strong(h)))
          } else { text(hyphenate: true, strong(h)) })),
          table.hline(stroke: 0.5pt),
          // a number never wraps: "33.2 (31.7-34.9)" stays on one line
          ..it.rows.map(r => r.enumerate().map(((x, c)) => if it.num.at(x) { box(c) } else { c }))
            .flatten(),
          table.hline(stroke: 0.9pt))
        if it.caption != "" { block(above: 4pt, text(7.5pt, fill: luma(50), it.caption)) }
        for w in it.notes { block(above: 4pt, text(7.5pt, fill: warn, "Warning: " + w)) }
      })
    }
  }
}
"""


def render_pdf(cfg: ReportConfig, cohort: Any, sections: list[Section], path: Path,
               built: str, drawn: dict[str, Any] | None = None, *,
               svg_dir: Path | None = None,
               page_size: str | None = None) -> None:
    """Write the report as a typeset PDF: a title page with the contents, then every
    section (its introduction, numbered figures and tables with captions and warnings),
    the Methods among them.

    Parameters
    ----------
    cfg : ReportConfig
        The report's configuration (title, endpoint, and ``page_size`` when it has one).
    cohort : Study
        The analysed cohort (its ``provenance`` and counts, for the title page).
    sections : list of Section
        As :func:`metsurv.report.sections.compose` makes them.
    path : Path
        The PDF written.
    built : str
        The build time as printed (the one line that differs between two builds).
    drawn : dict of str to matplotlib Figure, optional
        Figures already drawn, by name (used only for a figure missing from ``svg_dir``;
        one not given is drawn from its data).
    svg_dir : Path, optional
        A folder holding the complete ``<name>.svg`` of every figure (the report's
        ``figures/`` once saved); without it, or for a file missing there, the figure is
        saved from ``drawn`` as SVG in memory.
    page_size : {"A4", "Letter"}, optional
        Overrides ``cfg.page_size``; default A4.

    Raises
    ------
    CohortError
        ``page_size`` is neither A4 nor Letter.
    """
    import typst

    data = pdf_data(cfg, cohort, sections, built,
                    page_size or getattr(cfg, "page_size", None) or "A4")
    svgs = _figure_svgs(sections, drawn, svg_dir)
    for sec in data["sections"]:  # each figure at the size it was drawn
        for it in sec["items"]:
            if it["type"] == "figure":
                it["width"] = _svg_width_mm(svgs[it["file"][:-4]], it["width"])
    with tempfile.TemporaryDirectory(prefix="metsurv-pdf-") as tmp:
        root = Path(tmp)
        for name, svg in svgs.items():
            (root / f"{name}.svg").write_bytes(svg)
        (root / "data.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        (root / "main.typ").write_text(TEMPLATE, encoding="utf-8")
        pdf = typst.compile(str(root / "main.typ"), root=str(root), font_paths=_font_paths(),
                            timestamp=_timestamp())
    Path(path).write_bytes(pdf)


def pdf_data(cfg: ReportConfig, cohort: Any, sections: list[Section], built: str,
             page_size: str = "A4") -> dict[str, Any]:
    """Everything the PDF prints, as JSON-ready data for :data:`TEMPLATE`: figures and
    tables numbered in order of appearance (a title's own "Table 1." is dropped), table
    cells as printed strings with a right-alignment flag per column and a type size.

    Raises
    ------
    CohortError
        ``page_size`` is neither A4 nor Letter.
    """
    paper = PAGE_SIZES.get(str(page_size).strip().lower())
    if paper is None:
        raise CohortError(f"page_size: {str(page_size)[:20]!r} is not a page size the PDF "
                          "can use; write A4 or Letter")
    prov = cohort.provenance
    inputs = f"Input SHA-256 {prov.get('sha256', '')}"
    if isinstance(prov.get("resections"), dict):
        inputs += f"; resections {prov['resections'].get('sha256', '')}"
    out: dict[str, Any] = {
        "paper": paper, "fonts": list(FONTS), "title": cfg.title,
        "lead": f"{endpoint_text(cfg)} {lead_counts(cohort, cfg)}",
        "built": f"{BUILT_PREFIX}{built} with metsurv {version('metsurv')}.",
        "inputs": inputs + ".", "sections": [],
    }
    n_fig = n_tab = 0
    for sec in sections:
        items: list[dict[str, Any]] = []
        for item in sec.items:
            title = _OWN_NUMBER.sub("", item.title)
            if isinstance(item, Figure):
                n_fig += 1
                fig = _drawn_width_mm(item)
                items.append({"type": "figure", "n": n_fig, "file": f"{item.name}.svg",
                              "width": fig, "title": title, "caption": item.caption,
                              "notes": list(item.notes)})
            elif item.frame.empty:  # a factor the data cannot support: one line saying why
                caption = item.caption if item.caption.startswith("Not shown") else (
                    f"Not shown: {item.caption}")
                items.append({"type": "absent", "title": title, "caption": caption})
            else:
                # the flow of records and the data checks are not numbered (as in Word)
                number = None if item.name in UNNUMBERED_TABLES else (n_tab := n_tab + 1)
                df = item.frame.astype(object).where(item.frame.notna(), "").astype(str)
                df.columns = [_counts_kept_whole(str(c)) for c in df.columns]
                num = [bool(df[c].map(T._looks_numeric).any()) for c in df.columns]
                size = _TYPE_SIZES[_width_class(df)]
                inset = 2.5 if size == _TYPE_SIZES[""] else 2.0
                cols, rot = _columns(df, num, size, inset, paper)
                items.append({"type": "table", "n": number, "title": title,
                              "caption": item.caption, "notes": list(item.notes),
                              "header": [str(c) for c in df.columns],
                              "rows": df.to_numpy().tolist(), "num": num, "size": size,
                              "inset": inset, "cols": cols, "rot": rot})
        out["sections"].append({
            "title": sec.title, "reason": sec.reason, "items": items,
            "intro": [p.strip() for p in re.split(r"\n\s*\n", sec.intro) if p.strip()]})
    return out


#: Text width of the page (points): paper width less the 16 mm margins either side.
_TEXT_WIDTH_PT = {"a4": (210 - 32) / 25.4 * 72, "us-letter": (215.9 - 32) / 25.4 * 72}
#: Longest header (em) set rotated; a longer one wraps in a column as wide as its longest word.
_ROTATE_EM = 16.0
#: Characters of a text column before it wraps, when a table is too wide for the page.
_TEXT_CAP = 26


def _em(text: str, bold: bool = False) -> float:
    """Width of ``text`` in em, by the advance widths of DejaVu Sans (matplotlib's copy;
    Liberation Sans, used when installed, is narrower, so the estimate is safe)."""
    widths = _advances(bold)
    return sum(widths.get(ord(ch), 0.7) for ch in text)


@functools.cache
def _advances(bold: bool) -> dict[int, float]:
    """Advance width (em) of each character of DejaVu Sans (Bold), from its hmtx table."""
    import matplotlib
    from fontTools.ttLib import TTFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    with TTFont(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name, lazy=True) as font:
        upm = font["head"].unitsPerEm
        hmtx = font["hmtx"].metrics
        return {code: hmtx[glyph][0] / upm for code, glyph in font.getBestCmap().items()}


def _columns(df: Any, num: list[bool], size: float, inset: float, paper: str
             ) -> tuple[list[float], list[bool]]:
    """Column widths (points) for :data:`TEMPLATE` and which headers to set rotated.

    All widths are 0 (``auto``, natural widths) when the table fits the page unwrapped.
    Else a number column is as wide as its widest cell (never wrapped) or its header's
    longest word, whichever is wider; in a table set in the smallest type, when that word
    is more than 1.6 times the cells' width (and the header at most ``_ROTATE_EM``), the
    header is set rotated (reading upwards) and the column keeps the cells' width. A text
    column gets its widest cell up to ``_TEXT_CAP`` characters (it wraps beyond), never
    less than its longest word; text columns are narrowed, down to their
    longest word, so that the table fits the text width."""
    pad = 2 * inset + 1.0
    cells = [[_em(v) for v in df[c].unique()] or [0.0] for c in df.columns]
    heads = [str(c) for c in df.columns]
    natural = sum(max(max(w), _em(h, True)) * size + pad for w, h in zip(cells, heads, strict=True))
    if natural <= _TEXT_WIDTH_PT[paper]:
        return [0.0] * len(heads), [False] * len(heads)
    word = [max((_em(w, True) for w in _words(h)), default=0.0) for h in heads]
    rot = [size <= _TYPE_SIZES["wider"] and is_num and wd > 1.6 * max(max(w), 1.2)
           and _em(h, True) <= _ROTATE_EM
           for is_num, wd, w, h in zip(num, word, cells, heads, strict=True)]
    widths, floor = [], []
    for w, wd, is_num, r, col in zip(cells, word, num, rot, df.columns, strict=True):
        if is_num:
            em = max(max(w), 1.3) if r else max(max(w), wd)
            widths.append(em * size + pad)
            floor.append(em * size + pad)
        else:
            longest_word = max([wd] + [_em(x) for v in df[col].unique() for x in _words(v)])
            cap = _TEXT_CAP * 0.6
            widths.append(max(min(max(w), cap), longest_word) * size + pad)
            floor.append(longest_word * size + pad)
    spare = sum(widths) - _TEXT_WIDTH_PT[paper]
    if spare > 0:  # narrow the text columns in proportion to what each can give
        give = [wi - fl for wi, fl in zip(widths, floor, strict=True)]
        k = min(1.0, spare / sum(give)) if sum(give) > 0 else 0.0
        widths = [wi - k * g for wi, g in zip(widths, give, strict=True)]
    else:  # room left: widen the wrapped text columns towards their widest cell
        want = [0.0 if is_num else max(0.0, max(w) * size + pad - wi)
                for w, wi, is_num in zip(cells, widths, num, strict=True)]
        k = min(1.0, -spare / sum(want)) if sum(want) > 0 else 0.0
        widths = [wi + k * x for wi, x in zip(widths, want, strict=True)]
    return [round(w, 2) for w in widths], rot


#: "n = 5,206" and "events = 3,598" in a header: joined by no-break spaces (below)
_COUNT = re.compile(r"\b(n|events) = (?=\S)")


def _counts_kept_whole(header: str) -> str:
    """A header with its counts joined by no-break spaces, so that a narrow column wraps
    before "(n = 5,206)", never inside it ("Overall (n =" / "5,206)" was how Table 1's
    headers broke).

    >>> _counts_kept_whole("Overall (n = 5,206)") == "Overall (n\u00a0=\u00a05,206)"
    True
    """
    return _COUNT.sub(lambda m: f"{m.group(1)}\u00a0=\u00a0", header)


def _words(text: str) -> list[str]:
    """The pieces a line may break between: split at ordinary spaces only (a no-break
    space, unlike in ``str.split()``, joins)."""
    return [w for w in re.split(r"[ \t\r\n]+", text) if w]


def _drawn_width_mm(item: Figure) -> float:
    """The figure's width on the page before its SVG is read (:func:`render_pdf` sets the
    width the SVG gives): page-width figures (the forest plot) 174 mm, the rest one
    journal column, 85 mm (as ``style`` draws them)."""
    return 174.0 if item.page_width else 85.0


def _svg_width_mm(svg: bytes, default: float) -> float:
    """The width of a matplotlib SVG (its root ``width="241pt"``) in mm, else ``default``."""
    m = re.search(rb'<svg[^>]*?\swidth="([0-9.]+)pt"', svg[:2000])
    return round(float(m.group(1)) * 25.4 / 72, 2) if m else default


def _width_class(df: Any) -> str:
    """"", "wide" or "wider": the type size that lets a table fit the portrait page (its
    width estimated per column from its longest cell, at most 40 characters as longer
    cells wrap, and its header's longest word)."""
    chars = 0
    for col in df.columns:
        longest = int(df[col].str.len().max()) if len(df) else 0
        word = max((len(w) for w in _words(str(col))), default=0)
        chars += min(max(longest, word), 40) + 2
    if chars > _WIDER_CHARS:
        return "wider"
    return "wide" if chars > _WIDE_CHARS else ""


def _figure_svgs(sections: list[Section], drawn: dict[str, Any] | None,
                 svg_dir: Path | None) -> dict[str, bytes]:
    """Each figure's SVG: read from ``svg_dir`` when there, else saved from ``drawn``."""
    out = {}
    for sec in sections:
        for item in sec.items:
            if not isinstance(item, Figure):
                continue
            f = Path(svg_dir) / f"{item.name}.svg" if svg_dir is not None else None
            if f is not None and f.is_file():
                out[item.name] = f.read_bytes()
                continue
            fig = (drawn or {}).get(item.name)
            if not hasattr(fig, "savefig"):  # not drawn here: draw it
                fig = item.draw()
            buf = io.BytesIO()
            with style.figure_style():
                fig.savefig(buf, format="svg", dpi=300, metadata=style.SVG_METADATA)
            out[item.name] = buf.getvalue()
    return out


def _font_paths() -> list[str]:
    """matplotlib's bundled fonts folder (DejaVu Sans): a proportional font Typst can
    always embed, should the system have neither Liberation Sans nor DejaVu Sans."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [str(folder)] if folder.is_dir() else []


def _timestamp() -> int | None:
    """The PDF's creation date: ``SOURCE_DATE_EPOCH`` when set, else 0 (1 January 1970):
    a fixed date, so that two builds of the same report are byte-identical."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(epoch) if epoch.isdigit() else 0
