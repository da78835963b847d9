"""metsurv.stats.propensity and metsurv.stats.balance against R.

Oracle: tests/reference/make_propensity.R (glm(family = binomial) and cobalt's bal.tab /
WeightIt formulas written out in base R) -> tests/reference/propensity.json on the input
tests/reference/data/propensity.csv (525 patients of the bundled synthetic cohort). Other
tests use known truths stated in each docstring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import CohortError, DataError
from metsurv.stats.balance import balance, love_plot
from metsurv.stats.propensity import propensity
from tests.stats.helpers import (
    REL_STAT,
    assert_close_rel,
    assert_r_reproduces,
    dataset,
    needs_r,
    reference,
    rerun_r,
)

LEVELS = ("vats", "thoracotomy")


@pytest.fixture(scope="module")
def ref():
    return reference("propensity")


def fit(method="iptw", estimand="ATE", **kw):
    r = reference("propensity")
    return propensity(dataset("propensity"), r["treatment"], tuple(r["levels"]),
                      r["confounders"], method=method, estimand=estimand, **kw)


def test_glm_coefficients_match_R(ref):
    """R summary(glm(treated ~ ..., family = binomial)): estimates, SEs, z, p at 1e-6
    relative; the same number of IRLS iterations; terms in R's order."""
    res = fit()
    co = res.coefficients
    assert len(co) == len(ref["glm"]["terms"])
    for key in ("estimate", "std_error", "z", "p"):
        assert_close_rel(co[key], ref["glm"][key], REL_STAT, key)
    assert res.iterations == ref["glm"]["iterations"]
    assert co["term"].tolist()[:2] == ["(Intercept)", "histology_group[Germ cell]"]


def test_propensity_scores_match_R_fitted(ref):
    """R fitted(glm): every analysed patient's score at 1e-6 relative, same rows in order."""
    res = fit()
    assert res.data["patient_id"].tolist() == ref["patient_id"]
    assert res.n == ref["n"]
    assert_close_rel(res.data["ps"], ref["ps"], REL_STAT, "ps")
    assert res.data["treated"].tolist() == (res.data["approach"] == "vats").tolist()


@pytest.mark.parametrize("method,estimand,key", [("iptw", "ATE", "iptw_ate"),
                                                 ("iptw", "ATT", "iptw_att"),
                                                 ("overlap", "ATE", "overlap")])
def test_weights_and_ess_match_R(ref, method, estimand, key):
    """make_propensity.R weights (stabilised IPTW ATE/ATT, overlap) and Kish ESS per group
    at 1e-6 relative."""
    res = fit(method, estimand)
    assert_close_rel(res.data["weight"], ref[key]["weights"], REL_STAT, "weights")
    for g in ("treated", "control"):
        assert_close_rel(res.ess[g], ref[key]["ess"][g], REL_STAT, f"ess {g}")


@pytest.mark.parametrize("method,estimand,key", [("iptw", "ATE", "iptw_ate"),
                                                 ("iptw", "ATT", "iptw_att"),
                                                 ("overlap", "ATE", "overlap")])
def test_balance_matches_R_cobalt_formulas(ref, method, estimand, key):
    """cobalt bal.tab formulas in make_propensity.R (SD of the unweighted groups: pooled for
    ATE/ATO, treated for ATT; binary = "std"): SMD before/after and variance ratios per
    balance row (every histology level, synchronous TRUE, laterality's second level) at
    1e-6 relative; binary rows have no variance ratio."""
    tab = fit(method, estimand).balance.table
    rows = ref[key]["balance"]
    assert tab["covariate"].tolist() == [r["covariate"] for r in rows]
    assert [str(v) if v is not None else None for v in tab["level"]] == [
        ("True" if r["level"] is True else r["level"]) for r in rows]
    assert tab["type"].tolist() == [r["type"] for r in rows]
    for col in ("smd_unweighted", "smd_weighted", "vr_unweighted", "vr_weighted"):
        assert_close_rel(tab[col], [r[col] for r in rows], REL_STAT, col)
    assert tab["above_threshold"].tolist() == [abs(r["smd_weighted"]) > 0.1 for r in rows]


def test_balance_standalone_equals_propensity_balance(ref):
    """balance() on the result's data and weight column gives the table propensity() made
    (the same R oracle, iptw_att)."""
    res = fit("iptw", "ATT")
    alone = balance(res.data, "approach", LEVELS, ref["confounders"], weights="weight",
                    estimand="ATT")
    pd.testing.assert_frame_equal(alone.table, res.balance.table)
    assert "treated" in alone.sd_denominator


def test_truncation_recorded_and_matches_R(ref):
    """R pmin(w, quantile(w, 0.95)) on the ATE weights: cap, number capped, weights, ESS and
    weighted SMDs at 1e-6 relative; recorded on the result."""
    res = fit(truncate=0.95)
    r = ref["truncated"]
    assert res.truncated["n"] == r["n"] > 0
    assert_close_rel(res.truncated["cap"], r["cap"], REL_STAT, "cap")
    assert_close_rel(res.data["weight"], r["weights"], REL_STAT, "weights")
    assert_close_rel([res.ess["treated"], res.ess["control"]],
                     [r["ess"]["treated"], r["ess"]["control"]], REL_STAT, "ess")
    assert_close_rel(res.balance.table["smd_weighted"],
                     [b["smd_weighted"] for b in r["balance"]], REL_STAT, "smd")
    assert res.data["weight"].max() == pytest.approx(r["cap"], rel=1e-12)


def test_trimming_recorded_and_matches_R(ref):
    """R: rows with ps outside [0.25, 0.75] dropped, stabilised ATE weights with the share
    treated of the rows kept: rows kept, counts per group, weights, ESS, SMDs at 1e-6."""
    res = fit(trim=0.25)
    r = ref["trimmed"]
    assert res.data["patient_id"].tolist() == r["patient_id"]
    assert res.trimmed == {"treated": r["n_treated"], "control": r["n_control"]}
    last = res.excluded.iloc[-1]
    assert last["column"] == "ps" and last["n"] == r["n_treated"] + r["n_control"] > 0
    assert_close_rel(res.data["weight"], r["weights"], REL_STAT, "weights")
    assert_close_rel(res.ess["control"], r["ess"]["control"], REL_STAT, "ess")
    assert_close_rel(res.balance.table["smd_unweighted"],
                     [b["smd_unweighted"] for b in r["balance"]], REL_STAT, "smd")


def test_excluded_rows_counted_by_reason_as_R(ref):
    """make_propensity.R exclusions (each row under its first reason): missing treatment,
    treatment not in levels, then each confounder's missing values; they add up."""
    res = fit()
    got = res.excluded.to_dict(orient="records")
    assert got == [{"reason": e["reason"], "column": e["column"], "n": e["n"]}
                   for e in ref["excluded"]]
    assert res.n + res.excluded["n"].sum() == len(dataset("propensity"))


def _toy(n=400, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], size=n)
    t = np.where(rng.random(n) < 1 / (1 + np.exp(-(0.5 * x + (g == "b")))), "T", "C")
    return pd.DataFrame({"t": t, "x": x, "g": g, "flag": rng.random(n) < 0.3})


def test_separation_by_factor_level_raises_naming_column():
    """Known truth: every patient of level 'c' treated -> CohortError naming 'g' and 'c'."""
    d = _toy()
    d.loc[d["g"] == "c", "t"] = "T"
    with pytest.raises(CohortError, match=r"confounder 'g'.*'c'.*perfectly predicts"):
        propensity(d, "t", ("T", "C"), ["x", "g"])


def test_separation_by_number_raises_naming_column():
    """Known truth: treated iff x > 0 (no overlap in x) -> CohortError naming 'x'."""
    d = _toy()
    d["t"] = np.where(d["x"] > 0, "T", "C")
    with pytest.raises(CohortError, match=r"confounder 'x'.*do not overlap"):
        propensity(d, "t", ("T", "C"), ["g", "x"])


def test_joint_separation_raises():
    """Known truth: treated iff x + z > 0, each alone overlapping: glm's fitted
    probabilities reach 0/1 -> CohortError naming both confounders."""
    d = _toy()
    rng = np.random.default_rng(9)
    d["z"] = rng.normal(size=len(d))
    d["t"] = np.where(d["x"] + d["z"] > 0, "T", "C")
    with pytest.raises(CohortError, match=r"'x', 'z'.*together perfectly predict"):
        propensity(d, "t", ("T", "C"), ["x", "z"])


def test_overlap_weights_balance_model_terms_exactly():
    """Known truth (Li, Morgan & Zaslavsky 2018): with a logistic score, overlap weights
    give each model term the same weighted mean in both groups, and the two groups' weights
    the same sum (score equations)."""
    res = propensity(_toy(), "t", ("T", "C"), ["x", "g", "flag"], method="overlap")
    np.testing.assert_allclose(res.balance.table["smd_weighted"], 0, atol=1e-9)
    d = res.data
    assert d.loc[d.treated, "weight"].sum() == pytest.approx(d.loc[~d.treated, "weight"].sum(),
                                                             rel=1e-9)


def test_weight_sum_conventions():
    """Definitions: ATE stabilised weights sum to about each group's size (within 10% on
    400 rows), ATT treated weights are 1 and control weights sum to about n_control."""
    d = _toy()
    ate = propensity(d, "t", ("T", "C"), ["x", "g"]).data
    for mask in (ate.treated, ~ate.treated):
        assert ate.loc[mask, "weight"].sum() == pytest.approx(mask.sum(), rel=0.1)
    att = propensity(d, "t", ("T", "C"), ["x", "g"], estimand="ATT").data
    assert (att.loc[att.treated, "weight"] == 1).all()
    assert att.loc[~att.treated, "weight"].sum() == pytest.approx((~att.treated).sum(), rel=0.1)


def test_deterministic_and_input_untouched():
    """Same input, same output to the bit; the input frame is not modified."""
    d = _toy()
    before = d.copy()
    a = propensity(d, "t", ("T", "C"), ["x", "g"])
    b = propensity(d, "t", ("T", "C"), ["x", "g"])
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.balance.table, b.balance.table)
    pd.testing.assert_frame_equal(d, before)


def test_bad_arguments():
    d = _toy()
    with pytest.raises(ValueError, match="overlap"):
        propensity(d, "t", ("T", "C"), ["x"], method="overlap", estimand="ATT")
    with pytest.raises(DataError, match="'nope'"):
        propensity(d, "t", ("T", "C"), ["nope"])
    with pytest.raises(DataError, match="no"):
        propensity(d, "t", ("T", "Z"), ["x"])
    with pytest.raises(DataError, match="'one' has a single value"):
        propensity(d.assign(one=2.0), "t", ("T", "C"), ["x", "one"])
    with pytest.raises(DataError, match="collinear"):
        propensity(d.assign(x2=2 * d["x"] + 1), "t", ("T", "C"), ["x", "x2"])


def test_html_is_rounded_and_labelled():
    """_repr_html_: schema labels (Histology: Germ cell, VATS) and 3-digit numbers."""
    html = fit()._repr_html_()
    assert "Histology: Germ cell" in html and "VATS" in html and "Thoracotomy" in html
    assert "152.917522" not in html and "<td>153</td>" in html
    assert "<td>0.005</td>" in html and "0.00500" not in html  # SMD to 3 decimals
    assert "Synchronous metastases: Synchronous" not in html


def test_love_plot_returns_axes(tmp_path):
    """love_plot draws one point per balance row before and after, the 0.1 line, and the
    labels; it renders to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    res = fit()
    ax = res.plot()
    assert ax.get_yticklabels()[0].get_text() == "Histology: Epithelial"
    assert len(ax.collections) == 2
    assert any(np.allclose(line.get_xdata(), 0.1) for line in ax.get_lines())
    ax.figure.savefig(tmp_path / "balance.png")
    assert (tmp_path / "balance.png").stat().st_size > 1000
    ax2 = love_plot(res.balance, ax=ax)
    assert ax2 is ax
    import matplotlib.pyplot as plt

    plt.close("all")


@needs_r
def test_make_propensity_R_reproduces_committed_fixture(tmp_path_factory):
    """Rscript tests/reference/make_propensity.R <tmp>: the same input CSV and every number
    of propensity.json within 1e-6 relative."""
    fresh = rerun_r(tmp_path_factory, "make_propensity.R")
    assert_r_reproduces("propensity", fresh, "propensity*.csv")
