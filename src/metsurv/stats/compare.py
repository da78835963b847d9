"""A treatment comparison in an observational cohort, end to end: propensity weights, balance
before and after weighting, the weighted (adjusted) survival comparison beside the unadjusted
one, and, when confounders are missing, multiple imputation pooled with Rubin's rules.

This module only orders the steps; each step is its own module and is checked against R
there: :func:`metsurv.stats.propensity.propensity` (R ``glm(family = binomial)``, WeightIt's
weights, cobalt's ``bal.tab``), :func:`metsurv.stats.effects.treatment_effects` (R
``survfit(weights =)``, ``coxph(weights =, robust = TRUE)``, RMST), and
:func:`metsurv.stats.impute.impute` + :func:`metsurv.stats.pool.pool` (chained equations with
the outcome in every model; R ``mice::pool``).

With imputation (``impute=m``) the whole weighted analysis runs on each completed data set
("within" approach: the propensity model is refitted in every imputation, as MatchThem /
``weightthem`` does), then

- the weighted log HR (its robust variance) and the RMST difference (its variance) are pooled
  with Rubin's rules, with the fraction of missing information per estimate;
- the unadjusted comparison does not involve the confounders, so it is the same in every
  imputation and is reported once;
- balance and the effective sample size are the means over the m imputations (cobalt's
  summary of balance across imputations).
"""

from __future__ import annotations

import dataclasses
import html as _html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import DataError
from metsurv.schema import level_label

from ._result import Result, html_table

#: The JSON keys of one effect (``hr``, ``unadjusted_hr``, ``rmst_difference``).
EFFECT_KEYS = ("estimate", "lower", "upper", "p")
#: Default RMST horizon (months): five years, the horizon of the field's survival figures
#: (and of the IRLM battery's RMST), unless an arm's follow-up ends earlier.
DEFAULT_HORIZON = 60.0


@dataclasses.dataclass(frozen=True, repr=False)
class Comparison(Result):
    """The result of :func:`compare_treatments`.

    Attributes
    ----------
    treatment : str
        The treatment column; ``levels`` = (treated, control).
    method, estimand : str
        "iptw" or "overlap"; "ATE" or "ATT" for IPTW, "ATO" (the overlap population) for
        overlap weights.
    n : dict
        Patients analysed: {"treated", "control", "total"}.
    excluded : DataFrame
        Rows left out before the analysis (``reason``, ``column``, ``n``).
    balance : DataFrame
        One row per covariate (factor level): ``covariate``, ``label``, ``smd_unweighted``,
        ``smd_weighted``, ``vr_unweighted``, ``vr_weighted``, ``above_threshold`` (means over
        the imputations when imputed).
    ess : dict
        Kish effective sample size per group ({"treated", "control"}).
    effects : DataFrame
        One row per ``analysis`` ("adjusted", "unadjusted") and ``measure``
        ("hazard_ratio", "rmst_difference"): ``estimate``, ``se`` (of the log HR for a hazard
        ratio), ``lower``, ``upper``, ``p``, ``variance`` (how the SE was obtained), and with
        imputation ``fmi`` and ``df`` (Rubin's rules).
    horizon : float
        The RMST horizon (months).
    imputations : int
        m (0: complete-case data, nothing imputed); ``n_imputed``: imputed cells per column.
    propensity, effects_result :
        The propensity and effect results (of the first imputation when imputed), for
        ``.plot()`` and the adjusted curves.
    """

    treatment: str
    levels: tuple[Any, Any]
    method: str
    estimand: str
    confounders: tuple[str, ...]
    n: dict[str, int]
    excluded: pd.DataFrame
    balance: pd.DataFrame
    ess: dict[str, float]
    effects: pd.DataFrame
    horizon: float
    imputations: int
    n_imputed: dict[str, int]
    seed: int | None
    propensity: Any
    effects_result: Any

    def effect(self, analysis: str, measure: str) -> dict[str, Any]:
        """One row of :attr:`effects` as a dict (``analysis`` "adjusted"/"unadjusted",
        ``measure`` "hazard_ratio"/"rmst_difference")."""
        rows = self.effects[(self.effects["analysis"] == analysis)
                            & (self.effects["measure"] == measure)]
        if rows.empty:
            raise KeyError(f"no {analysis} {measure}")
        return rows.iloc[0].to_dict()

    def to_frame(self) -> pd.DataFrame:
        """The effects (a copy of :attr:`effects`)."""
        return self.effects.copy()

    def to_dict(self) -> dict[str, Any]:
        """The ``metsurv compare --json`` object: ``n``, ``method``, ``estimand``,
        ``balance`` (list of ``covariate``, ``smd_unweighted``, ``smd_weighted``), ``ess``,
        ``hr`` and ``unadjusted_hr`` (each ``estimate``, ``lower``, ``upper``, ``p``),
        ``rmst_difference`` (the same keys plus ``horizon``), ``warnings``, and the context
        (treatment, levels, confounders, excluded, imputations, seed)."""
        def effect(analysis: str, measure: str) -> dict[str, Any]:
            row = self.effect(analysis, measure)
            out = {k: _num(row[k]) for k in EFFECT_KEYS}
            for k in ("fmi", "df"):
                if k in row and pd.notna(row[k]):
                    out[k] = _num(row[k])
            return out

        return {
            "n": self.n["total"],
            "n_by_group": {"treated": self.n["treated"], "control": self.n["control"]},
            "treatment": self.treatment,
            "levels": {"treated": _plain(self.levels[0]), "control": _plain(self.levels[1])},
            "confounders": list(self.confounders),
            "method": self.method,
            "estimand": self.estimand,
            "balance": [{"covariate": r["label"], "smd_unweighted": _num(r["smd_unweighted"]),
                         "smd_weighted": _num(r["smd_weighted"])}
                        for r in self.balance.to_dict("records")],
            "ess": {k: _num(v) for k, v in self.ess.items()},
            "hr": effect("adjusted", "hazard_ratio"),
            "unadjusted_hr": effect("unadjusted", "hazard_ratio"),
            "rmst_difference": {**effect("adjusted", "rmst_difference"),
                                "horizon": _num(self.horizon)},
            "unadjusted_rmst_difference": effect("unadjusted", "rmst_difference"),
            "excluded": [{"reason": r["reason"], "column": r["column"], "n": int(r["n"])}
                         for r in self.excluded.to_dict("records")],
            "imputations": self.imputations,
            "n_imputed": dict(self.n_imputed),
            "seed": self.seed,
            "warnings": list(self.warnings),
        }

    def _repr_html_(self) -> str:
        t, c = (level_label(self.treatment, v) for v in self.levels)
        head = (f"<b>Comparison</b> {_html.escape(t)} (n = {self.n['treated']}) vs "
                f"{_html.escape(c)} (n = {self.n['control']}): {self.method.upper()} "
                f"{self.estimand}" + (f", {self.imputations} imputations"
                                      if self.imputations else ""))
        eff = self.effects[["analysis", "measure", "estimate", "lower", "upper", "p"]].copy()
        for col in ("estimate", "lower", "upper"):
            eff[col] = [f"{v:.2f}" for v in eff[col]]
        eff["p"] = [f"{v:.3g}" for v in eff["p"]]
        bal = self.balance[["label", "smd_unweighted", "smd_weighted"]].copy()
        for col in ("smd_unweighted", "smd_weighted"):
            bal[col] = [f"{v:.3f}" for v in bal[col]]
        notes = "".join(f"<br><i>Warning: {_html.escape(w)}</i>" for w in self.warnings)
        return (f"<div>{head}{html_table(eff)}<br><b>Balance</b>{html_table(bal)}{notes}"
                "</div>")

    def plot(self, ax: Any = None) -> Any:
        """The adjusted survival curves (:meth:`TreatmentEffects.plot`)."""
        return self.effects_result.plot(ax)


def match_levels(values: pd.Series, names: Sequence[str], column: str) -> tuple[Any, Any]:
    """The two values of ``column`` named by ``names`` (treated, control): each matches a
    value by its text or its printed label (:func:`metsurv.schema.level_label`), ignoring
    case: ``vats`` or ``VATS``; ``true``/``false`` for a yes/no column.

    Raises
    ------
    DataError
        Not two different names, or a name that matches no value (the values present are
        listed).

    >>> match_levels(pd.Series(["vats", "thoracotomy", None]), ["VATS", "thoracotomy"],
    ...              "approach")
    ('vats', 'thoracotomy')
    """
    names = [str(t).strip() for t in names]
    if len(names) != 2 or names[0].casefold() == names[1].casefold():
        raise DataError(f"the levels must name two different values of {column!r}, treated "
                        f"first then control (e.g. vats,thoracotomy), not {names}",
                        column=column)
    counts = values.value_counts(dropna=True)
    found = []
    for want in names:
        hits = [v for v in counts.index if _names_value(want, v, column)]
        if not hits:
            shown = ", ".join(sorted(str(v) for v in counts.index)[:20])
            raise DataError(f"level {want!r} is not a value of {column!r} (values: {shown})",
                            column=column)
        if len(hits) > 1:  # "vats" and "VATS" both present: never pick one silently
            which = ", ".join(f"{v!r} ({int(counts[v])} patients)" for v in hits)
            raise DataError(f"level {want!r} matches {len(hits)} different values of "
                            f"{column!r}: {which}; recode them to one value first (a mapping "
                            "file's codes: section does it)", column=column)
        found.append(_plain(hits[0]))
    return found[0], found[1]


def _names_value(want: str, value: Any, column: str) -> bool:
    """Whether the text ``want`` names ``value``: its text or printed label, ignoring case,
    or the same number ("1" names 1.0)."""
    if want.casefold() in (str(value).casefold(), level_label(column, value).casefold()):
        return True
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return False
    try:
        return float(want) == float(value)
    except ValueError:
        return False


def _num(v: Any) -> float | None:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or pd.isna(v):
        return None
    return float(v)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _balance_frame(tables: Sequence[pd.DataFrame], threshold: float) -> pd.DataFrame:
    """Balance rows (means over the imputations when there are several)."""
    cols = ["smd_unweighted", "smd_weighted", "vr_unweighted", "vr_weighted"]
    first = tables[0][["covariate", "level", "label", "type"]].reset_index(drop=True)
    values = np.mean([t[cols].to_numpy(dtype=float) for t in tables], axis=0)
    out = pd.concat([first, pd.DataFrame(values, columns=cols)], axis=1)
    out["above_threshold"] = np.abs(out["smd_weighted"]) > threshold
    return out


def _pooled_rows(per_imputation: Sequence[pd.DataFrame], conf_level: float,
                 events: int) -> list[dict]:
    """Rubin's rules over the adjusted rows of m effect frames: log HR (robust variance)
    and RMST difference (its variance); the HR and its limits are exponentiated. The log
    HR's complete-data df is events - 1 (mice's ``get.dfcom`` for a one-term ``coxph``, as
    :meth:`metsurv.stats.impute.Imputations.fit` pools a Cox fit); the RMST difference is
    not a model term: infinite df."""
    from .pool import pool

    rows = []
    for measure in ("hazard_ratio", "rmst_difference"):
        picked = [f[(f["analysis"] == "adjusted") & (f["measure"] == measure)].iloc[0]
                  for f in per_imputation]
        est = np.array([np.log(r["estimate"]) if measure == "hazard_ratio" else r["estimate"]
                        for r in picked])
        var = np.array([r["se"] ** 2 for r in picked])
        p = pool(est[:, None], var[:, None], conf_level=conf_level, terms=[measure],
                 dfcom=max(events - 1, 1) if measure == "hazard_ratio" else None).iloc[0]
        back = np.exp if measure == "hazard_ratio" else (lambda x: x)
        rows.append({"analysis": "adjusted", "measure": measure,
                     "estimate": float(back(p["estimate"])), "se": float(p["std_error"]),
                     "lower": float(back(p["lower"])), "upper": float(back(p["upper"])),
                     "p": float(p["p"]),
                     "variance": f"Rubin's rules over {len(picked)} imputations of: "
                                 + str(picked[0]["variance"]),
                     "fmi": float(p["fmi"]), "df": float(p["df"])})
    return rows


def compare_treatments(
    data: Any,
    treatment: str,
    levels: Sequence[Any],
    confounders: Sequence[str],
    *,
    method: str = "iptw",
    estimand: str = "ATE",
    trim: float | None = None,
    truncate: float | None = None,
    horizon: float | None = None,
    impute: int = 0,
    seed: int = 0,
    iterations: int = 10,
    time: str = "os_months",
    event: str = "os_event",
    conf_level: float = 0.95,
) -> Comparison:
    """Compare two treatments on survival with propensity weights (R WeightIt + cobalt +
    ``survfit``/``coxph(weights =, robust = TRUE)``; with ``impute``, mice + ``pool``).

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient (n rows) with ``treatment``, the confounders and the outcome.
    treatment : str
        Treatment column; ``levels`` = (treated, control) values of it. Other values are
        left out and counted in ``excluded``.
    confounders : sequence of str
        Columns of the propensity model (factors or numbers).
    method, estimand, trim, truncate :
        As :func:`metsurv.stats.propensity.propensity` ("iptw"/"overlap", "ATE"/"ATT";
        overlap weights take "ATE" and are reported as "ATO", the overlap population).
    horizon : float, optional
        RMST horizon in months. Default :data:`DEFAULT_HORIZON` (5 years), or the shorter
        arm's last follow-up time when that is earlier (then a warning says so).
    impute : int
        0: rows with a missing confounder are left out (and counted). m >= 2: the missing
        confounder values are imputed m times by chained equations
        (:func:`metsurv.stats.impute.impute`, with the treatment and the outcome in the
        imputation models) and the effects pooled with Rubin's rules.
    seed : int
        Seed of the imputations.
    time, event : str
        Outcome columns (months; 0/1).

    Returns
    -------
    Comparison
        ``to_dict()`` is the ``metsurv compare --json`` object.

    Raises
    ------
    DataError, CohortError
        A missing column, a level not in the data, a confounder that perfectly predicts
        treatment (no overlap), ``impute`` of 1 or a negative number, an unknown method or
        estimand, overlap weights with "ATT".
    """
    from .effects import treatment_effects
    from .propensity import check_weighting, propensity

    frame = getattr(data, "patients", data)
    levels = tuple(levels)
    if len(levels) != 2 or levels[0] == levels[1]:
        raise DataError(f"levels must be two different values of {treatment!r} (treated, "
                        f"control), not {list(levels)}", column=treatment)
    if impute < 0 or impute == 1:
        raise DataError(f"impute must be 0 (complete cases) or at least 2 imputations, not "
                        f"{impute}")
    # before any imputation, which takes a while
    method, estimand = check_weighting(method, estimand, trim, truncate)
    if horizon is not None and not (np.isfinite(horizon) and horizon > 0):
        raise DataError(f"the RMST horizon must be a positive number of months, not {horizon!r}")
    for col in (treatment, *confounders, time, event):
        if col not in frame:
            raise DataError(f"column {col!r} not in the data; columns: "
                            f"{', '.join(map(str, frame.columns))}", column=col)
    confounders = tuple(confounders)
    excluded = pd.DataFrame(columns=["reason", "column", "n"])
    n_imputed: dict[str, int] = {}
    if impute:
        frame, excluded = _analysable(frame, treatment, levels, time, event)
        from .impute import impute as run_impute

        imp = run_impute(frame, list(confounders), m=impute, seed=seed,
                         iterations=iterations, time=time, event=event,
                         auxiliary=[treatment])
        n_imputed = {k: int(v) for k, v in imp.n_missing.items() if v}
        datasets = list(imp)
    else:
        frame, excluded = _analysable(frame, treatment, levels, time, event)
        datasets = [frame]

    def one(d: pd.DataFrame) -> tuple[Any, Any]:
        ps = propensity(d, treatment, levels, confounders, method=method, estimand=estimand,
                        trim=trim, truncate=truncate)
        eff = treatment_effects(ps.data, treatment, levels[0], levels[1], weights="weight",
                                horizon=horizon, time=time, event=event,
                                conf_level=conf_level)
        return ps, eff

    notes: list[str] = []
    if horizon is None:
        d0 = datasets[0]
        in_arm = d0[treatment].isin(levels).to_numpy(dtype=bool) & d0[time].notna().to_numpy()
        last = d0.loc[in_arm, time].groupby(d0.loc[in_arm, treatment], observed=True).max()
        horizon = DEFAULT_HORIZON
        if len(last) == 2 and float(last.min()) < DEFAULT_HORIZON:
            horizon = float(last.min())
            notes.append(f"RMST horizon {horizon:g} months, the shorter arm's last follow-up "
                         f"(before the default {DEFAULT_HORIZON:g} months)")
    first_ps, first_eff = one(datasets[0])
    horizon = first_eff.horizon  # every imputation integrates to the same horizon
    fits = [(first_ps, first_eff), *(one(d) for d in datasets[1:])]
    ps_excluded = first_ps.excluded
    excluded = pd.concat([excluded, ps_excluded], ignore_index=True) if len(excluded) else \
        ps_excluded.copy()
    balance = _balance_frame([ps.balance.table for ps, _ in fits], first_ps.balance.threshold)
    ess = {k: float(np.mean([ps.ess[k] for ps, _ in fits])) for k in ("treated", "control")}
    if impute:
        unadjusted = first_eff.effects[first_eff.effects["analysis"] == "unadjusted"]
        events = int(first_ps.data[event].astype(float).sum())
        effects = pd.concat([pd.DataFrame(_pooled_rows([e.effects for _, e in fits],
                                                       conf_level, events)), unadjusted],
                            ignore_index=True)
    else:
        effects = first_eff.effects.reset_index(drop=True)
    # an arm without events has an infinite log HR: R coxph prints a number with the warning
    # "coefficient may be infinite"; metsurv prints NA, never a confident HR of 0.00
    dead = first_ps.data.groupby("treated")[event].sum()
    silent = [lv for lv, arm in ((levels[0], True), (levels[1], False))
              if float(dead.get(arm, 0.0)) == 0.0]
    if silent:
        hr = (effects["measure"] == "hazard_ratio").to_numpy()
        effects.loc[hr, ["estimate", "se", "lower", "upper", "p"]] = np.nan
        notes.append(f"no events among the {', '.join(level_label(treatment, v) for v in silent)}"
                     " patients: the hazard ratio cannot be estimated (NA); compare the RMST")
    warnings: list[str] = list(dict.fromkeys(
        [*notes, *first_ps.warnings, *first_eff.warnings]))
    above = balance.loc[balance["above_threshold"], "label"].tolist()
    if above:
        warnings.append(f"after weighting the |SMD| stays above {first_ps.balance.threshold:g} "
                        f"for: {', '.join(map(str, above))}; the adjusted effect is not "
                        "free of confounding by these")
    treated = int(first_ps.data["treated"].sum())
    n = {"treated": treated, "control": int(len(first_ps.data) - treated),
         "total": int(len(first_ps.data))}
    return Comparison(treatment=treatment, levels=levels, method=method,
                      estimand="ATO" if method == "overlap" else first_ps.estimand,
                      confounders=confounders, n=n,
                      excluded=excluded.reset_index(drop=True), balance=balance, ess=ess,
                      effects=effects, horizon=float(horizon), imputations=int(impute),
                      n_imputed=n_imputed, seed=seed if impute else None,
                      propensity=first_ps, effects_result=first_eff,
                      warnings=tuple(warnings))


def _analysable(frame: pd.DataFrame, treatment: str, levels: tuple[Any, Any], time: str,
                  event: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows that can be analysed: a treatment in ``levels`` and a complete outcome
    (neither is ever imputed); the others counted by reason, in the same order with and
    without imputation (treatment, then outcome; the confounders come after, in
    :func:`~metsurv.stats.propensity.propensity`)."""
    rows, keep = [], np.ones(len(frame), dtype=bool)
    for reason, column, bad in (
            ("treatment missing or not one of the two levels", treatment,
             ~frame[treatment].isin(levels).to_numpy(dtype=bool)),
            ("outcome missing", time, frame[time].isna().to_numpy(dtype=bool)),
            ("outcome missing", event, frame[event].isna().to_numpy(dtype=bool))):
        hit = bad & keep
        if hit.any():
            rows.append({"reason": reason, "column": column, "n": int(hit.sum())})
        keep &= ~bad
    return frame.loc[keep], pd.DataFrame(rows, columns=["reason", "column", "n"])
