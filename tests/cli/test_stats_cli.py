"""`metsurv km` / `metsurv cox` on any survival table: the file path gives what the API gives.

Oracle: metsurv.cli.km.km_json / cox_json on the same data as a DataFrame (those are proven
against R survival in tests/stats); here the point is reading, parsing and error handling.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from metsurv.cli import main
from metsurv.cli.cox import cox_json
from metsurv.cli.km import km_json
from tests.stats.helpers import REFERENCE, dataset

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


def test_cox_robust_and_cluster_from_file(capsys):
    """`metsurv cox --robust` / `--cluster inst` on the R fixture's lung.csv: the JSON of
    cox_json (proven against R coxph(..., robust = TRUE) and + cluster(inst) in
    tests/stats/test_cli.py), the cluster column carried through, robust_se filled."""
    lung = REFERENCE / "data" / "lung.csv"
    base = ["cox", str(lung), "--time", "time", "--event", "event", "--covariates", "age,sex",
            "--json"]
    for flags, options in ((["--robust"], {"robust": True}), (["--cluster", "inst"],
                                                               {"cluster": "inst"})):
        assert main([*base, *flags]) == 0
        got = json.loads(capsys.readouterr().out)
        want = json.loads(json.dumps(cox_json(dataset("lung"), "time", "event", ["age", "sex"],
                                              **options)))
        assert got == want
        assert got["robust"] and all(t["robust_se"] is not None for t in got["terms"])
    assert got["cluster"] == "inst" and got["n_dropped"] == 1
    assert main(base) == 0
    assert all(t["robust_se"] is None for t in json.loads(capsys.readouterr().out)["terms"])


def test_cox_missing_cluster_column_exits_2(semicolon_csv, capsys):
    assert main(["cox", str(semicolon_csv), "--time", "time", "--event", "status",
                 "--covariates", "age", "--cluster", "centre"]) == 2
    assert "no column 'centre'" in capsys.readouterr().err


def test_km_times_after_follow_up_dropped_unless_extend(semicolon_csv, capsys):
    """R summary(fit, times = c(5, 20)) leaves out 20 (after the last time, 10); with
    --extend (R extend = TRUE) it is kept with 0 at risk."""
    args = ["km", str(semicolon_csv), "--time", "time", "--event", "status", "--times",
            "20,5", "--json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)["groups"][0]["survival"]
    assert [r["time"] for r in rows] == [5.0]
    assert main([*args, "--extend"]) == 0
    got = json.loads(capsys.readouterr().out)
    rows = got["groups"][0]["survival"]
    assert [(r["time"], r["at_risk"]) for r in rows] == [(5.0, 6), (20.0, 0)]
    assert got == json.loads(json.dumps(km_json(DATA, time="time", event="status",
                                                times=[5, 20], extend=True)))


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
