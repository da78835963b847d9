"""`metsurv.bootstrap` and the Cox refit path (`metsurv.stats.cox.refit`), issue 14.

Oracles: :func:`metsurv.stats.cox.cox` (itself checked against R ``coxph``) refitted on the
same resampled rows, rebuilt from the engine's stream (:func:`metsurv.replicate.replicate_rng`);
the bootstrap formulas of R ``boot.ci`` ("norm": t0 - bias -/+ z se) written out here;
determinism by seed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from metsurv.bootstrap import bootstrap, bootstrap_cox, resample_rows
from metsurv.replicate import replicate_rng
from metsurv.stats.cox import cox
from metsurv.stats.cox.refit import prepare_cox
from metsurv.synthetic import generate
from metsurv.synthetic.calibration import analysis_frame

COVS = ["complete_resection", "n_metastases_group", "dfi_group", "histology_group", "age"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    f = analysis_frame(generate("irlm1997", n=1500, seed=4, outcome="ph"))
    cols = ["os_months", "os_event", *COVS]
    f = f.rename(columns={"age_at_metastasectomy": "age"})
    return f[cols].dropna().reset_index(drop=True)


def test_refit_equals_cox_on_each_resample(frame):
    """Oracle: cox() on the resampled rows; every refit's coefficients and SEs to 1e-10."""
    res = bootstrap_cox(frame, COVS, replicates=12, seed=3, progress=False)
    assert res.n_failed == 0 and len(res.replicates) == 12
    full = cox(frame, COVS)
    assert np.allclose(list(res.t0.values()), full.coef, rtol=0, atol=1e-10)
    d = prepare_cox(frame, COVS)
    for k in range(12):
        rows = resample_rows(replicate_rng(3, k), len(frame))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = cox(frame.iloc[rows].reset_index(drop=True), COVS)
        got = res.replicates.loc[res.replicates["replicate"] == k, list(fit.terms)]
        assert np.abs(got.to_numpy()[0] - fit.coef).max() <= 1e-10
        coef, se = d.refit(rows)
        assert np.abs(se - fit.se).max() <= 1e-10


def test_refit_breslow_and_heavy_ties():
    """Tied times repeated by the resample: Efron sub-steps count the copies (as cox() on
    the copied rows); Breslow too."""
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"os_months": rng.integers(1, 15, n).astype(float),
                       "os_event": rng.random(n) < 0.7, "x": rng.normal(size=n),
                       "g": rng.choice(["a", "b", "c"], n)})
    for ties in ("efron", "breslow"):
        d = prepare_cox(df, ["x", "g"], ties=ties)
        rows = rng.integers(0, n, n)
        fit = cox(df.iloc[rows].reset_index(drop=True), ["x", "g"], ties=ties)
        coef, se = d.refit(rows)
        assert np.abs(coef - fit.coef).max() <= 1e-10
        assert np.abs(se - fit.se).max() <= 1e-10


def test_intervals_follow_the_boot_ci_formulas(frame):
    """Oracle: R boot.ci "norm" (t0 - bias -/+ z se, se with divisor R - 1) and percentile
    quantiles, computed here from the replicates."""
    res = bootstrap(frame, _median_time, replicates=60, seed=2, progress=False)
    t = res.replicates["statistic"].to_numpy()
    t0 = float(np.median(frame["os_months"]))
    row = res.to_frame().iloc[0]
    bias, se = t.mean() - t0, t.std(ddof=1)
    z = norm.ppf(0.975)
    assert row["estimate"] == t0 and row["bias"] == pytest.approx(bias, abs=1e-12)
    assert row["normal_lower"] == pytest.approx(t0 - bias - z * se, abs=1e-12)
    assert row["percentile_upper"] == pytest.approx(np.quantile(t, 0.975), abs=1e-12)
    # the resample is rows of the engine's stream k
    rows = resample_rows(replicate_rng(2, 5), len(frame))
    assert t[5] == float(np.median(frame["os_months"].to_numpy()[rows]))


@pytest.mark.filterwarnings("ignore:statistic. not estimable")
def test_deterministic_by_seed_and_failures_counted(frame):
    assert frame["os_months"].iloc[0] >= frame["os_months"].iloc[1]  # t0 itself computable
    a = bootstrap(frame, _mean_or_fail, replicates=30, seed=9, progress=False)
    b = bootstrap(frame, _mean_or_fail, replicates=30, seed=9, progress=False)
    c = bootstrap(frame, _mean_or_fail, replicates=30, seed=10, progress=False)
    assert a.replicates.to_csv() == b.replicates.to_csv()
    assert a.replicates.to_csv() != c.replicates.to_csv()
    assert a.n_failed + len(a.replicates) == 30 and a.n_failed > 0
    assert "ValueError" in a.failed["error"].iloc[0]


def test_bad_input():
    with pytest.raises(ValueError):
        bootstrap(pd.DataFrame({"x": [1.0, 2.0]}), _median_time, replicates=1)


def _median_time(d: pd.DataFrame) -> float:
    return float(np.median(d["os_months"]))


def _mean_or_fail(d: pd.DataFrame) -> float:
    if d["os_months"].iloc[0] < d["os_months"].iloc[1]:  # about half the resamples
        raise ValueError("deliberate failure")
    return float(d["os_months"].mean())


def _mean_nan_or_fail(d: pd.DataFrame) -> dict[str, float]:
    first, second = d["os_months"].iloc[0], d["os_months"].iloc[1]
    if first < second and d["os_months"].iloc[2] < second:  # some resamples fail outright
        raise ValueError("deliberate failure")
    return {"mean": float(d["os_months"].mean()),
            "sometimes": float("nan") if first < second else float(d["os_months"].max())}


def test_not_estimable_resamples_warned(frame):
    """Counts: resamples where a statistic is NaN or the resample failed, B - n of
    to_frame()."""
    with pytest.warns(UserWarning, match="sometimes: not estimable in"):
        res = bootstrap(frame, _mean_nan_or_fail, replicates=40, seed=1, progress=False)
    tab = res.to_frame().set_index("statistic")
    assert 0 < res.n_failed and 0 < tab.at["mean", "n"] < 40
    k_mean, k_some = 40 - tab.at["mean", "n"], 40 - tab.at["sometimes", "n"]
    assert k_some > k_mean == res.n_failed
    assert res.warnings == (
        f"mean: not estimable in {k_mean} of 40 resamples; SE and intervals use the other "
        f"{40 - k_mean}",
        f"sometimes: not estimable in {k_some} of 40 resamples; SE and intervals use the "
        f"other {40 - k_some}")
    assert res.to_dict()["warnings"] == list(res.warnings)


def test_bootstrap_cox_absent_level_warned():
    """120 irlm1997 patients: the few N1/N2 patients are absent from some resamples (NaN,
    as cox() gives): one warning per such term, with k = B - n."""
    import metsurv

    c = generate("irlm1997", n=120, seed=1, outcome="ph")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cohort = metsurv.load_cohort(c.patients, resections=c.resections)
        res = bootstrap_cox(cohort, ["nodal_status", "dfi_group"], replicates=200, seed=0,
                            progress=False)
    tab = res.to_frame()
    short = tab.loc[tab["n"] < 200]
    assert len(short) > 0
    assert res.warnings == tuple(
        f"{r.statistic}: not estimable in {200 - r.n} of 200 resamples; SE and intervals "
        f"use the other {r.n}" for r in short.itertuples())


def test_refit_with_a_level_nobody_has_equals_cox():
    """A factor level no patient has is a design column of zeros: cox() reports it NA and
    the refits leave it out (faster); the other coefficients are cox()'s on the resample
    (oracle: cox(), itself R coxph), 1e-10."""
    rng = np.random.default_rng(4)
    n = 300
    d = pd.DataFrame({"os_months": rng.exponential(30, n).round(1),
                      "os_event": rng.integers(0, 2, n),
                      "stage": pd.Categorical(rng.choice(["I", "II"], n),
                                              categories=["I", "II", "III"]),
                      "age": rng.normal(60, 8, n)})
    design = prepare_cox(d, ["stage", "age"])
    assert design.X.shape[1] == len(design.names) - 1
    for seed in (1, 2):
        rows = np.random.default_rng(seed).integers(0, n, n)
        coef, se = design.refit(rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = cox(d.iloc[rows].reset_index(drop=True), ["stage", "age"])
        np.testing.assert_allclose(coef, np.asarray(ref.coef, float), rtol=1e-10,
                                   equal_nan=True)
        np.testing.assert_allclose(se, np.asarray(ref.se, float), rtol=1e-10,
                                   equal_nan=True)
        assert np.isnan(coef[list(design.names).index("stage[III]")])
