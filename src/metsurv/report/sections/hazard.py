"""Section "Hazard over time": the kernel-smoothed hazard of death and of recurrence or
death with pointwise CI, and their annual rates per patient-year (the evidence for a
surveillance schedule). Shown when the data have recurrence (``dfs_months``/``dfs_event``
with a recurrence recorded); the estimates come from :mod:`metsurv.stats.hazard` via
:attr:`Analysis.hazard <metsurv.report.analysis.Analysis>`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.report import tables as T
from metsurv.report._format import suppress_count
from metsurv.report.analysis import HAZARD_YEARS, Analysis
from metsurv.report.config import ReportConfig
from metsurv.report.document import Figure, Section, Table, absent

TITLE = "Hazard over time"
#: What each endpoint's hazard is the hazard of, as printed (legend and table).
LABELS = {"os": "Death", "dfs": "Recurrence or death"}
EVENT_HEADS = {"os": "Deaths", "dfs": "Recurrences or deaths"}
#: Rates are printed per this many patient-years.
PER = 100
#: The text of the estimators' warning about rows dropped for a missing value.
DROPPED = "dropped for a missing value"

METHODS = ("The hazard of death and of recurrence or death over time was estimated by "
           "kernel smoothing of the Nelson-Aalen increments (Ramlau-Hansen 1983; "
           "Epanechnikov kernel with the boundary kernels of Mueller and Wang 1994 near "
           "both ends, one bandwidth per curve of tau/(4 d^(1/5)) months, tau being the "
           "time at which 10 patients remain at risk and d the number of events), with "
           "pointwise 95% confidence intervals on the log scale from the Ramlau-Hansen "
           "variance; annual hazard rates are events per patient-year in each year after "
           "the operation, with exact Poisson confidence intervals.")


def section(cfg: ReportConfig, analysis: Analysis) -> Section:
    """The smoothed-hazard figure and the annual hazard table, or why the data cannot
    give them."""
    hz = analysis.hazard
    if hz is None or hz.reason:
        return absent("hazard", TITLE, hz.reason if hz is not None else
                      "not computed for this build.")
    k = cfg.suppress_below
    sec = Section(TITLE, id="hazard", intro=
                  "How the risk of death and of recurrence or death changes with the time "
                  "since the operation: the instantaneous hazard, smoothed, and the rate in "
                  "each year (events per patient-year), the evidence for a surveillance "
                  "schedule.")
    curves = [(LABELS[e], hz.smoothed[e].to_frame()) for e in ("os", "dfs")]
    bws = {e: hz.smoothed[e].bandwidths.iloc[0] for e in ("os", "dfs")}
    bw_text = " and ".join(f"{b['bandwidth']:.1f} months ({LABELS[e].lower()})"
                           for e, b in bws.items())
    ends = " and ".join(f"{b['max_time'] / schema.MONTHS_PER_YEAR:.1f}"
                        for b in bws.values())
    # the rows dropped for a missing time or event are stated in the caption, their count
    # under suppression (the estimator's own warning prints it unsuppressed)
    notes = tuple(w for e in ("os", "dfs") for w in hz.smoothed[e].warnings
                  if DROPPED not in w)
    used = _patients_used(analysis, hz)
    sec.items.append(Figure(
        "hazard_smoothed", "Hazard of death and of recurrence or death",
        "Kernel-smoothed hazard per patient-year after the first pulmonary metastasectomy "
        "(Ramlau-Hansen estimator, Epanechnikov kernel with Mueller-Wang boundary kernels); "
        f"shaded: pointwise 95% CI (log scale). Bandwidth {bw_text}; each curve is "
        f"estimated up to where {_end_count(cfg)} patients remain at risk ({ends} years). "
        f"{used}.",
        "hazard", {"curves": curves, "time_unit": cfg.time_unit, "max_time": cfg.max_time,
                   "tick_step": cfg.tick_step}, notes=notes))
    printed, numbers = annual_tables(hz.annual, k)
    sec.items.append(Table(
        "hazard_annual", "Annual hazard of death and of recurrence or death",
        f"Events and patient-years in each year after the operation (up to {HAZARD_YEARS} "
        f"years) and the rate per {PER} patient-years with its exact Poisson 95% CI"
        + (f"; rates resting on fewer than {k} events are not shown" if k else "") + ".",
        printed, data=numbers))
    return sec


def _patients_used(analysis: Analysis, hz: Any) -> str:
    """The patients each curve rests on and those left out for a missing time or event
    (:attr:`HazardResult.n` and ``n_dropped``), as the report prints counts (a left-out
    count below k suppressed, the used count as the range a reader can derive)."""
    supp = analysis.counts.supp if analysis.counts is not None else None
    parts = []
    for e in ("os", "dfs"):
        res = hz.smoothed[e]
        n, dropped = int(getattr(res, "n", 0)), int(getattr(res, "n_dropped", 0))
        if supp is not None:
            part = supp.partition(("n", None, f"hazard: {e}"), {True: n, False: dropped})
            n_text, d_text = part.range_text(True), part.text(False)
        else:
            n_text, d_text = f"{n:,}", f"{dropped:,}"
        parts.append(f"{LABELS[e].lower()}: n = {n_text}"
                     + (f" ({d_text} left out for a missing follow-up time or event)"
                        if dropped else ""))
    return "Patients used, " + "; ".join(parts)


def _end_count(cfg: ReportConfig) -> int:
    from metsurv.stats.hazard import MIN_AT_RISK_END

    return max(MIN_AT_RISK_END, cfg.min_at_risk, cfg.suppress_below)


def annual_tables(annual: dict, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The annual hazard table as printed (one row per year, the two endpoints side by
    side) and as numbers (one row per endpoint and year: ``endpoint``, ``year_start``,
    ``year_end``, ``events``, ``person_years``, ``rate_per_100py`` with ``_lower``/``_upper``;
    under suppression a count of 1..k-1 and its rate are empty). Years without
    person-time are left out."""
    frames = {e: annual[e].to_frame() for e in ("os", "dfs")}
    keep = np.zeros(len(frames["os"]), dtype=bool)
    for tab in frames.values():
        keep |= tab["person_years"].to_numpy(float) > 0
    printed = pd.DataFrame({"Years after operation": [
        f"{s / schema.MONTHS_PER_YEAR:g}\u2013{e / schema.MONTHS_PER_YEAR:g}"
        for s, e in zip(frames["os"]["start"], frames["os"]["end"], strict=True)]})
    numbers = []
    for e, tab in frames.items():
        ev = tab["events"].to_numpy(float)
        hidden = (ev > 0) & (ev < k) if k else np.zeros(ev.size, dtype=bool)
        printed[EVENT_HEADS[e]] = [suppress_count(v, k) for v in ev]
        printed[f"Patient-years ({e.upper()})"] = [f"{v:,.0f}" for v in tab["person_years"]]
        printed[f"{EVENT_HEADS[e]} per {PER} patient-years (95% CI)"] = [
            "" if h else T.ci_text(r, lo, hi, PER, 1)
            for h, r, lo, hi in zip(hidden, tab["rate"], tab["lower"], tab["upper"],
                                    strict=True)]
        numbers.append(pd.DataFrame({
            "endpoint": e, "year_start": tab["start"] / schema.MONTHS_PER_YEAR,
            "year_end": tab["end"] / schema.MONTHS_PER_YEAR,
            "events": np.where(hidden, np.nan, ev), "person_years": tab["person_years"],
            f"rate_per_{PER}py": np.where(hidden, np.nan, PER * tab["rate"]),
            f"rate_per_{PER}py_lower": np.where(hidden, np.nan, PER * tab["lower"]),
            f"rate_per_{PER}py_upper": np.where(hidden, np.nan, PER * tab["upper"]),
        })[keep])
    return printed[keep].reset_index(drop=True), pd.concat(numbers, ignore_index=True)
