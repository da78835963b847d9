"""Restricted mean survival time (RMST): the area under the Kaplan-Meier curve up to tau.

RMST reads as "months lived, on average, in the first tau months" and needs no
proportional-hazards assumption, which makes it a good companion to the hazard ratio when
curves cross (e.g. incomplete resection vs complete early after surgery).

Which R call each number matches:

* ``rmst`` and ``se`` per group: R survival ``summary(survfit(Surv(time, event) ~ by),
  rmean = tau)$table[, c("rmean", "se(rmean)")]`` (the same values ``print(fit, rmean =
  tau)`` shows). The variance is ``sum_j A_j^2 d_j / (n_j (n_j - d_j))`` over event times
  ``t_j <= tau``, ``A_j`` the area under the curve from ``t_j`` to tau (survival
  ``survmean``; survRM2 ``rmst1`` uses the same formula).
* tau after a group's last follow-up (curve not at 0, :func:`metsurv.stats.km.followed`):
  survRM2 ``rmst2`` refuses such a tau; R's ``rmean`` carries the curve forward flat to
  tau, counting survival nobody was observed to have. ``rmst`` does what R ``rmean``
  does but warns (``beyond_follow_up="warn"``, the default), or does it silently
  (``"extend"``), or refuses as survRM2 (``"error"``); the result lists the groups
  extended (``extended``; table columns ``last_time`` and ``extended``). The IRLM battery
  shows such an RMST as missing, by the same rule.
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
from metsurv.stats._result import Result, warn
from metsurv.stats.km import KMCurve, followed, km


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
    """RMST per group (``table``) and each group against the reference (``contrasts``);
    ``extended``: the groups whose curve was carried forward from its last follow-up time
    to tau (R ``rmean``)."""

    tau: float
    table: pd.DataFrame
    contrasts: pd.DataFrame
    by: str | None
    reference: Any
    conf_level: float
    n_dropped: int
    extended: tuple = ()
    start: str | None = None
    weights: str | None = None

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
    beyond_follow_up: str = "warn",
    *,
    start: str | None | bool = None,
    weights: str | None = None,
) -> RMSTResult:
    """Restricted mean survival time to ``tau`` per group, and contrasts with the reference
    group (default: the schema reference level of ``by``, else the first level).

    When tau lies after a group's last follow-up time (and its curve is not at 0), the
    curve is carried forward flat to tau as R ``print(survfit, rmean = tau)`` does, with a
    UserWarning naming the group and its last time (``beyond_follow_up="warn"``); pass
    ``"extend"`` for R's behaviour without the warning, ``"error"`` to refuse such a tau
    as survRM2 ``rmst2`` does. The groups extended are in ``extended``; the warning is
    also kept in ``warnings``.

    ``start`` (entry times, delayed entry; None on a Cohort: its ``entry_months``) and
    ``weights`` (case weights) are passed to :func:`metsurv.stats.km.km`: the RMST and its
    se are then R's ``summary(survfit(Surv(start, time, event) ~ by, weights = w),
    rmean = tau)$table[, c("rmean", "se(rmean)")]`` (R ``survmean``: the se formula above on
    the weighted counts, whatever variance the curve has). Missing or negative weights
    raise :class:`~metsurv.errors.DataError`.

    >>> df = pd.DataFrame({"os_months": [2, 4, 6, 8], "os_event": [1, 1, 0, 1]})
    >>> float(rmst(df, tau=6).table["rmst"].iloc[0])  # R: print(survfit(...), rmean = 6)
    4.5
    >>> rmst(df.assign(os_event=[1, 1, 0, 0]), tau=10, beyond_follow_up="extend").extended
    ('all',)
    """
    if not tau > 0:
        raise ValueError("tau must be positive")
    if beyond_follow_up not in ("warn", "extend", "error"):
        raise ValueError("beyond_follow_up must be 'warn', 'extend' or 'error', got "
                         f"{beyond_follow_up!r}")
    fit = km(data, by=by, time=time, event=event, conf_level=conf_level, start=start,
             weights=weights)
    z = sps.norm.ppf(0.5 + conf_level / 2)
    rows = []
    for c in fit.curves:
        m, se = rmst_from_curve(c, tau)
        at_tau = c.at([tau]).iloc[0]
        rows.append({"group": c.group, "n": c.n, "events": c.events, "tau": float(tau),
                     "rmst": m, "se": se, "lower": m - z * se, "upper": m + z * se,
                     "last_time": float(c.table["time"].iloc[-1]),
                     "extended": not followed(at_tau["n_risk"], at_tau["estimate"])})
    table = pd.DataFrame(rows)
    notes = list(fit.warnings)
    extended = [(g, t) for g, t, x in zip(table["group"], table["last_time"],
                                          table["extended"], strict=True) if x]
    if extended and beyond_follow_up != "extend":
        which = ", ".join(f"{g!r} (last follow-up {t:g})" for g, t in extended)
        if beyond_follow_up == "error":
            raise ValueError(f"tau = {tau:g} is after the last follow-up of group {which}; "
                             "survRM2 refuses such a tau: choose one no later than every "
                             "group's last follow-up, or beyond_follow_up='extend' (R rmean)")
        warn(notes, f"tau = {tau:g} is after the last follow-up of group {which}: its "
                    "survival is carried forward flat to tau (R rmean); "
                    "beyond_follow_up='extend' silences this, 'error' refuses it.")
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
        extended=tuple(g for g, _ in extended),
        start=fit.start,
        weights=weights,
        warnings=tuple(notes),
    )
