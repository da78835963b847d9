"""How metsurv prints numbers: one p-value format, one confidence-interval format, one number
format, shared by the command line (:mod:`metsurv.cli`), the results' ``__repr__``
(:mod:`metsurv.stats._result`) and the report (:mod:`metsurv.report`).

A missing value prints as ``NA`` and an infinite one as ``Inf`` / ``-Inf``, as R prints them:
an HR whose upper limit is infinite (a monotone likelihood) is not a missing one. This module
imports nothing from metsurv, so every layer may use it without reaching backwards.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["NA", "as_float", "format_ci", "format_num", "format_p"]

#: What a missing value prints as (R's ``NA``).
NA = "NA"


def as_float(x: Any) -> float | None:
    """``x`` as a float; None for missing (None, NaN, pd.NA, the JSON ``null``). The JSON
    strings "Inf"/"-Inf" (:func:`metsurv.stats._result.json_safe`) read as infinities.

    >>> as_float("Inf"), as_float(None), as_float(float("nan")), as_float(2)
    (inf, None, None, 2.0)
    """
    if x is None or isinstance(x, bool):
        return None if x is None else float(x)
    if isinstance(x, str):
        return {"Inf": math.inf, "-Inf": -math.inf}.get(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def format_num(x: Any, fmt: str = "{:.3g}") -> str:
    """A number as metsurv prints it: ``fmt`` for a finite float, an int as it is, ``NA`` for
    missing, ``Inf``/``-Inf`` for infinite.

    >>> format_num(0.123456), format_num(12), format_num(None), format_num(float("inf"))
    ('0.123', '12', 'NA', 'Inf')
    >>> format_num(float("nan")), format_num("-Inf"), format_num(1e14, "{:.4g}")
    ('NA', '-Inf', '1e+14')
    """
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    f = as_float(x)
    if f is None:
        return NA
    if math.isinf(f):
        return "Inf" if f > 0 else "-Inf"
    return fmt.format(f)


def format_p(p: Any, label: bool = True) -> str:
    """A p-value as journals print it: ``< 0.001``, three decimals below 0.1, two above;
    ``label`` adds ``p = `` / ``p `` (``label=False`` for a table cell). Missing: ``NA``.

    >>> format_p(0.0004), format_p(0.0312), format_p(0.5), format_p(0.0312, label=False)
    ('p < 0.001', 'p = 0.031', 'p = 0.50', '0.031')
    >>> format_p(float("nan"), label=False), format_p(None)
    ('NA', 'p = NA')
    """
    f = as_float(p)
    if f is None or math.isinf(f):
        text = NA
    elif f < 0.001:
        text = "< 0.001"
    elif f < 0.1:
        text = f"{f:.3f}"
    else:
        text = f"{f:.2f}"
    if not label:
        return text
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def format_ci(est: Any, lo: Any, hi: Any, scale: float = 1.0, digits: int = 1,
              missing: str = NA) -> str:
    """An estimate with its confidence interval, ``"35.1 (32.2–37.7)"``, each number times
    ``scale`` (100 for a percentage) with ``digits`` decimals; ``missing`` when the estimate
    is missing, the estimate alone when both limits are; a missing limit is ``NA``, an
    infinite one ``Inf``.

    >>> format_ci(0.361, 0.34, 0.38, 100, 0), format_ci(0.0, float("nan"), float("nan"), 100, 0)
    ('36 (34–38)', '0')
    >>> format_ci(2.5, 0.0, float("inf"), digits=2), format_ci(None, 1, 2)
    ('2.50 (0.00–Inf)', 'NA')
    """
    e, a, b = as_float(est), as_float(lo), as_float(hi)
    if e is None:
        return missing
    fmt = f"{{:.{digits}f}}"

    def num(x: float | None) -> str:
        return format_num(None if x is None else scale * x, fmt)

    if a is None and b is None:
        return num(e)
    return f"{num(e)} ({num(a)}\u2013{num(b)})"
