"""Survival curves of new patients from a Cox fit, R ``survfit.coxph(fit, newdata = nd)``.

For a patient with covariates x the curve is S(t | x) = exp(-H0(t) exp(x'beta)), H0 the
baseline cumulative hazard of the patient's stratum: Efron-adjusted for an Efron fit
(R's default ``ctype = 2`` then), Breslow (Nelson-Aalen with risk weights) for a Breslow
fit. Its variance is R's (Tsiatis 1981; Link 1984): the variance of the baseline hazard
increments plus the term for the uncertainty of beta,
``var H(t | x) = exp(2 x'beta) [sum_k v_k + d(t)' V d(t)]`` with
``d(t) = H0(t) x - sum_{t_k <= t} h_k xbar_k`` (R ``agsurv`` / ``coxsurv.fit``; Efron's
sums over the d sub-steps of a tied time are those of R's C routine ``agsurv5``). Limits
are R's ``conf.type = "log"`` (default), ``"log-log"`` or ``"plain"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ...errors import DataError
from ...format import format_num
from .._result import Result, json_safe, warn
from .._times import level_label
from .design import _design, variables
from .result import CoxResult

CONF_TYPES = ("log", "log-log", "plain")


def _level_index(values: pd.Series, levels: Sequence[Any], col: str,
                 present: np.ndarray | None = None) -> np.ndarray:
    """Code of each new value among the fitted ``levels``: the level itself, or its label
    as text ("true" for True, "0-11"); DataError naming the column and value otherwise,
    and for a level that ``present`` (one flag per level) says no fitted row had (an unused
    category of a pandas Categorical: its coefficient is NA, so R would predict for it as
    for the reference level)."""
    labels = [str(level_label(lev)).lower() for lev in levels]
    ok = np.ones(len(levels), dtype=bool) if present is None else np.asarray(present, bool)
    allowed = ", ".join(str(level_label(lev)) for lev, o in zip(levels, ok, strict=True) if o)
    codes = np.full(len(values), -1, dtype=np.int64)
    for v in pd.unique(values):  # distinct values, not rows
        hit = [k for k, lev in enumerate(levels)
               if (isinstance(v, (bool, np.bool_)) == isinstance(lev, (bool, np.bool_))
                   and v == lev)]
        if not hit:
            hit = [k for k, lab in enumerate(labels) if lab == str(level_label(v)).lower()]
        if not hit or not ok[hit[0]]:
            raise DataError(f"column {col!r}: value {level_label(v)!r} of newdata was not "
                            f"seen in the fit; use one of {allowed}", column=col)
        codes[(values == v).to_numpy()] = hit[0]
    return codes


def _check_missing(frame: pd.DataFrame, cols: Sequence[str]) -> None:
    for col in cols:
        if col not in frame.columns:
            raise DataError(f"newdata has no column {col!r}, which the fit uses; add it",
                            column=col)
        na = frame[col].isna().to_numpy()
        if na.any():
            row = frame.index[int(np.flatnonzero(na)[0])]
            raise DataError(f"column {col!r}: missing value in newdata (row {row!r}); a "
                            "prediction needs every covariate", column=col)


def _present(fit: CoxResult, col: str, levels: Sequence[Any]) -> np.ndarray:
    """Which ``levels`` of categorical covariate ``col`` some fitted row has: the reference
    (which has no column), and each level whose indicator column ``col[level]`` has a non-zero mean in a stratum
    (``fit._centers``, means of the uncentred design). A level with no column of its own
    (a factor used only in interactions) counts as present."""
    index = {name: j for j, name in enumerate(fit.terms)}
    centers = fit._centers if fit._centers is not None else np.ones((1, len(fit.terms)))
    out = np.ones(len(levels), dtype=bool)
    for k, lev in enumerate(levels):  # distinct levels, not rows
        j = index.get(f"{col}[{level_label(lev)}]")
        if j is not None:
            out[k] = bool(np.any(centers[:, j] != 0))
    return out


def _new_design(fit: CoxResult, nd: pd.DataFrame) -> np.ndarray:
    """The design rows of ``nd`` coded as the fit coded its rows (same levels, same
    reference, same column names): the new rows, then one padding row per level so that
    every level is present, as :func:`.design._design` needs."""
    xlevels = fit._xlevels or {}
    cols = variables(fit.covariates)
    frame = pd.DataFrame(index=range(len(nd)))
    pad = max([len(xlevels[c][0]) for c in cols if c in xlevels], default=0)
    ref = {}
    for col in cols:
        if col in xlevels:
            levels, ref[col] = xlevels[col]
            new = _level_index(nd[col], levels, col, _present(fit, col, levels))
            codes = np.r_[new, np.arange(pad) % len(levels)]
            frame = frame.reindex(range(len(nd) + pad))
            frame[col] = pd.Categorical.from_codes(codes, categories=list(levels))
        else:
            try:
                x = pd.to_numeric(nd[col]).to_numpy(dtype=float)
            except (TypeError, ValueError):
                raise DataError(f"column {col!r}: newdata value {nd[col].iloc[0]!r} is not "
                                "a number, as the fitted column is", column=col) from None
            frame = frame.reindex(range(len(nd) + pad))
            frame[col] = np.r_[x, np.zeros(pad)]
    design = _design(frame, fit.covariates, ref)
    if design.names != fit.terms:  # pragma: no cover - a coding mismatch is a bug
        raise RuntimeError(f"newdata coded as {design.names}, the fit as {fit.terms}")
    return design.X[: len(nd)]


def _new_strata(fit: CoxResult, nd: pd.DataFrame) -> np.ndarray:
    """Stratum code (position in the fit's strata) of each new row."""
    labels = list(fit._zph_data[3])
    if not fit.strata:
        return np.zeros(len(nd), dtype=np.int64)
    xlevels = fit._xlevels or {}
    parts = []
    for col in fit.strata:
        levels = xlevels[col][0]
        codes = _level_index(nd[col], levels, col)
        parts.append([str(level_label(levels[c])) for c in codes])
    row_labels = [", ".join(p) for p in zip(*parts, strict=True)]
    out = np.empty(len(nd), dtype=np.int64)
    for lab in dict.fromkeys(row_labels):
        if lab not in labels:
            raise DataError(f"strata {', '.join(fit.strata)}: {lab!r} is not a stratum of the "
                            f"fit; use one of {'; '.join(labels)}", column=fit.strata[0])
        out[np.array([r == lab for r in row_labels])] = labels.index(lab)
    return out


def _baseline(fit: CoxResult, beta: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """R ``agsurv`` for stratum k, on the fit's centred design: distinct times, n.risk,
    n.event, n.censor, hazard increments h, their variance terms v and the hazard-weighted
    mean increments (times x p), before cumulation."""
    risk = fit._zph_data[0]
    st = risk.strata[k]
    t, e, w = risk.t[st.rows], risk.e[st.rows], risk.w[st.rows]
    X = risk.X[st.rows]
    with np.errstate(over="ignore"):
        wr = w * np.exp(X @ beta)
    starts = st.starts
    time = t[starts]
    rsum = lambda a: np.add.reduceat(a, starts, axis=0)[::-1].cumsum(axis=0)[::-1]  # noqa: E731
    nrisk, irisk, xsum = rsum(wr), rsum(w), rsum(wr[:, None] * X)
    if risk.start is not None:  # (start, stop]: less the rows starting at or after t
        t0 = risk.start[st.rows]
        o = np.argsort(t0, kind="stable")
        late = np.searchsorted(t0[o], time, side="left")

        def after(a: np.ndarray) -> np.ndarray:
            c = np.r_[np.zeros((1,) + a.shape[1:]), a[o][::-1].cumsum(axis=0)][::-1]
            return c[late]  # sum over sorted rows late.. end

        nrisk, irisk, xsum = nrisk - after(wr), irisk - after(w), xsum - after(wr[:, None] * X)
    nevent = np.add.reduceat(w * e, starts)
    ndeath = np.add.reduceat(e, starts).astype(np.int64)
    ncens = np.add.reduceat(w * (1 - e), starts)
    if fit.ties == "breslow":
        haz = nevent / nrisk
        var = nevent / nrisk**2
        xbar = xsum / nrisk[:, None] * haz[:, None]
    else:  # R agsurv5: the d sub-steps of a tied time, denominators nrisk - erisk j / d
        erisk = np.add.reduceat(wr * e, starts)
        xsum2 = np.add.reduceat((wr * e)[:, None] * X, starts, axis=0)
        blk = np.repeat(np.arange(time.size), ndeath)
        d = ndeath[blk].astype(float)
        frac = (np.arange(blk.size) - np.repeat(np.cumsum(ndeath) - ndeath, ndeath)) / d
        inv = 1 / (nrisk[blk] - erisk[blk] * frac)
        sum1 = np.bincount(blk, inv / d, time.size)
        sum2 = np.bincount(blk, inv**2 / d, time.size)
        xb = (xsum[blk] - xsum2[blk] * frac[:, None]) * (inv**2 / d)[:, None]
        xbar = np.vstack([np.bincount(blk, xb[:, j], time.size)
                          for j in range(X.shape[1])]).T.reshape(time.size, X.shape[1])
        haz, var, xbar = nevent * sum1, nevent * sum2, nevent[:, None] * xbar
    return {"time": time, "n_risk": irisk, "n_event": nevent, "n_censor": ncens,
            "haz": haz, "var": var, "xbar": xbar}


def _limits(surv: np.ndarray, se: np.ndarray, conf_level: float, conf_type: str
            ) -> tuple[np.ndarray, np.ndarray]:
    """R ``survfit_confint`` with ``logse = TRUE`` (se is that of the cumulative hazard)."""
    z = norm.ppf(1 - (1 - conf_level) / 2)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.where(surv == 0, np.nan, surv)
        if conf_type == "log":
            return s * np.exp(-z * se), np.minimum(s * np.exp(z * se), 1)
        if conf_type == "log-log":
            ll = np.where(s == 1, np.nan, np.log(-np.log(s)))
            sel = se / np.log(s)
            lo, hi = np.exp(-np.exp(ll - z * sel)), np.exp(-np.exp(ll + z * sel))
            return lo, hi
        sp = se * s
        return np.maximum(s - z * sp, 0), np.minimum(s + z * sp, 1)


@dataclass(frozen=True, eq=False)
class CoxPrediction(Result):
    """Survival curves of new patients from a Cox fit (R ``survfit(coxph_fit, newdata)``).

    ``curves``: one row per patient and distinct time of the patient's stratum (every
    observed time, censoring times included, as R keeps them): patient, stratum, time
    (the fit's unit, months for metsurv data), n_risk, n_event, n_censor, survival,
    cumhaz, std_err (the standard error of the cumulative hazard, R ``sf$std.err``),
    lower, upper. ``times``: the times given to :meth:`CoxResult.predict` (the default of
    :meth:`at`)."""

    curves: pd.DataFrame
    patients: tuple[Any, ...]
    newdata: pd.DataFrame
    times: tuple[float, ...] | None
    conf_level: float
    conf_type: str
    ties: str
    n: int
    events: int
    covariates: tuple[str, ...]
    strata: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """patient, time, survival, std_err, lower, upper at every time of each curve
        (R ``sf$time``, ``sf$surv``, ``sf$std.err``, ``sf$lower``, ``sf$upper``)."""
        return self.curves[["patient", "time", "survival", "std_err", "lower", "upper"]].copy()

    def summary_frame(self) -> pd.DataFrame:
        return self.at() if self.times else self.to_frame()

    def at(self, times: Any = None) -> pd.DataFrame:
        """The curves at ``times`` (default: those given to ``predict``), R
        ``summary(sf, times = times)``: the value at the last curve time at or before each
        time, 1 (std_err 0) before the first. A time after the last one of the patient's
        curve is NaN (R leaves that row out). Columns: patient, time, survival, std_err
        (of the cumulative hazard; R's summary prints the survival-scale
        ``survival * std_err``), lower, upper, cumhaz, n_risk (at the first curve time at
        or after the time, as R).

        Raises
        ------
        ValueError
            No times, or a negative or non-finite one.
        """
        t = np.atleast_1d(np.asarray(self.times if times is None else times, dtype=float))
        if t.size == 0 or not np.isfinite(t).all() or (t < 0).any():
            raise ValueError(f"times must be finite and >= 0, got {t.tolist()}")
        out = []
        for pat, g in self.curves.groupby("patient", sort=False):
            tt = g["time"].to_numpy()
            i = np.searchsorted(tt, t, side="right") - 1
            row = {"patient": pat, "time": t}
            for c in ("survival", "std_err", "lower", "upper", "cumhaz"):
                v = np.r_[1.0 if c in ("survival", "lower", "upper") else 0.0,
                          g[c].to_numpy()][i + 1]
                row[c] = np.where(t > tt[-1], np.nan, v)
            j = np.minimum(np.searchsorted(tt, t, side="left"), tt.size - 1)
            row["n_risk"] = np.where(t > tt[-1], np.nan, g["n_risk"].to_numpy()[j])
            out.append(pd.DataFrame(row))
        return pd.concat(out, ignore_index=True)

    def _html_head(self) -> str:
        level = f"{self.conf_level:.0%}"
        return (f"<b>CoxPrediction</b> survival of {len(self.patients)} new patient(s) from a "
                f"Cox model (n = {self.n}, events = {self.events}, {self.ties} baseline, "
                f"{level} {self.conf_type} CI)")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"patients": list(self.patients), "conf_level": self.conf_level,
                             "conf_type": self.conf_type, "ties": self.ties, "n": self.n,
                             "events": self.events, "covariates": list(self.covariates),
                             "strata": list(self.strata), "curves": self.curves,
                             "warnings": self.warnings}
        if self.times:
            d["times"] = list(self.times)
            d["at"] = self.at()
        return json_safe(d)

    def plot(self, ax: Any = None, ci: bool = True, max_time: float | None = None,
             **kwargs: Any) -> Any:
        """Each patient's predicted survival as a step curve (Okabe-Ito colours with line
        styles, as the report's figures) with its pointwise CI as a shaded band, into
        ``ax`` or a new notebook-sized figure, up to ``max_time`` (default: the last time,
        at most the report's 15 years); keyword arguments go to ``ax.step``. Returns the
        axes."""
        from ...report.plotting import _max_time, _new_axes, _tidy
        from ...report.style import colour, linestyle

        new = ax is None
        ax = _new_axes(ax)
        last = float(self.curves["time"].max()) if len(self.curves) else 1.0
        top = float(max_time) if max_time is not None else _max_time(last, 1.0)
        for i, (pat, g) in enumerate(self.curves.groupby("patient", sort=False)):
            t = np.r_[0.0, g["time"].to_numpy()]
            style = {"color": colour(i), "linestyle": linestyle(i), **kwargs}
            (line,) = ax.step(t, np.r_[1.0, g["survival"].to_numpy()], where="post",
                              label=str(pat), **style)
            if ci:
                ax.fill_between(t, np.r_[1.0, g["lower"].to_numpy()],
                                np.r_[1.0, g["upper"].to_numpy()], step="post",
                                alpha=0.2, color=line.get_color(), linewidth=0)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(0, top)
        ax.set_xlabel(f"time ({self.curves.attrs.get('unit', 'months')})")
        ax.set_ylabel("predicted survival")
        ax.legend(title="patient", frameon=False)
        _tidy(ax, new)
        return ax


def survfit_coxph(fit: CoxResult, newdata: Any, times: Any = None, conf_level: float = 0.95,
                  conf_type: str = "log") -> CoxPrediction:
    """Predicted survival curves of new patients, R ``survfit(fit, newdata = newdata,
    conf.int = conf_level, conf.type = conf_type)`` (survival 3.5-3, ``survfit.coxph``).

    Each row of ``newdata`` gives one curve, from its own stratum's baseline when the fit
    is stratified: S(t | x) = exp(-H0(t) exp(x'beta)) with the Efron-adjusted baseline for
    an Efron fit and the Breslow one for a Breslow fit (R's default ``ctype``), the
    standard error of the cumulative hazard including the variance of beta (Tsiatis 1981,
    Link 1984; R ``coxsurv.fit``) and R's log CI (``exp(log S -+ z se)``, the upper limit
    at most 1). Counting-process fits (``start``, delayed entry) use the risk sets
    start < t <= stop. A coefficient R gives NA counts as 0, as in R (a covariate that is
    also a stratum: its coefficients are NA and the stratum's baseline carries it).

    Parameters
    ----------
    fit : CoxResult
        A fit of :func:`metsurv.stats.cox.cox`.
    newdata : DataFrame, Mapping or Series
        One row per patient (m rows) with every covariate and stratum column of the fit;
        a mapping of column -> value (or list of values) is one (m) patient(s). Categorical
        values are the fitted levels or their labels as text ("true"/"false" for a yes/no
        column, "0-11"). The row labels name the patients.
    times : sequence of float, optional
        Times (the fit's unit: months for metsurv data) at which :meth:`CoxPrediction.at`
        and the text form report S(t), R ``summary(sf, times)``.
    conf_level : float
        Level of the pointwise CI (R ``conf.int``).
    conf_type : {"log", "log-log", "plain"}
        R ``conf.type``.

    Returns
    -------
    CoxPrediction
        ``curves`` (one row per patient and distinct time of its stratum; m x T rows
        without strata), ``to_frame()``, ``at(times)``.

    Raises
    ------
    DataError
        A covariate or stratum column absent from ``newdata``, a missing value, a
        categorical value or stratum not seen in the fit, including a category of a pandas
        Categorical that no fitted patient has (the message names the column, the value
        and the values allowed), a non-numeric value of a numeric covariate.

    Warns
    -----
    StatsWarning
        A time of ``times`` after the last follow-up time of the data (of the patient's
        stratum): survival NA there (R's summary leaves the row out); also in
        ``warnings`` with the fit's own warnings.
    ValueError
        ``conf_type`` not one of :data:`CONF_TYPES`, ``conf_level`` not in (0, 1), a fit
        made before predictions were supported, negative ``times``.

    >>> df = pd.DataFrame({"os_months": [5, 8, 12, 3, 9, 15, 4, 11],
    ...                    "os_event": [1, 1, 0, 1, 1, 0, 1, 1],
    ...                    "age": [60, 70, 55, 80, 65, 50, 75, 62]})
    >>> from metsurv.stats.cox import cox
    >>> pred = cox(df, ["age"]).predict({"age": [60, 70]}, times=[6])
    >>> pred.at()["survival"].round(6).tolist()  # R summary(survfit(fit, nd), times = 6)
    [0.945216, 0.396201]
    """
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")
    if fit._xlevels is None or fit._centers is None or fit._zph_data is None:
        raise ValueError("this Cox fit keeps no data for predictions; refit it with cox()")
    if isinstance(newdata, pd.Series):
        nd = newdata.to_frame().T
    elif isinstance(newdata, pd.DataFrame):
        nd = newdata
    else:
        d = dict(newdata)
        scalar = all(np.ndim(v) == 0 for v in d.values())
        nd = pd.DataFrame({k: [v] for k, v in d.items()} if scalar else d)
    if len(nd) == 0:
        raise DataError("newdata has no rows: give one row per patient")
    need = [*variables(fit.covariates), *fit.strata]
    _check_missing(nd, need)
    x2 = _new_design(fit, nd)
    s2 = _new_strata(fit, nd)
    beta = np.nan_to_num(fit.coef)
    V = np.nan_to_num(fit.vcov)
    labels = list(fit._zph_data[3])
    t = None if times is None else tuple(float(v) for v in np.atleast_1d(times))
    notes = list(fit.warnings)
    parts = []
    for k in np.unique(s2):
        rows = np.flatnonzero(s2 == k)
        b = _baseline(fit, beta, int(k))
        H0 = b["haz"].cumsum()
        xbar = b["xbar"].cumsum(axis=0)
        xc = x2[rows] - fit._centers[k]  # centred as the risk sets are
        with np.errstate(over="ignore"):
            r2 = np.exp(xc @ beta)  # (m,)
        dt = H0[None, :, None] * xc[:, None, :] - xbar[None, :, :]  # (m, T, p)
        quad = np.einsum("mtp,pq,mtq->mt", dt, V, dt)
        se = np.sqrt((b["var"].cumsum()[None, :] + quad) * r2[:, None] ** 2)
        cumhaz = H0[None, :] * r2[:, None]
        surv = np.exp(-cumhaz)
        lo, hi = _limits(surv, se, conf_level, conf_type)
        T = H0.size
        late = [v for v in dict.fromkeys(t or ()) if v > b["time"][-1]]
        if late:  # NaN in at(): R's summary(sf, times) leaves these rows out
            where = (f"stratum {', '.join(fit.strata)} = {labels[k]}" if fit.strata
                     else "the data")
            warn(notes, f"no prediction after the last follow-up time of {where} "
                 f"({format_num(float(b['time'][-1]), '{:.10g}')}): survival at time(s) "
                 f"{', '.join(format_num(v, '{:.10g}') for v in late)} is NA", stacklevel=4)
        parts.append(pd.DataFrame({
            "row": np.repeat(rows, T),
            "stratum": labels[k] if fit.strata else None,
            "time": np.tile(b["time"], rows.size),
            "n_risk": np.tile(b["n_risk"], rows.size),
            "n_event": np.tile(b["n_event"], rows.size),
            "n_censor": np.tile(b["n_censor"], rows.size),
            "survival": surv.ravel(), "cumhaz": cumhaz.ravel(), "std_err": se.ravel(),
            "lower": lo.ravel(), "upper": hi.ravel()}))
    curves = pd.concat(parts, ignore_index=True).sort_values("row", kind="stable")
    patients = (tuple(level_label(p) for p in nd.index) if nd.index.is_unique
                else tuple(range(len(nd))))
    curves.insert(0, "patient", np.asarray(patients, dtype=object)[curves["row"].to_numpy()])
    curves = curves.drop(columns="row").reset_index(drop=True)
    if not fit.strata:
        curves = curves.drop(columns="stratum")
    return CoxPrediction(curves=curves, patients=patients, newdata=nd.copy(), times=t,
                         conf_level=conf_level, conf_type=conf_type, ties=fit.ties, n=fit.n,
                         events=fit.events, covariates=fit.covariates, strata=fit.strata,
                         warnings=tuple(notes))
