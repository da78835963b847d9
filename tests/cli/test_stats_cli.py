"""`metsurv km` / `metsurv cox` on any survival table: the file path gives what the API gives.

Oracle: metsurv.stats.cli.km_json / cox_json on the same data as a DataFrame (those are proven
against R survival in tests/stats); here the point is reading, parsing and error handling.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from metsurv.cli import main
from metsurv.stats.cli import cox_json, km_json

DATA = pd.DataFrame({
    "time": [1.5, 2, 3.25, 4, 5, 6.5, 7, 8, 9.75, 10],
    "status": [1, 0, 1, 1, 0, 1, 0, 1, 1, 0],
    "grp": list("ababababab"),
    "age": [50, 61, 72, 45, 66, 58, 49, 70, 63, 55],
})


@pytest.fixture
def semicolon_csv(tmp_path):
    path = tmp_path / "surv.csv"
    DATA.to_csv(path, sep=";", decimal=",", index=False)
    return path


def test_km_file_equals_api(semicolon_csv, capsys):
    assert main(["km", str(semicolon_csv), "--time", "time", "--event", "status", "--by", "grp",
                 "--times", "2,5", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = json.loads(json.dumps(km_json(DATA, time="time", event="status", by="grp",
                                         times=[2, 5])))
    assert got == want
    assert set(got) >= {"groups", "logrank", "peto"}


def test_cox_file_equals_api(semicolon_csv, capsys):
    assert main(["cox", str(semicolon_csv), "--time", "time", "--event", "status",
                 "--covariates", "grp,age", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = json.loads(json.dumps(cox_json(DATA, time="time", event="status",
                                          covariates=["grp", "age"])))
    assert got == want
    assert got["ph_test"][-1]["term"] == "GLOBAL"


@pytest.mark.parametrize("args, fragment", [
    (["--time", "tme", "--event", "status"], "no column 'tme'"),
    (["--time", "time", "--event", "grp"], "not an event code"),
])
def test_bad_columns_exit_2(semicolon_csv, capsys, args, fragment):
    assert main(["km", str(semicolon_csv), *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "surv.csv" in err and err.count("\n") == 1


def test_km_json_without_times_lists_every_event_time():
    """Without --times the survival list is R's summary(fit): one row per event time."""
    from metsurv.stats import km

    got = km_json(DATA, time="time", event="status")["groups"][0]["survival"]
    table = km(DATA, time="time", event="status").curves[0].table
    events = table[table["n_event"] > 0]
    assert [r["time"] for r in got] == events["time"].tolist()
    assert [r["at_risk"] for r in got] == events["n_risk"].tolist()
