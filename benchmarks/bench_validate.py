"""Bootstrap validation of a 5-covariate Cox model on the bundled IRLM cohort: metsurv vs R
``rms::validate``, 200 replicates (issue 15, item 8: within 60 s on 2 cores).

Both run as whole processes (start-up, reading the CSV, coding the factors, the fit and the
replicates all counted), one after the other on the same machine:

- metsurv: ``load_cohort(patients.csv)`` then :func:`metsurv.stats.validate.validate`
  (in-process on one core, and with ``--workers 2`` a local Dask cluster of 2 workers);
- R: ``benchmarks/bench_validate.R`` (``validate(cph(Surv(os_months, os_event) ~
  complete_resection + n_metastases_group + histology_group + male + age, x = TRUE, y =
  TRUE, surv = TRUE), method = "boot", B)``).

Model: complete resection, number of metastases (3 groups), histology (5 groups), sex, age
at metastasectomy; the complete cases of those (n 5,062 of 5,206). Prints the wall times,
the ratio metsurv / R, the load average and both apparent and corrected indexes (they differ
only by the resamples drawn).

    python benchmarks/bench_validate.py [--replicates 200] [--seed 1] [--workers 1 2] [--no-r]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "synthetic" / "irlm1997" / "patients.csv"
COVARIATES = ["complete_resection", "n_metastases_group", "histology_group", "sex",
              "age_at_metastasectomy"]

CHILD = r"""
import json, sys, time, warnings


def main():
    warnings.simplefilter("ignore")
    t = time.perf_counter()
    import metsurv
    from metsurv.stats.validate import validate
    cohort = metsurv.load_cohort(sys.argv[1])
    workers = int(sys.argv[5])
    res = validate(cohort, sys.argv[4].split(","), replicates=int(sys.argv[2]),
                   seed=int(sys.argv[3]), workers=None if workers == 1 else workers,
                   progress=False)
    tab = res.to_frame()
    print(json.dumps({"n": res.n, "failed": int(len(res.failed)),
                      "inner_seconds": time.perf_counter() - t,
                      "index": tab["index"].tolist(), "index_orig": tab["index.orig"].tolist(),
                      "index_corrected": tab["index.corrected"].tolist()}))


if __name__ == "__main__":  # Dask's worker processes import this file
    main()
"""


def _run(cmd: list[str]) -> tuple[float, dict]:
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def _show(label: str, res: dict) -> None:
    pairs = dict(zip(res["index"], zip(res["index_orig"], res["index_corrected"],
                                       strict=True), strict=True))
    print(f"  {label}: " + ", ".join(f"{k} {pairs[k][0]:.4f} -> {pairs[k][1]:.4f}"
                                     for k in ("Dxy", "R2", "Slope") if k in pairs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-r", action="store_true")
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(CHILD)
        for w in a.workers:
            wall, py = _run([sys.executable, str(script), str(CSV), str(a.replicates),
                             str(a.seed), ",".join(COVARIATES), str(w)])
            walls[w] = wall
            print(f"metsurv validate, {w} worker(s): B {a.replicates}, n {py['n']}, failed "
                  f"{py['failed']}: {wall:.2f} s wall (process), {py['inner_seconds']:.2f} s "
                  f"inside")
            _show("index.orig -> corrected", py)
    if a.no_r or shutil.which("Rscript") is None:
        print("R not run")
        return
    r_wall, r = _run(["Rscript", str(ROOT / "benchmarks" / "bench_validate.R"), str(CSV),
                      str(a.replicates), str(a.seed)])
    print(f"R rms::validate(cph):  B {a.replicates}, n {r['n']}, ok {r['n_ok']}: "
          f"{r_wall:.2f} s wall (process), {r['validate_seconds']:.2f} s in cph + validate")
    _show("index.orig -> corrected", r)
    for w, wall in walls.items():
        print(f"ratio metsurv ({w} worker(s)) / R (whole processes): {wall / r_wall:.3f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
