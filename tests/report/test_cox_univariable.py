"""The Cox table's univariable column is R's ``coxph(Surv(t, e) ~ factor)`` on every patient
with the factor: the IRLM battery's HRs are reused only when its fit is that one (it leaves
sparse levels, < 10 patients or < 5 events, out of its Cox model).

Oracle: :func:`metsurv.stats.cox` on all the factor's patients (tested against R coxph in
tests/stats/test_cox.py), which is what R prints for the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.report.analysis import battery_univariable
from metsurv.stats import cox
from metsurv.stats.irlm import irlm_comparisons


def _cohort(p_sparse: float, n: int = 80, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    codes = list(schema.PATIENTS["n_metastases_group"].codes)  # single, 2-3, >=4
    group = rng.choice(codes, n, p=[0.55 - p_sparse / 2, 0.45 - p_sparse / 2, p_sparse])
    return pd.DataFrame({"os_months": rng.exponential(30, n), "os_event": rng.random(n) < 0.8,
                         "n_metastases_group": pd.Categorical(group, categories=codes)})


def test_a_sparse_level_means_the_factor_is_fitted_on_everyone():
    df = _cohort(p_sparse=0.08)  # about 6 patients with >= 4 metastases: sparse
    battery = irlm_comparisons(df)
    lv = battery.levels
    assert lv.loc[lv["factor"] == "n_metastases_group", "sparse"].any()
    assert battery_univariable(battery, "n_metastases_group") is None


def test_without_sparse_levels_the_battery_rows_are_coxph_on_everyone():
    df = _cohort(p_sparse=0.3)
    rows = battery_univariable(irlm_comparisons(df), "n_metastases_group")
    fit = cox(df, covariates=["n_metastases_group"], time="os_months", event="os_event")
    assert rows is not None and len(rows) == 2
    np.testing.assert_allclose(rows["hr"], fit.hr, rtol=1e-10)
    np.testing.assert_allclose(rows["p"], fit.to_frame()["p"], rtol=1e-8)
