"""Findings and exclusions: the record of every problem the loader saw, row by row.

Every problem is a finding (table, source row, patient_id, column, value, rule, severity).
A finding of severity ``"error"`` excludes its row; the exclusion reason is the rule's
reason below, and a row excluded for several reasons is counted once, under the first reason
in :data:`EXCLUSION_REASONS` order, so that the flow always adds up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Why a row is excluded, in the order used to pick the one reason a row is counted under.
EXCLUSION_REASONS: tuple[str, ...] = (
    "missing patient_id",
    "duplicate patient_id",
    "unreadable required date",
    "unknown required code",
    "implausible required value",
    "no usable time origin or outcome",
    "follow-up before metastasectomy",
    "negative time",
    "no follow-up after registry entry",
    "resection of a patient not in the cohort",
    "duplicate resection",
    "resection without a usable operation date",
)

SEVERITIES = ("error", "warning", "info")
FINDING_COLUMNS = ("table", "row", "patient_id", "column", "value", "rule", "severity", "reason")


@dataclass
class FindingLog:
    """Collects findings for one raw table, vectorised: one call per rule, many rows at once.

    ``positions`` are 0-based positions in the raw table; row numbers and patient ids are
    attached at the end by :meth:`frame`, when they are known.
    """

    table: str
    parts: list[pd.DataFrame] = field(default_factory=list)

    def add(self, positions: np.ndarray, column: str, values: object, rule: str,
            severity: str, reason: str | None = None) -> None:
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            return
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        if severity == "error" and reason not in EXCLUSION_REASONS:
            raise ValueError(f"an error finding needs an exclusion reason, got {reason!r}")
        if values is None or np.isscalar(values):
            vals = np.full(positions.size, values, dtype=object)
        else:
            vals = np.asarray(values, dtype=object)
        self.parts.append(
            pd.DataFrame(
                {
                    "position": positions,
                    "column": column,
                    "value": vals,
                    "rule": rule,
                    "severity": severity,
                    "reason": reason,
                }
            )
        )

    def add_table(self, column: str, value: object, rule: str, severity: str = "info") -> None:
        """A finding about the table as a whole (no row), e.g. an unmapped column."""
        self.parts.append(pd.DataFrame({"position": [-1], "column": [column], "value": [value],
                                        "rule": [rule], "severity": [severity],
                                        "reason": [None]}))

    def frame(self, rows: np.ndarray, patient_ids: pd.Series) -> pd.DataFrame:
        """All findings with source row numbers and patient ids, in row order."""
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in FINDING_COLUMNS})
        out = pd.concat(self.parts, ignore_index=True)
        pos = out["position"].to_numpy()
        has_row = pos >= 0
        row = np.full(len(out), -1, dtype=np.int64)
        row[has_row] = np.asarray(rows)[pos[has_row]]
        pid = np.full(len(out), None, dtype=object)
        ids = patient_ids.astype(object).to_numpy()
        pid[has_row] = ids[pos[has_row]]
        out.insert(0, "table", self.table)
        out["row"] = pd.Series(row, dtype="Int64").where(has_row)
        out["patient_id"] = pid
        out["value"] = out["value"].map(_json_value)
        out = out.sort_values(["row", "column"], kind="stable", na_position="first")
        return out[list(FINDING_COLUMNS)].reset_index(drop=True)

    def excluded(self, n_rows: int) -> pd.Series:
        """Per raw row: the exclusion reason (first in priority order), or None if kept."""
        reason = np.full(n_rows, None, dtype=object)
        if not self.parts:
            return pd.Series(reason)
        out = pd.concat(self.parts, ignore_index=True)
        errors = out[out["severity"] == "error"]
        if len(errors):
            rank = errors["reason"].map({r: i for i, r in enumerate(EXCLUSION_REASONS)})
            first = (errors.assign(rank=rank).sort_values("rank", kind="stable")
                     .drop_duplicates("position"))
            reason[first["position"].to_numpy()] = first["reason"].to_numpy()
        return pd.Series(reason)


def _json_value(value: object) -> object:
    """A raw value as it can be shown and serialised: text for anything not plainly JSON."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(value).date())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else str(value)  # JSON has no inf
    return str(value)
