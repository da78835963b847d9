"""Cross-validated model comparison (scikit-survival): shape, orientation, reproducibility,
and the same numbers as before the speed-up (issue 15 item 8)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from metsurv.errors import CohortError
from metsurv.stats.km import km
from metsurv.stats.predict import MODELS, _harrell_c, _IRLMGrouping, compare_models

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



# --- the speed-up (issue 15 item 8) changed no number -------------------------------------

#: compare_models' results computed by the code before the speed-up (predict.py at b556aab),
#: written by benchmarks/bench_compare_models.py --fixture (never typed by hand)
BEFORE = json.loads((Path(__file__).resolve().parents[1] / "reference"
                     / "compare_models_before.json").read_text())
ROOT = Path(__file__).resolve().parents[2]


def _assert_as_before(res, before):
    """Every table equal to the old code's. On this machine the numbers are identical (max
    difference 0); rtol 1e-9 leaves room only for another CPU's or BLAS's last bits."""
    for key in ("summary", "folds", "auc"):
        expected = pd.DataFrame(before[key]).astype({"model": object})
        got = getattr(res, key)
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False,
                                      rtol=1e-9, atol=1e-12, obj=key)
    assert [list(g) for g in res.times] == before["times"]
    assert list(res.tau) == pytest.approx(before["tau"], rel=1e-12)
    assert (res.n, res.n_events, res.n_dropped) == (before["n"], before["n_events"],
                                                    before["n_dropped"])


def test_same_numbers_as_before_small(result):
    """Oracle: the pre-speed-up compare_models on the same call (fixture)."""
    _assert_as_before(result, BEFORE["small"])


@pytest.mark.slow
def test_same_numbers_as_before_bundled_cohort():
    """Oracle: the pre-speed-up compare_models on the bundled cohort (fixture): all four
    models, 5 folds."""
    import metsurv

    cohort = metsurv.load_cohort(str(ROOT / "data/synthetic/irlm1997/patients.csv"),
                                 resections=str(ROOT / "data/synthetic/irlm1997/resections.csv"))
    _assert_as_before(compare_models(cohort), BEFORE["bundled"])


def test_workers_do_not_change_the_result(result):
    """One process or forked workers: the same numbers, bit for bit (each fit is seeded by
    ``seed`` alone; the forest's trees are summed in one order)."""
    alone = compare_models(irlm_like_cohort(400, seed=11), n_splits=3, seed=3, workers=1)
    for key in ("summary", "folds", "auc"):
        pd.testing.assert_frame_equal(getattr(alone, key), getattr(result, key),
                                      check_exact=True)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_harrell_c_is_sksurvs():
    """Oracle: sksurv.metrics.concordance_index_censored, exactly (same float), with tied
    times (events and censorings at one time), tied risks and risks 1e-8 apart (the
    tolerance's edge), few and many distinct scores."""
    from sksurv.exceptions import NoComparablePairException
    from sksurv.metrics import concordance_index_censored

    rng = np.random.default_rng(7)
    for i in range(120):
        n = int(rng.integers(2, 250))
        t = rng.integers(1, int(rng.integers(2, 40)), n).astype(float)
        e = rng.random(n) < rng.uniform(0.05, 1)
        if not e.any():
            e[0] = True
        if i % 3 == 0:
            risk = rng.normal(size=n)
        else:
            risk = rng.integers(0, 12, n) * 1e-8 * rng.choice([0.5, 1.0, 3.0, 1e6])
        try:
            expected = concordance_index_censored(e, t, risk)[0]
        except NoComparablePairException:
            with pytest.raises(NoComparablePairException):
                _harrell_c(e, t, risk)
            continue
        got = _harrell_c(e, t, risk)
        assert got == expected or (np.isnan(got) and np.isnan(expected)), (i, got, expected)


def test_workers_must_be_whole_numbers(monkeypatch):
    df = irlm_like_cohort(60, seed=2)
    with pytest.raises(ValueError, match="workers"):
        compare_models(df, models=("irlm_group",), n_splits=2, workers=0)
    monkeypatch.setenv("METSURV_WORKERS", "two")
    with pytest.raises(CohortError, match="METSURV_WORKERS"):
        compare_models(df, models=("irlm_group",), n_splits=2)
