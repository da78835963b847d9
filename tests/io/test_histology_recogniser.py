"""Histology as registries write it (issue 11, item 2): the recogniser, the "other" findings
and the mapping's ``codes: histology`` table.

Oracles: the IRLM histology classes (Pastorino 1997: epithelial, sarcoma, germ cell,
melanoma; domain.md) and the usual clinical meaning of each spelling (CRC = colorectal
carcinoma, UPS/MFH = undifferentiated pleomorphic sarcoma, NSGCT = non-seminomatous germ
cell tumour, ...), written down by hand beside each case.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv import CohortError, load_cohort, schema
from metsurv.io import derive
from metsurv.io.mapping import read_mapping

E, S, G, M, OT = "epithelial", "sarcoma", "germ_cell", "melanoma", "other"

SPELLINGS = [
    # colorectal
    ("CRC", E), ("colon ca", E), ("Colon-Ca.", E), ("Rectal adenocarcinoma", E),
    ("Ca. coli", E), ("Kolorektales Karzinom", E), ("Rektumkarzinom", E), ("mCRC", E),
    ("Colonic adenocarcinoma", E), ("Sigmoid carcinoma", E),
    # renal
    ("RCC", E), ("clear-cell", E), ("Clear cell RCC", E), ("ccRCC", E), ("Nierenzellkarzinom", E),
    ("NZK", E), ("renal cell carcinoma", E), ("Hypernephroma", E),
    # head and neck
    ("HNSCC", E), ("Head & Neck SCC", E), ("Plattenepithelkarzinom", E), ("PECA", E),
    # breast, thyroid, liver and other carcinomas
    ("Breast ca", E), ("Breast ca.", E), ("Mamma-Ca", E), ("thyroid", E),
    ("Papillary thyroid carcinoma", E), ("Schilddrüsenkarzinom", E), ("HCC", E),
    ("hepatocellular", E), ("Urothelial carcinoma", E), ("Oesophagus-Ca", E),
    ("sarcomatoid carcinoma", E), ("Sarcomatoid RCC", E), ("Sarkomatoides Karzinom", E),
    # sarcoma subtypes
    ("LMS", S), ("Leiomyosarkom", S), ("uterine leiomyosarcoma", S), ("UPS", S), ("MFH", S),
    ("UPS/MFH", S), ("undifferentiated pleomorphic sarcoma", S), ("synovial sarcoma", S),
    ("Synovial", S), ("Synovialsarkom", S), ("liposarcoma", S), ("myxoid liposarcoma", S),
    ("osteosarcoma", S), ("Osteosarkom", S), ("Ewing", S), ("Ewing-Sarkom", S),
    ("Ewing's sarcoma", S), ("rhabdomyosarcoma", S), ("RMS", S), ("MPNST", S), ("GIST", S),
    ("clear cell sarcoma", S), ("carcinosarcoma", S), ("Chondrosarkom", S),
    # germ cell
    ("seminoma", G), ("Seminom", G), ("NSGCT", G), ("teratoma", G), ("mature teratoma", G),
    ("Keimzelltumor", G), ("embryonal carcinoma", G), ("Embryonales Karzinom", G),
    ("Chorionkarzinom", G), ("mixed germ cell tumour", G), ("yolk sac tumour", G),
    # melanoma
    ("melanoma", M), ("mal. melanoma", M), ("Malignes Melanom", M), ("MELANOMA, UVEAL", M),
    # recognised entities outside the four classes
    ("Wilms tumour", OT), ("nephroblastoma (Wilms tumour)", OT), ("Thymom", OT),
]


@pytest.mark.parametrize(("text", "group"), SPELLINGS)
def test_spelling_gives_its_group(text, group):
    assert schema.recognise_histology(text) == group


def test_spellings_as_a_column_and_case_and_punctuation_do_not_matter():
    assert len(SPELLINGS) >= 40
    texts = [t for t, _ in SPELLINGS]
    variants = texts + [t.upper() for t in texts] + [f"  {t.lower()}. " for t in texts]
    got = derive.histology_group(pd.Series(variants, dtype=object)).astype(object).tolist()
    assert got == [g for _, g in SPELLINGS] * 3


@pytest.mark.parametrize("text", ["logistic registry", "cups", "scarcity", "Upset",
                                  "calms", "Tumor X", "CUP", "neoplasm NOS"])
def test_abbreviations_match_only_as_whole_words(text):
    """"gist" inside "registry", "ups" inside "cups", "ca"/"scc"/"lms" inside longer words:
    none of them places the text."""
    assert schema.recognise_histology(text) is None
    assert derive.histology_group(pd.Series([text])).tolist() == [OT]


def test_leiomyosarcoma_flag_from_text():
    texts = pd.Series(["LMS", "Leiomyo-sarcoma", "Leiomyosarkom", "uterine leiomyosarcoma",
                       "liposarcoma", "Helms tumour", None], dtype=object)
    got = derive.is_leiomyosarcoma_text(texts)
    assert got.iloc[:6].tolist() == [True, True, True, True, False, False]
    assert pd.isna(got.iloc[6])


def test_missing_and_empty_text_stay_missing():
    got = derive.histology_group(pd.Series([None, "", "  ", "CRC"], dtype=object))
    assert got.isna().tolist() == [True, True, True, False]


def _frame(histology, **extra) -> pd.DataFrame:
    n = len(histology)
    return pd.DataFrame({"patient_id": [f"P{i:03d}" for i in range(n)], "os_months": 12.0,
                         "os_event": [i % 2 for i in range(n)], "histology": histology,
                         **extra})


def _histology_findings(cohort) -> pd.DataFrame:
    f = cohort.findings
    return f[f["rule"].astype(str).str.startswith("histology_unrecognised")]


def test_unplaced_value_is_other_with_one_finding_per_text_and_its_count():
    hist = ["Tumor X", "CRC", "Tumor X", "CUP", "Tumor X", None, "LMS"]
    c = load_cohort(_frame(hist), today="2024-01-01")
    assert c.patients["histology_group"].astype(object).where(
        c.patients["histology_group"].notna(), None).tolist() == [OT, E, OT, OT, OT, None, S]
    f = _histology_findings(c)
    assert f["value"].tolist() == ["Tumor X", "CUP"]  # most frequent first, one per text
    assert "(3 rows)" in f["rule"].iloc[0] and "(1 row)" in f["rule"].iloc[1]
    assert (f["severity"] == "warning").all() and (f["column"] == "histology").all()
    # never more than the value text: no row number, no patient id, no id in the rule
    assert f["row"].isna().all() and f["patient_id"].isna().all()
    assert not f["rule"].str.contains("P0").any()


def test_no_finding_where_the_registry_gave_the_group_or_the_lms_flag():
    df = _frame(["Tumor X", "Tumor X", "Spindle cell tumour"],
                histology_group=["sarcoma", None, None], leiomyosarcoma=[None, None, "yes"])
    c = load_cohort(df, today="2024-01-01")
    assert c.patients["histology_group"].astype(object).tolist() == [S, OT, S]
    assert c.patients["leiomyosarcoma"].iloc[2]
    f = _histology_findings(c)
    assert f["value"].tolist() == ["Tumor X"] and "(1 row)" in f["rule"].iloc[0]


def test_mapping_table_overrides_the_recogniser():
    mapping = {"version": 1, "codes": {"histology": {
        "Ca. coli": "epithelial", "Tumor X": "sarcoma", "CRC": "other"}}}
    df = _frame(["CA COLI", "ca coli", "tumor x.", "CRC", "Tumor Y", "RCC"])
    c = load_cohort(df, mapping=mapping, today="2024-01-01")
    assert c.patients["histology_group"].astype(object).tolist() == [E, E, S, OT, OT, E]
    assert _histology_findings(c)["value"].tolist() == ["Tumor Y"]  # "CRC" was placed


def test_mapping_histology_terms_are_checked():
    with pytest.raises(CohortError, match="allowed"):
        read_mapping({"version": 1, "codes": {"histology": {"Ca. coli": "carcinoma"}}})
    with pytest.raises(CohortError, match="both"):
        read_mapping({"version": 1, "codes": {"histology": {"Ca. coli": "epithelial",
                                                            "CA COLI": "sarcoma"}}})
    with pytest.raises(CohortError, match="histology"):
        read_mapping({"version": 1, "codes": {"histology": ["Ca. coli"]}})
    with pytest.raises(CohortError, match="not a coded"):
        read_mapping({"version": 1, "resections": {"codes": {"histology": {"x": "other"}}}})
    m = read_mapping({"version": 1, "codes": {"histology": {"Ca. coli": "epithelial",
                                                            "ca coli": "epithelial"}}})
    assert m.patients.codes["histology"] == {"ca coli": "epithelial"}
    assert m.to_dict()["patients"]["codes"]["histology"] == {"ca coli": "epithelial"}


def test_load_cohort_end_to_end_csv_with_yaml_mapping(tmp_path):
    csv = tmp_path / "registry.csv"
    csv.write_text(
        "PatNr;OP_Datum;Letzter_Kontakt;Status;Histologie\n"
        "1;01.02.2010;01.02.2012;verstorben;CRC\n"
        "2;01.03.2010;01.03.2014;lebend;Leiomyosarkom\n"
        "3;01.04.2010;01.04.2011;verstorben;NSGCT\n"
        "4;01.05.2010;01.05.2013;lebend;Mal. Melanom\n"
        "5;01.06.2010;01.06.2012;verstorben;Ca. coli\n"
        "6;01.07.2010;01.07.2012;lebend;Ratselhafter Tumor\n"
        "7;01.08.2010;01.08.2012;lebend;Ratselhafter Tumor\n"
        "8;01.09.2010;01.09.2012;lebend;Tu. testis\n",
        encoding="utf-8")
    yml = tmp_path / "registry.yaml"
    yml.write_text(
        "version: 1\n"
        "columns: {PatNr: patient_id, OP_Datum: metastasectomy_date,\n"
        "          Letzter_Kontakt: last_followup_date, Status: vital_status,\n"
        "          Histologie: histology}\n"
        "codes:\n"
        "  histology:\n"
        "    \"Tu. testis\": germ_cell\n",
        encoding="utf-8")
    c = load_cohort(csv, mapping=yml, today="2024-01-01")
    p = c.patients
    assert c.n_analysed == 8
    assert p["histology_group"].astype(object).tolist() == [E, S, G, M, E, OT, OT, G]
    assert p["leiomyosarcoma"].iloc[1] and pd.isna(p["leiomyosarcoma"].iloc[0])
    f = _histology_findings(c)
    assert len(f) == 1
    rec = f.iloc[0]
    assert (rec["column"], rec["value"], rec["severity"]) == ("Histologie", "Ratselhafter Tumor",
                                                               "warning")
    assert "(2 rows)" in rec["rule"] and pd.isna(rec["row"]) and rec["patient_id"] is None
    assert np.isin(["6", "7"], [str(v) for v in f.to_numpy().ravel()]).sum() == 0
