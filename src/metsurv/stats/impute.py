"""Multiple imputation by chained equations (MICE) that includes the survival outcome.

Each incomplete column is imputed in turn from a model on the other imputed columns, the
auxiliary columns given, the event indicator and the Nelson-Aalen cumulative hazard at the
patient's own time ``H(T_i)`` (White & Royston 2009: the outcome must be in the imputation
model, through ``event`` and ``H(T)``, not the raw time), cycling ``iterations`` times, m
times independently. The conditional models are mice's (van Buuren & Groothuis-Oudshoorn
2011), each *proper* (parameter uncertainty drawn, not plugged in):

* ``"pmm"`` (default for numeric columns; mice ``pmm``, type-1 matching): Bayesian linear
  regression as mice ``.norm.draw`` (ridge 1e-5: ``beta* = beta_hat + sigma* chol(V) z``,
  ``sigma*^2 = RSS / chi2(n_obs - p)``), predicted means of the observed rows with beta_hat
  and of the missing rows with beta*, and the observed value of one of the 5 nearest donors
  drawn at random. Imputed values are always values that were observed (integers stay
  integers, no value outside the observed range).
* ``"norm"`` (mice ``norm``): the same posterior draw, imputed value ``x beta* + sigma* e``.
* ``"logreg"`` / ``"polyreg"`` (default for categorical columns with 2 / more levels:
  pandas Categorical, strings, bool; mice ``logreg.boot`` / ``polyreg``): a logistic or
  multinomial model (scikit-learn ``LogisticRegression``, Newton-Cholesky, L2 with C = 100 on
  standardised predictors, which only tames separation) fitted on a bootstrap resample of
  the observed rows, and a level drawn from its predicted probabilities. Only levels
  observed in the column can be imputed.

Starting values are random draws from the observed values (mice's default). Predictors
enter as standardised numbers or level indicators (first observed level as reference).
Random numbers: ``numpy.random.SeedSequence(seed).spawn(m)``, one generator per
imputation, so that the result is the same for the same ``seed`` (and imputation ``i`` does
not depend on ``m``). Every step is vectorised over patients; the loops run over
imputations, iterations and columns.

References: White IR, Royston P (2009). Imputing missing covariate values for the Cox
model. Stat Med 28:1982-1998. van Buuren S (2018), Flexible Imputation of Missing Data,
2nd ed., sections 3.2 (norm, pmm) and 3.6 (logreg). Rubin DB (1987), p. 167.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from metsurv.errors import DataError
from metsurv.stats._times import as_frame
from metsurv.stats.pool import pool

METHODS = ("pmm", "norm", "logreg", "polyreg")
DONORS = 5
RIDGE = 1e-5
LOGISTIC_C = 100.0


@dataclasses.dataclass(frozen=True)
class _Column:
    """One column's state: kind, observed mask, levels (categorical) or scale (numeric)."""

    name: str
    categorical: bool
    observed: np.ndarray  # bool, (n,)
    values: np.ndarray  # float (numeric) or int level codes (categorical), (n,), NaN/-1 missing
    levels: tuple[Any, ...] = ()
    method: str = ""

    @property
    def n_missing(self) -> int:
        return int((~self.observed).sum())


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def _column(df: pd.DataFrame, name: str, method: str | None) -> _Column:
    s = df[name]
    observed = s.notna().to_numpy()
    if not observed.any():
        raise DataError(f"column {name!r} has no observed value (all {len(s)} missing): "
                        "it cannot be imputed; drop it or give it values", column=name)
    if _is_categorical(s):
        if isinstance(s.dtype, pd.CategoricalDtype):
            present = set(s[observed].unique())
            levels = tuple(c for c in s.cat.categories if c in present)
        else:
            levels = tuple(sorted(pd.unique(s[observed]), key=lambda v: (str(type(v)), v)))
        codes = np.full(len(s), -1, dtype=np.int64)
        codes[observed] = pd.Categorical(s[observed], categories=list(levels)).codes
        chosen = method or ("logreg" if len(levels) <= 2 else "polyreg")
        if chosen not in ("logreg", "polyreg"):
            raise DataError(f"column {name!r} is categorical: impute it with 'logreg' or "
                            f"'polyreg', not {chosen!r}", column=name)
        return _Column(name, True, observed, codes, levels, chosen)
    chosen = method or "pmm"
    if chosen not in ("pmm", "norm"):
        raise DataError(f"column {name!r} is numeric: impute it with 'pmm' or 'norm', not "
                        f"{chosen!r}", column=name)
    values = s.to_numpy(dtype=float, na_value=np.nan)
    return _Column(name, False, observed, values, (), chosen)


def nelson_aalen_at(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Nelson-Aalen cumulative hazard H(t) at each patient's own time (events at t
    included), the outcome summary White & Royston (2009) put in the imputation model.

    >>> nelson_aalen_at(np.array([1.0, 2, 2, 3]), np.array([1, 1, 0, 1])).round(4).tolist()
    [0.25, 0.5833, 0.5833, 1.5833]
    """
    uniq, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event.astype(float), minlength=uniq.size)
    at_risk = np.cumsum(np.bincount(inv, minlength=uniq.size)[::-1])[::-1]
    return np.cumsum(d / at_risk)[inv]


def _outcome(df: pd.DataFrame, time: str, event: str) -> np.ndarray:
    for c in (time, event):
        if c not in df.columns:
            raise DataError(f"outcome column {c!r} not found: name the time and event columns "
                            "with time= and event=", column=c)
        if df[c].isna().any():
            raise DataError(f"outcome column {c!r} has {int(df[c].isna().sum())} missing "
                            "value(s): the outcome must be complete to impute covariates "
                            "from it", column=c)
    t = pd.to_numeric(df[time], errors="coerce").to_numpy(dtype=float)
    e = df[event].astype(float).to_numpy(dtype=float)
    if not np.isfinite(t).all():
        raise DataError(f"outcome column {time!r} has a value that is not a number",
                        column=time)
    if not np.isin(e, (0.0, 1.0)).all():
        raise DataError(f"outcome column {event!r} must be 0/1 or true/false", column=event)
    return np.column_stack([e, nelson_aalen_at(t, e)])


def _encode(col: _Column, values: np.ndarray) -> np.ndarray:
    """(n, p) predictor block: standardised number, or indicators of levels 2..L."""
    if col.categorical:
        return (values[:, None] == np.arange(1, len(col.levels))).astype(float)
    obs = values[col.observed]
    sd = obs.std()
    return ((values - obs.mean()) / (sd if sd > 0 else 1.0))[:, None]


def _scale(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _norm_draw(y: np.ndarray, x: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, float]:
    """mice ``.norm.draw``: (beta_hat, beta*, sigma*) of a Bayesian linear regression with
    a flat prior (ridge ``RIDGE`` times the diagonal of X'X for stability)."""
    xtx = x.T @ x
    v = np.linalg.inv(xtx + np.diag(RIDGE * np.diag(xtx)))
    v = (v + v.T) / 2
    coef = v @ (x.T @ y)
    resid = y - x @ coef
    df = max(y.size - x.shape[1], 1)
    sigma = float(np.sqrt(resid @ resid / rng.chisquare(df)))
    beta = coef + np.linalg.cholesky(v) @ rng.standard_normal(x.shape[1]) * sigma
    return coef, beta, sigma


def _draw_numeric(col: _Column, y: np.ndarray, x: np.ndarray, rng: np.random.Generator
                  ) -> np.ndarray:
    obs = col.observed
    x1 = np.column_stack([np.ones(len(x)), x])
    coef, beta, sigma = _norm_draw(y[obs], x1[obs], rng)
    mis_mean = x1[~obs] @ beta
    if col.method == "norm":
        return mis_mean + sigma * rng.standard_normal(mis_mean.size)
    # predictive mean matching, type 1: donors by beta_hat, recipients by beta*
    yhat = x1[obs] @ coef
    order = np.argsort(yhat, kind="stable")
    sorted_hat, donors_y = yhat[order], y[obs][order]
    n_obs = sorted_hat.size
    width = min(2 * DONORS, n_obs)
    pos = np.searchsorted(sorted_hat, mis_mean)
    first = np.clip(pos - DONORS, 0, n_obs - width)
    window = first[:, None] + np.arange(width)
    dist = np.abs(sorted_hat[window] - mis_mean[:, None])
    d = min(DONORS, width)
    nearest = np.argpartition(dist, d - 1, axis=1)[:, :d] if d < width else np.broadcast_to(
        np.arange(width), (mis_mean.size, width))
    pick = nearest[np.arange(mis_mean.size), rng.integers(0, d, size=mis_mean.size)]
    return donors_y[window[np.arange(mis_mean.size), pick]]


def _draw_levels(col: _Column, codes: np.ndarray, x: np.ndarray, rng: np.random.Generator
                 ) -> np.ndarray:
    obs_idx = np.flatnonzero(col.observed)
    boot = obs_idx[rng.integers(0, obs_idx.size, size=obs_idx.size)]
    yb = codes[boot]
    present = np.unique(yb)
    n_mis = col.n_missing
    if present.size == 1:
        return np.full(n_mis, present[0])
    xs = _scale(x)
    model = LogisticRegression(C=LOGISTIC_C, solver="newton-cholesky", max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(xs[boot], yb)
    prob = model.predict_proba(xs[~col.observed])
    u = rng.random(n_mis)
    k = (u[:, None] > np.cumsum(prob, axis=1)).sum(axis=1)
    return model.classes_[np.minimum(k, present.size - 1)]


@dataclasses.dataclass(frozen=True)
class Imputations:
    """m completed data sets, stored as the original frame plus the imputed values of the
    missing cells only (memory: the missing cells times m, not the frame times m).

    Attributes
    ----------
    data : DataFrame
        The data as given (missing cells still missing).
    columns : tuple of str
        The columns imputed (with their ``methods``).
    m, seed, iterations : int
    values : dict
        Column -> array (m, number missing) of imputed values (level labels for a
        categorical column), in row order of the missing cells.
    """

    data: pd.DataFrame
    columns: tuple[str, ...]
    methods: dict[str, str]
    m: int
    seed: int
    iterations: int
    time: str
    event: str
    values: dict[str, np.ndarray] = dataclasses.field(repr=False)

    @property
    def missing(self) -> pd.DataFrame:
        """Boolean frame (rows of ``data`` x imputed columns): True where a cell was
        imputed. ``missing.sum()`` counts them per column."""
        return self.data[list(self.columns)].isna()

    @property
    def n_missing(self) -> pd.Series:
        """Number of imputed cells per column."""
        return self.missing.sum().rename("n_missing")

    def complete(self, i: int) -> pd.DataFrame:
        """The ``i``-th completed data set (0-based, 0 <= i < m; R ``mice::complete(imp,
        i + 1)``): a copy of ``data`` with the missing cells filled, dtypes kept."""
        if not 0 <= i < self.m:
            raise IndexError(f"imputation {i} out of range 0..{self.m - 1}")
        out = self.data.copy()
        for name in self.columns:
            rows = np.flatnonzero(out[name].isna().to_numpy())
            if rows.size:
                s = out[name].copy()
                s.iloc[rows] = self.values[name][i]
                out[name] = s
        return out

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return (self.complete(i) for i in range(self.m))

    def __len__(self) -> int:
        return self.m

    def fit(self, fn: Callable[[pd.DataFrame], Any], dfcom: float | None = None,
            conf_level: float = 0.95) -> pd.DataFrame:
        """Apply ``fn`` to each completed data set and pool with Rubin's rules
        (:func:`metsurv.stats.pool.pool`, R ``pool(with(imp, ...))``).

        ``fn`` returns a fitted result with ``coef`` and ``vcov`` (a metsurv Cox fit; its
        robust variance when it has one), or a tuple ``(estimates, variances)``.
        Returns the pooled frame (estimate, t, df, riv, lambda, fmi, CI, p per term)."""
        results = [fn(frame) for frame in self]
        if isinstance(results[0], tuple):
            est = np.array([np.atleast_1d(np.asarray(r[0], dtype=float)) for r in results])
            var = np.array([np.asarray(r[1], dtype=float) for r in results])
            if var.ndim == 1:
                var = var[:, None]
            return pool(est, var, dfcom=dfcom, conf_level=conf_level)
        return pool(results, dfcom=dfcom, conf_level=conf_level)

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}: {n} ({self.methods[c]})" for c, n in self.n_missing.items())
        return (f"Imputations(m={self.m}, iterations={self.iterations}, seed={self.seed}, "
                f"n={len(self.data)}; imputed {counts})")


def impute(data: Any, columns: Sequence[str], m: int = 20, seed: int = 0,
           iterations: int = 10, time: str = "os_months", event: str = "os_event",
           method: str | Mapping[str, str] | None = None,
           auxiliary: Sequence[str] = ()) -> Imputations:
    """Multiple imputation by chained equations with the outcome in every imputation model
    (event indicator and Nelson-Aalen H(T), White & Royston 2009), as R
    ``mice(data, m, maxit = iterations, method = ...)`` with ``nelsonaalen()`` and the event
    as predictors (see the module docstring for the models).

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient (n rows).
    columns : sequence of str
        Columns to impute; each is also a predictor of the others. Numeric columns (float,
        int, nullable Int64) are imputed with ``"pmm"`` by default, categorical ones (pandas
        Categorical, strings/objects, bool) with ``"logreg"`` (2 levels) or ``"polyreg"``.
        A column without missing values is used as a predictor only.
    m : int
        Number of imputations (>= 2 for pooling).
    seed : int
        Seed of ``numpy.random.SeedSequence``; same seed, same imputations.
    iterations : int
        Cycles through the columns per imputation (mice ``maxit``).
    time, event : str
        Outcome columns (months; 0/1 or bool); must be complete.
    method : str or mapping, optional
        ``"pmm"`` or ``"norm"`` for every numeric column, or a mapping column -> method
        (``"pmm"``, ``"norm"``, ``"logreg"``, ``"polyreg"``); the rest take the defaults.
    auxiliary : sequence of str
        Complete columns used as extra predictors only (numeric or categorical).

    Returns
    -------
    Imputations
        ``complete(i)``, iteration over the m completed frames, ``missing`` (which cells),
        ``n_missing`` (counts per column), ``fit(fn)`` (analyse and pool).

    Raises
    ------
    DataError
        A column not in ``data``; a column with every value missing; a method that does
        not fit the column's type; a missing or non-0/1 outcome; a missing auxiliary value.

    >>> df = pd.DataFrame({"os_months": [3.0, 8, 12, 20, 25, 30, 40, 55],
    ...                    "os_event": [1, 1, 0, 1, 0, 1, 0, 0],
    ...                    "age": [70, np.nan, 61, 58, np.nan, 49, 52, 45],
    ...                    "side": ["uni", "bi", None, "uni", "uni", "bi", "uni", None]})
    >>> imp = impute(df, ["age", "side"], m=3, seed=1, iterations=2)
    >>> imp.n_missing.to_dict()
    {'age': 2, 'side': 2}
    >>> done = imp.complete(0)
    >>> bool(done[["age", "side"]].notna().all().all()), set(done["side"]) <= {"uni", "bi"}
    (True, True)
    """
    df = as_frame(data)
    columns = list(dict.fromkeys(columns))
    for name in [*columns, *auxiliary]:
        if name not in df.columns:
            raise DataError(f"column {name!r} not found in the data: check the name "
                            f"(columns are {', '.join(map(str, df.columns[:12]))}...)",
                            column=name)
    if not columns:
        raise DataError("no column to impute: name at least one in columns=")
    if m < 1 or iterations < 1:
        raise ValueError(f"m and iterations must be >= 1, got m={m}, iterations={iterations}")
    per_col: Mapping[str, str] = method if isinstance(method, Mapping) else {}
    for key, value in per_col.items():
        if value not in METHODS:
            raise DataError(f"method {value!r} for column {key!r} is not one of {METHODS}",
                            column=key)
    cols = [_column(df, c, per_col.get(c) if per_col else
                    (method if isinstance(method, str) and not _is_categorical(df[c])
                     else None))
            for c in columns]
    blocks = [_outcome(df, time, event)]
    for name in auxiliary:
        if df[name].isna().any():
            raise DataError(f"auxiliary column {name!r} has missing values: impute it "
                            "(put it in columns=) or leave it out", column=name)
        aux = _column(df, name, None)
        blocks.append(_encode(aux, aux.values))
    fixed = np.column_stack(blocks)
    seeds = np.random.SeedSequence(seed).spawn(m)
    to_impute = [c for c in cols if c.n_missing]
    values = {c.name: np.empty((m, c.n_missing), dtype=object if c.categorical else float)
              for c in to_impute}
    for i, ss in enumerate(seeds):
        rng = np.random.default_rng(ss)
        state = {c.name: c.values.copy() for c in cols}
        for c in to_impute:  # mice's initial values: random draws from the observed
            obs = state[c.name][c.observed]
            state[c.name][~c.observed] = obs[rng.integers(0, obs.size, size=c.n_missing)]
        enc = {c.name: _encode(c, state[c.name]) for c in cols}
        for _ in range(iterations):
            for c in to_impute:
                x = np.column_stack([fixed, *(enc[o.name] for o in cols if o is not c)])
                draw = (_draw_levels if c.categorical else _draw_numeric)(
                    c, state[c.name], x, rng)
                state[c.name][~c.observed] = draw
                enc[c.name] = _encode(c, state[c.name])
        for c in to_impute:
            drawn = state[c.name][~c.observed]
            values[c.name][i] = (np.asarray(c.levels, dtype=object)[drawn.astype(np.int64)]
                                 if c.categorical else drawn)
    for c in to_impute:
        s = df[c.name]
        if not c.categorical and pd.api.types.is_integer_dtype(s):
            values[c.name] = np.round(values[c.name].astype(float))
    return Imputations(data=df, columns=tuple(c.name for c in cols),
                       methods={c.name: c.method for c in cols}, m=m, seed=seed,
                       iterations=iterations, time=time, event=event, values=values)
