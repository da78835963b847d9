"""Result classes of a Cox fit (R ``coxph`` object) and of its PH test (R ``cox.zph``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ...format import format_p
from .._result import Result, json_safe
from .concordance import _concordance
from .risk import _lp

_ZPH_AXES = ("time", "x", "stratum")


@dataclass(frozen=True, eq=False)
class PHTestResult(Result):
    """Test of proportional hazards per term and GLOBAL, as R ``cox.zph``."""

    terms: tuple[str, ...]  # covariate terms, then "GLOBAL"
    chisq: np.ndarray
    df: np.ndarray
    p: np.ndarray
    transform: str
    #: cox.zph's plot data, one row per event: time, x (transformed time), stratum (when
    #: stratified) and the scaled Schoenfeld residual of each term (y; its smooth
    #: against x estimates beta(t), flat when hazards are proportional), in a column named
    #: as the term (``y:<term>`` for a term itself called time, x or stratum)
    residuals: pd.DataFrame | None = None
    #: cox.zph's ``var`` (solve of the mean information per event), by residual column:
    #: the scale of plot.cox.zph's band (:func:`~metsurv.stats.cox.zph.zph_smooth`)
    var: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"term": list(self.terms), "chisq": self.chisq, "df": self.df, "p": self.p}
        )

    def __repr__(self) -> str:
        lines = [f"PHTestResult (cox.zph, transform = {self.transform})",
                 self.to_frame().to_string(index=False, na_rep="NA")]
        return "\n".join([*lines, *(f"Warning: {w}" for w in self.warnings)])

    def _html_head(self) -> str:
        n = "" if self.residuals is None else f": {len(self.residuals)} events"
        return (f"<b>PHTestResult</b> proportional-hazards test (cox.zph, transform = "
                f"{self.transform}){n}")

    def plot(self, ax: Any = None, term: str | None = None, **kwargs: Any) -> Any:
        """Scaled Schoenfeld residuals of each term against time with their smooth and
        +-2 SE band (R ``plot(cox.zph(fit))``), one panel per term, or only ``term``;
        see :func:`metsurv.report.plotting.plot_ph_test`. Returns the axes (an array of
        axes for several terms)."""
        from ...report.plotting import plot_ph_test

        return plot_ph_test(self, ax, term=term, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"transform": self.transform, "table": self.to_frame(),
                          "residuals": self.residuals, "warnings": self.warnings})


@dataclass(frozen=True, eq=False)
class CoxResult(Result):
    """A fitted Cox model. Term names: a numeric covariate keeps its name, a categorical
    one gives ``column[level]`` per non-reference level (R would say ``columnlevel``), an
    interaction ``a:b`` the products of their columns (``dfi_group[0-11]:age``).

    A column that cannot be estimated (linearly dependent on earlier ones, constant
    within every stratum, a factor level with no patient) has coef, se, HR, CI, z and p
    NaN (JSON null, printed NA) and NaN rows and columns in ``vcov``, as R's NA; the
    tests (``lrt``, ``wald``, ``score``) count only the estimable columns in their df.
    ``warnings`` says which terms, and any other warning R would give (a coefficient that
    may be infinite, iterations run out); an HR limit that overflows is +Inf (JSON
    "Inf"), never missing."""

    terms: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray | None
    vcov: np.ndarray
    vcov_robust: np.ndarray | None
    conf_level: float
    loglik_null: float
    loglik: float
    lrt: tuple[float, int, float]
    wald: tuple[float, int, float]
    score: tuple[float, int, float]
    robust_score: tuple[float, int, float] | None
    n: int
    events: int
    n_dropped: int
    iterations: int
    converged: bool
    ties: str
    covariates: tuple[str, ...]
    references: dict[str, Any]
    strata: tuple[str, ...]
    cluster: str | None
    time: str
    event: str
    start: str | None = None
    weights: str | None = None
    _zph_data: Any = field(default=None, repr=False)
    _cluster_codes: np.ndarray | None = field(default=None, repr=False)
    #: for predictions (:mod:`.survfit`): each categorical covariate's and stratum column's
    #: levels as fitted and its reference level (None for a stratum column)
    _xlevels: dict[str, tuple[tuple[Any, ...], Any]] | None = field(default=None, repr=False)
    #: the (weighted) mean of each design column within each stratum (strata x p): the
    #: centring of the sorted design the risk sets hold
    _centers: np.ndarray | None = field(default=None, repr=False)

    @property
    def hr(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(self.coef)

    @property
    def estimable(self) -> np.ndarray:
        """Boolean per term: False where R gives NA."""
        return np.isfinite(self.coef)

    # Harrell's C costs as much as the fit itself on a large cohort (O(n log n) sorts over
    # every subject), and most callers (the report, the IRLM battery) never read it: it is
    # computed on first access of any of the three, once.
    @cached_property
    def _concordance_fit(self) -> tuple[float, float, dict[str, float]]:
        risk, beta = self._zph_data[:2]
        w = None if self.weights is None else risk.w
        return _concordance(risk.t, risk.e.astype(np.int64), _lp(risk.X, beta), risk.s,
                            self._cluster_codes, risk.start, w)

    @property
    def concordance(self) -> float:
        """Harrell's C as R ``fit$concordance`` (computed on first access)."""
        return self._concordance_fit[0]

    @property
    def concordance_se(self) -> float:
        """Its infinitesimal-jackknife standard error (R ``sqrt(fit$var)``)."""
        return self._concordance_fit[1]

    @property
    def concordance_counts(self) -> dict[str, float]:
        """Concordant, discordant, tied_x, tied_y, tied_xy pair counts (R ``count``)."""
        return self._concordance_fit[2]

    def _se_used(self) -> np.ndarray:
        return self.robust_se if self.robust_se is not None else self.se

    def to_frame(self) -> pd.DataFrame:
        """term, coef, hr, se, robust_se, z, p, lower, upper (HR limits). With a robust
        variance, z, p and the limits use the robust SE (as R ``summary.coxph``)."""
        se = self._se_used()
        q = norm.ppf(1 - (1 - self.conf_level) / 2)
        # exp() of a huge limit is +Inf, which is what it is (R prints Inf), not an error
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            z = self.coef / se
            return pd.DataFrame(
                {
                    "term": list(self.terms),
                    "coef": self.coef,
                    "hr": self.hr,
                    "se": self.se,
                    "robust_se": self.robust_se if self.robust_se is not None else np.nan,
                    "z": z,
                    "p": 2 * norm.sf(np.abs(z)),
                    "lower": np.exp(self.coef - q * se),
                    "upper": np.exp(self.coef + q * se),
                }
            )

    def to_dict(self) -> dict[str, Any]:
        names = [f for f in self.__dataclass_fields__ if not f.startswith("_")]
        at = names.index("robust_score") + 1  # the keys' order since they were fields
        names[at:at] = ["concordance", "concordance_se", "concordance_counts"]
        out = {f: getattr(self, f) for f in names}
        out["table"] = self.to_frame()
        for k in ("lrt", "wald", "score", "robust_score"):
            v = out[k]
            out[k] = None if v is None else {"statistic": v[0], "df": v[1], "p": v[2]}
        return json_safe(out)

    def _head(self) -> str:
        return (f"n = {self.n}, events = {self.events} ({self.n_dropped} dropped), "
                f"ties = {self.ties}, concordance = {self.concordance:.3f}")

    def __repr__(self) -> str:
        """As R prints a coxph fit: NA for the terms it cannot estimate, the LRT line and
        the warnings."""
        stat, df, p = self.lrt
        lines = [f"CoxResult {self._head()}",
                 self.to_frame().to_string(index=False, na_rep="NA"),
                 f"Likelihood ratio test = {stat:.6g} on {df} df, p = {p:.3g}"]
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _html_head(self) -> str:
        stat, df, p = self.lrt
        return (f"<b>CoxResult</b> Cox model of {self.time}: {self._head()}; likelihood "
                f"ratio test {stat:.1f} on {df} df, {format_p(p)}")

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Forest plot of the hazard ratios with their CIs on a log axis
        (:func:`metsurv.report.plotting.plot_forest`; keyword arguments go there), into
        ``ax`` or a new notebook-sized figure; returns the axes."""
        from ...report.plotting import plot_forest

        return plot_forest(self.to_frame(), ax, **kwargs)

    def predict(self, newdata: Any, times: Any = None, conf_level: float = 0.95,
                conf_type: str = "log") -> Any:
        """Survival curves of new patients, R ``survfit(fit, newdata = newdata)``: see
        :func:`metsurv.stats.cox.survfit.survfit_coxph`."""
        from .survfit import survfit_coxph

        return survfit_coxph(self, newdata, times=times, conf_level=conf_level,
                             conf_type=conf_type)

    def ph_test(self, transform: str = "km") -> PHTestResult:
        """The proportional-hazards test, R ``cox.zph(fit, transform)``: see
        :func:`metsurv.stats.cox.cox_zph`."""
        from .zph import cox_zph

        return cox_zph(self, transform)
