"""Number formats shared by figures and tables: suppressed counts, and whether a
group's estimates may be printed under suppression. (Whether an estimate rests on follow-up
at all is metsurv's one rule, :func:`metsurv.stats.km.followed`; p-values and CIs are
:mod:`metsurv.format`'s.)"""

from __future__ import annotations

import math


def suppress_count(n: int | float | None, k: int) -> str:
    """A count as printed under small-cell suppression with threshold ``k`` (0: off).

    >>> suppress_count(3, 5), suppress_count(0, 5), suppress_count(12, 5), suppress_count(3, 0)
    ('<5', '0', '12', '3')
    """
    if n is None or (isinstance(n, float) and not math.isfinite(n)):
        return ""
    n = int(n)
    if k and 0 < n < k:
        return f"<{k}"
    return f"{n:,}"


def shows_estimates(n: int | float | None, k: int) -> bool:
    """Whether estimates resting on ``n`` patients (a group's survival % and median; a
    survival resting on ``n`` at risk) may be printed under small-cell suppression with
    threshold ``k``: not when n prints as <k (a 5-year survival of 33% in a group of "<5"
    says 1 of 3), nor when nobody is left (n = 0): a survival of 0% there is the last step
    of a curve cut where fewer than k remained, and says that those few died.

    >>> shows_estimates(3, 5), shows_estimates(12, 5), shows_estimates(3, 0)
    (False, True, True)
    >>> shows_estimates(0, 5), shows_estimates(0, 0)
    (False, True)
    """
    return not (k and n is not None and math.isfinite(n) and int(n) < k)


def lower_first(text: str) -> str:
    """A title inside a sentence: the first letter lower case unless it starts an acronym.

    >>> lower_first("Disease-free interval (DFI) group"), lower_first("IRLM prognostic group")
    ('disease-free interval (DFI) group', 'IRLM prognostic group')
    """
    return text[:1].lower() + text[1:] if text[1:2].islower() else text
