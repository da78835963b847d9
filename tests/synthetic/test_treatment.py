"""The confounded treatment of the synthetic generator (issue 13, item 5): manifest keys, the
default path unchanged, confounding strong enough that the unadjusted Cox HR misses the
truth at 4,000 patients, and the HR weighted by the true inverse assignment probabilities
covering it. Oracle: synthetic truth (the stated log HR and the generator's own assignment
probabilities, ``truth["p_treated"]``)."""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from metsurv.cli import main
from metsurv.errors import CohortError
from metsurv.stats import cox
from metsurv.synthetic import generate
from metsurv.synthetic.calibration import analysis_frame
from metsurv.synthetic.cli import synth_command
from metsurv.synthetic.presets import TREATMENT

N = 4000


def _digest(cohort) -> str:
    h = hashlib.sha256()
    for frame in (cohort.patients, cohort.resections, cohort.truth):
        h.update(frame.to_csv().encode())
    h.update(json.dumps(cohort.manifest, sort_keys=True, default=str).encode())
    return h.hexdigest()


#: _digest of generate("irlm1997", n=2000, seed=0, outcome=...) taken before the treatment
#: model existed (checked equal after it was added): the default path draws what it drew then.
BEFORE = {
    "calibrated": "0a45f0241ac24e975ead95959ce0edb1cb3761a1f9ea4dd29450955facec2267",
    "ph": "b8b7b278eb48ad98fbb19bb34caebeee19965dc65f0ca58f66aabb96e7a458a0",
}


@pytest.mark.parametrize("outcome", sorted(BEFORE))
def test_default_path_byte_identical_to_before(outcome):
    assert _digest(generate("irlm1997", n=2000, seed=0, outcome=outcome)) == BEFORE[outcome]


def test_default_path_unchanged_by_the_treatment_option():
    a = generate("irlm1997", n=2000, seed=0, outcome="ph")
    b = generate("irlm1997", n=2000, seed=0, outcome="ph", treatment_effect=None)
    assert _digest(a) == _digest(b)
    assert "treatment" not in a.manifest["true_parameters"]
    assert list(a.truth.columns) == ["patient_id", "cured", "score", "death_months",
                                     "cancer_death_months", "censor_months",
                                     "n_metastases_group", "chemo_response"]


def test_treatment_changes_only_approach_and_outcome():
    a = generate("irlm1997", n=2000, seed=3, outcome="ph")
    b = generate("irlm1997", n=2000, seed=3, outcome="ph", treatment_effect=0.0)
    same = ["patient_id", "sex", "age_at_metastasectomy", "histology", "n_metastases",
            "laterality", "nodal_status", "metastasectomy_date", "resection_status"]
    pd.testing.assert_frame_equal(a.patients[same], b.patients[same])
    # others (sternotomy, clamshell, robotic) keep their draw; missing stays missing
    others = ~a.patients["approach"].isin(["vats", "thoracotomy"])
    pd.testing.assert_series_equal(a.patients.loc[others, "approach"],
                                   b.patients.loc[others, "approach"])
    # log HR 0: the approach has no effect, so every death time is the untreated one
    np.testing.assert_array_equal(a.truth["death_months"], b.truth["death_months"])


def test_manifest_keys_and_truth_columns():
    c = generate("sarcoma", n=500, seed=1, outcome="ph", treatment_effect=-0.4)
    t = c.manifest["true_parameters"]["treatment"]
    assert {k: t[k] for k in ("column", "treated", "control", "log_hr")} == {
        "column": "approach", "treated": "vats", "control": "thoracotomy", "log_hr": -0.4}
    assert t["assignment"]["coef"] == TREATMENT.coef
    pool = c.truth["approach"].isin(["vats", "thoracotomy"])
    assert c.truth.loc[pool, "p_treated"].between(0, 1).all()
    assert c.truth.loc[~pool, "p_treated"].isna().all()


def test_treatment_effect_needs_the_ph_outcome(tmp_path):
    with pytest.raises(ValueError, match="outcome='ph'"):
        generate("irlm1997", n=100, seed=0, treatment_effect=0.5)
    with pytest.raises(CohortError, match="--outcome ph"):
        synth_command("irlm1997", n=100, treatment_effect=0.5, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_cli_writes_the_treatment_into_the_manifest(tmp_path, capsys):
    out = tmp_path / "t"
    code = main(["synth", "--preset", "irlm1997", "--n", "300", "--outcome", "ph",
                 "--treatment-effect", "-0.3", "--out", str(out)])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["true_parameters"]["treatment"]["log_hr"] == -0.3
    assert manifest["true_parameters"]["treatment"]["column"] == "approach"


def _frame(cohort) -> pd.DataFrame:
    """The analysis frame of the VATS/thoracotomy patients with the true approach (the
    registry's missing approaches are missing completely at random) and stabilised IPTW
    from the true assignment probabilities."""
    truth = cohort.truth[["patient_id", "approach", "p_treated"]].rename(
        columns={"approach": "arm"})
    f = analysis_frame(cohort).merge(truth, on="patient_id")
    f = f[f["arm"].isin(["vats", "thoracotomy"])].copy()
    treated = (f["arm"] == "vats").to_numpy()
    share = treated.mean()
    f["w"] = np.where(treated, share / f["p_treated"], (1 - share) / (1 - f["p_treated"]))
    return f


@pytest.mark.parametrize("log_hr", [0.0, -0.5])
def test_confounding_biases_the_unadjusted_hr_and_true_weights_remove_it(log_hr):
    """Oracle: the stated log HR. With log HR 0 the marginal and conditional HRs are both 1;
    with -0.5 the marginal HR IPTW estimates is slightly nearer 1 (non-collapsibility),
    still covered at this n (seed fixed)."""
    c = generate("irlm1997", n=N, seed=0, outcome="ph", treatment_effect=log_hr)
    f = _frame(c)
    ref = {"arm": "thoracotomy"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crude = cox(f, ["arm"], reference=ref).to_frame().iloc[0]
        iptw = cox(f, ["arm"], reference=ref, weights="w", robust=True).to_frame().iloc[0]
    # VATS patients have fewer metastases and longer DFI: the crude HR flatters VATS
    assert np.log(crude["upper"]) < log_hr - 0.1
    assert np.log(iptw["lower"]) < log_hr < np.log(iptw["upper"])
    assert abs(np.log(iptw["hr"]) - log_hr) < 0.1
