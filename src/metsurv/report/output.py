"""The one output step of a report: draw its figures, write every file (figures, tables,
PDF, HTML) and ``provenance.json`` with their checksums. Figures are saved by worker
processes (``METSURV_WORKERS``) with byte-identical results whatever their number."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from metsurv.errors import CohortError
from metsurv.report import figures as F
from metsurv.report import tables as T
from metsurv.report.config import ReportConfig
from metsurv.report.counts import flow_printed, read_and_analysed
from metsurv.report.document import Section, Table, figures_of, section_entries
from metsurv.report.render_html import BUILT_PREFIX, render_html
from metsurv.report.render_pdf import render_pdf
from metsurv.report.replace import GENERATOR, HELD_LOCKS, kill_point
from metsurv.report.sections._common import version

__all__ = ["write_report", "provenance", "built_at"]


def write_report(cfg: ReportConfig, cohort: Any, sections: list[Section], outdir: Path
                 ) -> None:
    """Draw the sections' figures and write the whole report into the empty folder
    ``outdir``: ``figures/`` (every figure in ``cfg.formats``), ``tables/`` (CSV),
    ``report.pdf``, ``index.html`` and ``provenance.json`` (with every output's SHA-256).
    The caller swaps the folder into place (:mod:`metsurv.report.replace`)."""
    (outdir / "figures").mkdir()
    (outdir / "tables").mkdir()
    outputs: dict[str, str] = {}
    drawn = {f.name: f.draw() for f in figures_of(sections)}
    built = built_at()
    # Saving figures (PNG, SVG, PDF with font subsets) is most of a build's time: worker
    # processes save them while this one writes the tables and the report PDF.
    with _FigureSaver(drawn, outdir / "figures", cfg.formats) as saver:
        for sec in sections:
            for item in sec.items:
                if isinstance(item, Table):
                    p = outdir / "tables" / f"{item.name}.csv"
                    p.write_bytes(T.to_csv_bytes(item.frame))
                    outputs[p.relative_to(outdir).as_posix()] = _sha256(p)
        render_pdf(cfg, cohort, sections, outdir / "report.pdf", built, drawn)
        for p in saver.paths():
            outputs[p.relative_to(outdir).as_posix()] = _sha256(p)
    kill_point("writing")
    (outdir / "index.html").write_text(render_html(cfg, cohort, sections, outdir, built, drawn),
                                       encoding="utf-8", newline="\n")
    doc = provenance(cfg, cohort, outputs, built, sections)
    (outdir / "provenance.json").write_text(doc, encoding="utf-8", newline="\n")


#: The figures a build's worker processes save (set before they fork; read by index).
_SAVING: list[tuple[Any, Path, tuple[str, ...]]] = []


def _worker_start(builder: int) -> None:
    """A figure-saving worker: it lets go of the build lock, and dies with its builder (a
    killed build must leave no process writing, nor holding the lock)."""
    for fd in HELD_LOCKS:
        try:
            os.close(fd)
        except OSError:
            pass
    HELD_LOCKS.clear()
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

    def __init__(self, drawn: dict[str, Any], folder: Path, formats: tuple[str, ...]) -> None:
        self.jobs = [(fig, folder / name, tuple(formats)) for name, fig in drawn.items()]
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


def built_at() -> str:
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




def provenance(cfg: ReportConfig, cohort: Any, outputs: dict[str, str], built: str,
               sections: list[Section]) -> str:
    prov = cohort.provenance
    k = cfg.suppress_below
    # Under suppression every count is written as the report prints it (text).
    flow = (flow_printed(cohort.flow, k) if k else
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
        versions.setdefault(pkg, version(pkg))
    n_read, n_analysed = (read_and_analysed(cohort, k) if k
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
