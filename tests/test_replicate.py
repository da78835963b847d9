"""The replicate engine (metsurv.replicate): seeds, order, failures, backends, killed workers.

Oracle: numpy's own ``SeedSequence(seed).spawn(R)[k]`` streams (synthetic truth: each row is
recomputed here from the stream the engine says replicate k used) and the in-process run,
which every Dask backend must reproduce byte for byte.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv.errors import CohortError
from metsurv.replicate import SCHEDULER_TIMEOUT, ReplicateResult, replicate_rng, run_replicates

ROOT = Path(__file__).resolve().parents[1]
DASK = Path(sys.executable).with_name("dask")


def draws(rng: np.random.Generator, k: int, scale: float = 1.0) -> list[dict]:
    """Two rows per replicate (a 'term' per statistic), values from the stream only."""
    x = rng.exponential(scale, size=25)
    return [{"term": "mean", "estimate": float(x.mean()), "n": int(x.size)},
            {"term": "max", "estimate": float(x.max()), "n": int(x.size)}]


def flaky(rng: np.random.Generator, k: int) -> dict:
    """Fails when its stream's first draw is above 0.8: the failure is a property of the seed."""
    u = float(rng.random())
    if u > 0.8:
        raise ArithmeticError(f"draw {u:.6f} too large")
    return {"u": u}


def slow(rng: np.random.Generator, k: int) -> dict:
    """A cheap replicate that takes long enough for a worker to be killed mid-run."""
    time.sleep(0.08)
    return {"u": float(rng.random()), "z": float(rng.standard_normal())}


def crash(rng: np.random.Generator, k: int) -> dict:
    """Replicate 2 kills its worker process (as a segfault or the OOM killer would)."""
    if k == 2:
        os._exit(1)
    return {"u": float(rng.random())}


def _explode():
    raise RuntimeError("cannot load this argument here")


class Unloadable:
    """An argument that pickles but cannot be loaded on a worker."""

    def __reduce__(self):
        return (_explode, ())


def outputs(res: ReplicateResult) -> tuple[str, str]:
    """The bytes a caller writes: CSV of the table and JSON of table + failures."""
    doc = {"replicates": res.replicates, "seed": res.seed, "failed": res.n_failed,
           "rows": res.table.to_dict(orient="records"),
           "failures": res.failed.to_dict(orient="records")}
    return res.table.to_csv(index=False), json.dumps(doc, sort_keys=True)


# ---------------------------------------------------------------- in-process


def test_same_seed_same_table_and_other_seed_differs():
    a = run_replicates(draws, 30, seed=11, args=(2.0,), progress=False)
    b = run_replicates(draws, 30, seed=11, args=(2.0,), progress=False)
    c = run_replicates(draws, 30, seed=12, args=(2.0,), progress=False)
    assert outputs(a) == outputs(b)
    assert not a.table.equals(c.table)
    assert a.table.columns.tolist() == ["replicate", "term", "estimate", "n"]
    assert a.table["replicate"].tolist() == [k for k in range(30) for _ in range(2)]
    assert (a.backend, a.n_failed, a.replicates, a.seed) == ("in-process", 0, 30, 11)


def test_replicate_k_is_numpy_spawn_child_k_whatever_the_run():
    res = run_replicates(draws, 20, seed=5, args=(1.5,), progress=False, batch=3)
    children = np.random.SeedSequence(5).spawn(20)
    for k in (0, 7, 19):
        alone = pd.DataFrame(draws(np.random.default_rng(children[k]), k, 1.5))
        got = res.table[res.table["replicate"] == k].drop(columns="replicate")
        pd.testing.assert_frame_equal(got.reset_index(drop=True), alone)
        assert draws(replicate_rng(5, k), k, 1.5) == alone.to_dict(orient="records")
    # a shorter run and another batching give replicate k the same rows
    short = run_replicates(draws, 8, seed=5, args=(1.5,), progress=False, batch=1)
    pd.testing.assert_frame_equal(short.table, res.table[res.table["replicate"] < 8])


def test_failures_recorded_with_seeds_and_never_dropped():
    res = run_replicates(flaky, 60, seed=3, progress=False)
    children = np.random.SeedSequence(3).spawn(60)
    expected_fail = [k for k in range(60) if np.random.default_rng(children[k]).random() > 0.8]
    assert 0 < len(expected_fail) < 60
    assert res.failed["replicate"].tolist() == expected_fail
    assert res.n_failed == len(expected_fail) and res.n_ok == 60 - len(expected_fail)
    assert sorted(res.table["replicate"].tolist() + res.failed["replicate"].tolist()) == \
        list(range(60))
    row = res.failed.iloc[0]
    k = int(row["replicate"])
    assert row["seed"] == f"SeedSequence(entropy=3, spawn_key=({k},))"
    assert row["error"].startswith("ArithmeticError: draw 0.")
    # the recorded seed rebuilds the failing stream
    rebuilt = eval(row["seed"], {"SeedSequence": np.random.SeedSequence})  # noqa: S307
    with pytest.raises(ArithmeticError):
        flaky(np.random.default_rng(rebuilt), k)
    with pytest.raises(ArithmeticError):
        flaky(res.rng(k), k)


def test_bad_return_recorded_as_failure():
    res = run_replicates(lambda rng, k: [1, 2], 2, seed=1, progress=False)
    assert res.n_failed == 2 and res.table.empty
    assert res.failed["error"].str.startswith("TypeError: the replicate function returned").all()


@pytest.mark.parametrize("kwargs, word", [
    ({"replicates": 0}, "replicates"),
    ({"replicates": 2.5}, "replicates"),
    ({"workers": 0}, "workers"),
    ({"batch": 0}, "batch"),
    ({"workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "not both"),
])
def test_bad_arguments_raise_one_clear_line(kwargs, word):
    call = {"replicates": 3, **kwargs}
    with pytest.raises(ValueError, match=word) as info:
        run_replicates(draws, call.pop("replicates"), seed=1, progress=False, **call)
    assert "\n" not in str(info.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_names_address_quickly():
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(CohortError, match=address) as info:
        run_replicates(draws, 3, seed=1, scheduler=address, progress=False)
    assert time.perf_counter() - t0 < 15
    assert "\n" not in str(info.value) and "dask scheduler" in str(info.value)


class _FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_silent_under_ci_and_when_off(monkeypatch):
    fake = _FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    monkeypatch.setenv("CI", "true")
    run_replicates(slow, 3, seed=1)
    monkeypatch.delenv("CI")
    run_replicates(slow, 3, seed=1, progress=False)
    assert fake.getvalue() == ""
    # the same run on a terminal outside CI draws a bar (so the test above can fail)
    run_replicates(slow, 3, seed=1)
    assert "3/3" in fake.getvalue()


def test_progress_silent_when_stderr_not_a_tty(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    run_replicates(slow, 2, seed=1)
    assert plain.getvalue() == ""


# ---------------------------------------------------------------- Dask backends


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A `dask scheduler` and two `dask worker` processes started here, stopped at the end."""
    if not DASK.exists():
        pytest.skip(f"no dask command beside {sys.executable}")
    tmp = tmp_path_factory.mktemp("dask")
    file = tmp / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(file)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(200):
            if file.exists() and file.stat().st_size > 0:
                break
            time.sleep(0.1)
        else:
            pytest.skip("the dask scheduler did not start within 20 s")
        address = json.loads(file.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen(
                [str(DASK), "worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard", "--host", "127.0.0.1", "--death-timeout", "30"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=10, set_as_default=False) as client:
            try:
                client.wait_for_workers(2, timeout=60)
            except TimeoutError:
                pytest.skip("the dask workers did not join the scheduler within 60 s")
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.slow
def test_backends_byte_identical(scheduler):
    """In-process, 2 local workers and a separately started scheduler: the same bytes."""
    kwargs = {"seed": 2024, "progress": False}
    base = run_replicates(flaky, 48, **kwargs)
    local = run_replicates(flaky, 48, workers=2, **kwargs)
    remote = run_replicates(flaky, 48, scheduler=scheduler, batch=5, **kwargs)
    assert base.n_failed > 0
    assert local.backend == "local-dask" and local.workers == 2
    assert remote.backend == f"dask:{scheduler}"
    assert outputs(base) == outputs(local) == outputs(remote)
    multi = [run_replicates(draws, 12, args=(3.0,), **kwargs),
             run_replicates(draws, 12, args=(3.0,), scheduler=scheduler, **kwargs)]
    assert outputs(multi[0]) == outputs(multi[1])


@pytest.mark.slow
def test_task_dask_gives_up_on_is_recorded_not_dropped(scheduler):
    """A replicate that kills its worker every time: with allowed-failures 0 Dask gives up on
    its task at once; its replicates are recorded as failed, the others complete."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        res = run_replicates(crash, 12, seed=4, workers=2, batch=2, progress=False)
    assert sorted(res.table["replicate"].tolist() + res.failed["replicate"].tolist()) == \
        list(range(12))
    assert 2 in res.failed["replicate"].tolist()
    assert res.failed["error"].str.contains("KilledWorker").all()
    children = np.random.SeedSequence(4).spawn(12)
    for k, u in zip(res.table["replicate"], res.table["u"], strict=True):
        assert u == np.random.default_rng(children[k]).random()
    with pytest.raises(CohortError, match="cannot send the replicate function"):
        run_replicates(draws, 2, seed=1, args=(Unloadable(),), scheduler=scheduler,
                       progress=False)


@pytest.mark.slow
def test_killed_worker_loses_and_duplicates_nothing(scheduler):
    """SIGKILL one of the two worker processes mid-run: Dask reruns its tasks (the nanny
    restarts the worker); every replicate is in the table exactly once, as in-process."""
    from distributed import Client

    box: dict = {}

    def work() -> None:
        try:
            box["res"] = run_replicates(slow, 60, seed=9, scheduler=scheduler, batch=3,
                                        progress=False)
        except BaseException as exc:  # reported below
            box["error"] = exc

    with Client(scheduler, timeout=10, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid)
        victim_address = sorted(pids)[0]
        victim = pids[victim_address]
        thread = threading.Thread(target=work)
        thread.start()
        # kill it while it runs one of our tasks (20 tasks of 0.24 s over 2 workers)
        busy = False
        for _ in range(300):
            busy = any(str(key).startswith("metsurv-replicate-")
                       for key in client.processing().get(victim_address, ()))
            if busy or not thread.is_alive():
                break
            time.sleep(0.02)
        assert busy and thread.is_alive(), "the run ended before the kill; make it longer"
        time.sleep(0.1)
        os.kill(victim, signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive() and "error" not in box, box.get("error")
    res = box["res"]
    assert res.table["replicate"].tolist() == list(range(60)) and res.n_failed == 0
    base = run_replicates(slow, 60, seed=9, progress=False, batch=60)
    assert outputs(res) == outputs(base)
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)


def test_a_web_server_at_the_address_is_refused_within_the_limit():
    """A wrong port (the dashboard, any HTTP server) answered the handshake with garbage and
    hung for minutes (a new user's report): refused with the address, in bounded time."""
    import http.server

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.server_address[1]}"
    t0 = time.monotonic()
    try:
        with pytest.raises(CohortError, match="cannot reach a Dask scheduler at tcp://127"):
            run_replicates(draws, 3, seed=1, scheduler=address, progress=False)
    finally:
        server.shutdown()
    assert time.monotonic() - t0 < 3 * SCHEDULER_TIMEOUT + 10


@pytest.mark.parametrize("address", ["nonsense address", "tcp://host:port:9"])
def test_a_malformed_address_is_refused_at_once(address):
    with pytest.raises(CohortError, match="is not a scheduler address"):
        run_replicates(draws, 3, seed=1, scheduler=address, progress=False)


def _empty_on_odd(rng, k):
    return [] if k % 2 else {"x": float(rng.random())}


def test_a_replicate_returning_no_rows_is_a_failure_not_lost():
    res = run_replicates(_empty_on_odd, 6, seed=2, progress=False)
    assert res.table["replicate"].tolist() == [0, 2, 4]
    assert res.failed["replicate"].tolist() == [1, 3, 5]
    assert res.failed["error"].str.contains("no rows").all()


def test_unguarded_script_gets_a_short_error_naming_the_main_guard(tmp_path):
    """A script calling run_replicates(workers=2) without ``if __name__ == "__main__":``
    (Python's multiprocessing rule: each worker imports the script): one error naming the
    guard, not pages of tracebacks from the workers re-running the script."""
    script = tmp_path / "noguard.py"
    script.write_text("from metsurv.replicate import run_replicates\n"
                      "def f(rng, i):\n    return {'x': float(rng.random())}\n"
                      "run_replicates(f, 4, 1, workers=2, progress=False)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode != 0
    assert 'if __name__ == "__main__":' in out.stderr
    assert len(out.stderr.splitlines()) < 40, out.stderr[-3000:]
