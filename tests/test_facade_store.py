"""The service shares the store: plain sessions and report beside it; cancel, timeout, restart keep results.

A real uvicorn (``ServiceProcess``, the ``facade`` fixture) with the real HTTP
client; runs are real pytest subprocesses.  One service serves the tests of
this module (runs at once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api_facade.client import Client
from api_facade.testing import ServiceProcess, make_suite
from pytest_ipfs_accel import spool

TOKEN = "store-token"

TEN_THEN_SLOW = """
import time

import pytest


@pytest.mark.parametrize("i", range(10))
def test_quick(i):
    pass


def test_zz_slow():
    time.sleep(120)
"""

MODEL_SUITE = """
import pytest


@pytest.mark.ipfs_model("bert")
def test_model(ipfs_hw):
    assert ipfs_hw.name == "cpu"
"""


def _wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def facade_suite(facade_suite: Path) -> Path:
    """The sample suite and ten quick tests before a slow one."""
    (facade_suite / "tests" / "test_ten_then_slow.py").write_text(TEN_THEN_SLOW)
    return facade_suite


@pytest.fixture(scope="module")
def facade_settings() -> dict:
    """Four runs at once (cancel and timeout, with and without workers)."""
    return {"token": TOKEN, "max_concurrent_runs": 4, "kill_grace_s": 3.0}


def test_cancel_and_timeout_keep_every_reported_row(facade_client: Client) -> None:
    runs = {(how, workers): facade_client.start_run(["tests/test_ten_then_slow.py"], workers=workers,
                                                    timeout_s=35 if how == "timeout" else None)
            for how in ("cancel", "timeout") for workers in (0, 2)}
    for (how, _workers), run_id in runs.items():
        if how == "cancel":
            _wait_until(lambda run_id=run_id: facade_client.status(run_id)["counts"].get("passed") == 10,
                        120, "10 reported results")
            time.sleep(0.2)
            facade_client.cancel(run_id)
    finals = {key: facade_client.wait(run_id, timeout=120) for key, run_id in runs.items()}
    for key, run_id in runs.items():
        how, workers = key
        assert finals[key]["status"] == ("cancelled" if how == "cancel" else "timeout"), key
        results = facade_client.results(run_id)
        assert results["source"] == "database"
        outcomes = {t["nodeid"]: t["outcome"] for t in results["tests"]}
        quick = {n: o for n, o in outcomes.items() if "test_quick" in n}
        assert len(quick) == 10 and set(quick.values()) == {"passed"}, (key, outcomes)
        slow = outcomes.get("tests/test_ten_then_slow.py::test_zz_slow")
        assert slow in ("error", None), (key, outcomes)  # the running test: recorded as interrupted
        assert finals[key]["counts"].get("passed") == 10, (key, finals[key])


def test_a_plain_session_and_report_beside_the_running_service(facade, tmp_path: Path) -> None:
    db = facade.data / "service.duckdb"
    suite = tmp_path / "plain"
    suite.mkdir()
    (suite / "test_model.py").write_text(MODEL_SUITE)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    session = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--ipfs-hw=cpu", f"--ipfs-db={db}",
         "--ipfs-run-id=plain-beside-service"],
        cwd=suite, env=env, capture_output=True, text=True, timeout=180,
    )
    assert session.returncode == 0, session.stdout
    assert f"results: run plain-beside-service -> {db}" in session.stdout
    # the service answers with it (its sweeper or the session's merger merged it meanwhile)
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def matrix():
        answer = httpx.get(f"{facade.url}/api/test/matrix", params={"run_id": "plain-beside-service"},
                           headers=headers, timeout=30)
        return answer.json() if answer.status_code == 200 else None

    body = _wait_until(matrix, 30, "the plain session in the service's matrix")
    assert [(c["model"], c["hardware"], c["status"]) for c in body["cells"]] == [("bert", "cpu", "passed")]
    # and `ipfs-accel report` on the service's store answers while the service runs
    report = subprocess.run(
        [sys.executable, "-m", "pytest_ipfs_accel", "report", "--db", str(db), "--run", "plain-beside-service",
         "--format", "json"], capture_output=True, text=True, timeout=60,
    )
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["counts"] == {"cpu": {"passed": 1}}


def test_restart_with_the_run_alive_merges_what_it_reported(tmp_path: Path) -> None:
    root = make_suite(tmp_path / "suite")
    (root / "tests" / "test_ten_then_slow.py").write_text(TEN_THEN_SLOW)
    settings = dict(db_path=tmp_path / "svc.duckdb", suite_root=root, token=TOKEN, kill_grace_s=3.0,
                    log_path=tmp_path / "service.log")
    first = ServiceProcess(**settings).start()
    try:
        with Client(first.url, token=TOKEN) as client:
            run_id = client.start_run(["tests/test_ten_then_slow.py"])
            _wait_until(lambda: client.status(run_id)["counts"].get("passed") == 10, 120, "10 results")
        time.sleep(spool.FLUSH_INTERVAL_S * 3)
    finally:
        first.stop(crash=True)  # SIGKILL: the run's pytest lives on, spooling
    with ServiceProcess(**settings) as second, Client(second.url, token=TOKEN) as client:
        status = client.status(run_id)
        assert status["status"] == "interrupted"
        assert "could not be merged" not in status["reason"]
        outcomes = {t["nodeid"]: t["outcome"] for t in client.results(run_id)["tests"]}
        assert sum(o == "passed" for o in outcomes.values()) == 10, outcomes
        assert status["counts"].get("passed") == 10
    assert not spool.pending(spool.spool_dir(tmp_path / "svc.duckdb"))  # merged, then removed
