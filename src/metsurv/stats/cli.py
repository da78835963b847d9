"""The stats side of ``metsurv km`` and ``metsurv cox``: JSON objects and text tables from
an already-loaded patients table. The main CLI (``metsurv.cli``) parses the arguments,
loads the cohort and wires these in; nothing here reads files.

JSON of ``metsurv km --json``::

    {"groups": [{"group", "n", "events", "median", "median_ci": [lo, hi],
                 "survival": [{"time", "estimate", "se", "lower", "upper", "at_risk"}]}],
     (at the --times given, sorted, as R ``summary(fit, times)``: a time after a group's
     last follow-up is left out, as R's default ``extend = FALSE`` does, or with --extend
     kept with at_risk 0 and the last estimate carried forward, R's ``extend = TRUE``;
     without --times at every event time as R ``summary(fit)``)
     "logrank": {"statistic", "df", "p"} | null, "peto": {"statistic", "df", "p"} | null,
     "n_dropped"}

JSON of ``metsurv cox --json``::

    {"n", "events", "loglik", "concordance", "robust", "cluster",
     "references": {covariate: reference level},
     "terms": [{"term", "coef", "se", "robust_se", "hr", "lower", "upper", "p"}],
     "ph_test": [{"term", "chisq", "df", "p"}] (GLOBAL last), "n_dropped"}

"robust_se" is the sandwich SE of R ``coxph(..., robust = TRUE)`` (``--robust``), or with
``--cluster COL`` of ``coxph(... + cluster(COL))`` (which implies robust); then "p",
"lower" and "upper" use it, as R ``summary.coxph`` does. Without either it is ``null``.

Coding of factors: a categorical covariate (text, codes, yes/no) gives one term
``column[level]`` per level against the level in "references", which is the schema's
IRLM reference where there is one (``complete_resection``: True, so the term
``complete_resection[False]`` is incomplete vs complete resection; ``dfi_group``: ">=36"),
else the first level. R's default coding takes the first level (FALSE, alphabetical) and
names terms ``columnlevel``; to reproduce metsurv's numbers in R set the reference first:
``d$complete_resection <- relevel(factor(d$complete_resection), ref = "TRUE")``, then
``coxph(Surv(time, event) ~ complete_resection + ..., d, ties = "efron")``.

Missing values are ``null``; "se" is the standard error of S(t) as R ``summary.survfit``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._result import json_safe
from .cox import cox
from .km import km
from .tests import logrank


def km_json(
    df: Any,
    time: str = "os_months",
    event: str = "os_event",
    by: str | None = None,
    times: Sequence[float] | None = None,
    conf_type: str = "log-log",
    extend: bool = False,
) -> dict[str, Any]:
    """The ``metsurv km --json`` object (see module docstring). ``times`` as R
    ``summary(fit, times = times, extend = extend)``: without ``extend`` a group lists only
    the times up to its last follow-up (where R would stop with "no points selected" for a
    group left with none, its list is empty).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"os_months": [1, 2, 3, 4], "os_event": [1, 0, 1, 1]})
    >>> km_json(df, times=[2, 6])["groups"][0]["survival"][0]["at_risk"]
    3
    >>> [len(km_json(df, times=[2, 6], extend=e)["groups"][0]["survival"]) for e in (False, True)]
    [1, 2]
    """
    fit = km(df, by=by, time=time, event=event, conf_type=conf_type,
             times=sorted(times) if times is not None else None)
    groups = []
    for c in fit.curves:
        if fit.times:
            surv = c.at(fit.times)
            if not extend:  # R summary.survfit findrow: times <= max(fit$time) per curve
                surv = surv[surv["time"] <= c.table["time"].max()]
        else:  # every event time, as R's summary(fit) lists them
            surv = c.table[c.table["n_event"] > 0]
        groups.append(
            {
                "group": c.group,
                "n": c.n,
                "events": c.events,
                "median": c.median,
                "median_ci": [c.median_lower, c.median_upper],
                "survival": [
                    {"time": r.time, "estimate": r.estimate, "se": r.std_err,
                     "lower": r.lower, "upper": r.upper, "at_risk": int(r.n_risk)}
                    for r in surv.itertuples(index=False)
                ],
            }
        )
    tests: dict[str, Any] = {"logrank": None, "peto": None}
    if by is not None and len(fit.curves) > 1:
        for key, rho in (("logrank", 0), ("peto", 1)):
            lr = logrank(df, by=by, rho=rho, time=time, event=event)
            tests[key] = {"statistic": lr.statistic, "df": lr.df, "p": lr.p}
    return json_safe({"groups": groups, **tests, "n_dropped": fit.n_dropped})


def cox_json(
    df: Any,
    time: str = "os_months",
    event: str = "os_event",
    covariates: Sequence[str] = (),
    ties: str = "efron",
    strata: str | Sequence[str] | None = None,
    robust: bool = False,
    cluster: str | None = None,
) -> dict[str, Any]:
    """The ``metsurv cox --json`` object (see module docstring): R ``coxph(Surv(time,
    event) ~ covariates + strata(strata) [+ cluster(cluster)], ties = ties, robust =
    robust)``; ``cluster`` implies ``robust``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1],
    ...                    "complete_resection": [True, False] * 4})
    >>> out = cox_json(df, covariates=["complete_resection"], robust=True)
    >>> out["references"], out["terms"][0]["term"], out["terms"][0]["robust_se"] is None
    ({'complete_resection': True}, 'complete_resection[False]', False)
    """
    fit = cox(df, list(covariates), strata=strata, ties=ties, robust=robust, cluster=cluster,
              time=time, event=event)
    tab = fit.to_frame()
    zph = fit.ph_test().to_frame()
    return json_safe(
        {
            "n": fit.n,
            "events": fit.events,
            "loglik": fit.loglik,
            "concordance": fit.concordance,
            "robust": fit.robust_se is not None,
            "cluster": fit.cluster,
            "references": fit.references,
            "terms": [
                {"term": r.term, "coef": r.coef, "se": r.se, "robust_se": r.robust_se,
                 "hr": r.hr, "lower": r.lower, "upper": r.upper, "p": r.p}
                for r in tab.itertuples(index=False)
            ],
            "ph_test": [
                {"term": r.term, "chisq": r.chisq, "df": int(r.df), "p": r.p}
                for r in zph.itertuples(index=False)
            ],
            "n_dropped": fit.n_dropped,
        }
    )


def _num(x: Any, fmt: str = "{:.3g}") -> str:
    """A number as printed by the text forms (km, cox, irlm): ``fmt`` for floats, ints as
    they are, NA for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return fmt.format(x) if isinstance(x, float) else str(x)


def _p(p: Any) -> str:
    if p is None:
        return "NA"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_km(result: dict[str, Any]) -> str:
    """Human-readable text of a :func:`km_json` object."""
    lines = [f"{'group':<16}{'n':>7}{'events':>8}{'median':>10}   95% CI"]
    for g in result["groups"]:
        lo, hi = g["median_ci"]
        lines.append(f"{str(g['group']):<16}{g['n']:>7}{g['events']:>8}"
                     f"{_num(g['median'], '{:.4g}'):>10}   {_num(lo, '{:.4g}')} - {_num(hi, '{:.4g}')}")
    for g in result["groups"]:
        if g["survival"]:
            lines.append("")
            lines.append(f"{g['group']}: {'time':>8}{'survival':>10}{'se':>8}"
                         f"{'95% CI':>18}{'at risk':>9}")
            pad = " " * (len(str(g["group"])) + 2)
            for s in g["survival"]:
                ci = f"{_num(s['lower'])} - {_num(s['upper'])}"
                lines.append(f"{pad}{_num(s['time'], '{:.6g}'):>8}{_num(s['estimate']):>10}"
                             f"{_num(s['se'], '{:.2g}'):>8}{ci:>18}{s['at_risk']:>9}")
    for key, label in (("logrank", "Log-rank"), ("peto", "Peto-Peto")):
        t = result.get(key)
        if t:
            p = _p(t["p"])
            p = f"< {p[1:]}" if p.startswith("<") else f"= {p}"
            lines.append(f"{label}: chisq = {_num(t['statistic'], '{:.4g}')} on {t['df']} df, "
                         f"p {p}")
    if result.get("n_dropped"):
        lines.append(f"({result['n_dropped']} rows with missing values dropped)")
    return "\n".join(lines)


def format_cox(result: dict[str, Any]) -> str:
    """Human-readable text of a :func:`cox_json` object."""
    lines = [f"n = {result['n']}, events = {result['events']}, "
             f"log-likelihood = {_num(result['loglik'], '{:.6g}')}, "
             f"concordance = {_num(result['concordance'], '{:.3g}')}"]
    if result.get("references"):
        lines.append("reference levels: " + ", ".join(
            f"{k} = {v}" for k, v in result["references"].items()))
    if result.get("robust"):
        cl = result.get("cluster")
        lines.append("CI and p from the robust (sandwich) SE"
                     + (f", clustered on {cl}" if cl else ""))
    lines += ["", f"{'term':<28}{'HR':>8}{'95% CI':>18}{'p':>9}"]
    for t in result["terms"]:
        ci = f"{_num(t['lower'])} - {_num(t['upper'])}"
        lines.append(f"{t['term']:<28}{_num(t['hr']):>8}{ci:>18}{_p(t['p']):>9}")
    lines += ["", "Proportional hazards (cox.zph, KM transform):",
              f"{'term':<28}{'chisq':>8}{'df':>4}{'p':>9}"]
    for z in result["ph_test"]:
        lines.append(f"{z['term']:<28}{_num(z['chisq']):>8}{z['df']:>4}{_p(z['p']):>9}")
    if result.get("n_dropped"):
        lines.append(f"({result['n_dropped']} rows with missing values dropped)")
    return "\n".join(lines)
