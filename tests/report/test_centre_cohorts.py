"""Reports of cohorts that look like other centres' exports (issue 11): their own column
names, codes, abbreviations and date formats, and missing sections (no recurrence data, no
resections table, one histology, nodes never assessed, outcome only). Every section of each
report is either supported by the data or replaced by one line saying why, and
provenance.json's "sections" says the same. Oracle: what each cohort was made to lack
(synthetic truth)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from metsurv.cli import main

DAYS = 30.4375


def _outcomes(rng: np.random.Generator, n: int) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex,
                                                          np.ndarray]:
    op = pd.Timestamp("1998-01-01") + pd.to_timedelta(rng.integers(0, 4000, n), unit="D")
    t_death = rng.exponential(50, n)
    t_cens = rng.uniform(6, 150, n)
    dead = t_death <= t_cens
    last = op + pd.to_timedelta(np.round(np.minimum(t_death, t_cens) * DAYS), unit="D")
    return op, last, dead


def _centre_a(folder: Path) -> tuple[Path, Path]:
    """A German-style export: its own column names and codes, dd.mm.yyyy dates, histology
    abbreviations, no recurrence data, no resections table."""
    rng = np.random.default_rng(31)
    n = 160
    op, last, dead = _outcomes(rng, n)
    df = pd.DataFrame({
        "PatNr": [f"A{i:04d}" for i in range(n)],
        "Geschlecht": rng.choice(["w", "m"], n),
        "OP_Datum": op.strftime("%d.%m.%Y"),
        "Letzte_Nachsorge": last.strftime("%d.%m.%Y"),
        "Status": np.where(dead, "verstorben", "lebend"),
        "R_Status": rng.choice(["R0", "R1", "R2"], n, p=[0.8, 0.15, 0.05]),
        "Histologie": rng.choice(["adenocarcinoma", "renal cell carcinoma", "leiomyosarcoma",
                                  "osteosarcoma", "melanoma"], n, p=[.4, .2, .15, .15, .1]),
        "Anzahl_Met": rng.choice([1, 2, 3, 5], n),
        "DFI_Monate": rng.gamma(1.5, 18, n).round(1),
    })
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "export_a.csv"
    df.to_csv(data, index=False, sep=";")
    mapping = folder / "centre_a.yaml"
    mapping.write_text(yaml.safe_dump({
        "version": 1,
        "source": {"delimiter": ";"},
        "columns": {"PatNr": "patient_id", "Geschlecht": "sex", "OP_Datum":
                    "metastasectomy_date", "Letzte_Nachsorge": "last_followup_date",
                    "Status": "vital_status", "R_Status": "resection_status",
                    "Histologie": "histology", "Anzahl_Met": "n_metastases",
                    "DFI_Monate": "dfi_months"},
        "codes": {"sex": {"w": "female", "m": "male"},
                  "vital_status": {"verstorben": "dead", "lebend": "alive"}},
        "dates": {"all": "%d.%m.%Y"},
    }, sort_keys=False))
    return data, mapping


def _centre_b(folder: Path) -> Path:
    """A sarcoma centre: one histology, nodes never assessed, a resections table and
    recurrences; a study config with nodal status and a landmark."""
    rng = np.random.default_rng(32)
    n = 140
    op, last, dead = _outcomes(rng, n)
    ids = [f"B{i:04d}" for i in range(n)]
    t_rec = rng.exponential(30, n)
    rec = (op + pd.to_timedelta(np.round(t_rec * DAYS), unit="D")) < last
    rec_date = pd.Series(op + pd.to_timedelta(np.round(t_rec * DAYS), unit="D"))
    df = pd.DataFrame({
        "patient_id": ids,
        "histology": rng.choice(["leiomyosarcoma", "synovial sarcoma", "liposarcoma"], n),
        "metastasectomy_date": op.strftime("%Y-%m-%d"),
        "last_followup_date": last.strftime("%Y-%m-%d"),
        "vital_status": np.where(dead, "dead", "alive"),
        "resection_status": rng.choice(["R0", "R1"], n, p=[0.85, 0.15]),
        "nodal_status": "NX",
        "n_metastases": rng.choice([1, 2, 4], n),
        "dfi_months": rng.gamma(1.5, 15, n).round(1),
        "recurrence_date": rec_date.where(rec).dt.strftime("%Y-%m-%d"),
        "recurrence_site": np.where(rec, rng.choice(["pulmonary", "extrathoracic"], n), None),
    })
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / "patients.csv", index=False)
    res = pd.DataFrame({"patient_id": ids, "operation_date": op.strftime("%Y-%m-%d"),
                        "resection_status": df["resection_status"]})
    again = rec & (rng.uniform(size=n) < 0.4)
    second = pd.Series(op + pd.to_timedelta(np.round((t_rec + 1) * DAYS), unit="D"))
    ok = again & (second < last).to_numpy()
    res = pd.concat([res, pd.DataFrame({"patient_id": np.asarray(ids)[ok],
                                        "operation_date": second[ok].dt.strftime("%Y-%m-%d"),
                                        "resection_status": "R0"})], ignore_index=True)
    res.to_csv(folder / "resections.csv", index=False)
    cfg = folder / "sarcoma_centre.yaml"
    cfg.write_text(yaml.safe_dump({
        "title": "Sarcoma centre",
        "data": {"source": "patients.csv", "resections": "resections.csv"},
        "factors": ["complete_resection", "dfi_group", "nodal_status", "histology_group",
                    "leiomyosarcoma"],
        "table1": {"by": "complete_resection"},
        "cox": {"covariates": ["complete_resection", "dfi_group"]},
        "landmark_times": [24],
        "formats": ["svg"],
    }, sort_keys=False))
    return cfg


def _centre_c(folder: Path) -> tuple[Path, Path]:
    """Outcome only: id, operation, follow-up, vital status (an audit extract)."""
    rng = np.random.default_rng(33)
    n = 120
    op, last, dead = _outcomes(rng, n)
    df = pd.DataFrame({"id": [f"C{i}" for i in range(n)],
                       "op": op.strftime("%Y-%m-%d"), "fu": last.strftime("%Y-%m-%d"),
                       "dead": np.where(dead, "yes", "no")})
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "audit.csv"
    df.to_csv(data, index=False)
    mapping = folder / "audit.yaml"
    mapping.write_text(yaml.safe_dump({
        "version": 1,
        "columns": {"id": "patient_id", "op": "metastasectomy_date",
                    "fu": "last_followup_date", "dead": "vital_status"},
        "codes": {"vital_status": {"yes": "dead", "no": "alive"}}}, sort_keys=False))
    return data, mapping


def _sections(out: Path) -> dict[str, dict]:
    prov = json.loads((out / "provenance.json").read_text())
    entries = prov["sections"]
    for e in entries:
        assert set(e) == {"id", "title", "shown", "reason"}, e
        assert e["shown"] == (e["reason"] is None), e  # shown, or a reason why not
    return {e["id"]: e for e in entries}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("centres")
    out = {}
    data, mapping = _centre_a(root / "a")
    assert main(["report", str(data), "--mapping", str(mapping), "--out",
                 str(root / "a" / "report")]) == 0
    out["a"] = root / "a" / "report"
    cfg = _centre_b(root / "b")
    assert main(["report", str(cfg), "--out", str(root / "b" / "report")]) == 0
    out["b"] = root / "b" / "report"
    data, mapping = _centre_c(root / "c")
    assert main(["report", str(data), "--mapping", str(mapping), "--out",
                 str(root / "c" / "report")]) == 0
    out["c"] = root / "c" / "report"
    return out


def test_no_recurrence_data_no_competing_risks_curve(reports):
    """Centre A records no recurrences: no 1 - KM drawn as 'recurrence and death'."""
    s = _sections(reports["a"])
    assert s["competing"]["shown"] is False and "recurrence" in s["competing"]["reason"]
    assert not (reports["a"] / "figures" / "cif_recurrence.svg").exists()
    html = (reports["a"] / "index.html").read_text()
    assert "Not shown: " in html and "recurrence cannot be set against death" in html


def test_sections_supported_by_the_data_are_shown(reports):
    s = _sections(reports["a"])
    for sec in ("cohort", "survival", "cox", "irlm", "methods"):
        assert s[sec]["shown"], s[sec]
    assert s["km_complete_resection"]["shown"]
    # the default report asks for nodal status and a landmark: this export has neither
    # nodes nor a resections table, and says so
    assert s["km_nodal_status"]["shown"] is False
    assert s["landmark"]["shown"] is False and "resections table" in s["landmark"]["reason"]
    assert not any(e["reason"].startswith("Not shown") for e in s.values() if e["reason"])


def test_histology_abbreviations_and_an_unplaced_text_are_reported(tmp_path):
    """CRC, RCC, HNSCC, 'Breast ca' are epithelial; a text no rule places is read as other,
    and the report's data checks name it (the reader maps it in the mapping file)."""
    data, mapping = _centre_a(tmp_path)
    df = pd.read_csv(data, sep=";", dtype=str)
    df["Histologie"] = (["CRC", "RCC", "HNSCC", "Breast ca", "LMS", "Spindelzell-Tu"]
                        * 30)[:len(df)]
    df.to_csv(data, sep=";", index=False)
    assert main(["report", str(data), "--mapping", str(mapping), "--out",
                 str(tmp_path / "report")]) == 0
    t1 = pd.read_csv(tmp_path / "report" / "tables" / "table1.csv")  # Table 1's numbers
    overall = t1[t1["group"] == "Overall"]
    rows = dict(zip(overall["level"], overall["n"], strict=False))
    assert rows["Epithelial"] == 108  # 4 of every 6 rows of 160, rounded down
    findings = pd.read_csv(tmp_path / "report" / "tables" / "findings.csv", dtype=str)
    assert findings["Rule"].str.contains("histology_unrecognised.*'Spindelzell-Tu'").any()


def test_nodes_never_assessed_and_landmark_with_resections(reports):
    """Centre B: nodal status all NX is replaced by its reason; the resections table makes
    the landmark analysis; recurrences make the competing-risks section."""
    s = _sections(reports["b"])
    assert s["km_nodal_status"]["shown"] is False
    assert "not assessed" in s["km_nodal_status"]["reason"]
    assert s["landmark"]["shown"] and s["competing"]["shown"]
    assert (reports["b"] / "figures" / "cif_recurrence.svg").exists()


def test_a_single_histology_has_no_histology_curve_and_no_empty_levels(reports):
    """Centre B is sarcoma only: one histology level cannot be compared, and neither
    Table 1 nor the battery prints rows of zeros for the histologies it lacks."""
    s = _sections(reports["b"])
    assert s["km_histology_group"]["shown"] is False
    assert "two levels" in s["km_histology_group"]["reason"]
    t1 = pd.read_csv(reports["b"] / "tables" / "table1.csv", dtype=str, keep_default_na=False)
    levels = set(t1["level"])  # Table 1's numbers, with its levels as printed
    assert "Sarcoma" in levels and not {"Epithelial", "Germ cell", "Melanoma"} & levels
    battery = pd.read_csv(reports["b"] / "tables" / "irlm_battery.csv", dtype=str,
                          keep_default_na=False)  # numbers, with the levels as printed
    assert not {"Epithelial", "Germ cell", "Melanoma", "Other"} & set(battery["level"])


def test_outcome_only_cohort_says_what_it_lacks(reports):
    """Centre C has only outcomes: the overall curve, and every factor section replaced by
    its reason."""
    s = _sections(reports["c"])
    assert s["cohort"]["shown"] and s["survival"]["shown"]
    assert s["irlm"]["shown"] is False and s["cox"]["shown"] is False
    absent = [e for e in s.values() if e["id"].startswith("km_") and not e["shown"]]
    assert absent and all(e["reason"] for e in absent)


def test_follow_up_period_and_methods_are_stated(reports):
    """What a reviewer asks first: median follow-up (reverse KM, IQR), the period of
    operations (years only), and a Methods paragraph written from what ran."""
    for key, out in reports.items():
        html = (out / "index.html").read_text()
        assert "Median follow-up" in html and "reverse Kaplan-Meier" in html, key
        assert "First metastasectomies from " in html, key
        assert "<h2>" in html and "Methods</h2>" in html, key
    html_b = (reports["b"] / "index.html").read_text()
    assert "Aalen-Johansen" in html_b and "landmarks of 24 months" in html_b
    html_c = (reports["c"] / "index.html").read_text()
    assert "Cox proportional-hazards models (Efron" not in html_c  # no Cox was run


def test_median_follow_up_is_the_reverse_km_median():
    """Quartiles of the reverse Kaplan-Meier curve; oracle: R 4.2 survival 3.5
    ``quantile(survfit(Surv(t, 1 - d) ~ 1), probs = c(.25, .5, .75))`` gives 5, 5, 9."""
    from metsurv.stats import km

    df = pd.DataFrame({"t": [1, 2, 3, 4, 5, 9], "d": [1, 0, 1, 1, 0, 0]})
    rev = km(df.assign(c=1 - df["d"]), time="t", event="c")
    assert rev.curves[0].quantile((0.25, 0.5, 0.75)) == {0.25: 5.0, 0.5: 5.0, 0.75: 9.0}
    # a curve that sits exactly at 0.5 from 2 to its end at 4: R gives the midpoint, 3
    df2 = pd.DataFrame({"t": [1, 2, 3, 4], "c": [1, 1, 0, 0]})
    assert km(df2, time="t", event="c").curves[0].quantile((0.5,))[0.5] == 3.0
