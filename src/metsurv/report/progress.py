"""The progress of a report build, step by step (reading, analysing, composing, each figure,
the tables, PDF, Word, HTML), shown with tqdm on the terminal and in Jupyter.

Shown only when it helps: a build that takes more than :data:`DELAY` seconds, on a terminal
(standard error is a TTY) or in a Jupyter kernel; never under ``metsurv report --quiet``
(``progress=False``) nor when the ``CI`` environment variable is set (continuous
integration logs get no bar lines).
"""

from __future__ import annotations

import sys
from typing import Any

from metsurv.progress import in_jupyter, progress_wanted

__all__ = ["BuildProgress", "progress_wanted", "DELAY"]

#: Seconds a build runs before its progress is shown (a quick build stays silent).
DELAY = 2.0


def _width() -> int:
    """The bar's width: the terminal's, else 80 columns. (tqdm draws nothing on a terminal
    that reports 0 columns and 0 rows, as a bare pseudo-terminal does: the bar gets a width
    and 24 rows of its own.)"""
    import shutil

    columns = shutil.get_terminal_size(fallback=(80, 24)).columns
    return columns if columns >= 40 else 80


class BuildProgress:
    """One progress bar for one build: :meth:`add` the steps to come, :meth:`step` as each
    starts (its name is shown), :meth:`close` at the end (also as a context manager).

    Parameters
    ----------
    enabled : bool, optional
        Show it (True), never (False), or as :func:`progress_wanted` decides (None).
    stream : file, optional
        Where the bar is written (default: standard error).
    delay : float, optional
        Seconds before the bar first appears (default :data:`DELAY`).

    Notes
    -----
    In Jupyter the bar is a widget when ipywidgets is installed (``tqdm.notebook``), else
    text. Without tqdm installed, nothing is shown. ``steps`` lists every step told, in
    order (what tests read).
    """

    def __init__(self, enabled: bool | None = None, stream: Any = None,
                 delay: float | None = None) -> None:
        self.steps: list[str] = []
        self.total = 0
        self.bar: Any = None
        if not progress_wanted(enabled, stream):
            return
        try:
            bar_class = _bar_class()
        except ImportError:
            return
        self.bar = bar_class(total=0, desc="metsurv report", unit="step",
                             delay=DELAY if delay is None else delay,
                             file=stream if stream is not None else sys.stderr,
                             leave=False, ncols=_width(), nrows=24,
                             bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {elapsed}")

    def add(self, n: int) -> None:
        """``n`` more steps to come."""
        self.total += n
        if self.bar is not None:
            self.bar.total = self.total
            self._show()

    def step(self, name: str) -> None:
        """The next step, ``name``, starts (the previous one is done)."""
        first = not self.steps
        self.steps.append(name)
        if self.bar is None:
            return
        self.bar.set_description_str(f"metsurv report: {name}", refresh=False)
        shown = False if first else self.bar.update(1)
        if not shown:
            self._show()

    def _show(self) -> None:
        """Redraw the bar now if it is due (its delay has passed): a quick build stays
        silent, and a new step's name is shown at once."""
        if self.bar.format_dict["elapsed"] >= self.bar.delay:
            self.bar.refresh()

    def close(self) -> None:
        """Take the bar off the screen."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> BuildProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bar_class() -> Any:
    """tqdm's notebook bar in Jupyter with ipywidgets, else its text bar.

    Raises
    ------
    ImportError
        tqdm is not installed.
    """
    if in_jupyter():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm as notebook_bar

            return notebook_bar
        except ImportError:
            pass
    from tqdm import tqdm

    return tqdm
