"""Base for metsurv.stats results: frozen dataclasses that render as a table in Jupyter
and serialise to JSON-safe dicts (NaN and missing values become ``None``)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd


def json_safe(obj: Any) -> Any:
    """Convert numpy/pandas values to plain Python; NaN, NA and infinities become None."""
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
        return f if math.isfinite(f) else None
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


@dataclasses.dataclass(frozen=True, eq=False)
class Result:
    """Shared behaviour; subclasses implement ``to_frame`` (their main table)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Put the readable repr in the subclass before @dataclass runs: dataclass never
        # replaces a __repr__ the class already has, and its generated one dumps every
        # field (whole tables, covariance matrices).
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = Result.__repr__  # type: ignore[method-assign]

    def __repr__(self) -> str:
        """The main table as text, and the test line where there is one, as R prints it."""
        text = f"{type(self).__name__}\n{self.summary_frame().to_string(index=False, max_rows=40)}"
        stat, df, p = (getattr(self, k, None) for k in ("statistic", "df", "p"))
        if stat is not None and df is not None and p is not None:
            text += f"\n Chisq = {stat:.6g} on {df} degrees of freedom, p = {p:.3g}"
        return text

    def summary_frame(self) -> pd.DataFrame:
        """What the text form shows; the full table unless a result has a shorter summary."""
        return self.to_frame()

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """All fields, JSON-safe (NaN -> None, numpy -> Python, tables -> list of rows)."""
        return {f.name: json_safe(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def _repr_html_(self) -> str:
        title = type(self).__name__
        return f"<b>{title}</b>" + self.to_frame().to_html(index=False, na_rep="NA")
