"""The visual vocabulary of metsurv figures: palette, line styles, sizes, matplotlib settings.

One colour-blind-safe palette (Okabe & Ito 2008, "Color Universal Design") in an order that
keeps neighbouring groups apart in luminance, paired with line styles so that curves stay
distinguishable when a journal prints in greyscale. Yellow (#F0E442) is left out: it vanishes
on white paper.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Okabe-Ito colours, in the order groups receive them.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
)
#: Line styles paired with the colours (greyscale-safe: the dash pattern carries the group).
LINESTYLES: tuple[object, ...] = (
    "-",
    (0, (5, 2)),
    (0, (1, 1.2)),
    (0, (6, 1.5, 1, 1.5)),
    (0, (3, 1, 1, 1, 1, 1)),
    (0, (8, 2)),
    (0, (2, 2)),
)
#: Marker of published benchmark points (open, so the cohort's curve shows through).
BENCHMARK_MARKER = "D"
#: Marker of published points quoted by others (a review, "commonly quoted"), not read from
#: the study's abstract.
BENCHMARK_SECONDARY_MARKER = "o"

#: Text colour of a fit's warnings in the PDF (the HTML's div.warnings border, report.css).
WARNING_COLOUR = "#8a3b00"

MM = 1 / 25.4
#: Journal single-column width (most journals: 85-90 mm) and double-column width.
COLUMN_WIDTH_IN = 85 * MM
PAGE_WIDTH_IN = 174 * MM

#: Deterministic output: no creation date, a fixed creator and a fixed SVG hash salt, so the
#: same inputs give byte-identical SVG and PDF files.
CREATOR = "metsurv"
SVG_METADATA = {"Date": None, "Creator": CREATOR}
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Creator": CREATOR, "Producer": CREATOR}
PNG_METADATA = {"Software": CREATOR}

def _font_family() -> list[str]:
    """Liberation Sans (metric-compatible with Arial, which most journals ask for; and its
    PDF subset embeds about 3x faster than DejaVu's), falling back glyph by glyph to
    DejaVu Sans (bundled with matplotlib) for symbols such as the diamond."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in ("Liberation Sans", "DejaVu Sans") if f in names] or ["DejaVu Sans"]


RC: dict[str, object] = {
    "font.family": _font_family(),
    "font.size": 7,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "lines.linewidth": 1.1,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": 300,
    "figure.dpi": 100,
    "svg.hashsalt": "metsurv",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "path.simplify": True,
    # Titles, labels, column names and factor levels are shown as written: a "$" in one is a
    # dollar sign, never the start of mathtext (which would typeset "$5 and $10" as maths
    # or fail the build on a lone "$"). Read when each Text is made, so every text drawn
    # inside figure_style() is literal.
    "text.parse_math": False,
}


def colour(i: int) -> str:
    """Colour of the i-th group (cycles after seven groups)."""
    return PALETTE[i % len(PALETTE)]


def linestyle(i: int) -> object:
    """Line style of the i-th group."""
    return LINESTYLES[i % len(LINESTYLES)]


@contextmanager
def figure_style() -> Iterator[None]:
    """Apply metsurv's matplotlib settings inside a block without touching global state."""
    with mpl.rc_context(RC):
        yield


def new_figure(figsize: tuple[float, float], pyplot: bool = False) -> Figure:
    """A figure outside pyplot: no global figure registry, no backend switch, nothing shown
    (safe in notebooks and threads); an Agg canvas so text can be measured for layout.
    ``pyplot``: a pyplot figure instead, which Jupyter shows (a result's ``.plot()``)."""
    if pyplot:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize)
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig
