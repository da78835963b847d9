"""The IRLM battery on a simulated patients table shaped like the loader's output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metsurv.cli.irlm import battery_json, format_battery
from metsurv.schema import DFI_GROUPS, IRLM_GROUPS, REFERENCE_LEVELS
from metsurv.stats.cox import cox
from metsurv.stats.irlm import irlm_comparisons
from metsurv.stats.km import km
from metsurv.stats.rmst import rmst
from metsurv.stats.tests import logrank

from ._simulate import irlm_like_cohort


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return irlm_like_cohort(600)


@pytest.fixture(scope="module")
def battery(cohort):
    return irlm_comparisons(cohort)


def test_every_factor_and_level_is_reported(battery):
    assert battery.skipped == ()
    assert list(battery.factors["factor"]) == [
        "complete_resection", "dfi_group", "n_metastases_group", "histology_group",
        "leiomyosarcoma", "nodal_status", "irlm_group", "chemo_response"]
    irlm = battery.levels[battery.levels["factor"] == "irlm_group"]
    assert irlm["level"].tolist() == list(IRLM_GROUPS)
    dfi = battery.levels[battery.levels["factor"] == "dfi_group"]
    assert dfi["level"].tolist() == list(DFI_GROUPS)
    assert dfi.set_index("level").loc[REFERENCE_LEVELS["dfi_group"], "hr"] == 1.0
    assert battery.n == 600 and battery.levels.groupby("factor")["n"].sum()["dfi_group"] == 600


def test_battery_numbers_are_those_of_km_logrank_cox_rmst(cohort, battery):
    """Each cell equals the core function run directly (which are R-tested themselves)."""
    row = battery.levels.set_index(["factor", "level"]).loc[("dfi_group", "0-11")]
    sub = cohort[cohort["dfi_group"] == "0-11"]
    fit = km(sub)
    assert row["median"] == fit.curves[0].median
    assert row["surv_5y"] == pytest.approx(fit.survival_at([60])["estimate"][0], abs=1e-12)
    assert row["rmst_5y"] == pytest.approx(rmst(sub, 60).table["rmst"][0], abs=1e-12)
    ref = cox(cohort, ["dfi_group"], reference={"dfi_group": ">=36"}).to_frame()
    assert row["hr"] == pytest.approx(ref.set_index("term").loc["dfi_group[0-11]", "hr"])
    f = battery.factors.set_index("factor")
    assert f.loc["dfi_group", "logrank_p"] == pytest.approx(logrank(cohort, "dfi_group").p)
    assert f.loc["dfi_group", "trend_p"] == pytest.approx(
        logrank(cohort, "dfi_group", trend=True).trend_p)
    assert np.isnan(f.loc["histology_group", "trend_p"])


def test_lms_is_sarcoma_only_and_nx_not_in_trend(cohort, battery):
    f = battery.factors.set_index("factor")
    assert f.loc["leiomyosarcoma", "n"] == (cohort["histology_group"] == "sarcoma").sum()
    nodal = cohort[cohort["nodal_status"].isin(["N0", "N1", "N2"])].copy()
    nodal["nodal_status"] = nodal["nodal_status"].cat.remove_categories("NX")
    assert f.loc["nodal_status", "trend_p"] == pytest.approx(
        logrank(nodal, "nodal_status", trend=True).trend_p)


def test_sparse_levels_are_reported_not_dropped(cohort):
    """A level with 4 patients keeps its row (n, events, KM) but gets no HR and a note;
    an empty level is listed with n = 0."""
    df = cohort.copy()
    df["chemo_response"] = df["chemo_response"].cat.set_categories(
        ["response", "stable", "progression", "none"])
    prog = df.index[df["chemo_response"] == "progression"]
    df.loc[prog[4:], "chemo_response"] = "none"
    df.loc[df["histology_group"] == "other", "histology_group"] = "epithelial"
    res = irlm_comparisons(df, min_n=10, min_events=5)
    lv = res.levels.set_index(["factor", "level"])
    r = lv.loc[("chemo_response", "progression")]
    assert r["n"] == 4 and r["sparse"] and np.isnan(r["hr"]) and "too few" in r["note"]
    assert not np.isnan(r["surv_1y"])
    assert lv.loc[("histology_group", "other"), "n"] == 0
    assert lv.loc[("histology_group", "other"), "note"] == "no patients"
    tested = res.factors.set_index("factor").loc["chemo_response", "levels_tested"]
    assert "progression" not in tested
    mv = res.multivariable
    assert not ((mv["factor"] == "chemo_response") & (mv["level"] == "progression")).any()


def test_multivariable_model_and_exports(battery):
    assert "irlm_group" not in battery.multivariable_factors
    assert "complete_resection" in battery.multivariable_factors
    frame = battery.to_frame()
    assert {"logrank_p", "trend_p", "mv_hr", "surv_15y", "rmst_5y"} <= set(frame.columns)
    assert len(frame) == len(battery.levels)
    d = battery.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["factors"][0]["levels"][0]["reference"] is True
    assert "<table" in battery._repr_html_()


def test_follow_up_shorter_than_time_point_gives_missing(cohort):
    df = cohort.assign(os_months=np.minimum(cohort["os_months"], 100.0))
    lv = irlm_comparisons(df).levels
    # missing unless the curve already reached 0 (then 0 is known, not extrapolated)
    for col in ("surv_10y", "surv_15y"):
        assert lv[col].isna().any() and (lv[col].dropna() == 0).all()
    assert lv["surv_5y"].notna().any()


def test_cli_json_and_text(cohort):
    d = battery_json(cohort, endpoint="os", min_n=20)
    assert d["min_n"] == 20
    text = format_battery(d)
    assert "IRLM prognostic group" in text and "log-rank p" in text
    with pytest.raises(ValueError, match="endpoint"):
        battery_json(cohort, endpoint="pfs")
