"""``metsurv report``: build the study report (:func:`metsurv.report.build.report_command`)."""

from __future__ import annotations

import argparse
from typing import Any

from metsurv.errors import CohortError

from ._args import export_date
from ._errors import EXIT_OK, terminal_safe
from ._output import Notes, catching

#: 31 December 9999, 23:59:59 UTC: the last second a report date can be written with.
_LAST_EPOCH = 253_402_300_799


def check_source_date_epoch(value: str | None) -> None:
    """Refuse a ``SOURCE_DATE_EPOCH`` that is not a whole number of seconds from 0 (1970) to
    the end of year 9999 (reproducible-builds.org: "an integer ... not negative"), before a
    build starts, instead of failing inside it.

    Raises
    ------
    CohortError
        Naming the variable, its value and what to set.

    >>> check_source_date_epoch("1700000000")
    >>> check_source_date_epoch("abc")
    Traceback (most recent call last):
    ...
    metsurv.errors.CohortError: SOURCE_DATE_EPOCH: 'abc' is not a whole number of seconds since 1970-01-01 UTC (0 to 253402300799); set it to such a number, e.g. $(date +%s), or unset it
    """
    if value is None or value == "":
        return
    text = value.strip()
    ok = text.isdigit() and text.isascii() and len(text) <= 12 and int(text) <= _LAST_EPOCH
    if not ok:
        raise CohortError(
            f"SOURCE_DATE_EPOCH: {value[:24]!r} is not a whole number of seconds since "
            f"1970-01-01 UTC (0 to {_LAST_EPOCH}); set it to such a number, e.g. $(date +%s), "
            "or unset it")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="build the study report (HTML, PDF, figures, tables)",
        description="Build the study report into --out. The report is built beside the "
                    "folder and swapped in at the end, so a failed or killed build leaves the "
                    "previous report (the next build restores it and removes what the killed "
                    "build left). An existing --out is replaced only if it is empty or a "
                    "metsurv report; files in it that metsurv did not write (your notes.txt) "
                    "are kept in the new report, and a build that would overwrite one of "
                    "them is refused with their list. One build per folder at a time.")
    p.add_argument("config", nargs="?", default=None,
                   help="study config YAML or a data file; none = the bundled irlm1997 cohort")
    p.add_argument("--out", default=None,
                   help="output directory (your own files in it are kept)")
    p.add_argument("--mapping", default=None,
                   help="with a data file: mapping YAML (docs/mapping.md) for its column names "
                        "and codes")
    p.add_argument("--resections", default=None,
                   help="with a data file: the resections table (one row per operation)")
    p.add_argument("--today", type=export_date, metavar="YYYY-MM-DD",
                   help="the export date: a later date in the data is in the future, "
                        "implausible (default: the config's data.today, else the machine's "
                        "date)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="show no progress (it is shown on a terminal for a build of more "
                        "than a few seconds, never when CI is set or output is redirected)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from metsurv.report.build import report_command

    check_source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH"))
    if args.config is not None and not str(args.config).lower().endswith((".yaml", ".yml")):
        from metsurv.io.read.errors import require_input

        for option in ("--mapping", "--resections"):  # one wording with `metsurv validate`
            require_input(option, getattr(args, option[2:]))
    notes = Notes()
    with catching(notes):
        out = report_command(args.config, out=args.out, mapping=args.mapping,
                             today=args.today, resections=args.resections,
                             progress=False if args.quiet else None)
    for w in notes.texts:
        print(terminal_safe(f"metsurv: warning: {w}"), file=sys.stderr)
    if not args.quiet:
        print(terminal_safe(f"report written to {out}"))
    return EXIT_OK
