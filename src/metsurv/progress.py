"""When metsurv shows a progress bar (report builds, replicate runs): the one rule.

A light module (standard library only), so that a replicate run decides without importing
the report package (seconds of imports).
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["in_jupyter", "progress_wanted"]


def in_jupyter() -> bool:
    """True inside a Jupyter (IPython kernel) session."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except AttributeError:
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def progress_wanted(progress: bool | None = None, stream: Any = None) -> bool:
    """Whether a progress bar is shown: ``progress`` when True or False; by default (None)
    when ``CI`` is unset (or empty, ``0``, ``false``, ``no``) and ``stream`` (standard error)
    is a terminal or the run is in Jupyter (continuous-integration logs get no bar lines).

    >>> progress_wanted(False)
    False
    """
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    stream = sys.stderr if stream is None else stream
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    return tty or in_jupyter()
