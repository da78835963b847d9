"""Primary site as registries write it (issue 11, item 2): the canonical terms
(``schema.PRIMARY_SITES``), the mapping's ``codes: primary_site`` table, derivation from the
histology text where no site is recorded, and the findings.

Oracles: the usual clinical meaning of each spelling, written down by hand beside each case
(CRC = colorectal carcinoma, RCC = renal cell carcinoma, HNSCC = head and neck squamous cell
carcinoma, osteosarcoma and Ewing sarcoma arise in bone, the other sarcoma subtypes named
here in soft tissue, seminoma/NSGCT in the testis, cutaneous melanoma in the skin).
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from metsurv import CohortError, load_cohort, schema
from metsurv.io import derive
from metsurv.io.mapping import read_mapping
from metsurv.synthetic import generate
from metsurv.synthetic.presets import SUBTYPES

FROM_HISTOLOGY = [
    ("CRC", "colorectal"), ("mCRC", "colorectal"), ("Colon-Ca.", "colorectal"),
    ("Rectal adenocarcinoma", "colorectal"), ("Ca. coli", "colorectal"),
    ("RCC", "kidney"), ("ccRCC", "kidney"), ("clear cell", "kidney"),
    ("Clear-cell carcinoma", "kidney"), ("Nierenzellkarzinom", "kidney"),
    ("HNSCC", "head and neck"), ("Head & Neck SCC", "head and neck"),
    ("Breast ca", "breast"), ("Mamma-Ca", "breast"), ("IDC", "breast"),
    ("Papillary thyroid carcinoma", "thyroid"), ("PTC", "thyroid"),
    ("HCC", "liver"), ("hepatocellular", "liver"),
    ("melanoma", "skin"), ("Malignes Melanom", "skin"), ("uveal melanoma", "eye"),
    ("seminoma", "testis"), ("NSGCT", "testis"),
    ("osteosarcoma", "bone"), ("Ewing", "bone"), ("Ewing-Sarkom", "bone"),
    ("LMS", "soft tissue"), ("UPS/MFH", "soft tissue"), ("synovial sarcoma", "soft tissue"),
    ("liposarcoma", "soft tissue"), ("uterine leiomyosarcoma", "uterus"),
]

#: Texts that name no site, or two: no site is derived from them.
NO_SITE = ["adenocarcinoma", "SCC", "carcinoma NOS", "Tumor X", "GIST", "carcinosarcoma",
           "mixed germ cell tumour", "colorectal liver metastasis", "urothelial carcinoma"]


@pytest.mark.parametrize(("text", "site"), FROM_HISTOLOGY)
def test_histology_names_its_site(text, site):
    assert schema.recognise_primary_site(text) == site
    assert schema.recognise_primary_site(f"  {text.upper()}. ") == site  # case, punctuation


@pytest.mark.parametrize("text", NO_SITE)
def test_no_site_where_the_histology_names_none_or_two(text):
    assert schema.recognise_primary_site(text) is None


def test_every_recognised_site_is_a_canonical_term():
    sites = {s for s, _ in schema.PRIMARY_SITE_WORDS}
    sites |= {s for s, _ in schema.PRIMARY_SITE_BY_HISTOLOGY if s is not None}
    assert sites <= set(schema.PRIMARY_SITES)
    assert all(schema.recognise_primary_site(s) == s for s in schema.PRIMARY_SITES)


@pytest.mark.parametrize(("text", "site"), [
    ("Colon ca", "colorectal"), ("Rektum", "colorectal"), ("Niere", "kidney"),
    ("renal", "kidney"), ("Mamma", "breast"), ("Head and neck", "head and neck"),
    ("head_and_neck", "head and neck"), ("Soft tissue", "soft tissue"), ("Weichteile", "soft tissue"),
    ("Knochen", "bone"), ("Hoden", "testis"), ("cutaneous", "skin"), ("Schilddrüse", "thyroid"),
])
def test_recorded_values_read_through_the_vocabulary(text, site):
    assert schema.recognise_primary_site(text) == site


def _frame(histology, **extra) -> pd.DataFrame:
    n = len(histology)
    return pd.DataFrame({"patient_id": [f"P{i:03d}" for i in range(n)], "os_months": 12.0,
                         "os_event": [i % 2 for i in range(n)], "histology": histology,
                         **extra})


def _site_findings(cohort, rule: str) -> pd.DataFrame:
    f = cohort.findings
    return f[f["rule"].astype(str).str.startswith(rule)]


def test_derived_from_histology_without_a_primary_site_column():
    c = load_cohort(_frame(["CRC", "RCC", "HNSCC", "osteosarcoma", "LMS", "Tumor X", None]),
                    today="2024-01-01")
    assert c.patients["primary_site"].tolist() == [
        "colorectal", "kidney", "head and neck", "bone", "soft tissue", None, None]


def test_a_recorded_value_is_never_overwritten():
    # the histology names another site than the one recorded: the record stands; an empty
    # cell counts as not recorded and is derived
    df = _frame(["CRC", "RCC", "melanoma", "HCC"],
                primary_site=["Rektum", "bladder", "Mucosa", ""])
    c = load_cohort(df, today="2024-01-01")
    assert c.patients["primary_site"].tolist() == ["colorectal", "bladder", "mucosa", "liver"]
    got = derive.primary_site(df.replace({"": None}))
    assert got.tolist() == ["colorectal", "bladder", "mucosa", "liver"]


def test_unplaced_recorded_value_kept_as_written_with_a_finding():
    df = _frame(["CRC"] * 5, primary_site=[" Xyz-Organ ", "Xyz-Organ", "CUP", None, "Kolon"])
    assert derive.primary_site(df).tolist() == [
        "Xyz-Organ", "Xyz-Organ", "CUP", "colorectal", "colorectal"]
    found = derive.primary_site_findings(df, None, {"primary_site": "Primaerlokalisation"})
    assert [(f[0], f[1], f[3]) for f in found] == [
        ("Primaerlokalisation", "Xyz-Organ", "info"), ("Primaerlokalisation", "CUP", "info"),
        ("Primaerlokalisation", "1", "info")]
    assert "(2 rows)" in found[0][2] and "(1 row)" in found[1][2]
    assert "codes: primary_site" in found[0][2]
    assert found[2][2].startswith("primary_site_derived") and "1 patient " in found[2][2]
    assert not any("P00" in f[2] for f in found)  # never a patient id


def test_no_findings_when_every_site_is_recorded_and_placed():
    df = _frame(["CRC", "LMS"], primary_site=["colorectal", "soft tissue"])
    assert derive.primary_site_findings(df) == []
    assert derive.primary_site_findings(pd.DataFrame({"os_months": [1.0]})) == []


def test_derivation_works_on_distinct_values(monkeypatch):
    calls: list[object] = []
    real = schema.recognise_primary_site

    def counting(value):
        calls.append(value)
        return real(value)

    monkeypatch.setattr(schema, "recognise_primary_site", counting)
    df = _frame(["CRC", "RCC"] * 500, primary_site=["Colon", None] * 500)
    got = derive.primary_site(df)
    assert got.iloc[:2].tolist() == ["colorectal", "kidney"]
    assert len(calls) <= 4  # two distinct sites, two distinct histologies: never per row


# ---------------------------------------------------------------- codes: primary_site

MAPPING = {"version": 1, "columns": {"Site": "primary_site"},
           "codes": {"primary_site": {"Ca. coli": "colorectal", "HNO": "head_and_neck",
                                      "Weichteil-Tu": "soft tissue", "Sonstiges": "other"}}}


def test_mapping_table_is_parsed_with_folded_keys_and_canonical_values():
    m = read_mapping(MAPPING)
    assert m.patients.codes["primary_site"] == {
        "ca coli": "colorectal", "hno": "head and neck", "weichteil tu": "soft tissue",
        "sonstiges": "other"}


def test_mapping_table_applied_before_the_vocabulary():
    table = read_mapping(MAPPING).patients.codes["primary_site"]
    df = _frame(["RCC", "CRC", None, "LMS"],
                primary_site=["CA COLI", "Sonstiges", "Zunge", "weichteil-tu."])
    assert derive.primary_site(df, table).tolist() == [
        "colorectal", "other", "head and neck", "soft tissue"]
    # without the table "Sonstiges" is placed nowhere and kept as written
    assert derive.primary_site(df).tolist()[1] == "Sonstiges"
    assert derive.primary_site_findings(df, table) == []


def test_mapping_table_applied_by_load_cohort(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("version: 1\ncolumns: {Site: primary_site}\n"
                    "codes:\n  primary_site: {'Ca. coli': colorectal, Org-X: other}\n")
    df = _frame(["RCC", "LMS", "CRC", "CRC"],
                Site=["CA COLI", "Org-X", "Org-Y", None])
    c = load_cohort(df, path, today="2024-01-01")
    assert c.patients["primary_site"].tolist() == ["colorectal", "other", "Org-Y", "colorectal"]
    unplaced = _site_findings(c, "primary_site_unrecognised")
    assert unplaced["value"].tolist() == ["Org-Y"]
    assert (unplaced["column"] == "Site").all() and (unplaced["severity"] == "info").all()
    derived = _site_findings(c, "primary_site_derived")
    assert derived["value"].tolist() == ["1"]


@pytest.mark.parametrize("value", ["colon", "Kidneys", "epithelial", "", "soft-tissues"])
def test_mapping_value_not_a_site_is_refused_naming_file_key_and_allowed(tmp_path, value):
    path = tmp_path / "centre.yaml"
    path.write_text(f"version: 1\ncodes:\n  primary_site:\n    Darm: '{value}'\n")
    with pytest.raises(CohortError) as err:
        read_mapping(path)
    msg = str(err.value)
    assert msg.startswith("centre.yaml:")
    assert "codes.primary_site" in msg and "'Darm'" in msg and repr(value) in msg
    assert "allowed:" in msg and "'head and neck'" in msg and "'soft tissue'" in msg


def test_mapping_malformed_tables_are_refused():
    with pytest.raises(CohortError, match="must map registry primary-site texts"):
        read_mapping({"version": 1, "codes": {"primary_site": ["colorectal"]}})
    with pytest.raises(CohortError, match="both 'colorectal' and 'other'"):
        read_mapping({"version": 1, "codes": {"primary_site": {"Ca coli": "colorectal",
                                                               "CA. COLI": "other"}}})
    with pytest.raises(CohortError, match="no letters or digits"):
        read_mapping({"version": 1, "codes": {"primary_site": {"--": "colorectal"}}})
    with pytest.raises(CohortError, match="one name"):
        read_mapping({"version": 1, "codes": {"primary_site": {"Darm": ["colorectal"]}}})


# ---------------------------------------------------------------- the bundled synthetic cohort

def test_synthetic_sites_are_canonical_terms_and_read_unchanged():
    for subtypes in SUBTYPES.values():
        for st in subtypes:
            assert st.primary_site in schema.PRIMARY_SITES, st
            assert schema.recognise_primary_site(st.primary_site) == st.primary_site


def _digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy()
                          .tobytes()).hexdigest()


@pytest.mark.parametrize("preset", ["irlm1997", "sarcoma"])
def test_synthetic_cohort_loads_unchanged(monkeypatch, preset):
    raw = generate(preset, n=400, seed=3).patients
    loaded = load_cohort(raw, today="2030-01-01").patients
    assert loaded["primary_site"].tolist() == raw["primary_site"].tolist()
    # the same load without the primary-site step (factors as before it): every column,
    # primary_site included, is identical
    factors = derive.factors
    monkeypatch.setattr(derive, "factors", lambda *a, **k: factors(*a, **k).drop(
        columns="primary_site", errors="ignore"))
    before = load_cohort(raw, today="2030-01-01").patients
    assert list(before.columns) == list(loaded.columns)
    assert _digest(before) == _digest(loaded)
    monkeypatch.undo()
    # without a recorded site, every site derived from the histology is the generator's
    derived = load_cohort(raw.drop(columns="primary_site"), today="2030-01-01").patients
    site = derived["primary_site"]
    assert (site.eq(raw["primary_site"]) | site.isna()).all()
    assert site.notna().mean() > 0.8
