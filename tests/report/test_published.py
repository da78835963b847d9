"""metsurv.published: the reference table ships unedited and loads with its citations."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from metsurv.errors import CohortError
from metsurv.published import published_figures, studies

SHARED = Path("/work/shared/reference/published_figures.csv")


def test_package_file_is_the_reference_file_with_only_the_population_added():
    """Every line of the shipped file is the reference file's line, byte for byte, with the
    population column ``histologies`` appended: no number or citation edited."""
    shipped = resources.files("metsurv.published").joinpath("published_figures.csv").read_bytes()
    assert shipped.startswith(b"study,cohort,endpoint,origin,subset,factor,level,n,")
    if not SHARED.is_file():
        pytest.skip("reference file not available")
    ref_lines = SHARED.read_bytes().split(b"\n")
    got_lines = shipped.split(b"\n")
    assert len(got_lines) == len(ref_lines)
    for ref, got in zip(ref_lines, got_lines, strict=True):
        if not ref:
            assert got == ref
            continue
        head, _, added = got.rpartition(b",")
        assert head == ref, got
        assert added in (b"histologies", b"all", b"sarcoma"), got


def test_every_figure_carries_its_histology_population():
    """Oracle: the reference file's ``cohort`` text. Sarcoma series (Burt 2011, van Geel
    1996, Billingsley 1999, Stephens 2011, the 2022 review's sarcoma figures) are
    "sarcoma"; IRLM, Veronesi, Jaklitsch and Casiraghi (mixed histologies) are "all"."""
    df = published_figures()
    sarcoma = df["cohort"].str.contains("sarcoma")
    assert (df.loc[sarcoma, "histologies"] == "sarcoma").all()
    assert (df.loc[~sarcoma, "histologies"] == "all").all()
    assert set(df.loc[df["histologies"] == "sarcoma", "study"]) == {
        "Burt 2011", "Gherzi 2022 review", "van Geel 1996", "Billingsley 1999", "Stephens 2011"}
    assert df["confidence"].notna().all() and df["source"].notna().all()


def test_irlm_complete_vs_incomplete_as_published():
    """Oracle: the abstract of Pastorino U et al., J Thorac Cardiovasc Surg 1997;113:37-49
    (IRLM): 4,572 complete resections, actuarial survival 36% at 5, 26% at 10 and 22% at 15
    years; 634 incomplete resections, 13% at 5 years, median 15 months."""
    df = published_figures("IRLM 1997")
    complete = df[(df["factor"] == "resection") & (df["level"] == "complete")].iloc[0]
    incomplete = df[(df["factor"] == "resection") & (df["level"] == "incomplete")].iloc[0]
    assert (complete["n"], complete["surv_5y"], complete["surv_10y"], complete["surv_15y"]) == (
        4572, 0.36, 0.26, 0.22)
    assert (incomplete["n"], incomplete["median_months"], incomplete["surv_5y"]) == (634, 15, 0.13)
    assert complete["source"].startswith("Pastorino U et al. J Thorac Cardiovasc Surg 1997")


def test_every_row_has_a_citation_and_levels_stay_text():
    df = published_figures()
    assert len(df) == 26
    assert df["source"].str.len().gt(10).all()
    assert set(df.loc[df["factor"] == "n_metastases_group", "level"]) == {"1", ">=4"}
    assert studies()[:2] == ["IRLM 1997", "Burt 2011"]


def test_unknown_study_names_the_known_ones():
    with pytest.raises(CohortError, match="known studies: IRLM 1997, Burt 2011"):
        published_figures("IRLM 1998")
