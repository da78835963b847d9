"""Section "IRLM comparison battery": every prognostic factor of the International Registry
of Lung Metastases on this cohort, in one table."""

from __future__ import annotations

from metsurv.report import table_data as D
from metsurv.report import tables as T
from metsurv.report.analysis import Analysis
from metsurv.report.config import ReportConfig
from metsurv.report.document import Section, Table, absent
from metsurv.report.sections._common import (
    battery_groups,
    battery_model_counts,
    battery_model_text,
)

TITLE = "IRLM comparison battery"


def section(cfg: ReportConfig, analysis: Analysis) -> Section:
    """The battery, or why there is none (an outcome-only cohort)."""
    res, counts = analysis.battery, analysis.counts
    if not len(res.factors):
        return absent("irlm", TITLE, "the cohort has none of the IRLM prognostic factors "
                      "(resection status, disease-free interval, number of metastases, "
                      "histology).")
    sec = Section(TITLE, id="irlm", intro=
                  "Every prognostic factor of the International Registry of Lung Metastases "
                  "(Pastorino 1997) on this cohort: Kaplan-Meier per level, log-rank (and "
                  "trend) tests, univariable hazard ratios against the reference level and a "
                  f"multivariable Cox model, the battery model: "
                  f"{battery_model_text(res, counts)}. "
                  f"Levels with fewer than {res.min_n} patients or {res.min_events} events are "
                  "described but not tested and left out of the battery model (see Note); "
                  "it is not the study model of the Cox section.")
    sec.items.append(Table("irlm_battery", "IRLM battery", "Medians in months; survival in "
                           "percent; HR from Cox models (Efron ties). Battery model: "
                           f"{battery_model_text(res, counts)}.",
                           T.format_irlm(res, cfg.suppress_below, groups=battery_groups(counts),
                                         model_counts=battery_model_counts(res, counts)
                                         if res.multivariable_factors else None),
                           notes=T.result_notes([("", res)]),
                           data=D.irlm_data(res, cfg.suppress_below,
                                            groups=battery_groups(counts))))
    return sec
