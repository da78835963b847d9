"""Table headers in the typeset PDF keep their counts whole: "(n = 5,206)" wraps as one
piece ("Overall (n =" / "5,206)" was how Table 1's headers broke), and the column widths
are computed for that piece. Oracle: the header text itself and the width estimate of
the unbroken piece."""

from __future__ import annotations

import pandas as pd

from metsurv.report import render_pdf as P

NBSP = "\u00a0"


def test_counts_are_joined_by_no_break_spaces():
    assert P._counts_kept_whole("Overall (n = 5,206)") == f"Overall (n{NBSP}={NBSP}5,206)"
    assert P._counts_kept_whole("Multivariable, study model (n = 981,368, events = 685,119)"
                                ) == (f"Multivariable, study model (n{NBSP}={NBSP}981,368, "
                                      f"events{NBSP}={NBSP}685,119)")
    assert P._counts_kept_whole("Level") == "Level"
    assert P._counts_kept_whole("hn = x") == "hn = x"  # a whole word "n" only


def test_a_joined_count_is_one_word_for_the_widths():
    head = P._counts_kept_whole("Overall (n = 5,206)")
    assert P._words(head) == ["Overall", f"(n{NBSP}={NBSP}5,206)"]
    # a table too wide for the page: the number column is at least as wide as the piece
    df = pd.DataFrame({"Characteristic": ["x" * 60] * 2, "Level": ["y" * 60] * 2,
                       head: ["5,206", "12 (0.2%)"], "Other": ["z" * 80] * 2})
    size, inset = 7.0, 2.0
    widths, _ = P._columns(df, [False, False, True, False], size, inset, "a4")
    piece = P._em(f"(n{NBSP}={NBSP}5,206)", True) * size
    assert widths[2] >= piece
