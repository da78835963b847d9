"""`metsurv.stats.compare.compare_treatments` and `metsurv compare` (issue 13).

Oracles: synthetic truth (the generator's confounded treatment with a stated conditional log
HR; the marginal ATE / ATO log HRs from :func:`metsurv.synthetic.treatment_truth`),
Rubin's rules as :func:`metsurv.stats.pool.pool` (itself checked against R ``mice::pool``
in tests/stats/test_impute.py) applied by hand to weighted Cox fits
(:func:`metsurv.stats.cox.cox`, R ``coxph(weights =, robust = TRUE)``), and counting
(every record read is analysed or excluded with a reason).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from metsurv.cli import main
from metsurv.errors import DataError
from metsurv.stats.compare import compare_treatments
from metsurv.stats.cox import cox
from metsurv.stats.impute import impute
from metsurv.stats.pool import pool
from metsurv.stats.propensity import propensity
from metsurv.synthetic import generate, treatment_truth
from metsurv.synthetic.calibration import analysis_frame

LEVELS = ("vats", "thoracotomy")
CONF = ["n_metastases_group", "dfi_group", "laterality"]
N = 4000
EFFECT_KEYS = {"estimate", "lower", "upper", "p"}


def _frame(log_hr: float, seed: int, n: int = N) -> pd.DataFrame:
    return analysis_frame(generate("irlm1997", n=n, seed=seed, outcome="ph",
                                   treatment_effect=log_hr))


def _quiet_compare(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare_treatments(*args, **kwargs)


@pytest.fixture(scope="module")
def cohort_csv(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("compare") / "c"
    assert main(["synth", "--preset", "irlm1997", "--n", "1500", "--outcome", "ph",
                 "--treatment-effect", "-0.5", "--seed", "5", "--out", str(out)]) == 0
    return str(out / "patients.csv")


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["compare", *argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _cli_json(capsys, csv: str, *extra: str) -> dict:
    code, out, err = _cli(capsys, csv, "--treatment", "approach", "--levels",
                          "vats,thoracotomy", "--confounders", ",".join(CONF), "--json",
                          *extra)
    assert code == 0, err
    return json.loads(out)


# --- the simulation test of the issue -------------------------------------------------


@pytest.mark.parametrize("log_hr", [0.0, -0.5])
def test_unadjusted_misses_and_weighted_cover_their_truths(log_hr):
    """Synthetic truth, n 4,000, seed 1 (fixed): confounding by the number of metastases and
    the DFI makes the unadjusted 95% CI miss the conditional log HR; the IPTW CI covers the
    marginal ATE log HR and the overlap CI the marginal ATO log HR (equal to the log HR
    when it is 0; for -0.5 about -0.44 and -0.46, non-collapsibility)."""
    f = _frame(log_hr, seed=1)
    iptw = _quiet_compare(f, "approach", LEVELS, CONF).to_dict()
    overlap = _quiet_compare(f, "approach", LEVELS, CONF, method="overlap").to_dict()
    ate = treatment_truth("irlm1997", log_hr, "ATE", n=50_000, seed=1)
    ato = treatment_truth("irlm1997", log_hr, "ATO", n=50_000, seed=1)
    un = iptw["unadjusted_hr"]
    # VATS patients have fewer metastases and longer DFIs: the crude HR flatters VATS
    assert np.log(un["upper"]) < log_hr - 0.1
    for eff, truth in ((iptw["hr"], ate), (overlap["hr"], ato)):
        assert np.log(eff["lower"]) < truth < np.log(eff["upper"])
        assert abs(np.log(eff["estimate"]) - truth) < 0.1
    assert (iptw["method"], iptw["estimand"]) == ("iptw", "ATE")
    assert (overlap["method"], overlap["estimand"]) == ("overlap", "ATO")


# --- the JSON object -------------------------------------------------------------------


def test_json_keys_and_counts(cohort_csv, capsys):
    """The keys the issue lists, every record counted: n + excluded (analysis and loading)
    == records read, and the groups add up to n."""
    d = _cli_json(capsys, cohort_csv)
    assert {"n", "method", "estimand", "balance", "ess", "hr", "unadjusted_hr",
            "rmst_difference", "warnings"} <= set(d)
    for key in ("hr", "unadjusted_hr", "rmst_difference"):
        assert EFFECT_KEYS <= set(d[key])
        e = d[key]
        assert e["lower"] < e["estimate"] < e["upper"] and 0 <= e["p"] <= 1
    assert all(set(b) == {"covariate", "smd_unweighted", "smd_weighted"} for b in d["balance"])
    # 3 levels of n_metastases_group and dfi_group, bilateral laterality (cobalt: binary
    # factors give one row)
    assert len(d["balance"]) == 7
    assert set(d["ess"]) == {"treated", "control"}
    assert 0 < d["ess"]["treated"] <= d["n_by_group"]["treated"]
    assert isinstance(d["warnings"], list)
    flow = d["cohort_flow"]
    at_loading = sum(e["count"] for e in flow["excluded"])
    assert d["n"] + sum(e["n"] for e in d["excluded"]) + at_loading == flow["read"] == 1500
    assert d["n_by_group"]["treated"] + d["n_by_group"]["control"] == d["n"]
    reasons = {e["column"] for e in d["excluded"]}
    assert "approach" in reasons  # sternotomy, clamshell, robotic and missing approaches


def test_every_excluded_row_counted_including_missing_outcome():
    """API on a plain frame: missing outcome, treatment, confounder each counted once;
    n + excluded == rows, with and without imputation."""
    f = _frame(-0.5, seed=2, n=800)[["approach", *CONF, "os_months", "os_event"]].copy()
    f.loc[f.index[:25], "os_months"] = np.nan
    f.loc[f.index[25:35], "os_event"] = np.nan
    for m in (0, 2):
        d = _quiet_compare(f, "approach", LEVELS, CONF, impute=m, seed=1).to_dict()
        assert d["n"] + sum(e["n"] for e in d["excluded"]) == len(f)
        missing_outcome = sum(e["n"] for e in d["excluded"] if e["reason"] == "outcome missing")
        in_levels = f["approach"].isin(LEVELS)  # the treatment is checked first, then the
        # outcome, alike with and without imputation
        assert missing_outcome == int((f[["os_months", "os_event"]].isna().any(axis=1)
                                       & in_levels).sum())
    # complete cases: every analysed row has its confounders, imputation keeps them all
    cc = _quiet_compare(f, "approach", LEVELS, CONF)
    ok = f["approach"].isin(LEVELS) & f[[*CONF, "os_months", "os_event"]].notna().all(axis=1)
    assert cc.n["total"] == int(ok.sum())


def test_same_seed_same_json(cohort_csv, capsys):
    a = _cli_json(capsys, cohort_csv, "--impute", "2", "--seed", "4")
    b = _cli_json(capsys, cohort_csv, "--impute", "2", "--seed", "4")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["imputations"] == 2 and a["seed"] == 4
    c = _cli_json(capsys, cohort_csv, "--impute", "2", "--seed", "5")
    assert c["hr"]["estimate"] != a["hr"]["estimate"]


# --- pooled estimates --------------------------------------------------------------------


def test_pooled_hr_is_rubins_rules_over_the_imputations():
    """Oracle: pool() (mice::pool) applied by hand to the m weighted Cox log HRs and their
    robust variances (R coxph(weights = w, robust = TRUE)), each on one completed data set
    with its own propensity model; 1e-10 relative."""
    f = _frame(-0.5, seed=6, n=1200)
    m, seed = 3, 11
    got = _quiet_compare(f, "approach", LEVELS, CONF, impute=m, seed=seed, iterations=5)
    ready = f[f["approach"].isin(LEVELS) & f[["os_months", "os_event"]].notna().all(axis=1)]
    imp = impute(ready, CONF, m=m, seed=seed, iterations=5, time="os_months",
                 event="os_event", auxiliary=["approach"])
    est, var = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d in imp:
            ps = propensity(d, "approach", LEVELS, CONF)
            fit = cox(ps.data, ["approach"], reference={"approach": LEVELS[1]},
                      weights="weight", robust=True)
            est.append(fit.coef[0])
            var.append(fit.robust_se[0] ** 2)
    # mice get.dfcom for a one-term coxph: events - 1
    ref = pool(np.array(est)[:, None], np.array(var)[:, None],
               dfcom=int(ready["os_event"].sum()) - 1).iloc[0]
    hr = got.to_dict()["hr"]
    np.testing.assert_allclose(
        [hr["estimate"], hr["lower"], hr["upper"], hr["p"], hr["fmi"], hr["df"]],
        [np.exp(ref["estimate"]), np.exp(ref["lower"]), np.exp(ref["upper"]), ref["p"],
         ref["fmi"], ref["df"]], rtol=1e-10)
    assert len(set(np.round(est, 12))) == m  # the imputations differ
    # the unadjusted comparison does not involve the confounders: one fit on all rows
    crude = cox(ready, ["approach"], reference={"approach": LEVELS[1]})
    assert got.to_dict()["unadjusted_hr"]["estimate"] == pytest.approx(
        np.exp(crude.coef[0]), rel=1e-10)


# --- refusals ------------------------------------------------------------------------------


def test_levels_error_names_the_values_present(cohort_csv, capsys):
    code, out, err = _cli(capsys, cohort_csv, "--treatment", "approach", "--levels",
                          "vats,robot", "--confounders", "laterality")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "'robot'" in err and "thoracotomy" in err and "sternotomy" in err
    code, _, err = _cli(capsys, cohort_csv, "--treatment", "approach", "--levels", "vats",
                        "--confounders", "laterality")
    assert code == 2 and "two different values" in err


def test_separation_exits_2_with_one_line(cohort_csv, capsys, tmp_path):
    p = pd.read_csv(cohort_csv, dtype=str)
    p["laterality"] = np.where(p["approach"] == "vats", "unilateral", "bilateral")
    bad = tmp_path / "patients.csv"
    p.to_csv(bad, index=False)
    code, out, err = _cli(capsys, str(bad), "--treatment", "approach", "--levels",
                          "vats,thoracotomy", "--confounders", "n_metastases_group,laterality")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "laterality" in lines[0] and "overlap" in lines[0]


def test_impute_1_refused(cohort_csv, capsys):
    code, out, err = _cli(capsys, cohort_csv, "--treatment", "approach", "--levels",
                          "vats,thoracotomy", "--confounders", "laterality", "--impute", "1")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "--impute 1" in err
    with pytest.raises(DataError, match="at least 2"):
        compare_treatments(_frame(0.0, 1, n=200), "approach", LEVELS, CONF, impute=1)


def test_overlap_with_att_refused(cohort_csv, capsys):
    code, out, err = _cli(capsys, cohort_csv, "--treatment", "approach", "--levels",
                          "vats,thoracotomy", "--confounders", "laterality", "--method",
                          "overlap", "--estimand", "att")
    assert code == 2 and out == "" and "--estimand ate" in err
    with pytest.raises(DataError, match="method"):
        compare_treatments(_frame(0.0, 1, n=200), "approach", LEVELS, CONF, method="psm")
