"""A report build shows its progress step by step on a terminal (and in Jupyter), and stays
silent under ``metsurv report --quiet``, when ``CI`` is set, or when standard error is not a
terminal (issue 12, item 8)."""

from __future__ import annotations

import importlib
import io
import time
from pathlib import Path

import pytest

from metsurv.report import progress as P


class _Terminal(io.StringIO):
    """Standard error as a terminal would be: a TTY, its text kept."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> Path:
    """The smallest study the report tests build (one factor, SVG only)."""
    from tests.report.conftest import write_cohort, write_config

    root = tmp_path_factory.mktemp("progress")
    write_cohort(root / "data", n=120, seed=11)
    return write_config(root, data={"source": "data/patients.csv"}, formats=["svg"],
                        factors=["complete_resection"], table1={"by": "complete_resection"},
                        cox={"covariates": ["complete_resection"]}, landmark_times=[12],
                        benchmark=None)


def _on_terminal(monkeypatch) -> _Terminal:
    """A terminal on standard error, no CI, and a bar shown at once (no delay). Called in
    the test itself: pytest's output capture sets ``sys.stderr`` again after fixtures."""
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(P, "DELAY", 0.0)
    return term


@pytest.mark.parametrize(("ci", "tty", "asked", "shown"), [
    (None, True, None, True),       # a terminal: shown
    (None, False, None, False),     # redirected to a file or pipe: silent
    ("true", True, None, False),    # continuous integration: silent
    ("0", True, None, True),        # CI=0 is not CI
    (None, True, False, False),     # --quiet
    ("1", False, True, True),       # asked for in code: shown
])
def test_progress_is_wanted_on_a_terminal_outside_ci_unless_quiet(monkeypatch, ci, tty, asked,
                                                                  shown):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    stream = _Terminal() if tty else io.StringIO()
    assert P.progress_wanted(asked, stream) is shown


def test_a_bar_names_each_step_and_counts_them():
    stream = _Terminal()
    with P.BuildProgress(True, stream=stream, delay=0) as bar:
        bar.add(3)
        for name in ("reading the data", "analysing", "figure km_overall"):
            bar.step(name)
        assert bar.bar.n == 2 and bar.bar.total == 3
    text = stream.getvalue()
    assert "metsurv report: figure km_overall" in text and "2/3" in text
    assert bar.steps == ["reading the data", "analysing", "figure km_overall"]


def test_a_bar_stays_silent_until_its_delay_then_shows_the_current_step():
    stream = _Terminal()
    with P.BuildProgress(True, stream=stream, delay=0.5) as bar:
        bar.add(3)
        bar.step("reading the data")
        bar.step("analysing")
        assert stream.getvalue() == ""  # a quick build shows nothing
        time.sleep(0.6)
        bar.step("composing the sections")
        assert "metsurv report: composing the sections: 2/3" in stream.getvalue()


def test_a_disabled_bar_writes_nothing_but_keeps_the_steps():
    stream = _Terminal()
    with P.BuildProgress(False, stream=stream, delay=0) as bar:
        bar.add(2)
        bar.step("analysing")
    assert stream.getvalue() == "" and bar.bar is None and bar.steps == ["analysing"]


def test_a_build_on_a_terminal_shows_every_section_and_figure(tiny_study, tmp_path,
                                                               monkeypatch):
    B = importlib.import_module("metsurv.report.build")
    told: list[list[str]] = []
    real = P.BuildProgress

    class Recording(real):
        def close(self) -> None:
            told.append(list(self.steps))
            super().close()

    monkeypatch.setattr(B, "BuildProgress", Recording)
    terminal = _on_terminal(monkeypatch)
    out = B.build(tiny_study, out=tmp_path / "report")
    (steps,) = told
    assert steps[:3] == ["reading the data", "analysing", "composing the sections"]
    figures = {s.removeprefix("figure ") for s in steps if s.startswith("figure ")}
    assert figures == {p.stem for p in (out / "figures").glob("*.svg")} and figures
    assert steps[-5:] == ["report.pdf", "report.docx", "index.html", "provenance.json", "done"]
    text = terminal.getvalue()
    assert "metsurv report: analysing" in text and "metsurv report: report.pdf" in text


def _cli(tiny_study: Path, out: Path, *extra: str) -> int:
    from metsurv.cli import main

    return main(["report", str(tiny_study), "--out", str(out), *extra])


def test_metsurv_report_quiet_shows_no_progress(tiny_study, tmp_path, monkeypatch, capsys):
    terminal = _on_terminal(monkeypatch)
    assert _cli(tiny_study, tmp_path / "quiet", "--quiet") == 0
    assert "metsurv report:" not in terminal.getvalue()
    assert capsys.readouterr().out == ""  # not even "report written to"
    assert _cli(tiny_study, tmp_path / "loud") == 0
    assert "metsurv report: composing the sections" in terminal.getvalue()


def test_metsurv_report_in_ci_shows_no_progress(tiny_study, tmp_path, monkeypatch):
    terminal = _on_terminal(monkeypatch)
    monkeypatch.setenv("CI", "true")
    assert _cli(tiny_study, tmp_path / "ci") == 0
    assert "metsurv report:" not in terminal.getvalue()


def test_the_bar_is_drawn_on_a_pseudo_terminal_of_unknown_size():
    """A bare pseudo-terminal reports 0 columns and 0 rows (``script``, ``pty.spawn``, some
    CI shells with a TTY): tqdm then drew nothing. The bar is drawn there too."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()  # a new pty has size 0 x 0
    code = ("import time\n"
            "from metsurv.report.progress import BuildProgress\n"
            "b = BuildProgress(None, delay=0.0)\n"
            "b.add(2); b.step('first'); time.sleep(0.2); b.step('second'); b.close()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the pty
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    assert b"metsurv report: second" in b"".join(chunks)
