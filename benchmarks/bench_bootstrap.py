"""1,000 bootstrap Cox refits on the bundled IRLM cohort: metsurv vs R ``boot`` over ``coxph``.

Both run as whole processes in one run (start-up, reading the CSV, coding the factors and
the refits all counted), one after the other on the same machine:

- metsurv: ``load_cohort(patients.csv)`` then :func:`metsurv.bootstrap.bootstrap_cox` (in
  process, one core);
- R: ``benchmarks/bench_bootstrap.R`` (``boot(d, function(d, i) coef(coxph(Surv(os_months,
  os_event) ~ complete_resection + n_metastases_group + histology_group + male, d[i, ],
  ties = "efron")), R)``).

Model: complete resection, number of metastases (3 groups), histology (5 groups), sex; the
complete cases of those (n 5,109 of 5,206). Target (issue 14): metsurv at most half of R's
time. Prints both wall times, the ratio, the load average, and both fits' t0 side by side.

    python benchmarks/bench_bootstrap.py [--replicates 1000] [--seed 1] [--no-r]
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
COVARIATES = ["complete_resection", "n_metastases_group", "histology_group", "sex"]

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
t = time.perf_counter()
import metsurv
from metsurv.bootstrap import bootstrap_cox
cohort = metsurv.load_cohort(sys.argv[1])
res = bootstrap_cox(cohort, sys.argv[4].split(","), replicates=int(sys.argv[2]),
                    seed=int(sys.argv[3]), progress=False)
tab = res.to_frame()
print(json.dumps({"n": res.n_resampled, "failed": res.n_failed,
                  "inner_seconds": time.perf_counter() - t,
                  "t0": dict(zip(tab["statistic"], tab["estimate"])),
                  "se": dict(zip(tab["statistic"], tab["se"]))}))
"""


def _run(cmd: list[str]) -> tuple[float, dict]:
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-r", action="store_true")
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(CHILD)
        py_wall, py = _run([sys.executable, str(script), str(CSV), str(a.replicates),
                            str(a.seed), ",".join(COVARIATES)])
    print(f"metsurv bootstrap_cox: {a.replicates} refits, n {py['n']}, failed {py['failed']}: "
          f"{py_wall:.2f} s wall (process), {py['inner_seconds']:.2f} s inside")
    if a.no_r or shutil.which("Rscript") is None:
        print("R not run")
        return
    r_wall, r = _run(["Rscript", str(ROOT / "benchmarks" / "bench_bootstrap.R"), str(CSV),
                      str(a.replicates), str(a.seed)])
    print(f"R boot + coxph:        {a.replicates} refits, n {r['n']}: {r_wall:.2f} s wall "
          f"(process), {r['boot_seconds']:.2f} s in boot()")
    print(f"ratio metsurv / R (whole processes): {py_wall / r_wall:.3f} (target <= 0.5)")
    print(f"load average after: {os.getloadavg()}")
    print("t0 metsurv:", {k: round(v, 6) for k, v in py["t0"].items()})
    print("t0 R:      ", {k: round(v, 6) for k, v in r["t0"].items()})
    print("bootstrap SE metsurv:", [round(v, 4) for v in py["se"].values()])
    print("bootstrap SE R:      ", [round(v, 4) for v in r["se"]])


if __name__ == "__main__":
    main()
