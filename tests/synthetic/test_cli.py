"""``synth_command``: reproducible bytes, a complete manifest, and the bundled data sets."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from metsurv.synthetic.cli import BUNDLED, synth_command, write_bundled

DATA = Path(__file__).resolve().parents[2] / "data" / "synthetic"


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("dialect", [None, "de_registry", "it_xlsx"])
def test_same_arguments_same_bytes(tmp_path, dialect):
    a = synth_command("sarcoma", n=150, seed=4, dialect=dialect, outcome="ph", out=tmp_path / "a")
    b = synth_command("sarcoma", n=150, seed=4, dialect=dialect, outcome="ph", out=tmp_path / "b")
    assert _files(a) == _files(b)
    c = synth_command("sarcoma", n=150, seed=5, dialect=dialect, outcome="ph", out=tmp_path / "c")
    assert _files(a)["manifest.json"] != _files(c)["manifest.json"]


def test_manifest_says_what_was_drawn(tmp_path):
    out = synth_command("irlm1997", n=300, seed=2, dialect="de_registry", out=tmp_path)
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert (m["preset"], m["n"], m["seed"], m["outcome"]) == ("irlm1997", 300, 2, "calibrated")
    assert m["metsurv_version"] == metadata.version("metsurv")
    assert m["true_parameters"]["outcome_model"] == "cure"
    assert {t["label"] for t in m["calibration_targets"]} >= {"complete resection, 5-y OS"}
    assert len(m["dialect"]["broken_rows"]) == 4
    assert set(m["files"]) == {"patients.csv", "resections.csv", "mapping.yaml"}
    text = (out / "manifest.json").read_text(encoding="utf-8")
    assert text == json.dumps(m, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_clean_csv_round_trips(tmp_path):
    out = synth_command("irlm1997", n=400, seed=1, out=tmp_path)
    from metsurv.synthetic import generate

    cohort = generate("irlm1997", n=400, seed=1)
    back = pd.read_csv(out / "patients.csv", dtype=str, keep_default_na=False)
    expected = cohort.patients.astype(object).where(cohort.patients.notna(), "").astype(str)
    assert (back.to_numpy() == expected.to_numpy()).all()


def test_bundled_data_regenerate_byte_identical(tmp_path):
    write_bundled(tmp_path)
    assert sorted(p.name for p in DATA.iterdir() if p.is_dir()) == sorted(BUNDLED)
    for name in BUNDLED:
        fresh, committed = _files(tmp_path / name), _files(DATA / name)
        assert fresh.keys() == committed.keys(), name
        for fname in fresh:
            if fname == "manifest.json":  # the package version may move on; all else may not
                new, old = (json.loads(x[fname]) for x in (fresh, committed))
                new.pop("metsurv_version"), old.pop("metsurv_version")
                assert new == old, f"{name}/{fname}"
            else:
                assert fresh[fname] == committed[fname], f"{name}/{fname} differs"
