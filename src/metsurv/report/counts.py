"""The report's counts of patients as every output prints them.

One :class:`~metsurv.report.suppression.Suppression` decides, for each group of patients,
how its count is printed (small-cell suppression, complementary cells); :class:`GroupCounts`
names the groups a report prints (a factor's levels within a subset, a model's complete
cases) so that every table, figure legend and at-risk row asks it for the same group and
gets one answer. The flow of records is printed here too (its read count can give a
suppressed exclusion back).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metsurv.report import figures as F
from metsurv.report import tables as T
from metsurv.report.config import ReportConfig
from metsurv.report.suppression import (
    MISSING,
    Partition,
    Suppression,
    level_key,
    union_links,
)

__all__ = ["GroupCounts", "flow_printed", "read_and_analysed"]


def _digest(rows: Any) -> str:
    """A group's identity: the digest of its rows' positions (the same patients give the
    same digest, whatever column names them)."""
    return hashlib.sha256(np.asarray(rows, np.int64).tobytes()).hexdigest()


@dataclass(frozen=True)
class GroupCounts:
    """The report's counts of patients with the endpoint by one column, within a subset:
    one :class:`~metsurv.report.suppression.Partition` of patients and one of events per
    (subset, column), from the report's :class:`Suppression`. When everyone analysed has
    the endpoint these are Table 1's decisions."""

    supp: Suppression
    data: pd.DataFrame  # the analysed patients with the endpoint known
    time: str
    event: str
    tag: Any  # None: every analysed patient has the endpoint; else the endpoint's name
    #: what the counts of a (subset, column) are, computed once (the data do not change)
    memo: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, cfg: ReportConfig, patients: pd.DataFrame, supp: Suppression) -> GroupCounts:
        known = (patients[cfg.time_column].notna() & patients[cfg.event_column].notna()
                 ).to_numpy(bool)
        if known.all() and isinstance(patients.index, pd.RangeIndex) \
                and patients.index.start == 0 and patients.index.step == 1:
            data = patients  # already what the copy would be: no copy of a million rows
        else:
            data = patients[known].reset_index(drop=True)
        return cls(supp, data, cfg.time_column, cfg.event_column,
                   None if bool(known.all()) else cfg.endpoint)

    def _codes(self, subset: str | None, column: str) -> tuple[np.ndarray, Any]:
        """``pd.factorize`` of ``column`` within ``subset`` (missing: -1), once."""
        key = ("codes", subset, column)
        if key not in self.memo:
            d = T.subset_rows(self.data, subset)
            self.memo[key] = pd.factorize(d[column], use_na_sentinel=True)
        return self.memo[key]

    def identity(self, subset: str | None, column: str | None, level: Any) -> str:
        """Which patients a group is (a digest of their rows): one group drawn in two
        figures, under two names, gets one at-risk decision."""
        key = ("identity", subset, column, level_key(level) if column is not None else None)
        if key in self.memo:
            return self.memo[key]
        d = T.subset_rows(self.data, subset)
        if column is None:
            out = _digest(d.index)
        else:
            codes, uniques = self._codes(subset, column)
            want = [i for i, u in enumerate(uniques) if level_key(u) == level_key(level)]
            out = _digest(d.index[np.isin(codes, want)])
        self.memo[key] = out
        return out

    def shared_at_risk(self, panel: F.KMPanel, subset: str | None, column: str | None
                       ) -> F.KMPanel:
        """``panel`` with its at-risk rows as the report prints them: decided once per
        group and time across the report's figures (Suppression.at_risk)."""
        if not self.supp.k or panel.at_risk is None:
            return panel
        times = [float(t) for t in panel.at_risk.columns]
        rows = []
        for c in panel.curves:
            got = (panel.at_risk.loc[c.label] if c.label in panel.at_risk.index
                   else pd.Series(np.nan, index=panel.at_risk.columns))
            rows.append((self.identity(subset, column, c.level), F.curve_drawn(c, self.supp.k),
                         [None if pd.isna(v) else float(v) for v in got]))
        population = None
        if column is not None:  # the factor's rows add up to its population's
            d = T.subset_rows(self.data, subset)
            t = d[self.time].to_numpy(float)
            entry = (d["entry_months"].fillna(0).to_numpy(float) if "entry_months" in d
                     else np.zeros(len(d)))
            # what a reader knows of the patients without a value: their printed count
            part = self.groups(subset, column)[0]
            how = part.how(None)
            n_missing = part.counts.get(MISSING, 0)
            cap = (n_missing if how is None else self.supp.k - 1 if how == "primary"
                   else len(d))
            valued = d.index[d[column].notna().to_numpy()]
            population = (self.identity(subset, None, None),
                          [int(((t >= x) & (entry < max(x, 1e-12))).sum()) for x in times],
                          cap, _digest(valued))
        printed = self.supp.at_risk(rows, times, population)
        return dataclasses.replace(panel, at_risk_printed=tuple(tuple(r) for r in printed))

    def _key(self, measure: str, subset: str | None, column: str) -> tuple:
        return (measure, subset if self.tag is None else (subset, self.tag), column)

    def groups(self, subset: str | None, column: str) -> tuple[Partition, Partition]:
        """(patients, events) of ``subset`` by ``column``, missing values included."""
        from metsurv.report.config import SUBSETS

        if subset is not None and (SUBSETS[subset][0] == column
                                   or self._everyone_valued(subset, column)):
            # the subset is one of the column's levels (complete resections by completeness)
            # or holds everyone with a value (sarcoma subtype among sarcomas): its groups are
            # the whole cohort's, decided there (by Table 1)
            return self.groups(None, column)
        whole = self.groups(None, column) if subset is not None else None
        n_counts, e_counts = (dict(c) for c in self._level_counts(subset, column))
        d = T.subset_rows(self.data, subset)
        out = []
        for i, (measure, counts) in enumerate((("n", n_counts), ("events", e_counts))):
            links = self._links(measure, subset, column, d)
            latent: dict[Any, int] = {}
            if whole is not None and self.supp.decided(self._key(measure, subset, column)) is None:
                more, latent = self._subset_links(measure, subset, column, counts, whole[i])
                links += more
            out.append(self.supp.partition(self._key(measure, subset, column), counts,
                                           links=links, latent=latent))
        return out[0], out[1]

    def _everyone_valued(self, subset: str, column: str) -> bool:
        """Whether ``subset`` holds every patient with a value of ``column``."""
        key = ("everyone", subset, column)
        if key not in self.memo:
            d = T.subset_rows(self.data, subset)
            self.memo[key] = bool(d[column].notna().sum() == self.data[column].notna().sum())
        return self.memo[key]

    def _level_counts(self, subset: str | None, column: str) -> tuple[dict, dict]:
        """Patients and events of ``subset`` by level key of ``column`` (missing:
        :data:`MISSING` first), counted once."""
        key = ("counts", subset, column)
        if key in self.memo:
            return self.memo[key]
        d = T.subset_rows(self.data, subset)
        # vectorised: level keys of the distinct values only (a million patients)
        codes, uniques = self._codes(subset, column)
        keys = [MISSING] + [level_key(u) for u in uniques]
        n_by = np.bincount(codes + 1, minlength=len(keys))
        e_by = np.bincount(codes + 1, weights=d[self.event].astype(float).to_numpy(),
                           minlength=len(keys))
        n_counts: dict = {}
        e_counts: dict = {}
        for k, n, e in zip(keys, n_by, e_by, strict=True):
            n_counts[k] = n_counts.get(k, 0) + int(n)
            e_counts[k] = e_counts.get(k, 0) + int(round(e))
        self.memo[key] = (n_counts, e_counts)
        return n_counts, e_counts

    def _subset_links(self, measure: str, subset: str, column: str, counts: dict,
                      whole: Partition) -> tuple[list, dict]:
        """A subset's groups against the whole cohort's: each level there is the level in
        the subset plus the level among the others (a group no output prints, but a
        reader can subtract: DFI 0-11 overall minus DFI 0-11 among complete resections),
        and the subset's groups add up to the subset (a level of its defining column)."""
        from metsurv.report.config import SUBSETS

        own = self._key(measure, subset, column)
        whole_key = self._key(measure, None, column)
        scol, sval = SUBSETS[subset]
        defining = self.groups(None, scol)[0 if measure == "n" else 1]
        def_key = self._key(measure, None, scol)
        rest = ("outside", own)
        links, latent = [], {}
        for lev in set(whole.counts) | set(counts):
            latent[rest, lev] = whole.counts.get(lev, 0) - counts.get(lev, 0)
            links.append([((whole_key, lev), 1), ((own, lev), -1), ((rest, lev), -1)])
        if defining is not None:
            links.append([((own, lev), 1) for lev in counts]
                         + [((def_key, level_key(sval)), -1)])
        return links, latent

    def _links(self, measure: str, subset: str | None, column: str, d: pd.DataFrame) -> list:
        """The sums that tie ``column``'s groups to those of columns decided before in the
        same population (complete resection = R0; sarcoma subtypes add up to sarcoma)."""
        own = self._key(measure, subset, column)
        if not self.supp.k or self.supp.decided(own) is not None:
            return []
        out: list = []
        for key in self.supp.decided_keys():
            if (not isinstance(key, tuple) or len(key) != 3 or key[:2] != own[:2]
                    or key[2] == column or key[2] not in d.columns):
                continue
            for level, parts in union_links(d[column], d[key[2]]):
                out.append([((key, level), 1)] + [((own, x), -1) for x in parts])
            for level, parts in union_links(d[key[2]], d[column]):
                out.append([((own, level), 1)] + [((key, x), -1) for x in parts])
        return out

    def subset_size(self, subset: str | None) -> str:
        """The number of patients of ``subset`` as every output prints it."""
        if subset is None:
            return T.suppress_count(len(self.data), self.supp.k)
        from metsurv.report.config import SUBSETS

        col, val = SUBSETS[subset]
        return self.groups(None, col)[0].text(val)

    def complete_cases(self, name: str, n: int, dropped: int, events: int
                       ) -> tuple[Partition, Partition]:
        """A model's patients and events, split into those in the model (level True) and
        those left out for a missing covariate (False): a group too (n = everyone - them).
        Print the model's with ``range_text(True)``: when the left-out are fewer than k it
        is the range a reader can derive anyway."""
        n_part = self.supp.partition(self._key("n", None, name), {True: n, False: dropped})
        total_events = int(self.data[self.event].astype(float).sum())
        e_part = self.supp.partition(self._key("events", None, name),
                                     {True: events, False: max(total_events - events, 0)})
        return n_part, e_part


def flow_printed(flow: pd.DataFrame, k: int) -> pd.DataFrame:
    """The flow of records as printed. Under suppression an excluded count 1..k-1 prints
    as <k, and its table's read count, which would give it away (read = analysed +
    excluded, and the analysed count is every table's n), as the range the suppressed
    cells allow: 198 analysed, <5 excluded -> 199-202 read."""
    out = flow[["table", "step", "reason", "n"]].copy()
    out["reason"] = out["reason"].fillna("")
    printed = []
    for table, step, n in zip(out["table"], out["step"], out["n"], strict=True):
        if step != "read":
            printed.append(T.suppress_count(n, k))
            continue
        excluded = out.loc[(out["table"] == table) & (out["step"] == "excluded"), "n"]
        hidden = [int(v) for v in excluded if k and 0 < v < k]
        if not hidden:
            printed.append(T.suppress_count(n, k))
            continue
        known = int(n) - sum(hidden)
        printed.append(f"{known + len(hidden):,}\u2013{known + len(hidden) * (k - 1):,}")
    out["n"] = printed
    return out


def read_and_analysed(cohort: Any, k: int) -> tuple[str, str]:
    """The patients table's read and analysed counts as the flow table prints them."""
    flow = flow_printed(cohort.flow, k)
    rows = flow[flow["table"] == "patients"].set_index("step")["n"]
    return (rows.get("read", T.suppress_count(cohort.n_read, k)),
            rows.get("analysed", T.suppress_count(cohort.n_analysed, k)))
