"""Section "This cohort beside the published series": every published figure measured like
this report's endpoint, beside the same number in this cohort for the same population."""

from __future__ import annotations

from typing import Any

from metsurv.report import table_data as D
from metsurv.report import tables as T
from metsurv.report._format import lower_first
from metsurv.report.analysis import Analysis
from metsurv.report.config import ReportConfig
from metsurv.report.document import Section, Table, absent

TITLE = "This cohort beside the published series"


def section(cfg: ReportConfig, analysis: Analysis) -> Section:
    """The comparison table, or why no published figure describes this cohort's
    population."""
    counts = analysis.counts

    def count_text(subset: str | None, column: str, value: Any, n: int) -> str:
        if column == "all":
            return counts.subset_size(subset)
        return counts.groups(subset, column)[0].text(value, n)

    def count_how(subset: str | None, column: str, value: Any) -> str | None:
        if column == "all":
            if subset is None:
                n = len(counts.data)
                return "primary" if cfg.suppress_below and 0 < n < cfg.suppress_below \
                    else None
            from metsurv.report.config import SUBSETS

            scol, sval = SUBSETS[subset]
            return counts.groups(None, scol)[0].how(sval)
        return counts.groups(subset, column)[0].how(value)

    pub = analysis.published
    comp = T.published_comparison(pub.figures, cohort_rows=pub.cohort_rows,
                                  endpoint=cfg.endpoint, suppress_below=cfg.suppress_below,
                                  count_text=count_text)
    data = D.published_data(pub.figures, pub.cohort_rows, cfg.suppress_below,
                            count_how=count_how)
    left = pub.left_out
    left_text = (" Not set beside this cohort, for their population: " + "; ".join(left)
                 + "." if left else "")
    if len(comp) and "Cohort n" in comp.columns:  # groups this cohort does not record
        missing = comp["Cohort n"].astype(str).str.strip() == ""
        if missing.any():
            factors = sorted(set(comp.loc[missing, "Factor"]))
            left_text += (f" {int(missing.sum())} figure(s) left out: this cohort has no "
                          "patients in their group ("
                          f"{', '.join(lower_first(f) for f in factors)}).")
            comp = comp[~missing].reset_index(drop=True)
            data = data[~missing.to_numpy()].reset_index(drop=True)
    if comp.empty:
        return absent("published", TITLE,
                      "no published figure describes a population this cohort has "
                      "(metsurv.published)." + left_text)
    sec = Section(TITLE, id="published", intro=(
        "Published figures of overall survival from metastasectomy (reference file "
        "metsurv.published), each beside the same quantity in this cohort, computed on the "
        "same population (histologies and subset) and group. Populations, eras and "
        "selection differ: a difference is a question, not a finding."))
    sec.items.append(Table("published_comparison", "This cohort vs published series",
                           "Survival in percent, medians in months; blank where the study did "
                           "not report the figure or the cohort cannot estimate it. The "
                           "'confidence' of each published figure is in metsurv.published."
                           + left_text, comp, data=data))
    return sec
