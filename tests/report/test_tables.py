"""Tables: Table 1 counts, percentages, medians and missing values; suppression; CSV bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metsurv.report import tables as T


def _patients() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": ["a", "b", "c", "d", "e", "f"],
        "metastasectomy_date": pd.to_datetime(["2001-01-02"] * 6),
        "sex": pd.Categorical(["female", "male", "male", None, "male", "female"],
                              categories=["female", "male", "unknown"]),
        "age_at_metastasectomy": [40.0, 50.0, 60.0, np.nan, 70.0, 80.0],
        "complete_resection": pd.array([True, True, False, True, True, False], dtype="boolean"),
    })


def test_table1_counts_percent_median_iqr_missing():
    t = T.table1(_patients(), by="complete_resection")
    assert list(t.columns) == ["Characteristic", "Level", "Overall (n = 6)",
                               "Complete (R0) (n = 4)", "Incomplete (R1/R2) (n = 2)", "SMD"]
    age = t[t["Level"] == "median (IQR)"].iloc[0]
    assert age["Overall (n = 6)"] == "60.0 (50.0\u201370.0)"
    sex = t.iloc[t.index[t["Characteristic"] == "Sex"][0]:][:3]
    # the schema's "unknown" level, which nobody has, is left out (issue 11)
    assert sex["Overall (n = 6)"].tolist() == ["2 (40.0%)", "3 (60.0%)", "1"]
    assert "unknown" not in t["Level"].tolist()
    assert sex["Level"].tolist() == ["Female", "Male", "Missing"]


def test_identifiers_and_dates_are_never_tabulated():
    t = T.table1(_patients(), variables=["patient_id", "metastasectomy_date", "sex"])
    text = T.to_csv_bytes(t).decode()
    assert "2001" not in text and ",a," not in text
    assert set(t["Characteristic"]) - {""} == {"Patients", "Sex"}


def test_small_cells_are_suppressed_but_zero_stays():
    t = T.table1(_patients(), suppress_below=3)
    sex = t[t["Characteristic"].eq("Sex").cumsum().astype(bool)].head(3)
    # no percentages beside a hidden cell: 3 (60.0%) would say 5 have a value, so 1 missing
    assert sex["Overall (n = 6)"].tolist() == ["<3", "3", "<3"]


def test_cox_terms_read_as_level_vs_reference():
    assert T._term_label("dfi_group[0-11]", {"dfi_group": ">=36"}) == (
        "Disease-free interval (DFI) group: DFI 0-11 mo vs DFI \u226536 mo")
    assert T._term_label("age_at_metastasectomy", {}) == "Age at metastasectomy (years)"


def test_csv_and_html_are_stable_and_escaped():
    df = pd.DataFrame({"a": ["<b>", "x"], "b": [1.5, np.nan]})
    assert T.to_csv_bytes(df) == b"a,b\n<b>,1.5\nx,\n"
    html = T.to_html(df, caption="C & D")
    assert "&lt;b&gt;" in html and "<caption>C &amp; D</caption>" in html


def test_published_comparison_from_the_patients_is_the_reports_table(tmp_path):
    """The notebooks' "this cohort vs published" is one call, and the same table the
    report prints (its CSV holds the numbers: tests/report/test_table_data.py)."""
    import yaml

    from metsurv.report import analyse, compose, load_config, load_study
    from metsurv.report.document import item_named
    from tests.report.conftest import write_cohort

    patients, resections = write_cohort(tmp_path / "data")
    cfg_path = tmp_path / "r.yaml"
    cfg_path.write_text(yaml.safe_dump({"data": {"source": str(patients),
                                                 "resections": str(resections)}}))
    cfg = load_config(cfg_path)
    cohort = load_study(cfg)
    printed = item_named(compose(cfg, analyse(cfg, cohort)), "published_comparison").frame
    got = T.published_comparison(patients=cohort, suppress_below=0)
    pd.testing.assert_frame_equal(got, printed)


def test_published_match_places_figures_in_the_cohort():
    assert T.published_match({"factor": "resection", "level": "incomplete",
                              "subset": "all"}) == ("complete_resection", False, None)
    assert T.published_match({"factor": "resection", "level": "complete",
                              "subset": "preoperative chemotherapy"}) is None


def test_public_names_are_listed():
    from metsurv.report import figures as F

    for mod in (T, F):
        for name in mod.__all__:
            assert hasattr(mod, name), name
    assert {"published_comparison", "format_irlm", "PUBLISHED_LEVELS",
            "PUBLISHED_SUBSETS"} <= set(T.__all__)


def test_report_vocabulary_is_the_schemas_and_the_batterys():
    """One definition each: endpoints and yes/no labels from metsurv.stats.irlm, reference
    levels from metsurv.schema (the report once had copies that drifted in capitalisation)."""
    import importlib

    from metsurv import schema
    from metsurv.report import config
    from metsurv.stats import irlm

    B = importlib.import_module("metsurv.report.build")
    common = importlib.import_module("metsurv.report.sections._common")
    assert config.ENDPOINTS is irlm.ENDPOINTS
    for factor, labels in irlm.BOOL_LABELS.items():
        for level, text in labels.items():
            printed = T.level_label(factor, level)
            assert printed == text[:1].upper() + text[1:], (factor, level)
    assert not hasattr(B, "_BOOL_REFERENCE")
    for factor in ("complete_resection", "repeat_resection", "synchronous"):
        ref = schema.REFERENCE_LEVELS.get(factor, False)
        stats_order = list(irlm.schema_categorical(pd.Series([True, False]), factor)
                           .cat.categories)
        assert common.order(factor, [True, False]) == stats_order == [ref, not ref], factor


def test_irlm_notebook_uses_the_public_helpers_not_copies():
    """Notebook 02 once rebuilt the published comparison and the benchmark points by hand
    (PUBLISHED_LEVELS, SURVIVAL_COLUMNS); it must call the report's helpers."""
    import json
    from pathlib import Path

    nb = Path(__file__).resolve().parents[2] / "notebooks" / "02_irlm_replication.ipynb"
    code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                     if c["cell_type"] == "code")
    assert "figures.benchmark_points(" in code
    assert "tables.published_comparison(irlm, patients=cohort)" in code
    for copy in ("PUBLISHED_LEVELS", "PUBLISHED_SUBSETS", "SURVIVAL_COLUMNS", "def benchmarks",
                 "def cohort_figures"):
        assert copy not in code, copy


def test_battery_without_a_model_says_so_in_its_header():
    """With no factor of enough patients there is no battery model: the multivariable column says so
    instead of "battery model (n = 0, events = 0)" (found by a new user's 12-patient run)."""
    from metsurv.stats.irlm import irlm_comparisons

    rng = np.random.default_rng(4)
    df = pd.DataFrame({"os_months": rng.exponential(40, 12), "os_event": True,
                       "complete_resection": np.arange(12) < 10})  # 2 incomplete: sparse
    res = irlm_comparisons(df)
    assert not res.multivariable_factors
    cols = T.format_irlm(res).columns
    header = [c for c in cols if c.startswith("Multivariable")]
    assert header == ["Multivariable HR (95% CI): no battery model (fewer than two factors "
                      "with enough data)"]


def test_battery_and_its_numbers_withhold_a_median_resting_on_fewer_than_k():
    """Ten incomplete resections die one by one: their median rests on 5 at risk. Under
    suppression with k = 6 the battery prints no median for them (its step says n), in the
    printed table and in its numbers; without suppression it prints one."""
    from metsurv.report import table_data as D
    from metsurv.stats.irlm import irlm_comparisons

    rng = np.random.default_rng(3)
    df = pd.DataFrame({
        "os_months": np.r_[rng.exponential(60, 40), np.arange(1.0, 11.0)],
        "os_event": np.r_[rng.random(40) < 0.6, np.ones(10, bool)],
        "complete_resection": np.r_[np.ones(40, bool), np.zeros(10, bool)]})
    res = irlm_comparisons(df)
    lv = res.levels.set_index(["factor", "level"]).loc[("complete_resection", False)]
    assert lv["median_n_risk"] < 6 <= lv["n"]
    col = "Median, months (95% CI)"
    hidden = T.format_irlm(res, 6)
    shown = T.format_irlm(res, 0)
    inc = hidden["Level"] == "Incomplete (R1/R2)"
    assert hidden.loc[inc, col].iloc[0] == "" and shown.loc[inc, col].iloc[0] != ""
    data = D.irlm_data(res, 6)
    row = data[(data["factor_code"] == "complete_resection") & (data["level_code"] == "False")]
    assert row["median_months"].isna().all()
    assert row["suppressed"].str.contains("median not shown").all()
