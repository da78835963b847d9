"""The IRLM comparison battery: every prognostic factor of Pastorino et al. 1997, level by
level, in one frozen result that the report renders.

For each factor present in the cohort and each of its levels (schema order, absent levels
included with n = 0): n, events, median survival (95% CI), survival at 1, 3, 5, 10 and 15
years (95% CI), RMST to 5 years; per factor the log-rank p (and the test for trend for
ordered factors); the univariable hazard ratio of each level against the schema reference
level; and a multivariable Cox model on the factors with enough data.

Rules, stated once:

* A level with fewer than ``min_n`` patients or ``min_events`` events is *sparse*: its n,
  events and Kaplan-Meier estimates are shown and marked, but it takes no part in the
  log-rank test, the hazard ratios or the multivariable model (an HR estimated from three
  patients is noise). The note column says so: nothing is dropped silently.
* Survival at a time beyond the group's follow-up (no patient observed that long and the
  curve not at 0: :func:`metsurv.stats.km.followed`) is reported as missing, not carried
  forward; likewise RMST when follow-up ends before 5 years (where
  :func:`metsurv.stats.rmst.rmst` would warn and extend the curve flat, as R ``rmean``).
* LMS vs other sarcoma is analysed among sarcoma patients only; NX (nodes not assessed)
  is a level of nodal status but not of its trend test (N0 < N1 < N2).
* The IRLM group is a summary of resection, DFI and number of metastases, so the
  multivariable model uses the components, not the group; the LMS subgroup factor is left
  out of it too.

R equivalents: ``survfit`` (median, CI: log-log), ``summary(fit, times)``, ``survdiff``
(log-rank; trend from O, E, V), ``coxph`` (Efron), ``print(fit, rmean = 60)`` (see
metsurv ``km``, ``logrank``, ``cox``, ``rmst``). With delayed entry (a cohort's
``entry_months``) all of them are left-truncated: ``Surv(entry, time, event)``, and the
log-rank test from left-truncated risk sets (:func:`metsurv.stats.logrank`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.schema import BOOL_LABELS, ORDERED_FACTORS, REFERENCE_LEVELS, codes
from metsurv.stats._result import Result, json_safe
from metsurv.stats._times import as_frame, default_start, level_label
from metsurv.stats.cox import cox
from metsurv.stats.km import followed, km
from metsurv.stats.rmst import rmst_from_curve
from metsurv.stats.tests import logrank

#: Factor column -> (label, population restriction or None).
FACTORS: dict[str, tuple[str, str | None]] = {
    "complete_resection": ("Resection completeness", None),
    "dfi_group": ("Disease-free interval (months)", None),
    "n_metastases_group": ("Number of metastases", None),
    "histology_group": ("Histology", None),
    "leiomyosarcoma": ("Leiomyosarcoma vs other sarcoma (sarcoma only)", "sarcoma"),
    "nodal_status": ("Nodal status", None),
    "irlm_group": ("IRLM prognostic group", None),
    "chemo_response": ("Response to preoperative chemotherapy", None),
}
#: Left out of the multivariable model (see module docstring).
NOT_MULTIVARIABLE = ("irlm_group", "leiomyosarcoma")
SURVIVAL_YEARS = (1, 3, 5, 10, 15)
RMST_YEARS = 5
MONTHS_PER_YEAR = schema.MONTHS_PER_YEAR
#: Endpoint -> (time column, event column), from :data:`metsurv.schema.ENDPOINTS`.
ENDPOINTS = {key: (e.time, e.event) for key, e in schema.ENDPOINTS.items()}


@dataclasses.dataclass(frozen=True, eq=False)
class IRLMBattery(Result):
    """The battery. ``levels``: one row per factor and level; ``factors``: one row per
    factor (population, tests, reference); ``multivariable``: the Cox table (or empty)."""

    endpoint: str
    time: str
    event: str
    n: int
    events: int
    levels: pd.DataFrame
    factors: pd.DataFrame
    multivariable: pd.DataFrame
    multivariable_factors: tuple[str, ...]
    multivariable_n: int
    multivariable_events: int
    skipped: tuple[str, ...]
    min_n: int
    min_events: int

    def to_frame(self) -> pd.DataFrame:
        """The long table: one row per factor and level, with the factor's tests and the
        multivariable HR of the level repeated on its row."""
        tests = self.factors[["factor", "logrank_p", "trend_p"]]
        out = self.levels.merge(tests, on="factor", how="left")
        mv = self.multivariable.rename(columns={"hr": "mv_hr", "lower": "mv_lower",
                                                "upper": "mv_upper", "p": "mv_p"})
        cols = ["factor", "level", "mv_hr", "mv_lower", "mv_upper", "mv_p"]
        if len(mv):
            out = out.merge(mv[cols], on=["factor", "level"], how="left")
        else:
            out = out.assign(**{c: np.nan for c in cols[2:]})
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON: the cohort size, one entry per factor with its levels, the model."""
        factors = []
        for _, f in self.factors.iterrows():
            rows = self.levels[self.levels["factor"] == f["factor"]].drop(columns="factor")
            factors.append({**f.to_dict(), "levels": rows})
        return json_safe({
            "endpoint": self.endpoint, "time": self.time, "event": self.event,
            "n": self.n, "events": self.events, "min_n": self.min_n,
            "min_events": self.min_events, "survival_years": SURVIVAL_YEARS,
            "rmst_years": RMST_YEARS, "factors": factors, "skipped": self.skipped,
            "multivariable": {"factors": self.multivariable_factors,
                              "n": self.multivariable_n, "events": self.multivariable_events,
                              "table": self.multivariable},
            "warnings": self.warnings,
        })

    def _html_head(self) -> str:
        return (f"<b>IRLMBattery</b> endpoint {self.endpoint}: n = {self.n}, "
                f"events = {self.events}")


def _factor_levels(col: str, s: pd.Series) -> list:
    """All levels of a factor in display order: schema order for coded fields, reference
    first for booleans."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return list(s.cat.categories)
    if col in BOOL_LABELS or s.dropna().isin([True, False]).all():
        ref = REFERENCE_LEVELS.get(col, False)
        return [ref, not ref]
    try:
        return list(codes(col))
    except KeyError:
        return sorted(s.dropna().unique().tolist())


def _as_categorical(s: pd.Series, levels: list) -> pd.Series:
    if isinstance(s.dtype, pd.CategoricalDtype) and list(s.cat.categories) == levels:
        # already these categories: the same codes, without a round trip through objects
        return pd.Series(pd.Categorical.from_codes(s.cat.codes.to_numpy(), categories=levels),
                         index=s.index)
    values = s.astype(object).where(s.notna(), None)
    return pd.Series(pd.Categorical(values, categories=levels), index=s.index)


def schema_categorical(s: pd.Series, col: str) -> pd.Series:
    """``s`` as a Categorical in display order (schema order; for yes/no factors the
    schema reference level first), all levels kept, for per-level tables and curves."""
    return _as_categorical(s, _factor_levels(col, s))


def _term(col: str, level: Any) -> str:
    return f"{col}[{level_label(level)}]"


def _level_row(curve, tp, tau) -> dict:
    """Median, survival at ``tp`` and RMST to ``tau`` of one level's curve (None: empty)."""
    row: dict[str, Any] = {}
    if curve is None:
        return row
    med = curve.median, curve.median_lower, curve.median_upper
    row.update(median=med[0], median_lower=med[1], median_upper=med[2])
    # how many the median rests on (at risk at its time): a report under suppression
    # hides a median resting on fewer than k, as it hides such a survival
    row["median_n_risk"] = curve.median_n_risk
    at = curve.at([*tp, tau])
    ok = followed(at["n_risk"].to_numpy(), at["estimate"].to_numpy())
    for y, (_, r), good in zip(SURVIVAL_YEARS, at.iloc[:-1].iterrows(), ok[:-1], strict=True):
        for key, val in (("", r["estimate"]), ("_lower", r["lower"]), ("_upper", r["upper"])):
            row[f"surv_{y}y{key}"] = val if good else np.nan
        # how many the estimate rests on (a report under suppression hides one resting on
        # fewer than k: the steps before it say how many were at risk)
        row[f"surv_{y}y_n_risk"] = int(r["n_risk"])
    m, se = rmst_from_curve(curve, tau)
    row.update(rmst_5y=m if ok[-1] else np.nan, rmst_5y_se=se if ok[-1] else np.nan)
    return row


def _analyse_factor(df, col, label, population, time, event, min_n, min_events):
    s = df[col]
    levels = _factor_levels(col, s)
    keep = [time, event, *[c for c in ("entry_months",) if c in df.columns]] + (
        ["histology_group"] if population is not None else [])
    sub = df[keep].assign(**{col: schema_categorical(s, col)})
    if population is not None:
        sub = sub[sub["histology_group"].astype(object) == population]
    sub = sub[sub[col].notna() & sub[time].notna() & sub[event].notna()]
    tp = [y * MONTHS_PER_YEAR for y in SURVIVAL_YEARS]
    tau = RMST_YEARS * MONTHS_PER_YEAR
    fit = km(sub, by=col, time=time, event=event) if len(sub) else None
    curves = {str(c.group): c for c in fit.curves} if fit else {}
    counts = sub.groupby(col, observed=False)[event].agg(["size", "sum"])
    adequate = [lev for lev in levels
                if counts.loc[lev, "size"] >= min_n and counts.loc[lev, "sum"] >= min_events]
    ref = REFERENCE_LEVELS.get(col)
    if ref not in adequate:
        ref = adequate[0] if adequate else None
    tested = sub[sub[col].isin(adequate)].copy()
    tested[col] = tested[col].cat.remove_unused_categories()
    lr_p = trend_p = np.nan
    hr = {}
    note_factor = ""
    notes: list[str] = []
    if len(adequate) >= 2:
        lr_p = logrank(tested, by=col, time=time, event=event).p
        order = [lev for lev in ORDERED_FACTORS.get(col, ()) if lev in adequate]
        if len(order) >= 3 or (col in ORDERED_FACTORS and len(order) == 2):
            tr = tested[tested[col].isin(order)].copy()
            tr[col] = pd.Categorical(tr[col].astype(object), categories=order)
            trend_p = logrank(tr, by=col, time=time, event=event, trend=True).trend_p
        # cox's default reference is ``ref``: the schema level if adequate, else the first
        fit_cox = cox(tested, [col], time=time, event=event)
        hr = fit_cox.to_frame().set_index("term")
        notes = [f"{col} (univariable Cox): {w}" for w in fit_cox.warnings]
    else:
        note_factor = "fewer than two levels with enough data: no test"
    rows = []
    for lev in levels:
        n, d = int(counts.loc[lev, "size"]), int(counts.loc[lev, "sum"])
        sparse = lev not in adequate
        row = {
            "factor": col, "level": level_label(lev),
            "label": BOOL_LABELS.get(col, {}).get(lev, str(level_label(lev))),
            "n": n, "events": d, "sparse": sparse, "reference": lev == ref,
            "note": (f"too few patients (< {min_n}) or events (< {min_events}): "
                     "not tested, no HR") if sparse and n > 0 else
                    ("no patients" if n == 0 else ""),
        }
        row.update(_level_row(curves.get(str(level_label(lev))), tp, tau))
        if lev == ref:
            row.update(hr=1.0, hr_lower=np.nan, hr_upper=np.nan, hr_p=np.nan)
        elif len(hr) and _term(col, lev) in hr.index:
            h = hr.loc[_term(col, lev)]
            row.update(hr=h["hr"], hr_lower=h["lower"], hr_upper=h["upper"], hr_p=h["p"])
        rows.append(row)
    factor = {
        "factor": col, "label": label, "population": population or "all",
        "n": len(sub), "events": int(sub[event].sum()),
        "reference": None if ref is None else level_label(ref),
        "levels_tested": [level_label(v) for v in adequate],
        "logrank_p": lr_p, "trend_p": trend_p, "note": note_factor,
    }
    return rows, factor, adequate, notes


_LEVEL_COLUMNS = (
    ["factor", "level", "label", "n", "events", "sparse", "reference", "note",
     "median", "median_lower", "median_upper", "median_n_risk"]
    + [f"surv_{y}y{k}" for y in SURVIVAL_YEARS for k in ("", "_lower", "_upper", "_n_risk")]
    + ["rmst_5y", "rmst_5y_se", "hr", "hr_lower", "hr_upper", "hr_p"]
)


def irlm_comparisons(
    cohort: Any,
    endpoint: str = "os",
    min_n: int = 10,
    min_events: int = 5,
    min_complete_fraction: float = 0.5,
) -> IRLMBattery:
    """Run the IRLM battery on a Cohort (or patients DataFrame) for ``endpoint`` "os" or
    "dfs". Levels with fewer than ``min_n`` patients or ``min_events`` events are marked
    sparse (see module docstring); a factor enters the multivariable model when it has two
    or more non-sparse levels and is recorded for at least ``min_complete_fraction`` of
    the patients.

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"os_months": rng.exponential(40, 200),
    ...                    "os_event": rng.random(200) < 0.7,
    ...                    "complete_resection": rng.random(200) < 0.8})
    >>> res = irlm_comparisons(df)
    >>> res.levels[["level", "n", "reference"]].to_dict("list")
    {'level': [True, False], 'n': [159, 41], 'reference': [True, False]}
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {tuple(ENDPOINTS)}, got {endpoint!r}")
    time, event = ENDPOINTS[endpoint]
    df = as_frame(cohort)
    # only the columns the battery reads: a registry has dozens, copied per factor; with
    # delayed entry the entry time too, so that km, logrank and cox are left-truncated as
    # the report's curves are (default_start), and a patient with an unknown entry time is
    # left out as from every left-truncated analysis
    start = default_start(df, time, None)
    used = [c for c in (time, event, start, *FACTORS) if c is not None and c in df.columns]
    complete = df[time].notna() & df[event].notna()
    if start is not None:
        complete &= df[start].notna()
    df = df.loc[complete, used]
    df[event] = df[event].astype(bool)
    level_rows, factor_rows, mv_factors, skipped = [], [], [], []
    notes: list[str] = []  # the Cox fits' warnings (NA or infinite terms), said where
    for col, (label, population) in FACTORS.items():
        if col not in df.columns or df[col].notna().sum() == 0:
            skipped.append(col)
            continue
        if population is not None and "histology_group" not in df.columns:
            skipped.append(col)
            continue
        rows, factor, adequate, factor_notes = _analyse_factor(
            df, col, label, population, time, event, min_n, min_events)
        notes += factor_notes
        level_rows.extend(rows)
        factor_rows.append(factor)
        if (col not in NOT_MULTIVARIABLE and len(adequate) >= 2
                and df[col].notna().mean() >= min_complete_fraction):
            mv_factors.append((col, adequate))
    mv_table, mv_n, mv_events = pd.DataFrame(), 0, 0
    if mv_factors:
        mv = df.copy()
        for col, adequate in mv_factors:
            mv[col] = schema_categorical(mv[col], col)
            mv = mv[mv[col].isin(adequate)]
            mv[col] = mv[col].cat.remove_unused_categories()
        fit = cox(mv, [c for c, _ in mv_factors], time=time, event=event)
        tab = fit.to_frame()
        split = tab["term"].str.extract(r"^(?P<factor>[^\[]+)\[(?P<level>.*)\]$")
        lookup = {(c, str(level_label(lev))): level_label(lev)
                  for c, adequate in mv_factors for lev in adequate}
        mv_table = pd.DataFrame({
            "factor": split["factor"],
            "level": [lookup.get((f, lv), lv) for f, lv in zip(split["factor"], split["level"],
                                                                strict=True)],
            "hr": tab["hr"], "lower": tab["lower"], "upper": tab["upper"], "p": tab["p"],
        })
        mv_n, mv_events = fit.n, fit.events
        notes += [f"multivariable Cox: {w}" for w in fit.warnings]
    levels = pd.DataFrame(level_rows).reindex(columns=_LEVEL_COLUMNS)
    return IRLMBattery(
        endpoint=endpoint, time=time, event=event, n=len(df), events=int(df[event].sum()),
        levels=levels, factors=pd.DataFrame(factor_rows), multivariable=mv_table,
        multivariable_factors=tuple(c for c, _ in mv_factors), multivariable_n=mv_n,
        multivariable_events=mv_events, skipped=tuple(skipped), min_n=min_n,
        min_events=min_events, warnings=tuple(notes),
    )
