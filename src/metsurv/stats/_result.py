"""Base for metsurv.stats results: frozen dataclasses that render as a table in Jupyter
and serialise to JSON-safe dicts. Missing values (NaN, NA) become ``None``; infinities stay
infinite as the strings ``"Inf"`` and ``"-Inf"`` (as R prints them), never confused with
missing. Every result carries ``warnings``: the texts of the warnings raised while making it."""

from __future__ import annotations

import dataclasses
import html as _html
import math
import warnings as _warnings
from typing import Any

import numpy as np
import pandas as pd

from ..errors import StatsWarning
from ..format import as_float, format_num, format_p


def json_safe(obj: Any) -> Any:
    """Convert numpy/pandas values to plain Python: NaN and NA become None, +-infinity the
    strings "Inf" and "-Inf" (strict JSON has no infinity; an infinite CI limit is not a
    missing one).

    >>> json_safe({"a": np.float64("nan"), "b": np.inf, "c": -np.inf, "d": np.int64(2)})
    {'a': None, 'b': 'Inf', 'c': '-Inf', 'd': 2}
    """
    if isinstance(obj, pd.DataFrame):
        return [json_safe(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return json_safe(obj.tolist())
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return obj.to_dict() if hasattr(obj, "to_dict") else json_safe(dataclasses.asdict(obj))
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if math.isinf(f):
            return "Inf" if f > 0 else "-Inf"
        return None if math.isnan(f) else f
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (int, str)):
        return obj
    try:
        if pd.isna(obj):
            return None
    except (TypeError, ValueError):
        pass
    return str(obj)


def warn(notes: list[str], message: str, stacklevel: int = 3) -> None:
    """Record ``message`` for a result's ``warnings`` and raise it as a :class:`StatsWarning`
    (once per message)."""
    if message not in notes:
        notes.append(message)
        _warnings.warn(message, StatsWarning, stacklevel=stacklevel)


@dataclasses.dataclass(frozen=True, eq=False)
class Result:
    """Shared behaviour; subclasses implement ``to_frame`` (their main table).

    ``warnings`` (keyword-only, last field of every result): the warnings raised while the
    result was made, as R would print them; JSON key ``warnings``."""

    warnings: tuple[str, ...] = dataclasses.field(default=(), kw_only=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Put the readable repr in the subclass before @dataclass runs: dataclass never
        # replaces a __repr__ the class already has, and its generated one dumps every
        # field (whole tables, covariance matrices).
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = Result.__repr__  # type: ignore[method-assign]

    def __repr__(self) -> str:
        """The main table as text, and the test line where there is one, as R prints it."""
        table = self.summary_frame().to_string(
            index=False, max_rows=40, na_rep="NA",
            float_format=lambda x: format_num(x, "{:.6g}"))  # NA and Inf as R prints them
        text = f"{type(self).__name__}\n{table}"
        stat, df, p = (getattr(self, k, None) for k in ("statistic", "df", "p"))
        if stat is not None and df is not None and np.ndim(p) == 0 and p is not None:
            text += (f"\n Chisq = {format_num(stat, '{:.6g}')} on {format_num(df)} degrees of "
                     f"freedom, {format_p(p)}")
        for w in self.warnings:
            text += f"\nWarning: {w}"
        return text

    def summary_frame(self) -> pd.DataFrame:
        """What the text form shows; the full table unless a result has a shorter summary."""
        return self.to_frame()

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """All fields, JSON-safe (NaN -> None, numpy -> Python, tables -> list of rows)."""
        return {f.name: json_safe(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def _html_head(self) -> str:
        """The one line over the table in Jupyter: what the result is, then n and events
        where the result has them. Results with more to say override it."""
        parts = [f"{k} = {format_num(getattr(self, k))}" for k in ("n", "events")
                 if np.ndim(getattr(self, k, None)) == 0 and getattr(self, k, None) is not None]
        return f"<b>{type(self).__name__}</b>" + (f" {', '.join(parts)}" if parts else "")

    def _html_frame(self) -> pd.DataFrame:
        """The table Jupyter shows (default: :meth:`summary_frame`)."""
        return self.summary_frame()

    def _repr_html_(self) -> str:
        """Jupyter's view: a one-line header (:meth:`_html_head`), the table rounded for
        reading (:func:`html_table`) and the warnings."""
        notes = "".join(f"<br><i>Warning: {_html.escape(w)}</i>" for w in self.warnings)
        return (f"<div>{self._html_head()}" + html_table(self._html_frame())
                + notes + "</div>")


def _is_p_column(name: Any) -> bool:
    s = str(name).lower()
    return s in ("p", "p_value", "pvalue") or s.startswith("p_") or s.endswith("_p")


def round_sig(x: Any) -> str:
    """A number for reading: 3 significant digits (fixed notation from 100 up, so 5206.4
    reads 5206, never 5.21e+03), integers as they are, ``NA``/``Inf`` as R prints them.

    >>> round_sig(0.568164), round_sig(108.747433), round_sig(5206.0), round_sig(float("nan"))
    ('0.568', '109', '5206', 'NA')
    >>> round_sig(0.000691711), round_sig(-12.512534), round_sig(float("-inf"))
    ('0.000692', '-12.5', '-Inf')
    """
    f = as_float(x)
    if f is None or math.isinf(f):
        return format_num(f)
    if f == int(f) and abs(f) < 1e15:
        return str(int(f))
    return f"{f:.0f}" if abs(f) >= 100 else format_num(f, "{:#.3g}").removesuffix(".")


def html_table(frame: pd.DataFrame) -> str:
    """``frame`` as an HTML table for Jupyter: columns that are missing in every row left
    out (a Cox fit without a robust variance has no robust SE to show), p-value columns
    (``p``, ``p_*``, ``*_p``) as :func:`metsurv.format.format_p` prints them, other numbers
    to 3 significant digits (:func:`round_sig`), missing as ``NA``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any result table; it is not modified.

    Returns
    -------
    str
        An HTML ``<table>``.

    >>> t = html_table(pd.DataFrame({"term": ["a"], "hr": [1.765024], "robust_se": [np.nan],
    ...                              "p": [1.3e-31]}))
    >>> "robust_se" in t, "1.77" in t, "&lt; 0.001" in t
    (False, True, True)
    """
    out = frame.copy()
    if len(out):
        out = out.loc[:, ~out.isna().all(axis=0).to_numpy()]
    for col in out.columns:
        s = out[col]
        if _is_p_column(col) and pd.api.types.is_numeric_dtype(s):
            out[col] = [format_p(v, label=False) for v in s]
        elif pd.api.types.is_float_dtype(s):
            out[col] = [round_sig(v) for v in s]
    return out.to_html(index=False, na_rep="NA", max_rows=40)
