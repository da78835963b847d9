"""Benchmark of the report build, against R survival doing the same work.

Targets (issue 12, item 8): the default report (IRLM-sized synthetic cohort, n 5,206) in at
most half the wall time of R (benchmarks/bench_report.R: the six factors' KM figures with a
number-at-risk table as PNG/SVG/PDF, Cox models, cox.zph and the survival table; figures
with survminer's ggsurvplot when R has it, else base graphics, and the run says which);
a 1,000,000-patient cohort in
<= 30 s with <= 2 GB peak memory.

    python benchmarks/bench_report.py                 # n 5,206: metsurv and R, the ratio
    python benchmarks/bench_report.py --n 1000000     # metsurv only (--with-r to add R)
    python benchmarks/bench_report.py --repeat 3      # the best of 3 runs of each
    python benchmarks/bench_report.py --n 1000000 --memory  # and all processes' memory

Both sides are timed as whole processes (interpreter start, imports, reading the data,
writing every file): ``python -m metsurv.cli report CONFIG --out DIR --quiet`` and
``Rscript benchmarks/bench_report.R PATIENTS.csv DIR``, one after the other in the same run.
Peak memory is the largest resident set of any process of the build (``ru_maxrss`` of the
children; forked workers share the builder's pages, so this is not a sum). ``--memory``
adds a second reading from one more run: the memory in use by all the build's processes
together, the peak of the sum of their proportional set sizes (Linux ``smaps_rollup`` Pss:
a page shared by k processes counts 1/k in each), sampled every 0.2 s; the sampler slows
that run, so its time is not reported. Data come
from ``data/synthetic/irlm1997`` when it holds n patients, else from
``metsurv.synthetic.generate("irlm1997", n, seed)`` written as CSV under benchmarks/out/.
The machine's 1-minute load average is printed: on a loaded machine both times grow.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
TARGETS = {5206: (None, None), 1_000_000: (30.0, 2.0)}  # n: (seconds, GB)
#: metsurv's wall time over R's at most this (n 5,206)
MAX_RATIO = 0.5
R_SCRIPT = ROOT / "benchmarks" / "bench_report.R"


def _data(n: int, seed: int) -> Path:
    bundled = ROOT / "data" / "synthetic" / "irlm1997"
    if (bundled / "patients.csv").is_file():
        with open(bundled / "patients.csv", encoding="utf-8") as fh:
            if sum(1 for _ in fh) - 1 == n:
                return bundled
    folder = OUT / f"irlm1997_n{n}_seed{seed}"
    if not (folder / "patients.csv").is_file():
        from metsurv.synthetic import generate

        cohort = generate("irlm1997", n=n, seed=seed)
        folder.mkdir(parents=True, exist_ok=True)
        cohort.patients.to_csv(folder / "patients.csv", index=False)
        cohort.resections.to_csv(folder / "resections.csv", index=False)
    return folder


def _config(data: Path, n: int) -> Path:
    raw = yaml.safe_load((ROOT / "reports" / "irlm1997.yaml").read_text(encoding="utf-8"))
    raw["data"] = {"source": str(data / "patients.csv"),
                   "resections": str(data / "resections.csv")}
    raw["title"] = f"Benchmark, n = {n:,}"
    path = OUT / f"bench_n{n}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _timed(cmd: list[str]) -> tuple[float, float, float, str]:
    """Run ``cmd``; its wall seconds, CPU seconds, peak resident GB (of its processes) and
    standard output."""
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed:\n{res.stderr[-3000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime + usage.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    # ru_maxrss of the children only grows: it is this command's when it is the largest yet
    return wall, cpu, usage.ru_maxrss / 1024**2, res.stdout


def _process_tree(root: int) -> list[int]:
    pids, out = [root], []
    while pids:
        pid = pids.pop()
        out.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                    pids.extend(int(c) for c in fh.read().split())
        except OSError:  # ended meanwhile
            continue
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            return next((int(ln.split()[1]) for ln in fh if ln.startswith("Pss:")), 0)
    except OSError:
        return 0


def _memory_in_use(cmd: list[str]) -> float:
    """Run ``cmd``; the peak, in GB, of the summed Pss of its processes (Linux)."""
    import tempfile

    with tempfile.TemporaryFile() as err:  # a file: a full pipe would stop the build
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, sum(_pss_kb(pid) for pid in _process_tree(proc.pid)))
            time.sleep(0.2)
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd[:4])} ... failed:\n"
                             f"{err.read().decode(errors='replace')[-3000:]}")
    return peak / 1024**2


def run(n: int, seed: int, keep: bool, repeat: int = 1, with_r: bool | None = None,
        memory: bool = False) -> dict:
    """Time the report of n patients (and R's same work when ``with_r``, default for the
    IRLM-sized cohort); the best wall time of ``repeat`` runs of each."""
    OUT.mkdir(parents=True, exist_ok=True)
    data = _data(n, seed)
    config = _config(data, n)
    out = OUT / f"report_n{n}"
    r_out = OUT / f"r_n{n}"
    with_r = (n == 5206) if with_r is None else with_r
    if with_r and not shutil.which("Rscript"):
        raise SystemExit("Rscript not found: install R with the survival package")
    env_cmd = [sys.executable, "-m", "metsurv.cli", "report", str(config), "--out", str(out),
               "--quiet"]
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(_timed(env_cmd))
        if with_r:
            shutil.rmtree(r_out, ignore_errors=True)
            theirs.append(_timed(["Rscript", str(R_SCRIPT), str(data / "patients.csv"),
                                  str(r_out)]))
    wall, cpu, _, _ = min(ours)
    limit_s, limit_gb = TARGETS.get(n, (None, None))
    result = {"n": n, "metsurv_seconds": round(wall, 2), "metsurv_cpu_seconds": round(cpu, 2),
              "peak_gb": round(max(o[2] for o in ours), 2),
              "load_average_1m": round(os.getloadavg()[0], 2),
              "limit_seconds": limit_s, "limit_gb": limit_gb}
    if memory:
        if not Path("/proc/self/smaps_rollup").is_file():
            raise SystemExit("--memory reads /proc/PID/smaps_rollup (Linux 4.14 or later)")
        result["in_use_peak_gb"] = round(_memory_in_use(env_cmd), 2)
    ok = ((limit_s is None or wall <= limit_s)
          and (limit_gb is None or max(result["peak_gb"],
                                       result.get("in_use_peak_gb", 0.0)) <= limit_gb))
    if theirs:
        r_wall, r_cpu, _, r_out_text = min(theirs)
        engine = next((ln.split(":", 1)[1].strip() for ln in r_out_text.splitlines()
                       if ln.startswith("figures:")), "unknown")
        result.update({"r_seconds": round(r_wall, 2), "r_cpu_seconds": round(r_cpu, 2),
                       "r_figures": engine,
                       "ratio": round(wall / r_wall, 2), "max_ratio": MAX_RATIO})
        ok &= wall / r_wall <= MAX_RATIO
    result["ok"] = ok
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(r_out, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, action="append", help="cohort size (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1, help="runs of each; the best is kept")
    p.add_argument("--with-r", action=argparse.BooleanOptionalAction, default=None,
                   help="time R too (default: for n 5,206 only)")
    p.add_argument("--keep", action="store_true", help="keep the built reports")
    p.add_argument("--memory", action="store_true",
                   help="one more run, sampling the memory in use by all its processes")
    args = p.parse_args(argv)
    ok = True
    for n in args.n or [5206]:
        r = run(n, args.seed, args.keep, max(1, args.repeat), args.with_r, args.memory)
        ok &= r["ok"]
        if "ratio" in r:
            print(f"n = {n:,}: metsurv {r['metsurv_seconds']:.1f} s, R {r['r_seconds']:.1f} s "
                  f"(figures: {r['r_figures']}), ratio {r['ratio']:.2f} "
                  f"(target <= {MAX_RATIO})", file=sys.stderr)
        print(json.dumps(r), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
