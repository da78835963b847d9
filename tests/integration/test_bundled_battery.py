"""The IRLM battery on the bundled irlm1997 cohort reproduces IRLM 1997 within sampling error.

Oracle: the published figures of the International Registry of Lung Metastases (Pastorino U
et al., J Thorac Cardiovasc Surg 1997;113:37-49; medians of IRLM groups as quoted by Gherzi L
et al., AME Surg J 2022;2:38), as the preset's calibration targets stored with the data in
``data/synthetic/irlm1997/manifest.json`` (``calibration_targets``). The targets are read from
the manifest, not copied here; a test checks that they are the published numbers of
``metsurv.published``.

The bundled cohort is one 5,206-patient draw, so each estimate misses its target by sampling
error. The tolerance uses the battery's own 95% CI (log-log, as R ``survfit(conf.type =
"log-log")``), from which SE = half-width / 1.96:

* 5/10/15-year survival: |estimate - target| <= 3 SE (about 0.3% of correct draws fail one
  target by chance);
* median: the target lies in the median's 95% CI, or within 15% of the estimate (the CI of a
  median is not symmetric, and IRLM's medians are rounded to whole months).

Orderings the literature agrees on: after complete resection germ cell has the best and
melanoma the worst survival of the histology groups (5-year survival and median); the median
falls from IRLM group I to II to III to IV.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metsurv
from metsurv.published import published_figures
from metsurv.stats.irlm import irlm_comparisons

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "data" / "synthetic" / "irlm1997"
Z95 = 1.959964
MAX_Z = 3.0
MEDIAN_RELATIVE = 0.15
SURVIVAL_STATISTICS = ("surv_5y", "surv_10y", "surv_15y")


def _targets() -> list[dict]:
    manifest = json.loads((BUNDLE / "manifest.json").read_text(encoding="utf-8"))
    return [t for t in manifest["calibration_targets"]
            if t["statistic"] in (*SURVIVAL_STATISTICS, "median")
            and t["origin"] == "metastasectomy"]


TARGETS = _targets()
TESTED = [t for t in TARGETS if t["tolerance"] is not None]


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    cohort = metsurv.load_cohort(BUNDLE / "patients.csv", resections=BUNDLE / "resections.csv")
    return cohort.patients


@pytest.fixture(scope="module")
def batteries(patients: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Battery level rows for all patients and for complete resections only (IRLM reports DFI,
    number of metastases and histology among complete resections)."""
    complete = patients[patients["complete_resection"].fillna(False).astype(bool)]
    return {"all": irlm_comparisons(patients).levels,
            "complete": irlm_comparisons(complete).levels}


def _level_row(batteries: dict[str, pd.DataFrame], target: dict) -> pd.Series:
    """The battery row a target describes: a subset ``[[factor, [level]]]`` is that level of
    the factor among all patients; ``[["complete_resection", [True]], [factor, [level]]]`` is
    that level among complete resections."""
    subset = [(col, values) for col, values in target["subset"]]
    population = "all"
    if len(subset) == 2 and subset[0] == ("complete_resection", [True]):
        population, subset = "complete", subset[1:]
    assert len(subset) == 1 and len(subset[0][1]) == 1, f"unsupported subset {target['subset']}"
    (factor, (level,)), levels = subset[0], batteries[population]
    row = levels[(levels["factor"] == factor) & (levels["level"].astype(str) == str(level))]
    assert len(row) == 1, f"no battery row for {factor} = {level} ({population})"
    return row.iloc[0]


def test_targets_are_found_in_the_manifest():
    statistics = {t["statistic"] for t in TESTED}
    assert statistics == {*SURVIVAL_STATISTICS, "median"}
    assert len(TESTED) >= 15


def test_targets_are_the_published_irlm_figures():
    """Every tested target is a number of metsurv.published's IRLM 1997 table (same statistic),
    so the oracle is the publication, not a value tuned to the draw."""
    irlm = published_figures("IRLM 1997")
    for t in TESTED:
        column = "median_months" if t["statistic"] == "median" else t["statistic"]
        published = set(irlm[column].dropna().round(4))
        assert round(float(t["value"]), 4) in published, t["label"]


@pytest.mark.parametrize("target", [t for t in TESTED if t["statistic"] in SURVIVAL_STATISTICS],
                         ids=lambda t: t["label"])
def test_survival_within_three_standard_errors(batteries, target):
    row = _level_row(batteries, target)
    stat = target["statistic"]
    est, lo, hi = row[stat], row[f"{stat}_lower"], row[f"{stat}_upper"]
    assert pd.notna(est) and pd.notna(lo) and pd.notna(hi), f"{target['label']}: not estimable"
    se = (hi - lo) / (2 * Z95)
    z = (est - target["value"]) / se
    assert abs(z) <= MAX_Z, (f"{target['label']}: cohort {est:.3f} (95% CI {lo:.3f}-{hi:.3f}, "
                             f"n = {row['n']}) vs IRLM {target['value']:.3f}: z = {z:.2f}")


@pytest.mark.parametrize("target", [t for t in TESTED if t["statistic"] == "median"],
                         ids=lambda t: t["label"])
def test_median_within_its_ci_or_15_percent(batteries, target):
    row = _level_row(batteries, target)
    est, lo, hi = row["median"], row["median_lower"], row["median_upper"]
    value = float(target["value"])
    inside = pd.notna(lo) and pd.notna(hi) and lo <= value <= hi
    close = abs(est - value) <= MEDIAN_RELATIVE * est
    assert inside or close, (f"{target['label']}: cohort median {est:.1f} months "
                             f"(95% CI {lo:.1f}-{hi:.1f}) vs IRLM {value:g}")


def test_histology_order_germ_cell_best_melanoma_worst(batteries):
    """After complete resection: germ cell best, melanoma worst (domain brief, from IRLM 1997),
    by 5-year survival and by median. Only the order is published as a target (manifest
    ``calibration_orderings``); a median not reached is better than any reached one."""
    rows = batteries["complete"]
    hist = rows[(rows["factor"] == "histology_group") & ~rows["sparse"].astype(bool)]
    hist = hist.set_index(hist["level"].astype(str))
    for stat in ("surv_5y", "median"):
        values = hist[stat].fillna(np.inf) if stat == "median" else hist[stat]
        ranked = values.sort_values(ascending=False).index.tolist()
        assert ranked[0] == "germ_cell", f"{stat}: {hist[stat].round(3).to_dict()}"
        assert ranked[-1] == "melanoma", f"{stat}: {hist[stat].round(3).to_dict()}"
    orders = json.loads((BUNDLE / "manifest.json").read_text(encoding="utf-8"))["calibration_orderings"]
    assert any("germ" in json.dumps(o).lower() and "melanoma" in json.dumps(o).lower()
               for o in orders), "the manifest should state the histology order as a target"


def test_irlm_group_medians_fall_from_i_to_iv(batteries):
    """IRLM groups I > II > III > IV by median OS (61, 34, 24, 14 months in IRLM 1997), each
    step beyond sampling error: every group's median lies above the next group's upper 95%
    confidence limit."""
    rows = batteries["all"]
    groups = rows[rows["factor"] == "irlm_group"].set_index("level")
    medians = groups.loc[["I", "II", "III", "IV"], "median"].to_numpy()
    assert (medians[:-1] > medians[1:]).all(), dict(zip("I II III IV".split(), medians,
                                                         strict=True))
    upper = groups.loc[["II", "III", "IV"], "median_upper"].to_numpy()
    assert (medians[:-1] > upper).all()
