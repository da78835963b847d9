"""Multiple imputation (metsurv.stats.impute) and Rubin's rules (metsurv.stats.pool).

Oracles:
- R ``mice::pool`` (mice 3.15) + ``summary(conf.int = TRUE)`` on ``coxph`` fits to the m
  completed data sets in tests/reference/data/pool_imputed.csv (made by this module's
  ``write_fixture_data``, i.e. by metsurv's ``impute``), and ``mice::pool.scalar``:
  tests/reference/make_pool.R -> tests/reference/pool.json, compared to 1e-6 relative.
- R ``mice()`` on the same incomplete data (pool_incomplete.csv; pmm / logreg / polyreg with
  the event and ``nelsonaalen()`` as predictors): same missingness counts, pooled
  estimates close (different random numbers, so only qualitatively).
- Synthetic truth: ``metsurv.synthetic.generate(..., outcome="ph")`` and its true log HRs.

Regenerate the fixture data: ``python tests/stats/test_impute.py`` then
``Rscript tests/reference/make_pool.R``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError
from metsurv.stats.cox import cox
from metsurv.stats.impute import impute, nelson_aalen_at
from metsurv.stats.pool import pool

REF = Path(__file__).resolve().parents[1] / "reference"
COVARIATES = ["age", "n_metastases_group", "laterality", "complete_resection"]
FIXTURE_M = 5
TERM_ORDER = ["age", "n_metastases_group[2-3]", "n_metastases_group[>=4]",
              "laterality[unilateral]", "complete_resection[False]"]


def incomplete_registry(n: int = 400, seed: int = 2024) -> pd.DataFrame:
    """A small registry with covariates missing at random given the outcome."""
    from metsurv.synthetic import generate
    from metsurv.synthetic.calibration import analysis_frame

    c = generate("irlm1997", n=n, seed=seed, outcome="ph")
    f = analysis_frame(c)
    out = pd.DataFrame({
        "os_months": f["os_months"].round(4).to_numpy(),
        "os_event": f["os_event"].astype(int).to_numpy(),
        "age": f["age_at_metastasectomy"].round(0).to_numpy(),
        "n_metastases_group": f["n_metastases_group"].astype(object).to_numpy(),
        "laterality": f["laterality"].astype(object).to_numpy(),
        "complete_resection": f["complete_resection"].astype(bool).to_numpy(),
    })
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(-2.0 + 1.5 * out["os_event"].to_numpy())))
    for col in ("age", "n_metastases_group", "laterality"):
        out.loc[rng.random(n) < p, col] = np.nan
    return out


def write_fixture_data() -> None:
    """Write tests/reference/data/pool_incomplete.csv and pool_imputed.csv (m = 5 completed
    data sets from metsurv's impute, long format with column ``imp`` = 1..m)."""
    data = incomplete_registry()
    data.to_csv(REF / "data" / "pool_incomplete.csv", index=False)
    imp = impute(data, COVARIATES, m=FIXTURE_M, seed=13, iterations=10)
    long = pd.concat([imp.complete(i).assign(imp=i + 1) for i in range(imp.m)])
    long.to_csv(REF / "data" / "pool_imputed.csv", index=False)


def _read(name: str) -> pd.DataFrame:
    d = pd.read_csv(REF / "data" / name)
    for col in ("n_metastases_group", "laterality"):
        d[col] = d[col].astype(object).where(d[col].notna(), None)
    d["complete_resection"] = d["complete_resection"].astype(bool)
    return d


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "pool.json").read_text())


def _close(actual, expected, rtol=1e-6, atol=1e-10):
    np.testing.assert_allclose(np.asarray(actual, dtype=float),
                               np.asarray(expected, dtype=float), rtol=rtol, atol=atol)


POOLED = {"estimate": "estimate", "ubar": "ubar", "b": "b", "t": "t", "dfcom": "dfcom",
          "df": "df", "riv": "riv", "lambda": "lambda", "fmi": "fmi",
          "std_error": "std.error", "statistic": "statistic", "p": "p.value",
          "lower": "2.5 %", "upper": "97.5 %"}


def _check_pooled(out: pd.DataFrame, r: dict) -> None:
    for ours, theirs in POOLED.items():
        _close(out[ours], r[theirs])


@pytest.mark.parametrize("case", ["default", "dfcom_inf", "dfcom_50"])
def test_pool_equals_R_mice_pool_given_R_coxph_estimates(ref, case):
    """R: pool(as.mira(lapply(1:5, function(i) coxph(Surv(os_months, os_event) ~ age +
    n_metastases_group + laterality + complete_resection, data = imp_i))), dfcom = ...) and
    summary(conf.int = TRUE); Python pools R's own coef/vcov; 1e-6 relative."""
    fits = ref["fits"]
    q = np.array([f["coef"] for f in fits])
    v = np.array([f["vcov"] for f in fits])
    dfcom = {"default": ref["dfcom_default"], "dfcom_inf": np.inf, "dfcom_50": 50}[case]
    out = pool(q, v, dfcom=dfcom)
    _check_pooled(out, ref["pooled"][case])


def test_pool_of_metsurv_cox_on_imputed_sets_equals_R_mice_pool(ref):
    """metsurv cox on each of the 5 committed completed data sets, pooled, against R
    ``summary(pool(as.mira(coxph fits)), conf.int = TRUE)`` (default dfcom = nevent - k,
    mice get.dfcom); 1e-6 relative."""
    long = _read("pool_imputed.csv")
    fits = [cox(long[long["imp"] == i], COVARIATES) for i in range(1, FIXTURE_M + 1)]
    assert list(fits[0].terms) == TERM_ORDER
    out = pool(fits)
    assert out["dfcom"].iloc[0] == ref["dfcom_default"]
    _check_pooled(out, ref["pooled"]["default"])
    assert out.attrs["vcov"].shape == (5, 5)


def test_pool_scalar_equals_R_pool_scalar(ref):
    """R: mice::pool.scalar(Q, U, n = 120, k = 3); 1e-6 relative."""
    r = ref["scalar"]
    out = pool(np.array(r["Q"]), np.array(r["U"]), dfcom=120 - 3)
    for ours, theirs in {"estimate": "qbar", "ubar": "ubar", "b": "b", "t": "t", "df": "df",
                         "riv": "r", "fmi": "fmi"}.items():
        _close(out[ours], [r[theirs]])


def test_pool_needs_two_analyses_and_matching_shapes():
    with pytest.raises(DataError, match="at least 2"):
        pool([1.0], [0.1])
    with pytest.raises(ValueError, match="do not match"):
        pool(np.ones((3, 2)), np.ones((3, 3)))


def test_impute_agrees_with_R_mice_qualitatively(ref):
    """R mice(m = 20, maxit = 10; pmm/polyreg/logreg, event and nelsonaalen() as
    predictors) on pool_incomplete.csv: same missing counts; pooled Cox estimates within
    0.6 pooled SE of mice's (different RNG; not an exact check)."""
    data = _read("pool_incomplete.csv")
    imp = impute(data, COVARIATES, m=20, seed=5, iterations=10)
    assert imp.n_missing.to_dict() == ref["mice"]["nmis"]
    ours = imp.fit(lambda d: cox(d, COVARIATES))
    r = ref["mice"]["pooled"]
    diff = np.abs(ours["estimate"].to_numpy() - np.asarray(r["estimate"]))
    assert (diff < 0.6 * np.asarray(r["std.error"])).all(), diff
    _close(ours["std_error"], r["std.error"], rtol=0.25)


def test_nelson_aalen_at_own_time_matches_hand_count():
    """Oracle: hand count; at t = 2 H = 1/4 + 1/3 (ties: both rows get the full jump)."""
    h = nelson_aalen_at(np.array([2.0, 1, 2, 3]), np.array([1, 1, 0, 1]))
    _close(h, [0.25 + 1 / 3, 0.25, 0.25 + 1 / 3, 0.25 + 1 / 3 + 1])


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return _read("pool_incomplete.csv")


@pytest.fixture(scope="module")
def small_imp(small):
    return impute(small, COVARIATES, m=3, seed=11, iterations=3)


def test_impute_fills_only_missing_cells_and_keeps_observed(small, small_imp):
    mask = small[COVARIATES].isna()
    assert small_imp.missing.equals(mask)
    assert small_imp.n_missing.to_dict() == mask.sum().to_dict()
    for i in range(small_imp.m):
        done = small_imp.complete(i)
        assert not done[COVARIATES].isna().any().any()
        pd.testing.assert_frame_equal(done[~mask.any(axis=1)], small[~mask.any(axis=1)])
        for col in COVARIATES:
            obs = ~mask[col]
            assert (done.loc[obs, col] == small.loc[obs, col]).all()
            assert done[col].dtype == small[col].dtype or col == "laterality"
    assert small.isna().sum().sum() == mask.sum().sum(), "input left untouched"


def test_impute_differs_between_imputations_and_is_deterministic_per_seed(small, small_imp):
    again = impute(small, COVARIATES, m=3, seed=11, iterations=3)
    other = impute(small, COVARIATES, m=3, seed=12, iterations=3)
    for col in ("age", "n_metastases_group"):
        assert np.array_equal(small_imp.values[col], again.values[col])
        assert not np.array_equal(small_imp.values[col], other.values[col])
        assert not np.array_equal(small_imp.values[col][0], small_imp.values[col][1])


def test_imputed_levels_come_from_observed_levels_only(small):
    data = small.copy()
    data["n_metastases_group"] = pd.Categorical(
        data["n_metastases_group"], categories=["1", "2-3", ">=4", "never seen"])
    imp = impute(data, COVARIATES, m=2, seed=3, iterations=2)
    for i in range(2):
        done = imp.complete(i)
        assert set(done["n_metastases_group"]) <= {"1", "2-3", ">=4"}
        assert isinstance(done["n_metastases_group"].dtype, pd.CategoricalDtype)
        assert set(done["laterality"]) <= set(small["laterality"].dropna())
    # pmm imputes only observed numbers
    assert set(np.unique(imp.values["age"])) <= set(small["age"].dropna())


def test_impute_errors_name_the_column(small):
    with pytest.raises(DataError, match="'no_such'"):
        impute(small, ["age", "no_such"], m=2)
    empty = small.assign(nothing=np.nan)
    with pytest.raises(DataError, match="'nothing' has no observed value"):
        impute(empty, ["age", "nothing"], m=2)
    with pytest.raises(DataError, match="'os_event' has 1 missing"):
        impute(small.assign(os_event=small["os_event"].where(small.index > 0)), ["age"], m=2)
    with pytest.raises(DataError, match="'laterality' is categorical"):
        impute(small, ["laterality"], method={"laterality": "pmm"}, m=2)


def test_fit_accepts_estimate_variance_tuples(small_imp):
    """Imputations.fit with fn returning (estimate, variance): a mean, pooled; oracle:
    Rubin's rules written out."""
    out = small_imp.fit(lambda d: (d["age"].mean(), d["age"].var() / len(d)))
    means = [small_imp.complete(i)["age"].mean() for i in range(3)]
    _close(out["estimate"], [np.mean(means)])
    _close(out["b"], [np.var(means, ddof=1)])


def _truth_key(term: str) -> str:
    return term.replace("[", "=").rstrip("]")


def test_mi_recovers_synthetic_truth_where_complete_case_is_biased():
    """Synthetic truth (irlm1997, outcome="ph", n = 3000, seed 1): dfi_group and
    n_metastases_group made missing at random given the outcome and complete resection
    (~45% each, deaths far more often). Complete-case Cox: mean |estimate - true log HR|
    over the 9 terms > 0.2 (its complete_resection HR is doubled); MI (m = 10) pooled:
    < 0.12 and less than half the complete-case error."""
    from metsurv.synthetic import generate
    from metsurv.synthetic.calibration import analysis_frame

    cov = ["complete_resection", "dfi_group", "n_metastases_group", "histology_group"]
    c = generate("irlm1997", n=3000, seed=1, outcome="ph")
    f = analysis_frame(c)[["os_months", "os_event", *cov]].copy()
    truth = c.manifest["true_parameters"]["ph"]["log_hr"]
    rng = np.random.default_rng(101)
    ev = f["os_event"].to_numpy(bool)
    lp = (-3 + 3.0 * ev - 1.0 * (f["os_months"].to_numpy() >= 36)
          + 1.0 * f["complete_resection"].to_numpy(bool))
    for col in ("n_metastases_group", "dfi_group"):
        f.loc[rng.random(len(f)) < 1 / (1 + np.exp(-lp)), col] = np.nan
    cc = cox(f, cov)
    mi = impute(f, cov, m=10, seed=1, iterations=5).fit(lambda d: cox(d, cov))
    true = np.array([truth[_truth_key(t)] for t in cc.terms])
    cc_err = np.abs(cc.coef - true).mean()
    mi_err = np.abs(mi["estimate"].to_numpy() - true).mean()
    assert cc_err > 0.2, cc_err
    assert mi_err < 0.12 and mi_err < cc_err / 2, (mi_err, cc_err)
    assert (mi["fmi"].iloc[1:5] > 0.1).all(), "the imputed terms report missing information"


if __name__ == "__main__":
    write_fixture_data()
