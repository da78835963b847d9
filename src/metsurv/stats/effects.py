"""Effects of a treatment on survival in an observational cohort: weighted (adjusted) and
unweighted Kaplan-Meier curves per arm, the Cox hazard ratio (robust SE under weights) and
the RMST difference at a horizon, side by side, with an optional patient bootstrap.

:func:`treatment_effects` takes the weight column; it does not fit a propensity model, so it
works with any weights (IPTW or overlap weights from :mod:`metsurv.stats.propensity`, survey
or matching weights). Which R call each number matches:

* curves: R ``survfit(Surv(time, event) ~ arm, weights = w, conf.type = "log-log")`` (via
  :func:`metsurv.stats.km.km`). With weights that are not whole numbers R (and metsurv) use
  the infinitesimal-jackknife (robust) variance of S(t), with whole-number weights
  Greenwood's formula on the weighted counts. **Both treat the weights as fixed, known
  numbers**: the uncertainty of an estimated propensity score is ignored (usually making
  the interval somewhat conservative for IPTW, but not guaranteed). ``bootstrap=B`` adds
  percentile intervals from B patient resamples; give ``refit`` to re-estimate the weights
  in each resample (then the bootstrap carries the weight estimation too).
* hazard ratio: R ``coxph(Surv(time, event) ~ arm, weights = w, robust = TRUE)`` (robust
  sandwich SE; :func:`metsurv.stats.cox.cox`); unadjusted: ``coxph`` without weights
  (model-based SE).
* RMST difference at ``horizon``: R ``summary(survfit(...), rmean = horizon)$table``
  ``rmean`` and ``se(rmean)`` per arm (:func:`metsurv.stats.rmst.rmst`), difference
  treated - control with ``se = sqrt(se_1^2 + se_0^2)`` and a normal CI (survRM2 ``rmst2``).
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ._result import Result
from ._times import level_label
from .cox import CoxResult, cox
from .km import KMResult, km
from .rmst import RMSTResult, rmst

ANALYSES = ("adjusted", "unadjusted")
_EFFECT_COLUMNS = ["analysis", "measure", "estimate", "se", "lower", "upper", "p", "variance"]


@dataclass(frozen=True, eq=False)
class TreatmentEffects(Result):
    """Treated-vs-control survival comparison, weighted (``adjusted``) and unweighted.

    ``effects`` (also :meth:`to_frame`): one row per analysis ("adjusted", "unadjusted") and
    measure ("hazard_ratio": estimate, lower and upper on the HR scale, ``se`` of the log
    HR; "rmst_difference": months, treated - control), with ``p`` and the variance used;
    with a bootstrap also ``boot_lower``/``boot_upper`` (percentile) and ``boot_se``.
    ``km_*``, ``cox_*``, ``rmst_*``: the underlying results (``*_adjusted`` None without
    weights). ``n``: analysed patients per arm; ``n_excluded``: rows whose treatment is
    neither level (or missing); ``n_zero_weight``: rows dropped for a weight of 0.
    ``boot_curves``: percentile limits of the adjusted curves at each of their own times
    (None without a bootstrap); ``boot_failed``: resamples that could not be fitted."""

    treatment: str
    treated: Any
    control: Any
    time: str
    event: str
    weights: str | None
    n: dict[str, int]
    n_excluded: int
    n_zero_weight: int
    horizon: float
    conf_level: float
    times: tuple[float, ...]
    effects: pd.DataFrame
    km_adjusted: KMResult | None
    km_unadjusted: KMResult
    cox_adjusted: CoxResult | None
    cox_unadjusted: CoxResult
    rmst_adjusted: RMSTResult | None
    rmst_unadjusted: RMSTResult
    bootstrap: int = 0
    seed: int | None = None
    boot_failed: int = 0
    boot_curves: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        return self.effects.copy()

    def survival(self, times: Sequence[float] | None = None) -> pd.DataFrame:
        """Survival per analysis and arm at ``times`` (default: those given): columns
        analysis, group, time, n_risk, estimate, std_err, lower, upper (R ``summary(fit,
        times, extend = TRUE)``; ``n_risk`` a sum of weights when weighted)."""
        t = self.times if times is None else tuple(times)
        frames = [fit.survival_at(t).assign(analysis=name)
                  for name, fit in (("adjusted", self.km_adjusted),
                                    ("unadjusted", self.km_unadjusted)) if fit is not None]
        out = pd.concat(frames, ignore_index=True)
        return out[["analysis", *[c for c in out.columns if c != "analysis"]]]

    def _html_head(self) -> str:
        w = f"weighted by {self.weights}" if self.weights else "no weights (unadjusted only)"
        n = ", ".join(f"{k}: {v}" for k, v in self.n.items())
        boot = f"; bootstrap {self.bootstrap} resamples (seed {self.seed})" if self.bootstrap else ""
        return (f"<b>TreatmentEffects</b> {self.treatment} {self.treated} vs {self.control} "
                f"({n}), {w}; RMST to {self.horizon:g} months{boot}")

    def plot(self, ax: Any = None, *, ci: bool = True, unadjusted: bool = False,
             max_time: float | None = None) -> Any:
        """Draw the adjusted (weighted) survival curves per arm into ``ax`` (a new
        notebook-sized figure without it) and return the axes.

        Okabe-Ito colours with distinct line styles (treated first colour); shaded
        pointwise CIs (``ci``): the bootstrap percentile band when there is one, else R's
        (variance treating the weights as fixed). ``unadjusted``: the unweighted curves as
        thin dotted lines for comparison. ``max_time``: axis end in months (default: the
        last time, at most 15 years). Without weights the unadjusted curves are drawn.
        """
        from ..report.plotting import _new_axes, notebook_style
        from ..report.style import LINESTYLES, PALETTE

        fit = self.km_adjusted if self.km_adjusted is not None else self.km_unadjusted
        adjusted = self.km_adjusted is not None
        last = max(float(c.table["time"].replace(np.inf, np.nan).max()) for c in fit.curves)
        end = float(max_time) if max_time is not None else min(last, 180.0)
        new = ax is None
        with notebook_style():
            ax = _new_axes(ax)
            for i, label in enumerate((str(self.treated), str(self.control))):
                curve = fit.curve(label)
                colour, style = PALETTE[i], LINESTYLES[i]
                st = curve.steps()
                st = st[st["time"] <= end]
                x = np.append(st["time"].to_numpy(), end)
                y = np.append(st["estimate"].to_numpy(), st["estimate"].iloc[-1])
                name = f"{label}, {'weighted' if adjusted else 'unweighted'} (n = {curve.n})"
                ax.step(x, y, where="post", color=colour, linestyle=style, lw=1.6, label=name)
                if ci:
                    lo, hi = self._band(curve, label, st)
                    ax.fill_between(x, np.append(lo, lo[-1]), np.append(hi, hi[-1]),
                                    step="post", color=colour, alpha=0.15, lw=0)
                if unadjusted and adjusted:
                    u = self.km_unadjusted.curve(label).steps()
                    u = u[u["time"] <= end]
                    ax.step(np.append(u["time"], end), np.append(u["estimate"],
                                                                 u["estimate"].iloc[-1]),
                            where="post", color=colour, linestyle=":", lw=0.9, alpha=0.8,
                            label=f"{label}, unweighted")
            ax.set_xlim(0, end)
            ax.set_ylim(0, 1.02)
            ax.set_xlabel(f"Months ({self.time})")
            ax.set_ylabel("Survival probability")
            band = ("bootstrap percentile band" if self.boot_curves is not None
                    else "pointwise CI, weights fixed") if ci else ""
            hr = self.effects.iloc[0]
            kind = "robust SE" if adjusted else "model SE"
            ax.set_title(f"{'Weighted' if adjusted else 'Unweighted'} Kaplan-Meier, "
                         f"{self.treated} vs {self.control}: HR {hr['estimate']:.2f} "
                         f"({self.conf_level:.0%} CI {hr['lower']:.2f}-{hr['upper']:.2f}, "
                         f"{kind})" + (f"\nshaded: {band}" if band else ""),
                         fontsize="small")
            ax.legend(loc="lower left", fontsize="small", frameon=False)
            if new:
                ax.figure.tight_layout()
        return ax

    def _band(self, curve: Any, label: str, st: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """CI limits at the step times ``st``: bootstrap percentiles when present."""
        if self.boot_curves is None:
            return (st["lower"].fillna(0.0).to_numpy(), st["upper"].fillna(1.0).to_numpy())
        b = self.boot_curves[self.boot_curves["group"] == label]
        idx = np.searchsorted(b["time"].to_numpy(), st["time"].to_numpy(), side="right") - 1
        lo = np.where(idx < 0, 1.0, b["lower"].to_numpy()[np.maximum(idx, 0)])
        hi = np.where(idx < 0, 1.0, b["upper"].to_numpy()[np.maximum(idx, 0)])
        return lo, hi


def _analysis_frame(data: Any, time: str, event: str, treatment: str, treated: Any,
                    control: Any, weights: str | None
                    ) -> tuple[pd.DataFrame, int, int, str, str]:
    frame = getattr(data, "patients", data)
    for col in (time, event, treatment, weights):
        if col is not None and col not in frame.columns:
            raise DataError(f"column {col!r} is not in the data; columns are "
                            f"{', '.join(map(str, frame.columns))}", column=col)
    t_label, c_label = str(level_label(treated)), str(level_label(control))
    if t_label == c_label:
        raise ValueError(f"treated and control must differ, both are {treated!r}")
    codes, uniques = pd.factorize(frame[treatment].to_numpy(dtype=object, na_value=None))
    names = [str(level_label(u)) for u in uniques]  # per distinct value, not per row
    text = np.append(np.array(names, dtype=object), None)[np.where(codes < 0, len(names),
                                                                   codes)]
    keep = np.isin(text, [t_label, c_label])
    for level, label in ((treated, t_label), (control, c_label)):
        if label not in names:
            raise DataError(f"column {treatment!r} has no patient with level {level!r}; its "
                            f"levels are {sorted(names)}", column=treatment)
    df = frame.loc[keep].copy()
    df[treatment] = pd.Categorical(text[keep], categories=[t_label, c_label])
    n_zero = 0
    if weights is not None:
        w = pd.to_numeric(df[weights], errors="coerce")
        zero = (w == 0).to_numpy()
        n_zero = int(zero.sum())
        df = df.loc[~zero]
    return df, int((~keep).sum()), n_zero, t_label, c_label


def _hr_row(fit: CoxResult, analysis: str, variance: str) -> dict[str, Any]:
    row = fit.to_frame().iloc[0]
    se = fit.robust_se[0] if fit.robust_se is not None else fit.se[0]
    return {"analysis": analysis, "measure": "hazard_ratio", "estimate": float(row["hr"]),
            "se": float(se), "lower": float(row["lower"]), "upper": float(row["upper"]),
            "p": float(row["p"]), "variance": variance}


def _rmst_row(fit: RMSTResult, treated: str, analysis: str) -> dict[str, Any]:
    c = fit.contrasts
    row = c.loc[c["group"] == treated].iloc[0]
    return {"analysis": analysis, "measure": "rmst_difference",
            "estimate": float(row["difference"]), "se": float(row["se"]),
            "lower": float(row["lower"]), "upper": float(row["upper"]),
            "p": float(row["p_value"]),
            "variance": "R survmean per arm, sqrt(se1^2 + se0^2)"}


def _one_draw(sample: pd.DataFrame, spec: dict[str, Any], grid: dict[str, np.ndarray]
              ) -> tuple[float, float, dict[str, np.ndarray]]:
    w = spec["weights"]
    fit = cox(sample, [spec["treatment"]], reference={spec["treatment"]: spec["control"]},
              time=spec["time"], event=spec["event"], weights=w, robust=False,
              start=False)
    r = rmst(sample, spec["horizon"], by=spec["treatment"], time=spec["time"],
             event=spec["event"], reference=spec["control"], beyond_follow_up="extend",
             start=False, weights=w)
    curves = km(sample, by=spec["treatment"], time=spec["time"], event=spec["event"],
                start=False, weights=w)
    at = {g: curves.curve(g).at(t)["estimate"].to_numpy() for g, t in grid.items()}
    diff = r.contrasts.loc[r.contrasts["group"] == spec["treated"], "difference"]
    return float(fit.coef[0]), float(diff.iloc[0]), at


def _bootstrap(df: pd.DataFrame, spec: dict[str, Any], grid: dict[str, np.ndarray], b: int,
               seed: int | None, refit: Callable[[pd.DataFrame], Any] | None
               ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], int]:
    """B patient resamples (with replacement, the same size): log HR, RMST difference and
    the curves at ``grid``; a resample that cannot be fitted (an arm without events) is
    counted and left out."""
    rng = np.random.default_rng(seed)
    n = len(df)
    log_hr, diff = np.full(b, np.nan), np.full(b, np.nan)
    surv = {g: np.full((b, t.size), np.nan) for g, t in grid.items()}
    failed = 0
    for i in range(b):  # loop over resamples, not patients
        sample = df.iloc[rng.integers(0, n, n)].reset_index(drop=True)
        try:
            if refit is not None:
                sample[spec["weights"]] = np.asarray(refit(sample), dtype=float)
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                log_hr[i], diff[i], at = _one_draw(sample, spec, grid)
        except (DataError, KeyError, ValueError, IndexError):
            failed += 1
            continue
        for g in grid:
            surv[g][i] = at[g]
    return log_hr, diff, surv, failed


def treatment_effects(
    data: Any,
    treatment: str,
    treated: Any,
    control: Any,
    weights: str | None = None,
    horizon: float | None = None,
    *,
    time: str = "os_months",
    event: str = "os_event",
    times: Sequence[float] = (12.0, 36.0, 60.0),
    conf_type: str = "log-log",
    conf_level: float = 0.95,
    bootstrap: int = 0,
    seed: int | None = None,
    refit: Callable[[pd.DataFrame], Any] | None = None,
) -> TreatmentEffects:
    """Compare ``treated`` with ``control`` on survival, weighted and unweighted.

    Rows whose ``treatment`` is neither level (or missing) are left out and counted
    (``n_excluded``); rows with a weight of 0 (e.g. trimmed) are left out and counted
    (``n_zero_weight``: R ``coxph`` refuses them; they change no Kaplan-Meier estimate).
    Delayed entry is not used (``start=False`` throughout).

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient (a Cohort: its ``patients``).
    treatment : str
        The treatment column; levels are compared as text (``str(level)``).
    treated, control : level
        The two levels compared; the HR and RMST difference are treated vs control.
    weights : str, optional
        Case-weight column (finite, >= 0), e.g. ``PropensityResult.data["weight"]``. None:
        only the unadjusted analysis (``*_adjusted`` None).
    horizon : float, optional
        RMST horizon in months. Default: the smaller of the two arms' last follow-up times
        (survRM2 ``rmst2``'s default tau). A horizon after an arm's last follow-up carries
        its curve forward with a warning (see :func:`metsurv.stats.rmst.rmst`).
    time, event : str
        Follow-up (months) and event (1/0) columns.
    times : sequence of float
        Times of :meth:`TreatmentEffects.survival` (months).
    conf_type, conf_level
        Kaplan-Meier CI transform and level (R ``conf.type``, ``conf.int``); the level
        also sets the HR and RMST intervals.
    bootstrap : int
        Number of patient resamples for percentile intervals (0: none). Each resample
        refits the weighted Cox model, the weighted RMST and the weighted curves.
    seed : int, optional
        Seed of the resampling (``numpy.random.default_rng``): same seed, same intervals.
    refit : callable, optional
        ``refit(resample) -> weights`` (array, one per row of the resample, which has every
        column of ``data``): re-estimates the weights in each resample (e.g. a propensity
        refit). Without it the resampled rows keep their weights. Needs ``weights``.

    Returns
    -------
    TreatmentEffects
        ``effects`` / ``to_frame()`` (HR and RMST difference, adjusted and unadjusted),
        ``survival()``, ``plot()``, the underlying km / cox / rmst results.

    Raises
    ------
    DataError
        A column is absent, a level has no patient, a weight is missing or negative
        among the compared rows, an arm has no events (Cox).
    ValueError
        ``treated`` equals ``control``; ``bootstrap`` negative; ``refit`` without weights.

    Examples
    --------
    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11, 7, 6],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1, 0, 1],
    ...                    "approach": ["vats", "thoracotomy"] * 5,
    ...                    "w": [1.2, 0.8, 1.0, 1.1, 0.9, 1.3, 0.7, 1.0, 1.0, 0.9]})
    >>> res = treatment_effects(df, "approach", "vats", "thoracotomy", weights="w", horizon=10)
    >>> res.to_frame()[["analysis", "measure"]].values.tolist()
    [['adjusted', 'hazard_ratio'], ['adjusted', 'rmst_difference'], ['unadjusted', 'hazard_ratio'], ['unadjusted', 'rmst_difference']]
    """
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be a number of resamples >= 0, got {bootstrap}")
    if refit is not None and weights is None:
        raise ValueError("refit re-estimates weights: give the weights column too")
    df, n_excluded, n_zero, t_label, c_label = _analysis_frame(
        data, time, event, treatment, treated, control, weights)
    if horizon is None:
        t = pd.to_numeric(df[time], errors="coerce")
        horizon = float(t.groupby(df[treatment], observed=True).max().min())
    horizon = float(horizon)
    ref = {treatment: c_label}
    common = {"time": time, "event": event, "start": False}
    fits: dict[str, Any] = {}
    rows = []
    for analysis, w in (("adjusted", weights), ("unadjusted", None)):
        if analysis == "adjusted" and weights is None:
            fits.update(km_adjusted=None, cox_adjusted=None, rmst_adjusted=None)
            continue
        k = km(df, by=treatment, conf_type=conf_type, conf_level=conf_level, times=times,
               weights=w, **common)
        c = cox(df, [treatment], reference=ref, weights=w, robust=w is not None,
                conf_level=conf_level, **common)
        r = rmst(df, horizon, by=treatment, reference=c_label, conf_level=conf_level,
                 weights=w, **common)
        fits.update({f"km_{analysis}": k, f"cox_{analysis}": c, f"rmst_{analysis}": r})
        rows.append(_hr_row(c, analysis, "robust sandwich (R coxph robust = TRUE), weights "
                                         "fixed" if w else "model-based (R coxph)"))
        rows.append(_rmst_row(r, t_label, analysis))
    effects = pd.DataFrame(rows, columns=_EFFECT_COLUMNS)
    notes = [w for f in fits.values() if f is not None for w in f.warnings]
    boot_curves, failed = None, 0
    if bootstrap:
        main = fits["km_adjusted"] or fits["km_unadjusted"]
        grid = {g: main.curve(g).table["time"].to_numpy(float) for g in (t_label, c_label)}
        spec = {"treatment": treatment, "treated": t_label, "control": c_label,
                "time": time, "event": event, "weights": weights, "horizon": horizon}
        log_hr, diff, surv, failed = _bootstrap(df, spec, grid, bootstrap, seed, refit)
        a = (1 - conf_level) / 2
        qs = [a, 1 - a]
        boot = {"hazard_ratio": (np.exp(np.nanquantile(log_hr, qs)), np.nanstd(log_hr, ddof=1)),
                "rmst_difference": (np.nanquantile(diff, qs), np.nanstd(diff, ddof=1))}
        analysis = "adjusted" if weights is not None else "unadjusted"
        for col in ("boot_lower", "boot_upper", "boot_se"):
            effects[col] = np.nan
        for measure, (lim, se) in boot.items():
            at = (effects["analysis"] == analysis) & (effects["measure"] == measure)
            effects.loc[at, ["boot_lower", "boot_upper", "boot_se"]] = [lim[0], lim[1], se]
        boot_curves = pd.concat([pd.DataFrame({
            "group": g, "time": grid[g],
            "lower": np.nanquantile(surv[g], a, axis=0),
            "upper": np.nanquantile(surv[g], 1 - a, axis=0)}) for g in grid],
            ignore_index=True)
        if failed:
            notes.append(f"{failed} of {bootstrap} bootstrap resamples could not be fitted "
                         "(an arm without events) and were left out")
    return TreatmentEffects(
        treatment=treatment, treated=treated, control=control, time=time, event=event,
        weights=weights,
        n={t_label: int((df[treatment] == t_label).sum()),
           c_label: int((df[treatment] == c_label).sum())},
        n_excluded=n_excluded, n_zero_weight=n_zero, horizon=horizon, conf_level=conf_level,
        times=tuple(float(x) for x in times), effects=effects, bootstrap=int(bootstrap),
        seed=seed, boot_failed=failed, boot_curves=boot_curves,
        warnings=tuple(dict.fromkeys(notes)), **fits)
