"""``metsurv synth``: write a synthetic registry cohort (:func:`metsurv.synthetic.cli.synth_command`,
which holds the writing; this is its command line)."""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from ._args import non_negative_int, positive_int
from ._errors import EXIT_OK, terminal_safe

#: Largest --n: ten million patients is beyond any registry (and a test cohort of that size
#: takes minutes); a typo such as 999999999999 is refused at once instead of failing with a
#: MemoryError after the allocation is attempted.
MAX_N = 10_000_000
#: Peak memory per synthetic patient, measured: ``--n 200000`` peaks at 612 MB resident
#: (/usr/bin/time -v), about 2.3 KB per patient above the interpreter's own.
BYTES_PER_PATIENT = 2_500


def _available_memory() -> int | None:
    """Bytes of memory the machine can still give (None when the system does not say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def patients(text: str) -> int:
    """``--n``: 1 to :data:`MAX_N`, and no more than the free memory can hold."""
    n = positive_int(text)
    if n > MAX_N:
        raise argparse.ArgumentTypeError(f"at most {MAX_N:,} patients, not {n:,}")
    need, free = n * BYTES_PER_PATIENT, _available_memory()
    if free is not None and need > free:
        raise argparse.ArgumentTypeError(
            f"{n:,} patients need about {need / 1e9:.1f} GB of memory and this machine has "
            f"{free / 1e9:.1f} GB free; use a smaller --n")
    return n


def finite_float(text: str) -> float:
    """``--treatment-effect``: a finite number (a log hazard ratio)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number (a log hazard ratio), not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"a finite log hazard ratio, not {text!r}")
    return value


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "synth", help="write a synthetic registry cohort",
        description="Write a synthetic registry cohort and its manifest.json into --out. "
                    "Nothing is written when the folder already holds a file synth would "
                    "write (they are listed; --force overwrites exactly those, no other file "
                    "is touched), nor into the root folder, your home folder or a folder "
                    "above the current one (--force allows the last two, never the root).")
    p.add_argument("--preset", required=True, choices=["irlm1997", "sarcoma"])
    p.add_argument("--n", type=patients, default=None,
                   help=f"number of patients (at most {MAX_N:,}, and what the free memory holds)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--dialect", default=None, choices=["de_registry", "it_xlsx"],
                   help="write as a messy registry export")
    p.add_argument("--outcome", choices=["calibrated", "ph"], default="calibrated")
    p.add_argument("--treatment-effect", type=finite_float, default=None, metavar="LOGHR",
                   help="with --outcome ph: a confounded treatment, VATS vs thoracotomy "
                        "assigned by the number of metastases, DFI and laterality, with this "
                        "true log hazard ratio (recorded in manifest.json under "
                        "true_parameters.treatment)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--force", action="store_true",
                   help="overwrite the files synth writes if the folder already holds them; "
                        "allow the home folder or a folder above the current one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from metsurv.synthetic.cli import synth_command

    out = synth_command(preset=args.preset, n=args.n, seed=args.seed, dialect=args.dialect,
                        outcome=args.outcome, out=args.out, force=args.force,
                        treatment_effect=args.treatment_effect)
    print(terminal_safe(f"wrote {out}"))
    return EXIT_OK
