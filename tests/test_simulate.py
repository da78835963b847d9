"""`metsurv.simulate` and `metsurv simulate` (issue 14).

Oracles: the performance measures of Morris, White & Crowther 2019 (Stat Med 38:2074, Table
6) written out here on a fixed small table; synthetic truth (the ``ph`` model's stated log
HRs) for the Cox analysis; determinism by seed.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import metsurv.simulate
from metsurv.cli import _Parser
from metsurv.cli import simulate as simulate_cli
from metsurv.cli._errors import run
from metsurv.errors import DataError
from metsurv.simulate import MIN_N, _cox_bad, _replicate, _row, cox_truth, simulate, summarise

TABLE = pd.DataFrame({
    "replicate": [0, 1, 2, 3, 4, 0, 1, 2, 3, 4],
    "term": ["a"] * 5 + ["b"] * 5,
    "truth": [0.5] * 5 + [0.0] * 5,
    "estimate": [0.30, 0.55, 0.62, 0.48, np.nan, 0.1, -0.2, 0.05, 0.3, -0.1],
    "se": [0.10, 0.12, 0.11, 0.09, np.nan, 0.2, 0.2, 0.25, 0.15, 0.2],
    "lower": [0.10, 0.31, 0.40, 0.30, np.nan, -0.3, -0.6, -0.45, 0.005, -0.5],
    "upper": [0.50, 0.79, 0.84, 0.66, np.nan, 0.5, 0.2, 0.55, 0.595, 0.3],
    "p": [0.01, 0.001, 0.0001, 0.002, np.nan, 0.6, 0.3, 0.8, 0.04, 0.6],
})


def main(argv: list[str]) -> int:
    """``metsurv simulate`` through its own parser (same path as ``metsurv.cli.main`` once
    the subcommand is registered there)."""
    parser = _Parser(prog="metsurv")
    simulate_cli.add_parser(parser.add_subparsers(dest="command", parser_class=_Parser))
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code)
    return run(args.func, args)


def test_summary_matches_morris_table6_by_hand():
    """Morris et al. 2019 Table 6, term a (4 finite replicates) and b (5)."""
    s = {r["term"]: r for r in summarise(TABLE)}
    x = np.array([0.30, 0.55, 0.62, 0.48])
    n = 4
    mean = x.sum() / n
    emp = math.sqrt(((x - mean) ** 2).sum() / (n - 1))
    v = np.array([0.10, 0.12, 0.11, 0.09]) ** 2
    mod = math.sqrt(v.mean())
    var_v = ((v - v.mean()) ** 2).sum() / (n - 1)
    a = s["a"]
    assert a["n"] == 4 and a["truth"] == 0.5
    assert a["bias"]["estimate"] == pytest.approx(mean - 0.5, abs=1e-15)
    assert a["bias"]["mcse"] == pytest.approx(math.sqrt(((x - mean) ** 2).sum()
                                                        / (n * (n - 1))), abs=1e-15)
    assert a["empirical_se"]["estimate"] == pytest.approx(emp, abs=1e-15)
    assert a["empirical_se"]["mcse"] == pytest.approx(emp / math.sqrt(2 * (n - 1)), abs=1e-15)
    assert a["model_se"]["estimate"] == pytest.approx(mod, abs=1e-15)
    assert a["model_se"]["mcse"] == pytest.approx(math.sqrt(var_v / (4 * n * mod**2)),
                                                  abs=1e-15)
    # 0.5 in [0.10, 0.50], [0.31, 0.79], [0.40, 0.84], [0.30, 0.66]: all 4 cover
    assert a["coverage"]["estimate"] == 1.0 and a["coverage"]["mcse"] == 0.0
    assert a["rejection"]["estimate"] == 1.0
    b = s["b"]
    # 0 outside [0.005, 0.595] only: coverage 4/5; one p <= 0.05
    assert b["coverage"]["estimate"] == pytest.approx(0.8)
    assert b["coverage"]["mcse"] == pytest.approx(math.sqrt(0.8 * 0.2 / 5))
    assert b["rejection"]["estimate"] == pytest.approx(0.2)
    assert b["rejection"]["mcse"] == pytest.approx(math.sqrt(0.2 * 0.8 / 5))


def test_cox_truth_against_reference_level():
    log_hr = {"dfi_group=0-11": 0.45, "dfi_group=12-35": 0.25}
    assert cox_truth("dfi_group[0-11]", {"dfi_group": ">=36"}, log_hr) == 0.45
    assert cox_truth("dfi_group[0-11]", {"dfi_group": "12-35"}, log_hr) == pytest.approx(0.2)
    assert cox_truth("sex[male]", {"sex": "female"}, log_hr) == 0.0
    assert math.isnan(cox_truth("dfi_group[0-11]", {"dfi_group": ">=36"}, None))


@pytest.fixture(scope="module")
def cox_study():
    return simulate("irlm1997", 1500, "cox", 8, seed=5, progress=False)


def test_cox_bias_near_zero_and_coverage_plausible(cox_study):
    """Synthetic truth: pooled over the 9 terms, |bias| within 3 MC SEs and coverage of
    the 72 intervals in a plausible range for 95% intervals."""
    assert cox_study.n_failed == 0
    for s in cox_study.summary:
        assert s["n"] == 8 and np.isfinite(s["truth"])
        assert abs(s["bias"]["estimate"]) <= 3 * s["bias"]["mcse"] + 0.02, s
    cov = np.mean([s["coverage"]["estimate"] for s in cox_study.summary])
    assert 0.8 <= cov <= 1.0


def test_json_keys_and_determinism(capsys, cox_study):
    argv = ["simulate", "--preset", "irlm1997", "--n", "400", "--analysis", "cox",
            "--covariates", "dfi_group,n_metastases_group", "--replicates", "3",
            "--seed", "2", "--json"]
    outs = []
    for _ in range(2):
        capsys.readouterr()
        assert main(argv) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    d = json.loads(outs[0])
    assert {"replicates", "failed", "seed", "summary"} <= set(d)
    assert d["replicates"] == 3 and d["seed"] == 2 and d["failed"] == []
    for s in d["summary"]:
        assert {"term", "truth", "bias", "empirical_se", "model_se", "coverage",
                "rejection"} <= set(s)
        for key in ("bias", "empirical_se", "model_se", "coverage", "rejection"):
            assert set(s[key]) == {"estimate", "mcse"}
    capsys.readouterr()
    assert main(argv[:-3] + ["--seed", "3", "--json"]) == 0
    assert capsys.readouterr().out != outs[0]


def test_bad_covariate_refused_before_running(capsys):
    """A covariate that is not a column of the loaded cohort: DataError naming it and the
    valid columns, before any replicate runs, and no non-collapsibility warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match="'no_such_column'.*valid columns: .*dfi_group"):
            simulate("irlm1997", 200, "cox", 3, seed=1, covariates=["no_such_column"],
                     progress=False)
    assert not [w for w in caught if "collapsib" in str(w.message)]
    with pytest.raises(DataError, match="'nope'"):  # an interaction's columns are checked
        simulate("irlm1997", 200, "cox", 3, covariates=["dfi_group:nope"], progress=False)
    capsys.readouterr()
    assert main(["simulate", "--preset", "irlm1997", "--analysis", "cox", "--covariates",
                 "nope", "--n", "200", "--replicates", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'nope'" in err and "dfi_group" in err


def test_too_few_patients_refused(capsys):
    with pytest.raises(ValueError, match=f"at least {MIN_N} patients"):
        simulate("irlm1997", MIN_N - 1, "cox", 3, progress=False)
    assert main(["simulate", "--preset", "irlm1997", "--analysis", "cox", "--n", "1",
                 "--replicates", "3"]) == 2
    assert "at least 20 patients" in capsys.readouterr().err


def _fail_some(rng, index, design):
    if index in (0, 3):
        raise ZeroDivisionError(f"deliberate failure {index}")
    return _replicate(rng, index, design)


def _fail_all(rng, index, design):
    raise ZeroDivisionError("deliberate failure")


def test_every_replicate_failed_raises(monkeypatch, capsys):
    monkeypatch.setattr(metsurv.simulate, "_replicate", _fail_all)
    with pytest.raises(DataError, match="all 3 replicates failed .*deliberate failure"):
        simulate("irlm1997", 50, "logrank", 3, progress=False)
    assert main(["simulate", "--preset", "irlm1997", "--analysis", "logrank", "--n", "50",
                 "--replicates", "3"]) == 2
    assert "all 3 replicates failed" in capsys.readouterr().err


def test_some_replicates_failed_warned(monkeypatch):
    monkeypatch.setattr(metsurv.simulate, "_replicate", _fail_some)
    with pytest.warns(UserWarning, match="2 of 6 replicates failed"):
        res = simulate("irlm1997", 100, "logrank", 6, seed=2, progress=False)
    d = res.to_dict()
    assert d["n_failed"] == 2 and [f["replicate"] for f in d["failed"]] == [0, 3]
    assert any(w.startswith("2 of 6 replicates failed (first error: ZeroDivisionError: "
                            "deliberate failure 0); the summary covers the other 4 only")
               for w in d["warnings"])
    assert d["summary"][0]["rejection"]["estimate"] is not None


class _Fit:
    terms = ("a", "b", "c", "d")
    coef = np.array([0.5, 19.0, np.nan, 0.3])
    se = np.array([0.1, 3000.0, np.nan, 0.0])
    warnings = ("Loglik converged before variable 2 (b); coefficient may be infinite",)


def test_bad_cox_terms_flagged():
    """Not estimable (NaN), SE 0, and a term named in R's monotone-likelihood warning."""
    assert _cox_bad(_Fit()) == {"b": "coefficient may be infinite", "c": "not estimable",
                                "d": "SE 0 or non-finite"}
    r = _row("d", 0.0, 0.3, 0.0, 0.3, 0.3, float("nan"))
    assert math.isnan(r["estimate"]) and r["excluded"] == "SE 0 or non-finite"


def test_bad_fits_left_out_of_summary():
    """sarcoma, 30 patients: nodal_status[N1] (few patients) is not estimable or separated
    in some replicates; those rows are NaN, counted in a warning, and not summarised."""
    with pytest.warns(UserWarning, match="bad fits left out"):
        res = simulate("sarcoma", 30, "cox", 20, seed=0, progress=False)
    t = res.table
    bad = t.loc[t["excluded"] != ""]
    assert len(bad) > 0 and bad["estimate"].isna().all() and bad["se"].isna().all()
    assert bad["p"].isna().all()
    good = t.loc[t["excluded"] == ""]
    assert np.isfinite(good["estimate"]).all() and (good["se"] > 0).all()
    per = bad.groupby("term").size()
    by_term = {s["term"]: s for s in res.summary}
    for term, k in per.items():
        assert by_term[term]["n"] == 20 - k
        assert f"{term}: {k}" in res.warnings[-1]


def test_treatment_effect_not_analysed_warned():
    with pytest.warns(UserWarning, match="only changes the data"):
        res = simulate("irlm1997", 60, "logrank", 2, treatment_effect=0.5, progress=False)
    assert any("only changes the data" in w for w in res.warnings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = simulate("irlm1997", 60, "logrank", 2, treatment_effect=0.5,
                       covariates=["approach"], progress=False)
    assert not any("only changes the data" in str(w.message) for w in caught)


def test_naive_is_biased_and_counting_process_not():
    design = {"preset": "irlm1997", "n": 3000, "analysis": "naive", "outcome": "ph",
              "treatment_effect": None, "covariates": [], "alpha": 0.05, "truth": np.nan}
    rng = np.random.default_rng(1)
    naive = _replicate(rng, 0, design)[0]
    assert naive["truth"] == 0.0 and naive["estimate"] < -0.2
    rng = np.random.default_rng(1)
    tv = _replicate(rng, 0, {**design, "analysis": "counting_process"})[0]
    assert abs(tv["estimate"]) < 3 * tv["se"]


def test_usage_errors(capsys):
    assert main(["simulate", "--preset", "irlm1997", "--n", "100", "--analysis", "compare",
                 "--replicates", "2"]) == 2
    assert "treatment effect" in capsys.readouterr().err
