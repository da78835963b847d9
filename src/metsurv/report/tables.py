"""Tables of a metastasectomy report: Table 1, Cox models, the IRLM battery, and the cohort
beside the published series; CSV and self-contained HTML.

Table 1 is descriptive (counts, percentages, median and IQR); everything inferential is read
from :mod:`metsurv.stats` results. Optional small-cell suppression replaces counts
``1 <= n < k`` by ``"<k"`` so that a table can leave the institution; zero stays zero. In
Table 1 it holds against the table's own totals (see :func:`protect_cells` and
docs/report.md, "Small-cell suppression"): a cell that a row, column or header total would
give back is hidden as well (printed "suppressed"), and a variable with any hidden cell in a
column shows no percentages in that column.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.format import format_ci as ci_text
from metsurv.format import format_num, format_p
from metsurv.report._cache import cached
from metsurv.report._format import lower_first, shows_estimates, suppress_count
from metsurv.report.suppression import (
    MISSING,
    SECONDARY,
    Partition,
    Suppression,
    protect_cells,
)

__all__ = [
    "FACTOR_TITLES",
    "PUBLISHED_LEVELS",
    "PUBLISHED_SUBSETS",
    "TABLE1_DEFAULT",
    "ci_text",
    "cox_frame",
    "describe_model",
    "format_cox",
    "format_irlm",
    "level_label",
    "published_comparison",
    "published_like",
    "published_match",
    "cohort_histologies",
    "population_gap",
    "population_text",
    "source_notes",
    "protect_cells",
    "subset_patients",
    "SECONDARY",
    "suppress_count",
    "table1",
    "csv_safe_text",
    "to_csv_bytes",
    "to_html",
]

#: Display titles of factors and labels of levels: one table each, in :mod:`metsurv.schema`
#: (these names are kept for compatibility; they are the same objects).
FACTOR_TITLES = schema.FACTOR_TITLES
level_label = schema.level_label

#: Table 1 rows when the config does not list them (those absent from the cohort are skipped).
TABLE1_DEFAULT: tuple[str, ...] = (
    "age_at_metastasectomy",
    "sex",
    "histology_group",
    "leiomyosarcoma",
    "dfi_months",
    "dfi_group",
    "synchronous",
    "n_metastases",
    "n_metastases_group",
    "laterality",
    "resection_status",
    "nodal_status",
    "approach",
    "extent",
    "chemo_response",
    "irlm_group",
    "n_metastasectomies",
)

#: Kinds that can identify a patient; never tabulated.
_IDENTIFYING_KINDS = ("id", "date")


def _levels(s: pd.Series) -> list:
    """A characteristic's levels in display order: coded levels nobody has are left out (a
    sarcoma cohort has no "Epithelial 0" row); yes/no keeps both (a 0 there says something)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(s.cat.categories)) > 0
        return [c for c, u in zip(s.cat.categories, used, strict=True) if u]
    vals = s.dropna().unique().tolist()
    if s.dtype == bool or all(isinstance(v, (bool, np.bool_)) for v in vals):
        return [True, False]
    return sorted(vals, key=str)


def _is_continuous(name: str, s: pd.Series) -> bool:
    kind = schema.PATIENTS[name].kind if name in schema.PATIENTS else None
    if kind in ("float", "int"):
        return True
    if kind in ("code", "bool", "text"):
        return False
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _count_column(name: str, s: pd.Series, levels: list) -> tuple[list[str], list[int], str]:
    """(row labels, counts, median text) of one variable in one column of Table 1; the
    last row is "Missing". Continuous variables have one count row: Missing."""
    if isinstance(s.dtype, pd.CategoricalDtype) and not _is_continuous(name, s):
        # counted on the codes: no copy of the values (a million patients)
        codes = s.cat.codes.to_numpy()
        by_code = np.bincount(codes[codes >= 0], minlength=len(s.cat.categories))
        cat_counts = dict(zip(s.cat.categories, by_code.tolist(), strict=True))
        return ([level_label(name, lev) for lev in levels] + ["Missing"],
                [int(cat_counts.get(lev, 0)) for lev in levels] + [int((codes < 0).sum())],
                "")
    if _is_continuous(name, s) and pd.api.types.is_numeric_dtype(s) \
            and not pd.api.types.is_bool_dtype(s):
        values = s.to_numpy(dtype=float, na_value=np.nan)
        x = values[~np.isnan(values)]
        n_missing = int(values.size - x.size)
        med = ""
        if x.size:
            q1, m, q3 = np.percentile(x, [25, 50, 75])
            med = f"{m:.1f} ({q1:.1f}\u2013{q3:.1f})"
        return ["Missing"], [n_missing], med
    n_missing = int(s.isna().sum())
    present = s.dropna()
    if _is_continuous(name, s):
        x = pd.to_numeric(present, errors="coerce").dropna().to_numpy(float)
        med = ""
        if x.size:
            q1, m, q3 = np.percentile(x, [25, 50, 75])
            med = f"{m:.1f} ({q1:.1f}\u2013{q3:.1f})"
        return ["Missing"], [n_missing], med
    codes, uniques = pd.factorize(present)
    counts = dict(zip(list(uniques), np.bincount(codes, minlength=len(uniques)).tolist(),
                      strict=True))
    return ([level_label(name, lev) for lev in levels] + ["Missing"],
            [int(counts.get(lev, 0)) for lev in levels] + [n_missing], "")


def _cell_text(n: int, how: str | None, k: int, d: int | None) -> str:
    """A count as Table 1 prints it: "<k", "suppressed", "n" or "n (p%)"."""
    if how == "primary":
        return f"<{k}"
    if how == "secondary":
        return SECONDARY
    return f"{n:,} ({100 * n / d:.1f}%)" if d else f"{n:,}"


class _Rows:
    """Some rows of a frame, column by column as asked: a group column of Table 1 without a
    copy of every column of a million patients (``mask`` None: all rows)."""

    def __init__(self, frame: pd.DataFrame, mask: np.ndarray | None = None) -> None:
        self.frame, self.mask = frame, mask
        self.columns = frame.columns
        self._taken: dict[str, pd.Series] = {}
        self._index: pd.Index | None = None
        self._n = len(frame) if mask is None else int(mask.sum())

    def __len__(self) -> int:
        return self._n

    def __contains__(self, column: str) -> bool:
        return column in self.columns

    @property
    def index(self) -> pd.Index:
        if self._index is None:
            self._index = self.frame.index if self.mask is None else self.frame.index[self.mask]
        return self._index

    def __getitem__(self, column: str) -> pd.Series:
        if column not in self._taken:
            s = self.frame[column]
            # the values' rows with the index taken once (not once per column)
            self._taken[column] = s if self.mask is None else pd.Series(
                s.array[self.mask], index=self.index, name=s.name, copy=False)
        return self._taken[column]


def table1(
    patients: pd.DataFrame,
    by: str | None = None,
    variables: Sequence[str] | None = None,
    suppress_below: int = 0,
    suppression: Suppression | None = None,
    *,
    smd: bool | None = None,
    p: bool = False,
) -> pd.DataFrame:
    """Table 1: patient characteristics overall and by ``by``, as R gtsummary prints
    ``tbl_summary(by=) |> add_overall() |> add_difference(test = everything() ~ "smd")``.

    Coded and yes/no fields: n (% of those with a value), levels by their labels
    (:data:`metsurv.schema.LEVEL_LABELS`), levels nobody has left out; numbers: median (IQR).
    A "Missing" row (or "Unknown", when the code "unknown" is folded into it) follows a
    variable only where some value is missing. A variable that applies to some patients
    only (sarcoma subtype: sarcomas) counts only those (its missing row counts sarcomas of
    unknown subtype; a footnote says so). A coded variable fixed by the grouping (one group
    per value: resection status by completeness of resection; or what the grouping applies
    to: histology by sarcoma subtype) is left out, and a footnote says so. Identifier and date fields are never tabulated.
    Columns: ``Characteristic``, ``Level``, ``Overall`` and one per level of ``by`` (headed
    "label (n = N)"); then ``SMD`` (by default when there are exactly two groups) and
    ``p-value`` (``p=True``), on each variable's first row. Patients with ``by`` missing
    count only in Overall.

    SMD: absolute standardized mean difference of the two groups; a number's is the
    difference in means over sqrt((s1^2 + s2^2) / 2) (sample variances), a coded
    variable's the multi-level SMD of Yang & Dalton (2012), sqrt(T' S^-1 T) with T the
    differences in the proportions of the levels but the first and S the mean of the two
    groups' multinomial covariance matrices (a generalised inverse, as R tableone), over
    patients with a value. p-values: chi-square test (Yates' correction for 2 x 2), or
    Fisher's exact test when an expected count is below 5, for coded variables; Wilcoxon
    rank-sum (two groups; exact below 50 per group without ties, as R ``wilcox.test``) or
    Kruskal-Wallis test for numbers. The footnotes (``out.attrs["footnotes"]``, a list of
    sentences) name them.

    With ``suppress_below`` = k, counts 1..k-1 print as "<k", further cells as
    "suppressed" where a total would give a hidden one back (:func:`protect_cells`), a
    variable with a hidden cell in a column shows no percentages in that column, and a
    median (IQR) of fewer than k values is not shown. ``suppression``, a report's
    :class:`~metsurv.report.suppression.Suppression` (its k replaces ``suppress_below``),
    makes the Overall column's decision and the ``by`` groups' the report's: every other
    output then hides the same counts of the same groups. Under suppression no SMD or
    p-value is printed (both are computed from the exact counts and would give hidden ones
    back), a missing count includes patients to whom the variable does not apply where
    there are any ("Missing or not applicable"), and the code "unknown" keeps its own row.

    Parameters
    ----------
    patients : DataFrame
        One row per patient, canonical columns.
    by : str, optional
        Column whose levels make the group columns.
    variables : sequence of str, optional
        Rows, in order (default :data:`TABLE1_DEFAULT`); those absent, all missing or
        identifying are skipped.
    suppress_below, suppression
        Small-cell suppression, see above.
    smd : bool, optional
        Print the SMD column; default (None): when ``by`` has exactly two groups.
    p : bool
        Print the p-value column (needs two groups or more).

    Returns
    -------
    DataFrame
        Printed cells (str), one row per level; ``attrs["footnotes"]``: list of str.

    Raises
    ------
    KeyError
        ``by`` is not a column of ``patients``.

    >>> df = pd.DataFrame({"sex": pd.Categorical(["male", "female", None],
    ...                                          categories=["female", "male", "unknown"]),
    ...                    "age_at_metastasectomy": [50.0, 60.0, 70.0]})
    >>> t = table1(df)
    >>> t.iloc[:3].to_numpy().tolist()[1]
    ['Age at metastasectomy (years)', 'median (IQR)', '60.0 (55.0–65.0)']
    """
    k = int(suppression.k if suppression is not None else suppress_below or 0)
    variables = [v for v in (variables or TABLE1_DEFAULT)
                 if v in patients.columns and v != by
                 and (v not in schema.PATIENTS
                      or schema.PATIENTS[v].kind not in _IDENTIFYING_KINDS)
                 and patients[v].notna().any()]
    if by is not None and by not in patients.columns:
        raise KeyError(f"Table 1: column {by!r} not in the cohort")
    fixed = _fixed_by_grouping(patients, by, variables) if by is not None else []
    variables = [v for v in variables if v not in fixed]
    columns: list[tuple[str, Any]] = [("Overall", _Rows(patients))]
    by_levels: list[Any] = []
    if by is not None:
        for lev in _levels(patients[by]):
            sub = _Rows(patients, (patients[by] == lev).fillna(False).to_numpy(dtype=bool))
            if len(sub):
                columns.append((level_label(by, lev), sub))
                by_levels.append(lev)
    names = [name for name, _ in columns]
    values: dict[Any, int] = {("N", c): len(sub) for c, (_, sub) in enumerate(columns)}
    labels: dict[str, list[str]] = {}
    medians: dict[tuple[str, int], str] = {}
    all_levels = {v: _levels(patients[v]) for v in variables}
    for v in variables:
        levels = all_levels[v]
        for c, (_, sub) in enumerate(columns):
            labels[v], counts, medians[v, c] = _count_column(v, sub[v], levels)
            for j, n in enumerate(counts):
                values[v, j, c] = n
    # Overall n is the number analysed, printed everywhere: never hidden. The Overall
    # column is kept readable where a group column can be hidden instead.
    raw = {v: all_levels[v] + [MISSING] for v in variables if labels[v] != ["Missing"]}
    given = _decided_cells(suppression, by, by_levels, raw) if suppression is not None else {}
    latent: list[Any] = []
    if by is not None:  # patients without a by value: in Overall, in no group column
        no_by = _Rows(patients, patients[by].isna().to_numpy(dtype=bool))
        latent.append(("N", "m"))
        values["N", "m"] = len(no_by)
        for v in variables:
            _, counts, _ = _count_column(v, no_by[v], all_levels[v])
            for j, n in enumerate(counts):
                values[v, j, "m"] = n
                latent.append((v, j, "m"))
    equations = _table1_equations(variables, labels, len(columns), by is not None)
    if k:  # counts of one group under two names (complete resection = R0) add up too
        equations += _link_equations(patients, variables, labels, raw, len(columns),
                                     by, by_levels)
    hidden = protect_cells(values, equations,
                           k, public={("N", 0)}, given=given, latent=latent,
                           avoid={key for key in values if key[-1] == 0}) if k else {}
    if suppression is not None:
        _share_decisions(suppression, patients, by, by_levels, variables, raw, values, hidden)
    header = {"Characteristic": "Patients", "Level": "n"}
    for c, name in enumerate(names):
        header[name] = _cell_text(values["N", c], hidden.get(("N", c)), k, None)
    n_groups = len(columns) - 1
    show_smd = (n_groups == 2 if smd is None else bool(smd) and n_groups == 2) and not k
    show_p = bool(p) and n_groups >= 2 and not k
    groups = [sub for _, sub in columns[1:]]
    footnotes: list[str] = []
    tests: set[str] = set()
    rows = [header]
    for v in variables:
        title = FACTOR_TITLES.get(v, v.replace("_", " ").capitalize())
        cont = labels[v] == ["Missing"] and _is_continuous(v, patients[v])
        printed = _printed_counts(v, labels[v], values, len(columns), columns, k, footnotes,
                                  title)
        first = len(rows)
        if cont:
            row = {"Characteristic": title, "Level": "median (IQR)"}
            for c, name in enumerate(names):
                n_present = values["N", c] - values[v, 0, c]
                row[name] = medians[v, c] if shows_estimates(n_present, k) else ""
            rows.append(row)
        last = len(labels[v]) - 1
        for j, level, counts, is_missing in printed:
            row = {"Characteristic": "" if len(rows) > first else title, "Level": level}
            for c, name in enumerate(names):
                any_hidden = any((v, i, c) in hidden for i in range(last + 1))
                known = sum(n[c] for _, _, n, m in printed if not m)
                d = None if (is_missing or any_hidden) else known
                row[name] = _cell_text(counts[c], hidden.get((v, j, c)) if j is not None
                                       else hidden.get((v, last, c)), k, d)
            rows.append(row)
        if show_smd or show_p:
            x = [_analysed(v, sub) for sub in groups]
            if show_smd:
                rows[first]["SMD"] = _smd_text(_smd(x, cont))
            if show_p:
                pv, test = _p_value(x, cont)
                rows[first]["p-value"] = "" if test is None else format_p(pv, label=False)
                tests.add(test or "")
    out = pd.DataFrame(rows).fillna("")
    extra = [c for c in ("SMD", "p-value") if c in out.columns]
    out = out[["Characteristic", "Level", *names, *extra]]
    out.columns = ["Characteristic", "Level"] + [
        f"{name} (n = {header[name]})" for name in names] + extra
    if fixed:
        titles = [lower_first(FACTOR_TITLES.get(v, v)) for v in fixed]
        what = titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]
        footnotes.append(f"Not shown: {what}, fixed by the grouping by "
                         f"{lower_first(FACTOR_TITLES.get(by, by))}.")
    if show_smd:
        footnotes.append(
            "SMD: absolute standardized mean difference between the two groups; numbers: "
            "difference in means over the square root of the mean of the two sample "
            "variances, sqrt((s1\u00b2 + s2\u00b2)/2); categories: the multi-level SMD of "
            "Yang & Dalton (2012), the same pooled denominator from the two groups' "
            "proportions; patients with a value.")
    if show_p:
        named = [t for t in _TEST_ORDER if t in tests]
        if named:
            footnotes.append("p-values: " + "; ".join(named) + ".")
    out.attrs["footnotes"] = footnotes
    return out


#: Variables that apply to some patients only: (column, value, footnote text).
_APPLIES: dict[str, tuple[str, Any, str]] = {
    "leiomyosarcoma": ("histology_group", "sarcoma", "among sarcomas"),
}
#: A code that means "not known": printed with the missing values, as one row.
_UNKNOWN_CODE = "unknown"
_TEST_ORDER = ("Pearson's chi-square test", "Fisher's exact test", "Wilcoxon rank-sum test",
               "Kruskal-Wallis test")


def _fixed_by_grouping(patients: pd.DataFrame, by: str, variables: Sequence[str]) -> list[str]:
    """The coded variables that the grouping fixes, among patients with both values: one
    group per value (resection status by completeness of resection: R0 100% / 0%), one
    value per group that differs between groups (a relabelling of the grouping), or the
    variable whose value the grouping applies to (histology by sarcoma subtype: sarcoma).
    Numbers never (their values are many); a variable that is the same for everyone is
    kept (the grouping does not fix it)."""
    # on level codes (a million patients): which values meet which groups
    by_codes, by_uniques = pd.factorize(patients[by], use_na_sentinel=True)
    if len(np.unique(by_codes[by_codes >= 0])) < 2:
        return []
    out = []
    for v in variables:
        if by in _APPLIES and _APPLIES[by][0] == v:
            out.append(v)
            continue
        if _is_continuous(v, patients[v]):
            continue
        s = patients[v]
        if isinstance(s.dtype, pd.CategoricalDtype):  # its codes group it as well
            v_codes, n_values = s.cat.codes.to_numpy(), len(s.cat.categories)
        else:
            v_codes, v_uniques = pd.factorize(s, use_na_sentinel=True)
            n_values = len(v_uniques)
        both = (v_codes >= 0) & (by_codes >= 0)
        if not both.any():
            continue
        nb = len(by_uniques)
        met = np.bincount(v_codes[both].astype(np.int64) * nb + by_codes[both],
                          minlength=n_values * nb).reshape(n_values, nb) > 0
        per_value = met.sum(axis=1)[met.any(axis=1)]  # groups of each value present
        per_group = met.sum(axis=0)[met.any(axis=0)]  # values of each group present
        if (per_value <= 1).all() or ((per_group <= 1).all() and len(per_value) > 1):
            out.append(v)
    return out


def _printed_counts(v: str, labels: list[str], values: Mapping[Any, int], n_cols: int,
                    columns: Sequence[tuple[str, Any]], k: int,
                    footnotes: list[str], title: str
                    ) -> list[tuple[int | None, str, list[int], bool]]:
    """The count rows of one variable as printed: (index of its cell, or None for a row
    made of several: missing with "unknown", or missing among those it applies to; label;
    count per column; whether it is the missing row). The missing row only where any
    column has one."""
    last = len(labels) - 1
    col = lambda j: [values[v, j, c] for c in range(n_cols)]  # noqa: E731
    missing = col(last)
    label = "Missing"
    j_missing: int | None = last
    out: list[tuple[int | None, str, list[int], bool]] = []
    unknown = level_label(v, _UNKNOWN_CODE)
    for j in range(last):
        if not k and labels[j] == unknown and v in schema.PATIENTS \
                and _UNKNOWN_CODE in schema.PATIENTS[v].codes:
            missing = [a + b for a, b in zip(missing, col(j), strict=True)]
            label, j_missing = "Unknown", None
            continue
        out.append((j, labels[j], col(j), False))
    if v in _APPLIES:
        a_col, a_val, among = _APPLIES[v]
        na = [int((sub[v].isna() & ~(sub[a_col] == a_val).fillna(False)).sum())
              if a_col in sub.columns else 0 for _, sub in columns]
        if any(na) and not k:
            missing = [m - x for m, x in zip(missing, na, strict=True)]
            j_missing = None
            footnotes.append(f"{title}: {among}; not applicable to the others, who are "
                             "not counted as missing.")
        elif any(na):
            label = "Missing or not applicable"
            footnotes.append(f"{title}: the missing count includes patients to whom it does "
                             f"not apply (it is recorded {among}).")
    if any(missing):  # a Missing row only where something is missing (gtsummary)
        out.append((j_missing, label, missing, True))
    return out


def _analysed(v: str, sub: pd.DataFrame) -> pd.Series:
    """One group's values of ``v`` that the SMD and tests use: those known (the code
    "unknown" is not a value)."""
    s = sub[v]
    unknown = v in schema.PATIENTS and _UNKNOWN_CODE in schema.PATIENTS[v].codes
    if isinstance(s.dtype, pd.CategoricalDtype):  # on the codes: the categories' text
        known = (np.asarray(s.cat.categories.astype(str) != _UNKNOWN_CODE) if unknown
                 else np.ones(len(s.cat.categories), dtype=bool))
        return s[np.append(known, False)[s.cat.codes.to_numpy()]]  # code -1: missing
    s = s.dropna()
    if unknown:
        s = s[s.astype(str) != _UNKNOWN_CODE]
    return s


def _smd(x: Sequence[pd.Series], continuous: bool) -> float:
    """Absolute SMD of two groups' values (see :func:`table1`); NaN when a group has none
    (or fewer than 2 values of a number)."""
    a, b = x
    if continuous:
        a = pd.to_numeric(a, errors="coerce").dropna().to_numpy(float)
        b = pd.to_numeric(b, errors="coerce").dropna().to_numpy(float)
        if a.size < 2 or b.size < 2:
            return float("nan")
        pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        diff = abs(a.mean() - b.mean())
        return 0.0 if diff == 0 else float(diff / pooled) if pooled > 0 else float("inf")
    if not len(a) or not len(b):
        return float("nan")
    if isinstance(a.dtype, pd.CategoricalDtype) and a.dtype == b.dtype:
        pa, pb = _proportions_by_first_seen(a.cat.codes.to_numpy(), b.cat.codes.to_numpy(),
                                            len(a.cat.categories))
    else:
        levels = pd.unique(pd.concat([a.astype(object), b.astype(object)]))
        pa = a.astype(object).value_counts(normalize=True).reindex(levels, fill_value=0)
        pb = b.astype(object).value_counts(normalize=True).reindex(levels, fill_value=0)
        pa, pb = pa.to_numpy(float), pb.to_numpy(float)
    pa, pb = pa[1:], pb[1:]
    if pa.size == 0:
        return 0.0
    t = pa - pb
    s = (np.diag(pa) - np.outer(pa, pa) + np.diag(pb) - np.outer(pb, pb)) / 2
    return float(np.sqrt(max(float(t @ np.linalg.pinv(s) @ t), 0.0)))


def _proportions_by_first_seen(a: np.ndarray, b: np.ndarray, n_levels: int
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Proportions of each level code (>= 0) in ``a`` and in ``b``, levels in the order
    first seen in ``a`` then ``b`` (as ``pd.unique`` of the two, one after the other)."""
    first = np.full(n_levels, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, b, np.arange(len(b), dtype=np.int64) + len(a))
    np.minimum.at(first, a, np.arange(len(a), dtype=np.int64))
    seen = np.flatnonzero(first < np.iinfo(np.int64).max)
    order = seen[np.argsort(first[seen], kind="stable")]
    ca = np.bincount(a, minlength=n_levels)[order]
    cb = np.bincount(b, minlength=n_levels)[order]
    return ca / ca.sum(), cb / cb.sum()


def _smd_text(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:.2f}"


def _p_value(x: Sequence[pd.Series], continuous: bool) -> tuple[float, str | None]:
    """(p, name of the test) across the groups' values (see :func:`table1`); (NaN, None)
    when there is nothing to test."""
    from scipy import stats

    if continuous:
        arrays = [pd.to_numeric(s, errors="coerce").dropna().to_numpy(float) for s in x]
        arrays = [a for a in arrays if a.size]
        if len(arrays) < 2 or np.unique(np.concatenate(arrays)).size < 2:
            return float("nan"), None
        if len(arrays) == 2:
            a, b = arrays
            exact = a.size < 50 and b.size < 50 and np.unique(np.concatenate(arrays)).size \
                == a.size + b.size
            res = stats.mannwhitneyu(a, b, alternative="two-sided", use_continuity=True,
                                     method="exact" if exact else "asymptotic")
            return float(res.pvalue), "Wilcoxon rank-sum test"
        return float(stats.kruskal(*arrays).pvalue), "Kruskal-Wallis test"
    obs = pd.concat([s.astype(object) for s in x], keys=range(len(x)))
    tab = pd.crosstab(obs.to_numpy(), obs.index.get_level_values(0)).to_numpy()
    tab = tab[tab.sum(axis=1) > 0][:, tab.sum(axis=0) > 0]
    if tab.shape[0] < 2 or tab.shape[1] < 2:
        return float("nan"), None
    expected = np.outer(tab.sum(axis=1), tab.sum(axis=0)) / tab.sum()
    if (expected < 5).any():
        if tab.shape == (2, 2):
            return float(stats.fisher_exact(tab).pvalue), "Fisher's exact test"
        exact = _fisher_rxc(tab)
        if exact is not None:
            return exact, "Fisher's exact test"
    return float(stats.chi2_contingency(tab, correction=True).pvalue), \
        "Pearson's chi-square test"


#: Most tables :func:`_fisher_rxc` enumerates (beyond: the chi-square test is used).
_FISHER_MAX_TABLES = 200_000


def _fisher_rxc(tab: np.ndarray) -> float | None:
    """Fisher's exact test of an r x c table as R ``fisher.test`` computes it: the
    probability of the tables with the observed margins that are no more likely than the
    observed (relative tolerance 1e-7), by enumerating them; None when there are more than
    :data:`_FISHER_MAX_TABLES`."""
    from scipy.special import gammaln

    rows = [int(r) for r in tab.sum(axis=1)]
    cols = np.asarray(tab.sum(axis=0), dtype=int)
    n = int(cols.sum())
    base = float(gammaln(np.asarray(rows) + 1).sum() + gammaln(cols + 1).sum() - gammaln(n + 1))
    obs = base - float(gammaln(tab + 1).sum())
    total = 0.0
    count = 0

    def fill(i: int, left: np.ndarray, logp: float) -> bool:
        nonlocal total, count
        if i == len(rows) - 1:  # the last row is what is left
            count += 1
            lp = logp - float(gammaln(left + 1).sum())
            if lp <= obs + np.log1p(1e-7):
                total += np.exp(lp)
            return count <= _FISHER_MAX_TABLES
        return place(i, 0, rows[i], left, np.zeros_like(left), logp)

    def place(i: int, j: int, remaining: int, left: np.ndarray, row: np.ndarray,
              logp: float) -> bool:
        if j == len(left) - 1:
            if remaining > left[j]:
                return True
            row[j] = remaining
            lp = logp - float(gammaln(row + 1).sum())
            return fill(i + 1, left - row, lp)
        cap_rest = int(left[j + 1:].sum())
        for x in range(max(0, remaining - cap_rest), min(remaining, int(left[j])) + 1):
            row[j] = x
            if not place(i, j + 1, remaining - x, left, row, logp):
                return False
        return True

    if not fill(0, cols.copy(), base):
        return None
    return float(min(1.0, total))


def _link_equations(patients: pd.DataFrame, variables: Sequence[str],
                    labels: Mapping[str, list[str]], raw: Mapping[str, list], n_cols: int,
                    by: str | None, by_levels: Sequence[Any]) -> list[list[tuple]]:
    """Sums across variables that hold one group of patients under two names, in every
    column: complete resection = R0, incomplete = R1 + R2, sarcoma subtype known =
    histology sarcoma, number of metastases missing = its group missing
    (:func:`~metsurv.report.suppression.union_links`). A number's count with a value is
    the column's n minus its missing count."""
    from metsurv.report.suppression import level_key, union_links

    series: dict[str, pd.Series] = {}
    index: dict[str, dict[Any, int]] = {}
    for v in variables:
        if v in raw:
            series[v] = patients[v]
            index[v] = {level_key(x): j for j, x in enumerate(raw[v])}
        elif labels[v] == ["Missing"]:
            series[v] = patients[v].notna().map({True: "present", False: None})
    columns = list(range(n_cols)) + (["m"] if by else [])
    if by is not None:  # the header counts the by groups: linked in the Overall column
        series[by] = patients[by]
        index[by] = {level_key(x): j for j, x in enumerate(by_levels, start=1)}
        index[by][MISSING] = "m"

    def cells(v: str, level: Any, c: Any, sign: int) -> list[tuple]:
        if v == by:
            return [(("N", index[by][level]), sign)] if c == 0 else []
        if v in index:
            return [((v, index[v][level], c), sign)]
        if level is MISSING:
            return [((v, 0, c), sign)]
        return [(("N", c), sign), ((v, 0, c), -sign)]  # "present": n minus missing

    eqs: list[list[tuple]] = []
    names = list(series)
    for a in names:
        for b in names:
            if a == b:
                continue
            for level, parts in union_links(series[a], series[b]):
                if b not in index and a not in index:
                    continue  # two numbers' missing counts: no group is printed
                for c in (columns if by not in (a, b) else [0]):
                    eqs.append(cells(b, level, c, 1)
                               + [t for x in parts for t in cells(a, x, c, -1)])
    return eqs


def _decided_cells(supp: Suppression, by: str | None, by_levels: list, raw: Mapping[str, list]
                   ) -> dict[Any, str]:
    """Table 1 cells already hidden by the report's decisions: the ``by`` groups (whose
    missing count the header totals would give back) and any variable's Overall column
    an earlier output decided."""
    given: dict[Any, str] = {}
    if by is not None and supp.k:
        part = supp.decided(("n", None, by))
        for c, lev in enumerate(by_levels, start=1):
            if part is not None and part.how(lev):
                given["N", c] = part.how(lev)
    for v, levels in raw.items():
        part = supp.decided(("n", None, v))
        for j, lev in enumerate(levels):
            if part is not None and part.how(lev):
                given[v, j, 0] = part.how(lev)
    return given


def _share_decisions(supp: Suppression, patients: pd.DataFrame, by: str | None, by_levels: list,
                     variables: Sequence[str], raw: Mapping[str, list],
                     values: Mapping[Any, int], hidden: Mapping[Any, str]) -> None:
    """Make Table 1's decisions the report's: each variable's Overall column, and the
    ``by`` groups with the patients who have no ``by`` value (hidden when fewer than k:
    the header's total minus its groups would say how many)."""
    for v in raw:  # coded and yes/no variables (a number's values are no groups)
        counts = {lev: values[v, j, 0] for j, lev in enumerate(raw[v])}
        supp.fix(("n", None, v), counts,
                 {lev: hidden[v, j, 0] for j, lev in enumerate(raw[v]) if (v, j, 0) in hidden})
    if by is None:
        return
    from metsurv.report.config import SUBSETS

    # a by column that is a report subset (complete resections): its cells are that
    # subset's groups, printed again by the subset's panels
    for c, lev in enumerate(by_levels, start=1):
        for subset in (s for s, (col, val) in SUBSETS.items() if col == by and val == lev):
            for v in raw:
                supp.fix(("n", subset, v), {x: values[v, j, c] for j, x in enumerate(raw[v])},
                         {x: hidden[v, j, c] for j, x in enumerate(raw[v])
                          if (v, j, c) in hidden})
    counts = {lev: values["N", c] for c, lev in enumerate(by_levels, start=1)}
    counts[MISSING] = int(patients[by].isna().sum())
    decided = supp.decided(("n", None, by))
    how = {lev: hidden["N", c] for c, lev in enumerate(by_levels, start=1) if ("N", c) in hidden}
    if decided is not None and decided.how(MISSING):
        how[MISSING] = decided.how(MISSING)
    elif 0 < counts[MISSING] < supp.k:
        how[MISSING] = "primary"
    supp.fix(("n", None, by), counts, how)


def _table1_equations(variables: Sequence[str], labels: Mapping[str, list[str]], n_cols: int,
                      by: bool) -> list[list[tuple]]:
    """The totals a reader of Table 1 can form: each variable's rows in a column add up to
    the column's n (not for a number: its count with a value is not shown); each row's
    group cells, and the never printed count of patients without a ``by`` value
    (``(.., "m")``, latent), add up to Overall; so do the header's."""
    eqs: list[list[tuple]] = []
    no_by = [("m", -1)] if by else []
    for v in variables:
        rows = range(len(labels[v]))
        for c in range(n_cols if labels[v] != ["Missing"] else 0):  # a number: no count shown
            eqs.append([((v, j, c), 1) for j in rows] + [(("N", c), -1)])
        if by and labels[v] != ["Missing"]:
            eqs.append([((v, j, "m"), 1) for j in rows] + [(("N", "m"), -1)])
            eqs.extend([((v, j, 0), 1)] + [((v, j, c), -1) for c in range(1, n_cols)]
                       + [((v, j, m), s) for m, s in no_by] for j in rows)
    if by:
        eqs.append([(("N", 0), 1)] + [(("N", c), -1) for c in range(1, n_cols)]
                   + [(("N", m), s) for m, s in no_by])
    return eqs


def cox_frame(result: Any, model: str = "") -> pd.DataFrame:
    """A :func:`metsurv.stats.cox` result as rows ``term``, ``hr``, ``lower``, ``upper``,
    ``p``, with ``column[level]`` terms printed "Factor: level vs reference"."""
    df = result.to_frame()
    refs = getattr(result, "references", {}) or {}
    out = pd.DataFrame({
        "term": [_term_label(t, refs) for t in df["term"]],
        "hr": df["hr"].to_numpy(float),
        "lower": df["lower"].to_numpy(float),
        "upper": df["upper"].to_numpy(float),
        "p": df["p"].to_numpy(float),
    })
    if model:
        out.insert(0, "model", model)
    return out


def _term_label(term: str, refs: Mapping[str, Any]) -> str:
    """``dfi_group[0-11]`` -> "Disease-free interval (DFI) group: DFI 0-11 mo vs DFI ≥36 mo".

    >>> _term_label("complete_resection[False]", {"complete_resection": True})
    'Completeness of resection: Incomplete (R1/R2) vs Complete (R0)'
    """
    m = re.fullmatch(r"(\w+)\[(.*)\]", term)
    if not m:
        return FACTOR_TITLES.get(term, term)
    col, level = m.group(1), m.group(2)
    lev: Any = {"True": True, "False": False}.get(level, level) if col in schema.BOOL_LABELS else level
    text = f"{FACTOR_TITLES.get(col, col)}: {level_label(col, lev)}"
    if col in refs:
        text += f" vs {level_label(col, refs[col])}"
    return text


def describe_model(factors: Sequence[str], n: int | str, events: int | str,
                   suppress_below: int = 0) -> str:
    """A multivariable model in words, for captions and table headers: its factors, n and
    events (counts under small-cell suppression; text is printed as given, e.g. a report's
    decision for a model's complete cases).

    >>> describe_model(["complete_resection", "dfi_group"], 4321, 2900)
    'completeness of resection, disease-free interval (DFI) group; n = 4,321, events = 2,900'
    """
    names = ", ".join(lower_first(FACTOR_TITLES.get(f, f)) for f in factors)

    def text(v: int | str) -> str:
        return v if isinstance(v, str) else suppress_count(v, suppress_below)
    return f"{names}; n = {text(n)}, events = {text(events)}"


#: A Cox term whose coefficient R reports as NA (aliased, or constant within every stratum).
NOT_ESTIMABLE = "NA (not estimable)"


def hr_text(hr: float, lower: float, upper: float) -> str:
    """A hazard ratio with its 95% CI as tables print it: :data:`NOT_ESTIMABLE` for a term
    without a coefficient, ``Inf`` for an infinite limit (never a confident number).

    >>> hr_text(1.5, 1.1, 2.0), hr_text(float("nan"), float("nan"), float("nan"))
    ('1.50 (1.10–2.00)', 'NA (not estimable)')
    >>> hr_text(2.5, 0.5, float("inf")), hr_text(4.36e9, 0.0, float("inf"))
    ('2.50 (0.50–Inf)', '4.36e+09 (0–Inf)')
    """
    values = [v for v in (hr, lower, upper) if v is not None and np.isfinite(v) and v > 0]
    if any(v >= 1e4 or v < 1e-4 for v in values):  # a diverging (near-infinite) estimate
        return (NOT_ESTIMABLE if pd.isna(hr) else
                f"{format_num(hr)} ({format_num(lower)}\u2013{format_num(upper)})")
    return ci_text(hr, lower, upper, 1, 2, missing=NOT_ESTIMABLE)


def result_notes(results: Sequence[tuple[str, Any]],
                 skip: Sequence[str] = ()) -> tuple[str, ...]:
    """The warnings of fitted results (``result.warnings``) as notes for the table that shows
    them: each prefixed by what was fitted, terms named as the table names them
    (``complete_resection[False]`` -> "Completeness of resection: Incomplete (R1/R2) vs
    Complete (R0)"), without repeats and without the warnings in ``skip`` (already shown
    with another table).

    >>> from types import SimpleNamespace as R
    >>> fit = R(warnings=("dfi_group[0-11] is not estimable",), references={"dfi_group": ">=36"})
    >>> result_notes([("Study model", fit), ("", R(warnings=()))])
    ('Study model: Disease-free interval (DFI) group: DFI 0-11 mo vs DFI ≥36 mo is not estimable',)
    """
    out: list[str] = []
    for label, res in results:
        refs = getattr(res, "references", None) or {}
        for w in getattr(res, "warnings", None) or ():
            if w in skip:
                continue
            text = readable(str(w), refs)
            text = f"{label}: {text}" if label else text
            if text not in out:
                out.append(text)
    return tuple(out)


def readable(text: str, refs: Mapping[str, Any] | None = None) -> str:
    """A stats message with model terms (``column[level]``) and snake_case column names
    written as the report's tables write them.

    >>> readable("complete_resection left out of the PH test")
    'Completeness of resection left out of the PH test'
    """
    text = re.sub(r"\b(\w+)\[([^\]]*)\]", lambda m: _term_label(m.group(0), refs or {}), text)
    names = sorted((k for k in FACTOR_TITLES if "_" in k), key=len, reverse=True)
    if not names:
        return text
    pattern = r"\b(" + "|".join(map(re.escape, names)) + r")\b"
    return re.sub(pattern, lambda m: FACTOR_TITLES[m.group(1)], text)


def format_cox(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Univariable and multivariable Cox rows side by side: HR (95% CI) and p per model; a
    term R reports as NA reads :data:`NOT_ESTIMABLE` with p "NA"."""
    terms: list[str] = []
    for df in tables.values():
        terms.extend(t for t in df["term"] if t not in terms)
    out = pd.DataFrame({"Term": terms})
    for name, df in tables.items():
        by = df.set_index("term")
        hr, p = [], []
        for t in terms:
            if t in by.index:
                r = by.loc[t]
                hr.append(hr_text(r["hr"], r["lower"], r["upper"]))
                p.append(format_p(r["p"], label=False))
            else:
                hr.append("")
                p.append("")
        out[f"{name} HR (95% CI)"] = hr
        out[f"{name} p"] = p
    return out


#: Published factor/level -> cohort column and value, for set-beside comparisons.
PUBLISHED_LEVELS: dict[tuple[str, str], tuple[str, Any]] = {
    ("resection", "complete"): ("complete_resection", True),
    ("resection", "incomplete"): ("complete_resection", False),
    ("histology", "leiomyosarcoma"): ("leiomyosarcoma", True),
    ("histology", "other sarcoma"): ("leiomyosarcoma", False),
    ("chemo_response", "progression"): ("chemo_response", "progression"),
    ("all", "all"): ("all", "all"),
    **{("dfi_group", g): ("dfi_group", g) for g in schema.DFI_GROUPS},
    **{("n_metastases_group", g): ("n_metastases_group", g) for g in schema.N_METASTASES_GROUPS},
    **{("irlm_group", g): ("irlm_group", g) for g in schema.IRLM_GROUPS},
    **{("nodal_status", g): ("nodal_status", g) for g in ("N0", "N1", "N2", "NX")},
}
#: Published subset -> the cohort restriction that reproduces it (None: whole cohort).
PUBLISHED_SUBSETS: dict[str, str | None] = {
    "all": None,
    "complete resection": "complete_resection",
    # Veronesi 2007: N0/N1/N2 exist only where nodes were dissected or sampled, which is
    # what the cohort's N0/N1/N2 groups are too (NX = not assessed).
    "lymph-node dissection or sampling": None,
}
#: Order of the published comparison's rows by cohort column: the default report's factors
#: (the IRLM battery of ``config.default_config``) first, then the others as Table 1 lists
#: them; within a factor its levels in schema order (:func:`_published_level_rank`).
_PUBLISHED_ORDER: tuple[str, ...] = (
    "all", "complete_resection", "dfi_group", "n_metastases_group", "histology_group",
    "leiomyosarcoma", "irlm_group", "nodal_status", "chemo_response",
)


def _figure_histologies(figure: Mapping[str, Any]) -> str:
    """The histologies a published figure describes ("all" when the row does not say)."""
    from metsurv.published import ALL_HISTOLOGIES

    h = figure.get("histologies", ALL_HISTOLOGIES)
    return ALL_HISTOLOGIES if h is None or (isinstance(h, float) and np.isnan(h)) else str(h)


def _histology_subset(histology: str) -> str | None:
    """The report subset (key of config.SUBSETS) of one histology group, None if none."""
    from metsurv.report.config import SUBSETS

    return next((k for k, (col, val) in SUBSETS.items()
                 if col == "histology_group" and val == histology), None)


def published_match(figure: Mapping[str, Any]) -> tuple[str, Any, str | None] | None:
    """Where a published figure (a row of :func:`metsurv.published.published_figures`)
    stands in a cohort: ``(column, value, subset)``, the cohort column and value of its
    group (``("all", "all")``: everyone) and the report subset that reproduces its
    population (None: all patients); None when its factor, level or population has no
    counterpart in the cohort.

    The population is the figure's ``histologies`` (missing: "all") and its ``subset``. A
    single-histology figure is placed in that histology's report subset (sarcoma series
    among the cohort's sarcomas); one whose subset is a restriction too (van Geel 1996:
    complete resections of sarcoma) is the restriction's group within the histology
    (``("complete_resection", True, "sarcoma")``); a figure that would need two
    restrictions and a factor has no counterpart.

    >>> published_match({"factor": "dfi_group", "level": "0-11", "subset": "complete resection"})
    ('dfi_group', '0-11', 'complete_resection')
    >>> published_match({"factor": "nodal_status", "level": "N1", "subset": "all",
    ...                  "histologies": "sarcoma"})
    ('nodal_status', 'N1', 'sarcoma')
    >>> published_match({"factor": "n_metastasectomies", "level": "2", "subset": "all"}) is None
    True
    """
    from metsurv.published import ALL_HISTOLOGIES
    from metsurv.report.config import SUBSETS

    col, val = PUBLISHED_LEVELS.get((figure["factor"], figure["level"]), (None, None))
    if col is None or figure["subset"] not in PUBLISHED_SUBSETS:
        return None
    subset = PUBLISHED_SUBSETS[figure["subset"]]
    histology = _figure_histologies(figure)
    if histology == ALL_HISTOLOGIES:
        return col, val, subset
    within = _histology_subset(histology)
    if within is None:
        return None
    if subset is None:
        return col, val, within
    if col == "all":  # everyone of the restriction, within the histology
        scol, sval = SUBSETS[subset]
        return scol, sval, within
    return None


def cohort_histologies(patients: pd.DataFrame) -> tuple[str, ...] | None:
    """The histology groups (``histology_group`` codes) present in ``patients``, in schema
    order; None when the cohort records none (column absent or empty)."""
    if "histology_group" not in patients.columns:
        return None
    present = {str(v) for v in pd.unique(patients["histology_group"].dropna())}
    if not present:
        return None
    codes = schema.PATIENTS["histology_group"].codes or ()
    return tuple([c for c in codes if c in present] + sorted(present - set(codes)))


def population_gap(figure: Mapping[str, Any], histologies: Sequence[str] | None
                   ) -> str | None:
    """Why a published figure cannot be set beside a cohort (or a panel) whose patients
    have the histology groups ``histologies`` (see :func:`cohort_histologies`; None:
    not recorded), or None when it can. A single-histology series needs patients of that
    histology; an all-histology series is not set beside a single-histology cohort (its
    population is not the cohort's); with no histology recorded only all-histology
    series are used.

    >>> population_gap({"histologies": "sarcoma"}, ("epithelial", "melanoma"))
    'the cohort has no sarcoma patients'
    >>> population_gap({"histologies": "all"}, ("sarcoma",))
    'an all-histology series; the cohort is sarcoma only'
    >>> population_gap({"histologies": "all"}, ("epithelial", "sarcoma")) is None
    True
    """
    from metsurv.published import ALL_HISTOLOGIES

    histology = _figure_histologies(figure)
    if histology == ALL_HISTOLOGIES:
        if histologies is not None and len(histologies) == 1:
            only = level_label("histology_group", histologies[0]).lower()
            return f"an all-histology series; the cohort is {only} only"
        return None
    name = level_label("histology_group", histology).lower()
    if histologies is None:
        return f"a {name} series; the cohort records no histology group"
    if histology not in histologies:
        return f"the cohort has no {name} patients"
    return None


def population_text(figure: Mapping[str, Any]) -> str:
    """The population a published figure describes, as the table prints it."""
    from metsurv.published import ALL_HISTOLOGIES

    histology = _figure_histologies(figure)
    text = ("All histologies" if histology == ALL_HISTOLOGIES
            else level_label("histology_group", histology))
    return text if figure["subset"] == "all" else f"{text}, {figure['subset']}"


def published_like(endpoint: str = "os", study: str | None = None) -> pd.DataFrame:
    """The published figures (of one ``study``, or all) measured as the report measures
    ``endpoint`` ("os" or "dfs"): the same endpoint from the first metastasectomy.

    >>> sorted(set(published_like("os")["origin"]))
    ['metastasectomy']
    """
    from metsurv.published import published_figures

    return _measured_like(published_figures(study), endpoint)


def _measured_like(published: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    want = "OS" if endpoint == "os" else "DFS"
    return published[(published["endpoint"] == want) & (published["origin"] == "metastasectomy")]


def subset_patients(patients: pd.DataFrame, subset: str | None) -> pd.DataFrame:
    """The patients of a report subset (a key of :data:`metsurv.report.config.SUBSETS`,
    e.g. "complete_resection"); all of them for None. A patient whose subset field is
    missing is left out."""
    from metsurv.errors import CohortError
    from metsurv.report.config import SUBSETS

    if subset is None:
        return patients
    col, val = SUBSETS[subset]
    if col not in patients.columns:
        raise CohortError(f"subset {subset!r} needs the column {col!r}, absent from the cohort")
    # one subset per frame while the report's step runs (a million patients: a copy)
    return cached(patients, ("subset", subset),
                  lambda: patients[_subset_mask(patients, subset)])


def _subset_mask(patients: pd.DataFrame, subset: str) -> np.ndarray:
    """The rows of ``subset`` (see :func:`subset_patients`) as a boolean array, once per
    frame while a report step runs."""
    from metsurv.errors import CohortError
    from metsurv.report.config import SUBSETS

    col, val = SUBSETS[subset]
    if col not in patients.columns:
        raise CohortError(f"subset {subset!r} needs the column {col!r}, absent from the cohort")
    return cached(patients, ("subset mask", subset),
                  lambda: (patients[col] == val).fillna(False).to_numpy(dtype=bool))


def subset_columns(patients: pd.DataFrame, subset: str | None, columns: Sequence[str]
                   ) -> pd.DataFrame:
    """:func:`subset_patients` limited to ``columns`` (those ``patients`` has, in that
    order): the same rows, without copying the columns nobody reads."""
    cols = list(dict.fromkeys(c for c in columns if c in patients.columns))
    if subset is None:
        return patients[cols]
    return patients[cols][_subset_mask(patients, subset)]


def subset_rows(patients: pd.DataFrame, subset: str | None) -> Any:
    """The rows of :func:`subset_patients` as a lazy frame: ``d[column]`` (a Series, that
    column's rows, taken once), ``d.index``, ``len(d)``, ``column in d`` and ``d.columns``,
    without a copy of every column."""
    if subset is None:
        return cached(patients, ("rows", None), lambda: _Rows(patients))
    mask = _subset_mask(patients, subset)
    return cached(patients, ("rows", subset), lambda: _Rows(patients, mask))


def _published_level_rank(column: str, value: Any) -> int:
    """Rank of a cohort level in its factor's order, the order Table 1 lists it in
    (:func:`table1`, ``_levels``): yes before no for yes/no factors (Leiomyosarcoma before
    Other sarcoma, Complete before Incomplete), schema code order for coded factors."""
    if isinstance(value, (bool, np.bool_)):
        return 0 if bool(value) else 1
    codes = tuple(schema.ORDERED_FACTORS.get(column, ())) or tuple(
        (schema.PATIENTS[column].codes or ()) if column in schema.PATIENTS else ())
    return codes.index(value) if value in codes else len(codes)


def _published_order(published: pd.DataFrame) -> list:
    """The index of ``published`` in the table's order: factor (:data:`_PUBLISHED_ORDER`,
    then others by name), study (first appearance), level (the factor's order)."""
    study_rank = {s: r for r, s in enumerate(dict.fromkeys(published["study"]))}
    keys = []
    for i, p in published.iterrows():
        match = published_match(p)
        col, val = (match[0], match[1]) if match else (str(p["factor"]), p["level"])
        factor_rank = (_PUBLISHED_ORDER.index(col) if col in _PUBLISHED_ORDER
                       else len(_PUBLISHED_ORDER))
        level_rank = _published_level_rank(col, val) if match else 0
        keys.append(((factor_rank, col, study_rank[p["study"]], level_rank, str(val)), i))
    return [i for _, i in sorted(keys, key=lambda t: t[0])]


def published_comparison(
    published: pd.DataFrame | None = None,
    cohort_rows: pd.DataFrame | None = None,
    suppress_below: int = 0,
    *,
    patients: Any = None,
    endpoint: str = "os",
    count_text: Callable[[str | None, str, Any, int], str] | None = None,
) -> pd.DataFrame:
    """This cohort beside the published series, one row per published figure: the table
    of the report's section "This cohort beside the published series".

    Give ``patients`` (a patients DataFrame or a Cohort): the cohort's figures are
    computed here, for every figure of ``published`` (default: all studies) measured like
    ``endpoint`` from metastasectomy (:func:`published_like`) that the cohort has a group
    for (:func:`published_match`), by Kaplan-Meier on the same population and group: a
    sarcoma series beside the cohort's sarcoma patients only. A figure whose population
    the cohort lacks is left out (:func:`population_gap`: a sarcoma series when the cohort
    has no sarcomas, an all-histology series when the cohort is of one histology); the
    reasons, one line per study and population, are in ``attrs["left_out"]`` of the
    result, for the caption. Or give ``cohort_rows`` computed elsewhere: for the index of
    ``published``, the cohort's ``n``, ``median_months`` and survival columns
    (``surv_2y`` ... ``surv_15y``), NaN where it has no matching group or follow-up (and
    optionally ``<column>_n_risk``, the number at risk it rests on). Survival is printed
    in percent; a survival column appears only when some published row reports it. With
    ``suppress_below`` = k a cohort n of 1..k-1 prints "<k" and its estimates are left
    out, as is survival resting on fewer than k at risk; a report gives
    ``count_text(subset, column, value, n)``, its decision for that group's count (subset
    a key of ``config.SUBSETS`` or None, as :func:`published_match` places the figure), so
    that this table hides what every other output hides.

    Rows are in the factor's order (the report's factors first, then the others), then
    study, then level in the factor's order; factors and levels are printed as the rest of
    the report prints them (:data:`FACTOR_TITLES`, :func:`level_label`: "DFI ≥36 mo").
    Column "Population" is the population the figure describes, and the cohort's patients
    it is set beside.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"os_months": rng.exponential(40, 300), "os_event": True,
    ...                    "complete_resection": rng.random(300) < 0.8})
    >>> t = published_comparison(published_like(study="IRLM 1997"), patients=df)
    >>> t[["Level", "Cohort n"]].head(2).to_numpy().tolist()
    [['Complete (R0)', '248'], ['Incomplete (R1/R2)', '52']]
    """
    from metsurv.published import SURVIVAL_COLUMNS

    if (patients is None) == (cohort_rows is None):
        raise ValueError("give either patients (the cohort) or cohort_rows, not both")
    left_out: tuple[str, ...] = ()
    if patients is not None:
        frame = getattr(patients, "patients", patients)
        pub = published_like(endpoint) if published is None else _measured_like(published,
                                                                                 endpoint)
        from metsurv.report.analysis import published_cohort_figures

        published, cohort_rows, left_out = published_cohort_figures(pub, frame, endpoint)
    k = int(suppress_below or 0)

    def pct(v: float) -> str:
        return "" if pd.isna(v) else f"{100 * v:.0f}"

    def num(v: float, fmt: str = "{:.1f}") -> str:
        return "" if pd.isna(v) else fmt.format(v)

    surv_cols = [c for c in SURVIVAL_COLUMNS if published[c].notna().any()]
    rows = []
    for i in _published_order(published):
        p = published.loc[i]
        c = cohort_rows.loc[i] if i in cohort_rows.index else pd.Series(dtype=float)
        if not shows_estimates(c.get("n", np.nan), k):  # no estimates of a "<k" group
            c = pd.Series({"n": c["n"]})
        match = published_match(p)
        n_text = (count_text(match[2], match[0], match[1], int(c["n"]))
                  if count_text is not None and match is not None and pd.notna(c.get("n"))
                  else suppress_count(c.get("n", np.nan), k))
        if match is None:
            factor, level = FACTOR_TITLES.get(p["factor"], p["factor"]), p["level"]
        elif match[0] == "all":
            factor, level = FACTOR_TITLES["all"], FACTOR_TITLES["all"]
        else:
            factor, level = FACTOR_TITLES.get(match[0], match[0]), level_label(*match[:2])
        row = {
            "Study": p["study"],
            "Published cohort": p["cohort"],
            "Population": population_text(p),
            "Factor": factor,
            "Level": level,
            "Published n": num(p["n"], "{:,.0f}"),
            "Cohort n": n_text,
            "Published median (mo)": num(p["median_months"]),
            # a median resting on fewer than k at risk is not printed (its step says n)
            "Cohort median (mo)": (num(c.get("median_months", np.nan))
                                   if shows_estimates(c.get("median_n_risk", np.nan), k)
                                   else ""),
        }
        for col in surv_cols:
            y = f"{SURVIVAL_COLUMNS[col]:g}"
            row[f"Published {y}-y (%)"] = pct(p[col])
            rests_on = c.get(f"{col}_n_risk", np.nan)
            row[f"Cohort {y}-y (%)"] = (pct(c.get(col, np.nan)) if shows_estimates(rests_on, k)
                                        else "")
        row["Source"] = p["source"]
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["left_out"] = left_out
    return out


# ---------------------------------------------------------------------------------------
# output


#: A cell that a spreadsheet would execute: it starts with one of these (OWASP, "CSV
#: injection"): ``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``, ``-2+3``, tab, CR.
_FORMULA_START = re.compile(r"[=+\-@\t\r]")
#: ... unless it is a plain number ("-0.52", "+3", "-1e-05"), which a spreadsheet reads as
#: the number it is: neutralising it would turn a coefficient into text.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
#: ... or an estimate with its CI as metsurv prints it ("-16.1 (-23.2–-9.0)"): digits,
#: signs, points, a space, parentheses and the en dash only, so no name or reference a
#: spreadsheet could call
_ESTIMATE_CI = re.compile(r"-?[\d.,]+ \(-?[\d.,]+\u2013-?[\d.,]+\)")


def csv_safe_text(values: pd.Series) -> pd.Series:
    """Text cells that a spreadsheet would execute, prefixed with ``'`` (OWASP's rule);
    plain numbers written as text and non-text cells are returned unchanged.

    >>> csv_safe_text(pd.Series(["=1+1", "-0.52", "@SUM(A1)", "R0", 3, None])).tolist()
    ["'=1+1", '-0.52', "'@SUM(A1)", 'R0', 3, None]
    >>> csv_safe_text(pd.Series(["-16.1 (-23.2–-9.0)", "-1+cmd|' /C calc'!A0"])).tolist()
    ['-16.1 (-23.2–-9.0)', "'-1+cmd|' /C calc'!A0"]
    """
    text = values.map(lambda v: v if isinstance(v, str) else "")
    risky = (text.str.match(_FORMULA_START) & ~text.str.fullmatch(_PLAIN_NUMBER)
             & ~text.str.fullmatch(_ESTIMATE_CI))
    if not risky.any():
        return values
    out = values.astype(object).copy()
    out[risky] = "'" + text[risky]
    return out


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV with a fixed line ending and float format, so identical tables give identical bytes.

    Text that a spreadsheet would execute as a formula (in headers and in text cells) is
    neutralised by :func:`csv_safe_text`; numbers, negative ones included, stay numbers.
    """
    safe = df.copy(deep=False)
    safe.columns = list(csv_safe_text(pd.Series([str(c) for c in df.columns], dtype=object)))
    for i in range(df.shape[1]):
        column = df.iloc[:, i]
        if column.dtype == object or isinstance(column.dtype, pd.StringDtype | pd.CategoricalDtype):
            safe.isetitem(i, csv_safe_text(column.astype(object)))
    return safe.to_csv(index=False, lineterminator="\n", float_format="%.6g").encode("utf-8")


def to_html(df: pd.DataFrame, caption: str | None = None, table_id: str | None = None,
            numeric_right: bool = True, *, sources: str | None = None,
            pairs: Mapping[str, str] | None = None, css_class: str | None = None) -> str:
    """A plain, escaped HTML table (no pandas styling, no scripts).

    Parameters
    ----------
    df : pandas.DataFrame
        The printed table (n rows by k columns of cells; NaN and None print blank).
    caption, table_id : str, optional
        The table's caption and its ``id`` (also the prefix of its footnote anchors).
    numeric_right : bool
        Right-align (and keep on one line) the cells that read as numbers.
    sources : str, optional
        A column of citations to print as numbered footnotes instead of a column: each
        distinct non-blank source gets a number in order of first use, the row's first
        cell a superscript link to it, and a numbered list follows the table. The frame
        itself (and its CSV) keeps the column.
    pairs : mapping of str to str, optional
        Column-name prefixes to group (e.g. ``{"Published": "Publ.", "Cohort": "Cohort"}``):
        adjacent columns "Published 5-y (%)" and "Cohort 5-y (%)" print under one spanning
        "5-y (%)" header with the short labels beneath.
    css_class : str, optional
        Class attribute of the ``<table>`` (the stylesheet's ``wide`` sets smaller type).

    Returns
    -------
    str
        The ``<table>`` element, followed by ``<ol class="sources">`` when ``sources``
        names a column of the frame.
    """
    esc = html.escape
    ident = f' id="{esc(table_id)}"' if table_id else ""
    klass = f' class="{esc(css_class)}"' if css_class else ""
    df, row_ref, refs = source_notes(df, sources)
    anchor = f"{table_id or 'table'}-src"

    columns = [str(c) for c in df.columns]
    split: list[tuple[str, str] | None] = []
    for c in columns:  # ("Published", "5-y (%)") for a column a pair prefix begins
        hit = next((p for p in (pairs or {}) if c.startswith(p + " ")), None)
        split.append((hit, c[len(hit) + 1:]) if hit else None)
    spans: list[tuple[str, list[int]]] = []  # (header text, column indices) in order
    i = 0
    while i < len(columns):
        j = i + 1
        if split[i] is not None:
            seen = {split[i][0]}
            while (j < len(columns) and split[j] is not None
                   and split[j][1] == split[i][1] and split[j][0] not in seen):
                seen.add(split[j][0])
                j += 1
        head = split[i][1] if j - i > 1 else columns[i]
        spans.append((head[:1].upper() + head[1:] if len(head) > 1 else head,
                      list(range(i, j))))
        i = j
    starts = {ix[0] for _, ix in spans if len(ix) > 1}  # a pair's first column: a rule
    texts = [["" if v is None or (isinstance(v, float) and np.isnan(v))
              else (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in df.iloc[:, k].tolist()]
             for k in range(df.shape[1])]
    numeric = [numeric_right and sum(map(_looks_numeric, filled)) * 2 >= len(filled) > 0
               for filled in ([t for t in col if t] for col in texts)]

    def th_class(k: int) -> str:  # numbers' headers sit over their right-aligned cells
        return ' class="num"' if numeric[k] else ""

    out = [f"<table{ident}{klass}>"]
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    if any(len(ix) > 1 for _, ix in spans):
        top, sub = [], []
        for text, ix in spans:
            if len(ix) == 1:
                top.append(f'<th rowspan="2"{th_class(ix[0])}>{esc(columns[ix[0]])}</th>')
            else:
                top.append(f'<th colspan="{len(ix)}" class="group" scope="colgroup">'
                           f"{esc(text)}</th>")
                for k in ix:
                    word = split[k][0]
                    short = (pairs or {})[word]
                    label = (esc(short) if short == word
                             else f'<abbr title="{esc(word)}">{esc(short)}</abbr>')
                    sub.append(f'<th class="sub{" pair" if k in starts else ""}">{label}</th>')
        out.append("<thead><tr>" + "".join(top) + "</tr><tr>" + "".join(sub)
                   + "</tr></thead>")
    else:
        out.append("<thead><tr>" + "".join(f"<th{th_class(k)}>{esc(c)}</th>"
                                           for k, c in enumerate(columns))
                   + "</tr></thead>")
    out.append("<tbody>")
    for n in range(len(df)):
        cells = []
        for m, col in enumerate(texts):
            text = col[n]
            names = (["num"] if numeric_right and _looks_numeric(text) else []) + (
                ["pair"] if m in starts else [])
            cls = f' class="{" ".join(names)}"' if names else ""
            sup = ""
            if m == 0 and row_ref and row_ref[n] is not None:
                sup = (f'<sup class="ref"><a href="#{esc(anchor)}{row_ref[n]}">'
                       f"{row_ref[n]}</a></sup>")
            cells.append(f"<td{cls}>{esc(text)}{sup}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if refs:
        out.append('<ol class="sources">' + "".join(
            f'<li id="{esc(anchor)}{k}">{esc(s)}</li>' for s, k in refs.items()) + "</ol>")
    return "\n".join(out)


def source_notes(df: pd.DataFrame, column: str | None
                 ) -> tuple[pd.DataFrame, list[int | None], dict[str, int]]:
    """A table's source column as numbered notes: the frame without ``column``, each row's
    note number (None: no source) and the distinct sources with their numbers, in order of
    first use. Without ``column`` in the frame: the frame, [], {}.

    >>> df = pd.DataFrame({"Study": ["a", "b", "c"], "Source": ["X 1997", "Y 2011", "X 1997"]})
    >>> rest, rows, refs = source_notes(df, "Source")
    >>> list(rest.columns), rows, refs
    (['Study'], [1, 2, 1], {'X 1997': 1, 'Y 2011': 2})
    """
    if column is None or column not in df.columns:
        return df, [], {}
    refs: dict[str, int] = {}
    row_ref: list[int | None] = []
    for s in df[column].tolist():
        text = "" if s is None or (isinstance(s, float) and np.isnan(s)) else str(s).strip()
        if text and text not in refs:
            refs[text] = len(refs) + 1
        row_ref.append(refs.get(text) if text else None)
    return df.drop(columns=[column]), row_ref, refs


def _looks_numeric(text: str) -> bool:
    t = text.replace(",", "").replace("<", "").replace("%", "").strip()
    head = t.split(" ")[0] if t else ""
    try:
        float(head)
    except ValueError:
        return False
    return True


def format_irlm(battery: Any, suppress_below: int = 0, *,
                groups: Callable[[str], tuple[Partition, Partition]] | None = None,
                model_counts: tuple[str, str] | None = None) -> pd.DataFrame:
    """The IRLM battery (:func:`metsurv.stats.irlm.irlm_comparisons`) as a printed table:
    one row per factor level with n, events, median, 5- and 10-year survival, univariable
    and multivariable HR, the factor's log-rank and trend p, and the battery's note. The
    multivariable column's header names the battery's model (n and events): it is not the
    report's study model (config ``cox.covariates``).

    In a report, ``groups`` gives for a factor the report's suppression decisions for its
    levels' patients and events (:class:`~metsurv.report.suppression.Partition`), and
    ``model_counts`` the battery model's n and events as printed; without them counts
    1..k-1 print as "<k" (``suppress_below`` = k). Survival resting on fewer than k at
    risk is not printed."""
    k = int(suppress_below or 0)
    df = battery.to_frame()
    n_text, e_text = model_counts or (suppress_count(battery.multivariable_n, k),
                                      suppress_count(battery.multivariable_events, k))
    mv_header = (f"Multivariable HR (95% CI), battery model (n = {n_text}, events = {e_text})"
                 if battery.multivariable_factors else
                 "Multivariable HR (95% CI): no battery model (fewer than two factors with "
                 "enough data)")

    def count(factor: str, level: Any, n: Any, what: int) -> str:
        if groups is None or pd.isna(n):
            return suppress_count(n, k)
        return groups(factor)[what].text(level, n)
    # levels of the battery model: an NA there is a term R reports as NA, not a level left out
    mv = battery.multivariable
    in_mv = (set(zip(mv["factor"], mv["level"].map(str), strict=True)) if len(mv)
             else set())
    rows = []
    last = None
    # levels nobody has are left out (a sarcoma cohort has no epithelial row of zeros)
    df = df[(df["n"].fillna(0) > 0) | df.get("reference", False).astype(bool)]
    for _, r in df.iterrows():
        first = r["factor"] != last
        last = r["factor"]
        is_ref = bool(r.get("reference", False))
        if not shows_estimates(r["n"], k):  # a survival % of "<k" patients gives n away
            r = r.copy()
            r[[c for c in r.index if c.startswith(("median", "surv_"))]] = np.nan
        # a median resting on fewer than k at risk is not printed (blank, not "NA": not a
        # median that was not reached)
        median_hidden = not shows_estimates(r.get("median_n_risk"), k)
        for y in (5, 10):  # survival resting on fewer than k at risk: its steps say n
            if not shows_estimates(r.get(f"surv_{y}y_n_risk"), k):
                r = r.copy()
                r[[f"surv_{y}y", f"surv_{y}y_lower", f"surv_{y}y_upper"]] = np.nan
        rows.append({
            "Factor": FACTOR_TITLES.get(r["factor"], r["factor"]) if first else "",
            "Level": level_label(r["factor"], r["level"]),
            "n": count(r["factor"], r["level"], r["n"], 0),
            "Events": count(r["factor"], r["level"], r["events"], 1),
            "Median, months (95% CI)": "" if median_hidden else ci_text(
                r["median"], r["median_lower"], r["median_upper"]),
            "5-y % (95% CI)": ci_text(r["surv_5y"], r["surv_5y_lower"], r["surv_5y_upper"],
                                       100, 0),
            "10-y % (95% CI)": ci_text(r["surv_10y"], r["surv_10y_lower"],
                                        r["surv_10y_upper"], 100, 0),
            "HR (95% CI)": "reference" if is_ref else (
                "" if r["sparse"] or not r["n"] else hr_text(r["hr"], r["hr_lower"],
                                                             r["hr_upper"])),
            mv_header: (hr_text(r["mv_hr"], r["mv_lower"], r["mv_upper"])
                        if (r["factor"], str(r["level"])) in in_mv else ""),
            "Log-rank p": format_p(r["logrank_p"], label=False) if first else "",
            "Trend p": format_p(r["trend_p"], label=False) if first else "",
            "Note": "" if pd.isna(r.get("note")) else str(r.get("note") or ""),
        })
    return pd.DataFrame(rows)
