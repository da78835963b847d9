"""``metsurv irlm DATA [--json]``: the IRLM battery as a JSON dict or a plain-text table.

The CLI (metsurv.cli) loads the cohort and calls :func:`battery_json`, then prints it as
JSON or through :func:`format_battery`.
"""

from __future__ import annotations

from typing import Any

from metsurv.stats.cli import _num, _p
from metsurv.stats.irlm import SURVIVAL_YEARS, irlm_comparisons


def battery_json(data: Any, endpoint: str = "os", **options: Any) -> dict[str, Any]:
    """The battery as a JSON-safe dict (see :meth:`IRLMBattery.to_dict`); ``options`` go to
    :func:`metsurv.stats.irlm.irlm_comparisons` (min_n, min_events, ...)."""
    return irlm_comparisons(data, endpoint=endpoint, **options).to_dict()


ONE = "{:.1f}"  # months: one decimal


def _pct(row: dict, key: str) -> str:
    est = row.get(key)
    if est is None:
        return "NA"
    lo, hi = row.get(f"{key}_lower"), row.get(f"{key}_upper")
    return f"{100 * est:.0f}% ({_num(lo and 100 * lo, '{:.0f}')}-{_num(hi and 100 * hi, '{:.0f}')})"


def format_battery(result: dict[str, Any]) -> str:
    """Plain-text rendering of :func:`battery_json` output, one block per factor.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11] * 5,
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1] * 5,
    ...                    "complete_resection": [True, False] * 20})
    >>> print(format_battery(battery_json(df)).splitlines()[0])
    IRLM battery, endpoint os: 40 patients, 30 events
    """
    years = result.get("survival_years", SURVIVAL_YEARS)
    lines = [f"IRLM battery, endpoint {result['endpoint']}: {result['n']} patients, "
             f"{result['events']} events"]
    head = (f"  {'level':<22}{'n':>6}{'events':>8}  {'median (95% CI)':<22}"
            + "".join(f"{f'{y}-y':<17}" for y in (1, 5, 10) if y in years)
            + f"{'RMST 5y':>9}  {'HR (95% CI)':<20}")
    for f in result["factors"]:
        tests = f"log-rank p {_p(f['logrank_p'])}"
        if f.get("trend_p") is not None:
            tests += f", trend p {_p(f['trend_p'])}"
        pop = "" if f["population"] == "all" or "only" in f["label"] else f" [{f['population']} only]"
        lines += ["", f"{f['label']}{pop}: n {f['n']}, {tests}", head]
        for r in f["levels"]:
            med = f"{_num(r.get('median'), ONE)} ({_num(r.get('median_lower'), ONE)}-" \
                  f"{_num(r.get('median_upper'), ONE)})"
            if r["reference"]:
                hr = "1 (reference)"
            elif r.get("hr") is None:
                hr = "-"
            else:
                hr = f"{r['hr']:.2f} ({_num(r['hr_lower'], '{:.2f}')}-" \
                     f"{_num(r['hr_upper'], '{:.2f}')})"
            surv = "".join(f"{_pct(r, f'surv_{y}y'):<17}" for y in (1, 5, 10) if y in years)
            flag = " *" if r["sparse"] and r["n"] > 0 else ""
            lines.append(f"  {str(r['label'])[:21]:<22}{r['n']:>6}{r['events']:>8}  "
                         f"{med:<22}{surv}{_num(r.get('rmst_5y'), ONE):>9}  {hr}{flag}")
    mv = result["multivariable"]
    if mv["table"]:
        lines += ["", f"Multivariable Cox ({', '.join(mv['factors'])}): n {mv['n']}, "
                      f"events {mv['events']}"]
        for r in mv["table"]:
            lines.append(f"  {r['factor']}={r['level']}: HR {r['hr']:.2f} "
                         f"({r['lower']:.2f}-{r['upper']:.2f}), p {_p(r['p'])}")
    lines += ["", f"* fewer than {result['min_n']} patients or {result['min_events']} events: "
                  "shown, not tested"]
    if result["skipped"]:
        lines.append(f"not in the data: {', '.join(result['skipped'])}")
    return "\n".join(line.rstrip() for line in lines)
