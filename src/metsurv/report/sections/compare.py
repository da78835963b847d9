"""Section "Treatment comparison": a propensity-weighted comparison of two treatments
(config key ``compare:``): balance before and after weighting (table and love plot), the
weighted (adjusted) survival curves and the effects beside the unadjusted ones."""

from __future__ import annotations

import dataclasses

import pandas as pd

from metsurv import schema
from metsurv.format import format_ci, format_p
from metsurv.report import figures as F
from metsurv.report.analysis import Analysis
from metsurv.report.config import ReportConfig
from metsurv.report.document import Figure, Section, Table, absent
from metsurv.report.sections._common import curve_conventions, plot_kwargs, suppression_text
from metsurv.stats._times import level_label

TITLE = "Treatment comparison"

_MEASURES = {"hazard_ratio": "Hazard ratio", "rmst_difference": "RMST difference (months)"}
_ANALYSES = {"adjusted": "Weighted", "unadjusted": "Unadjusted"}


def section(cfg: ReportConfig, analysis: Analysis) -> Section:
    """Balance, love plot, adjusted curves and effects, or why they are not shown."""
    if cfg.compare is None:
        return absent("compare", TITLE, "not asked for: no treatment comparison configured "
                      "(compare:).")
    comp = analysis.comparison
    if comp is None:
        return absent("compare", TITLE, analysis.comparison_reason)
    t_label, c_label = (schema.level_label(comp.treatment, v) for v in comp.levels)
    supp = analysis.counts.supp
    groups = supp.partition(("n", None, f"compare:{comp.treatment}"),
                            {comp.levels[0]: comp.n["treated"],
                             comp.levels[1]: comp.n["control"]})
    weights = {"iptw": f"stabilised inverse probability of treatment weights ({comp.estimand})",
               "overlap": "overlap weights (the population in equipoise, ATO)"}[comp.method]
    confounders = ", ".join(schema.FACTOR_TITLES.get(c, c) for c in comp.confounders)
    imputed = (f" Missing confounder values were imputed {comp.imputations} times by chained "
               "equations that include the treatment and the outcome (event and Nelson-Aalen "
               "cumulative hazard); the effects were pooled with Rubin's rules and balance is "
               "the mean over the imputations." if comp.imputations else "")
    sec = Section(f"{TITLE}: {t_label} vs {c_label}", id="compare", intro=(
        f"{t_label} ({groups.text(comp.levels[0])} patients) and {c_label} "
        f"({groups.text(comp.levels[1])}) were not allocated at random. A logistic model of "
        f"treatment on {confounders} gave each patient's propensity score, and {weights} "
        "balanced the groups on these confounders; balance is judged by standardized mean "
        f"differences (|SMD| below {_threshold(comp):g}).{imputed} Effects are shown "
        "weighted (adjusted) and unadjusted; confounders not in the model stay unbalanced."))
    bal = comp.balance
    printed = pd.DataFrame({
        "Covariate": bal["label"],
        "SMD before": [f"{v:.3f}" for v in bal["smd_unweighted"]],
        "SMD after": [f"{v:.3f}" for v in bal["smd_weighted"]],
        "Variance ratio before": [_vr(v) for v in bal["vr_unweighted"]],
        "Variance ratio after": [_vr(v) for v in bal["vr_weighted"]],
        f"|SMD| after > {_threshold(comp):g}": ["yes" if v else ""
                                                 for v in bal["above_threshold"]]})
    if bal[["vr_unweighted", "vr_weighted"]].isna().all().all():  # factors only: no VR
        printed = printed.drop(columns=["Variance ratio before", "Variance ratio after"])
    above = bal.loc[bal["above_threshold"], "label"].tolist()
    sec.items.append(Table(
        "compare_balance", "Balance of the confounders before and after weighting",
        "Standardized mean differences (treated minus control) as cobalt's bal.tab computes "
        "them: the difference in means (proportions for a level of a factor) over the SD "
        + ("of the unweighted treated group" if comp.estimand == "ATT" else
           "pooled from the unweighted groups")
        + ("; variance ratios for numbers only. " if "Variance ratio after" in printed
           else ". ")
        + (f"Still above {_threshold(comp):g} after weighting: {', '.join(above)}."
           if above else f"Every |SMD| is below {_threshold(comp):g} after weighting."),
        printed, data=bal.drop(columns=["type"], errors="ignore").reset_index(drop=True)))
    sec.items.append(Figure(
        "balance", "Love plot",
        f"Absolute standardized mean differences of the confounders before and after "
        f"weighting ({t_label} vs {c_label}); the dashed line marks {_threshold(comp):g}.",
        "balance", {"table": comp.propensity.balance if not comp.imputations else
                    dataclasses.replace(comp.propensity.balance, table=bal)}))
    eff = comp.effects_result
    panel = _adjusted_panel(cfg, eff, t_label, c_label, groups)
    if panel is not None:
        sec.items.append(Figure(
            "compare_survival", f"Adjusted survival: {t_label} vs {c_label}",
            f"Weighted Kaplan-Meier survival of {t_label} and {c_label} ({weights}); the "
            "numbers at risk under the axis are patients, unweighted. Pointwise CIs treat the "
            "weights as known, so they are somewhat narrow; the hazard ratio below uses the "
            "robust (sandwich) SE. " + curve_conventions(cfg, len(panel.curves))
            + (" Curves of the first imputation." if comp.imputations else "")
            + suppression_text(cfg),
            "km", {"panel": panel, **plot_kwargs(cfg)}))
    rows = []
    for r in comp.effects.to_dict("records"):
        digits = 2 if r["measure"] == "hazard_ratio" else 1
        rows.append({"Analysis": _ANALYSES[r["analysis"]], "Measure": _MEASURES[r["measure"]],
                     "Estimate (95% CI)": format_ci(r["estimate"], r["lower"], r["upper"],
                                                    digits=digits),
                     "p": format_p(r["p"], label=False)})
    sec.items.append(Table(
        "compare_effects", f"Effect of {t_label} vs {c_label} on survival",
        f"Hazard ratio of {t_label} vs {c_label} from a Cox model weighted as above with the "
        "robust (sandwich) SE (R coxph(weights =, robust = TRUE)); restricted mean survival "
        f"time to {comp.horizon:g} months, {t_label} minus {c_label}. Unadjusted: the same "
        "patients without weights."
        + (f" Weighted effects pooled over {comp.imputations} imputations (Rubin's rules)."
           if comp.imputations else ""),
        pd.DataFrame(rows), notes=tuple(comp.warnings),
        data=comp.effects.drop(columns=["variance"], errors="ignore").reset_index(drop=True)))
    return sec


def _threshold(comp) -> float:
    return float(comp.propensity.balance.threshold)


def _vr(v: float) -> str:
    return "" if pd.isna(v) else f"{v:.2f}"


def _adjusted_panel(cfg: ReportConfig, eff, t_label: str, c_label: str, groups):
    """The weighted KM curves with the unweighted numbers at risk and group sizes (weights
    are not people: a weighted "number at risk" would not count patients)."""
    if eff.km_adjusted is None:
        return None
    scale = schema.TIME_UNITS[cfg.time_unit].scale
    ticks = [float(t) / scale for t in F.time_ticks(cfg.max_time)]
    # the curves' groups are the effects' level texts ("True", "vats"): keyed by text
    groups_of = {str(g.group): g.group for g in eff.km_adjusted.curves}
    treated, control = (groups_of.get(str(level_label(v)), v)
                        for v in (eff.treated, eff.control))
    labels = {treated: t_label, control: c_label}
    order = [treated, control]
    adjusted = F.panel_from_km(eff.km_adjusted, at_risk_times=ticks, labels=labels,
                               order=order, groups=groups)
    plain = F.panel_from_km(eff.km_unadjusted, at_risk_times=ticks, labels=labels,
                            order=order, groups=groups)
    people = {c.label: c for c in plain.curves}
    curves = tuple(dataclasses.replace(c, n=people[c.label].n, n_risk=people[c.label].n_risk,
                                       censor_times=people[c.label].censor_times)
                   for c in adjusted.curves)
    return dataclasses.replace(adjusted, curves=curves, at_risk=plain.at_risk,
                               p_logrank=None)
