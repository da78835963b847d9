"""Section "Methods": a paragraph written from what this build ran, to paste into a
manuscript (software and versions, estimators, tests, PH check, missing values,
suppression, one sentence per non-default choice)."""

from __future__ import annotations

from typing import Any

from metsurv.report.analysis import Analysis
from metsurv.report.config import ReportConfig
from metsurv.report.document import Section
from metsurv.report.sections._common import version


def section(cfg: ReportConfig, analysis: Analysis, before: list[Section]) -> Section:
    """The Methods paragraph; ``before`` are the report's other sections (what was shown)."""
    return Section("Methods", methods_text(cfg, analysis.cohort, before), id="methods")


def methods_text(cfg: ReportConfig, cohort: Any, sections: list[Section]) -> str:
    """The Methods paragraph, written from what this build ran (paste into a manuscript)."""
    shown = {s.id for s in sections if not s.reason}
    endpoint = ("Overall survival (death from any cause)" if cfg.endpoint == "os"
                else "Disease-free survival (recurrence or death)")
    parts = [
        f"{endpoint} was measured from the first pulmonary metastasectomy; patients without "
        "the event were censored at their last follow-up.",
        "Follow-up was summarised by the reverse Kaplan-Meier method.",
        "Survival was estimated by the Kaplan-Meier method with Greenwood variance and "
        "95% pointwise confidence intervals on the log(-log) scale; groups were compared "
        "with the log-rank test and, for ordered factors, a test for trend.",
    ]
    if "cox" in shown:
        parts.append("Hazard ratios were estimated with Cox proportional-hazards models "
                     "(Efron's method for ties; 95% Wald confidence intervals), univariable "
                     "and multivariable, the latter on patients with every covariate "
                     "recorded (complete-case analysis); proportional hazards were checked "
                     "with the score test of scaled Schoenfeld residuals against the "
                     "Kaplan-Meier transform of time (R cox.zph).")
    if "irlm" in shown:
        parts.append("The prognostic factors of the International Registry of Lung "
                     "Metastases (Pastorino 1997) were analysed as one battery; levels with "
                     "too few patients or events were described but not tested.")
    if "competing" in shown:
        parts.append("Cumulative incidence of first events was estimated with the "
                     "Aalen-Johansen estimator, death without recurrence being a competing "
                     "risk.")
    if "hazard" in shown:
        from metsurv.report.sections.hazard import METHODS

        parts.append(METHODS)
    if "landmark" in shown:
        parts.append("Repeat resection was analysed at landmarks of "
                     + ", ".join(f"{t:g}" for t in cfg.landmark_times)
                     + " months (Anderson, Cain and Gelber 1983), avoiding immortal-time "
                     "bias.")
    if "compare" in shown and cfg.compare is not None:
        spec = cfg.compare
        weights = ("stabilised inverse probability of treatment weights for the "
                   + ("average treatment effect in the treated" if spec.estimand == "ATT" else
                      "average treatment effect") if spec.method == "iptw" else
                   "overlap weights")
        parts.append(
            "Treatments were compared with propensity scores from a logistic model of "
            f"treatment on the confounders and {weights}; balance was assessed with "
            "standardized mean differences (threshold 0.1), and the effect estimated with "
            "weighted Kaplan-Meier curves, a weighted Cox model with a robust (sandwich) "
            "variance and the difference in restricted mean survival time, beside the "
            "unadjusted comparison."
            + (f" Missing confounder values were imputed {spec.impute} times by chained "
               "equations including the treatment, the event indicator and the Nelson-Aalen "
               "cumulative hazard (White and Royston 2009), and estimates were pooled with "
               "Rubin's rules." if spec.impute else ""))
    if any(item.name.startswith("ph_rmst_") for s in sections for item in s.items):
        parts.append("Where proportional hazards were rejected (cox.zph p < 0.05), the scaled "
                     "Schoenfeld residuals were plotted against time and the restricted mean "
                     "survival time to 5 years was compared, which does not assume them.")
    if "published" in shown:
        parts.append("Survival of the cohort was set beside published series of the same "
                     "population (histologies and subset) and the same endpoint and time "
                     "origin.")
    entry = cohort.patients.get("entry_months")
    if entry is not None and bool((entry > 0).any()):
        parts.append("Patients registered after their operation entered the risk sets at "
                     "registration (left truncation).")
    parts.append("Records that could not be analysed were excluded with their reason (flow "
                 "table); a missing value excluded a patient only from the analyses that "
                 "needed it.")
    if cfg.suppress_below:
        parts.append(f"Counts from 1 to {cfg.suppress_below - 1} were suppressed, with "
                     "complementary suppression so that no such count can be derived from "
                     "the others.")
    versions = ", ".join(f"{pkg} {version(pkg)}" for pkg in
                         ("metsurv", "numpy", "scipy", "pandas", "matplotlib"))
    parts.append(f"Analyses used Python with {versions}; metsurv's survival numerics "
                 "reproduce R survival (survfit, survdiff, coxph, cox.zph).")
    return " ".join(parts)
