"""Survival statistics that agree with R: Kaplan-Meier, the log-rank family, the Cox model
(right-censored and counting-process), competing risks, RMST, landmark analysis and the
IRLM battery; treatment comparisons (propensity weights, balance, weighted effects, multiple
imputation pooled with Rubin's rules); prognostic models (prediction, bootstrap validation and
calibration, nomogram, integer score, decision curves, conditional survival, smoothed hazard,
cure models). Pure functions: a DataFrame (or a Cohort with
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
from .cure import CureResult, cure_figure, cure_models
from .dca import DecisionCurveResult, decision_curve
from .effects import TreatmentEffects, treatment_effects
from .hazard import AnnualHazardResult, HazardResult, annual_hazard, smoothed_hazard
from .irlm import IRLMBattery, irlm_comparisons
from .km import KMCurve, KMResult, followed, km
from .landmark import LandmarkResult, landmark
from .nomogram import NomogramResult, nomogram
from .pool import pool
from .propensity import PropensityResult, propensity
from .rmst import RMSTResult, rmst
from .score import ScoreResult, integer_score
from .tests import LogRankResult, logrank
from .timevarying import (
    TimeVaryingCoxResult,
    counting_process_cox,
    naive_repeat_resection_comparison,
)
from .validate import (
    CalibrationResult,
    ValidationResult,
    calibrate,
    calibration_ici,
    validate,
)

__all__ = [
    "AnnualHazardResult",
    "BalanceTable",
    "CalibrationResult",
    "Comparison",
    "ConditionalResult",
    "CoxResult",
    "CumulativeIncidence",
    "CureResult",
    "DecisionCurveResult",
    "GrayTestResult",
    "HazardResult",
    "IRLMBattery",
    "KMCurve",
    "KMResult",
    "LandmarkResult",
    "LogRankResult",
    "NomogramResult",
    "PHTestResult",
    "PropensityResult",
    "RMSTResult",
    "ScoreResult",
    "TimeVaryingCoxResult",
    "TreatmentEffects",
    "ValidationResult",
    "annual_hazard",
    "balance",
    "calibrate",
    "calibration_ici",
    "cause_specific_cox",
    "compare_treatments",
    "conditional_figure",
    "conditional_survival",
    "counting_process_cox",
    "cox",
    "cuminc",
    "cure_figure",
    "cure_models",
    "decision_curve",
    "followed",
    "gray_test",
    "integer_score",
    "irlm_comparisons",
    "km",
    "landmark",
    "logrank",
    "love_plot",
    "naive_repeat_resection_comparison",
    "nomogram",
    "pool",
    "propensity",
    "rmst",
    "smoothed_hazard",
    "treatment_effects",
    "validate",
]
