"""``metsurv synth --preset irlm1997 --n 1000000``, end to end (generate + write the files).

Target (issue 3, this 2-core machine): <= 20 s wall time. Times the real command
(``metsurv synth --preset irlm1997 --n 1000000 --out benchmarks/out/synth``, a fresh process:
start-up and imports included), then a breakdown of ``synth_command`` (generate vs write) in a
second process, and reports the output sizes. Output is not committed.

    .venv/bin/python benchmarks/bench_synth.py [--n 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out" / "synth"
BUDGET_SECONDS = 20.0

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from metsurv.synthetic import generate
from metsurv.synthetic.cli import synth_command
t1 = time.perf_counter()
cohort = generate("irlm1997", n={n}, seed=0)
t2 = time.perf_counter()
del cohort
t3 = time.perf_counter()
synth_command("irlm1997", n={n}, seed=0, out=sys.argv[1], force=True)
t4 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "generate_only": t2 - t1, "synth_command": t4 - t3}}))
"""


def run(n: int) -> dict[str, float]:
    OUT.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).with_name("metsurv")), "synth", "--preset", "irlm1997",
               "--n", str(n), "--seed", "0", "--out", str(OUT), "--force"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    end_to_end = time.perf_counter() - start
    done = subprocess.run([sys.executable, "-c", _CHILD.format(n=n), str(OUT)], check=True,
                          capture_output=True, text=True)
    stages = json.loads(done.stdout.strip().splitlines()[-1])
    stages["write_only"] = stages["synth_command"] - stages["generate_only"]
    return {"end_to_end": end_to_end, **stages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [run(args.n) for _ in range(args.repeat)]
    for i, r in enumerate(runs, 1):
        print(f"run {i}: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.items()))
    sizes = {p.name: p.stat().st_size for p in sorted(OUT.iterdir())}
    print("files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()))
    best = min(r["end_to_end"] for r in runs)
    print(f"best end-to-end {best:.2f} s (budget {BUDGET_SECONDS:.0f} s): "
          f"{'OK' if best <= BUDGET_SECONDS else 'OVER BUDGET'}")
    return 0 if best <= BUDGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
