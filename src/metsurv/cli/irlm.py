"""``metsurv irlm DATA [--json]``: the IRLM comparison battery
(:func:`metsurv.stats.irlm.irlm_comparisons`) as JSON (its ``to_dict()``, see
:meth:`~metsurv.stats.irlm.IRLMBattery.to_dict`, plus the top-level "warnings") or as a
plain-text table, one block per factor.
"""

from __future__ import annotations

import argparse
from typing import Any

from metsurv.format import format_ci, format_num, format_p

from ._args import add_json, add_source
from ._data import load
from ._errors import EXIT_OK
from ._output import Notes, catching, emit

ONE = "{:.1f}"  # months: one decimal


def battery_json(data: Any, endpoint: str = "os", **options: Any) -> dict[str, Any]:
    """The battery as a JSON-safe dict (see :meth:`IRLMBattery.to_dict`); ``options`` go to
    :func:`metsurv.stats.irlm.irlm_comparisons` (min_n, min_events, ...)."""
    from metsurv.stats.irlm import irlm_comparisons

    return irlm_comparisons(data, endpoint=endpoint, **options).to_dict()


def _pct(row: dict, key: str) -> str:
    """A survival probability and its CI in per cent."""
    return format_ci(row.get(key), row.get(f"{key}_lower"), row.get(f"{key}_upper"),
                     scale=100, digits=0)


def format_battery(result: dict[str, Any]) -> str:
    """Plain-text rendering of :func:`battery_json` output, one block per factor.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11] * 5,
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1] * 5,
    ...                    "complete_resection": [True, False] * 20})
    >>> print(format_battery(battery_json(df)).splitlines()[0])
    IRLM battery, endpoint os: 40 patients, 30 events
    """
    from metsurv.stats.irlm import SURVIVAL_YEARS

    years = result.get("survival_years", SURVIVAL_YEARS)
    lines = [f"IRLM battery, endpoint {result['endpoint']}: {result['n']} patients, "
             f"{result['events']} events"]
    head = (f"  {'level':<22}{'n':>6}{'events':>8}  {'median (95% CI)':<22}"
            + "".join(f"{f'{y}-y %':<17}" for y in (1, 5, 10) if y in years)
            + f"{'RMST 5y':>9}  {'HR (95% CI)':<20}")
    for f in result["factors"]:
        tests = f"log-rank {format_p(f['logrank_p'])}"
        if f.get("trend_p") is not None:
            tests += f", trend {format_p(f['trend_p'])}"
        pop = "" if f["population"] == "all" or "only" in f["label"] else f" [{f['population']} only]"
        lines += ["", f"{f['label']}{pop}: n {f['n']}, {tests}", head]
        for r in f["levels"]:
            med = format_ci(r.get("median"), r.get("median_lower"), r.get("median_upper"))
            if r["reference"]:
                hr = "1 (reference)"
            elif r.get("hr") is None:
                hr = "-"
            else:
                hr = format_ci(r["hr"], r.get("hr_lower"), r.get("hr_upper"), digits=2)
            surv = "".join(f"{_pct(r, f'surv_{y}y'):<17}" for y in (1, 5, 10) if y in years)
            flag = " *" if r["sparse"] and r["n"] > 0 else ""
            lines.append(f"  {str(r['label'])[:21]:<22}{r['n']:>6}{r['events']:>8}  "
                         f"{med:<22}{surv}{format_num(r.get('rmst_5y'), ONE):>9}  {hr}{flag}")
    mv = result["multivariable"]
    if mv["table"]:
        lines += ["", f"Multivariable Cox ({', '.join(mv['factors'])}): n {mv['n']}, "
                      f"events {mv['events']}"]
        for r in mv["table"]:
            lines.append(f"  {r['factor']}={r['level']}: HR "
                         f"{format_ci(r['hr'], r['lower'], r['upper'], digits=2)}, "
                         f"{format_p(r['p'])}")
    lines += ["", f"* fewer than {result['min_n']} patients or {result['min_events']} events: "
                  "shown, not tested"]
    if result["skipped"]:
        lines.append(f"not in the data: {', '.join(result['skipped'])}")
    return "\n".join(line.rstrip() for line in lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("irlm", help="the IRLM comparison battery")
    add_source(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    notes = Notes()
    with catching(notes):
        result = battery_json(load(args))
        notes.add_result(result)
    emit(result, format_battery(result), args.json, notes)
    return EXIT_OK
