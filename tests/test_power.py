"""`metsurv.power` and `metsurv power` (issue 14, item 2).

Oracles:
- R: the Schoenfeld (1983) and Freedman (1982) formulas, the event probability (closed form,
  Simpson rule) and R ``integrate()`` of it, written in base R in
  tests/reference/make_power.R -> tests/reference/power.json (powerSurvEpi is not installed;
  its ssizeCT.default formula is the Freedman one written there);
- published worked values: 380 events for HR 0.75 (alpha 0.05, power 0.8) and 256 events
  for HR 2/3 (power 0.9) by Schoenfeld's formula, 263 by Freedman's;
- synthetic truth: the exponential design's draws against its own event probability, and
  simulated power against Schoenfeld's formula within 2 Monte Carlo SEs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from metsurv.errors import DataError
from metsurv.power import (
    ExponentialDesign,
    PresetDesign,
    _one_replicate,
    event_probability,
    events_required,
    formula_power,
    power_curve_figure,
    preset_contrast,
    sample_size,
    simulate_power,
)
from metsurv.replicate import replicate_rng

REF = json.loads((Path(__file__).parent / "reference" / "power.json").read_text())["cases"]
TOL = 1e-6


def _ids(case: dict) -> str:
    return (f"hr{case['hr']:.3g}-a{case['alpha']}-p{case['power']}-k{case['allocation']:.2f}"
            f"-acc{case['accrual']}-loss{case['loss']}")


@pytest.mark.parametrize("case", REF, ids=_ids)
def test_formulas_match_r(case):
    """R oracle (make_power.R): events, power at 100 events, P(event), patients."""
    args = (case["hr"], case["alpha"], case["power"], case["allocation"])
    assert events_required(*args, "schoenfeld") == pytest.approx(case["events_schoenfeld"],
                                                                 rel=TOL)
    assert events_required(*args, "freedman") == pytest.approx(case["events_freedman"], rel=TOL)
    for method in ("schoenfeld", "freedman"):
        assert formula_power(100, case["hr"], case["alpha"], case["allocation"], method) == \
            pytest.approx(case[f"power_{method}_at_100"], rel=TOL)
    design = (case["median"], case["accrual"], case["follow_up"], case["hr"],
              case["allocation"], case["loss"])
    exact = event_probability(*design, integration="exact")
    assert exact == pytest.approx(case["p_event_exact"], rel=TOL)
    assert exact == pytest.approx(case["p_event_integrate"], rel=TOL)  # R integrate()
    assert event_probability(*design, integration="simpson") == pytest.approx(
        case["p_event_simpson"], rel=TOL)
    d = sample_size(*args, median=case["median"], accrual=case["accrual"],
                    follow_up=case["follow_up"], loss=case["loss"])
    assert d.patients_exact == pytest.approx(case["patients_schoenfeld"], rel=TOL)
    assert d.patients == math.ceil(d.patients_exact)
    assert sum(d.per_group) == d.patients


def test_fixture_covers_the_design_space():
    assert len(REF) > 50
    assert {c["accrual"] for c in REF} == {0, 36} and {c["loss"] for c in REF} == {0, 0.1}
    assert len({round(c["allocation"], 3) for c in REF}) == 2


def test_published_worked_values():
    """Schoenfeld: 380 events (HR 0.75, 80%), 256 (HR 2/3, 90%); Freedman: 263 (HR 2/3)."""
    assert sample_size(0.75).events == 380
    assert sample_size(2 / 3, power=0.9).events == 256
    assert sample_size(2 / 3, power=0.9, method="freedman").events == 263
    # an HR and its inverse need the same events with equal allocation (Schoenfeld)
    assert events_required(0.5) == pytest.approx(events_required(2.0), rel=1e-12)


def test_power_inverts_events():
    for method in ("schoenfeld", "freedman"):
        d = events_required(0.7, 0.01, 0.9, 0.3, method)
        assert formula_power(d, 0.7, 0.01, 0.3, method) == pytest.approx(0.9, abs=1e-12)


def test_simpson_is_exact_without_accrual_and_close_with_it():
    a = event_probability(30, 0, 18, hr=0.7, loss=0.05, integration="simpson")
    assert a == pytest.approx(event_probability(30, 0, 18, hr=0.7, loss=0.05), rel=1e-14)
    b = event_probability(30, 36, 18, integration="simpson")
    assert b == pytest.approx(event_probability(30, 36, 18), rel=2e-3)
    assert b != event_probability(30, 36, 18)


@pytest.mark.parametrize("kwargs, match", [
    ({"hr": 1.0}, "differ from 1"), ({"hr": -0.5}, "hr must be"),
    ({"hr": 0.7, "alpha": 1.5}, "alpha"), ({"hr": 0.7, "power": 0.0}, "power"),
    ({"hr": 0.7, "allocation": 1.0}, "allocation"), ({"hr": 0.7, "method": "lakatos"}, "method"),
    ({"hr": 0.7, "median": 24}, "follow_up"), ({"hr": 0.7, "median": 24, "follow_up": 6,
                                                 "loss": 1.0}, "loss"),
    ({"hr": 0.7, "median": 24, "follow_up": 0, "accrual": 0}, "nobody"),
    ({"hr": 0.7, "median": 24, "follow_up": 6, "event_probability": 0.5}, "not both"),
])
def test_bad_input_is_refused(kwargs, match):
    with pytest.raises(DataError, match=match):
        sample_size(**kwargs)


def test_exponential_draw_has_the_formula_event_probability():
    """Synthetic truth: a large draw's event fraction equals event_probability (4 SEs)."""
    design = ExponentialDesign(hr=0.6, median=20, accrual=30, follow_up=10, allocation=0.4,
                               loss=0.1)
    data = design.draw(np.random.default_rng(7), 200_000)
    p = event_probability(20, 30, 10, 0.6, 0.4, 0.1)
    assert abs(data["event"].mean() - p) < 4 * math.sqrt(p * (1 - p) / len(data))
    assert data["group"].mean() == pytest.approx(0.4)
    assert data["time"].max() <= 40 + 1e-12


def test_simulated_power_agrees_with_schoenfeld():
    """Oracle: Schoenfeld's formula; 400 replicates at the formula's n for 80% power."""
    d = sample_size(0.6, median=24, accrual=24, follow_up=12)
    res = simulate_power(ExponentialDesign(0.6, 24, 24, 12), d.patients, 400, seed=2024,
                         progress=False)
    row = res.table.iloc[0]
    assert row.replicates == 400 and row.failed == 0
    assert row.mcse == pytest.approx(math.sqrt(row.power * (1 - row.power) / 400))
    assert abs(row.power - 0.8) < 2 * row.mcse
    # the simulated events agree with n * P(event) (3 SEs of their mean)
    ev = res.replicates["events"]
    assert abs(ev.mean() - d.patients * d.event_probability) < 3 * ev.std() / math.sqrt(400)
    assert res.to_dict()[0]["mcse"] == row.mcse


def test_simulation_is_reproducible_per_replicate():
    design = ExponentialDesign(0.7, 24, 12, 12)
    a = simulate_power(design, [60, 90], 12, seed=5, progress=False, test="cox")
    b = simulate_power(design, [60, 90], 12, seed=5, progress=False, test="cox")
    assert a.replicates.to_csv() == b.replicates.to_csv()
    assert list(a.table["n"]) == [60, 90]
    # replicate 3 at n 90 is the engine's stream 3 of the root seed
    direct = _one_replicate(replicate_rng(5, 3), 3, design, 90, 0.05, "cox")
    row = a.replicates[(a.replicates["n"] == 90) & (a.replicates["replicate"] == 3)].iloc[0]
    assert row["p"] == direct["p"] and row["estimate"] == direct["estimate"]


def test_preset_contrasts():
    c = preset_contrast("sarcoma", "leiomyosarcoma")
    assert (c.column, c.level, c.reference, c.log_hr) == ("leiomyosarcoma", True, False, -0.7)
    n1 = preset_contrast("sarcoma", "nodal_status=N1")
    assert (n1.level, n1.reference, n1.log_hr) == ("N1", "N0", 0.9)
    assert preset_contrast("irlm1997", "complete_resection").reference is True
    with pytest.raises(DataError, match="several terms"):
        preset_contrast("sarcoma", "nodal_status")
    with pytest.raises(DataError, match="not a term"):
        preset_contrast("sarcoma", "age")
    with pytest.raises(DataError, match="unknown preset"):
        preset_contrast("lung", "leiomyosarcoma")


def test_preset_power_and_curve(tmp_path):
    """A sarcoma LMS contrast: power rises with n; the Cox estimate is on the side of the
    true log HR -0.7; the figure draws both series."""
    design = PresetDesign.of("sarcoma", "leiomyosarcoma")
    res = simulate_power(design, [60, 200], 24, seed=11, test="cox", progress=False)
    t = res.table
    assert list(t["failed"]) == [0, 0]
    assert t["power"].iloc[1] > t["power"].iloc[0]
    assert 0.1 < t["allocation"].iloc[1] < 0.3  # LMS share among sarcomas
    assert res.replicates.loc[res.replicates["n"] == 200, "estimate"].mean() < -0.3
    fig = power_curve_figure(res)
    ax = fig.axes[0]
    assert len(ax.lines) >= 2 and ax.get_ylim()[1] <= 1.05
    fig.savefig(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 5000


# ---------------------------------------------------------------------------- CLI
def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``metsurv power ...`` through the CLI's error path (the subcommand's own parser, so
    the test does not depend on its registration in metsurv.cli)."""
    from metsurv.cli import _Parser
    from metsurv.cli import power as cmd
    from metsurv.cli._errors import run

    parser = _Parser(prog="metsurv")
    cmd.add_parser(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    capsys.readouterr()
    try:
        args = parser.parse_args(["power", *argv])
        code = run(args.func, args)
    except SystemExit as stop:
        code = stop.code
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_cli_formula_json(capsys):
    code, out, err = _cli(capsys, "--hr", "0.75", "--median", "24", "--accrual", "24",
                          "--follow-up", "12", "--json")
    assert code == 0 and err == ""
    d = json.loads(out)
    ref = sample_size(0.75, median=24, accrual=24, follow_up=12)
    assert (d["events"], d["patients"]) == (380, ref.patients)
    assert "simulated_power" not in d and d["warnings"] == []
    code, out, _ = _cli(capsys, "--hr", "0.75", "--method", "freedman")
    assert code == 0 and "events needed: 385" in out  # 49 (z_a + z_b)^2 = 384.6


def test_cli_simulated_power(capsys, tmp_path):
    code, out, err = _cli(capsys, "--simulate", "--preset", "sarcoma", "--contrast",
                          "leiomyosarcoma", "--n", "80,150", "--replicates", "10", "--seed",
                          "3", "--out", str(tmp_path), "--json", "--quiet")
    assert code == 0, err
    d = json.loads(out)
    sims = d["simulated_power"]
    assert [s["n"] for s in sims] == [80, 150] and all("mcse" in s for s in sims)
    assert d["hr"] == pytest.approx(math.exp(-0.7)) and d["patients"] >= d["events"]
    for ext in ("png", "svg", "pdf"):
        assert (tmp_path / "figures" / f"power_curve.{ext}").exists()
    assert (tmp_path / "power_replicates.csv").exists()


@pytest.mark.parametrize("argv, match", [
    (["--hr", "1"], "metsurv: power: hr must differ from 1"),
    (["--hr", "0.7", "--alpha", "2"], "alpha must be in"),
    (["--hr", "0.7", "--simulate"], "--simulate needs a design"),
    (["--preset", "sarcoma", "--contrast", "nodal_status"], "names several terms"),
    (["--hr", "0.7", "--out", "x"], "add --simulate"),
    (["--hr", "0.7", "--n", "1"], "each n must be at least 2"),
    (["--power", "0.8"], "give --hr"),
])
def test_cli_bad_input_one_line(capsys, argv, match):
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and out == ""
    assert match in err and err.count("\n") == 1
    assert "metsurv: metsurv" not in err and "power: power:" not in err


# -------------------------------------------------- CLI fixes of a new user's test run
def test_cli_preset_refuses_another_hr(capsys):
    """One answer, one HR: --hr 0.9 with --preset sarcoma (conditional HR exp(-0.7)) is
    refused before anything is simulated, naming both HRs."""
    code, out, err = _cli(capsys, "--hr", "0.9", "--simulate", "--preset", "sarcoma",
                          "--contrast", "leiomyosarcoma", "--n", "150", "--replicates", "10",
                          "--seed", "1")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("metsurv: power: --hr 0.9 ")
    assert "0.4966" in err and "conditional" in err and "leave out --hr" in err


def test_cli_preset_uses_the_models_conditional_hr(capsys):
    """Oracle: Schoenfeld's formula at the model's HR exp(-0.7) (the preset's stated truth)
    with the preset's drawn allocation; --hr equal to it (4 digits) gives the same answer."""
    base = ["--preset", "sarcoma", "--contrast", "leiomyosarcoma", "--json"]
    code, out, err = _cli(capsys, *base)
    assert code == 0, err
    d = json.loads(out)
    assert d["hr"] == math.exp(-0.7)
    assert d["events_exact"] == pytest.approx(
        events_required(math.exp(-0.7), 0.05, 0.8, d["allocation"]), rel=1e-12)
    assert "conditional HR exp(-0.7)" in d["hr_source"]
    code, out2, err = _cli(capsys, "--hr", "0.4966", *base)
    assert code == 0, err
    assert json.loads(out2) == d
    code, text, _ = _cli(capsys, *base[:-1])
    assert "HR 0.4966 (the conditional HR exp(-0.7) of leiomyosarcoma=True" in text
    code, out, _ = _cli(capsys, "--hr", "0.75", "--json")
    assert json.loads(out)["hr_source"] == "--hr"


def _user_files(root: Path) -> dict[Path, bytes]:
    (root / "figures").mkdir(parents=True)
    files = {root / "figures" / "power_curve.svg": b"<svg>mine</svg>",
             root / "power_replicates.csv": b"my,own\n1,2\n", root / "notes.txt": b"keep"}
    for path, data in files.items():
        path.write_bytes(data)
    return files


def test_cli_out_refuses_existing_files_before_simulating(capsys, tmp_path, monkeypatch):
    import metsurv.power

    files = _user_files(tmp_path)

    def boom(*args, **kwargs):
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr(metsurv.power, "simulate_power", boom)
    code, out, err = _cli(capsys, "--hr", "0.7", "--median", "24", "--follow-up", "12",
                          "--simulate", "--n", "60", "--replicates", "4", "--quiet",
                          "--out", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("metsurv: power: --out ")
    assert "figures/power_curve.svg, power_replicates.csv" in err and "--force" in err
    assert all(path.read_bytes() == data for path, data in files.items())
    assert not (tmp_path / "figures" / "power_curve.png").exists()


def test_cli_out_force_overwrites_exactly_its_files(capsys, tmp_path):
    files = _user_files(tmp_path)
    code, out, err = _cli(capsys, "--hr", "0.7", "--median", "24", "--follow-up", "12",
                          "--simulate", "--n", "60", "--replicates", "4", "--quiet",
                          "--out", str(tmp_path), "--force", "--json")
    assert code == 0, err
    assert (tmp_path / "notes.txt").read_bytes() == files[tmp_path / "notes.txt"]
    rows = (tmp_path / "power_replicates.csv").read_text().splitlines()
    assert len(rows) == 5 and "replicate" in rows[0]  # header + 4 replicates, not the user's
    assert (tmp_path / "figures" / "power_curve.svg").stat().st_size > 1000
    for ext in ("png", "pdf"):
        assert (tmp_path / "figures" / f"power_curve.{ext}").exists()
    code, _, err = _cli(capsys, "--hr", "0.7", "--force")
    assert code == 2 and "add --out" in err


def test_cli_n_list_is_deduped_and_sorted(capsys):
    from metsurv.cli.power import _sizes

    assert _sizes("150,150,100") == [100, 150]
    code, out, err = _cli(capsys, "--hr", "0.7", "--median", "24", "--follow-up", "12",
                          "--simulate", "--n", "150,150,100", "--replicates", "4", "--quiet",
                          "--json")
    assert code == 0, err
    assert [s["n"] for s in json.loads(out)["simulated_power"]] == [100, 150]


def test_cli_simulate_error_has_one_prefix(capsys):
    """`metsurv simulate` through the CLI's one error path: "metsurv: simulate: ..." once."""
    from metsurv.cli import _Parser
    from metsurv.cli import simulate as cmd
    from metsurv.cli._errors import run

    parser = _Parser(prog="metsurv")
    cmd.add_parser(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    args = parser.parse_args(["simulate", "--preset", "lung", "--n", "50", "--analysis", "cox",
                              "--replicates", "2"])
    capsys.readouterr()
    assert run(args.func, args) == 2
    err = capsys.readouterr().err
    assert err.startswith("metsurv: simulate: ") and err.count("metsurv") == 1, err
