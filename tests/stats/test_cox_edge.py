"""Cox models on the designs of issue 9 against R ``coxph``/``cox.zph`` (survival 3.5-3):
aliased and non-estimable terms, infinite estimates, case weights, step halving, the handed
cases. Fixtures: ``tests/reference/make_cox_edge.R`` -> ``cox_edge.json`` and
``data/cox_edge_*.csv`` (rerun live below when Rscript exists)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.stats.cox import cox
from tests.stats.helpers import (
    assert_r_reproduces,
    dataset,
    needs_r,
    reference,
    run_r_script,
)

CASES = reference("cox_edge")["cases"]


def _num(v) -> np.ndarray:
    """R JSON (scalars unboxed, NA null, infinities "Inf"/"-Inf") to a float array."""
    conv = {None: np.nan, "Inf": np.inf, "-Inf": -np.inf}
    return np.array([conv.get(x, x) if not isinstance(x, (int, float)) else x
                     for x in np.ravel(np.array(v, dtype=object))], dtype=float)


def _list(v) -> list:
    return v if isinstance(v, list) else [v]


def fit_case(case: dict, **extra) -> object:
    """metsurv's call for an R case (no warnings shown; they are compared separately)."""
    py = case["python"]
    df = dataset(py["dataset"])
    for col, levels in (py.get("levels") or {}).items():
        df[col] = pd.Categorical(df[col], categories=_list(levels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow reaches users
        return cox(df, _list(py["covariates"]), strata=py["strata"], ties=py["ties"],
                   robust=True if py["robust"] else None, cluster=py["cluster"],
                   start=py["start"], time=py["time"], event=py["event"],
                   weights=py["weights"], **extra)


def _close(actual, expected, rtol: float, what: str, atol: float = 0.0) -> None:
    a, e = np.atleast_1d(np.asarray(actual, dtype=float)), _num(expected)
    assert a.shape == e.shape, what
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NA pattern")
    np.testing.assert_array_equal(np.isinf(a), np.isinf(e), err_msg=f"{what}: Inf pattern")
    fin = np.isfinite(e)
    np.testing.assert_allclose(a[fin], e[fin], rtol=rtol, atol=atol, err_msg=what)


def _infinite(case: dict) -> bool:
    """R warns a coefficient may be infinite, or ran out of iterations: its numbers
    depend on where the iteration stops (compared 1e-5 relative, not 1e-6)."""
    return (any("infinite" in w for w in _list(case["warnings"]))
            or not case["converged"])


@pytest.fixture(scope="module", params=CASES, ids=[c["name"] for c in CASES])
def fitted(request):
    return request.param, fit_case(request.param)


def test_cox_edge_coef_se_na_pattern_match_R_coxph(fitted):
    """R: coef(fit) (NA for non-estimable terms), sqrt(diag(fit$naive.var or fit$var)),
    robust SE, HR limits exp(coef -+ 1.96 se) (robust se when robust), p, fit$iter, n,
    nevent. Coefficients, SE and p 1e-6 relative (1e-5 for a coefficient R warns may be
    infinite, whose value depends on where the iteration stops); limits 1e-6 relative,
    with the same 0/Inf; iterations exact."""
    case, fit = fitted
    tol = 1e-5 if _infinite(case) else 1e-6
    _close(fit.coef, case["coef"], tol, "coef")
    _close(fit.se, case["se"], tol, "se")
    if case["robust_se"] is None:
        assert fit.robust_se is None
    else:
        _close(fit.robust_se, case["robust_se"], tol, "robust se")
    tab = fit.to_frame()
    _close(tab["lower"], case["lower"], tol, "lower", atol=1e-300)
    _close(tab["upper"], case["upper"], tol, "upper")
    # p below 1e-12 (z > 7): p moves by z^2 times the relative change of z, so on an
    # infinite coefficient it is compared absolutely
    _close(tab["p"], case["p"], tol, "p", atol=1e-12)
    assert (fit.iterations, fit.n, fit.events) == (case["iter"], case["n"], case["events"])
    assert fit.converged == case["converged"]


def test_cox_edge_term_names_are_R_coefficient_names(fitted):
    """R: names(coef(fit)), e.g. ``z:histepi`` for metsurv's ``z:hist[epi]``: the same
    columns in the same order (a factor whose margin is absent from the model coded with
    one column per level, as R's model.matrix does)."""
    case, fit = fitted
    r_names = _list(case["terms"])
    ours = [t.replace("[", "").replace("]", "") for t in fit.terms]
    # yes/no columns are factors in metsurv (male[1]) and numbers in R (male)
    assert len(ours) == len(r_names)
    for mine, theirs in zip(ours, r_names, strict=True):
        assert mine == theirs or mine.rstrip("01") == theirs, (fit.terms, r_names)


def test_cox_edge_tests_count_only_estimable_terms_as_R(fitted):
    """R: fit$loglik, summary(fit)$logtest, $sctest, fit$wald.test (on the non-NA
    coefficients), fit$rscore: statistics 1e-6 relative, df exact (= estimable terms)."""
    case, fit = fitted
    _close([fit.loglik_null, fit.loglik], case["loglik"], 1e-10, "loglik")
    for mine, (stat, df), name in ((fit.lrt, case["lrt"], "lrt"),
                                  (fit.score, case["score"], "score"),
                                  (fit.wald, case["wald"], "wald")):
        _close(mine[0], stat, 1e-5 if _infinite(case) else 1e-6, name)
        assert mine[1] == df, name
    assert fit.lrt[1] == int(np.isfinite(fit.coef).sum())
    if case["rscore"] is not None:
        _close(fit.robust_score[0], case["rscore"], 1e-6, "robust score")


def test_cox_edge_warnings_name_the_terms_R_warns_about(fitted):
    """R's warnings ("Loglik converged before variable k; coefficient may be infinite",
    "Ran out of iterations") come with the term named; every NA term is named in a
    warning that says R gives NA; nothing is said when R says nothing."""
    case, fit = fitted
    text = " ".join(fit.warnings)
    for w in _list(case["warnings"]):
        if "Loglik converged before variable" in w:
            k = int(w.split("variable")[1].split(";")[0].split(",")[0])
            assert f"variable {k} ({fit.terms[k - 1]}" in text and "infinite" in text
        elif "Ran out of iterations" in w:
            assert "Ran out of iterations and did not converge" in text
    na = [t for t, c in zip(fit.terms, fit.coef, strict=True) if np.isnan(c)]
    for t in na:
        assert any(t in w and "not estimable" in w and "R coxph gives NA" in w
                   for w in fit.warnings), t
    if not na and not _list(case["warnings"]):
        assert fit.warnings == ()


def test_cox_edge_ph_test_leaves_NA_terms_out_as_R_cox_zph(fitted):
    """R: cox.zph(fit)$table: terms without NA coefficients, GLOBAL df = estimable
    columns; chisq and p 1e-6 relative (1e-5 with an infinite coefficient), chisq 1e-6
    absolute where R's is ~0."""
    case, fit = fitted
    z = fit.ph_test().to_frame()
    if "zph" not in case:
        # R 3.5-3's cox.zph stops on this design (an all-indicator interaction: "length of
        # 'dimnames' [1] not equal to array extent"); metsurv's GLOBAL still has the
        # estimable columns as df
        assert z["term"].tolist()[-1] == "GLOBAL"
        # (and a column without information in an unconverged fit, where R's cox.zph
        # stops on the singular matrix, is left out as an NA one)
        flat = fit._zph_data[0].flat
        assert z["df"].iloc[-1] == int((np.isfinite(fit.coef) & ~flat).sum())
        return
    assert z["term"].tolist()[-1] == "GLOBAL"
    assert len(z) == len(_list(case["zph"]["terms"]))
    assert z["df"].tolist() == _list(case["zph"]["df"])
    tol = 1e-5 if _infinite(case) else 1e-6
    _close(z["chisq"], case["zph"]["chisq"], tol, "zph chisq", atol=1e-6)
    _close(z["p"], case["zph"]["p"], tol, "zph p", atol=1e-6)


def test_cox_edge_concordance_matches_R(fitted):
    """R: fit$concordance (concordancefit(y, lp, strata, weights, cluster, reverse =
    TRUE)): C and its std 1e-8 absolute, with case weights (pairs weighted w_i w_j),
    strata, clusters and (start, stop] rows."""
    case, fit = fitted
    _close(fit.concordance, case["concordance"], 0, "C", atol=1e-8)
    _close(fit.concordance_se, case["concordance_se"], 0, "C se", atol=1e-8)


def test_cox_edge_json_is_null_for_NA_and_Inf_for_infinite_limits(fitted):
    """to_dict(): NA terms have coef/se/hr/lower/upper/p null; an overflowing limit is
    the string "Inf" (json_safe), never null; warnings travel under "warnings"."""
    case, fit = fitted
    d = fit.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["warnings"] == list(fit.warnings)
    for row, c in zip(d["table"], _num(case["coef"]), strict=True):
        if np.isnan(c):
            assert all(row[k] is None for k in ("coef", "se", "hr", "lower", "upper", "p"))
    for row, up in zip(d["table"], _num(case["upper"]), strict=True):
        if np.isinf(up):
            assert row["upper"] == "Inf"
    lines = repr(fit).splitlines()
    for t, c in zip(fit.terms, fit.coef, strict=True):
        row = next(line.split() for line in lines if line.split()[:1] == [t])
        assert (row[1] == "NA") == bool(np.isnan(c)), row


# ----------------------------------------------------------------------------- handed cases
def _case(name: str) -> dict:
    return next(c for c in CASES if c["name"] == name)


def test_case01_monotone_likelihood_R_values():
    """../shared/cases 01, R coxph(Surv(time, status) ~ x): coef 21.26194893,
    se 16237.41, HR CI 0 to Inf, LRT 6.802394756, warning "Loglik converged before
    variable 1; coefficient may be infinite" (1e-8 relative on coef and LRT)."""
    with pytest.warns(StatsWarning, match=r"variable 1 \(x\); coefficient may be infinite"):
        fit = cox(dataset("cox_edge_case01"), ["x"], time="time", event="status")
    assert fit.coef[0] == pytest.approx(21.26194893, rel=1e-8)
    assert fit.se[0] == pytest.approx(16237.41, rel=1e-6)
    tab = fit.to_frame()
    assert tab["lower"][0] == 0.0 and tab["upper"][0] == np.inf
    assert fit.lrt[0] == pytest.approx(6.802394756, rel=1e-9)
    assert fit.to_dict()["table"][0]["upper"] == "Inf"


def test_case02_collinear_R_values():
    """../shared/cases 02, R coxph(Surv(time, status) ~ dose_g + dose_mg + age):
    dose_g -0.98464462 (se 0.87506, p 0.2605), dose_mg NA, age 0.03615649 (p 0.5399),
    loglik -12.2666041; cox.zph GLOBAL 1.9076 on 2 df (p 0.385)."""
    with pytest.warns(StatsWarning, match="dose_mg is not estimable"):
        fit = cox(dataset("cox_edge_case02"), ["dose_g", "dose_mg", "age"], time="time",
                  event="status")
    tab = fit.to_frame().set_index("term")
    assert tab.loc["dose_g", "coef"] == pytest.approx(-0.98464462, rel=1e-8)
    assert tab.loc["dose_g", "se"] == pytest.approx(0.87506, rel=1e-5)
    assert tab.loc["dose_g", "p"] == pytest.approx(0.2605, abs=1e-4)
    assert tab.loc["dose_mg"].drop("term", errors="ignore").isna().all()
    assert tab.loc["age", "coef"] == pytest.approx(0.03615649, abs=5e-9)
    assert fit.loglik == pytest.approx(-12.2666041, rel=1e-8)
    z = fit.ph_test().to_frame().set_index("term")
    assert list(z.index) == ["dose_g", "age", "GLOBAL"]
    assert z.loc["GLOBAL", "chisq"] == pytest.approx(1.9076, abs=1e-4)
    assert z.loc["GLOBAL", "df"] == 2
    assert z.loc["GLOBAL", "p"] == pytest.approx(0.385, abs=1e-3)


def test_case14_case_weights_R_values():
    """../shared/cases 14, R coxph(Surv(time, status) ~ arm, weights = w): coef
    -0.692081346909, se 0.755968608; robust = TRUE: robust se 0.879018936."""
    df = dataset("cox_edge_case14")
    fit = cox(df, ["arm"], time="time", event="status", weights="w")
    assert fit.coef[0] == pytest.approx(-0.692081346909, rel=1e-10)
    assert fit.se[0] == pytest.approx(0.755968608, rel=1e-8)
    assert fit.robust_se is None  # whole-number weights: R's default is not robust
    rob = cox(df, ["arm"], time="time", event="status", weights="w", robust=True)
    assert rob.robust_se[0] == pytest.approx(0.879018936, rel=1e-8)


def test_case16_zero_events_is_a_data_error():
    """../shared/cases 16: no events (R: coef NA, loglik 0, a warning): a DataError
    "no events ... nothing to fit", as is a design with no rows."""
    df = pd.DataFrame({"time": [2, 3, 5, 7, 8, 11], "status": [0] * 6,
                       "arm": list("ABABAB"), "x": [0.5, 1.2, 0.7, 2.0, 1.1, 0.3]})
    with pytest.raises(DataError, match="no events.*nothing to fit"):
        cox(df, ["arm", "x"], time="time", event="status")
    df["x"] = np.nan
    with pytest.raises(DataError, match="no rows"):
        cox(df, ["x"], time="time", event="status")


def test_case19_step_halving_converges_at_iteration_14_as_R():
    """../shared/cases 19, R coxph(Surv(time, status) ~ x + z): converges at iteration
    14 by step halving: x 0.0056734330212, z 0.0146692853014, loglik -50.0818202824
    (1e-10 relative)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = cox(dataset("cox_edge_case19"), ["x", "z"], time="time", event="status")
    assert fit.converged and fit.iterations == 14
    np.testing.assert_allclose(fit.coef, [0.0056734330212, 0.0146692853014], rtol=1e-10)
    assert fit.loglik == pytest.approx(-50.0818202824, rel=1e-11)
    assert fit.warnings == ()


def test_cox_iter_max_runs_out_as_R():
    """R coxph(..., control = coxph.control(iter.max = 5)) on case 19: "Ran out of
    iterations and did not converge", fit$iter 6, coef 0.0212987615750731 and
    0.0085938478828526, loglik -60.772687478236 (the last accepted step), 1e-10."""
    with pytest.warns(StatsWarning, match="Ran out of iterations and did not converge"):
        fit = cox(dataset("cox_edge_case19"), ["x", "z"], time="time", event="status",
                  iter_max=5)
    assert not fit.converged and fit.iterations == 6
    np.testing.assert_allclose(fit.coef, [0.0212987615750731, 0.0085938478828526],
                               rtol=1e-10)
    assert fit.loglik == pytest.approx(-60.772687478236, rel=1e-11)
    assert "Ran out of iterations and did not converge" in fit.warnings


# ----------------------------------------------------------------------------- by hand
def test_cox_aliased_column_gives_warning_and_NA_row_in_frame_and_repr():
    df = dataset("cox_edge_case02")
    with pytest.warns(StatsWarning) as rec:
        fit = cox(df, ["dose_g", "dose_mg", "age"], time="time", event="status")
    assert [str(w.message) for w in rec] == list(fit.warnings) == [
        "dose_mg is not estimable (linearly dependent on other terms; R coxph gives NA)"]
    assert fit.to_frame()["term"].tolist() == ["dose_g", "dose_mg", "age"]
    assert np.isnan(fit.vcov[1]).all() and np.isfinite(fit.vcov[np.ix_([0, 2], [0, 2])]).all()
    assert "NA" in repr(fit) and "Warning: dose_mg is not estimable" in repr(fit)


def test_cox_formula_string_matches_column_lists():
    """cox(data, "Surv(t, e) ~ a + b*c + strata(s) + cluster(id)") is the same model as
    the column-list call (R coxph formula; interaction columns named as R)."""
    pytest.importorskip("metsurv.stats.formula")
    df = dataset("cox_edge_registry")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)
        a = cox(df, "Surv(time, status) ~ male + g3 * z + strata(center) + cluster(id)")
        b = cox(df, ["male", "g3", "z", "g3:z"], strata="center", cluster="id",
                time="time", event="status")
    assert a.terms == b.terms == ("male", "g3[b]", "g3[c]", "z", "g3[b]:z", "g3[c]:z")
    np.testing.assert_array_equal(a.coef, b.coef)
    assert a.robust_se is not None and a.strata == ("center",)


def test_cox_weighted_counting_process_start_matches_unweighted_with_unit_weights():
    """weights of 1 are the unweighted fit (same code path); doubling every weight keeps
    the coefficients (R: the partial likelihood scales, the estimate does not)."""
    df = dataset("cox_edge_cp")
    kw = dict(start="start", time="stop", event="status", strata="center")
    base = cox(df, ["tdc", "age"], **kw)
    df["one"], df["two"] = 1.0, 2.0
    one = cox(df, ["tdc", "age"], weights="one", **kw)
    two = cox(df, ["tdc", "age"], weights="two", **kw)
    np.testing.assert_allclose(one.coef, base.coef, rtol=1e-12)
    np.testing.assert_allclose(two.coef, base.coef, rtol=1e-9)
    np.testing.assert_allclose(two.se, base.se / np.sqrt(2), rtol=1e-9)


def test_cox_zero_weight_is_a_data_error():
    df = dataset("cox_edge_case14")
    df.loc[0, "w"] = 0
    with pytest.raises(DataError, match="weights > 0"):
        cox(df, ["arm"], time="time", event="status", weights="w")


@needs_r
def test_make_cox_edge_R_reproduces_committed_fixtures(tmp_path):
    """Rscript tests/reference/make_cox_edge.R <tmp>: every JSON value equal to the
    committed one (1e-12 relative), every input CSV identical."""
    run_r_script("make_cox_edge.R", tmp_path)
    assert_r_reproduces("cox_edge", tmp_path, "cox_edge_*.csv", 1e-12, 1e-14,
                        same_survival=True)


def test_cox_term_given_twice_is_one_term_as_in_an_R_formula():
    """R: coxph(Surv(time, status) ~ x + x) has one term x and no warning; so does
    cox([x, x]) and an interaction given as a:b and b:a."""
    df = dataset("cox_edge_case19")
    import warnings as _w

    with _w.catch_warnings():
        _w.simplefilter("error")
        twice = cox(df, ["x", "x", "z"], time="time", event="status")
    once = cox(df, ["x", "z"], time="time", event="status")
    assert twice.terms == once.terms and np.array_equal(twice.coef, once.coef)
    assert cox(df, ["x", "z", "x:z", "z:x"], time="time", event="status").terms == (
        "x", "z", "x:z")


@pytest.mark.parametrize("scale", [1e160, 1e-200])
def test_cox_covariate_beyond_double_precision_is_a_data_error_not_a_number(scale):
    """A covariate spread over 1e160 (or 1e-200) overflows the information matrix: a
    DataError that names the column and says to change its units, never a coefficient of
    0 with SE 0 (R rescales inside coxph.fit; metsurv asks the user to)."""
    df = dataset("cox_edge_case19").assign(big=lambda d: d["x"] * scale)
    with pytest.raises(DataError, match="'big'.*units"):
        cox(df, ["big", "z"], time="time", event="status")
