"""The bad-data corpus (tests/data/bad, described in its README.md) through every subcommand
that can take it: validate, km and cox (on the cohort, and on the file as a plain survival
table with --time/--event, as text and as JSON), irlm, report (on a few files: it is slow)
and synth with bad arguments.

Oracle: the CLI's contract (metsurv.cli._errors), not numbers: exit status 0 or 2, never 1;
no "internal error" and no traceback; a refusal is ONE line on stderr naming the file; on
success stderr holds only ``metsurv: warning: ...`` lines, the same as the JSON "warnings".
Each case's id names the file and the subcommand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metsurv.cli import main

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"

#: Data files (mappings are listed in MAPPED).
FILES = sorted(p.name for p in BAD.iterdir()
               if p.suffix not in (".yaml", ".md", ".py"))

#: How each file is read as a plain survival table (km/cox --time/--event): the columns of
#: the outcome, a grouping column and covariates. Files not listed use the canonical names.
CANONICAL = {"time": "os_months", "event": "os_event", "by": "resection_status",
             "covariates": "age_at_metastasectomy,resection_status"}
TABLE: dict[str, dict[str, str]] = {
    "01_monotone_likelihood.csv": {"time": "time", "event": "status", "by": "x",
                                   "covariates": "x,age"},
    "02_collinear.csv": {"time": "time", "event": "status",
                         "covariates": "dose_g,dose_mg,age"},
    "09_delayed_entry.csv": {"time": "exit", "event": "status", "start": "entry", "by": "x",
                             "covariates": "x,age"},
    "14_case_weights.csv": {"time": "time", "event": "status", "by": "arm", "weights": "w",
                            "covariates": "arm"},
    "16_zero_events.csv": {"time": "time", "event": "status", "by": "arm",
                           "covariates": "x"},
    "18_missing_and_inf.csv": {"time": "time", "event": "status", "by": "arm",
                               "covariates": "arm"},
    "19_step_halving.csv": {"time": "time", "event": "status", "covariates": "x,z"},
    "aliased_covariates.csv": {**CANONICAL,
                               "covariates": "age_at_metastasectomy,age_months"},
    "constant_covariate.csv": {**CANONICAL, "covariates": "age_at_metastasectomy"},
    "weights_negative.csv": {**CANONICAL, "weights": "w"},
    "weights_missing.csv": {**CANONICAL, "weights": "w"},
    "weights_infinite.csv": {**CANONICAL, "weights": "w"},
    "start_ge_stop.csv": {**CANONICAL, "start": "entry_months"},
    "delayed_entry.csv": {**CANONICAL, "start": "entry_months"},
}

#: (data file, mapping file): a mapping that is wrong, broken, hostile or needed.
MAPPED = [
    ("good.csv", "wrong_mapping.yaml"),
    ("good.csv", "broken_mapping.yaml"),
    ("good.csv", "map_billion_laughs.yaml"),
    ("xss_columns.csv", "xss_mapping.yaml"),
    ("C04_csv_de_thousands_dfi_days.csv", "C04a_map_days.yaml"),
]

#: Read through one subcommand only: every subcommand reads a mapping the same way, and
#: this one took a minute to refuse when it was written (the YAML aliases expand).
SLOW_MAPPINGS = {"map_billion_laughs.yaml"}

#: The report is slow (figures, PDF): a few files with different problems.
REPORTED = ["good.csv", "no_events.csv", "one_group.csv", "header_only.csv",
            "level_without_events.csv"]


def _table_args(name: str) -> list[str]:
    spec = TABLE.get(name, CANONICAL)
    args = ["--time", spec["time"], "--event", spec["event"]]
    for key in ("start", "weights"):
        if key in spec:
            args += [f"--{key}", spec[key]]
    return args


def _cases() -> list:
    cases = []
    for name in FILES:
        f = str(BAD / name)
        spec = TABLE.get(name, CANONICAL)
        by = ["--by", spec["by"]] if "by" in spec else []
        runs = {
            "validate": ["validate", f],
            "validate-json": ["validate", f, "--json"],
            "irlm": ["irlm", f],
            "km-cohort-json": ["km", f, "--by", "complete_resection", "--json"],
            "cox-cohort": ["cox", f, "--covariates", "complete_resection,age_at_metastasectomy"],
            "km-table": ["km", f, *_table_args(name), *by, "--times", "6,24"],
            "km-table-json": ["km", f, *_table_args(name), *by, "--json"],
            "cox-table": ["cox", f, *_table_args(name), "--covariates", spec["covariates"]],
            "cox-table-json": ["cox", f, *_table_args(name), "--covariates",
                               spec["covariates"], "--json"],
        }
        cases += [pytest.param(argv, (name,), id=f"{name}-{cmd}") for cmd, argv in runs.items()]
    for data, mapping in MAPPED:
        f, m = str(BAD / data), str(BAD / mapping)
        if mapping in SLOW_MAPPINGS:
            cases.append(pytest.param(["validate", f, "--mapping", m], (data, mapping),
                                      id=f"{data}+{mapping}-validate"))
            continue
        runs = {
            "validate": ["validate", f, "--mapping", m],
            "irlm": ["irlm", f, "--mapping", m, "--json"],
            "km-cohort": ["km", f, "--mapping", m],
            "km-table": ["km", f, "--mapping", m, "--time", "os_months", "--event", "os_event"],
        }
        cases += [pytest.param(argv, (data, mapping), id=f"{data}+{mapping}-{cmd}")
                  for cmd, argv in runs.items()]
    return cases


def check(argv: list[str], names: tuple[str, ...], capsys) -> tuple[int, str, str]:
    """Run ``metsurv argv`` in-process and assert the CLI contract; return (status, out, err)."""
    status = main(argv)
    captured = capsys.readouterr()
    out, err = captured.out, captured.err
    where = f"metsurv {' '.join(argv)}"
    assert status in (0, 2), f"{where}: exit {status}\n{err}"
    assert "internal error" not in err and "Traceback" not in err, f"{where}:\n{err}"
    lines = err.splitlines()
    if status == 2:
        assert len(lines) == 1, f"{where}: a refusal must be one line:\n{err}"
        assert lines[0].startswith("metsurv"), f"{where}: {err}"
        if names:
            assert any(n in lines[0] for n in names), f"{where}: names no file: {err}"
        assert out == "", f"{where}: a refusal prints nothing on stdout"
    else:
        bad = [line for line in lines if not line.startswith("metsurv: warning: ")]
        assert not bad, f"{where}: stderr not a metsurv warning: {bad}"
        if "--json" in argv:
            payload = json.loads(out)
            if argv[0] in ("km", "cox", "irlm"):
                assert payload["warnings"] == [line[len("metsurv: warning: "):]
                                               for line in lines], where
    return status, out, err


@pytest.mark.parametrize("argv, names", _cases())
def test_corpus(argv, names, capsys):
    check(argv, names, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORTED)
def test_corpus_report(name, tmp_path, capsys):
    check(["report", str(BAD / name), "--out", str(tmp_path / "r")], (name,), capsys)


@pytest.mark.parametrize("args", [
    ["--preset", "nope"],
    ["--preset", "sarcoma", "--n", "0"],
    ["--preset", "sarcoma", "--n", "many"],
    ["--preset", "sarcoma", "--seed", "-1"],
    ["--preset", "sarcoma", "--dialect", "xx"],
    ["--preset", "sarcoma"],  # no --out
    ["--preset", "sarcoma", "--n", "20", "--out", "FILE"],  # --out is an existing file
], ids=lambda a: " ".join(a))
def test_synth_bad_arguments(args, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("a file, not a directory")
    argv = ["synth", *[str(target) if a == "FILE" else a for a in args]]
    status, _, err = check(argv, (), capsys)
    assert status == 2
    if "FILE" in args:
        assert "taken" in err


def test_corpus_is_complete():
    """Every file of the corpus is run (a new file without a case would test nothing), and
    the corpus holds each kind of problem the CLI must survive."""
    assert len(FILES) >= 35
    mappings = {p.name for p in BAD.glob("*.yaml")}
    assert mappings == {m for _, m in MAPPED}
    assert set(TABLE) <= set(FILES) and set(REPORTED) <= set(FILES)
