"""Cohort: the analysed patients and resections, the flow of every input row, and provenance."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema

FLOW_COLUMNS = ("table", "step", "reason", "n")


@dataclass(frozen=True)
class Cohort:
    """A loaded, validated cohort in the canonical schema.

    Attributes
    ----------
    patients
        One row per analysed patient: canonical fields (coded fields as pandas Categorical in
        schema order), derived fields and ``source_row`` (the row in the source file).
    resections
        One row per analysed pulmonary metastasectomy, or None when no table was given.
    counting_process
        (start, stop] rows with repeat resection as a time-dependent covariate (see
        ``metsurv.io.derive.counting_process``), or None without a resections table.
    flow
        CONSORT-style counts per table: read, excluded by reason, analysed. They always add up.
    findings
        Every problem seen: table, row, patient_id, column, value, rule, severity, reason.
    provenance
        Source names, formats and SHA-256, the mapping, and package versions.
    """

    patients: pd.DataFrame
    resections: pd.DataFrame | None
    counting_process: pd.DataFrame | None
    flow: pd.DataFrame
    findings: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)

    def _flow_of(self, table: str) -> pd.DataFrame:
        return self.flow[self.flow["table"] == table]

    @property
    def n_read(self) -> int:
        """Records read from the patients source."""
        f = self._flow_of("patients")
        return int(f.loc[f["step"] == "read", "n"].sum())

    @property
    def n_analysed(self) -> int:
        """Patients in the analysed cohort."""
        return len(self.patients)

    def excluded(self, table: str = "patients") -> pd.DataFrame:
        """Excluded records by reason (reason, count), in the order of the flow."""
        f = self._flow_of(table)
        f = f[f["step"] == "excluded"]
        return pd.DataFrame({"reason": f["reason"].to_list(), "count": f["n"].astype(int)
                             .to_list()})

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary printed by ``metsurv validate --json``."""
        findings = self.findings.astype(object).where(self.findings.notna(), None)
        out: dict[str, Any] = {
            "n_read": self.n_read,
            "n_analysed": self.n_analysed,
            "excluded": self.excluded().to_dict(orient="records"),
            "findings": [
                {"table": r["table"], "patient_id": r["patient_id"],
                 "row": None if r["row"] is None else int(r["row"]), "column": r["column"],
                 "value": r["value"], "rule": r["rule"], "severity": r["severity"]}
                for r in findings.to_dict(orient="records")
            ],
        }
        if self.resections is not None:
            res = self._flow_of("resections")
            out["resections"] = {
                "n_read": int(res.loc[res["step"] == "read", "n"].sum()),
                "n_analysed": len(self.resections),
                "excluded": self.excluded("resections").to_dict(orient="records"),
            }
        return out

    def summary(self) -> str:
        """A few lines a clinician reads first: flow, follow-up, events, factor counts."""
        p = self.patients
        lines = [f"Cohort from {self.provenance.get('source', '?')}",
                 f"  records read {self.n_read}, analysed {self.n_analysed}"]
        for r in self.excluded().itertuples():
            lines.append(f"  excluded ({r.reason}): {r.count}")
        if self.resections is not None:
            ex = self.excluded("resections")
            lines.append(f"  resections analysed {len(self.resections)}"
                         + "".join(f", excluded ({r.reason}) {r.count}" for r in ex.itertuples()))
        if len(p):
            deaths = int(p["os_event"].sum())
            fu = median_followup(p)
            fu_text = f"{fu:.1f} months" if np.isfinite(fu) else "not estimable"
            lines.append(f"  deaths {deaths}; median follow-up {fu_text} (reverse Kaplan-Meier)")
        for name in ("resection_status", "dfi_group", "n_metastases_group", "histology_group",
                     "nodal_status", "irlm_group"):
            if name in p and p[name].notna().any():
                counts = p[name].value_counts(sort=False, dropna=False)
                text = ", ".join(f"{'missing' if pd.isna(k) else k} {v}"
                                 for k, v in counts.items() if v)
                lines.append(f"  {name}: {text}")
        n_warn = int((self.findings["severity"] == "warning").sum())
        lines.append(f"  findings: {len(self.findings)} ({n_warn} warnings)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Cohort: {self.n_analysed} of {self.n_read} patients analysed>"

    def _repr_html_(self) -> str:
        flow = self.flow.to_html(index=False, na_rep="")
        return (f"<p><b>Cohort</b>: {self.n_analysed} of {self.n_read} patients analysed "
                f"({html.escape(str(self.provenance.get('source', '')))})</p>{flow}")


def median_followup(patients: pd.DataFrame) -> float:
    """Median potential follow-up by the reverse Kaplan-Meier method (Schemper & Smith 1996):
    censoring is the event, deaths are censored. The median observed time would understate
    follow-up because early deaths end observation."""
    import warnings

    from metsurv.errors import StatsWarning
    from metsurv.stats import km  # the data layer's one use of a statistic, for its summary

    reverse = pd.DataFrame({"t": patients["os_months"], "e": ~patients["os_event"].astype(bool)})
    with warnings.catch_warnings():
        # "no events" of the reverse curve means nobody was censored (everyone died): the
        # median follow-up is then NA, which is the answer, not a problem with the data
        warnings.simplefilter("ignore", StatsWarning)
        return float(km(reverse, time="t", event="e").curves[0].median)


def canonical_order(columns: list[str]) -> list[str]:
    """Schema order first, then anything else (``source_row``) at the end."""
    order = {name: i for i, name in enumerate(schema.PATIENTS)}
    return sorted(columns, key=lambda c: (order.get(c, len(order)), c))
