"""Section "Cohort": the endpoint, follow-up and period of operations, the flow of
records, the data checks and Table 1."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.report import table_data as D
from metsurv.report import tables as T
from metsurv.report._format import lower_first
from metsurv.report.analysis import Analysis, FollowUp
from metsurv.report.config import ReportConfig
from metsurv.report.counts import flow_printed
from metsurv.report.document import Section, Table
from metsurv.report.sections._common import endpoint_text


def section(cfg: ReportConfig, analysis: Analysis) -> Section:
    """The cohort: who was analysed, for how long, and their characteristics (Table 1,
    which decides its counts first: every later output prints a group as it does)."""
    patients = analysis.patients
    k = cfg.suppress_below
    sec = Section("Cohort", endpoint_text(cfg) + " " + follow_up_text(analysis.follow_up),
                  id="cohort")
    sec.items.append(Table("flow", "Flow of records",
                           "Every record read is kept or excluded with its reason "
                           "(read = analysed + excluded)."
                           + (f" Counts below {k} are shown as <{k}; the number read is then "
                              "shown as the range they allow." if k else ""),
                           _flow_shown(flow := flow_printed(analysis.cohort.flow, k)),
                           data=D.flow_data(flow)))
    findings = findings_summary(analysis.cohort.findings, k)
    if len(findings):
        sec.items.append(Table("findings", "Data checks",
                               "What validation found, counted by source column and rule "
                               "(the rows themselves stay with the data: "
                               "metsurv validate lists them).", findings))
    missing_by = cfg.table1_by if cfg.table1_by in patients.columns else None
    not_split = ""
    if k and missing_by is not None:
        # A by group (or the patients without a by value) of fewer than k would make every
        # count of its column "<k" and, through the totals, most of the others hidden:
        # Table 1 is then shown for all patients only, and says why.
        sizes = patients[missing_by].value_counts(dropna=False)
        if ((sizes > 0) & (sizes < k)).any():
            not_split = (f" Not split by {lower_first(schema.FACTOR_TITLES.get(missing_by, missing_by))}"
                         f": one of its groups has fewer than {k} patients.")
            missing_by = None
    t1 = T.table1(patients, by=missing_by, variables=cfg.table1_variables,
                  suppression=analysis.counts.supp, p=cfg.table1_p)
    by_text = (f" by {lower_first(schema.FACTOR_TITLES.get(missing_by, missing_by))}"
               if missing_by else "")
    sec.items.append(Table(
        "table1", f"Table 1. Patient characteristics{by_text}",
        table1_caption(t1, k, not_split, missing_by), t1, data=D.table1_data(t1)))
    return sec


def table1_caption(t1: pd.DataFrame, k: int, not_split: str = "",
                   by: str | None = None) -> str:
    """Table 1's caption: how its cells read, then its footnotes (``t1.attrs["footnotes"]``:
    a variable counted among those it applies to, variables fixed by the grouping, the SMD's
    denominator, the tests), then what suppression did."""
    text = ("n (%) of patients with a known value; numbers as median (IQR); "
            + ("" if k else "a missing row only where values are missing; ")
            + "levels nobody has are left out.")
    notes = list(t1.attrs.get("footnotes", ()))
    if notes:
        text += " " + " ".join(notes)
    if k:
        text += (f" Counts below {k} are shown as <{k}; \"{T.SECONDARY}\": a count hidden so "
                 "that a total cannot give a smaller one back; no percentages for a "
                 "characteristic with a hidden count in that column; no median of fewer than "
                 f"{k} values; a missing row for each category, even of 0; no SMD or p-values (computed "
                 "from the exact counts, they would give hidden ones back)."
                 if by else
                 f" Counts below {k} are shown as <{k}; \"{T.SECONDARY}\": a count hidden so "
                 "that a total cannot give a smaller one back; no percentages for a "
                 "characteristic with a hidden count in that column; no median of fewer than "
                 f"{k} values; a missing row for each category, even of 0.")
        text += not_split
    return text


def follow_up_text(follow_up: FollowUp) -> str:
    """Median follow-up by the reverse Kaplan-Meier method with its IQR, and the years of
    the first metastasectomies (years only: dates can identify a patient)."""
    text = ""
    q = follow_up.quantiles
    if q is not None:
        if np.isfinite(q[0.5]):
            iqr = (f" (IQR {q[0.25]:.1f}\u2013{q[0.75]:.1f})"
                   if np.isfinite(q[0.25]) and np.isfinite(q[0.75]) else "")
            text = (f"Median follow-up {q[0.5]:.1f} months{iqr}, by the reverse "
                    "Kaplan-Meier method.")
        else:
            text = "Median follow-up not reached by the reverse Kaplan-Meier method."
    if follow_up.years is not None:
        text += f" First metastasectomies from {follow_up.years[0]} to {follow_up.years[1]}."
    return text.strip()


def findings_summary(findings: pd.DataFrame, k: int) -> pd.DataFrame:
    """Findings as counts per table, source column, rule and severity: never the values or
    patient ids of the rows (those can identify a patient)."""
    cols = ["table", "column", "rule", "severity"]
    if findings is None or not len(findings) or not set(cols) <= set(findings.columns):
        return pd.DataFrame()
    frame = findings[cols].astype(object).fillna("")
    if "value" in findings.columns:
        # an unplaced histology text is what the reader must map (docs/mapping.md): named,
        # unless under suppression it is rarer than k (a rare diagnosis is a quasi-identifier)
        hist = frame["rule"].astype(str).str.startswith("histology_unrecognised")
        rows = frame["rule"].astype(str).str.extract(r"\((\d[\d,]*) rows?\)")[0]
        rows = pd.to_numeric(rows.str.replace(",", ""), errors="coerce").fillna(0)
        named = hist & ((rows >= k) if k else True)
        text = findings["value"].astype(str).str.slice(0, 40)
        frame.loc[named, "rule"] = (frame.loc[named, "rule"].astype(str) + ": '"
                                    + text[named] + "'")
    if k:  # a rule may say how many rows it concerns ("(3 rows)"): the n column says it,
        # under suppression as every count
        frame["rule"] = frame["rule"].astype(str).str.replace(
            r"\s*\(\d[\d,]* rows?\)", "", regex=True)
    g = frame.groupby(cols, sort=False).size()
    out = g.reset_index(name="n")
    out["n"] = [T.suppress_count(v, k) for v in out["n"]]
    return out.rename(columns=str.capitalize)


def _flow_shown(flow: pd.DataFrame) -> pd.DataFrame:
    """The flow table as a reader sees it: headed in words, without a reason column when no
    row is excluded for a reason (the table file keeps every column)."""
    shown = flow.rename(columns={"table": "Table", "step": "Step", "reason": "Reason"})
    if not shown["Reason"].astype(str).str.strip().ne("").any():
        shown = shown.drop(columns="Reason")
    return shown
