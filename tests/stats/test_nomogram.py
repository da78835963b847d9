"""Points nomogram of a Cox fit (metsurv.stats.nomogram) against R rms::nomogram.

Oracle: tests/reference/make_nomogram.R (rms 6.5-0, survival 3.5-3) writing
tests/reference/data/nomogram_cohort.json from tests/reference/data/nomogram_cohort.csv (488
patients of metsurv's synthetic irlm1997 cohort): ``rms::nomogram(cph_fit, fun = S(36 | lp),
S(60 | lp))`` points per level and axis value, its scale and intercept, its Total Points
axis, the exact total-points -> S(t) map from ``Survival(cph_fit)``, the exact place of the
S(t) ticks (and rms's own approximate one), and R's ``pretty``. Other checks use
:meth:`CoxResult.predict` (R ``survfit.coxph``, tested in test_survfit_coxph.py) as the
oracle of S(t), or hold by construction (100 points for the widest predictor)."""

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
from metsurv.stats.nomogram import FIGURE_WIDTH_MM, nomogram, r_pretty  # noqa: E402

from .helpers import REFERENCE, RSCRIPT, assert_same_numbers, reference, run_r_script  # noqa: E402

TOL = 1e-6  # the tolerance for points and the total-points -> S(t) map
FULL = ["complete_resection", "dfi_group", "n_metastases_group", "age"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / "nomogram_cohort.csv", float_precision="round_trip")


@pytest.fixture(scope="module")
def ref() -> dict:
    return reference("data/nomogram_cohort")


def _key(v) -> str:
    try:
        return f"{float(v):g}"
    except (TypeError, ValueError):
        return str(v)


@pytest.mark.parametrize("case", ["full", "single_factor", "single_numeric"])
def test_nomogram_points_scale_and_total_axis_match_rms(data, ref, case):
    """rms::nomogram: Xbeta and points of every level / axis value of every predictor
    (factors, and the numeric age on pretty(range(age), 10)), sc, the intercept and the
    Total Points axis."""
    r = ref["nomogram"][case]
    nom = nomogram(cox(data, r["covariates"]), times=ref["times"])
    np.testing.assert_allclose(nom.sc, r["sc"], rtol=1e-10)
    np.testing.assert_allclose(nom.intercept, r["intercept"], rtol=0, atol=1e-10)
    assert nom.total_axis == tuple(float(v) for v in r["total_axis"])
    for pred, p in r["predictors"].items():
        g = nom.to_frame()[nom.to_frame()["predictor"] == pred]
        # Xbeta from the predictor's lowest value: R's reference levels (the first in
        # alphabetical order) are not metsurv's (IRLM order), which shifts Xbeta only
        xb_ours = g["xbeta"] - g["xbeta"].min()
        ours = dict(zip(map(_key, g["level"]), zip(xb_ours, g["points"], strict=True),
                        strict=True))
        assert sorted(ours) == sorted(map(_key, p["values"])), pred
        xb_r = np.asarray(p["xbeta"], dtype=float) - min(p["xbeta"])
        for v, xb, pts in zip(p["values"], xb_r, p["points"], strict=True):
            np.testing.assert_allclose(ours[_key(v)], (xb, pts), rtol=0, atol=TOL,
                                       err_msg=f"{case} {pred} {v}")
        if pred == "age":  # a numeric covariate's Xbeta is beta x value, uncentred, as R's
            np.testing.assert_allclose(g["xbeta"], p["xbeta"], rtol=1e-10)
    assert nom.to_frame()["points"].max() == pytest.approx(100.0, abs=1e-12)


@pytest.mark.parametrize("case", ["full", "single_factor", "single_numeric"])
def test_nomogram_total_points_to_survival_matches_rms_Survival(data, ref, case):
    """S(t | P) = surv(t, P / sc + Intercept) with surv <- Survival(cph_fit), at every
    whole total point of the axis, for t = 36 and 60 months; and the lp column."""
    r = ref["nomogram"][case]
    nom = nomogram(cox(data, r["covariates"]), times=ref["times"])
    ex = r["exact"]
    scale = nom.scale
    np.testing.assert_allclose(scale["total_points"], ex["total_points"], atol=0)
    np.testing.assert_allclose(scale["lp"], ex["lp"], rtol=0, atol=TOL)
    for t in ref["times"]:
        np.testing.assert_allclose(scale[f"S({t:g})"], ex[f"S{t:g}"], rtol=0, atol=TOL,
                                   err_msg=f"{case} S({t})")
        np.testing.assert_allclose(nom.survival(ex["total_points"])[f"S({t:g})"],
                                   ex[f"S{t:g}"], rtol=0, atol=TOL)


def test_nomogram_survival_ticks_exact_and_near_rms_approximation(data, ref):
    """Each S(t) tick sits at lp = log(log(s) / log(S0(t))) (R, exact) to 1e-6 points; rms
    places it by linear interpolation on a 1000-point grid, within 1e-3 points."""
    r = ref["nomogram"]["full"]
    nom = nomogram(cox(data, FULL), times=ref["times"])
    top = nom.to_frame().groupby("predictor")["points"].max().sum()
    for t in ref["times"]:
        tk = r["ticks"][f"S{t:g}"]
        ours = nom.survival_axes[nom.survival_axes["time"] == t]
        exact = dict(zip(tk["survival"], tk["total_points"], strict=True))
        want = [s for s, p in exact.items() if 0 <= p <= top]
        assert ours["survival"].tolist() == want
        np.testing.assert_allclose(ours["total_points"], [exact[s] for s in want], atol=TOL)
        approx = dict(zip(np.atleast_1d(tk["rms_survival"]),
                          np.atleast_1d(tk["rms_total_points"]), strict=True))
        both = [s for s in want if s in approx]
        assert both
        np.testing.assert_allclose(ours.set_index("survival").loc[both, "total_points"],
                                   [approx[s] for s in both], atol=1e-3)


def test_r_pretty_matches_R_pretty(ref):
    """R pretty(c(lo, hi), n) on ten ranges (equal ends, zero, negative, tiny, large)."""
    for c in ref["pretty"]:
        ours = r_pretty(c["lo"], c["hi"], int(c["n"]))
        np.testing.assert_allclose(ours, np.atleast_1d(c["values"]), rtol=1e-12, atol=1e-15,
                                   err_msg=str(c))


def test_nomogram_patient_total_points_give_survfit_coxph_survival(data):
    """Oracle: CoxResult.predict (R survfit.coxph). A patient's total points read off the
    nomogram map back to their predicted S(36), S(60)."""
    fit = cox(data, FULL)
    nom = nomogram(fit)
    pts = nom.to_frame()
    patient = {"complete_resection": "no", "dfi_group": "12-35", "n_metastases_group": "2-3",
               "age": 60.0}
    total = sum(float(pts.loc[(pts["predictor"] == k) & (pts["level"].map(_key) == _key(v)),
                              "points"].iloc[0]) for k, v in patient.items())
    want = fit.predict(patient, times=[36, 60]).at()["survival"].to_numpy()
    got = nom.survival([total])[["S(36)", "S(60)"]].to_numpy().ravel()
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_nomogram_aliased_level_has_no_points_and_a_warning(data):
    """A Categorical level with no patient: R coxph gives NA. Its points are NaN with a
    warning; the other points are those of the fit without the level (oracle: the same
    nomogram on the data without the unused category)."""
    d = data.copy()
    d["n_metastases_group"] = pd.Categorical(d["n_metastases_group"],
                                             categories=["1", "2-3", ">=4", "none"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)
        fit = cox(d, FULL)
    with pytest.warns(StatsWarning, match="none has no coefficient"):
        nom = nomogram(fit)
    pts = nom.to_frame()
    assert pts.loc[pts["level"] == "none", "points"].isna().all()
    base = nomogram(cox(data, FULL)).to_frame()
    ok = pts[pts["points"].notna()].reset_index(drop=True)
    np.testing.assert_allclose(ok["points"], base["points"], atol=1e-9)
    assert any("no coefficient" in w for w in nom.warnings)


def test_nomogram_aliased_numeric_covariate_is_left_out(data):
    """age10 = 10 x age is linearly dependent on age (R coxph: NA): no points for it; the
    map to S(t) is the model's without it."""
    d = data.assign(age10=data["age"] * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)
        fit = cox(d, ["dfi_group", "age", "age10"])
        nom = nomogram(fit)
    pts = nom.to_frame()
    assert pts.loc[pts["predictor"] == "age10", "points"].isna().all()
    base = nomogram(cox(data, ["dfi_group", "age"]))
    np.testing.assert_allclose(nom.scale["S(36)"], base.scale["S(36)"], atol=1e-9)


def test_nomogram_stratified_fit_uses_the_stratum_baseline(data):
    """Oracle: predict() for a patient of the stratum (R survfit.coxph with strata)."""
    fit = cox(data, ["dfi_group", "age"], strata="complete_resection")
    with pytest.raises(DataError, match="stratum="):
        nomogram(fit)
    nom = nomogram(fit, stratum="no")
    pts = nom.to_frame()
    total = (pts.loc[pts["level"] == "0-11", "points"].iloc[0]
             + pts.loc[pts["level"].map(_key) == "50", "points"].iloc[0])
    want = fit.predict({"dfi_group": "0-11", "age": 50.0, "complete_resection": "no"},
                       times=[36, 60]).at()["survival"].to_numpy()
    np.testing.assert_allclose(nom.survival([total])[["S(36)", "S(60)"]].to_numpy().ravel(),
                               want, rtol=1e-10)


def test_nomogram_user_errors(data):
    fit = cox(data, ["dfi_group", "age"])
    with pytest.raises(DataError, match="times"):
        nomogram(fit, times=[0])
    with pytest.raises(DataError, match="not covariates"):
        nomogram(fit, values={"weight": [1, 2]})
    with pytest.raises(DataError, match="interaction"):
        nomogram(cox(data, ["dfi_group", "age", "dfi_group:age"]))


def test_nomogram_time_after_follow_up_is_na_with_warning(data):
    fit = cox(data, ["dfi_group"])
    with pytest.warns(StatsWarning, match="no follow-up beyond"):
        nom = nomogram(fit, times=[36, 10_000])
    assert nom.scale["S(10000)"].isna().all()
    assert nom.scale["S(36)"].notna().all()


def test_nomogram_numeric_axis_values_given(data):
    """rms nomogram(fit, age = c(20, 50, 80)): those values on the axis, points linear in
    age (0 at 20, 100 at 80 when age is the only predictor)."""
    nom = nomogram(cox(data, ["age"]), values={"age": [20, 50, 80]})
    np.testing.assert_allclose(nom.to_frame()["points"], [0, 50, 100], atol=1e-9)


def _boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_nomogram_figure_two_columns_and_no_overlapping_labels():
    """A crowded factor (histology, five levels, some close in points): the PNG is 170 mm
    wide at 300 dpi and no two texts of the figure overlap."""
    from metsurv.synthetic import generate
    from metsurv.synthetic.calibration import analysis_frame

    d = analysis_frame(generate("irlm1997", n=1500, seed=4))
    fit = cox(d, ["complete_resection", "dfi_group", "n_metastases_group", "histology_group",
                  "age_at_metastasectomy"])
    nom = nomogram(fit)
    ax = nom.plot()
    fig = ax.figure
    assert fig.get_size_inches()[0] == pytest.approx(FIGURE_WIDTH_MM / 25.4)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=300)
    assert buf.getvalue()[:4] == b"\x89PNG"
    r = fig.canvas.get_renderer()
    texts = [t for t in ax.texts if t.get_text()]
    labels = {t.get_text() for t in texts}
    assert {"Points", "Total Points", "S(36 mo)", "S(60 mo)", "Complete (R0)",
            "DFI \u226536 mo", "Histology"} <= labels
    boxes = [t.get_window_extent(r) for t in texts]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not _boxes_overlap(boxes[i], boxes[j]), (texts[i].get_text(),
                                                             texts[j].get_text())
    # every text inside the figure
    W, H = fig.bbox.width, fig.bbox.height
    assert all(b.x0 >= 0 and b.x1 <= W and b.y0 >= 0 and b.y1 <= H for b in boxes)


def test_nomogram_result_renders(data):
    nom = nomogram(cox(data, ["dfi_group", "age"]))
    assert "NomogramResult" in repr(nom) and "<table" in nom._repr_html_()
    d = nom.to_dict()
    assert set(d) >= {"points", "scale", "survival_axes", "sc", "intercept"}


@pytest.mark.skipif(RSCRIPT is None, reason="Rscript not installed")
def test_make_nomogram_R_reproduces_committed_fixture(tmp_path_factory):
    """Rerun tests/reference/make_nomogram.R live (skipped without R or rms) and compare with
    the committed fixture."""
    out = tmp_path_factory.mktemp("nomogram")
    run_r_script("make_nomogram.R", out)
    assert_same_numbers(reference("data/nomogram_cohort"),
                        reference("data/nomogram_cohort", out), 1e-10, 1e-12)
