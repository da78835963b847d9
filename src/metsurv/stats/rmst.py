"""Restricted mean survival time (RMST): the area under the Kaplan-Meier curve up to tau.

RMST reads as "months lived, on average, in the first tau months" and needs no
proportional-hazards assumption, which makes it a good companion to the hazard ratio when
curves cross (e.g. incomplete resection vs complete early after surgery).

Which R call each number matches:

* ``rmst`` and ``se`` per group: R survival ``summary(survfit(Surv(time, event) ~ by),
  rmean = tau)$table[, c("rmean", "se(rmean)")]`` (the same values ``print(fit, rmean =
  tau)`` shows). The variance is ``sum_j A_j^2 d_j / (n_j (n_j - d_j))`` over event times
  ``t_j <= tau``, ``A_j`` the area under the curve from ``t_j`` to tau (survival
  ``survmean``; survRM2 ``rmst1`` uses the same formula). When tau lies beyond the last
  time, the curve is carried forward flat to tau, as R does.
* ``lower``/``upper``: normal approximation ``rmst -/+ z se`` (survRM2 ``rmst1``).
* ``contrasts``: each group against the reference group, difference ``rmst_g - rmst_ref``
  with ``se = sqrt(se_g^2 + se_ref^2)``, normal CI and two-sided p, and the ratio with a CI
  on the log scale (survRM2 ``rmst2`` "RMST (arm=1)-(arm=0)" and "(arm=1)/(arm=0)").
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from metsurv.schema import REFERENCE_LEVELS
from metsurv.stats._result import Result
from metsurv.stats.km import KMCurve, km


def rmst_from_curve(curve: KMCurve, tau: float) -> tuple[float, float]:
    """RMST to ``tau`` and its standard error from one Kaplan-Meier curve (survival
    ``survmean``)."""
    tab = curve.table
    t = tab["time"].to_numpy(dtype=float)
    start = min(0.0, float(t[0])) if t.size else 0.0
    keep = t <= tau
    n = tab["n_risk"].to_numpy(dtype=float)[keep]
    d = tab["n_event"].to_numpy(dtype=float)[keep]
    s = tab["estimate"].to_numpy(dtype=float)[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        hh = np.where(n - d == 0, 0.0, d / (n * (n - d)))
    times = np.concatenate((t[keep], [tau]))
    # survival on each interval [times[i-1], times[i]): 1 before the first time
    level = np.concatenate(([1.0], s))
    rect = np.diff(np.concatenate(([start], times))) * level
    # area after each kept time up to tau
    after = np.cumsum(rect[::-1])[::-1][1:]
    var = float(np.sum(after**2 * hh))
    return float(rect.sum() + start), float(np.sqrt(var))


@dataclasses.dataclass(frozen=True, eq=False)
class RMSTResult(Result):
    """RMST per group (``table``) and each group against the reference (``contrasts``)."""

    tau: float
    table: pd.DataFrame
    contrasts: pd.DataFrame
    by: str | None
    reference: Any
    conf_level: float
    n_dropped: int

    def to_frame(self) -> pd.DataFrame:
        return self.table


def _reference(by: str | None, groups: list, reference: Any) -> Any:
    if reference is not None:
        if reference not in groups:
            raise ValueError(f"reference {reference!r} is not a group; groups are {groups}")
        return reference
    ref = REFERENCE_LEVELS.get(by) if by else None
    return ref if ref in groups else (groups[0] if groups else None)


def rmst(
    data: Any,
    tau: float,
    by: str | None = None,
    time: str = "os_months",
    event: str = "os_event",
    reference: Any = None,
    conf_level: float = 0.95,
) -> RMSTResult:
    """Restricted mean survival time to ``tau`` per group, and contrasts with the reference
    group (default: the schema reference level of ``by``, else the first level).

    >>> df = pd.DataFrame({"os_months": [2, 4, 6, 8], "os_event": [1, 1, 0, 1]})
    >>> float(rmst(df, tau=6).table["rmst"].iloc[0])
    4.5
    """
    if not tau > 0:
        raise ValueError("tau must be positive")
    fit = km(data, by=by, time=time, event=event, conf_level=conf_level)
    z = sps.norm.ppf(0.5 + conf_level / 2)
    rows = []
    for c in fit.curves:
        m, se = rmst_from_curve(c, tau)
        rows.append({"group": c.group, "n": c.n, "events": c.events, "tau": float(tau),
                     "rmst": m, "se": se, "lower": m - z * se, "upper": m + z * se})
    table = pd.DataFrame(rows)
    groups = table["group"].tolist()
    ref = _reference(by, groups, reference)
    contrasts = []
    if len(groups) > 1:
        r0 = table.loc[table["group"] == ref].iloc[0]
        for _, r in table.loc[table["group"] != ref].iterrows():
            diff = r["rmst"] - r0["rmst"]
            se = float(np.hypot(r["se"], r0["se"]))
            log_ratio = np.log(r["rmst"] / r0["rmst"])
            se_lr = float(np.hypot(r["se"] / r["rmst"], r0["se"] / r0["rmst"]))
            contrasts.append({
                "group": r["group"], "reference": ref, "tau": float(tau),
                "difference": diff, "se": se, "lower": diff - z * se, "upper": diff + z * se,
                "p_value": float(2 * sps.norm.sf(abs(diff / se))) if se > 0 else float("nan"),
                "ratio": float(np.exp(log_ratio)),
                "ratio_lower": float(np.exp(log_ratio - z * se_lr)),
                "ratio_upper": float(np.exp(log_ratio + z * se_lr)),
                "ratio_p_value": float(2 * sps.norm.sf(abs(log_ratio / se_lr)))
                if se_lr > 0 else float("nan"),
            })
    return RMSTResult(
        tau=float(tau),
        table=table,
        contrasts=pd.DataFrame(contrasts),
        by=by,
        reference=ref,
        conf_level=conf_level,
        n_dropped=fit.n_dropped,
    )
