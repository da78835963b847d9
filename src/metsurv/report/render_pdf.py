"""Render a report's sections as one PDF: a title page with the contents, the Methods,
then each figure and table on its own page(s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metsurv.report import style
from metsurv.report.config import ReportConfig
from metsurv.report.document import Figure, Section, Table
from metsurv.report.render_html import BUILT_PREFIX
from metsurv.report.sections._common import endpoint_text, lead_counts

__all__ = ["render_pdf"]


def render_pdf(cfg: ReportConfig, cohort: Any, sections: list[Section], path: Path,
               built: str, drawn: dict[str, Any]) -> None:
    """The report as a PDF: a title page, then each figure and table on its own page(s)."""
    import matplotlib as mpl
    from matplotlib.backends.backend_pdf import PdfPages

    # Type 3 fonts here: embedding TrueType (Type 42) subsets costs ~0.5 s per font per file
    # with fontTools; the journal-ready per-figure PDFs in figures/ keep Type 42.
    with style.figure_style(), mpl.rc_context({"pdf.fonttype": 3}), \
            PdfPages(path, metadata=style.PDF_METADATA) as pdf:
        page = style.new_figure((8.27, 11.69))
        page.text(0.08, 0.92, cfg.title, fontsize=14, fontweight="bold", va="top", wrap=True)
        page.text(0.08, 0.87, endpoint_text(cfg), fontsize=8, va="top", wrap=True)
        page.text(0.08, 0.84, f"{BUILT_PREFIX}{built}", fontsize=7, va="top", color="0.3")
        page.text(0.08, 0.82, f"{lead_counts(cohort, cfg)} "
                  f"Input SHA-256 {cohort.provenance.get('sha256', '')}.",
                  fontsize=7, va="top", color="0.3")
        y = 0.77
        for i, sec in enumerate(sections, 1):
            page.text(0.1, y, f"{i}. {sec.title}"
                      + (f" (not shown: {sec.reason})" if sec.reason else ""),
                      fontsize=9 if not sec.reason else 7.5, va="top",
                      color="black" if not sec.reason else "0.35")
            y -= 0.025
        pdf.savefig(page)
        methods = next((s for s in sections if s.id == "methods"), None)
        if methods is not None:
            import textwrap

            page = style.new_figure((8.27, 11.69))
            page.text(0.08, 0.92, "Methods", fontsize=12, fontweight="bold", va="top")
            page.text(0.08, 0.88, "\n".join(textwrap.wrap(methods.intro, 95)), fontsize=8.5,
                      va="top", linespacing=1.5)
            pdf.savefig(page)
        for sec in sections:
            for item in sec.items:
                if isinstance(item, Figure):
                    pdf.savefig(drawn[item.name])
                elif not item.frame.empty:
                    for fig in _table_pages(item):
                        pdf.savefig(fig)


def _table_pages(item: Table, rows_per_page: int = 52) -> list[Any]:
    """A table as landscape A4 pages of fixed-width text (one text block per page: fast
    and exact; matplotlib's cell tables take seconds per page)."""
    df = item.frame.astype(object).where(item.frame.notna(), "").astype(str)
    df = df.apply(lambda s: s.str.slice(0, 70))
    widths = [max(len(str(c)), *(len(v) for v in df[c])) if len(df) else len(str(c))
              for c in df.columns]
    fmt_row = lambda cells: "  ".join(str(v).ljust(w) for v, w in zip(cells, widths, strict=False))  # noqa: E731
    header = fmt_row(df.columns)
    total = sum(widths) + 2 * (len(widths) - 1)
    size = min(7.0, 10.2 * 72 / max(total, 1) / 0.6)
    if item.notes:  # room for the warnings at the foot of each page
        rows_per_page -= 3 * len(item.notes) + 2
    pages = []
    for start in range(0, max(len(df), 1), rows_per_page):
        chunk = df.iloc[start:start + rows_per_page]
        lines = [header, "-" * len(header)] + [fmt_row(r) for r in chunk.itertuples(index=False)]
        fig = style.new_figure((11.69, 8.27))
        fig.text(0.04, 0.96, item.title + (" (continued)" if start else ""), fontsize=10,
                 fontweight="bold", va="top")
        fig.text(0.04, 0.92, "\n".join(lines), family="DejaVu Sans Mono", fontsize=size,
                 va="top", linespacing=1.25)
        import textwrap

        if item.caption:
            fig.text(0.04, 0.03, "\n".join(textwrap.wrap(item.caption, 190)), fontsize=6,
                     color="0.3", va="bottom")
        if item.notes:  # the fit's warnings right under the table, on every page of it
            notes = [w for n in item.notes for w in textwrap.wrap("Warning: " + n, 170)]
            below = 0.92 - (len(lines) + 0.8) * size * 1.25 / (8.27 * 72)
            fig.text(0.04, below, "\n".join(notes), fontsize=7, color=style.WARNING_COLOUR,
                     va="top", linespacing=1.25)
        pages.append(fig)
    return pages
