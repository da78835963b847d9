"""Bootstrap validation and calibration of a Cox model (metsurv.stats.validate).

Oracles: rms 6.5 ``validate(cph)`` and ``calibrate(cph, cmethod = "KM")`` given the same
bootstrap rows, and Austin, Harrell & van Klaveren (2020)'s ICI/E50/E90 in R
(tests/reference/make_validate.R -> validate.json, input data/validate.csv); synthetic truth
(metsurv.synthetic.generate) for the corrected C-index.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.replicate import replicate_rng
from metsurv.stats.validate import _dxy, calibrate, validate

from .helpers import (
    RSCRIPT,
    as_float,
    assert_close_abs,
    assert_r_reproduces,
    dataset,
    reference,
    rerun_r,
)

TOL = 1e-8


@pytest.fixture(scope="module")
def ref() -> dict:
    return reference("validate")


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return dataset("validate")


@pytest.fixture(scope="module")
def validated(ref, data):
    return validate(data, ref["covariates"], indices=np.array(ref["indices"]), progress=False)


@pytest.fixture(scope="module")
def calibrated(ref, data):
    return calibrate(data, ref["covariates"], u=ref["u"], m=ref["m"],
                     indices=np.array(ref["indices"]), progress=False)


def test_validate_table_equals_rms_validate_given_its_resamples(ref, validated):
    """rms::validate(cph, B = 30) after set.seed: index.orig, training, test, optimism,
    index.corrected and n of Dxy, R2, Slope, D, U, Q, g, with the rows rms drew."""
    v = ref["validate"]
    tab = validated.to_frame().set_index("index").loc[v["index"]]
    assert v["index"] == ["Dxy", "R2", "Slope", "D", "U", "Q", "g"]
    for col, key in [("index.orig", "index_orig"), ("training", "training"),
                     ("test", "test"), ("optimism", "optimism"),
                     ("index.corrected", "index_corrected")]:
        assert_close_abs(tab[col].to_numpy(), v[key], TOL, col)
    assert tab["n"].tolist() == [int(x) for x in v["n"]]
    assert validated.n == ref["n"] and validated.B == ref["B"]


def test_validate_per_replicate_training_and_test_equal_R_replay(ref, validated):
    """Each replicate's training (fit and evaluated on the resample) and test (evaluated on
    the original rows, with the calibration-slope fit) indexes, as R's replay of
    predab.resample computes them (which the script checks against rms's table)."""
    rep = ref["replicates"]
    ok = np.array(rep["ok"], dtype=bool)
    assert validated.replicates["replicate"].tolist() == np.flatnonzero(ok).tolist()
    train = np.array(rep["training"], dtype=float)[ok]
    test = np.array(rep["test"], dtype=float)[ok]
    for j, name in enumerate(rep["columns"]):
        assert_close_abs(validated.replicates[f"training:{name}"], train[:, j], TOL, name)
        assert_close_abs(validated.replicates[f"test:{name}"], test[:, j], TOL, name)


def test_validate_c_row_is_dxy_rescaled(validated):
    """C = Dxy / 2 + 0.5 for every column (optimism halved)."""
    t = validated.to_frame().set_index("index")
    for col in ("index.orig", "training", "test", "index.corrected"):
        assert t.loc["C", col] == pytest.approx(t.loc["Dxy", col] / 2 + 0.5, abs=1e-15)
    assert t.loc["C", "optimism"] == pytest.approx(t.loc["Dxy", "optimism"] / 2, abs=1e-15)


def test_apparent_dxy_equals_cox_concordance(data, ref, validated):
    """index.orig Dxy = 2 C - 1 of cox()'s concordance (R concordancefit) on the same
    model: two implementations of Harrell's C agree."""
    from metsurv.stats import cox

    fit = cox(data, ref["covariates"])
    c = validated.c_index["index.orig"]
    assert c == pytest.approx(fit.concordance, abs=1e-12)


def test_dxy_brute_force_with_ties_and_repeats():
    """The O(n log n) Dxy equals counting every pair (ties in time, in score, repeated
    rows): survConcordance's rules written out as a double loop over a small sample."""
    rng = np.random.default_rng(5)
    n = 60
    t = rng.integers(1, 15, n)
    e = rng.integers(0, 2, n)
    x = rng.integers(0, 6, n).astype(float)
    rows = rng.integers(0, n, n)
    t, e, x = t[rows], e[rows], x[rows]
    conc = disc = tied = 0.0
    for i in range(n):
        for j in range(n):
            if i == j or e[i] != 1:
                continue
            if t[j] > t[i] or (t[j] == t[i] and e[j] == 0):
                if x[i] > x[j]:
                    conc += 1
                elif x[i] < x[j]:
                    disc += 1
                else:
                    tied += 1
    code = np.unique(t, return_inverse=True)[1]
    assert _dxy(code, e, x) == pytest.approx((conc - disc) / (conc + disc + tied), abs=1e-14)


def test_calibrate_equals_rms_calibrate_km_given_its_resamples(ref, calibrated):
    """rms::calibrate(cph, cmethod = "KM", u = 36, m = 100, B = 30) after the same
    set.seed: per group the mean predicted S(36), KM, its SE, the apparent, training and
    test KM - predicted, the optimism, the corrected KM and n."""
    c = ref["calibrate"]
    tab = calibrated.to_frame()
    for col, key in [("mean_predicted", "mean_predicted"), ("KM", "KM"),
                     ("std_err", "std_err"), ("index.orig", "index_orig"),
                     ("training", "training"), ("test", "test"), ("optimism", "optimism"),
                     ("KM_corrected", "KM_corrected")]:
        assert_close_abs(tab[col].to_numpy(), c[key], TOL, col)
    assert tab["n"].tolist() == [int(x) for x in c["n"]]
    assert_close_abs(calibrated.predicted, c["predicted"], TOL, "predicted S(u)")


def test_ici_e50_e90_equal_austin_cox_version_in_R(ref, calibrated):
    """Austin et al. 2020's "cox" calibration (cph on rcs(log(-log S), 3), survest at u):
    the knots, ICI, E50, E90 and the smoothed curve over their 100-point grid."""
    a = ref["ici"]
    assert_close_abs(calibrated.knots, a["knots"], 1e-12, "knots")
    assert calibrated.ici == pytest.approx(a["ici"], abs=TOL)
    assert calibrated.e50 == pytest.approx(a["e50"], abs=TOL)
    assert calibrated.e90 == pytest.approx(a["e90"], abs=TOL)
    assert_close_abs(calibrated.curve["predicted"], a["grid"], TOL, "grid")
    assert_close_abs(calibrated.curve["observed"], a["curve"], TOL, "curve")
    assert calibrated.ici_method.startswith("cox-rcs3")


def test_bootstrap_corrected_ici_equals_R_replay(ref, calibrated):
    """ICI, E50, E90 of each replicate's training model smoothed on its resample (training)
    and on the original rows (test), averaged, as make_validate.R's loop over the same
    resamples with cph(rcs(cll, 3)) and survest computes them."""
    a = ref["ici"]
    t = calibrated.ici_table.set_index("index").loc[["ICI", "E50", "E90"]]
    assert_close_abs(t["index.orig"], [a["ici"], a["e50"], a["e90"]], TOL, "apparent")
    assert_close_abs(t["training"], a["training"], TOL, "training")
    assert_close_abs(t["test"], a["test"], TOL, "test")
    assert_close_abs(t["optimism"], a["optimism"], TOL, "optimism")
    assert_close_abs(t["index.corrected"], t["index.orig"] - t["optimism"], 1e-15)
    assert (t["n"] == a["n"]).all()


def test_seeded_run_uses_the_replicate_engine_streams(data, ref):
    """validate(seed=s) equals validate(indices=...) with replicate k's rows drawn from
    replicate_rng(s, k) (bootstrap.resample_rows: rng.integers(0, n, n)); same seed, same
    table."""
    cov = ref["covariates"][:3]
    a = validate(data, cov, replicates=6, seed=11, progress=False)
    n = a.n
    idx = np.array([replicate_rng(11, k).integers(0, n, n) for k in range(6)])
    b = validate(data, cov, indices=idx, progress=False)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    pd.testing.assert_frame_equal(a.to_frame(),
                                  validate(data, cov, replicates=6, seed=11,
                                           progress=False).to_frame())


def test_validate_corrected_c_matches_c_on_large_independent_draw():
    """Synthetic truth (issue 15): on a cohort of 4,000 from the irlm1997 design, the
    bootstrap-corrected C-index is within 0.02 of the C-index of the apparent model (its
    coefficients) on an independent draw of 100,000 from the same design; the apparent C
    is optimistic (optimism > 0)."""
    from metsurv.stats.cox.refit import prepare_cox
    from metsurv.synthetic import generate
    from metsurv.synthetic.calibration import analysis_frame

    cov = ["complete_resection", "dfi_group", "n_metastases_group", "histology_group",
           "age_at_metastasectomy"]
    train = analysis_frame(generate("irlm1997", n=4000, seed=1))
    res = validate(train, cov, replicates=50, seed=1, progress=False)
    big = prepare_cox(analysis_frame(generate("irlm1997", n=100_000, seed=999)), cov)
    beta = np.array([res.coef[name] for name in big.names])[big._active]
    c_external = _dxy(big.code, big.event, big.X @ beta) / 2 + 0.5
    c = res.c_index
    assert c["optimism"] > 0
    assert abs(c["index.corrected"] - c_external) < 0.02, (c, c_external)


def _rare_level_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 200
    return pd.DataFrame({"os_months": rng.exponential(20, n).round(2),
                         "os_event": rng.integers(0, 2, n),
                         "grade": np.where(np.arange(n) == 0, "rare",
                                           rng.choice(["a", "b"], n)),
                         "age": rng.normal(60, 8, n).round(1)})


def test_singular_resamples_are_recorded_and_left_out_with_a_warning():
    """A level held by one patient is missing from about 37% of resamples: those refits
    are singular (rms: "Divergence or singularity in k samples"), recorded in ``failed``
    and left out of the averages (n = B - k), with a warning naming the count."""
    with pytest.warns(StatsWarning, match="singularity in [0-9]+ of 30 resamples"):
        res = validate(_rare_level_frame(), ["grade", "age"], replicates=30, seed=2,
                       progress=False)
    k = len(res.failed)
    assert 3 <= k <= 20
    assert res.failed["error"].str.contains("singular fit").all()
    assert (res.to_frame()["n"] == 30 - k).all()
    assert res.warnings and str(k) in res.warnings[0]


def test_bad_indices_and_horizon_raise_data_errors(data, ref):
    cov = ref["covariates"][:2]
    with pytest.raises(DataError, match="matrix of row numbers"):
        validate(data, cov, indices=np.zeros((3, 5), dtype=int), progress=False)
    n = validate(data, cov, replicates=1, progress=False).n
    with pytest.raises(DataError, match="0-based"):
        validate(data, cov, indices=np.full((2, n), n), progress=False)
    with pytest.raises(DataError, match="beyond the last follow-up"):
        calibrate(data, cov, u=10_000, replicates=2, progress=False)
    with pytest.raises(DataError, match="positive horizon"):
        calibrate(data, cov, u=-1, replicates=2, progress=False)


def test_calibration_plot_and_serialisation(calibrated, tmp_path):
    """The figure draws the 45-degree line, the groups and the smoothed curve; to_dict is
    JSON-safe."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    ax = calibrated.plot()
    assert len(ax.lines) >= 3
    ax.figure.savefig(tmp_path / "cal.png", dpi=100)
    assert (tmp_path / "cal.png").stat().st_size > 1000
    json.dumps(calibrated.to_dict())
    assert "ICI" in calibrated._repr_html_()
    assert as_float([calibrated.ici])[0] > 0


@pytest.mark.skipif(RSCRIPT is None, reason="Rscript not installed")
def test_make_validate_R_reproduces_committed_fixture(tmp_path_factory):
    """Rscript tests/reference/make_validate.R <tmp> (skips without rms): the same numbers."""
    fresh = rerun_r(tmp_path_factory, "make_validate.R")
    assert_r_reproduces("validate", fresh, "validate.csv", rel=1e-10, abs_tol=1e-12)


def test_calibrate_names_empty_groups_apart_from_short_follow_up():
    """One yes/no covariate: two distinct predictions, so most quantile groups are empty;
    the warning says so (it used to blame the follow-up)."""
    rng = np.random.default_rng(3)
    n = 400
    x = rng.random(n) < 0.5
    t = rng.exponential(np.where(x, 20.0, 40.0))
    df = pd.DataFrame({"os_months": np.minimum(t, 120.0), "os_event": t < 120.0, "x": x})
    with pytest.warns(StatsWarning, match="are empty") as rec:
        res = calibrate(df, ["x"], u=24, m=50, replicates=5, seed=1, progress=False)
    assert not any("follow-up ends before" in str(w.message) for w in rec)
    empty = res.table["n_patients"] == 0
    assert empty.any() and res.table.loc[empty, "KM"].isna().all()


def _cohort(seed: int, n: int = 300) -> pd.DataFrame:
    """Three groups and age, monthly times; the last follow-up is a death (KM 0 there)."""
    rng = np.random.default_rng(seed)
    grp = rng.choice(["a", "b", "c"], n)
    age = rng.normal(60, 10, n).round(1)
    t = np.ceil(rng.exponential(40 * np.exp(-0.02 * (age - 60))
                                * np.where(grp == "a", 1.3, 1.0)))
    c = np.ceil(rng.uniform(1, 80, n))
    df = pd.DataFrame({"time": np.minimum(t, c), "status": (t <= c).astype(int),
                       "grp": grp, "age": age})
    df.loc[df["time"].idxmax(), "status"] = 1
    return df


def test_original_fit_failure_is_a_data_error_before_any_replicate(monkeypatch):
    """An aliased covariate (age2 = 2 age; R cph: "X matrix deemed to be singular; variable
    age2") or a model that cannot converge on all rows (10 patients, 1 event; R: "Ran out of
    iterations") is a one-line DataError naming the cause, raised before the replicate
    engine runs; calibrate with fewer than 5 events too (rms gives NA everywhere). The
    private _ReplicateFailure used to reach the user."""
    import metsurv.replicate

    def no_replicates(*args, **kwargs):
        raise AssertionError("replicates ran before the original fit was checked")

    monkeypatch.setattr(metsurv.replicate, "run_replicates", no_replicates)
    kw = {"time": "time", "event": "status", "replicates": 5, "progress": False}
    d = _cohort(0).assign(age2=lambda f: 2 * f["age"])
    for run in (lambda: validate(d, ["grp", "age", "age2"], **kw),
                lambda: calibrate(d, ["grp", "age", "age2"], u=24, **kw)):
        with pytest.raises(DataError, match="covariate age2 is aliased") as err:
            run()
        assert err.value.column == "age2" and "\n" not in str(err.value)
    tiny = pd.DataFrame({"time": np.arange(1.0, 11.0), "status": [0, 0, 0, 1] + [0] * 6,
                         "grp": list("ababababab"), "x": np.arange(10.0)})
    with pytest.raises(DataError, match=r"does not converge .*\(1 event, 2 coefficients\)"):
        validate(tiny, ["grp", "x"], **kw)
    with pytest.raises(DataError, match="at least 5 events .* got 1"):
        calibrate(tiny, ["grp", "x"], u=5, m=3, **kw)


def test_rows_with_missing_values_are_counted_and_warned():
    """na.delete as rms, but counted: n_dropped on both results (and in to_dict) and a
    warning naming the column(s)."""
    d = _cohort(1)
    d.loc[[0, 5, 9], "age"] = np.nan
    kw = {"time": "time", "event": "status", "replicates": 2, "progress": False}
    with pytest.warns(StatsWarning, match="3 rows with a missing value of age left out"):
        v = validate(d, ["grp", "age"], **kw)
    assert (v.n, v.n_dropped, v.to_dict()["n_dropped"]) == (297, 3, 3)
    assert v.warnings[0].startswith("3 rows with a missing value of age")
    d.loc[[5, 20], "grp"] = None
    with pytest.warns(StatsWarning, match=r"4 rows with a missing value \(grp: 2, age: 3\)"):
        c = calibrate(d, ["grp", "age"], u=24, m=100, **kw)
    assert (c.n, c.n_dropped, c.to_dict()["n_dropped"]) == (296, 4, 4)
    full = validate(_cohort(1), ["grp", "age"], **kw)
    assert full.n_dropped == 0 and not any("missing value" in w for w in full.warnings)


def test_calibrate_at_last_follow_up_clips_corrected_km_and_warns():
    """u = the last follow-up (a death, KM 0 in that group): rms calibrate.cph's KM.corrected
    = KM - mean.optimism (calibrate.cph source; its print and plot show it as is) is
    -0.0174 here, an impossible probability: KM_corrected is clipped to [0, 1] and a
    warning gives the unclipped value. n is 5, 5, 6 of 10: not below half, no warning."""
    d = _cohort(0)
    with pytest.warns(StatsWarning, match=r"outside \[0, 1\] in 1 group .*clipped") as rec:
        res = calibrate(d, ["grp", "age"], time="time", event="status", u=d["time"].max(),
                        m=100, replicates=10, seed=1, progress=False)
    t = res.to_frame()
    raw = t["KM"] - t["optimism"]
    assert raw.min() < -0.01
    assert_close_abs(t["KM_corrected"], raw.clip(0, 1), 1e-15, "clipped KM - optimism")
    assert (t["KM_corrected"] >= 0).all()
    assert any(f"{raw.min():.6g}" in str(w.message) for w in rec)
    assert not any("fewer than half" in str(w.message) for w in rec)
    assert t["n"].tolist() == [5, 5, 6]


def test_calibrate_warns_when_a_groups_optimism_rests_on_few_replicates():
    """Near the last follow-up most resamples have no KM at u in a group: n = 0, 1, 6 of
    10; the two groups below B / 2 are named with their n."""
    d = _cohort(7)
    with pytest.warns(StatsWarning, match=r"2 of 3 groups .* fewer than half of the 10 "
                                          r"replicates \(n = 0, 1 for"):
        res = calibrate(d, ["grp", "age"], time="time", event="status", u=d["time"].max(),
                        m=100, replicates=10, seed=1, progress=False)
    assert res.to_frame()["n"].tolist() == [0, 1, 6]
    assert any("fewer than half" in w for w in res.warnings)
