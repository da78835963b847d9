"""Synthetic registry cohorts calibrated to the published series, with known truth.

``generate`` draws a cohort (canonical patients and resections tables with dates, a manifest
of true parameters); ``calibration`` sets each published target of a preset beside a large
draw; ``write_dialect`` writes a cohort as a messy registry export with its mapping file;
``treatment_truth`` gives the true marginal log HR (ATE, ATT, overlap population) of the
confounded treatment, the target of a propensity-weighted analysis.
docs/synthetic.md describes the model.

>>> from metsurv.synthetic import generate
>>> cohort = generate("sarcoma", n=100, seed=3)
>>> cohort.manifest["preset"], len(cohort.patients)
('sarcoma', 100)
"""

from metsurv.synthetic.calibration import calibration
from metsurv.synthetic.dialects import DIALECTS, mapping_path, write_dialect
from metsurv.synthetic.model import OUTCOMES, SyntheticCohort, generate, treatment_truth
from metsurv.synthetic.presets import PRESETS, Preset, Target, get_preset

__all__ = ["DIALECTS", "OUTCOMES", "PRESETS", "Preset", "SyntheticCohort", "Target",
           "calibration", "generate", "get_preset", "mapping_path", "treatment_truth",
           "write_dialect"]
