"""The report's vectorised counting paths (used at a million patients) give what the plain
pandas code they replace gives.

Oracle: the plain pandas computation each fast path replaced (groupby, value_counts,
boolean subsetting of the whole frame), written out in the tests, on synthetic frames with
missing values, categoricals with unused categories, nullable booleans and text codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv.report import analysis as A
from metsurv.report import tables as T
from metsurv.report._cache import cached, frame_cache
from metsurv.report.counts import GroupCounts
from metsurv.report.suppression import Suppression


def _frame(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cats = ["R0", "R1", "R2", "unused"]
    res = pd.Categorical(rng.choice(["R0", "R1", "R2"], n), categories=cats)
    res[rng.random(n) < 0.1] = np.nan
    complete = pd.array(np.asarray(res.astype(object)) == "R0", dtype="boolean")
    complete[pd.isna(res)] = pd.NA
    hist = pd.Categorical(rng.choice(["sarcoma", "epithelial", "unknown"], n),
                          categories=["epithelial", "sarcoma", "germ_cell", "unknown"])
    text = np.where(rng.random(n) < 0.2, None, rng.choice(["b", "a", "c"], n)).astype(object)
    return pd.DataFrame({
        "os_months": rng.exponential(30, n), "os_event": rng.random(n) < 0.6,
        "resection_status": res, "complete_resection": complete, "histology_group": hist,
        "text": text, "age_at_metastasectomy": np.where(rng.random(n) < 0.1, np.nan,
                                                        rng.normal(60, 10, n)),
        "n_metastases": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(1, 9, n)),
                                 dtype="Int64"),
    })


def test_frame_cache_keeps_values_within_its_scope_only():
    df = pd.DataFrame({"a": [1, 2, 3]})
    calls = []

    def make():
        calls.append(1)
        return len(calls)

    with frame_cache():
        assert cached(df, "k", make) == 1
        with frame_cache():  # nested: the outer store
            assert cached(df, "k", make) == 1
        assert cached(df.copy(), "k", make) == 2  # another frame object: computed
    assert cached(df, "k", make) == 3  # closed: computed afresh
    assert len(calls) == 3


@pytest.mark.parametrize("seed", [0, 1])
def test_subset_rows_and_columns_are_the_subset_of_the_whole_frame(seed):
    df = _frame(seed)
    want = df[(df["complete_resection"] == True).fillna(False).to_numpy(bool)]  # noqa: E712
    with frame_cache():
        got = T.subset_patients(df, "complete_resection")
        rows = T.subset_rows(df, "complete_resection")
        cols = T.subset_columns(df, "complete_resection", ["os_event", "text", "absent"])
        assert T.subset_patients(df, "complete_resection") is got
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(cols, want[["os_event", "text"]])
    assert len(rows) == len(want) and "text" in rows and "absent" not in rows
    assert rows.index.equals(want.index)
    for c in df.columns:
        pd.testing.assert_series_equal(rows[c], want[c])


def _fixed_by_groupby(patients, by, variables):
    """The groupby implementation :func:`tables._fixed_by_grouping` replaced."""
    d = patients[patients[by].notna()]
    if d[by].nunique() < 2:
        return []
    out = []
    for v in variables:
        if by in T._APPLIES and T._APPLIES[by][0] == v:
            out.append(v)
            continue
        if T._is_continuous(v, patients[v]):
            continue
        both = d[[v, by]].dropna()
        if not len(both):
            continue
        per_value = both.groupby(v, observed=True)[by].nunique()
        per_group = both.groupby(by, observed=True)[v].nunique()
        if (per_value <= 1).all() or ((per_group <= 1).all() and both[v].nunique() > 1):
            out.append(v)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("by", ["complete_resection", "histology_group", "text"])
def test_fixed_by_grouping_matches_groupby(seed, by):
    df = _frame(seed)
    variables = [c for c in ("resection_status", "complete_resection", "histology_group",
                             "text", "age_at_metastasectomy") if c != by]
    assert T._fixed_by_grouping(df, by, variables) == _fixed_by_groupby(df, by, variables)
    if by == "complete_resection":  # R0 is complete resection: fixed
        assert "resection_status" in T._fixed_by_grouping(df, by, variables)


@pytest.mark.parametrize("factor", ["resection_status", "complete_resection", "text"])
def test_level_sizes_match_groupby(factor):
    df = _frame(3)
    data = df[df[factor].notna().to_numpy(bool)]
    want = data.groupby(data[factor].astype(object))["os_event"].agg(
        lambda e: (len(e), int(e.astype(bool).sum())))
    assert A._level_sizes(data, factor, "os_event") == {
        k: v for k, v in want.items() if v[0] > 0}


@pytest.mark.parametrize("seed", [0, 4])
def test_count_column_and_smd_fast_paths_match_value_counts(seed):
    df = _frame(seed)
    a = df["histology_group"][df["complete_resection"].fillna(False).to_numpy(bool)]
    b = df["histology_group"][~df["complete_resection"].fillna(True).to_numpy(bool)]
    # categorical (codes) against the object path (value_counts of the values)
    assert T._smd([a, b], False) == T._smd([a.astype(object), b.astype(object)], False)
    for col in ("histology_group", "complete_resection", "text", "n_metastases",
                "age_at_metastasectomy"):
        s = df[col]
        levels = T._levels(s)
        labels, counts, med = T._count_column(col, s, levels)
        present = s.dropna()
        assert counts[-1] == int(s.isna().sum())
        if labels != ["Missing"]:
            vc = present.astype(object).value_counts()
            assert counts[:-1] == [int(vc.get(lev, 0)) for lev in levels]
        else:
            x = pd.to_numeric(present).to_numpy(float)
            q1, m, q3 = np.percentile(x, [25, 50, 75])
            assert med == f"{m:.1f} ({q1:.1f}\u2013{q3:.1f})"
    cats = df["histology_group"]
    assert T._levels(cats) == [c for c in cats.cat.categories
                               if c in set(cats.dropna().tolist())]


def test_group_counts_share_the_frame_when_everyone_has_the_endpoint():
    from types import SimpleNamespace

    df = _frame(5)
    cfg = SimpleNamespace(time_column="os_months", event_column="os_event", endpoint="os")
    counts = GroupCounts.of(cfg, df, Suppression(0))
    assert counts.data is df and counts.tag is None
    with frame_cache():
        n, e = counts.groups("complete_resection", "histology_group")
    sub = df[df["complete_resection"].fillna(False).to_numpy(bool)]
    assert n.counts == {k: v for k, v in sub["histology_group"].astype(object)
                        .value_counts().items() if v}
    df.loc[0, "os_months"] = np.nan  # one unknown: a copy without that patient
    counts = GroupCounts.of(cfg, df, Suppression(0))
    assert counts.data is not df and len(counts.data) == len(df) - 1
    assert counts.tag == "os"


def _union_links_rowwise(a, b):
    """The row-by-row implementation :func:`suppression.union_links` replaced."""
    from metsurv.report.suppression import level_key

    ka = a.astype(object).where(a.notna(), None).map(level_key).to_numpy()
    kb = b.astype(object).where(b.notna(), None).map(level_key).to_numpy()
    ca, ua = pd.factorize(ka)
    cb, ub = pd.factorize(kb)
    table = np.zeros((len(ua), len(ub)), dtype=np.int64)
    np.add.at(table, (ca, cb), 1)
    whole = table.sum(axis=1)
    out = []
    for j, level in enumerate(ub):
        col = table[:, j]
        if np.all((col == 0) | (col == whole)) and not np.all(col == whole):
            out.append((level, [ua[i] for i in np.flatnonzero(col)]))
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_union_links_match_the_row_by_row_keys(seed):
    from metsurv.report.suppression import union_links

    df = _frame(seed)
    df["os_event"] = df["os_event"].to_numpy()  # numpy bool
    cols = ["resection_status", "complete_resection", "histology_group", "text", "os_event"]
    found = 0
    for x in cols:
        for y in cols:
            got = union_links(df[x], df[y])
            assert got == _union_links_rowwise(df[x], df[y])
            found += len(got)
    assert found  # complete resection is R0: some links exist
