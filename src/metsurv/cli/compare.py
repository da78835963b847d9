"""``metsurv compare DATA --treatment COL --levels TREATED,CONTROL --confounders a,b,c``: a
propensity-weighted treatment comparison (:func:`metsurv.stats.compare.compare_treatments`).

JSON of ``metsurv compare --json`` (:meth:`metsurv.stats.compare.Comparison.to_dict`)::

    {"n", "n_by_group", "treatment", "levels", "confounders", "method", "estimand",
     "balance": [{"covariate", "smd_unweighted", "smd_weighted"}],
     "ess": {"treated", "control"},
     "hr": {"estimate", "lower", "upper", "p"[, "fmi", "df"]},
     "unadjusted_hr": {...}, "rmst_difference": {..., "horizon"},
     "unadjusted_rmst_difference": {...}, "excluded": [{"reason", "column", "n"}],
     "imputations", "n_imputed", "seed", "cohort_flow", "warnings"}

"hr" is the weighted Cox hazard ratio of treated vs control with the robust (sandwich) SE
(R ``coxph(Surv(time, event) ~ treatment, weights = w, robust = TRUE)``); with ``--impute M``
it and the RMST difference are pooled over M imputations with Rubin's rules ("fmi": fraction
of missing information). Balance rows are standardized mean differences as cobalt's
``bal.tab`` computes them (SD denominator from the unweighted groups). Every excluded record
is counted: at loading ("cohort_flow") and in the analysis ("excluded").
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from metsurv.errors import CohortError, DataError
from metsurv.format import format_ci, format_num, format_p
from metsurv.schema import level_label

from ._args import add_json, add_source, column_list, non_negative_int
from ._data import survival_input, with_flow
from ._errors import EXIT_OK
from ._output import Notes, catching, emit


def parse_levels(values: pd.Series, text: str, column: str, name: str) -> tuple[Any, Any]:
    """The two values of ``column`` named by ``--levels TREATED,CONTROL``
    (:func:`metsurv.stats.compare.match_levels`).

    Raises
    ------
    CohortError
        Naming the file (``name``), the option and the values present.
    """
    from metsurv.stats.compare import match_levels

    try:
        return match_levels(values, [t for t in text.split(",") if t.strip()], column)
    except DataError as exc:
        raise CohortError(f"{name}: --levels {text!r}: {exc}") from None


def format_comparison(result: dict[str, Any]) -> str:
    """Human-readable text of a ``compare --json`` object."""
    lv = result["levels"]
    t, c = (level_label(result["treatment"], lv[k]) for k in ("treated", "control"))
    imp = (f", {result['imputations']} imputations (Rubin's rules)"
           if result["imputations"] else "")
    lines = [f"{t} (n = {result['n_by_group']['treated']}) vs {c} "
             f"(n = {result['n_by_group']['control']}): {result['method'].upper()} "
             f"{result['estimand']}{imp}",
             "effective sample size: " + ", ".join(
                 f"{k} {format_num(v, '{:.1f}')}" for k, v in result["ess"].items()),
             "", f"{'':<30}{'estimate (95% CI)':<26}{'p':>9}"]
    for label, key, digits in (("HR, weighted (robust SE)", "hr", 2),
                               ("HR, unadjusted", "unadjusted_hr", 2),
                               ("RMST difference, weighted", "rmst_difference", 1),
                               ("RMST difference, unadjusted", "unadjusted_rmst_difference", 1)):
        e = result[key]
        ci = format_ci(e["estimate"], e["lower"], e["upper"], digits=digits)
        lines.append(f"{label:<30}{ci:<26}{format_p(e['p'], label=False):>9}")
    lines.append(f"(RMST to {format_num(result['rmst_difference']['horizon'], '{:.1f}')} "
                 "months)")
    width = max([len("balance: covariate"), *(len(str(b["covariate"]))
                                               for b in result["balance"])]) + 2
    lines += ["", f"{'balance: covariate':<{width}}{'SMD before':>11}{'SMD after':>11}"]
    for b in result["balance"]:
        lines.append(f"{str(b['covariate']):<{width}}"
                     f"{format_num(b['smd_unweighted'], '{:.3f}'):>11}"
                     f"{format_num(b['smd_weighted'], '{:.3f}'):>11}")
    for e in result["excluded"]:
        lines.append(f"excluded: {e['n']} ({e['reason']}, column {e['column']})")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compare", help="propensity-weighted treatment comparison (IPTW / overlap)",
        description="Compare two treatments on survival with propensity-score weights: the "
        "score (R glm binomial), stabilised IPTW or overlap weights, balance (SMD before and "
        "after, as cobalt bal.tab), the weighted KM, Cox HR with robust SE and RMST "
        "difference beside the unadjusted ones; --impute M imputes missing confounders M "
        "times and pools with Rubin's rules.")
    add_source(p, resections=False)
    p.add_argument("--time", help="time column of a plain survival table (default os_months)")
    p.add_argument("--event", help="event column of a plain survival table (default os_event)")
    p.add_argument("--treatment", required=True, metavar="COL", help="treatment column")
    p.add_argument("--levels", required=True, metavar="TREATED,CONTROL",
                   help="the two treatment values, treated first (e.g. vats,thoracotomy)")
    p.add_argument("--confounders", required=True, metavar="A,B,C",
                   help="comma-separated columns of the propensity model")
    p.add_argument("--method", choices=["iptw", "overlap"], default="iptw",
                   help="stabilised IPTW (default) or overlap weights (the overlap "
                   "population, ATO)")
    p.add_argument("--estimand", choices=["ate", "att"], default="ate",
                   help="IPTW target: ate (default) or att; overlap weights take ate only")
    p.add_argument("--horizon", type=float, default=None, metavar="MONTHS",
                   help="RMST horizon in months (default: the shorter arm's follow-up)")
    p.add_argument("--impute", type=non_negative_int, default=0, metavar="M",
                   help="impute missing confounders M times (M >= 2) and pool; 0 (default): "
                   "rows with a missing confounder are left out and counted")
    p.add_argument("--seed", type=int, default=0, help="seed of the imputations")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from metsurv.stats.compare import compare_treatments

    confounders = column_list(args.confounders, "--confounders",
                              "n_metastases_group,dfi_group")
    if args.treatment in confounders:
        raise CohortError(f"--treatment {args.treatment!r} is also listed in --confounders")
    if args.impute == 1:
        raise CohortError("--impute 1 cannot be pooled: give 0 (complete cases) or at least "
                          "2 imputations (20 is usual)")
    notes = Notes()
    with catching(notes):
        inp = survival_input(args, [args.treatment, *confounders])
        frame = getattr(inp.data, "patients", inp.data)
        levels = parse_levels(frame[args.treatment], args.levels, args.treatment, inp.name)
        comparison = compare_treatments(
            frame, args.treatment, levels, confounders, method=args.method,
            estimand=args.estimand.upper(), horizon=args.horizon, impute=args.impute,
            seed=args.seed, time=inp.time, event=inp.event)
        result = comparison.to_dict()
        notes.add_result(result)
    from metsurv.stats._result import json_safe

    result = json_safe(result)
    emit(*with_flow(result, format_comparison(result), inp), args.json, notes)
    return EXIT_OK
