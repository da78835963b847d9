"""The metsurv command and its subcommands (validate, synth, km, cox, predict, irlm, ...).

The shell around the functional core: it reads files, calls one statistic, prints the
result's ``to_dict()`` as JSON (``--json``) or as text, and its warnings on stderr as
``metsurv: warning: ...`` lines. One module per subcommand; :mod:`metsurv.cli._errors` is the
one error path: a data or file problem exits with status 2 and ONE line on stderr naming
the file (and the column and row where known) and what to do; "internal error ... report
it" (status 1) is left for bugs; ``--debug`` shows a traceback instead. A usage error (an
unknown option, ``--n 0``) also exits 2 with one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from . import compare, cox, irlm, km, power, predict, report, simulate, synth, validate
from ._errors import EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, run, terminal_safe

__all__ = ["EXIT_INPUT", "EXIT_INTERNAL", "EXIT_OK", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line (``metsurv km: error: ...; see --help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, terminal_safe(f"{self.prog}: error: {message}; see {self.prog} "
                                            "--help") + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="metsurv", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (validate, synth, km, cox, predict, irlm, compare, power, simulate,
                   report):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``metsurv`` with ``argv`` (default: the command line); return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2, already printed)
        return stop.code if isinstance(stop.code, int) else EXIT_INPUT
    func: Callable[[argparse.Namespace], int] = args.func
    return run(func, args)


if __name__ == "__main__":
    sys.exit(main())
