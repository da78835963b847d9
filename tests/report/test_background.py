"""The report's analysis with the IRLM batteries in a forked worker (a large cohort on 2+
cores) gives the same report as with everything in the builder.

Oracle: the in-process build of the same study (the worker runs the same code on the same
data): every table file byte for byte, and the HTML report text."""

from __future__ import annotations

from pathlib import Path

import pytest

from metsurv.report import analysis as A
from metsurv.report import background as BG
from metsurv.report import build


def _tables(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "tables").glob("*.csv"))}


@pytest.fixture
def ran(monkeypatch) -> list[bool]:
    """Whether each Background of the builds that follow forked a worker, in order."""
    seen: list[bool] = []
    real = BG.Background.__enter__

    def enter(self):
        seen.append(self.enabled)
        return real(self)

    monkeypatch.setattr(BG.Background, "__enter__", enter)
    return seen


def test_batteries_beside_the_analysis_give_the_same_report(small_study, tmp_path,
                                                            monkeypatch, ran):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    monkeypatch.setenv("METSURV_WORKERS", "2")
    monkeypatch.setattr(A, "PARALLEL_MIN_PATIENTS", 1)  # the small study, forked
    forked = build(small_study, out=tmp_path / "forked")
    monkeypatch.setattr(A, "PARALLEL_MIN_PATIENTS", 10**12)  # all in the builder
    here = build(small_study, out=tmp_path / "here")
    assert ran == [True, False]
    assert _tables(Path(forked)) == _tables(Path(here)) and _tables(Path(here))
    assert (Path(forked) / "index.html").read_text() == (Path(here) / "index.html").read_text()


def _boom(x):
    raise ValueError(f"bad {x}")


def _double(x):
    return 2 * x


@pytest.mark.parametrize("enabled", [True, False])
def test_background_returns_or_raises_what_the_call_does(enabled):
    with BG.Background(_double, 21, enabled=enabled) as job:
        assert job.result() == 42 and job.result() == 42
    with BG.Background(_boom, 1, enabled=enabled) as job, pytest.raises(ValueError, match="bad 1"):
        job.result()


def test_no_worker_when_memory_is_short(small_study, tmp_path, monkeypatch, ran):
    """The worker's memory adds to the build's: with too little free memory the batteries
    run in the builder."""
    monkeypatch.setenv("METSURV_WORKERS", "2")
    monkeypatch.setattr(A, "PARALLEL_MIN_PATIENTS", 1)
    monkeypatch.setattr(A, "_available_memory", lambda: 1000.0)
    build(small_study, out=tmp_path / "short")
    assert ran == [False]


def _wait_then_touch(path: str, seconds: float) -> int:
    import time

    time.sleep(seconds)
    Path(path).write_text("finished", encoding="utf-8")
    return 1


def test_a_failing_builder_does_not_wait_for_the_worker(tmp_path):
    """The builder's error ends the worker (its result would never be read): the worker
    never reaches the end of its 60 s job, and the error reaches the caller."""
    marker = tmp_path / "worker_finished"
    with pytest.raises(RuntimeError, match="builder failed"):
        with BG.Background(_wait_then_touch, str(marker), 60.0, enabled=True) as job:
            assert job.future is not None  # forked
            raise RuntimeError("builder failed")
    assert not marker.exists()
