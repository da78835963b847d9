"""Published pulmonary-metastasectomy series as package data, each number with its citation.

The table is the reference file ``published_figures.csv`` shipped unedited: one row per
published figure (study, endpoint, time origin, subset, factor level, n, median months and
actuarial survival at 2/3/5/10/15 years as proportions), with ``confidence`` saying where the
number was read (abstract, review, commonly quoted) and ``source`` the citation.

>>> df = published_figures("IRLM 1997")
>>> df.loc[df["level"] == "complete", ["n", "surv_5y"]].iloc[0].tolist()
[4572.0, 0.36]
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from metsurv.errors import CohortError

__all__ = ["published_figures", "studies", "SURVIVAL_COLUMNS"]

_FILE = "published_figures.csv"
#: Survival columns of the table and the follow-up (years) each one reports.
SURVIVAL_COLUMNS: dict[str, float] = {
    "surv_2y": 2.0,
    "surv_3y": 3.0,
    "surv_5y": 5.0,
    "surv_10y": 10.0,
    "surv_15y": 15.0,
}


def _read() -> pd.DataFrame:
    with resources.files(__package__).joinpath(_FILE).open("r", encoding="utf-8") as fh:
        # Levels such as "1", "2" or ">=4" are codes, not numbers: keep them as text.
        df = pd.read_csv(fh, dtype={"level": str, "factor": str, "subset": str})
    for col in ("n", "median_months", *SURVIVAL_COLUMNS):
        df[col] = pd.to_numeric(df[col], errors="raise").astype(float)
    return df


def studies() -> list[str]:
    """Names of the published series, in file order.

    >>> studies()[0]
    'IRLM 1997'
    """
    return list(dict.fromkeys(_read()["study"]))


def published_figures(study: str | None = None) -> pd.DataFrame:
    """The published figures, all studies or one (``study`` as in :func:`studies`).

    Raises :class:`~metsurv.errors.CohortError` naming the known studies when ``study`` is
    not one of them.
    """
    df = _read()
    if study is None:
        return df
    known = list(dict.fromkeys(df["study"]))
    if study not in known:
        raise CohortError(
            f"unknown published study {study!r}; known studies: {', '.join(known)}"
        )
    return df[df["study"] == study].reset_index(drop=True)
