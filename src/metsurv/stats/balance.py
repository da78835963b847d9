"""Covariate balance between two treatment groups, before and after weighting, as R's
``cobalt::bal.tab`` computes it, and the love plot that shows it.

Conventions (cobalt 4, ``bal.tab(..., binary = "std", continuous = "std", s.d.denom)``):

- every covariate is split into columns: a number stays one **continuous** column (a 0/1
  number is **binary**), a yes/no column is one binary column (the ``True`` level), a
  two-level factor one binary column for its second level, a factor with three or more levels
  one binary column per level (the reference level too, as ``cobalt::splitfactor`` shows
  them);
- the standardized mean difference (SMD) is signed, treated minus control:
  ``(m1 - m0) / sd`` with ``m1``, ``m0`` the (weighted) group means;
- **the SD denominator is always computed from the unweighted groups**, so that the weighted
  and unweighted SMDs share it: for the ATE (and the overlap estimand, ATO) the pooled
  ``sqrt((s1^2 + s0^2) / 2)``, for the ATT the SD of the treated group ``s1``. A continuous
  column's variance is the sample variance (divisor n - 1); a binary column's is
  ``p (1 - p)``;
- binary columns are standardized too (``binary = "std"``; cobalt's printed default,
  ``binary = "raw"``, shows the plain difference in proportions instead);
- the variance ratio (continuous columns only) is treated over control, with the weighted
  variance ``sum(w (x - m)^2) / (sum(w) - sum(w^2) / sum(w))`` (cobalt ``col_w_v``); the
  unweighted one is the sample variance;
- ``above_threshold``: ``|SMD weighted| > 0.1`` (Austin 2009).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..schema import FACTOR_TITLES, level_label
from ._result import Result, warn
from ._times import as_frame, group_codes, group_levels

__all__ = ["BalanceTable", "balance", "love_plot", "BALANCE_THRESHOLD"]

#: |SMD| above which a covariate counts as imbalanced (Austin 2009; cobalt ``thresholds``).
BALANCE_THRESHOLD = 0.1

_ESTIMANDS = ("ATE", "ATT", "ATO")


def is_factor(s: pd.Series) -> bool:
    """Factor columns: Categorical, object/string and yes/no (bool); numbers are numeric."""
    return (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s.dtype)
            or pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype))


def factor_levels(s: pd.Series) -> list:
    """Levels of a factor column in order (Categorical order, else sorted as R's
    ``factor()``; ``False`` before ``True``), only those present; the first is the
    reference."""
    return group_levels(s)


def covariate_label(column: str, level: Any = None) -> str:
    """How a balance row is printed: the schema title of the column
    (:data:`metsurv.schema.FACTOR_TITLES`) and, for a level, its
    :func:`metsurv.schema.level_label`.

    A level whose label is already in the title (``synchronous`` True: "Synchronous") shows
    the title alone; one that starts with the title's abbreviation ("DFI 0-11 mo" of
    "Disease-free interval (DFI) group") shows the level alone.

    >>> covariate_label("histology_group", "germ_cell"), covariate_label("age")
    ('Histology: Germ cell', 'age')
    >>> covariate_label("synchronous", True)
    'Synchronous metastases'
    >>> covariate_label("dfi_group", "0-11")
    'DFI 0-11 mo'
    """
    title = FACTOR_TITLES.get(column, column)
    if level is None:
        return title
    text = level_label(column, level)
    if text.lower() in title.lower():
        return title
    short = re.search(r"\(([^)]+)\)", title)
    if short and text.split(" ", 1)[0] == short.group(1):
        return text
    return f"{title}: {text}"


def split_columns(frame: pd.DataFrame, covariates: Sequence[str]) -> list[tuple]:
    """The balance columns of ``covariates`` (see the module docstring), as tuples
    ``(covariate, level or None, kind, values)`` with ``kind`` "binary" or "continuous"
    and ``values`` a float array. ``frame`` has no missing values in these columns."""
    out = []
    for cov in covariates:
        s = frame[cov]
        if is_factor(s):
            levels = factor_levels(s)
            codes = group_codes(s, levels)
            shown = levels[1:] if len(levels) <= 2 else levels
            for lev in shown:
                out.append((cov, lev, "binary", (codes == levels.index(lev)).astype(float)))
        else:
            x = pd.to_numeric(s).to_numpy(dtype=float)
            kind = "binary" if np.isin(x, (0.0, 1.0)).all() else "continuous"
            out.append((cov, None, kind, x))
    return out


def _mean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * x) / np.sum(w))


def _var(x: np.ndarray, w: np.ndarray, binary: bool) -> float:
    """cobalt ``col_w_v``: p(1 - p) for a binary column, else the weighted variance with
    the reliability-weights divisor (the sample variance when all weights are 1)."""
    m = _mean(x, w)
    if binary:
        return m * (1.0 - m)
    sw = np.sum(w)
    return float(np.sum(w * (x - m) ** 2) / (sw - np.sum(w * w) / sw))


@dataclasses.dataclass(frozen=True, eq=False)
class BalanceTable(Result):
    """Balance of each covariate column between the treated and control groups.

    ``table``: one row per balance column with ``covariate``, ``level`` (None for a
    number), ``label`` (printed name), ``type`` (binary/continuous), ``mean_treated``,
    ``mean_control`` (unweighted; proportions for binary rows), ``smd_unweighted``,
    ``mean_treated_weighted``, ``mean_control_weighted``, ``smd_weighted``,
    ``vr_unweighted``, ``vr_weighted`` (continuous rows only) and ``above_threshold``
    (``|smd_weighted| > threshold``). ``levels``: (treated, control); ``n``: rows by group.
    """

    table: pd.DataFrame
    treatment: str
    levels: tuple[Any, Any]
    estimand: str
    sd_denominator: str
    n: dict[str, int]
    weighted: bool
    threshold: float = BALANCE_THRESHOLD

    def to_frame(self) -> pd.DataFrame:
        """The balance table (a copy)."""
        return self.table.copy()

    def imbalanced(self) -> list[str]:
        """Labels of the rows whose weighted |SMD| stays above the threshold."""
        return self.table.loc[self.table["above_threshold"], "label"].tolist()

    def _html_head(self) -> str:
        t, c = (level_label(self.treatment, v) for v in self.levels)
        return (f"<b>BalanceTable</b> {t} (n = {self.n['treated']}) vs {c} "
                f"(n = {self.n['control']}), {self.estimand}; SD denominator: "
                f"{self.sd_denominator}; above {self.threshold:g}: "
                f"{', '.join(self.imbalanced()) or 'none'}")

    def _html_frame(self) -> pd.DataFrame:
        """SMDs to 3 decimals, variance ratios to 2 (fixed: never 0.00500 for 0.0052)."""
        t = self.table
        out = pd.DataFrame({"covariate": t["label"], "type": t["type"]})
        for col, fmt in (("smd_unweighted", "{:.3f}"), ("smd_weighted", "{:.3f}"),
                         ("vr_unweighted", "{:.2f}"), ("vr_weighted", "{:.2f}")):
            out[col] = [fmt.format(v) if np.isfinite(v) else "" for v in t[col]]
        out[f"above {self.threshold:g}"] = np.where(t["above_threshold"], "yes", "")
        return out

    def plot(self, ax: Any = None) -> Any:
        """The love plot (:func:`love_plot`)."""
        return love_plot(self, ax)


def balance(
    data: Any,
    treatment: str,
    levels: Sequence[Any],
    covariates: Sequence[str],
    weights: str | np.ndarray | pd.Series | None = None,
    estimand: str = "ATE",
    threshold: float = BALANCE_THRESHOLD,
) -> BalanceTable:
    """Standardized mean differences and variance ratios of ``covariates`` between two
    treatment groups, unweighted and weighted (R ``cobalt::bal.tab(covs, treat, weights,
    s.d.denom = "pooled" | "treated", binary = "std")``; formulas written out in
    ``tests/reference/make_propensity.R``).

    Parameters
    ----------
    data : pandas.DataFrame or Cohort
        One row per patient.
    treatment : str
        The treatment column.
    levels : (treated, control)
        The two values of ``treatment`` compared; other rows are left out.
    covariates : sequence of str
        Numeric or factor (Categorical / string / bool) columns.
    weights : str, array of shape (n,), or None
        A weight column name or array aligned with ``data``; None: all weights 1 (the
        weighted columns repeat the unweighted ones).
    estimand : {"ATE", "ATT", "ATO"}
        Chooses the SD denominator: pooled ``sqrt((s1^2 + s0^2) / 2)`` of the unweighted
        groups for ATE and ATO (overlap weights), the unweighted treated SD for ATT.
    threshold : float
        ``above_threshold`` is ``|smd_weighted| > threshold``.

    Returns
    -------
    BalanceTable

    Raises
    ------
    DataError
        A column is absent, a group is empty, or a weight is negative or missing.

    Rows with a missing treatment, covariate or weight are left out (the count is in
    ``warnings``).

    >>> d = pd.DataFrame({"t": ["a", "a", "b", "b"], "x": [1.0, 3.0, 2.0, 6.0]})
    >>> tab = balance(d, "t", ("a", "b"), ["x"]).table  # (2 - 4) / sqrt((2 + 8) / 2)
    >>> tab[["covariate", "smd_unweighted", "vr_unweighted"]].round(6)
      covariate  smd_unweighted  vr_unweighted
    0         x       -0.894427           0.25
    """
    frame = as_frame(data)
    estimand = str(estimand).upper()
    if estimand not in _ESTIMANDS:
        raise ValueError(f"estimand must be one of {_ESTIMANDS}, got {estimand!r}")
    if len(levels) != 2:
        raise ValueError(f"levels must be (treated, control), got {levels!r}")
    for col in (treatment, *covariates):
        if col not in frame.columns:
            raise DataError(f"column {col!r} not in the data; columns: "
                            f"{', '.join(map(str, frame.columns))}", column=col)
    if weights is None:
        w = np.ones(len(frame))
    elif isinstance(weights, str):
        if weights not in frame.columns:
            raise DataError(f"weight column {weights!r} not in the data", column=weights)
        w = pd.to_numeric(frame[weights]).to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(frame),):
            raise ValueError(f"weights must have shape ({len(frame)},), got {w.shape}")
    s = frame[treatment]
    treated = (s == levels[0]).to_numpy(dtype=bool)
    control = (s == levels[1]).to_numpy(dtype=bool)
    keep = (treated | control) & ~np.isnan(w) & ~frame[list(covariates)].isna().any(axis=1).to_numpy()
    notes: list[str] = []
    if (~keep & (treated | control)).any():
        warn(notes, f"{int((~keep & (treated | control)).sum())} rows with a missing "
             "covariate or weight left out of the balance table")
    if (w[keep] < 0).any():
        raise DataError("a weight is negative: weights must be >= 0",
                        column=weights if isinstance(weights, str) else None)
    sub = frame.loc[keep]
    t, w = treated[keep], w[keep]
    if t.all() or not t.any():
        raise DataError(f"column {treatment!r}: no {'control' if t.all() else 'treated'} "
                        f"rows ({levels[1] if t.all() else levels[0]!r}) with complete "
                        "covariates", column=treatment)
    one = np.ones(len(t))
    rows = []
    for cov, lev, kind, x in split_columns(sub, covariates):
        binary = kind == "binary"
        x1, x0 = x[t], x[~t]
        v1, v0 = _var(x1, one[t], binary), _var(x0, one[~t], binary)
        sd = np.sqrt(v1) if estimand == "ATT" else np.sqrt((v1 + v0) / 2.0)
        m1, m0 = _mean(x1, one[t]), _mean(x0, one[~t])
        wm1, wm0 = _mean(x1, w[t]), _mean(x0, w[~t])
        with np.errstate(divide="ignore", invalid="ignore"):
            smd_u = (m1 - m0) / sd if sd > 0 else np.nan
            smd_w = (wm1 - wm0) / sd if sd > 0 else np.nan
            vr_u = v1 / v0 if not binary else np.nan
            vr_w = (_var(x1, w[t], False) / _var(x0, w[~t], False)) if not binary else np.nan
        rows.append({"covariate": cov, "level": lev, "label": covariate_label(cov, lev),
                     "type": kind, "mean_treated": m1, "mean_control": m0,
                     "smd_unweighted": smd_u, "mean_treated_weighted": wm1,
                     "mean_control_weighted": wm0, "smd_weighted": smd_w,
                     "vr_unweighted": vr_u, "vr_weighted": vr_w})
    table = pd.DataFrame(rows)
    table["above_threshold"] = (table["smd_weighted"].abs() > threshold).to_numpy(dtype=bool)
    denom = ("SD of the unweighted treated group" if estimand == "ATT" else
             "pooled sqrt((s1^2 + s0^2) / 2) of the unweighted groups")
    return BalanceTable(table=table, treatment=treatment, levels=(levels[0], levels[1]),
                        estimand=estimand, sd_denominator=denom,
                        n={"treated": int(t.sum()), "control": int((~t).sum())},
                        weighted=weights is not None, threshold=threshold,
                        warnings=tuple(notes))


#: Width of the love plot for the report: one journal column (85 mm), drawn at 300 dpi.
LOVE_PLOT_WIDTH_MM = 85.0
LOVE_PLOT_DPI = 300
#: characters per line of a love-plot row label (longer labels wrap)
LOVE_PLOT_LABEL_CHARS = 24


def love_plot(table: BalanceTable, ax: Any = None) -> Any:
    """Love plot: the absolute SMD of each balance row before (open vermillion circles) and
    after weighting (filled blue circles), rows in table order from the top, a dashed line
    at the threshold (cobalt ``love.plot(abs = TRUE, thresholds = 0.1)``).

    Parameters
    ----------
    table : BalanceTable
    ax : matplotlib Axes, optional
        Drawn into and returned; without it a new figure 85 mm wide at 300 dpi (the
        report's column width), in the report's style, height growing with the rows.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import textwrap

    from matplotlib.ticker import MaxNLocator

    from ..report import style

    tab = table.table
    k = len(tab)
    y = np.arange(k)[::-1].astype(float)
    # long labels ("Disease-free interval (DFI) group: DFI 12-35 mo") wrapped, so that the
    # axes keep most of an 85 mm column
    names = [textwrap.fill(str(v), LOVE_PLOT_LABEL_CHARS) for v in tab["label"]]
    lines = sum(n.count("\n") + 1 for n in names)
    with style.figure_style():
        if ax is None:
            import matplotlib.pyplot as plt

            height_in = (20 + 3.2 * lines + 1.6 * k) * style.MM
            fig = plt.figure(figsize=(LOVE_PLOT_WIDTH_MM * style.MM, height_in),
                             dpi=LOVE_PLOT_DPI)
            ax = fig.add_subplot(1, 1, 1)
            new = True
        else:
            new = False
        before = tab["smd_unweighted"].abs().to_numpy(dtype=float)
        after = tab["smd_weighted"].abs().to_numpy(dtype=float)
        for yi in y:
            ax.axhline(yi, color="#dddddd", linewidth=0.4, zorder=0)
        ax.scatter(before, y, s=14, facecolors="white", edgecolors=style.PALETTE[1],
                   linewidths=0.9, label="Unweighted", zorder=3)
        if table.weighted:
            ax.scatter(after, y, s=14, color=style.PALETTE[0], label="Weighted", zorder=4)
        ax.axvline(table.threshold, color="#555555", linestyle=(0, (4, 2)), linewidth=0.7,
                   zorder=1)
        ax.set_yticks(y)
        ax.set_yticklabels(names)
        top = np.nanmax(np.concatenate([before, after, [table.threshold]]))
        ax.set_xlim(0, max(top * 1.08, table.threshold * 1.5))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        ax.set_ylim(-0.7, k - 0.3)
        ax.set_xlabel("Absolute SMD")
        for c in ax.collections:
            c.set_clip_on(False)  # a point at 0 sits on the axis, not half hidden
        # above the axes, so that it never covers a point
        if new:
            ax.figure.tight_layout(rect=(0, 0, 1, 1 - 7 * style.MM / height_in))
            # over the whole figure, not the (narrow) axes: never clipped at the right
            ax.figure.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=2,
                             frameon=False, handletextpad=0.2, columnspacing=1.0,
                             bbox_to_anchor=(0.5, 1.0))
        else:
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False,
                      handletextpad=0.2, columnspacing=1.0, borderaxespad=0.2)
    return ax
