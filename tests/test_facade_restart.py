"""A crashed or stopped service: lost runs become ``interrupted``, finished runs are still served."""

from __future__ import annotations

import duckdb

from api_facade.client import Client
from api_facade.testing import ServiceProcess, make_suite
from tests.facade_fixtures import markers, process_group, wait_for_marker

TOKEN = "restart-token"


def test_restart_after_a_crash_and_after_a_clean_stop(tmp_path):
    root = make_suite(tmp_path / "suite")
    settings = dict(db_path=tmp_path / "svc.duckdb", suite_root=root, token=TOKEN, max_concurrent_runs=1,
                    kill_grace_s=2.0, log_path=tmp_path / "service.log",
                    env={"FACADE_MARKERS": str(root / "markers")})

    first = ServiceProcess(**settings).start()
    try:
        with Client(first.url, token=TOKEN) as client:
            done = client.start_run(["tests/test_fast.py"])
            assert client.wait(done, timeout=120)["status"] == "failed"
            running = client.start_run(["tests/test_slow.py"])
            pgid, _, child = wait_for_marker(root)
            queued = client.start_run(["tests/test_fast.py"])
            assert client.status(queued)["status"] == "queued"
    finally:
        first.stop(crash=True)  # SIGKILL: no chance to clean up
    assert process_group(pgid), "the run's process group outlives a crashed service (its own session)"

    with ServiceProcess(**settings) as second, Client(second.url, token=TOKEN) as client:
        assert process_group(pgid) == []  # reaped at start-up: it belonged to a lost run
        lost = client.status(running)
        assert lost["status"] == "interrupted"
        assert lost["reason"] == "the service restarted while the run was running"
        assert client.status(queued)["reason"] == "the service restarted while the run was queued"
        replay = list(client.events(running, timeout=30))
        assert replay[-1]["$report_type"] == "RunFinished" and replay[-1]["status"] == "interrupted"
        assert [e["seq"] for e in replay] == list(range(1, len(replay) + 1))

        # the finished run is still served in full: status, results, events
        assert client.status(done)["status"] == "failed"
        results = client.results(done)
        assert results["source"] == "database" and len(results["tests"]) == 5
        events = list(client.events(done, timeout=30))
        assert events[-1]["status"] == "failed" and events[-1]["counts"] == {"passed": 4, "failed": 1}
        assert {r["run_id"]: r["status"] for r in client.runs()} == {
            done: "failed", running: "interrupted", queued: "interrupted"}

        # a clean stop ends active runs too, and records them before exiting
        before = markers(root)
        active = client.start_run(["tests/test_slow.py"])
        pgid2, _, _ = wait_for_marker(root, before)
    assert process_group(pgid2) == []
    con = duckdb.connect(str(settings["db_path"]), read_only=True)
    try:
        status, reason = con.execute("SELECT status, reason FROM facade_runs WHERE run_id = ?", [active]).fetchone()
    finally:
        con.close()
    assert (status, reason) == ("interrupted", "the service stopped while the run was active")
    assert "Traceback" not in (tmp_path / "service.log").read_text()
