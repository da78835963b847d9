"""`metsurv validate`: JSON contract, exit codes, and one clear line for garbage input."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pandas as pd
import pytest

from metsurv.cli import main
from tests.conftest import registry_rows


def test_validate_json_contract(tmp_path, capsys):
    df = registry_rows()
    df.loc[1, "vital_status"] = "zombie"
    df.loc[2, "nodal_status"] = "N9"
    path = tmp_path / "reg.csv"
    df.to_csv(path, index=False)
    assert main(["validate", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"n_read", "n_analysed", "excluded", "findings"}
    assert (out["n_read"], out["n_analysed"]) == (6, 5)
    assert out["excluded"] == [{"reason": "unknown required code", "count": 1}]
    keys = {"patient_id", "row", "column", "value", "rule", "severity"}
    assert all(keys <= set(f) for f in out["findings"])
    bad = [f for f in out["findings"] if f["severity"] == "error"][0]
    assert (bad["patient_id"], bad["row"], bad["column"], bad["value"]) == (
        "P002", 3, "vital_status", "zombie")  # header is line 1, so P002 is line 3
    warn = [f for f in out["findings"] if f["severity"] == "warning"][0]
    assert (warn["row"], warn["column"], warn["value"]) == (4, "nodal_status", "N9")


def test_validate_text(tmp_path, capsys):
    path = tmp_path / "reg.csv"
    registry_rows().to_csv(path, index=False)
    assert main(["validate", str(path)]) == 0
    text = capsys.readouterr().out
    assert "records read 6, analysed 6" in text and "Flow" in text


def _garbage(tmp_path):
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 20)
    good = tmp_path / "good.xlsx"
    registry_rows().to_excel(good, index=False)
    data = good.read_bytes()
    (tmp_path / "truncated.xlsx").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header_only.csv").write_text("patient_id,os_months,os_event\n")
    (tmp_path / "dupcols.csv").write_text("patient_id,os_months,os_months,os_event\na,1,2,1\n")
    (tmp_path / "notazip.xlsx").write_text("hello")
    with zipfile.ZipFile(tmp_path / "emptyzip.xlsx", "w"):
        pass
    return ["binary.csv", "truncated.xlsx", "empty.csv", "header_only.csv", "dupcols.csv",
            "notazip.xlsx", "emptyzip.xlsx", "missing.csv"]


@pytest.mark.parametrize("name", ["binary.csv", "truncated.xlsx", "empty.csv", "header_only.csv",
                                  "dupcols.csv", "notazip.xlsx", "emptyzip.xlsx", "missing.csv"])
def test_garbage_gives_exit_2_and_one_line(tmp_path, capsys, name):
    _garbage(tmp_path)
    assert main(["validate", str(tmp_path / name)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == ""
    assert err.count("\n") == 0 and name in err and "Traceback" not in err


def test_cli_subprocess_no_traceback(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "metsurv.cli", "validate",
                           str(tmp_path / "empty.csv")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "empty.csv" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_validate_with_mapping_and_resections(tmp_path, capsys):
    df = registry_rows().rename(columns={"patient_id": "PatNr"})
    df.to_csv(tmp_path / "p.csv", sep=";", index=False)
    pd.DataFrame({"PatNr": ["P001", "P001"], "Datum": ["2001-03-01", "2002-01-01"]}).to_csv(
        tmp_path / "r.csv", index=False)
    (tmp_path / "m.yaml").write_text(
        "version: 1\ncolumns: {PatNr: patient_id}\n"
        "resections:\n  columns: {PatNr: patient_id, Datum: operation_date}\n")
    assert main(["validate", str(tmp_path / "p.csv"), "--mapping", str(tmp_path / "m.yaml"),
                 "--resections", str(tmp_path / "r.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_analysed"] == 6 and out["resections"]["n_analysed"] == 2


def test_validate_a_table_of_a_database_with_several(tmp_path, capsys):
    import sqlite3

    path = tmp_path / "registry.sqlite"
    con = sqlite3.connect(path)
    registry_rows().to_sql("patients", con, index=False)
    pd.DataFrame({"x": [1]}).to_sql("other", con, index=False)
    con.close()
    assert main(["validate", str(path), "--table", "patients", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_analysed"] == 6
    assert main(["validate", str(path), "--query",
                 "SELECT * FROM patients WHERE vital_status = 'dead'", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_analysed"] == 3


def test_synth_choices_are_the_shipped_presets_and_dialects():
    from metsurv.cli import build_parser
    from metsurv.synthetic.dialects import DIALECTS
    from metsurv.synthetic.presets import PRESETS

    synth = build_parser()._subparsers._group_actions[0].choices["synth"]
    choices = {a.dest: a.choices for a in synth._actions if a.choices}
    assert set(choices["preset"]) == set(PRESETS) and set(choices["dialect"]) == set(DIALECTS)


def test_km_with_time_column_applies_the_mapping(tmp_path, capsys):
    """--time/--event read a plain table, still through the mapping's missing codes and units:
    730.5 days is 24 months exactly (730.5 / 30.4375); 99 means not recorded."""
    (tmp_path / "t.csv").write_text("os_months,os_event\n730.5,1\n99,1\n365.25,0\n1461,1\n")
    (tmp_path / "m.yaml").write_text("version: 1\nmissing: [\"99\"]\nunits: {os_months: days}\n")
    assert main(["km", str(tmp_path / "t.csv"), "--mapping", str(tmp_path / "m.yaml"),
                 "--time", "os_months", "--event", "os_event", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["groups"][0]["n"] == 3 and out["n_dropped"] == 1
    assert [r["time"] for r in out["groups"][0]["survival"]] == [24.0, 48.0]
