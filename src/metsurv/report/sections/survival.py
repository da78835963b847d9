"""Section "Survival by prognostic factor": the overall Kaplan-Meier curve, one figure per
configured factor (with published benchmarks where they describe the same population) and
the survival table."""

from __future__ import annotations

import pandas as pd

from metsurv import schema
from metsurv.report import figures as F
from metsurv.report import tables as T
from metsurv.report._format import lower_first
from metsurv.report.analysis import SURV_YEARS, Analysis, FactorKM, events_word, tick_months
from metsurv.report.config import ReportConfig
from metsurv.report.counts import GroupCounts
from metsurv.report.document import Figure, Section, Table
from metsurv.report.sections._common import (
    SUBSET_TEXT,
    endpoint_text,
    factor_title,
    km_caption,
    labels,
    order,
    plot_kwargs,
    survival_table,
)


def section(cfg: ReportConfig, analysis: Analysis) -> Section:
    """Kaplan-Meier figures by factor and the table of their medians and survival."""
    counts = analysis.counts
    k = cfg.suppress_below
    sec = Section("Survival by prognostic factor", endpoint_text(cfg), id="survival")
    everyone = analysis.overall
    overall = counts.shared_at_risk(F.panel_from_km(everyone, at_risk_times=tick_months(cfg),
                                                    labels={"all": "All patients"},
                                                    title=None), None, None)
    sec.items.append(Figure("km_overall", "All patients", km_caption(cfg, None), "km",
                            {"panel": overall, **plot_kwargs(cfg)}))
    printed, numbers = survival_table(everyone, "All patients", None, None, k,
                                      labels={"all": "All patients"})
    rows, data = [printed], [_keyed(numbers, "all", None)]
    for factor in analysis.factors:
        item, table_rows = _factor_items(cfg, analysis, counts, factor)
        sec.items.append(item)
        if table_rows is not None:
            rows.append(table_rows[0])
            data.append(_keyed(table_rows[1], factor.spec.factor, factor.spec.subset))
    battery = analysis.battery
    sec.items.append(Table(
        "survival", "Survival estimates by factor",
        f"Kaplan-Meier median and {', '.join(f'{y}' for y in SURV_YEARS)}-year survival with "
        "95% CIs (log-log). p as in the figures, from the IRLM battery on the same patients: "
        f"log-rank over the levels with at least {battery.min_n} patients and "
        f"{battery.min_events} {events_word(cfg)} (sparse levels are described, not tested), "
        "trend over the ordered levels among them; the figure captions name the levels "
        "tested. Blank: not estimable (median not reached, or nobody followed that long)"
        + (f", or a group of fewer than {k} patients (counts below {k} shown as <{k}; "
           f"\"{T.SECONDARY}\": hidden so that the factor's total cannot give a smaller "
           "count back)." if k else "."), pd.concat(rows, ignore_index=True),
        data=pd.concat(data, ignore_index=True)))
    return sec


def _keyed(numbers: pd.DataFrame, factor: str, subset: str | None) -> pd.DataFrame:
    """A factor's survival numbers with its codes in front: ``factor_code`` ("all" for
    everyone) and ``subset`` (a key of ``config.SUBSETS``; empty for the whole cohort)."""
    out = numbers.copy()
    out.insert(0, "subset", subset or "")
    out.insert(0, "factor_code", factor)
    return out


def _factor_items(cfg: ReportConfig, analysis: Analysis, counts: GroupCounts,
                  factor: FactorKM
                  ) -> tuple[Figure | Table, tuple[pd.DataFrame, pd.DataFrame] | None]:
    """One factor's figure (or the line saying why there is none) and its table rows
    (printed, numbers)."""
    spec = factor.spec
    if factor.reason:
        return Table(f"km_{spec.slug}", factor_title(spec), f"Not shown: {factor.reason}",
                     pd.DataFrame()), None
    fit, tests = factor.fit, factor.tests
    groups = counts.groups(spec.subset, spec.factor)
    bench, sources = F.benchmark_points(analysis.benchmark, spec.factor, spec.subset,
                                        fit.groups,
                                        histologies=T.cohort_histologies(factor.data))
    panel = F.panel_from_km(
        fit, at_risk_times=tick_months(cfg), labels=labels(spec.factor, fit.groups),
        order=order(spec.factor, fit.groups), p_logrank=tests.p, p_trend=tests.trend,
        benchmarks=bench, benchmark_label=cfg.benchmark, benchmark_sources=sources,
        groups=groups[0])
    panel = counts.shared_at_risk(panel, spec.subset, spec.factor)
    sub_text = f"; {SUBSET_TEXT[spec.subset]} only" if spec.subset else ""
    what = lower_first(schema.FACTOR_TITLES.get(spec.factor, spec.factor)) + sub_text
    k = cfg.suppress_below
    if not any(F.curve_drawn(c, k) for c in panel.curves):
        # every group hidden under suppression: a figure of no curve says nothing, so the
        # line that says why stands in its place (the survival table keeps what it may show)
        figure: Figure | Table = Table(
            f"km_{spec.slug}", factor_title(spec),
            f"Not shown: under small-cell suppression (suppress_below: {k}) no group of "
            f"{lower_first(what)} can be drawn (a group of fewer than {k} patients, or one "
            "whose size would give a smaller group's away).", pd.DataFrame())
    else:
        figure = Figure(f"km_{spec.slug}", factor_title(spec),
                        km_caption(cfg, what, tests, bench, sources, n_groups=len(fit.curves)),
                        "km", {"panel": panel, **plot_kwargs(cfg)})
    return figure, survival_table(fit, factor_title(spec), tests.p, tests.trend,
                                  cfg.suppress_below, labels=labels(spec.factor, fit.groups),
                                  order=order(spec.factor, fit.groups), groups=groups)
