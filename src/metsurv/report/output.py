"""The one output step of a report: draw its figures, write every file (figures, tables,
PDF, Word, HTML) and ``provenance.json`` with their checksums. Figures are drawn and saved
by worker processes (``METSURV_WORKERS``), each once, with byte-identical results whatever
their number; the renderers read the saved files."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from metsurv.errors import CohortError
from metsurv.report import figures as F
from metsurv.report import tables as T
from metsurv.report.config import ReportConfig
from metsurv.report.counts import flow_printed, read_and_analysed
from metsurv.report.document import Figure, Section, Table, figures_of, section_entries
from metsurv.report.render_docx import png_bytes, render_docx
from metsurv.report.render_html import BUILT_PREFIX, render_html
from metsurv.report.render_pdf import render_pdf
from metsurv.report.replace import GENERATOR, HELD_LOCKS, kill_point
from metsurv.report.sections._common import version

__all__ = ["write_report", "provenance", "built_at"]


def write_report(cfg: ReportConfig, cohort: Any, sections: list[Section], outdir: Path,
                 progress: Any = None) -> None:
    """Draw the sections' figures and write the whole report into the empty folder
    ``outdir``: ``figures/`` (every figure in ``cfg.formats``), ``tables/`` (CSV),
    ``report.pdf``, ``report.docx``, ``index.html`` and ``provenance.json`` (with every output's SHA-256).
    The caller swaps the folder into place (:mod:`metsurv.report.replace`).

    Each figure is drawn once, by the worker process that saves it (``METSURV_WORKERS``);
    the PDF, Word and HTML renderers read the saved SVG and PNG files. ``progress``, a
    :class:`metsurv.report.progress.BuildProgress` (optional), is told each step."""
    from metsurv.report.progress import BuildProgress

    progress = progress if progress is not None else BuildProgress(enabled=False)
    (outdir / "figures").mkdir()
    (outdir / "tables").mkdir()
    outputs: dict[str, str] = {}
    items = figures_of(sections)
    built = built_at()
    progress.add(len(items) + 5)  # the figures, the tables, PDF, Word, HTML, provenance
    # Drawing and saving figures (PNG, SVG, PDF with font subsets) is most of a build's
    # time: worker processes draw and save them while this one writes the tables.
    with _FigureSaver(items, outdir / "figures", cfg.formats) as saver:
        progress.step("tables")
        for sec in sections:
            for item in sec.items:
                if isinstance(item, Table) and not item.frame.empty:  # (empty: not shown)
                    p = outdir / "tables" / f"{item.name}.csv"
                    p.write_bytes(T.to_csv_bytes(item.csv_frame))
                    outputs[p.relative_to(outdir).as_posix()] = _sha256(p)
        for p in saver.paths(lambda name: progress.step(f"figure {name}")):
            outputs[p.relative_to(outdir).as_posix()] = _sha256(p)
    progress.step("report.pdf")
    render_pdf(cfg, cohort, sections, outdir / "report.pdf", built,
               svg_dir=outdir / "figures")
    # Word reads the PNGs the workers saved (or their bytes without "png" in formats)
    png = ({f.name: outdir / "figures" / f"{f.name}.png" for f in items}
           if "png" in cfg.formats else (lambda name: saver.png[name]))
    progress.step("report.docx")
    render_docx(cfg, cohort, sections, outdir / "report.docx", built, png,
                page_size=cfg.page_size)
    kill_point("writing")
    progress.step("index.html")
    (outdir / "index.html").write_text(render_html(cfg, cohort, sections, outdir, built),
                                       encoding="utf-8", newline="\n")
    progress.step("provenance.json")
    doc = provenance(cfg, cohort, outputs, built, sections)
    (outdir / "provenance.json").write_text(doc, encoding="utf-8", newline="\n")
    progress.step("done")


#: The figures a build's worker processes draw and save (set before they fork; read by index).
_SAVING: list[tuple[Figure, Path, tuple[str, ...]]] = []


def _worker_start(builder: int) -> None:
    """A figure worker: it lets go of the build lock, and dies with its builder (a killed
    build must leave no process writing, nor holding the lock)."""
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


def _draw_and_save(item: Figure, stem: Path, formats: tuple[str, ...]
                   ) -> tuple[list[str], bytes | None]:
    """Draw one figure and save it in ``formats``: the paths written and its PNG bytes
    when "png" is not among the formats (Word needs them)."""
    fig = item.draw()
    with _font_subsets():
        paths = [str(p) for p in F.save_figure(fig, stem, formats)]
        png = None if "png" in formats else png_bytes(fig)
    return paths, png


def _save_one(i: int) -> tuple[list[str], bytes | None]:
    return _draw_and_save(*_SAVING[i])


class _FigureSaver:
    """Draw and save a build's figures in worker processes (``METSURV_WORKERS``, default:
    the machine's cores, at most 4; 1 draws and saves them here, in order). The files are
    byte-identical whatever the number of workers: each figure is drawn and saved whole by
    one process, with fixed metadata and font subsets (:func:`_font_subsets`). Workers are
    forked, so they share the figures' data without pickling; where forking is unavailable
    or a worker fails, the figures are drawn and saved here. After :meth:`paths`, ``png``
    holds each figure's PNG bytes when "png" is not saved."""

    def __init__(self, items: list[Figure], folder: Path, formats: tuple[str, ...]) -> None:
        self.jobs = [(item, folder / item.name, tuple(formats)) for item in items]
        self.pool: Any = None
        self.futures: list[Any] = []
        self.png: dict[str, bytes | None] = {}

    def __enter__(self) -> _FigureSaver:
        import multiprocessing

        workers = _workers()
        if workers > 1 and len(self.jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
            from concurrent.futures import ProcessPoolExecutor

            _SAVING[:] = self.jobs
            # The workers fork at the first submit: frozen, the builder's objects are out of
            # the workers' garbage collections, which would otherwise touch (and so copy)
            # every page of the shared memory.
            gc.freeze()
            try:
                self.pool = ProcessPoolExecutor(
                    max_workers=min(workers, len(self.jobs)),
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_worker_start, initargs=(os.getpid(),))
                # the heaviest first (longest job first: the workers finish together); the
                # files do not depend on which worker saves them, nor in which order
                order = sorted(range(len(self.jobs)), key=lambda i: -_weight(self.jobs[i][0]))
                submitted = {i: self.pool.submit(_save_one, i) for i in order}
                self.futures = [submitted[i] for i in range(len(self.jobs))]
            except OSError:
                self.pool = None
            finally:
                gc.unfreeze()
        return self

    def paths(self, done: Callable[[str], None] = lambda name: None) -> list[Path]:
        """Every file written, in figure and format order (waits for the workers); ``done``
        is called with each figure's name as it is finished."""
        results: list[Any] = [None] * len(self.jobs)
        if self.pool is not None:
            from concurrent.futures import as_completed

            index = {fut: i for i, fut in enumerate(self.futures)}
            try:
                for fut in as_completed(self.futures):
                    results[index[fut]] = fut.result()
                    done(self.jobs[index[fut]][0].name)
            except Exception:  # noqa: BLE001 - a broken worker: the rest are drawn here
                self.pool.shutdown(cancel_futures=True)
                self.pool = None
        for i, job in enumerate(self.jobs):
            if results[i] is None:
                results[i] = _draw_and_save(*job)
                done(job[0].name)
        for (item, _, _), (_, png) in zip(self.jobs, results, strict=True):
            self.png[item.name] = png
        return [Path(p) for files, _ in results for p in files]

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        _SAVING.clear()


def _weight(item: Figure) -> int:
    """About how long a figure takes to draw: the points it plots (a residual plot of a
    million patients holds one per event; a Kaplan-Meier panel its steps)."""
    args = item.args
    if "residuals_x" in args and args["residuals_x"] is not None:
        return len(args["residuals_x"])
    panel = args.get("panel")
    if panel is not None and hasattr(panel, "curves"):
        return sum(len(c.time) for c in panel.curves)
    return 0


#: Characters every figure's embedded PDF font subset holds (with the figure's own): a
#: fixed set, so one subset per font serves all figures and the file of a figure does not
#: depend on which figures its process saved before.
_SUBSET_CHARS = ("".join(map(chr, range(0x20, 0x7F))) + "–—−‘’“”…≤≥±×·°µ²"
                 + "ﬀﬁﬂﬃﬄ"      # the ligatures matplotlib's text shaping makes
                 + "○◇□△▽●◆■")  # marker glyphs of the figures' legends
_SUBSET_CACHE: dict[tuple[str, int, frozenset[int]], tuple[bytes, dict[int, int]]] = {}


@contextmanager
def _font_subsets() -> Iterator[None]:
    """Within the block, matplotlib's PDF backend embeds each TrueType font as a subset of
    :data:`_SUBSET_CHARS` plus the figure's glyphs, made once per process and reused
    (fontTools subsetting, about 0.2-0.4 s a font, was a third of a build's time: twice per
    figure). Where matplotlib's private hook is missing (another version), nothing changes."""
    try:
        from fontTools.ttLib import TTFont
        from matplotlib.backends import _backend_pdf_ps as ps
        from matplotlib.ft2font import FT2Font

        original = ps.get_glyphs_subset
        results = ps.SubsetResults
    except (ImportError, AttributeError):
        yield
        return

    def subset(fontfile: Any, glyphs: Any) -> Any:
        path, face = str(fontfile), int(getattr(fontfile, "face_index", 0) or 0)
        common = _COMMON_GLYPHS.get((path, face))
        if common is None:
            charmap = FT2Font(fontfile).get_charmap()
            common = frozenset(charmap[ord(c)] for c in _SUBSET_CHARS if ord(c) in charmap)
            _COMMON_GLYPHS[(path, face)] = common
        wanted = frozenset(glyphs) | common
        key = (path, face, wanted)
        hit = _SUBSET_CACHE.get(key)
        if hit is None:
            with original(fontfile, set(wanted)) as res:
                hit = (ps.font_as_file(res.font).getvalue(), dict(res.glyph_index_map))
            _SUBSET_CACHE[key] = hit
        return results(TTFont(io.BytesIO(hit[0])), dict(hit[1]))._as_cm()

    ps.get_glyphs_subset = subset
    try:
        yield
    finally:
        ps.get_glyphs_subset = original


_COMMON_GLYPHS: dict[tuple[str, int], frozenset[int]] = {}


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
