"""Text is text (issue 10 item 7): a "$" in a title, label, column name or factor level is a
dollar sign in every output, never mathtext, and never breaks a build; markup in a title is
shown, not interpreted, in the HTML.

Oracle: matplotlib's own flag (``Text.get_parse_math()``: every text a figure draws is
literal) and a render to every format that would raise on an unbalanced "$" if it were read
as mathtext (matplotlib: "ValueError: ... Expected end of text").
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from metsurv.cli import main
from metsurv.report import figures as F
from metsurv.report import style
from metsurv.stats import km

#: Texts that mathtext would typeset ($x^2$), choke on (a lone $) or misread ($5 ... $10).
DOLLARS = ["costs $5 and $10", "$x^2$", "a lone $", r"$\alpha$ level"]


def _fig_texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_text()]


def _dollar_cohort() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    group = rng.choice(DOLLARS, 120)
    t = rng.exponential(40, 120)
    return pd.DataFrame({"os_months": np.round(t, 1), "os_event": t < 60, "grp$": group})


def test_dollar_in_km_figure_title_and_levels_is_drawn_literally(tmp_path):
    fit = km(_dollar_cohort(), by="grp$")
    panel = F.panel_from_km(fit, at_risk_times=[0, 36, 72], labels={g: g for g in DOLLARS},
                            title="Survival by $ level $")
    fig = F.km_figure(panel)
    paths = F.save_figure(fig, tmp_path / "km")  # png, svg, pdf: raises if read as mathtext
    assert all(p.stat().st_size > 0 for p in paths)
    texts = _fig_texts(fig)
    shown = " | ".join(t.get_text() for t in texts)
    assert all(level in shown for level in DOLLARS) and "Survival by $ level $" in shown
    assert not [t.get_text() for t in texts if t.get_parse_math()]


def test_dollar_in_forest_figure_terms_is_drawn_literally(tmp_path):
    table = pd.DataFrame({"term": ["Cost $: $5 vs $0", "Cost $: $x^2$ vs $0"],
                          "hr": [1.5, 0.7], "lower": [1.1, 0.4], "upper": [2.0, 1.2]})
    fig = F.forest_figure({"Univariable": table}, title="Hazard $ ratios")
    F.save_figure(fig, tmp_path / "forest")
    assert not [t.get_text() for t in _fig_texts(fig) if t.get_parse_math()]


def test_report_style_turns_mathtext_off():
    with style.figure_style():
        fig = style.new_figure((2, 2))
        label = fig.text(0.1, 0.1, "a lone $")
    assert label.get_parse_math() is False


@pytest.mark.slow
def test_dollar_and_markup_in_report_title_are_shown_literally(tmp_path, capsys):
    (tmp_path / "good.csv").write_bytes(
        (__import__("pathlib").Path(__file__).parents[1] / "data" / "bad" / "good.csv")
        .read_bytes())
    title = "Cost $5 and $x^2$ <b>bold</b> a lone $"
    cfg = tmp_path / "study.yaml"
    cfg.write_text(
        f'title: "{title}"\ndata: {{source: good.csv}}\n'
        'factors: [{factor: resection_status, title: "R $ status $\\\\alpha$"}]\n'
        "competing_risks: false\nbenchmark: null\n", encoding="utf-8")
    out = tmp_path / "r"
    assert main(["report", str(cfg), "--out", str(out)]) == 0, capsys.readouterr().err
    page = (out / "index.html").read_text(encoding="utf-8")
    assert html.escape(title, quote=False) in page and "<b>bold</b>" not in page
    assert r"R $ status $\alpha$" in page
    assert (out / "report.pdf").stat().st_size > 0
