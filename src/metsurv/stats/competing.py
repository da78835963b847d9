"""Competing risks: cumulative incidence (Aalen-Johansen) with cmprsk's variance, Gray's
test, and cause-specific Cox.

After a metastasectomy, pulmonary recurrence competes with death: a patient who dies first
can never recur, so ``1 - KM`` with deaths censored overstates the incidence of recurrence.
The cumulative incidence function (CIF) of cause *k* is
``F_k(t) = sum_{t_j <= t} S(t_j-) d_kj / n_j`` with ``S`` the all-cause Kaplan-Meier.

On a cohort the causes are the loader's ``first_event`` (``metsurv.schema.FIRST_EVENTS``,
derived once from the recurrence date and site): pulmonary recurrence is the event of
interest; extrathoracic recurrence, recurrence of unknown site and death without
recurrence compete with it as distinct causes. A recurrence without a recorded site is
not guessed to be extrathoracic, and one the loader could not place in time leaves the
first event missing (the patient is dropped and counted, not silently recoded).

Numbers match R ``cmprsk::cuminc`` (Gray 1988; cmprsk 2.2): the estimate, its variance
(the delta-method variance of Fortran ``cinc``, with the tie correction
``1 - (d - 1)/(n - 1)``), and Gray's K-sample test (Fortran ``crstm``: score ``s`` for the
first ``K - 1`` groups, its covariance ``V``, statistic ``s' V^-1 s`` on ``K - 1`` df,
weight ``(1 - F(t-))^rho``, stratified by summing ``s`` and ``V`` over strata). Tied times
are used as they are (no random jitter); near-tied times (floating-point noise) are merged
first as R survival's ``aeqSurv`` does, which cmprsk itself does not do: on data without
near ties the two are identical.

With case weights or entry times (delayed entry), which cmprsk does not take, ``cuminc``
matches R survival instead: ``survfit(Surv([start,] time, factor(status)) ~ group,
weights = w, id = row)``, its Aalen-Johansen estimate and infinitesimal-jackknife
``std.err``; Gray's test is then not computed. ``gray_test`` returns a
:class:`GrayTestResult` (``statistic``, ``df``, ``p``) like every other test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from metsurv.errors import DataError
from metsurv.schema import FIRST_EVENT_LABELS
from metsurv.stats._result import Result, warn
from metsurv.stats._times import (
    as_frame,
    default_start,
    group_codes,
    group_levels,
    level_label,
    survival_data,
)
from metsurv.stats.cox import CoxResult, cox

#: Status codes of :func:`recurrence_status` (cmprsk-style: 0 censored, causes 1-4).
CENSORED, PULMONARY_RECURRENCE, DEATH, EXTRATHORACIC_RECURRENCE, RECURRENCE_SITE_UNKNOWN = range(5)
#: ``first_event`` (:data:`metsurv.schema.FIRST_EVENTS`) -> status code. Every event is its
#: own cause: a recurrence whose site was not recorded is never relabelled.
FIRST_EVENT_STATUS = {
    "pulmonary_recurrence": PULMONARY_RECURRENCE,
    "extrathoracic_recurrence": EXTRATHORACIC_RECURRENCE,
    "recurrence_site_unknown": RECURRENCE_SITE_UNKNOWN,
    "death_without_recurrence": DEATH,
    "event_free": CENSORED,
}
#: Status code -> readable cause (:data:`metsurv.schema.FIRST_EVENT_LABELS`), causes 1-4 in
#: code order; censored has none.
STATUS_LABELS = {
    code: FIRST_EVENT_LABELS[first_event]
    for first_event, code in sorted(FIRST_EVENT_STATUS.items(), key=lambda item: item[1])
    if code != CENSORED
}


def recurrence_status(data: Any) -> pd.Series:
    """First-event status after metastasectomy, from the ``first_event`` column that
    ``metsurv.io.load_cohort`` derives (time: ``dfs_months``).

    1 pulmonary recurrence (including pulmonary and extrathoracic at once), 2 death without
    recurrence, 3 extrathoracic recurrence, 4 recurrence of unknown site, 0 event-free
    (censored); missing where ``first_event`` is (DFS unknown: e.g. a recurrence without a
    date, or dated before the operation). The loader decides which recurrences count, so
    a recurrence date it rejected is not a recurrence here. A table without
    ``first_event`` raises: pass ``status=`` to :func:`cuminc` instead.

    >>> df = pd.DataFrame({"first_event": pd.Categorical(
    ...     ["pulmonary_recurrence", "death_without_recurrence", "event_free",
    ...      "recurrence_site_unknown", None])})
    >>> recurrence_status(df).tolist()
    [1, 2, 0, 4, <NA>]
    """
    df = as_frame(data)
    if "first_event" not in df.columns:
        raise ValueError(
            "no 'first_event' column: load the cohort with metsurv.io.load_cohort (it derives "
            "the first event from the recurrence date and site), or pass status= naming a "
            "column of event codes")
    fe = df["first_event"].astype(object)
    unknown = sorted(set(fe.dropna()) - set(FIRST_EVENT_STATUS), key=str)
    if unknown:
        raise ValueError(f"first_event values {unknown} are not among {list(FIRST_EVENT_STATUS)}")
    return fe.map(FIRST_EVENT_STATUS).astype("Int64")


# ------------------------------------------------------------------ estimator
def _event_table(time: np.ndarray, status: np.ndarray, cause: Any, cencode: Any):
    """Distinct times with any event: at risk, cause events, other-cause events."""
    order = np.argsort(time, kind="stable")
    t, s = time[order], status[order]
    u, first = np.unique(t, return_index=True)
    n_risk = t.size - first
    d1 = np.add.reduceat((s == cause).astype(float), first) if t.size else np.zeros(0)
    d_any = np.add.reduceat((s != cencode).astype(float), first) if t.size else np.zeros(0)
    keep = d_any > 0
    return u[keep], n_risk[keep].astype(float), d1[keep], (d_any - d1)[keep]


def _tie_factor(d: np.ndarray, n: np.ndarray) -> np.ndarray:
    """cmprsk's correction for tied events, ``1 - (d - 1)/(n - 1)`` (1 when d <= 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 1, 1.0 - (d - 1.0) / (n - 1.0), 1.0)


def _cif(time, status, cause, cencode):
    """Aalen-Johansen CIF of ``cause`` and its variance at each distinct time of that cause.

    Variance as cmprsk ``cinc``: with ``S_j``/``S_j-`` the all-cause KM after/before time
    ``t_j`` and ``F_j`` the CIF after ``t_j``,
    ``V(t) = sum_{t_j <= t} w1_j (1 + (F_j - F(t))/S_j)^2 + w2_j ((F_j - F(t))/S_j)^2``,
    ``w_j = S_j-^2 c(d_j, n_j) d_j / n_j^2`` for cause (1) and other-cause (2) events; a
    term with ``S_j = 0`` drops its ``1/S_j`` part (other-cause terms vanish).
    """
    u, n, d1, d2 = _event_table(time, status, cause, cencode)
    s_after = np.cumprod((n - d1 - d2) / n)
    s_before = np.concatenate(([1.0], s_after[:-1]))
    f = np.cumsum(s_before * d1 / n)
    alive = s_after > 0
    inv_s = np.divide(1.0, s_after, out=np.zeros_like(s_after), where=alive)
    # other-cause terms (only while the all-cause KM is positive)
    w2 = np.where((d2 > 0) & alive, s_before**2 * _tie_factor(d2, n) * d2 / n**2, 0.0)
    # cause terms: (1 + inv_s F_j - inv_s F) = b_j - inv_s_j F
    w1 = np.where(d1 > 0, s_before**2 * _tie_factor(d1, n) * d1 / n**2, 0.0)
    b1 = 1.0 + inv_s * f
    b2 = inv_s * f
    v1 = np.cumsum(w1 * b1**2 + w2 * b2**2)
    v2 = np.cumsum(w1 * b1 * inv_s + w2 * b2 * inv_s)
    v3 = np.cumsum((w1 + w2) * inv_s**2)
    var = v1 + f**2 * v3 - 2.0 * f * v2
    at = d1 > 0
    return u[at], f[at], np.maximum(var[at], 0.0), n[at], d1[at]


def _gray_stratum(time, status, group, ng, cause, cencode, rho):
    """Gray's score (first ng-1 groups) and its covariance for one stratum (cmprsk crstm)."""
    u, idx = np.unique(time, return_inverse=True)
    nt = u.size
    counts = np.zeros((3, nt, ng))
    kind = np.where(status == cause, 1, np.where(status == cencode, 0, 2))
    np.add.at(counts, (kind, idx, group), 1.0)
    leaving = counts.sum(axis=0)
    rs = leaving[::-1].cumsum(axis=0)[::-1]  # at risk at each time, per group
    d1, d2 = counts[1], counts[2]
    ev = (d1 + d2).sum(axis=1) > 0
    rs, d1, d2 = rs[ev], d1[ev], d2[ev]
    td = d1 + d2
    at_risk = rs > 0
    safe_rs = np.where(at_risk, rs, 1.0)
    skm = np.cumprod(np.where(at_risk, (rs - td) / safe_rs, 1.0), axis=0)
    skmm = np.vstack([np.ones((1, ng)), skm[:-1]])
    f1 = np.cumsum(np.where(at_risk, skmm * d1 / safe_rs, 0.0), axis=0)
    f1m = np.vstack([np.zeros((1, ng)), f1[:-1]])
    t1 = np.where(at_risk, rs / np.where(at_risk, skmm, 1.0), 0.0)  # rs / S(t-)
    tr = t1.sum(axis=1)
    tq = (t1 * (1.0 - f1m)).sum(axis=1)
    nd1 = d1.sum(axis=1)
    f = np.cumsum(nd1 / tr)
    fm = np.concatenate(([0.0], f[:-1]))
    fb = (1.0 - fm) ** rho
    # a_t = fb (diag(t1) - t1 t1' / tr); c(t) accumulates a_t nd1 / (tr (1 - fm))
    a = fb[:, None, None] * (
        t1[:, :, None] * np.eye(ng)[None] - t1[:, :, None] * t1[:, None, :] / tr[:, None, None]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(nd1 > 0, nd1 / (tr * (1.0 - fm)), 0.0)
    c = np.cumsum(a * step[:, None, None], axis=0)
    c_end = c[-1]
    score = (fb[:, None] * np.where(at_risk, d1 - nd1[:, None] * t1 * (1.0 - f1m) / tq[:, None],
                                    0.0)).sum(axis=0)
    # cause events: weight t3 and vector a_ik - t4 (c_ik(t) - C_ik)
    with np.errstate(divide="ignore", invalid="ignore"):
        t4 = np.where(skm > 0, 1.0 - (1.0 - f[:, None]) / skm, 1.0)
        t5 = np.where(nd1[:, None] > 1, 1.0 - (nd1[:, None] - 1.0) / (tr[:, None] * skmm - 1.0),
                      1.0)
        w1 = np.where(at_risk & (nd1[:, None] > 0), t5 * skmm * nd1[:, None] / (tr[:, None] * safe_rs),
                      0.0)
    # g[t, k, i] with i over groups: a[t, i, k] - t4[t, k] (c[t, i, k] - C[i, k])
    dc = np.transpose(c - c_end[None], (0, 2, 1))  # [t, k, i]
    g1 = np.transpose(a, (0, 2, 1)) - t4[:, :, None] * dc
    # other-cause events
    with np.errstate(divide="ignore", invalid="ignore"):
        t4b = np.where(skm > 0, (1.0 - f[:, None]) / skm, 0.0)
        t5b = np.where(d2 > 1, 1.0 - (d2 - 1.0) / (rs - 1.0), 1.0)
        w2 = np.where((skm > 0) & (d2 > 0), t5b * skmm**2 * d2 / safe_rs**2, 0.0)
    g2 = -t4b[:, :, None] * dc
    var = np.einsum("tk,tki,tkj->ij", w1, g1, g1) + np.einsum("tk,tki,tkj->ij", w2, g2, g2)
    return score[: ng - 1], var[: ng - 1, : ng - 1]


def _qr_rank(v: np.ndarray, tol: float = 1e-7) -> int:
    """Rank as R ``qr()`` (LINPACK ``dqrdc2``) decides it, which is what cmprsk tests:
    a column is negligible when what is left of it after removing the kept columns before
    it has a norm below ``tol`` times its own norm."""
    kept: list[np.ndarray] = []
    for j in range(v.shape[1]):
        col = v[:, j].astype(float)
        norm = float(np.linalg.norm(col))
        for qv in kept:
            col = col - (qv @ col) * qv
        rest = float(np.linalg.norm(col))
        if norm > 0 and rest >= tol * norm:
            kept.append(col / rest)
    return len(kept)


@dataclasses.dataclass(frozen=True, eq=False)
class GrayTestResult(Result):
    """Gray's K-sample test of the cumulative incidence of one cause (R ``cmprsk::cuminc``
    ``$Tests`` row): ``statistic`` on ``df`` = groups - 1, ``p``; ``score`` and
    ``variance``: the score of the first K - 1 groups (in ``groups`` order) and its
    covariance, as cmprsk's Fortran ``crstm`` returns them. When that covariance is
    singular (R ``qr()`` rank short of K - 1) cmprsk reports stat -1 and p 1 for every
    cause: here ``statistic`` is NaN (-1 is cmprsk's flag, not a chi-square), ``p`` is 1,
    ``singular`` is True and a warning says so."""

    cause: Any
    statistic: float
    df: int
    p: float
    rho: float
    groups: tuple
    score: np.ndarray
    variance: np.ndarray
    singular: bool = False

    def to_frame(self) -> pd.DataFrame:
        """One row per group but the last (cmprsk's scores): group, score, variance."""
        k = len(self.score)
        return pd.DataFrame({"group": list(self.groups[:k]), "score": self.score,
                             "variance": np.diag(self.variance) if k else []})

    def to_dict(self) -> dict[str, Any]:
        """Every field (:meth:`Result.to_dict`), named as a test: ``"test": "Gray"``."""
        return {"test": "Gray", **super().to_dict()}


def gray_test(
    time: Any,
    status: Any,
    group: Any,
    strata: Any = None,
    cause: Any = 1,
    cencode: Any = 0,
    rho: float = 0.0,
) -> GrayTestResult:
    """Gray's K-sample test of the cumulative incidence of ``cause`` across groups.

    Matches the ``Tests`` row of R ``cmprsk::cuminc(time, status, group, strata, rho,
    cencode)`` (Gray 1988; cmprsk 2.2): the score ``s`` of the first K - 1 groups, its
    covariance ``V``, ``statistic = s' V^-1 s`` on K - 1 df, weight ``(1 - F(t-))^rho``,
    stratified by summing ``s`` and ``V`` over strata.

    Parameters
    ----------
    time, status, group : array-like, length n
        Times (months), status codes (``cencode`` = censored, any other value a cause) and
        groups (a pandas Categorical keeps its level order, as an R factor).
    strata : array-like, optional
        Stratum of each row.
    cause, cencode, rho
        The cause tested, the censoring code, Gray's rho.

    Returns
    -------
    GrayTestResult
        ``statistic``, ``df``, ``p``, ``score``, ``variance``; a singular covariance gives
        ``p`` = 1 and ``statistic`` NaN, as cmprsk (stat -1, pv 1), with a warning.

    Raises
    ------
    DataError
        Fewer than two groups.

    Examples
    --------
    >>> t = [1, 2, 3, 4, 5, 6, 7, 8]
    >>> res = gray_test(t, [1, 2, 1, 0, 2, 1, 1, 0], list("aabbabab"))
    >>> res.df, round(res.p, 4)  # R: cmprsk::cuminc(t, s, g)$Tests["1", c("df", "pv")]
    (1, 0.8088)
    """
    time = np.asarray(time, dtype=float)
    status = np.asarray(status)
    grp = group if isinstance(group, pd.Series) else pd.Series(group)
    levels = group_levels(grp)
    if len(levels) < 2:
        raise DataError("Gray's test needs at least two groups; got "
                        f"{len(levels)}: {[level_label(v) for v in levels]}")
    codes = group_codes(grp, levels)
    ng = len(levels)
    strata = np.zeros(time.size, dtype=int) if strata is None else np.asarray(strata)
    s = np.zeros(ng - 1)
    v = np.zeros((ng - 1, ng - 1))
    for st in pd.unique(strata):
        w = strata == st
        ss, vv = _gray_stratum(time[w], status[w], codes[w], ng, cause, cencode, rho)
        s += ss
        v += vv
    df = ng - 1
    notes: list[str] = []
    singular = _qr_rank(v) < df
    if singular:
        stat, p = float("nan"), 1.0
        warn(notes, f"Gray's test for cause {level_label(cause)!r}: the covariance of the "
                    "scores is singular (a group without anyone at risk at the event times?); "
                    "reported as cmprsk does: p = 1 (cmprsk prints stat -1), no statistic")
    else:
        stat = float(s @ np.linalg.solve(v, s))
        p = float(sps.chi2.sf(stat, df))
    return GrayTestResult(cause=level_label(cause), statistic=stat, df=df, p=p,
                          rho=float(rho), groups=tuple(level_label(g) for g in levels),
                          score=s, variance=v, singular=singular, warnings=tuple(notes))


# ------------------------------------------------------------------ public API
def _aj_survfit(code, status, causes, w, entered, m):
    """Aalen-Johansen CIF of each cause at every table time of one group, with case weights
    and delayed entry, and its standard error as R ``survfit`` on a multi-state ``Surv``
    computes it: the infinitesimal jackknife, each row its own cluster.

    ``code``: each row's index in the group's distinct times (``m`` of them); ``entered``:
    index of the first time after each row's start (None: at risk from the first time).
    With weighted ``n_j``, ``d_j`` (any cause), ``h_j = d_j / n_j``, ``q_j = 1/(n_j(1-h_j))``
    and ``S`` the all-cause KM, the weighted influence of row i on ``F_k(t)`` is
    ``w_i [sum_{t_j<=t} S(t_j-) (dN_ik(t_j) - Y_i(t_j) h_kj)/n_j
    + sum_{t_l<=t} q_l (Y_i(t_l) h_l - dN_i(t_l)) (F_k(t) - F_k(t_l))]``; its square is
    summed in closed form (no loop over rows): constants for rows that have left, sums of
    powers of their entry-time values for rows at risk.
    Returns {cause: (n_risk, n_event, F, se)} over the m times."""
    def per_time(x, index=code, size=m):
        return np.bincount(index, weights=x, minlength=size)

    n = per_time(w)[::-1].cumsum()[::-1]
    ent = np.zeros(w.size, dtype=np.int64) if entered is None else entered
    if entered is not None:
        n = n - np.bincount(entered, weights=w, minlength=m + 1)[::-1].cumsum()[::-1][1:]
    any_event = np.isin(status, causes).astype(float)
    d = per_time(w * any_event)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(d > 0, d / n, 0.0)
        all_die = np.isclose(n, d, rtol=1e-12, atol=0.0) & (d > 0)
        s_after = np.cumprod(np.where(all_die, 0.0, 1.0 - h))
        # a time where everyone dies: F is flat after it, so its KM term is 0
        q = np.where((d > 0) & ~all_die, 1.0 / (n * (1.0 - h)), 0.0)
    s_before = np.concatenate(([1.0], s_after[:-1]))
    w2 = w * w
    a2 = np.cumsum(q * h)

    def from_start(a):
        return np.concatenate(([0.0], a))[ent] if entered is not None else np.zeros(w.size)

    def at_risk(x):
        return np.cumsum(per_time(x, ent, m + 1))[:m] - np.cumsum(per_time(x))

    a2s = from_start(a2)
    out = {}
    for k in causes:
        is_k = (status == k).astype(float)
        dk = per_time(w * is_k)
        with np.errstate(divide="ignore", invalid="ignore"):
            direct = np.where(dk > 0, s_before / n, 0.0)
        f = np.cumsum(direct * dk)
        a1 = np.cumsum(direct * dk / n)
        a3 = np.cumsum(q * h * f)
        g = f * a2 - a1 - a3
        c_start = from_start(a1) + from_start(a3)
        # rows that have left: w (x + F(t) y), x and y fixed at their exit
        x = is_k * direct[code] - a1[code] - a3[code] + c_start + any_event * q[code] * f[code]
        y = a2[code] - a2s - any_event * q[code]
        var = (np.cumsum(per_time(w2 * x * x)) + 2 * f * np.cumsum(per_time(w2 * x * y))
               + f**2 * np.cumsum(per_time(w2 * y * y)))
        # rows at risk: w (G(t) + C(start) - F(t) A2(start))
        var += (g**2 * at_risk(w2) + 2 * g * at_risk(w2 * c_start)
                - 2 * g * f * at_risk(w2 * a2s) + at_risk(w2 * c_start**2)
                - 2 * f * at_risk(w2 * c_start * a2s) + f**2 * at_risk(w2 * a2s**2))
        out[k] = (n, dk, f, np.sqrt(np.fmax(var, 0.0)))
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class CumulativeIncidence(Result):
    """Cumulative incidence curves (one row per group, cause and time of that cause) and
    Gray's tests (``tests``: one row per cause; ``gray``: the :class:`GrayTestResult`
    objects). ``variance`` names the variance used: ``"cmprsk"`` (Gray's delta method, R
    ``cmprsk::cuminc``) or ``"survfit"`` (infinitesimal jackknife, R ``survfit`` on a
    multi-state ``Surv``); ``start``/``weights`` the entry-time and weight columns used."""

    table: pd.DataFrame
    tests: pd.DataFrame
    causes: tuple
    groups: tuple
    by: str | None
    conf_level: float
    conf_type: str
    n_dropped: int
    gray: tuple = ()
    start: str | None = None
    weights: str | None = None
    variance: str = "cmprsk"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def _html_head(self) -> str:
        by = f" by {self.by}" if self.by else ""
        return (f"<b>CumulativeIncidence</b> Aalen-Johansen cumulative incidence{by}: "
                f"{len(self.causes)} causes ({', '.join(map(str, self.causes))}), "
                f"{self.n_dropped} dropped; Gray's test per cause")

    def _html_frame(self) -> pd.DataFrame:
        return self.tests if len(self.tests) else self.table

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw one curve per cause (and group) into ``ax``, rising from 0, as the report
        draws them (:func:`metsurv.report.plotting.plot_cif_result`; keyword arguments
        go there); a new notebook-sized figure when ``ax`` is None. Returns the axes."""
        from ..report.plotting import plot_cif_result

        return plot_cif_result(self, ax, **kwargs)

    def at(self, times) -> pd.DataFrame:
        """Estimates at given times (step function; 0 before the first event), as
        ``cmprsk::timepoints``."""
        times = np.atleast_1d(np.asarray(times, dtype=float))
        rows = []
        for (g, k), cur in self.table.groupby(["group", "cause"], sort=False, observed=True):
            pos = np.searchsorted(cur["time"].to_numpy(), times, side="right") - 1
            for t, p in zip(times, pos, strict=True):
                r = cur.iloc[p] if p >= 0 else None
                rows.append({
                    "group": g, "cause": k, "time": t,
                    "estimate": r["estimate"] if r is not None else 0.0,
                    "variance": r["variance"] if r is not None else 0.0,
                    "lower": r["lower"] if r is not None else np.nan,
                    "upper": r["upper"] if r is not None else np.nan,
                })
        return pd.DataFrame(rows)


def _ci(est, var, conf_level, conf_type):
    z = sps.norm.ppf(0.5 + conf_level / 2)
    se = np.sqrt(var)
    if conf_type == "plain":
        return np.clip(est - z * se, 0, 1), np.clip(est + z * se, 0, 1)
    # log(-log) transform of F (Choudhury 2002): F^exp(-+ z se / (F log F))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = z * se / (est * np.log(est))
        lo = est ** np.exp(-k)
        hi = est ** np.exp(k)
    ok = (est > 0) & (est < 1) & (se > 0)
    return np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)


def cuminc(
    data: Any,
    time: str = "dfs_months",
    status: str | None = None,
    by: str | None = None,
    strata: str | None = None,
    rho: float = 0.0,
    cencode: Any = 0,
    conf_level: float = 0.95,
    conf_type: str = "log-log",
    *,
    start: str | None | bool = None,
    weights: str | None = None,
    variance: str | None = None,
) -> CumulativeIncidence:
    """Cumulative incidence of each cause by group, with Gray's test across groups.

    ``status`` names a column coding the first event (``cencode`` = censored), for any
    table. When None, the cohort's ``first_event`` (at ``dfs_months``) is used through
    :func:`recurrence_status`: pulmonary recurrence (1) is the event of interest; death
    without recurrence (2), extrathoracic recurrence (3) and recurrence of unknown site
    (4) are distinct competing causes, each with its own curve and test. Rows with a
    missing time, status (no first event: DFS unknown), group, stratum or entry time are
    dropped and counted in ``n_dropped`` (cmprsk omits them the same way).

    R equivalents: ``estimate``/``variance`` match ``cmprsk::cuminc(time, status, by,
    strata, rho)$"<group> <cause>"$est/var`` at the cause's event times; the ``tests`` table
    (and ``gray``) matches ``$Tests`` (stat, pv, df). With ``weights`` or ``start`` (which
    cmprsk does not take) the estimate is the weighted, left-truncated Aalen-Johansen
    estimate of R ``survfit(Surv([start,] time, factor(status)) ~ by, weights = w, id =
    row)``, its ``std_err`` the infinitesimal-jackknife ``std.err`` of that fit
    (``variance="survfit"``; the default then, and available without weights too), and
    Gray's test is not computed (a warning says so). Confidence limits (not in cmprsk) use
    the log(-log) transform of F (``conf_type="log-log"``, as tidycmprsk) or ``"plain"``.

    Parameters
    ----------
    data : DataFrame or Cohort
        One row per patient.
    time, status : str
        Time to the first event (months) and its code column (None: ``first_event``).
    by, strata : str, optional
        Groups (curves, Gray's test) and strata of Gray's test.
    rho, cencode : float, Any
        Gray's rho; the censoring code.
    conf_level, conf_type : float, str
        Pointwise CI level and transform.
    start : str or False, optional
        Entry-time column (delayed entry); ``None`` on a Cohort means its
        ``entry_months`` for ``dfs_months``/``os_months``; ``False`` ignores it.
    weights : str, optional
        Case weights (finite, >= 0).
    variance : {"cmprsk", "survfit"}, optional
        Default ``"cmprsk"`` without weights and entry times, else ``"survfit"``.

    Returns
    -------
    CumulativeIncidence
        ``table`` (group, cause, time, n_risk, n_event, estimate, variance, std_err,
        lower, upper; n_risk/n_event weighted sums with weights), ``tests``, ``gray``,
        ``warnings``.

    Raises
    ------
    DataError
        Bad times, entry times or weights (:func:`metsurv.stats._times.survival_data`).
    ValueError
        Bad ``conf_type``, ``conf_level`` or ``variance``.

    >>> df = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5], "s": [1, 2, 1, 0, 1, 0]})
    >>> # R: cmprsk::cuminc(df$t, df$s)[["1 1"]]$est at its jumps
    >>> cuminc(df, "t", "s").table.query("cause == 1")["estimate"].round(4).tolist()
    [0.1667, 0.3333, 0.5833]
    """
    if conf_type not in ("log-log", "plain"):
        raise ValueError("conf_type must be 'log-log' or 'plain'")
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must lie in (0, 1)")
    df = as_frame(data)
    start_col = default_start(data, time, start)
    if variance is None:
        variance = "cmprsk" if start_col is None and weights is None else "survfit"
    if variance not in ("cmprsk", "survfit"):
        raise ValueError(f"variance must be 'cmprsk' or 'survfit', got {variance!r}")
    if variance == "cmprsk" and (start_col is not None or weights is not None):
        raise ValueError("cmprsk's variance takes no case weights or entry times: use "
                         "variance='survfit' (R survfit's infinitesimal jackknife)")
    st = recurrence_status(df) if status is None else df[status]
    frame = pd.DataFrame({time: df[time], "_status": st}, index=df.index)
    frame["_event"] = (st != cencode).astype(float).where(st.notna())
    extra = ["_status"]
    for name, col in (("_group", by), ("_stratum", strata), (start_col, start_col),
                      (weights, weights)):
        if col is not None:
            if col not in df.columns:
                raise KeyError(f"column(s) not found: {col}")
            frame[name] = df[col]
            extra += [name] if name in ("_group", "_stratum") else []
    sd = survival_data(frame, time, "_event", extra, start=start_col or False, weights=weights)
    t = sd.time
    s = sd.frame["_status"].to_numpy()
    if isinstance(s.dtype, pd.api.extensions.ExtensionDtype) or s.dtype == object:
        s = np.asarray(s.tolist())
    grp = (sd.frame["_group"] if by is not None
           else pd.Series(["all"] * len(t), index=sd.frame.index))
    levels = group_levels(grp)
    codes = group_codes(grp, levels)
    causes = tuple(sorted(set(s[s != cencode].tolist())))
    w_all = sd.weight if sd.weight is not None else np.ones(t.size)
    rows = []
    notes: list[str] = []
    for gi, g in enumerate(levels):
        w = codes == gi
        if variance == "cmprsk":
            fits = {k: _cif(t[w], s[w], k, cencode) for k in causes}
        else:
            u, code = np.unique(t[w], return_inverse=True)
            entered = None if sd.start is None else np.searchsorted(u, sd.start[w], "right")
            aj = _aj_survfit(code, s[w], causes, w_all[w], entered, u.size)
            # rows at the cause's event times, as cmprsk's table
            fits = {}
            for k, (n, dk, f, se) in aj.items():
                at = np.bincount(code, weights=(s[w] == k).astype(float), minlength=u.size) > 0
                fits[k] = (u[at], f[at], se[at] ** 2, n[at], dk[at])
        for k in causes:
            u, est, var, n, d = fits[k]
            lo, hi = _ci(est, var, conf_level, conf_type)
            whole = sd.weight is None
            rows.append(pd.DataFrame({
                "group": level_label(g), "cause": k, "time": u,
                "n_risk": n.astype(int) if whole else n,
                "n_event": d.astype(int) if whole else d, "estimate": est, "variance": var,
                "std_err": np.sqrt(var), "lower": lo, "upper": hi,
            }))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    gray: list[GrayTestResult] = []
    if len(levels) > 1 and variance == "survfit":
        warn(notes, "Gray's test is not computed with case weights or entry times (cmprsk "
                    "takes neither)")
    elif len(levels) > 1:
        stratum = sd.frame["_stratum"].to_numpy() if strata is not None else None
        for k in causes:
            res = gray_test(t, s, grp, stratum, cause=k, cencode=cencode, rho=rho)
            gray.append(res)
            for message in res.warnings:
                notes.append(message)
    tests = pd.DataFrame([{"cause": r.cause, "statistic": r.statistic, "df": r.df, "p": r.p,
                           "rho": r.rho} for r in gray],
                         columns=["cause", "statistic", "df", "p", "rho"])
    return CumulativeIncidence(
        table=table,
        tests=tests,
        causes=causes,
        groups=tuple(level_label(g) for g in levels),
        by=by,
        conf_level=conf_level,
        conf_type=conf_type,
        n_dropped=sd.n_dropped,
        gray=tuple(gray),
        start=sd.start_name,
        weights=weights,
        variance=variance,
        warnings=tuple(notes),
    )


def cause_specific_cox(
    data: Any,
    covariates: Sequence[str],
    cause: Any = PULMONARY_RECURRENCE,
    time: str = "dfs_months",
    status: str | None = None,
    *,
    start: str | None | bool = None,
    weights: str | None = None,
    **cox_options: Any,
) -> CoxResult:
    """Cause-specific Cox model: the hazard of ``cause`` among patients still free of any
    event, other causes (death, extrathoracic recurrence, recurrence of unknown site)
    censored. Uses metsurv ``cox``; matches R ``coxph(Surv(time, status == cause) ~
    covariates)``. ``status`` as in :func:`cuminc` (None: the cohort's ``first_event``
    through :func:`recurrence_status`); rows without a status are dropped and counted in
    ``n_dropped``. ``start`` (entry times; None on a Cohort: its ``entry_months``) and
    ``weights`` (case weights) give R ``coxph(Surv(start, time, status == cause) ~ ...,
    weights = w)``; ``cox_options`` go to ``cox`` (ties, strata, reference, robust, ...).
    The fit's ``warnings`` (aliased terms, infinite coefficients) are on the result.

    A cause-specific HR describes the rate of recurrence among those alive and
    recurrence-free; it is not the effect on the cumulative incidence (that is Fine-Gray's
    subdistribution hazard), because a factor that kills early also lowers incidence.
    Yes/no and coded factors are coded against the schema reference level, as ``cox``
    does (``complete_resection[False]``: incomplete vs complete resection).
    """
    df = as_frame(data)
    st = recurrence_status(df) if status is None else df[status]
    frame = df.assign(_time=pd.to_numeric(df[time]),
                      _event=(st == cause).astype("Int64").where(st.notna()))
    # a Cohort's entry times (left truncation) as cuminc and km take them; the fit's
    # warnings (NA terms, infinite coefficients) travel on the returned CoxResult
    entry = default_start(data, time, start)
    return cox(frame, list(covariates), time="_time", event="_event",
               start=entry if entry is not None else False, weights=weights, **cox_options)
