"""Survival statistics that agree with R survival: Kaplan-Meier, the log-rank family and
the Cox model. Pure functions: a DataFrame (or a Cohort with ``.patients``) in, a frozen
result out."""

from .cox import CoxResult, PHTestResult, cox
from .km import KMCurve, KMResult, km
from .tests import LogRankResult, logrank

__all__ = [
    "CoxResult",
    "KMCurve",
    "KMResult",
    "LogRankResult",
    "PHTestResult",
    "cox",
    "km",
    "logrank",
]
