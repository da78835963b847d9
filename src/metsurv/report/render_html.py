"""Render a report's sections as one self-contained HTML page (figures inline as base64
SVG, read back from the files the output step wrote; opens from disk offline)."""

from __future__ import annotations

import base64
import html
from importlib import resources
from pathlib import Path
from typing import Any

from metsurv.report import tables as T
from metsurv.report.config import ReportConfig
from metsurv.report.document import Figure, Section, Table
from metsurv.report.sections._common import endpoint_text, lead_counts, version

__all__ = ["render_html", "BUILT_PREFIX"]

#: The one line of index.html (and provenance.json) that differs between two builds.
BUILT_PREFIX = "Built "


def css() -> str:
    return resources.files("metsurv.report").joinpath("report.css").read_text(encoding="utf-8")


def render_html(cfg: ReportConfig, cohort: Any, sections: list[Section], outdir: Path,
                built: str) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(cfg.title)}</title>",
        f"<style>\n{css()}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{esc(cfg.title)}</h1>",
        f'<p class="lead">{esc(endpoint_text(cfg))} {esc(lead_counts(cohort, cfg))}</p>',
        f'<p class="built">{BUILT_PREFIX}{esc(built)} with metsurv {esc(version("metsurv"))}'
        "</p>",
        '<nav><ol>' + "".join(f'<li><a href="#s{i}">{esc(s.title)}</a></li>'
                              for i, s in enumerate(sections, 1)) + "</ol></nav>",
    ]
    for i, sec in enumerate(sections, 1):
        parts.append(f'<section id="s{i}">')
        parts.append(f"<h2>{i}. {esc(sec.title)}</h2>")
        if sec.reason:
            parts.append(f'<p class="absent">Not shown: {esc(sec.reason)}</p>')
        if sec.intro:
            parts.append(f"<p>{esc(sec.intro)}</p>")
        for item in sec.items:
            if isinstance(item, Figure):
                svg = (outdir / "figures" / f"{item.name}.svg").read_bytes()
                b64 = base64.b64encode(svg).decode("ascii")
                # page-width figures (forest plot) get the full column, column-width ones 34rem
                wide = ' class="wide"' if item.page_width else ""
                links = " · ".join(f'<a href="figures/{item.name}.{fmt}">{fmt.upper()}</a>'
                                   for fmt in cfg.formats)
                parts.append(
                    f'<figure id="fig-{esc(item.name)}"><img{wide} alt="{esc(item.title)}" '
                    f'src="data:image/svg+xml;base64,{b64}">'
                    f"<figcaption><b>{esc(item.title)}.</b> {esc(item.caption)} "
                    f'<span class="dl">{links}</span></figcaption>{notes_html(item.notes)}'
                    "</figure>")
            else:
                if item.frame.empty:
                    parts.append(f"<p><b>{esc(item.title)}.</b> {esc(item.caption)}</p>")
                    continue
                parts.append('<div class="table">')
                parts.append(table_html(item))
                note = esc(item.caption)
                parts.append(f'<p class="note">{note} <a href="tables/{item.name}.csv">CSV</a>'
                             f"</p>{notes_html(item.notes)}</div>")
        parts.append("</section>")
    prov = cohort.provenance
    parts.append('<section id="provenance"><h2>Provenance</h2>')
    parts.append(f"<p>Input SHA-256: <code>{esc(str(prov.get('sha256', '')))}</code>"
                 + (f"; resections <code>{esc(str(prov['resections'].get('sha256', '')))}"
                    "</code>" if isinstance(prov.get("resections"), dict) else "")
                 + '. Full record: <a href="provenance.json">provenance.json</a>.</p>')
    parts.append("</section></main></body></html>")
    return "\n".join(parts) + "\n"


#: Tables of at least this many printed columns take the stylesheet's smaller type
#: (``table.wide``): the IRLM battery, the Cox model, the published comparison.
WIDE_COLUMNS = 12
#: Column prefixes printed as one spanning header over short sub-headers ("5-y (%)" over
#: "Publ." and "Cohort"): the published comparison's pairs.
PAIRS = {"Published": "Publ.", "Cohort": "Cohort"}


def table_html(item: Table) -> str:
    """One report table as it reads on a screen: a "Source" column becomes numbered
    footnotes (superscript in the row's first cell, list under the table; the section's
    frame and CSV keep the column), Published/Cohort column pairs share a header, and a
    table of :data:`WIDE_COLUMNS` or more columns is set in smaller type."""
    frame = item.frame
    src = "Source" if "Source" in frame.columns else None
    shown = len(frame.columns) - (src is not None)
    return T.to_html(frame, caption=item.title, table_id=f"tab-{item.name}", sources=src,
                     pairs=PAIRS, css_class="wide" if shown >= WIDE_COLUMNS else None)


def notes_html(notes: tuple[str, ...]) -> str:
    """A fit's warnings under the table or figure they concern (R prints them with the fit)."""
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f'<div class="warnings" role="note"><b>Warning</b><ul>{items}</ul></div>'
