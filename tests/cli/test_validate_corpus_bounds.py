"""Bounded work over the whole bad-input corpus (issue 10, "done when"): ``metsurv validate``
of every file in tests/data/bad and tests/data/io (and each mapping of the bad corpus with
its data file) finishes within 10 s and 1 GB of memory, and never with an internal error.

Each case runs in its own process so that its time and peak memory are its own: the peak
resident size comes from ``os.wait4`` (the rusage of that one child, not the running
maximum over all children that ``RUSAGE_CHILDREN`` gives).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
NOT_DATA = (".yaml", ".md", ".py", ".R")

#: Every data file of the two corpora, as (file, mapping or None).
CASES = [(p, None) for folder in ("bad", "io") for p in sorted((DATA / folder).iterdir())
         if p.is_file() and p.suffix not in NOT_DATA]
CASES += [(DATA / "bad" / data, DATA / "bad" / mapping) for data, mapping in [
    ("good.csv", "wrong_mapping.yaml"),
    ("good.csv", "broken_mapping.yaml"),
    ("good.csv", "map_billion_laughs.yaml"),
    ("xss_columns.csv", "xss_mapping.yaml"),
    ("C04_csv_de_thousands_dfi_days.csv", "C04a_map_days.yaml"),
]]

MAX_SECONDS = 10.0
MAX_BYTES = 1 << 30


def _validate(path: Path, mapping: Path | None) -> tuple[int, float, int, str]:
    """Exit status, wall seconds, peak resident bytes and stderr of ``metsurv validate``."""
    cmd = [sys.executable, "-m", "metsurv.cli", "validate", str(path), "--json"]
    if mapping is not None:
        cmd += ["--mapping", str(mapping)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=DATA.parent)
    # read stderr before waiting (a full pipe would block the child)
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        proc.returncode = 0  # reaped here: stop Popen from waiting for it again
    seconds = time.monotonic() - start
    return os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss * 1024, err


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "wait4"), reason="os.wait4 (peak memory per child)")
@pytest.mark.parametrize("path,mapping", CASES,
                         ids=[p.parent.name + "/" + p.name + (f"+{m.name}" if m else "")
                              for p, m in CASES])
def test_validate_of_corpus_file_is_bounded_in_time_and_memory(path, mapping):
    code, seconds, peak, err = _validate(path, mapping)
    assert code in (0, 2), err
    assert "internal error" not in err and "Traceback" not in err
    assert seconds < MAX_SECONDS, f"{seconds:.1f} s"
    assert peak < MAX_BYTES, f"{peak / 2**20:.0f} MiB"
