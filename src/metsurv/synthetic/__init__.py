"""Synthetic registry cohorts calibrated to the published series, with known truth.

>>> from metsurv.synthetic import generate
>>> cohort = generate("sarcoma", n=100, seed=3)
>>> cohort.manifest["preset"], len(cohort.patients)
('sarcoma', 100)
"""

from metsurv.synthetic.model import OUTCOMES, SyntheticCohort, generate
from metsurv.synthetic.presets import PRESETS, Preset, Target, get_preset

__all__ = ["OUTCOMES", "PRESETS", "Preset", "SyntheticCohort", "Target", "generate",
           "get_preset"]
