"""Clinical calculators used before a pulmonary metastasectomy or SBRT: predicted
postoperative lung function by segment counting and the biologically effective dose.

Plain functions of scalars, with their formulas and sources; arguments out of range raise a
``ValueError`` naming the argument, its value and the accepted range. Lung function is in %
of predicted, accepted in (5, 200]: a value of 5 or less is refused as litres (FEV1), an
absolute DLCO or a fraction, above 200% as implausible. Doses are in Gy: at most 100
fractions, under 40 Gy per fraction and at most 200 Gy in total (larger values are a unit or
total-dose mistake: cGy, or the total given as the dose per fraction).

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
#: Accepted % of predicted: above this lower bound (5 or less is litres or a fraction) ...
MIN_PCT_PREDICTED = 5.0
#: ... and at most this upper bound (above is not a plausible lung function).
MAX_PCT_PREDICTED = 200.0
#: Radiotherapy plausibility: dose per fraction below this (Gy) ...
MAX_DOSE_PER_FRACTION_GY = 40.0
#: ... at most this many fractions ...
MAX_FRACTIONS = 100
#: ... and at most this total physical dose (Gy; external-beam courses stay below 100 Gy).
MAX_TOTAL_DOSE_GY = 200.0


def _number(name: str, value: object, low: float, high: float, *,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x > high or (x <= low if low_open else x < low):
        left = "(" if low_open else "["
        right = ")" if math.isinf(high) else "]"  # inf itself is refused (not finite)
        raise ValueError(f"{name} must be in {left}{low:g}, {high:g}{right}, got {value!r}")
    return x


def _pct_predicted(name: str, value: object, example: str) -> float:
    """A lung function in % of predicted, in (5, 200]; ``example`` names the absolute unit
    a small value is probably in ("litres", "mmol/min/kPa")."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number (% of predicted), got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a % of predicted in ({MIN_PCT_PREDICTED:g}, "
                         f"{MAX_PCT_PREDICTED:g}], got {value!r}")
    if x <= MIN_PCT_PREDICTED:
        raise ValueError(f"{name} {value!r} looks like {example} or a fraction; give % of "
                         f"predicted (e.g. 60), in ({MIN_PCT_PREDICTED:g}, "
                         f"{MAX_PCT_PREDICTED:g}]")
    if x > MAX_PCT_PREDICTED:
        raise ValueError(f"{name} {value!r} is above {MAX_PCT_PREDICTED:g}% of predicted, "
                         "which is not a plausible lung function; give % of predicted "
                         "(e.g. 60)")
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
         segments_obstructed: object, example: str) -> float:
    pre = _pct_predicted(name, preop_pct, example)
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
        Preoperative (post-bronchodilator) FEV1, % of predicted, in (5, 200].
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
        ``preop_fev1_pct`` not a number, 5 or less (litres or a fraction, e.g. 2.1 or 0.6:
        give % of predicted) or above 200; a segment count that is not a whole number in
        0-19; 19 obstructed segments; more obstructed than removed segments.

    Examples
    --------
    >>> round(ppo_fev1(60, 5), 1)  # lobectomy of 5 segments: 60 x (1 - 5/19)
    44.2
    """
    return _ppo("preop_fev1_pct", preop_fev1_pct, segments_removed, segments_obstructed,
                "litres")


def ppo_dlco(preop_dlco_pct: float, segments_removed: int, segments_obstructed: int = 0) -> float:
    """Predicted postoperative DLCO (% of predicted) by segment counting, the formula of
    :func:`ppo_fev1` applied to the preoperative DLCO (ACCP 2013, BTS 2010).

    Parameters
    ----------
    preop_dlco_pct : float
        Preoperative DLCO (TLCO), % of predicted, in (5, 200].
    segments_removed, segments_obstructed : int
        As :func:`ppo_fev1`.

    Returns
    -------
    float
        ppoDLCO, % of predicted.

    Raises
    ------
    ValueError
        As :func:`ppo_fev1`: ``preop_dlco_pct`` 5 or less (an absolute DLCO in
        mmol/min/kPa, or a fraction) or above 200 is refused.

    Examples
    --------
    >>> round(ppo_dlco(70, 4), 1)  # left lower lobectomy: 70 x (1 - 4/19)
    55.3
    """
    return _ppo("preop_dlco_pct", preop_dlco_pct, segments_removed, segments_obstructed,
                "an absolute value (mmol/min/kPa)")


def _ppo_values(ppo_fev1_pct: float, ppo_dlco_pct: float | None) -> list[float]:
    vals = [_pct_predicted("ppo_fev1_pct", ppo_fev1_pct, "litres")]
    if ppo_dlco_pct is not None:
        vals.append(_pct_predicted("ppo_dlco_pct", ppo_dlco_pct,
                                   "an absolute value (mmol/min/kPa)"))
    return vals


def ppo_high_risk(ppo_fev1_pct: float, ppo_dlco_pct: float | None = None) -> bool:
    """BTS 2010 flag: ppoFEV1 or ppoDLCO below 40% of predicted means a higher risk of
    perioperative death and cardiopulmonary complications (consider exercise testing and
    the shared decision; not a contraindication by itself).

    Parameters
    ----------
    ppo_fev1_pct : float
        ppoFEV1, % of predicted (:func:`ppo_fev1`), in (5, 200].
    ppo_dlco_pct : float, optional
        ppoDLCO, % of predicted (:func:`ppo_dlco`), in (5, 200].

    Returns
    -------
    bool
        True when either value is below :data:`HIGH_RISK_PPO_PCT` (40%).

    Raises
    ------
    ValueError
        A value that is not a number, 5 or less (litres, an absolute DLCO or a fraction:
        ``ppo_high_risk(1.2)`` is refused, give % of predicted) or above 200.

    Examples
    --------
    >>> ppo_high_risk(ppo_fev1(60, 5)), ppo_high_risk(ppo_fev1(80, 10))
    (False, True)
    """
    return any(v < HIGH_RISK_PPO_PCT for v in _ppo_values(ppo_fev1_pct, ppo_dlco_pct))


def ppo_needs_exercise_test(ppo_fev1_pct: float, ppo_dlco_pct: float) -> bool:
    """ACCP 2013 algorithm: False when ppoFEV1 and ppoDLCO are both above 60% of predicted
    (low risk, no further test); True when either is 60% or below (a low-technology exercise
    test, stair climbing or shuttle walk, when both are above 30%, else a formal
    cardiopulmonary exercise test).

    Parameters
    ----------
    ppo_fev1_pct, ppo_dlco_pct : float
        ppoFEV1 and ppoDLCO, % of predicted, each in (5, 200].

    Returns
    -------
    bool
        True when either is at or below :data:`EXERCISE_TEST_PPO_PCT` (60%).

    Raises
    ------
    ValueError
        As :func:`ppo_high_risk`.

    Examples
    --------
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
        Number of fractions, a whole number from 1 to 100.
    dose_per_fraction_gy : float
        Dose per fraction in Gy, in (0, 40) (40 Gy or more is taken as a total-dose or cGy
        mistake). The total ``n d`` must be at most 200 Gy.
    alpha_beta : float
        alpha/beta in Gy, finite and > 0, i.e. in (0, inf) (10 for tumour and
        early-responding tissue, 3 for late effects).

    Returns
    -------
    float
        BED in Gy (often written Gy10 for alpha/beta 10).

    Raises
    ------
    ValueError
        ``n_fractions`` not a whole number from 1 to 100; ``dose_per_fraction_gy`` not in
        (0, 40); a total dose above 200 Gy (implausible for one course: a unit mistake or
        swapped arguments); ``alpha_beta`` not in (0, inf) (infinity, which would make BED
        the physical dose, is refused: give a finite alpha/beta).

    Examples
    --------
    >>> round(bed(3, 18), 1)  # SBRT 3 x 18 Gy, alpha/beta 10: 54 x 2.8
    151.2
    """
    if isinstance(n_fractions, bool) or not isinstance(n_fractions, numbers.Real) or (
            not math.isfinite(n_fractions)) or not float(n_fractions).is_integer() or (
            n_fractions < 1):
        raise ValueError(f"n_fractions must be a whole number >= 1, got {n_fractions!r}")
    if n_fractions > MAX_FRACTIONS:
        raise ValueError(f"n_fractions {n_fractions!r} is more than {MAX_FRACTIONS}: not a "
                         "plausible course; give the number of fractions (e.g. 30)")
    if isinstance(dose_per_fraction_gy, bool) or not isinstance(dose_per_fraction_gy,
                                                                numbers.Real):
        raise ValueError(f"dose_per_fraction_gy must be a number, got {dose_per_fraction_gy!r}")
    d = float(dose_per_fraction_gy)
    if not 0.0 < d < MAX_DOSE_PER_FRACTION_GY:  # also NaN
        hint = (" (a total dose or cGy? give the dose per fraction in Gy)"
                if d >= MAX_DOSE_PER_FRACTION_GY else "")
        raise ValueError(f"dose_per_fraction_gy must be in (0, {MAX_DOSE_PER_FRACTION_GY:g}) "
                         f"Gy, got {dose_per_fraction_gy!r}{hint}")
    total = int(n_fractions) * d
    if total > MAX_TOTAL_DOSE_GY:
        raise ValueError(f"total dose {n_fractions!r} x {dose_per_fraction_gy!r} = {total:.10g} "
                         f"Gy is above {MAX_TOTAL_DOSE_GY:g} Gy, not a plausible course; "
                         "check the units (Gy, not cGy) and the order (n_fractions, "
                         "dose_per_fraction_gy)")
    ab = _number("alpha_beta", alpha_beta, 0.0, math.inf, low_open=True)
    return total * (1.0 + d / ab)


def eqd2(n_fractions: int, dose_per_fraction_gy: float, alpha_beta: float = 10.0) -> float:
    """Equivalent dose in 2-Gy fractions: ``EQD2 = BED / (1 + 2 / (alpha/beta))`` (Fowler
    1989), in Gy; arguments and errors as :func:`bed`.

    >>> round(eqd2(3, 18), 1)  # 151.2 / 1.2
    126.0
    """
    b = bed(n_fractions, dose_per_fraction_gy, alpha_beta)
    return b / (1.0 + 2.0 / float(alpha_beta))
