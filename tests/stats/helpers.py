"""The one place the R-parity tests (tests/stats, tests/stats_extra) read the R fixtures
from and compare against them: fixture and input loading, tolerances, assertions.

Fixtures: tests/reference/make_reference.R writes <dataset>.json and data/<dataset>.csv;
make_reference_extra.R writes extra_*.json and data/extra_*.csv."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
DATASETS = ("lung", "veteran", "ties", "neartie", "noevent")

#: tolerances from the issue: estimates / SEs / limits absolute; coefficients, statistics
#: and p-values relative
ABS_EST = 1e-8
REL_STAT = 1e-6

#: factor levels R used (make_reference.R), given to pandas as Categorical order
R_LEVELS = {"veteran": {"celltype": ["squamous", "smallcell", "adeno", "large"]}}


#: Rscript on this machine, or None; tests that rerun an R script live skip without it
RSCRIPT = shutil.which("Rscript")
needs_r = pytest.mark.skipif(RSCRIPT is None, reason="Rscript not installed")


def run_r_script(script: str, *args: str | Path, timeout: float = 300) -> None:
    """Run ``Rscript tests/reference/<script> args...`` (the committed fixture script) and
    fail with R's own message when it fails; skip when an R package it needs is absent."""
    proc = subprocess.run([RSCRIPT or "Rscript", str(REFERENCE / script), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 and "there is no package" in proc.stderr:
        pytest.skip(f"{script}: an R package is missing: {proc.stderr[-300:]}")
    assert proc.returncode == 0, f"{script} failed: {proc.stderr[-800:]}"


def rerun_r(tmp_path_factory, script: str) -> Path:
    """A new temporary folder holding what ``Rscript tests/reference/<script> <folder>``
    writes today (for a module-scoped ``fresh`` fixture)."""
    out = tmp_path_factory.mktemp(Path(script).stem)
    run_r_script(script, out)
    return out


def assert_r_reproduces(name: str, fresh: Path, inputs: str, rel: float = REL_STAT,
                        abs_tol: float = ABS_EST, same_survival: bool = False) -> None:
    """The committed input CSVs ``data/<inputs>`` (a glob) identical to the ones in
    ``fresh``, and every number of ``<name>.json`` within ``rel`` relative or ``abs_tol``
    absolute of the fresh one (default REL_STAT, ABS_EST). ``same_survival``: skip when the
    fresh run used another R survival version than the committed one (its
    ``survival_version``), for fixtures compared at 1e-12."""
    committed, new = reference(name), reference(name, fresh)
    if same_survival and new["survival_version"] != committed["survival_version"]:
        pytest.skip("another R survival version")
    for csv in (REFERENCE / "data").glob(inputs):
        assert (fresh / "data" / csv.name).read_text() == csv.read_text(), csv.name
    assert_same_numbers(committed, new, rel, abs_tol, name)


@cache
def reference(name: str, root: Path = REFERENCE) -> dict:
    """The R results ``<root>/<name>.json`` (cached: do not modify)."""
    return json.loads((root / f"{name}.json").read_text())


@cache
def _read(name: str, root: Path) -> pd.DataFrame:
    # round_trip: pandas' default parser can be 1 ulp off, which would undo the near ties
    df = pd.read_csv(root / "data" / f"{name}.csv", float_precision="round_trip")
    for col, levels in R_LEVELS.get(name, {}).items():
        df[col] = pd.Categorical(df[col], categories=levels)
    return df


def dataset(name: str, root: Path = REFERENCE) -> pd.DataFrame:
    """The input CSV the R script wrote (a fresh copy each call)."""
    return _read(name, root).copy()


def as_float(values) -> np.ndarray:
    """JSON list (with None for R's NA) to a float array with NaN."""
    return np.array([np.nan if v is None else v for v in np.ravel(values)], dtype=float)


def _assert_close(actual, expected, rtol: float, atol: float, what: str) -> None:
    a, e = np.asarray(actual, dtype=float).ravel(), as_float(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NaN pattern")
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def assert_close_abs(actual, expected, tol: float = ABS_EST, what: str = "") -> None:
    """Equal within ``tol`` absolute, and missing (NaN/None) in the same places."""
    _assert_close(actual, expected, 0.0, tol, what)


def assert_close_rel(actual, expected, tol: float = REL_STAT, what: str = "") -> None:
    """Equal within ``tol`` relative (absolute ``tol * 1e-3`` floor for values near 0)."""
    _assert_close(actual, expected, tol, tol * 1e-3, what)


def assert_logrank_matches(res, ref: dict) -> None:
    """A logrank() result against an R survdiff-shaped record (groups, n, observed,
    expected, var, chisq, df, p): O, E, V ABS_EST absolute; chisq and p REL_STAT relative;
    groups, n and df exact."""
    assert [str(g) for g in res.groups] == list(np.ravel(ref["groups"]))
    assert list(res.n) == list(np.ravel(ref["n"]))
    assert_close_abs(res.observed, ref["observed"], ABS_EST, "observed")
    assert_close_abs(res.expected, ref["expected"], ABS_EST, "expected")
    assert_close_abs(res.var, ref["var"], ABS_EST, "var")
    assert_close_rel(res.statistic, ref["chisq"], what="chisq")
    assert res.df == ref["df"]
    assert_close_rel(res.p, ref["p"], what="p")


def assert_same_numbers(old, new, rtol: float, atol: float, path: str = "") -> None:
    """Two fixture trees equal: same keys and lengths, numbers within ``rtol`` or
    ``atol``, everything else identical; R and package versions are not compared."""
    if isinstance(old, dict):
        old = {k: v for k, v in old.items() if not k.endswith("version")}
        new = {k: v for k, v in new.items() if not k.endswith("version")}
        assert old.keys() == new.keys(), path
        for k in old:
            assert_same_numbers(old[k], new[k], rtol, atol, f"{path}.{k}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(old) == len(new), path
        for i, (x, y) in enumerate(zip(old, new, strict=True)):
            assert_same_numbers(x, y, rtol, atol, f"{path}[{i}]")
    elif isinstance(old, float) or isinstance(new, float):
        assert old is not None and new is not None, path
        assert math.isclose(old, new, rel_tol=rtol, abs_tol=atol), f"{path}: {old} != {new}"
    else:
        assert old == new, path


def cases(section: str) -> list[tuple[str, int]]:
    """(dataset, index) of every reference entry in ``section`` (km, survdiff, cox)."""
    return [(d, i) for d in DATASETS for i in range(len(reference(d).get(section, [])))]

