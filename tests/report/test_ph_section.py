"""Proportional hazards taken seriously (issue 11, item 4): where cox.zph rejects PH for a
term of the study model, the report says so beside its HR, draws its scaled Schoenfeld
residuals with R plot.cox.zph's smooth (figures/ph_<term>.*) and gives the RMST difference,
which does not assume PH. Oracle: a synthetic truth, a resection effect that is all in the
first 8 months (hazard ratio far from constant); and a cohort simulated with proportional
hazards, where nothing of this appears. Checked on the composed sections (what the report
says), without writing a report: every Figure and Table item becomes figures/<name>.* and
tables/<name>.csv (tests/report/test_build.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.conftest import rewrite_outcome, write_cohort, write_config


def _compose(root: Path, proportional: bool) -> list:
    from metsurv.report import analyse, compose, load_config, load_study

    p, _ = write_cohort(root / "data", n=300, seed=3)
    rewrite_outcome(p, proportional)
    cfg = write_config(root, formats=["svg"], landmark_times=[], benchmark=None,
                       factors=["complete_resection"],
                       cox={"covariates": ["complete_resection", "n_metastases_group"]})
    config = load_config(cfg)
    return compose(config, analyse(config, load_study(config)))


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, list]:
    return {kind: _compose(tmp_path_factory.mktemp(kind), kind == "ph")
            for kind in ("ph", "nonph")}


def _items(sections: list) -> dict:
    return {(type(i).__name__, i.name): i for s in sections for i in s.items}


def test_rejected_ph_is_said_beside_the_hr_with_residuals_and_rmst(reports):
    items = _items(reports["nonph"])
    ph = items["Table", "cox_ph_test"].frame
    assert ph.loc[ph["Term"] == "Completeness of resection", "p"].iloc[0] == "< 0.001"
    cox_table = items["Table", "cox"]
    assert any("Proportional hazards rejected for completeness of resection" in n
               for n in cox_table.notes)
    figure = items["Figure", "ph_complete_resection"]
    assert figure.kind == "ph" and figure.draw().axes  # drawn as R plot.cox.zph
    # and in the table itself, CSV included, beside the HR
    cox = cox_table.frame
    marks = dict(zip(cox["Term"], cox["PH check p (cox.zph)"], strict=True))
    resection = [t for t in marks if t.startswith("Completeness of resection")]
    assert resection and all(marks[t] == "< 0.001 (not proportional)" for t in resection)
    assert all("not proportional" not in marks[t] for t in marks
               if t.startswith("Number of metastases"))
    rmst = items["Table", "ph_rmst_complete_resection"].frame
    assert rmst["Comparison"].tolist() == ["Incomplete (R1/R2) vs Complete (R0)"]
    diff = float(str(rmst.iloc[0, 1]).split(" ")[0])
    assert diff < 0  # incomplete resections live less long within 5 years
    # the term whose hazards are proportional gets neither
    assert not [k for k in items if k[1].startswith("ph_n_metastases_group")]


def test_proportional_hazards_add_nothing(reports):
    items = _items(reports["ph"])
    assert not [k for k in items if k[1].startswith(("ph_", "ph_rmst_"))]
    assert not any("Proportional hazards rejected" in n
                   for i in items.values() for n in i.notes)
