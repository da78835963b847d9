"""``metsurv cox``: a Cox proportional-hazards model and its PH test (R ``coxph``, ``cox.zph``).

The JSON and the text are made from the results' ``to_dict()``
(:meth:`metsurv.stats.cox.CoxResult.to_dict`, :meth:`~metsurv.stats.cox.PHTestResult.to_dict`).

JSON of ``metsurv cox --json``::

    {"n", "events", "loglik", "concordance", "robust", "cluster",
     "references": {covariate: reference level},
     "terms": [{"term", "coef", "se", "robust_se", "hr", "lower", "upper", "p"}],
     "ph_test": [{"term", "chisq", "df", "p"}] (GLOBAL last), "n_dropped",
     "ties", "converged", "time", "event", "start", "weights", "warnings"}

A term that cannot be estimated (aliased with earlier terms, or constant within every
stratum; R prints NA) has ``null`` coef, se, hr, limits and p, and a warning names it; an
infinite limit is the string ``"Inf"`` (``"-Inf"``), never ``null``. "warnings" lists the
fit's and the PH test's warnings (also printed on stderr as ``metsurv: warning: ...``), e.g.
R's "Loglik converged before variable k; coefficient may be infinite".

"robust_se" is the sandwich SE of R ``coxph(..., robust = TRUE)`` (``--robust``), or with
``--cluster COL`` of ``coxph(... + cluster(COL))`` (which implies robust); then "p",
"lower" and "upper" use it, as R ``summary.coxph`` does. Without either it is ``null``.
"start" is the entry-time column used (``--start``, or a cohort's ``entry_months`` by
default), "weights" the case-weights column (``--weights``, R ``coxph(weights =)``).

Coding of factors: a categorical covariate (text, codes, yes/no) gives one term
``column[level]`` per level against the level in "references", which is the schema's
IRLM reference where there is one (``complete_resection``: True, so the term
``complete_resection[False]`` is incomplete vs complete resection; ``dfi_group``: ">=36"),
else the first level. R's default coding takes the first level (FALSE, alphabetical) and
names terms ``columnlevel``; to reproduce metsurv's numbers in R set the reference first:
``d$complete_resection <- relevel(factor(d$complete_resection), ref = "TRUE")``, then
``coxph(Surv(time, event) ~ complete_resection + ..., d, ties = "efron")``.

When SOURCE is read as a cohort (no ``--time``/``--event``), the JSON also has
``"cohort_flow": {"read", "excluded": [{"reason", "count"}]}`` and the text starts with a line
saying how many records were read and excluded at loading and why, so that read = analysed +
dropped (``n_dropped``) + excluded always adds up (``metsurv validate`` lists each one).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from metsurv.format import as_float, format_ci, format_num, format_p

from ._args import add_json, add_source, add_survival, column_list
from ._data import check_groups, survival_input, with_flow
from ._errors import EXIT_OK
from ._output import Notes, catching, emit
from .km import _count, _outcome


def cox_json(
    df: Any,
    time: str = "os_months",
    event: str = "os_event",
    covariates: Sequence[str] = (),
    ties: str = "efron",
    strata: str | Sequence[str] | None = None,
    robust: bool | None = None,
    cluster: str | None = None,
    start: str | None = None,
    weights: str | None = None,
) -> dict[str, Any]:
    """The ``metsurv cox --json`` object (see module docstring): R ``coxph(Surv([start,]
    time, event) ~ covariates + strata(strata) [+ cluster(cluster)], weights = weights,
    ties = ties, robust = robust)``; ``cluster`` implies ``robust``; ``robust=None`` is R's
    default (robust with a cluster or with weights that are not whole numbers).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1],
    ...                    "complete_resection": [True, False] * 4})
    >>> out = cox_json(df, covariates=["complete_resection"], robust=True)
    >>> out["references"], out["terms"][0]["term"], out["terms"][0]["robust_se"] is None
    ({'complete_resection': True}, 'complete_resection[False]', False)
    """
    from metsurv.stats.cox import cox

    fit = cox(df, list(covariates), strata=strata, ties=ties, robust=robust, cluster=cluster,
              time=time, event=event, **_outcome(start, weights))
    d = fit.to_dict()
    zph = fit.ph_test().to_dict()
    notes = [*(d.get("warnings") or ()), *(w for w in zph.get("warnings") or ()
                                          if w not in (d.get("warnings") or ()))]
    return {
        "n": d["n"],
        "events": d["events"],
        "loglik": d["loglik"],
        "concordance": d["concordance"],
        "robust": d["robust_se"] is not None,
        "cluster": d["cluster"],
        "references": d["references"],
        "terms": [
            {"term": r["term"], "coef": r["coef"], "se": r["se"], "robust_se": r["robust_se"],
             "hr": r["hr"], "lower": r["lower"], "upper": r["upper"], "p": r["p"]}
            for r in d["table"]
        ],
        "ph_test": [
            {"term": r["term"], "chisq": r["chisq"], "df": _count(r["df"]), "p": r["p"]}
            for r in zph["table"]
        ],
        "n_dropped": d["n_dropped"],
        "ties": d.get("ties", ties),
        "converged": d.get("converged"),
        "time": time,
        "event": event,
        "start": d.get("start"),
        "weights": weights,
        "warnings": notes,
    }


def format_cox(result: dict[str, Any]) -> str:
    """Human-readable text of a :func:`cox_json` object."""
    lines = [f"n = {result['n']}, events = {format_num(result['events'])}, "
             f"log-likelihood = {format_num(result['loglik'], '{:.6g}')}, "
             f"concordance = {format_num(result['concordance'], '{:.3g}')}"]
    if result.get("start"):
        lines.append(f"delayed entry / (start, stop] intervals: start column {result['start']}")
    if result.get("weights"):
        lines.append(f"case weights from column {result['weights']}")
    if result.get("references"):
        lines.append("reference levels: " + ", ".join(
            f"{k} = {v}" for k, v in result["references"].items()))
    if result.get("robust"):
        cl = result.get("cluster")
        lines.append("CI and p from the robust (sandwich) SE"
                     + (f", clustered on {cl}" if cl else ""))
    lines += ["", f"{'term':<28}{'coef':>10}{'HR (95% CI)':>28}{'p':>9}"]
    for t in result["terms"]:
        hr = format_ci(t["hr"], t["lower"], t["upper"], digits=2)
        lines.append(f"{t['term']:<28}{format_num(t['coef'], '{:.4g}'):>10}{hr:>28}"
                     f"{format_p(t['p'], label=False):>9}")
    lines += ["", "Proportional hazards (cox.zph, KM transform):",
              f"{'term':<28}{'chisq':>8}{'df':>4}{'p':>9}"]
    for z in result["ph_test"]:
        lines.append(f"{z['term']:<28}{format_num(z['chisq']):>8}{format_num(z['df']):>4}"
                     f"{format_p(z['p'], label=False):>9}")
    if result.get("n_dropped"):
        lines.append(f"({result['n_dropped']} rows with missing values dropped)")
    if any(as_float(t["coef"]) is None for t in result["terms"]):
        lines.append("NA: not estimable from these data (see the warnings)")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cox", help="Cox proportional-hazards model and PH test",
                       description="Cox model (R coxph) and the proportional-hazards test "
                       "(R cox.zph). Terms that cannot be estimated print as NA.")
    add_source(p, resections=False)
    add_survival(p)
    p.add_argument("--covariates", required=True,
                   help="comma-separated columns; a categorical one is coded against the "
                   "reference level the JSON lists under 'references' (R: relevel())")
    p.add_argument("--ties", choices=["efron", "breslow"], default="efron")
    p.add_argument("--strata", default=None)
    p.add_argument("--robust", action="store_true",
                   help="robust (sandwich) SE, as R coxph(robust = TRUE); without it R's "
                   "default: robust with --cluster or with --weights that are not whole numbers")
    p.add_argument("--cluster", default=None, metavar="COL",
                   help="robust SE clustered on COL, as R cluster(COL); implies --robust")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    covariates = column_list(args.covariates, "--covariates", "age,sex")
    notes = Notes()
    with catching(notes):
        inp = survival_input(args, [*covariates, args.strata, args.cluster, args.start,
                                    args.weights])
        # --cluster may have one value per patient (that is its point): not bounded
        check_groups(inp, {args.strata: "--strata"})
        check_groups(inp, dict.fromkeys(covariates, "--covariates"), categorical_only=True)
        result = cox_json(inp.data, time=inp.time, event=inp.event, covariates=covariates,
                          ties=args.ties, strata=args.strata,
                          robust=True if args.robust else None,
                          cluster=args.cluster, start=args.start, weights=args.weights)
        notes.add_result(result)
    emit(*with_flow(result, format_cox(result), inp), args.json, notes)
    return EXIT_OK
