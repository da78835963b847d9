"""Risk is monotone in the ordered factors: DFI (0-11 worst, 12-35 between, >= 36 best),
number of metastases (1 < 2-3 < >= 4), resection (R0 < R1 < R2), nodes (N0 < N1 < N2).

Oracle: IRLM 1997 (domain brief): DFI < 36 months and multiple metastases are risk factors,
0-11 months and >= 4 metastases worst; IRLM groups I best ... IV worst. Structurally (the cure
model's coefficients) and in a large draw (Kaplan-Meier and Cox, as an analyst would see it:
the bundled cohort once had a DFI 12-35 curve flat at 25% from 3 to 15 years with a Cox HR
above the 0-11 group's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv import schema
from metsurv.stats.cox import cox
from metsurv.synthetic import PRESETS, generate, get_preset
from metsurv.synthetic.calibration import analysis_frame, km_summary
from metsurv.synthetic.presets import monotone_violations

N = 60_000
#: ordered factor -> levels, best (reference) first
FACTORS = {"dfi_group": schema.DFI_GROUPS[::-1], "n_metastases_group": schema.N_METASTASES_GROUPS}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_cure_model_is_monotone_in_every_ordered_factor(preset):
    """Cure coefficient and uncured shift (-rho * coef + uncured_coef) both no better for a
    worse level, and each tie holds exactly (middle level = fraction x worst level)."""
    cure = get_preset(preset).cure
    assert monotone_violations(cure) == []
    for t in cure.ties:
        assert 0 <= t.fraction <= 1
        assert cure.coef[t.level] == pytest.approx(t.fraction * cure.coef[t.worst])
        assert cure.uncured_coef[t.level] == pytest.approx(
            t.fraction * cure.uncured_coef.get(t.worst, 0.0))


@pytest.fixture(scope="module", params=sorted(PRESETS))
def complete(request) -> tuple[str, pd.DataFrame]:
    frame = analysis_frame(generate(request.param, n=N, seed=2024))
    return request.param, frame[frame["complete_resection"].astype(bool)]


@pytest.mark.parametrize("factor", sorted(FACTORS))
def test_five_year_km_is_ordered(complete, factor):
    name, frame = complete
    levels = FACTORS[factor]
    five = []
    for level in levels:
        rows = frame[frame[factor].astype(object) == level]
        five.append(km_summary(rows["os_months"].to_numpy(float),
                               rows["os_event"].to_numpy(bool), "surv_5y"))
    assert np.all(np.diff(five) < -0.01), f"{name} {factor}: {dict(zip(levels, five, strict=True))}"


@pytest.mark.parametrize("factor", sorted(FACTORS))
def test_cox_hazard_ratios_are_ordered(complete, factor):
    """Univariable Cox among complete resections (reference = best level): HR of the worst
    level > HR of the middle level > 1, each step beyond 2 standard errors."""
    name, frame = complete
    best, middle, worst = FACTORS[factor]
    col = frame[factor].astype(object)
    d = pd.DataFrame({"os_months": frame["os_months"].astype(float),
                      "os_event": frame["os_event"].astype(bool),
                      "middle": (col == middle).astype(float),
                      "worst": (col == worst).astype(float)})[col.notna().to_numpy()]
    fit = cox(d, ["middle", "worst"])
    b_mid, b_worst = fit.coef
    se_diff = np.sqrt(fit.vcov[0, 0] + fit.vcov[1, 1] - 2 * fit.vcov[0, 1])
    assert b_mid > 2 * fit.se[0], f"{name} {factor}: log HR {fit.coef}"
    assert b_worst - b_mid > 2 * se_diff, f"{name} {factor}: log HR {fit.coef}"
