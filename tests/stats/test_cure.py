"""Parametric and mixture-cure models (metsurv.stats.cure). Oracles: R survreg (Weibull,
log-normal, log-logistic) and the mixture-cure likelihood written in R and maximised with
optim (tests/reference/make_cure.R -> tests/reference/data/cure_fit.json); and the synthetic
generator's known cure fractions (metsurv.synthetic: pi = expit(intercept - score), computed
from the preset's parameters)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.stats.cure import CURE_COLUMNS, CureResult, cure_figure, cure_models
from tests.stats.helpers import dataset

REF = json.loads((Path(__file__).parents[1] / "reference" / "data" / "cure_fit.json")
                 .read_text())


@pytest.fixture(scope="module")
def fixed_fit() -> CureResult:
    df = dataset("cure_data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)
        return cure_models(df, ["g", "z"], time="time", event="status", horizon=360)


def _coef(res: CureResult, model: str, parameter: str) -> pd.Series:
    c = res.coefficients
    return c[(c["model"] == model) & (c["parameter"] == parameter)].set_index("term")


# lifelines parameter names: the linear predictor and the shape/scale parameter, and how
# survreg's log(scale) maps onto the latter (sign)
AFT = {"weibull": ("lambda_", "rho_", -1.0), "lognormal": ("mu_", "sigma_", 1.0),
       "loglogistic": ("alpha_", "beta_", -1.0)}


@pytest.mark.parametrize("model", sorted(AFT))
def test_aft_matches_survreg(fixed_fit, model):
    """Oracle: R survreg(dist = model) on the fixed dataset (make_cure.R): coefficients,
    log(scale) and log-likelihood to 1e-5, standard errors to 1e-4 (relative)."""
    ref = REF["aft"][model]
    lin, anc, sign = AFT[model]
    got = _coef(fixed_fit, model, lin).loc[ref["terms"]]
    np.testing.assert_allclose(got["estimate"], ref["coef"], atol=1e-5)
    np.testing.assert_allclose(got["std_err"], ref["se"], rtol=1e-4)
    shape = _coef(fixed_fit, model, anc).loc["(Intercept)"]
    assert shape["estimate"] == pytest.approx(sign * ref["log_scale"], abs=1e-5)
    assert shape["std_err"] == pytest.approx(ref["se_log_scale"], rel=1e-4)
    row = fixed_fit.models.set_index("model").loc[model]
    assert row["loglik"] == pytest.approx(ref["loglik"], abs=1e-5)
    assert row["aic"] == pytest.approx(-2 * ref["loglik"] + 2 * 5, abs=1e-4)


def test_mixture_cure_matches_r_optim(fixed_fit):
    """Oracle: the mixture-cure log-likelihood maximised in R (optim BFGS + Newton,
    make_cure.R): coefficients, log-likelihood, standard errors and the per-level cure
    fractions with their logit-scale delta-method CI, to 1e-4."""
    ref = REF["weibull_cure"]
    for parameter, key in (("cure_", "cure"), ("lambda_", "lambda")):
        got = _coef(fixed_fit, "weibull_cure", parameter).loc[ref["terms"]]
        np.testing.assert_allclose(got["estimate"], ref[key], atol=1e-4)
        np.testing.assert_allclose(got["std_err"], ref[f"se_{key}"], rtol=1e-4)
    rho = _coef(fixed_fit, "weibull_cure", "rho_").loc["(Intercept)"]
    assert rho["estimate"] == pytest.approx(ref["log_rho"], abs=1e-4)
    assert rho["std_err"] == pytest.approx(ref["se_log_rho"], rel=1e-4)
    row = fixed_fit.models.set_index("model").loc["weibull_cure"]
    assert row["loglik"] == pytest.approx(ref["loglik"], abs=1e-4)
    tab = fixed_fit.to_frame().set_index("level")
    for level, want in ref["cure_fraction"].items():
        for col in ("estimate", "std_err_logit", "lower", "upper"):
            assert tab.loc[level, col] == pytest.approx(want[col], abs=1e-4), (level, col)
    assert (tab["reason"] == "").all()


def test_cure_model_best_by_aic(fixed_fit):
    """The data were drawn from a mixture cure model (make_cure.R): its AIC is the lowest."""
    assert fixed_fit.best_model(cure=True) == "weibull_cure"
    assert list(fixed_fit.to_frame().columns) == CURE_COLUMNS


# ------------------------------------------------------------------- synthetic truth
COVARIATES = ["histology_group", "resection_status", "dfi_group", "n_metastases_group",
              "nodal_status"]


@pytest.fixture(scope="module")
def synthetic():
    """A large irlm1997 draw with its cancer-specific endpoint (the generator's mixture cure
    model; background deaths and the registry's censoring censor it) and each patient's true
    cure fraction expit(intercept - score) from the preset's parameters."""
    from metsurv.synthetic import generate, get_preset
    from metsurv.synthetic.calibration import analysis_frame

    cohort = generate("irlm1997", n=12_000, seed=7)
    frame = analysis_frame(cohort)
    tr = cohort.truth
    death, censor = tr["death_months"].to_numpy(), tr["censor_months"].to_numpy()
    cure = get_preset("irlm1997").cure
    return frame.assign(
        cs_months=np.minimum(death, censor),
        cs_event=(tr["cancer_death_months"].to_numpy() <= death) & (death <= censor),
        pi_true=1.0 / (1.0 + np.exp(-(cure.intercept - tr["score"].to_numpy()))))


def test_cure_fraction_recovers_generator(synthetic):
    """Oracle: the generator's true cure fractions (preset parameters). The model with every
    factor of the generator's score is the generator's model for cancer death, so each
    level's mean fitted cure fraction is within 3 logit-scale standard errors of the mean
    true pi of the same patients; the fitted Weibull shape is the preset's."""
    from metsurv.synthetic import get_preset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)
        res = cure_models(synthetic, COVARIATES, time="cs_months", event="cs_event",
                          models=("weibull_cure",))
    tab = res.to_frame()
    used = synthetic.dropna(subset=COVARIATES)
    assert res.n == len(used) and res.n_dropped == len(synthetic) - len(used) > 0
    truth = [used["pi_true"].mean()] + [
        used.loc[used[f] == level, "pi_true"].mean()
        for f, level in zip(tab["factor"][1:], tab["level"][1:], strict=True)]
    assert (tab["reason"] == "").all(), tab["reason"]
    est = tab["estimate"].to_numpy(float)
    zs = (np.log(est / (1 - est)) - np.log(np.divide(truth, np.subtract(1, truth)))) / tab[
        "std_err_logit"].to_numpy(float)
    assert np.abs(zs).max() < 3, dict(zip(tab["level"], zs.round(2), strict=True))
    assert tab["lower"].lt(truth).all() or np.abs(zs).max() < 3
    shape = np.exp(_coef(res, "weibull_cure", "rho_").loc["(Intercept)", "estimate"])
    assert shape == pytest.approx(get_preset("irlm1997").cure.shape, rel=0.05)


# ------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("p_cure", [0.0, 0.3])
def test_no_plateau_gives_nan_with_reason(p_cure):
    """Follow-up ending early (censored at 20-50 months; uncured Weibull median about 60-80):
    without cure, or with a cure fraction the data cannot show yet, no cure fraction is
    reported: NaN with the reason (not identified, or no plateau within follow-up)."""
    rng = np.random.default_rng(3)
    n = 600
    g = rng.choice(["a", "b"], n)
    t = np.where(rng.random(n) < p_cure, np.inf, 80 * rng.weibull(1.3, n))
    c = rng.uniform(20, 50, n)
    df = pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int), "g": g})
    with pytest.warns(StatsWarning, match="plateau"):
        res = cure_models(df, ["g"], time="t", event="e", models=("weibull_cure",))
    tab = res.to_frame()
    assert tab["estimate"].isna().all() and tab["lower"].isna().all()
    assert tab["reason"].str.contains("plateau").all()
    assert any("plateau" in w for w in res.warnings)


def test_too_few_events_and_errors():
    df = pd.DataFrame({"t": [5.0, 8, 12, 20, 30, 40], "e": [1, 0, 0, 1, 0, 0],
                       "g": ["a", "b", "a", "b", "a", "b"]})
    with pytest.warns(StatsWarning, match="too few events"):
        res = cure_models(df, ["g"], time="t", event="e")
    assert res.models["aic"].isna().all()
    assert res.to_frame()["estimate"].isna().all()
    with pytest.raises(DataError, match="no events"):
        cure_models(df.assign(e=0), ["g"], time="t", event="e")
    with pytest.raises(DataError, match="times > 0"):
        cure_models(df.assign(t=[0.0, 8, 12, 20, 30, 40]), ["g"], time="t", event="e")


def test_missing_values_counted(fixed_fit):
    df = dataset("cure_data")
    df.loc[:9, "z"] = np.nan
    df.loc[10:12, "g"] = None
    with pytest.warns(StatsWarning, match="13 row"):
        res = cure_models(df, ["g", "z"], time="time", event="status", models=("weibull",))
    assert res.n_dropped == 13 and res.missing["z"] == 10 and res.missing["g"] == 3
    assert res.n == fixed_fit.n - 13


def test_non_convergence_is_nan(monkeypatch):
    """A lifelines ConvergenceError is a NaN row with the reason, never a number."""
    from lifelines.exceptions import ConvergenceError

    import metsurv.stats.cure as cure_mod

    def boom(*args, **kwargs):
        raise ConvergenceError("Fitting did not converge.")

    monkeypatch.setattr(cure_mod, "_fit_one", boom)
    df = dataset("cure_data")
    with pytest.warns(StatsWarning, match="did not converge"):
        res = cure_models(df, ["g"], time="time", event="status")
    assert not res.models["converged"].any()
    assert res.to_frame()["estimate"].isna().all()
    assert res.to_frame()["reason"].str.contains("did not converge").all()


def test_result_rendering_and_figure(fixed_fit, tmp_path):
    assert "Models" in fixed_fit._repr_html_() and "weibull_cure" in fixed_fit._repr_html_()
    d = fixed_fit.to_dict()
    assert d["n"] == REF["n"] and d["events"] == REF["events"]
    ax = fixed_fit.plot(factor="g")
    assert ax.get_xlim()[1] == pytest.approx(30)
    fig = cure_figure(fixed_fit)
    fig.savefig(tmp_path / "cure.png", dpi=300)
    assert (tmp_path / "cure.png").stat().st_size > 0
    curves = fixed_fit.curves
    cure_a = curves[(curves["level"] == "a") & (curves["model"] == "weibull_cure")]
    # the cure model's marginal curve flattens at the level's cure fraction
    tail = cure_a["survival"].iloc[-1]
    assert tail == pytest.approx(fixed_fit.to_frame().set_index("level").loc["a", "estimate"],
                                 abs=0.01)
