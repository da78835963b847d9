"""Benchmark of the report build.

Targets: the default report (IRLM-sized synthetic cohort, n 5,206) in <= 10 s; a
1,000,000-patient cohort in <= 120 s with <= 4 GB peak memory.

    python benchmarks/bench_report.py                 # both sizes
    python benchmarks/bench_report.py --n 5206        # one size
    python benchmarks/bench_report.py --n 1000000 --keep

Each build runs in a child process, so its wall time and peak resident memory
(``ru_maxrss`` of the child) are measured without the data generation. Data come from
``data/synthetic/irlm1997`` when it holds n patients, else from
``metsurv.synthetic.generate("irlm1997", n, seed)`` written as CSV under benchmarks/out/.
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
TARGETS = {5206: (10.0, None), 1_000_000: (120.0, 4.0)}  # n: (seconds, GB)


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


def _child(config: Path, out: Path) -> None:
    from metsurv.report import build

    t0 = time.perf_counter()
    build(config, out=out)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def run(n: int, seed: int, keep: bool) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    data = _data(n, seed)
    config = _config(data, n)
    out = OUT / f"report_n{n}"
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage0.ru_maxrss
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--child", str(config), str(out)],
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode:
        raise SystemExit(f"build failed for n = {n}:\n{res.stderr[-3000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb = usage.ru_maxrss
    # CPU time says how much of the wall time was ours on a shared (loaded) machine.
    cpu = (usage.ru_utime + usage.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    inner = json.loads(res.stdout.strip().splitlines()[-1])["seconds"]
    limit_s, limit_gb = TARGETS.get(n, (None, None))
    result = {"n": n, "build_seconds": round(inner, 2), "process_seconds": round(wall, 2),
              "cpu_seconds": round(cpu, 2), "load_average_1m": round(os.getloadavg()[0], 2),
              "peak_gb": round(max(peak_kb, before) / 1024**2, 2),
              "limit_seconds": limit_s, "limit_gb": limit_gb}
    result["ok"] = ((limit_s is None or inner <= limit_s)
                    and (limit_gb is None or result["peak_gb"] <= limit_gb))
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, action="append", help="cohort size (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", action="store_true", help="keep the built reports")
    p.add_argument("--child", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(Path(args.child[0]), Path(args.child[1]))
        return 0
    ok = True
    for n in args.n or list(TARGETS):
        r = run(n, args.seed, args.keep)
        ok &= r["ok"]
        print(json.dumps(r), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
