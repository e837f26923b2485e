"""One store, used by many at once: concurrent sessions, a reader during a session, a killed session.

Real ``python -m pytest`` subprocesses on one DuckDB file; nothing is mocked.
Each session's suite has quick tests and one test that blocks on a file, so the
sessions provably overlap.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_ipfs_accel import merge, spool, store

SUITE = """
import os
import time
from pathlib import Path

import pytest


@pytest.mark.parametrize("i", range({quick}))
def test_quick(i):
    pass


def test_wait_for_release():
    gate = Path(os.environ["GATE_DIR"])
    (gate / f"started-{{os.getpid()}}").write_text("")
    deadline = time.monotonic() + 120
    while not (gate / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
"""


def _start(root: Path, db: Path, gate: Path, name: str, *extra: str, quick: int = 5) -> subprocess.Popen:
    suite = root / name
    suite.mkdir(parents=True)
    (suite / "test_shared.py").write_text(SUITE.format(quick=quick))
    env = {**os.environ, "GATE_DIR": str(gate)}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
         f"--ipfs-db={db}", f"--ipfs-run-id={name}", f"--ipfs-events={suite / 'events.jsonl'}", *extra],
        cwd=suite, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _wait_for(predicate, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _finished_tests(events: Path) -> int:
    if not events.exists():
        return 0
    return sum('"TestResult"' in line for line in events.read_text().splitlines())


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    path = tmp_path / "gate"
    path.mkdir()
    return path


def test_two_concurrent_sessions_both_record_their_whole_run(tmp_path: Path, gate: Path, db_rows) -> None:
    db = tmp_path / "shared.duckdb"
    sessions = {"plain": _start(tmp_path, db, gate, "plain"),
                "xdist": _start(tmp_path, db, gate, "xdist", "-n", "2")}
    try:
        # both are inside their blocking test at once: the sessions overlap
        _wait_for(lambda: len(list(gate.glob("started-*"))) == 2, what="both sessions to be running")
        (gate / "release").write_text("")
        outputs = {name: proc.communicate(timeout=180)[0] for name, proc in sessions.items()}
    finally:
        (gate / "release").write_text("")
        for proc in sessions.values():
            if proc.poll() is None:
                proc.kill()
    for name, proc in sessions.items():
        assert proc.returncode == 0, outputs[name]
        assert "NOT recorded" not in outputs[name]
        assert f"results: run {name} -> {db}" in outputs[name]
    runs = {r["run_id"]: r for r in db_rows(db, "SELECT run_id, status, xdist_workers, tests_collected FROM runs")}
    assert {k: (v["status"], v["tests_collected"]) for k, v in runs.items()} == {
        "plain": ("passed", 6), "xdist": ("passed", 6)}
    counts = db_rows(db, "SELECT run_id, count(*) AS n, count(DISTINCT nodeid) AS items FROM test_results "
                       "GROUP BY run_id ORDER BY run_id")
    assert counts == [{"run_id": "plain", "n": 6, "items": 6}, {"run_id": "xdist", "n": 6, "items": 6}]
    assert not spool.pending(spool.spool_dir(db))  # merged and removed


def test_report_answers_during_a_running_session(tmp_path: Path, gate: Path, db_rows) -> None:
    db = tmp_path / "r.duckdb"
    session = _start(tmp_path, db, gate, "long", quick=5)
    events = tmp_path / "long" / "events.jsonl"
    try:
        _wait_for(lambda: list(gate.glob("started-*")) and _finished_tests(events) == 5, what="5 results")
        time.sleep(spool.FLUSH_INTERVAL_S * 3)  # the flusher writes them without a further row
        cli = [sys.executable, "-m", "pytest_ipfs_accel", "report", "--db", str(db), "--run", "long",
               "--format", "json"]
        started = time.monotonic()
        answer = subprocess.run(cli, capture_output=True, text=True, timeout=60)
        waited = time.monotonic() - started
        assert answer.returncode == 0, answer.stderr
        report = json.loads(answer.stdout)
        assert report["status"] == "running"
        assert report["counts"] == {"-": {"passed": 5}}
        assert waited < store.LOCK_WAIT_S
        assert session.poll() is None  # it was still running all along
        # a second reader while it runs: the live spool was merged as a snapshot, and stays
        assert len(spool.pending(spool.spool_dir(db))) == 1
    finally:
        (gate / "release").write_text("")
        output = session.communicate(timeout=120)[0]
    assert session.returncode == 0, output
    final = db_rows(db, "SELECT status FROM runs WHERE run_id = 'long'")
    assert final == [{"status": "passed"}]
    assert db_rows(db, "SELECT count(*) AS n FROM test_results WHERE run_id = 'long'") == [{"n": 6}]


def test_a_killed_session_keeps_what_it_had_sent_and_shows_interrupted(tmp_path: Path, gate: Path, db_rows) -> None:
    db = tmp_path / "r.duckdb"
    session = _start(tmp_path, db, gate, "killed", quick=5)
    events = tmp_path / "killed" / "events.jsonl"
    try:
        _wait_for(lambda: list(gate.glob("started-*")) and _finished_tests(events) == 5, what="5 results")
        time.sleep(spool.FLUSH_INTERVAL_S * 3)
        session.send_signal(signal.SIGKILL)
        session.communicate(timeout=60)
    finally:
        (gate / "release").write_text("")
        if session.poll() is None:
            session.kill()
    assert merge.has_pending(db)  # nobody merged it yet: the session could not start a merger
    rows = db_rows(db, "SELECT nodeid, outcome FROM test_results WHERE run_id = 'killed' ORDER BY nodeid")
    assert rows == [{"nodeid": f"test_shared.py::test_quick[{i}]", "outcome": "passed"} for i in range(5)]
    run = db_rows(db, "SELECT status, finished_at IS NOT NULL AS ended, host FROM runs WHERE run_id = 'killed'")
    assert run == [{"status": "interrupted", "ended": True, "host": run[0]["host"]}] and run[0]["host"]
    assert not merge.has_pending(db)  # the dead session's spool is gone once merged
