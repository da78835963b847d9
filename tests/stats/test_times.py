"""Near-tie merging (R aeqSurv) and input preparation shared by km, logrank and cox."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from metsurv.stats import km
from metsurv.stats._result import json_safe
from metsurv.stats._times import aeq_codes, aeq_times, survival_data
from tests.stats.helpers import dataset, reference


def test_aeq_times_matches_R_aeqSurv():
    """R: aeqSurv(Surv(time, event))[, 1] on the near-tied dataset (days / 30.4375 computed
    two ways): same distinct times (exact), values to the 15 digits jsonlite writes."""
    ref = reference("neartie")["aeq"]
    raw = dataset("neartie")["time"].to_numpy()
    merged = aeq_times(raw)
    assert np.unique(raw).size == ref["n_unique_raw"]
    assert np.unique(merged).size == ref["n_unique_aeq"]
    # the JSON carries 15 significant digits: the values agree to that, and the tie
    # structure (which subjects share a time) is identical
    np.testing.assert_allclose(merged, np.asarray(ref["time_aeq"]), rtol=1e-14, atol=0)
    r_codes = np.unique(np.asarray(ref["time_aeq"]), return_inverse=True)[1]
    np.testing.assert_array_equal(np.unique(merged, return_inverse=True)[1], r_codes)


def test_aeq_codes_are_consistent():
    x = np.array([3.0, 1.0, 1.0 + 1e-13, 2.0, 3.0 - 1e-12])
    merged, code, uniq = aeq_codes(x)
    np.testing.assert_array_equal(uniq[code], merged)
    assert merged.tolist() == [3.0 - 1e-12, 1.0, 1.0, 2.0, 3.0 - 1e-12]
    assert aeq_times(np.array([1.0, 2.0, 3.0]), tolerance=0).tolist() == [1.0, 2.0, 3.0]


def test_near_ties_change_the_km_risk_sets_as_in_R():
    """Unmerged, 2 near-equal death times would make two steps; merged (as R) one step."""
    df = pd.DataFrame({"t": [0.3, 0.1 + 0.2, 5.0], "e": [1, 1, 0]})
    assert df["t"][0] != df["t"][1]
    tab = km(df, time="t", event="e").curves[0].table
    assert tab["n_event"].tolist() == [2, 0]


def test_survival_data_validates_event_coding():
    with pytest.raises(ValueError, match="0 \\(censored\\)"):
        survival_data(pd.DataFrame({"t": [1.0], "e": [2]}), "t", "e")
    with pytest.raises(TypeError, match="patients"):
        survival_data([1, 2], "t", "e")
    sd = survival_data(pd.DataFrame({"t": [1.0, 2.0], "e": [True, False]}), "t", "e")
    assert sd.event.tolist() == [1, 0] and sd.n_dropped == 0


def test_json_safe_turns_nan_into_null_and_inf_into_a_string():
    out = json_safe({"a": np.float64("nan"), "b": [np.int64(2), math.inf],
                     "c": pd.DataFrame({"x": [1.0, np.nan]}), "d": pd.NA})
    assert json.loads(json.dumps(out)) == {"a": None, "b": [2, "Inf"],
                                           "c": [{"x": 1.0}, {"x": None}], "d": None}


# --- fast paths used at a million rows: the same answers as the numpy calls they replace
# (oracle: numpy's own np.unique / np.lexsort, and the object round trip of irlm)


def test_unique_inverse_matches_numpy_unique():
    from metsurv.stats._times import _unique_inverse

    rng = np.random.default_rng(7)
    x = np.round(rng.exponential(30, 20_000), 2)  # many ties
    x[:5] = np.inf  # censorings at Inf sort last
    y, inv = _unique_inverse(x)
    y0, inv0 = np.unique(x, return_inverse=True)
    assert np.array_equal(y, y0) and np.array_equal(inv, inv0.ravel())
    x[7] = -0.0  # a negative zero: numpy's path, still numpy's answer
    y, inv = _unique_inverse(x)
    y0, inv0 = np.unique(x, return_inverse=True)
    assert np.array_equal(y, y0) and np.array_equal(inv, inv0.ravel())


def test_risk_order_matches_lexsort():
    from metsurv.stats.cox.risk import _order

    rng = np.random.default_rng(3)
    for n_times, n_strata in ((50, 1), (50, 3), (40_000, 2)):  # the last: key > 16 bits
        t = rng.integers(0, n_times, 60_000).astype(float) / 7
        s = rng.integers(0, n_strata, t.size)
        _, code = np.unique(t, return_inverse=True)
        assert np.array_equal(_order(t, s, code.ravel()), np.lexsort((t, s)))
    assert np.array_equal(_order(t, s, None), np.lexsort((t, s)))


def test_irlm_categorical_fast_path_matches_object_round_trip():
    from metsurv.stats.irlm import _as_categorical

    s = pd.Series(pd.Categorical(["0-11", None, ">=36", "12-35"],
                                 categories=["0-11", "12-35", ">=36"]), index=[5, 6, 7, 8])
    levels = ["0-11", "12-35", ">=36"]
    slow = pd.Series(pd.Categorical(s.astype(object).where(s.notna(), None),
                                    categories=levels), index=s.index)
    fast = _as_categorical(s, levels)
    assert fast.equals(slow) and fast.dtype == slow.dtype
    assert fast.cat.codes.tolist() == [0, -1, 2, 1]
