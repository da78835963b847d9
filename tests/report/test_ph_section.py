"""Proportional hazards taken seriously (issue 11, item 4): where cox.zph rejects PH for a
term of the study model, the report says so beside its HR, draws its scaled Schoenfeld
residuals with R plot.cox.zph's smooth (figures/ph_<term>.*) and gives the RMST difference,
which does not assume PH. Oracle: a synthetic truth, a resection effect that is all in the
first 8 months (hazard ratio far from constant); and a cohort simulated with proportional
hazards, where nothing of this appears."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.report.conftest import write_cohort, write_config


def _build(root: Path, proportional: bool) -> Path:
    from metsurv.report.build import build

    p, _ = write_cohort(root / "data", n=300, seed=3)
    df = pd.read_csv(p, dtype=str)
    rng = np.random.default_rng(1)
    op = pd.to_datetime(df["metastasectomy_date"])
    inc = (df["resection_status"] != "R0").to_numpy()
    if proportional:
        t = rng.exponential(np.where(inc, 25, 60))
    else:  # incomplete resections die early or not at all faster than the others
        t = np.where(inc, rng.exponential(8, len(df)), rng.exponential(60, len(df)))
        t = np.where(inc & (t > 8), 8 + rng.exponential(200, len(df)), t)
    c = rng.uniform(10, 150, len(df))
    df["last_followup_date"] = (op + pd.to_timedelta(np.round(np.minimum(t, c) * 30.4375),
                                                     unit="D")).dt.strftime("%Y-%m-%d")
    df["vital_status"] = np.where(t <= c, "dead", "alive")
    df.to_csv(p, index=False)
    cfg = write_config(root, formats=["svg"], landmark_times=[], benchmark=None,
                       factors=["complete_resection"],
                       cox={"covariates": ["complete_resection", "n_metastases_group"]})
    return build(cfg, out=root / "report")


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    return {kind: _build(tmp_path_factory.mktemp(kind), kind == "ph")
            for kind in ("ph", "nonph")}


def test_rejected_ph_is_said_beside_the_hr_with_residuals_and_rmst(reports):
    out = reports["nonph"]
    ph = pd.read_csv(out / "tables" / "cox_ph_test.csv", dtype=str)
    assert ph.loc[ph["Term"] == "Completeness of resection", "p"].iloc[0] == "< 0.001"
    html = (out / "index.html").read_text()
    cox_block = html[html.index('id="tab-cox"'):html.index('id="tab-cox_ph_test"')]
    assert "Proportional hazards rejected for completeness of resection" in cox_block
    assert (out / "figures" / "ph_complete_resection.svg").exists()
    # and in the table itself, CSV included, beside the HR
    cox = pd.read_csv(out / "tables" / "cox.csv", dtype=str, keep_default_na=False)
    marks = dict(zip(cox["Term"], cox["PH check p (cox.zph)"], strict=True))
    resection = [t for t in marks if t.startswith("Completeness of resection")]
    assert resection and all(marks[t] == "< 0.001 (not proportional)" for t in resection)
    assert all("not proportional" not in marks[t] for t in marks
               if t.startswith("Number of metastases"))
    rmst = pd.read_csv(out / "tables" / "ph_rmst_complete_resection.csv", dtype=str)
    assert rmst["Comparison"].tolist() == ["Incomplete (R1/R2) vs Complete (R0)"]
    diff = float(rmst.iloc[0, 1].lstrip("'").split(" ")[0])
    assert diff < 0  # incomplete resections live less long within 5 years
    # the term whose hazards are proportional gets neither
    assert not list((out / "figures").glob("ph_n_metastases_group.*"))


def test_proportional_hazards_add_nothing(reports):
    out = reports["ph"]
    assert not list((out / "figures").glob("ph_*"))
    assert not list((out / "tables").glob("ph_rmst_*"))
    assert "Proportional hazards rejected" not in (out / "index.html").read_text()
