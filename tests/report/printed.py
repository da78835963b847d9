"""The printed frame of a built report's table (what HTML, PDF and Word show): composed
again from the report's config (``<root>/study.yaml`` beside ``<root>/report``), since
``tables/<name>.csv`` holds the table's numbers where it has them (issue 12, item 4)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd


@cache
def _tables(cfg_path: Path) -> dict[str, pd.DataFrame]:
    from metsurv.report import analyse, compose, load_config, load_study
    from metsurv.report.document import Table

    cfg = load_config(cfg_path)
    sections = compose(cfg, analyse(cfg, load_study(cfg)))
    return {i.name: i.frame for s in sections for i in s.items if isinstance(i, Table)}


def printed_frame(out: Path, name: str, cfg_path: Path | None = None) -> pd.DataFrame:
    """Table ``name`` of the report built in ``out`` as printed (cells as text, blank ""),
    composed from ``cfg_path`` (default ``out.parent / "study.yaml"``)."""
    frame = _tables(Path(cfg_path or Path(out).parent / "study.yaml"))[name]
    return frame.astype(str).replace({"nan": "", "None": ""})
