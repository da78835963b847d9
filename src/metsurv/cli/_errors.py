"""The one error path of the ``metsurv`` command.

Every subcommand runs through :func:`run`. What it turns into exit status 2 and ONE line on
stderr (``metsurv: <file>: <what is wrong>; <what to do>``):

- :class:`~metsurv.errors.CohortError`: a whole input is unusable (file, mapping, config);
  its message already names the file;
- :class:`~metsurv.errors.DataError`: a statistic cannot answer from these data (no events, a
  negative time, start >= stop, a bad weight, ...); the file is put in front, and the
  column when the message does not name it;
- :class:`KeyError`: a column named on the command line is absent;
- :class:`OSError`: a file that cannot be read or written (``--out`` is a file, no
  permission, disk full).

Anything else is a bug in metsurv: exit status 1 and "internal error ... report it"
(``--debug`` shows the traceback instead). Warnings never go through here: they are part
of a result (:mod:`metsurv.cli._output`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from metsurv.errors import CohortError, DataError

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2


#: Characters a terminal acts on instead of showing: C0 controls (ESC starts the sequences
#: that recolour, move the cursor or retitle the window), DEL, the C1 controls (U+009B is a
#: one-character ESC [) and the bidirectional overrides that reorder what is shown. Each is
#: written as a visible escape (``\x1b``, ``\u202e``); newline and tab are kept.
_UNSAFE = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))
           if c not in (0x09, 0x0A)} | {
    c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def terminal_safe(text: str) -> str:
    r"""``text`` with every character a terminal would act on shown as an escape instead.

    Column names, codes and file names come from the user's files; printed raw, an ESC in
    one could recolour or rewrite the console. Every line the CLI prints passes here.

    >>> terminal_safe("os\x1b[31mred\x07 ok\n")
    'os\\x1b[31mred\\x07 ok\n'
    """
    return str(text).translate(_UNSAFE)


def one_line(text: str) -> str:
    """A message on one line: its lines joined by "; " (a refusal is one line on stderr)."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def input_name(args: argparse.Namespace) -> str:
    """The file the subcommand reads (its SOURCE or CONFIG argument) by its name, as the
    loader names files in its messages."""
    for key in ("source", "config"):
        value = getattr(args, key, None)
        if value:
            return os.path.basename(os.path.normpath(str(value))) or str(value)
    return "metsurv"


def data_message(exc: DataError, name: str) -> str:
    """A DataError's message with the file in front, and its column when not yet named."""
    text = one_line(str(exc))
    column = getattr(exc, "column", None)
    if column and repr(str(column)) not in text and f"column {column}" not in text:
        text = f"column {column!r}: {text}"
    return f"{name}: {text}"


def key_message(exc: KeyError, name: str) -> str:
    """A missing column: KeyError's argument without the quotes ``str(KeyError)`` adds."""
    what = exc.args[0] if exc.args else exc
    text = str(what) if isinstance(what, str) and " " in what else f"there is no column {what!r}"
    return (f"{name}: {one_line(text)}; check the column names given to "
            "--time/--event/--start/--weights/--by/--covariates/--strata/--cluster")


def os_message(exc: OSError, name: str) -> str:
    """A file that cannot be read or written, named by the operating system's error."""
    target = exc.filename if exc.filename is not None else name
    reason = exc.strerror or type(exc).__name__
    return f"{target}: {reason}; check the path and its permissions"


def _say(message: str) -> None:
    print(terminal_safe(f"metsurv: {message}"), file=sys.stderr)


def run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one subcommand; map its exceptions to exit status and one line on stderr."""
    debug = getattr(args, "debug", False)
    name = input_name(args)
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (CohortError, DataError, KeyError, OSError) as exc:
        if debug:
            raise
        if isinstance(exc, CohortError):
            text = one_line(str(exc))
            # no input file (bare `metsurv report`): the message names what it is about
            _say(text if name in text or name == "metsurv" else f"{name}: {text}")
        elif isinstance(exc, DataError):
            _say(data_message(exc, name))
        elif isinstance(exc, KeyError):
            _say(key_message(exc, name))
        else:
            _say(os_message(exc, name))
        return EXIT_INPUT
    except Exception as exc:  # the shell never shows a raw traceback (use --debug for one)
        if debug:
            raise
        _say(f"internal error ({type(exc).__name__}: {one_line(str(exc))}); rerun with "
             "--debug and report it.")
        return EXIT_INTERNAL
