"""Two-digit years (issue 10, item 3): "03.04.66" or "66-04-03" is never silently 2066. The
century that puts the date between 1900 and the export date is taken, with an info finding
naming the column; a year that fits both centuries is refused (missing + finding) unless the
mapping gives ``source: {century_pivot: NN}``."""

from __future__ import annotations

import pandas as pd
import pytest

from metsurv.errors import CohortError
from metsurv.io import load_cohort

TODAY = "2024-01-01"
HEADER = "patient_id,metastasectomy_date,last_followup_date,vital_status,primary_treatment_date\n"


def _load(tmp_path, rows, mapping=None, today=TODAY):
    path = tmp_path / "export.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    if mapping is not None:
        (tmp_path / "map.yaml").write_text(mapping)
        mapping = str(tmp_path / "map.yaml")
    return load_cohort(str(path), mapping=mapping, today=today)


def _findings(cohort, column):
    f = cohort.findings
    return f[f["column"] == column]


@pytest.mark.parametrize("written", ["03.04.66", "66-04-03", "3.4.66"])
def test_two_digit_year_in_the_past_century_is_19xx_not_2066(tmp_path, written):
    cohort = _load(tmp_path, [f"A,{written},01.03.75,dead,", "B,1970-01-01,1980-01-01,dead,"])
    p = cohort.patients.set_index("patient_id")
    assert p.loc["A", "metastasectomy_date"] == pd.Timestamp("1966-04-03")
    notes = _findings(cohort, "metastasectomy_date")
    assert (notes["severity"] == "info").all() and len(notes) == 1
    assert "two-digit years read as 19xx" in notes["rule"].iloc[0]


def test_two_digit_year_fitting_both_centuries_is_refused_with_a_finding(tmp_path):
    # 11 is 1911 or 2011 (both before the export date): never guessed
    cohort = _load(tmp_path, ["A,01.02.11,01.06.19,dead,05.05.08",
                              "B,1970-01-01,1980-01-01,dead,"])
    assert cohort.n_analysed == 1
    rules = " ".join(cohort.findings["rule"])
    assert "fits both 19xx and 20xx" in rules and "century_pivot" in rules
    optional = _findings(cohort, "primary_treatment_date")
    assert "(set to missing)" in optional["rule"].iloc[0]


def test_two_digit_year_with_the_mapping_century_pivot(tmp_path):
    cohort = _load(tmp_path, ["A,01.02.11,01.06.19,dead,05.05.08",
                              "B,03.04.66,01.03.75,dead,"],
                   mapping="source:\n  century_pivot: 30\n")
    p = cohort.patients.set_index("patient_id")
    assert p.loc["A", "metastasectomy_date"] == pd.Timestamp("2011-02-01")
    assert p.loc["A", "primary_treatment_date"] == pd.Timestamp("2008-05-05")
    assert p.loc["B", "metastasectomy_date"] == pd.Timestamp("1966-04-03")
    assert cohort.n_analysed == 2
    assert set(_findings(cohort, "metastasectomy_date")["severity"]) == {"info"}


def test_two_digit_year_only_2000s_plausible_after_an_early_export_date(tmp_path):
    # with an export date in 1950, "03.04.20" can only be 1920; "03.04.66" is in neither
    cohort = _load(tmp_path, ["A,03.04.20,01.03.25,dead,", "B,03.04.66,01.03.67,dead,"],
                   today="1950-01-01")
    p = cohort.patients.set_index("patient_id")
    assert p.loc["A", "metastasectomy_date"] == pd.Timestamp("1920-04-03")
    assert "B" not in p.index  # 1966 is after the export date: excluded with a finding
    assert "after the export date" in " ".join(cohort.findings["rule"])


def test_two_digit_year_leap_day_only_in_2000(tmp_path):
    # 29.02.00 exists in 2000 only (1900 is no leap year): 2000, not ambiguous
    cohort = _load(tmp_path, ["A,29.02.00,2005-03-01,dead,"])
    assert cohort.patients["metastasectomy_date"].iloc[0] == pd.Timestamp("2000-02-29")


def test_four_digit_years_have_no_two_digit_note(tmp_path):
    cohort = _load(tmp_path, ["A,03.04.1966,1975-03-01,dead,"])
    assert not cohort.findings["rule"].str.contains("two-digit").any()


@pytest.mark.parametrize("pivot", ["-1", "101", "'30'", "true", "2.5"])
def test_century_pivot_not_a_whole_number_is_refused(tmp_path, pivot):
    with pytest.raises(CohortError, match="century_pivot"):
        _load(tmp_path, ["A,03.04.66,01.03.75,dead,"], mapping=f"source:\n  century_pivot: {pivot}\n")


def test_two_digit_years_are_resolved_per_distinct_value(tmp_path):
    # many rows, few distinct dates: the resolution runs on the distinct values (vectorised)
    rows = [f"P{i},03.04.66,01.03.75,dead," for i in range(2000)]
    cohort = _load(tmp_path, rows)
    assert (cohort.patients["metastasectomy_date"] == pd.Timestamp("1966-04-03")).all()
    note = _findings(cohort, "metastasectomy_date")
    assert len(note) == 1 and "(2000 rows)" in note["rule"].iloc[0]
