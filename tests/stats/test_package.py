"""What ``import metsurv.stats`` offers, and what it does not pull in."""

from __future__ import annotations

import subprocess
import sys

import metsurv.stats as stats


def test_public_names_are_exported():
    for name in stats.__all__:
        assert getattr(stats, name) is not None
    assert {"cox", "counting_process_cox", "cuminc", "gray_test", "cause_specific_cox",
            "irlm_comparisons", "landmark", "rmst", "naive_repeat_resection_comparison",
            "TimeVaryingCoxResult", "CumulativeIncidence", "IRLMBattery", "LandmarkResult",
            "RMSTResult"} <= set(stats.__all__)
    assert "predict" not in stats.__all__


def test_import_does_not_load_scikit_learn_or_lifelines():
    code = ("import sys, metsurv.stats; "
            "print(sorted(m for m in ('sklearn', 'sksurv', 'lifelines') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
