"""The report's sections, one module each: ``section(config, analysis) -> Section`` turns
the :class:`~metsurv.report.analysis.Analysis` into what the report prints (tables of
printed cells, figures as data, captions), or into the one line saying why the data cannot
support it.

:func:`compose` calls them in report order. That order matters under small-cell
suppression: the first output to print a group decides how its count is printed (Table 1
first), and every later one prints it alike.
"""

from __future__ import annotations

import dataclasses
import warnings

from metsurv.report._cache import frame_cache
from metsurv.report.analysis import Analysis
from metsurv.report.config import ReportConfig
from metsurv.report.counts import GroupCounts
from metsurv.report.document import Section
from metsurv.report.sections import (
    cohort,
    compare,
    competing,
    cox,
    hazard,
    irlm,
    landmark,
    methods,
    published,
    survival,
)
from metsurv.report.suppression import Suppression

__all__ = ["compose"]


def compose(config: ReportConfig, analysis: Analysis) -> list[Section]:
    """Every section of the report, in order: cohort, survival by factor, Cox models, the
    IRLM battery, competing risks, the hazard over time, the landmark analysis, the
    treatment comparison, the published series, Methods;
    a section the config does not ask for or the data cannot support is one line saying
    why.

    Each call decides suppressed counts afresh (a new
    :class:`~metsurv.report.suppression.Suppression`), so the same analysis always gives
    the same sections.
    """
    cfg = config
    with frame_cache():  # subsets and level codes of the patients computed once
        analysis = dataclasses.replace(analysis, counts=GroupCounts.of(
            cfg, analysis.patients, Suppression(cfg.suppress_below)))
        out = [cohort.section(cfg, analysis), survival.section(cfg, analysis),
               cox.section(cfg, analysis), irlm.section(cfg, analysis)]
        # asked for or not, each section is there: shown, or the line that says why not
        out.append(competing.section(cfg, analysis))
        out.append(hazard.section(cfg, analysis))
        out.append(landmark.section(cfg, analysis))
        out.append(compare.section(cfg, analysis))
        out.append(published.section(cfg, analysis))
    supp = analysis.counts.supp
    if supp.conflicts:  # a bug: two outputs counted one group differently (both hidden)
        warnings.warn(f"small-cell suppression: {len(supp.conflicts)} group(s) counted "
                      f"differently by two outputs, hidden in the later one: "
                      f"{supp.conflicts[:3]}", RuntimeWarning, stacklevel=2)
    out.append(methods.section(cfg, analysis, out))
    return out
