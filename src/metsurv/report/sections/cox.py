"""Section "Cox proportional-hazards models": univariable and study-model hazard ratios
(forest plot and table), the cox.zph check beside each HR, and for a term whose
proportional hazards are rejected its residual plot and a restricted-mean summary."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.format import format_p
from metsurv.report import table_data as D
from metsurv.report import tables as T
from metsurv.report._format import lower_first
from metsurv.report.analysis import PH_ALPHA, RMST_HORIZON_MONTHS, Analysis, CoxAnalysis, PHTerm
from metsurv.report.config import ReportConfig
from metsurv.report.document import Figure, Section, Table, absent
from metsurv.report.sections._common import STUDY_MODEL, battery_model_text

TITLE = "Cox proportional-hazards models"


def section(cfg: ReportConfig, analysis: Analysis) -> Section:
    """The Cox models, or why there are none (no covariate configured or recorded)."""
    cox = analysis.cox
    if cox is None:
        return absent("cox", TITLE,
                      "none of the configured covariates (cox.covariates) has a value in this "
                      "cohort." if cfg.cox_covariates else
                      "no covariates configured (cox.covariates).")
    counts = analysis.counts
    battery = analysis.battery
    covs = list(cox.covariates)
    left_text = ("" if not cox.left_out else " Configured covariates left out, for having "
                 "fewer than two values in this cohort: " + ", ".join(
                     lower_first(schema.FACTOR_TITLES.get(c, c)) for c in cox.left_out) + ".")
    multi = cox.multi
    models: dict[str, pd.DataFrame] = {}
    fitted: list[tuple[str, Any]] = [("Study model", multi)]  # every fit shown: its warnings
    if cox.univariable:
        uni = []
        for c, (rows, fit) in cox.univariable.items():
            if rows is None:
                fitted.append((f"Univariable, {schema.FACTOR_TITLES.get(c, c)}", fit))
                rows = _with_patients(fit, cox)
            else:  # the battery's warnings about this factor's fit (its own prefix)
                fitted.append(("IRLM battery", SimpleNamespace(warnings=tuple(
                    w for w in getattr(battery, "warnings", ()) if w.startswith(f"{c} (")))))
            uni.append(rows)
        models["Univariable"] = pd.concat(uni, ignore_index=True)
    # where cox.zph rejects proportional hazards, the HR is an average over time: say so
    # beside it (R users read the zph table; a reader of the HR table must not miss it)
    ph_notes = tuple(
        f"Proportional hazards rejected for {lower_first(schema.FACTOR_TITLES.get(t, t))} "
        f"(cox.zph {format_p(p)}): its hazard ratio averages an effect that changes over "
        f"time; see its residual plot and the restricted mean survival below."
        for t, p in cox.rejected)
    # a level nobody in the model has is left out, and so is R's NA warning about it
    in_model, model_events = counts.complete_cases("study model: " + ", ".join(covs), multi.n,
                                                   multi.n_dropped, multi.events)
    n_text, e_text = in_model.range_text(True), model_events.range_text(True)
    notes = (tuple(n for n in T.result_notes(fitted) if _EMPTY_LEVEL_NOTE not in n)
             + _events_per_parameter_note(multi, e_text) + ph_notes)
    study = T.describe_model(covs, n_text, e_text)
    models[STUDY_MODEL] = _with_patients(multi, cox)
    sec = Section(TITLE, id="cox", intro=
                  "Hazard ratios against the reference level of each factor (complete "
                  "resection, DFI \u226536 months, single metastasis, N0, IRLM group I, ...); "
                  "Efron ties; 95% Wald CIs, as R coxph. Two multivariable models appear in "
                  f"this report. Here, the study model (config cox.covariates): {study}; "
                  f"{in_model.text(False)} patients with a missing covariate "
                  "left out." + left_text + " In the IRLM comparison battery, the battery "
                  "model: " + battery_model_text(battery, counts) + ".")
    sec.items.append(Figure("forest", "Hazard ratios",
                            "Univariable (filled circles) and study-model multivariable (open "
                            f"squares; {study}) Cox hazard ratios with 95% CIs, log scale.",
                            "forest", {"tables": models}, notes=notes))
    table = T.format_cox(models)
    k = cfg.suppress_below
    data = D.cox_data(models, k,
                      zph_p=(lambda t: _zph_p(t, cox)) if cox.ph is not None else None,
                      zph_model=STUDY_MODEL)
    table.columns = [c.replace(STUDY_MODEL, f"Multivariable, study model (n = "
                               f"{n_text}, events = {e_text})") for c in table.columns]
    if cox.ph is not None:  # beside each HR of the study model: its PH check, in the CSV too
        table["PH check p (cox.zph)"] = _ph_column(table["Term"], cox)
    sec.items.append(Table("cox", "Cox models", "HR (95% CI) and Wald p per model; "
                           f"{T.NOT_ESTIMABLE}: a term R reports as NA. "
                           f"Study model: {study}. PH check: cox.zph p of the term in the "
                           "study model; below 0.05 its hazard ratio averages an effect that "
                           "changes over time.", table, notes=notes, data=data))
    if cox.ph is not None:
        ph = cox.ph
        ph_tab = pd.DataFrame({
            "Term": [schema.FACTOR_TITLES.get(t, t) for t in ph["term"]],
            "Chi-square": [f"{v:.2f}" for v in ph["chisq"]],
            "df": [str(int(v)) for v in ph["df"]],
            "p": [format_p(v, label=False) for v in ph["p"]],
        })
        sec.items.append(Table("cox_ph_test", "Proportional-hazards check (study model)",
                               "Score test of a time-varying coefficient, x * (1 - KM(t)), "
                               "per term and globally, as R cox.zph(fit, transform = 'km'). "
                               "A small p questions the proportional-hazards assumption.",
                               ph_tab, notes=T.result_notes([("PH check", cox.ph_fit)],
                                                            skip=multi.warnings),
                               data=D.ph_test_data(ph, k)))
    for term in cox.ph_terms:
        sec.items.extend(_ph_items(term, cox, k))
    return sec


def _zph_p(label: str, cox: CoxAnalysis) -> float:
    """A table term's cox.zph p in the study model (NaN when it has none), the term
    matched as :func:`_ph_column` matches it."""
    zph_p = dict(zip(cox.ph["term"], cox.ph["p"], strict=True))
    for term in cox.covariates:
        title = schema.FACTOR_TITLES.get(term, term)
        if (label == title or label.startswith(f"{title}:")) and term in zph_p:
            return float(zph_p[term])
    return float("nan")


#: R coxph's reason for the NA of a level no patient has (metsurv.stats.cox warnings).
_EMPTY_LEVEL_NOTE = "no patient at this level"


#: Events per estimated coefficient below which a Cox model's estimates are unreliable
#: (Peduzzi et al. 1995, J Clin Epidemiol 48:1503; the "10 events per variable" rule).
MIN_EVENTS_PER_PARAMETER = 10


def _events_per_parameter_note(fit: Any, events_text: str) -> tuple[str, ...]:
    """A warning when the study model has fewer than 10 events per estimated coefficient
    (``events_text``: its events as the report prints them, suppression applied)."""
    k = int(np.isfinite(np.asarray(fit.coef, float)).sum())
    if not k or fit.events >= MIN_EVENTS_PER_PARAMETER * k:
        return ()
    return (f"Study model: {events_text} events for {k} coefficients, fewer than "
            f"{MIN_EVENTS_PER_PARAMETER} per coefficient (Peduzzi 1995): its hazard ratios "
            "may be biased and their CIs too narrow; fewer covariates would be safer.",)


def _with_patients(fit: Any, cox: CoxAnalysis) -> pd.DataFrame:
    """``fit``'s rows (:func:`metsurv.report.tables.cox_frame`) without the levels no
    patient of the model has (R gives them NA; the report leaves empty levels out)."""
    frame = T.cox_frame(fit)
    keep = ~np.isin(np.asarray(fit.to_frame()["term"], dtype=object), list(cox.empty_levels))
    return frame[keep].reset_index(drop=True)


def _ph_column(terms: pd.Series, cox: CoxAnalysis) -> list[str]:
    """Each table row's cox.zph p in the study model, "(not proportional)" below 0.05."""
    zph_p = dict(zip(cox.ph["term"], cox.ph["p"], strict=True))

    def cell(label: str) -> str:
        for term in cox.covariates:
            title = schema.FACTOR_TITLES.get(term, term)
            if (label == title or label.startswith(f"{title}:")) and term in zph_p:
                p = zph_p[term]
                return ("" if not np.isfinite(p) else format_p(p, label=False)
                        + (" (not proportional)" if p < PH_ALPHA else ""))
        return ""

    return [cell(t) for t in terms]


def _ph_items(ph: PHTerm, cox: CoxAnalysis, k: int = 0) -> list[Figure | Table]:
    """For a term whose proportional hazards cox.zph rejects: its scaled Schoenfeld
    residuals against time with R plot.cox.zph's smooth (figures/ph_<term>), and the
    restricted mean survival time to 5 years by its levels (R survRM2-style)."""
    term, p = ph.term, ph.p
    title = schema.FACTOR_TITLES.get(term, term)
    items: list[Figure | Table] = []
    if ph.smooth is not None:
        res = cox.ph_fit.residuals
        items.append(Figure(
            f"ph_{term}", f"Proportional-hazards check: {title}",
            "Scaled Schoenfeld residuals of the study model against time (Kaplan-Meier "
            "transform), with a natural-spline smooth (4 df) and its ±2 SE band, as R "
            "plot.cox.zph; the dotted line is the model's constant coefficient. A smooth "
            f"that is not flat means the effect changes over time (cox.zph {format_p(p)}).",
            "ph", {"residuals_x": res["x"], "residuals_y": res[term], "smooth": ph.smooth,
                   "term_label": title, "coef": ph.coef, "ticks": ph.ticks,
                   "transform": cox.ph_fit.transform, "p": p, "title": title,
                   "xlabel": "Months after metastasectomy"}))
    if ph.rmst is not None and len(ph.rmst):
        tau = RMST_HORIZON_MONTHS
        rows = [{"Comparison": f"{schema.level_label(term, c['group'])} vs "
                               f"{schema.level_label(term, c['reference'])}",
                 f"RMST difference to {tau / schema.MONTHS_PER_YEAR:g} years, months (95% CI)":
                     T.ci_text(c["difference"], c["lower"], c["upper"]),
                 "p": format_p(c["p_value"], label=False)}
                for _, c in ph.rmst.iterrows()]
        items.append(Table(
            f"ph_rmst_{term}", f"Restricted mean survival by {lower_first(title)}",
            f"Difference in restricted mean survival time to {tau / schema.MONTHS_PER_YEAR:g} years (area under "
            "the Kaplan-Meier curves, R print(survfit, rmean = tau) and its se), a "
            "summary that does not assume proportional hazards.", pd.DataFrame(rows),
            data=D.rmst_data(term, ph.rmst, k)))
    return items
