"""``metsurv validate`` refuses (exit 2, one line on stderr) a file of which no patient can be
analysed, naming the top exclusion reasons with their counts (issue 11, item 6); the loader's
``no_patient_message`` gives ``metsurv report`` the same line."""

from __future__ import annotations

import pandas as pd

from metsurv.cli import main
from metsurv.io import load_cohort
from metsurv.io.load import no_patient_message

TODAY = "2024-06-30"


def _nothing_analysable(tmp_path):
    # 6 unreadable (text) operation dates, 3 follow-ups before the operation, 1 without id
    n = 10
    op = ["vor 2 Jahren"] * 6 + ["2015-01-01"] * 4
    fu = ["2016-01-01"] * 6 + ["2014-01-01"] * 3 + ["2016-01-01"]
    ids = [f"p{i}" for i in range(n - 1)] + [""]
    path = tmp_path / "export.csv"
    pd.DataFrame({"patient_id": ids, "metastasectomy_date": op, "last_followup_date": fu,
                  "vital_status": ["dead"] * n}).to_csv(path, index=False)
    return path


def test_validate_exits_2_naming_the_top_reasons(tmp_path, capsys):
    path = _nothing_analysable(tmp_path)
    status = main(["validate", str(path), "--today", TODAY])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("metsurv: export.csv: ")
    line = lines[0]
    assert "no patient could be analysed (0 of 10 records)" in line
    assert "unreadable required date: 6 (column 'metastasectomy_date')" in line
    assert "follow-up before metastasectomy: 3" in line
    assert "missing patient_id: 1" in line
    # most records first
    assert line.index("unreadable required date") < line.index("follow-up before")
    assert "vor 2 Jahren" not in line  # no raw value in the message


def test_validate_json_also_exits_2(tmp_path, capsys):
    status = main(["validate", str(_nothing_analysable(tmp_path)), "--json", "--today", TODAY])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and "no patient could be analysed" in err


def test_validate_still_exits_0_when_one_patient_is_analysed(tmp_path, capsys):
    path = tmp_path / "ok.csv"
    pd.DataFrame({"patient_id": ["a", "b"], "metastasectomy_date": ["2015-01-01", "x"],
                  "last_followup_date": ["2016-01-01", "2016-01-01"],
                  "vital_status": ["dead", "alive"]}).to_csv(path, index=False)
    assert main(["validate", str(path), "--today", TODAY]) == 0
    assert "analysed 1" in capsys.readouterr().out


def test_the_issue_case_day_first_export_is_now_analysed(tmp_path, capsys):
    # the issue: 300 patients with dd/mm/yyyy dates, 0 analysed and exit 0
    n = 300
    days = [f"{(i % 28) + 1:02d}/{(i % 12) + 1:02d}/20{10 + i % 5}" for i in range(n)]
    fus = [f"{(i % 28) + 1:02d}/{(i % 12) + 1:02d}/2020" for i in range(n)]
    path = tmp_path / "export300.csv"
    pd.DataFrame({"patient_id": [f"p{i}" for i in range(n)], "metastasectomy_date": days,
                  "last_followup_date": fus, "vital_status": ["alive"] * n}).to_csv(
        path, index=False)
    assert main(["validate", str(path), "--today", TODAY]) == 0
    out = capsys.readouterr().out
    assert "analysed 300" in out and "dd/mm/yyyy" in out


def test_no_patient_message_for_report(tmp_path):
    cohort = load_cohort(_nothing_analysable(tmp_path), today=TODAY)
    assert cohort.n_analysed == 0
    msg = no_patient_message(cohort, name="/data/export.csv")
    assert msg.startswith("/data/export.csv: no patient could be analysed (0 of 10 records)")
    assert "unreadable required date: 6" in msg and "\n" not in msg
    short = no_patient_message(cohort, top=1)
    assert short.startswith("export.csv: ") and "follow-up before" not in short


def test_an_unknown_code_is_named_with_the_codes_allowed(tmp_path):
    """A vital status written "maybe" in every row: the message names the commonest unknown
    code and the codes allowed (a code names no patient), still on one line; dates and ids
    stay out."""
    path = tmp_path / "codes.csv"
    pd.DataFrame({"patient_id": ["A1", "A2", "A3"],
                  "metastasectomy_date": ["2010-01-05", "2011-02-05", "2012-03-05"],
                  "last_followup_date": ["2015-01-01", "2016-01-01", "2014-01-01"],
                  "vital_status": ["maybe", "maybe", "unsure"]}).to_csv(path, index=False)
    msg = no_patient_message(load_cohort(str(path), today=TODAY))
    assert "(column 'vital_status', e.g. 'maybe'; allowed: alive, dead)" in msg, msg
    assert "\n" not in msg and "A1" not in msg and "2010-01-05" not in msg
