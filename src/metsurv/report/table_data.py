"""The report's tables as numbers: the ``data`` frame of each
:class:`~metsurv.report.document.Table`, written to ``tables/<name>.csv``.

One value per cell (estimate, lower, upper, n, p as numbers; survival in percent, times in
months, as the column names say), built from the analysis results, never from the printed
cells. Small-cell suppression holds as in the printed table: a count printed "<k" or
"suppressed" is empty (NA), an estimate the printed table leaves blank for suppression is
empty, and the text column ``suppressed`` says why. Under suppression (k > 0) the numbers
carry the printed precision (survival and incidence percent, medians, hazard ratios as the
table rounds them; p to two significant digits): an estimate of a group whose count is
hidden would otherwise give its count back through its decimals (a Kaplan-Meier step is a
ratio of counts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.report._format import shows_estimates
from metsurv.report.suppression import SECONDARY

__all__ = [
    "cif_data",
    "count_value",
    "cox_data",
    "flow_data",
    "hidden_text",
    "irlm_data",
    "p_value",
    "ph_test_data",
    "published_data",
    "rmst_data",
    "rounded",
    "table1_data",
]


def rounded(x: Any, digits: int, k: int) -> float:
    """``x`` as a float (NaN for None or missing), rounded to ``digits`` decimals under
    suppression (``k`` > 0), as printed; unchanged otherwise.

    >>> rounded(0.33351, 1, 5), rounded(0.33351, 1, 0), bool(np.isnan(rounded(None, 1, 5)))
    (0.3, 0.33351, True)
    """
    if x is None or pd.isna(x):
        return float("nan")
    f = float(x)
    return float(round(f, digits)) if k and np.isfinite(f) else f


def p_value(p: Any, k: int) -> float:
    """A p-value as a float (NaN for None or missing); two significant digits under
    suppression (``k`` > 0).

    >>> p_value(0.012345, 5), p_value(0.012345, 0), bool(np.isnan(p_value(None, 0)))
    (0.012, 0.012345, True)
    """
    if p is None or pd.isna(p):
        return float("nan")
    f = float(p)
    return float(f"{f:.2g}") if k and np.isfinite(f) and f > 0 else f


def count_value(n: Any, how: str | None) -> Any:
    """A count as the data hold it: ``pd.NA`` when hidden (``how`` "primary" or
    "secondary") or missing, else the int."""
    if how is not None or n is None or pd.isna(n):
        return pd.NA
    return int(n)


def hidden_text(what: str, how: str | None, k: int) -> str:
    """Why a count is empty in the data: "n below 5", "events suppressed (...)" or ""."""
    if how == "primary":
        return f"{what} below {k}"
    if how == "secondary":
        return f"{what} {SECONDARY} (a total would give a smaller count back)"
    return ""


def _how(n: Any, k: int) -> str | None:
    """The decision of a count without a report's partition: "primary" for 1..k-1."""
    return "primary" if k and n is not None and not pd.isna(n) and 0 < int(n) < k else None


def _counts(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` of ``frame`` as nullable integers (a hidden count: empty in the CSV)."""
    for c in columns:
        frame[c] = pd.array(frame[c].tolist(), dtype="Int64")
    return frame


# ---------------------------------------------------------------------------------------
# Cox models


def _frame(rows: list[dict[str, Any]], counts: Sequence[str]) -> pd.DataFrame:
    """``rows`` as a frame with the ``suppressed`` column right after the last count
    column and the count columns as nullable integers."""
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    cols = list(out.columns)
    cols.insert(cols.index(counts[-1]) + 1, cols.pop(cols.index("suppressed")))
    return _counts(out[cols], list(counts))


def cox_data(models: Mapping[str, pd.DataFrame], k: int,
             zph_p: Callable[[str], float] | None = None, zph_model: str = "") -> pd.DataFrame:
    """The Cox table as numbers, long: one row per model and term.

    Parameters
    ----------
    models : mapping of str to DataFrame
        Model name -> rows ``term``, ``hr``, ``lower``, ``upper``, ``p``
        (:func:`metsurv.report.tables.cox_frame`), as :func:`~metsurv.report.tables.format_cox`
        prints them.
    k : int
        Small-cell threshold (0: off); under it HR and CI carry two decimals.
    zph_p : callable, optional
        A term's cox.zph p in model ``zph_model`` (NaN when it has none).

    Returns
    -------
    DataFrame
        Columns ``term``, ``model``, ``hr``, ``hr_lower``, ``hr_upper``, ``p``, ``zph_p``:
        one row per term of each model (terms of the first model first). A term R reports
        as NA has NaN HR and p.
    """
    rows = []
    for name, df in models.items():
        for t, hr, lo, hi, p in zip(df["term"], df["hr"], df["lower"], df["upper"], df["p"],
                                    strict=True):
            rows.append({"term": t, "model": name, "hr": rounded(hr, 2, k),
                         "hr_lower": rounded(lo, 2, k), "hr_upper": rounded(hi, 2, k),
                         "p": p_value(p, k),
                         "zph_p": p_value(zph_p(t), k) if zph_p is not None
                         and name == zph_model else float("nan")})
    return pd.DataFrame(rows, columns=["term", "model", "hr", "hr_lower", "hr_upper", "p",
                                       "zph_p"])


def ph_test_data(ph: pd.DataFrame, k: int) -> pd.DataFrame:
    """The cox.zph table as numbers: ``term`` (title, "GLOBAL"), ``chisq``, ``df``, ``p``."""
    return pd.DataFrame({
        "term": [schema.FACTOR_TITLES.get(t, t) for t in ph["term"]],
        "chisq": [rounded(v, 2, k) for v in ph["chisq"]],
        "df": pd.array([int(v) for v in ph["df"]], dtype="Int64"),
        "p": [p_value(v, k) for v in ph["p"]],
    })


def rmst_data(term: str, rmst: pd.DataFrame, k: int) -> pd.DataFrame:
    """Restricted-mean contrasts of one term as numbers: ``comparison``, ``group``,
    ``reference`` (codes), ``tau_months``, ``rmst_difference_months`` with
    ``_lower_months`` and ``_upper_months``, ``p``."""
    return pd.DataFrame({
        "comparison": [f"{schema.level_label(term, g)} vs {schema.level_label(term, r)}"
                       for g, r in zip(rmst["group"], rmst["reference"], strict=True)],
        "group": [str(g) for g in rmst["group"]],
        "reference": [str(r) for r in rmst["reference"]],
        "tau_months": rmst["tau"].to_numpy(float),
        "rmst_difference_months": [rounded(v, 1, k) for v in rmst["difference"]],
        "rmst_difference_lower_months": [rounded(v, 1, k) for v in rmst["lower"]],
        "rmst_difference_upper_months": [rounded(v, 1, k) for v in rmst["upper"]],
        "p": [p_value(v, k) for v in rmst["p_value"]],
    })


# ---------------------------------------------------------------------------------------
# IRLM battery

_IRLM_YEARS = (5, 10)


def irlm_data(battery: Any, k: int,
              groups: Callable[[str], tuple[Any, Any]] | None = None) -> pd.DataFrame:
    """The IRLM battery table as numbers, one row per level, the rows and blanks of
    :func:`metsurv.report.tables.format_irlm`.

    Parameters
    ----------
    battery : IRLMBattery
        :func:`metsurv.stats.irlm.irlm_comparisons` result (its ``to_frame()``).
    k : int
        Small-cell threshold (0: off).
    groups : callable, optional
        A factor's report decisions (patients, events partitions), as for ``format_irlm``.

    Returns
    -------
    DataFrame
        ``factor_code``, ``factor``, ``level_code``, ``level``, ``reference``, ``sparse``,
        ``n``, ``events``, ``suppressed``, ``median_months`` (+ ``_lower``/``_upper``),
        ``surv_5y_pct``, ``surv_10y_pct`` (+ limits), ``hr``, ``hr_lower``, ``hr_upper``,
        ``hr_p`` (univariable, against the reference level; empty for the reference and
        sparse levels), ``mv_hr``, ``mv_hr_lower``, ``mv_hr_upper``, ``mv_p`` (battery
        model; empty for levels not in it), ``logrank_p``, ``trend_p`` (the factor's,
        on each of its rows), ``note``.
    """
    df = battery.to_frame()
    mv = battery.multivariable
    in_mv = (set(zip(mv["factor"], mv["level"].map(str), strict=True)) if len(mv) else set())
    df = df[(df["n"].fillna(0) > 0) | df.get("reference", False).astype(bool)]
    rows = []
    for _, r in df.iterrows():  # one row per level (a handful), not per patient
        f, lev = r["factor"], r["level"]
        hows = [(groups(f)[w].how(lev) if groups is not None and pd.notna(n) else _how(n, k))
                for w, n in enumerate((r["n"], r["events"]))]
        shown = not (k and pd.notna(r["n"]) and 0 < int(r["n"]) < k)
        why = [hidden_text("n", hows[0], k), hidden_text("events", hows[1], k)]
        if not shown:
            why.append(f"estimates not shown (fewer than {k} patients)")
        row: dict[str, Any] = {
            "factor_code": f, "factor": schema.FACTOR_TITLES.get(f, f),
            "level_code": str(lev), "level": schema.level_label(f, lev),
            "reference": bool(r.get("reference", False)), "sparse": bool(r["sparse"]),
            "n": count_value(r["n"], hows[0]), "events": count_value(r["events"], hows[1]),
        }
        median_ok = shown and shows_estimates(r.get("median_n_risk"), k)
        if shown and not median_ok:
            why.append(f"median not shown (fewer than {k} at risk)")
        for c, src in (("median_months", "median"), ("median_lower_months", "median_lower"),
                       ("median_upper_months", "median_upper")):
            row[c] = rounded(r[src], 1, k) if median_ok else float("nan")
        for y in _IRLM_YEARS:
            # as printed: not resting on fewer than k at risk, nor on nobody (a 0% there
            # is a curve's last step among fewer than k)
            ok = shown and shows_estimates(r.get(f"surv_{y}y_n_risk"), k)
            if shown and not ok:
                why.append(f"{y}-year survival not shown (fewer than {k} at risk)")
            for suffix in ("", "_lower", "_upper"):
                v = r[f"surv_{y}y{suffix}"]
                row[f"surv_{y}y{suffix}_pct"] = (rounded(100 * v, 0, k) if ok and pd.notna(v)
                                                 else float("nan"))
        has_hr = not row["reference"] and not r["sparse"] and bool(r["n"])
        for c, src in (("hr", "hr"), ("hr_lower", "hr_lower"), ("hr_upper", "hr_upper")):
            row[c] = rounded(r[src], 2, k) if has_hr else float("nan")
        row["hr_p"] = p_value(r["hr_p"], k) if has_hr else float("nan")
        has_mv = (f, str(lev)) in in_mv
        for c, src in (("mv_hr", "mv_hr"), ("mv_hr_lower", "mv_lower"),
                       ("mv_hr_upper", "mv_upper")):
            row[c] = rounded(r[src], 2, k) if has_mv else float("nan")
        row["mv_p"] = p_value(r["mv_p"], k) if has_mv else float("nan")
        row["logrank_p"] = p_value(r["logrank_p"], k)
        row["trend_p"] = p_value(r["trend_p"], k)
        row["note"] = "" if pd.isna(r.get("note")) else str(r.get("note") or "")
        row["suppressed"] = "; ".join(w for w in why if w)
        rows.append(row)
    return _frame(rows, ["n", "events"])


# ---------------------------------------------------------------------------------------
# competing risks


def cif_data(at: pd.DataFrame, k: int) -> pd.DataFrame:
    """Cumulative incidence at the report's years as numbers: ``first_event``,
    ``cause_code``, ``years``, ``months``, ``cumulative_incidence_pct`` with ``_lower_pct``
    and ``_upper_pct``. ``at``: the rows of the printed table, in its order (the
    competing-risks result's estimates at the report's years, ``cause`` the printed label
    and ``cause_code`` the status code)."""
    scale = 100.0
    return pd.DataFrame({
        "first_event": at["cause"].astype(str).to_numpy(),
        "cause_code": at["cause_code"].astype(str).to_numpy(),
        "years": (at["time"] / schema.MONTHS_PER_YEAR).to_numpy(float),
        "months": at["time"].to_numpy(float),
        "cumulative_incidence_pct": [rounded(scale * v, 1, k) for v in at["estimate"]],
        "cumulative_incidence_lower_pct": [rounded(scale * v, 1, k) for v in at["lower"]],
        "cumulative_incidence_upper_pct": [rounded(scale * v, 1, k) for v in at["upper"]],
    })


# ---------------------------------------------------------------------------------------
# published comparison


def published_data(published: pd.DataFrame, cohort_rows: pd.DataFrame, k: int,
                   count_how: Callable[[str | None, str, Any], str | None] | None = None
                   ) -> pd.DataFrame:
    """The published comparison as numbers, in the rows and order of
    :func:`metsurv.report.tables.published_comparison` (same arguments).

    ``count_how(subset, column, value)``: the report's decision for the cohort group's
    count (None: shown), as ``published_comparison``'s ``count_text`` prints it.

    Returns
    -------
    DataFrame
        ``study``, ``published_cohort``, ``population``, ``factor``, ``level``,
        ``published_n``, ``cohort_n``, ``suppressed``, ``published_median_months``,
        ``cohort_median_months``, then per survival horizon some study reports
        ``published_surv_<y>y_pct`` and ``cohort_surv_<y>y_pct``, then ``source``.
        A cohort n hidden by suppression is empty, and so are the estimates the printed
        table leaves blank (a group of fewer than k, survival on fewer than k at risk).
    """
    from metsurv.published import SURVIVAL_COLUMNS
    from metsurv.report import tables as T

    surv_cols = [c for c in SURVIVAL_COLUMNS if published[c].notna().any()]
    rows = []
    for i in T._published_order(published):
        p = published.loc[i]
        c = cohort_rows.loc[i] if i in cohort_rows.index else pd.Series(dtype=float)
        n = c.get("n", np.nan)
        shown = not (k and pd.notna(n) and 0 < int(n) < k)
        match = T.published_match(p)
        how = (count_how(match[2], match[0], match[1])
               if count_how is not None and match is not None and pd.notna(n) else _how(n, k))
        if match is None:
            factor, level = T.FACTOR_TITLES.get(p["factor"], p["factor"]), p["level"]
        elif match[0] == "all":
            factor, level = T.FACTOR_TITLES["all"], T.FACTOR_TITLES["all"]
        else:
            factor, level = T.FACTOR_TITLES.get(match[0], match[0]), T.level_label(*match[:2])
        why = [hidden_text("cohort n", how, k)]
        if not shown:
            why.append(f"cohort estimates not shown (fewer than {k} patients)")
        row: dict[str, Any] = {
            "study": p["study"], "published_cohort": p["cohort"],
            "population": T.population_text(p), "factor": factor, "level": level,
            "published_n": p["n"], "cohort_n": count_value(n, how),
            "published_median_months": rounded(p["median_months"], 0, 0),
            "cohort_median_months": (rounded(c.get("median_months", np.nan), 1, k)
                                     if shown and shows_estimates(
                                         c.get("median_n_risk", np.nan), k)
                                     else float("nan")),
        }
        for col in surv_cols:
            y = f"{SURVIVAL_COLUMNS[col]:g}"
            row[f"published_surv_{y}y_pct"] = 100 * rounded(p[col], 0, 0)
            rests_on = c.get(f"{col}_n_risk", np.nan)
            ok = shown and shows_estimates(rests_on, k)
            if shown and not ok:
                why.append(f"cohort {y}-year survival not shown (fewer than {k} at risk)")
            v = c.get(col, np.nan)
            row[f"cohort_surv_{y}y_pct"] = rounded(100 * v, 0, k) if ok else float("nan")
        row["source"] = p["source"]
        row["suppressed"] = "; ".join(w for w in why if w)
        rows.append(row)
    return _frame(rows, ["published_n", "cohort_n"])


# ---------------------------------------------------------------------------------------
# Table 1 and the flow of records: numbers at their printed precision

_COUNT_PCT = r"^(?P<n>\d[\d,]*)(?: \((?P<pct>\d+(?:\.\d+)?)%\))?$"
_MEDIAN_IQR = (r"^(?P<median>-?\d+(?:\.\d+)?) \((?P<q1>-?\d+(?:\.\d+)?)\u2013"
               r"(?P<q3>-?\d+(?:\.\d+)?)\)$")


def table1_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as numbers, one row per characteristic, level and column (``group``:
    "Overall" or a group's label): ``n`` and ``percent`` for counts, ``median``, ``q1``,
    ``q3`` for numbers, ``smd`` and ``p`` on the characteristic's rows, and ``suppressed``
    (the printed text, "<k" or "suppressed", where a count is hidden: its ``n`` is empty).

    Numbers are those of the printed table (:func:`metsurv.report.tables.table1`): counts
    exact, percentages and quartiles at the printed precision; a p printed "< 0.001" is
    0.001 with ``p_below`` True. Vectorised over cells (pandas string extraction).

    >>> t = pd.DataFrame({"Characteristic": ["Sex", ""], "Level": ["Female", "Male"],
    ...                   "Overall (n = 5)": ["2 (40.0%)", "3 (60.0%)"]})
    >>> table1_data(t)[["level", "group", "n", "percent"]].to_numpy().tolist()
    [['Female', 'Overall', 2, 40.0], ['Male', 'Overall', 3, 60.0]]
    """
    if frame.empty:
        return pd.DataFrame()
    t = frame.copy()
    t["Characteristic"] = t["Characteristic"].replace("", np.nan).ffill().fillna("")
    groups = [c for c in t.columns if c not in ("Characteristic", "Level", "SMD", "p")]
    long = t.melt(id_vars=["Characteristic", "Level"], value_vars=groups,
                  var_name="group", value_name="cell")
    long["group"] = long["group"].str.replace(r" \(n = [^)]*\)$", "", regex=True)
    cell = long["cell"].fillna("").astype(str).str.strip()
    counts = cell.str.extract(_COUNT_PCT)
    medians = cell.str.extract(_MEDIAN_IQR)
    out = pd.DataFrame({
        "characteristic": long["Characteristic"], "level": long["Level"],
        "group": long["group"],
        "n": pd.to_numeric(counts["n"].str.replace(",", ""), errors="coerce").astype("Int64"),
        "percent": pd.to_numeric(counts["pct"], errors="coerce"),
        "median": pd.to_numeric(medians["median"], errors="coerce"),
        "q1": pd.to_numeric(medians["q1"], errors="coerce"),
        "q3": pd.to_numeric(medians["q3"], errors="coerce"),
        "suppressed": cell.where(cell.str.startswith("<") | (cell == SECONDARY), ""),
    })
    for col in ("SMD", "p"):  # per characteristic, on its first row
        if col in t.columns:
            text = t[col].fillna("").astype(str).str.strip()
            value = pd.to_numeric(text.str.lstrip("<> ").str.strip(), errors="coerce")
            key = t["Characteristic"] + "\x00" + t["Level"].astype(str)
            by_row = dict(zip(key, value, strict=True))
            lk = out["characteristic"] + "\x00" + out["level"].astype(str)
            out[col.lower()] = lk.map(by_row)
            if col == "p":
                below = dict(zip(key, text.str.startswith("<"), strict=True))
                out["p_below"] = lk.map(below).fillna(False).astype(bool)
    return out.reset_index(drop=True)


def flow_data(frame: pd.DataFrame) -> pd.DataFrame:
    """The flow of records as numbers: ``n`` a whole number where the printed count is
    one; where suppression printed "<k" or a range ("199–202"), ``n`` is empty and
    ``n_printed`` holds what was printed.

    >>> flow_data(pd.DataFrame({"table": ["patients"], "step": ["read"], "reason": [""],
    ...                         "n": ["1,234"]}))["n"].tolist()
    [1234]
    """
    text = frame["n"].fillna("").astype(str).str.strip()
    number = pd.to_numeric(text.where(text.str.fullmatch(r"\d[\d,]*"), "")
                           .str.replace(",", ""), errors="coerce").astype("Int64")
    out = frame[["table", "step", "reason"]].copy()
    out["n"] = number
    out["n_printed"] = text.where(number.isna(), "")
    return out
