"""The exceptions and warning category metsurv raises.

- :class:`CohortError`: a problem with a whole input (file, mapping, config).
- :class:`DataError`: the data handed to a statistic cannot give an answer (no events, one
  group, a negative time, a missing weight). It is a ``ValueError`` for callers that catch
  those; the CLI turns it into one line naming the file and column, exit status 2.
- :class:`StatsWarning`: a result that R would print with a warning (an aliased term, a
  coefficient that may be infinite, a fit that did not converge). The same text is kept on the
  result (``result.warnings``) so that it travels to JSON, the CLI and the report.
"""

from __future__ import annotations


class CohortError(Exception):
    """A file-level problem: one readable sentence naming the file and what to do.

    Row-level problems never raise; they become findings and exclusions in the cohort flow.
    """


class DataError(ValueError):
    """The data given to a statistic cannot give an answer; the message says why and what to
    do. ``column`` names the column concerned when there is one (the CLI adds the file)."""

    def __init__(self, message: str, column: str | None = None):
        super().__init__(message)
        self.column = column


class StatsWarning(UserWarning):
    """A result that R would print with a warning; the text is also in ``result.warnings``."""
