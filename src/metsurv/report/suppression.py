"""Small-cell suppression that holds across a whole report.

Counts 1..k-1 of patients are printed "<k" (primary suppression), and a count that a
total would give back is hidden as well (secondary, printed :data:`SECONDARY`):
:func:`protect_cells` decides both for one set of linked counts. A report prints the same
patient group in many places: the incomplete resections are a Table 1 column, a row of the
survival table and of the IRLM battery, a curve and an at-risk row, a published-comparison
row. If each output hid its own cells its own way, one output's shown cell would be another
output's hidden one, and the hidden group would come back by subtraction. So a report keeps
one :class:`Suppression`: every count of a group of patients is printed through one
*partition* (a population split by one column, every level and the missing ones), decided
once and shared by every output that prints any of its cells. See docs/report.md,
"Small-cell suppression", for what is protected and what remains.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metsurv.report._format import suppress_count

__all__ = ["SECONDARY", "MISSING", "Partition", "Suppression", "protect_cells", "level_key"]

#: How a count hidden only so that a total cannot give a small cell back is printed.
SECONDARY = "suppressed"


class _Missing:
    """The level of patients without a value (one object, sorts and prints stably)."""

    def __repr__(self) -> str:
        return "MISSING"


#: The partition level of patients without a value of the column.
MISSING = _Missing()


def level_key(level: Any) -> Hashable:
    """One key per level however a caller holds it: True/np.True_/"True" differ in type
    between a factor column, a KM result's groups and a battery table, not in meaning.

    >>> level_key(np.True_), level_key("R0"), level_key(None), level_key(float("nan"))
    ('True', 'R0', MISSING, MISSING)
    """
    if level is None or level is MISSING:
        return MISSING
    if isinstance(level, float) and np.isnan(level):
        return MISSING
    if level is pd.NA or level is pd.NaT:
        return MISSING
    if isinstance(level, (bool, np.bool_)):
        return str(bool(level))
    return str(level)


def protect_cells(values: Mapping[Any, int], equations: Sequence[Sequence[tuple[Any, int]]],
                  k: int, public: Collection[Any] = (), avoid: Collection[Any] = (),
                  latent: Collection[Any] = (), given: Mapping[Any, str] | None = None
                  ) -> dict[Any, str]:
    """Which counts to hide so that none below ``k`` can be recovered from the rest.

    ``values`` maps a cell key to its count; each equation is a list of (key, +1/-1) whose
    signed sum is what the reader can see (e.g. a column: its levels and missing minus its
    total; a row: the Overall cell minus the group cells). Counts ``1..k-1`` are hidden
    ("primary", printed "<k"). Then the bounds a reader can derive for every hidden cell
    are tightened over all equations until nothing changes (primary cells lie in
    ``[1, k-1]``, the others in ``[k, total]``, ``latent`` cells, which are never printed,
    in ``[0, total]`` unless they are 0, which is taken as known); while some hidden cell is pinned to one value (a latent one: to a
    value in ``1..k-1``), the smallest shown non-zero cell of an equation through it is
    hidden too ("secondary", printed :data:`SECONDARY`). ``public`` cells are never hidden
    as secondary (the reader knows them from elsewhere, e.g. the number analysed);
    ``avoid`` cells only when no other cell will do; ``given`` cells are hidden as said
    (decided by another output). Returns {key: "primary" | "secondary"} (latent cells left
    out).

    >>> v = {"a": 2, "b": 30, "c": 50, "n": 82}
    >>> protect_cells(v, [[("a", 1), ("b", 1), ("c", 1), ("n", -1)]], 11)
    {'a': 'primary', 'b': 'secondary'}
    """
    # A latent count of 0 is taken as known: a reader may learn elsewhere that nobody is
    # in that group (the cautious reading).
    latent = {c for c in latent if values[c] != 0}
    hidden: dict[Any, str] = {key: "primary" for key, n in values.items()
                              if k and 0 < n < k and key not in latent}
    hidden.update(given or {})
    if not k or not (hidden or any(0 < values[c] < k for c in latent)):
        return {c: how for c, how in hidden.items()}
    hidden.update({c: "latent" for c in latent})
    top = max(max(values.values()), k)
    by_cell: dict[Any, list[int]] = {}
    for i, eq in enumerate(equations):
        for key, _ in eq:
            by_cell.setdefault(key, []).append(i)
    for _ in range(len(values) + 1):  # each round hides one more cell or stops
        pinned = [c for c in _pinned_cells(values, equations, hidden, k, top)
                  if hidden[c] != "latent" or 0 < values[c] < k]
        if not pinned:
            break
        added = False
        for key in pinned:
            shown = [(c in avoid, values[c], repr(c), c) for i in by_cell.get(key, ())
                     for c, _ in equations[i]
                     if c not in hidden and c not in public and values[c] > 0]
            if shown:
                hidden[min(shown)[3]] = "secondary"
                added = True
                break
        if not added:  # nothing left to hide in any equation through a pinned cell
            break
    return {c: how for c, how in hidden.items() if how != "latent"}


def derived_bounds(values: Mapping[Any, int], equations: Sequence[Sequence[tuple[Any, int]]],
                   hidden: Mapping[Any, str], k: int) -> dict[Any, tuple[int, int]]:
    """The bounds a reader can derive for each hidden cell from the shown ones (interval
    propagation, as :func:`protect_cells` attacks its own result)."""
    top = max(max(values.values(), default=0), k)
    return _propagate(values, equations, hidden, k, top)


def _pinned_cells(values: Mapping[Any, int], equations: Sequence[Sequence[tuple[Any, int]]],
                  hidden: Mapping[Any, str], k: int, top: int) -> list[Any]:
    """Hidden cells whose value a reader can derive from the shown cells and equations."""
    bounds = _propagate(values, equations, hidden, k, top)
    return sorted((c for c, (lo, hi) in bounds.items() if lo >= hi), key=repr)


def _propagate(values: Mapping[Any, int], equations: Sequence[Sequence[tuple[Any, int]]],
               hidden: Mapping[Any, str], k: int, top: int) -> dict[Any, tuple[int, int]]:
    """Interval propagation: each equation bounds each of its hidden cells by the bounds of
    the others, repeated until no bound moves."""
    first = {"primary": (1, k - 1), "secondary": (k, top), "latent": (0, top)}
    lo = {c: first[how][0] for c, how in hidden.items()}
    hi = {c: first[how][1] for c, how in hidden.items()}
    live = [eq for eq in equations if any(c in hidden for c, _ in eq)]
    for _ in range(50):
        moved = False
        for eq in live:
            # the signed sum the reader can see (0 for a closed total; patients without a
            # group value for a row of groups, taken as known)
            total = sum(s * values[c] for c, s in eq)
            known = sum(s * values[c] for c, s in eq if c not in hidden) - total
            free = [(c, s) for c, s in eq if c in hidden]
            for c, s in free:
                rest_lo = sum(s2 * (lo[c2] if s2 > 0 else hi[c2]) for c2, s2 in free if c2 != c)
                rest_hi = sum(s2 * (hi[c2] if s2 > 0 else lo[c2]) for c2, s2 in free if c2 != c)
                # s * x = total - shown - rest
                a, b = -(known + rest_hi), -(known + rest_lo)
                new_lo, new_hi = (a, b) if s > 0 else (-b, -a)
                if new_lo > lo[c]:
                    lo[c], moved = new_lo, True
                if new_hi < hi[c]:
                    hi[c], moved = new_hi, True
        if not moved:
            break
    return {c: (lo[c], hi[c]) for c in hidden}


@dataclass(frozen=True)
class Partition:
    """One population split by one column: the count of each level (with :data:`MISSING`
    for patients without a value, whether or not an output prints it) and which are hidden.
    The levels add up to the population, whose count is taken as known."""

    counts: Mapping[Hashable, int]
    hidden: Mapping[Hashable, str]
    k: int

    def how(self, level: Any) -> str | None:
        """"primary", "secondary" or None (shown)."""
        return self.hidden.get(level_key(level))

    def shown(self, level: Any) -> bool:
        return self.how(level) is None

    def text(self, level: Any, n: int | float | None = None) -> str:
        """The level's count as every output prints it: "<k", :data:`SECONDARY` or the
        count. ``n``, when given, is the caller's own count of the level, checked."""
        key = level_key(level)
        if n is not None and int(n) != self.counts.get(key, 0):
            raise ValueError(f"suppression: level {key!r} counted {int(n)} here and "
                             f"{self.counts.get(key, 0)} where its partition was decided")
        how = self.hidden.get(key)
        if how == "primary":
            return f"<{self.k}"
        if how == "secondary":
            return SECONDARY
        return suppress_count(self.counts.get(key, 0), self.k)

    def range_text(self, level: Any) -> str:
        """The level's count, or for a hidden one the range a reader can derive anyway
        ("80\u201389"): for a count such as a model's n, where "suppressed" would say
        less than the reader knows."""
        key = level_key(level)
        how = self.hidden.get(key)
        if how is None or how == "primary":
            return self.text(level)
        eq = [[(c, 1) for c in self.counts]]
        lo, hi = derived_bounds(self.counts, eq, self.hidden, self.k)[key]
        return f"{lo:,}\u2013{hi:,}"


@dataclass
class Suppression:
    """A report's small-cell suppression: one :class:`Partition` per population and column,
    decided by the first output that prints one of its counts and shared by all the others.

    Keys name what is counted, e.g. ``("n", None, "complete_resection")``: patients of the
    whole analysed cohort (``None``, or a subset's name) by completeness of resection;
    ``("events", "complete_resection", "dfi_group")``: events among complete resections by
    DFI group. ``k`` = 0 turns suppression off (every count shown).

    >>> s = Suppression(11)
    >>> p = s.partition(("n", None, "g"), {"a": 7, "b": 40, "c": 50, None: 0})
    >>> p.text("a"), p.text("b"), p.text("c")
    ('<11', 'suppressed', '50')
    >>> s.partition(("n", None, "g"), {"a": 7, "b": 40, "c": 50, None: 0}) is p
    True
    """

    k: int
    _parts: dict[Hashable, Partition] = field(default_factory=dict)
    #: keys asked for with counts that differ from the decided ones (every such output's
    #: cells were then hidden); a report test asserts there are none.
    conflicts: list[Hashable] = field(default_factory=list)

    def partition(self, key: Hashable, counts: Mapping[Any, int]) -> Partition:
        """The partition ``key`` with ``counts`` per level (every level, missing included:
        the levels must add up to the population). Decided here if new; if decided with
        other counts (two outputs that count one population differently), every non-zero
        count of this caller is hidden and the key recorded in :attr:`conflicts`.
        """
        norm = _normalised(counts)
        old = self._parts.get(key)
        if old is not None:
            if dict(old.counts) == norm:
                return old
            self.conflicts.append(key)
            return Partition(norm, {c: ("primary" if 0 < n < self.k else "secondary")
                                    for c, n in norm.items() if n}, self.k)
        hidden = (protect_cells(norm, [[(c, 1) for c in norm]], self.k) if self.k else {})
        part = Partition(norm, hidden, self.k)
        self._parts[key] = part
        return part

    def fix(self, key: Hashable, counts: Mapping[Any, int], hidden: Mapping[Any, str]
            ) -> Partition:
        """Record a decision made by an output with more structure (Table 1's two-way
        table decides its Overall column); the partition must not have been used with
        another decision."""
        norm = _normalised(counts)
        part = Partition(norm, {level_key(c): how for c, how in hidden.items()}, self.k)
        old = self._parts.get(key)
        if old is not None and (dict(old.counts) != norm or dict(old.hidden) != part.hidden):
            self.conflicts.append(key)
        self._parts[key] = part
        return part

    def decided(self, key: Hashable) -> Partition | None:
        return self._parts.get(key)

    def of(self, key: Hashable, values: pd.Series) -> Partition:
        """The partition ``key`` of the patients in ``values`` (one entry per patient) by
        value, missing included."""
        counts = values.astype(object).where(values.notna(), None).map(level_key).value_counts()
        return self.partition(key, {c: int(n) for c, n in counts.items()})


def _normalised(counts: Mapping[Any, int]) -> dict[Hashable, int]:
    """Counts by level key; empty levels left out (a 0 is printed as 0 everywhere)."""
    out: dict[Hashable, int] = {}
    for c, n in counts.items():
        key = level_key(c)
        out[key] = out.get(key, 0) + int(n)
    return {c: n for c, n in out.items() if n}
