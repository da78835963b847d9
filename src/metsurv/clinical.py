"""Clinical calculators used before a pulmonary metastasectomy or SBRT: predicted
postoperative lung function by segment counting and the biologically effective dose.

Plain functions of scalars, with their formulas and sources; arguments out of range raise a
``ValueError`` naming the argument, its value and the accepted range.

Sources
-------
- Brunelli A, Kim AW, Berger KI, Addrizzo-Harris DJ. Physiologic evaluation of the patient
  with lung cancer being considered for resectional surgery: Diagnosis and management of
  lung cancer, 3rd ed: American College of Chest Physicians evidence-based clinical practice
  guidelines. Chest 2013;143(5 Suppl):e166S-e190S (ACCP 2013).
- Lim E, Baldwin D, Beckles M, et al. Guidelines on the radical management of patients with
  lung cancer. Thorax 2010;65 Suppl 3:iii1-iii27 (BTS 2010).
- Fowler JF. The linear-quadratic formula and progress in fractionated radiotherapy.
  Br J Radiol 1989;62:679-694 (BED and EQD2).
"""

from __future__ import annotations

import math
import numbers

#: Bronchopulmonary segments counted by the segment method: right lung 10, left lung 9.
TOTAL_SEGMENTS = 19
#: BTS 2010: ppoFEV1 or ppoDLCO below 40% of predicted -> higher risk.
HIGH_RISK_PPO_PCT = 40.0
#: ACCP 2013: ppoFEV1 and ppoDLCO both above 60% -> low risk, no further test; either at
#: or below 60% -> exercise testing (low-technology test if both above 30%, else CPET).
EXERCISE_TEST_PPO_PCT = 60.0


def _number(name: str, value: object, low: float, high: float, *,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x > high or (x <= low if low_open else x < low):
        left = "(" if low_open else "["
        raise ValueError(f"{name} must be in {left}{low:g}, {high:g}], got {value!r}")
    return x


def _segments(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
            not float(value).is_integer()):
        raise ValueError(f"{name} must be a whole number of segments, got {value!r}")
    n = int(value)
    if not 0 <= n <= TOTAL_SEGMENTS:
        raise ValueError(f"{name} must be between 0 and {TOTAL_SEGMENTS}, got {value!r}")
    return n


def _ppo(name: str, preop_pct: object, segments_removed: object,
         segments_obstructed: object) -> float:
    pre = _number(name, preop_pct, 0.0, 150.0)
    removed = _segments("segments_removed", segments_removed)
    obstructed = _segments("segments_obstructed", segments_obstructed)
    if obstructed >= TOTAL_SEGMENTS:
        raise ValueError(f"segments_obstructed must be below {TOTAL_SEGMENTS}, got "
                         f"{segments_obstructed!r}")
    if obstructed > removed:
        raise ValueError(f"segments_obstructed ({obstructed}) must not exceed "
                         f"segments_removed ({removed}): the obstructed segments counted are "
                         "those in the part to be resected")
    return pre * (1.0 - (removed - obstructed) / (TOTAL_SEGMENTS - obstructed))


def ppo_fev1(preop_fev1_pct: float, segments_removed: int, segments_obstructed: int = 0) -> float:
    """Predicted postoperative FEV1 (% of predicted) by segment counting (ACCP 2013, BTS 2010):

    ``ppo = preop x (1 - a / b)``, ``a = segments_removed - segments_obstructed`` (the
    unobstructed segments to be resected), ``b = 19 - segments_obstructed`` (all unobstructed
    segments). Without obstruction this is ``preop x (1 - removed / 19)``.

    Parameters
    ----------
    preop_fev1_pct : float
        Preoperative (post-bronchodilator) FEV1, % of predicted, 0-150.
    segments_removed : int
        Segments to be resected, 0-19 (lobes: RUL 3, RML 2, RLL 5, LUL 5 with the lingula,
        LLL 4; right pneumonectomy 10, left 9).
    segments_obstructed : int
        Obstructed segments among those to be resected (bronchoscopy / CT), 0 to
        ``segments_removed``.

    Returns
    -------
    float
        ppoFEV1, % of predicted. Below :data:`HIGH_RISK_PPO_PCT` (40%): higher risk
        (:func:`ppo_high_risk`).

    Raises
    ------
    ValueError
        A value out of range, a non-integer segment count, or more obstructed than removed
        segments.

    Examples
    --------
    >>> round(ppo_fev1(60, 5), 1)  # lobectomy of 5 segments: 60 x (1 - 5/19)
    44.2
    """
    return _ppo("preop_fev1_pct", preop_fev1_pct, segments_removed, segments_obstructed)


def ppo_dlco(preop_dlco_pct: float, segments_removed: int, segments_obstructed: int = 0) -> float:
    """Predicted postoperative DLCO (% of predicted) by segment counting, the formula of
    :func:`ppo_fev1` applied to the preoperative DLCO (ACCP 2013, BTS 2010).

    Parameters
    ----------
    preop_dlco_pct : float
        Preoperative DLCO (TLCO), % of predicted, 0-150.
    segments_removed, segments_obstructed : int
        As :func:`ppo_fev1`.

    Returns
    -------
    float
        ppoDLCO, % of predicted.

    Raises
    ------
    ValueError
        As :func:`ppo_fev1`.

    Examples
    --------
    >>> round(ppo_dlco(70, 4), 1)  # left lower lobectomy: 70 x (1 - 4/19)
    55.3
    """
    return _ppo("preop_dlco_pct", preop_dlco_pct, segments_removed, segments_obstructed)


def _ppo_values(ppo_fev1_pct: float, ppo_dlco_pct: float | None) -> list[float]:
    vals = [_number("ppo_fev1_pct", ppo_fev1_pct, 0.0, 150.0)]
    if ppo_dlco_pct is not None:
        vals.append(_number("ppo_dlco_pct", ppo_dlco_pct, 0.0, 150.0))
    return vals


def ppo_high_risk(ppo_fev1_pct: float, ppo_dlco_pct: float | None = None) -> bool:
    """BTS 2010 flag: ppoFEV1 or ppoDLCO below 40% of predicted means a higher risk of
    perioperative death and cardiopulmonary complications (consider exercise testing and
    the shared decision; not a contraindication by itself).

    >>> ppo_high_risk(ppo_fev1(60, 5)), ppo_high_risk(ppo_fev1(80, 10))
    (False, True)
    """
    return any(v < HIGH_RISK_PPO_PCT for v in _ppo_values(ppo_fev1_pct, ppo_dlco_pct))


def ppo_needs_exercise_test(ppo_fev1_pct: float, ppo_dlco_pct: float) -> bool:
    """ACCP 2013 algorithm: False when ppoFEV1 and ppoDLCO are both above 60% of predicted
    (low risk, no further test); True when either is 60% or below (a low-technology exercise
    test, stair climbing or shuttle walk, when both are above 30%, else a formal
    cardiopulmonary exercise test).

    >>> ppo_needs_exercise_test(65, 62), ppo_needs_exercise_test(65, 55)
    (False, True)
    """
    return any(v <= EXERCISE_TEST_PPO_PCT for v in _ppo_values(ppo_fev1_pct, ppo_dlco_pct))


def bed(n_fractions: int, dose_per_fraction_gy: float, alpha_beta: float = 10.0) -> float:
    """Biologically effective dose of ``n`` fractions of ``d`` Gy by the linear-quadratic
    model (Fowler 1989), no repopulation term: ``BED = n d (1 + d / (alpha/beta))`` in Gy.

    Parameters
    ----------
    n_fractions : int
        Number of fractions, >= 1.
    dose_per_fraction_gy : float
        Dose per fraction in Gy, in (0, 40) (above 40 Gy is taken as a total-dose mistake).
    alpha_beta : float
        alpha/beta in Gy, > 0 (10 for tumour and early-responding tissue, 3 for late
        effects).

    Returns
    -------
    float
        BED in Gy (often written Gy10 for alpha/beta 10).

    Raises
    ------
    ValueError
        A non-integer or non-positive number of fractions, a dose or alpha/beta out of range.

    Examples
    --------
    >>> round(bed(3, 18), 1)  # SBRT 3 x 18 Gy, alpha/beta 10: 54 x 2.8
    151.2
    """
    if isinstance(n_fractions, bool) or not isinstance(n_fractions, numbers.Real) or (
            not float(n_fractions).is_integer()) or n_fractions < 1:
        raise ValueError(f"n_fractions must be a whole number >= 1, got {n_fractions!r}")
    d = _number("dose_per_fraction_gy", dose_per_fraction_gy, 0.0, 40.0, low_open=True)
    if d >= 40.0:
        raise ValueError(f"dose_per_fraction_gy must be below 40 Gy, got "
                         f"{dose_per_fraction_gy!r} (a total dose? give the dose per fraction)")
    ab = _number("alpha_beta", alpha_beta, 0.0, math.inf, low_open=True)
    return int(n_fractions) * d * (1.0 + d / ab)


def eqd2(n_fractions: int, dose_per_fraction_gy: float, alpha_beta: float = 10.0) -> float:
    """Equivalent dose in 2-Gy fractions: ``EQD2 = BED / (1 + 2 / (alpha/beta))`` (Fowler
    1989), in Gy; arguments and errors as :func:`bed`.

    >>> round(eqd2(3, 18), 1)  # 151.2 / 1.2
    126.0
    """
    b = bed(n_fractions, dose_per_fraction_gy, alpha_beta)
    return b / (1.0 + 2.0 / float(alpha_beta))
