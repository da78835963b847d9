"""Safe writes of ``metsurv synth``: a folder holding any file synth would write is refused
(listed; ``--force`` overwrites exactly those), and the root, home and parent folders are
never written by accident."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from metsurv.errors import CohortError
from metsurv.synthetic.cli import check_output_folder, files_written, synth_command


def _metsurv(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metsurv.cli", *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=120)


def test_existing_export_is_refused_listed_and_untouched(tmp_path):
    """`synth --out data` once replaced a real data/patients.csv without a word."""
    (tmp_path / "patients.csv").write_text("my real export\n")
    (tmp_path / "manifest.json").write_text("{}\n")
    with pytest.raises(CohortError, match=r"already holds patients.csv, manifest.json, which "
                                          r"synth would overwrite; nothing was written.*--force"):
        synth_command("sarcoma", n=30, seed=1, out=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "patients.csv"]
    assert (tmp_path / "patients.csv").read_text() == "my real export\n"


def test_dialect_files_are_the_ones_checked(tmp_path):
    names = files_written("it_xlsx")
    (tmp_path / names[0]).write_text("mine\n")
    with pytest.raises(CohortError, match=f"already holds {names[0]},"):
        synth_command("sarcoma", n=30, seed=1, dialect="it_xlsx", out=tmp_path)
    # the clean tables are other files: a clean cohort may go beside the export
    synth_command("sarcoma", n=30, seed=1, out=tmp_path)
    assert (tmp_path / names[0]).read_text() == "mine\n"


def test_force_overwrites_exactly_the_files_synth_writes(tmp_path):
    (tmp_path / "patients.csv").write_text("old\n")
    (tmp_path / "notes.txt").write_text("keep me\n")
    synth_command("sarcoma", n=30, seed=1, out=tmp_path, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json", "notes.txt", "patients.csv", "resections.csv"]
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"
    assert (tmp_path / "patients.csv").read_text().startswith("patient_id,")


def test_a_folder_with_other_files_only_is_written(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me\n")
    synth_command("sarcoma", n=30, seed=1, out=tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"


def test_root_is_refused_even_with_force():
    for force in (False, True):
        with pytest.raises(CohortError, match="never writes into the root folder"):
            check_output_folder("/", force=force)


def test_home_and_parent_folders_are_refused_unless_forced(tmp_path, monkeypatch):
    home = tmp_path / "home"
    work = home / "project" / "sub"
    work.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    with pytest.raises(CohortError, match="is your home folder; synth will not write"):
        check_output_folder("~")
    with pytest.raises(CohortError, match="is a folder above the current folder"):
        check_output_folder("..")
    with pytest.raises(CohortError, match="is a folder above the current folder"):
        synth_command("sarcoma", n=30, seed=1, out="../../..")
    assert sorted(p.name for p in home.iterdir()) == ["project"]
    assert check_output_folder("..", force=True) == work.parent
    assert check_output_folder("data") == work / "data"
    assert check_output_folder(".") == work  # the current folder itself is a choice


def test_a_file_as_output_folder_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(CohortError, match="exists and is not a folder"):
        synth_command("sarcoma", n=30, seed=1, out=tmp_path / "f")


def test_cli_refusal_is_exit_2_one_line_and_force_works(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "patients.csv").write_text("real\n")
    done = _metsurv("synth", "--preset", "sarcoma", "--n", "30", "--out", "data", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "already holds patients.csv" in done.stderr
    assert (tmp_path / "data" / "patients.csv").read_text() == "real\n"
    done = _metsurv("synth", "--preset", "sarcoma", "--n", "30", "--out", "/", cwd=tmp_path)
    assert done.returncode == 2 and "root folder" in done.stderr
    done = _metsurv("synth", "--preset", "sarcoma", "--n", "30", "--out", "data", "--force",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "patients.csv").read_text().startswith("patient_id,")
