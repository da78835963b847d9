"""Cross-validated model comparison (scikit-survival): shape, orientation, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from metsurv.stats.km import km
from metsurv.stats.predict import MODELS, _IRLMGrouping, compare_models

from ._simulate import irlm_like_cohort


@pytest.fixture(scope="module")
def result():
    return compare_models(irlm_like_cohort(400, seed=11), n_splits=3, seed=3)


def test_all_models_all_metrics(result):
    s = result.summary.set_index("model")
    assert list(s.index) == list(MODELS)
    assert len(result.folds) == 3 * len(MODELS)
    assert result.features == ("complete_resection", "dfi_group", "n_metastases_group",
                               "histology_group")
    assert result.n == 400 and result.n_dropped == 0
    json.dumps(result.to_dict(), allow_nan=False)


def test_orientation_higher_is_better(result):
    """Hazard rises with IRLM group and with the factors in the simulation, so every
    concordance is above chance (higher = better, risk = higher is worse) and the
    integrated Brier score is below the 0.25 of a coin."""
    s = result.summary.set_index("model")
    for col in ("harrell_c_mean", "uno_c_mean", "mean_auc_mean"):
        assert (s[col] > 0.55).all(), col
    assert (s["ibs_mean"] < 0.25).all()
    assert result.auc["auc"].between(0, 1).all()


def test_fixed_seed_reproduces(result):
    again = compare_models(irlm_like_cohort(400, seed=11), n_splits=3, seed=3)
    pd.testing.assert_frame_equal(result.folds, again.folds)


def test_unknown_model_rejected():
    with pytest.raises(ValueError, match="unknown model"):
        compare_models(irlm_like_cohort(50), models=("irlm_group", "xgboost"))


def _first_test_fold(e, n_splits, seed):
    """The test rows of fold 0, as compare_models splits (StratifiedKFold on the event)."""
    splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return next(iter(splitter.split(np.zeros(len(e)), e)))[1]


def test_evaluation_settings_come_from_the_training_fold():
    """Regression: the time grid and tau were percentiles of all patients, the test fold
    included. Stretching the follow-up of fold 0's test patients must leave fold 0's grid
    and tau as they were (its training patients are unchanged), while they are still the
    training fold's percentiles."""
    df = irlm_like_cohort(300, seed=5)
    test = _first_test_fold(df["os_event"].astype(bool).to_numpy(), 3, 2)
    stretched = df.copy()
    stretched.loc[stretched.index[test], "os_months"] *= 3
    a = compare_models(df, models=("irlm_group",), n_splits=3, seed=2)
    b = compare_models(stretched, models=("irlm_group",), n_splits=3, seed=2)
    assert a.times[0] == b.times[0] and a.tau[0] == b.tau[0]
    assert a.times[1] != b.times[1]  # fold 1 trains on some of the stretched patients
    train = np.setdiff1d(np.arange(len(df)), test)
    t, e = df["os_months"].to_numpy()[train], df["os_event"].astype(bool).to_numpy()[train]
    np.testing.assert_allclose(a.times[0], np.percentile(t[e], np.linspace(10, 80, 8)))
    assert a.tau[0] == pytest.approx(np.percentile(t, 80))
    assert a.folds["tau"].tolist() == list(a.tau)


def test_irlm_group_absent_from_training_uses_pooled_km():
    """Regression: a test-fold IRLM group missing from the training fold raised KeyError;
    its survival is now the training fold's pooled Kaplan-Meier."""
    train = pd.DataFrame({"os_months": [3.0, 5, 8, 12, 20, 4, 9, 15],
                          "os_event": [1, 1, 0, 1, 0, 1, 1, 0],
                          "irlm_group": ["I", "I", "II", "II", "III", "III", "I", "II"]})
    test = pd.DataFrame({"irlm_group": ["IV", "I"]})
    times = np.array([4.0, 10.0])
    m = _IRLMGrouping().fit(train, "os_months", "os_event")
    surv = m.survival(test, times)
    pooled = km(train).curves[0].at(times)["estimate"].to_numpy()
    group_i = km(train[train["irlm_group"] == "I"]).curves[0].at(times)["estimate"].to_numpy()
    np.testing.assert_array_equal(surv[0], pooled)
    np.testing.assert_array_equal(surv[1], group_i)
    # and through compare_models: one group IV patient is never in its own training fold
    df = irlm_like_cohort(120, seed=4)
    df["irlm_group"] = df["irlm_group"].astype(str).replace("IV", "III")
    df.loc[df.index[0], "irlm_group"] = "IV"
    res = compare_models(df, models=("irlm_group",), n_splits=3, seed=1)
    assert res.folds["ibs"].notna().all()

