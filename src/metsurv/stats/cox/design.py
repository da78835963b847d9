"""Design matrix of a Cox model: numeric columns as they are, factors and yes/no columns as
indicators against a reference level (R ``model.matrix`` with treatment contrasts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...errors import DataError
from ...schema import REFERENCE_LEVELS
from .._times import group_codes, group_levels, level_label


@dataclass(frozen=True, eq=False)
class _Design:
    names: tuple[str, ...]  # one per column of X
    terms: tuple[str, ...]  # one per covariate (a categorical term spans several columns)
    assign: tuple[tuple[int, ...], ...]  # columns of each term
    references: dict[str, Any]  # reference level of each categorical covariate
    X: np.ndarray


def _is_categorical(s: pd.Series) -> bool:
    """Factors: Categorical, object/string, and yes/no (numpy bool or pandas nullable
    "boolean", as the loader gives them) - a yes/no field is a two-level factor, not 0/1."""
    return (
        isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(s.dtype)
        or pd.api.types.is_object_dtype(s.dtype)
        or pd.api.types.is_string_dtype(s.dtype)
    )


def _same_level(a: Any, b: Any) -> bool:
    """Equal levels, True never standing in for 1 (nor False for 0)."""
    is_bool = isinstance(a, (bool, np.bool_)), isinstance(b, (bool, np.bool_))
    return is_bool[0] == is_bool[1] and a == b


def variables(covariates: Sequence[str]) -> list[str]:
    """The data columns a list of terms needs: ``"a:b"`` needs a and b."""
    return list(dict.fromkeys(v for term in covariates for v in term.split(":")))


def _all_levels(frame: pd.DataFrame, cov: str, unused: bool) -> tuple[list[np.ndarray], list[str]]:
    """One indicator per level, no reference: how R codes a factor in an interaction whose
    margin is absent (``~ x:grp`` without ``x``; ``~ a:b`` alone)."""
    s = frame[cov]
    present = group_levels(s)
    levels = (list(s.cat.categories) if unused and isinstance(s.dtype, pd.CategoricalDtype)
              else present)
    codes = group_codes(s, levels)
    return ([(codes == i).astype(float) for i in range(len(levels))],
            [f"{cov}[{level_label(lev)}]" for lev in levels])


def contrast_coded(terms: Sequence[str]) -> list[list[bool]]:
    """For each term and each of its variables: coded by contrasts against a reference
    (True) or by one indicator per level (False), by R's rule (``TermCode`` in R's
    ``model.c``, for a formula with an intercept, as coxph's is): a variable gets contrasts
    when the term without it is empty (a main effect) or is contained in a term before it.
    So ``grp + x:grp`` and ``x + x:grp`` give contrasts, ``x:grp`` alone one column per level
    of grp. Terms are taken in the order given (:func:`metsurv.stats.formula.parse_formula`
    gives R's order).

    >>> contrast_coded(["x", "x:grp"]), contrast_coded(["x:grp"]), contrast_coded(["a:b"])
    ([[True], [False, True]], [[False, False]], [[False, False]])
    """
    sets = [frozenset(t.split(":")) for t in terms]
    out = []
    for k, term in enumerate(terms):
        parts = term.split(":")
        out.append([not (sets[k] - {v}) or any(sets[k] - {v} <= prior for prior in sets[:k])
                    for v in parts])
    return out


def _main_effect(
    frame: pd.DataFrame, cov: str, reference: Mapping[str, Any], refs: dict[str, Any],
    unused: bool = True,
) -> tuple[list[np.ndarray], list[str]]:
    """Columns and names of one variable: the number itself, or one indicator per
    non-reference level of a factor. Every category of a pandas Categorical gets its
    column, also one with no patient in the fitted rows (R keeps unused factor levels:
    the column is all 0 and its coefficient NA); the reference is chosen among the levels
    present."""
    s = frame[cov]
    if not _is_categorical(s):
        return [pd.to_numeric(s).to_numpy(dtype=float)], [cov]
    present = group_levels(s)
    levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else present
    if len(levels) < 2:
        one = f" ({level_label(levels[0])!r})" if levels else ""
        raise DataError(f"column {cov!r} has a single level{one} in the rows used: it cannot "
                        "be a covariate (R: contrasts can be applied only to factors with 2 "
                        "or more levels); leave it out", column=cov)
    if cov in reference:
        ref = reference[cov]
        if ref not in present:
            raise ValueError(f"reference level {ref!r} of {cov!r} not among {present}")
    else:  # the schema's stated reference (IRLM order), else the first level present
        ref = REFERENCE_LEVELS.get(cov)
        if not any(_same_level(ref, lev) for lev in present):
            ref = present[0] if present else None
    refs[cov] = level_label(ref)
    codes = group_codes(s, levels)
    cols, names = [], []
    for i, lev in enumerate(levels):
        if lev == ref or (not unused and lev not in present):
            continue
        cols.append((codes == i).astype(float))
        names.append(f"{cov}[{level_label(lev)}]")
    return cols, names


def _design(frame: pd.DataFrame, covariates: Sequence[str], reference: Mapping[str, Any],
            unused: bool = True) -> _Design:
    """Columns of each term in order. An interaction ``"a:b"`` is the product of every
    column of a with every column of b, a's columns varying fastest and named
    ``a_col:b_col`` (R ``model.matrix``: ``dfi_group[0-11]:age``); a factor whose margin is
    absent from the model is coded with one column per level (:func:`contrast_coded`)."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    assign: list[tuple[int, ...]] = []
    refs: dict[str, Any] = {}
    effects: dict[str, tuple[list[np.ndarray], list[str]]] = {}
    full: dict[str, tuple[list[np.ndarray], list[str]]] = {}
    coding = contrast_coded(covariates)
    # one indicator per level only for the factors that need it (see _all_levels)
    needs_full = {v for term, contrasts in zip(covariates, coding, strict=True)
                  for v, c in zip(term.split(":"), contrasts, strict=True) if not c}
    for var in variables(covariates):
        effects[var] = _main_effect(frame, var, reference, refs, unused)
        if var in needs_full and _is_categorical(frame[var]):
            full[var] = _all_levels(frame, var, unused)
    for term, contrasts in zip(covariates, coding, strict=True):
        parts = term.split(":")
        pick = [effects[v] if c or v not in full else full[v]
                for v, c in zip(parts, contrasts, strict=True)]
        tcols, tnames = pick[0]
        for pc, pn in pick[1:]:
            tcols = [a * b for b in pc for a in tcols]
            tnames = [f"{x}:{y}" for y in pn for x in tnames]
        start = len(names)
        cols += tcols
        names += tnames
        assign.append(tuple(range(start, len(names))))
    unknown = set(reference) - set(refs)
    if unknown:
        raise ValueError(f"reference given for non-categorical or absent covariate(s): {unknown}")
    # column-major: every later pass (sorting, centring, the risk-set sums) reads one
    # column at a time, and writing columns into a row-major matrix is a slow transpose
    X = np.empty((len(frame), len(cols)), order="F")
    for j, col in enumerate(cols):
        X[:, j] = col
    return _Design(tuple(names), tuple(covariates), tuple(assign), refs, X)


def design_matrix(
    frame: pd.DataFrame, covariates: Sequence[str], reference: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """The numeric design :func:`cox` fits, one named column per term: indicators
    ``col[level]`` against the reference level for factors and yes/no columns, numbers as
    they are. For models fitted elsewhere (scikit-survival) on complete rows, so a
    category with no patient gets no column here (:func:`cox` lists it as NA).

    >>> design_matrix(pd.DataFrame({"complete_resection": [True, False, True]}),
    ...               ["complete_resection"]).columns.tolist()
    ['complete_resection[False]']
    """
    d = _design(frame, covariates, dict(reference or {}), unused=False)
    return pd.DataFrame(d.X, columns=list(d.names), index=frame.index)

