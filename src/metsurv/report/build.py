"""Build a study report: config -> cohort -> analysis -> sections -> files.

The entry points of the report pipeline::

    load_cohort        metsurv.io: the data in the canonical schema, every exclusion counted
    analyse            report.analysis: every statistic (the only caller of metsurv.stats)
    compose            report.sections: one module per section; tables of printed cells,
                       figures as data, each section shown or replaced by its reason
    write_report       report.output: draw, render (render_html, render_pdf), write
    swap_into_place    report.replace: the new folder replaces the old atomically

The output directory::

    index.html        self-contained (figures inline as base64 SVG; opens from disk offline)
    report.pdf        the same report, typeset
    report.docx       the same report as a Word document (tables as Word tables)
    figures/          every figure as PNG (300 dpi), SVG and PDF
    tables/           every table as CSV
    provenance.json   input SHA-256, flow counts, config, sections, versions, seed, checksums

Reproducible: the same inputs give byte-identical tables, figures and HTML except the one
line that carries the build time (``SOURCE_DATE_EPOCH`` fixes that too). Atomic: the report
is built in a temporary folder beside the target and swapped into place at the end; a failure
leaves the previous report untouched and raises one :class:`~metsurv.errors.CohortError`; a
build killed at any moment leaves a report at the target path or one the next build restores
(docs/report.md). Safe: one build per folder (a lock), and files in the folder that metsurv
did not write are kept.
Direct identifiers (patient ids, dates) are never written: tables hold aggregates only.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import warnings
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from metsurv.errors import CohortError
from metsurv.io.read.errors import require_input
from metsurv.report.analysis import analyse
from metsurv.report.config import ReportConfig, default_config, load_config
from metsurv.report.output import write_report
from metsurv.report.progress import BuildProgress
from metsurv.report.render_html import BUILT_PREFIX
from metsurv.report.replace import (
    BUILDING,
    BuildLock,
    check_replaceable,
    kill_point,
    recover,
    swap_into_place,
)
from metsurv.report.sections import compose

__all__ = ["build", "report_command", "load_study", "BUILT_PREFIX"]

_DATA_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet", ".sas7bdat", ".xpt",
                  ".dta", ".sav", ".duckdb", ".sqlite", ".db"}


def report_command(config_or_data: str | Path | None = None, out: str | Path | None = None,
                   *, mapping: str | Path | None = None, today: date | None = None,
                   resections: str | Path | None = None, progress: bool | None = None
                   ) -> Path:
    """What ``metsurv report [CONFIG.yaml | DATA] [--out DIR] [--mapping M] [--today D]
    [--quiet]`` runs.

    No argument: the bundled ``reports/irlm1997.yaml`` (the synthetic IRLM-like cohort) into
    ``reports/irlm1997/``. A ``.yaml`` file: that study config. A data file or a folder
    holding ``patients.csv`` (and optionally ``resections.csv``): the default IRLM battery
    into ``reports/<name>/`` unless ``--out`` is given, read with ``mapping`` (a mapping
    YAML, docs/mapping.md) and ``resections`` (one row per operation; a folder's
    ``resections.csv`` otherwise). ``today``, the export date (a later date in the data is
    implausible), replaces the config's ``data.today`` (default: the machine's date). ``progress``: as
    :func:`build` (``--quiet``: False).

    Raises
    ------
    CohortError
        A missing or unreadable config or data file, ``mapping`` given with a config (the
        config names its own), or any failure of the build.
    """
    for option, value, key in (("--mapping", mapping, "mapping"),
                               ("--resections", resections, "resections")):
        if value is not None and (config_or_data is None or Path(config_or_data).suffix.lower()
                                  in (".yaml", ".yml")):
            raise CohortError(f"{option} goes with a data file; a study config names its "
                              f"{key} under data: {key}")
    res_path = Path(resections).resolve() if resections is not None else None
    if config_or_data is None:
        return build(_with_today(load_config(_bundled_config()), today), out=out,
                     progress=progress)
    p = Path(config_or_data)
    if p.suffix.lower() in (".yaml", ".yml"):
        return build(_with_today(load_config(p), today), out=out, progress=progress)
    require_input("--mapping", mapping)
    require_input("--resections", resections)
    map_path = Path(mapping).resolve() if mapping is not None else None
    if p.is_dir():
        patients = p / "patients.csv"
        if not patients.is_file():
            raise CohortError(f"{p}: folder has no patients.csv; give a data file or a config")
        resections = p / "resections.csv"
        raw = default_config(patients.resolve(),
                             res_path or (resections.resolve() if resections.is_file()
                                          else None),
                             map_path, today)
        name = p.resolve().name
    elif p.is_file() and p.suffix.lower() in _DATA_SUFFIXES:
        raw = default_config(p.resolve(), res_path, mapping=map_path, today=today)
        name = p.stem
    elif not p.exists():
        raise CohortError(f"{p}: no such config or data file")
    else:
        raise CohortError(f"{p}: expected a study config (.yaml) or a data file "
                          f"({', '.join(sorted(_DATA_SUFFIXES))})")
    target = Path(out) if out is not None else Path("reports") / name
    return build(load_config(raw), out=target, progress=progress)


def _with_today(cfg: ReportConfig, today: date | None) -> ReportConfig:
    return cfg if today is None else dataclasses.replace(cfg, today=today)


def _bundled_config() -> Path:
    candidates = [Path.cwd() / "reports" / "irlm1997.yaml",
                  Path(__file__).resolve().parents[3] / "reports" / "irlm1997.yaml"]
    for c in candidates:
        if c.is_file():
            return c
    raise CohortError("no config given and reports/irlm1997.yaml not found: run from the "
                      "metsurv repository or pass a config or data file")


def build(config: ReportConfig | str | Path | dict[str, Any], out: str | Path | None = None,
          *, progress: bool | None = None) -> Path:
    """Build the report described by ``config``; return the output directory.

    ``out`` overrides the config's ``out`` (default: next to the config, named after it).

    Files in the output folder that metsurv did not write (a user's ``notes.txt``) are kept:
    they are moved into the new report. A rebuild whose new report would write a file of the
    same name as one of them is refused, listing them. One build at a time per folder (a lock
    file ``.<name>.lock`` beside it holds the builder's pid); a build killed at any moment
    leaves the previous or the new report at the target path, or the next build restores it
    and removes what the killed build left behind (each with a warning).

    ``progress``: show the build's progress step by step (True), never (False), or by
    default (None) when it takes more than a few seconds on a terminal or in Jupyter and
    ``CI`` is not set (:mod:`metsurv.report.progress`).
    """
    cfg = config if isinstance(config, ReportConfig) else load_config(config)
    target = Path(out) if out is not None else cfg.out
    if target is None:
        raise CohortError("no output folder: give out= or an 'out' key in the config")
    target = target.resolve()
    if target.parent == target:
        raise CohortError(f"{target}: a report is never written to the root folder; choose "
                          f"an output folder (--out)")
    made = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
    if not target.exists():  # a file or foreign folder is refused before anything is made
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _build_locked(cfg, target, progress)
    except BaseException:
        # a failed build leaves nothing new on disk: the folders made for it go too
        for p in made:  # deepest first
            try:
                p.rmdir()
            except OSError:
                break
        raise


def _build_locked(cfg: ReportConfig, target: Path, progress: bool | None = None) -> Path:
    check_replaceable(target)
    with BuildLock(target):
        recover(target)
        check_replaceable(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{BUILDING}", dir=target.parent))
        # mkdtemp makes the folder private (0700); a report folder is an ordinary folder.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                with BuildProgress(progress) as bar:
                    token = _PROGRESS.set(bar)
                    try:
                        _build_into(cfg, tmp)
                    finally:
                        _PROGRESS.reset(token)
            kill_point("built")
            swap_into_place(tmp, target)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, CohortError):
                raise
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise CohortError(f"report {target.name}: build failed ({type(exc).__name__}: "
                              f"{exc}); the previous report, if any, is unchanged") from exc
    return target




def load_study(config: ReportConfig) -> Any:
    """The cohort a study config describes: its data file read with its mapping,
    resections table and export date (``data.today``).

    Returns
    -------
    metsurv.cohort.Cohort

    Raises
    ------
    CohortError
        The data cannot be read, or no patient can be analysed (the message names the top
        reasons).
    """
    from metsurv.io import load_cohort

    cfg = config
    cohort = load_cohort(str(cfg.source), mapping=str(cfg.mapping) if cfg.mapping else None,
                         resections=str(cfg.resections) if cfg.resections else None,
                         today=None if cfg.today is None else pd.Timestamp(cfg.today))
    if cohort.n_analysed == 0:
        from metsurv.io.load import no_patient_message

        raise CohortError(no_patient_message(cohort, name=str(cfg.source)))
    return cohort


#: The progress bar of the build under way in this thread (set by ``_build_locked``).
_PROGRESS: ContextVar[BuildProgress | None] = ContextVar("metsurv_build_progress",
                                                         default=None)


def _build_into(cfg: ReportConfig, outdir: Path) -> None:
    bar = _PROGRESS.get() or BuildProgress(False)
    bar.add(3)
    bar.step("reading the data")
    cohort = load_study(cfg)
    bar.step("analysing")
    results = analyse(cfg, cohort)
    bar.step("composing the sections")
    write_report(cfg, cohort, compose(cfg, results), outdir, progress=bar)
