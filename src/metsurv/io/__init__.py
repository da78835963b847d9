"""Reading registry exports into the canonical cohort: read -> mapping -> derive -> validate."""

from metsurv.io.load import load_cohort
from metsurv.io.mapping import Mapping, read_mapping
from metsurv.io.read import RawTable, SqlSource, read_table

__all__ = ["Mapping", "RawTable", "SqlSource", "load_cohort", "read_mapping", "read_table"]
