"""Every statistic a report shows, computed once: ``analyse(config, cohort) -> Analysis``.

This is the only report module that calls :mod:`metsurv.stats`. The sections
(:mod:`metsurv.report.sections`) read an :class:`Analysis` and print it; nothing after this
step estimates anything, so what a figure, a table and the battery say about one group are
the same numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv._blas import one_blas_thread
from metsurv._memory import return_freed_memory
from metsurv.errors import CohortError
from metsurv.report import tables as T
from metsurv.report._cache import frame_cache
from metsurv.report.config import FactorSpec, ReportConfig

__all__ = ["Analysis", "FactorKM", "CoxAnalysis", "PHTerm", "CompetingAnalysis",
           "LandmarkAnalysis", "HazardAnalysis", "PublishedAnalysis", "FollowUp", "Tests", "analyse",
           "published_cohort_figures", "tick_months", "SURV_YEARS", "PH_ALPHA", "RMST_HORIZON_MONTHS"]

#: Years of the survival table's columns (and of each fit's survival estimates).
SURV_YEARS = schema.SURVIVAL_HORIZONS_YEARS
#: The cox.zph p below which the report treats proportional hazards as rejected.
PH_ALPHA = 0.05
#: The horizon of the restricted mean survival time shown where PH fails (months).
RMST_HORIZON_MONTHS = 60.0
#: Years of the cumulative-incidence table.
CIF_YEARS = (1, 2, 3, 5, 10)


def _months(years: Any) -> list[float]:
    return [schema.months(y) for y in years]


def tick_months(cfg: ReportConfig) -> list[float]:
    """The report's time-axis ticks (and at-risk times) in months."""
    from metsurv.report.figures import time_ticks

    scale = schema.TIME_UNITS[cfg.time_unit].scale
    return [float(t) / scale for t in time_ticks(cfg.max_time, cfg.tick_step)]


@dataclass(frozen=True)
class Tests:
    """The log-rank and trend p of one Kaplan-Meier panel, and which levels entered them
    (``rule``, printed in the caption)."""

    p: float | None
    trend: float | None
    rule: str


@dataclass(frozen=True)
class FollowUp:
    """Median follow-up by the reverse Kaplan-Meier method (Schemper & Smith 1996):
    ``quantiles`` maps 0.25, 0.5, 0.75 to months (NaN: not reached); ``years`` the first
    and last year of first metastasectomy, or None without dates."""

    quantiles: dict[float, float] | None
    years: tuple[int, int] | None


@dataclass(frozen=True)
class FactorKM:
    """Kaplan-Meier of one configured factor (``spec``): the fit on the patients of its
    subset with a value, and the tests quoted with it; ``reason`` says why there is none
    ("" when there is)."""

    spec: FactorSpec
    reason: str = ""
    data: pd.DataFrame | None = None
    fit: Any = None
    tests: Tests | None = None


@dataclass(frozen=True)
class PHTerm:
    """A study-model term whose proportional hazards cox.zph rejects: its residual plot's
    data (R ``plot.cox.zph``) and the restricted mean survival by its levels."""

    term: str
    p: float
    smooth: pd.DataFrame | None = None
    coef: float | None = None
    ticks: Any = None
    rmst: pd.DataFrame | None = None  # contrasts of metsurv.stats.rmst (R survRM2-style)


@dataclass(frozen=True)
class CoxAnalysis:
    """The Cox section's models: univariable per covariate (``univariable`` maps a
    covariate to its rows: the IRLM battery's where it analysed the factor, else a fit of
    its own), the multivariable study model and its cox.zph check."""

    covariates: tuple[str, ...]
    left_out: tuple[str, ...]
    univariable: dict[str, tuple[pd.DataFrame | None, Any]]  # covariate -> (battery rows, fit)
    multi: Any
    ph_fit: Any
    ph: pd.DataFrame | None
    rejected: tuple[tuple[str, float], ...]
    ph_terms: tuple[PHTerm, ...]
    #: terms ``column[level]`` of a level no patient of the fit has (R coxph gives them
    #: NA); the report leaves them out, as it leaves out empty levels everywhere
    empty_levels: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CompetingAnalysis:
    """Cumulative incidence of first events (R ``cmprsk::cuminc``), or the ``reason`` the
    data cannot give it."""

    reason: str = ""
    result: Any = None
    at_risk: pd.DataFrame | None = None  # DFS at risk at the report's ticks
    dfs: Any = None  # Kaplan-Meier of DFS on the same patients: its risk sets
    end_of_followup: float | None = None
    at: pd.DataFrame | None = None  # estimates at CIF_YEARS


@dataclass(frozen=True)
class HazardAnalysis:
    """The hazard over time of death (``"os"``) and of recurrence or death (``"dfs"``):
    kernel-smoothed (:func:`metsurv.stats.hazard.smoothed_hazard`) and per year
    (:func:`metsurv.stats.hazard.annual_hazard`), keyed by endpoint; or the ``reason`` the
    data cannot give them."""

    reason: str = ""
    smoothed: dict[str, Any] | None = None
    annual: dict[str, Any] | None = None


@dataclass(frozen=True)
class LandmarkAnalysis:
    """Survival from one landmark (months) by repeat resection before it."""

    at: float
    result: Any


@dataclass(frozen=True)
class PublishedAnalysis:
    """The published figures measured like this report's endpoint that the cohort can be
    set beside (``figures``), the cohort's numbers for each (``cohort_rows``, same index),
    and why others were left out (``left_out``)."""

    figures: pd.DataFrame
    cohort_rows: pd.DataFrame
    left_out: tuple[str, ...]


@dataclass(frozen=True)
class Analysis:
    """Everything a report prints, computed: the input of :mod:`metsurv.report.sections`.

    ``landmarks`` and ``competing`` are None when the config does not ask for them;
    ``landmark_reason`` says why the data cannot give the landmark analysis ("" when they
    can). Counts here are true counts: suppression is applied when sections print them.
    """

    config: ReportConfig
    cohort: Any
    patients: pd.DataFrame
    follow_up: FollowUp
    battery: Any
    batteries: dict[str | None, Any]
    overall: Any
    factors: tuple[FactorKM, ...]
    cox: CoxAnalysis | None
    competing: CompetingAnalysis | None
    landmarks: tuple[LandmarkAnalysis, ...] | None
    landmark_reason: str
    published: PublishedAnalysis
    benchmark: pd.DataFrame | None
    #: the report's printed counts (small-cell suppression decisions), set afresh by
    #: :func:`metsurv.report.sections.compose`; None straight out of :func:`analyse`
    counts: Any = None
    #: the treatment comparison (config ``compare:``; :class:`metsurv.stats.compare.
    #: Comparison`), None when not asked for or not possible; then ``comparison_reason``
    #: says why the data cannot give it ("" when asked for and made, or not asked for)
    comparison: Any = None
    comparison_reason: str = ""
    #: the hazard over time (:class:`HazardAnalysis`); None straight from an older caller
    hazard: Any = None


def analyse(config: ReportConfig, cohort: Any) -> Analysis:
    """Run every statistic of the report described by ``config`` on ``cohort``.

    Parameters
    ----------
    config : ReportConfig
        The study config (endpoint, factors, Cox covariates, landmarks, ...).
    cohort : metsurv.cohort.Cohort
        As :func:`metsurv.io.load_cohort` returns it.

    Returns
    -------
    Analysis

    Raises
    ------
    CohortError
        The cohort has no value of the endpoint's time or event column.
    """
    cfg = config
    patients = cohort.patients
    for col in (cfg.time_column, cfg.event_column):
        if col not in patients.columns or patients[col].notna().sum() == 0:
            raise CohortError(f"{cfg.source}: endpoint {cfg.endpoint!r} needs {col!r}, which "
                              f"the cohort does not have")
    from metsurv.report.background import Background
    from metsurv.report.output import _workers

    # the IRLM battery's tests are the report's tests (one rule for every p-value);
    # one BLAS thread: sums come out bit for bit the same on any machine, and on 2 cores
    # the 1e6-patient analysis is faster (39.8 s -> 33.2 s measured, as threads contend).
    # A large cohort's batteries run in a forked worker beside the rest of the analysis
    # (at 1e6 patients on 2 cores: the report 35.4 s -> about 31 s), a small one's here: the
    # same results either way. The worker's own memory adds to the build's (its private
    # pages at the peak at 1e6: 0.4-0.55 GB), so it runs only where that fits with room
    # to spare.
    beside = (len(patients) >= PARALLEL_MIN_PATIENTS and _workers() > 1
              and _available_memory() >= 2 * WORKER_BYTES_PER_PATIENT * len(patients))
    with frame_cache(), one_blas_thread(), Background(_batteries, cfg, cohort,
                                                      enabled=beside) as batteries:
        return _analyse(cfg, cohort, patients, batteries.result)


#: patients from which the IRLM batteries run in a worker process beside the rest
PARALLEL_MIN_PATIENTS = 100_000
#: what that worker may add to the memory in use, per patient (at most 0.65 GB measured at
#: 1e6 patients, before the study's large factor designs stopped keeping a second copy)
WORKER_BYTES_PER_PATIENT = 700


def _available_memory() -> float:
    """Bytes of physical memory free now (Linux ``sysconf``); infinite where unknown."""
    import os

    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def _batteries(cfg: ReportConfig, cohort: Any) -> dict[str | None, Any]:
    """The IRLM battery of the whole cohort (key None) and of each panel's subset."""
    from metsurv.stats.irlm import irlm_comparisons

    with frame_cache(), one_blas_thread():
        battery = irlm_comparisons(cohort, endpoint=cfg.endpoint)
        return_freed_memory()  # as in _analyse: the whole cohort's fits are garbage now
        return _subset_batteries(cfg, cohort.patients, battery)


def _analyse(cfg: ReportConfig, cohort: Any, patients: pd.DataFrame,
             batteries_of: Callable[[], dict[str | None, Any]]) -> Analysis:
    # what does not need the batteries first (they may be computing beside it)
    parts = dict(
        follow_up=_follow_up(cfg, patients),
        overall=_km(patients, None, cfg),
        competing=_competing(cfg, patients) if cfg.competing_risks else None,
        landmarks=_landmarks(cfg, cohort) if cfg.landmark_times else None,
        published=PublishedAnalysis(*published_cohort_figures(
            T.published_like(cfg.endpoint), patients, cfg.endpoint)),
        hazard=_hazard(cfg, patients),
        **_comparison(cfg, patients),
    )
    # the parts' temporaries are freed: their pages go back before the study model, the
    # largest step, runs beside the batteries (1e6 patients: the peak of the memory in
    # use by both processes fell from 2.08 to 1.99 GB with this alone)
    return_freed_memory()
    model = _cox_model(cfg, patients)
    batteries = batteries_of()
    battery = batteries[None]
    return Analysis(
        config=cfg, cohort=cohort, patients=patients,
        battery=battery, batteries=batteries,
        factors=tuple(_factor_km(cfg, patients, batteries, spec) for spec in cfg.factors),
        cox=_cox(cfg, patients, battery, model),
        landmark_reason=("" if getattr(cohort, "counting_process", None) is not None else
                         "the data have no resections table (one row per operation), so "
                         "repeat resections are unknown."),
        benchmark=None if cfg.benchmark is None else T.published_like(cfg.endpoint,
                                                                       cfg.benchmark),
        **parts,
    )


def _comparison(cfg: ReportConfig, patients: pd.DataFrame) -> dict[str, Any]:
    """The propensity-weighted treatment comparison of ``cfg.compare`` (its config), or the
    reason the data cannot give it (a level absent, no overlap, too few patients): the
    rest of the report does not depend on it, so it is not shown rather than failing the
    build."""
    spec = cfg.compare
    if spec is None:
        return {}
    from metsurv.errors import DataError
    from metsurv.stats.compare import compare_treatments, match_levels

    absent = [c for c in (spec.treatment, *spec.confounders) if c not in patients.columns]
    if absent:
        return {"comparison_reason": f"the cohort has no field {absent[0]!r}."}
    try:
        levels = match_levels(patients[spec.treatment], spec.levels, spec.treatment)
    except DataError as exc:  # a typo in the config, not a limit of the data: refused
        raise CohortError(f"{cfg.origin or 'config'}: compare.levels: {exc}") from None
    try:
        with warnings.catch_warnings():  # kept in the result's warnings, printed as notes
            warnings.simplefilter("ignore")
            comp = compare_treatments(
                patients, spec.treatment, levels, spec.confounders, method=spec.method,
                estimand=spec.estimand, horizon=spec.horizon, impute=spec.impute,
                seed=cfg.seed, time=cfg.time_column, event=cfg.event_column)
    except (DataError, CohortError) as exc:
        return {"comparison_reason": f"the data cannot give it: {exc}"}
    return {"comparison": comp}


# ---------------------------------------------------------------------------------------
# the cohort


def _follow_up(cfg: ReportConfig, patients: pd.DataFrame) -> FollowUp:
    """Reverse Kaplan-Meier (censoring as the event) quartiles of follow-up, and the years
    of the first metastasectomies (years only: dates can identify a patient)."""
    from metsurv.stats import km

    data = patients[[cfg.time_column, cfg.event_column]].dropna()
    quantiles = None
    if len(data):
        rev = km(data.assign(_censored=~data[cfg.event_column].astype(bool)),
                 time=cfg.time_column, event="_censored")
        quantiles = dict(rev.curves[0].quantile((0.25, 0.5, 0.75)))
    years = None
    if "metastasectomy_date" in patients.columns:
        # the first and last dates' years (the year of each of a million dates: no need)
        d = pd.to_datetime(patients["metastasectomy_date"], errors="coerce")
        first, last = d.min(), d.max()
        if pd.notna(first):
            years = (int(first.year), int(last.year))
    return FollowUp(quantiles, years)


# ---------------------------------------------------------------------------------------
# Kaplan-Meier by factor


def _km(data: pd.DataFrame, by: str | None, cfg: ReportConfig) -> Any:
    from metsurv.stats import km

    return km(data, by=by, time=cfg.time_column, event=cfg.event_column,
              times=_months(SURV_YEARS))


def events_word(cfg: ReportConfig) -> str:
    """What the endpoint's events are called in a sentence: "deaths" or "events"."""
    return schema.ENDPOINTS[cfg.endpoint].events_word


def _factor_km(cfg: ReportConfig, patients: pd.DataFrame, batteries: dict[str | None, Any],
               spec: FactorSpec) -> FactorKM:
    if spec.factor not in patients.columns or patients[spec.factor].notna().sum() == 0:
        return FactorKM(spec, reason=f"the cohort has no values of {spec.factor}.")
    # the columns a panel uses (time, event, factor, entry time, histology), not a copy of
    # every column of a million patients
    data = T.subset_columns(patients, spec.subset,
                            _needed(cfg, patients, spec.factor, "histology_group"))
    data = data[data[spec.factor].notna().to_numpy(dtype=bool)]
    missing = _factor_unsupported(cfg, data, spec.factor)
    if missing:
        return FactorKM(spec, reason=missing)
    return FactorKM(spec, data=data, fit=_km(data, spec.factor, cfg),
                    tests=_factor_tests(cfg, batteries.get(spec.subset), data, spec.factor))


def _factor_unsupported(cfg: ReportConfig, data: pd.DataFrame, factor: str) -> str:
    """Why a factor's Kaplan-Meier figure cannot be made ("" when it can): it needs two
    levels with patients and at least one event among them (and, for nodal status, nodes
    that were assessed). A level without events is a curve at 100%, as R ``survfit``
    draws it; which levels the tests take is the battery's rule (:func:`_factor_tests`)."""
    title = schema.FACTOR_TITLES.get(factor, factor)
    if factor == "nodal_status":
        assessed = data[factor].astype(object).isin(["N0", "N1", "N2"])
        if not assessed.any():
            return ("nodes were not assessed (NX or missing) in any patient, so nodal "
                    "status cannot be compared.")
    sizes = _level_sizes(data, factor, cfg.event_column)
    if len(sizes) < 2 or not any(ev > 0 for _, ev in sizes.values()):
        levels = ", ".join(schema.level_label(factor, v) for v in sizes) or "none"
        return (f"{title} needs two levels with patients and at least one of "
                f"{events_word(cfg)} among them; this cohort has {len(sizes)} level(s) "
                f"recorded ({levels}) and "
                f"{int(sum(ev for _, ev in sizes.values()))} {events_word(cfg)}.")
    return ""


def _needed(cfg: ReportConfig, data: pd.DataFrame, *columns: str) -> list[str]:
    """The endpoint's columns (time, event, and ``entry_months``, the entry time the
    estimators take by default) and ``columns``, those ``data`` has, once each."""
    return list(dict.fromkeys(c for c in (cfg.time_column, cfg.event_column, "entry_months",
                                          *columns) if c in data.columns))


def _level_sizes(data: pd.DataFrame, factor: str, event: str) -> dict[Any, tuple[int, int]]:
    """(patients, events) of each level of ``factor`` in ``data`` (no missing value), in
    sorted level order, as ``groupby`` of the values gives them; counted on level codes."""
    codes, uniques = pd.factorize(data[factor], use_na_sentinel=True)
    levels = np.asarray(uniques, dtype=object).tolist()
    keep = codes >= 0
    n = np.bincount(codes[keep], minlength=len(levels))
    ev = np.bincount(codes[keep], weights=data[event].astype(bool).to_numpy()[keep],
                     minlength=len(levels))
    try:
        order = sorted(range(len(levels)), key=lambda i: levels[i])
    except TypeError:  # mixed types: as groupby sorts them
        per_level = data.groupby(data[factor].astype(object))[event].agg(
            lambda e: (len(e), int(e.astype(bool).sum())))
        return {lev: v for lev, v in per_level.items() if v[0] > 0}
    return {levels[i]: (int(n[i]), int(round(ev[i]))) for i in order if n[i] > 0}


def _subset_batteries(cfg: ReportConfig, patients: pd.DataFrame, battery: Any
                      ) -> dict[str | None, Any]:
    """The IRLM battery of the whole cohort (``None``) and, for each subset a panel is drawn
    on, of that subset, limited to the factors drawn there (cheap at a million patients)."""
    from metsurv.stats.irlm import FACTORS, irlm_comparisons

    out: dict[str | None, Any] = {None: battery}
    for subset in dict.fromkeys(s.subset for s in cfg.factors if s.subset):
        factors = [s.factor for s in cfg.factors if s.subset == subset and s.factor in FACTORS
                   and s.factor in patients.columns]
        if not factors:
            continue
        needs_histology = any(FACTORS[f][1] is not None for f in factors)
        cols = [cfg.time_column, cfg.event_column, "entry_months", *factors,
                *(["histology_group"] if needs_histology else [])]
        out[subset] = irlm_comparisons(T.subset_columns(patients, subset, cols),
                                       endpoint=cfg.endpoint)
    return out


def _factor_tests(cfg: ReportConfig, battery: Any, data: pd.DataFrame, factor: str) -> Tests:
    """The panel's tests: the IRLM battery's for its factors (log-rank over the levels with
    enough patients and events; trend over the ordered ones among them), so that figure,
    survival table and battery table quote one p; for a factor the battery does not analyse,
    log-rank over all its levels."""
    rows = battery.factors if battery is not None else pd.DataFrame(columns=["factor"])
    row = rows[rows["factor"] == factor]
    if not len(row):
        return _all_levels_test(cfg, data, factor)
    row = row.iloc[0]
    p = float(row["logrank_p"]) if np.isfinite(row["logrank_p"]) else None
    trend = float(row["trend_p"]) if np.isfinite(row["trend_p"]) else None
    lv = battery.levels[(battery.levels["factor"] == factor) & (battery.levels["n"] > 0)]
    tested = [v for v in lv["level"] if not bool(lv.loc[lv["level"] == v, "sparse"].iloc[0])]
    untested = [v for v in lv["level"] if v not in tested]
    names = ", ".join(schema.level_label(factor, v) for v in tested)
    if p is None:
        return Tests(None, None, (
            f"No log-rank test: fewer than two levels with at least {battery.min_n} patients "
            f"and {battery.min_events} {events_word(cfg)} (IRLM battery rule)."))
    rule = (f"Log-rank test over the levels with at least {battery.min_n} patients and "
            f"{battery.min_events} {events_word(cfg)} (IRLM battery rule): "
            + ("all levels" if not untested else names + "; not tested: "
               + ", ".join(schema.level_label(factor, v) for v in untested)))
    if trend is not None:
        tested_text = {str(v) for v in tested}
        order = [v for v in schema.ORDERED_FACTORS.get(factor, ()) if v in tested_text]
        rule += ("; test for trend over " + " < ".join(schema.level_label(factor, v) for v in order))
    return Tests(p, trend, rule + ".")


def _all_levels_test(cfg: ReportConfig, data: pd.DataFrame, factor: str) -> Tests:
    from metsurv.stats import logrank

    if data[factor].nunique() < 2:
        return Tests(None, None, "")
    res = logrank(data, by=factor, time=cfg.time_column, event=cfg.event_column)
    p = float(res.p) if np.isfinite(res.p) else None
    return Tests(p, None, "Log-rank test over all levels (not a factor of the IRLM "
                          "battery, which applies no level rule to it).")


# ---------------------------------------------------------------------------------------
# Cox models


def battery_univariable(battery: Any, factor: str) -> pd.DataFrame | None:
    """The IRLM battery's univariable Cox HRs of ``factor`` as forest/table rows (``term``,
    ``hr``, ``lower``, ``upper``, ``p``), or None when the battery did not analyse it, or
    left a sparse level out of its fit (then its HRs are those of the other levels' patients
    only, not R's ``coxph(Surv(t, e) ~ factor)``: the caller fits the factor on everyone).
    Reusing them keeps the forest plot and the IRLM table identical and saves refitting (at
    a million patients each Cox fit costs seconds)."""
    lv = battery.levels
    own = lv[lv["factor"] == factor]
    rows = own[~own["reference"].astype(bool) & own["hr"].notna()]
    if (factor not in set(battery.factors["factor"]) or not len(rows)
            or own["sparse"].astype(bool).any()):
        return None
    ref = lv.loc[(lv["factor"] == factor) & lv["reference"].astype(bool), "level"]
    ref_text = f" vs {schema.level_label(factor, ref.iloc[0])}" if len(ref) else ""
    title = schema.FACTOR_TITLES.get(factor, factor)
    return pd.DataFrame({
        "term": [f"{title}: {schema.level_label(factor, v)}{ref_text}" for v in rows["level"]],
        "hr": rows["hr"].to_numpy(float), "lower": rows["hr_lower"].to_numpy(float),
        "upper": rows["hr_upper"].to_numpy(float), "p": rows["hr_p"].to_numpy(float),
    })


@dataclass(frozen=True)
class _StudyModel:
    """The study model and its PH check (what :func:`_cox` needs besides the battery)."""

    covariates: list[str]
    multi: Any
    ph_fit: Any
    ph: pd.DataFrame | None
    rejected: tuple[tuple[str, float], ...]
    ph_terms: tuple[PHTerm, ...]


def _cox_fit(cfg: ReportConfig, patients: pd.DataFrame, columns: list[str]) -> Any:
    """cox takes yes/no columns as two-level factors and the schema's reference levels
    (complete resection, DFI >= 36, ...), so HRs read "incomplete vs complete" as in IRLM."""
    from metsurv.stats import cox

    return cox(patients, covariates=columns, time=cfg.time_column, event=cfg.event_column)


def _cox_model(cfg: ReportConfig, patients: pd.DataFrame) -> _StudyModel | None:
    """The study model (config cox.covariates) with cox.zph; None when no covariate is
    configured or has two values in the cohort."""
    if not cfg.cox_covariates:
        return None
    # a covariate needs two values in the cohort (one histology is no contrast: R would
    # give its terms NA); the ones left out are named
    covs = [c for c in cfg.cox_covariates if c in patients.columns
            and patients[c].nunique(dropna=True) >= 2]
    if not covs:
        return None
    multi = _cox_fit(cfg, patients, covs)
    try:
        ph_fit = multi.ph_test()
        ph = ph_fit.to_frame()
    except Exception:  # noqa: BLE001 - the PH check is informative, never fatal
        ph = ph_fit = None
    rejected = (() if ph is None else
                tuple((t, float(p)) for t, p in zip(ph["term"], ph["p"], strict=True)
                      if t != "GLOBAL" and np.isfinite(p) and p < PH_ALPHA))
    return _StudyModel(covs, multi, ph_fit, ph, rejected,
                       tuple(_ph_term(cfg, patients, multi, ph_fit, t, p) for t, p in rejected))


def _cox(cfg: ReportConfig, patients: pd.DataFrame, battery: Any, model: _StudyModel | None
         ) -> CoxAnalysis | None:
    """The study model and, per covariate, its univariable model: the battery's rows where
    it analysed the covariate, else a fit; None without a study model."""
    if model is None:
        return None
    univariable: dict[str, tuple[pd.DataFrame | None, Any]] = {}
    if cfg.cox_univariable:
        for c in model.covariates:
            rows = battery_univariable(battery, c)
            univariable[c] = ((rows, None) if rows is not None
                              else (None, _cox_fit(cfg, patients, [c])))
    fits = [model.multi] + [f for _, f in univariable.values() if f is not None]
    empty = frozenset().union(*(_empty_levels(f, patients, cfg) for f in fits))
    return CoxAnalysis(
        empty_levels=empty,
        covariates=tuple(model.covariates),
        left_out=tuple(c for c in cfg.cox_covariates if c not in model.covariates),
        univariable=univariable, multi=model.multi, ph_fit=model.ph_fit, ph=model.ph,
        rejected=model.rejected, ph_terms=model.ph_terms)


def _empty_levels(fit: Any, patients: pd.DataFrame, cfg: ReportConfig) -> set[str]:
    """The terms ``column[level]`` of ``fit`` whose level no patient of its complete cases
    has (a factor's level seen only among patients the model leaves out, or a category
    nobody has)."""
    from metsurv.stats._times import level_label

    terms = [t for t in fit.terms if "[" in t and ":" not in t and t.endswith("]")]
    columns = {t.split("[", 1)[0] for t in terms} & set(patients.columns)
    used = [cfg.time_column, cfg.event_column, *(c for c in fit.covariates
                                                  if c in patients.columns)]
    rows = patients[list(dict.fromkeys(used))].dropna()
    present = {c: {str(level_label(v)) for v in pd.unique(rows[c].astype(object))}
               for c in columns}
    return {t for t in terms if t.split("[", 1)[0] in present
            and t[:-1].split("[", 1)[1] not in present[t.split("[", 1)[0]]}


def _ph_term(cfg: ReportConfig, patients: pd.DataFrame, multi: Any, ph_fit: Any, term: str,
             p: float) -> PHTerm:
    """For a term whose proportional hazards cox.zph rejects: R plot.cox.zph's smooth of
    its scaled Schoenfeld residuals, and the restricted mean survival time to 5 years by
    its levels with the difference from the reference (from the KM curves)."""
    from metsurv.stats import rmst
    from metsurv.stats.cox.zph import zph_smooth, zph_time_axis

    smooth = coef = ticks = None
    res = ph_fit.residuals
    if res is not None and term in res.columns:
        try:
            smooth = zph_smooth(ph_fit, term, multi)
        except ValueError:
            smooth = None
        if smooth is not None:
            # one column: the residual is on its coefficient's scale; a factor of several
            # levels: on the linear predictor's, whose constant is 1 (R plot.cox.zph)
            cols = [i for i, c in enumerate(multi.terms) if c == term or c.startswith(f"{term}[")]
            value = float(multi.coef[cols[0]]) if len(cols) == 1 else 1.0
            coef = value if np.isfinite(value) else None
            ticks = zph_time_axis(ph_fit)
    contrasts = None
    if term in patients.columns and not pd.api.types.is_float_dtype(patients[term]):
        data = patients[_needed(cfg, patients, term)]
        data = data[data[term].notna().to_numpy(dtype=bool)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            contrasts = rmst(data, tau=RMST_HORIZON_MONTHS, by=term, time=cfg.time_column,
                             event=cfg.event_column, beyond_follow_up="extend").contrasts
    return PHTerm(term, p, smooth, coef, ticks, contrasts)


# ---------------------------------------------------------------------------------------
# competing risks, landmarks, published series


def _competing(cfg: ReportConfig, patients: pd.DataFrame) -> CompetingAnalysis:
    recurrences = [e for e in schema.FIRST_EVENTS
                   if e not in ("death_without_recurrence", "event_free")]
    if not {"dfs_months", "dfs_event", "first_event"} <= set(patients.columns):
        return CompetingAnalysis("the data have no recurrence dates (recurrence_date), so "
                                 "recurrence cannot be set against death.")
    # the patients whose first event is known, as cuminc keeps them (the columns that
    # cuminc and the DFS Kaplan-Meier read)
    data = patients[[c for c in ("dfs_months", "dfs_event", "first_event", "entry_months")
                     if c in patients.columns]]
    data = data[(data["first_event"].notna() & data["dfs_months"].notna()).to_numpy(bool)]
    if not data["first_event"].astype(object).isin(recurrences).any():
        return CompetingAnalysis("no recurrence is recorded (recurrence_date and "
                                 "recurrence_site are empty or absent), so recurrence cannot be set "
                                 "against death; a curve of deaths alone would be 1 - "
                                 "Kaplan-Meier under a false label.")
    from metsurv.stats import km
    from metsurv.stats.competing import cuminc

    res = cuminc(data)
    ticks = tick_months(cfg)
    # number at risk on the DFS endpoint (dfs_months >= t), as the estimator counts it
    dfs = km(data, time="dfs_months", event="dfs_event")
    return CompetingAnalysis(result=res, at_risk=dfs.at_risk(ticks), dfs=dfs,
                             end_of_followup=float(data["dfs_months"].max()),
                             at=res.at(_months(CIF_YEARS)))


#: Years of the annual hazard table (at most; fewer when follow-up is shorter).
HAZARD_YEARS = 10


def _hazard(cfg: ReportConfig, patients: pd.DataFrame) -> HazardAnalysis:
    """Smoothed and annual hazards of death and of recurrence or death, when the data have
    recurrence (``dfs_months``/``dfs_event`` with a recurrence recorded). The smoothed
    curves end where fewer than max(10, min_at_risk, suppress_below) remain at risk."""
    if not {"dfs_months", "dfs_event"} <= set(patients.columns) or not (
            patients["dfs_months"].notna() & patients["dfs_event"].notna()).any():
        return HazardAnalysis("the data have no recurrence dates (recurrence_date), so the "
                              "hazard of recurrence cannot be estimated.")
    if "first_event" in patients.columns and not patients["first_event"].astype(object).isin(
            [e for e in schema.FIRST_EVENTS
             if e not in ("death_without_recurrence", "event_free")]).any():
        return HazardAnalysis("no recurrence is recorded (recurrence_date and recurrence_site "
                              "are empty or absent), so the hazard of recurrence cannot be estimated.")
    from metsurv.errors import DataError
    from metsurv.stats.hazard import MIN_AT_RISK_END, annual_hazard, smoothed_hazard

    at_least = max(MIN_AT_RISK_END, cfg.min_at_risk, cfg.suppress_below)
    smoothed, annual = {}, {}
    for endpoint in ("os", "dfs"):
        time, event = schema.ENDPOINTS[endpoint].time, schema.ENDPOINTS[endpoint].event
        data = patients[_needed_for(patients, time, event)]
        try:
            with warnings.catch_warnings():  # kept in the results' warnings, shown as notes
                warnings.simplefilter("ignore")
                smoothed[endpoint] = smoothed_hazard(data, time, event,
                                                     min_at_risk=at_least)
                annual[endpoint] = annual_hazard(data, time, event,
                                                 max_time=schema.months(HAZARD_YEARS))
        except DataError as exc:
            return HazardAnalysis(f"the data cannot give it: {exc}")
    return HazardAnalysis(smoothed=smoothed, annual=annual)


def _needed_for(data: pd.DataFrame, time: str, event: str) -> list[str]:
    return [c for c in (time, event, "entry_months") if c in data.columns]


def _landmarks(cfg: ReportConfig, cohort: Any) -> tuple[LandmarkAnalysis, ...]:
    if getattr(cohort, "counting_process", None) is None:
        return ()
    from metsurv.stats.landmark import landmark

    return tuple(LandmarkAnalysis(lm, landmark(cohort, at=lm, time=cfg.time_column,
                                               event=cfg.event_column,
                                               times=_months(SURV_YEARS)))
                 for lm in cfg.landmark_times)


def published_cohort_figures(published: pd.DataFrame, patients: pd.DataFrame, endpoint: str
                             ) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """The published figures the cohort can be set beside, and the cohort's own.

    Parameters
    ----------
    published : DataFrame
        Published figures (:func:`metsurv.published.published_figures` rows) measured like
        ``endpoint``.
    patients : DataFrame
        The analysed patients.
    endpoint : {"os", "dfs"}

    Returns
    -------
    (figures, cohort_rows, left_out)
        The rows of ``published`` kept; for each (same index) the cohort's ``n``,
        ``median_months`` and survival columns with the number at risk they rest on
        (``<column>_n_risk``), by Kaplan-Meier of the same population and group (survival
        only where someone is still followed); why figures were left out for their
        population, one text per study and population
        (:func:`metsurv.report.tables.population_gap`). One fit per subset and factor
        serves all its levels.
    """
    from metsurv.published import SURVIVAL_COLUMNS
    from metsurv.stats import km
    from metsurv.stats.irlm import ENDPOINTS
    from metsurv.stats.km import followed

    time, event = ENDPOINTS[endpoint]
    times = _months(SURVIVAL_COLUMNS.values())
    histologies = T.cohort_histologies(patients)
    keep, rows, fits, left_out = [], {}, {}, {}
    for i, p in published.iterrows():
        match = T.published_match(p)
        if match is None:
            continue
        gap = T.population_gap(p, histologies)
        if gap is not None:
            left_out.setdefault(f"{p['study']} ({T.population_text(p).lower()}): {gap}", None)
            continue
        keep.append(i)
        col, val, subset = match
        if (subset, col) not in fits:
            data = T.subset_columns(patients, subset, [time, event, "entry_months", col])
            known = col == "all" or (col in data.columns and data[col].notna().any())
            fits[subset, col] = (km(data, by=None if col == "all" else col, time=time,
                                    event=event) if known and len(data) else None)
        fit = fits[subset, col]
        want = "all" if col == "all" else str(val)
        curve = next((c for c in fit.curves if str(c.group) == want), None) if fit else None
        if curve is None:
            continue
        row = {"n": curve.n, "median_months": curve.median,
               # how many the median rests on: hidden under suppression when fewer than k
               "median_n_risk": curve.median_n_risk}
        for name, (_, r) in zip(SURVIVAL_COLUMNS, curve.at(times).iterrows(), strict=True):
            row[name] = r["estimate"] if followed(r["n_risk"], r["estimate"]) else np.nan
            row[f"{name}_n_risk"] = r["n_risk"]
        rows[i] = row
    return (published.loc[keep], pd.DataFrame.from_dict(rows, orient="index"),
            tuple(left_out))
