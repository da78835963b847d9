"""Power and sample size for a two-group survival comparison: formulas and simulation.

**Formulas.** The number of events ``D`` a two-sided level-``alpha`` test needs to detect the
hazard ratio ``hr`` with probability ``power`` when a fraction ``allocation`` of the patients
is in the group whose hazard is ``hr`` times the other's:

- Schoenfeld (1983, Biometrics 39:499-503), the log-rank test:
  ``D = (z_{1-alpha/2} + z_power)^2 / (p (1 - p) log(hr)^2)``;
- Freedman (1982, Stat Med 1:121-129), with ``k = p / (1 - p)`` as in R
  ``powerSurvEpi::ssizeCT.default``: ``D = ((k hr + 1) / (hr - 1))^2 (z_{1-alpha/2} +
  z_power)^2 / k``.

The number of patients is ``D / P(event)``. Under exponential survival with control median
``median`` months (hazard ``log 2 / median``; ``hr`` times it in the other group), uniform
accrual over ``accrual`` months, ``follow_up`` further months to the analysis, and
exponential loss to follow-up (``loss``: proportion lost per year), a patient followed for
``t`` months has the event observed with probability ``F(t) = lambda / (lambda + eta)
(1 - exp(-(lambda + eta) t))``, and ``P(event)`` is the mean of ``F`` over follow-up times
uniform on ``[follow_up, follow_up + accrual]``: in closed form (``integration="exact"``) or
by Schoenfeld's (1983) Simpson rule ``(F(f) + 4 F(f + a/2) + F(f + a)) / 6``
(``"simpson"``; Collett 2015, Modelling Survival Data in Medical Research, section 10.2).
Checked against the same formulas written in base R and R ``integrate()``
(tests/reference/make_power.R).

**Simulation.** :func:`simulate_power` runs a design many times on the replicate engine
(:func:`metsurv.replicate.run_replicates`, in-process or on Dask) and reports the rejection
rate with its Monte Carlo SE ``sqrt(p (1 - p) / R)``: an exponential two-group design
(:class:`ExponentialDesign`, the formulas' own assumptions) or a contrast of a synthetic
preset (:class:`PresetDesign`: ``metsurv.synthetic.generate(preset, n, outcome="ph")``,
the contrast tested by log-rank or Cox per replicate).

>>> round(events_required(0.75, alpha=0.05, power=0.8), 1)
379.4
>>> d = sample_size(0.75, median=24, accrual=24, follow_up=12)
>>> d.events, d.patients
(380, 854)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from metsurv.errors import DataError

__all__ = ["METHODS", "ExponentialDesign", "PowerDesign", "PresetContrast", "PresetDesign",
           "SimulatedPower", "event_probability", "events_required", "formula_power",
           "power_curve_figure", "preset_contrast", "sample_size", "simulate_power"]

#: Event-count formulas.
METHODS = ("schoenfeld", "freedman")
#: Ways to average the probability of an event over the accrual period.
INTEGRATIONS = ("exact", "simpson")
#: Tests applied to each simulated data set.
TESTS = ("logrank", "cox")
#: Patients drawn once to estimate a preset contrast's allocation and event probability.
PRESET_DRAW = 20_000


# ----------------------------------------------------------------------------- checks
def _number(name: str, value: Any, low: float, high: float, *, low_open: bool = True,
            high_open: bool = True, what: str = "") -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number, not {value!r}") from None
    bad_low = x <= low if low_open else x < low
    bad_high = x >= high if high_open else x > high
    if not math.isfinite(x) or bad_low or bad_high:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise DataError(f"{name} must be in {lo}{low:g}, {high:g}{hi}{what}, not {value!r}")
    return x


def _check(hr: float, alpha: float, power: float | None, allocation: float,
           method: str) -> tuple[float, float, float | None, float]:
    hr = _number("hr", hr, 0, math.inf, what=" (a hazard ratio)")
    if hr == 1:
        raise DataError("hr must differ from 1: no number of events detects a hazard ratio "
                        "of 1; give the ratio the study should detect, e.g. --hr 0.7")
    alpha = _number("alpha", alpha, 0, 1, what=" (two-sided significance level)")
    if power is not None:
        power = _number("power", power, 0, 1)
        if power <= alpha / 2:
            raise DataError(f"power {power:g} must exceed alpha/2 = {alpha / 2:g}")
    allocation = _number("allocation", allocation, 0, 1,
                         what=" (fraction of patients in the group with hazard ratio hr)")
    if method not in METHODS:
        raise DataError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    return hr, alpha, power, allocation


# ----------------------------------------------------------------------------- formulas
def events_required(hr: float, alpha: float = 0.05, power: float = 0.8,
                    allocation: float = 0.5, method: str = "schoenfeld") -> float:
    """Number of events (not rounded) for a two-sided test of ``hr`` at level ``alpha``.

    Parameters
    ----------
    hr : float
        Hazard ratio to detect (> 0, != 1), group 1 vs group 0.
    alpha : float
        Two-sided significance level, in (0, 1).
    power : float
        Probability of rejecting when the hazard ratio is ``hr``, in (alpha/2, 1).
    allocation : float
        Fraction ``p`` of patients in group 1, in (0, 1).
    method : {"schoenfeld", "freedman"}
        Schoenfeld (1983) or Freedman (1982); formulas in the module docstring; R:
        ``(qnorm(1 - alpha/2) + qnorm(power))^2 / (p * (1 - p) * log(hr)^2)``.

    Returns
    -------
    float
        Events D; round up for a design.

    Raises
    ------
    metsurv.errors.DataError
        A value out of range (named in the message).

    >>> round(events_required(2 / 3, power=0.9), 1), round(events_required(2 / 3, power=0.9,
    ...                                                     method="freedman"), 1)
    (255.7, 262.7)
    """
    hr, alpha, power, p = _check(hr, alpha, power, allocation, method)
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    if method == "schoenfeld":
        return float(z**2 / (p * (1 - p) * math.log(hr) ** 2))
    k = p / (1 - p)
    return float(((k * hr + 1) / (hr - 1)) ** 2 * z**2 / k)


def formula_power(events: float | np.ndarray, hr: float, alpha: float = 0.05,
                  allocation: float = 0.5, method: str = "schoenfeld") -> float | np.ndarray:
    """Power of the two-sided test with ``events`` events (the inverse of
    :func:`events_required`, ignoring the far tail): ``Phi(sqrt(D p (1 - p)) |log hr| -
    z_{1-alpha/2})`` (Schoenfeld) or ``Phi(sqrt(D k) |1 - hr| / (1 + k hr) - z_{1-alpha/2})``
    (Freedman). ``events`` may be an array (shape kept).

    >>> round(float(formula_power(379.4, 0.75)), 3)
    0.8
    """
    hr, alpha, _, p = _check(hr, alpha, None, allocation, method)
    d = np.asarray(events, dtype=float)
    if np.any(~np.isfinite(d) | (d < 0)):
        raise DataError(f"events must be finite and >= 0, not {events!r}")
    za = norm.ppf(1 - alpha / 2)
    if method == "schoenfeld":
        z = np.sqrt(d * p * (1 - p)) * abs(math.log(hr)) - za
    else:
        k = p / (1 - p)
        z = np.sqrt(d * k) * abs(1 - hr) / (1 + k * hr) - za
    out = norm.cdf(z)
    return float(out) if np.ndim(out) == 0 else out


def _loss_hazard(loss: float) -> float:
    loss = _number("loss", loss, 0, 1, low_open=False,
                   what=" (proportion lost to follow-up per year)")
    return -math.log1p(-loss) / 12.0


def _observed(t: float, lam: float, eta: float) -> float:
    k = lam + eta
    return lam / k * -math.expm1(-k * t)


def _group_probability(lam: float, eta: float, accrual: float, follow_up: float,
                       integration: str) -> float:
    k = lam + eta
    if accrual == 0:
        return _observed(follow_up, lam, eta)
    if integration == "exact":
        mean_surv = (math.exp(-k * follow_up) * -math.expm1(-k * accrual)) / (k * accrual)
        return lam / k * (1 - mean_surv)
    return (_observed(follow_up, lam, eta) + 4 * _observed(follow_up + accrual / 2, lam, eta)
            + _observed(follow_up + accrual, lam, eta)) / 6


def event_probability(median: float, accrual: float, follow_up: float, hr: float = 1.0,
                      allocation: float = 0.5, loss: float = 0.0,
                      integration: str = "exact") -> float:
    """Probability that a patient's event is observed by the analysis.

    Parameters
    ----------
    median : float
        Median survival in group 0 (months; exponential, hazard ``log 2 / median``).
    accrual : float
        Months of uniform accrual (>= 0; 0: everyone enters at once).
    follow_up : float
        Months from the end of accrual to the analysis (>= 0; > 0 when ``accrual`` is 0).
    hr : float
        Hazard ratio of group 1 vs group 0.
    allocation : float
        Fraction of patients in group 1.
    loss : float
        Proportion lost to follow-up per year, in [0, 1) (exponential loss hazard
        ``-log(1 - loss) / 12`` per month, competing with the event).
    integration : {"exact", "simpson"}
        Closed-form mean over uniform entry, or Schoenfeld's (1983) Simpson rule.

    Returns
    -------
    float
        ``(1 - p) P_0 + p P_1``, P_g the group's probability (module docstring). R check:
        ``integrate()`` of ``F`` over ``[f, f + a]`` divided by ``a`` (make_power.R).

    >>> round(event_probability(24, accrual=0, follow_up=24), 3)
    0.5
    """
    median = _number("median", median, 0, math.inf, what=" (months)")
    accrual = _number("accrual", accrual, 0, math.inf, low_open=False, what=" (months)")
    follow_up = _number("follow_up", follow_up, 0, math.inf, low_open=False, what=" (months)")
    if accrual + follow_up == 0:
        raise DataError("accrual and follow_up are both 0: nobody is followed; give the "
                        "months of accrual and of follow-up after it")
    hr = _number("hr", hr, 0, math.inf, what=" (a hazard ratio)")
    p = _number("allocation", allocation, 0, 1)
    if integration not in INTEGRATIONS:
        raise DataError(f"integration must be one of {', '.join(INTEGRATIONS)}, "
                        f"not {integration!r}")
    eta = _loss_hazard(loss)
    lam0 = math.log(2) / median
    return ((1 - p) * _group_probability(lam0, eta, accrual, follow_up, integration)
            + p * _group_probability(hr * lam0, eta, accrual, follow_up, integration))


_event_probability = event_probability  # sample_size has a parameter of this name


@dataclass(frozen=True)
class PowerDesign:
    """A formula design: ``events`` and ``patients`` rounded up (``*_exact`` before
    rounding; ``patients`` None without an event probability), ``per_group`` (group 0,
    group 1: ``patients`` split by ``allocation``, group 1 rounded)."""

    hr: float
    alpha: float
    power: float
    allocation: float
    method: str
    events_exact: float
    events: int
    event_probability: float | None = None
    patients_exact: float | None = None
    patients: int | None = None
    per_group: tuple[int, int] | None = None
    assumptions: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "hr": self.hr, "alpha": self.alpha, "power": self.power,
                "allocation": self.allocation, "events": self.events,
                "events_exact": self.events_exact, "event_probability": self.event_probability,
                "patients": self.patients, "patients_exact": self.patients_exact,
                "per_group": list(self.per_group) if self.per_group else None,
                "assumptions": dict(self.assumptions)}


def sample_size(hr: float, alpha: float = 0.05, power: float = 0.8, allocation: float = 0.5,
                method: str = "schoenfeld", *, median: float | None = None,
                accrual: float = 0.0, follow_up: float | None = None, loss: float = 0.0,
                event_probability: float | None = None,
                integration: str = "exact") -> PowerDesign:
    """Events and patients for a two-group comparison (Schoenfeld 1983 / Freedman 1982).

    Parameters
    ----------
    hr, alpha, power, allocation, method
        As :func:`events_required`.
    median, accrual, follow_up, loss, integration
        The exponential design of :func:`event_probability` (``median`` is group 0's).
    event_probability : float, optional
        The probability of an event given directly (e.g. observed in a preset), instead of
        ``median``/``accrual``/``follow_up``.

    Returns
    -------
    PowerDesign
        ``patients`` is ``ceil(D / P(event))`` (None when neither ``median`` nor
        ``event_probability`` is given).

    Raises
    ------
    metsurv.errors.DataError
        A value out of range, ``median`` without ``follow_up``, or both ``median`` and
        ``event_probability``.

    >>> sample_size(0.5, event_probability=0.5).to_dict()["patients"]
    131
    """
    d = events_required(hr, alpha, power, allocation, method)
    hr, alpha, power, allocation = float(hr), float(alpha), float(power), float(allocation)
    assumptions: dict[str, Any] = {}
    prob = None
    if median is not None and event_probability is not None:
        raise DataError("give either median (with accrual and follow_up) or "
                        "event_probability, not both")
    if median is not None:
        if follow_up is None:
            raise DataError("median needs follow_up: the months from the end of accrual to "
                            "the analysis (e.g. --follow-up 24)")
        prob = _event_probability(median, accrual, follow_up, hr, allocation, loss,
                                  integration)
        assumptions = {"median": float(median), "accrual": float(accrual),
                       "follow_up": float(follow_up), "loss": float(loss),
                       "integration": integration}
    elif event_probability is not None:
        prob = _number("event_probability", event_probability, 0, 1, high_open=False)
        assumptions = {"event_probability": prob}
    if prob is None:
        return PowerDesign(hr, alpha, power, allocation, method, d, math.ceil(d))
    n_exact = d / prob
    n = math.ceil(n_exact)
    n1 = round(allocation * n)
    return PowerDesign(hr, alpha, power, allocation, method, d, math.ceil(d), prob, n_exact,
                       n, (n - n1, n1), assumptions)


# ----------------------------------------------------------------------------- designs
@dataclass(frozen=True)
class ExponentialDesign:
    """Two groups, exponential survival (group 0 median ``median`` months, group 1 hazard
    ``hr`` times it), ``round(allocation * n)`` patients in group 1, entry uniform over
    ``accrual`` months, analysis ``follow_up`` months after accrual ends, exponential loss
    to follow-up (``loss`` per year): the assumptions of the formulas."""

    hr: float
    median: float
    accrual: float = 0.0
    follow_up: float = 24.0
    allocation: float = 0.5
    loss: float = 0.0

    def __post_init__(self) -> None:
        event_probability(self.median, self.accrual, self.follow_up, self.hr,
                          self.allocation, self.loss)  # validates every field

    def draw(self, rng: np.random.Generator, n: int) -> pd.DataFrame:
        """One data set of ``n`` patients: columns time (months), event, group (0/1)."""
        n1 = round(self.allocation * n)
        group = np.r_[np.zeros(n - n1, dtype=np.int64), np.ones(n1, dtype=np.int64)]
        lam = math.log(2) / self.median * np.where(group == 1, self.hr, 1.0)
        death = rng.exponential(1.0, n) / lam
        eta = _loss_hazard(self.loss)
        lost = rng.exponential(1.0, n) / eta if eta > 0 else np.full(n, np.inf)
        admin = self.follow_up + self.accrual * (1 - rng.random(n))  # analysis - entry
        censor = np.minimum(lost, admin)
        return pd.DataFrame({"time": np.minimum(death, censor),
                             "event": (death <= censor).astype(np.int64), "group": group})


@dataclass(frozen=True)
class PresetContrast:
    """A contrast of a synthetic preset's ``ph`` outcome model: ``column`` at ``level`` (group
    1) against ``reference`` (group 0), with the model's true conditional ``log_hr``."""

    preset: str
    term: str
    column: str
    level: Any
    reference: Any
    log_hr: float

    def groups(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of ``frame`` at ``level`` or ``reference`` with ``group`` 1 / 0 added."""
        values = frame[self.column]
        is_level = values.eq(self.level).fillna(False).to_numpy(dtype=bool)
        is_ref = values.eq(self.reference).fillna(False).to_numpy(dtype=bool)
        keep = is_level | is_ref
        return frame.loc[keep].assign(group=is_level[keep].astype(np.int64))


def _parse_level(column: str, text: str) -> Any:
    from metsurv.synthetic.model import LEVELS

    if column in LEVELS:
        return text
    return text == "True"


def preset_contrast(preset: str, contrast: str) -> PresetContrast:
    """The contrast ``contrast`` of ``preset``'s ``ph`` model: a term of
    ``manifest["true_parameters"]["ph"]["log_hr"]`` (``"nodal_status=N1"``), or a column with
    one such term (``"leiomyosarcoma"`` is ``leiomyosarcoma=True`` vs False). The reference
    is the column's level without a term (``nodal_status``: N0; ``dfi_group``: >=36).

    Raises
    ------
    metsurv.errors.DataError
        Unknown preset, or a contrast that is not one of the model's terms (the message
        lists them).

    >>> c = preset_contrast("sarcoma", "leiomyosarcoma")
    >>> c.term, c.level, c.reference, c.log_hr
    ('leiomyosarcoma=True', True, False, -0.7)
    """
    from metsurv.synthetic import PRESETS, generate
    from metsurv.synthetic.model import LEVELS

    if preset not in PRESETS:
        raise DataError(f"unknown preset {preset!r}; use one of {', '.join(sorted(PRESETS))}")
    log_hr: dict[str, float] = generate(preset, n=10, seed=0, outcome="ph"
                                        ).manifest["true_parameters"]["ph"]["log_hr"]
    text = str(contrast).strip()
    if "=" in text:
        terms = [text] if text in log_hr else []
    else:
        terms = [t for t in log_hr if t.split("=", 1)[0] == text]
    if len(terms) != 1:
        why = "names several terms" if terms else "is not a term of the ph model"
        raise DataError(f"contrast {contrast!r} {why} of preset {preset!r}; use one of "
                        f"{', '.join(log_hr)} (a column alone where it has one term)")
    term = terms[0]
    column, level_text = term.split("=", 1)
    level = _parse_level(column, level_text)
    if column in LEVELS:
        named = {t.split("=", 1)[1] for t in log_hr if t.split("=", 1)[0] == column}
        rest = [lv for lv in LEVELS[column] if lv not in named]
        if len(rest) != 1:
            raise DataError(f"contrast {contrast!r}: column {column!r} has no single reference "
                            f"level in preset {preset!r}")
        reference: Any = rest[0]
    else:
        reference = not level
    return PresetContrast(preset, term, column, level, reference, float(log_hr[term]))


@dataclass(frozen=True)
class PresetDesign:
    """A contrast of a synthetic preset (``metsurv.synthetic.generate(preset, n,
    outcome="ph")``, analysed with :func:`metsurv.synthetic.calibration.analysis_frame`):
    overall survival (``os_months``, ``os_event``) of the contrast's two groups; patients
    of other levels are left out of the comparison."""

    contrast: PresetContrast

    @classmethod
    def of(cls, preset: str, contrast: str) -> PresetDesign:
        return cls(preset_contrast(preset, contrast))

    def draw(self, rng: np.random.Generator, n: int) -> pd.DataFrame:
        from metsurv.synthetic import generate
        from metsurv.synthetic.calibration import analysis_frame

        seed = int(rng.integers(0, 2**62))
        frame = analysis_frame(generate(self.contrast.preset, n=n, seed=seed, outcome="ph"))
        frame = self.contrast.groups(frame)
        return pd.DataFrame({"time": frame["os_months"].to_numpy(dtype=float),
                             "event": frame["os_event"].to_numpy(dtype=np.int64),
                             "group": frame["group"].to_numpy()})

    def summary(self, n: int = PRESET_DRAW, seed: int = 0) -> dict[str, float]:
        """From one draw of ``n`` patients: ``eligible`` (fraction in either group),
        ``allocation`` (fraction of those in group 1) and ``event_probability`` (fraction
        of those with a death observed)."""
        data = self.draw(np.random.default_rng(seed), n)
        return {"eligible": len(data) / n, "allocation": float(data["group"].mean()),
                "event_probability": float(data["event"].mean())}


# ----------------------------------------------------------------------------- simulation
def _one_replicate(rng: np.random.Generator, index: int, design: Any, n: int, alpha: float,
                   test: str) -> dict[str, Any]:
    """One simulated data set, tested: events, allocation (fraction in group 1), estimate (Cox log HR; NaN for log-rank),
    statistic, p and reject (p < alpha)."""
    data = design.draw(rng, n)
    if data["group"].nunique() < 2:
        raise DataError(f"a data set of {n} patients has only one group of the contrast")
    if test == "logrank":
        from metsurv.stats.tests import logrank

        res = logrank(data, by="group", time="time", event="event", start=False)
        estimate, stat, p = math.nan, float(res.statistic), float(res.p)
    else:
        from metsurv.stats.cox import cox

        row = cox(data, ["group"], time="time", event="event").to_dict()["table"][0]
        estimate, stat, p = float(row["coef"]), float(row["z"]), float(row["p"])
    if not math.isfinite(p):
        raise DataError(f"the {test} test gave no p-value (p = {p})")
    return {"n": int(n), "events": int(data["event"].sum()),
            "allocation": float(data["group"].mean()), "estimate": estimate,
            "statistic": stat, "p": p, "reject": bool(p < alpha)}


@dataclass
class SimulatedPower:
    """Simulated power per sample size: ``table`` has one row per n (``n``, ``replicates``
    (successful), ``failed``, ``power``, ``mcse`` = sqrt(power (1 - power) / replicates),
    ``events_mean``, ``allocation`` (mean fraction in group 1), ``formula_power``);
    ``replicates`` the per-replicate rows of every n
    (``n``, ``replicate``, events, estimate, statistic, p, reject); ``failures`` the failed
    replicates (``n``, ``replicate``, ``seed``, ``error``)."""

    table: pd.DataFrame
    replicates: pd.DataFrame
    failures: pd.DataFrame
    seed: Any
    test: str
    alpha: float
    hr: float
    design: dict[str, Any]
    backend: str
    method: str = "schoenfeld"

    def to_dict(self) -> list[dict[str, Any]]:
        """The ``simulated_power`` list of the ``metsurv power --json`` object."""
        return [{"n": int(r.n), "power": float(r.power), "mcse": float(r.mcse),
                 "replicates": int(r.replicates), "failed": int(r.failed),
                 "events_mean": float(r.events_mean), "formula_power": float(r.formula_power)}
                for r in self.table.itertuples()]


def simulate_power(design: ExponentialDesign | PresetDesign, n: int | Sequence[int],
                   replicates: int = 1000, seed: int = 0, *, alpha: float = 0.05,
                   test: str = "logrank", method: str = "schoenfeld",
                   workers: int | None = None, scheduler: str | None = None,
                   progress: bool | None = None) -> SimulatedPower:
    """Simulated power of ``design`` at each sample size ``n``.

    Each n runs ``replicates`` replicates through :func:`metsurv.replicate.run_replicates`
    with root seed ``seed`` (the same for every n: common random numbers, a smoother
    curve); each replicate draws a data set and tests group 1 vs 0 by log-rank (R
    ``survdiff``) or a Cox Wald test (R ``coxph``). Power is the fraction of successful
    replicates with p < ``alpha``; MC SE ``sqrt(p (1 - p) / R)``. A replicate that fails (e.g.
    a small draw with one group empty) is counted in ``failed`` and left out of R.
    ``formula_power`` is :func:`formula_power` at the mean number of events, with the design's
    hazard ratio and the simulated allocation (for a preset: the true *conditional* HR of
    the ph model, which the unadjusted comparison need not estimate).

    Parameters
    ----------
    design : ExponentialDesign or PresetDesign
    n : int or sequence of int
        Patients per data set (each >= 2; for a preset all patients drawn, of whom the
        contrast's two groups are compared).
    replicates, seed, workers, scheduler, progress
        As :func:`metsurv.replicate.run_replicates`.
    alpha : float
        Two-sided level.
    test : {"logrank", "cox"}
    method : {"schoenfeld", "freedman"}
        Formula for ``formula_power``.

    Returns
    -------
    SimulatedPower

    Raises
    ------
    metsurv.errors.DataError
        A bad n, alpha, test or method; every replicate of an n failed.
    """
    from metsurv.replicate import run_replicates

    ns = [n] if isinstance(n, (int, np.integer)) else list(n)
    if not ns or any(not isinstance(k, (int, np.integer)) or k < 2 for k in ns):
        raise DataError(f"n must be whole numbers of patients >= 2, not {n!r}")
    alpha = _number("alpha", alpha, 0, 1)
    if test not in TESTS:
        raise DataError(f"test must be one of {', '.join(TESTS)}, not {test!r}")
    if method not in METHODS:
        raise DataError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if isinstance(design, ExponentialDesign):
        hr, info = design.hr, {"kind": "exponential", "hr": design.hr, "median": design.median,
                               "accrual": design.accrual, "follow_up": design.follow_up,
                               "allocation": design.allocation, "loss": design.loss}
    else:
        c = design.contrast
        hr, info = math.exp(c.log_hr), {"kind": "preset", "preset": c.preset, "contrast": c.term,
                                        "column": c.column, "level": c.level,
                                        "reference": c.reference, "log_hr": c.log_hr}
    rows, reps, fails, backend = [], [], [], "in-process"
    for k in ns:
        res = run_replicates(_one_replicate, replicates, seed, args=(design, int(k), alpha, test),
                             workers=workers, scheduler=scheduler, progress=progress)
        backend = res.backend
        t = res.table
        if res.n_failed:
            fails.append(res.failed.assign(n=int(k)))
        if len(t) == 0:
            first = res.failed["error"].iloc[0] if res.n_failed else "no rows"
            raise DataError(f"all {replicates} replicates at n = {k} failed, e.g.: {first}")
        reps.append(t)
        r = len(t)
        p = float(t["reject"].mean())
        rows.append({"n": int(k), "replicates": r, "failed": int(res.n_failed), "power": p,
                     "mcse": math.sqrt(p * (1 - p) / r), "events_mean": float(t["events"].mean()),
                     "allocation": float(t["allocation"].mean())})
    table = pd.DataFrame(rows)
    table["formula_power"] = [formula_power(e, hr, alpha, a, method)
                              for e, a in zip(table["events_mean"], table["allocation"], strict=True)]
    replicate_rows = pd.concat(reps, ignore_index=True)
    failures = (pd.concat(fails, ignore_index=True) if fails
                else pd.DataFrame(columns=["replicate", "seed", "error", "n"]))
    return SimulatedPower(table, replicate_rows, failures, seed, test, alpha, hr, info, backend,
                          method)


# ----------------------------------------------------------------------------- figure
def power_curve_figure(result: SimulatedPower, target: float | None = 0.8) -> Any:
    """Power curve over n: simulated power (points, +/- 1.96 MC SE bars) and the formula's
    power at the simulated mean number of events (line), in the report style
    (:mod:`metsurv.report.style`); a dotted line at ``target`` power. Returns a matplotlib
    Figure (not shown; save it with ``fig.savefig``)."""
    from metsurv.report.style import COLUMN_WIDTH_IN, colour, figure_style, linestyle, new_figure

    t = result.table.sort_values("n")
    with figure_style():
        fig = new_figure((COLUMN_WIDTH_IN, COLUMN_WIDTH_IN * 0.78))
        ax = fig.add_subplot(1, 1, 1)
        if target is not None:
            ax.axhline(target, color="0.6", lw=0.6, ls=(0, (1, 1.5)), zorder=0)
            ax.annotate(f"{target:.0%} target", (0, target), xycoords=("axes fraction", "data"),
                        xytext=(2, 2), textcoords="offset points", fontsize=6, color="0.4")
        ax.plot(t["n"], t["formula_power"], color=colour(1), ls=linestyle(1), lw=1.0,
                label=f"{result.method.capitalize()} formula at the simulated events")
        half = 1.96 * t["mcse"].to_numpy()
        pw = t["power"].to_numpy()
        yerr = np.vstack([np.minimum(half, pw), np.minimum(half, 1 - pw)])  # kept in [0, 1]
        ax.errorbar(t["n"], t["power"], yerr=yerr, color=colour(0), ls=linestyle(0),
                    marker="o", ms=3, lw=1.1, capsize=1.5, elinewidth=0.7,
                    label=f"simulated ({int(t['replicates'].min())} replicates, 95% MC interval)")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("patients (n)")
        ax.set_ylabel(f"power (two-sided alpha {result.alpha:g})")
        d = result.design
        title = (f"{d['preset']}: {d['column']} {d['level']} vs {d['reference']}\n"
                 f"ph model HR {result.hr:.2f} (conditional), {result.test} test"
                 if d["kind"] == "preset" else
                 f"exponential design, HR {result.hr:.2f}, {result.test} test")
        ax.set_title(title, loc="left")
        if len(t) <= 8:
            ax.set_xticks(t["n"].to_numpy())
        ax.legend(loc="lower right", frameon=False)
        fig.tight_layout()
    return fig
