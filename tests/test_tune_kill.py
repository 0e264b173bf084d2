"""`bpaste tune` under kills and Ctrl-C: workers die with their parent, a killed trial is failed (never listed
as running in the policy), and Ctrl-C is one line and exit status 130. Real processes, real signals."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import psutil
import pytest
from optuna.trial import TrialState

from bpaste_cli.tune.runner import Signals
from test_tune_support import REPO, cli, workspace  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends POSIX signals to process groups")


def _foreground_ctrl_c() -> None:
    """SIGINT at its default and not blocked, in the child before it runs bpaste tune."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _start(workspace: Path, out: Path, *extra: str) -> subprocess.Popen:
    """`bpaste tune` with far more trials than the test lets it run, in its own process group, with Ctrl-C as a
    terminal's foreground process has it (a test run started in the background inherits SIGINT ignored, and
    bpaste tune rightly keeps an ignored Ctrl-C ignored)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bpaste_cli", "tune", str(workspace / "ds"), "--patterns", str(workspace / "pat"), "-o", str(out),
         "--trials", "5000", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_foreground_ctrl_c, env={**os.environ, "PYTHONPATH": str(REPO)})


def _wait(condition, what: str, timeout: float = 120.0, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = condition()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"bpaste tune ended (exit {proc.returncode}) before {what}: {proc.stderr.read()}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _workers(proc: subprocess.Popen) -> list[psutil.Process]:
    """The spawned tuning workers of `proc` (multiprocessing's own helper processes aside)."""
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            if "spawn_main" in " ".join(k.cmdline()):
                out.append(k)
        except psutil.NoSuchProcess:
            pass
    return out


def _db(out: Path) -> Path:
    return out.parent / (out.stem + ".optuna.db")


def _study(out: Path) -> optuna.Study:
    """The study, opened once the process that made it is gone (opening a storage may create its tables)."""
    return optuna.load_study(study_name=out.stem, storage=f"sqlite:///{_db(out)}")


def _running(out: Path, with_worker: bool = False) -> list[int]:
    """Numbers of the RUNNING trials (`with_worker`: those whose worker id is recorded), read without creating
    anything while bpaste tune sets the storage up."""
    if not _db(out).exists():
        return []
    query = "SELECT number FROM trials WHERE state = 'RUNNING'"
    if with_worker:
        query += " AND trial_id IN (SELECT trial_id FROM trial_user_attributes WHERE key = 'worker')"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{_db(out)}?mode=ro", uri=True, timeout=5)) as db:
            return [n for (n,) in db.execute(query + " ORDER BY number")]
    except sqlite3.OperationalError:  # no trials table yet
        return []


def test_sigkill_of_tune_takes_its_workers_with_it(workspace, tmp_path):
    out = tmp_path / "p.json"
    proc = _start(workspace, out, "--workers", "2")
    try:
        workers = _wait(lambda: len(_workers(proc)) == 2 and _workers(proc), "two workers started", proc=proc)
        _wait(lambda: len(_running(out)) >= 2, "both workers running trials", proc=proc)
        proc.kill()
        proc.wait()
        gone, alive = psutil.wait_procs(workers, timeout=5)
        assert not alive, f"workers {[p.pid for p in alive]} outlived the killed bpaste tune"
    finally:
        for p in _workers(proc):
            p.kill()
        if proc.poll() is None:
            proc.kill()


def test_a_killed_trial_is_failed_on_resume_and_never_listed_as_running(workspace, tmp_path):
    for attempt in range(5):
        # the trial seen running may finish before the kill lands, or the kill may land before the trial's worker id
        # is recorded (such a trial waits for the heartbeat's grace period): then try again on a fresh study
        out = tmp_path / f"p{attempt}.json"
        proc = _start(workspace, out)
        try:
            _wait(lambda: len(_running(out)) == 1, "a trial running", proc=proc)
            time.sleep(0.2)  # into the trial, past its first storage calls
        finally:
            proc.kill()
            proc.wait()
        killed = _running(out)
        if killed and _running(out, with_worker=True) == killed:
            break
    study = _study(out)
    assert len(killed) == 1  # SIGKILL left it RUNNING, with a fresh heartbeat (well within the grace period)
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    proc = cli("tune", str(workspace / "ds"), "--patterns", str(workspace / "pat"), "-o", str(out), "--trials", str(done + 2),
               "--json")
    assert proc.returncode == 0, proc.stderr
    policy = json.loads(out.read_text())
    rows = {r["number"]: r["state"] for r in policy["trials"]["rows"]}
    assert "running" not in rows.values() and rows[killed[0]] == "fail"
    assert sum(1 for s in rows.values() if s == "complete") == done + 2 == policy["trials"]["complete"]
    assert _running(out) == []
    assert study.trials[killed[0]].state == TrialState.FAIL


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_is_one_line_and_exit_130(workspace, tmp_path, workers):
    out = tmp_path / "p.json"
    proc = _start(workspace, out, "--workers", workers)
    try:
        if workers == "2":
            _wait(lambda: len(_workers(proc)) == 2, "two workers started", proc=proc)
            _wait(lambda: len(_running(out)) >= 2, "both workers running trials", proc=proc)
        else:
            _wait(lambda: len(_running(out)) == 1, "a trial running", proc=proc)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the foreground group on Ctrl-C
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stderr.strip() == "interrupted: the complete trials are kept in the study; rerun the same command to resume."
    assert _running(out) == []  # the interrupted trials are failed at once, not left running


def test_a_ctrl_c_python_drops_is_held_and_stops_the_next_trial(capfd):
    """Ctrl-C that lands in a finalizer (a garbage collection during an evaluation) raises where Python prints
    the exception and drops it; it must neither be lost (tune ran on) nor print a traceback."""
    signals = Signals()

    class Finalized:
        def __del__(self):
            signals.on_sigint(signal.SIGINT, None)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a foreground terminal
    try:
        with signals.installed(stop_on_sigterm=False):
            signals.enter()
            Finalized()  # collected at once: its finalizer's KeyboardInterrupt is dropped by Python
            signals.inside = False
            assert signals.interrupted
            with pytest.raises(KeyboardInterrupt):
                signals.enter()
    finally:
        signal.signal(signal.SIGINT, previous)
    err = capfd.readouterr().err
    assert "KeyboardInterrupt" not in err and "Exception ignored" not in err
