"""What a report says, before anything is drawn or written: sections of figures and tables.

The report is built in three steps (``docs/report.md``):
:func:`metsurv.report.analysis.analyse` runs every statistic, the modules of
:mod:`metsurv.report.sections` turn the results into the :class:`Section` objects defined
here (numbers, texts and the data of each figure, no drawn figure), and the renderers
(:mod:`metsurv.report.render_html`, :mod:`metsurv.report.render_pdf`) and
:mod:`metsurv.report.output` draw and write them. A test can therefore check what a report
says (a caption's p against the table's) on sections, without drawing or writing a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["UNNUMBERED_TABLES", "Figure", "Table", "Section", "absent", "section_entries", "figures_of",
           "item_named"]


#: Tables printed without a number ("Table N."): the flow of records and the data checks
#: come before Table 1, the patients' characteristics, as in a manuscript.
UNNUMBERED_TABLES = frozenset({"flow", "findings"})


@dataclass(frozen=True)
class Figure:
    """One figure of a report, as data: ``kind`` names the drawing function of
    :mod:`metsurv.report.figures` (``"km"`` -> ``km_figure``, ``"forest"``, ``"cif"``,
    ``"ph"``) and ``args`` holds what it is drawn from (a :class:`~metsurv.report.figures.KMPanel`,
    model frames, curves), so the same figure can be drawn for a file, a page or a test.

    Attributes
    ----------
    name : str
        File stem under ``figures/`` (``km_dfi_group`` -> ``figures/km_dfi_group.png``).
    title, caption : str
        As printed above and under the figure.
    kind : str
        Drawing function, see above.
    args : Mapping[str, Any]
        Keyword arguments of the drawing function.
    notes : tuple of str
        Warnings of the results drawn (``result.warnings``), printed under the figure.
    """

    name: str
    title: str
    caption: str
    kind: str
    args: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def page_width(self) -> bool:
        """Whether the figure is drawn at page width (the forest plot) rather than one
        journal column (every other figure, as ``style`` draws them)."""
        return self.kind == "forest"

    def draw(self) -> Any:
        """The figure drawn (a matplotlib ``Figure``), by :func:`metsurv.report.figures.draw`."""
        from metsurv.report.figures import draw

        return draw(self.kind, self.args)


@dataclass(frozen=True)
class Table:
    """One table of a report: a frame of printed cells (suppression applied) with its
    title and caption, for HTML, PDF and Word; and ``data``, the same table as numbers
    (one value per cell: estimate, lower, upper, n, p as numbers; a suppressed count is
    empty) for ``tables/<name>.csv``, or None when the printed cells are the data (text
    tables such as the flow of records). An empty frame is a factor figure that is not
    shown: ``caption`` then says why ("Not shown: ...")."""

    name: str
    title: str
    caption: str
    frame: pd.DataFrame
    notes: tuple[str, ...] = ()  # warnings of the results shown (result.warnings)
    data: pd.DataFrame | None = None

    @property
    def csv_frame(self) -> pd.DataFrame:
        """What ``tables/<name>.csv`` holds: ``data`` when there is one, else ``frame``."""
        return self.frame if self.data is None else self.data


@dataclass
class Section:
    """One numbered section: a title, an introduction and its figures and tables, or,
    when the data cannot support it, the ``reason`` it is not shown."""

    title: str
    intro: str = ""
    items: list[Figure | Table] = field(default_factory=list)
    id: str = ""
    #: why the section is not shown (the data lack what it needs); "" when it is
    reason: str = ""


def absent(sec_id: str, title: str, reason: str) -> Section:
    """A section the data cannot support: its title and one line saying why."""
    return Section(title, id=sec_id, reason=reason)


def figures_of(sections: list[Section]) -> list[Figure]:
    """Every figure of ``sections``, in report order."""
    return [item for sec in sections for item in sec.items if isinstance(item, Figure)]


def item_named(sections: list[Section], name: str) -> Figure | Table:
    """The figure or table called ``name`` (a figure before a table of the same name).

    Raises
    ------
    KeyError
        No item has that name.
    """
    items = [item for sec in sections for item in sec.items if item.name == name]
    if not items:
        raise KeyError(name)
    return next((i for i in items if isinstance(i, Figure)), items[0])


def section_entries(sections: list[Section]) -> list[dict[str, Any]]:
    """``provenance.json`` "sections": each section, and each factor's figure within one,
    with whether it is shown and, if not, why (the data lack what it needs)."""
    out = []
    for sec in sections:
        out.append({"id": sec.id, "title": sec.title, "shown": not sec.reason,
                    "reason": sec.reason or None})
        for item in sec.items:
            if item.name.startswith("km_") and not (isinstance(item, Table)
                                                    and item.name == "km_overall"):
                is_absent = isinstance(item, Table) and item.frame.empty
                reason = item.caption.removeprefix("Not shown: ") if is_absent else None
                out.append({"id": item.name, "title": item.title, "shown": not is_absent,
                            "reason": reason})
    return out
