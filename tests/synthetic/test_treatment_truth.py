"""The true marginal log HR of the synthetic treatment (:func:`metsurv.synthetic.treatment_truth`).
Oracle: synthetic truth (with log HR 0 the two counterfactual worlds are identical, so the
marginal log HR is 0 whatever the population; non-collapsibility puts a non-zero marginal
log HR strictly between 0 and the conditional one) and determinism given the seed."""

from __future__ import annotations

import pytest

from metsurv.synthetic import treatment_truth

N = 20_000


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATO"])
def test_null_effect_is_zero_marginally(estimand):
    assert treatment_truth("irlm1997", 0.0, estimand, n=N, seed=2) == pytest.approx(0, abs=1e-9)


def test_deterministic_given_seed_and_varies_with_it():
    a = treatment_truth("irlm1997", -0.5, "ATO", n=N, seed=5)
    assert a == treatment_truth("irlm1997", -0.5, "ATO", n=N, seed=5)
    assert a != treatment_truth("irlm1997", -0.5, "ATO", n=N, seed=6)


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATO"])
def test_non_collapsible_marginal_effect_is_attenuated(estimand):
    # The ph model's covariates act on survival, so the marginal log HR lies between 0 and
    # the conditional -0.5 (about -0.44 to -0.47 for irlm1997), and flips sign with it.
    neg = treatment_truth("irlm1997", -0.5, estimand, n=N, seed=1)
    assert -0.5 < neg < -0.38
    pos = treatment_truth("irlm1997", 0.5, estimand, n=N, seed=1)
    assert 0.38 < pos < 0.5


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="estimand"):
        treatment_truth("irlm1997", -0.5, "ATC")
    with pytest.raises(ValueError, match="finite"):
        treatment_truth("irlm1997", float("nan"))
    with pytest.raises(ValueError, match="at least 100"):
        treatment_truth("irlm1997", -0.5, n=10)
