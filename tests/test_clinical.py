"""metsurv.clinical against worked examples (oracle: the published formulas evaluated by
hand; the numbers quoted in SBRT and thoracic-surgery papers)."""

from __future__ import annotations

import pytest

from metsurv.clinical import bed, eqd2, ppo_dlco, ppo_fev1, ppo_high_risk, ppo_needs_exercise_test


@pytest.mark.parametrize(("n", "d", "ab", "expected"), [
    (3, 18, 10, 151.2),   # RTOG 0236 lung SBRT 3 x 18 Gy: BED10 151.2 Gy
    (4, 12, 10, 105.6),   # 4 x 12 Gy (JCOG 0403): BED10 105.6 Gy
    (5, 11, 10, 115.5),   # 5 x 11 Gy: BED10 115.5 Gy
    (1, 34, 10, 149.6),   # RTOG 0915 single 34 Gy: BED10 149.6 Gy
    (30, 2, 10, 72.0),    # conventional 60 Gy / 30 fractions: BED10 72 Gy
    (3, 18, 3, 378.0),    # late effects, alpha/beta 3: 54 x (1 + 6)
])
def test_bed_worked_examples(n, d, ab, expected):
    assert bed(n, d, alpha_beta=ab) == pytest.approx(expected, abs=1e-9)


def test_eqd2_worked_examples():
    assert eqd2(3, 18) == pytest.approx(126.0, abs=1e-9)  # 151.2 / 1.2
    assert eqd2(30, 2) == pytest.approx(60.0, abs=1e-9)   # 2-Gy fractions are their own EQD2
    assert eqd2(5, 11, alpha_beta=3) == pytest.approx(55 * (1 + 11 / 3) / (1 + 2 / 3))


def test_ppo_worked_examples():
    # lobectomy of 5 segments (RLL), preop FEV1 60%: 60 x (1 - 5/19) = 44.2% (ACCP 2013)
    assert ppo_fev1(60, 5) == pytest.approx(60 * 14 / 19) and round(ppo_fev1(60, 5), 1) == 44.2
    # right pneumonectomy (10 segments), preop 80%: 80 x 9/19 = 37.9% -> below 40% (BTS 2010)
    assert ppo_fev1(80, 10) == pytest.approx(37.894736842105, abs=1e-9)
    assert ppo_high_risk(ppo_fev1(80, 10)) and not ppo_high_risk(ppo_fev1(60, 5))
    # 2 of the 5 resected segments obstructed: 70 x (1 - 3/17) (Brunelli 2013 formula, a/b)
    assert ppo_fev1(70, 5, 2) == pytest.approx(70 * (1 - 3 / 17))
    assert ppo_dlco(70, 4) == pytest.approx(70 * 15 / 19)
    assert ppo_fev1(75, 0) == 75.0  # wedge counted as no segment


def test_thresholds():
    assert ppo_high_risk(45, 39.9) and not ppo_high_risk(45, 40)
    assert not ppo_needs_exercise_test(61, 60.5) and ppo_needs_exercise_test(61, 60)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: ppo_fev1(201, 5), "preop_fev1_pct 201 is above 200% of predicted"),
    (lambda: ppo_fev1(-1, 5), r"preop_fev1_pct must be a % of predicted in \(5, 200\]"),
    (lambda: ppo_dlco(float("nan"), 5), "preop_dlco_pct must be a % of predicted in"),
    (lambda: ppo_fev1(60, 20), "segments_removed must be between 0 and 19"),
    (lambda: ppo_fev1(60, 2.5), "whole number of segments"),
    (lambda: ppo_fev1(60, True), "whole number of segments"),
    (lambda: ppo_fev1(60, 3, 4), "must not exceed segments_removed"),
    (lambda: ppo_fev1(60, 19, 19), "segments_obstructed must be below 19"),
    (lambda: ppo_fev1("60", 5), "must be a number"),
    (lambda: bed(0, 10), "n_fractions must be a whole number >= 1"),
    (lambda: bed(3.5, 10), "n_fractions must be a whole number >= 1"),
    (lambda: bed(3, 0), "dose_per_fraction_gy must be in"),
    (lambda: bed(1, 54), "dose_per_fraction_gy must be in"),
    (lambda: bed(1, 40), r"must be in \(0, 40\) Gy, got 40 \(a total dose"),
    (lambda: bed(3, 18, alpha_beta=0), "alpha_beta must be in"),
    (lambda: eqd2(3, 18, alpha_beta=-3), "alpha_beta must be in"),
])
def test_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(("call", "match"), [
    # finding 10 of break15: FEV1 in litres or as a fraction gave a confident answer
    (lambda: ppo_fev1(2.1, 5), r"preop_fev1_pct 2.1 looks like litres or a fraction; give % "
                               r"of predicted \(e.g. 60\)"),
    (lambda: ppo_fev1(0.6, 5), "preop_fev1_pct 0.6 looks like litres or a fraction"),
    (lambda: ppo_fev1(5, 5), "preop_fev1_pct 5 looks like litres"),
    (lambda: ppo_dlco(7.5 / 1.5, 4), r"preop_dlco_pct 5.0 looks like an absolute value "
                                     r"\(mmol/min/kPa\) or a fraction"),
    (lambda: ppo_dlco(250, 4), "preop_dlco_pct 250 is above 200% of predicted"),
    (lambda: ppo_high_risk(1.2, 1.0), "ppo_fev1_pct 1.2 looks like litres or a fraction"),
    (lambda: ppo_high_risk(45, 0.39), "ppo_dlco_pct 0.39 looks like an absolute value"),
    (lambda: ppo_needs_exercise_test(0.65, 62), "ppo_fev1_pct 0.65 looks like litres"),
    (lambda: ppo_needs_exercise_test(65, 210), "ppo_dlco_pct 210 is above 200%"),
])
def test_unit_checks_on_percent_predicted(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_percent_predicted_range_edges_accepted():
    # (5, 200] is accepted; the published examples (40-80%) lie well inside it
    assert ppo_fev1(5.5, 0) == 5.5 and ppo_fev1(200, 0) == 200.0
    assert ppo_dlco(151, 5) == pytest.approx(151 * 14 / 19)  # a high DLCO (e.g. polycythaemia)
    assert ppo_high_risk(5.5) and not ppo_needs_exercise_test(200, 61)


@pytest.mark.parametrize(("call", "match"), [
    # finding 10 of break15: the message said (0, inf] but inf was refused
    (lambda: bed(3, 18, alpha_beta=float("inf")), r"alpha_beta must be in \(0, inf\), got inf"),
    (lambda: eqd2(3, 18, alpha_beta=float("nan")), r"alpha_beta must be in \(0, inf\), got nan"),
    # implausible courses
    (lambda: bed(10**9, 2), "n_fractions 1000000000 is more than 100"),
    (lambda: bed(101, 1.8), "n_fractions 101 is more than 100"),
    (lambda: bed(10, 30), r"total dose 10 x 30 = 300 Gy is above 200 Gy"),
    (lambda: bed(3, 1800), r"must be in \(0, 40\) Gy, got 1800 \(a total dose or cGy"),
    (lambda: bed(3, -18), r"must be in \(0, 40\) Gy, got -18$"),
    (lambda: bed(3, "18"), "dose_per_fraction_gy must be a number"),
])
def test_bed_range_checks(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bed_range_edges_accepted():
    # hand formula n d (1 + d / ab) at the edges: 100 fractions, 200 Gy in total
    assert bed(100, 2) == pytest.approx(200 * 1.2)
    assert bed(5, 39.9) == pytest.approx(5 * 39.9 * (1 + 3.99))
    assert bed(1, 18, alpha_beta=1e6) == pytest.approx(18 * (1 + 18e-6))
