"""The report's treatment comparison (issue 13, config key ``compare:``): the config is
checked when read; the section shows balance, love plot, adjusted curves and effects from
:func:`metsurv.stats.compare.compare_treatments` (whose numbers are checked against R in
tests/stats), says why when it cannot, and agrees with the CLI's JSON on the same data.

Oracle: the same comparison computed directly by ``compare_treatments`` (and the known
confounding of the synthetic generator: the unadjusted HR is further from 1 than the
weighted one)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from metsurv.errors import CohortError
from metsurv.report.analysis import analyse
from metsurv.report.build import load_study
from metsurv.report.config import load_config
from metsurv.report.document import Figure, Table, item_named
from metsurv.report.sections import compose
from metsurv.stats.compare import compare_treatments
from metsurv.synthetic import generate

COMPARE = {"treatment": "approach", "levels": ["vats", "thoracotomy"],
           "confounders": ["n_metastases_group", "dfi_group", "laterality"]}


@pytest.fixture(scope="module")
def confounded(tmp_path_factory) -> Path:
    """A 1,500-patient cohort with a confounded treatment (true log HR -0.5)."""
    folder = tmp_path_factory.mktemp("confounded")
    cohort = generate("irlm1997", n=1500, seed=5, outcome="ph", treatment_effect=-0.5)
    cohort.patients.to_csv(folder / "patients.csv", index=False)
    return folder / "patients.csv"


def _config(source: Path, **compare) -> dict:
    return {"title": "Compare", "data": {"source": str(source)},
            "factors": ["complete_resection"], "landmark_times": [],
            "compare": {**COMPARE, **compare}}


@pytest.fixture(scope="module")
def study(confounded):
    cfg = load_config(_config(confounded))
    analysis = analyse(cfg, load_study(cfg))
    return cfg, analysis, compose(cfg, analysis)


def test_section_shows_balance_love_plot_curves_and_effects(study):
    cfg, analysis, sections = study
    sec = next(s for s in sections if s.id == "compare")
    assert not sec.reason
    assert sec.title == "Treatment comparison: VATS vs Thoracotomy"
    balance = item_named(sections, "compare_balance")
    effects = item_named(sections, "compare_effects")
    assert isinstance(balance, Table) and isinstance(effects, Table)
    assert isinstance(item_named(sections, "balance"), Figure)
    assert isinstance(item_named(sections, "compare_survival"), Figure)
    # the CSV holds numbers, one row per balance row / effect
    assert balance.data["smd_weighted"].dtype.kind == "f"
    assert len(effects.data) == 4 and effects.data["estimate"].dtype.kind == "f"
    # every figure draws
    for name in ("balance", "compare_survival"):
        fig = item_named(sections, name).draw()
        assert fig.get_axes()


def test_section_numbers_are_the_comparisons(study):
    cfg, analysis, sections = study
    direct = compare_treatments(analysis.patients, "approach", ("vats", "thoracotomy"),
                                COMPARE["confounders"])
    effects = item_named(sections, "compare_effects").data
    np.testing.assert_allclose(effects["estimate"], direct.effects["estimate"], rtol=1e-12)
    hr = direct.effect("adjusted", "hazard_ratio")["estimate"]
    crude = direct.effect("unadjusted", "hazard_ratio")["estimate"]
    assert abs(np.log(crude)) > abs(np.log(hr))  # the generator's confounding
    printed = item_named(sections, "compare_effects").frame
    assert printed.loc[0, "Estimate (95% CI)"].startswith(f"{hr:.2f}")


def test_methods_names_the_comparison(study):
    cfg, analysis, sections = study
    methods = next(s for s in sections if s.id == "methods").intro
    assert "propensity scores" in methods and "robust (sandwich) variance" in methods


def test_not_asked_for_says_so(confounded):
    raw = _config(confounded)
    del raw["compare"]
    cfg = load_config(raw)
    sections = compose(cfg, analyse(cfg, load_study(cfg)))
    sec = next(s for s in sections if s.id == "compare")
    assert sec.reason.startswith("not asked for")


def test_a_level_not_in_the_data_is_a_config_error_naming_the_values(confounded):
    """A typo in compare.levels is the user's mistake, not a limit of the data: the build
    stops (exit 2) instead of quietly leaving the section out."""
    cfg = load_config(_config(confounded, levels=["robotic_xyz", "thoracotomy"]))
    with pytest.raises(CohortError, match=r"compare.levels: level 'robotic_xyz' is not a "
                                          r"value of 'approach' \(values: .*thoracotomy"):
        analyse(cfg, load_study(cfg))


def test_separation_is_a_reason_not_a_crash(confounded, tmp_path):
    """No overlap is a limit of the data: the section says why, the report is built."""
    import pandas as pd

    p = pd.read_csv(confounded)
    p["laterality"] = np.where(p["approach"] == "vats", "unilateral", "bilateral")
    p.to_csv(tmp_path / "sep.csv", index=False)
    cfg = load_config(_config(tmp_path / "sep.csv"))
    sec = next(s for s in compose(cfg, analyse(cfg, load_study(cfg))) if s.id == "compare")
    assert sec.reason.startswith("the data cannot give it") and "laterality" in sec.reason


def test_a_yes_no_treatment_is_labelled_in_the_figure(confounded):
    cfg = load_config(_config(confounded, treatment="complete_resection",
                              levels=["true", "false"],
                              confounders=["n_metastases_group", "dfi_group"]))
    sections = compose(cfg, analyse(cfg, load_study(cfg)))
    panel = item_named(sections, "compare_survival").args["panel"]
    assert [c.label for c in panel.curves] == ["Complete (R0)", "Incomplete (R1/R2)"]
    assert list(panel.at_risk.index) == ["Complete (R0)", "Incomplete (R1/R2)"]


def test_imputation_in_the_report(confounded):
    cfg = load_config(_config(confounded, impute=3))
    analysis = analyse(cfg, load_study(cfg))
    comp = analysis.comparison
    assert comp.imputations == 3 and comp.n_imputed
    assert {"fmi", "df"} <= set(comp.effects.columns)
    sections = compose(cfg, analysis)
    assert "imputations" in item_named(sections, "compare_effects").caption


@pytest.mark.parametrize("change, message", [
    ({"method": "overlap", "estimand": "ATT"}, "overlap"),
    ({"impute": 1}, "compare.impute"),
    ({"levels": ["vats"]}, "compare.levels"),
    ({"confounders": ["approach"]}, "is the treatment"),
    ({"confounders": ["no_such_field"]}, "not a field"),
    ({"weights": "x"}, "compare"),
])
def test_config_is_checked_when_read(confounded, change, message):
    with pytest.raises(CohortError, match=message):
        load_config(_config(confounded, **change))


def test_config_missing_key(confounded):
    raw = _config(confounded)
    del raw["compare"]["confounders"]
    with pytest.raises(CohortError, match="compare.confounders is required"):
        load_config(raw)


def test_provenance_records_the_comparison(confounded):
    cfg = load_config(_config(confounded, method="overlap"))
    assert cfg.to_dict()["compare"]["method"] == "overlap"
    assert cfg.to_dict()["compare"]["levels"] == ["vats", "thoracotomy"]
    assert dataclasses.asdict(cfg.compare)["confounders"] == tuple(COMPARE["confounders"])
