"""Integer risk score (metsurv.stats.score, Sullivan, Massaro & D'Agostino 2004).

Oracles: tests/reference/make_nomogram.R (its ``score`` part: the same points rule written
in R on tests/reference/data/nomogram_cohort.csv, and R survival 3.5-3 ``concordance(Surv ~
score, reverse = TRUE)`` for the score, the IRLM group and the Cox fit); synthetic truth
(metsurv.synthetic: the score's C close to the full Cox model's C on a large cohort); and
identities that hold by construction (B from ``unit``, a point per B)."""

from __future__ import annotations

import io
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from metsurv.errors import DataError, StatsWarning  # noqa: E402
from metsurv.stats.cox import cox  # noqa: E402
from metsurv.stats.score import integer_score  # noqa: E402

from .helpers import REFERENCE, reference  # noqa: E402

FULL = ["complete_resection", "dfi_group", "n_metastases_group", "age"]
TOL_C = 1e-10  # the tolerance for the C-indexes


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / "nomogram_cohort.csv", float_precision="round_trip")


@pytest.fixture(scope="module")
def ref() -> dict:
    return reference("data/nomogram_cohort")["score"]


@pytest.fixture(scope="module")
def res(data):
    return integer_score(data, covariates=FULL)


def test_integer_score_points_and_patient_scores_match_R(res, ref):
    """B, the points of every category (age in the categories of pretty(range(age), 4)
    with the medians as reference values) and every patient's score, as the R script
    computes them."""
    assert res.unit == pytest.approx(ref["B"], rel=1e-12)
    pts = res.to_frame()
    for cov, want in ref["points"].items():
        g = pts[pts["covariate"] == cov]
        ours = dict(zip(g["level"].astype(str), g["points"], strict=True))
        assert ours == {k: float(v) for k, v in want.items()}, cov
    age = pts[pts["covariate"] == "age"]
    np.testing.assert_allclose(age["reference_value"], ref["age_reference"], rtol=1e-12)
    np.testing.assert_array_equal(res.scores["score"].to_numpy(), ref["score"])


def test_integer_score_c_indexes_match_R_concordance(res, ref):
    """R concordance(Surv(os_months, os_event) ~ x, reverse = TRUE): C and its jackknife SE
    for the score and the IRLM group (I-IV as 1-4), and the Cox fit's concordance, on the
    same 488 patients."""
    c = res.c_index.set_index("model")
    assert (c["n"] == 488).all()
    np.testing.assert_allclose(c.loc["integer score", "c_index"], ref["c_score"], rtol=0,
                               atol=TOL_C)
    np.testing.assert_allclose(c.loc["integer score", "se"], ref["c_score_se"], rtol=0,
                               atol=TOL_C)
    np.testing.assert_allclose(c.loc["IRLM group", "c_index"], ref["c_irlm"], rtol=0,
                               atol=TOL_C)
    np.testing.assert_allclose(c.loc["IRLM group", "se"], ref["c_irlm_se"], rtol=0, atol=TOL_C)
    np.testing.assert_allclose(c.loc["Cox model", "c_index"], ref["c_cox"], rtol=0, atol=TOL_C)


def test_integer_score_groups_and_km(res):
    """Default cuts: the score's tertiles rounded up; groups partition the patients and the
    KM curves are ordered (lower score, better 5-year survival)."""
    q = np.ceil(np.quantile(res.scores["score"], [1 / 3, 2 / 3])).astype(int)
    assert res.cuts == tuple(sorted(set(q.tolist())))
    assert res.groups["n"].sum() == res.n
    s5 = res.km.survival_at([60])["estimate"].to_numpy()
    assert (np.diff(s5) < 0).all()
    assert list(res.scores["risk_group"].cat.categories) == res.groups["group"].tolist()


def test_integer_score_from_a_fit_equals_from_data(data, res):
    fit = cox(data, FULL)
    again = integer_score(fit, data)
    pd.testing.assert_frame_equal(again.to_frame(), res.to_frame())
    with pytest.raises(DataError, match="pass data="):
        integer_score(fit)


def test_integer_score_points_do_not_depend_on_the_reference_level(data, res):
    """Effects are taken from each covariate's lowest-risk category."""
    fit = cox(data, FULL, reference={"dfi_group": "0-11", "n_metastases_group": ">=4"})
    other = integer_score(fit, data)
    a = res.to_frame().sort_values(["covariate", "label"]).reset_index(drop=True)
    b = other.to_frame().sort_values(["covariate", "label"]).reset_index(drop=True)
    np.testing.assert_array_equal(a["points"], b["points"])


def test_integer_score_unit_from_a_term(data):
    """unit=("age", 10): B = 10 |beta_age|, so 10 years in age make one point (Sullivan's
    worked example uses 5 years of age)."""
    fit = cox(data, FULL)
    r = integer_score(fit, data, unit=("age", 10))
    beta = fit.coef[list(fit.terms).index("age")]
    assert r.unit == pytest.approx(10 * abs(beta), rel=1e-14)
    eff = r.to_frame()["effect"].to_numpy()
    np.testing.assert_array_equal(r.to_frame()["points"], np.round(eff / r.unit))
    with pytest.raises(DataError, match="not a term"):
        integer_score(fit, data, unit=("weight", 1))
    with pytest.raises(DataError, match="> 0"):
        integer_score(fit, data, unit=-1.0)


def test_integer_score_single_covariate_and_numeric_bins(data):
    """One factor: its C equals the C of the factor's own coefficients' order (the score is
    a monotone recoding of the Cox lp when points are distinct). A numeric covariate alone
    with given bins: categories [b_k, b_k+1)."""
    r = integer_score(data, covariates=["dfi_group"])
    c = r.c_index.set_index("model")["c_index"]
    pts = r.to_frame()["points"]
    if pts.nunique() == len(pts):
        assert c["integer score"] == pytest.approx(c["Cox model"], abs=1e-12)
    r2 = integer_score(data, covariates=["age"], bins={"age": [40, 65]})
    assert r2.to_frame()["label"].tolist() == ["<40", "40 to <65", "\u226565"]
    code = np.searchsorted([40, 65], data["age"], side="right")
    np.testing.assert_array_equal(r2.scores["score"],
                                  r2.to_frame()["points"].to_numpy()[code].astype(int))
    with pytest.raises(DataError, match="increasing"):
        integer_score(data, covariates=["age"], bins={"age": [65, 40]})


def test_integer_score_aliased_level_has_no_points(data):
    """A Categorical level with no patient (R coxph: NA): NaN points with a warning; the
    scores are those of the fit without that level."""
    d = data.copy()
    d["dfi_group"] = pd.Categorical(d["dfi_group"], categories=[">=36", "12-35", "0-11", "x"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)
        fit = cox(d, FULL)
    with pytest.warns(StatsWarning, match="no coefficient"):
        r = integer_score(fit, d)
    pts = r.to_frame()
    assert pts.loc[pts["level"] == "x", "points"].isna().all()
    base = integer_score(data, covariates=FULL)
    np.testing.assert_array_equal(r.scores["score"], base.scores["score"])


def test_integer_score_without_irlm_column_gives_na_and_warning(data):
    with pytest.warns(StatsWarning, match="no irlm_group"):
        r = integer_score(data.drop(columns="irlm_group"), covariates=["dfi_group", "age"])
    c = r.c_index.set_index("model")["c_index"]
    assert np.isnan(c["IRLM group"]) and np.isfinite(c["integer score"])


def test_integer_score_bad_cuts_and_irlm_values(data):
    with pytest.raises(DataError, match="cuts"):
        integer_score(data, covariates=["dfi_group"], cuts=[3, 2])
    bad = data.assign(irlm_group=data["irlm_group"].replace({"IV": "V"}))
    with pytest.raises(DataError, match="not an IRLM group"):
        integer_score(bad, covariates=["dfi_group"])
    with pytest.raises(DataError, match="covariates="):
        integer_score(data)


def test_integer_score_c_close_to_full_cox_c_on_synthetic_cohort():
    """Synthetic truth: on 4,000 patients of the irlm1997 preset (a cure model whose
    covariates act through the IRLM factors), rounding the Cox model to integer points
    loses little: the score's C within 0.01 of the Cox model's C; both above the IRLM
    grouping's, which is a coarser summary of the same factors."""
    from metsurv.synthetic import generate
    from metsurv.synthetic.calibration import analysis_frame

    d = analysis_frame(generate("irlm1997", n=4000, seed=21))
    r = integer_score(d, covariates=["complete_resection", "dfi_group", "n_metastases_group",
                                     "histology_group", "age_at_metastasectomy"])
    c = r.c_index.set_index("model")["c_index"]
    assert abs(c["integer score"] - c["Cox model"]) < 0.01
    assert c["integer score"] > c["IRLM group"]


def test_integer_score_figure_renders(res):
    ax = res.plot()
    fig = ax.figure
    assert fig.get_size_inches()[0] == pytest.approx(85 / 25.4)
    steps = [ln for ln in ax.get_lines() if ln.get_drawstyle().startswith("steps")]
    assert len(steps) >= len(res.groups)
    assert any("IRLM group" in t.get_text() for t in ax.texts)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=300)
    assert buf.getvalue()[:4] == b"\x89PNG"
    assert "ScoreResult" in repr(res) and "<table" in res._repr_html_()
    assert set(res.to_dict()) >= {"points", "unit", "cuts", "groups", "c_index"}
