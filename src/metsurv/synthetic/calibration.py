"""Calibration of the synthetic presets: every published target beside what a draw gives.

:func:`calibration` draws a large cohort, derives the analysis fields exactly as the loader
does (``metsurv.io.derive``) and sets each :class:`~metsurv.synthetic.presets.Target` beside
its Kaplan-Meier (or share / mean) value. :func:`fit_cure_model` is how the cure-model
coefficients stored in ``presets.py`` were found: least squares on the *analytic* marginal
survival of each target subgroup (no censoring, no Monte Carlo noise).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from metsurv import schema
from metsurv.io import derive
from metsurv.stats.km import km
from metsurv.synthetic.model import (
    LEVELS,
    SyntheticCohort,
    design,
    draw_covariates,
    generate,
)
from metsurv.synthetic.presets import (
    FITTED,
    ORDERED,
    CureModel,
    Preset,
    Target,
    get_preset,
    term,
)

DPM = schema.DAYS_PER_MONTH
_DATES = [name for name, f in schema.PATIENTS.items() if f.kind == "date"]
_YEARS = {f"surv_{y}y": y for y in schema.SURVIVAL_HORIZONS_YEARS}


def analysis_frame(cohort: SyntheticCohort) -> pd.DataFrame:
    """Patients with the loader's derived fields (``metsurv.io.derive``) plus the columns the
    targets use: ``followup_months``, ``recurrence``, ``pulmonary_recurrence``,
    ``nodal_assessed``, ``repeat_resection`` and OS from the second metastasectomy
    (``os2_months``; NaN without one)."""
    p = cohort.patients.copy()
    for name in _DATES:
        if name in p:
            p[name] = pd.to_datetime(p[name], format="%Y-%m-%d")
    p = p.assign(**derive.outcomes(p), **derive.factors(p))
    r = cohort.resections
    n_ops = p["patient_id"].map(derive.n_metastasectomies(r)).fillna(1)
    second = r.loc[r["sequence"] == 2].set_index("patient_id")["operation_date"]
    second_date = pd.to_datetime(p["patient_id"].map(second), format="%Y-%m-%d")
    sites = schema.codes("recurrence_site")
    nx = schema.codes("nodal_status")[-1]
    return p.assign(
        followup_months=p["os_months"],
        recurrence=p["recurrence_date"].notna(),
        pulmonary_recurrence=p["recurrence_site"].isin([sites[0], sites[2]]),
        nodal_assessed=p["nodal_status"].ne(nx),
        repeat_resection=n_ops >= 2,
        os2_months=derive.months_between(second_date, p["last_followup_date"]),
    )


def km_summary(time: np.ndarray, event: np.ndarray, statistic: str) -> float:
    """S(5/10/15 years) or the median in months, from :func:`metsurv.stats.km.km` (median as
    R print.survfit); NaN without patients or with the horizon after the last follow-up.

    >>> km_summary(np.array([1.0, 2, 3, 4, 5]), np.array([1, 1, 1, 0, 1]), "median")
    3.0
    """
    time = np.asarray(time, dtype=float)
    horizon = 0.0 if statistic == "median" else schema.months(_YEARS[statistic])
    if time.size == 0 or time.max() < horizon:
        return float("nan")
    data = pd.DataFrame({"time": time, "event": np.asarray(event, dtype=bool)})
    curve = km(data, time="time", event="event").curves[0]
    if statistic == "median":
        return float(curve.median)
    return float(curve.at([horizon])["estimate"].iloc[0])


def _subset(frame: pd.DataFrame, target: Target) -> np.ndarray:
    keep = np.ones(len(frame), dtype=bool)
    for name, values in target.subset:
        col = frame[name].astype(object)
        keep &= col.isin(list(values)).to_numpy(dtype=bool)
    return keep


def achieved(frame: pd.DataFrame, target: Target) -> tuple[float, int]:
    """The value of ``target`` in an analysis frame, and the number of patients behind it."""
    rows = frame.loc[_subset(frame, target)]
    if target.origin == "second_metastasectomy":
        rows = rows.loc[rows["os2_months"].notna()]
        time = rows["os2_months"].to_numpy(float)
    else:
        time = rows["os_months"].to_numpy(float)
    if target.statistic in ("share", "mean"):
        return float(rows[target.column].astype(float).mean()), len(rows)
    return km_summary(time, rows["os_event"].to_numpy(bool), target.statistic), len(rows)


def within(target: Target, value: float) -> bool | None:
    """Whether ``value`` is within the target's tolerance (None when not tested)."""
    if target.tolerance is None:
        return None
    if target.statistic in ("median", "mean"):
        return bool(abs(value / target.value - 1) <= target.tolerance)
    return bool(abs(value - target.value) <= target.tolerance)


def _draw(p: Preset, n: int, seed: int, frame: pd.DataFrame | None) -> pd.DataFrame:
    return analysis_frame(generate(p, n=n, seed=seed)) if frame is None else frame


def calibration(preset: str | Preset = "irlm1997", n: int = 50_000, seed: int = 20_260_101,
                frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every published target of a preset beside the value a draw of ``n`` patients gives
    (or the analysis ``frame`` of a draw already made).

    Columns: target, statistic, subset, target_value, achieved, n, tolerance, within, source.

    >>> table = calibration("sarcoma", n=2000, seed=1)
    >>> {"target", "target_value", "achieved", "within"} <= set(table.columns)
    True
    """
    p = get_preset(preset)
    frame = _draw(p, n, seed, frame)
    rows = []
    for t in p.targets:
        value, k = achieved(frame, t)
        subset = "; ".join(f"{name} in {list(v)}" for name, v in t.subset) or "all"
        rows.append({
            "target": t.label, "statistic": t.statistic, "subset": subset,
            "target_value": t.value, "achieved": value, "n": k, "tolerance": t.tolerance,
            "within": within(t, value), "source": t.source,
        })
    return pd.DataFrame(rows)


def orderings(preset: str | Preset = "irlm1997", n: int = 50_000, seed: int = 20_260_101,
              frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every published order of a preset (:class:`~metsurv.synthetic.presets.Ordering`) in a
    draw: one row per ordering and level, with its tier (0 = best), value and n, and ``holds``
    (the same for all rows of an ordering): every level of a tier does better than every level
    of the next.

    >>> table = orderings("sarcoma", n=2000, seed=1)
    >>> bool(table.groupby("ordering")["holds"].first().all())
    True
    """
    p = get_preset(preset)
    frame = _draw(p, n, seed, frame)
    rows = []
    for o in p.orderings:
        block = []
        for tier, levels in enumerate(o.ranks):
            for level in levels:
                t = Target(o.label, o.statistic, float("nan"), o.source,
                           (*o.subset, (o.field, (level,))))
                value, k = achieved(frame, t)
                if o.statistic == "median" and k and np.isnan(value):
                    value = np.inf  # not reached: above every reached median
                block.append({"ordering": o.label, "statistic": o.statistic, "level": level,
                              "tier": tier, "achieved": value, "n": k, "source": o.source})
        table = pd.DataFrame(block)
        worst = table.groupby("tier")["achieved"].min().to_numpy()
        best = table.groupby("tier")["achieved"].max().to_numpy()
        holds = bool(np.all(worst[:-1] > best[1:]))
        rows += [{**r, "holds": holds} for r in block]
    return pd.DataFrame(rows)


def orderings_markdown(table: pd.DataFrame) -> str:
    """An orderings table as the Markdown shown in docs/synthetic.md."""
    lines = ["| published order | statistic | achieved, best first | holds |", "|---|---|---|---|"]
    for (label, stat), rows in table.groupby(["ordering", "statistic"], sort=False):
        tiers = [" ~ ".join(f"{r.level} {_fmt(stat, r.achieved)}" for r in tier.itertuples())
                 for _, tier in rows.groupby("tier")]
        lines.append(f"| {label} | {stat} | {' > '.join(tiers)} | "
                     f"{'yes' if rows['holds'].iloc[0] else '**no**'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- fitting
_SUBSET_FIELDS = ("histology_group", "resection_status", "dfi_group", "n_metastases_group",
                  "nodal_status", "chemo_response", "leiomyosarcoma")


def _irlm_codes(cov: dict[str, np.ndarray]) -> np.ndarray:
    """IRLM group code 0-3 from coded covariates (derive.irlm_group on codes)."""
    risk = (cov["dfi_group"] < len(schema.DFI_GROUPS) - 1).astype(int) + (
        cov["n_metastases_group"] > 0).astype(int)
    return np.where(cov["resection_status"] == 0, risk, len(schema.IRLM_GROUPS) - 1)


class _AnalyticCells:
    """Covariate cells of a large covariate draw with their mean background survival."""

    def __init__(self, p: Preset, n: int, seed: int, grid: np.ndarray) -> None:
        cov = draw_covariates(p, n, np.random.default_rng(seed))
        keys = np.stack([cov[f].astype(np.int64) for f in _SUBSET_FIELDS], axis=1)
        uniq, inv, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        self.cov = {f: uniq[:, i] for i, f in enumerate(_SUBSET_FIELDS)}
        self.cov["complete_resection"] = self.cov["resection_status"] == 0
        self.cov["irlm_group"] = _irlm_codes(self.cov)
        self.counts = counts
        self.grid = grid
        c = p.cure
        e_bg = np.zeros((uniq.shape[0], grid.size))
        order = np.argsort(inv, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts)])
        age = cov["age"][order]
        for i in range(uniq.shape[0]):  # cells, not patients: mean background survival
            a = age[bounds[i]:bounds[i + 1]][:, None]
            h0 = c.bg_hazard_at_60 * np.exp(c.bg_log_slope * (a - 60.0))
            cum = (h0 * np.expm1(c.bg_log_slope * grid[None, :] / schema.MONTHS_PER_YEAR)
                   / c.bg_log_slope)
            e_bg[i] = np.exp(-cum).mean(axis=0)
        self.background = e_bg

    def survival(self, cure: CureModel) -> np.ndarray:
        score = design(self.cov, cure.coef)
        pi = 1.0 / (1.0 + np.exp(-(cure.intercept - score)))
        median = np.exp(cure.log_median_uncured - cure.rho * score
                        + design(self.cov, cure.uncured_coef))
        s_u = np.exp(-np.log(2) * (self.grid[None, :] / median[:, None]) ** cure.shape)
        return self.background * (pi[:, None] + (1 - pi[:, None]) * s_u)

    def subset(self, target: Target) -> np.ndarray:
        keep = np.ones(self.counts.size, dtype=bool)
        for name, values in target.subset:
            col = self.cov[name]
            if name in LEVELS or name == "irlm_group":
                levels = LEVELS.get(name, schema.IRLM_GROUPS)
                keep &= np.isin(col, [levels.index(v) for v in values])
            else:
                keep &= np.isin(col.astype(bool), list(values))
        return keep


def analytic_value(cells: _AnalyticCells, surv: np.ndarray, target: Target) -> float:
    """Marginal survival statistic of a target subgroup under the cure model."""
    keep = cells.subset(target)
    curve = np.average(surv[keep], axis=0, weights=cells.counts[keep])
    if target.statistic == "median":
        i = int(np.argmax(curve <= 0.5))
        if curve[i] > 0.5:
            return float("nan")
        t0, t1, s0, s1 = cells.grid[i - 1], cells.grid[i], curve[i - 1], curve[i]
        return float(t0 + (s0 - 0.5) / (s0 - s1) * (t1 - t0))
    return float(np.interp(schema.months(_YEARS[target.statistic]), cells.grid, curve))


def fit_cure_model(preset: str | Preset, free: tuple[str, ...] | None = None,
                   n: int = 200_000, seed: int = 1, ridge: float = 0.5
                   ) -> tuple[CureModel, pd.DataFrame]:
    """Least-squares fit of the cure model's ``free`` parameters (``intercept``,
    ``log_median_uncured``, ``shape``, ``rho``, coefficient names, ``u:``-prefixed uncured
    coefficients, ``g:``-prefixed uncured shifts, ``f:``-prefixed tie fractions; default
    ``presets.FITTED[name]``) to the preset's survival targets, on the analytic marginal
    survival, starting from the preset's values; a ridge toward the starting values keeps
    unidentified parameters where they are. Bounds keep the risk monotone in the ordered
    factors (``presets.ORDERED``): rho >= 0, a fitted coefficient of a worse level >= 0, a
    fitted uncured shift ``g:`` <= 0, a tie fraction ``f:`` in [0, 1]; the middle levels follow
    their :class:`~metsurv.synthetic.presets.Tie`. Returns the fitted model and a table of
    target vs analytic value. Used offline (about a minute) to produce the numbers stored in
    presets.py."""
    p = get_preset(preset)
    free = FITTED[p.name] if free is None else free
    targets = [t for t in p.targets if t.origin == "metastasectomy"
               and t.statistic in ("median", *_YEARS)]
    cells = _AnalyticCells(p, n, seed, np.arange(0.0, 240.25, 0.25))
    lower, upper = np.array([_bounds(name) for name in free]).T
    start = np.clip([_get(p.cure, name) for name in free], lower, upper)
    order = sorted(range(len(free)), key=lambda i: free[i].startswith("g:"))  # shifts last

    def model(x: np.ndarray) -> CureModel:
        cure = p.cure
        for i in order:
            cure = _set(cure, free[i], float(x[i]))
        return cure

    def residuals(x: np.ndarray) -> np.ndarray:
        surv = cells.survival(model(x))
        res = []
        for t in targets:
            value = analytic_value(cells, surv, t)
            weight = 1.0 if t.tolerance is not None else 0.3
            if t.statistic == "median":
                res.append(weight * (np.nan_to_num(value, nan=300.0) / t.value - 1) / 0.05)
            else:
                res.append(weight * (value - t.value) / 0.01)
        r = np.array(res)  # 2 = at the edge of the tolerance; weight the worst-met targets up
        return np.concatenate([r * np.sqrt(1 + r**2 / 2), ridge * (x - start)])

    fit = least_squares(residuals, start, bounds=(lower, upper), method="trf")
    cure = model(fit.x)
    surv = cells.survival(cure)
    table = pd.DataFrame([{"target": t.label, "target_value": t.value,
                           "analytic": analytic_value(cells, surv, t)} for t in targets])
    return cure, table


_ORDERED_TERMS = {term(name, level) for name, levels in ORDERED.items() for level in levels[1:]}


def _bounds(name: str) -> tuple[float, float]:
    """Bounds of a free parameter that keep the risk monotone in the ordered factors."""
    if name == "rho":  # the score moves the uncured log median at most as much as the cure
        return 0.0, 1.0  # log-odds (a larger rho makes the histology paces implausible)
    if name in _ORDERED_TERMS:
        return 0.0, np.inf
    if name == "shape":
        return 0.1, np.inf
    if name.startswith("f:"):
        return 0.0, 1.0
    if name.startswith("g:") and name[2:] in _ORDERED_TERMS:
        return -np.inf, 0.0
    return -np.inf, np.inf


def _get(cure: CureModel, name: str) -> float:
    """A scalar parameter, a coefficient, or (prefix ``u:``) an uncured coefficient, (``g:``)
    an uncured shift, (``f:``) a tie fraction."""
    if hasattr(cure, name):
        return float(getattr(cure, name))
    prefix, key = name[:2], name[2:]
    if prefix == "u:":
        return float(cure.uncured_coef.get(key, 0.0))
    if prefix == "g:":
        return cure.uncured_shift(key)
    if prefix == "f:":
        return next(t.fraction for t in cure.ties if t.level == key)
    return float(cure.coef.get(name, 0.0))


def _set(cure: CureModel, name: str, value: float) -> CureModel:
    """``cure`` with one parameter changed (``g:`` sets the uncured coefficient that gives the
    shift at the current rho and coefficient: set it after those)."""
    if hasattr(cure, name):
        return dataclasses.replace(cure, **{name: value})
    prefix, key = name[:2], name[2:]
    if prefix == "g:":
        prefix, value = "u:", value + cure.rho * cure.coef.get(key, 0.0)
    if prefix == "u:":
        return dataclasses.replace(cure, uncured_coef={**cure.uncured_coef, key: value})
    if prefix == "f:":
        ties = tuple(dataclasses.replace(t, fraction=value) if t.level == key else t
                     for t in cure.ties)
        return dataclasses.replace(cure, ties=ties)
    return dataclasses.replace(cure, coef={**cure.coef, name: value})


def ph_covariates(frame: pd.DataFrame, preset: str | Preset) -> pd.DataFrame:
    """``os_months``, ``os_event`` and one 0/1 column per true log hazard ratio of the
    preset's ``ph`` model (named ``field=level``, as in ``manifest["true_parameters"]``),
    complete cases only: the design a Cox fit needs to recover the truth."""
    p = get_preset(preset)
    out = {"os_months": frame["os_months"].astype(float),
           "os_event": frame["os_event"].astype(bool)}
    known = np.ones(len(frame), dtype=bool)
    for key in p.ph.log_hr:
        name, level = key.split("=", 1)
        col = frame[name].astype(object)
        value: object = {"True": True, "False": False}.get(level, level)
        known &= col.notna().to_numpy()
        out[key] = (col == value).astype(float)
    return pd.DataFrame(out).loc[known].reset_index(drop=True)


def _fmt(statistic: str, value: float) -> str:
    if value is None or np.isnan(value):
        return "n/a"
    if np.isinf(value):
        return "not reached"
    return f"{value:.1f}" if statistic in ("median", "mean") else f"{value:.3f}"


def calibration_markdown(table: pd.DataFrame) -> str:
    """A calibration table as the Markdown shown in docs/synthetic.md."""
    lines = ["| target | statistic | published | achieved | n | tolerance | within |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        tol = "" if r.tolerance is None or np.isnan(r.tolerance) else (
            f"±{r.tolerance:.0%}" if r.statistic in ("median", "mean") else f"±{r.tolerance:.2f}")
        within = {True: "yes", False: "**no**"}.get(r.within, "(order only)")
        lines.append(f"| {r.target} | {r.statistic} | {_fmt(r.statistic, r.target_value)} | "
                     f"{_fmt(r.statistic, r.achieved)} | {r.n} | {tol} | {within} |")
    return "\n".join(lines)
