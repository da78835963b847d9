"""Section "Repeat resection: landmark analysis": survival from each landmark by repeat
resection before it (Anderson, Cain & Gelber 1983), free of immortal-time bias."""

from __future__ import annotations

import pandas as pd

from metsurv import schema
from metsurv.format import format_p
from metsurv.report import figures as F
from metsurv.report.analysis import Analysis
from metsurv.report.config import ReportConfig
from metsurv.report.document import Figure, Section, Table, absent
from metsurv.report.sections._common import (
    curve_conventions,
    labels,
    order,
    plot_kwargs,
    suppression_text,
    survival_table,
)

TITLE = "Repeat resection: landmark analysis"


def section(cfg: ReportConfig, analysis: Analysis) -> Section:
    """One figure per landmark and a table of survival from each, or why the data cannot
    give them (no resections table)."""
    if analysis.landmarks is None:
        return absent("landmark", TITLE, "not asked for: no landmark times configured "
                      "(landmark_times).")
    if analysis.landmark_reason or not analysis.landmarks:
        return absent("landmark", TITLE, analysis.landmark_reason)
    supp = analysis.counts.supp
    sec = Section(TITLE, id="landmark", intro=
                  "Comparing patients with and without a repeat resection from the first "
                  "operation is biased by immortal time (a patient must survive and recur to "
                  "be re-operated). At each landmark, patients alive and followed beyond it "
                  "are grouped by whether they had a repeat resection by then, and survival "
                  "is counted from the landmark (Anderson, Cain & Gelber 1983).")
    scale = schema.TIME_UNITS[cfg.time_unit].scale
    rows, data = [], []
    for one in analysis.landmarks:
        lm, res = one.at, one.result
        fit = res.km
        # who is analysed at the landmark, and by repeat resection: groups like any other
        at_lm = supp.partition(("n", None, f"alive at {lm:g} months"),
                               {True: res.n_eligible, False: res.n_excluded})
        med = fit.medians()
        groups = tuple(supp.partition((what, f"alive at {lm:g} months", "repeat_resection"),
                                      dict(zip(med["group"], med[col].astype(int), strict=True)))
                       for what, col in (("n", "n"), ("events", "events")))
        span = max(cfg.max_time - lm * scale, 1.0)
        p = res.logrank.p if res.logrank is not None else None
        panel = F.panel_from_km(fit, at_risk_times=[float(t) / scale for t in F.time_ticks(span)],
                                labels=labels("repeat_resection", fit.groups),
                                order=order("repeat_resection", fit.groups),
                                p_logrank=p, groups=groups[0])
        sec.items.append(Figure(
            f"landmark_{lm:g}m", f"Landmark at {lm:g} months",
            f"Survival from the {lm:g}-month landmark of the {at_lm.range_text(True)} patients "
            f"alive and followed beyond it ({at_lm.text(False)} died or were censored "
            f"earlier), by repeat resection at or before the landmark "
            f"({groups[0].text(True, res.n_exposed)} patients). "
            "Patients re-operated after the landmark stay in the single-resection group; "
            + curve_conventions(cfg, len(fit.curves))
            + (f" Log-rank {format_p(p)}." if p is not None else "") + suppression_text(cfg),
            "km", {"panel": panel, **plot_kwargs(cfg), "max_time": span, "tick_step": None,
                   "xlabel": f"{schema.TIME_UNITS[cfg.time_unit].label} after the {lm:g}-month landmark"}))
        printed, numbers = survival_table(fit, f"Landmark {lm:g} months", p, None,
                                          cfg.suppress_below,
                                          labels=labels("repeat_resection", fit.groups),
                                          order=order("repeat_resection", fit.groups),
                                          groups=groups)
        rows.append(printed)
        numbers.insert(0, "landmark_months", float(lm))
        data.append(numbers.drop(columns="trend_p"))
    tab = pd.concat(rows, ignore_index=True)
    tab.columns = [c.replace("Median", "Median from landmark").replace("-year", "-year after")
                   for c in tab.columns]
    sec.items.append(Table("landmark", "Survival from each landmark by repeat resection",
                           "Kaplan-Meier from the landmark (times counted from it).", tab,
                           data=_from_landmark(pd.concat(data, ignore_index=True))))
    return sec


def _from_landmark(data: pd.DataFrame) -> pd.DataFrame:
    """The landmark table's numbers, times counted from the landmark in the names:
    ``median_from_landmark_months``, ``surv_<y>y_after_landmark_pct``; ``level_code``
    "True"/"False": repeat resection at or before the landmark."""
    return data.rename(columns=lambda c: c.replace("median", "median_from_landmark")
                       .replace("y_", "y_after_landmark_", 1) if c.startswith(("median", "surv_"))
                       else c)
