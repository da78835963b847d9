"""``metsurv km``: Kaplan-Meier curves per group and the log-rank and Peto-Peto tests.

The JSON and the text are made from the results' ``to_dict()``
(:meth:`metsurv.stats.km.KMResult.to_dict`, :meth:`metsurv.stats.tests.LogRankResult.to_dict`).

JSON of ``metsurv km --json``::

    {"groups": [{"group", "n", "events", "median", "median_ci": [lo, hi],
                 "survival": [{"time", "estimate", "se", "lower", "upper", "at_risk"}]}],
     (at the --times given, sorted, as R ``summary(fit, times)``: a time after a group's
     last follow-up is left out, as R's default ``extend = FALSE`` does, or with --extend
     kept with at_risk 0 and the last estimate carried forward, R's ``extend = TRUE``;
     without --times at every event time as R ``summary(fit)``)
     "logrank": {"statistic", "df", "p", "weighted": false} | {"not_computed": reason} | null,
     "peto": {"statistic", "df", "p", "weighted": false} | {"not_computed": reason} | null,
     "n_dropped", "by", "time", "event", "start", "weights", "conf_type", "warnings"}

"logrank" and "peto" are ``null`` without ``--by``. With ``--by`` a test that cannot be
computed is an object with the single key "not_computed" saying why: ``"one group"`` when
the grouping column has one value among the analysed rows (the curve is still printed; the
text says "Log-rank: not computed: one group"), or the data problem the test raised. With
a start column (delayed entry) the tests use left-truncated risk sets (start < t <= stop:
:func:`metsurv.stats.tests.logrank`; R ``survdiff`` refuses such data). The tests are
unweighted even with ``--weights`` (R ``survdiff`` has no weights).

"start" is the entry-time column used (``--start``, or ``entry_months`` by default for a
cohort whose patients entered the registry after their operation), ``null`` for none;
"weights" the ``--weights`` column or ``null``. "warnings" lists the warnings of the KM fit
and of the tests (also printed on stderr as ``metsurv: warning: ...``).

Missing values are ``null``, infinite ones ``"Inf"``; "se" is the standard error of S(t) as
R ``summary.survfit``.

When SOURCE is read as a cohort (no ``--time``/``--event``), the JSON also has
``"cohort_flow": {"read", "excluded": [{"reason", "count"}]}`` and the text starts with a line
saying how many records were read and excluded at loading and why, so that read = analysed +
dropped (``n_dropped``) + excluded always adds up (``metsurv validate`` lists each one).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from metsurv.errors import DataError
from metsurv.format import as_float, format_ci, format_num, format_p

from ._args import add_json, add_source, add_survival
from ._data import check_groups, survival_input, with_flow
from ._errors import EXIT_OK, one_line
from ._output import Notes, catching, emit

#: What "not computed" says for a grouping column with one value.
ONE_GROUP = "one group"


def _count(x: Any) -> Any:
    """A count as an int when whole (weighted counts may not be)."""
    f = as_float(x)
    return int(f) if f is not None and f.is_integer() else x


def _outcome(start: str | None, weights: str | None) -> dict[str, Any]:
    return {k: v for k, v in (("start", start), ("weights", weights)) if v is not None}


def _group_rows(curve: dict[str, Any], at: list[dict[str, Any]], with_times: bool,
                extend: bool) -> list[dict[str, Any]]:
    """The survival rows of one curve in the CLI's schema."""
    table = curve["table"]
    if with_times:
        rows = [r for r in at if r["group"] == curve["group"]]
        if not extend:  # R summary.survfit findrow: times <= max(fit$time) per curve
            last = max((as_float(r["time"]) for r in table), default=None)
            rows = [r for r in rows if last is not None and as_float(r["time"]) <= last]
    else:  # every event time, as R's summary(fit) lists them
        rows = [r for r in table if (as_float(r["n_event"]) or 0) > 0]
    return [{"time": r["time"], "estimate": r["estimate"], "se": r["std_err"],
             "lower": r["lower"], "upper": r["upper"], "at_risk": _count(r["n_risk"])}
            for r in rows]


def _tests(data: Any, by: str, n_groups: int, time: str, event: str, start: str | None,
           notes: list[str]) -> dict[str, Any]:
    """Log-rank (rho 0) and Peto-Peto (rho 1), unweighted, left-truncated at ``start`` when
    one is used, or why they were not computed."""
    from metsurv.stats.tests import logrank

    if n_groups < 2:
        return {"logrank": {"not_computed": ONE_GROUP}, "peto": {"not_computed": ONE_GROUP}}
    out: dict[str, Any] = {}
    for key, rho in (("logrank", 0), ("peto", 1)):
        try:
            d = logrank(data, by=by, rho=rho, time=time, event=event,
                        start=start if start else False).to_dict()
        except DataError as exc:
            out[key] = {"not_computed": one_line(str(exc))}
            continue
        # "weighted": false - survdiff has no case weights, so neither has this test
        out[key] = {"statistic": d["statistic"], "df": d["df"], "p": d["p"], "weighted": False}
        notes += [w for w in d.get("warnings") or () if w not in notes]
    return out


def km_json(
    df: Any,
    time: str = "os_months",
    event: str = "os_event",
    by: str | None = None,
    times: Sequence[float] | None = None,
    conf_type: str = "log-log",
    extend: bool = False,
    start: str | None = None,
    weights: str | None = None,
) -> dict[str, Any]:
    """The ``metsurv km --json`` object (see module docstring): R ``survfit(Surv([start,]
    time, event) ~ by, weights = weights, conf.type = conf_type)`` and its
    ``summary(fit, times = times, extend = extend)``; without ``extend`` a group lists only
    the times up to its last follow-up (where R would stop with "no points selected" for a
    group left with none, its list is empty). ``df`` is a DataFrame or a Cohort (whose
    ``entry_months`` is the default ``start``).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"os_months": [1, 2, 3, 4], "os_event": [1, 0, 1, 1]})
    >>> km_json(df, times=[2, 6])["groups"][0]["survival"][0]["at_risk"]
    3
    >>> [len(km_json(df, times=[2, 6], extend=e)["groups"][0]["survival"]) for e in (False, True)]
    [1, 2]
    """
    from metsurv.stats._times import default_start
    from metsurv.stats.km import km

    fit = km(df, by=by, time=time, event=event, conf_type=conf_type,
             times=sorted(times) if times is not None else None,
             **_outcome(start, weights)).to_dict()
    notes = list(fit.get("warnings") or ())
    with_times = times is not None
    groups = [
        {"group": c["group"], "n": _count(m["n"]), "events": _count(m["events"]),
         "median": m["median"], "median_ci": [m["lower"], m["upper"]],
         "survival": _group_rows(c, fit["survival"], with_times, extend)}
        for c, m in zip(fit["curves"], fit["medians"], strict=True)
    ]
    used_start = fit["start"] if "start" in fit else default_start(df, time, start)
    tests: dict[str, Any] = {"logrank": None, "peto": None}
    if by is not None:
        tests = _tests(df, by, len(groups), time, event, used_start, notes)
    return {"groups": groups, **tests, "n_dropped": fit["n_dropped"], "by": by, "time": time,
            "event": event, "start": used_start, "weights": weights, "conf_type": conf_type,
            "warnings": notes}


def format_km(result: dict[str, Any]) -> str:
    """Human-readable text of a :func:`km_json` object."""
    lines = []
    if result.get("start"):
        lines.append(f"delayed entry: entry times from column {result['start']}")
    if result.get("weights"):
        lines.append(f"case weights from column {result['weights']}")
    lines.append(f"{'group':<16}{'n':>7}{'events':>8}{'median':>10}   95% CI")
    for g in result["groups"]:
        lo, hi = g["median_ci"]
        lines.append(f"{str(g['group']):<16}{format_num(g['n'], '{:.4g}'):>7}"
                     f"{format_num(g['events'], '{:.4g}'):>8}"
                     f"{format_num(g['median'], '{:.4g}'):>10}   "
                     f"{format_num(lo, '{:.4g}')} - {format_num(hi, '{:.4g}')}")
    for g in result["groups"]:
        if g["survival"]:
            lines.append("")
            lines.append(f"{g['group']}: {'time':>8}{'survival (95% CI)':>24}{'se':>8}"
                         f"{'at risk':>9}")
            pad = " " * (len(str(g["group"])) + 2)
            for s in g["survival"]:
                est = format_ci(s["estimate"], s["lower"], s["upper"], digits=3)
                lines.append(f"{pad}{format_num(s['time'], '{:.6g}'):>8}{est:>24}"
                             f"{format_num(s['se'], '{:.2g}'):>8}"
                             f"{format_num(s['at_risk'], '{:.4g}'):>9}")
    for key, label in (("logrank", "Log-rank"), ("peto", "Peto-Peto")):
        t = result.get(key)
        if t and "not_computed" in t:
            lines.append(f"{label}: not computed: {t['not_computed']}")
        elif t:
            lines.append(f"{label}: chisq = {format_num(t['statistic'], '{:.4g}')} on "
                         f"{t['df']} df, {format_p(t['p'])}"
                         + (" (unweighted)" if result.get("weights") else ""))
    if result.get("n_dropped"):
        lines.append(f"({result['n_dropped']} rows with missing values dropped)")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("km", help="Kaplan-Meier estimates and log-rank tests",
                       description="Kaplan-Meier curves (R survfit) and the log-rank and "
                       "Peto-Peto tests (R survdiff, rho 0 and 1). With --weights the curves "
                       "are weighted, the tests are not (R survdiff has no weights).")
    add_source(p, resections=False)
    add_survival(p)
    p.add_argument("--by", help="grouping column")
    p.add_argument("--times", type=_times, help="comma-separated times, e.g. 12,36,60; a time after a "
                   "group's last follow-up is left out (R summary(fit, times))")
    p.add_argument("--extend", action="store_true",
                   help="keep times after the last follow-up: at risk 0, last estimate "
                   "carried forward (R extend = TRUE)")
    p.add_argument("--conf-type", choices=["log", "log-log", "plain"], default="log-log")
    add_json(p)
    p.set_defaults(func=run)


#: At most this many --times: a summary table, not a curve (bounded work and output).
MAX_TIMES = 200
#: Largest time --times accepts: far beyond any follow-up in months or days (1e6 days is
#: 2700 years), so a typo such as 1e9 is refused instead of silently giving no rows.
MAX_TIME = 1e6


def _times(text: str | None) -> list[float] | None:
    """``--times``: finite times 0 <= t <= :data:`MAX_TIME`, at most :data:`MAX_TIMES`."""
    if not text:
        return None
    items = [t.strip() for t in text.split(",")]
    if any(not t for t in items):
        raise argparse.ArgumentTypeError(
            "an empty item between commas; give numbers separated by commas, e.g. 12,36,60")
    try:
        values = [float(t) for t in items]
    except ValueError:
        raise argparse.ArgumentTypeError("must be numbers separated by commas, e.g. 12,36,60, "
                                         f"not {text[:40]!r}") from None
    if len(values) > MAX_TIMES:
        raise argparse.ArgumentTypeError(f"at most {MAX_TIMES} times, not {len(values)}")
    bad = [t for t in values if not 0 <= t <= MAX_TIME]  # also catches nan
    if bad:
        raise argparse.ArgumentTypeError(
            f"each time must be a finite number from 0 to {MAX_TIME:g} in the unit of the "
            f"time column, not {bad[0]:g}")
    return values


def run(args: argparse.Namespace) -> int:
    notes = Notes()
    with catching(notes):
        inp = survival_input(args, [args.by, args.start, args.weights])
        check_groups(inp, {args.by: "--by"})
        result = km_json(inp.data, time=inp.time, event=inp.event, by=args.by,
                         times=args.times, conf_type=args.conf_type, extend=args.extend,
                         start=args.start, weights=args.weights)
        notes.add_result(result)
    emit(*with_flow(result, format_km(result), inp), args.json, notes)
    return EXIT_OK
