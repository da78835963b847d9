"""User mistakes in arguments, environment, config and mapping (issue 10 items 4, 7, 8).

Each kind of mistake must end as the CLI's one error path promises: exit status 2 and ONE
line on stderr naming the option, variable, file or key and what to do, never "internal
error" (status 1). The oracle is :func:`tests.cli.test_bad_data.check`. Bounded work: a
config asking for unbounded ticks or times is refused within a few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from metsurv.cli import main
from metsurv.cli._errors import terminal_safe
from tests.cli.test_bad_data import BAD, check

GOOD = BAD / "good.csv"


def _refused(argv: list[str], capsys, *names: str) -> str:
    status, _, err = check(argv, names, capsys)
    assert status == 2, err
    return err


# -- arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("times", ["abc", "1,,x", "1,,2", "-5", "inf", "nan", "1e9", "12,-inf",
                                   ",".join(["1"] * 201)],
                         ids=["text", "empty-and-text", "empty-item", "negative", "inf", "nan",
                              "huge", "minus-inf", "too-many"])
def test_bad_times_argument_is_refused_naming_the_option(times, capsys):
    err = _refused(["km", str(GOOD), f"--times={times}"], capsys, "--times")
    assert "internal error" not in err


def test_good_times_argument_still_works(capsys):
    status, out, _ = check(["km", str(GOOD), "--times", "0,12,36", "--json"], (), capsys)
    assert status == 0 and '"time": 12' in out.replace("12.0", "12")


@pytest.mark.parametrize("n", ["999999999999", "10000001"], ids=["absurd-n", "above-bound"])
def test_synth_unbounded_n_is_refused_at_once(n, tmp_path, capsys):
    start = time.monotonic()
    err = _refused(["synth", "--preset", "sarcoma", "--n", n, "--out", str(tmp_path / "s")],
                   capsys, "--n")
    assert time.monotonic() - start < 5
    assert "10,000,000" in err and not (tmp_path / "s").exists()


def test_synth_n_beyond_free_memory_is_refused(tmp_path, capsys, monkeypatch):
    from metsurv.cli import synth

    monkeypatch.setattr(synth, "_available_memory", lambda: 10**9)
    err = _refused(["synth", "--preset", "sarcoma", "--n", "5000000", "--out",
                    str(tmp_path / "s")], capsys, "--n")
    assert "GB" in err and "smaller --n" in err


@pytest.mark.parametrize("value", ["abc", "-5", "99999999999999999999", "1.5", "12e3", "٣"],
                         ids=["text", "negative", "huge", "fraction", "exponent",
                              "non-ascii-digit"])
def test_bad_source_date_epoch_is_refused_naming_the_variable(value, tmp_path, capsys,
                                                              monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    err = _refused(["report", str(GOOD), "--out", str(tmp_path / "r")], capsys,
                   "SOURCE_DATE_EPOCH")
    assert not (tmp_path / "r").exists()
    assert "unset it" in err


# -- config: key and value types, bounded work ------------------------------------------


def _config(tmp_path: Path, body: str) -> Path:
    (tmp_path / "good.csv").write_bytes(GOOD.read_bytes())
    p = tmp_path / "study.yaml"
    p.write_text("data: {source: good.csv}\n" + body, encoding="utf-8")
    return p


@pytest.mark.parametrize("body, key", [
    ("1: x\n", "number"),
    ("~: y\n", "null"),
    ("data2: {1: x}\n", "data2"),
    ("title: [a, b]\n", "title"),
    ("endpoint: [os, dfs]\n", "endpoint"),
    ("time_unit: {a: b}\n", "time_unit"),
    ("factors: [{factor: dfi_group, subset: [a]}]\n", "subset"),
    ("formats: [[svg]]\n", "formats"),
    ("seed: -1\n", "seed"),
], ids=["integer-key", "null-key", "unknown-key", "list-for-title", "list-for-endpoint",
        "mapping-for-time-unit", "list-for-subset", "nested-format", "negative-seed"])
def test_config_wrong_key_or_value_type_is_refused_naming_the_key(body, key, tmp_path, capsys):
    cfg = _config(tmp_path, body)
    err = _refused(["report", str(cfg), "--out", str(tmp_path / "r")], capsys, "study.yaml")
    assert key in err


def test_config_integer_key_inside_data_is_refused(tmp_path, capsys):
    (tmp_path / "good.csv").write_bytes(GOOD.read_bytes())
    cfg = tmp_path / "study.yaml"
    cfg.write_text("data: {source: good.csv, 1: x}\n")
    err = _refused(["report", str(cfg), "--out", str(tmp_path / "r")], capsys, "study.yaml")
    assert "data has the number 1 as a key" in err


@pytest.mark.parametrize("body, key, limit", [
    ("time_unit: months\nmax_time: 120\ntick_step: 0.0001\n", "tick_step", "200"),
    ("max_time: .inf\n", "max_time", "100"),
    ("max_time: 1.0e+9\n", "max_time", "100"),
    ("landmark_times: [.nan]\n", "landmark_times[0]", "1200"),
    ("landmark_times: [.inf]\n", "landmark_times[0]", "1200"),
    ("landmark_times: [" + ", ".join(str(i + 1) for i in range(21)) + "]\n",
     "landmark_times", "20"),
], ids=["tiny-tick-step", "infinite-max-time", "huge-max-time", "nan-landmark",
        "infinite-landmark", "too-many-landmarks"])
def test_config_unbounded_work_is_refused_within_seconds(body, key, limit, tmp_path, capsys):
    cfg = _config(tmp_path, body)
    start = time.monotonic()
    err = _refused(["report", str(cfg), "--out", str(tmp_path / "r")], capsys, "study.yaml")
    assert time.monotonic() - start < 5
    assert key in err and limit in err


# -- mapping: a list or null where a word belongs ---------------------------------------


@pytest.mark.parametrize("body, key", [
    ("columns: {os_months: [a, b]}\n", "columns.os_months"),
    ("columns: {~: os_months}\n", "null"),
    ("units: {os_months: [days]}\n", "units.os_months"),
    ("missing: {os_months: [[a]]}\n", "missing.os_months"),
    ("codes: {resection_status: {x: [R0]}}\n", "codes.resection_status"),
    ("description: [a]\n", "description"),
], ids=["list-for-column-target", "null-column-key", "list-for-unit", "nested-missing-code",
        "list-for-code", "list-for-description"])
def test_mapping_wrong_value_type_is_refused_naming_the_key(body, key, tmp_path, capsys):
    m = tmp_path / "map.yaml"
    m.write_text(body)
    err = _refused(["validate", str(GOOD), "--mapping", str(m)], capsys, "map.yaml")
    assert key in err


# -- text is text on the console --------------------------------------------------------


def test_terminal_escape_sequences_in_column_names_are_never_printed_raw(tmp_path, capsys):
    data = tmp_path / "esc.csv"
    text = GOOD.read_text().replace("resection_status", "res\x1b[31m\x9b2J\u202estatus", 1)
    data.write_text(text, encoding="utf-8")
    for argv in (["validate", str(data)], ["validate", str(data), "--json"],
                 ["km", str(data), "--by", "res\x1b[31m\x9b2J\u202estatus"],
                 ["km", str(data), "--by", "no\x1bcolumn"]):
        main(argv)
        captured = capsys.readouterr()
        for stream in (captured.out, captured.err):
            assert "\x1b" not in stream and "\x9b" not in stream and "\u202e" not in stream


def test_terminal_safe_escapes_every_control_but_newline_and_tab():
    controls = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
    shown = terminal_safe(controls)
    assert set(shown) - set("\\x0123456789abcdef\n\t") == set()
    assert "\n" in shown and "\t" in shown


# -- an outcome-only file is reportable ---------------------------------------------------


@pytest.mark.slow
def test_outcome_only_file_is_reported_saying_which_sections_could_not_be_made(tmp_path,
                                                                               capsys):
    """patient_id, os_months, os_event only: the overall curve is drawn; every factor panel
    and the IRLM battery say they are not shown and why."""
    out = tmp_path / "r"
    status, _, err = check(["report", str(BAD / "outcome_only.csv"), "--out", str(out)],
                           ("outcome_only.csv",), capsys)
    assert status == 0, err
    page = (out / "index.html").read_text(encoding="utf-8")
    assert (out / "figures" / "km_overall.svg").is_file()
    assert "Not shown: the cohort has no values of complete_resection" in page
    assert "Not shown: the cohort has none of the IRLM prognostic factors" in page


# -- error messages never echo values that may identify a patient -------------------------


def test_headerless_export_is_refused_without_echoing_the_first_patient(capsys):
    """The first line of a header-less export is the first patient's id and dates: the
    refusal says the line looks like data and quotes none of it."""
    first = (BAD / "headerless.csv").read_text().splitlines()[0].split(",")
    for argv in (["validate", str(BAD / "headerless.csv")],
                 ["km", str(BAD / "headerless.csv"), "--json"]):
        err = _refused(argv, capsys, "headerless.csv")
        assert "looks like data, not a header" in err
        assert not [cell for cell in first if cell in err]


def test_headerless_export_with_a_repeated_first_value_quotes_none_of_it(tmp_path, capsys):
    """A header-less first line that repeats a value (operation and follow-up on the same
    day) would be a "duplicated column name": the refusal still says the line looks like data
    and does not quote the date."""
    path = tmp_path / "headerless_dup.csv"
    path.write_text("P0123,2011-05-06,2011-05-06,1\nP0124,2012-01-01,2012-03-02,0\n")
    err = _refused(["validate", str(path)], capsys, "headerless_dup.csv")
    assert "looks like data, not a header" in err
    assert "2011-05-06" not in err and "P0123" not in err


# -- bounded work: grouping columns -------------------------------------------------------


def _many_ids(tmp_path: Path, n: int = 400) -> Path:
    rows = [f"P{i:04d},{1 + i % 97}.5,{i % 2},{i % 3},{30 + i / 10:.1f}" for i in range(n)]
    path = tmp_path / "ids.csv"
    path.write_text("patient_id,os_months,os_event,arm,age\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("extra, option", [
    (["km", "--by", "patient_id"], "--by"),
    (["cox", "--covariates", "arm,patient_id"], "--covariates"),
    (["cox", "--covariates", "arm", "--strata", "patient_id"], "--strata"),
], ids=["km-by-identifier", "cox-identifier-covariate", "cox-identifier-strata"])
def test_grouping_by_an_identifier_is_refused_at_once(extra, option, tmp_path, capsys):
    data = _many_ids(tmp_path)
    argv = [extra[0], str(data), "--time", "os_months", "--event", "os_event", *extra[1:]]
    start = time.monotonic()
    err = _refused(argv, capsys, "ids.csv")
    assert time.monotonic() - start < 5
    assert option in err and "patient_id" in err and "50" in err and "P0001" not in err


def test_numeric_covariate_with_many_values_is_a_slope_not_groups(tmp_path, capsys):
    data = _many_ids(tmp_path)
    argv = ["cox", str(data), "--time", "os_months", "--event", "os_event", "--covariates",
            "age,arm"]
    status, _, err = check(argv, ("ids.csv",), capsys)
    assert status == 0, err
