"""``metsurv synth``: write a synthetic registry cohort (:func:`metsurv.synthetic.cli.synth_command`,
which holds the writing; this is its command line)."""

from __future__ import annotations

import argparse
from typing import Any

from ._args import non_negative_int, positive_int
from ._errors import EXIT_OK


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "synth", help="write a synthetic registry cohort",
        description="Write a synthetic registry cohort and its manifest.json into --out. "
                    "Nothing is written when the folder already holds a file synth would "
                    "write (they are listed; --force overwrites exactly those, no other file "
                    "is touched), nor into the root folder, your home folder or a folder "
                    "above the current one (--force allows the last two, never the root).")
    p.add_argument("--preset", required=True, choices=["irlm1997", "sarcoma"])
    p.add_argument("--n", type=positive_int, default=None, help="number of patients")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--dialect", default=None, choices=["de_registry", "it_xlsx"],
                   help="write as a messy registry export")
    p.add_argument("--outcome", choices=["calibrated", "ph"], default="calibrated")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--force", action="store_true",
                   help="overwrite the files synth writes if the folder already holds them; "
                        "allow the home folder or a folder above the current one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from metsurv.synthetic.cli import synth_command

    out = synth_command(preset=args.preset, n=args.n, seed=args.seed, dialect=args.dialect,
                        outcome=args.outcome, out=args.out, force=args.force)
    print(f"wrote {out}")
    return EXIT_OK
