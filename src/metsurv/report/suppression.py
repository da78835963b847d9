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
#: The same in a figure's at-risk row (narrow columns).
AT_RISK_SECONDARY = "*"


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
                  latent: Collection[Any] = (), given: Mapping[Any, str] | None = None,
                  top: int | None = None, caps: Mapping[Any, int] | None = None
                  ) -> dict[Any, str]:
    """Which counts to hide so that none below ``k`` can be recovered from the rest.

    ``values`` maps a cell key to its count; each equation is a list of (key, +1/-1) whose
    signed sum is what the reader can see (e.g. a column: its levels and missing minus its
    total; a row: the Overall cell minus the group cells). Counts ``1..k-1`` are hidden
    ("primary", printed "<k"). Then the bounds a reader can derive for every hidden cell
    are tightened over all equations until nothing changes (primary cells lie in
    ``[1, k-1]``, the others in ``[k, total]``, ``latent`` cells, which are never printed,
    in ``[0, total]`` unless they are 0, which is taken as known); while some count below k
    is pinned to one value, the smallest shown non-zero cell of an equation through it is
    hidden too ("secondary", printed :data:`SECONDARY`; a secondary cell itself may be
    derivable: it is not below k). ``public`` cells are never hidden
    as secondary (the reader knows them from elsewhere, e.g. the number analysed);
    ``avoid`` cells only when no other cell will do; ``given`` cells are hidden as said
    (decided by another output). ``top`` bounds every count (default: the largest, which
    is right when the population's total is among ``values``; give the total otherwise);
    ``caps`` bound latent cells further (what the reader knows of them: patients without a
    value are at most their printed count).
    Returns {key: "primary" | "secondary"} (latent cells left out).

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
    top = max(max(values.values()) if top is None else top, k)
    equations = [eq for eq in map(_combined, equations) if eq]
    by_cell: dict[Any, list[int]] = {}
    for i, eq in enumerate(equations):
        for key, _ in eq:
            by_cell.setdefault(key, []).append(i)
    for _ in range(len(values) + 1):  # each round hides one more cell or stops
        # only a pin of a count below k discloses; a pinned "suppressed" cell (k or more)
        # says nothing small, and the propagation already used it against the others
        all_pinned = _pinned_cells(values, equations, hidden, k, top, caps)
        # ... and a count another output hides must not become derivable here
        pinned = [c for c in all_pinned if 0 < values[c] < k or c in (given or {})]
        if not pinned:
            break
        added = False
        for key in pinned:
            cell = _nearest_shown(key, equations, by_cell, values, hidden, public, avoid,
                                  set(all_pinned))
            if cell is not None:
                hidden[cell] = "secondary"
                added = True
                break
        if not added:  # nothing left to hide in any equation through a pinned cell
            break
    # A secondary cell the shown ones pin anyway hides nothing: show it (a reader would
    # otherwise see "suppressed" beside the same group's count elsewhere).
    derivable = [c for c in _pinned_cells(values, equations, hidden, k, top, caps)
                 if hidden[c] == "secondary" and c not in (given or {})]
    for c in derivable:
        del hidden[c]
    return {c: how for c, how in hidden.items() if how != "latent"}


def _nearest_shown(key: Any, equations: Sequence[Sequence[tuple[Any, int]]],
                   by_cell: Mapping[Any, list[int]], values: Mapping[Any, int],
                   hidden: Mapping[Any, str], public: Collection[Any],
                   avoid: Collection[Any], pinned_cells: Collection[Any]) -> Any:
    """The cell to hide for a pinned one: the smallest shown non-zero count (``avoid``
    cells last) in a sum through it; if those sums have none, in the sums through the
    pinned hidden cells in them (a hidden total pinned by its shown parts pins the small
    cell: hiding one of the parts is what helps), and so on outwards."""
    seen, layer = {key}, [key]
    while layer:
        eqs = {i for c in layer for i in by_cell.get(c, ())}
        shown = [(c in avoid, values[c], repr(c), c) for i in sorted(eqs)
                 for c, _ in equations[i]
                 if c not in hidden and c not in public and values[c] > 0]
        if shown:
            return min(shown)[3]
        layer = [c for i in sorted(eqs) for c, _ in equations[i]
                 if c in hidden and c in pinned_cells and c not in seen]
        seen.update(layer)
    return None


def derived_bounds(values: Mapping[Any, int], equations: Sequence[Sequence[tuple[Any, int]]],
                   hidden: Mapping[Any, str], k: int, top: int | None = None
                   ) -> dict[Any, tuple[int, int]]:
    """The bounds a reader can derive for each hidden cell from the shown ones (interval
    propagation, as :func:`protect_cells` attacks its own result); ``top`` as there."""
    top = max(max(values.values(), default=0) if top is None else top, k)
    return _propagate(values, equations, hidden, k, top)


def pinned(values: Mapping[Any, int], equations: Sequence[Sequence[tuple[Any, int]]],
           hidden: Mapping[Any, str], k: int, top: int | None = None,
           caps: Mapping[Any, int] | None = None) -> list[Any]:
    """Hidden cells a reader can still pin to one value (none, if the hiding holds)."""
    top = max(max(values.values(), default=0) if top is None else top, k)
    return _pinned_cells(values, equations, hidden, k, top, caps)


def _combined(eq: Sequence[tuple[Any, int]]) -> list[tuple[Any, int]]:
    """One term per cell (coefficients added; cells that cancel dropped)."""
    coef: dict[Any, int] = {}
    for c, s in eq:
        coef[c] = coef.get(c, 0) + s
    return [(c, s) for c, s in coef.items() if s]


def _pinned_cells(values: Mapping[Any, int], equations: Sequence[Sequence[tuple[Any, int]]],
                  hidden: Mapping[Any, str], k: int, top: int,
                  caps: Mapping[Any, int] | None = None) -> list[Any]:
    """Hidden cells whose value a reader can derive from the shown cells and equations."""
    bounds = _propagate(values, equations, hidden, k, top, caps)
    return sorted((c for c, (lo, hi) in bounds.items() if lo >= hi), key=repr)


def _propagate(values: Mapping[Any, int], equations: Sequence[Sequence[tuple[Any, int]]],
               hidden: Mapping[Any, str], k: int, top: int,
               caps: Mapping[Any, int] | None = None) -> dict[Any, tuple[int, int]]:
    """Interval propagation: each equation bounds each of its hidden cells by the bounds of
    the others, repeated until no bound moves."""
    first = {"primary": (1, k - 1), "secondary": (k, top), "latent": (0, top)}
    lo = {c: first[how][0] for c, how in hidden.items()}
    hi = {c: first[how][1] for c, how in hidden.items()}
    for c, cap in (caps or {}).items():
        if hidden.get(c) == "latent":
            hi[c] = min(hi[c], cap)
    live = [eq for eq in map(_combined, equations) if any(c in hidden for c, _ in eq)]
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
                # s * x = total - shown - rest, s a whole number (a cell can appear in a
                # sum more than once: n - missing + ...)
                a, b = -(known + rest_hi), -(known + rest_lo)
                new_lo, new_hi = ((-(-a // s), b // s) if s > 0
                                  else (-(-b // s), a // s))
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
        lo, hi = derived_bounds(self.counts, eq, self.hidden, self.k,
                                top=sum(self.counts.values()))[key]
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
    #: at-risk decisions: (group identity, time) -> "primary" | "secondary" | None (shown)
    _risk: dict[tuple[Hashable, float], str | None] = field(default_factory=dict)
    #: keys asked for with counts that differ from the decided ones (every such output's
    #: cells were then hidden); a report test asserts there are none.
    conflicts: list[Hashable] = field(default_factory=list)

    def partition(self, key: Hashable, counts: Mapping[Any, int],
                  links: Sequence[Link] = (), latent: Mapping[Any, int] | None = None
                  ) -> Partition:
        """The partition ``key`` with ``counts`` per level (every level, missing included:
        the levels must add up to the population). Decided here if new; if decided with
        other counts (two outputs that count one population differently), every non-zero
        count of this caller is hidden and the key recorded in :attr:`conflicts`.
        ``links``: equations (lists of ((partition key, level), sign)) that tie its levels
        to partitions decided before, e.g. from :func:`union_links`; ``latent``: counts of
        groups those sums hold that no output prints (a subset's complement), by cell.
        """
        norm = _normalised(counts)
        old = self._parts.get(key)
        if old is not None:
            if dict(old.counts) == norm:
                return old
            self.conflicts.append(key)
            return Partition(norm, {c: ("primary" if 0 < n < self.k else "secondary")
                                    for c, n in norm.items() if n}, self.k)
        hidden = (protect_cells(norm, [[(c, 1) for c in norm]], self.k,
                                top=sum(norm.values())) if self.k and norm else {})
        if self.k and links:
            hidden = self._with_links(key, norm, hidden, links, latent or {})
        part = Partition(norm, hidden, self.k)
        self._parts[key] = part
        return part

    def _with_links(self, key: Hashable, norm: Mapping[Hashable, int],
                    hidden: Mapping[Hashable, str], links: Sequence[Link],
                    latent: Mapping[Any, int]) -> dict:
        """Decide a partition with the sums that tie it to partitions decided before (the
        same patients counted by another column: complete resection = R0): those are fixed
        (their shown cells public, their hidden ones given), so the new partition hides
        whatever its own cells must; if that cannot hold, it hides every count it has."""
        others = {o for eq in links for (o, _), _ in eq if o != key and o in self._parts}
        values: dict[Any, int] = {(key, c): n for c, n in norm.items()}
        eqs: list[list[tuple[Any, int]]] = [[((key, c), 1) for c in norm]]
        given: dict[Any, str] = {(key, c): how for c, how in hidden.items()}
        public: set[Any] = set()
        for o in others:
            part = self._parts[o]
            cells = {(o, c): n for c, n in part.counts.items()}
            values.update(cells)
            eqs.append([(c, 1) for c in cells])
            given.update({(o, c): how for c, how in part.hidden.items()})
            public.update(c for c in cells if c not in given)
        values.update(latent)
        for eq in links:
            for cell, _ in eq:
                values.setdefault(cell, 0)
        eqs.extend(links)
        top = max([sum(norm.values()), 1]
                  + [sum(self._parts[o].counts.values()) for o in others])
        got = protect_cells(values, eqs, self.k, public=public, given=given, top=top,
                            latent=list(latent))
        state = {**got, **{c: "latent" for c, n in latent.items() if n}}
        if any(0 < values[c] < self.k or c in given
               for c in pinned(values, eqs, state, self.k, top)):
            got = {**got, **{(key, c): ("primary" if n < self.k else "secondary")
                             for c, n in norm.items()}}
        return {c: how for (p, c), how in got.items() if p == key}

    def decided_keys(self) -> list[Hashable]:
        return list(self._parts)

    def at_risk(self, rows: Sequence[tuple[Hashable, bool, Sequence[float | None]]],
                times: Sequence[float],
                population: tuple[Hashable, Sequence[int], int, Hashable] | None = None
                ) -> list[list[str]]:
        """The printed at-risk rows of one figure: ``rows`` are (group identity, drawn,
        count at each of ``times``), one per curve; ``population`` (identity, count at
        each time, the most patients without a value a reader can know of, identity of the
        patients with a value) the patients they split, including those without a value of
        the factor.
        Counts 1..k-1 print "<k". At each time the rows and the patients without a value
        add up to the population's row, which the all-patients figure prints: where that
        sum would give a small count back, a further count is hidden ("*"); rows not drawn
        and the patients without a value count as unknown. A group drawn in two figures
        (complete resection and R0) gets one decision per time: hidden in one, hidden in
        all; shown in one, the other figure hides another count instead. A row not drawn
        prints blank."""
        out = [[""] * len(times) for _ in rows]
        for j, t in enumerate(times):
            values: dict[Any, int] = {i: int(r[2][j]) for i, r in enumerate(rows)
                                      if r[2][j] is not None}
            drawn = {i for i in values if rows[i][1]}
            decided = {i: self._risk[rows[i][0], t] for i in drawn
                       if (rows[i][0], t) in self._risk}
            hidden: dict[Any, str] = {}
            if self.k and values:
                given: dict[Any, str] = {i: how for i, how in decided.items() if how}
                public = {i for i, how in decided.items() if how is None}
                latent = [i for i in values if i not in drawn]
                eq: list[list[tuple[Any, int]]] = []
                if population is not None:
                    # rows add up to the patients with a value (a group of its own: sarcoma,
                    # split by subtype), who with those without one make the population
                    rows_sum = sum(values.values())
                    total = max(int(population[1][j]), rows_sum)
                    values["missing"] = total - rows_sum
                    values["total"] = total
                    latent.append("missing")
                    cells = [("total", population[0])]
                    if population[3] != population[0]:
                        values["valued"] = rows_sum
                        cells.append(("valued", population[3]))
                        eq = [[(i, 1) for i in values if isinstance(i, int)] + [("valued", -1)],
                              [("valued", 1), ("missing", 1), ("total", -1)]]
                    else:
                        eq = [[(i, 1) for i in values if i != "total"] + [("total", -1)]]
                    for cell, ident in cells:
                        how = self._risk.get((ident, t), "unknown")
                        if how is None:
                            public.add(cell)
                        elif how == "unknown":  # printed nowhere (a subset's patients)
                            latent.append(cell)
                        else:
                            given[cell] = how
                top = max(values.get("total", sum(values.values())), 1)
                caps = {"missing": population[2]} if population is not None else {}
                hidden = protect_cells(values, eq, self.k, latent=latent, given=given,
                                       public=public, top=top, caps=caps)
                state = {**hidden, **{i: "latent" for i in latent if values[i]}}
                if any(0 < values[c] < self.k and c in drawn
                       for c in pinned(values, eq, state, self.k, top, caps)):
                    self.conflicts.append(("at risk", t))  # shown elsewhere: cannot hold
            for i in drawn:
                how = decided[i] if i in decided else hidden.get(i)
                self._risk.setdefault((rows[i][0], t), how)
                out[i][j] = {"primary": f"<{self.k}", "secondary": AT_RISK_SECONDARY}.get(
                    how or "", suppress_count(values[i], self.k))
        return out

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


#: One sum a reader can form across partitions: ((partition key, level key), sign) terms
#: adding to 0.
Link = Sequence[tuple[tuple[Hashable, Hashable], int]]


def _key_codes(s: pd.Series) -> tuple[np.ndarray, list[Hashable]]:
    """``pd.factorize`` of the level keys (:func:`level_key`) of ``s``, row by row: codes in
    the order keys are first seen, and the keys. A categorical or yes/no column is keyed on
    its distinct values only (a million patients: no key per row)."""
    if not (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s)):
        keys = s.astype(object).where(s.notna(), None).map(level_key).to_numpy()
        codes, uniques = pd.factorize(keys)
        return codes, list(uniques)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    distinct = list(dict.fromkeys([level_key(u) for u in uniques] + [MISSING]))
    position = {k: i for i, k in enumerate(distinct)}
    of_code = np.array([position[level_key(u)] for u in uniques] + [position[MISSING]],
                       dtype=np.int64)
    rows, first = pd.factorize(of_code[codes])  # code -1 (missing): the last entry
    return rows, [distinct[i] for i in first]


def union_links(a: pd.Series, b: pd.Series) -> list[tuple[Hashable, list[Hashable]]]:
    """The levels of ``b`` that hold exactly the patients of some levels of ``a`` (one
    entry per patient in both, missing as :data:`MISSING`): [(b level, [a levels])], as
    level keys. Complete resection is R0; sarcoma subtype known is histology sarcoma; a
    reader who knows the definitions adds such counts, in every population.

    >>> a = pd.Series(["R0", "R1", "R2", "R0", None])
    >>> b = pd.Series([True, False, False, True, None])
    >>> union_links(a, b)
    [('True', ['R0']), ('False', ['R1', 'R2']), (MISSING, [MISSING])]
    """
    ca, ua = _key_codes(a)
    cb, ub = _key_codes(b)
    table = np.bincount(ca.astype(np.int64) * len(ub) + cb,
                        minlength=len(ua) * len(ub)).reshape(len(ua), len(ub))
    whole = table.sum(axis=1)
    out = []
    for j, level in enumerate(ub):
        col = table[:, j]
        # a level holding everyone is the population's count, which every partition's own
        # total already says: no new sum
        if np.all((col == 0) | (col == whole)) and not np.all(col == whole):
            out.append((level, [ua[i] for i in np.flatnonzero(col)]))
    return out


def _normalised(counts: Mapping[Any, int]) -> dict[Hashable, int]:
    """Counts by level key; empty levels left out (a 0 is printed as 0 everywhere)."""
    out: dict[Hashable, int] = {}
    for c, n in counts.items():
        key = level_key(c)
        out[key] = out.get(key, 0) + int(n)
    return {c: n for c, n in out.items() if n}
