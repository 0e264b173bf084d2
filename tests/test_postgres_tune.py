"""Distributed tuning through a real PostgreSQL server: two `bpaste tune` processes (as on two machines) share
one study; every trial lands in it once, none is lost or duplicated.

The test starts a throwaway server from the Debian packages (`apt-get install -y postgresql`, which .ci/run
does): initdb into a temporary folder, pg_ctl on a free loopback port, createdb. As root, the server binaries
run as the `postgres` user (initdb refuses root). Skips with the reason where the binaries or the Python
driver (psycopg[binary], in the [test] extra) are missing.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from test_tune_support import REPO, workspace  # noqa: F401  (fixture)


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg (v3) is not installed (pip install '.[test]')")
    bindir = _bin_dir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (Debian: apt-get install -y postgresql)")
    as_user: list[str] = []
    root = tempfile.mkdtemp(prefix="bpaste-pg-")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without `runuser`, and initdb refuses to run as root")
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server as")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = Path(root) / "data", _free_port()

    def run(*argv: str) -> None:
        subprocess.run([*as_user, *argv], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", f"{root}/server.log", "-w", "-t", "60", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=50", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "bpaste")
        yield f"postgresql://postgres@127.0.0.1:{port}/bpaste"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _tune(ws: Path, out: Path, url: str, trials: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bpaste_cli", "tune", str(ws / "ds"), "--patterns", str(ws / "pat"), "-o", str(out),
         "--storage", url, "--study", "shared", "--trials", str(trials), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_two_processes_share_one_postgres_study(postgres_url, workspace, tmp_path):
    import optuna
    from optuna.trial import TrialState

    trials = 24
    first = _tune(workspace, tmp_path / "a" / "policy.json", postgres_url, trials)
    deadline = time.time() + 120
    while True:  # the second process starts once the first has created the study and enqueued the known points
        try:
            if len(optuna.load_study(study_name="shared", storage=postgres_url).trials) >= 3:
                break
        except KeyError:
            pass
        assert first.poll() is None and time.time() < deadline, first.communicate()[1]
        time.sleep(0.1)
    second = _tune(workspace, tmp_path / "b" / "policy.json", postgres_url, trials)
    outputs = []
    for proc in (first, second):
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
        outputs.append(json.loads(stdout))
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))  # one study, unique consecutive numbers
    assert all(t.state == TrialState.COMPLETE for t in study.trials)  # none left running, waiting or failed
    # each process counts the trials it ran: together exactly the study's trials (none lost, none run twice)
    ran = [o["trials_run"] for o in outputs]
    assert sum(ran) == len(numbers) and all(r >= 1 for r in ran), ran
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2
    # the target is shared: at most one trial beyond it (both processes may finish one at the same time)
    assert trials <= len(numbers) <= trials + 1
    assert sum(1 for t in study.trials if t.user_attrs.get("known")) == 3
    assert all(o["storage"] == postgres_url for o in outputs)
