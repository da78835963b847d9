"""Section "Pulmonary recurrence and death (competing risks)": cumulative incidence of each
first event after metastasectomy (Aalen-Johansen, R cmprsk::cuminc), not 1 - KM."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.report import figures as F
from metsurv.report import table_data as D
from metsurv.report import tables as T
from metsurv.report._format import lower_first
from metsurv.report.analysis import CIF_YEARS, Analysis
from metsurv.report.config import ReportConfig
from metsurv.report.document import Figure, Section, Table, absent
from metsurv.stats.competing import FIRST_EVENT_STATUS, STATUS_LABELS

TITLE = "Pulmonary recurrence and death (competing risks)"


def section(cfg: ReportConfig, analysis: Analysis) -> Section:
    """The cumulative incidence figure and table, or why the data cannot give them."""
    comp = analysis.competing
    if comp is None or comp.reason:
        return absent("competing", TITLE, comp.reason if comp is not None else
                      "not asked for (competing_risks: false in the config).")
    res = comp.result
    tab = res.table
    # causes in the schema's order of first events: pulmonary, extrathoracic, site unknown,
    # death without recurrence
    rank = {code: schema.FIRST_EVENTS.index(name) for name, code in FIRST_EVENT_STATUS.items()}
    causes = sorted(res.causes, key=lambda c: rank.get(c, len(rank)))
    curves = []
    for cause in causes:
        cur = tab[tab["cause"] == cause]
        curves.append(F.Curve(
            label=cause_label(cause),
            time=np.concatenate(([0.0], cur["time"].to_numpy(float))),
            estimate=np.concatenate(([0.0], cur["estimate"].to_numpy(float))),
            lower=np.concatenate(([0.0], cur["lower"].to_numpy(float))),
            upper=np.concatenate(([0.0], cur["upper"].to_numpy(float))),
        ))
    at = comp.at.copy()
    at["cause_code"] = at["cause"].astype(str)
    at["cause"] = pd.Categorical([cause_label(c) for c in at["cause"]],
                                 categories=[c.label for c in curves])
    at = at.sort_values(["cause", "time"], kind="stable")
    table = pd.DataFrame({
        "First event": at["cause"].astype(str), "Years": (at["time"] / schema.MONTHS_PER_YEAR).round(2),
        "Cumulative incidence % (95% CI)": [
            T.ci_text(e, lo, hi, 100) if e > 0 else "0.0"
            for e, lo, hi in zip(at["estimate"], at["lower"], at["upper"], strict=False)],
    })
    k = cfg.suppress_below
    sec = Section(TITLE, id="competing", intro=
                  "Death without recurrence competes with recurrence: the cumulative "
                  "incidence (Aalen-Johansen, as R cmprsk::cuminc) is shown, not 1 - KM.")
    sec.items.append(Figure(
        "cif_recurrence", "Cumulative incidence of first events",
        "Cumulative incidence of each first event after the first metastasectomy "
        f"({', '.join(lower_first(c.label) for c in curves)}); shaded: 95% CI. Each curve "
        "runs flat from its cause's last event to the end of follow-up. "
        + F.CIF_AT_RISK_CAPTION + (f" Counts below {k} shown as <{k}; curves stop where "
                                   f"fewer than {k} remain at risk." if k else ""),
        "cif", {"curves": curves, "time_unit": cfg.time_unit, "max_time": cfg.max_time,
                "tick_step": cfg.tick_step, "end_of_followup": comp.end_of_followup,
                "at_risk": comp.at_risk, "suppress_below": k,
                "stop_at": fewer_than_k_from(comp.dfs, k),
                "note": "Aalen-Johansen estimates; first event after metastasectomy; "
                        "curves drawn to the end of follow-up."}))
    years = ", ".join(f"{y:g}" for y in CIF_YEARS)
    sec.items.append(Table("cif_recurrence", f"Cumulative incidence at {years} years", "",
                           table, data=D.cif_data(at, k)))
    return sec


def fewer_than_k_from(dfs: Any, k: int) -> float | None:
    """The first time (months) at which fewer than ``k`` patients remain at risk on the
    DFS endpoint (``dfs``: its Kaplan-Meier result); None without suppression or when k
    or more stay at risk to the end."""
    if not k:
        return None
    tab = dfs.curves[0].table
    low = tab.loc[tab["n_risk"] < k, "time"]
    return float(low.iloc[0]) if len(low) else None


def cause_label(cause: Any) -> str:
    """A first event's status code as printed: 'Recurrence, site unknown'."""
    text = str(STATUS_LABELS.get(cause, cause)).replace("_", " ")
    return text[:1].upper() + text[1:]
