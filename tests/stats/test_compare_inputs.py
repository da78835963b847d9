"""Treatment comparisons on data metsurv did not make (issue 13, a new user's attack): codes in
two cases, a 0/1 treatment, an arm without events, numbers written as text, a bad horizon, a
confounder nobody has. Oracle: what a careful analyst expects (R ``coxph`` prints an infinite
coefficient with a warning; metsurv prints NA), and the same comparison on clean data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv.cli import main
from metsurv.errors import DataError
from metsurv.stats.compare import compare_treatments, match_levels


def _data(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stage = rng.choice(["I", "II", "III"], n)
    p = np.where(stage == "I", 0.6, np.where(stage == "II", 0.4, 0.2))
    vats = rng.random(n) < p
    time = rng.exponential(np.where(vats, 40.0, 30.0) * np.where(stage == "III", 0.5, 1.0))
    return pd.DataFrame({"time": np.round(np.minimum(time, 60.0), 2),
                         "dead": (time < 60.0).astype(int),
                         "approach": np.where(vats, "vats", "thoracotomy"),
                         "stage": stage, "age": np.round(rng.normal(60, 9, n), 1),
                         "chemo01": vats.astype(float)})


def test_codes_in_two_cases_are_refused_not_half_dropped():
    d = _data()
    d.loc[:50, "approach"] = d.loc[:50, "approach"].str.upper()
    with pytest.raises(DataError, match=r"matches 2 different values.*'VATS' \(\d+ patients\)"):
        match_levels(d["approach"], ["vats", "thoracotomy"], "approach")


def test_a_numeric_0_1_treatment_is_compared_as_the_text_treatment():
    d = _data()
    assert match_levels(d["chemo01"], ["1", "0"], "chemo01") == (1.0, 0.0)
    by_number = compare_treatments(d, "chemo01", (1.0, 0.0), ["stage"], time="time",
                                   event="dead")
    by_text = compare_treatments(d, "approach", ("vats", "thoracotomy"), ["stage"],
                                 time="time", event="dead")
    np.testing.assert_allclose(by_number.effects["estimate"], by_text.effects["estimate"],
                               rtol=1e-12)


def test_an_arm_without_events_gives_NA_not_a_significant_hazard_ratio():
    d = _data()
    d.loc[d["approach"] == "vats", "dead"] = 0
    with pytest.warns(UserWarning):
        comp = compare_treatments(d, "approach", ("vats", "thoracotomy"), ["stage"],
                                  time="time", event="dead")
    hr = comp.effects[comp.effects["measure"] == "hazard_ratio"]
    assert hr[["estimate", "lower", "upper", "p"]].isna().all().all()
    assert any("no events among the" in w for w in comp.warnings)
    rmst = comp.effect("adjusted", "rmst_difference")
    assert np.isfinite(rmst["estimate"])  # the RMST difference still answers


def test_numbers_written_as_text_are_named_not_called_separation():
    d = _data()
    d["age_txt"] = d["age"].astype(str)
    d.loc[7, "age_txt"] = "unk"
    with pytest.raises(DataError, match="'age_txt' holds numbers written as text.*'unk'"):
        compare_treatments(d, "approach", ("vats", "thoracotomy"), ["age_txt"], time="time",
                           event="dead")


@pytest.mark.parametrize("horizon", [0.0, -5.0, float("nan")])
def test_a_horizon_that_is_not_positive_is_refused(horizon):
    with pytest.raises(DataError, match="RMST horizon must be a positive number"):
        compare_treatments(_data(), "approach", ("vats", "thoracotomy"), ["stage"],
                           time="time", event="dead", horizon=horizon)


def test_a_confounder_nobody_has_is_named():
    d = _data().assign(allmiss=np.nan)
    with pytest.raises(DataError, match="'allmiss' is missing in 400 of 400 rows"):
        compare_treatments(d, "approach", ("vats", "thoracotomy"), ["stage", "allmiss"],
                           time="time", event="dead")


def test_exclusions_are_counted_alike_with_and_without_imputation():
    d = _data()
    d.loc[:9, "time"] = np.nan  # outcome missing
    d.loc[5:19, "stage"] = None  # confounder missing, overlapping the first
    plain = compare_treatments(d, "approach", ("vats", "thoracotomy"), ["stage"],
                               time="time", event="dead")
    imputed = compare_treatments(d, "approach", ("vats", "thoracotomy"), ["stage"],
                                 time="time", event="dead", impute=2, seed=1)
    first = plain.excluded.iloc[0]
    assert (first["reason"], first["n"]) == ("outcome missing", 10)
    assert imputed.excluded.iloc[0]["n"] == 10
    assert plain.n["total"] + plain.excluded["n"].sum() == len(d)


def test_cli_horizon_and_cases_exit_2_with_one_line(tmp_path, capsys):
    d = _data()
    d.loc[:50, "approach"] = d.loc[:50, "approach"].str.upper()
    d.to_csv(tmp_path / "d.csv", index=False)
    base = ["compare", str(tmp_path / "d.csv"), "--time", "time", "--event", "dead",
            "--treatment", "approach", "--confounders", "stage"]
    assert main([*base, "--levels", "vats,thoracotomy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matches 2 different values" in err[0]
