"""The notebooks in notebooks/ run top to bottom without an error, in the interpreter that runs
pytest, and are committed without outputs.

Oracle: the notebooks themselves (any exception in any cell fails the test) plus a probe cell
prepended in memory that reports the kernel's ``sys.prefix`` and where it imported metsurv
from. The kernel is the ``python3`` kernelspec of this environment: ``JUPYTER_PATH`` puts
``<sys.prefix>/share/jupyter`` (where ipykernel installs it) first, and jupyter_client replaces
its ``python`` command by ``sys.executable``; the probe proves it.

The notebooks find the data folder from either working directory (the repository root or
notebooks/): each notebook runs from notebooks/ as Jupyter would start it, and the quick start
also runs from the repository root.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
PROBE = (
    "import json, sys\n"
    "import metsurv\n"
    "print(json.dumps({'prefix': sys.prefix, 'metsurv': metsurv.__file__}))"
)


def _ids(path: Path) -> str:
    return path.stem


def test_the_five_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_irlm_replication.ipynb",
        "03_sarcoma.ipynb",
        "04_synthetic_regression.ipynb",
        "05_prognostic_model.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_committed_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"cell {i} of {path.name} has outputs: clear them"
        assert cell.execution_count is None, f"cell {i} of {path.name} has an execution count"


def _execute(path: Path, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    """Run ``path`` with the probe cell first; nbclient raises CellExecutionError (with the
    cell's traceback) on the first cell that fails."""
    share = str(Path(sys.prefix) / "share" / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(
        p for p in (share, os.environ.get("JUPYTER_PATH", "")) if p))
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def _assert_ran_in_this_environment(nb: nbformat.NotebookNode) -> None:
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    probe = json.loads(text)
    assert Path(probe["prefix"]).resolve() == Path(sys.prefix).resolve(), (
        f"the kernel ran in {probe['prefix']}, not in this environment ({sys.prefix})")
    assert Path(probe["metsurv"]).resolve().is_relative_to(ROOT / "src"), probe["metsurv"]


def _assert_no_error_outputs(nb: nbformat.NotebookNode, name: str) -> None:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{name} cell {i - 1}: {out.get('evalue')}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs_from_notebooks_dir(path: Path, monkeypatch: pytest.MonkeyPatch):
    nb = _execute(path, NOTEBOOK_DIR, monkeypatch)
    _assert_ran_in_this_environment(nb)
    _assert_no_error_outputs(nb, path.name)


@pytest.mark.slow
def test_quickstart_runs_from_repository_root(monkeypatch: pytest.MonkeyPatch):
    path = NOTEBOOK_DIR / "01_quickstart.ipynb"
    nb = _execute(path, ROOT, monkeypatch)
    _assert_ran_in_this_environment(nb)
    _assert_no_error_outputs(nb, path.name)
