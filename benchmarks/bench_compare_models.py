"""``compare_models`` on the bundled cohort: whole-process wall time, before and after.

Issue 15 item 8: at most 10 s (it took about 29 s). Each run is a fresh Python process
(imports, loading data/synthetic/irlm1997 with its resections, the 5-fold comparison of
the four models with the defaults); the parent times it from start to exit (wall time) and
sums the CPU time of it and its worker processes (less sensitive to the machine's load). *before* is the
module as it was at ``--before-rev`` (default b556aab, the last commit before the speed-up;
``git show REV:src/metsurv/stats/predict.py`` written to a temporary module), *after* the
working tree's. Runs alternate (before, after, before, ...) so both see the same load; the
load average (``uptime``) is printed with them. The two results are compared number by
number (summary, folds, AUC table).

``--fixture PATH`` instead writes the before-module's results on the bundled cohort and on
the cohort of tests/stats_extra/test_predict.py (``irlm_like_cohort(400, seed=11)``,
3 folds, seed 3) as JSON: tests/reference/compare_models_before.json, which
test_predict.py compares the current code against.

    .venv/bin/python benchmarks/bench_compare_models.py [--repeats 2] [--before-rev b556aab]
    .venv/bin/python benchmarks/bench_compare_models.py --fixture \\
        tests/reference/compare_models_before.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE_REV = "b556aab"
MODULE = "src/metsurv/stats/predict.py"
PATIENTS = ROOT / "data/synthetic/irlm1997/patients.csv"
RESECTIONS = ROOT / "data/synthetic/irlm1997/resections.csv"


def _module(which: str, rev: str):
    """The compare_models module: the working tree's, or the one at ``rev``."""
    if which == "after":
        from metsurv.stats import predict

        return predict
    source = subprocess.run(["git", "show", f"{rev}:{MODULE}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "predict_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("predict_before", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _bundled():
    import metsurv

    return metsurv.load_cohort(str(PATIENTS), resections=str(RESECTIONS))


def _child(which: str, rev: str, out: str) -> None:
    """One timed run (in its own process): bundled cohort, default settings."""
    mod = _module(which, rev)
    res = mod.compare_models(_bundled())
    Path(out).write_text(json.dumps(res.to_dict()))


def _uptime() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _compare(a: dict, b: dict) -> str:
    import numpy as np
    import pandas as pd

    worst, where = 0.0, "-"
    for key in ("summary", "folds", "auc"):
        fa, fb = pd.DataFrame(a[key]), pd.DataFrame(b[key])
        num = fa.select_dtypes("number").columns
        if not fa.drop(columns=num).equals(fb.drop(columns=num)):
            return f"{key}: labels differ"
        x = fa[num].to_numpy(dtype=float)
        y = fb[num].to_numpy(dtype=float)
        d = np.nanmax(np.abs(x - y)) if x.size else 0.0
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return f"{key}: missing values differ"
        if d > worst:
            worst, where = d, key
    return "identical" if worst == 0 else f"max |difference| {worst:.3g} (in {where})"


def write_fixture(path: Path, rev: str) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.stats_extra._simulate import irlm_like_cohort

    mod = _module("before", rev)
    small = mod.compare_models(irlm_like_cohort(400, seed=11), n_splits=3, seed=3)
    bundled = mod.compare_models(_bundled())
    from importlib.metadata import version

    path.write_text(json.dumps({
        "source": f"benchmarks/bench_compare_models.py --fixture: {MODULE} at {rev}",
        "versions": {p: version(p) for p in ("numpy", "scikit-learn", "scikit-survival")},
        "small": {"call": "compare_models(irlm_like_cohort(400, seed=11), n_splits=3, "
                          "seed=3)", **small.to_dict()},
        "bundled": {"call": "compare_models(load_cohort(data/synthetic/irlm1997 patients "
                            "and resections))", **bundled.to_dict()},
    }, indent=1) + "\n")
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--before-rev", default=BEFORE_REV)
    ap.add_argument("--fixture", type=Path)
    ap.add_argument("--child", nargs=2, metavar=("WHICH", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], args.before_rev, args.child[1])
        return
    if args.fixture:
        write_fixture(args.fixture, args.before_rev)
        return
    walls: dict[str, list[float]] = {"before": [], "after": []}
    cpus: dict[str, list[float]] = {"before": [], "after": []}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for which in ("before", "after"):
                out = os.path.join(tmp, f"{which}.json")
                load = _uptime()
                used = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run([sys.executable, __file__, "--before-rev", args.before_rev,
                                "--child", which, out], check=True, cwd=ROOT)
                walls[which].append(time.perf_counter() - t0)
                now = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus[which].append(now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime)
                print(f"run {r + 1} {which:6s} {walls[which][-1]:6.1f} s wall, "
                      f"{cpus[which][-1]:5.1f} s CPU (all its processes; load average "
                      f"before the run {load})", flush=True)
                results[which] = json.loads(Path(out).read_text())
    before, after = min(walls["before"]), min(walls["after"])
    print(f"compare_models, bundled cohort, whole process (best of {args.repeats}): "
          f"before {before:.1f} s, after {after:.1f} s, ratio {before / after:.1f}x; "
          f"target <= 10 s: {'met' if after <= 10 else 'NOT met'}; CPU time before "
          f"{min(cpus['before']):.1f} s, after {min(cpus['after']):.1f} s")
    print(f"results after vs before: {_compare(results['before'], results['after'])}")


if __name__ == "__main__":
    main()
