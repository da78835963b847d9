"""Survival statistics that agree with R: Kaplan-Meier, the log-rank family, the Cox model
(right-censored and counting-process), competing risks, RMST, landmark analysis and the
IRLM battery; treatment comparisons (propensity weights, balance, weighted effects, multiple
imputation pooled with Rubin's rules). Pure functions: a DataFrame (or a Cohort with
``.patients``) in, a frozen result out. ``metsurv.stats.predict`` (scikit-survival models)
and ``metsurv.stats.impute`` (multiple imputation with scikit-learn models: ``from
metsurv.stats.impute import impute``) are imported on their own, so that this package does
not load scikit-learn."""

from .balance import BalanceTable, balance, love_plot
from .compare import Comparison, compare_treatments
from .competing import (
    CumulativeIncidence,
    GrayTestResult,
    cause_specific_cox,
    cuminc,
    gray_test,
)
from .conditional import ConditionalResult, conditional_figure, conditional_survival
from .cox import CoxResult, PHTestResult, cox
from .effects import TreatmentEffects, treatment_effects
from .irlm import IRLMBattery, irlm_comparisons
from .km import KMCurve, KMResult, followed, km
from .landmark import LandmarkResult, landmark
from .pool import pool
from .propensity import PropensityResult, propensity
from .rmst import RMSTResult, rmst
from .tests import LogRankResult, logrank
from .timevarying import (
    TimeVaryingCoxResult,
    counting_process_cox,
    naive_repeat_resection_comparison,
)

__all__ = [
    "BalanceTable",
    "Comparison",
    "ConditionalResult",
    "CoxResult",
    "CumulativeIncidence",
    "GrayTestResult",
    "IRLMBattery",
    "KMCurve",
    "KMResult",
    "LandmarkResult",
    "LogRankResult",
    "PHTestResult",
    "PropensityResult",
    "RMSTResult",
    "TimeVaryingCoxResult",
    "TreatmentEffects",
    "balance",
    "cause_specific_cox",
    "compare_treatments",
    "conditional_figure",
    "conditional_survival",
    "counting_process_cox",
    "cox",
    "cuminc",
    "followed",
    "gray_test",
    "irlm_comparisons",
    "km",
    "landmark",
    "logrank",
    "love_plot",
    "naive_repeat_resection_comparison",
    "pool",
    "propensity",
    "rmst",
    "treatment_effects",
]

