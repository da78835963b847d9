"""Build a study report: config -> cohort -> stats results -> figures, tables, HTML, PDF.

The imperative shell of the report: it reads the config and the data, calls
:mod:`metsurv.stats` for every number, hands the results to :mod:`metsurv.report.figures`
and :mod:`metsurv.report.tables`, and writes the output directory::

    index.html        self-contained (figures inline as base64 SVG; opens from disk offline)
    report.pdf        the same report: figure pages and table pages
    figures/          every figure as PNG (300 dpi), SVG and PDF
    tables/           every table as CSV
    provenance.json   input SHA-256, flow counts, config, versions, seed, output checksums

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

import base64
import dataclasses
import errno
import hashlib
import html
import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata, resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.errors import CohortError
from metsurv.format import format_p
from metsurv.report import figures as F
from metsurv.report import style
from metsurv.report import tables as T
from metsurv.report._format import lower_first, shows_estimates
from metsurv.report.config import (
    FactorSpec,
    ReportConfig,
    default_config,
    load_config,
)
from metsurv.report.suppression import (
    MISSING,
    Partition,
    Suppression,
    level_key,
    union_links,
)
from metsurv.stats.km import followed

__all__ = ["build", "report_command", "BUILT_PREFIX"]

#: The one line of index.html (and provenance.json) that differs between two builds.
BUILT_PREFIX = "Built "
_DATA_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet", ".sas7bdat", ".xpt",
                  ".dta", ".sav", ".duckdb", ".sqlite", ".db"}
_SURV_YEARS = (5, 10, 15)


# ---------------------------------------------------------------------------------------
# what a build produces, before anything is written


@dataclass
class _Figure:
    name: str
    title: str
    caption: str
    fig: Any
    table: str | None = None  # name of the table shown under it in the HTML
    notes: tuple[str, ...] = ()  # warnings of the results drawn (result.warnings)


@dataclass
class _Table:
    name: str
    title: str
    caption: str
    frame: pd.DataFrame
    notes: tuple[str, ...] = ()  # warnings of the results shown (result.warnings)


@dataclass
class _Section:
    title: str
    intro: str = ""
    items: list[_Figure | _Table] = field(default_factory=list)
    id: str = ""
    #: why the section is not shown (the data lack what it needs); "" when it is
    reason: str = ""


def _absent(sec_id: str, title: str, reason: str) -> _Section:
    """A section the data cannot support: its title and one line saying why."""
    return _Section(title, id=sec_id, reason=reason)


def section_entries(sections: list[_Section]) -> list[dict[str, Any]]:
    """``provenance.json`` "sections": each section, and each factor's figure within one,
    with whether it is shown and, if not, why (the data lack what it needs)."""
    out = []
    for sec in sections:
        out.append({"id": sec.id, "title": sec.title, "shown": not sec.reason,
                    "reason": sec.reason or None})
        for item in sec.items:
            if item.name.startswith("km_") and not (isinstance(item, _Table)
                                                    and item.name == "km_overall"):
                absent = isinstance(item, _Table) and item.frame.empty
                reason = item.caption.removeprefix("Not shown: ") if absent else None
                out.append({"id": item.name, "title": item.title, "shown": not absent,
                            "reason": reason})
    return out


# ---------------------------------------------------------------------------------------
# entry points


def report_command(config_or_data: str | Path | None = None, out: str | Path | None = None,
                   *, mapping: str | Path | None = None, today: date | None = None,
                   resections: str | Path | None = None) -> Path:
    """What ``metsurv report [CONFIG.yaml | DATA] [--out DIR] [--mapping M] [--today D]``
    runs.

    No argument: the bundled ``reports/irlm1997.yaml`` (the synthetic IRLM-like cohort) into
    ``reports/irlm1997/``. A ``.yaml`` file: that study config. A data file or a folder
    holding ``patients.csv`` (and optionally ``resections.csv``): the default IRLM battery
    into ``reports/<name>/`` unless ``--out`` is given, read with ``mapping`` (a mapping
    YAML, docs/mapping.md) and ``resections`` (one row per operation; a folder's
    ``resections.csv`` otherwise). ``today``, the export date (a later date in the data is
    implausible), replaces the config's ``data.today`` (default: the machine's date).

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
        return build(_with_today(load_config(_bundled_config()), today), out=out)
    p = Path(config_or_data)
    if p.suffix.lower() in (".yaml", ".yml"):
        return build(_with_today(load_config(p), today), out=out)
    if mapping is not None and not Path(mapping).is_file():
        raise CohortError(f"{mapping}: no such mapping file")
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
    return build(load_config(raw), out=target)


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


def build(config: ReportConfig | str | Path | dict[str, Any], out: str | Path | None = None
          ) -> Path:
    """Build the report described by ``config``; return the output directory.

    ``out`` overrides the config's ``out`` (default: next to the config, named after it).

    Files in the output folder that metsurv did not write (a user's ``notes.txt``) are kept:
    they are moved into the new report. A rebuild whose new report would write a file of the
    same name as one of them is refused, listing them. One build at a time per folder (a lock
    file ``.<name>.lock`` beside it holds the builder's pid); a build killed at any moment
    leaves the previous or the new report at the target path, or the next build restores it
    and removes what the killed build left behind (each with a warning).
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
        return _build_locked(cfg, target)
    except BaseException:
        # a failed build leaves nothing new on disk: the folders made for it go too
        for p in made:  # deepest first
            try:
                p.rmdir()
            except OSError:
                break
        raise


def _build_locked(cfg: ReportConfig, target: Path) -> Path:
    _check_replaceable(target)
    with _BuildLock(target):
        _recover(target)
        _check_replaceable(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_BUILDING}", dir=target.parent))
        # mkdtemp makes the folder private (0700); a report folder is an ordinary folder.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                _build_into(cfg, tmp)
            _kill_point("built")
            _swap_into_place(tmp, target)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, CohortError):
                raise
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise CohortError(f"report {target.name}: build failed ({type(exc).__name__}: "
                              f"{exc}); the previous report, if any, is unchanged") from exc
    return target


#: Written into every provenance.json: what marks a folder as a metsurv report that a new
#: build may replace.
GENERATOR = "metsurv report"
#: Name parts of the hidden folders beside the target: ``.<name>.building-XXXX`` (a build in
#: progress) and ``.<name>.old-XXXX`` (the previous report between the two renames).
_BUILDING, _OLD, _LOCK = ".building-", ".old-", ".lock"
#: The files every build writes besides those listed in provenance.json's outputs_sha256.
_ALWAYS = ("index.html", "report.pdf", "provenance.json")
_OUTPUT_DIRS = ("figures", "tables")


def _kill_point(name: str) -> None:
    """Test hook: ``METSURV_TEST_KILL_AT=<name>`` kills the build (SIGKILL, no clean-up) at
    the named point, so the kill test can stop a build exactly where a real kill might land:
    ``locked``, ``writing``, ``built``, ``old_aside`` (between the two renames of the
    fallback, ``METSURV_SWAP=renames``), ``swapped``, ``user_files_moved``,
    ``old_half_removed``."""
    if os.environ.get("METSURV_TEST_KILL_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _provenance_doc(folder: Path) -> dict | None:
    try:
        doc = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _is_report(folder: Path) -> bool:
    """Whether ``folder`` holds a metsurv report (its provenance.json says so). Reports
    built before the ``generator`` key are recognised by their build line and checksums."""
    doc = _provenance_doc(folder)
    if doc is None:
        return False
    return doc.get("generator") == GENERATOR or (
        str(doc.get("built", "")).startswith(BUILT_PREFIX)
        and isinstance(doc.get("outputs_sha256"), dict) and "metsurv" in doc.get("versions", {}))


def _user_entries(report: Path) -> list[str]:
    """Paths (relative, POSIX) in a report folder that metsurv did not write: any top-level
    entry other than the report's files and any entry of figures/ or tables/ not listed in
    its provenance.json. A user's folder is one entry (moved whole)."""
    doc = _provenance_doc(report) or {}
    ours = set(_ALWAYS) | set(doc.get("outputs_sha256") or {})
    found = []
    for entry in sorted(report.iterdir()):
        if entry.name in _OUTPUT_DIRS and entry.is_dir() and not entry.is_symlink():
            found += [f"{entry.name}/{e.name}" for e in sorted(entry.iterdir())
                      if f"{entry.name}/{e.name}" not in ours]
        elif entry.name not in ours:
            found.append(entry.name)
    return found


def _check_replaceable(target: Path) -> None:
    """A build replaces ``target`` only if it is absent, an empty folder or a previous
    metsurv report: ``--out ~/thesis`` or ``--out .`` must never delete a user's files."""
    if not target.exists() and not target.is_symlink():
        return
    if target.is_symlink() or not target.is_dir():
        raise CohortError(f"{target}: exists and is not a folder; choose another output "
                          f"folder (--out)")
    if any(target.iterdir()) and not _is_report(target):
        raise CohortError(f"{target}: the folder is not empty and holds no metsurv report "
                          f"(no metsurv provenance.json), so it will not be replaced; choose "
                          f"a new or empty output folder (--out)")


class _BuildLock:
    """One build per output folder: ``.<name>.lock`` beside it, held with ``flock`` (the
    kernel lets go when the holder dies, so a lock of a killed build is never stale) and
    holding the builder's pid, so that the loser can say who holds it."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.parent / f".{target.name}{_LOCK}"
        self.fd: int | None = None

    def __enter__(self) -> _BuildLock:
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
                os.close(fd)
                who = f"pid {owner[0]}" if owner and owner[0].isdigit() else "another process"
                raise CohortError(
                    f"{self.target}: another metsurv report build ({who}) is writing this "
                    f"folder now; nothing was changed: wait for it to finish and run again, "
                    f"or choose another output folder (--out)") from None
            try:  # the holder before us may have removed the file: lock the one in place
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        _HELD_LOCKS.append(fd)
        _kill_point("locked")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # before unlocking: see the inode check above
            if self.fd in _HELD_LOCKS:
                _HELD_LOCKS.remove(self.fd)
            os.close(self.fd)
            self.fd = None


#: Lock files this process holds: a forked worker closes its copies, so that the lock
#: goes with the builder when it dies (flock holds while any copy is open).
_HELD_LOCKS: list[int] = []


def _leftovers(target: Path, kind: str) -> list[Path]:
    """The hidden folders of ``kind`` that builds of ``target`` made: exactly the names
    ``tempfile.mkdtemp`` gives (8 random characters), so a user's ``.report.old-copy`` is
    never taken for one."""
    pattern = re.compile(re.escape(f".{target.name}{kind}") + r"[a-z0-9_]{8}")
    return sorted(p for p in target.parent.iterdir() if pattern.fullmatch(p.name)
                  and p.is_dir() and not p.is_symlink())


def _recover(target: Path) -> None:
    """Undo what a killed build left beside ``target`` (called under the lock, so no other
    build is running). With no folder at the target path, the newest complete report among
    the leftovers (the previous report set aside between two renames, or a finished build)
    goes there. Every other leftover gives the target the entries metsurv did not write and
    is removed. Each step is a warning."""
    olds, building = _leftovers(target, _OLD), _leftovers(target, _BUILDING)
    if not target.exists() and not target.is_symlink():
        reports = [p for p in olds + building if _is_report(p)]
        if reports:
            latest = max(reports, key=lambda p: p.stat().st_mtime)
            latest.rename(target)
            (olds if latest in olds else building).remove(latest)
            warnings.warn(f"{target}: restored the report from {latest.name}, left by a "
                          f"build that was stopped before it finished", UserWarning,
                          stacklevel=3)
    for old in olds:
        _retire_old(old, target)
        warnings.warn(f"{target.parent}: removed {old.name}, a previous report left by a "
                      f"build that was stopped (files you had added to it are in {target.name})",
                      UserWarning, stacklevel=3)
    for tmp in building:  # after an exchange a building folder holds the previous report
        _retire_old(tmp, target)
    if building:
        warnings.warn(f"{target.parent}: removed {len(building)} unfinished build folder(s) "
                      f"({', '.join(p.name for p in building)}) left by a build that was "
                      f"stopped", UserWarning, stacklevel=3)


def _retire_old(old: Path, target: Path) -> None:
    """Remove the previous report ``old`` after ``target`` took its place, first moving into
    ``target`` every entry metsurv did not write that ``target`` lacks (a file the user put
    in while the build ran). A half-removed ``old`` (no provenance.json any more: its user
    entries were moved before removal began) is simply removed."""
    if _provenance_doc(old) is not None and target.is_dir():
        for rel in _user_entries(old):
            dest = target / rel
            if not dest.exists() and not dest.is_symlink():
                dest.parent.mkdir(parents=True, exist_ok=True)
                (old / rel).rename(dest)
    _kill_point("user_files_moved")
    # provenance.json first: a kill during removal leaves a folder recognised as half-removed
    (old / "provenance.json").unlink(missing_ok=True)
    _kill_point("old_half_removed")
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the folders ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``):
    at no instant is either path missing. False where the system or file system cannot
    (then nothing happened), or where ``METSURV_SWAP=renames`` asks for the fallback."""
    if os.environ.get("METSURV_SWAP") == "renames":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Replace ``target`` by ``tmp``; then move into ``target`` the files of the previous
    report that metsurv did not write (a new output of the same name as one of them is
    refused first, listing them) and remove the previous report.

    Where the file system can, the two folders are exchanged in one step, so a report is at
    the target path at every instant. Elsewhere two renames: a kill between them leaves the
    previous report as ``.<name>.old-XXXXXXXX``, which the next build puts back first
    (:func:`_recover`).
    """
    _check_replaceable(target)  # again: the folder may have changed during the build
    if not target.exists():
        tmp.rename(target)
        _kill_point("swapped")
        return
    clash = [rel for rel in _user_entries(target) if (tmp / rel).exists()]
    if clash:
        raise CohortError(
            f"{target}: the new report would overwrite {len(clash)} file(s) that metsurv did "
            f"not write: {', '.join(clash)}; move or rename them and run again (the previous "
            f"report is unchanged)")
    if _exchange(tmp, target):
        old = tmp  # now holds the previous report
    else:
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD}", dir=target.parent))
        old.rmdir()
        target.rename(old)
        _kill_point("old_aside")
        try:
            tmp.rename(target)
        except BaseException:
            old.rename(target)
            raise
    _kill_point("swapped")
    _retire_old(old, target)


# ---------------------------------------------------------------------------------------
# the build


def _build_into(cfg: ReportConfig, outdir: Path) -> None:
    from metsurv.io import load_cohort

    cohort = load_cohort(str(cfg.source), mapping=str(cfg.mapping) if cfg.mapping else None,
                         resections=str(cfg.resections) if cfg.resections else None,
                         today=None if cfg.today is None else pd.Timestamp(cfg.today))
    if cohort.n_analysed == 0:
        from metsurv.io.load import no_patient_message

        raise CohortError(no_patient_message(cohort, name=str(cfg.source)))
    sections = _analyse(cfg, cohort)
    (outdir / "figures").mkdir()
    (outdir / "tables").mkdir()
    outputs: dict[str, str] = {}
    figures = [item for sec in sections for item in sec.items if isinstance(item, _Figure)]
    built = _built_at()
    # Saving figures (PNG, SVG, PDF with font subsets) is most of a build's time: worker
    # processes save them while this one writes the tables and the report PDF.
    with _FigureSaver(figures, outdir / "figures", cfg.formats) as saver:
        for sec in sections:
            for item in sec.items:
                if isinstance(item, _Table):
                    p = outdir / "tables" / f"{item.name}.csv"
                    p.write_bytes(T.to_csv_bytes(item.frame))
                    outputs[p.relative_to(outdir).as_posix()] = _sha256(p)
        _pdf(cfg, cohort, sections, outdir / "report.pdf", built)
        for p in saver.paths():
            outputs[p.relative_to(outdir).as_posix()] = _sha256(p)
    _kill_point("writing")
    (outdir / "index.html").write_text(_html(cfg, cohort, sections, outdir, built),
                                       encoding="utf-8", newline="\n")
    prov = _provenance(cfg, cohort, outputs, built, sections)
    (outdir / "provenance.json").write_text(prov, encoding="utf-8", newline="\n")


#: The figures a build's worker processes save (set before they fork; read by index).
_SAVING: list[tuple[Any, Path, tuple[str, ...]]] = []


def _worker_start(builder: int) -> None:
    """A figure-saving worker: it lets go of the build lock, and dies with its builder (a
    killed build must leave no process writing, nor holding the lock)."""
    for fd in _HELD_LOCKS:
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_LOCKS.clear()
    try:  # Linux: SIGKILL this worker when the builder dies (prctl PR_SET_PDEATHSIG)
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != builder:  # the builder died before the line above
        os._exit(1)


def _save_one(i: int) -> list[str]:
    fig, stem, formats = _SAVING[i]
    return [str(p) for p in F.save_figure(fig, stem, formats)]


class _FigureSaver:
    """Save a build's figures in worker processes (``METSURV_WORKERS``, default: the
    machine's cores, at most 4; 1 saves them here, in order). The files are byte-identical
    whatever the number of workers: each figure is saved whole by one process, with fixed
    metadata. Workers are forked, so they share the drawn figures without pickling; where
    forking is unavailable or a worker fails, the figures are saved here."""

    def __init__(self, figures: list[_Figure], folder: Path, formats: tuple[str, ...]) -> None:
        self.jobs = [(f.fig, folder / f.name, tuple(formats)) for f in figures]
        self.pool: Any = None
        self.futures: list[Any] = []

    def __enter__(self) -> _FigureSaver:
        import multiprocessing

        workers = _workers()
        if workers > 1 and len(self.jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
            from concurrent.futures import ProcessPoolExecutor

            _SAVING[:] = self.jobs
            try:
                self.pool = ProcessPoolExecutor(
                    max_workers=min(workers, len(self.jobs)),
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_worker_start, initargs=(os.getpid(),))
                self.futures = [self.pool.submit(_save_one, i) for i in range(len(self.jobs))]
            except OSError:
                self.pool = None
        return self

    def paths(self) -> list[Path]:
        """Every file written, in figure and format order (waits for the workers)."""
        if self.pool is not None:
            try:
                return [Path(p) for fut in self.futures for p in fut.result()]
            except Exception:  # noqa: BLE001 - a broken worker: save here instead
                self.pool.shutdown(cancel_futures=True)
                self.pool = None
        return [p for fig, stem, formats in self.jobs
                for p in F.save_figure(fig, stem, formats)]

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        _SAVING.clear()


def _workers() -> int:
    """Worker processes for saving figures: ``METSURV_WORKERS`` (a whole number from 1),
    else the machine's cores, at most 4."""
    text = os.environ.get("METSURV_WORKERS", "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise CohortError(f"METSURV_WORKERS: {text[:12]!r} is not a whole number of worker "
                              "processes (1 or more); set it to e.g. 2, or unset it")
        return int(text)
    return max(1, min(4, os.cpu_count() or 1))


def _built_at() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (datetime.fromtimestamp(int(epoch), tz=UTC) if epoch
           else datetime.now(UTC))
    # Spelled out (no ISO date) so that the identifier check, which looks for every input
    # date string, cannot confuse the build time with a patient's date.
    return now.strftime("%d %B %Y, %H:%M:%S UTC").lstrip("0")


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: The Cox section's multivariable model (config cox.covariates), as its forest legend and
#: table name it; the IRLM battery's is the "battery model".
_STUDY_MODEL = "Multivariable (study)"
_SUBSET_TEXT = {"complete_resection": "complete resections", "sarcoma": "sarcomas"}


def _endpoint_text(cfg: ReportConfig) -> str:
    if cfg.endpoint == "os":
        return ("Overall survival from the date of the first pulmonary metastasectomy to death "
                "from any cause; patients alive are censored at last follow-up.")
    return ("Disease-free survival from the date of the first pulmonary metastasectomy to "
            "recurrence or death, whichever came first; others censored at last follow-up.")


def _analyse(cfg: ReportConfig, cohort: Any) -> list[_Section]:
    patients = cohort.patients
    for col in (cfg.time_column, cfg.event_column):
        if col not in patients.columns or patients[col].notna().sum() == 0:
            raise CohortError(f"{cfg.source}: endpoint {cfg.endpoint!r} needs {col!r}, which "
                              f"the cohort does not have")
    sections: list[_Section] = []
    k = cfg.suppress_below
    # One decision per group of patients, shared by every output that prints its count
    # (Table 1 decides its columns first): no output's shown cell is another's hidden one.
    supp = Suppression(k)
    counts = _GroupCounts.of(cfg, patients, supp)

    # -- the cohort
    sec = _Section("Cohort", _endpoint_text(cfg) + " " + _follow_up_text(cfg, patients),
                   id="cohort")
    flow = _flow_printed(cohort.flow, k)
    sec.items.append(_Table("flow", "Flow of records",
                            "Every record read is kept or excluded with its reason "
                            "(read = analysed + excluded)."
                            + (f" Counts below {k} are shown as <{k}; the number read is then "
                               "shown as the range they allow." if k else ""), flow))
    findings = _findings_summary(cohort.findings, k)
    if len(findings):
        sec.items.append(_Table("findings", "Data checks",
                                "What validation found, counted by source column and rule "
                                "(the rows themselves stay with the data: "
                                "metsurv validate lists them).", findings))
    missing_by = cfg.table1_by if cfg.table1_by in patients.columns else None
    not_split = ""
    if k and missing_by is not None:
        # A by group (or the patients without a by value) of fewer than k would make every
        # count of its column "<k" and, through the totals, most of the others hidden:
        # Table 1 is then shown for all patients only, and says why.
        sizes = patients[missing_by].value_counts(dropna=False)
        if ((sizes > 0) & (sizes < k)).any():
            not_split = (f" Not split by {lower_first(T.FACTOR_TITLES.get(missing_by, missing_by))}"
                         f": one of its groups has fewer than {k} patients.")
            missing_by = None
    t1 = T.table1(patients, by=missing_by, variables=cfg.table1_variables, suppression=supp)
    by_text = (f" by {lower_first(T.FACTOR_TITLES.get(missing_by, missing_by))}"
               if missing_by else "")
    sec.items.append(_Table(
        "table1", f"Table 1. Patient characteristics{by_text}",
        "Counts with % of patients with a known value; numbers as median (IQR); missing "
        "values counted per characteristic."
        + (f" Counts below {k} are shown as <{k}; \"{T.SECONDARY}\": a count hidden so that "
           "a total cannot give a smaller one back; no percentages for a characteristic with "
           "a hidden count in that column; no median of fewer than "
           f"{k} values." + not_split if k else ""), t1))
    sections.append(sec)

    # -- the IRLM battery: its tests are the report's tests (one rule for every p-value)
    from metsurv.stats.irlm import irlm_comparisons

    battery = irlm_comparisons(cohort, endpoint=cfg.endpoint)
    batteries = _subset_batteries(cfg, patients, battery)

    # -- survival by factor
    sec = _Section("Survival by prognostic factor", _endpoint_text(cfg), id="survival")
    published = _published(cfg)
    everyone = _km(patients, None, cfg)
    overall = counts.shared_at_risk(F.panel_from_km(everyone, at_risk_times=_tick_months(cfg),
                                                    labels={"all": "All patients"},
                                                    title=None), None, None)
    sec.items.append(_Figure("km_overall", "All patients", _km_caption(cfg, None),
                             F.km_figure(overall, **_plot_kwargs(cfg))))
    surv_rows = [_survival_rows(everyone, "All patients", None, None, k,
                                labels={"all": "All patients"})]
    for spec in cfg.factors:
        if spec.factor not in patients.columns or patients[spec.factor].notna().sum() == 0:
            sec.items.append(_Table(f"km_{spec.slug}", _factor_title(spec),
                                    f"Not shown: the cohort has no values of {spec.factor}.",
                                    pd.DataFrame()))
            continue
        data = T.subset_patients(patients, spec.subset)
        data = data[data[spec.factor].notna()]
        missing = _factor_unsupported(cfg, data, spec.factor)
        if missing:
            sec.items.append(_Table(f"km_{spec.slug}", _factor_title(spec),
                                    f"Not shown: {missing}", pd.DataFrame()))
            continue
        groups = counts.groups(spec.subset, spec.factor)
        fit = _km(data, spec.factor, cfg)
        tests = _factor_tests(cfg, batteries.get(spec.subset), data, spec.factor)
        bench, sources = F.benchmark_points(published, spec.factor, spec.subset, fit.groups,
                                            histologies=T.cohort_histologies(data))
        panel = F.panel_from_km(
            fit, at_risk_times=_tick_months(cfg), labels=_labels(spec.factor, fit.groups),
            order=_order(spec.factor, fit.groups), p_logrank=tests.p, p_trend=tests.trend,
            benchmarks=bench, benchmark_label=cfg.benchmark, benchmark_sources=sources,
            groups=groups[0])
        panel = counts.shared_at_risk(panel, spec.subset, spec.factor)
        fig = F.km_figure(panel, **_plot_kwargs(cfg))
        sub_text = f"; {_SUBSET_TEXT[spec.subset]} only" if spec.subset else ""
        sec.items.append(_Figure(f"km_{spec.slug}", _factor_title(spec),
                                 _km_caption(cfg, lower_first(T.FACTOR_TITLES.get(
                                    spec.factor, spec.factor)) + sub_text, tests, bench,
                                    sources, n_groups=len(fit.curves)),
                                 fig))
        surv_rows.append(_survival_rows(fit, _factor_title(spec), tests.p, tests.trend, k,
                                        labels=_labels(spec.factor, fit.groups),
                                        order=_order(spec.factor, fit.groups), groups=groups))
    surv = pd.concat(surv_rows, ignore_index=True)
    sec.items.append(_Table(
        "survival", "Survival estimates by factor",
        f"Kaplan-Meier median and {', '.join(f'{y}' for y in _SURV_YEARS)}-year survival with "
        "95% CIs (log-log). p as in the figures, from the IRLM battery on the same patients: "
        f"log-rank over the levels with at least {battery.min_n} patients and "
        f"{battery.min_events} {_events_word(cfg)} (sparse levels are described, not tested), "
        "trend over the ordered levels among them; the figure captions name the levels "
        "tested. Blank: not estimable (median not reached, or nobody followed that long)"
        + (f", or a group of fewer than {k} patients (counts below {k} shown as <{k}; "
           f"\"{T.SECONDARY}\": hidden so that the factor's total cannot give a smaller "
           "count back)." if k else "."), surv))
    sections.append(sec)

    # -- Cox models and the IRLM battery (its univariable HRs feed the forest plot)
    cox_sec = _cox_section(cfg, patients, battery, counts)
    sections.append(cox_sec if cox_sec is not None else _absent(
        "cox", "Cox proportional-hazards models",
        "none of the configured covariates (cox.covariates) has a value in this cohort."
        if cfg.cox_covariates else "no covariates configured (cox.covariates)."))
    if len(battery.factors):
        sections.append(_irlm_section(cfg, battery, counts))
    else:  # an outcome-only cohort: the report is the overall curve; say what is missing
        sections.append(_absent("irlm", "IRLM comparison battery",
                                "the cohort has none of the IRLM prognostic factors "
                                "(resection status, disease-free interval, number of "
                                "metastases, histology)."))

    # -- competing risks, landmark analysis of repeat resection, the published series
    optional = (_competing_section(cfg, patients) if cfg.competing_risks else None,
                _landmark_section(cfg, cohort, supp) if cfg.landmark_times else None,
                _published_section(cfg, patients, counts))
    if supp.conflicts:  # a bug: two outputs counted one group differently (both hidden)
        warnings.warn(f"small-cell suppression: {len(supp.conflicts)} group(s) counted "
                      f"differently by two outputs, hidden in the later one: "
                      f"{supp.conflicts[:3]}", RuntimeWarning, stacklevel=2)
    sections += [s for s in optional if s is not None]
    sections.append(_Section("Methods", _methods_text(cfg, cohort, sections), id="methods"))
    return sections


def _factor_unsupported(cfg: ReportConfig, data: pd.DataFrame, factor: str) -> str:
    """Why a factor's Kaplan-Meier figure cannot be made ("" when it can): it needs two
    levels with patients and events (and, for nodal status, nodes that were assessed)."""
    title = T.FACTOR_TITLES.get(factor, factor)
    if factor == "nodal_status":
        assessed = data[factor].astype(object).isin(["N0", "N1", "N2"])
        if not assessed.any():
            return ("nodes were not assessed (NX or missing) in any patient, so nodal "
                    "status cannot be compared.")
    per_level = data.groupby(data[factor].astype(object))[cfg.event_column].agg(
        lambda e: (len(e), int(e.astype(bool).sum())))
    sizes = {lev: v for lev, v in per_level.items() if v[0] > 0}
    with_events = [lev for lev, (_, ev) in sizes.items() if ev > 0]
    if len(with_events) < 2:
        levels = ", ".join(T.level_label(factor, v) for v in sizes) or "none"
        return (f"{title} needs two levels with patients and {_events_word(cfg)}; this "
                f"cohort has {len(sizes)} level(s) recorded ({levels}), "
                f"{len(with_events)} of them with {_events_word(cfg)}.")
    return ""


def _follow_up_text(cfg: ReportConfig, patients: pd.DataFrame) -> str:
    """Median follow-up by the reverse Kaplan-Meier method (censoring as the event, Schemper
    & Smith 1996) with its IQR, and the years of the first metastasectomies (years only:
    dates can identify a patient)."""
    from metsurv.stats import km

    data = patients[[cfg.time_column, cfg.event_column]].dropna()
    text = ""
    if len(data):
        rev = km(data.assign(_censored=~data[cfg.event_column].astype(bool)),
                 time=cfg.time_column, event="_censored")
        q = rev.curves[0].quantile((0.25, 0.5, 0.75))
        if np.isfinite(q[0.5]):
            iqr = (f" (IQR {q[0.25]:.1f}\u2013{q[0.75]:.1f})"
                   if np.isfinite(q[0.25]) and np.isfinite(q[0.75]) else "")
            text = (f"Median follow-up {q[0.5]:.1f} months{iqr}, by the reverse "
                    "Kaplan-Meier method.")
        else:
            text = "Median follow-up not reached by the reverse Kaplan-Meier method."
    if "metastasectomy_date" in patients.columns:
        years = pd.to_datetime(patients["metastasectomy_date"], errors="coerce").dt.year
        if years.notna().any():
            text += f" First metastasectomies from {int(years.min())} to {int(years.max())}."
    return text.strip()


def _methods_text(cfg: ReportConfig, cohort: Any, sections: list[_Section]) -> str:
    """The Methods paragraph, written from what this build ran (paste into a manuscript)."""
    shown = {s.id for s in sections if not s.reason}
    endpoint = ("Overall survival (death from any cause)" if cfg.endpoint == "os"
                else "Disease-free survival (recurrence or death)")
    parts = [
        f"{endpoint} was measured from the first pulmonary metastasectomy; patients without "
        "the event were censored at their last follow-up.",
        "Follow-up was summarised by the reverse Kaplan-Meier method.",
        "Survival was estimated by the Kaplan-Meier method with Greenwood variance and "
        "95% pointwise confidence intervals on the log(-log) scale; groups were compared "
        "with the log-rank test and, for ordered factors, a test for trend.",
    ]
    if "cox" in shown:
        parts.append("Hazard ratios were estimated with Cox proportional-hazards models "
                     "(Efron's method for ties; 95% Wald confidence intervals), univariable "
                     "and multivariable, the latter on patients with every covariate "
                     "recorded (complete-case analysis); proportional hazards were checked "
                     "with the score test of scaled Schoenfeld residuals against the "
                     "Kaplan-Meier transform of time (R cox.zph).")
    if "irlm" in shown:
        parts.append("The prognostic factors of the International Registry of Lung "
                     "Metastases (Pastorino 1997) were analysed as one battery; levels with "
                     "too few patients or events were described but not tested.")
    if "competing" in shown:
        parts.append("Cumulative incidence of first events was estimated with the "
                     "Aalen-Johansen estimator, death without recurrence being a competing "
                     "risk.")
    if "landmark" in shown:
        parts.append("Repeat resection was analysed at landmarks of "
                     + ", ".join(f"{t:g}" for t in cfg.landmark_times)
                     + " months (Anderson, Cain and Gelber 1983), avoiding immortal-time "
                     "bias.")
    if any(item.name.startswith("ph_rmst_") for s in sections for item in s.items):
        parts.append("Where proportional hazards were rejected (cox.zph p < 0.05), the scaled "
                     "Schoenfeld residuals were plotted against time and the restricted mean "
                     "survival time to 5 years was compared, which does not assume them.")
    if "published" in shown:
        parts.append("Survival of the cohort was set beside published series of the same "
                     "population (histologies and subset) and the same endpoint and time "
                     "origin.")
    entry = cohort.patients.get("entry_months")
    if entry is not None and bool((entry > 0).any()):
        parts.append("Patients registered after their operation entered the risk sets at "
                     "registration (left truncation).")
    parts.append("Records that could not be analysed were excluded with their reason (flow "
                 "table); a missing value excluded a patient only from the analyses that "
                 "needed it.")
    if cfg.suppress_below:
        parts.append(f"Counts from 1 to {cfg.suppress_below - 1} were suppressed, with "
                     "complementary suppression so that no such count can be derived from "
                     "the others.")
    versions = ", ".join(f"{pkg} {_version(pkg)}" for pkg in
                         ("metsurv", "numpy", "scipy", "pandas", "matplotlib"))
    parts.append(f"Analyses used Python with {versions}; metsurv's survival numerics "
                 "reproduce R survival (survfit, survdiff, coxph, cox.zph).")
    return " ".join(parts)


def _digest(rows: Any) -> str:
    """A group's identity: the digest of its rows' positions (the same patients give the
    same digest, whatever column names them)."""
    return hashlib.sha256(np.asarray(rows, np.int64).tobytes()).hexdigest()


@dataclass(frozen=True)
class _GroupCounts:
    """The report's counts of patients with the endpoint by one column, within a subset:
    one :class:`~metsurv.report.suppression.Partition` of patients and one of events per
    (subset, column), from the report's :class:`Suppression`. When everyone analysed has
    the endpoint these are Table 1's decisions."""

    supp: Suppression
    data: pd.DataFrame  # the analysed patients with the endpoint known
    time: str
    event: str
    tag: Any  # None: every analysed patient has the endpoint; else the endpoint's name

    @classmethod
    def of(cls, cfg: ReportConfig, patients: pd.DataFrame, supp: Suppression) -> _GroupCounts:
        known = patients[cfg.time_column].notna() & patients[cfg.event_column].notna()
        return cls(supp, patients[known].reset_index(drop=True), cfg.time_column,
                   cfg.event_column,
                   None if bool(known.all()) else cfg.endpoint)

    def identity(self, subset: str | None, column: str | None, level: Any) -> str:
        """Which patients a group is (a digest of their rows): one group drawn in two
        figures, under two names, gets one at-risk decision."""
        d = T.subset_patients(self.data, subset)
        if column is None:
            return _digest(d.index)
        codes, uniques = pd.factorize(d[column], use_na_sentinel=True)
        want = [i for i, u in enumerate(uniques) if level_key(u) == level_key(level)]
        return _digest(d.index[np.isin(codes, want)])

    def shared_at_risk(self, panel: F.KMPanel, subset: str | None, column: str | None
                       ) -> F.KMPanel:
        """``panel`` with its at-risk rows as the report prints them: decided once per
        group and time across the report's figures (Suppression.at_risk)."""
        if not self.supp.k or panel.at_risk is None:
            return panel
        times = [float(t) for t in panel.at_risk.columns]
        rows = []
        for c in panel.curves:
            got = (panel.at_risk.loc[c.label] if c.label in panel.at_risk.index
                   else pd.Series(np.nan, index=panel.at_risk.columns))
            rows.append((self.identity(subset, column, c.level), F.curve_drawn(c, self.supp.k),
                         [None if pd.isna(v) else float(v) for v in got]))
        population = None
        if column is not None:  # the factor's rows add up to its population's
            d = T.subset_patients(self.data, subset)
            t = d[self.time].to_numpy(float)
            entry = (d["entry_months"].fillna(0).to_numpy(float) if "entry_months" in d
                     else np.zeros(len(d)))
            # what a reader knows of the patients without a value: their printed count
            part = self.groups(subset, column)[0]
            how = part.how(None)
            n_missing = part.counts.get(MISSING, 0)
            cap = (n_missing if how is None else self.supp.k - 1 if how == "primary"
                   else len(d))
            valued = d.index[d[column].notna().to_numpy()]
            population = (self.identity(subset, None, None),
                          [int(((t >= x) & (entry < max(x, 1e-12))).sum()) for x in times],
                          cap, _digest(valued))
        printed = self.supp.at_risk(rows, times, population)
        return dataclasses.replace(panel, at_risk_printed=tuple(tuple(r) for r in printed))

    def _key(self, measure: str, subset: str | None, column: str) -> tuple:
        return (measure, subset if self.tag is None else (subset, self.tag), column)

    def groups(self, subset: str | None, column: str) -> tuple[Partition, Partition]:
        """(patients, events) of ``subset`` by ``column``, missing values included."""
        from metsurv.report.config import SUBSETS

        d = T.subset_patients(self.data, subset)
        if subset is not None and (SUBSETS[subset][0] == column or d[column].notna().sum()
                                   == self.data[column].notna().sum()):
            # the subset is one of the column's levels (complete resections by completeness)
            # or holds everyone with a value (sarcoma subtype among sarcomas): its groups are
            # the whole cohort's, decided there (by Table 1)
            return self.groups(None, column)
        whole = self.groups(None, column) if subset is not None else None
        # vectorised: level keys of the distinct values only (a million patients)
        codes, uniques = pd.factorize(d[column], use_na_sentinel=True)
        keys = [MISSING] + [level_key(u) for u in uniques]
        n_by = np.bincount(codes + 1, minlength=len(keys))
        e_by = np.bincount(codes + 1, weights=d[self.event].astype(float).to_numpy(),
                           minlength=len(keys))
        n_counts: dict = {}
        e_counts: dict = {}
        for key, n, e in zip(keys, n_by, e_by, strict=True):
            n_counts[key] = n_counts.get(key, 0) + int(n)
            e_counts[key] = e_counts.get(key, 0) + int(round(e))
        out = []
        for i, (measure, counts) in enumerate((("n", n_counts), ("events", e_counts))):
            links = self._links(measure, subset, column, d)
            latent: dict[Any, int] = {}
            if whole is not None and self.supp.decided(self._key(measure, subset, column)) is None:
                more, latent = self._subset_links(measure, subset, column, counts, whole[i])
                links += more
            out.append(self.supp.partition(self._key(measure, subset, column), counts,
                                           links=links, latent=latent))
        return out[0], out[1]

    def _subset_links(self, measure: str, subset: str, column: str, counts: dict,
                      whole: Partition) -> tuple[list, dict]:
        """A subset's groups against the whole cohort's: each level there is the level in
        the subset plus the level among the others (a group no output prints, but a
        reader can subtract: DFI 0-11 overall minus DFI 0-11 among complete resections),
        and the subset's groups add up to the subset (a level of its defining column)."""
        from metsurv.report.config import SUBSETS

        own = self._key(measure, subset, column)
        whole_key = self._key(measure, None, column)
        scol, sval = SUBSETS[subset]
        defining = self.groups(None, scol)[0 if measure == "n" else 1]
        def_key = self._key(measure, None, scol)
        rest = ("outside", own)
        links, latent = [], {}
        for lev in set(whole.counts) | set(counts):
            latent[rest, lev] = whole.counts.get(lev, 0) - counts.get(lev, 0)
            links.append([((whole_key, lev), 1), ((own, lev), -1), ((rest, lev), -1)])
        if defining is not None:
            links.append([((own, lev), 1) for lev in counts]
                         + [((def_key, level_key(sval)), -1)])
        return links, latent

    def _links(self, measure: str, subset: str | None, column: str, d: pd.DataFrame) -> list:
        """The sums that tie ``column``'s groups to those of columns decided before in the
        same population (complete resection = R0; sarcoma subtypes add up to sarcoma)."""
        own = self._key(measure, subset, column)
        if not self.supp.k or self.supp.decided(own) is not None:
            return []
        out: list = []
        for key in self.supp.decided_keys():
            if (not isinstance(key, tuple) or len(key) != 3 or key[:2] != own[:2]
                    or key[2] == column or key[2] not in d.columns):
                continue
            for level, parts in union_links(d[column], d[key[2]]):
                out.append([((key, level), 1)] + [((own, x), -1) for x in parts])
            for level, parts in union_links(d[key[2]], d[column]):
                out.append([((own, level), 1)] + [((key, x), -1) for x in parts])
        return out

    def subset_size(self, subset: str | None) -> str:
        """The number of patients of ``subset`` as every output prints it."""
        if subset is None:
            return T.suppress_count(len(self.data), self.supp.k)
        from metsurv.report.config import SUBSETS

        col, val = SUBSETS[subset]
        return self.groups(None, col)[0].text(val)

    def complete_cases(self, name: str, n: int, dropped: int, events: int
                       ) -> tuple[Partition, Partition]:
        """A model's patients and events, split into those in the model (level True) and
        those left out for a missing covariate (False): a group too (n = everyone - them).
        Print the model's with ``range_text(True)``: when the left-out are fewer than k it
        is the range a reader can derive anyway."""
        n_part = self.supp.partition(self._key("n", None, name), {True: n, False: dropped})
        total_events = int(self.data[self.event].astype(float).sum())
        e_part = self.supp.partition(self._key("events", None, name),
                                     {True: events, False: max(total_events - events, 0)})
        return n_part, e_part


def _flow_printed(flow: pd.DataFrame, k: int) -> pd.DataFrame:
    """The flow of records as printed. Under suppression an excluded count 1..k-1 prints
    as <k, and its table's read count, which would give it away (read = analysed +
    excluded, and the analysed count is every table's n), as the range the suppressed
    cells allow: 198 analysed, <5 excluded -> 199-202 read."""
    out = flow[["table", "step", "reason", "n"]].copy()
    out["reason"] = out["reason"].fillna("")
    printed = []
    for table, step, n in zip(out["table"], out["step"], out["n"], strict=True):
        if step != "read":
            printed.append(T.suppress_count(n, k))
            continue
        excluded = out.loc[(out["table"] == table) & (out["step"] == "excluded"), "n"]
        hidden = [int(v) for v in excluded if k and 0 < v < k]
        if not hidden:
            printed.append(T.suppress_count(n, k))
            continue
        known = int(n) - sum(hidden)
        printed.append(f"{known + len(hidden):,}\u2013{known + len(hidden) * (k - 1):,}")
    out["n"] = printed
    return out


def _read_and_analysed(cohort: Any, k: int) -> tuple[str, str]:
    """The patients table's read and analysed counts as the flow table prints them."""
    flow = _flow_printed(cohort.flow, k)
    rows = flow[flow["table"] == "patients"].set_index("step")["n"]
    return (rows.get("read", T.suppress_count(cohort.n_read, k)),
            rows.get("analysed", T.suppress_count(cohort.n_analysed, k)))


def _findings_summary(findings: pd.DataFrame, k: int) -> pd.DataFrame:
    """Findings as counts per table, source column, rule and severity: never the values or
    patient ids of the rows (those can identify a patient)."""
    cols = ["table", "column", "rule", "severity"]
    if findings is None or not len(findings) or not set(cols) <= set(findings.columns):
        return pd.DataFrame()
    frame = findings[cols].astype(object).fillna("")
    if "value" in findings.columns:
        # an unplaced histology text is what the reader must map (docs/mapping.md): named,
        # unless under suppression it is rarer than k (a rare diagnosis is a quasi-identifier)
        hist = frame["rule"].astype(str).str.startswith("histology_unrecognised")
        rows = frame["rule"].astype(str).str.extract(r"\((\d[\d,]*) rows?\)")[0]
        rows = pd.to_numeric(rows.str.replace(",", ""), errors="coerce").fillna(0)
        named = hist & ((rows >= k) if k else True)
        text = findings["value"].astype(str).str.slice(0, 40)
        frame.loc[named, "rule"] = (frame.loc[named, "rule"].astype(str) + ": '"
                                    + text[named] + "'")
    if k:  # a rule may say how many rows it concerns ("(3 rows)"): the n column says it,
        # under suppression as every count
        frame["rule"] = frame["rule"].astype(str).str.replace(
            r"\s*\(\d[\d,]* rows?\)", "", regex=True)
    g = frame.groupby(cols, sort=False).size()
    out = g.reset_index(name="n")
    out["n"] = [T.suppress_count(v, k) for v in out["n"]]
    return out.rename(columns=str.capitalize)


# ---------------------------------------------------------------------------------------
# Kaplan-Meier helpers


def _km(data: pd.DataFrame, by: str | None, cfg: ReportConfig) -> Any:
    from metsurv.stats import km

    return km(data, by=by, time=cfg.time_column, event=cfg.event_column,
              times=[12.0 * y for y in _SURV_YEARS])


@dataclass(frozen=True)
class _Tests:
    """The log-rank and trend p of one Kaplan-Meier panel, and which levels entered them."""

    p: float | None
    trend: float | None
    rule: str


def _events_word(cfg: ReportConfig) -> str:
    return "deaths" if cfg.endpoint == "os" else "events"


def _subset_batteries(cfg: ReportConfig, patients: pd.DataFrame, battery: Any
                      ) -> dict[str | None, Any]:
    """The IRLM battery of the whole cohort (``None``) and, for each subset a panel is drawn
    on, of that subset, limited to the factors drawn there (cheap at a million patients)."""
    from metsurv.stats.irlm import FACTORS, irlm_comparisons

    out: dict[str | None, Any] = {None: battery}
    for subset in dict.fromkeys(s.subset for s in cfg.factors if s.subset):
        factors = [s.factor for s in cfg.factors if s.subset == subset and s.factor in FACTORS
                   and s.factor in patients.columns]
        if not factors:
            continue
        needs_histology = any(FACTORS[f][1] is not None for f in factors)
        cols = [cfg.time_column, cfg.event_column, "entry_months", *factors,
                *(["histology_group"] if needs_histology else [])]
        data = T.subset_patients(patients, subset)
        out[subset] = irlm_comparisons(data[list(dict.fromkeys(c for c in cols
                                                               if c in data.columns))],
                                       endpoint=cfg.endpoint)
    return out


def _factor_tests(cfg: ReportConfig, battery: Any, data: pd.DataFrame, factor: str) -> _Tests:
    """The panel's tests: the IRLM battery's for its factors (log-rank over the levels with
    enough patients and events; trend over the ordered ones among them), so that figure,
    survival table and battery table quote one p; for a factor the battery does not analyse,
    log-rank over all its levels."""
    rows = battery.factors if battery is not None else pd.DataFrame(columns=["factor"])
    row = rows[rows["factor"] == factor]
    if not len(row):
        return _all_levels_test(cfg, data, factor)
    row = row.iloc[0]
    p = float(row["logrank_p"]) if np.isfinite(row["logrank_p"]) else None
    trend = float(row["trend_p"]) if np.isfinite(row["trend_p"]) else None
    lv = battery.levels[(battery.levels["factor"] == factor) & (battery.levels["n"] > 0)]
    tested = [v for v in lv["level"] if not bool(lv.loc[lv["level"] == v, "sparse"].iloc[0])]
    untested = [v for v in lv["level"] if v not in tested]
    names = ", ".join(T.level_label(factor, v) for v in tested)
    if p is None:
        return _Tests(None, None, (
            f"No log-rank test: fewer than two levels with at least {battery.min_n} patients "
            f"and {battery.min_events} {_events_word(cfg)} (IRLM battery rule)."))
    rule = (f"Log-rank test over the levels with at least {battery.min_n} patients and "
            f"{battery.min_events} {_events_word(cfg)} (IRLM battery rule): "
            + ("all levels" if not untested else names + "; not tested: "
               + ", ".join(T.level_label(factor, v) for v in untested)))
    if trend is not None:
        tested_text = {str(v) for v in tested}
        order = [v for v in schema.ORDERED_FACTORS.get(factor, ()) if v in tested_text]
        rule += ("; test for trend over " + " < ".join(T.level_label(factor, v) for v in order))
    return _Tests(p, trend, rule + ".")


def _all_levels_test(cfg: ReportConfig, data: pd.DataFrame, factor: str) -> _Tests:
    from metsurv.stats import logrank

    if data[factor].nunique() < 2:
        return _Tests(None, None, "")
    res = logrank(data, by=factor, time=cfg.time_column, event=cfg.event_column)
    p = float(res.p) if np.isfinite(res.p) else None
    return _Tests(p, None, "Log-rank test over all levels (not a factor of the IRLM "
                           "battery, which applies no level rule to it).")


def _tick_months(cfg: ReportConfig) -> list[float]:
    return [float(t) / F.UNIT_SCALE[cfg.time_unit] for t in F.time_ticks(cfg.max_time,
                                                                         cfg.tick_step)]


def _plot_kwargs(cfg: ReportConfig) -> dict[str, Any]:
    return {"endpoint": cfg.endpoint, "time_unit": cfg.time_unit, "max_time": cfg.max_time,
            "tick_step": cfg.tick_step, "ci": cfg.ci_bands, "suppress_below": cfg.suppress_below}


def _labels(factor: str, groups: list) -> dict[Any, str]:
    return {g: T.level_label(factor, g) for g in groups}


def _order(factor: str, groups: list) -> list:
    """IRLM order: schema order for coded factors; the reference level first for yes/no
    (the schema's, else "no", the unexposed group, as metsurv.stats.irlm and cox take it)."""
    if all(isinstance(g, (bool, np.bool_)) for g in groups):
        ref = schema.REFERENCE_LEVELS.get(factor, False)
        return [g for g in (ref, not ref) if g in groups]
    return list(groups)


def _factor_title(spec: FactorSpec) -> str:
    if spec.title:
        return spec.title
    t = T.FACTOR_TITLES.get(spec.factor, spec.factor)
    return t + (f" ({_SUBSET_TEXT[spec.subset]})" if spec.subset else "")


def _km_caption(cfg: ReportConfig, what: str | None, tests: _Tests | None = None,
                bench: pd.DataFrame | None = None, sources: tuple[str, ...] = (),
                n_groups: int = 1) -> str:
    unit = cfg.time_unit
    text = (f"Kaplan-Meier estimate of {'overall' if cfg.endpoint == 'os' else 'disease-free'} "
            f"survival {'of all patients' if what is None else 'by ' + what}, {unit} from the "
            f"first pulmonary metastasectomy; ticks mark "
            f"censored patients (merged when closer than the print resolution)")
    if cfg.ci_bands or (cfg.ci_bands is None and n_groups <= F.MAX_CI_BAND_GROUPS):
        text += "; shaded: 95% pointwise CI (log-log)."
    else:
        text += (f"; 95% CIs not shaded (more than {F.MAX_CI_BAND_GROUPS} groups overlap; "
                 "see the survival table)." if cfg.ci_bands is None else ".")
    text += " Legend: n and 5-year survival per group. " + F.AT_RISK_CAPTION
    if tests is not None and tests.p is not None:
        text += f" Log-rank {format_p(tests.p)}"
        text += (f"; test for trend {format_p(tests.trend)}." if tests.trend is not None
                 else ".")
    if tests is not None and tests.rule:
        text += " " + tests.rule
    if sources and bench is not None:
        text += (f" Published {cfg.benchmark} figures (survival at 5/10/15 years; a median "
                 "drawn at 50%), in the group's colour: ")
        primary = bench.drop_duplicates("source").set_index("source")["primary"]
        kinds = [("open diamonds, from the study's abstract", True),
                 ("open circles, quoted by a review or commonly quoted and not verified in "
                  "the study's full text", False)]
        text += "; ".join(f"{what_}: " + "; ".join(x for x in sources if primary[x] == kind)
                          for what_, kind in kinds if (primary == kind).any()) + "."
    if cfg.suppress_below:
        k = cfg.suppress_below
        text += (f" Counts below {k} shown as <{k}; a group of fewer than {k} patients is "
                 "not drawn (its steps would give its size away), nor a group whose size "
                 "would give a smaller one's away (total minus the others); curves stop "
                 f"where fewer than {k} remain at risk; at risk "
                 f"\"{F.AT_RISK_SECONDARY}\": hidden so that the total cannot give a smaller "
                 "count back.")
    return text


def _survival_rows(fit: Any, factor_title: str, p: float | None, trend: float | None, k: int,
                   labels: dict[Any, str], order: list | None = None,
                   groups: tuple[Partition, Partition] | None = None) -> pd.DataFrame:
    """Rows of the survival table for one fit. ``groups``: the report's decisions for the
    groups' patients and events (one group's row without it: a total everyone sees)."""
    med = fit.medians().set_index(fit.medians()["group"].astype(str))
    at = fit.survival_at([12.0 * y for y in _SURV_YEARS])
    levels = order if order is not None else fit.groups

    def count(what: int, g: Any) -> str:
        n = int(med.loc[str(g), ("n", "events")[what]])
        return groups[what].text(g, n) if groups is not None else T.suppress_count(n, k)

    rows = []
    for j, g in enumerate(levels):
        m = med.loc[str(g)]
        row: dict[str, Any] = {
            "Factor": factor_title if j == 0 else "",
            "Group": labels.get(g, str(g)),
            "n": count(0, g),
            "Events": count(1, g),
            "Median (95% CI), months": (T.ci_text(m["median"], m["lower"], m["upper"],
                                                  missing="not reached")
                                        if shows_estimates(m["n"], k) else ""),
        }
        a = at[at["group"].astype(str) == str(g)]
        for y in _SURV_YEARS:
            r = a[np.isclose(a["time"], 12.0 * y)]
            # an estimate resting on fewer than k at risk: the steps before it say how many
            if (len(r) and followed(r["n_risk"].iloc[0], r["estimate"].iloc[0])
                    and shows_estimates(m["n"], k) and shows_estimates(r["n_risk"].iloc[0], k)):
                row[f"{y}-year % (95% CI)"] = T.ci_text(r["estimate"].iloc[0],
                                                        r["lower"].iloc[0], r["upper"].iloc[0],
                                                        100, 0)
            else:
                row[f"{y}-year % (95% CI)"] = ""
        row["Log-rank p"] = format_p(p, label=False) if j == 0 and p is not None else ""
        row["Trend p"] = (format_p(trend, label=False)
                          if j == 0 and trend is not None else "")
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# published benchmarks


def _published(cfg: ReportConfig) -> pd.DataFrame | None:
    """The benchmark study's figures measured like ours (same endpoint, same origin)."""
    return None if cfg.benchmark is None else T.published_like(cfg.endpoint, cfg.benchmark)


def _published_section(cfg: ReportConfig, patients: pd.DataFrame, counts: _GroupCounts
                       ) -> _Section | None:
    """Every published figure measured like ours, beside the same number in this cohort."""

    def count_text(subset: str | None, column: str, value: Any, n: int) -> str:
        if column == "all":
            return counts.subset_size(subset)
        return counts.groups(subset, column)[0].text(value, n)

    comp = T.published_comparison(patients=patients, endpoint=cfg.endpoint,
                                  suppress_below=cfg.suppress_below, count_text=count_text)
    left = tuple(comp.attrs.get("left_out", ()))
    left_text = (" Not set beside this cohort, for their population: " + "; ".join(left)
                 + "." if left else "")
    if len(comp) and "Cohort n" in comp.columns:  # groups this cohort does not record
        absent = comp["Cohort n"].astype(str).str.strip() == ""
        if absent.any():
            factors = sorted(set(comp.loc[absent, "Factor"]))
            left_text += (f" {int(absent.sum())} figure(s) left out: this cohort has no "
                          "patients in their group ("
                          f"{', '.join(lower_first(f) for f in factors)}).")
            comp = comp[~absent].reset_index(drop=True)
    if comp.empty:
        return _absent("published", "This cohort beside the published series",
                       "no published figure describes a population this cohort has "
                       "(metsurv.published)." + left_text)
    sec = _Section("This cohort beside the published series", id="published", intro=(
        "Published figures of overall survival from metastasectomy (reference file "
        "metsurv.published), each beside the same quantity in this cohort, computed on the "
        "same population (histologies and subset) and group. Populations, eras and "
        "selection differ: a difference is a question, not a finding."))
    sec.items.append(_Table("published_comparison", "This cohort vs published series",
                            "Survival in percent, medians in months; blank where the study did "
                            "not report the figure or the cohort cannot estimate it. The "
                            "'confidence' of each published figure is in metsurv.published."
                            + left_text, comp))
    return sec


# ---------------------------------------------------------------------------------------
# sections wired to stats modules that may be absent in this version


def _battery_univariable(battery: Any, factor: str) -> pd.DataFrame | None:
    """The IRLM battery's univariable Cox HRs of ``factor`` as forest/table rows, or None
    when the battery did not analyse it. Reusing them keeps the forest plot and the IRLM
    table identical and saves refitting (at a million patients each Cox fit costs seconds).
    """
    lv = battery.levels
    rows = lv[(lv["factor"] == factor) & ~lv["reference"].astype(bool) & lv["hr"].notna()]
    if factor not in set(battery.factors["factor"]) or not len(rows):
        return None
    ref = lv.loc[(lv["factor"] == factor) & lv["reference"].astype(bool), "level"]
    ref_text = f" vs {T.level_label(factor, ref.iloc[0])}" if len(ref) else ""
    title = T.FACTOR_TITLES.get(factor, factor)
    return pd.DataFrame({
        "term": [f"{title}: {T.level_label(factor, v)}{ref_text}" for v in rows["level"]],
        "hr": rows["hr"].to_numpy(float), "lower": rows["hr_lower"].to_numpy(float),
        "upper": rows["hr_upper"].to_numpy(float), "p": rows["hr_p"].to_numpy(float),
    })


def _cox_section(cfg: ReportConfig, patients: pd.DataFrame, battery: Any, counts: _GroupCounts
                 ) -> _Section | None:
    if not cfg.cox_covariates:
        return None
    from metsurv.stats import cox

    # a covariate needs two values in the cohort (one histology is no contrast: R would
    # give its terms NA); the ones left out are named
    covs = [c for c in cfg.cox_covariates if c in patients.columns
            and patients[c].astype(object).dropna().nunique() >= 2]
    if not covs:
        return None
    left_out = [c for c in cfg.cox_covariates if c not in covs]
    left_text = ("" if not left_out else " Configured covariates left out, for having fewer "
                 "than two values in this cohort: " + ", ".join(
                     lower_first(T.FACTOR_TITLES.get(c, c)) for c in left_out) + ".")

    # cox takes yes/no columns as two-level factors and the schema's reference levels
    # (complete resection, DFI >= 36, ...), so HRs read "incomplete vs complete" as in IRLM.
    def fit(columns: list[str]) -> Any:
        return cox(patients, covariates=columns, time=cfg.time_column, event=cfg.event_column)

    models: dict[str, pd.DataFrame] = {}
    fitted: list[tuple[str, Any]] = []  # (what, result) of every fit shown, for its warnings
    if cfg.cox_univariable:
        uni = []
        for c in covs:
            rows = _battery_univariable(battery, c)
            if rows is None:
                one = fit([c])
                fitted.append((f"Univariable, {T.FACTOR_TITLES.get(c, c)}", one))
                rows = T.cox_frame(one)
            else:  # the battery's warnings about this factor's fit (its own prefix)
                fitted.append(("IRLM battery", SimpleNamespace(warnings=tuple(
                    w for w in getattr(battery, "warnings", ()) if w.startswith(f"{c} (")))))
            uni.append(rows)
        models["Univariable"] = pd.concat(uni, ignore_index=True)
    multi = fit(covs)
    fitted.insert(0, ("Study model", multi))
    try:
        ph_fit = multi.ph_test()
        ph = ph_fit.to_frame()
    except Exception:  # noqa: BLE001 - the PH check is informative, never fatal
        ph = ph_fit = None
    # where cox.zph rejects proportional hazards, the HR is an average over time: say so
    # beside it (R users read the zph table; a reader of the HR table must not miss it)
    rejected = ([] if ph is None else
                [(t, float(p)) for t, p in zip(ph["term"], ph["p"], strict=True)
                 if t != "GLOBAL" and np.isfinite(p) and p < _PH_ALPHA])
    ph_notes = tuple(
        f"Proportional hazards rejected for {lower_first(T.FACTOR_TITLES.get(t, t))} "
        f"(cox.zph {format_p(p)}): its hazard ratio averages an effect that changes over "
        f"time; see its residual plot and the restricted mean survival below." for t, p in rejected)
    notes = T.result_notes(fitted) + ph_notes
    in_model, model_events = counts.complete_cases("study model: " + ", ".join(covs), multi.n,
                                                   multi.n_dropped, multi.events)
    n_text, e_text = in_model.range_text(True), model_events.range_text(True)
    study = T.describe_model(covs, n_text, e_text)
    models[_STUDY_MODEL] = T.cox_frame(multi)
    sec = _Section("Cox proportional-hazards models", id="cox", intro=
                   "Hazard ratios against the reference level of each factor (complete "
                   "resection, DFI \u226536 months, single metastasis, N0, IRLM group I, ...); "
                   "Efron ties; 95% Wald CIs, as R coxph. Two multivariable models appear in "
                   f"this report. Here, the study model (config cox.covariates): {study}; "
                   f"{in_model.text(False)} patients with a missing covariate "
                   "left out." + left_text + " In the IRLM comparison battery, the battery "
                   "model: " + _battery_model_text(battery, counts) + ".")
    sec.items.append(_Figure("forest", "Hazard ratios",
                             "Univariable (filled circles) and study-model multivariable (open "
                             f"squares; {study}) Cox hazard ratios with 95% CIs, log scale.",
                             F.forest_figure(models), notes=notes))
    table = T.format_cox(models)
    table.columns = [c.replace(_STUDY_MODEL, f"Multivariable, study model (n = "
                               f"{n_text}, events = {e_text})") for c in table.columns]
    if ph is not None:  # beside each HR of the study model: its PH check, in the CSV too
        zph_p = dict(zip(ph["term"], ph["p"], strict=True))

        def ph_cell(label: str) -> str:
            for term in covs:
                title = T.FACTOR_TITLES.get(term, term)
                if (label == title or label.startswith(f"{title}:")) and term in zph_p:
                    p_ = zph_p[term]
                    return ("" if not np.isfinite(p_) else format_p(p_, label=False)
                            + (" (not proportional)" if p_ < _PH_ALPHA else ""))
            return ""
        table["PH check p (cox.zph)"] = [ph_cell(t) for t in table["Term"]]
    sec.items.append(_Table("cox", "Cox models", "HR (95% CI) and Wald p per model; "
                            f"{T.NOT_ESTIMABLE}: a term R reports as NA. "
                            f"Study model: {study}. PH check: cox.zph p of the term in the "
                            "study model; below 0.05 its hazard ratio averages an effect that "
                            "changes over time.", table, notes=notes))
    if ph is not None:
        ph_tab = pd.DataFrame({
            "Term": [T.FACTOR_TITLES.get(t, t) for t in ph["term"]],
            "Chi-square": [f"{v:.2f}" for v in ph["chisq"]],
            "df": [str(int(v)) for v in ph["df"]],
            "p": [format_p(v, label=False) for v in ph["p"]],
        })
        sec.items.append(_Table("cox_ph_test", "Proportional-hazards check (study model)",
                                "Score test of a time-varying coefficient, x * (1 - KM(t)), "
                                "per term and globally, as R cox.zph(fit, transform = 'km'). "
                                "A small p questions the proportional-hazards assumption.",
                                ph_tab, notes=T.result_notes([("PH check", ph_fit)], skip=multi.warnings)))
    for term, p in rejected:
        sec.items.extend(_ph_items(cfg, patients, multi, ph_fit, term, p))
    return sec


#: The cox.zph p below which the report treats proportional hazards as rejected.
_PH_ALPHA = 0.05
#: The horizon of the restricted mean survival time shown where PH fails (months).
_RMST_HORIZON_MONTHS = 60.0


def _ph_items(cfg: ReportConfig, patients: pd.DataFrame, multi: Any, ph_fit: Any, term: str,
              p: float) -> list[_Figure | _Table]:
    """For a term whose proportional hazards cox.zph rejects: its scaled Schoenfeld
    residuals against time with R plot.cox.zph's smooth (figures/ph_<term>), and a summary
    that does not assume PH: the restricted mean survival time to 5 years by the term's
    levels and its difference from the reference (R survRM2-style, from the KM curves)."""
    from metsurv.stats import rmst
    from metsurv.stats.cox.zph import zph_smooth, zph_time_axis

    title = T.FACTOR_TITLES.get(term, term)
    items: list[_Figure | _Table] = []
    res = ph_fit.residuals
    if res is not None and term in res.columns:
        try:
            smooth = zph_smooth(ph_fit, term, multi)
        except ValueError:
            smooth = None
        if smooth is not None:
            # one column: the residual is on its coefficient's scale; a factor of several
            # levels: on the linear predictor's, whose constant is 1 (R plot.cox.zph)
            cols = [i for i, c in enumerate(multi.terms) if c == term or c.startswith(f"{term}[")]
            coef = float(multi.coef[cols[0]]) if len(cols) == 1 else 1.0
            fig = F.ph_figure(res["x"], res[term], smooth, title,
                              coef=coef if np.isfinite(coef) else None,
                              ticks=zph_time_axis(ph_fit), transform=ph_fit.transform, p=p,
                              title=title, xlabel="Months after metastasectomy")
            items.append(_Figure(
                f"ph_{term}", f"Proportional-hazards check: {title}",
                "Scaled Schoenfeld residuals of the study model against time (Kaplan-Meier "
                "transform), with a natural-spline smooth (4 df) and its ±2 SE band, as R "
                "plot.cox.zph; the dotted line is the model's constant coefficient. A smooth "
                f"that is not flat means the effect changes over time (cox.zph {format_p(p)}).",
                fig))
    if term in patients.columns and not pd.api.types.is_float_dtype(patients[term]):
        data = patients[patients[term].notna()]
        tau = _RMST_HORIZON_MONTHS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = rmst(data, tau=tau, by=term, time=cfg.time_column, event=cfg.event_column,
                     beyond_follow_up="extend")
        rows = []
        for _, c in r.contrasts.iterrows():
            rows.append({"Comparison": f"{T.level_label(term, c['group'])} vs "
                                       f"{T.level_label(term, c['reference'])}",
                         f"RMST difference to {tau / 12:g} years, months (95% CI)":
                             T.ci_text(c["difference"], c["lower"], c["upper"]),
                         "p": format_p(c["p_value"], label=False)})
        if rows:
            items.append(_Table(
                f"ph_rmst_{term}", f"Restricted mean survival by {lower_first(title)}",
                f"Difference in restricted mean survival time to {tau / 12:g} years (area under "
                "the Kaplan-Meier curves, R print(survfit, rmean = tau) and its se), a "
                "summary that does not assume proportional hazards.", pd.DataFrame(rows)))
    return items


def _battery_model_counts(res: Any, counts: _GroupCounts) -> tuple[str, str]:
    """The battery model's n and events as printed (its complete cases: a group)."""
    name = "battery model: " + ", ".join(res.multivariable_factors)
    n, e = counts.complete_cases(name, res.multivariable_n,
                                 len(counts.data) - res.multivariable_n,
                                 res.multivariable_events)
    return n.range_text(True), e.range_text(True)


def _battery_model_text(res: Any, counts: _GroupCounts) -> str:
    if not res.multivariable_factors:
        return "none (fewer than two factors with enough data)"
    return T.describe_model(res.multivariable_factors, *_battery_model_counts(res, counts))


def _battery_groups(counts: _GroupCounts) -> Any:
    """For a battery factor, the report's decisions for its levels (on the factor's
    population: sarcomas for leiomyosarcoma vs other sarcoma)."""
    from metsurv.stats.irlm import FACTORS

    return lambda factor: counts.groups(FACTORS.get(factor, (None, None))[1], factor)


def _irlm_section(cfg: ReportConfig, res: Any, counts: _GroupCounts) -> _Section:
    k = cfg.suppress_below
    sec = _Section("IRLM comparison battery", id="irlm", intro=
                   "Every prognostic factor of the International Registry of Lung Metastases "
                   "(Pastorino 1997) on this cohort: Kaplan-Meier per level, log-rank (and "
                   "trend) tests, univariable hazard ratios against the reference level and a "
                   f"multivariable Cox model, the battery model: "
                   f"{_battery_model_text(res, counts)}. "
                   f"Levels with fewer than {res.min_n} patients or {res.min_events} events are "
                   "described but not tested and left out of the battery model (see Note); "
                   "it is not the study model of the Cox section.")
    sec.items.append(_Table("irlm_battery", "IRLM battery", "Medians in months; survival in "
                            "percent; HR from Cox models (Efron ties). Battery model: "
                            f"{_battery_model_text(res, counts)}.",
                            T.format_irlm(res, k, groups=_battery_groups(counts),
                                          model_counts=_battery_model_counts(res, counts)
                                          if res.multivariable_factors else None),
                            notes=T.result_notes([("", res)])))
    return sec


def _competing_section(cfg: ReportConfig, patients: pd.DataFrame) -> _Section:
    title = "Pulmonary recurrence and death (competing risks)"
    recurrences = [e for e in schema.FIRST_EVENTS
                   if e not in ("death_without_recurrence", "event_free")]
    if not {"dfs_months", "dfs_event", "first_event"} <= set(patients.columns):
        return _absent("competing", title, "the data have no recurrence dates "
                       "(recurrence_date), so recurrence cannot be set against death.")
    # the patients whose first event is known, as cuminc keeps them
    data = patients[patients["first_event"].notna() & patients["dfs_months"].notna()]
    if not data["first_event"].astype(object).isin(recurrences).any():
        return _absent("competing", title, "no recurrence is recorded (recurrence_date and "
                       "recurrence_site are empty), so recurrence cannot be set against "
                       "death; a curve of deaths alone would be 1 - Kaplan-Meier under a "
                       "false label.")
    from metsurv.stats import km
    from metsurv.stats.competing import FIRST_EVENT_STATUS, STATUS_LABELS, cuminc

    res = cuminc(data)
    tab = res.table
    # causes in the schema's order of first events: pulmonary, extrathoracic, site unknown,
    # death without recurrence
    rank = {code: schema.FIRST_EVENTS.index(name) for name, code in FIRST_EVENT_STATUS.items()}
    causes = sorted(res.causes, key=lambda c: rank.get(c, len(rank)))
    curves = []
    for cause in causes:
        cur = tab[tab["cause"] == cause]
        t0 = np.concatenate(([0.0], cur["time"].to_numpy(float)))
        curves.append(F.Curve(
            label=_cause_label(cause, STATUS_LABELS),
            time=t0,
            estimate=np.concatenate(([0.0], cur["estimate"].to_numpy(float))),
            lower=np.concatenate(([0.0], cur["lower"].to_numpy(float))),
            upper=np.concatenate(([0.0], cur["upper"].to_numpy(float))),
        ))
    # number at risk on the DFS endpoint (dfs_months >= t), as the estimator counts it
    at_risk = km(data, time="dfs_months", event="dfs_event").at_risk(_tick_months(cfg))
    fig = F.cif_figure(curves, time_unit=cfg.time_unit, max_time=cfg.max_time,
                       tick_step=cfg.tick_step, end_of_followup=float(data["dfs_months"].max()),
                       at_risk=at_risk, suppress_below=cfg.suppress_below,
                       note="Aalen-Johansen estimates; first event after metastasectomy; "
                            "curves drawn to the end of follow-up.")
    at = res.at([12.0 * y for y in (1, 2, 3, 5, 10)])
    at["cause"] = pd.Categorical([_cause_label(c, STATUS_LABELS) for c in at["cause"]],
                                 categories=[c.label for c in curves])
    at = at.sort_values(["cause", "time"], kind="stable")
    at["years"] = (at["time"] / 12).round(2)
    table = pd.DataFrame({
        "First event": at["cause"].astype(str), "Years": at["years"],
        "Cumulative incidence % (95% CI)": [
            T.ci_text(e, lo, hi, 100) if e > 0 else "0.0"
            for e, lo, hi in zip(at["estimate"], at["lower"], at["upper"], strict=False)],
    })
    sec = _Section("Pulmonary recurrence and death (competing risks)", id="competing",
                   intro=
                   "Death without recurrence competes with recurrence: the cumulative "
                   "incidence (Aalen-Johansen, as R cmprsk::cuminc) is shown, not 1 - KM.")
    sec.items.append(_Figure("cif_recurrence", "Cumulative incidence of first events",
                             "Cumulative incidence of each first event after the first "
                             f"metastasectomy ({', '.join(lower_first(c.label) for c in curves)}"
                             "); shaded: 95% CI. Each curve runs flat from its cause's last "
                             "event to the end of follow-up. " + F.CIF_AT_RISK_CAPTION
                             + (f" Counts below {cfg.suppress_below} shown as "
                                f"<{cfg.suppress_below}." if cfg.suppress_below else ""), fig))
    sec.items.append(_Table("cif_recurrence", "Cumulative incidence at 1, 2, 3, 5, 10 years",
                            "", table))
    return sec


def _cause_label(cause: Any, labels: dict) -> str:
    """'recurrence, site unknown' -> 'Recurrence, site unknown'."""
    text = str(labels.get(cause, cause)).replace("_", " ")
    return text[:1].upper() + text[1:]


def _landmark_section(cfg: ReportConfig, cohort: Any, supp: Suppression) -> _Section | None:
    from metsurv.stats.landmark import landmark

    sec = _Section("Repeat resection: landmark analysis", id="landmark", intro=
                   "Comparing patients with and without a repeat resection from the first "
                   "operation is biased by immortal time (a patient must survive and recur to "
                   "be re-operated). At each landmark, patients alive and followed beyond it "
                   "are grouped by whether they had a repeat resection by then, and survival "
                   "is counted from the landmark (Anderson, Cain & Gelber 1983).")
    if getattr(cohort, "counting_process", None) is None:
        return _absent("landmark", sec.title, "the data have no resections table (one row "
                       "per operation), so repeat resections are unknown.")
    scale = F.UNIT_SCALE[cfg.time_unit]
    rows = []
    for lm in cfg.landmark_times:
        res = landmark(cohort, at=lm, time=cfg.time_column, event=cfg.event_column,
                       times=[12.0 * y for y in _SURV_YEARS])
        fit = res.km
        # who is analysed at the landmark, and by repeat resection: groups like any other
        at_lm = supp.partition(("n", None, f"alive at {lm:g} months"),
                               {True: res.n_eligible, False: res.n_excluded})
        med = fit.medians()
        groups = tuple(supp.partition((what, f"alive at {lm:g} months", "repeat_resection"),
                                      dict(zip(med["group"], med[col].astype(int), strict=True)))
                       for what, col in (("n", "n"), ("events", "events")))
        span = max(cfg.max_time - lm * scale, 1.0)
        ticks = F.time_ticks(span)
        p = res.logrank.p if res.logrank is not None else None
        panel = F.panel_from_km(fit, at_risk_times=[float(t) / scale for t in ticks],
                                labels=_labels("repeat_resection", fit.groups),
                                order=_order("repeat_resection", fit.groups),
                                p_logrank=p, groups=groups[0])
        kw = {**_plot_kwargs(cfg), "max_time": span, "tick_step": None}
        fig = F.km_figure(panel, **kw)
        fig.axes[0].set_xlabel(f"{F.UNIT_LABEL[cfg.time_unit]} after the {lm:g}-month landmark")
        sec.items.append(_Figure(
            f"landmark_{lm:g}m", f"Landmark at {lm:g} months",
            f"Survival from the {lm:g}-month landmark of the {at_lm.range_text(True)} patients "
            f"alive and followed beyond it ({at_lm.text(False)} died or were censored "
            f"earlier), by repeat resection at or before the landmark "
            f"({groups[0].text(True, res.n_exposed)} patients). "
            "Patients re-operated after the landmark stay in the single-resection group. "
            + F.AT_RISK_CAPTION + (f" Log-rank {format_p(p)}." if p is not None else ""),
            fig))
        rows.append(_survival_rows(fit, f"Landmark {lm:g} months", p, None,
                                   cfg.suppress_below,
                                   labels=_labels("repeat_resection", fit.groups),
                                   order=_order("repeat_resection", fit.groups), groups=groups))
    tab = pd.concat(rows, ignore_index=True)
    tab.columns = [c.replace("Median", "Median from landmark").replace("-year", "-year after")
                   for c in tab.columns]
    sec.items.append(_Table("landmark", "Survival from each landmark by repeat resection",
                            "Kaplan-Meier from the landmark (times counted from it).", tab))
    return sec


# ---------------------------------------------------------------------------------------
# writers


def _css() -> str:
    return resources.files("metsurv.report").joinpath("report.css").read_text(encoding="utf-8")


def _html(cfg: ReportConfig, cohort: Any, sections: list[_Section], outdir: Path,
          built: str) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(cfg.title)}</title>",
        f"<style>\n{_css()}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{esc(cfg.title)}</h1>",
        f'<p class="lead">{esc(_endpoint_text(cfg))} {esc(_lead_counts(cohort, cfg))}</p>',
        f'<p class="built">{BUILT_PREFIX}{esc(built)} with metsurv {esc(_version("metsurv"))}'
        "</p>",
        '<nav><ol>' + "".join(f'<li><a href="#s{i}">{esc(s.title)}</a></li>'
                              for i, s in enumerate(sections, 1)) + "</ol></nav>",
    ]
    for i, sec in enumerate(sections, 1):
        parts.append(f'<section id="s{i}">')
        parts.append(f"<h2>{i}. {esc(sec.title)}</h2>")
        if sec.reason:
            parts.append(f'<p class="absent">Not shown: {esc(sec.reason)}</p>')
        if sec.intro:
            parts.append(f"<p>{esc(sec.intro)}</p>")
        for item in sec.items:
            if isinstance(item, _Figure):
                svg = (outdir / "figures" / f"{item.name}.svg").read_bytes()
                b64 = base64.b64encode(svg).decode("ascii")
                # page-width figures (forest plot) get the full column, column-width ones 34rem
                wide = ' class="wide"' if item.fig.get_figwidth() > 4 else ""
                links = " · ".join(f'<a href="figures/{item.name}.{fmt}">{fmt.upper()}</a>'
                                   for fmt in cfg.formats)
                parts.append(
                    f'<figure id="fig-{esc(item.name)}"><img{wide} alt="{esc(item.title)}" '
                    f'src="data:image/svg+xml;base64,{b64}">'
                    f"<figcaption><b>{esc(item.title)}.</b> {esc(item.caption)} "
                    f'<span class="dl">{links}</span></figcaption>{_notes_html(item.notes)}'
                    "</figure>")
            else:
                if item.frame.empty:
                    parts.append(f"<p><b>{esc(item.title)}.</b> {esc(item.caption)}</p>")
                    continue
                parts.append('<div class="table">')
                parts.append(T.to_html(item.frame, caption=item.title, table_id=f"tab-{item.name}"))
                note = esc(item.caption)
                parts.append(f'<p class="note">{note} <a href="tables/{item.name}.csv">CSV</a>'
                             f"</p>{_notes_html(item.notes)}</div>")
        parts.append("</section>")
    prov = cohort.provenance
    parts.append('<section id="provenance"><h2>Provenance</h2>')
    parts.append(f"<p>Input SHA-256: <code>{esc(str(prov.get('sha256', '')))}</code>"
                 + (f"; resections <code>{esc(str(prov['resections'].get('sha256', '')))}"
                    "</code>" if isinstance(prov.get("resections"), dict) else "")
                 + '. Full record: <a href="provenance.json">provenance.json</a>.</p>')
    parts.append("</section></main></body></html>")
    return "\n".join(parts) + "\n"


def _notes_html(notes: tuple[str, ...]) -> str:
    """A fit's warnings under the table or figure they concern (R prints them with the fit)."""
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f'<div class="warnings" role="note"><b>Warning</b><ul>{items}</ul></div>'


def _lead_counts(cohort: Any, cfg: ReportConfig) -> str:
    read, analysed = _read_and_analysed(cohort, cfg.suppress_below)
    return f"{analysed} patients analysed of {read} records read."


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def _provenance(cfg: ReportConfig, cohort: Any, outputs: dict[str, str], built: str,
                sections: list[_Section]) -> str:
    prov = cohort.provenance
    k = cfg.suppress_below
    # Under suppression every count is written as the report prints it (text).
    flow = (_flow_printed(cohort.flow, k) if k else
            cohort.flow[["table", "step", "reason", "n"]].astype(object))
    read = flow[flow["step"] == "read"].set_index("table")["n"]

    def records(table: str, n: Any) -> Any:
        return read.get(table, n) if k else n

    inputs = {"patients": {k_: prov.get(k_) for k_ in ("format", "sha256")}}
    inputs["patients"]["records"] = records("patients", prov.get("records"))
    inputs["patients"]["file"] = Path(str(prov.get("source", cfg.source))).name
    if isinstance(prov.get("resections"), dict):
        r = prov["resections"]
        inputs["resections"] = {"file": Path(str(r.get("source", ""))).name,
                                **{k_: r.get(k_) for k_ in ("format", "sha256")},
                                "records": records("resections", r.get("records"))}
    versions = dict(prov.get("versions", {}))
    for pkg in ("metsurv", "matplotlib", "pandas", "numpy", "scipy", "pyyaml"):
        versions.setdefault(pkg, _version(pkg))
    n_read, n_analysed = (_read_and_analysed(cohort, k) if k
                          else (cohort.n_read, cohort.n_analysed))
    doc = {
        "generator": GENERATOR,
        "built": f"{BUILT_PREFIX}{built}",
        "title": cfg.title,
        "inputs": inputs,
        "mapping": prov.get("mapping"),
        "n_read": n_read,
        "n_analysed": n_analysed,
        "flow": [{"table": t, "step": st, "reason": None if pd.isna(r) or r == "" else r,
                  "n": n if k else int(n)}
                 for t, st, r, n in flow[["table", "step", "reason", "n"]].itertuples(
                     index=False)],
        "config": cfg.to_dict(),
        "sections": section_entries(sections),
        "seed": cfg.seed,
        "versions": versions,
        "outputs_sha256": dict(sorted(outputs.items())),
    }
    from metsurv.stats._result import json_safe

    return json.dumps(json_safe(doc), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _pdf(cfg: ReportConfig, cohort: Any, sections: list[_Section], path: Path,
         built: str) -> None:
    """The report as a PDF: a title page, then each figure and table on its own page(s)."""
    import matplotlib as mpl
    from matplotlib.backends.backend_pdf import PdfPages

    # Type 3 fonts here: embedding TrueType (Type 42) subsets costs ~0.5 s per font per file
    # with fontTools; the journal-ready per-figure PDFs in figures/ keep Type 42.
    with style.figure_style(), mpl.rc_context({"pdf.fonttype": 3}), \
            PdfPages(path, metadata=style.PDF_METADATA) as pdf:
        page = style.new_figure((8.27, 11.69))
        page.text(0.08, 0.92, cfg.title, fontsize=14, fontweight="bold", va="top", wrap=True)
        page.text(0.08, 0.87, _endpoint_text(cfg), fontsize=8, va="top", wrap=True)
        page.text(0.08, 0.84, f"{BUILT_PREFIX}{built}", fontsize=7, va="top", color="0.3")
        page.text(0.08, 0.82, f"{_lead_counts(cohort, cfg)} "
                  f"Input SHA-256 {cohort.provenance.get('sha256', '')}.",
                  fontsize=7, va="top", color="0.3")
        y = 0.77
        for i, sec in enumerate(sections, 1):
            page.text(0.1, y, f"{i}. {sec.title}"
                      + (f" (not shown: {sec.reason})" if sec.reason else ""),
                      fontsize=9 if not sec.reason else 7.5, va="top",
                      color="black" if not sec.reason else "0.35")
            y -= 0.025
        pdf.savefig(page)
        methods = next((s for s in sections if s.id == "methods"), None)
        if methods is not None:
            import textwrap

            page = style.new_figure((8.27, 11.69))
            page.text(0.08, 0.92, "Methods", fontsize=12, fontweight="bold", va="top")
            page.text(0.08, 0.88, "\n".join(textwrap.wrap(methods.intro, 95)), fontsize=8.5,
                      va="top", linespacing=1.5)
            pdf.savefig(page)
        for sec in sections:
            for item in sec.items:
                if isinstance(item, _Figure):
                    pdf.savefig(item.fig)
                elif not item.frame.empty:
                    for fig in _table_pages(item):
                        pdf.savefig(fig)


def _table_pages(item: _Table, rows_per_page: int = 52) -> list[Any]:
    """A table as landscape A4 pages of fixed-width text (one text block per page: fast
    and exact; matplotlib's cell tables take seconds per page)."""
    df = item.frame.astype(object).where(item.frame.notna(), "").astype(str)
    df = df.apply(lambda s: s.str.slice(0, 70))
    widths = [max(len(str(c)), *(len(v) for v in df[c])) if len(df) else len(str(c))
              for c in df.columns]
    fmt_row = lambda cells: "  ".join(str(v).ljust(w) for v, w in zip(cells, widths, strict=False))  # noqa: E731
    header = fmt_row(df.columns)
    total = sum(widths) + 2 * (len(widths) - 1)
    size = min(7.0, 10.2 * 72 / max(total, 1) / 0.6)
    if item.notes:  # room for the warnings at the foot of each page
        rows_per_page -= 3 * len(item.notes) + 2
    pages = []
    for start in range(0, max(len(df), 1), rows_per_page):
        chunk = df.iloc[start:start + rows_per_page]
        lines = [header, "-" * len(header)] + [fmt_row(r) for r in chunk.itertuples(index=False)]
        fig = style.new_figure((11.69, 8.27))
        fig.text(0.04, 0.96, item.title + (" (continued)" if start else ""), fontsize=10,
                 fontweight="bold", va="top")
        fig.text(0.04, 0.92, "\n".join(lines), family="DejaVu Sans Mono", fontsize=size,
                 va="top", linespacing=1.25)
        import textwrap

        if item.caption:
            fig.text(0.04, 0.03, "\n".join(textwrap.wrap(item.caption, 190)), fontsize=6,
                     color="0.3", va="bottom")
        if item.notes:  # the fit's warnings right under the table, on every page of it
            notes = [w for n in item.notes for w in textwrap.wrap("Warning: " + n, 170)]
            below = 0.92 - (len(lines) + 0.8) * size * 1.25 / (8.27 * 72)
            fig.text(0.04, below, "\n".join(notes), fontsize=7, color=style.WARNING_COLOUR,
                     va="top", linespacing=1.25)
        pages.append(fig)
    return pages
