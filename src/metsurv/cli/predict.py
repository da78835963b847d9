"""``metsurv predict``: one patient's predicted survival from a Cox model fitted to DATA
(R ``survfit(coxph(...), newdata = patient)``; :func:`metsurv.stats.cox.survfit.survfit_coxph`).

JSON of ``metsurv predict --json``::

    {"times": [t, ...], "survival": [S(t), ...], "lower": [...], "upper": [...],
     "std_err": [...] (of the cumulative hazard, R sf$std.err),
     "patient": {covariate: value as parsed}, "covariates": [...], "strata": COL or null,
     "stratum": the patient's stratum or null, "references": {covariate: level},
     "conf_level": 0.95, "conf_type": "log", "ties": "efron",
     "n", "events", "n_dropped", "time", "event", "start", "warnings"}

The lists run over ``--times`` (months when DATA is a cohort); a time after the last
follow-up of the patient's stratum is ``null`` (R's summary leaves it out) with a warning.
Patient values are read as the data's values are: true/false (yes/no, 1/0) for a yes/no
column, a level or its label for a categorical one (case ignored), a number for a numeric
one. A value that is none of these is a one-line error naming the covariate and the
values allowed.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import DataError
from metsurv.format import format_num

from ._args import add_json, add_source, add_survival, column_list
from ._data import check_groups, survival_input, with_flow
from ._errors import EXIT_OK
from ._output import Notes, catching, emit
from .km import _outcome, _times

_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


def parse_patient(text: str, needed: list[str]) -> dict[str, str]:
    """``"a=1,b=x"`` as {"a": "1", "b": "x"}, every name in ``needed`` given once, no
    other (DataError naming the key otherwise).

    >>> parse_patient("complete_resection=true, dfi_group=0-11", ["complete_resection",
    ...               "dfi_group"])
    {'complete_resection': 'true', 'dfi_group': '0-11'}
    """
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" not in part:
            raise DataError(f"--patient: {part!r} is not COLUMN=VALUE (e.g. "
                            "--patient 'complete_resection=true,dfi_group=0-11')")
        key, value = (s.strip() for s in part.split("=", 1))
        if key not in needed:
            raise DataError(f"--patient: {key!r} is not a covariate or stratum of the model "
                            f"({', '.join(needed)})")
        if key in out:
            raise DataError(f"--patient: {key!r} is given twice ({key}={out[key]} and "
                            f"{key}={value}); give each covariate once", column=key)
        out[key] = value
    absent = [c for c in needed if c not in out]
    if absent:
        raise DataError(f"--patient: no value for {absent[0]!r}; give every covariate and "
                        f"stratum ({', '.join(needed)})")
    return out


def _value(frame: pd.DataFrame, col: str, text: str) -> Any:
    """The patient's value of ``col`` read as the data's values are read."""
    s = frame[col]
    if pd.api.types.is_bool_dtype(s.dtype):
        low = text.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise DataError(f"--patient: {col}={text!r}: a yes/no covariate; use true or false",
                        column=col)
    if pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        try:
            return float(text)
        except ValueError:
            raise DataError(f"--patient: {col}={text!r} is not a number, as the column "
                            f"{col!r} is (e.g. {format_num(s.dropna().iloc[0])})",
                            column=col) from None
    return text  # a level or its label: matched (and refused) by survfit_coxph


def predict_json(df: Any, time: str, event: str, covariates: list[str],
                 patient: dict[str, str], times: list[float], strata: str | None = None,
                 ties: str = "efron", start: str | None = None, weights: str | None = None,
                 conf_level: float = 0.95) -> dict[str, Any]:
    """The ``metsurv predict --json`` object (module docstring): R ``summary(survfit(
    coxph(Surv([start,] time, event) ~ covariates [+ strata(strata)], ties = ties),
    newdata = patient), times = times)``.

    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1],
    ...                    "age": [60, 70, 55, 80, 65, 50, 75, 62]})
    >>> out = predict_json(df, "os_months", "os_event", ["age"], {"age": "60"}, [6])
    >>> round(out["survival"][0], 6)  # R: 0.9452161574
    0.945216
    """
    from metsurv.stats.cox import cox

    fit = cox(df, covariates, strata=strata, ties=ties, time=time, event=event,
              **_outcome(start, weights))
    frame = getattr(df, "patients", df)
    values = {c: _value(frame, c, v) for c, v in patient.items()}
    pred = fit.predict({c: [v] for c, v in values.items()}, times=times,
                       conf_level=conf_level)
    at = pred.at()
    notes = list(pred.warnings)  # the fit's, and times past the last follow-up (null here)

    def col(name: str) -> list[Any]:
        return [None if not np.isfinite(v) else float(v) for v in at[name]]

    return {
        "times": [float(t) for t in times],
        "survival": col("survival"),
        "lower": col("lower"),
        "upper": col("upper"),
        "std_err": col("std_err"),
        "patient": values,
        "covariates": list(covariates),
        "strata": strata,
        "stratum": (pred.curves["stratum"].iloc[0] if strata else None),
        "references": {k: (v.item() if isinstance(v, np.generic) else v)
                       for k, v in fit.references.items()},
        "conf_level": conf_level,
        "conf_type": pred.conf_type,
        "ties": ties,
        "n": fit.n,
        "events": fit.events,
        "n_dropped": fit.n_dropped,
        "time": time,
        "event": event,
        "start": fit.start,
        "warnings": notes,
    }


def format_predict(result: dict[str, Any]) -> str:
    """Human-readable text of a :func:`predict_json` object."""
    who = ", ".join(f"{k} = {v}" for k, v in result["patient"].items())
    level = f"{result['conf_level']:.0%}"
    lines = [f"Predicted survival (Cox model, n = {result['n']}, events = "
             f"{format_num(result['events'])}, {result['ties']} baseline) for: {who}"]
    if result.get("stratum") is not None:
        lines.append(f"from the baseline of stratum {result['strata']} = {result['stratum']}")
    lines += ["", f"{'time':>10}{'survival':>10}   {level} CI ({result['conf_type']})"]
    for t, s, lo, hi in zip(result["times"], result["survival"], result["lower"],
                            result["upper"], strict=True):
        if s is None:
            lines.append(f"{format_num(t):>10}{'NA':>10}")
            continue
        lines.append(f"{format_num(t):>10}{s:>10.3f}   {lo:.3f} to {hi:.3f}")
    if result.get("n_dropped"):
        lines.append(f"({result['n_dropped']} rows with missing values dropped from the fit)")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("predict", help="one patient's predicted survival from a Cox model",
                       description="Fit a Cox model (R coxph) to DATA and predict the "
                       "survival of one patient at --times with its CI (R survfit(fit, "
                       "newdata)).")
    add_source(p, resections=False)
    add_survival(p)
    p.add_argument("--covariates", required=True, help="comma-separated columns of the model")
    p.add_argument("--patient", required=True,
                   help="the patient: COLUMN=VALUE,... for every covariate (and the stratum), "
                   "e.g. 'complete_resection=true,dfi_group=0-11,n_metastases_group=2-3'")
    p.add_argument("--times", required=True, type=_times,
                   help="comma-separated times (months for a cohort), e.g. 12,60")
    p.add_argument("--strata", default=None, help="stratum column: the patient's stratum's "
                   "baseline hazard is used")
    p.add_argument("--ties", choices=["efron", "breslow"], default="efron")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    covariates = column_list(args.covariates, "--covariates", "age,sex")
    patient = parse_patient(args.patient, [*covariates, *([args.strata] if args.strata
                                                             else [])])
    notes = Notes()
    with catching(notes):
        inp = survival_input(args, [*covariates, args.strata, args.start, args.weights])
        check_groups(inp, {args.strata: "--strata"})
        check_groups(inp, dict.fromkeys(covariates, "--covariates"), categorical_only=True)
        result = predict_json(inp.data, inp.time, inp.event, covariates, patient, args.times,
                              strata=args.strata, ties=args.ties, start=args.start,
                              weights=args.weights)
        notes.add_result(result)
    emit(*with_flow(result, format_predict(result), inp), args.json, notes)
    return EXIT_OK
