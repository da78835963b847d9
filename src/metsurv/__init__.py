"""metsurv: survival analysis of pulmonary-metastasectomy cohorts, in agreement with R survival.

>>> import metsurv
>>> metsurv.schema.DAYS_PER_MONTH
30.4375
"""

from importlib import metadata as _metadata

from metsurv import clinical, schema
from metsurv.cohort import Cohort
from metsurv.errors import CohortError
from metsurv.io import SqlSource, load_cohort, read_mapping
from metsurv.replicate import ReplicateResult, replicate_rng, run_replicates

try:
    __version__ = _metadata.version("metsurv")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["Cohort", "CohortError", "clinical", "ReplicateResult", "SqlSource", "__version__",
           "load_cohort", "read_mapping", "replicate_rng", "run_replicates", "schema"]
