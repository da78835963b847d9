"""Table 1 as R gtsummary makes it (issue 12): labels, missing and not-applicable rows, empty
levels, variables fixed by the grouping, the SMD column and p-values. SMDs and p-values
against R: ``tests/reference/make_table1_smd.R`` -> ``table1_smd.json`` and
``data/table1_smd.csv`` (rerun live below when Rscript exists)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from metsurv.errors import CohortError
from metsurv.format import format_p
from metsurv.report import tables as T
from metsurv.report.config import load_config
from metsurv.report.sections.cohort import table1_caption
from tests.stats.helpers import REFERENCE, needs_r, reference, run_r_script

R = reference("table1_smd")
CASES = R["cases"]
NUMBERS = ("x_ties", "x_unique")
TOL = 1e-10


def _fixture() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / "table1_smd.csv", float_precision="round_trip")


def _groups(d: pd.DataFrame, by: str, v: str) -> list[pd.Series]:
    return [d.loc[d[by] == g, v].dropna() for g in sorted(d[by].dropna().unique())]


def _close(got: float, want: float) -> bool:
    return abs(got - want) <= TOL * max(1.0, abs(want))


def _block(t: pd.DataFrame, title: str) -> pd.DataFrame:
    """The rows of one characteristic."""
    start = int(np.flatnonzero(t["Characteristic"].to_numpy() == title)[0])
    end = start + 1
    while end < len(t) and t["Characteristic"].iloc[end] == "":
        end += 1
    return t.iloc[start:end]


# ------------------------------------------------------------------ against R


@pytest.mark.parametrize("case", [c for c in CASES if "smd" in c],
                         ids=lambda c: f"{c['by']}-{c['variable']}")
def test_smd_matches_r(case):
    """|mean difference| / sqrt((s1^2 + s2^2)/2) for numbers, Yang & Dalton's multi-level
    SMD for categories (R's levels sorted; ours in order of appearance: the same value)."""
    d = _fixture()
    x = _groups(d, case["by"], case["variable"])
    got = T._smd(x, case["variable"] in NUMBERS)
    assert _close(got, case["smd"]), (got, case["smd"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['by']}-{c['variable']}")
def test_p_value_and_test_match_r(case):
    """chisq.test / fisher.test (chosen by the expected counts), wilcox.test (R's choice of
    exact or corrected normal approximation), kruskal.test."""
    d = _fixture()
    x = _groups(d, case["by"], case["variable"])
    p, test = T._p_value(x, case["variable"] in NUMBERS)
    assert test == case["test"]
    assert _close(p, case["p"]), (p, case["p"])


def test_the_fixture_exercises_every_branch():
    tests = {(c["test"], c["by"]) for c in CASES}
    assert {t for t, _ in tests} == {"Pearson's chi-square test", "Fisher's exact test",
                                     "Wilcoxon rank-sum test", "Kruskal-Wallis test"}
    exact = {c.get("exact") for c in CASES if c["test"] == "Wilcoxon rank-sum test"}
    assert exact == {True, False}
    # Fisher beyond 2 x 2: a four-level variable in three groups
    assert any(c["test"] == "Fisher's exact test" and c["variable"] == "cat_sparse"
               and c["by"] == "g3" for c in CASES)


def test_table1_prints_r_smd_and_p_on_each_variable_first_row():
    d = _fixture()
    variables = [*NUMBERS, "cat3", "cat_sparse", "bin_rare", "bin_even"]
    t = T.table1(d, by="g2", variables=variables, p=True)
    assert list(t.columns[-2:]) == ["SMD", "p-value"]
    for case in (c for c in CASES if c["by"] == "g2"):
        title = case["variable"].replace("_", " ").capitalize()
        block = _block(t, title)
        assert block["SMD"].iloc[0] == f"{case['smd']:.2f}", title
        assert block["p-value"].iloc[0] == format_p(case["p"], label=False), title
        assert (block["SMD"].iloc[1:] == "").all() and (block["p-value"].iloc[1:] == "").all()
    notes = " ".join(t.attrs["footnotes"])
    for name in ("Pearson's chi-square test", "Fisher's exact test", "Wilcoxon rank-sum test"):
        assert name in notes
    assert "sqrt((s1\u00b2 + s2\u00b2)/2)" in notes and "Yang & Dalton" in notes


def test_three_groups_have_p_values_but_no_smd():
    d = _fixture()
    t = T.table1(d, by="g3", variables=["x_ties", "cat3"], p=True)
    assert "SMD" not in t.columns
    case = next(c for c in CASES if c["by"] == "g3" and c["variable"] == "cat3")
    assert _block(t, "Cat3")["p-value"].iloc[0] == format_p(case["p"], label=False)
    assert "Kruskal-Wallis test" in " ".join(t.attrs["footnotes"])


def test_smd_by_default_for_two_groups_only_and_never_under_suppression():
    d = _fixture()
    assert "SMD" in T.table1(d, by="g2", variables=["cat3"]).columns
    assert "SMD" not in T.table1(d, by="g2", variables=["cat3"], smd=False).columns
    assert "SMD" not in T.table1(d, variables=["cat3"]).columns
    assert "p-value" not in T.table1(d, by="g2", variables=["cat3"]).columns
    hidden = T.table1(d, by="g2", variables=["cat3"], suppress_below=3, p=True)
    assert "SMD" not in hidden.columns and "p-value" not in hidden.columns


def test_fisher_rxc_falls_back_to_chi_square_beyond_its_enumeration(monkeypatch):
    d = _fixture()
    x = _groups(d, "g3", "cat_sparse")
    monkeypatch.setattr(T, "_FISHER_MAX_TABLES", 10)
    p, test = T._p_value(x, False)
    assert test == "Pearson's chi-square test" and 0 < p < 1


def test_binary_smd_is_the_two_proportion_formula():
    a = pd.Series([True] * 3 + [False] * 7)
    b = pd.Series([True] * 6 + [False] * 4)
    p1, p2 = 0.3, 0.6
    want = abs(p1 - p2) / np.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    assert _close(T._smd([a, b], False), want)
    assert T._smd([a, a], False) == 0.0


@needs_r
def test_make_table1_smd_R_reproduces_committed_fixtures(tmp_path):
    """Rscript tests/reference/make_table1_smd.R <tmp>: the same input CSV and every JSON
    number equal to the committed one (1e-12 relative)."""
    run_r_script("make_table1_smd.R", tmp_path)
    fresh = reference("table1_smd", tmp_path)
    assert (tmp_path / "data" / "table1_smd.csv").read_text() == \
        (REFERENCE / "data" / "table1_smd.csv").read_text()
    assert len(fresh["cases"]) == len(CASES)
    for new, old in zip(fresh["cases"], CASES, strict=True):
        assert new.keys() == old.keys() and new["test"] == old["test"]
        for key in ("smd", "p"):
            if key in old:
                assert abs(new[key] - old[key]) <= 1e-12 * max(1.0, abs(old[key])), (old, key)


# ------------------------------------------------------------------ how it reads


def _cohort() -> pd.DataFrame:
    n = 12
    return pd.DataFrame({
        "sex": pd.Categorical(["female", "male"] * 5 + ["unknown", None],
                              categories=["female", "male", "unknown"]),
        "age_at_metastasectomy": np.linspace(40, 70, n),
        "histology_group": pd.Categorical(["sarcoma"] * 6 + ["epithelial"] * 5 + [None],
                                          categories=["epithelial", "sarcoma", "germ_cell",
                                                      "melanoma", "other"]),
        "leiomyosarcoma": pd.array([True, False, True, False, None, False] + [None] * 6,
                                   dtype="boolean"),
        "approach": pd.Categorical(["vats", "thoracotomy"] * 6,
                                   categories=["vats", "thoracotomy", "sternotomy",
                                               "clamshell", "robotic"]),
        "extent": pd.Categorical(["wedge"] * 11 + [None],
                                 categories=["wedge", "lobectomy"]),
        "resection_status": pd.Categorical(["R0"] * 8 + ["R1", "R2", "R1", "R0"],
                                           categories=["R0", "R1", "R2"]),
        "irlm_group": pd.Categorical(["I", "II"] * 4 + ["IV"] * 3 + ["III"],
                                     categories=["I", "II", "III", "IV"]),
        "complete_resection": pd.array([True] * 8 + [False] * 3 + [True], dtype="boolean"),
    })


def test_labels_not_codes_and_no_empty_levels():
    t = T.table1(_cohort(), by="complete_resection")
    levels = t["Level"].tolist()
    assert {"VATS", "Thoracotomy", "Wedge resection", "Female", "Male"} <= set(levels)
    assert not {"vats", "wedge", "female", "Sternotomy", "Lobectomy", "Germ cell"} & set(levels)


def test_missing_row_only_where_values_are_missing_and_unknown_once():
    t = T.table1(_cohort(), by="complete_resection")
    assert _block(t, "Surgical approach")["Level"].tolist() == ["VATS", "Thoracotomy"]
    assert _block(t, "Extent of resection")["Level"].tolist() == ["Wedge resection", "Missing"]
    assert "Missing" not in _block(t, "Age at metastasectomy (years)")["Level"].tolist()
    sex = _block(t, "Sex")  # the code "unknown" and the missing value: one row
    assert sex["Level"].tolist() == ["Female", "Male", "Unknown"]
    assert sex.iloc[:, 2].tolist() == ["5 (50.0%)", "5 (50.0%)", "2"]


def test_not_applicable_is_not_missing():
    """Sarcoma subtype of an epithelial tumour is not applicable: counted among sarcomas,
    the missing row holds the one sarcoma of unknown subtype, a footnote says so."""
    t = T.table1(_cohort())
    lms = _block(t, "Sarcoma subtype")
    assert lms["Level"].tolist() == ["Leiomyosarcoma", "Other sarcoma", "Missing"]
    assert lms.iloc[:, 2].tolist() == ["2 (40.0%)", "3 (60.0%)", "1"]
    assert any("among sarcomas" in f for f in t.attrs["footnotes"])
    # under suppression the missing count keeps everyone without a value, and says so
    kept = T.table1(_cohort(), suppress_below=2)
    assert _block(kept, "Sarcoma subtype")["Level"].iloc[-1] == "Missing or not applicable"


def test_variables_fixed_by_the_grouping_are_left_out_and_named():
    t = T.table1(_cohort(), by="complete_resection")
    titles = set(t["Characteristic"])
    assert "Resection status" not in titles and "IRLM prognostic group" not in titles
    assert "Sex" in titles and "Surgical approach" in titles
    note = next(f for f in t.attrs["footnotes"] if f.startswith("Not shown"))
    assert "resection status" in note and "IRLM prognostic group" in note
    assert "completeness of resection" in note
    caption = table1_caption(t, 0, "", "complete_resection")
    assert note in caption and "Yang & Dalton" in caption
    # without a grouping nothing is fixed
    assert "Resection status" in set(T.table1(_cohort())["Characteristic"])


def test_config_table1_p(tmp_path):
    (tmp_path / "p.csv").write_text("patient_id,os_months,os_event\na,1,1\n")
    path = tmp_path / "s.yaml"
    base = {"title": "T", "data": {"source": "p.csv"}}
    path.write_text(yaml.safe_dump({**base, "table1": {"by": "sex", "p": True}}))
    assert load_config(path).table1_p is True
    path.write_text(yaml.safe_dump({**base, "table1": {"by": "sex"}}))
    assert load_config(path).table1_p is False
    path.write_text(yaml.safe_dump({**base, "table1": {"p": "yes"}}))
    with pytest.raises(CohortError, match="table1.p must be true or false"):
        load_config(path)
