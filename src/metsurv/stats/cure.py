"""Cure fraction and extrapolation: parametric and mixture-cure regression models, fitted
with lifelines' parametric fitters, beside Kaplan-Meier per factor level.

Models (all on the same design: factors as indicators against the reference level, as
:func:`metsurv.stats.cox.design_matrix` codes them; times in months):

- ``weibull``, ``lognormal``, ``loglogistic``: accelerated failure time models, lifelines'
  ``WeibullAFTFitter``, ``LogNormalAFTFitter``, ``LogLogisticAFTFitter`` (equal to R
  ``survreg(Surv(time, event) ~ x, dist = "weibull" / "lognormal" / "loglogistic")``:
  lifelines' ``lambda_`` / ``mu_`` / ``alpha_`` coefficients are survreg's coefficients, its
  shape ``rho_`` (``beta_``) is ``1 / scale``, its ``sigma_`` survreg's ``scale``). Every
  patient dies eventually: no cure fraction.
- ``weibull_cure``: the mixture cure model
  ``S(t | x) = pi(x) + (1 - pi(x)) S_u(t | x)`` with a logistic link for the cured fraction,
  ``logit pi(x) = x . b_cure``, and a Weibull AFT model for the uncured,
  ``S_u(t | x) = exp(-(t / lambda(x))^rho)``, ``log lambda(x) = x . b_lambda`` and one shape
  rho (Farewell 1982; the generator of :mod:`metsurv.synthetic` is this model for cancer
  death). Fitted by maximum likelihood with a subclass of lifelines'
  ``ParametricRegressionFitter`` (BFGS; the variance is the inverse of the observed
  information by automatic differentiation). No R package fits it in Debian (smcure and
  flexsurvcure are not packaged): tests/reference/make_cure.R writes its log-likelihood and
  maximises it with ``optim`` (BFGS, analytic gradient).

Cure fraction by factor level: the mean of the fitted pi(x_i) over the patients with that
level (so its plateau is that of the level's fitted marginal curve, the curve compared with
the level's Kaplan-Meier curve). Its CI is the delta method on the logit scale with lifelines'
variance matrix: ``se = sqrt(g' V g) / (m (1 - m))`` with ``g = mean_i pi_i (1 - pi_i) x_i``,
limits ``expit(logit m -/+ z se)``. It is NaN, with the reason in ``reason`` and
``warnings``, never a confident number, when the model did not converge, the variance is
not estimable, the logit standard error exceeds :data:`MAX_LOGIT_SE` (the plateau is not
identified), or the follow-up is too short to see a plateau: the fitted survival of the
level's uncured patients at the level's longest follow-up is above :data:`MAX_UNCURED_AT_END`
(then the cure fraction is an extrapolation of the Weibull tail, not a plateau in the data).
"""

from __future__ import annotations

import html as _html
import warnings as _warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import norm

from ..errors import DataError
from ..schema import MONTHS_PER_YEAR
from ._result import Result, html_table, warn
from ._times import (
    as_frame,
    group_levels,
    level_label,
    missing_by_column,
    missing_text,
    survival_data,
)
from .cox.design import _design, _is_categorical

#: The models fitted, in table order.
MODELS: tuple[str, ...] = ("weibull", "lognormal", "loglogistic", "weibull_cure")
#: A level's cure fraction is NaN when its standard error on the logit scale is above this
#: (a 95% CI wider than about 0.1 to 0.9 around 0.5: the plateau is not identified).
MAX_LOGIT_SE = 1.5
#: ... or when the fitted survival of its uncured patients at its longest follow-up is above
#: this (follow-up too short to show a plateau).
MAX_UNCURED_AT_END = 0.10
CI_METHOD = "delta method on the logit scale (lifelines variance matrix)"
CURE_COLUMNS = ["factor", "level", "n", "events", "estimate", "std_err_logit", "lower", "upper",
                "max_followup", "uncured_surv_at_max", "reason"]


def _cure_fitter_class() -> type:
    """The mixture cure fitter (lifelines and autograd imported only when a model is fitted)."""
    import autograd.numpy as anp
    from lifelines.fitters import ParametricRegressionFitter

    class WeibullMixtureCureFitter(ParametricRegressionFitter):
        """S(t|x) = pi + (1 - pi) exp(-(t / lambda)^rho); logit pi = x . cure_,
        log lambda = x . lambda_, log rho = rho_ (intercept only)."""

        # alphabetical: lifelines orders its Hessian as autograd flattens the parameter dict
        # (sorted keys) but its variance matrix in this order; the two must agree
        _fitted_parameter_names = ["cure_", "lambda_", "rho_"]
        fit_intercept = True
        _scipy_fit_options = {"gtol": 1e-7, "maxiter": 2000}

        def _parts(self, params: Any, T: Any, Xs: Any) -> tuple[Any, ...]:
            a = anp.dot(Xs["cure_"], params["cure_"])
            log_lam = anp.dot(Xs["lambda_"], params["lambda_"])
            log_rho = anp.dot(Xs["rho_"], params["rho_"])
            rho = anp.exp(log_rho)
            log_t = anp.log(T)
            z = anp.exp(rho * (log_t - log_lam))
            log_pi = -anp.logaddexp(0.0, -a)
            log_1m_pi = -anp.logaddexp(0.0, a)
            log_s = anp.logaddexp(log_pi, log_1m_pi - z)
            return log_1m_pi, z, log_rho, rho, log_t, log_lam, log_s

        def _cumulative_hazard(self, params: Any, T: Any, Xs: Any) -> Any:
            return -self._parts(params, T, Xs)[-1]

        def _log_hazard(self, params: Any, T: Any, Xs: Any) -> Any:
            log_1m_pi, z, log_rho, rho, log_t, log_lam, log_s = self._parts(params, T, Xs)
            return log_1m_pi - z + log_rho + (rho - 1.0) * log_t - rho * log_lam - log_s

        def _create_initial_point(self, Ts: Any, E: Any, entries: Any, weights: Any,
                                  Xs: Any) -> dict[str, np.ndarray]:
            T = np.asarray(Ts[0], dtype=float)
            e = np.asarray(E, dtype=bool)
            out = {}
            starts = {"cure_": float(logit(np.clip(1.0 - e.mean(), 0.05, 0.95))),
                      "lambda_": float(np.log(np.median(T[e]) if e.any() else np.median(T))),
                      "rho_": 0.0}
            for name in self._fitted_parameter_names:
                cols = list(Xs[name].columns)
                x = np.zeros(len(cols))
                if "Intercept" in cols:
                    x[cols.index("Intercept")] = starts[name]
                out[name] = x
            return out

    return WeibullMixtureCureFitter


def _aft_fitters() -> dict[str, Any]:
    from lifelines import LogLogisticAFTFitter, LogNormalAFTFitter, WeibullAFTFitter

    return {"weibull": WeibullAFTFitter, "lognormal": LogNormalAFTFitter,
            "loglogistic": LogLogisticAFTFitter}


@dataclass(frozen=True, eq=False)
class CureResult(Result):
    """Parametric and mixture-cure fits (:func:`cure_models`).

    ``cure_fraction`` (``to_frame()``): one row per factor level (and ``factor="all"``):
    ``n``, ``events``, ``estimate`` (mean fitted cure fraction of the level's patients),
    ``std_err_logit``, ``lower``/``upper`` (:data:`CI_METHOD`), ``max_followup`` (months),
    ``uncured_surv_at_max`` (fitted survival of the level's uncured at that time) and
    ``reason`` (why the estimate is NaN; empty otherwise). ``models``: model, n_params,
    loglik, aic, converged, reason. ``coefficients``: model, parameter (lifelines' name),
    term, estimate, std_err. ``curves``: fitted marginal survival per factor, level, model
    and time (months, 0 to ``horizon``); ``km``: the Kaplan-Meier steps per factor and
    level. ``missing``: rows dropped for a missing value, per column."""

    cure_fraction: pd.DataFrame
    models: pd.DataFrame
    coefficients: pd.DataFrame
    curves: pd.DataFrame
    km: pd.DataFrame
    n: int
    events: int
    n_dropped: int
    missing: dict[str, int]
    covariates: tuple[str, ...]
    factors: tuple[str, ...]
    time: str
    event: str
    horizon: float
    conf_level: float
    ci_method: str = CI_METHOD

    def to_frame(self) -> pd.DataFrame:
        return self.cure_fraction.copy()

    def best_model(self, cure: bool = False) -> str | None:
        """The model with the lowest AIC among the AFT models (``cure=False``) or all."""
        m = self.models[self.models["aic"].notna()]
        if not cure:
            m = m[m["model"] != "weibull_cure"]
        return None if m.empty else str(m.loc[m["aic"].idxmin(), "model"])

    def _html_head(self) -> str:
        return (f"<b>CureResult</b> n = {self.n}, events = {self.events}, dropped for missing "
                f"values = {self.n_dropped}; cure fraction CI: {_html.escape(self.ci_method)}")

    def _repr_html_(self) -> str:
        base = super()._repr_html_()
        return base.removesuffix("</div>") + "<br><b>Models</b>" + html_table(
            self.models) + "</div>"

    def plot(self, ax: Any = None, factor: str | None = None,
             models: Sequence[str] | None = None) -> Any:
        """Kaplan-Meier per level of ``factor`` (steps, default: the first factor) beside
        the fitted marginal curves of ``models`` (default: the mixture cure model, dashed,
        and the AFT model with the lowest AIC, dotted) to :attr:`horizon`, with the end of
        follow-up marked when it comes before the horizon; years on the x axis.

        Returns
        -------
        matplotlib.axes.Axes

        Raises
        ------
        DataError
            ``factor`` is not a reported factor.
        """
        from ..report.plotting import _new_axes, _tidy, notebook_style

        new = ax is None
        with notebook_style():
            ax = _new_axes(ax)
            self._draw(ax, factor, models, keys=True)
            _tidy(ax, new)
        return ax

    def _draw(self, ax: Any, factor: str | None, models: Sequence[str] | None,
              keys: bool) -> None:
        from matplotlib.lines import Line2D

        from ..report import style

        factor = factor if factor is not None else (self.factors[0] if self.factors else "all")
        if factor not in set(self.km["factor"]):
            raise DataError(f"no curves for factor {factor!r}; choose one of "
                            f"{sorted(set(self.km['factor']))}")
        if models is None:
            models = [m for m in ("weibull_cure", self.best_model()) if m is not None]
        km_f = self.km[self.km["factor"] == factor]
        cv_f = self.curves[self.curves["factor"] == factor]
        years = self.horizon / MONTHS_PER_YEAR
        for i, level in enumerate(dict.fromkeys(km_f["level"])):
            k = km_f[km_f["level"] == level]
            colour = style.colour(i)
            ax.step(k["time"] / MONTHS_PER_YEAR, k["estimate"], where="post", color=colour,
                    lw=1.2, label=str(level) if factor != "all" else "all patients")
            for j, model in enumerate(models):
                c = cv_f[(cv_f["level"] == level) & (cv_f["model"] == model)]
                if c["survival"].notna().any():
                    ax.plot(c["time"] / MONTHS_PER_YEAR, c["survival"], color=colour,
                            ls=_DASHES[j % len(_DASHES)], lw=0.9)
        end = float(km_f["time"].max()) / MONTHS_PER_YEAR
        if end < years:
            ax.axvline(end, color="0.6", lw=0.6, ls=":")
            ax.text(end, 0.98, " end of follow-up", color="0.4", fontsize="x-small", va="top")
        levels = ax.legend(loc="upper right", title=factor if factor != "all" else None,
                           frameon=False)
        if keys:
            ax.add_artist(levels)
            handles = [Line2D([], [], color="0.3", lw=1.2, label="Kaplan-Meier")] + [
                Line2D([], [], color="0.3", ls=_DASHES[j % len(_DASHES)], lw=0.9,
                       label=_MODEL_LABELS.get(m, m)) for j, m in enumerate(models)]
            ax.legend(handles=handles, loc="center right", frameon=False)
        ax.set_xlim(0, years)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("Years")
        ax.set_ylabel(f"Survival ({self.event})")
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")


_MODEL_LABELS = {"weibull": "Weibull", "lognormal": "log-normal", "loglogistic": "log-logistic",
                 "weibull_cure": "mixture cure (Weibull)"}
_DASHES: tuple[object, ...] = ((0, (5, 2)), (0, (1, 1.2)), (0, (6, 1.5, 1, 1.5)))


def cure_figure(result: CureResult, factors: Sequence[str] | None = None,
                models: Sequence[str] | None = None) -> Any:
    """A journal figure in metsurv's style (85 mm wide, one panel per factor, stacked):
    Kaplan-Meier per level beside the fitted marginal curves extrapolated to the result's
    horizon (as :meth:`CureResult.plot`; the key to the line styles in the first panel).
    Save with ``fig.savefig(path, dpi=300)``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        A factor that the result does not report.
    """
    from ..report import style

    factors = list(factors if factors is not None else result.factors or ["all"])
    with style.figure_style():
        fig = style.new_figure((style.COLUMN_WIDTH_IN, 2.1 * len(factors)))
        axes = fig.subplots(len(factors), 1, squeeze=False)[:, 0]
        for i, (ax, f) in enumerate(zip(axes, factors, strict=True)):
            result._draw(ax, f, models, keys=i == 0)
        fig.tight_layout()
    return fig


def _patterns(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of X and the index of each patient's row."""
    uniq, inv = np.unique(X, axis=0, return_inverse=True)
    return uniq, inv.reshape(-1)


def _params_table(model: str, fitter: Any, names: dict[str, str]) -> pd.DataFrame:
    p = fitter.params_
    se = fitter.standard_errors_
    return pd.DataFrame({
        "model": model,
        "parameter": [k[0] for k in p.index],
        "term": [names.get(k[1], k[1]) for k in p.index],
        "estimate": p.to_numpy(float),
        "std_err": se.reindex(p.index).to_numpy(float),
    })


def cure_models(data: Any, covariates: Sequence[str], time: str = "os_months",
                event: str = "os_event", *, by: Sequence[str] | None = None,
                horizon: float = 240.0, conf_level: float = 0.95,
                reference: dict[str, Any] | None = None,
                models: Sequence[str] = MODELS) -> CureResult:
    """Fit Weibull, log-normal and log-logistic AFT models and a Weibull mixture cure model
    on ``covariates``, report the cured fraction per factor level with a CI, each model's
    AIC, and the fitted marginal curves per level to ``horizon`` beside Kaplan-Meier.

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient.
    covariates : sequence of str
        Columns; factors and yes/no columns are coded as indicators against their reference
        level (the schema's, else the first level; ``reference`` overrides), numbers as they
        are.
    time, event : str
        Follow-up (months, > 0) and event (0/1 or true/false).
    by : sequence of str, optional
        Factors reported (cure fraction and curves per level); default: every categorical
        covariate. A factor not among the covariates is reported too (from the fitted
        model: its levels' mean pi).
    horizon : float
        End of the fitted curves, months (240: 20 years).
    conf_level : float
        Of the cure-fraction CI.
    reference : dict, optional
        Reference level per factor.
    models : sequence of str
        A subset of :data:`MODELS`.

    Returns
    -------
    CureResult
        ``to_frame()``: the cure fraction per factor level (see :class:`CureResult`).

    Raises
    ------
    DataError
        No rows or no events after dropping missing values, a time <= 0, or a single-level
        factor. A model that does not converge or has more parameters than events is not
        an error: its row of ``models`` says why and its numbers are NaN.
    KeyError
        A column is absent.

    Examples
    --------
    >>> from metsurv.synthetic import generate
    >>> from metsurv.synthetic.calibration import analysis_frame
    >>> df = analysis_frame(generate("sarcoma", n=600, seed=2))
    >>> res = cure_models(df, ["complete_resection"], models=("weibull", "weibull_cure"))
    >>> tab = res.to_frame()
    >>> tab[["factor", "level"]].values.tolist()
    [['all', 'all'], ['complete_resection', False], ['complete_resection', True]]
    >>> bool(tab["estimate"].iloc[1] < tab["estimate"].iloc[2])  # R0 cured more often
    True
    """
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ValueError(f"unknown model(s) {sorted(unknown)}; choose from {MODELS}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level}")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if not covariates:
        raise ValueError("cure_models needs at least one covariate")
    frame_all = as_frame(data)
    by_cols = list(by) if by is not None else [
        c for c in covariates if c in frame_all.columns and _is_categorical(frame_all[c])]
    needed = list(dict.fromkeys([*covariates, *by_cols]))
    missing_counts = missing_by_column(frame_all, [time, event, *needed])
    sd = survival_data(frame_all, time, event, needed)
    if sd.time.size == 0:
        raise DataError("no rows left after dropping rows with missing values: nothing to fit")
    if sd.event.sum() == 0:
        raise DataError("no events after dropping rows with missing values: nothing to fit",
                        column=event)
    if (sd.time <= 0).any() or not np.isfinite(sd.time).all():
        bad = sd.time[(sd.time <= 0) | ~np.isfinite(sd.time)][0]
        raise DataError(f"column {time!r}: time {bad:g} is not allowed; parametric models "
                        "need finite times > 0 (R survreg: invalid survival times for this "
                        "distribution); drop or correct those rows", column=time)
    notes: list[str] = []
    if sd.n_dropped:
        warn(notes, f"{sd.n_dropped} row(s) dropped for missing values "
                    f"({missing_text(missing_counts)})")
    frame = sd.frame.reset_index(drop=True)
    design = _design(frame, covariates, dict(reference or {}), unused=False)
    X = design.X
    safe = [f"x{i}" for i in range(X.shape[1])]
    names = dict(zip(safe, design.names, strict=True)) | {"Intercept": "(Intercept)"}
    T = sd.time.astype(float)
    E = sd.event.astype(bool)
    n_events = int(E.sum())
    df = pd.DataFrame(X, columns=safe).assign(_T=T, _E=E.astype(int))
    fitters: dict[str, Any] = {}
    rows, coefs = [], []
    k = X.shape[1]
    n_params = {"weibull": k + 2, "lognormal": k + 2, "loglogistic": k + 2,
                "weibull_cure": 2 * k + 3}
    aft = _aft_fitters()
    for model in models:
        reason = ""
        fitter = None
        if n_events < n_params[model]:
            reason = (f"{n_events} events for {n_params[model]} parameters: too few events "
                      "to fit")
        else:
            try:
                fitter, caught = _fit_one(model, aft, df, safe)
            except Exception as exc:  # lifelines ConvergenceError and numerical failures
                reason = f"did not converge ({type(exc).__name__}: {str(exc).strip()[:120]})"
        if fitter is not None:
            var = np.asarray(fitter.variance_matrix_, dtype=float)
            if (not np.isfinite(var).all() or (np.diag(var) <= 0).any()
                    or "ApproximationWarning" in caught):
                reason = ("variance not estimable (singular information matrix; for the cure "
                          "model: the plateau is not identified)")
            fitters[model] = fitter
            coefs.append(_params_table(model, fitter, names))
        if reason:
            warn(notes, f"{model}: {reason}")
        rows.append({"model": model, "n_params": n_params[model],
                     "loglik": float(fitter.log_likelihood_) if fitter else np.nan,
                     "aic": float(fitter.AIC_) if fitter else np.nan,
                     "converged": fitter is not None, "reason": reason})
    models_table = pd.DataFrame(rows)
    coef_table = (pd.concat(coefs, ignore_index=True) if coefs else pd.DataFrame(
        columns=["model", "parameter", "term", "estimate", "std_err"]))

    uniq, inv = _patterns(X)
    grid = np.linspace(0.0, float(horizon), 481)
    groups = [("all", "all", np.ones(T.size, dtype=bool))]
    for f in by_cols:
        col = frame[f]
        for level in group_levels(col):
            groups.append((f, level_label(level), (col == level).to_numpy(dtype=bool)))
    # patients per distinct covariate row in each group (rows: groups)
    counts = np.stack([np.bincount(inv[mask], minlength=uniq.shape[0]) for *_, mask in groups]
                      ).astype(float)
    weights = counts / counts.sum(axis=1, keepdims=True)
    surv = {m: _mean_survival(f, uniq, safe, grid, weights) for m, f in fitters.items()}
    cure_rows, curve_frames = [], []
    z = norm.ppf(0.5 + conf_level / 2)
    cure_model = models_table.set_index("model")["reason"].get("weibull_cure")
    for gi, (f, level, mask) in enumerate(groups):
        w = weights[gi]
        row: dict[str, Any] = {"factor": f, "level": level, "n": int(mask.sum()),
                               "events": int(E[mask].sum()),
                               "max_followup": float(T[mask].max())}
        if "weibull_cure" in fitters and not cure_model:
            row |= _cure_fraction(fitters["weibull_cure"], uniq, w, row["max_followup"], z)
        else:
            row |= {"estimate": np.nan, "std_err_logit": np.nan, "lower": np.nan,
                    "upper": np.nan, "uncured_surv_at_max": np.nan,
                    "reason": cure_model or "mixture cure model not fitted"}
        if row["reason"] and "weibull_cure" in fitters and not cure_model:
            warn(notes, f"cure fraction of {f} = {level}: {row['reason']}")
        cure_rows.append(row)
        for m, s in surv.items():
            curve_frames.append(pd.DataFrame({"factor": f, "level": [level] * grid.size,
                                              "model": m, "time": grid, "survival": s[gi]}))
    cure_table = pd.DataFrame(cure_rows)[CURE_COLUMNS]
    curves = (pd.concat(curve_frames, ignore_index=True) if curve_frames else pd.DataFrame(
        columns=["factor", "level", "model", "time", "survival"]))
    km_table = _km_steps(T, E, groups)
    return CureResult(
        cure_fraction=cure_table, models=models_table, coefficients=coef_table, curves=curves,
        km=km_table, n=int(T.size), events=n_events, n_dropped=int(sd.n_dropped),
        missing=missing_counts, covariates=tuple(covariates), factors=tuple(by_cols), time=time,
        event=event, horizon=float(horizon), conf_level=float(conf_level),
        warnings=tuple(notes))


def _fit_one(model: str, aft: dict[str, Any], df: pd.DataFrame, safe: list[str]
             ) -> tuple[Any, set[str]]:
    """One lifelines fit and the class names of the warnings lifelines raised (silenced
    here: convergence raises, and a pseudo-inverted Hessian, ``ApproximationWarning``, makes
    the variance not estimable)."""
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        if model == "weibull_cure":
            fitter = _cure_fitter_class()()
            # lifelines adds the intercept column to each (fit_intercept)
            regressors = {"cure_": list(safe), "lambda_": list(safe), "rho_": []}
            fitter.fit(df, "_T", "_E", regressors=regressors)
        else:
            fitter = aft[model]()
            # tighter than lifelines' defaults, so that the fit is survreg's to 1e-5
            options = ({"ftol": 1e-12, "maxiter": 1000} if fitter._scipy_fit_method == "SLSQP"
                       else {"gtol": 1e-8})
            fitter.fit(df, "_T", "_E", fit_options=options)
    return fitter, {w.category.__name__ for w in caught}


def _mean_survival(fitter: Any, uniq: np.ndarray, safe: list[str], grid: np.ndarray,
                   weights: np.ndarray, chunk: int = 2000) -> np.ndarray:
    """Marginal fitted survival of each group (rows of ``weights``: its share of patients in
    each distinct covariate row of ``uniq``) on ``grid`` (1 at t = 0): weights @ S, with
    S(t | x) from lifelines, taken ``chunk`` covariate rows at a time."""
    t = np.where(grid > 0, grid, 1.0)
    out = np.zeros((weights.shape[0], grid.size))
    for lo in range(0, uniq.shape[0], chunk):
        pats = pd.DataFrame(uniq[lo:lo + chunk], columns=safe)
        s = fitter.predict_survival_function(pats, times=t).to_numpy(float).T
        out += weights[:, lo:lo + chunk] @ s
    out[:, grid <= 0] = 1.0
    return out


def _cure_fraction(fitter: Any, uniq: np.ndarray, w: np.ndarray, t_max: float, z: float
                   ) -> dict[str, Any]:
    """Mean cure fraction over the covariate rows ``uniq`` weighted by ``w``, its logit-scale
    delta-method SE and CI, and the fitted survival of the uncured at ``t_max``."""
    p = fitter.params_
    V = fitter.variance_matrix_
    idx_c = [i for i in p.index if i[0] == "cure_"]
    cols = [i[1] for i in idx_c]
    Xc = np.column_stack([np.ones(uniq.shape[0]) if c == "Intercept"
                          else uniq[:, int(c[1:])] for c in cols])
    pi = expit(Xc @ p.loc[idx_c].to_numpy(float))
    m = float(w @ pi)
    g = (w * pi * (1 - pi)) @ Xc
    Vc = V.loc[idx_c, idx_c].to_numpy(float)
    var = float(g @ Vc @ g)
    idx_l = [i for i in p.index if i[0] == "lambda_"]
    Xl = np.column_stack([np.ones(uniq.shape[0]) if i[1] == "Intercept"
                          else uniq[:, int(i[1][1:])] for i in idx_l])
    lam = np.exp(Xl @ p.loc[idx_l].to_numpy(float))
    rho = float(np.exp(p.loc[("rho_", "Intercept")]))
    su = np.exp(-((t_max / lam) ** rho))
    su_end = float((w * (1 - pi)) @ su / max((w * (1 - pi)).sum(), 1e-300))
    reason = ""
    se = np.sqrt(var) / (m * (1 - m)) if var >= 0 and 0 < m < 1 else np.nan
    if not np.isfinite(se):
        reason = "variance not estimable"
    elif se > MAX_LOGIT_SE:
        reason = (f"plateau not identified (logit standard error {se:.2g} > "
                  f"{MAX_LOGIT_SE:g})")
    elif su_end > MAX_UNCURED_AT_END:
        reason = (f"no plateau within follow-up: fitted survival of the uncured at the "
                  f"longest follow-up ({t_max:.0f} months) is {su_end:.2f} > "
                  f"{MAX_UNCURED_AT_END:g}; the cure fraction would be an extrapolation")
    if reason:
        return {"estimate": np.nan, "std_err_logit": se, "lower": np.nan, "upper": np.nan,
                "uncured_surv_at_max": su_end, "reason": reason}
    lg = logit(m)
    return {"estimate": m, "std_err_logit": float(se), "lower": float(expit(lg - z * se)),
            "upper": float(expit(lg + z * se)), "uncured_surv_at_max": su_end, "reason": ""}


def _km_steps(T: np.ndarray, E: np.ndarray, groups: list[tuple[str, Any, np.ndarray]]
              ) -> pd.DataFrame:
    """Kaplan-Meier steps (time, estimate; first row time 0, estimate 1) of each group, by
    :func:`metsurv.stats.km`."""
    from .km import km

    frames = []
    for f, level, mask in groups:
        fit = km(pd.DataFrame({"t": T[mask], "e": E[mask]}), time="t", event="e")
        tab = fit.curves[0].table
        frames.append(pd.DataFrame({
            "factor": f, "level": [level] * (len(tab) + 1),
            "time": np.concatenate([[0.0], tab["time"].to_numpy(float)]),
            "estimate": np.concatenate([[1.0], tab["estimate"].to_numpy(float)])}))
    return pd.concat(frames, ignore_index=True)
