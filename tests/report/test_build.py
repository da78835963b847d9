"""The report build: output folder, reproducibility, atomicity, no identifiers, provenance."""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import CohortError
from metsurv.report import build, report_command
from metsurv.report.analysis import analyse, tick_months
from metsurv.report.document import item_named
from metsurv.report.sections import compose

# the module (metsurv.report.build the attribute is the function of the same name)
B = importlib.import_module("metsurv.report.build")
F = importlib.import_module("metsurv.report.figures")
OUT = importlib.import_module("metsurv.report.output")
R = importlib.import_module("metsurv.report.replace")


@pytest.fixture
def report(built_report: Path) -> Path:
    return built_report


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _without_built_line(data: bytes) -> tuple[bytes, int]:
    lines = data.split(b"\n")
    kept = [ln for ln in lines if B.BUILT_PREFIX.encode() not in ln]
    return b"\n".join(kept), len(lines) - len(kept)


def test_output_folder_layout(report: Path):
    files = _files(report)
    for name in ("index.html", "report.pdf", "provenance.json", "tables/table1.csv",
                 "tables/survival.csv", "tables/cox.csv", "tables/irlm_battery.csv",
                 "tables/published_comparison.csv", "tables/flow.csv",
                 "figures/km_complete_resection.png", "figures/km_complete_resection.svg",
                 "figures/km_complete_resection.pdf", "figures/forest.svg",
                 "figures/km_irlm_group.svg", "figures/cif_recurrence.svg",
                 "figures/landmark_24m.svg", "figures/km_dfi_group__complete_resection.svg"):
        assert name in files, name
    assert files["report.pdf"].startswith(b"%PDF")
    assert not list(report.parent.glob(f".{report.name}.*")), "temporary folders left behind"


def test_html_is_self_contained(report: Path):
    html = (report / "index.html").read_text()
    assert html.count('src="data:image/svg+xml;base64,') == len(list(
        (report / "figures").glob("*.svg")))
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html
    assert html.count(B.BUILT_PREFIX) == 1


def test_provenance_records_inputs_flow_config_versions(report: Path, small_study: Path):
    prov = json.loads((report / "provenance.json").read_text())
    import hashlib
    data = small_study.parent / "data" / "patients.csv"
    assert prov["inputs"]["patients"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert prov["inputs"]["patients"]["file"] == "patients.csv"
    assert prov["n_read"] == prov["n_analysed"] == 300
    assert {"table", "step", "reason", "n"} <= set(prov["flow"][0])
    assert prov["config"]["benchmark"] == "IRLM 1997" and prov["seed"] == 0
    for pkg in ("metsurv", "matplotlib", "pandas", "numpy"):
        assert prov["versions"][pkg]
    table1 = (report / "tables" / "table1.csv").read_bytes()
    assert prov["outputs_sha256"]["tables/table1.csv"] == hashlib.sha256(table1).hexdigest()


def _assert_no_identifier_or_date(report: Path, data: Path) -> None:
    needles: set[str] = set()
    for name in ("patients.csv", "resections.csv"):
        df = pd.read_csv(data / name, dtype=str)
        needles |= set(df["patient_id"].dropna())
        for col in df.columns:
            if col.endswith("_date"):
                needles |= set(df[col].dropna())
    assert len(needles) > 200
    needles_b = [n.encode() for n in needles]
    for rel, content in _files(report).items():
        hits = [n for n in needles_b if n in content]
        assert not hits, f"{rel} contains {hits[:3]}"


def test_no_identifier_or_date_of_the_input_appears_in_any_output(report: Path,
                                                                  small_study: Path,
                                                                  suppressed_study):
    _assert_no_identifier_or_date(report, small_study.parent / "data")
    cfg, suppressed, _ = suppressed_study
    _assert_no_identifier_or_date(suppressed, cfg.parent / "data")


#: Where a count is written in words: "n = 3", "events = 2", "2 patients", "3 records".
_COUNT_IN_TEXT = re.compile(r"\b(?:n|events) = ([0-9][0-9,]*)\b|\b([0-9][0-9,]*) "
                            r"(?:patients|records|deaths|events)\b")
_COUNT_COLUMNS = re.compile(r"^(?:n|Events|Cohort n|Overall \(n = .*|.*\(n = .*)$")


def _small(text: str, k: int) -> bool:
    return text.replace(",", "").isdigit() and 0 < int(text.replace(",", "")) < k


def test_no_suppressed_count_appears_in_any_output(suppressed_study):
    """With suppress_below: k every count goes through suppress_count: flow and
    provenance (read must not give an excluded count away), the HTML lead and PDF title
    page, the Cox text, tables, KM legends (no 5-year % for a group of <k) and at-risk
    rows."""
    import subprocess

    from tests.report.conftest import SUPPRESS_BELOW as k

    _, out, drawn = suppressed_study
    texts = {rel: c.decode() for rel, c in _files(out).items()
             if rel.endswith((".html", ".csv", ".json"))}
    if shutil.which("pdftotext"):
        texts["report.pdf"] = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"],
                                             capture_output=True, text=True).stdout
    for rel, text in texts.items():
        for m in _COUNT_IN_TEXT.finditer(text):
            assert not _small(m.group(1) or m.group(2), k), (rel, m.group(0))
    for rel in texts:
        if rel.endswith(".csv"):
            df = pd.read_csv(out / rel, dtype=str, keep_default_na=False)
            for col in df.columns:
                cells = df[col] if _COUNT_COLUMNS.match(col) else df[col].str.extract(
                    r"^(\d[\d,]*) \([\d.]+%\)$")[0].dropna()
                assert not any(_small(v, k) for v in cells), (rel, col)
    # the flow: 200 read, 2 excluded, 198 analysed; read prints as the range "<5" allows
    flow = pd.read_csv(out / "tables" / "flow.csv", dtype=str, keep_default_na=False)
    patients = flow[flow["table"] == "patients"].set_index("step")
    # tables/flow.csv: a number where one is printed, else empty with what was printed
    assert patients["n"].to_dict() == {"read": "", "excluded": "", "analysed": "198"}
    assert patients["n_printed"].to_dict() == {"read": "199\u2013202", "excluded": "<5",
                                               "analysed": ""}
    prov = json.loads((out / "provenance.json").read_text())
    assert (prov["n_read"], prov["n_analysed"]) == ("199\u2013202", "198")
    assert prov["inputs"]["patients"]["records"] == "199\u2013202"
    assert not [r for r in prov["flow"] if _small(str(r["n"]), k) or r["n"] in ("200", 200)]
    assert "198 patients analysed of 199\u2013202 records read." in texts["index.html"]
    if "report.pdf" in texts:
        assert "198 patients analysed of 199" in texts["report.pdf"]
    assert "&lt;5 patients with a missing covariate left out" in texts["index.html"]
    # figures: legends and at-risk rows
    legends = []
    for name, fig in drawn.items():
        for ax in fig.axes:
            small = [t.get_text() for t in ax.texts if _small(t.get_text(), k)]
            assert not small, (name, small)
            if ax.get_legend() is not None:
                legends += [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"N2 ({F.too_few_text(k)})" in legends  # a group under k is not drawn
    assert not [t for t in legends if "<5;" in t]
    for t in legends:
        for m in _COUNT_IN_TEXT.finditer(t):
            assert not _small(m.group(1) or m.group(2), k), t


@pytest.fixture(scope="module")
def rebuilt(small_study: Path, tmp_path_factory) -> tuple[Path, Path]:
    """The small study built a second time, into an empty folder that exists:
    (the folder given, what build returned). One build for two tests."""
    empty = tmp_path_factory.mktemp("rebuilt") / "empty"
    empty.mkdir()
    return empty, build(small_study, out=empty)


def test_same_inputs_give_identical_outputs_apart_from_the_built_line(report: Path,
                                                                       rebuilt):
    _, again = rebuilt
    a, b = _files(report), _files(again)
    assert sorted(a) == sorted(b)
    for rel in a:
        if rel in ("report.pdf", "report.docx"):  # their title pages carry the build
            continue  # time (each is byte-identical for a fixed one: test_pdf, test_docx)
        if rel in ("index.html", "provenance.json"):
            (xa, na), (xb, nb) = _without_built_line(a[rel]), _without_built_line(b[rel])
            assert na == nb == 1 and xa == xb, rel
        else:
            assert a[rel] == b[rel], rel


def test_source_date_epoch_fixes_the_built_line(small_study: Path, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert OUT.built_at() == "14 November 2023, 22:13:20 UTC"


def test_a_failed_build_leaves_the_previous_report_intact(report: Path, small_study: Path,
                                                          tmp_path, monkeypatch):
    target = tmp_path / "kept"
    shutil.copytree(report, target)
    before = _files(target)

    calls = []
    real_save = F.save_figure

    def boom(*args, **kwargs):  # fail half-way: some figures already written
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(F, "save_figure", boom)
    with pytest.raises(CohortError, match=r"build failed \(RuntimeError: disk full\); the "
                                          r"previous report, if any, is unchanged"):
        build(small_study, out=target)
    assert _files(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


def test_bad_input_is_one_clear_error(tmp_path):
    (tmp_path / "p.csv").write_text("no,useful,columns\n1,2,3\n")
    with pytest.raises(CohortError):
        build({"data": {"source": str(tmp_path / "p.csv")}}, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_report_command_accepts_a_data_folder(small_study: Path, tmp_path, monkeypatch):
    with pytest.raises(CohortError, match="no such config or data file"):
        report_command(tmp_path / "nothing.csv", out=tmp_path / "x")
    with pytest.raises(CohortError, match="no patients.csv"):
        report_command(tmp_path, out=tmp_path / "x")


@pytest.fixture(scope="module")
def dfs_study(tmp_path_factory) -> tuple:
    """Months, DFS, suppress_below: 10, no resections table, SVG only: (config, cohort,
    sections), analysed and composed once, nothing written."""
    from metsurv.io import load_cohort
    from metsurv.report.config import load_config
    from tests.report.conftest import write_cohort, write_config

    root = tmp_path_factory.mktemp("dfs")
    write_cohort(root / "data", n=120, seed=11)
    cfg = load_config(write_config(
        root, data={"source": "data/patients.csv"}, endpoint="dfs", time_unit="months",
        max_time=120, suppress_below=10, factors=["complete_resection", "nodal_status"],
        formats=["svg"], cox={"covariates": ["complete_resection"]}, landmark_times=[12]))
    cohort = load_cohort(str(cfg.source))
    return cfg, cohort, compose(cfg, analyse(cfg, cohort))


def test_months_dfs_suppression_and_no_resections_table(dfs_study):
    """What the report says (on its sections: nothing drawn or written)."""
    _, _, sections = dfs_study
    by_id = {s.id: s for s in sections}
    assert by_id["survival"].intro.startswith("Disease-free survival")
    assert "disease-free survival" in item_named(sections, "km_overall").caption
    assert "no resections table" in by_id["landmark"].reason
    survival = item_named(sections, "survival").frame
    counts = pd.concat([survival["n"], survival["Events"]])
    assert counts.isin(["<10"]).any()
    assert not counts.str.fullmatch(r"[1-9]").any()


def test_only_the_configured_figure_formats_are_written(dfs_study, tmp_path):
    """formats: [svg] writes SVGs only; the endpoint and an absent section's reason reach
    index.html (the writer on two of the report's sections: survival and landmark)."""
    cfg, cohort, sections = dfs_study
    out = tmp_path / "r"
    out.mkdir()
    OUT.write_report(cfg, cohort, [s for s in sections if s.id in ("survival", "landmark")],
                     out)
    html = (out / "index.html").read_text()
    assert "Disease-free survival" in html or "disease-free survival" in html
    assert "no resections table" in html
    figures = list((out / "figures").iterdir())
    assert figures and sorted(p.suffix for p in figures) == [".svg"] * len(figures)
    # the CSV holds numbers: a count printed "<10" is empty there, and says why
    survival = pd.read_csv(out / "tables" / "survival.csv")
    counts = pd.concat([survival["n"], survival["events"]])
    assert pd.api.types.is_numeric_dtype(counts) and counts.isna().any()
    assert not counts.between(1, 9).any()
    assert survival["suppressed"].notna().any()


@pytest.mark.skipif(not (shutil.which("pdfinfo") and shutil.which("pdffonts")),
                    reason="needs poppler-utils (pdfinfo, pdffonts)")
def test_pdfs_open_and_embed_every_font(report: Path):
    import subprocess

    info = subprocess.run(["pdfinfo", str(report / "report.pdf")], capture_output=True,
                          text=True, check=True).stdout
    pages = int(next(ln.split()[-1] for ln in info.splitlines() if ln.startswith("Pages:")))
    assert pages >= 10
    for pdf in [report / "report.pdf", *sorted((report / "figures").glob("*.pdf"))]:
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True,
                               check=True).stdout.splitlines()[2:]
        assert fonts, pdf.name
        # column "emb" is the 4th from the right: yes for every font
        assert all(ln.split()[-5] == "yes" for ln in fonts), (pdf.name, fonts)
    figure_fonts = subprocess.run(["pdffonts", str(report / "figures" / "forest.pdf")],
                                  capture_output=True, text=True, check=True).stdout
    assert "TrueType" in figure_fonts  # Type 42: journals reject Type 3 in figure files


@pytest.mark.parametrize("content", ["thesis.tex", "provenance.json"])
def test_out_never_replaces_a_folder_that_is_not_a_report(small_study: Path, tmp_path,
                                                          content):
    """``metsurv report --out ~/thesis`` once renamed the folder aside and deleted it.
    A provenance.json that metsurv did not write does not make a folder a report."""
    target = tmp_path / "thesis"
    target.mkdir()
    (target / content).write_text('{"note": "mine"}')
    with pytest.raises(CohortError, match=r"thesis: the folder is not empty and holds no "
                                          r"metsurv report .*choose a new or empty output"):
        build(small_study, out=target)
    assert [p.name for p in target.iterdir()] == [content]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(CohortError, match="exists and is not a folder"):
        build(small_study, out=tmp_path / "file")


def test_out_dot_is_refused_in_a_working_folder(small_study: Path, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("keep me")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CohortError, match="not empty and holds no metsurv report"):
        report_command(small_study, out=".")
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_out_replaces_an_empty_folder_and_a_previous_report(report: Path, small_study: Path,
                                                            rebuilt, tmp_path):
    empty, built = rebuilt
    assert (built / "index.html").is_file()
    assert json.loads((empty / "provenance.json").read_text())["generator"] == R.GENERATOR
    previous = tmp_path / "previous"
    shutil.copytree(report, previous)
    (previous / "notes.txt").write_text("not written by metsurv: kept (issue 10)")
    build(small_study, out=previous)
    assert (previous / "notes.txt").read_text() == "not written by metsurv: kept (issue 10)"


def test_one_p_value_per_factor_from_the_battery(tmp_path, make_study):
    """Figure caption, survival table and battery table once quoted different log-rank and
    trend p for one factor: the KM figures tested all levels (trend only with three), the
    battery leaves sparse levels out. Now all three quote the battery, and say which
    levels entered the test."""
    from metsurv.io import load_cohort
    from metsurv.report.config import load_config
    from metsurv.stats import logrank
    from metsurv.stats.irlm import irlm_comparisons

    write_cohort, write_config = make_study
    patients_csv, _ = write_cohort(tmp_path / "data", n=300, seed=5)
    df = pd.read_csv(patients_csv, dtype=str)
    nodes = df["nodal_status"].where(df["nodal_status"] != "N2", "N1")
    nodes.iloc[:4] = "N2"  # a sparse level: 4 patients, fewer than the battery's 10
    df.assign(nodal_status=nodes).to_csv(patients_csv, index=False)
    cfg = load_config(write_config(tmp_path, factors=["nodal_status"], formats=["svg"],
                                   landmark_times=[], competing_risks=False,
                                   cox={"covariates": ["complete_resection"]}))
    # what the report says, on its sections (nothing drawn or written)
    sections = compose(cfg, analyse(cfg, load_cohort(str(patients_csv),
                                                     resections=str(cfg.resections))))

    cohort = load_cohort(str(patients_csv))
    battery = irlm_comparisons(cohort).factors.set_index("factor").loc["nodal_status"]
    all_levels = logrank(cohort.patients, by="nodal_status", time="os_months",
                         event="os_event")
    assert F.format_p(all_levels.p) != F.format_p(battery["logrank_p"])  # the old bug
    want = (F.format_p(battery["logrank_p"], label=False),
            F.format_p(battery["trend_p"], label=False))
    survival = item_named(sections, "survival").frame
    row = survival[survival["Factor"] == "Nodal status"].iloc[0]
    assert (row["Log-rank p"], row["Trend p"]) == want
    irlm = item_named(sections, "irlm_battery").frame
    row = irlm[irlm["Factor"] == "Nodal status"].iloc[0]
    assert (row["Log-rank p"], row["Trend p"]) == want
    caption = item_named(sections, "km_nodal_status").caption
    assert f"Log-rank {F.format_p(battery['logrank_p'])}" in caption
    assert "not tested: N2" in caption
    assert "test for trend over N0 < N1." in caption


def test_cif_section_uses_first_event_and_the_dfs_number_at_risk(tmp_path, make_study):
    """Causes come from the loader's first_event (a recurrence without a site is its own
    cause); the at-risk row is km(...).at_risk on DFS; curves run to the end of follow-up."""
    from metsurv.io import load_cohort
    from metsurv.report.config import load_config
    from metsurv.stats import km

    write_cohort, write_config = make_study
    patients_csv, _ = write_cohort(tmp_path / "data", n=200, seed=8)
    df = pd.read_csv(patients_csv, dtype=str)
    recurred = df.index[df["recurrence_site"].notna()]
    df.loc[recurred[:6], "recurrence_site"] = None  # recurrence, site unknown
    df.to_csv(patients_csv, index=False)
    cfg = load_config(write_config(tmp_path))
    cohort = load_cohort(str(patients_csv))
    patients = cohort.patients
    sections = compose(cfg, analyse(cfg, cohort))
    fig = item_named(sections, "cif_recurrence").draw()
    ax, risk_ax = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Pulmonary recurrence", "Extrathoracic recurrence",
                      "Recurrence, site unknown", "Death without recurrence"]
    data = patients[patients["first_event"].notna()]
    ticks = tick_months(cfg)
    want = km(data, time="dfs_months", event="dfs_event").at_risk(ticks).iloc[0]
    shown = [t.get_text() for t in sorted(risk_ax.texts, key=lambda t: t.get_position()[0])
             if t.get_text() != "Number at risk"]
    assert shown == [f"{int(want[t]):,}" for t in ticks]
    end = min(float(data["dfs_months"].max()), cfg.max_time * 12) / 12
    for line in ax.get_lines()[:4]:
        assert float(np.max(line.get_xdata())) >= end - 1e-9, line.get_label()
