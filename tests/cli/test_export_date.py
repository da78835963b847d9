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
