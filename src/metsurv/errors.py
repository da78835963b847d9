"""The one exception metsurv raises for problems with a whole input (file, mapping, config)."""

from __future__ import annotations


class CohortError(Exception):
    """A file-level problem: one readable sentence naming the file and what to do.

    Row-level problems never raise; they become findings and exclusions in the cohort flow.
    """
