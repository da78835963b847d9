"""What the command line promises beyond reading a file: --start and --weights reach the
statistics, warnings reach stderr and the JSON, a term R gives as NA is null, a log-rank
test that cannot be computed says why, and every data problem is one line with exit 2.

Oracles: the API on the same data (proven against R in tests/stats), and R's answers for the
handed cases (tests/data/bad/README.md gives the R calls; R survival 3.5-3).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from metsurv.cli import main
from metsurv.cli._errors import run
from metsurv.errors import CohortError, DataError

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
WARN = "metsurv: warning: "


def _json(argv: list[str], capsys) -> tuple[dict, list[str]]:
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err.splitlines()


def _refusal(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    return captured.err


# ------------------------------------------------------------------------- Cox: NA and Inf
def test_cox_aliased_term_is_null_with_a_warning(capsys):
    """R: ``coxph(Surv(time, status) ~ dose_g + dose_mg + age, 02_collinear)``: dose_mg NA
    (aliased, dose_mg = 1000 dose_g), dose_g -0.98464462, age 0.03615649 (1e-6 relative);
    the PH test leaves dose_mg out (GLOBAL on 2 df)."""
    out, err = _json(["cox", str(BAD / "02_collinear.csv"), "--time", "time", "--event",
                      "status", "--covariates", "dose_g,dose_mg,age"], capsys)
    terms = {t["term"]: t for t in out["terms"]}
    assert all(terms["dose_mg"][k] is None for k in ("coef", "se", "hr", "lower", "upper", "p"))
    assert terms["dose_g"]["coef"] == pytest.approx(-0.98464462, rel=1e-6)
    assert terms["age"]["coef"] == pytest.approx(0.03615649, rel=1e-6)
    assert any("dose_mg" in w for w in out["warnings"])
    assert [line[len(WARN):] for line in err] == out["warnings"]
    assert out["ph_test"][-1]["term"] == "GLOBAL" and out["ph_test"][-1]["df"] == 2
    assert main(["cox", str(BAD / "02_collinear.csv"), "--time", "time", "--event", "status",
                 "--covariates", "dose_g,dose_mg,age"]) == 0
    text = capsys.readouterr().out
    assert "NA" in next(line for line in text.splitlines() if line.startswith("dose_mg"))


def test_cox_monotone_likelihood_warns_infinite(capsys):
    """R: ``coxph(Surv(time, status) ~ x, 01_monotone_likelihood)`` warns "Loglik converged
    before variable 1; coefficient may be infinite"; the HR's upper limit is Inf."""
    out, err = _json(["cox", str(BAD / "01_monotone_likelihood.csv"), "--time", "time",
                      "--event", "status", "--covariates", "x"], capsys)
    assert any("infinite" in w for w in out["warnings"])
    assert any("infinite" in line for line in err)
    assert out["terms"][0]["upper"] == "Inf"


# ----------------------------------------------------------------- delayed entry and weights
def test_km_start_is_delayed_entry_as_R(capsys):
    """R: ``summary(survfit(Surv(entry, exit, status) ~ 1, 09_delayed_entry), times =
    c(5, 9))``: S(5) 0.512 (se 0.1982967), S(9) 0.2133333 (se 0.1262097), 1e-6 absolute."""
    out, _ = _json(["km", str(BAD / "09_delayed_entry.csv"), "--time", "exit", "--event",
                    "status", "--start", "entry", "--times", "5,9"], capsys)
    assert out["start"] == "entry"
    rows = out["groups"][0]["survival"]
    assert [r["estimate"] for r in rows] == pytest.approx([0.512, 0.2133333], abs=1e-6)
    assert [r["se"] for r in rows] == pytest.approx([0.1982967, 0.1262097], abs=1e-6)


def test_km_by_with_start_gives_the_left_truncated_logrank(capsys):
    """R ``survdiff`` refuses (start, stop] data; the CLI gives the log-rank on left-truncated
    risk sets, the same numbers as ``metsurv.stats.logrank(start=)`` (whose oracle is
    tests/reference/make_logrank_entry.R), never the untruncated test."""
    from metsurv.stats import logrank

    path = BAD / "09_delayed_entry.csv"
    out, _ = _json(["km", str(path), "--time", "exit", "--event", "status", "--start", "entry",
                    "--by", "x"], capsys)
    assert len(out["groups"]) == 2
    df = pd.read_csv(path)
    want = logrank(df, by="x", time="exit", event="status", start="entry")
    naive = logrank(df, by="x", time="exit", event="status")
    assert out["logrank"]["statistic"] == pytest.approx(want.statistic, rel=1e-12)
    assert out["logrank"]["p"] == pytest.approx(want.p, rel=1e-12)
    assert want.statistic != pytest.approx(naive.statistic, rel=1e-6)


def test_cohort_entry_time_is_the_default_start(capsys):
    """A cohort with entry_months gets delayed entry by default, and the CLI says so: the
    JSON names the column and equals the API's left-truncated KM (R survfit(Surv(
    entry_months, os_months, os_event) ~ 1))."""
    from metsurv.io import load_cohort
    from metsurv.stats.km import km

    path = BAD / "delayed_entry.csv"
    out, _ = _json(["km", str(path), "--times", "12,36"], capsys)
    assert out["start"] == "entry_months"
    want = km(load_cohort(str(path)), times=[12, 36], start="entry_months").survival_at()
    assert [r["estimate"] for r in out["groups"][0]["survival"]] == pytest.approx(
        want["estimate"].tolist(), abs=1e-12)
    assert main(["km", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Cohort: ") and "entry_months" in lines[1]


def test_plain_table_with_entry_months_is_left_truncated_as_a_cohort(capsys):
    """The same canonical file read as a plain table (--time os_months --event os_event)
    uses its entry_months as the cohort does, not the untruncated analysis."""
    path = BAD / "delayed_entry.csv"
    cohort, _ = _json(["km", str(path), "--times", "12,36"], capsys)
    plain, _ = _json(["km", str(path), "--time", "os_months", "--event", "os_event",
                      "--times", "12,36"], capsys)
    assert plain["start"] == "entry_months"
    assert [r["estimate"] for r in plain["groups"][0]["survival"]] == pytest.approx(
        [r["estimate"] for r in cohort["groups"][0]["survival"]], abs=1e-12)


def test_cohort_records_excluded_at_loading_are_accounted_for(tmp_path, capsys):
    """A record the loader excluded (here: entry on the day of death, no follow-up after
    entry) is in the km/cox answer: "cohort_flow" in JSON (read, excluded by reason), a
    first text line; read = analysed + excluded."""
    df = pd.read_csv(BAD / "delayed_entry.csv")
    df.loc[0, "entry_months"] = df.loc[0, "os_months"]
    path = tmp_path / "entry_after_end.csv"
    df.to_csv(path, index=False)
    out, _ = _json(["km", str(path)], capsys)
    flow = out["cohort_flow"]
    excluded = sum(e["count"] for e in flow["excluded"])
    assert flow["read"] == len(df) and excluded >= 1
    assert out["groups"][0]["n"] + out["n_dropped"] + excluded == len(df)
    cox_out, _ = _json(["cox", str(path), "--covariates", "age_at_metastasectomy"], capsys)
    assert cox_out["cohort_flow"] == flow
    assert main(["km", str(path)]) == 0
    assert "excluded at loading" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize("flag", ["--by", "--weights", "--start"])
def test_time_column_given_as_another_role_is_named_as_such(flag, capsys):
    err = _refusal(["km", str(BAD / "14_case_weights.csv"), "--time", "time", "--event",
                    "status", flag, "time"], capsys)
    assert "14_case_weights.csv" in err and "'time' is the time column" in err


def test_weights_reach_km_and_cox(capsys):
    """R: ``survfit(Surv(time, status) ~ arm, 14_case_weights, weights = w)`` at t = 2:
    A 0.75, B 0.875; ``coxph(Surv(time, status) ~ arm, weights = w)``: coef -0.692081346909
    (1e-8 relative), se 0.755968608; robust = TRUE: robust se 0.879018936 (1e-7 absolute).
    The log-rank stays unweighted (R survdiff has no weights): it equals the unweighted."""
    f = str(BAD / "14_case_weights.csv")
    base = ["--time", "time", "--event", "status"]
    out, _ = _json(["km", f, *base, "--by", "arm", "--weights", "w", "--times", "2"], capsys)
    assert out["weights"] == "w"
    assert [g["survival"][0]["estimate"] for g in out["groups"]] == pytest.approx(
        [0.75, 0.875], abs=1e-12)
    plain, _ = _json(["km", f, *base, "--by", "arm"], capsys)
    assert out["logrank"] == plain["logrank"]
    fit, _ = _json(["cox", f, *base, "--covariates", "arm", "--weights", "w", "--robust"],
                   capsys)
    term = fit["terms"][0]
    assert term["coef"] == pytest.approx(-0.692081346909, rel=1e-8)
    assert term["se"] == pytest.approx(0.755968608, abs=1e-7)
    assert term["robust_se"] == pytest.approx(0.879018936, abs=1e-7)


# ------------------------------------------------------------------ log-rank, Inf, negative
def test_one_group_curves_printed_and_logrank_not_computed(capsys):
    f = str(BAD / "one_group.csv")
    out, _ = _json(["km", f, "--by", "complete_resection"], capsys)
    assert len(out["groups"]) == 1
    assert out["logrank"] == {"not_computed": "one group"} == out["peto"]
    assert main(["km", f, "--by", "complete_resection"]) == 0
    assert "Log-rank: not computed: one group" in capsys.readouterr().out


def test_infinite_censoring_time_is_accepted_as_R(capsys):
    """R: ``survfit(Surv(time, status) ~ arm, 18_missing_and_inf)``: 3 rows dropped, the
    censoring at Inf kept; medians A 5, B 4."""
    out, _ = _json(["km", str(BAD / "18_missing_and_inf.csv"), "--time", "time", "--event",
                    "status", "--by", "arm"], capsys)
    assert out["n_dropped"] == 3
    assert [(g["group"], g["n"], g["median"]) for g in out["groups"]] == [("A", 3, 5.0),
                                                                          ("B", 3, 4.0)]
    out, _ = _json(["km", str(BAD / "inf_censoring.csv"), "--time", "os_months", "--event",
                    "os_event"], capsys)
    assert out["groups"][0]["n"] == 24 and out["n_dropped"] == 0


@pytest.mark.parametrize("argv", [
    ["km", "negative_time.csv", "--time", "os_months", "--event", "os_event"],
    ["cox", "negative_time.csv", "--time", "os_months", "--event", "os_event",
     "--covariates", "age_at_metastasectomy"],
])
def test_negative_time_printed_as_a_number(argv, capsys):
    err = _refusal([argv[0], str(BAD / argv[1]), *argv[2:]], capsys)
    assert "negative time -3;" in err and "row 6" in err and "'os_months'" in err
    assert "np.float64" not in err and "negative_time.csv" in err


@pytest.mark.parametrize("name, flags, fragment", [
    ("text_time.csv", [], "'unknown' is not a number"),
    ("weights_negative.csv", ["--weights", "w"], "'w'"),
    ("start_ge_stop.csv", ["--start", "entry_months"], "entry_months"),
    ("inf_event_time.csv", [], "os_months"),
    ("missing_event_column.csv", [], "no column 'os_event'"),
])
def test_data_problems_name_file_and_column(name, flags, fragment, capsys):
    err = _refusal(["km", str(BAD / name), "--time", "os_months", "--event", "os_event",
                    *flags], capsys)
    assert err.startswith(f"metsurv: {name}: ") and fragment in err


# ------------------------------------------------------------------------ the error path
def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(source="/data/reg.csv", debug=False, **kw)


@pytest.mark.parametrize("exc, status, fragment", [
    (DataError("no events: nothing to fit", column="os_event"), 2,
     "metsurv: reg.csv: column 'os_event': no events"),
    (DataError("column 'w': weight -1"), 2, "metsurv: reg.csv: column 'w': weight -1"),
    (CohortError("reg.csv: the file is empty\nexport it again"), 2,
     "metsurv: reg.csv: the file is empty; export it again"),
    (KeyError("age"), 2, "metsurv: reg.csv: there is no column 'age'"),
    (PermissionError(13, "Permission denied", "/out"), 2, "metsurv: /out: Permission denied"),
    (RuntimeError("boom"), 1, "metsurv: internal error (RuntimeError: boom)"),
])
def test_error_path(exc, status, fragment, capsys):
    def fail(args):
        raise exc

    assert run(fail, _args()) == status
    err = capsys.readouterr().err
    assert err.startswith(fragment) and len(err.splitlines()) == 1


def test_debug_shows_the_traceback():
    def fail(args):
        raise DataError("x")

    with pytest.raises(DataError):
        run(fail, argparse.Namespace(source="a.csv", debug=True))


@pytest.mark.parametrize("argv", [["km"], ["cox", "x.csv"], ["nope"], ["km", "x.csv",
                                                                       "--times", "a,b"]])
def test_usage_errors_are_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--help" in err


def test_help_exits_0(capsys):
    assert main(["km", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--start" in text and "--weights" in text and "survdiff has no weights" in text


def test_result_repr_prints_missing_as_NA():
    """One formatter: a log-rank whose p is undefined (no events) prints p = NA in repr."""
    from metsurv.stats.tests import logrank

    df = pd.DataFrame({"os_months": [1, 2, 3, 4], "os_event": [0, 0, 0, 0],
                       "g": list("aabb")})
    with pytest.warns(UserWarning):
        text = repr(logrank(df, by="g"))
    assert "p = NA" in text and "nan" not in text
