"""Sorted risk sets and the vectorised sums over them: log partial likelihood, score,
information and score residuals (R ``coxfit6``/``agfit4`` sums, ``coxscore2``/``agscore3``)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class _Stratum:
    """One stratum, rows sorted by time: block = run of equal times."""

    rows: slice  # its rows in the sorted arrays
    starts: np.ndarray  # first row (relative) of each block
    block: np.ndarray  # block of each row
    ev_blocks: np.ndarray  # blocks with >= 1 death
    d: np.ndarray  # deaths per event block
    sub_block: np.ndarray  # event block (position in ev_blocks) of each Efron sub-step
    frac: np.ndarray  # k / d of each sub-step (0 for Breslow)
    dead_rows: np.ndarray  # rows (relative) with an event
    dead_block: np.ndarray  # their event block (position in ev_blocks)
    sub_w: np.ndarray  # weight of each sub-step: mean case weight of its tied deaths
    # (start, stop] data only: rows (relative) by start time; for each event block the
    # position in that order from which rows start at or after it (not yet at risk); for
    # each row the number of event blocks at or before its start
    start_order: np.ndarray | None = None
    late: np.ndarray | None = None
    ev_before: np.ndarray | None = None
    ev_upto: np.ndarray | None = None  # event blocks at or before each row's stop


class _Risk:
    """Sorted data and the vectorised sums over risk sets that every quantity needs.

    Right-censored data: the risk set at t is every row with time >= t, a reverse
    cumulative sum. Counting-process data (``start`` given): rows with start < t <= stop,
    i.e. that sum less the rows that start at or after t (R ``agfit4`` keeps the same two
    running sums)."""

    def __init__(self, X: np.ndarray, t: np.ndarray, e: np.ndarray, s: np.ndarray,
                 efron: bool, start: np.ndarray | None = None, w: np.ndarray | None = None,
                 code: np.ndarray | None = None, counts: bool = False,
                 patterns: tuple[np.ndarray, np.ndarray] | None = None):
        # code (optional): each time's index among the distinct sorted times
        # (SurvivalData.time_code), which sorts the rows as t does, but faster.
        # counts: each row stands for w identical unweighted rows (see collapsed_risk): the
        # sums are weighted by w, but each death is one Efron sub-step of weight 1.
        # patterns: _patterns(X) when the caller has it
        order = _order(t, s, code)
        self.order = order
        self.t, self.e = t[order], e[order].astype(float)
        # one stratum (the usual case): every row's code is the same, sorted or not
        self.s = s.copy() if s.size and s.min() == s.max() else s[order]
        self.start = None if start is None else start[order]
        # case weights (R weights =): every row's risk score and every death carry its
        # weight; unweighted data take weight 1 through the same arithmetic (one path)
        self.w = np.ones(t.size) if w is None else np.asarray(w, dtype=float)[order]
        self.unweighted = w is None
        self.we = self.w * self.e
        self.p = X.shape[1]
        self.pairs = [(j, k) for j in range(self.p) for k in range(j + 1)]
        self.strata: list[_Stratum] = []
        bounds = np.flatnonzero(np.diff(self.s)) + 1
        # a large right-censored design with few distinct rows (factors only): rows are
        # gathered from the table of distinct rows, which stays in cache, and the Newton
        # steps use it (_block_derivs)
        pattern = None
        if start is None and t.size >= LARGE_ROWS and self.p:
            codes, first = _patterns(X) if patterns is None else patterns
            if first.size <= t.size // 8:
                pattern = (codes[order], X[first])
        self._pattern_cache: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
        Xc = np.empty(X.shape, dtype=float, order="F")  # columns contiguous for the sums
        if pattern is None:
            # row-major, as R's sums over rows run (the weighted means below are then the
            # same BLAS product, bit for bit, whatever the design's memory layout)
            Xs = np.ascontiguousarray(X[order])
        else:  # the rows are read from the small table: no sorted copy of X is made
            Xs = None
        # centring changes nothing but roundoff; per stratum, so that a column constant
        # within every stratum is exactly 0 (its information exactly 0, not roundoff)
        for i, (lo, hi) in enumerate(zip(np.r_[0, bounds], np.r_[bounds, self.s.size],
                                         strict=True)):
            ww = self.w[lo:hi]
            tot = ww.sum()
            if pattern is None:
                mean = (ww @ Xs[lo:hi]) / tot if tot > 0 else Xs[lo:hi].mean(axis=0)
                Xc[lo:hi] = Xs[lo:hi] - mean
                continue
            codes, table = pattern[0][lo:hi], pattern[1]
            per = np.bincount(codes, ww, table.shape[0])
            mean = (per @ table) / tot if tot > 0 else table[codes].mean(axis=0)
            centred = np.asfortranarray(table - mean)
            for j in range(self.p):
                Xc[lo:hi, j] = centred[:, j][codes]
            self._pattern_cache[i] = (codes, centred)
        self.X = Xc
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, self.s.size], strict=True):
            tt, ee = self.t[lo:hi], self.e[lo:hi]
            starts = np.r_[0, np.flatnonzero(np.diff(tt)) + 1]
            block = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, tt.size]))
            deaths = np.add.reduceat(ee * self.w[lo:hi] if counts else ee, starts)
            ev_blocks = np.flatnonzero(deaths > 0)
            d = deaths[ev_blocks].astype(np.int64)
            sub_block = np.repeat(np.arange(d.size), d)
            k = np.arange(sub_block.size) - np.repeat(np.cumsum(d) - d, d)
            frac = k / np.repeat(d, d) if efron else np.zeros(k.size)
            dead_rows = np.flatnonzero(ee > 0)
            pos = np.full(starts.size, -1)
            pos[ev_blocks] = np.arange(ev_blocks.size)
            # R: each of the d sub-steps of a tied time carries the mean weight of its
            # deaths (Efron), d sub-steps of that weight make Breslow's deadwt
            deadwt = np.bincount(pos[block[dead_rows]], self.w[lo:hi][dead_rows], d.size)
            sub_w = np.ones(sub_block.size) if counts else (deadwt / d)[sub_block]
            entry: dict[str, np.ndarray] = {}
            if self.start is not None:
                t0 = self.start[lo:hi]
                start_order = np.argsort(t0, kind="stable")
                ev_times = tt[starts[ev_blocks]]
                entry = {"start_order": start_order,
                         "late": np.searchsorted(t0[start_order], ev_times, side="left"),
                         "ev_before": np.searchsorted(ev_times, t0, side="right"),
                         "ev_upto": np.searchsorted(ev_times, tt, side="right")}
            self.strata.append(
                _Stratum(slice(int(lo), int(hi)), starts, block, ev_blocks, d, sub_block, frac,
                         dead_rows, pos[block[dead_rows]], sub_w, **entry)
            )
        if pattern is None:
            self.scale = self._r_scale(Xs)
        else:  # the same sums over the distinct rows, each weighted by its rows' total
            self.scale = self._r_scale(pattern[1], np.bincount(pattern[0], self.w,
                                                               pattern[1].shape[0]))
        self.flat = self._flat(Xs) if pattern is None else self._flat_table(*pattern)

    def _flat_table(self, codes: np.ndarray, table: np.ndarray) -> np.ndarray:
        """:meth:`_flat` of right-censored rows given as ``codes`` (sorted rows) into the
        ``table`` of distinct rows: the values at risk at the first event time of each
        stratum are the table rows whose codes occur from that row on."""
        flat = np.ones(self.p, dtype=bool)
        for st in self.strata:
            if st.d.size == 0:
                continue
            first = st.rows.start + int(st.starts[st.ev_blocks[0]])
            present = table[np.bincount(codes[first:st.rows.stop],
                                        minlength=table.shape[0]) > 0]
            flat &= present.max(axis=0) == present.min(axis=0)
        return flat

    def _flat(self, Xs: np.ndarray) -> np.ndarray:
        """Columns that take one value within the risk set of every event time (constant
        within every stratum, or e.g. equal among the rows still at risk at the only event
        time): the likelihood does not depend on them and their score and information are
        exactly 0. Computed they are roundoff, which the relative Cholesky tolerance
        cannot always tell from 0: on a monotone likelihood the other diagonals shrink
        towards 0 with each step and a roundoff pivot of 1e-17 passes, so the column gets
        Newton steps of roundoff over roundoff and a finite coefficient where R's running
        sums (``coxfit6``/``agfit4``) give a zero pivot and NA. Found exactly here (equal
        values, no arithmetic), so :meth:`derivs` returns their 0s exactly."""
        flat = np.ones(self.p, dtype=bool)
        for st in self.strata:
            if st.d.size == 0:
                continue
            x = Xs[st.rows]
            if st.start_order is None:  # risk set at block b: rows from starts[b] on
                # the risk sets are nested: one value in the largest (the first event
                # time's) is one value in every one of them
                first = int(st.starts[st.ev_blocks[0]])
                flat &= x[first:].max(axis=0) == x[first:].min(axis=0)
                continue
            # (start, stop] rows: count the rows at risk at each event time that have the
            # value of a death at that time (ranks of values and times: exact integers)
            tt = self.t[st.rows]
            t0 = self.start[st.rows]
            ev_t = tt[st.starts[st.ev_blocks]]
            times = np.unique(np.r_[t0, tt])
            r0, r1 = np.searchsorted(times, t0), np.searchsorted(times, tt)
            re = np.searchsorted(times, ev_t)
            span = times.size + 1
            ref = st.dead_rows[np.r_[0, np.flatnonzero(np.diff(st.dead_block)) + 1]]
            n_risk = None
            for j in np.flatnonzero(flat):
                _, q = np.unique(x[:, j], return_inverse=True)
                q = q.ravel().astype(np.int64)
                qe = q[ref]
                k0 = np.sort(q * span + r0)
                k1 = np.sort(q * span + r1)
                # rows with this value and start < t, less those with stop < t
                same = (np.searchsorted(k0, qe * span + re) - np.searchsorted(k0, qe * span)
                        - np.searchsorted(k1, qe * span + re) + np.searchsorted(k1, qe * span))
                if n_risk is None:
                    n_risk = (np.searchsorted(np.sort(r0), re)
                              - np.searchsorted(np.sort(r1), re))
                flat[j] = bool((same == n_risk).all())
        return flat

    def _r_scale(self, Xs: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
        """R's column scaling (``coxfit6``/``agfit4`` ``doscale``): sum(w) / sum(w |x - c|).
        Only the Cholesky tolerance sees it (it is relative to the largest diagonal of the
        scaled information), so it decides, as in R, which nearly dependent column is
        declared non-estimable. c is the weighted mean for right-censored data; agfit4
        subtracts the value of its first used row (R code as it is: the per-stratum
        mean is overwritten by the first row's value) and uses only the rows whose
        interval holds an event time of their stratum."""
        if self.p == 0:
            return np.ones(0)
        w = self.w if w is None else w  # w: the weights of Xs's rows, when not self.w
        if self.start is None:
            c = (w @ Xs) / w.sum()
            dev = (w @ np.abs(Xs - c))
            tot = w.sum()
            return np.where(dev > 0, tot / np.where(dev > 0, dev, 1.0), 1.0)
        else:
            used = np.zeros(Xs.shape[0], dtype=bool)
            for st in self.strata:
                used[st.rows] = st.ev_upto > st.ev_before
            rows = np.flatnonzero(used)
            if rows.size == 0:
                return np.ones(self.p)
            # R agreg.fit: order(ignore, strata, -stop): first used row of the first
            # stratum with the largest stop time (the earliest row among ties)
            orig = self.order[rows]
            first = rows[np.lexsort((orig, -self.t[rows], self.s[rows]))[0]]
            c = Xs[first]
        dev = (w[rows] @ np.abs(Xs[rows] - c))
        tot = w[rows].sum()
        return np.where(dev > 0, tot / np.where(dev > 0, dev, 1.0), 1.0)

    def subset(self, cols: np.ndarray) -> _Risk:
        """The same risk sets with only the columns ``cols`` of X (R cox.zph without the
        NA coefficients' columns)."""
        out = copy.copy(self)
        out.__dict__.pop("_we_x_cache", None)
        out._pattern_cache = {}
        out.__dict__.pop("_count_cache", None)
        out.X = np.asfortranarray(self.X[:, cols])
        out.p = int(len(cols))
        out.pairs = [(j, k) for j in range(out.p) for k in range(j + 1)]
        out.scale = self.scale[cols]
        out.flat = self.flat[cols]
        return out

    def _sums(self, st: _Stratum, w: np.ndarray,
              pick: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Risk-set sum and deaths-only sum of ``w`` at each event block.

        (start, stop] rows: the rows at risk at t are those with stop >= t less those with
        start >= t (A), or equally those with start < t less those with stop < t (B).
        Either is a difference of two cumulative sums, which loses the digits of a small
        risk set beside large totals (one patient left at risk, or a risk score near 0
        when a coefficient runs off to infinity); ``pick`` (from :meth:`_pick`) says
        where B has the smaller terms, so each risk set is summed with the digits R's
        running sums keep."""
        per_block = w if st.starts.size == w.size else np.add.reduceat(w, st.starts)
        at_risk = np.cumsum(per_block[::-1])[::-1][st.ev_blocks]
        if st.start_order is not None:
            later = np.cumsum(w[st.start_order][::-1])[::-1]
            at_risk = at_risk - np.r_[later, 0.0][st.late]
            if pick is not None and pick.any():
                started = np.r_[0.0, np.cumsum(w[st.start_order])][st.late]
                ended = np.r_[0.0, np.cumsum(per_block)][st.ev_blocks]
                at_risk = np.where(pick, started - ended, at_risk)
        dead = np.bincount(st.dead_block, w[st.dead_rows], st.d.size)
        return at_risk, dead

    @staticmethod
    def _pick(st: _Stratum, r: np.ndarray) -> np.ndarray | None:
        """Event blocks where form B of :meth:`_sums` has smaller terms than form A, judged
        on the (positive) risk scores ``r``."""
        if st.start_order is None:
            return None
        per_block = r if st.starts.size == r.size else np.add.reduceat(r, st.starts)
        mag_a = np.cumsum(per_block[::-1])[::-1][st.ev_blocks]
        mag_b = np.r_[0.0, np.cumsum(r[st.start_order])][st.late]
        return mag_b < mag_a

    def steps(
        self, beta: np.ndarray, st: _Stratum, second: bool = False,
        pair: Callable[[int, int, np.ndarray], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Per Efron sub-step: denominator and weighted mean of x; with ``second`` the
        information (summed) and each sub-step's weighted covariance ``v{j}_{k}`` (cox.zph
        weights them by g(t); the fit itself uses :meth:`information`), or, with ``pair``,
        each covariance handed to ``pair(j, k, v)`` as it is computed instead of kept (p
        (p + 1) / 2 arrays of one value per sub-step would be kept otherwise). ``r`` is
        the risk score times the case weight, ``ex`` the risk score alone.

        A large unweighted right-censored stratum with few distinct rows (a factor design)
        takes every risk-set sum from the counts of each distinct row at risk
        (:meth:`_pattern_counts`) instead of a pass over the rows per sum: the same sums
        added in another order (about 1e-15 relative; at a million patients cox.zph of a
        four-factor model 0.85 s -> 0.2 s)."""
        counted = self._pattern_counts(st)
        if counted is None:
            X = self.X[st.rows]
            eta = _lp(X, beta)
            ex = np.exp(eta)
            # times a weight of 1 is the number itself: unweighted data skip the product
            r = ex if self.unweighted else ex * self.w[st.rows]
            pick = self._pick(st, r)
            rx: list[np.ndarray] = []  # second: r x_j kept for the pairs

            def first(j: int) -> tuple[np.ndarray, np.ndarray]:
                rxj = r * X[:, j]
                if second:
                    rx.append(rxj)
                return self._sums(st, rxj, pick)

            def product(j: int, k: int) -> tuple[np.ndarray, np.ndarray]:
                return self._sums(st, rx[j] * X[:, k], pick)

            S0, D0 = self._sums(st, r, pick)
        else:
            codes, table, at_risk, dead = counted
            eta_p = _lp(table, beta)
            ex_p = np.exp(eta_p)
            eta, ex, pick = eta_p[codes], ex_p[codes], None
            r = ex
            # each distinct row's r, r x_j and (second) r x_j x_k, summed by the counts
            funcs = [ex_p, *(ex_p * table[:, j] for j in range(self.p))]
            if second:
                funcs += [funcs[1 + j] * table[:, k] for j, k in self.pairs]
            F = np.column_stack(funcs)
            S, D = at_risk @ F, dead @ F
            S0, D0 = S[:, 0], D[:, 0]
            at_pair = {jk: 1 + self.p + m for m, jk in enumerate(self.pairs)}

            def first(j: int) -> tuple[np.ndarray, np.ndarray]:
                return S[:, 1 + j], D[:, 1 + j]

            def product(j: int, k: int) -> tuple[np.ndarray, np.ndarray]:
                return S[:, at_pair[(j, k)]], D[:, at_pair[(j, k)]]

        sb, frac = st.sub_block, st.frac
        denom = S0[sb] - frac * D0[sb]
        # columns contiguous where the sums come from the counts (large data: the pairs
        # below read them in place); rows contiguous otherwise, as the row sums have
        # always been multiplied out (the same bits as before)
        mean = np.empty((sb.size, self.p), order="C" if counted is None else "F")
        for j in range(self.p):
            S1, D1 = first(j)
            mean[:, j] = (S1[sb] - frac * D1[sb]) / denom
        out = {"eta": eta, "ex": ex, "r": r, "denom": denom, "mean": mean, "pick": pick}
        if second:
            cov = np.empty((self.p, self.p))
            for j, k in self.pairs:
                S2, D2 = product(j, k)
                # the columns of mean read in place (elementwise: the same numbers as from
                # contiguous copies, without a second (sub-steps x p) array)
                v = (S2[sb] - frac * D2[sb]) / denom - mean[:, j] * mean[:, k]
                if pair is None:
                    out[f"v{j}_{k}"] = v
                else:
                    pair(j, k, v)
                cov[j, k] = cov[k, j] = st.sub_w @ v
            out["info"] = cov
        return out

    def _pattern_counts(self, st: _Stratum
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """For :meth:`steps`: (each row's code among the stratum's distinct rows, the table
        of distinct rows, how many rows of each are at risk at each event time (shape
        (event times, distinct rows)), how many of each die then), or None where the sums
        over rows are kept: weighted or (start, stop] data, fewer than ``LARGE_ROWS``
        rows, more than one distinct row in 8, or a count table of more than
        ``PATTERN_COUNTS_MAX`` cells. Independent of beta: found once per stratum."""
        i = next(k for k, other in enumerate(self.strata) if other is st)
        cache = self.__dict__.setdefault("_count_cache", {})
        if i in cache:
            return cache[i]
        out = None
        if (st.start_order is None and self.unweighted and st.d.size
                and st.rows.stop - st.rows.start >= LARGE_ROWS):
            pattern = self._row_patterns(i, st)
            if pattern is not None and st.d.size * pattern[1].shape[0] <= PATTERN_COUNTS_MAX:
                codes, table = pattern
                n_pat, ne = table.shape[0], st.d.size
                # a row is at risk at every event time up to its own: the last event block
                # at or before its block (-1: before the first event, never at risk)
                last = np.searchsorted(st.ev_blocks, np.arange(st.starts.size), side="right")
                last = (last - 1)[st.block]
                ok = last >= 0
                ending = np.bincount(last[ok] * n_pat + codes[ok], minlength=ne * n_pat)
                at_risk = np.cumsum(ending.reshape(ne, n_pat)[::-1], axis=0)[::-1]
                dead = np.bincount(st.dead_block * n_pat + codes[st.dead_rows],
                                   minlength=ne * n_pat).reshape(ne, n_pat)
                out = (codes, table, at_risk.astype(float), dead.astype(float))
        cache[i] = out
        return out

    def information(self, st: _Stratum, z: dict[str, np.ndarray]) -> np.ndarray:
        """The information of one stratum, sum over sub-steps of the weighted covariance
        of x (each sub-step weighted by its mean death weight c_i), without a risk-set sum
        per pair of columns: with a_i = c_i / denom_i and b_i = c_i frac_i / denom_i, sum_i (S2 - frac_i D2) a_i regroups into one weight per
        row, r times the a's of the risk sets the row belongs to (less the b's of its own
        sub-steps for a death), so the whole matrix is X' W X - M'M (two products instead
        of p(p + 1) / 2 passes over the rows)."""
        X, r, mean = self.X[st.rows], z["r"], z["mean"]
        ne = st.d.size
        c = st.sub_w / z["denom"]
        a = np.bincount(st.sub_block, c, ne)
        b = np.bincount(st.sub_block, st.frac * c, ne)
        if st.ev_before is None:  # event blocks at or before the row's time
            cum_a = np.zeros(st.starts.size)
            cum_a[st.ev_blocks] = a
            # each block's value repeated over its rows (= cumsum[st.block], faster)
            w = np.repeat(np.cumsum(cum_a), np.diff(np.r_[st.starts, X.shape[0]]))
        else:  # event blocks inside the row's (start, stop]
            w = _window(a, st.ev_before, st.ev_upto, a)
        w = w * r
        w[st.dead_rows] -= r[st.dead_rows] * b[st.dead_block]
        return X.T @ (X * w[:, None]) - mean.T @ (mean * st.sub_w[:, None])

    def derivs(self, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log partial likelihood, score and information at ``beta``."""
        ll, U, info = 0.0, np.zeros(self.p), np.zeros((self.p, self.p))
        for i, st in enumerate(self.strata):
            if st.d.size == 0:
                continue
            if st.start_order is None and st.rows.stop - st.rows.start >= LARGE_ROWS:
                ll_s, U_s, info_s = self._block_derivs(i, st, beta)
                ll, U, info = ll + ll_s, U + U_s, info + info_s
                continue
            z = self.steps(beta, st)
            we = self.we[st.rows]
            ll += float(we @ z["eta"] - st.sub_w @ np.log(z["denom"]))
            U += self._we_x(i, st) - st.sub_w @ z["mean"]
            info += self.information(st, z)
        if self.flat.any():  # exactly 0, not roundoff (see _flat)
            U[self.flat] = 0.0
            info[self.flat, :] = 0.0
            info[:, self.flat] = 0.0
        return ll, U, info

    def _block_derivs(self, i: int, st: _Stratum, beta: np.ndarray
                      ) -> tuple[float, np.ndarray, np.ndarray]:
        """:meth:`derivs` of one large right-censored stratum, with the Efron sub-steps
        summed per tied time before any column is touched.

        Why: with d tied deaths at a time, the d sub-steps share the time's risk-set sums
        (S0, S1, S2) and deaths' sums (D0, D1); sub-step k divides by
        denom_k = S0 - f_k D0 (f_k = k / d). Its mean of x is (S1 - f_k D1) / denom_k, so
        the sum of the means over the d sub-steps is S1 A - D1 F with A = sum c_k,
        F = sum f_k c_k (c_k = weight / denom_k), and the sum of their outer products is
        S1 S1' C0 - (S1 D1' + D1 S1') C1 + D1 D1' C2 with C_m = sum f_k^m c_k / denom_k.
        A registry of a million patients has about 70 deaths per recorded day: the
        per-column work is then per time (thousands) instead of per death (hundreds of
        thousands). The same quantities as :meth:`steps` and :meth:`information`, summed
        in another order (agreement about 1e-13 relative, tested)."""
        X = self.X[st.rows]
        pattern = self._row_patterns(i, st)
        if pattern is None:
            eta = _lp(X, beta)
        else:  # identical rows share one score, computed once
            codes, table = pattern
            eta = _lp(table, beta)[codes]
        ex = np.exp(eta)
        r = ex if self.unweighted else ex * self.w[st.rows]
        S0, D0 = self._sums(st, r)
        sb, frac, sw = st.sub_block, st.frac, st.sub_w
        ne = st.d.size
        denom = S0[sb] - frac * D0[sb]
        c = sw / denom
        c2 = c / denom
        A = np.bincount(sb, c, ne)
        F = np.bincount(sb, frac * c, ne)
        C0 = np.bincount(sb, c2, ne)
        C1 = np.bincount(sb, frac * c2, ne)
        C2 = np.bincount(sb, frac * frac * c2, ne)
        S1 = np.empty((ne, self.p))
        D1 = np.empty((ne, self.p))
        for j in range(self.p):
            S1[:, j], D1[:, j] = self._sums(st, r * X[:, j])
        ll = float(self.we[st.rows] @ eta - sw @ np.log(denom))
        U = self._we_x(i, st) - (S1.T @ A - D1.T @ F)
        # rows' weights in X' W X, as in :meth:`information`
        cum_a = np.zeros(st.starts.size)
        cum_a[st.ev_blocks] = A
        w = np.repeat(np.cumsum(cum_a), np.diff(np.r_[st.starts, X.shape[0]])) * r
        w[st.dead_rows] -= r[st.dead_rows] * F[st.dead_block]
        if pattern is None:
            xwx = X.T @ (X * w[:, None])
        else:  # sum of the weights per distinct row, then one small product
            xwx = table.T @ (table * np.bincount(codes, w, table.shape[0])[:, None])
        mm = (S1.T @ (S1 * C0[:, None]) - S1.T @ (D1 * C1[:, None])
              - D1.T @ (S1 * C1[:, None]) + D1.T @ (D1 * C2[:, None]))
        return ll, U, xwx - mm

    def _row_patterns(self, i: int, st: _Stratum) -> tuple[np.ndarray, np.ndarray] | None:
        """Stratum i's rows as codes into its table of distinct (centred) rows, when there
        are few (at most 1 in 8 rows: factor designs); else None. Set by ``__init__`` for
        large data, found here (once) for the cells of :func:`collapsed_risk`."""
        cache = self._pattern_cache
        if i not in cache:
            X = self.X[st.rows]
            codes, first = _patterns(X)
            cache[i] = (codes, X[first]) if first.size <= X.shape[0] // 8 else None
        return cache[i]

    def _we_x(self, i: int, st: _Stratum) -> np.ndarray:
        """sum of the deaths' (weighted) x in stratum i: the same at every iteration, so
        computed once (the same product each time)."""
        cache = self.__dict__.setdefault("_we_x_cache", {})
        key = (i, id(self.X))
        if key not in cache:
            cache[key] = self.we[st.rows] @ self.X[st.rows]
        return cache[key]

    def score_residuals(self, beta: np.ndarray) -> np.ndarray:
        """Score residuals (rows in sorted order), Efron-aware as R ``coxscore2`` (and
        ``agscore3`` for (start, stop] rows, which take only the event times inside their
        interval): a death at a tied time receives only the fraction (1 - k/d) of the k-th
        sub-step. With case weights the hazard increments are the weighted ones and each
        row's residual is multiplied by its weight (R ``residuals(type = "score",
        weighted = TRUE)``, what the robust variance uses)."""
        res = np.zeros((self.t.size, self.p))
        for st in self.strata:
            X = self.X[st.rows]
            if st.d.size == 0:
                continue
            z = self.steps(beta, st)
            h = st.sub_w / z["denom"]
            hd = (1.0 - st.frac) * h
            nb, ne = st.starts.size, st.d.size
            H = np.zeros(nb)
            G = np.zeros((nb, self.p))
            H[st.ev_blocks] = np.bincount(st.sub_block, h, ne)
            Hd = np.bincount(st.sub_block, hd, ne)
            M = np.zeros((ne, self.p))
            Gd = np.zeros((ne, self.p))
            for j in range(self.p):
                G[st.ev_blocks, j] = np.bincount(st.sub_block, h * z["mean"][:, j], ne)
                Gd[:, j] = np.bincount(st.sub_block, hd * z["mean"][:, j], ne)
                M[:, j] = np.bincount(st.sub_block, z["mean"][:, j], ne) / st.d
            b = st.block
            if st.ev_before is None:
                Hi, Gi = np.cumsum(H)[b], np.cumsum(G, axis=0)[b]
            else:  # only the event times inside the row's (start, stop]
                He = H[st.ev_blocks]
                Hi = _window(He, st.ev_before, st.ev_upto, He)
                Gi = _window(G[st.ev_blocks], st.ev_before, st.ev_upto, He)
            # deaths: replace the full share of their own time by the Efron share
            dead, eb = st.dead_rows, st.dead_block
            Hi[dead] += Hd[eb] - H[b[dead]]
            Gi[dead] += Gd[eb] - G[b[dead]]
            out = -z["ex"][:, None] * (X * Hi[:, None] - Gi)
            out[dead] += X[dead] - M[eb]
            res[st.rows] = out * self.w[st.rows, None]
        return res


#: rows of a right-censored stratum from which :meth:`_Risk.derivs` sums the Efron
#: sub-steps per tied time first (:meth:`_Risk._block_derivs`)
LARGE_ROWS = 20_000
#: largest table of counts (event times x distinct rows) from which :meth:`_Risk.steps`
#: sums a large stratum by distinct rows (4M cells: 32 MB)
PATTERN_COUNTS_MAX = 4_000_000
#: fewest rows for which :func:`collapsed_risk` is tried: below it the full sums are cheap,
#: and R's own order of summation (row by row) is kept exactly
COLLAPSE_MIN_ROWS = 20_000
#: the collapsed sets are used only when they have at most this share of the rows
COLLAPSE_MAX_SHARE = 0.25


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's code among the distinct values (in order of first appearance) and the
    first row of each code: a hash pass (``pandas.factorize``), not a sort."""
    codes, _ = pd.factorize(values, sort=False)
    codes = codes.astype(np.int64, copy=False)
    if codes.size == 0:
        return codes, np.zeros(0, dtype=np.int64)
    # codes are numbered as they first appear: a first appearance raises the running max
    top = np.maximum.accumulate(codes)
    return codes, np.flatnonzero(np.r_[True, top[1:] > top[:-1]])


def _patterns(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code among the distinct rows of X (shape (n,), int64, in order of first
    appearance) and the first row of each, from the columns' codes combined in mixed
    radix (re-coded whenever the radix would pass 2**40, so the key never overflows)."""
    key = np.zeros(X.shape[0], dtype=np.int64)
    size = 1
    for j in range(X.shape[1]):
        code, first = _distinct(X[:, j])
        if size * first.size >= 2**40:
            key, kfirst = _distinct(key)
            size = kfirst.size
        key = key * first.size + code
        size *= first.size
    return _distinct(key)


def design_patterns(X: np.ndarray, start: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """``_patterns(X)`` when :class:`_Risk` or :func:`collapsed_risk` can use it (right-
    censored data of at least ``LARGE_ROWS`` rows, read at each call), else None."""
    if start is not None or X.shape[0] < min(LARGE_ROWS, COLLAPSE_MIN_ROWS) or not X.shape[1]:
        return None
    return _patterns(X)


def collapsed_risk(X: np.ndarray, t: np.ndarray, e: np.ndarray, s: np.ndarray, efron: bool,
                   code: np.ndarray, min_rows: int | None = None,
                   max_share: float | None = None,
                   patterns: tuple[np.ndarray, np.ndarray] | None = None) -> _Risk | None:
    """The risk sets of unweighted right-censored rows with one row per cell of identical
    rows (same stratum, time, event and covariate values), weighted by its count; None when
    there are fewer than ``min_rows`` rows or more than ``max_share`` of them as cells.

    Why: factor-only models (the IRLM battery's univariable fits, a model of four factors)
    on a large registry have a few thousand distinct (time, pattern) cells among a million
    rows, and every sum of the Newton steps depends on the rows only through them. The
    log-likelihood, score and information are R ``coxfit6``'s: each death is still one
    Efron sub-step (d per tied time), a death cell of count c adds c to the deaths' sum,
    and the risk-set sums are the counts times the risk scores. Only the order of the
    floating-point additions differs from row-by-row sums (about 1e-15 relative).

    Parameters
    ----------
    X : ndarray, shape (n, p)
    t, e, s, code : ndarray, shape (n,)
        Times, 0/1 events, stratum codes, each time's rank among the distinct times.
    efron : bool
    patterns : tuple of ndarray, optional
        ``_patterns(X)``, when the caller has it.
    min_rows, max_share : optional
        When to collapse (see above); default the module's ``COLLAPSE_MIN_ROWS`` and
        ``COLLAPSE_MAX_SHARE``, read at each call.

    Returns
    -------
    _Risk or None
    """
    min_rows = COLLAPSE_MIN_ROWS if min_rows is None else min_rows
    max_share = COLLAPSE_MAX_SHARE if max_share is None else max_share
    n = t.size
    if n < min_rows:
        return None
    n_codes = int(code.max()) + 1 if n else 1
    cell = ((np.asarray(s, dtype=np.int64) * n_codes + code) * 2
            + (np.asarray(e) > 0)) * 1  # (stratum, time, event)
    pattern, pat_first = _patterns(X) if patterns is None else patterns
    if pat_first.size > max_share * n or int(cell.max()) >= 2**62 // pat_first.size:
        return None
    codes, first = _distinct(cell * pat_first.size + pattern)
    if first.size > max_share * n:
        return None
    count = np.bincount(codes, minlength=first.size).astype(float)
    return _Risk(X[first], t[first], e[first], s[first], efron, w=count, code=code[first],
                 counts=True)


class _LazyRisk:
    """A :class:`_Risk` built on first use from the arguments given (what the fit keeps for
    cox.zph, residuals and survfit when it was itself fitted on :func:`collapsed_risk`)."""

    def __init__(self, *args, **kwargs):
        self._args, self._kwargs, self._risk = args, kwargs, None

    def __getattr__(self, name: str):
        if name in ("_args", "_kwargs", "_risk"):  # not set yet (copy, pickle)
            raise AttributeError(name)
        if self._risk is None:
            from ..._blas import one_blas_thread

            with one_blas_thread():  # as the fit: the same bits on any machine
                self._risk = _Risk(*self._args, **self._kwargs)
            self._args = self._kwargs = None
        return getattr(self._risk, name)


def _order(t: np.ndarray, s: np.ndarray, code: np.ndarray | None) -> np.ndarray:
    """The rows by stratum, then time, ties in row order: ``np.lexsort((t, s))``. With the
    times' codes (ranks among the distinct times), the same permutation from one stable
    sort of the integer key ``s * n_codes + code``, a radix sort when the key fits 16 bits
    (at a million rows about 8x faster than the lexsort)."""
    if code is None or code.size == 0:
        return np.lexsort((t, s))
    n_codes = int(code.max()) + 1
    key = np.asarray(s, dtype=np.int64) * n_codes + code
    if int(key.max()) < 2**16:
        return np.argsort(key.astype(np.uint16), kind="stable")
    return np.argsort(key, kind="stable")


def _window(vals: np.ndarray, lo: np.ndarray, hi: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """sum(vals[lo:hi]) for each row (event blocks inside its (start, stop]), from the
    forward cumulative sum or the backward one, whichever has the smaller terms by the
    positive per-event magnitudes ``mag`` (a difference of two large sums loses digits)."""
    zero = np.zeros((1, *vals.shape[1:]))
    fwd = np.concatenate([zero, np.cumsum(vals, axis=0)])
    bwd = np.concatenate([np.cumsum(vals[::-1], axis=0)[::-1], zero])
    f_mag = np.r_[0.0, np.cumsum(mag)][hi]
    b_mag = np.r_[np.cumsum(mag[::-1])[::-1], 0.0][lo]
    use_b = b_mag < f_mag
    if vals.ndim > 1:
        use_b = use_b[:, None]
    return np.where(use_b, bwd[lo] - bwd[hi], fwd[hi] - fwd[lo])


def _lp(X: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """X @ beta column by column: elementwise arithmetic, so identical covariate rows get
    bit-identical scores (BLAS may round rows differently, which would break ties in the
    concordance)."""
    out = np.zeros(X.shape[0])
    for j, b in enumerate(beta):
        out += X[:, j] * b
    return out

