"""Two kinds of table file (issue 12, item 4): ``tables/*.csv`` hold numbers, one value per
cell, built from the analysis; the printed tables (HTML, PDF, Word) keep their text. Under
small-cell suppression a count printed "<k" or "suppressed" is empty in the data, and so is
every estimate the printed table leaves blank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv import schema
from metsurv.report import analyse, compose, load_config, load_study
from metsurv.report import tables as T
from metsurv.report.document import Table
from tests.report.conftest import SUPPRESS_BELOW

#: Tables whose CSV holds numbers (``Table.data``); the others are text tables.
DATA_TABLES = ("survival", "cox", "cox_ph_test", "irlm_battery", "cif_recurrence", "landmark",
               "published_comparison", "table1", "flow")
#: Columns of the data CSVs that hold text (names, codes, reasons), never numbers.
TEXT_COLUMNS = {"factor_code", "subset", "factor", "level", "level_code", "suppressed", "term",
                "model", "comparison", "group", "reference", "first_event", "cause_code",
                "study", "published_cohort", "population", "source", "note", "sparse",
                "characteristic", "p_below", "table", "step", "reason", "n_printed"}
HIDDEN = (f"<{SUPPRESS_BELOW}", T.SECONDARY)


def _tables(sections) -> dict[str, Table]:
    return {i.name: i for s in sections for i in s.items
            if isinstance(i, Table) and not i.frame.empty}


def _compose(cfg_path: Path):
    cfg = load_config(cfg_path)
    analysis = analyse(cfg, load_study(cfg))
    return cfg, analysis, _tables(compose(cfg, analysis))


@pytest.fixture(scope="module")
def composed(small_study: Path):
    return _compose(small_study)


@pytest.fixture(scope="module")
def composed_suppressed(suppressed_study):
    return _compose(suppressed_study[0])


def _data_csvs(out: Path) -> list[Path]:
    files = sorted(p for p in (out / "tables").glob("*.csv")
                   if p.stem in DATA_TABLES or p.stem.startswith("ph_rmst_"))
    assert {p.stem for p in files} >= {"survival", "cox", "irlm_battery", "landmark",
                                       "table1", "flow"}
    return files


@pytest.mark.parametrize("which", ["built_report", "suppressed_study"])
def test_every_data_csv_reads_back_with_numeric_columns(which, request):
    out = request.getfixturevalue(which)
    out = out[1] if isinstance(out, tuple) else out
    for path in _data_csvs(out):
        df = pd.read_csv(path)
        assert len(df), path.name
        numeric = [c for c in df.columns if c not in TEXT_COLUMNS]
        assert numeric, path.name
        for c in numeric:
            assert pd.api.types.is_numeric_dtype(df[c]), (path.name, c, df[c].tolist()[:5])
        # no printed number survives in a number column: no "4,572", "<5", "< 0.001"
        text = pd.read_csv(path, dtype=str, keep_default_na=False)[numeric]
        assert not text.apply(lambda s: s.str.contains(r"[,<(–%]")).to_numpy().any(), path.name


def test_csv_is_the_data_frame(composed, built_report: Path):
    _, _, tables = composed
    for name in ("survival", "cox", "irlm_battery"):
        written = pd.read_csv(built_report / "tables" / f"{name}.csv")
        data = tables[name].data
        assert list(written.columns) == list(data.columns)
        for c in written.columns:
            if c in TEXT_COLUMNS:
                continue
            np.testing.assert_allclose(written[c].to_numpy(float),
                                       data[c].astype(float).to_numpy(), rtol=1e-5,
                                       err_msg=f"{name}.{c}")


def test_printed_frames_keep_their_text(composed):
    _, _, tables = composed
    for name in DATA_TABLES:
        if name in tables:
            t = tables[name]
            assert t.data is not None and t.csv_frame is t.data
            assert not t.frame.equals(t.data)
    surv = tables["survival"].frame
    assert surv["Median (95% CI), months"].str.contains("\u2013").any()


def test_numbers_equal_the_analysis(composed):
    cfg, analysis, tables = composed
    # Cox: the study model's HRs are its fit's exp(coef), its p and cox.zph p the fit's
    cox = tables["cox"].data
    multi = analysis.cox.multi.to_frame()
    study = cox[cox["model"] == "Multivariable (study)"].reset_index(drop=True)
    assert len(study) == len(multi)
    np.testing.assert_allclose(study["hr"], np.exp(multi["coef"]), rtol=1e-12)
    np.testing.assert_allclose(study["hr_lower"], multi["lower"], rtol=1e-12)
    np.testing.assert_allclose(study["p"], multi["p"], rtol=1e-12)
    zph = dict(zip(analysis.cox.ph["term"], analysis.cox.ph["p"], strict=True))
    assert study.loc[0, "zph_p"] == zph["complete_resection"]
    ph = tables["cox_ph_test"].data
    np.testing.assert_allclose(ph["chisq"], analysis.cox.ph["chisq"], rtol=1e-12)
    # survival: Kaplan-Meier of everyone and the log-rank p of each factor
    surv = tables["survival"].data
    everyone = surv[surv["factor_code"] == "all"].iloc[0]
    km = analysis.overall.survival_at([schema.months(y) for y in (5, 10)])
    assert everyone["surv_5y_pct"] == pytest.approx(100 * km["estimate"].iloc[0], rel=1e-12)
    assert everyone["surv_10y_upper_pct"] == pytest.approx(100 * km["upper"].iloc[1],
                                                           rel=1e-12)
    med = analysis.overall.medians().iloc[0]
    assert everyone["median_months"] == med["median"] and everyone["n"] == med["n"]
    first = next(f for f in analysis.factors if not f.reason)
    rows = surv[surv["factor_code"] == first.spec.factor]
    assert (rows["logrank_p"] == first.tests.p).all()
    assert rows["n"].sum() == first.fit.medians()["n"].sum()
    # IRLM battery: the battery's univariable HRs, level by level
    irlm = tables["irlm_battery"].data
    lv = analysis.battery.levels
    got = irlm[irlm["hr"].notna()].set_index(["factor_code", "level_code"])["hr"]
    want = lv.assign(level=lv["level"].astype(str)).set_index(["factor", "level"])["hr"]
    assert len(got) > 3
    np.testing.assert_allclose(got.to_numpy(), want.loc[got.index].to_numpy(), rtol=1e-12)
    assert irlm.loc[irlm["reference"], "hr"].isna().all()
    # competing risks: the estimates at the report's years, in percent
    cif = tables["cif_recurrence"].data
    at = analysis.competing.at
    assert sorted(100 * at["estimate"]) == pytest.approx(sorted(cif["cumulative_incidence_pct"]),
                                                         rel=1e-12)
    # published comparison: the cohort rows computed for each published figure
    pub = tables["published_comparison"].data
    assert pub["cohort_n"].notna().all()
    assert set(pub["cohort_n"].astype(int)) <= set(analysis.published.cohort_rows["n"].astype(int))


def _aligned(frame: pd.DataFrame, data: pd.DataFrame, pairs: list[tuple[str, str]]) -> int:
    """Every printed count hidden is empty in the data, every other printed count equals
    the data's; every printed blank estimate is empty. Returns how many counts are hidden."""
    assert len(frame) == len(data)
    hidden = 0
    for printed, number in pairs:
        for text, value in zip(frame[printed], data[number], strict=True):
            if text in HIDDEN:
                hidden += 1
                assert pd.isna(value), (printed, text, value)
            elif text.strip() == "":
                assert pd.isna(value), (printed, value)
            elif number in ("n", "events", "cohort_n"):
                assert int(text.replace(",", "")) == value, (printed, text, value)
    return hidden


def test_suppressed_counts_are_empty_in_the_data(composed_suppressed):
    _, _, tables = composed_suppressed
    hidden = 0
    surv = tables["survival"]
    hidden += _aligned(surv.frame, surv.data, [
        ("n", "n"), ("Events", "events"), ("Median (95% CI), months", "median_months"),
        ("5-year % (95% CI)", "surv_5y_pct"), ("10-year % (95% CI)", "surv_10y_pct")])
    irlm = tables["irlm_battery"]
    hidden += _aligned(irlm.frame, irlm.data, [
        ("n", "n"), ("Events", "events"), ("Median, months (95% CI)", "median_months"),
        ("5-y % (95% CI)", "surv_5y_pct"), ("10-y % (95% CI)", "surv_10y_pct")])
    lm = tables["landmark"]
    hidden += _aligned(lm.frame, lm.data, [("n", "n"), ("Events", "events")])
    if "published_comparison" in tables:
        pub = tables["published_comparison"]
        hidden += _aligned(pub.frame, pub.data, [("Cohort n", "cohort_n")])
    assert hidden > 0  # the study has small cells: the check checked something
    # each empty count says why
    for t in (surv, irlm):
        gone = t.data["n"].isna() | t.data["events"].isna()
        assert (t.data.loc[gone, "suppressed"].str.len() > 0).all()
        assert (t.data.loc[~gone & (t.data["suppressed"] == ""), "n"].notna()).all()


def test_suppressed_data_carry_the_printed_precision(composed_suppressed, suppressed_study):
    _, _, tables = composed_suppressed
    surv = tables["survival"].data
    pct = surv["surv_5y_pct"].dropna()
    assert len(pct) and (pct == pct.round(0)).all()
    cox = tables["cox"].data["hr"].dropna()
    assert len(cox) and (cox == cox.round(2)).all()
    # no hidden count of the survival table is in its CSV
    written = pd.read_csv(suppressed_study[1] / "tables" / "survival.csv")
    printed = tables["survival"].frame
    for printed_col, col in (("n", "n"), ("Events", "events")):
        gone = printed[printed_col].isin(HIDDEN).to_numpy()
        assert gone.any() or printed_col == "Events"
        assert written.loc[gone, col].isna().all()


def test_table1_data_are_its_printed_numbers(composed):
    """tables/table1.csv holds Table 1's counts exactly and its percentages, medians and
    quartiles at the printed precision, one row per characteristic, level and column; a
    hidden count is empty and says so."""
    t1 = composed[2]["table1"]
    data = t1.data
    overall = next(c for c in t1.frame.columns if c.startswith("Overall"))
    sex = t1.frame[t1.frame["Level"].isin(["Female", "Male"])]
    got = data[(data["group"] == "Overall") & data["level"].isin(["Female", "Male"])]
    printed = [int(x.split(" ")[0].replace(",", "")) for x in sex[overall]]
    assert got["n"].astype(int).tolist() == printed
    assert (got["percent"].between(0, 100)).all()
    age = data[(data["level"] == "median (IQR)") & (data["group"] == "Overall")].iloc[0]
    assert age["q1"] <= age["median"] <= age["q3"]


def test_table1_data_leave_a_hidden_count_empty(composed_suppressed):
    data = composed_suppressed[2]["table1"].data
    hidden = data[data["suppressed"] != ""]
    assert len(hidden) and hidden["n"].isna().all()
    assert not data["n"].dropna().between(1, SUPPRESS_BELOW - 1).any()
