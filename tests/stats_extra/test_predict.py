"""Cross-validated model comparison (scikit-survival): shape, orientation, reproducibility."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from metsurv.stats.predict import MODELS, compare_models

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
