"""The large-data paths of :func:`metsurv.stats.cox.cox` (1e6-patient registries): Newton
steps on the distinct (stratum, time, event, covariate) cells (``collapsed_risk``), Efron
sub-steps summed per tied time before the columns (``_Risk._block_derivs``) and rows
gathered from the table of distinct design rows.

Oracles:
* R ``survival::coxph`` / ``cox.zph`` (the fixtures of ``tests/reference/make_reference.R``):
  every R case is refitted with the thresholds forced to 1 row, so the small R data sets go
  through the large-data code, at the tolerances of ``test_cox.py``;
* the row-by-row path itself (R ``coxfit6``'s sums in R's order) on 30,000 tied rows,
  where the paths switch on by size: the same fit to 1e-10."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from metsurv.stats import cox
from tests.stats.helpers import ABS_EST, REL_STAT, assert_close_abs, assert_close_rel
from tests.stats.test_cox import COX_CASES, _fit, _ids

RISK = sys.modules["metsurv.stats.cox.risk"]


def _force(monkeypatch, on: bool) -> None:
    """Large-data paths for every size (on) or for none (off)."""
    big = 1 if on else 10**12
    monkeypatch.setattr(RISK, "LARGE_ROWS", big)
    monkeypatch.setattr(RISK, "COLLAPSE_MIN_ROWS", big)
    monkeypatch.setattr(RISK, "COLLAPSE_MAX_SHARE", 1.0 if on else 0.25)


@pytest.mark.parametrize("case", COX_CASES, ids=_ids)
def test_large_paths_match_R_coxph(monkeypatch, case):
    """R: coxph(...) coef, SE, vcov, loglik, iterations and cox.zph (km) chisq, with every
    large-data path forced on for R's small fixtures."""
    _force(monkeypatch, True)
    ref, fit = _fit(*case)
    tab = fit.to_frame().set_index("term")
    order = [list(fit.terms).index(t) for t in ref["terms"]]
    assert_close_rel(tab.loc[ref["terms"], "coef"], ref["coef"], REL_STAT, "coef")
    assert_close_rel(tab.loc[ref["terms"], "se"], ref["se"], REL_STAT, "se")
    assert_close_abs(fit.vcov[np.ix_(order, order)], ref["vcov"], ABS_EST, "vcov")
    assert_close_rel([fit.loglik_null, fit.loglik], ref["loglik"], REL_STAT, "loglik")
    assert (fit.n, fit.events, fit.iterations) == (ref["n"], ref["events"], ref["iter"])
    ph = fit.ph_test()
    zph = ph.to_frame()
    assert len(zph) == len(ref["zph"]["terms"])
    assert_close_rel(zph["chisq"], ref["zph"]["chisq"], REL_STAT, "zph chisq")
    # R cox.zph's y (scaled Schoenfeld residuals + beta), as tests/stats/test_cox.py
    y = ph.residuals[list(fit.covariates)].to_numpy()
    assert_close_abs(y, np.asarray(ref["zph_resid"]["y"], dtype=object).ravel().tolist(),
                     ABS_EST, "zph y")


def test_a_factor_design_takes_the_count_path_against_R(monkeypatch):
    """R: cox.zph(coxph(Surv(time, status) ~ sex + ph.ecog, lung)) (few distinct rows): with
    the large-data paths forced on, cox.zph sums by distinct rows (the path is checked
    taken) and gives R's chisq and residuals (the assertions of the test above)."""
    _force(monkeypatch, True)
    case = next(c for c in COX_CASES if _ids(c) == "lung-sex_ecog_few_rows")
    ref, fit = _fit(*case)
    ph = fit.ph_test()
    assert_close_rel(ph.to_frame()["chisq"], ref["zph"]["chisq"], REL_STAT, "zph chisq")
    risk = fit._zph_data[0]
    risk = risk.__dict__.get("_risk") or risk
    assert any(v is not None for v in risk.__dict__.get("_count_cache", {}).values())


def _tied_cohort(n: int = 30_000, seed: int = 7) -> pd.DataFrame:
    """Whole-month times (about 70 deaths per time: heavy Efron ties), three factors with
    real effects, a stratum, and a numeric covariate (many distinct rows)."""
    rng = np.random.default_rng(seed)
    a = rng.choice(["x", "y", "z"], n)
    b = rng.random(n) < 0.4
    c = rng.choice(["0-11", "12-35", ">=36"], n, p=[0.3, 0.3, 0.4])
    lp = 0.4 * (a == "y") - 0.3 * (a == "z") + 0.5 * b - 0.2 * (c == ">=36")
    t = np.ceil(rng.exponential(30 * np.exp(-lp)))
    cens = np.ceil(rng.uniform(1, 150, n))
    return pd.DataFrame({"t": np.minimum(t, cens), "e": t <= cens,
                         "a": pd.Categorical(a), "b": b, "c": pd.Categorical(c),
                         "g": rng.integers(0, 3, n), "age": np.round(rng.normal(55, 10, n), 1)})


@pytest.mark.parametrize("kw", [
    {"covariates": ["a"]},
    {"covariates": ["a", "b", "c"]},
    {"covariates": ["a", "b", "c"], "strata": ["g"]},
    {"covariates": ["a", "b"], "ties": "breslow"},
    {"covariates": ["a", "b", "age"]},  # many distinct rows: no table, no cells
], ids=lambda kw: "+".join(kw["covariates"]) + ("|" + kw.get("ties", "")
                                                  + ",".join(kw.get("strata", []))))
def test_large_paths_equal_row_by_row_sums(monkeypatch, kw):
    """At 30,000 tied rows the large-data paths switch on by themselves; forced off, the
    row-by-row sums (R's order) give the same fit to 1e-10 (coefficients, SEs, loglik,
    score test, cox.zph) and the same survfit.coxph curve."""
    df = _tied_cohort()
    kw = {"time": "t", "event": "e", **kw}
    new = [100]
    big = cox(df, **kw)
    ph_big = big.ph_test()  # before the paths are forced off
    _force(monkeypatch, False)
    small = cox(df, **kw)
    np.testing.assert_allclose(big.coef, small.coef, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(big.se, small.se, rtol=1e-10)
    np.testing.assert_allclose([big.loglik, big.score[0]], [small.loglik, small.score[0]],
                               rtol=1e-12)
    assert big.iterations == small.iterations
    ph_small = small.ph_test()
    zb, zs = ph_big.to_frame(), ph_small.to_frame()
    np.testing.assert_allclose(zb["chisq"], zs["chisq"], rtol=1e-9)
    # the scaled Schoenfeld residuals (one row per death, in the same order) and var
    rb = ph_big.residuals.select_dtypes("number")
    rs = ph_small.residuals.select_dtypes("number")
    assert list(rb.columns) == list(rs.columns) and len(rb) == int(df["e"].sum())
    np.testing.assert_allclose(rb.to_numpy(), rs.to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ph_big.var.to_numpy(), ph_small.var.to_numpy(), rtol=1e-9)
    # factor-only designs took their cox.zph sums from the counts of distinct rows
    risk = big._zph_data[0]
    risk = risk.__dict__.get("_risk") or risk  # built by cox.zph when the fit was lazy
    counted = risk.__dict__.get("_count_cache", {})
    if "strata" not in kw and "age" not in kw["covariates"]:  # strata of 10,000: row sums
        assert any(v is not None for v in counted.values())
    patient = df.iloc[:1]
    if "strata" not in kw:
        pb = big.predict(patient, times=new).to_frame()
        ps = small.predict(patient, times=new).to_frame()
        np.testing.assert_allclose(pb["survival"], ps["survival"], rtol=1e-10)


def test_collapsed_cells_are_used_and_counted():
    """The cells of a factor-only model: far fewer than the rows, and their counts add up
    to the rows and deaths (so n, events and the Efron sub-steps are the data's)."""
    df = _tied_cohort()
    X = np.column_stack([(df["a"] == "y"), (df["a"] == "z"), df["b"]]).astype(float)
    t = df["t"].to_numpy(float)
    e = df["e"].to_numpy(int)
    _, code = np.unique(t, return_inverse=True)
    cells = RISK.collapsed_risk(X, t, e, np.zeros(t.size, dtype=np.int64), True,
                                code.astype(np.int64))
    assert cells is not None and cells.t.size < t.size / 10
    assert cells.w.sum() == t.size
    assert sum(int(st.d.sum()) for st in cells.strata) == e.sum()
    # a numeric covariate: (almost) one cell per row, not collapsed
    Xn = np.column_stack([X, df["age"].to_numpy()])
    assert RISK.collapsed_risk(Xn, t, e, np.zeros(t.size, dtype=np.int64), True,
                               code.astype(np.int64)) is None


def test_a_design_not_kept_is_rebuilt_for_the_na_warning(monkeypatch):
    """A large design with many distinct rows (no cells) is not kept through the Newton
    steps; an aliased term's reason is then found on the design rebuilt from its distinct
    rows: the same NA coefficients and the same R warning as the row-by-row path."""
    df = _tied_cohort().assign(a2=lambda d: d["a"])
    kw = {"time": "t", "event": "e", "covariates": ["a", "b", "age", "a2"]}
    big = cox(df, **kw)
    assert isinstance(big._zph_data[0], RISK._Risk)  # fitted on the rows, not on cells
    _force(monkeypatch, False)
    small = cox(df, **kw)
    assert big.warnings == small.warnings
    assert "a2[y], a2[z] are not estimable (linearly dependent" in big.warnings[0]
    np.testing.assert_allclose(big.coef, small.coef, rtol=1e-10, equal_nan=True)
