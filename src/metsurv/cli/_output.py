"""What a subcommand prints: its result as JSON (``--json``) or text on stdout, and its
warnings on stderr as ``metsurv: warning: ...`` lines in both modes.

Warnings come from the results (``result.warnings``) and from any warning raised while they
were computed (caught here, so no raw Python warning reaches the terminal); each is printed
once, and the JSON carries the same list under the top-level key ``"warnings"``.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ._errors import one_line, terminal_safe

#: Warnings about metsurv's own dependencies, not about the user's data: not shown.
_DEVELOPER = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning)

#: What a terminal would act on inside a JSON string, as JSON escapes (see terminal_safe).
_JSON_UNSAFE = {c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F),
                                          *range(0x2066, 0x206A))}


class Notes:
    """The warnings of one command, in the order first seen, each once."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, texts: Iterable[str]) -> None:
        for text in texts:
            line = one_line(text)
            if line and line not in self.texts:
                self.texts.append(line)

    def add_result(self, result: Any) -> None:
        """The ``warnings`` of a result object or of its ``to_dict()``."""
        found = result.get("warnings") if isinstance(result, dict) else getattr(
            result, "warnings", None)
        self.add(found or ())


@contextmanager
def catching(notes: Notes) -> Iterator[Notes]:
    """Record every warning raised inside the block in ``notes`` instead of printing it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield notes
        finally:
            notes.add(str(w.message) for w in caught if not issubclass(w.category, _DEVELOPER))


def print_json(obj: Any) -> None:
    # json escapes C0 controls itself; terminal_safe adds C1 and bidi ones (inside strings,
    # the only place they can be, "\\x9b" is not JSON: so \\u escapes are written instead).
    text = json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False)
    print(text.translate(_JSON_UNSAFE))


def emit(payload: dict[str, Any], text: str, as_json: bool, notes: Notes) -> None:
    """Print a subcommand's answer: ``payload`` (with ``"warnings"`` set) as JSON or ``text``;
    the warnings on stderr either way."""
    for w in notes.texts:
        print(terminal_safe(f"metsurv: warning: {w}"), file=sys.stderr)
    if as_json:
        print_json({**payload, "warnings": list(notes.texts)})
    else:
        print(terminal_safe(text))
