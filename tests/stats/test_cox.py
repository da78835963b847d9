"""Cox model parity with R survival::coxph / cox.zph / concordance (fixtures from
make_reference.R) and with lifelines' CoxPHFitter (Efron) as a second oracle."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.schema import DFI_GROUPS
from metsurv.stats import cox
from tests.stats.helpers import (
    ABS_EST,
    REL_STAT,
    assert_close_abs,
    assert_close_rel,
    dataset,
    reference,
)

COX_CASES = [(d, i) for d in ("lung", "veteran", "ties", "neartie")
             for i in range(len(reference(d)["cox"]))]


def _ids(c):
    return f"{c[0]}-{reference(c[0])['cox'][c[1]]['name']}"


def _fit(name, i):
    ref = reference(name)["cox"][i]
    py = ref["python"]
    fit = cox(dataset(name), py["covariates"], strata=py["strata"], ties=py["ties"],
              robust=py["robust"], cluster=py["cluster"], reference=py["reference"],
              time="time", event="event")
    return ref, fit


@pytest.fixture(scope="module", params=COX_CASES, ids=_ids)
def fitted(request):
    return _fit(*request.param)


def test_cox_coef_se_matches_R_coxph(fitted):
    """R: coxph(Surv(time, event) ~ ..., ties = 'efron' | 'breslow' [, strata()]);
    coef(fit), sqrt(diag(fit$naive.var or fit$var)), n, nevent, iterations.
    Coefficients and SEs 1e-6 relative; vcov 1e-8 absolute."""
    ref, fit = fitted
    tab = fit.to_frame().set_index("term")
    assert sorted(tab.index) == sorted(ref["terms"])
    order = [list(fit.terms).index(t) for t in ref["terms"]]
    assert_close_rel(tab.loc[ref["terms"], "coef"], ref["coef"], REL_STAT, "coef")
    assert_close_rel(tab.loc[ref["terms"], "se"], ref["se"], REL_STAT, "se")
    assert_close_abs(fit.vcov[np.ix_(order, order)], ref["vcov"], ABS_EST, "vcov")
    assert (fit.n, fit.events, fit.iterations) == (ref["n"], ref["events"], ref["iter"])


def test_cox_robust_se_matches_R_coxph_robust(fitted):
    """R: coxph(..., robust = TRUE) and coxph(... + cluster(id)): sqrt(diag(fit$var))
    from the Efron/Breslow-aware dfbeta residuals (collapsed by cluster), robust score
    test fit$rscore: 1e-6 relative; robust vcov 1e-8 absolute."""
    ref, fit = fitted
    if ref["robust_se"] is None:
        assert fit.robust_se is None
        return
    order = [list(fit.terms).index(t) for t in ref["terms"]]
    assert_close_rel(fit.robust_se[order], ref["robust_se"], REL_STAT, "robust se")
    assert_close_abs(fit.vcov_robust[np.ix_(order, order)], ref["vcov_robust"], ABS_EST)
    assert_close_rel(fit.robust_score[0], ref["robust_score"][0], REL_STAT, "robust score")


def test_cox_tests_and_intervals_match_R_summary_coxph(fitted):
    """R: fit$loglik, summary(fit)$logtest / $sctest, fit$wald.test (robust var when
    robust), summary(fit)$coefficients p and $conf.int limits. Statistics and p 1e-6
    relative; HR limits 1e-8 absolute."""
    ref, fit = fitted
    assert_close_rel([fit.loglik_null, fit.loglik], ref["loglik"], REL_STAT, "loglik")
    for mine, theirs in ((fit.lrt, ref["lrt"]), (fit.score, ref["score"]),
                         (fit.wald, ref["wald"])):
        assert_close_rel(mine[0], theirs[0], REL_STAT, "statistic")
        assert mine[1] == theirs[1]
        assert_close_rel(mine[2], theirs[2], REL_STAT, "p")
    tab = fit.to_frame().set_index("term").loc[ref["terms"]]
    assert_close_rel(tab["p"], ref["p"], REL_STAT, "p")
    assert_close_abs(tab["lower"], ref["lower"], ABS_EST, "lower")
    assert_close_abs(tab["upper"], ref["upper"], ABS_EST, "upper")


def test_cox_concordance_matches_R_coxph_concordance(fitted):
    """R: fit$concordance (concordancefit on the linear predictor, within strata,
    reverse = TRUE, clustered with cluster()): counts exact; concordance and its
    std 1e-8 absolute."""
    ref, fit = fitted
    assert_close_abs(fit.concordance, ref["concordance"], ABS_EST, "C")
    assert_close_abs(fit.concordance_se, ref["concordance_se"], ABS_EST, "C se")
    rc = ref["concordance_count"]
    got = fit.concordance_counts
    assert [got["concordant"], got["discordant"], got["tied_x"], got["tied_y"],
            got["tied_xy"]] == [rc["concordant"], rc["discordant"], rc["tied.x"],
                                rc["tied.y"], rc["tied.xy"]]


def test_cox_ph_test_matches_R_cox_zph_km(fitted):
    """R: cox.zph(fit, transform = 'km')$table (survival 3.x score test, per term and
    GLOBAL, strata respected): chisq and p 1e-6 relative, df exact."""
    ref, fit = fitted
    zph = fit.ph_test().to_frame()
    z = ref["zph"]
    assert zph["term"].tolist()[-1] == "GLOBAL" and len(zph) == len(z["terms"])
    assert_close_rel(zph["chisq"], z["chisq"], REL_STAT, "zph chisq")
    assert zph["df"].tolist() == z["df"]
    assert_close_rel(zph["p"], z["p"], REL_STAT, "zph p")


def test_cox_result_is_json_safe(fitted):
    _, fit = fitted
    d = fit.to_dict()
    json.dumps(d)
    assert d["table"][0]["term"] == fit.terms[0]
    assert "<table" in fit._repr_html_()


@pytest.mark.parametrize("name,covs", [("lung", ["age", "sex", "ph_ecog"]),
                                       ("ties", ["x1", "x2"]),
                                       ("veteran", ["trt", "karno", "age"])])
def test_cox_efron_matches_lifelines_CoxPHFitter(name, covs):
    """lifelines CoxPHFitter (Efron ties) as a second oracle: coef 1e-6 relative (after
    tight convergence), SE 1e-5 relative, log-likelihood 1e-8 relative. lifelines does
    not merge near-tied times, so integer-time datasets only."""
    from lifelines import CoxPHFitter

    df = dataset(name)[["time", "event", *covs]].dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph = CoxPHFitter().fit(df, "time", "event",
                                fit_options={"precision": 1e-14, "r_precision": 1e-14,
                                             "max_steps": 100})
    fit = cox(df, covs, time="time", event="event")
    assert_close_rel(fit.coef, cph.params_[covs].to_numpy(), 1e-6, "coef vs lifelines")
    assert_close_rel(fit.se, cph.standard_errors_[covs].to_numpy(), 1e-5, "se vs lifelines")
    assert_close_rel(fit.loglik, cph.log_likelihood_, 1e-8, "loglik vs lifelines")


def test_cox_categorical_reference_and_names():
    df = dataset("veteran")
    df["celltype"] = df["celltype"].astype(str)  # plain strings: first sorted is reference
    fit = cox(df, ["celltype", "karno"], time="time", event="event")
    assert fit.terms == ("celltype[large]", "celltype[smallcell]", "celltype[squamous]",
                         "karno")
    assert fit.references == {"celltype": "adeno"}
    fit2 = cox(df, ["celltype", "karno"], reference={"celltype": "squamous"},
               time="time", event="event")
    assert fit2.terms[0] == "celltype[adeno]"
    # same model, reparametrised: the fitted log-likelihood is identical
    assert fit.loglik == pytest.approx(fit2.loglik, rel=1e-12)
    df["low_karno"] = df["karno"] < 50
    assert cox(df, ["low_karno"], time="time", event="event").terms == ("low_karno[True]",)


def test_cox_reports_dropped_rows_and_validates():
    df = dataset("lung")
    fit = cox(df, ["age", "wt_loss"], time="time", event="event")
    assert fit.n + fit.n_dropped == len(df) and fit.n_dropped == int(df["wt_loss"].isna().sum())
    with pytest.raises(ValueError, match="ties"):
        cox(df, ["age"], ties="exact", time="time", event="event")
    with pytest.raises(ValueError, match="reference"):
        cox(df, ["sex_f"], reference={"sex_f": "other"}, time="time", event="event")


def test_cox_handles_large_data_vectorised():
    rng = np.random.default_rng(1)
    n = 20_000
    x = rng.normal(size=(n, 3))
    t = np.ceil(rng.exponential(np.exp(-x @ [0.5, -0.3, 0.2])) * 10)
    df = pd.DataFrame({"t": t, "e": rng.random(n) < 0.7, "a": x[:, 0], "b": x[:, 1],
                       "c": x[:, 2]})
    fit = cox(df, ["a", "b", "c"], time="t", event="e", robust=True)
    # the simulation's true log hazard ratios (hazard exp(x @ beta) above, seed 1)
    assert np.allclose(fit.coef, [0.5, -0.3, 0.2], atol=0.05)
    assert fit.converged


def test_cox_clear_errors_for_degenerate_input():
    """No events is a DataError; an aliased column (y = 2x) is no longer an error but NA
    with a warning, as R coxph (it used to raise "singular"). Here x also separates the
    deaths, so R runs out of iterations: coxph(Surv(t, e) ~ x + y) gives fit$iter 21,
    x -19.0394799256, y 0 (not NA: R marks NA only in a converged fit), and the warning."""
    df = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [0, 0, 0, 0], "x": [1.0, 2, 3, 4]})
    with pytest.raises(DataError, match="no events"):
        cox(df, ["x"], time="t", event="e")
    df = pd.DataFrame({"t": [1.0, 2, 3, 4, 5], "e": [1, 1, 0, 1, 1], "x": [1.0, 2, 3, 4, 6],
                       "y": [2.0, 4, 6, 8, 12]})
    with pytest.warns(StatsWarning, match="Ran out of iterations"):
        fit = cox(df, ["x", "y"], time="t", event="e")
    assert (fit.iterations, fit.converged) == (21, False)
    assert fit.coef[0] == pytest.approx(-19.0394799256, rel=1e-8) and fit.coef[1] == 0.0
    df["t"] = [5.0, 2, 3, 1, 4]  # no separation: y is NA
    with pytest.warns(StatsWarning, match="y is not estimable"):
        fit = cox(df, ["x", "y"], time="t", event="e")
    assert fit.converged and np.isnan(fit.coef[1]) and np.isfinite(fit.coef[0])


def test_cox_categorical_uses_first_category_of_pandas_categorical():
    """The loader gives categoricals in canonical order, reference first: R relevel()."""
    df = dataset("veteran")  # celltype: Categorical(squamous, smallcell, adeno, large)
    fit = cox(df, ["celltype"], time="time", event="event")
    assert fit.references == {"celltype": "squamous"}
    assert fit.terms == ("celltype[smallcell]", "celltype[adeno]", "celltype[large]")
    assert fit.ph_test().to_frame()["df"].tolist() == [3, 3]


@pytest.mark.parametrize("transform", ["rank", "identity", "log"])
def test_cox_ph_test_other_transforms_match_R_cox_zph(fitted, transform):
    """R: cox.zph(fit, transform = 'rank' | 'identity' | 'log')$table: chisq and p 1e-6
    relative."""
    ref, fit = fitted
    zph = fit.ph_test(transform).to_frame()
    assert_close_rel(zph["chisq"], ref["zph_other"][transform]["chisq"], REL_STAT, "chisq")
    assert_close_rel(zph["p"], ref["zph_other"][transform]["p"], REL_STAT, "p")


def test_cox_ph_residuals_match_R_cox_zph_y(fitted):
    """R: z <- cox.zph(fit, transform = 'km'); z$y (scaled Schoenfeld residuals + beta),
    z$x, z$time: 1e-8 absolute (NA where a term is constant within a stratum)."""
    ref, fit = fitted
    res = fit.ph_test().residuals
    zr = ref["zph_resid"]
    assert_close_abs(res["time"], zr["time"], ABS_EST, "time")
    assert_close_abs(res["x"], zr["x"], ABS_EST, "x")
    y = res[list(fit.covariates)].to_numpy()
    assert_close_abs(y, np.asarray(zr["y"], dtype=object).ravel().tolist(), ABS_EST, "y")


def _schema_frame() -> pd.DataFrame:
    """extra_schema as the loader gives it: yes/no as nullable "boolean", coded fields as
    Categorical in schema display order (reference not first)."""
    df = dataset("extra_schema")
    df["complete_resection"] = df["complete_resection"].astype("boolean")
    df["dfi_group"] = pd.Categorical(df["dfi_group"], categories=list(DFI_GROUPS))
    return df  # leiomyosarcoma stays numpy bool


def test_cox_schema_reference_levels_match_R_relevel():
    """R: ``coxph(Surv(os_months, os_event) ~ relevel(factor(complete_resection), 'TRUE') +
    relevel(dfi_group, '>=36') + leiomyosarcoma)`` (extra_schema.json): the default
    reference of a schema factor is schema.REFERENCE_LEVELS; yes/no columns (numpy bool or
    nullable boolean) are two-level factors. coef, statistics, zph chisq and p 1e-6
    relative; vcov, concordance 1e-8 absolute."""
    ref = reference("extra_schema")["irlm"]
    fit = cox(_schema_frame(), ["complete_resection", "dfi_group", "leiomyosarcoma"])
    assert fit.terms == ("complete_resection[False]", "dfi_group[0-11]", "dfi_group[12-35]",
                         "leiomyosarcoma[True]")
    assert fit.references == {"complete_resection": True, "dfi_group": ">=36",
                              "leiomyosarcoma": False}
    assert_close_rel(fit.coef, ref["coef"], REL_STAT, "coef")
    assert_close_abs(fit.vcov, ref["var"], ABS_EST, "vcov")
    assert_close_rel([fit.loglik_null, fit.loglik], ref["loglik"], REL_STAT, "loglik")
    assert_close_rel(fit.score[0], ref["score"], REL_STAT, "score")
    assert_close_abs(fit.concordance, ref["concordance"], ABS_EST, "C")
    zph = fit.ph_test().to_frame()
    assert_close_rel(zph["chisq"], ref["zph"]["chisq"], REL_STAT, "zph chisq")
    assert zph["df"].tolist() == ref["zph"]["df"]


def test_cox_explicit_reference_wins_and_absent_schema_reference_falls_back():
    df = _schema_frame()
    fit = cox(df, ["complete_resection", "dfi_group"],
              reference={"complete_resection": False, "dfi_group": "0-11"})
    assert fit.terms == ("complete_resection[True]", "dfi_group[12-35]", "dfi_group[>=36]")
    base = cox(df, ["complete_resection", "dfi_group"])
    assert fit.loglik == pytest.approx(base.loglik, rel=1e-12)
    short = df[df["dfi_group"] != ">=36"]  # the schema reference is absent: first level
    # present is the reference; the unused category is listed as an NA row (R: NA)
    with pytest.warns(StatsWarning, match=r"dfi_group\[>=36\] is not estimable"):
        fit_short = cox(short, ["dfi_group"])
    assert fit_short.terms == ("dfi_group[12-35]", "dfi_group[>=36]")
    assert np.isfinite(fit_short.coef[0]) and np.isnan(fit_short.coef[1])
    with pytest.raises(ValueError, match="reference level"):
        cox(short, ["dfi_group"], reference={"dfi_group": ">=36"})
