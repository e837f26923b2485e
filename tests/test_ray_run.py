"""``ipfs-accel run --ray`` against one real local Ray cluster of two nodes (one advertising
``openvino``): the merged run equals a ``-n 0`` run, placement by hardware, and faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from pytest_ipfs_accel import cli, store
from pytest_ipfs_accel.merge import open_reader

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")

# one xdist worker runs them all, so the suite starts one Ray cluster, not one per worker
# (the Makefile runs `-n 2 --dist loadgroup`)
pytestmark = pytest.mark.xdist_group("ray")

SUITE = """
import pytest

def test_pass():
    pass

def test_fail():
    assert 1 == 2

def test_skip():
    pytest.skip("not today")

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False

def test_subtests(subtests):
    for i in range(2):
        with subtests.test(i=i):
            assert i == 0

@pytest.mark.parametrize("n", [50, 100])
def test_bench(ipfs_bench, n):
    ipfs_bench(sum, range(n))

def test_on(ipfs_hw):
    assert ipfs_hw.name in ("cpu", "openvino")
"""

# faults are switched on by files next to the suite, so the same ids collect everywhere
FAULTS = """
import os, pathlib, signal, time

HERE = pathlib.Path(__file__).parent

def test_a():
    pass

def test_fault():
    kill = (HERE / "KILL_ALWAYS").exists() or (HERE / "KILL_ONCE").exists()
    if kill:
        (HERE / "KILL_ONCE").unlink(missing_ok=True)
        (HERE / "pytest.pid").write_text(str(os.getpid()))
        time.sleep(0.6)  # test_a's row reaches the spool first
        os.kill(os.getppid(), signal.SIGKILL)  # the Ray worker running this shard
        time.sleep(30)  # PR_SET_PDEATHSIG ends this process first
    if (HERE / "HANG").exists():
        time.sleep(120)

def test_z():
    pass
"""
QUIET = ["-p", "no:cacheprovider", "--ipfs-bench-min-rounds=5", "--ipfs-bench-max-rounds=5"]


def _suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(text))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "r.duckdb"


def _ray_run(db: Path, *args: str) -> int:
    return cli.main(["run", "--ray", "--db", str(db), *args])


def _rows(db: Path, sql: str, params=()) -> list[dict]:
    con = open_reader(db)
    try:
        return store.fetch_dicts(con, sql, params)
    finally:
        con.close()


def _latest(db: Path) -> str:
    return _rows(db, "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")[0]["run_id"]


def test_sharded_run_equals_a_serial_run_and_places_by_hardware(ray_cluster, tmp_path, monkeypatch, capsys):
    db = _suite(tmp_path, monkeypatch, SUITE)
    serial_db = tmp_path / "serial.duckdb"
    serial = subprocess.Popen([sys.executable, "-m", "pytest", "-n", "0", "-q", f"--ipfs-db={serial_db}",
                               "--ipfs-hw=cpu,openvino", *QUIET], stdout=subprocess.DEVNULL)  # meanwhile
    events_file = tmp_path / "events" / "run.jsonl"
    assert _ray_run(db, "--hw", "cpu,openvino", "--shards", "2", "--", *QUIET,
                    "--ipfs-events", str(events_file)) == 1  # test_fail
    assert serial.wait(timeout=120) == 1
    run_id = _latest(db)
    items = "SELECT nodeid, outcome, \"when\", subtest FROM test_results WHERE run_id = ? ORDER BY ALL"
    benches = ("SELECT r.nodeid, r.name, r.hardware, r.rounds, count(s.round) AS samples, "
               "min(s.round) AS first, max(s.round) AS last FROM benchmark_results r JOIN benchmark_samples s "
               "USING (run_id, nodeid) WHERE run_id = ? GROUP BY ALL ORDER BY ALL")
    serial_id = _latest(serial_db)
    merged = _rows(db, items, [run_id])
    assert merged == _rows(serial_db, items, [serial_id])
    assert {r["outcome"] for r in merged} >= {"passed", "failed", "skipped", "xfailed"}
    assert any(r["subtest"] for r in merged)
    assert _rows(db, benches, [run_id]) == _rows(serial_db, benches, [serial_id])
    assert len(_rows(db, benches, [run_id])) == 2

    shards = _rows(db, "SELECT * FROM run_shards WHERE run_id = ? ORDER BY shard", [run_id])
    assert [s["hardware"] for s in shards].count("openvino") == 1 and len(shards) == 2
    openvino_node = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("openvino"))
    assert next(s for s in shards if s["hardware"] == "openvino")["node_id"] == openvino_node
    assert all(s["attempt"] == 0 and s["items_recorded"] == s["items_expected"] for s in shards)
    assert sum(s["items_expected"] for s in shards) == len({r["nodeid"] for r in merged})
    run = _rows(db, "SELECT * FROM runs WHERE run_id = ?", [run_id])[0]
    assert (run["status"], run["exit_status"], run["hw_requested"]) == ("failed", 1, "cpu,openvino")
    assert run["tests_collected"] == len({r["nodeid"] for r in merged})

    # every host's fingerprints: one per (backend, Ray node) that ran a shard, keyed backend@host
    fingerprints = json.loads(run["hardware"])
    assert {(f["backend"], f["node_id"]) for f in fingerprints.values()} == {
        (s["hardware"], s["node_id"]) for s in shards}
    several = len({s["node_id"] for s in shards}) > 1  # this one host runs both nodes: keys name the node
    for key, f in fingerprints.items():
        assert key == f"{f['backend']}@{f['host']}" + (f"/{f['node_id'][:8]}" if several else "")
    capsys.readouterr()
    assert cli.main(["report", "--db", str(db), "--run", run_id]) == 0
    assert "openvino@" in capsys.readouterr().out  # the report lists each host's devices

    # one live stream for the whole run, the same items and outcomes as the store
    events = _events(events_file.read_text().splitlines())
    _assert_streamed_as_stored(events, db, run_id, exit_status=1)
    assert {(e["shard"], e["attempt"]) for e in events if e.get("$report_type") == "TestReport"} == {(0, 0), (1, 0)}
    results = [e for e in events if e.get("$report_type") == "ShardResult"]
    assert sorted((e["shard"], e["retried"], e["node_id"]) for e in results) == [
        (s["shard"], False, s["node_id"]) for s in shards]


def test_hardware_no_node_offers_fails_fast_and_names_it(ray_cluster, tmp_path, monkeypatch, capsys):
    db = _suite(tmp_path, monkeypatch, SUITE)
    started = time.monotonic()
    events_file = tmp_path / "events.jsonl"
    assert _ray_run(db, "--hw", "cpu,cuda", "--", "-k", "test_on", f"--ipfs-events={events_file}") == 2
    err = capsys.readouterr().err.strip()
    assert "no node of the Ray cluster offers GPU (for cuda shard" in err, err
    assert time.monotonic() - started < 60  # Ray itself would leave the task pending forever
    events = _events(events_file.read_text().splitlines())  # a stream reader learns it too
    assert [e["$report_type"] for e in events] == ["SessionStart", "RunInfo", "SessionFinish"]
    assert events[-1]["exitstatus"] == 2 and "no node of the Ray cluster offers GPU" in events[-1]["reason"]


def test_without_ray_installed_it_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert cli.main(["run", "--ray", "--hw", "cpu", "--", "-q"]) == 2
    assert "pip install 'pytest-ipfs-accel[ray]'" in capsys.readouterr().err


def test_a_killed_worker_is_retried_without_duplicates_and_its_events_marked(ray_cluster, tmp_path, monkeypatch):
    """Also the facade's way in: a real ``ipfs-accel run`` process joining the cluster, its events
    on an inherited ``fd:N``, read while it runs."""
    db = _suite(tmp_path, monkeypatch, FAULTS)
    (tmp_path / "KILL_ONCE").touch()
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", "from pytest_ipfs_accel.cli import main; raise SystemExit(main())",
                             "run", f"--ray={ray_cluster.address}", "--db", str(db), "--hw", "cpu", "--retries", "1",
                             "--run-id", "svc-run-1",  # the service's own id for the run
                             "--", "-p", "no:cacheprovider", f"--ipfs-events=fd:{write_fd}"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    os.close(write_fd)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(os.fdopen(read_fd, encoding="utf-8")), daemon=True)
    reader.start()
    assert proc.wait(timeout=240) == 0, proc.stderr.read()
    reader.join(timeout=30)
    assert not reader.is_alive(), "the event stream was not closed at the end of the run"
    run_id = _latest(db)
    assert run_id == "svc-run-1"
    rows = _rows(db, "SELECT nodeid, outcome FROM test_results WHERE run_id = ? ORDER BY nodeid", [run_id])
    assert [(r["nodeid"].split("::")[1], r["outcome"]) for r in rows] == [
        ("test_a", "passed"), ("test_fault", "passed"), ("test_z", "passed")]
    attempts = _rows(db, "SELECT attempt, status FROM run_shards WHERE run_id = ? ORDER BY attempt", [run_id])
    assert [a["attempt"] for a in attempts] == [0, 1]
    assert attempts[0]["status"].startswith("lost") and attempts[1]["status"] == "passed"
    _assert_gone(tmp_path)

    events = _events(lines)
    _assert_streamed_as_stored(events, db, run_id, exit_status=0)
    first = [e for e in events if e.get("attempt") == 0 and e.get("$report_type") in ("TestReport", "TestStart")]
    # the dead attempt's events reached the driver while it ran: its worker never returned a result
    assert ("test_a", "TestReport") in {(e["nodeid"].split("::")[1], e.get("$report_type")) for e in first}
    assert "test_fault" in {e["nodeid"].split("::")[1] for e in first if e.get("$report_type") == "TestStart"}
    marks = [(e["attempt"], e["retried"]) for e in events if e.get("$report_type") == "ShardResult"]
    assert marks == [(0, True), (1, False)]


def test_a_shard_that_exhausts_its_retries_leaves_error_rows(ray_cluster, tmp_path, monkeypatch):
    # --retries 0: the retry path itself is the test above; each retry costs a Ray worker start
    db, run_id, rows = _fault_run(tmp_path, monkeypatch, "KILL_ALWAYS", "--retries", "0")
    assert sorted(rows) == ["test_a", "test_fault", "test_z"]  # each exactly once
    assert rows["test_a"]["outcome"] == "passed"  # flushed before the kill: kept
    for name in ("test_fault", "test_z"):
        assert rows[name]["outcome"] == "error"
        assert "not run: shard 0 (cpu) attempt 0 failed: " in rows[name]["message"]
    assert len(_rows(db, "SELECT * FROM run_shards WHERE run_id = ?", [run_id])) == 1
    assert _rows(db, "SELECT status FROM runs WHERE run_id = ?", [run_id])[0]["status"] == "error"
    _assert_gone(tmp_path)


def test_a_shard_timeout_records_the_stuck_test_and_keeps_the_rest(ray_cluster, tmp_path, monkeypatch):
    # 20 s: the shard's pytest must reach test_fault first, and starting it took over 8 s at load 17
    db, run_id, rows = _fault_run(tmp_path, monkeypatch, "HANG", "--shard-timeout", "20")
    assert rows["test_a"]["outcome"] == "passed"
    assert rows["test_fault"]["outcome"] == "error"
    assert rows["test_fault"]["message"].startswith("shard 0 timed out after 20 s: the session ended")
    assert rows["test_z"]["outcome"] == "error" and "not run: shard 0 timed out" in rows["test_z"]["message"]
    shard = _rows(db, "SELECT status, exit_status FROM run_shards WHERE run_id = ?", [run_id])
    assert shard == [{"status": "timeout", "exit_status": 2}]  # pytest's own "interrupted"


def _fault_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switch: str,
               *ray_args: str) -> tuple[Path, str, dict[str, dict]]:
    """FAULTS on cpu with the fault file ``switch`` present: exits 1, and its event stream (read to the end,
    past a kill or an interrupt; the driver's error rows are streamed too) says what the store says.
    Returns the store, the run id and each test's row by name."""
    db = _suite(tmp_path, monkeypatch, FAULTS)
    (tmp_path / switch).touch()
    events_file = tmp_path / "events.jsonl"
    assert _ray_run(db, "--hw", "cpu", *ray_args, "--", "-p", "no:cacheprovider",
                    f"--ipfs-events={events_file}") == 1
    run_id = _latest(db)
    _assert_streamed_as_stored(_events(events_file.read_text().splitlines()), db, run_id, exit_status=1)
    rows = _rows(db, "SELECT nodeid, outcome, message FROM test_results WHERE run_id = ? AND subtest IS NULL",
                 [run_id])
    return db, run_id, {r["nodeid"].split("::")[1]: r for r in rows}


def _events(lines) -> list[dict]:
    return [json.loads(line) for line in lines if line.strip()]


def _assert_streamed_as_stored(events: list[dict], db: Path, run_id: str, *, exit_status: int) -> None:
    """The driver's one stream of a Ray run: one session, and the same items and outcomes as the store."""
    _assert_one_session(events, exit_status=exit_status, run_id=run_id)
    _assert_stream_equals_store(events, db, run_id)


def _assert_one_session(events: list[dict], *, exit_status: int, run_id: str) -> None:
    kinds = Counter(e.get("$report_type") for e in events)
    assert kinds["SessionStart"] == kinds["SessionFinish"] == kinds["RunInfo"] == 1, kinds
    assert events[0]["$report_type"] == "SessionStart" and events[-1]["$report_type"] == "SessionFinish"
    assert events[-1]["exitstatus"] == exit_status
    assert next(e for e in events if e.get("$report_type") == "RunInfo")["run_id"] == run_id
    assert kinds["ShardSessionStart"] >= 1  # the shards' own, renamed (a killed one has no ShardSessionFinish)
    assert all("shard" in e and "attempt" in e for e in events if e.get("$report_type") in ("TestReport", "TestResult"))


def _assert_stream_equals_store(events: list[dict], db: Path, run_id: str) -> None:
    """Without the retried attempts' events, every item's reports come once, and the results are the store's."""
    retried = {(e["shard"], e["attempt"]) for e in events if e.get("$report_type") == "ShardResult" and e["retried"]}
    kept = [e for e in events if (e.get("shard"), e.get("attempt")) not in retried]
    setups = Counter(e["nodeid"] for e in kept if e.get("$report_type") == "TestReport" and e["when"] == "setup")
    stored = _rows(db, "SELECT nodeid, outcome, \"when\", subtest, message FROM test_results WHERE run_id = ? "
                   "ORDER BY ALL", [run_id])
    ran = {r["nodeid"] for r in stored if not (r["message"] or "").startswith("not run: ")}
    # each item that ran, once in the kept attempts (a killed shard's last one started, did not finish)
    assert set(setups.values()) == {1} and ran <= set(setups) <= {r["nodeid"] for r in stored}
    streamed = sorted((e["nodeid"], e["outcome"], e["when"], e.get("subtest") or "")
                      for e in kept if e.get("$report_type") == "TestResult")
    assert streamed == sorted((r["nodeid"], r["outcome"], r["when"], r["subtest"] or "") for r in stored)


def _assert_gone(suite: Path) -> None:
    """The pytest child died with its Ray worker (no orphan holding a device)."""
    pid = int((suite / "pytest.pid").read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"pytest child {pid} outlived its Ray worker")
