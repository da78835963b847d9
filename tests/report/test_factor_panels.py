"""Which factors get a Kaplan-Meier panel and survival-table rows: two levels with patients
and at least one event among them. A level without events is a curve at 100% (R
``survfit`` gives S(t) = 1 there, and ``survdiff`` tests it), not a reason to leave the
factor out; which levels enter the log-rank test is the IRLM battery's rule.

Oracle: R ``survfit`` of a group without events (S = 1, median not reached), written out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import StatsWarning
from metsurv.report import load_config
from metsurv.report.analysis import _factor_unsupported

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def _data(events_in_incomplete: int) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 120
    complete = np.r_[np.ones(96, bool), np.zeros(24, bool)]
    event = rng.random(n) < 0.7
    event[~complete] = False
    event[np.flatnonzero(~complete)[:events_in_incomplete]] = True
    return pd.DataFrame({"os_months": rng.exponential(40, n), "os_event": event,
                         "complete_resection": pd.array(complete, dtype="boolean")})


def test_a_level_without_events_keeps_its_factor():
    cfg = load_config(REPORTS / "irlm1997.yaml")
    assert _factor_unsupported(cfg, _data(0), "complete_resection") == ""
    from metsurv.stats import km

    with pytest.warns(StatsWarning, match="no events"):
        fit = km(_data(0), by="complete_resection", times=[60])
    table = fit.to_frame()
    # R survfit: S(t) = 1 without events
    assert np.allclose(table.loc[table["group"] == "False", "estimate"], 1.0)


def test_a_factor_without_any_event_or_with_one_level_is_left_out_with_a_reason():
    cfg = load_config(REPORTS / "irlm1997.yaml")
    none = _data(0).assign(os_event=False)
    assert "at least one of deaths" in _factor_unsupported(cfg, none, "complete_resection")
    one = _data(3)[lambda d: d["complete_resection"].astype(bool)]
    assert "1 level(s)" in _factor_unsupported(cfg, one, "complete_resection")
