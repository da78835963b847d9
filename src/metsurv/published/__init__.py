"""Published pulmonary-metastasectomy series as package data, each number with its citation.

The table is the reference file ``published_figures.csv`` shipped unedited: one row per
published figure (study, endpoint, time origin, subset, factor level, n, median months and
actuarial survival at 2/3/5/10/15 years as proportions), with ``confidence`` saying where the
number was read (abstract, review, commonly quoted) and ``source`` the citation. Its numbers
and citations are the reference file's, unedited; one column is added, ``histologies``: the
population each figure describes, "all" (all histologies) or a histology group of
:data:`metsurv.schema` (``histology_group`` codes, e.g. "sarcoma"), so that a report sets a
figure only beside the same population of a cohort. With ``subset`` (e.g. "complete
resection") it is the figure's population.

>>> df = published_figures("IRLM 1997")
>>> df.loc[df["level"] == "complete", ["n", "surv_5y"]].iloc[0].tolist()
[4572.0, 0.36]
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from metsurv.errors import CohortError

__all__ = ["published_figures", "studies", "SURVIVAL_COLUMNS", "ALL_HISTOLOGIES"]

_FILE = "published_figures.csv"
#: Survival columns of the table and the follow-up (years) each one reports.
SURVIVAL_COLUMNS: dict[str, float] = {
    "surv_2y": 2.0,
    "surv_3y": 3.0,
    "surv_5y": 5.0,
    "surv_10y": 10.0,
    "surv_15y": 15.0,
}
#: ``histologies`` of a figure describing patients of every histology.
ALL_HISTOLOGIES = "all"


def _read() -> pd.DataFrame:
    with resources.files(__package__).joinpath(_FILE).open("r", encoding="utf-8") as fh:
        # Levels such as "1", "2" or ">=4" are codes, not numbers: keep them as text.
        df = pd.read_csv(fh, dtype={"level": str, "factor": str, "subset": str,
                                    "histologies": str})
    for col in ("n", "median_months", *SURVIVAL_COLUMNS):
        df[col] = pd.to_numeric(df[col], errors="raise").astype(float)
    known = {ALL_HISTOLOGIES, *_histology_codes()}
    bad = sorted(set(df["histologies"].fillna("")) - known)
    if bad:
        raise CohortError(
            f"{_FILE}: column 'histologies' has {bad[0]!r}; use one of {', '.join(sorted(known))}"
        )
    return df


def _histology_codes() -> tuple[str, ...]:
    from metsurv import schema

    return tuple(schema.PATIENTS["histology_group"].codes)


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
