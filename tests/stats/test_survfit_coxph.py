"""Predicted survival of new patients from a Cox fit (metsurv.stats.cox.survfit) against R.

Oracle: tests/reference/make_survfit_coxph.R (R survival 3.5-3 ``survfit(coxph_fit,
newdata = nd)`` and ``summary(sf, times)``) writing tests/reference/survfit_coxph.json from
tests/reference/data/survfit_coxph.csv (R's veteran data with a delayed-entry column):
Efron and Breslow fits with factor, yes/no and numeric covariates and tied times, a
stratified fit and a counting-process fit, three new patients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import DataError, StatsWarning
from metsurv.stats.cox import cox

from .helpers import REFERENCE, assert_r_reproduces, needs_r, reference, rerun_r

REL = 1e-8  # the tolerance (relative)
CASES = {  # name: covariates, strata, ties, start (as in make_survfit_coxph.R)
    "efron": (["celltype", "karno", "prior", "age"], None, "efron", None),
    "breslow": (["celltype", "karno", "prior", "age"], None, "breslow", None),
    "strata": (["celltype", "karno"], "trt", "efron", None),
    "counting": (["celltype", "karno"], None, "efron", "entry"),
    "covstrata": (["celltype", "karno"], "celltype", "efron", None),  # NA celltype coefs
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / "survfit_coxph.csv", float_precision="round_trip")


@pytest.fixture(scope="module")
def ref() -> dict:
    return reference("survfit_coxph")


@pytest.fixture(scope="module")
def newdata(ref) -> pd.DataFrame:
    return pd.DataFrame(ref["newdata"])


def _fit(data: pd.DataFrame, name: str):
    cv, st, ties, start = CASES[name]
    return cox(data, cv, strata=st, ties=ties, time="time", event="status", start=start)


def _close(ours, theirs, what: str) -> None:
    a, b = np.asarray(ours, float), np.asarray([np.nan if v is None else v for v in theirs],
                                                float)
    assert a.shape == b.shape, what
    np.testing.assert_allclose(a, b, rtol=REL, atol=1e-14, err_msg=what)


@pytest.mark.parametrize("name", list(CASES))
def test_survfit_coxph_curves_match_R_survfit_newdata(data, ref, newdata, name):
    """R ``survfit(fit, newdata = nd)``: time, n.risk, n.event, surv, cumhaz, std.err
    (of the cumulative hazard, with the variance of beta), log-CI lower/upper, per patient."""
    fit = _fit(data, name)
    _close(fit.coef, ref[name]["coef"], f"{name} coef")
    pred = fit.predict(newdata)
    for i, r in enumerate(ref[name]["patients"]):
        g = pred.curves[pred.curves["patient"] == i]
        for ours, theirs in [("time", "time"), ("n_risk", "n_risk"), ("n_event", "n_event"),
                             ("survival", "surv"), ("cumhaz", "cumhaz"),
                             ("std_err", "std_err"), ("lower", "lower"), ("upper", "upper")]:
            _close(g[ours], r[theirs], f"{name} patient {i} {ours}")


@pytest.mark.parametrize("name", list(CASES))
def test_survfit_coxph_at_times_matches_R_summary(data, ref, newdata, name):
    """R ``summary(sf, times)``: its std.err is on the survival scale (survival x std_err);
    a time past the patient's last curve time is a row R leaves out and NaN here."""
    pred = _fit(data, name).predict(newdata, times=ref["times"])
    at = pred.at()
    for i, r in enumerate(ref[name]["patients"]):
        g = at[at["patient"] == i]
        kept = g["time"].isin(r["at"]["time"]).to_numpy()
        assert g.loc[~kept, "survival"].isna().all()
        g = g[kept]
        _close(g["survival"], r["at"]["surv"], f"{name} {i} surv")
        _close(g["survival"] * g["std_err"], r["at"]["std_err_surv"], f"{name} {i} std.err")
        _close(g["lower"], r["at"]["lower"], f"{name} {i} lower")
        _close(g["upper"], r["at"]["upper"], f"{name} {i} upper")
        _close(g["cumhaz"], r["at"]["cumhaz"], f"{name} {i} cumhaz")


def test_survfit_coxph_stratified_uses_the_patients_stratum(data, newdata):
    """A patient of stratum trt = 2 gets trt 2's times (R: one curve per row, own stratum)."""
    pred = _fit(data, "strata").predict(newdata)
    t1 = set(data.loc[data["trt"] == 1, "time"])
    t2 = set(data.loc[data["trt"] == 2, "time"])
    c = pred.curves
    assert set(c.loc[c["patient"] == 1, "time"]) == t2
    assert set(c.loc[c["patient"] == 0, "time"]) == t1
    assert (c.loc[c["patient"] == 1, "stratum"] == "2").all()


def test_survfit_coxph_labels_and_mapping_give_the_same_curve(data, newdata):
    """Levels given as text labels ("TRUE"/"true" for a yes/no column) and a mapping for one
    patient give the curve of the typed row."""
    fit = _fit(data, "efron")
    typed = fit.predict(newdata.iloc[[1]].reset_index(drop=True)).to_frame()
    text = fit.predict({"celltype": "adeno", "karno": "80", "age": 50, "prior": "true"})
    pd.testing.assert_frame_equal(typed, text.to_frame())
    assert list(typed.columns) == ["patient", "time", "survival", "std_err", "lower", "upper"]


@pytest.mark.parametrize("change, column", [
    ({"celltype": "oat"}, "celltype"),
    ({"karno": np.nan}, "karno"),
    ({"prior": "maybe"}, "prior"),
    ({"karno": "high"}, "karno"),
])
def test_survfit_coxph_bad_newdata_is_a_data_error_naming_the_column(data, newdata, change,
                                                                    column):
    nd = newdata.copy()
    for k, v in change.items():
        nd[k] = nd[k].astype(object)
        nd.loc[0, k] = v
    with pytest.raises(DataError, match=repr(column)) as err:
        _fit(data, "efron").predict(nd)
    assert err.value.column == column


def test_survfit_coxph_missing_column_and_unknown_stratum_are_data_errors(data, newdata):
    with pytest.raises(DataError, match="'age'"):
        _fit(data, "efron").predict(newdata.drop(columns="age"))
    nd = newdata.copy()
    nd.loc[0, "trt"] = 3
    with pytest.raises(DataError, match=r"'trt'.*3.*1, 2"):
        _fit(data, "strata").predict(nd)


def test_survfit_coxph_unused_category_is_refused_as_an_unseen_level(data, newdata):
    """A category of a pandas Categorical with no fitted patient (its coefficient NA) is
    refused as any unseen level, not predicted as the reference level (break15 finding 6)."""
    d = data.assign(celltype=pd.Categorical(data["celltype"], categories=[
        "adeno", "large", "oat", "smallcell", "squamous"]))
    with pytest.warns(StatsWarning, match=r"celltype\[oat\] is not estimable"):
        fit = cox(d, ["celltype", "karno"], time="time", event="status")
    nd = newdata.assign(celltype=["squamous", "oat", "large"])
    with pytest.raises(DataError, match="'oat'.*use one of adeno, large, smallcell, "
                       "squamous$") as err:
        fit.predict(nd)
    assert err.value.column == "celltype"
    assert len(fit.predict(newdata).patients) == 3  # the levels with patients still work


def test_survfit_coxph_times_past_follow_up_warn_in_the_python_api(data, newdata):
    """A time after the last follow-up (of the data, or of the patient's stratum) is NaN and
    the warning the CLI prints is in ``pred.warnings`` and raised as a StatsWarning
    (break15 finding 7); none when every time is within follow-up."""
    fit = _fit(data, "efron")
    with pytest.warns(StatsWarning, match=r"of the data \(999\).*time\(s\) 1000 is NA"):
        pred = fit.predict(newdata, times=[100, 1000])
    assert len(pred.warnings) == 1 and "1000" in pred.warnings[0]
    assert pred.at()["survival"].isna().tolist() == [False, True] * 3
    with pytest.warns(StatsWarning, match=r"stratum trt = 1 \(553\).*587 is NA") as rec:
        pred = _fit(data, "strata").predict(newdata, times=[100, 587])
    assert len(rec) == 1 and pred.warnings == (str(rec[0].message),)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit.predict(newdata, times=[100, 999]).warnings == ()


def test_survfit_coxph_result_renders_and_plots(data, newdata):
    import matplotlib

    matplotlib.use("Agg")
    pred = _fit(data, "strata").predict(newdata, times=[100, 365])
    html = pred._repr_html_()
    assert "CoxPrediction" in html and "365" in html
    assert pred.to_dict()["at"][0]["time"] == 100
    ax = pred.plot()
    assert len(ax.get_lines()) == 3
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_survfit_coxph_existing_cox_numbers_unchanged(data):
    """The fields added for predictions change nothing of the fit (R coef of the Efron fit)."""
    fit = _fit(data, "efron")
    _close(fit.coef, reference("survfit_coxph")["efron"]["coef"], "coef")
    assert fit._centers.shape == (1, len(fit.terms))


@needs_r
def test_make_survfit_coxph_R_reproduces_committed_fixture(tmp_path_factory):
    """Rscript tests/reference/make_survfit_coxph.R <tmp>: the same input CSV and numbers."""
    fresh = rerun_r(tmp_path_factory, "make_survfit_coxph.R")
    assert_r_reproduces("survfit_coxph", fresh, "survfit_coxph.csv", rel=1e-12,
                        abs_tol=1e-14, same_survival=True)


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``metsurv predict ...`` through its own parser (cli/__init__ registers it)."""
    import argparse

    from metsurv.cli import predict
    from metsurv.cli._errors import run

    parser = argparse.ArgumentParser(prog="metsurv")
    predict.add_parser(parser.add_subparsers())
    args = parser.parse_args(["predict", *argv])
    code = run(args.func, args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_predict_json_matches_R_summary_at_times(capsys, ref):
    """``metsurv predict --json`` on the fixture's CSV: the R summary values of patient 2 of
    the stratified fit (oracle: make_survfit_coxph.R); 587 is past stratum 1's last time."""
    import json

    code, out, err = _cli([str(REFERENCE / "data" / "survfit_coxph.csv"), "--time", "time",
                           "--event", "status", "--covariates", "celltype,karno",
                           "--strata", "trt", "--patient", "celltype=Large,karno=40,trt=1",
                           "--times", ",".join(map(str, ref["times"])), "--json"], capsys)
    assert code == 0, err
    got = json.loads(out)
    r = ref["strata"]["patients"][2]["at"]
    assert got["survival"][-1] is None and "587" in err
    _close(got["survival"][:-1], r["surv"], "cli surv")
    _close(got["lower"][:-1], r["lower"], "cli lower")
    _close(got["upper"][:-1], r["upper"], "cli upper")
    assert got["patient"] == {"celltype": "Large", "karno": 40.0, "trt": 1.0}
    assert {"times", "covariates", "n", "events", "warnings"} <= set(got)


def test_cli_predict_covariate_that_is_also_the_stratum_matches_R(capsys, ref):
    """``--covariates celltype,karno --strata celltype``: R's NA celltype coefficients and
    the prediction from the patient's stratum (oracle: the covstrata case of
    make_survfit_coxph.R; break15 finding 1, was an internal error)."""
    import json

    code, out, err = _cli([str(REFERENCE / "data" / "survfit_coxph.csv"), "--time", "time",
                           "--event", "status", "--covariates", "celltype,karno",
                           "--strata", "celltype", "--patient", "celltype=squamous,karno=60",
                           "--times", "0.5,10,100", "--json"], capsys)
    assert code == 0, err
    got = json.loads(out)
    r = ref["covstrata"]["patients"][0]["at"]
    _close(got["survival"], r["surv"][:3], "cli covstrata surv")
    _close(got["upper"], r["upper"][:3], "cli covstrata upper")
    assert got["stratum"] == "squamous" and "constant within every stratum" in err


@pytest.mark.parametrize("patient, words", [
    ("celltype=large,karno=40,celltype=oat", ["'celltype'", "twice"]),
    ("celltype=oat,karno=40", ["'celltype'", "adeno, large, smallcell, squamous"]),
    ("celltype=large,karno=high", ["karno", "not a number"]),
    ("celltype=large", ["no value for 'karno'"]),
])
def test_cli_predict_bad_patient_is_one_line_naming_the_covariate(capsys, patient, words):
    code, out, err = _cli([str(REFERENCE / "data" / "survfit_coxph.csv"), "--time", "time",
                           "--event", "status", "--covariates", "celltype,karno",
                           "--patient", patient, "--times", "100"], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert all(w in err for w in words), err
