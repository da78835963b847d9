"""Harrell's concordance of a Cox fit, as R ``concordancefit`` (what ``coxph`` reports)."""

from __future__ import annotations

import numpy as np


def _prefix_counts(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each position i: sum of w_j over j < i with v_j < v_i, and with v_j <= v_i.

    Bottom-up merge counting, vectorised per level: at each level the order from the
    previous one consists of sorted runs, which numpy's stable sort (timsort) merges in
    linear time, so the whole is O(n log n) without a Python loop over subjects."""
    n = v.size
    M = int(v.max(initial=0)) + 1
    perm = np.arange(n, dtype=np.int64)
    vp = v.astype(np.int64)
    wp = np.asarray(w, dtype=float)
    lt = np.zeros(n)
    le = np.zeros(n)
    idx = np.arange(n, dtype=np.int64)
    change = np.empty(n, dtype=bool)
    k = 0
    while (1 << k) < n:
        sh = k + 1
        # sort by (pair of blocks, value, half): the two halves are already sorted runs
        key = (((perm >> sh) * M + vp) << 1) | ((perm >> k) & 1)
        order = np.argsort(key, kind="stable")
        perm, vp, wp = perm[order], vp[order], wp[order]
        right = ((perm >> k) & 1).astype(bool)
        wl = np.where(right, 0.0, wp)
        cl = np.cumsum(wl)
        cl_ex = cl - wl
        grp = (perm >> sh) * M + vp
        change[0] = True
        np.not_equal(grp[1:], grp[:-1], out=change[1:])
        gstart = np.maximum.accumulate(np.where(change, idx, 0))
        pr = perm[right]
        base = cl_ex[(pr >> sh) << sh]  # sorted position of the pair's first element
        lt[pr] += cl_ex[gstart[right]] - base
        le[pr] += cl[right] - base
        k += 1
    return lt, le


def _before_counts(
    point_time: np.ndarray, point_v: np.ndarray, query_time: np.ndarray,
    query_v: np.ndarray, descending: bool, point_w: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each query: the weight of the points at or beyond its time (time >= the query's
    when ``descending``, else time <= it) with a lower score, a lower or equal score, any
    score. Times are integer codes, scores integer ranks."""
    n_p = point_time.size
    time = np.r_[point_time, query_time]
    kind = np.r_[np.zeros(n_p, np.int64), np.ones(query_time.size, np.int64)]
    order = np.lexsort((kind, -time if descending else time))
    v = np.r_[point_v, query_v][order]
    w = np.r_[point_w, np.zeros(query_time.size)][order]
    lt, le = _prefix_counts(v, w)
    total = np.cumsum(w) - w
    back = np.empty(order.size, np.int64)
    back[order] = np.arange(order.size)
    q = back[n_p:]
    return lt[q], le[q], total[q]


def _pair_weight(group: np.ndarray, w: np.ndarray) -> float:
    """Sum of w_i w_j over the pairs i < j within each group: ((sum w)^2 - sum w^2) / 2."""
    tot = np.bincount(group, w)
    sq = np.bincount(group, w * w)
    return float(((tot * tot - sq) / 2).sum())


def _concordance(
    t: np.ndarray, e: np.ndarray, x: np.ndarray, s: np.ndarray, cluster: np.ndarray | None,
    start: np.ndarray | None = None, weights: np.ndarray | None = None,
) -> tuple[float, float, dict[str, float]]:
    """Harrell's C as R ``concordancefit(y, lp, strata, reverse = TRUE)`` (what
    ``coxph`` reports): comparable pairs are an event and a subject with a longer time
    or censored at the same time, within a stratum; a higher risk score for the earlier
    event is concordant; C = (concordant + tied.x / 2) / (concordant + discordant + tied.x).
    The standard error is R's infinitesimal jackknife (per-subject pair counts).

    For (start, stop] rows (R ``concordance4``) the partners of an event at t are the rows
    at risk at t (start < t), so the rows starting at or after t are taken off both the
    event's counts and, as partners, theirs.

    Case weights (R ``concordancefit(weights =)``): a pair counts w_i w_j; each subject's
    counts are of its partners' weights, and its jackknife term is multiplied by its own
    weight."""
    n = t.size
    w_all = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    C = np.zeros(n)
    D = np.zeros(n)
    T = np.zeros(n)
    tied_y = tied_xy = 0.0
    for lev in np.unique(s):
        idx = np.flatnonzero(s == lev)
        ts, es, xs = t[idx], e[idx], x[idx]
        if es.sum() == 0:
            continue
        tr = np.unique(ts, return_inverse=True)[1].ravel().astype(np.int64)
        vr = np.unique(xs, return_inverse=True)[1].ravel().astype(np.int64)
        # sequence: later times first, censored before events at the same time, and
        # tied events by decreasing risk score; an event's comparable partners are the
        # subjects before it, less the earlier members of its own tied-event group
        a = -2 * tr + es
        order = np.lexsort((-vr, a))
        a_o, e_o, v_o = a[order], es[order].astype(float), vr[order]
        w_o = w_all[idx][order]
        we_o = e_o * w_o
        cw_ex = np.cumsum(w_o) - w_o  # weight of the subjects before each position
        cw_in = cw_ex + w_o
        pos = np.arange(a_o.size)
        gstart = np.maximum.accumulate(np.where(np.r_[True, a_o[1:] != a_o[:-1]], pos, 0))
        key = a_o * (int(vr.max()) + 1) + v_o
        kstart = np.maximum.accumulate(np.where(np.r_[True, key[1:] != key[:-1]], pos, 0))
        last = np.r_[np.flatnonzero(a_o[1:] != a_o[:-1]), a_o.size - 1]
        gend = np.repeat(last, np.diff(np.r_[-1, last]))
        kl = np.r_[np.flatnonzero(key[1:] != key[:-1]), key.size - 1]
        kend = np.repeat(kl, np.diff(np.r_[-1, kl]))
        ev = e_o == 1
        in_before, eq_before = cw_ex - cw_ex[gstart], cw_ex - cw_ex[kstart]
        in_after, eq_after = cw_in[gend] - cw_in, cw_in[kend] - cw_in
        # the event as the earlier member: partners before it in the sequence
        lt, le = _prefix_counts(v_o, w_o)
        less = lt
        leq = le - eq_before
        total = cw_ex - in_before
        ci = np.where(ev, less, 0.0)
        ti = np.where(ev, leq - less, 0.0)
        di = np.where(ev, total - leq, 0.0)
        # every subject as the later member: events after it in the sequence
        lt_r, le_r = _prefix_counts((v_o.max() - v_o)[::-1], we_o[::-1])
        lt_r, le_r = lt_r[::-1], le_r[::-1]
        ev_after = np.cumsum(we_o[::-1])[::-1] - we_o
        own_eq = np.where(ev, eq_after, 0)
        own_all = np.where(ev, in_after, 0)
        cj = lt_r
        tj = le_r - lt_r - own_eq
        dj = ev_after - le_r - (own_all - own_eq)
        back = idx[order]
        C[back] += ci + cj
        T[back] += ti + tj
        D[back] += di + dj
        if start is not None:
            codes = np.unique(np.r_[start[idx], ts], return_inverse=True)[1].ravel()
            c0, c1 = codes[: idx.size], codes[idx.size :]
            dead_i = np.flatnonzero(es == 1)
            wi = w_all[idx]
            # events: partners that start at or after the event are not at risk
            lt, le, tot = _before_counts(c0, vr, c1[dead_i], vr[dead_i], descending=True,
                                         point_w=wi)
            C[idx[dead_i]] -= lt
            T[idx[dead_i]] -= le - lt
            D[idx[dead_i]] -= tot - le
            # partners: events at or before their start are not theirs (scores flipped)
            flip = int(vr.max()) - vr
            gt, ge, tot = _before_counts(c1[dead_i], flip[dead_i], c0, flip, descending=False,
                                         point_w=wi[dead_i])
            C[idx] -= gt
            T[idx] -= ge - gt
            D[idx] -= tot - ge
        # pairs of events at the same time: tied on y (and on x)
        dead = es == 1
        wd = w_all[idx][dead]
        _, g_y = np.unique(ts[dead], return_inverse=True)
        _, g_xy = np.unique(np.column_stack((ts[dead], xs[dead])), axis=0, return_inverse=True)
        pairs_xy = _pair_weight(g_xy.ravel(), wd)
        tied_xy += pairs_xy
        tied_y += _pair_weight(g_y.ravel(), wd) - pairs_xy
    conc, disc, tx = w_all @ C / 2, w_all @ D / 2, w_all @ T / 2
    npair = conc + disc + tx
    counts = {"concordant": conc, "discordant": disc, "tied_x": tx, "tied_y": tied_y,
              "tied_xy": tied_xy}
    if npair == 0:
        return float("nan"), float("nan"), counts
    somer = (conc - disc) / npair
    dfbeta = w_all * ((C - D) - (C + D + T) * somer) / (2 * npair)
    if cluster is not None:
        dfbeta = np.bincount(cluster, dfbeta)
    return (somer + 1) / 2, float(np.sqrt(np.sum(dfbeta**2))), counts

