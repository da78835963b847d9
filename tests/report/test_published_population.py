"""Like with like: a published figure is set beside the same population of the cohort
(histologies and subset), rows in the factor's order, one spelling per level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv.published import published_figures
from metsurv.report import figures as F
from metsurv.report import tables as T
from metsurv.report.config import SUBSETS

SARCOMA_STUDIES = {"Burt 2011", "Gherzi 2022 review", "van Geel 1996", "Billingsley 1999",
                   "Stephens 2011"}

#: Oracle, written out by hand: printed level -> (cohort column, value); None = everyone.
LEVELS = {
    "All patients": None,
    "Complete (R0)": ("complete_resection", True),
    "Incomplete (R1/R2)": ("complete_resection", False),
    "DFI 0-11 mo": ("dfi_group", "0-11"),
    "DFI \u226536 mo": ("dfi_group", ">=36"),
    "Single": ("n_metastases_group", "1"),
    "\u22654": ("n_metastases_group", ">=4"),
    # yes before no, as Table 1 lists them (test_levels_in_table_1s_order)
    "Leiomyosarcoma": ("leiomyosarcoma", True),
    "Other sarcoma": ("leiomyosarcoma", False),
    "Group I": ("irlm_group", "I"),
    "Group II": ("irlm_group", "II"),
    "Group III": ("irlm_group", "III"),
    "Group IV": ("irlm_group", "IV"),
    "N0": ("nodal_status", "N0"),
    "N1": ("nodal_status", "N1"),
    "N2": ("nodal_status", "N2"),
}
FACTOR_ORDER = ["All patients", "Completeness of resection",
                "Disease-free interval (DFI) group", "Number of metastases",
                "Sarcoma subtype", "IRLM prognostic group", "Nodal status"]


def _cohort(n: int, histologies: list[str], seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hist = rng.choice(histologies, n)
    sarcoma = hist == "sarcoma"
    lms = pd.Series(rng.random(n) < 0.4, dtype="boolean")
    lms[~sarcoma] = pd.NA
    return pd.DataFrame({
        "os_months": rng.exponential(50, n) + 0.5,
        "os_event": rng.random(n) < 0.6,
        "histology_group": hist,
        "leiomyosarcoma": lms,
        "complete_resection": rng.random(n) < 0.8,
        "dfi_group": rng.choice(["0-11", "12-35", ">=36"], n),
        "n_metastases_group": rng.choice(["1", "2-3", ">=4"], n),
        "irlm_group": rng.choice(["I", "II", "III", "IV"], n),
        "nodal_status": rng.choice(["N0", "N1", "N2", "NX"], n),
    })


def _expected_n(df: pd.DataFrame, row: pd.Series) -> int:
    """The number of cohort patients in the row's population and group, from the oracle
    (study -> histology, population text -> subset, printed level -> group)."""
    keep = np.ones(len(df), dtype=bool)
    if row["Study"] in SARCOMA_STUDIES:
        keep &= (df["histology_group"] == "sarcoma").to_numpy()
    if "complete resection" in row["Population"]:
        keep &= df["complete_resection"].to_numpy(dtype=bool)
    group = LEVELS[row["Level"]]
    if group is not None:
        keep &= (df[group[0]] == group[1]).fillna(False).to_numpy(dtype=bool)
    return int(keep.sum())


MIXED = _cohort(900, ["epithelial", "sarcoma", "melanoma", "germ_cell"])
SARCOMA_ONLY = _cohort(400, ["sarcoma"], seed=2)
NO_SARCOMA = _cohort(500, ["epithelial", "melanoma"], seed=3)


@pytest.mark.parametrize("df", [MIXED, SARCOMA_ONLY, NO_SARCOMA],
                         ids=["mixed", "sarcoma_only", "no_sarcoma"])
def test_every_rows_cohort_n_is_its_population_and_group(df):
    comp = T.published_comparison(patients=df)
    assert len(comp)
    for _, row in comp.iterrows():
        assert row["Cohort n"] == str(_expected_n(df, row)), row.to_dict()


def test_mixed_cohort_sets_sarcoma_series_beside_its_sarcomas_only():
    comp = T.published_comparison(patients=MIXED)
    studies = set(comp["Study"])
    assert {"IRLM 1997", "Veronesi 2007", "Casiraghi 2011", "Burt 2011",
            "Gherzi 2022 review", "van Geel 1996"} <= studies
    sarcoma = MIXED["histology_group"] == "sarcoma"
    geel = comp[comp["Study"] == "van Geel 1996"].iloc[0]
    assert geel["Population"] == "Sarcoma, complete resection"
    assert int(geel["Cohort n"]) == int((sarcoma & MIXED["complete_resection"]).sum())
    assert int(geel["Cohort n"]) < int(MIXED["complete_resection"].sum())
    gherzi = comp[comp["Study"] == "Gherzi 2022 review"]
    n0 = int(gherzi.loc[gherzi["Level"] == "N0", "Cohort n"].iloc[0])
    assert n0 == int((sarcoma & (MIXED["nodal_status"] == "N0")).sum())
    assert comp.attrs["left_out"] == ()


def test_sarcoma_only_cohort_leaves_out_all_histology_series_and_says_so():
    comp = T.published_comparison(patients=SARCOMA_ONLY)
    assert set(comp["Study"]) <= SARCOMA_STUDIES
    assert not comp["Population"].str.startswith("All histologies").any()
    left = " | ".join(comp.attrs["left_out"])
    for study in ("IRLM 1997", "Veronesi 2007", "Casiraghi 2011"):
        assert study in left
    assert "the cohort is sarcoma only" in left


def test_cohort_without_sarcomas_has_no_sarcoma_row():
    comp = T.published_comparison(patients=NO_SARCOMA)
    assert not set(comp["Study"]) & SARCOMA_STUDIES
    assert "IRLM 1997" in set(comp["Study"])
    assert any("no sarcoma patients" in t for t in comp.attrs["left_out"])


def test_cohort_without_histology_keeps_only_all_histology_series():
    comp = T.published_comparison(patients=MIXED.drop(columns=["histology_group"]))
    assert not set(comp["Study"]) & SARCOMA_STUDIES
    assert "IRLM 1997" in set(comp["Study"])


def test_count_text_is_asked_for_the_rows_population_in_report_subsets():
    calls = []

    def count_text(subset, column, value, n):
        calls.append((subset, column, value, n))
        return f"n={n}"

    comp = T.published_comparison(patients=MIXED, count_text=count_text)
    assert len(calls) == len(comp)
    for (subset, column, value, n), (_, row) in zip(calls, comp.iterrows(), strict=True):
        assert subset is None or subset in SUBSETS
        assert (subset == "sarcoma") == (row["Study"] in SARCOMA_STUDIES), row["Study"]
        d = T.subset_patients(MIXED, subset)
        got = len(d) if column == "all" else int((d[column] == value).fillna(False).sum())
        assert got == n == _expected_n(MIXED, row)
        assert row["Cohort n"] == f"n={n}"


def _check_order(comp: pd.DataFrame) -> None:
    ranks = [FACTOR_ORDER.index(f) for f in comp["Factor"]]
    assert ranks == sorted(ranks), list(comp["Factor"])
    level_order = list(LEVELS)
    for (_, study), rows in comp.groupby(["Factor", "Study"], sort=False):
        idx = rows.index.tolist()
        assert idx == list(range(idx[0], idx[0] + len(idx))), study  # a study's rows together
        lv = [level_order.index(v) for v in rows["Level"]]
        assert lv == sorted(lv), (study, list(rows["Level"]))


def test_rows_in_the_factors_order_then_study_then_level():
    comp = T.published_comparison(patients=MIXED)
    _check_order(comp)
    irlm = comp[comp["Factor"] == "IRLM prognostic group"]["Level"].tolist()
    assert irlm == ["Group I", "Group II", "Group III", "Group IV"]
    nodal = comp[comp["Factor"] == "Nodal status"][["Study", "Level"]].to_numpy().tolist()
    assert nodal == [["Veronesi 2007", "N0"], ["Veronesi 2007", "N1"], ["Veronesi 2007", "N2"],
                     ["Gherzi 2022 review", "N0"], ["Gherzi 2022 review", "N1"]]


def test_rows_sorted_when_cohort_rows_are_given():
    """The file order is not the table's (IRLM groups III, IV, I, II): sorted anyway."""
    pub = T.published_like(study="IRLM 1997")
    rows = pd.DataFrame({"n": 10.0}, index=pub.index)
    comp = T.published_comparison(pub.iloc[::-1], cohort_rows=rows)
    _check_order(comp)
    assert comp["Level"].iloc[0] == "All patients" or comp["Factor"].iloc[0] == (
        "Completeness of resection")


@pytest.mark.parametrize("df", [MIXED, SARCOMA_ONLY], ids=["mixed", "sarcoma_only"])
def test_one_spelling_per_level(df):
    comp = T.published_comparison(patients=df)
    assert not comp["Level"].str.contains(">=").any()
    assert set(comp["Level"]) <= set(LEVELS), set(comp["Level"]) - set(LEVELS)
    if df is MIXED:
        assert "DFI \u226536 mo" in set(comp["Level"])
        assert "Completeness of resection" in set(comp["Factor"])
        assert "resection" not in set(comp["Factor"])


def test_published_match_places_a_figure_in_its_population():
    geel = published_figures("van Geel 1996").iloc[0]
    assert T.published_match(geel) == ("complete_resection", True, "sarcoma")
    burt = published_figures("Burt 2011").iloc[0]
    assert T.published_match(burt) == ("leiomyosarcoma", True, "sarcoma")
    irlm = published_figures("IRLM 1997").iloc[2]
    assert T.published_match(irlm) == ("dfi_group", "0-11", "complete_resection")
    # a single-histology figure of a factor within a restriction has no report subset
    assert T.published_match({"factor": "dfi_group", "level": "0-11", "histologies": "sarcoma",
                              "subset": "complete resection"}) is None
    # a histology without a report subset has no counterpart
    assert T.published_match({"factor": "all", "level": "all", "histologies": "melanoma",
                              "subset": "all"}) is None


def test_population_gap():
    assert T.population_gap({"histologies": "sarcoma"}, ("epithelial", "sarcoma")) is None
    assert T.population_gap({"histologies": "sarcoma"}, ("epithelial",)) is not None
    assert T.population_gap({"histologies": "sarcoma"}, None) is not None
    assert T.population_gap({"histologies": "all"}, None) is None
    assert T.population_gap({"histologies": "all"}, ("epithelial",)) is not None
    assert T.cohort_histologies(MIXED) == ("epithelial", "sarcoma", "germ_cell", "melanoma")
    assert T.cohort_histologies(MIXED.drop(columns=["histology_group"])) is None


def test_benchmark_points_only_on_a_panel_of_the_same_population():
    pub = T.published_like()
    # nodal status of everyone (mixed): Veronesi, never the sarcoma review
    pts, src = F.benchmark_points(pub, "nodal_status", None, ["N0", "N1", "N2"],
                                  histologies=("epithelial", "sarcoma"))
    assert src and all("Veronesi" in s for s in src)
    # nodal status among sarcomas: the sarcoma review, never Veronesi
    pts, src = F.benchmark_points(pub, "nodal_status", "sarcoma", ["N0", "N1"])
    assert src and all("Gherzi" in s and "citing" in s for s in src)
    # completeness among sarcomas: van Geel (complete only)
    pts, src = F.benchmark_points(pub, "complete_resection", "sarcoma", [True, False])
    assert set(pts["group"]) == {True} and all("van Geel" in s for s in src)
    # completeness of everyone in a sarcoma-only cohort: no all-histology series (IRLM),
    # but the sarcoma series, whose population it is
    pts, src = F.benchmark_points(pub, "complete_resection", None, [True, False],
                                  histologies=("sarcoma",))
    assert src and all("van Geel" in s for s in src)
    assert F.benchmark_points(pub, "complete_resection", None, [True, False],
                              histologies=("epithelial",)) == (None, ())
    # ... drawn in a mixed one
    pts, src = F.benchmark_points(pub, "complete_resection", None, [True, False],
                                  histologies=("epithelial", "sarcoma"))
    assert any("Pastorino" in s for s in src) and not any("van Geel" in s for s in src)
    # sarcoma subtype (only sarcomas have one) drawn without a subset: Burt
    pts, src = F.benchmark_points(pub, "leiomyosarcoma", None, [True, False],
                                  histologies=("sarcoma",))
    assert src and all("Burt" in s for s in src)


@pytest.fixture(scope="module")
def bundled_patients():
    """The bundled cohorts as loaded (coded factors Categorical, yes/no boolean): a mixed
    one and a sarcoma one (which has the sarcoma subtype)."""
    from pathlib import Path

    from metsurv.io import load_cohort

    root = Path(__file__).resolve().parents[2] / "data" / "synthetic"
    return {name: load_cohort(root / name / "patients.csv", today="2024-06-30").patients
            for name in ("irlm1997", "sarcoma")}


@pytest.mark.parametrize("name", ["irlm1997", "sarcoma"])
def test_levels_in_table_1s_order(bundled_patients, name):
    """Oracle: Table 1 of the same cohort. For every factor shown in both tables, the
    published comparison lists its levels in the order Table 1 does."""
    patients = bundled_patients[name]
    comp = T.published_comparison(patients=patients)
    factors = [c for c in T._PUBLISHED_ORDER if c in patients.columns]
    t1 = T.table1(patients, variables=factors)
    t1_levels: dict[str, list[str]] = {}
    current = None
    for char, level in zip(t1["Characteristic"], t1["Level"], strict=True):
        current = char or current
        t1_levels.setdefault(current, []).append(level)
    shared = 0
    for (factor, study), rows in comp.groupby(["Factor", "Study"], sort=False):
        if factor not in t1_levels or len(rows) < 2:
            continue
        order = t1_levels[factor]
        assert set(rows["Level"]) <= set(order), (factor, list(rows["Level"]), order)
        ranks = [order.index(v) for v in rows["Level"]]
        assert ranks == sorted(ranks), (study, factor, list(rows["Level"]), order)
        shared += 1
    assert shared >= (2 if name == "irlm1997" else 1)
    if name == "sarcoma":
        burt = comp[comp["Study"] == "Burt 2011"]["Level"].tolist()
        assert burt == ["Leiomyosarcoma", "Other sarcoma"] == [
            v for v in t1_levels["Sarcoma subtype"] if v != "Missing"]
