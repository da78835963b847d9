"""Property: a column that is a copy or a multiple of another adds nothing. For random
designs, the fit with the aliased column has that column NA (named in a warning) and every
other coefficient, SE, the log-likelihood and the test df equal to the fit without it (R
``coxph`` gives NA and fits the rest)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metsurv.errors import StatsWarning
from metsurv.stats.cox import cox


@st.composite
def designs(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(15, 60))
    p = draw(st.integers(1, 3))
    x = np.round(rng.normal(size=(n, p)), 2)
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(p)])
    beta = rng.normal(scale=0.5, size=p)
    df["t"] = np.ceil(rng.exponential(np.exp(-x @ beta)) * 5)
    df["e"] = (rng.random(n) < 0.75).astype(int)
    df.loc[0, "e"] = 1
    src = int(draw(st.integers(0, p - 1)))
    factor = draw(st.sampled_from([1.0, 1000.0, -2.5, 12.0]))
    at = draw(st.integers(src + 1, p))  # after its source: the later column is the NA one
    ties = draw(st.sampled_from(["efron", "breslow"]))
    strata = draw(st.booleans())
    if strata:
        df["s"] = rng.integers(0, 2, n)
    return df, src, factor, at, ties, strata


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs())
def test_aliased_column_leaves_the_other_coefficients_unchanged(case):
    df, src, factor, at, ties, strata = case
    base_cols = [c for c in df.columns if c.startswith("x")]
    df["alias"] = df[f"x{src}"] * factor
    cols = [*base_cols[:at], "alias", *base_cols[at:]]
    kw = dict(time="t", event="e", ties=ties, strata="s" if strata else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)
        base = cox(df, base_cols, **kw)
        with_alias = cox(df, cols, **kw)
    if not base.converged or any("infinite" in w for w in base.warnings):
        return  # a separated draw: both fits run to the same non-answer, nothing to compare
    assert np.isnan(with_alias.coef[at])
    assert any("alias is not estimable" in w for w in with_alias.warnings)
    keep = [i for i in range(len(cols)) if i != at]
    np.testing.assert_allclose(with_alias.coef[keep], base.coef, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(with_alias.se[keep], base.se, rtol=1e-7)
    np.testing.assert_allclose(with_alias.loglik, base.loglik, rtol=1e-12)
    assert with_alias.lrt[1] == base.lrt[1] == len(base_cols)
    np.testing.assert_allclose(with_alias.wald[0], base.wald[0], rtol=1e-7)
