"""Plausibility of values, per field, in ``schema``: ranges, date windows, integers that never
wrap, conventional missing codes and decimal marks that only one reading makes plausible.

Oracles: the field ranges of ``schema`` (ages 0-110 years, times 0-1200 months, counts
1-200), hand computation on the small tables below (1234 days / 30.4375 = 40.542 months),
and the handed reproducers ``tests/data/dates_edge.csv`` and
``tests/data/C04_csv_de_thousands_dfi_days.csv`` (issue 10).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv import load_cohort, schema

DATA = Path(__file__).resolve().parents[1] / "data"
TODAY = "2026-01-01"


def _flow_adds_up(cohort) -> None:
    for _, f in cohort.flow.groupby("table"):
        n = f.set_index("step")["n"]
        assert n["read"] == n["analysed"] + f.loc[f["step"] == "excluded", "n"].sum()


def _load(df, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow warning
        cohort = load_cohort(df, today=kw.pop("today", TODAY), **kw)
    _flow_adds_up(cohort)
    return cohort


def _t(**cols) -> pd.DataFrame:
    n = max(len(v) for v in cols.values() if isinstance(v, list))
    base = {"patient_id": [f"P{i}" for i in range(n)], "os_months": ["10"] * n,
            "os_event": ["1"] * n}
    return pd.DataFrame({**base, **cols})


def _rules(cohort, column: str) -> list[str]:
    f = cohort.findings
    return f.loc[f["column"] == column, "rule"].tolist()


def test_range_every_number_field_states_its_range():
    for fld in (*schema.PATIENT_FIELDS, *schema.RESECTION_FIELDS):
        if fld.kind in ("float", "int"):
            assert fld.maximum is not None, fld.name
            assert fld.range_text(), fld.name
    assert schema.PATIENTS["age_at_metastasectomy"].range_text() == "0 to 110 years"
    assert schema.PATIENTS["n_metastases"].range_text() == "1 to 200"
    assert schema.PATIENTS["os_months"].range_text() == "0 to 1200 months"


def test_range_optional_value_outside_becomes_missing_with_finding():
    c = _load(_t(age_at_metastasectomy=["65", "111", "1e308", "-3", "0"]))
    assert c.n_analysed == 5
    ages = c.patients["age_at_metastasectomy"].tolist()
    assert ages[0] == 65 and ages[4] == 0 and np.isnan(ages[1:4]).all()
    f = c.findings[c.findings["column"] == "age_at_metastasectomy"]
    assert f["row"].tolist() == [2, 3, 4]
    assert f["value"].tolist() == ["111", "1e308", "-3"]
    assert all("(0 to 110 years)" in r and "set to missing" in r for r in f["rule"])


def test_range_required_time_outside_excludes_the_row():
    c = _load(_t(os_months=["12", "1e308", "1201", "inf"]))
    assert c.patients["patient_id"].tolist() == ["P0"]
    assert c.excluded().to_dict("records") == [{"reason": "implausible required value",
                                                "count": 3}]
    assert all("0 to 1200 months" in r for r in _rules(c, "os_months"))


def test_range_required_time_outside_with_dates_uses_the_dates():
    df = _t(os_months=["1e308"], metastasectomy_date=["2010-01-01"],
            last_followup_date=["2011-01-01"], vital_status=["alive"])
    c = _load(df)
    assert c.n_analysed == 1 and c.patients.loc[0, "os_months"] == pytest.approx(365 / 30.4375)
    assert "other outcome columns were used" in _rules(c, "os_months")[0]


def test_range_time_in_days_of_1e308_no_overflow_warning():
    df = _t(os_months=["10", "1e308"], dfs_months=["1e308", "30"])
    c = _load(df, mapping={"version": 1, "units": {"os_months": "days", "dfs_months": "days"}})
    assert c.patients["patient_id"].tolist() == ["P0"]
    assert c.patients.loc[0, "os_months"] == pytest.approx(10 / 30.4375)


@pytest.mark.parametrize("value", ["1e19", "9223372036854775808", "1e308", 1e19, 2**63])
def test_integer_never_wraps_huge_count_is_out_of_range(value):
    c = _load(_t(n_metastases=[value, "2"]))
    p = c.patients
    assert pd.isna(p.loc[0, "n_metastases"]) and pd.isna(p.loc[0, "n_metastases_group"])
    assert p.loc[1, "n_metastases"] == 2
    assert (p["n_metastases"].dropna() > 0).all()
    f = c.findings[c.findings["column"] == "n_metastases"]
    assert f["row"].tolist() == [1] and "(1 to 200)" in f["rule"].iloc[0]


def test_missing_code_like_value_out_of_range_is_named_as_such():
    c = _load(_t(age_at_metastasectomy=["999", "-1", "99"], n_metastases=["999", "-9", "99"]))
    p = c.patients
    assert np.isnan(p["age_at_metastasectomy"].tolist()[:2]).all()
    assert p["age_at_metastasectomy"].tolist()[2] == 99  # a plausible age
    assert p["n_metastases"].isna().tolist() == [True, True, False]
    rules = _rules(c, "n_metastases")
    assert rules[0].startswith("999 looks like a missing-value code")
    assert rules[1].startswith("-9 looks like a missing-value code")
    assert rules[2].startswith("99 may be a missing-value code (kept")
    assert _rules(c, "age_at_metastasectomy")[0].startswith("999 looks like a missing-value")


def test_date_window_handed_dates_edge_each_excluded_by_reason():
    c = load_cohort(DATA / "dates_edge.csv", today=TODAY)
    _flow_adds_up(c)
    assert c.patients["patient_id"].tolist() == ["D01", "D11", "D13", "D14"]
    assert (c.patients["os_months"] <= 1200).all()
    err = c.findings[c.findings["severity"] == "error"]
    by_row = err.groupby("row")["rule"].apply(" | ".join)
    assert "before 1900-01-01" in by_row[3]                       # D02, 1800
    assert "future date" in by_row[4]                             # D03, 2200
    assert "unreadable date" in by_row[5]                         # D04, Excel serials as text
    assert "unreadable date" in by_row[6] and "unreadable date" in by_row[7]  # 31.02., 30 Feb
    assert "future date" in by_row[8] and "future date" in by_row[17]  # D07 2090, D16 2099
    assert "before the metastasectomy" in by_row[9]
    assert "longer than 1200 months" in by_row[18]                # D17, operated in 1901
    reasons = dict(zip(c.flow["reason"], c.flow["n"], strict=True))
    assert reasons["implausible required value"] == 5


def test_date_window_today_is_a_parameter_deterministic():
    df = pd.DataFrame({"patient_id": ["a"], "metastasectomy_date": ["2024-01-01"],
                       "last_followup_date": ["2025-06-01"], "vital_status": ["alive"]})
    assert _load(df, today="2026-01-01").n_analysed == 1
    late = _load(df, today="2025-05-31")
    assert late.n_analysed == 0 and late.provenance["today"] == "2025-05-31"
    assert "after the export date 2025-05-31" in _rules(late, "last_followup_date")[0]


def test_date_window_optional_future_date_becomes_missing():
    df = _t(recurrence_date=["2090-01-01", "1899-12-31"], metastasectomy_date="2010-01-01")
    c = _load(df)
    assert c.n_analysed == 2 and c.patients["recurrence_date"].isna().all()
    rules = _rules(c, "recurrence_date")
    assert "future date" in rules[0] and "before 1900-01-01" in rules[1]


def test_decimal_comma_value_plausible_only_under_other_reading_is_missing():
    """'2.500' months read as 2500 and '65.000' years as 65000 in a decimal-comma file."""
    df = _t(os_months=["2,5", "2.500", "12"], age_at_metastasectomy=["65.000", "65,5", "70"],
            dfs_months=["1.300", "1,1", "3"])
    c = _load(df, mapping={"version": 1, "source": {"decimal": ","}})
    assert c.patients["patient_id"].tolist() == ["P0", "P2"]
    assert c.patients["os_months"].tolist() == [2.5, 12.0]
    assert c.patients["age_at_metastasectomy"].isna().tolist() == [True, False]
    assert (c.patients["dfs_months"] < 1200).all()  # never 1300 (derived from OS instead)
    for col in ("os_months", "age_at_metastasectomy", "dfs_months"):
        assert "the marks are ambiguous" in _rules(c, col)[0], col


def test_decimal_comma_csv_sniffed_flags_thousands_reading(tmp_path):
    path = tmp_path / "de.csv"
    path.write_text("patient_id;os_months;os_event;age_at_metastasectomy\n"
                    "a;12,5;1;65,5\nb;2.500;0;70\nc;7,25;1;65.000\n", encoding="utf-8")
    c = _load(path)
    assert c.patients["patient_id"].tolist() == ["a", "c"]
    assert c.patients["age_at_metastasectomy"].isna().tolist() == [False, True]


def test_decimal_thousands_dots_handed_c04_never_0_04_months():
    c = _load(DATA / "C04_csv_de_thousands_dfi_days.csv", mapping=DATA / "C04a_map_days.yaml")
    dfi = c.patients.set_index("patient_id")["dfi_months"]
    assert pd.isna(dfi["0123"]) and pd.isna(dfi["0789"])  # "1.234", "2.100": ambiguous
    assert dfi["0456"] == pytest.approx(456 / 30.4375)
    assert "may group thousands or mark decimals" in _rules(c, "DFI_Tage")[0]


def test_decimal_thousands_dots_declared_comma_reads_1234_days(tmp_path):
    mapping = tmp_path / "map.yaml"
    mapping.write_text((DATA / "C04a_map_days.yaml").read_text(encoding="utf-8")
                       + "source: {decimal: ','}\n", encoding="utf-8")
    c = _load(DATA / "C04_csv_de_thousands_dfi_days.csv", mapping=mapping)
    dfi = c.patients.set_index("patient_id")["dfi_months"]
    assert dfi["0123"] == pytest.approx(1234 / 30.4375) == pytest.approx(40.542, abs=1e-3)
    assert dfi["0789"] == pytest.approx(2100 / 30.4375)
    assert not _rules(c, "DFI_Tage")


def test_decimal_point_column_of_fixed_decimals_is_not_ambiguous():
    """'12.345' months with three decimals throughout: no plain whole number, no doubt."""
    c = _load(_t(os_months=["12.345", "7.500", "100.250"]))
    assert c.patients["os_months"].tolist() == [12.345, 7.5, 100.25]
    assert c.findings.empty or not (c.findings["column"] == "os_months").any()
