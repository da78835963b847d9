"""Messy registry exports read back with their shipped mapping give the clean cohort, minus the
planted broken rows, which the flow excludes with the documented reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import metsurv
from metsurv.synthetic.cli import synth_command
from metsurv.synthetic.dialects import DIALECTS, mapping_path, mapping_yaml

CASES = [("irlm1997", "de_registry", 1200), ("sarcoma", "it_xlsx", 400)]


def test_shipped_mapping_files_are_generated_from_the_dialects():
    for name in DIALECTS:
        assert mapping_path(name).read_text(encoding="utf-8") == mapping_yaml(name)


@pytest.fixture(scope="module", params=CASES, ids=[c[1] for c in CASES])
def exports(request, tmp_path_factory):
    preset, dialect, n = request.param
    root = tmp_path_factory.mktemp(dialect)
    clean = synth_command(preset, n=n, seed=5, out=root / "clean")
    messy = synth_command(preset, n=n, seed=5, dialect=dialect, out=root / "messy")
    return clean, messy


def _load(directory: Path, mapping: Path | None = None) -> metsurv.Cohort:
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    info = manifest["dialect"] or {"patients_file": "patients.csv",
                                   "resections_file": "resections.csv"}
    return metsurv.load_cohort(directory / info["patients_file"], mapping=mapping,
                               resections=directory / info["resections_file"])


def test_messy_export_loads_to_the_clean_cohort(exports):
    clean_dir, messy_dir = exports
    manifest = json.loads((messy_dir / "manifest.json").read_text(encoding="utf-8"))
    broken = manifest["dialect"]["broken_rows"]
    clean = _load(clean_dir)
    messy = _load(messy_dir, mapping_path(manifest["dialect"]["name"]))
    gone = {b["patient_id"] for b in broken if b["expected_exclusion"] != "duplicate patient_id"}
    assert clean.n_read == len(clean.patients)  # the clean export loses nobody
    expected = clean.patients[~clean.patients["patient_id"].isin(gone)].reset_index(drop=True)
    got = messy.patients.reset_index(drop=True)
    assert got["patient_id"].tolist() == expected["patient_id"].tolist()
    columns = [c for c in expected.columns if c in got.columns and c != "source_row"]
    assert set(expected.columns) - {"source_row"} <= set(columns)
    pd.testing.assert_frame_equal(got[columns], expected[columns], check_dtype=False,
                                  check_categorical=False)
    res_expected = clean.resections[~clean.resections["patient_id"].isin(gone)]
    keep = [c for c in res_expected.columns if c != "source_row"]
    pd.testing.assert_frame_equal(messy.resections[keep].reset_index(drop=True),
                                  res_expected[keep].reset_index(drop=True), check_dtype=False,
                                  check_categorical=False)


def test_broken_rows_are_excluded_with_their_reasons(exports):
    _, messy_dir = exports
    manifest = json.loads((messy_dir / "manifest.json").read_text(encoding="utf-8"))
    info = manifest["dialect"]
    messy = _load(messy_dir, mapping_path(info["name"]))
    flow = messy.flow.set_index(["table", "step", "reason"])["n"]
    expected = pd.Series([b["expected_exclusion"] for b in info["broken_rows"]]).value_counts()
    excluded = messy.flow[(messy.flow["table"] == "patients")
                          & (messy.flow["step"] == "excluded")].set_index("reason")["n"]
    pd.testing.assert_series_equal(excluded.sort_index(), expected.sort_index(),
                                   check_names=False)
    orphans = info["excluded_resection_rows"]
    assert flow[("resections", "excluded", orphans["reason"])] == orphans["count"]
    errors = messy.findings[messy.findings["severity"] == "error"]
    for b in info["broken_rows"]:
        hit = errors[(errors["table"] == "patients") & (errors["patient_id"] == b["patient_id"])
                     & (errors["reason"] == b["expected_exclusion"])]
        assert len(hit) == 1, b


def test_dialect_files_look_like_the_registry(exports):
    _, messy_dir = exports
    manifest = json.loads((messy_dir / "manifest.json").read_text(encoding="utf-8"))
    if manifest["dialect"]["name"] == "de_registry":
        raw = (messy_dir / "patients.csv").read_bytes()
        text = raw.decode("latin-1")
        header = text.splitlines()[0].split(";")
        assert header[:3] == ["PatNr", "Zentrum", "Geschlecht"]
        assert "radikal" in text and "31.02." in text and "Präzisionsresektion" in text
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    else:
        import openpyxl

        wb = openpyxl.load_workbook(messy_dir / "patients.xlsx", read_only=True)
        assert wb.sheetnames == ["pazienti"]
        rows = list(wb["pazienti"].iter_rows(max_row=3, values_only=True))
        assert rows[0][0] == "ID_paziente" and "completa" in {str(v) for r in rows for v in r}
