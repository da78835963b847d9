"""The issue-5 statistics on a Cohort from ``metsurv.load_cohort`` (dates, a resections
table, nullable booleans and Categoricals exactly as the loader makes them)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import metsurv
from metsurv.schema import DAYS_PER_MONTH
from metsurv.stats.competing import cause_specific_cox, cuminc
from metsurv.stats.irlm import irlm_comparisons
from metsurv.stats.landmark import landmark
from metsurv.stats.timevarying import counting_process_cox, naive_repeat_resection_comparison


@pytest.fixture(scope="module")
def registry():
    rng = np.random.default_rng(5)
    n = 300
    op = pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D")
    death, cens = rng.exponential(1200, n), rng.uniform(300, 4000, n)
    fu = np.minimum(death, cens).astype(int) + 1
    rec = rng.exponential(600, n).astype(int) + 1
    has_rec = rec < fu
    rep = rec + 60
    has_rep = has_rec & (rep < fu) & (rng.random(n) < 0.5)
    patients = pd.DataFrame({
        "patient_id": [f"p{i}" for i in range(n)],
        "metastasectomy_date": op,
        "last_followup_date": op + pd.to_timedelta(fu, unit="D"),
        "vital_status": np.where(death <= cens, "dead", "alive"),
        "recurrence_date": pd.Series(op + pd.to_timedelta(rec, unit="D")).where(has_rec),
        "recurrence_site": pd.Series(rng.choice(["pulmonary", "extrathoracic", "both"], n))
        .where(has_rec),
        "resection_status": rng.choice(["R0", "R1", "R2"], n, p=[0.8, 0.15, 0.05]),
        "dfi_months": rng.exponential(30, n).round(1),
        "n_metastases": rng.integers(1, 7, n),
        "histology": rng.choice(["leiomyosarcoma", "osteosarcoma", "adenocarcinoma",
                                 "melanoma"], n),
        "nodal_status": rng.choice(["N0", "N1", "N2", "NX"], n),
    })
    resections = pd.concat([
        pd.DataFrame({"patient_id": patients["patient_id"], "operation_date": op}),
        pd.DataFrame({"patient_id": patients["patient_id"][has_rep],
                      "operation_date": (op + pd.to_timedelta(rep, unit="D"))[has_rep]}),
    ])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        cohort = metsurv.load_cohort(patients, resections=resections)
    second = pd.Series(np.where(has_rep, rep / DAYS_PER_MONTH, np.nan),
                       index=patients["patient_id"])
    return cohort, second


def test_landmark_on_loaded_cohort(registry):
    cohort, second = registry
    res = landmark(cohort, at=24)
    p = cohort.patients
    alive = p[p["os_months"] > 24]
    assert res.n_eligible + res.n_unknown_exposure == len(alive)
    expected = (second.reindex(alive["patient_id"]) <= 24).sum()
    assert res.n_exposed == expected
    assert res.cox is not None and "repeat_resection[True]" in res.cox.terms


def test_time_dependent_and_naive_on_loaded_cohort(registry):
    cohort, _ = registry
    fit = counting_process_cox(cohort, baseline=("complete_resection", "dfi_group"))
    assert fit.table["term"].tolist() == ["repeat_resection[True]", "complete_resection[False]",
                                          "dfi_group[0-11]", "dfi_group[12-35]"]
    assert fit.n_patients == len(cohort.patients)
    with pytest.warns(UserWarning, match="immortal"):
        naive = naive_repeat_resection_comparison(cohort, i_understand_immortal_time_bias=True)
    assert naive.n_repeat == int((cohort.patients["n_metastasectomies"] >= 2).sum())


def test_competing_risks_on_loaded_cohort(registry):
    cohort, _ = registry
    res = cuminc(cohort, by="complete_resection")
    assert res.causes == (1, 2, 3) and len(res.tests) == 3
    assert res.n_dropped == int(cohort.patients["dfs_event"].isna().sum())
    cs = cause_specific_cox(cohort, ["complete_resection"])
    assert cs.terms == ("complete_resection[False]",)


def test_battery_on_loaded_cohort(registry):
    cohort, _ = registry
    for endpoint in ("os", "dfs"):
        res = irlm_comparisons(cohort, endpoint=endpoint)
        assert "chemo_response" in res.skipped
        assert set(res.factors["factor"]) >= {"complete_resection", "irlm_group",
                                              "leiomyosarcoma"}
