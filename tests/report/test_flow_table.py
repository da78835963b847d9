"""The flow-of-records table as printed: headed in words; a reason column only where a row
has a reason (the table file keeps every column). Oracle: the flow frame itself."""

from __future__ import annotations

import pandas as pd

from metsurv.report.sections.cohort import _flow_shown


def _flow(reasons: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"table": ["patients"] * len(reasons),
                         "step": ["read", "analysed", "excluded"][:len(reasons)],
                         "reason": reasons, "n": ["10", "9", "1"][:len(reasons)]})


def test_headers_are_words_and_an_empty_reason_column_is_left_out():
    shown = _flow(["", ""])
    out = _flow_shown(shown)
    assert list(out.columns) == ["Table", "Step", "n"]
    assert out["n"].tolist() == ["10", "9"]


def test_a_reason_keeps_its_column():
    out = _flow_shown(_flow(["", "", "duplicate patient_id"]))
    assert list(out.columns) == ["Table", "Step", "Reason", "n"]
    assert out["Reason"].tolist()[-1] == "duplicate patient_id"
