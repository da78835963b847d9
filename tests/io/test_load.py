"""load_cohort: canonical values, derivations and one test per validation rule.

Oracles: the canonical schema (architecture.md), the IRLM definitions (Pastorino 1997, as
summarised in domain.md), and hand computation on small tables (stated beside each number).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv import CohortError, load_cohort, schema


def _reasons(cohort) -> dict[str, int]:
    return {r["reason"]: r["count"] for r in cohort.excluded().to_dict("records")}


def _assert_flow_adds_up(cohort) -> None:
    for table, f in cohort.flow.groupby("table"):
        read = f.loc[f["step"] == "read", "n"].sum()
        excluded = f.loc[f["step"] == "excluded", "n"].sum()
        analysed = f.loc[f["step"] == "analysed", "n"].sum()
        assert read == excluded + analysed, table


def test_clean_table_codes_and_times(registry):
    c = load_cohort(registry)
    p = c.patients
    assert c.n_read == c.n_analysed == 6
    assert p["sex"].tolist() == ["female", "male", "female", "male", "female", "male"]
    assert p["resection_status"].tolist() == ["R0", "R0", "R1", "R0", "R2", "R0"]
    assert p["nodal_status"].tolist() == ["N0", "N1", "NX", "N2", "N0", "N1"]
    # os_months = days / 30.4375: 300 days -> 9.856262...
    np.testing.assert_allclose(p["os_months"], [300 * (i + 1) / 30.4375 for i in range(6)])
    assert p["os_event"].tolist() == [True, False, True, False, True, False]
    assert p["complete_resection"].tolist() == [True, True, False, True, False, True]
    assert p["histology_group"].tolist() == ["sarcoma", "epithelial", "sarcoma", "melanoma",
                                             "germ_cell", "epithelial"]
    lms = p["leiomyosarcoma"]
    assert bool(lms[0]) and not bool(lms[2]) and lms[[1, 3, 4, 5]].isna().all()
    assert isinstance(p["resection_status"].dtype, pd.CategoricalDtype)
    assert list(p["resection_status"].cat.categories) == ["R0", "R1", "R2"]
    _assert_flow_adds_up(c)


def test_dfi_groups_and_irlm_group():
    """IRLM groups by hand: I = R0, DFI >= 36, single; II one risk factor; III both; IV R1/R2."""
    df = pd.DataFrame({
        "patient_id": list("abcdefgh"),
        "os_months": 10.0, "os_event": 1,
        "resection_status": ["R0", "R0", "R0", "R0", "R1", "R2", "R0", None],
        "dfi_months": [40, 40, 5, 5, 40, 1, np.nan, 40],
        "n_metastases": [1, 3, 1, 4, 1, 1, 1, 1],
    })
    p = load_cohort(df).patients
    assert p["dfi_group"].tolist() == [">=36", ">=36", "0-11", "0-11", ">=36", "0-11", np.nan,
                                       ">=36"]
    assert p["n_metastases_group"].tolist() == ["1", "2-3", "1", ">=4", "1", "1", "1", "1"]
    assert p["irlm_group"].astype(object).where(p["irlm_group"].notna(), None).tolist() == [
        "I", "II", "II", "III", "IV", "IV", None, None]


def test_group_cut_points_are_left_closed():
    """DFI 11.99 months is 0-11, 12 is 12-35, 35.99 is 12-35, 36 is >=36 (schema cut-points)."""
    df = pd.DataFrame({"patient_id": list("abcd"), "os_months": 1.0, "os_event": 0,
                       "dfi_months": [11.99, 12.0, 35.99, 36.0], "n_metastases": [1, 2, 3, 4]})
    p = load_cohort(df).patients
    assert p["dfi_group"].tolist() == ["0-11", "12-35", "12-35", ">=36"]
    assert p["n_metastases_group"].tolist() == ["1", "2-3", "2-3", ">=4"]


def test_synchronous_metastasis_gives_dfi_zero_not_an_error(registry):
    df = registry.copy()
    df.loc[0, "metastasis_diagnosis_date"] = "1999-01-01"  # before the primary was treated
    df.loc[0, "primary_treatment_date"] = "2000-01-01"
    df.loc[1, "metastasis_diagnosis_date"] = df.loc[1, "primary_treatment_date"]  # same day
    c = load_cohort(df)
    assert c.n_analysed == 6
    p = c.patients
    assert p.loc[0, "dfi_months"] == 0 and p.loc[0, "synchronous"]
    assert p.loc[1, "dfi_months"] == 0 and p.loc[1, "synchronous"]
    assert not p.loc[2, "synchronous"]
    # DFI from dates: primary 1200 days before 2001-03-01, diagnosis 20 days before it.
    assert p.loc[2, "dfi_months"] == pytest.approx((1200 - 20) / 30.4375)


def test_dfs_from_recurrence_date(registry):
    df = registry.copy()
    df["recurrence_date"] = [None, "2001-09-01", None, None, None, "1999-01-01"]
    p = load_cohort(df).patients
    assert p.loc[1, "dfs_months"] == pytest.approx(184 / 30.4375)  # 2001-03-01 -> 2001-09-01
    assert p.loc[1, "dfs_event"]
    assert p.loc[0, "dfs_months"] == p.loc[0, "os_months"] and p.loc[0, "dfs_event"]  # died
    assert p.loc[3, "dfs_months"] == p.loc[3, "os_months"] and not p.loc[3, "dfs_event"]
    # a recurrence before the operation cannot be placed: DFS missing, not guessed
    assert pd.isna(p.loc[5, "dfs_months"]) and pd.isna(p.loc[5, "first_event"])
    assert p["first_event"].tolist()[:5] == ["death_without_recurrence", "recurrence_site_unknown",
                                             "death_without_recurrence", "event_free",
                                             "death_without_recurrence"]


# --- one test per exclusion rule ------------------------------------------------------------

def test_rule_missing_patient_id(registry):
    df = registry.copy()
    df.loc[2, "patient_id"] = ""
    c = load_cohort(df)
    assert _reasons(c) == {"missing patient_id": 1}
    f = c.findings[c.findings["severity"] == "error"].iloc[0]
    assert f["row"] == 3 and f["column"] == "patient_id"


def test_rule_duplicate_patient_id_keeps_first(registry):
    df = registry.copy()
    df.loc[4, "patient_id"] = "P001"
    c = load_cohort(df)
    assert _reasons(c) == {"duplicate patient_id": 1}
    assert c.patients["patient_id"].tolist().count("P001") == 1
    assert c.patients.loc[c.patients["patient_id"] == "P001", "source_row"].item() == 1


def test_rule_unreadable_required_date(registry):
    df = registry.copy()
    df.loc[1, "metastasectomy_date"] = "2001-02-31"
    c = load_cohort(df)
    assert _reasons(c) == {"unreadable required date": 1}
    f = c.findings[c.findings["severity"] == "error"].iloc[0]
    assert (f["row"], f["column"], f["value"], f["patient_id"]) == (2, "metastasectomy_date",
                                                                   "2001-02-31", "P002")


def test_rule_unknown_required_code(registry):
    df = registry.copy()
    df.loc[3, "vital_status"] = "???"
    c = load_cohort(df)
    assert _reasons(c) == {"unknown required code": 1}


def test_rule_no_usable_outcome(registry):
    df = registry.copy()
    df.loc[0, "last_followup_date"] = ""
    c = load_cohort(df)
    assert _reasons(c) == {"no usable time origin or outcome": 1}


def test_rule_followup_before_operation(registry):
    df = registry.copy()
    df.loc[5, "last_followup_date"] = "2000-01-01"
    c = load_cohort(df)
    assert _reasons(c) == {"follow-up before metastasectomy": 1}


def test_rule_negative_given_time():
    df = pd.DataFrame({"patient_id": ["a", "b"], "os_months": [-0.5, 3], "os_event": [1, 0]})
    c = load_cohort(df)
    assert _reasons(c) == {"negative time": 1}


def test_bad_optional_value_becomes_missing_with_warning(registry):
    df = registry.astype({"n_metastases": object})
    df.loc[0, "nodal_status"] = "N7"
    df.loc[1, "n_metastases"] = "two"
    df.loc[2, "n_metastases"] = 0
    c = load_cohort(df)
    assert c.n_analysed == 6
    p = c.patients
    assert pd.isna(p.loc[0, "nodal_status"]) and pd.isna(p.loc[1, "n_metastases"])
    assert pd.isna(p.loc[2, "n_metastases"])
    w = c.findings[c.findings["severity"] == "warning"]
    assert set(zip(w["row"], w["column"], w["value"], strict=True)) == {
        (1, "nodal_status", "N7"), (2, "n_metastases", "two"), (3, "n_metastases", 0)}


def test_given_time_fallback_when_dates_missing(registry):
    df = registry.copy()
    df["os_months"] = [1.0, 2, 3, 4, 5, 6]
    df["os_event"] = ["yes", "no", "yes", "no", "yes", "no"]
    df.loc[0, "last_followup_date"] = "garbage"
    c = load_cohort(df)
    assert c.n_analysed == 6
    assert c.patients.loc[0, "os_months"] == 1.0
    # the other rows use the dates and their given os_months disagree: a warning each
    assert (c.findings["rule"].str.contains("disagree")).sum() == 5


# --- mapping files ----------------------------------------------------------------------------

GERMAN = """
version: 1
columns: {PatNr: patient_id, Geschlecht: sex, OP_Datum: metastasectomy_date,
          Letzter_Kontakt: last_followup_date, Status: vital_status, Resektion: resection_status,
          Anzahl: n_metastases, DFI_Tage: dfi_months}
codes:
  vital_status: {lebt: alive, verstorben: dead}
  resection_status: {radikal: R0}
missing: {all: ["99", "unk", "."]}
dates: {all: "%d.%m.%Y"}
units: {dfi_months: days}
"""


def test_mapping_renames_codes_missing_dates_units(tmp_path):
    (tmp_path / "map.yaml").write_text(GERMAN)
    df = pd.DataFrame({
        "PatNr": ["1", "2", "3"], "Geschlecht": ["w", "m", "unk"],
        "OP_Datum": ["01.03.2001", "15.06.2002", "31.12.2003"],
        "Letzter_Kontakt": ["01.03.2002", "15.06.2002", "."],
        "Status": ["verstorben", "lebt", "lebt"], "Resektion": ["radikal", "R1", "99"],
        "Anzahl": ["1", "99", "3"], "DFI_Tage": ["365,25", "0", "730.5"], "Extra": ["x", "y", "z"]})
    c = load_cohort(df, mapping=tmp_path / "map.yaml")
    p = c.patients
    assert _reasons(c) == {"no usable time origin or outcome": 1}
    assert p["sex"].tolist() == ["female", "male"]
    assert p["resection_status"].tolist() == ["R0", "R1"]
    assert p["os_months"].tolist() == [365 / 30.4375, 0.0]
    assert p["n_metastases"].isna().tolist() == [False, True]
    # 365.25 days is 12 months exactly; decimal "," is not this DataFrame's decimal mark
    assert pd.isna(p.loc[0, "dfi_months"]) and p.loc[1, "dfi_months"] == 0
    assert ("Extra" in c.findings["column"].tolist())


@pytest.mark.parametrize("text, fragment", [
    ("version: 1\ncolums: {a: patient_id}\n", "unknown key"),
    ("version: 1\ncolumns: {a: patient_identifier}\n", "not a canonical"),
    ("version: 1\ncodes: {sex: {w: woman}}\n", "allowed"),
    ("version: 1\ndates: {metastasectomy_date: 'dd.mm.yyyy'}\n", "strptime"),
    ("version: 1\nunits: {os_months: fortnights}\n", "fortnights"),
    ("version: 2\n", "version"),
    ("version: 1\ncolumns: [a, b\n", "not valid YAML"),
    ("", "empty"),
])
def test_mapping_errors_name_the_file(tmp_path, text, fragment):
    path = tmp_path / "bad_map.yaml"
    path.write_text(text)
    with pytest.raises(CohortError, match=fragment) as err:
        load_cohort(pd.DataFrame({"patient_id": ["a"], "os_months": [1], "os_event": [0]}),
                    mapping=path)
    assert "bad_map.yaml" in str(err.value)


def test_missing_required_columns_is_a_file_level_error():
    with pytest.raises(CohortError, match="outcome"):
        load_cohort(pd.DataFrame({"patient_id": ["a"], "sex": ["f"]}))
    with pytest.raises(CohortError, match="patient_id"):
        load_cohort(pd.DataFrame({"id": ["a"], "os_months": [1], "os_event": [1]}))


def test_mapping_naming_absent_column(tmp_path):
    with pytest.raises(CohortError, match="PatNr"):
        load_cohort(pd.DataFrame({"patient_id": ["a"], "os_months": [1], "os_event": [1]}),
                    mapping={"version": 1, "columns": {"PatNr": "patient_id"}})


# --- resections table -------------------------------------------------------------------------

def test_resections_sequence_counts_and_counting_process(registry):
    res = pd.DataFrame({
        "patient_id": ["P001", "P002", "P002", "P002", "P003", "P999", "P004"],
        "operation_date": ["2001-03-01", "2002-03-01", "2001-03-01", "2001-09-01", "2001-03-01",
                           "2001-03-01", "not a date"],
        "resection_status": ["R0", "R0", "R0", "R1", "R1", "R0", "R0"],
    })
    c = load_cohort(registry, resections=res)
    r = c.resections
    p2 = r[r["patient_id"] == "P002"]
    assert p2["operation_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2001-03-01", "2001-09-01", "2002-03-01"]
    assert p2["sequence"].tolist() == [1, 2, 3]
    assert _reasons_res(c) == {"resection of a patient not in the cohort": 1,
                               "resection without a usable operation date": 1}
    p = c.patients.set_index("patient_id")
    assert p.loc["P002", "n_metastasectomies"] == 3 and p.loc["P002", "repeat_resection"]
    assert p.loc["P001", "n_metastasectomies"] == 1 and not p.loc["P001", "repeat_resection"]
    assert p.loc["P004", "n_metastasectomies"] == 1  # no usable row: counted once, warned
    cp = c.counting_process[c.counting_process["patient_id"] == "P002"]
    # P002: alive at 600 days; repeats at 184 and 365 days after the first operation
    np.testing.assert_allclose(cp["start"], [0, 184 / 30.4375, 365 / 30.4375])
    np.testing.assert_allclose(cp["stop"], [184 / 30.4375, 365 / 30.4375, 600 / 30.4375])
    assert cp["resection_number"].tolist() == [1, 2, 3]
    assert cp["repeat_resection"].tolist() == [False, True, True]
    assert cp["event"].tolist() == [False, False, False]
    one = c.counting_process[c.counting_process["patient_id"] == "P001"]
    assert one[["start", "stop", "event"]].values.tolist() == [[0.0, 300 / 30.4375, True]]
    assert len(c.counting_process) == 6 + 2


def _reasons_res(cohort) -> dict[str, int]:
    return {r["reason"]: r["count"] for r in cohort.excluded("resections").to_dict("records")}


def test_time_origin_from_first_resection(registry):
    df = registry.drop(columns=["metastasectomy_date"])
    res = pd.DataFrame({"patient_id": df["patient_id"], "operation_date": "2001-03-01"})
    c = load_cohort(df, resections=res)
    assert c.n_analysed == 6
    np.testing.assert_allclose(c.patients["os_months"],
                               [300 * (i + 1) / 30.4375 for i in range(6)])


def test_schema_codes_are_the_only_codes():
    assert schema.codes("resection_status") == ("R0", "R1", "R2")
    assert schema.SYNONYMS["resection_status"]["radical"] == "R0"
    assert schema.SYNONYMS["nodal_status"]["pn1"] == "N1"
    assert schema.SYNONYMS["sex"]["w"] == "female"
    assert schema.FIELD_BOOLEAN_SYNONYMS["leiomyosarcoma"]["lms"] is True


def test_numbers_from_text_are_correctly_rounded():
    """Every double printed with repr() reads back bit for bit (oracle: Python's float()).

    pandas' default fast parser is off by one ulp for ~14% of such values, which would split
    near-tied times that R's aeqSurv treats as one.
    """
    values = np.random.default_rng(0).random(2000) * 100
    df = pd.DataFrame({"patient_id": [str(i) for i in range(2000)],
                       "os_months": [repr(float(v)) for v in values], "os_event": "1"})
    got = load_cohort(df).patients["os_months"].to_numpy()
    assert (got == values).all()
