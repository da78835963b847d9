"""Simulation studies of survival methods on synthetic cohorts (ADEMP, Morris et al. 2019).

Aims, Data-generating mechanism, Estimands, Methods, Performance measures (Morris TP, White
IR, Crowther MJ. Using simulation studies to evaluate statistical methods. Stat Med 2019;
38:2074-2102): each replicate draws a cohort from a preset of :mod:`metsurv.synthetic`
(the data-generating mechanism, with known truth), loads it as the package loads any
registry export (:func:`metsurv.load_cohort`), and runs one named analysis (the method).
The replicates run on :func:`metsurv.replicate.run_replicates` (in-process, a local Dask
cluster, or a scheduler), replicate k always with the same random stream, so the result
does not depend on where it ran. :func:`summarise` gives the performance measures of
Morris et al. (their Table 6) with their Monte Carlo standard errors.

Analyses (``analysis=``):

- ``cox``: :func:`metsurv.stats.cox` on ``covariates`` (default: the columns of the
  preset's ``ph`` model). Truth of a term ``col[level]``: the stated conditional log HR of
  the ``ph`` model, b(level) - b(reference) with b = ``manifest["true_parameters"]["ph"]
  ["log_hr"]`` (0 for levels it does not name); unknown (NaN) with ``outcome="calibrated"``.
- ``logrank``: :func:`metsurv.stats.logrank` by ``covariates[0]``; the rejection rate (no
  estimate).
- ``compare``: :func:`metsurv.stats.compare_treatments` (IPTW, ATE) of the synthetic
  treatment (needs ``treatment_effect``) with ``covariates`` as confounders (default
  number of metastases, DFI, laterality); terms ``iptw`` (adjusted) and ``unadjusted``
  log HRs, both against the marginal ATE log HR of
  :func:`metsurv.synthetic.treatment_truth`.
- ``counting_process``: :func:`metsurv.stats.counting_process_cox`, repeat resection as a
  time-dependent covariate; truth 0 with ``outcome="ph"`` (repeat resection has no effect).
- ``naive``: :func:`metsurv.stats.naive_repeat_resection_comparison` ("ever re-operated" as
  a baseline factor); truth 0 with ``outcome="ph"``: its bias is the immortal time.

>>> table = pd.DataFrame({"replicate": [0, 1, 2, 3], "term": "x", "truth": 0.5,
...                       "estimate": [0.4, 0.6, 0.5, 0.7], "se": 0.1,
...                       "lower": [0.2, 0.4, 0.3, 0.55], "upper": [0.6, 0.8, 0.7, 0.95],
...                       "p": [0.01, 0.2, 0.03, 0.04]})
>>> s = summarise(table)[0]
>>> round(s["bias"]["estimate"], 6), s["coverage"]["estimate"], s["rejection"]["estimate"]
(0.05, 0.75, 0.75)
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import DataError
from metsurv.stats._result import json_safe

ANALYSES = ("cox", "logrank", "compare", "counting_process", "naive")
#: default confounders of the ``compare`` analysis (the synthetic treatment's assignment)
COMPARE_CONFOUNDERS = ("n_metastases_group", "dfi_group", "laterality")
_Z975 = 1.959963984540054
#: fewest patients per replicate: below this, factor levels go missing from most cohorts and
#: the fits separate or fail, so the summary would describe the failures, not the method
MIN_N = 20
_INFINITE = re.compile(r"Loglik converged before variable [\d,]+ \((.*)\); coefficient may "
                       r"be infinite")


@dataclass(frozen=True)
class SimulationResult:
    """A simulation study: per-replicate rows, failures and the performance summary.

    ``table`` has one row per replicate and term (``replicate``, ``term``, ``truth``,
    ``estimate``, ``se``, ``lower``, ``upper``, ``p``, ``excluded``: why a bad fit's
    estimate was set to NaN and left out of the summary, "" otherwise); ``failed`` one
    row per failed
    replicate (``replicate``, ``seed``, ``error``); ``summary`` the list of
    :func:`summarise`. ``to_dict()`` is the ``metsurv simulate --json`` object.
    """

    design: dict[str, Any]
    replicates: int
    seed: int
    table: pd.DataFrame
    failed: pd.DataFrame
    summary: list[dict[str, Any]]
    backend: str = field(default="", compare=False)
    #: what the reader must know to read the summary (e.g. a truth the model cannot reach)
    warnings: tuple[str, ...] = ()

    @property
    def n_failed(self) -> int:
        return int(len(self.failed))

    def to_dict(self) -> dict[str, Any]:
        failed = [{"replicate": int(r.replicate), "seed": str(r.seed), "error": str(r.error)}
                  for r in self.failed.itertuples(index=False)]
        return json_safe({"design": self.design, "replicates": self.replicates,
                           "seed": self.seed, "n_failed": self.n_failed, "failed": failed,
                           "summary": self.summary, "warnings": list(self.warnings)})


def _measure(value: float, mcse: float) -> dict[str, float]:
    return {"estimate": float(value), "mcse": float(mcse)}


def summarise(table: pd.DataFrame, alpha: float = 0.05) -> list[dict[str, Any]]:
    """Performance measures per term with Monte Carlo SEs (Morris et al. 2019, Table 6).

    Over the n_sim replicates of a term with a finite estimate (theta_i, its model SE s_i,
    CI [l_i, u_i], p value p_i; truth theta):

    - bias = mean(theta_i) - theta; MCSE = EmpSE / sqrt(n_sim);
    - EmpSE = sqrt(sum (theta_i - mean)^2 / (n_sim - 1)); MCSE = EmpSE / sqrt(2 (n_sim - 1));
    - ModSE = sqrt(mean(s_i^2)); MCSE = sqrt(Var(s_i^2) / (4 n_sim ModSE^2)), Var with
      divisor n_sim - 1;
    - coverage = mean(l_i <= theta <= u_i); MCSE = sqrt(cov (1 - cov) / n_sim);
    - rejection = mean(p_i <= alpha) (power, or type I error when the truth is 0); MCSE =
      sqrt(rej (1 - rej) / n_sim), over the replicates with a finite p.

    Parameters
    ----------
    table : DataFrame
        One row per replicate and term: ``term``, ``truth``, ``estimate``, ``se``,
        ``lower``, ``upper``, ``p`` (NaN where not defined: a log-rank test has no
        estimate; an unknown truth gives NaN bias and coverage).
    alpha : float
        Level of the tests counted as rejections.

    Returns
    -------
    list of dict
        Per term, in order of first appearance: ``term``, ``n`` (replicates with an
        estimate), ``truth``, ``mean``, and ``bias``, ``empirical_se``, ``model_se``,
        ``coverage``, ``rejection``, each ``{"estimate", "mcse"}`` (NaN when undefined).
    """
    out = []
    for term in pd.unique(table["term"]):
        t = table.loc[table["term"] == term]
        est = t["estimate"].to_numpy(float)
        ok = np.isfinite(est)
        theta = t["truth"].to_numpy(float)
        truth = float(theta[0]) if theta.size else float("nan")
        x = est[ok]
        n = int(x.size)
        nan = float("nan")
        mean = float(x.mean()) if n else nan
        emp = float(x.std(ddof=1)) if n > 1 else nan
        bias = mean - truth
        bias_mc = emp / math.sqrt(n) if n > 1 else nan
        emp_mc = emp / math.sqrt(2 * (n - 1)) if n > 1 else nan
        var = t["se"].to_numpy(float)[ok] ** 2
        var = var[np.isfinite(var)]
        if var.size > 1:
            mod = float(math.sqrt(var.mean()))
            mod_mc = float(math.sqrt(var.var(ddof=1) / (4 * var.size * mod**2))) if mod > 0 \
                else nan
        else:
            mod = mod_mc = nan
        lo, hi = t["lower"].to_numpy(float)[ok], t["upper"].to_numpy(float)[ok]
        if n and math.isfinite(truth) and np.isfinite(lo).all() and np.isfinite(hi).all():
            cov = float(((lo <= truth) & (truth <= hi)).mean())
            cov_mc = math.sqrt(cov * (1 - cov) / n)
        else:
            cov = cov_mc = nan
        p = t["p"].to_numpy(float)
        p = p[np.isfinite(p)]
        if p.size:
            rej = float((p <= alpha).mean())
            rej_mc = math.sqrt(rej * (1 - rej) / p.size)
        else:
            rej = rej_mc = nan
        out.append({"term": str(term), "n": n, "truth": truth, "mean": mean,
                    "bias": _measure(bias, bias_mc), "empirical_se": _measure(emp, emp_mc),
                    "model_se": _measure(mod, mod_mc), "coverage": _measure(cov, cov_mc),
                    "rejection": _measure(rej, rej_mc)})
    return out


# --- one replicate ------------------------------------------------------------------------


def _row(term: str, truth: float, estimate: float, se: float, lower: float, upper: float,
         p: float, bad: str | None = None) -> dict[str, Any]:
    """One table row; a bad fit (``bad``: why; or an estimate with a non-finite or zero SE)
    gets estimate, se, limits and p NaN and the reason in ``excluded``."""
    if bad is None:
        if not math.isfinite(float(estimate)):
            bad = "not estimable"
        elif not (math.isfinite(float(se)) and float(se) > 0):
            bad = "SE 0 or non-finite"
    if bad:
        estimate = se = lower = upper = p = float("nan")
    return {"term": term, "truth": float(truth), "estimate": float(estimate),
            "se": float(se), "lower": float(lower), "upper": float(upper), "p": float(p),
            "excluded": bad or ""}


def _cox_bad(fit: Any) -> dict[str, str]:
    """Terms of a :func:`metsurv.stats.cox` fit whose estimate must not be summarised, with
    why: not estimable (NaN, R's NA), SE 0 or non-finite, or named in R's "Loglik
    converged before variable k (term); coefficient may be infinite" (monotone likelihood;
    every term when the unnamed "one or more coefficients may be infinite" is given)."""
    bad: dict[str, str] = {}
    for term, b, s in zip(fit.terms, fit.coef, fit.se, strict=True):
        if not math.isfinite(float(b)):
            bad[term] = "not estimable"
        elif not (math.isfinite(float(s)) and float(s) > 0):
            bad[term] = "SE 0 or non-finite"
    for w in fit.warnings:
        m = _INFINITE.search(w)
        named = m.group(1).split(", ") if m else (
            list(fit.terms) if "coefficients may be infinite" in w else [])
        for term in named:
            if term in fit.terms:
                bad.setdefault(term, "coefficient may be infinite")
    return bad


def cox_truth(term: str, reference: dict[str, Any], log_hr: dict[str, float] | None) -> float:
    """True conditional log HR of a Cox term ``col[level]`` against the fitted reference
    level: b(level) - b(reference), b from the ``ph`` model's ``log_hr`` (``"col=level"``
    keys; 0 for a level not named). NaN without a ``ph`` model (``log_hr`` None) or for an
    interaction.

    >>> cox_truth("dfi_group[0-11]", {"dfi_group": ">=36"}, {"dfi_group=0-11": 0.45})
    0.45
    >>> cox_truth("complete_resection[False]", {"complete_resection": True},
    ...           {"complete_resection=False": 0.8})
    0.8
    """
    if log_hr is None or ":" in term:
        return float("nan")
    if "[" not in term:  # a numeric column: the ph model gives it no effect unless named
        return float(log_hr.get(term, 0.0))
    col, level = term[:-1].split("[", 1)
    ref = str(reference.get(col))
    return float(log_hr.get(f"{col}={level}", 0.0) - log_hr.get(f"{col}={ref}", 0.0))


def _cohort(preset: str, n: int, outcome: str, treatment_effect: float | None,
            rng: np.random.Generator):
    import metsurv
    from metsurv.synthetic import generate

    seed = int(rng.integers(0, 2**63 - 1))
    c = generate(preset, n=n, seed=seed, outcome=outcome, treatment_effect=treatment_effect)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cohort = metsurv.load_cohort(c.patients, resections=c.resections)
    return c, cohort


def _replicate(rng: np.random.Generator, index: int, design: dict[str, Any]
               ) -> list[dict[str, Any]]:
    """One replicate of :func:`simulate` (module level: picklable for Dask)."""
    from metsurv import stats

    c, cohort = _cohort(design["preset"], design["n"], design["outcome"],
                        design["treatment_effect"], rng)
    analysis = design["analysis"]
    covariates = design["covariates"]
    ph = c.manifest["true_parameters"].get("ph") if design["outcome"] == "ph" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if analysis == "cox":
            fit = stats.cox(cohort, covariates)
            log_hr = None if ph is None else dict(ph["log_hr"])
            treatment = c.manifest["true_parameters"].get("treatment")
            if log_hr is not None and treatment:  # the synthetic treatment's stated effect
                log_hr[f"{treatment['column']}={treatment['treated']}"] = float(
                    treatment["log_hr"])
            z = _Z975
            bad = _cox_bad(fit)
            with np.errstate(divide="ignore", invalid="ignore"):
                return [_row(term, cox_truth(term, fit.references, log_hr), b, s,
                             b - z * s, b + z * s, 2 * _norm_sf(abs(b / s)) if s > 0
                             else float("nan"), bad.get(term))
                        for term, b, s in zip(fit.terms, fit.coef, fit.se, strict=True)]
        if analysis == "logrank":
            r = stats.logrank(cohort, covariates[0])
            nan = float("nan")
            return [_row(covariates[0], nan, nan, nan, nan, nan, r.p, "")]
        if analysis == "compare":
            tr = c.manifest["true_parameters"]["treatment"]
            r = stats.compare_treatments(cohort, tr["column"], (tr["treated"], tr["control"]),
                                         covariates)
            e = r.effects.loc[r.effects["measure"] == "hazard_ratio"].set_index("analysis")
            truth = design["truth"]
            return [_row(name, truth, math.log(e.at[key, "estimate"]), e.at[key, "se"],
                         math.log(e.at[key, "lower"]), math.log(e.at[key, "upper"]),
                         e.at[key, "p"])
                    for name, key in (("iptw", "adjusted"), ("unadjusted", "unadjusted"))]
        truth = 0.0 if design["outcome"] == "ph" else float("nan")
        if analysis == "counting_process":
            t = stats.counting_process_cox(cohort).table
            return [_row(str(r.term), truth, r.coef, r.se, math.log(r.lower),
                         math.log(r.upper), r.p) for r in t.itertuples(index=False)]
        r = stats.naive_repeat_resection_comparison(cohort, i_understand_immortal_time_bias=True)
        lo, hi = math.log(r.hr_lower), math.log(r.hr_upper)
        return [_row("repeat_resection[True] (naive)", truth, math.log(r.hr),
                     (hi - lo) / (2 * _Z975), lo, hi, r.cox_p)]


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _default_covariates(analysis: str, preset: str) -> list[str]:
    from metsurv.synthetic import get_preset

    if analysis == "compare":
        return list(COMPARE_CONFOUNDERS)
    if analysis == "cox":
        return list(dict.fromkeys(k.split("=", 1)[0] for k in get_preset(preset).ph.log_hr))
    if analysis == "logrank":
        return ["n_metastases_group"]
    return []


def _first_line(error: Any) -> str:
    lines = [x.strip() for x in str(error).strip().splitlines() if x.strip()]
    return lines[-1] if lines else ""


def _check_columns(preset: str, outcome: str, treatment_effect: float | None,
                   covariates: Sequence[str]) -> str:
    """Check every column named by ``covariates`` (``a:b`` interactions split) against one
    small cohort of the preset, generated and loaded as the replicates are; return the
    synthetic treatment's column. Raises DataError naming the column and the valid ones."""
    c, cohort = _cohort(preset, MIN_N, outcome, treatment_effect, np.random.default_rng(0))
    valid = [col for col in cohort.patients.columns if col not in ("patient_id", "source_row")]
    for term in covariates:
        for col in term.split(":"):
            if col not in valid:
                raise DataError(f"covariate {col!r} is not a column of the loaded {preset} "
                                f"cohort; valid columns: {', '.join(valid)}", column=col)
    tr = c.manifest["true_parameters"].get("treatment") or {}
    return str(tr.get("column", "approach"))


def simulate(preset: str, n: int, analysis: str, replicates: int, seed: int = 0, *,
             outcome: str = "ph", treatment_effect: float | None = None,
             covariates: Sequence[str] | None = None, workers: int | None = None,
             scheduler: str | None = None, progress: bool | None = None,
             alpha: float = 0.05) -> SimulationResult:
    """Run a simulation study: ``replicates`` cohorts of ``n`` patients from ``preset``,
    the named analysis on each, and the performance summary of Morris et al. 2019.

    Parameters
    ----------
    preset : str
        A preset of :mod:`metsurv.synthetic` ("irlm1997", "sarcoma").
    n : int
        Patients per replicate cohort.
    analysis : {"cox", "logrank", "compare", "counting_process", "naive"}
        The method (see the module docstring for each analysis' terms and truth).
    replicates : int
        Number of replicate cohorts (>= 2 for the SEs).
    seed : int
        Seed of the study: replicate k uses child k of ``numpy.random.SeedSequence(seed)``
        whatever the backend, and draws its cohort's seed from it.
    outcome : {"ph", "calibrated"}
        Outcome model of :func:`metsurv.synthetic.generate` (stated true log HRs with
        "ph"; the calibrated cure model has no stated truth: bias and coverage are NaN).
    treatment_effect : float, optional
        Conditional log HR of the synthetic treatment (needs ``outcome="ph"``; required by
        ``compare``). Accepted with any analysis, but an analysis that does not use the
        treatment column (``approach``) only sees it in the data: a warning says so.
    covariates : sequence of str, optional
        Cox covariates, the log-rank grouping column (first), or the confounders of
        ``compare``; defaults per analysis.
    workers, scheduler, progress :
        As :func:`metsurv.replicate.run_replicates` (local Dask cluster of ``workers``
        processes, or an existing scheduler's address; in-process by default).
    alpha : float
        Level of the tests whose rejection rate is reported.

    Returns
    -------
    SimulationResult
        Per-replicate table, failed replicates (counted and listed, never dropped) and
        the summary.

    Raises
    ------
    ValueError
        Unknown analysis, preset or outcome; ``compare`` without a treatment effect;
        fewer than 1 replicate or :data:`MIN_N` patients.
    DataError
        A covariate that is not a column of the preset's loaded cohort (checked on one
        small cohort before any replicate runs); every replicate failed (the count and
        the first error).

    Warns
    -----
    UserWarning
        Also kept in ``warnings``: some replicates failed (the summary covers the others
        only); bad fits (not estimable, SE 0 or non-finite, coefficient may be infinite)
        left out of a term's summary, counted per term; a treatment effect the analysis
        does not estimate (it only changes the data: ``cox`` without the treatment column,
        ``logrank`` by another column, ``counting_process``, ``naive``); a Cox model
        without some covariates of the ``ph`` model (non-collapsibility).
    """
    from metsurv.replicate import run_replicates
    from metsurv.synthetic import OUTCOMES, PRESETS, treatment_truth

    if analysis not in ANALYSES:
        raise ValueError(f"analysis must be one of {', '.join(ANALYSES)}, got {analysis!r}")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(sorted(PRESETS))}, got {preset!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if int(replicates) < 1:
        raise ValueError(f"replicates must be positive, got {replicates}")
    if int(n) < MIN_N:
        raise ValueError(f"n must be at least {MIN_N} patients per replicate, got {n}: with "
                         "fewer, factor levels are missing from most cohorts and the fits "
                         "fail or separate, so the summary would describe the failures")
    if analysis == "compare" and treatment_effect is None:
        raise ValueError("analysis 'compare' needs a treatment effect (--treatment-effect, "
                         "a log HR, with --outcome ph)")
    if treatment_effect is not None and outcome != "ph":
        raise ValueError("a treatment effect needs outcome 'ph' (the model with stated true "
                         "log HRs)")
    covs = list(covariates) if covariates else _default_covariates(analysis, preset)
    if analysis in ("cox", "logrank") and not covs:
        raise ValueError(f"analysis {analysis!r} needs covariates")
    treatment_col = _check_columns(preset, outcome, treatment_effect, covs)
    notes: list[str] = []
    analysed = ((analysis == "cox" and any(treatment_col in t.split(":") for t in covs))
                or (analysis == "logrank" and covs[0] == treatment_col)
                or analysis == "compare")
    if treatment_effect is not None and not analysed:
        # kept (not refused): the effect still changes the data-generating mechanism, which
        # is a legitimate scenario (e.g. the Cox model's performance when a treatment it
        # omits acts on the outcome), but the user must know it is not estimated
        notes.append(f"the treatment effect only changes the data ({treatment_col}); "
                     f"analysis {analysis!r} does not analyse {treatment_col}, so no row "
                     "of the summary estimates it")
        warnings.warn(notes[-1], UserWarning, stacklevel=2)
    if analysis == "cox" and outcome == "ph":
        omitted = [c for c in _default_covariates("cox", preset) if c not in covs]
        if omitted:
            # the stated truth is conditional on every covariate of the generating model; a
            # Cox model without some of them estimates an attenuated (non-collapsible) HR
            notes.append(f"the truth is the {preset} ph model's log HR given all its "
                         f"covariates; without {', '.join(omitted)} the Cox estimate is "
                         "attenuated towards 0 (non-collapsibility), so 'bias' and "
                         "'coverage' measure that, not an error of the method")
            warnings.warn(notes[-1], UserWarning, stacklevel=2)
    truth = float("nan")
    if analysis == "compare":
        truth = float(treatment_truth(preset, float(treatment_effect), "ATE"))
    design = {"preset": preset, "n": int(n), "analysis": analysis, "outcome": outcome,
              "treatment_effect": None if treatment_effect is None else float(treatment_effect),
              "covariates": covs, "alpha": float(alpha), "truth": truth}
    res = run_replicates(partial(_replicate, design=design), int(replicates), int(seed),
                         workers=workers, scheduler=scheduler, progress=progress)
    table = res.table
    if len(table) == 0:
        table = pd.DataFrame(columns=["replicate", "term", "truth", "estimate", "se",
                                      "lower", "upper", "p", "excluded"])
    failed = res.failed.reset_index(drop=True)
    if len(failed) and len(failed) >= int(replicates):
        raise DataError(f"all {len(failed)} replicates failed (first error: "
                        f"{_first_line(failed['error'].iloc[0])}); nothing to summarise")
    if len(failed):
        k, r = len(failed), int(replicates)
        notes.append(f"{k} of {r} replicates failed (first error: "
                     f"{_first_line(failed['error'].iloc[0])}); the summary covers the other "
                     f"{r - k} only, which may bias it")
        warnings.warn(notes[-1], UserWarning, stacklevel=2)
    if "excluded" not in table:
        table["excluded"] = ""
    bad = table.loc[table["excluded"].astype(str) != ""]
    if len(bad):
        counts = bad.groupby("term", sort=False).size()
        per = "; ".join(f"{t}: {int(k)}" for t, k in counts.items())
        notes.append(f"bad fits left out of the summary (estimate not estimable, SE 0 or "
                     f"non-finite, or coefficient may be infinite), replicates per term: "
                     f"{per}; the summary's n counts the replicates used")
        warnings.warn(notes[-1], UserWarning, stacklevel=2)
    return SimulationResult(design=design, replicates=int(replicates), seed=int(seed),
                            table=table, failed=failed, summary=summarise(table, alpha),
                            backend=str(getattr(res, "backend", "")), warnings=tuple(notes))
