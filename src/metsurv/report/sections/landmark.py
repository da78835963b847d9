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
from metsurv.report.sections._common import labels, order, plot_kwargs, survival_rows

TITLE = "Repeat resection: landmark analysis"


def section(cfg: ReportConfig, analysis: Analysis) -> Section:
    """One figure per landmark and a table of survival from each, or why the data cannot
    give them (no resections table)."""
    if analysis.landmark_reason or not analysis.landmarks:
        return absent("landmark", TITLE, analysis.landmark_reason
                      or "no landmark times configured (landmark_times).")
    supp = analysis.counts.supp
    sec = Section(TITLE, id="landmark", intro=
                  "Comparing patients with and without a repeat resection from the first "
                  "operation is biased by immortal time (a patient must survive and recur to "
                  "be re-operated). At each landmark, patients alive and followed beyond it "
                  "are grouped by whether they had a repeat resection by then, and survival "
                  "is counted from the landmark (Anderson, Cain & Gelber 1983).")
    scale = schema.TIME_UNITS[cfg.time_unit].scale
    rows = []
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
            "Patients re-operated after the landmark stay in the single-resection group. "
            + F.AT_RISK_CAPTION + (f" Log-rank {format_p(p)}." if p is not None else ""),
            "km", {"panel": panel, **plot_kwargs(cfg), "max_time": span, "tick_step": None,
                   "xlabel": f"{schema.TIME_UNITS[cfg.time_unit].label} after the {lm:g}-month landmark"}))
        rows.append(survival_rows(fit, f"Landmark {lm:g} months", p, None, cfg.suppress_below,
                                  labels=labels("repeat_resection", fit.groups),
                                  order=order("repeat_resection", fit.groups), groups=groups))
    tab = pd.concat(rows, ignore_index=True)
    tab.columns = [c.replace("Median", "Median from landmark").replace("-year", "-year after")
                   for c in tab.columns]
    sec.items.append(Table("landmark", "Survival from each landmark by repeat resection",
                           "Kaplan-Meier from the landmark (times counted from it).", tab))
    return sec
