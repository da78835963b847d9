"""Survival statistics that agree with R: Kaplan-Meier, the log-rank family, the Cox model
(right-censored and counting-process), competing risks, RMST, landmark analysis and the
IRLM battery. Pure functions: a DataFrame (or a Cohort with ``.patients``) in, a frozen
result out. ``metsurv.stats.predict`` (scikit-survival models) is imported on its own so
that this package does not need scikit-learn."""

from .competing import (
    CumulativeIncidence,
    GrayTestResult,
    cause_specific_cox,
    cuminc,
    gray_test,
)
from .cox import CoxResult, PHTestResult, cox
from .irlm import IRLMBattery, irlm_comparisons
from .km import KMCurve, KMResult, followed, km
from .landmark import LandmarkResult, landmark
from .rmst import RMSTResult, rmst
from .tests import LogRankResult, logrank
from .timevarying import (
    TimeVaryingCoxResult,
    counting_process_cox,
    naive_repeat_resection_comparison,
)

__all__ = [
    "CoxResult",
    "CumulativeIncidence",
    "GrayTestResult",
    "IRLMBattery",
    "KMCurve",
    "KMResult",
    "LandmarkResult",
    "LogRankResult",
    "PHTestResult",
    "RMSTResult",
    "TimeVaryingCoxResult",
    "cause_specific_cox",
    "counting_process_cox",
    "cox",
    "cuminc",
    "followed",
    "gray_test",
    "irlm_comparisons",
    "km",
    "landmark",
    "logrank",
    "naive_repeat_resection_comparison",
    "rmst",
]
