"""A missing input file named on the command line: `metsurv report` and `metsurv validate`
say the same one line (the option, the path, "no such file"), from one helper."""

from __future__ import annotations

import pytest

from metsurv.cli import main
from metsurv.io.read.errors import missing_input_message
from tests.conftest import registry_rows


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "reg.csv"
    registry_rows().to_csv(path, index=False)
    return path


def _refusal(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line
    return err.strip()


@pytest.mark.parametrize("option,name", [("--resections", "MISSING.csv"),
                                         ("--mapping", "MISSING.yaml")])
def test_report_and_validate_word_a_missing_file_alike(tmp_path, data, capsys, option, name):
    missing = tmp_path / name
    out = tmp_path / "out"
    report = _refusal(["report", str(data), option, str(missing), "--out", str(out)], capsys)
    validate = _refusal(["validate", str(data), option, str(missing)], capsys)
    assert report == validate
    assert report.endswith(missing_input_message(option, missing))
    assert f"{option} {missing}: no such file" in report
    assert not out.exists()  # refused before anything is made


def test_a_folder_given_as_resections_is_no_file(tmp_path, data, capsys):
    line = _refusal(["validate", str(data), "--resections", str(tmp_path)], capsys)
    assert line.endswith(missing_input_message("--resections", tmp_path))


def test_an_existing_resections_file_is_read(tmp_path, data, capsys):
    res = tmp_path / "r.csv"
    res.write_text("patient_id,operation_date\nP001,2010-01-01\n")
    assert main(["validate", str(data), "--resections", str(res), "--json"]) == 0


def test_missing_input_message_is_one_line_naming_option_and_path():
    msg = missing_input_message("--resections", "data/MISSING.csv")
    assert msg == "--resections data/MISSING.csv: no such file; check the path."
