"""Benchmark metsurv.io.read.read_table on a large registry-like CSV.

Writes a 1,000,000-row x 25-column export (";" delimiter, decimal comma, dd.mm.yyyy dates,
free text with umlauts, codes, empty cells) to a temporary directory, then reads it in a
fresh child process and prints wall time and peak memory (peak RSS from VmHWM or getrusage, plus the
pyarrow memory pool's high-water mark and tracemalloc's Python-heap peak).

    .venv/bin/python benchmarks/bench_read.py [--rows N] [--encoding latin-1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

N_COLUMNS = 25


def write_registry_csv(path: str, rows: int, seed: int = 20260101, chunk: int = 100_000,
                       encoding: str = "utf-8") -> None:
    """Stream a registry-like CSV to ``path`` in chunks (little memory)."""
    rng = np.random.default_rng(seed)
    header = [
        "patient_id", "center", "sex", "age", "primary_site", "histology", "primary_tx_date",
        "met_dx_date", "dfi_months", "synchronous", "n_mets", "laterality", "r_status",
        "n_status", "approach", "extent", "chemo_response", "op_date", "fu_date",
        "vital_status", "death_cause", "recurrence_date", "recurrence_site", "surgeon_note",
        "bmi",
    ]
    assert len(header) == N_COLUMNS
    centers = np.array(["München", "Köln", "Würzburg", "Zürich", "Graz", "Wien"])
    sexes = np.array(["m", "w", "unk", ""])
    sites = np.array(["Kolorektal", "Niere", "Weichteil", "Knochen", "Mamma", "Melanom"])
    hist = np.array(["Adenokarzinom", "Leiomyosarkom", "Osteosarkom", "klarzellig", "."])
    yesno = np.array(["ja", "nein", "99"])
    lat = np.array(["unilateral", "bilateral", ""])
    rstat = np.array(["R0", "R1", "R2", "Rx"])
    nstat = np.array(["N0", "N1", "N2", "NX"])
    appr = np.array(["VATS", "Thorakotomie", "Sternotomie", "robotisch"])
    ext = np.array(["Keil", "Präzision", "Segment", "Lobektomie"])
    chemo = np.array(["Ansprechen", "stabil", "Progress", "keine", ""])
    vital = np.array(["lebt", "verstorben"])
    cause = np.array(["Tumor", "andere", "unbekannt", ""])
    rsite = np.array(["pulmonal", "extrathorakal", "beide", ""])
    notes = np.array(["o.B.", "Drainage 3 Tage, komplikationslos", "Luftleck; verlängert",
                      "Ü-Station 1 Nacht", ""])
    base = np.datetime64("1990-01-01")

    def dates(days: np.ndarray, blank_rate: float) -> np.ndarray:
        d = (base + days.astype("timedelta64[D]")).astype("datetime64[D]")
        y = d.astype("datetime64[Y]").astype(int) + 1970
        m = d.astype("datetime64[M]").astype(int) % 12 + 1
        dd = (d - d.astype("datetime64[M]")).astype(int) + 1
        out = np.char.add(np.char.add(np.char.add(np.char.zfill(dd.astype(str), 2), "."),
                                      np.char.add(np.char.zfill(m.astype(str), 2), ".")),
                          y.astype(str))
        out[rng.random(len(days)) < blank_rate] = ""
        return out

    def comma(x: np.ndarray, digits: int) -> np.ndarray:
        return np.char.replace(np.round(x, digits).astype(str), ".", ",")

    with open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(";".join(header) + "\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)

            def pick(a: np.ndarray, n: int = n) -> np.ndarray:
                return a[rng.integers(0, len(a), n)]

            tx = rng.integers(0, 9000, n)
            dx = tx + rng.integers(0, 2000, n)
            op = dx + rng.integers(10, 120, n)
            fu = op + rng.integers(0, 4000, n)
            cols = [
                np.char.add("P", np.arange(start, start + n).astype(str)),
                pick(centers), pick(sexes), rng.integers(18, 90, n).astype(str),
                pick(sites), pick(hist), dates(tx, 0.02), dates(dx, 0.02),
                comma((dx - tx) / 30.4375, 2), np.where(dx - tx < 30, "ja", pick(yesno)),
                rng.integers(1, 12, n).astype(str),
                pick(lat), pick(rstat), pick(nstat), pick(appr), pick(ext), pick(chemo),
                dates(op, 0.0), dates(fu, 0.01), pick(vital), pick(cause), dates(fu, 0.6),
                pick(rsite), pick(notes), comma(rng.normal(26, 4, n), 1),
            ]
            assert len(cols) == N_COLUMNS
            # quote the free-text note (it may contain the delimiter)
            cols[23] = np.char.add(np.char.add('"', cols[23]), '"')
            lines = cols[0]
            for c in cols[1:]:
                lines = np.char.add(np.char.add(lines, ";"), c)
            fh.write("\n".join(lines.tolist()))
            fh.write("\n")


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MB.

    /proc/self/status VmHWM is per address space, so it starts fresh in an exec'd child;
    getrusage's ru_maxrss is carried over from the parent across exec on Linux.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def measure(path: str) -> dict:
    """Run in a fresh process: read the file once, report time and memory."""
    import tracemalloc

    import pyarrow as pa

    from metsurv.io.read import read_table

    rss_before = _peak_rss_mb()
    tracemalloc.start()
    t0 = time.perf_counter()
    table = read_table(path)
    seconds = time.perf_counter() - t0
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = _peak_rss_mb()
    frame = table.frame
    return {
        "rows": len(frame),
        "columns": frame.shape[1],
        "seconds": round(seconds, 2),
        "rss_before_mb": round(rss_before),
        "rss_peak_mb": round(rss_peak),
        "arrow_pool_peak_mb": round(pa.default_memory_pool().max_memory() / 2**20),
        "python_heap_peak_mb": round(py_peak / 2**20),
        "frame_memory_mb": round(frame.memory_usage(deep=True).sum() / 2**20),
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "decimal": table.decimal,
        "last_row_line": int(table.rows[-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", help="write the CSV into this directory and keep it")
    parser.add_argument("--encoding", default="utf-8",
                        help="file encoding, e.g. latin-1 for a Windows-style export")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or tmp
        path = os.path.join(folder, "registry_bench.csv")
        t0 = time.perf_counter()
        write_registry_csv(path, args.rows, encoding=args.encoding)
        size_mb = os.path.getsize(path) / 2**20
        print(f"wrote {args.rows:,} rows x {N_COLUMNS} columns, {size_mb:.0f} MB "
              f"in {time.perf_counter() - t0:.1f} s")
        out = subprocess.run([sys.executable, __file__, "--measure", path], check=True,
                             capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["file_mb"] = round(size_mb)
        for key, value in result.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
