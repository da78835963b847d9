"""Rerun tests/reference/make_reference.R live and compare with the committed fixtures
(skipped when Rscript is not installed)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.stats.helpers import (
    DATASETS,
    assert_same_numbers,
    dataset,
    needs_r,
    reference,
    run_r_script,
)


@needs_r
def test_make_reference_R_reproduces_committed_fixtures(tmp_path):
    """Rscript tests/reference/make_reference.R <tmp>: every JSON value equal to the
    committed one (1e-12 relative), every input CSV identical."""
    run_r_script("make_reference.R", tmp_path)
    for name in DATASETS:
        fresh, committed = reference(name, tmp_path), reference(name)
        if fresh["survival_version"] != committed["survival_version"]:
            pytest.skip(f"R survival {fresh['survival_version']} differs from the fixtures' "
                        f"{committed['survival_version']}")
        assert_same_numbers(committed, fresh, 1e-12, 1e-14, name)
        pd.testing.assert_frame_equal(dataset(name, tmp_path), dataset(name))
