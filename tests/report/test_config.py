"""Study config validation: every mistake is one clear CohortError naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from metsurv.errors import CohortError
from metsurv.report.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, cfg: dict) -> Path:
    (tmp_path / "p.csv").write_text("patient_id,os_months,os_event\na,1,1\n")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


BASE = {"title": "T", "data": {"source": "p.csv"}}


@pytest.mark.parametrize("change, message", [
    ({"factorz": ["dfi_group"]}, r"unknown key 'factorz' in the config \(did you mean 'factors'\?\)"),
    ({"data": {"source": "p.csv", "mapings": "m.yaml"}}, r"unknown key 'mapings' in data"),
    ({"data": {"source": "missing.csv"}}, r"data.source: file 'missing.csv' not found"),
    ({"data": {}}, r"data.source is required"),
    ({"endpoint": "pfs"}, r"endpoint must be one of os, dfs, got 'pfs'"),
    ({"time_unit": "weeks"}, r"time_unit must be one of years, months"),
    ({"max_time": -1}, r"max_time must be a positive number of years"),
    ({"factors": ["dfi_grp"]}, r"factors\[0\]: 'dfi_grp' is not a field .*did you mean 'dfi_group'"),
    ({"factors": ["os_months"]}, r"'os_months' is a float field; a factor must be"),
    ({"factors": [{"factor": "dfi_group", "subset": "R0"}]}, r"factors\[0\].subset must be one of"),
    ({"factors": ["dfi_group", "dfi_group"]}, r"'dfi_group' is listed twice"),
    ({"benchmark": "IRLM 1998"}, r"benchmark 'IRLM 1998' is not a published study"),
    ({"suppress_below": "5"}, r"suppress_below must be a whole number"),
    ({"suppress_below": True}, r"suppress_below must be a whole number"),
    ({"cox": {"covariates": ["patient_id"]}}, r"cox.covariates\[0\]: 'patient_id' is a id field"),
    ({"landmark_times": [0]}, r"landmark_times\[0\] must be a positive number of months"),
    ({"formats": ["png"]}, r"formats must include 'svg'"),
    ({"table1": {"by": "sex", "rows": []}}, r"unknown key 'rows' in table1"),
])
def test_config_errors_name_the_key(tmp_path, change, message):
    path = _write(tmp_path, {**BASE, **change})
    with pytest.raises(CohortError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(str(path))


def test_not_yaml_and_not_a_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: [unclosed\n")
    with pytest.raises(CohortError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(CohortError, match="must be a mapping"):
        load_config(bad)
    with pytest.raises(CohortError, match="config file not found"):
        load_config(tmp_path / "none.yaml")


def test_paths_are_relative_to_the_config_and_out_defaults_beside_it(tmp_path):
    cfg = load_config(_write(tmp_path, {**BASE, "factors": [
        "complete_resection", {"factor": "dfi_group", "subset": "complete_resection"}]}))
    assert cfg.source == tmp_path / "p.csv"
    assert cfg.out == tmp_path / "s"
    assert [f.slug for f in cfg.factors] == ["complete_resection", "dfi_group__complete_resection"]
    assert cfg.to_dict()["source"] == "p.csv"


@pytest.mark.parametrize("name", ["irlm1997.yaml", "sarcoma.yaml"])
def test_shipped_configs_are_valid_apart_from_the_data(name):
    raw = yaml.safe_load((ROOT / "reports" / name).read_text())
    raw["data"] = {"source": str(ROOT / "pyproject.toml")}  # bundled data may not be built yet
    cfg = load_config(raw, base=ROOT / "reports")
    assert cfg.factors and cfg.benchmark


def test_ci_bands_are_automatic_unless_set(tmp_path):
    """Absent: bands for up to three groups (four overlapping bands are unreadable);
    true or false forces them on or off."""
    assert load_config(_write(tmp_path, BASE)).ci_bands is None
    assert load_config(_write(tmp_path, {**BASE, "ci_bands": True})).ci_bands is True
    with pytest.raises(CohortError, match="ci_bands must be true or false"):
        load_config(_write(tmp_path, {**BASE, "ci_bands": "yes"}))


@pytest.mark.parametrize("written, read", [("letter", "Letter"), (" LETTER ", "Letter"),
                                           ("a4", "A4"), ("Letter", "Letter")])
def test_page_size_is_read_whatever_its_case(tmp_path, written, read):
    assert load_config(_write(tmp_path, {**BASE, "page_size": written})).page_size == read


def test_an_unknown_page_size_is_refused_by_name(tmp_path):
    with pytest.raises(CohortError, match="page_size must be one of A4, Letter, got 'A5'"):
        load_config(_write(tmp_path, {**BASE, "page_size": "A5"}))
