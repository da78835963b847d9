"""The data-generating process: registry-style patients and resections tables with known truth.

Vectorised numpy throughout (no loop over patients; the only loop is over the at most
``max_resections`` operations of the course), all randomness from one
``np.random.Generator`` seeded by the caller. docs/synthetic.md states the model.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.synthetic.presets import (
    PULMONARY,
    SARCOMA,
    TREATMENT,
    Preset,
    TreatmentModel,
    get_preset,
)

Outcome = Literal["calibrated", "ph"]
OUTCOMES: tuple[str, ...] = ("calibrated", "ph")
DPM = schema.DAYS_PER_MONTH

#: Integer-coded levels of the coded covariates (the model works on codes, the tables on text).
LEVELS: dict[str, tuple[str, ...]] = {
    name: schema.codes(name)
    for name in ("histology_group", "resection_status", "nodal_status", "chemo_response", "sex",
                 "laterality", "approach", "extent", "vital_status", "death_cause",
                 "recurrence_site")
} | {"dfi_group": schema.DFI_GROUPS, "n_metastases_group": schema.N_METASTASES_GROUPS}

PATIENT_COLUMNS = (
    "patient_id", "center", "sex", "age_at_metastasectomy", "primary_site", "histology",
    "histology_group", "primary_treatment_date", "metastasis_diagnosis_date", "synchronous",
    "n_metastases", "laterality", "resection_status", "nodal_status", "approach", "extent",
    "chemo_response", "metastasectomy_date", "last_followup_date", "vital_status", "death_cause",
    "recurrence_date", "recurrence_site",
)
RESECTION_COLUMNS = (
    "patient_id", "operation_date", "sequence", "resection_status", "nodal_status",
    "n_metastases", "approach", "extent",
)
assert set(PATIENT_COLUMNS) <= set(schema.PATIENTS) and set(RESECTION_COLUMNS) <= set(
    schema.RESECTIONS
)

# Repeat operations: mostly complete, nodes rarely sampled, few nodules.
_REOP_RESECTION = (0.85, 0.10, 0.05)
_REOP_NODAL = (0.25, 0.03, 0.02, 0.70)


@dataclass(frozen=True, eq=False)
class SyntheticCohort:
    """A synthetic registry: canonical ``patients`` and ``resections`` tables (dates as ISO
    strings, as a registry export carries them), the ``manifest`` (preset, seed, outcome
    model, true parameters, calibration targets) and ``truth`` (latent per-patient values:
    cure status, prognostic score, uncensored death time)."""

    patients: pd.DataFrame
    resections: pd.DataFrame
    manifest: dict[str, Any]
    truth: pd.DataFrame


def indicator(covariates: dict[str, np.ndarray], key: str) -> np.ndarray:
    """0/1 column of the dummy ``field=level`` (see :func:`presets.term`) for coded arrays."""
    name, level = key.split("=", 1)
    values = covariates[name]
    if name in LEVELS:
        return (values == LEVELS[name].index(level)).astype(float)
    return (values == (level == "True")).astype(float)


def design(covariates: dict[str, np.ndarray], coef: dict[str, float]) -> np.ndarray:
    """Linear predictor x . coef over the dummies named in ``coef``."""
    n = len(next(iter(covariates.values())))
    eta = np.zeros(n)
    for key, beta in coef.items():
        eta += beta * indicator(covariates, key)
    return eta


def _allocate(rng: np.random.Generator, n: int, probs: Any, key: np.ndarray | None = None
              ) -> np.ndarray:
    """Category codes with exactly the largest-remainder rounding of n * probs in each
    category (so a preset's published composition is reproduced exactly at its own n);
    randomly ordered, or ordered by ``key`` (low key -> first category) to correlate factors."""
    p = np.asarray(probs, dtype=float)
    p = p / p.sum()
    raw = n * p
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
    labels = np.repeat(np.arange(p.size, dtype=np.int16), counts)
    if key is None:
        return rng.permutation(labels)
    out = np.empty(n, dtype=np.int16)
    out[np.argsort(key)] = labels
    return out


def _choice(rng: np.random.Generator, n: int, table: dict[str, float], levels: tuple[str, ...]
            ) -> np.ndarray:
    codes = np.array([levels.index(k) for k in table], dtype=np.int16)
    p = np.array(list(table.values()), dtype=float)
    return codes[rng.choice(p.size, size=n, p=p / p.sum())]


def _noisy(rng: np.random.Generator, z: np.ndarray, rho: float) -> np.ndarray:
    return rho * z + np.sqrt(1 - rho**2) * rng.standard_normal(z.size)


def draw_covariates(p: Preset, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Baseline covariates as integer codes (true values: recorded values get their missing
    data later). A latent tumour burden z links the number of metastases, incomplete
    resection and nodal involvement; nodes are sampled more often in low-burden patients."""
    groups = LEVELS["histology_group"]
    cov: dict[str, np.ndarray] = {}
    hist = _allocate(rng, n, [p.histology[g] for g in groups])
    cov["histology_group"] = hist
    flat = [(gi, st) for gi, g in enumerate(groups) for st in p.subtypes[g]]
    subtype = np.zeros(n, dtype=np.int16)
    offset = 0
    for gi, g in enumerate(groups):
        shares = np.array([st.share for st in p.subtypes[g]])
        m = hist == gi
        subtype[m] = offset + rng.choice(shares.size, size=int(m.sum()), p=shares / shares.sum())
        offset += shares.size
    cov["subtype"] = subtype
    lms = re.compile(schema.LEIOMYOSARCOMA_PATTERN, re.IGNORECASE)
    cov["leiomyosarcoma"] = np.array([bool(lms.search(st.histology)) for _, st in flat])[subtype]
    p_male = np.array([st.p_male for _, st in flat])[subtype]
    female, male = (LEVELS["sex"].index(c) for c in schema.codes("sex")[:2])
    cov["sex"] = np.where(rng.random(n) < p_male, male, female).astype(np.int16)
    mean = np.array([p.age[g][0] for g in groups])[hist]
    sd = np.array([p.age[g][1] for g in groups])[hist]
    cov["age"] = np.round(np.clip(rng.normal(mean, sd), 16.0, 88.0), 1)
    centre_w = np.array([w for _, w in p.centres], dtype=float)
    cov["center"] = rng.choice(centre_w.size, size=n, p=centre_w / centre_w.sum()).astype(np.int16)

    z = rng.standard_normal(n)
    # Unknown counts are missing at random; the known ones have the published composition.
    unknown = _allocate(rng, n, (1 - p.n_metastases_missing, p.n_metastases_missing)) == 1
    key = _noisy(rng, z, p.burden_rho)
    nmet = np.empty(n, dtype=np.int16)
    for part in (~unknown, unknown):
        nmet[part] = _allocate(rng, int(part.sum()), p.n_metastases, key[part])
    cov["n_metastases_group"] = nmet
    cov["n_metastases_unknown"] = unknown
    extra = np.minimum(rng.geometric(0.25, size=n) - 1, 26)
    cov["n_metastases"] = np.select([nmet == 0, nmet == 1], [1, 2 + (rng.random(n) < 0.4)],
                                    4 + extra).astype(np.int16)
    cov["resection_status"] = _allocate(rng, n, p.resection, _noisy(rng, z, p.burden_rho))
    assessed = _allocate(rng, n, (p.nodal_assessed, 1 - p.nodal_assessed),
                         _noisy(rng, z, p.burden_rho)) == 0
    nodal = np.full(n, LEVELS["nodal_status"].index(schema.codes("nodal_status")[-1]),
                    dtype=np.int16)
    nodal[assessed] = _allocate(rng, int(assessed.sum()), p.nodal,
                                _noisy(rng, z[assessed], p.burden_rho))
    cov["nodal_status"] = nodal
    p_bilateral = np.array([0.0, 0.2, 0.45])[nmet]
    cov["laterality"] = (rng.random(n) < p_bilateral).astype(np.int16)
    cov["approach"] = _choice(rng, n, p.approach, LEVELS["approach"])
    cov["extent"] = _choice(rng, n, p.extent, LEVELS["extent"])
    cov["chemo_response"] = _choice(rng, n, p.chemo, LEVELS["chemo_response"])
    cov["complete_resection"] = cov["resection_status"] == 0

    dfi = _allocate(rng, n, p.dfi, -_noisy(rng, z, p.dfi_burden_rho))
    lo = np.array([0.5, schema.DFI_CUTS_MONTHS[0], schema.DFI_CUTS_MONTHS[1]])[dfi]
    hi = np.array([schema.DFI_CUTS_MONTHS[0], schema.DFI_CUTS_MONTHS[1], np.inf])[dfi]
    late = lo + rng.exponential(p.dfi_late_mean_excess_months, size=n)
    within = lo + rng.random(n) * (np.where(np.isinf(hi), lo + 0.1, hi) - 0.1 - lo)
    months = np.where(np.isinf(hi), late, within)
    synchronous = (dfi == 0) & (rng.random(n) < p.synchronous_share_early)
    cov["dfi_days"] = np.where(synchronous, 0, np.ceil(months * DPM)).astype(np.int64)
    cov["synchronous"] = synchronous
    # The loader groups by completed calendar months (derive.factors); every DFI above stays
    # at least 0.1 month inside its group's cuts, so that gives back this very group.
    cov["dfi_group"] = np.searchsorted(schema.DFI_CUTS_MONTHS, cov["dfi_days"] / DPM,
                                       side="right").astype(np.int16)
    return cov


def _weibull(rng: np.random.Generator, median: np.ndarray | float, shape: float, n: int
             ) -> np.ndarray:
    return median * (rng.exponential(size=n) / np.log(2)) ** (1 / shape)


def background_death_months(age: np.ndarray, hazard_at_60: float, log_slope: float,
                            e: np.ndarray) -> np.ndarray:
    """Gompertz background death time (months) from ``age`` for unit-exponential draws e."""
    h0 = hazard_at_60 * np.exp(log_slope * (age - 60.0))
    return schema.months(np.log1p(log_slope * e / h0)) / log_slope


def _outcome_calibrated(p: Preset, cov: dict[str, np.ndarray], rng: np.random.Generator
                        ) -> dict[str, np.ndarray]:
    c = p.cure
    n = cov["age"].size
    score = design(cov, c.coef)
    cure_fraction = 1.0 / (1.0 + np.exp(-(c.intercept - score)))
    cured = rng.random(n) < cure_fraction
    median = np.exp(c.log_median_uncured - c.rho * score + design(cov, c.uncured_coef))
    cancer = np.where(cured, np.inf, _weibull(rng, median, c.shape, n))
    background = background_death_months(cov["age"], c.bg_hazard_at_60, c.bg_log_slope,
                                         rng.exponential(size=n))
    return {"score": score, "cured": cured, "cancer_death": cancer,
            "death": np.minimum(cancer, background), "cancer_cause": cancer < background}


def assign_treatment(cov: dict[str, np.ndarray], rng: np.random.Generator,
                     model: TreatmentModel = TREATMENT) -> np.ndarray:
    """Confounded treatment: among the patients whose ``approach`` is the model's treated or
    control level, redraw it as treated with probability expit(intercept + x . coef)
    (:class:`~metsurv.synthetic.presets.TreatmentModel`); the others (sternotomy, clamshell,
    robotic) keep their draw. Changes ``cov["approach"]`` and returns the true assignment
    probability per patient (NaN outside the two levels). One uniform draw per patient from
    ``rng`` (a generator of its own, so the other draws stay those of the untreated cohort).
    """
    levels = LEVELS[model.column]
    t, c = levels.index(model.treated), levels.index(model.control)
    codes = cov[model.column]
    pool = (codes == t) | (codes == c)
    prob = 1.0 / (1.0 + np.exp(-(model.intercept + design(cov, model.coef))))
    treated = rng.random(codes.size) < prob
    cov[model.column] = np.where(pool, np.where(treated, t, c), codes).astype(codes.dtype)
    return np.where(pool, prob, np.nan)


def _outcome_ph(p: Preset, cov: dict[str, np.ndarray], rng: np.random.Generator,
                treatment_effect: float | None = None) -> dict[str, np.ndarray]:
    m = p.ph
    n = cov["age"].size
    lp = design(cov, m.log_hr)
    if treatment_effect is not None:
        lp = lp + treatment_effect * indicator(
            cov, f"{TREATMENT.column}={TREATMENT.treated}")
    scale = m.reference_median_months / np.log(2) ** (1 / m.shape)
    death = scale * (rng.exponential(size=n) * np.exp(-lp)) ** (1 / m.shape)
    return {"score": lp, "cured": np.zeros(n, dtype=bool), "cancer_death": death,
            "death": death, "cancer_cause": rng.random(n) < m.p_cancer_death}


def _course(p: Preset, cov: dict[str, np.ndarray], out: dict[str, np.ndarray],
            rng: np.random.Generator, ph: bool = False) -> dict[str, np.ndarray]:
    """Recurrences and repeat operations (months from the first operation).

    ``ph``: the course depends only on the past and on nothing that drives the death hazard:
    relapse timing independent of the death time and of the covariates (the "default" site
    and re-operation probabilities for every histology), an operation whenever the patient
    is alive at its date. A repeat resection then has exactly no effect on the hazard, and
    no covariate confounds it."""
    k = p.course
    n = cov["age"].size
    sarcoma = cov["histology_group"] == LEVELS["histology_group"].index(SARCOMA)
    if ph:
        sarcoma = np.zeros(n, dtype=bool)
    groups = LEVELS["histology_group"]
    p_cured = np.array([k.p_recur_cured.get(g, 0.0) for g in groups])[cov["histology_group"]]
    site_p = np.where(sarcoma[:, None], k.site_uncured.get(SARCOMA, k.site_uncured["default"]),
                      k.site_uncured["default"])
    p_reop_unc = np.where(sarcoma, k.p_reoperate_uncured.get(SARCOMA, 0.0),
                          k.p_reoperate_uncured["default"])
    cured, cancer, death = out["cured"], out["cancer_death"], out["death"]
    last = np.zeros(n)
    active = np.ones(n, dtype=bool)
    first_rec = np.full(n, np.nan)
    first_site = np.full(n, -1, dtype=np.int16)
    ops = np.full((n, k.max_resections - 1), np.nan)
    for j in range(k.max_resections - 1):
        u = rng.random(n)
        frac = rng.beta(*k.recur_beta, size=n)
        after_cured = last + _weibull(rng, k.median_recur_cured_months, 1.3, n)
        p_c = p_cured if j == 0 else k.p_recur_cured_again
        # Calibrated model: an uncured relapse comes a Beta fraction of the way to cancer
        # death. PH model: relapse timing is independent of the death time (relapses after
        # death are never seen), so re-operated patients are selected survivors.
        to_death = after_cured if ph else last + (cancer - last) * frac
        rec = np.where(cured, np.where(u < p_c, after_cured, np.inf),
                       np.where(u < k.p_recur_uncured, to_death, np.inf))
        recurred = active & (rec < death)
        cum = np.cumsum(site_p, axis=1)
        v = rng.random(n)[:, None]
        site = np.where(cured, 0, (v > cum).sum(axis=1)).astype(np.int16)
        if j == 0:
            first_rec = np.where(recurred, rec, np.nan)
            first_site = np.where(recurred, site, -1).astype(np.int16)
        op = rec + rng.gamma(4.0, k.reoperation_delay_months / 4.0, size=n)
        p_reop = np.where(cured, k.p_reoperate_cured, p_reop_unc)
        # Alive at the operation date. The calibrated model (a description of the published
        # series, not a causal model) also spares patients within a month of cancer death.
        fit_for_surgery = op < (death if ph else np.minimum(death, cancer - 1.0))
        reop = (recurred & (site == LEVELS["recurrence_site"].index(PULMONARY))
                & (rng.random(n) < p_reop) & fit_for_surgery)
        ops[:, j] = np.where(reop, op, np.nan)
        last = np.where(reop, op, last)
        active = reop
    return {"first_recurrence": first_rec, "first_site": first_site, "repeat_ops": ops}


def _days(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))


def _iso(days: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Day numbers -> ISO yyyy-mm-dd strings (None where not ``valid``), through a lookup
    table of the distinct days so that a million rows cost no million string conversions."""
    days = np.asarray(days, dtype=np.int64)
    ok = np.ones(days.size, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if not ok.any():
        return np.full(days.size, None, dtype=object)
    lo, hi = int(days[ok].min()), int(days[ok].max())
    if days.size < hi - lo + 1:  # few rows: convert them directly
        out = np.full(days.size, None, dtype=object)
        out[ok] = np.datetime_as_string(days[ok].astype("datetime64[D]")).astype(object)
        return out
    table = np.datetime_as_string(np.arange(lo, hi + 1).astype("datetime64[D]")).astype(object)
    return np.append(table, None)[np.where(ok, days - lo, hi - lo + 1)]


def _text(codes: np.ndarray, levels: tuple[str, ...], missing: np.ndarray | None = None
          ) -> np.ndarray:
    """Code -> label; code -1 or ``missing`` -> None."""
    out = np.array((*levels, None), dtype=object)[codes]
    if missing is not None:
        out[missing] = None
    return out


def _record(codes: np.ndarray, missing: np.ndarray) -> np.ndarray:
    return np.where(missing, -1, codes).astype(np.int16)


def _masked(rng: np.random.Generator, rates: dict[str, float], name: str, n: int) -> np.ndarray:
    return rng.random(n) < rates.get(name, 0.0)


def _censoring(p: Preset, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Operation day (accrual density growing as t^(growth - 1) over the accrual window) and
    censoring time in months (administrative at the closing date, or lost to follow-up at
    ``loss_per_year``): two draws per patient from ``rng``, in this order."""
    start, end, close = _days(p.accrual[0]), _days(p.accrual[1]), _days(p.closing_date)
    op_day = start + np.floor((end - start) * rng.random(n) ** (1 / p.accrual_growth)).astype(
        np.int64)
    censor_months = np.minimum((close - op_day) / DPM,
                               schema.months(rng.exponential(1 / p.loss_per_year, size=n)))
    return op_day, censor_months


def _follow_up(death_months: np.ndarray, censor_months: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Death observed (bool) and follow-up in whole days, as the registry records them (a
    death on its day, rounded up; censoring on the last complete day; at least one day)."""
    death_days = np.maximum(1, np.ceil(death_months * DPM)).astype(np.int64)
    censor_days = np.maximum(1, np.floor(censor_months * DPM)).astype(np.int64)
    dead = death_days <= censor_days
    return dead, np.where(dead, death_days, censor_days).astype(np.int64)


def generate(preset: str | Preset = "irlm1997", n: int | None = None, seed: int = 0,
             outcome: Outcome = "calibrated", treatment_effect: float | None = None
             ) -> SyntheticCohort:
    """Draw a synthetic registry cohort from a preset.

    ``outcome="calibrated"`` uses the mixture cure model calibrated to the published series;
    ``outcome="ph"`` a Weibull proportional-hazards model with the preset's stated true log
    hazard ratios (``manifest["true_parameters"]["ph"]["log_hr"]``), in which repeat
    resection has no effect on survival (and depends only on the past: a pulmonary relapse,
    alive at the operation date).

    ``treatment_effect`` (a log HR; needs ``outcome="ph"``): a confounded treatment. Among
    the patients whose approach is VATS or thoracotomy, VATS is assigned with a probability
    that falls with the number of metastases, a short DFI and bilateral disease
    (:func:`assign_treatment`, :data:`~metsurv.synthetic.presets.TREATMENT`; sternotomy,
    clamshell and robotic patients keep their draw), and the ``ph`` hazard gets
    ``treatment_effect`` for VATS vs thoracotomy. The manifest records it under
    ``true_parameters["treatment"]`` (``column``, ``treated``, ``control``, ``log_hr``,
    ``assignment``); ``truth`` gets the true ``approach`` (before the registry's missing
    values) and ``p_treated`` (the true assignment probability: 1/p and 1/(1-p) are the
    true inverse-probability weights). The assignment draws come from a generator of their
    own (seeded by ``[seed, 13]``), so every other draw is that of the cohort without a
    treatment effect, and with ``treatment_effect=None`` nothing changes at all.

    >>> cohort = generate("irlm1997", n=200, seed=1)
    >>> len(cohort.patients), cohort.patients["patient_id"].is_unique
    (200, True)
    >>> sorted(cohort.resections["sequence"].unique().tolist())[:2]
    [1, 2]
    """
    p = get_preset(preset)
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    if treatment_effect is not None:
        if outcome != "ph":
            raise ValueError(f"treatment_effect needs outcome='ph' (the model with stated "
                             f"true log HRs), got outcome={outcome!r}")
        treatment_effect = float(treatment_effect)
        if not np.isfinite(treatment_effect):
            raise ValueError(f"treatment_effect must be a finite log HR, got "
                             f"{treatment_effect!r}")
    n = p.n if n is None else int(n)
    if n < 1:
        raise ValueError(f"n must be a positive number of patients, got {n}")
    rng = np.random.default_rng(seed)
    cov = draw_covariates(p, n, rng)
    p_treated = None
    if treatment_effect is not None:
        p_treated = assign_treatment(cov, np.random.default_rng([int(seed), 13]))
    if outcome == "calibrated":
        out = _outcome_calibrated(p, cov, rng)
    else:
        out = _outcome_ph(p, cov, rng, treatment_effect)
    course = _course(p, cov, out, rng, ph=outcome == "ph")

    op_day, censor_months = _censoring(p, n, rng)
    dead, fu_days = _follow_up(out["death"], censor_months)
    wait = 14 + np.floor(rng.gamma(2.0, 20.0, size=n)).astype(np.int64)
    dx_day = op_day - wait
    sync = cov["synchronous"]
    primary_day = np.where(sync, dx_day + np.floor(rng.random(n) * wait).astype(np.int64),
                           dx_day - cov["dfi_days"])
    rec_days = np.floor(np.nan_to_num(course["first_recurrence"], nan=0.0) * DPM).astype(np.int64)
    rec_days = np.maximum(rec_days, 1)
    has_rec = np.isfinite(course["first_recurrence"]) & (rec_days < fu_days)

    miss = p.missing
    nmet_missing = cov["n_metastases_unknown"]
    cause_code = np.where(out["cancer_cause"], 0, 1)
    cause_unknown = _masked(rng, miss, "death_cause", n)
    cause_code = np.where(cause_unknown, 2, cause_code)
    prefix = p.name[:4].upper()
    ids = np.array([f"{prefix}-{i:07d}" for i in range(1, n + 1)], dtype=object)
    centres = tuple(name for name, _ in p.centres)
    groups = LEVELS["histology_group"]
    flat = [st for g in groups for st in p.subtypes[g]]
    age = cov["age"].copy()
    age[_masked(rng, miss, "age_at_metastasectomy", n)] = np.nan
    rec = {name: _record(cov[name], _masked(rng, miss, name, n))
           for name in ("laterality", "approach", "extent", "chemo_response")}
    rec["resection_status"] = cov["resection_status"]
    rec["nodal_status"] = cov["nodal_status"]
    rec["n_metastases"] = np.where(nmet_missing, -1, cov["n_metastases"])
    patients = pd.DataFrame({
        "patient_id": ids,
        "center": _text(cov["center"], centres),
        "sex": _text(cov["sex"], LEVELS["sex"]),
        "age_at_metastasectomy": age,
        "primary_site": np.array([st.primary_site for st in flat], dtype=object)[cov["subtype"]],
        "histology": np.array([st.histology for st in flat], dtype=object)[cov["subtype"]],
        "histology_group": _text(cov["histology_group"], groups),
        "primary_treatment_date": _iso(primary_day),
        "metastasis_diagnosis_date": _iso(dx_day),
        "synchronous": pd.array(sync, dtype="boolean"),
        "n_metastases": _count(rec["n_metastases"]),
        "laterality": _text(rec["laterality"], LEVELS["laterality"]),
        "resection_status": _text(rec["resection_status"], LEVELS["resection_status"]),
        "nodal_status": _text(rec["nodal_status"], LEVELS["nodal_status"]),
        "approach": _text(rec["approach"], LEVELS["approach"]),
        "extent": _text(rec["extent"], LEVELS["extent"]),
        "chemo_response": _text(rec["chemo_response"], LEVELS["chemo_response"]),
        "metastasectomy_date": _iso(op_day),
        "last_followup_date": _iso(op_day + fu_days),
        "vital_status": _text(dead.astype(np.int16), LEVELS["vital_status"]),
        "death_cause": _text(cause_code, LEVELS["death_cause"], ~dead),
        "recurrence_date": _iso(op_day + rec_days, has_rec),
        "recurrence_site": _text(np.maximum(course["first_site"], 0), LEVELS["recurrence_site"],
                                 ~has_rec | _masked(rng, miss, "recurrence_site", n)),
    }, columns=list(PATIENT_COLUMNS))

    resections = _resections(p, rec, course["repeat_ops"], op_day, fu_days, ids, rng)
    truth = pd.DataFrame({
        "patient_id": ids,
        "cured": out["cured"],
        "score": out["score"],
        "death_months": out["death"],
        "cancer_death_months": out["cancer_death"],
        "censor_months": censor_months,
        "n_metastases_group": _text(cov["n_metastases_group"], LEVELS["n_metastases_group"]),
        "chemo_response": _text(cov["chemo_response"], LEVELS["chemo_response"]),
    })
    parameters = true_parameters(p, outcome)
    if p_treated is not None:
        truth["approach"] = _text(cov["approach"], LEVELS["approach"])
        truth["p_treated"] = p_treated
        parameters["treatment"] = {
            "column": TREATMENT.column, "treated": TREATMENT.treated,
            "control": TREATMENT.control, "log_hr": treatment_effect,
            "assignment": {"model": "logistic, among treated and control only",
                           "intercept": TREATMENT.intercept, "coef": dict(TREATMENT.coef)},
        }
    manifest = {
        "preset": p.name,
        "description": p.description,
        "n": n,
        "seed": seed,
        "outcome": outcome,
        "true_parameters": parameters,
        "calibration_targets": [asdict(t) for t in p.targets] if outcome == "calibrated" else [],
        "calibration_orderings": ([asdict(o) for o in p.orderings] if outcome == "calibrated"
                                  else []),
    }
    return SyntheticCohort(patients, resections, manifest, truth)


def _count(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Integer column with -1 meaning missing."""
    values = np.asarray(values, dtype=np.int64)
    return pd.arrays.IntegerArray(np.maximum(values, 0), values < 0)


def _resections(p: Preset, rec: dict[str, np.ndarray], repeat_ops: np.ndarray,
                op_day: np.ndarray, fu_days: np.ndarray, ids: np.ndarray,
                rng: np.random.Generator) -> pd.DataFrame:
    """One row per operation: the first from the baseline covariates, repeats as observed
    (an operation after the last follow-up never happened as far as the registry knows)."""
    n = op_day.size
    rel = np.floor(np.nan_to_num(repeat_ops, nan=np.inf, posinf=np.inf) * DPM)
    observed = np.isfinite(rel) & (rel < fu_days[:, None])
    observed = np.cumprod(observed, axis=1).astype(bool)  # a gap ends the series
    rows, cols = np.nonzero(observed)
    m = rows.size
    seq = np.concatenate([np.ones(n, dtype=np.int64), cols.astype(np.int64) + 2])
    patient = np.concatenate([np.arange(n), rows])
    day = np.concatenate([op_day, op_day[rows] + rel[rows, cols].astype(np.int64)])
    status = np.concatenate([rec["resection_status"], _allocate(rng, m, _REOP_RESECTION)])
    nodal = np.concatenate([rec["nodal_status"], _allocate(rng, m, _REOP_NODAL)])
    nmet = np.concatenate([rec["n_metastases"], np.minimum(rng.geometric(0.55, size=m), 12)])
    approach = np.concatenate([rec["approach"], _choice(rng, m, p.approach, LEVELS["approach"])])
    extent = np.concatenate([rec["extent"], _choice(rng, m, p.extent, LEVELS["extent"])])
    order = np.lexsort((seq, patient))
    return pd.DataFrame({
        "patient_id": ids[patient[order]],
        "operation_date": _iso(day[order]),
        "sequence": seq[order],
        "resection_status": _text(status[order], LEVELS["resection_status"]),
        "nodal_status": _text(nodal[order], LEVELS["nodal_status"]),
        "n_metastases": _count(nmet[order]),
        "approach": _text(approach[order], LEVELS["approach"]),
        "extent": _text(extent[order], LEVELS["extent"]),
    }, columns=list(RESECTION_COLUMNS))


def true_parameters(preset: str | Preset, outcome: Outcome = "calibrated") -> dict[str, Any]:
    """The preset's parameters as plain JSON-safe data (what the manifest records)."""
    p = get_preset(preset)
    d = asdict(p)
    d.pop("targets")
    d.pop("orderings")
    d.pop("subtypes")
    d["subtypes"] = {g: [asdict(s) for s in sts] for g, sts in p.subtypes.items()}
    d["outcome_model"] = "ph" if outcome == "ph" else "cure"
    return d


#: The estimands of :func:`treatment_truth` and the tilting function h(e) each weights the
#: covariate distribution by (e: the true probability of treatment).
ESTIMANDS: dict[str, str] = {"ATE": "1", "ATT": "e", "ATO": "e(1 - e)"}


def treatment_truth(preset: str | Preset = "irlm1997", log_hr: float = 0.0,
                    estimand: str = "ATE", n: int = 200_000, seed: int = 0) -> float:
    """The true *marginal* log hazard ratio of the synthetic treatment, for an estimand.

    The ``treatment_effect`` of :func:`generate` is the log HR *conditional* on the
    covariates of the ``ph`` model. The hazard ratio is not collapsible: averaged over
    covariates that also act on survival, the two arms' marginal survival curves are not
    proportional and the Cox model fitted to them estimates a different number (closer to
    0), which also depends on the population averaged over and on the censoring. What a
    propensity-weighted Cox model estimates is that marginal number: IPTW for the ATE over
    the whole population, IPTW for the ATT over the treated, overlap weights over the
    overlap population (ATO). This function computes it by counterfactual simulation:

    1. ``n`` patients' covariates from the preset (:func:`draw_covariates`), their true
       probability of treatment e = expit(intercept + x . coef) of
       :data:`~metsurv.synthetic.presets.TREATMENT`;
    2. each patient's death time under control and under treatment from the generator's own
       Weibull ``ph`` model (one exponential draw per patient shared by the two worlds, the
       treated time scaled by exp(-log_hr / shape)), and one censoring time per patient
       from the generator's censoring model (accrual, closing date, loss to follow-up;
       shared by the two worlds), recorded in whole days as :func:`generate` records them;
    3. the Cox model ``coxph(Surv(time, event) ~ treated, weights = h(e), ties = "efron")``
       (:func:`metsurv.stats.cox.cox`) on the 2n stacked counterfactual rows, with the
       estimand's tilting h(e) = 1 (ATE), e (ATT) or e (1 - e) (ATO; Li, Morgan & Zaslavsky
       2018) as each patient's weight in both worlds.

    Which of the patients enter the comparison (those whose approach was drawn as VATS or
    thoracotomy) does not depend on the covariates, so every drawn patient is used. With
    ``log_hr`` 0 the two worlds are the same data under two labels and the result is 0 (to
    rounding). Shared draws make the Monte Carlo error small: over seeds the SD at the
    default n is about 0.001 (irlm1997, log_hr -0.5: ATE -0.441, ATT -0.465, ATO -0.458).
    The same arguments always give the same number.

    Parameters
    ----------
    preset : str or Preset
        As :func:`generate`.
    log_hr : float
        The conditional log HR (``generate(..., treatment_effect=log_hr)``), treated vs
        control.
    estimand : {"ATE", "ATT", "ATO"}
        The population: everyone, the treated, or the overlap population.
    n : int
        Simulated patients (each appears twice). 200,000 takes a few seconds.
    seed : int
        Seed of the simulation (one ``np.random.Generator``).

    Returns
    -------
    float
        The marginal log HR of treated vs control in the estimand's population.

    Raises
    ------
    ValueError
        An unknown estimand, a non-finite ``log_hr``, or ``n`` below 100.

    >>> a = treatment_truth("irlm1997", -0.5, "ATE", n=5000, seed=1)
    >>> a == treatment_truth("irlm1997", -0.5, "ATE", n=5000, seed=1), -0.5 < a < 0
    (True, True)
    """
    from metsurv.stats.cox import cox

    p = get_preset(preset)
    key = str(estimand).upper()
    if key not in ESTIMANDS:
        raise ValueError(f"estimand must be one of {sorted(ESTIMANDS)}, got {estimand!r}")
    log_hr = float(log_hr)
    if not np.isfinite(log_hr):
        raise ValueError(f"log_hr must be a finite log HR, got {log_hr!r}")
    n = int(n)
    if n < 100:
        raise ValueError(f"n must be at least 100 simulated patients, got {n}")
    rng = np.random.default_rng(seed)
    cov = draw_covariates(p, n, rng)
    e = 1.0 / (1.0 + np.exp(-(TREATMENT.intercept + design(cov, TREATMENT.coef))))
    m = p.ph
    scale = m.reference_median_months / np.log(2) ** (1 / m.shape)
    death0 = scale * (rng.exponential(size=n) * np.exp(-design(cov, m.log_hr))) ** (1 / m.shape)
    death1 = death0 * np.exp(-log_hr / m.shape)
    _, censor_months = _censoring(p, n, rng)
    dead0, fu0 = _follow_up(death0, censor_months)
    dead1, fu1 = _follow_up(death1, censor_months)
    tilt = {"ATE": np.ones(n), "ATT": e, "ATO": e * (1.0 - e)}[key]
    stacked = pd.DataFrame({
        "time": np.concatenate([fu0, fu1]) / DPM,
        "event": np.concatenate([dead0, dead1]).astype(float),
        "treated": np.repeat([0.0, 1.0], n),
        "w": np.concatenate([tilt, tilt]),
    })
    fit = cox(stacked, ["treated"], time="time", event="event", ties="efron", robust=False,
              weights=None if key == "ATE" else "w")
    return float(fit.coef[0])
