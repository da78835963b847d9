"""Rerun tests/reference/make_reference.R live and compare with the committed fixtures
(skipped when Rscript is not installed)."""

from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest

from tests.stats.helpers import DATASETS, REFERENCE, assert_same_numbers, dataset, reference


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed")
def test_make_reference_R_reproduces_committed_fixtures(tmp_path):
    """Rscript tests/reference/make_reference.R <tmp>: every JSON value equal to the
    committed one (1e-12 relative), every input CSV identical."""
    proc = subprocess.run(["Rscript", str(REFERENCE / "make_reference.R"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in DATASETS:
        fresh, committed = reference(name, tmp_path), reference(name)
        if fresh["survival_version"] != committed["survival_version"]:
            pytest.skip(f"R survival {fresh['survival_version']} differs from the fixtures' "
                        f"{committed['survival_version']}")
        assert_same_numbers(committed, fresh, 1e-12, 1e-14, name)
        pd.testing.assert_frame_equal(dataset(name, tmp_path), dataset(name))
