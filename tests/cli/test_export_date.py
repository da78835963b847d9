"""The export date (issue 10, item 2): ``--today YYYY-MM-DD`` of validate/km/cox/irlm is the
date after which a value is in the future (implausible); an invalid value exits 2 with one
line naming the option."""

from __future__ import annotations

import json

import pytest

from metsurv.cli import main

CSV = ("patient_id,metastasectomy_date,last_followup_date,vital_status,resection_status\n"
       "A,2010-01-05,2015-03-01,dead,R0\n"
       "B,2011-02-01,2019-06-01,alive,R1\n"
       "C,2012-02-01,2012-09-01,dead,R0\n")


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(CSV)
    return path


def test_export_date_makes_later_dates_future(data, capsys):
    assert main(["validate", str(data), "--json", "--today", "2018-01-01"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_analysed"] == 2
    assert "after the export date 2018-01-01" in json.dumps(out["findings"])


def test_export_date_default_is_the_machine_date(data, capsys):
    assert main(["validate", str(data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_analysed"] == 3


@pytest.mark.parametrize("command", ["validate", "km", "cox", "irlm"])
@pytest.mark.parametrize("value", ["2018-13-01", "abc", "18-01-01", "1850-01-01", ""])
def test_export_date_invalid_exits_2_with_one_line(data, capsys, command, value):
    assert main([command, str(data), "--today", value]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--today" in err


def test_export_date_invalid_in_the_api_is_a_cohort_error(data):
    from metsurv.errors import CohortError
    from metsurv.io import load_cohort

    with pytest.raises(CohortError, match="export date"):
        load_cohort(str(data), today="not a date")


def _report_data(tmp_path):
    """40 patients (enough to report), patient B's follow-up in 2019."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 40
    op = pd.Timestamp("2005-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    last = op + pd.to_timedelta(rng.integers(60, 3000, n), unit="D")
    df = pd.DataFrame({"pid": [f"P{i}" for i in range(n)],
                       "op_date": op.strftime("%Y-%m-%d"),
                       "fu_date": last.strftime("%Y-%m-%d"),
                       "status": rng.choice(["dead", "alive"], n),
                       "resection_status": rng.choice(["R0", "R1"], n)})
    df.loc[1, "fu_date"] = "2019-06-01"
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    mapping = tmp_path / "centre.yaml"
    mapping.write_text("version: 1\ncolumns:\n  pid: patient_id\n"
                       "  op_date: metastasectomy_date\n  fu_date: last_followup_date\n"
                       "  status: vital_status\n")
    return path, mapping


def test_report_takes_the_export_date_and_a_mapping(tmp_path, capsys):
    """metsurv report DATA --mapping M --today D: the mapping names the columns, and a
    follow-up after the export date costs its row, counted in the flow."""
    path, mapping = _report_data(tmp_path)
    out = tmp_path / "rep"
    assert main(["report", str(path), "--mapping", str(mapping), "--today", "2018-01-01",
                 "--out", str(out)]) == 0
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["config"]["today"] == "2018-01-01"
    flow = (out / "tables" / "flow.csv").read_text()
    assert "analysed,,39" in flow.replace('"', ""), flow
    assert main(["report", str(path), "--mapping", str(mapping), "--out", str(out)]) == 0
    flow = (out / "tables" / "flow.csv").read_text()
    assert "analysed,,40" in flow.replace('"', ""), flow


@pytest.mark.parametrize("value", ["2018-13-01", "abc"])
def test_report_export_date_invalid_exits_2(tmp_path, capsys, value):
    path, mapping = _report_data(tmp_path)
    assert main(["report", str(path), "--today", value]) == 2
    assert "--today" in capsys.readouterr().err


def test_report_mapping_with_a_config_is_refused(tmp_path, capsys):
    cfg = tmp_path / "study.yaml"
    cfg.write_text("title: x\ndata:\n  source: export.csv\n")
    assert main(["report", str(cfg), "--mapping", "m.yaml"]) == 2
    assert "data: mapping" in capsys.readouterr().err


def test_config_export_date_is_checked(tmp_path):
    from metsurv.errors import CohortError
    from metsurv.report.config import load_config

    path, _ = _report_data(tmp_path)
    with pytest.raises(CohortError, match="data.today must be a date"):
        load_config({"title": "x", "data": {"source": str(path), "today": "30/06/2024"}})
    cfg = load_config({"title": "x", "data": {"source": str(path), "today": "2024-06-30"}})
    assert cfg.today.isoformat() == "2024-06-30"


def test_a_sheet_for_a_file_that_is_not_a_workbook_is_refused(tmp_path, capsys):
    """source: sheet in a mapping is for Excel; on a CSV it is a mistake, not ignored."""
    path, _ = _report_data(tmp_path)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("version: 1\nsource:\n  sheet: 3\ncolumns:\n  pid: patient_id\n"
                       "  op_date: metastasectomy_date\n  fu_date: last_followup_date\n"
                       "  status: vital_status\n")
    assert main(["validate", str(path), "--mapping", str(mapping)]) == 2
    err = capsys.readouterr().err
    assert "sheet" in err and "Excel" in err and len(err.strip().splitlines()) == 1
