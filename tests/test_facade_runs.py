"""Runs through a real facade (uvicorn on 127.0.0.1) with real HTTP and WebSocket clients.

One service for the module (two runs at once, the rest queue); the sample
suite (``api_facade.testing.SAMPLE_SUITE``) has plain fast tests, a slow test
with a child process, a test that floods its own event stream, and a module
without tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import psutil
import pytest

from api_facade.client import AsyncClient, Client, FacadeError
from api_facade.testing import ServiceProcess, make_suite

TOKEN = "runs-token"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    root = make_suite(tmp_path_factory.mktemp("suite"))
    data = tmp_path_factory.mktemp("data")
    svc = ServiceProcess(
        db_path=data / "service.duckdb", suite_root=root, token=TOKEN, max_concurrent_runs=2,
        subscriber_queue=200, kill_grace_s=2.0, log_path=data / "service.log",
        env={"FACADE_MARKERS": str(root / "markers")},
    )
    with svc:
        svc.root = root
        svc.data = data
        yield svc


@pytest.fixture(scope="module")
def client(service):
    with Client(service.url, token=TOKEN) as c:
        yield c


def _seqs(events: list[dict]) -> list[int]:
    return [e["seq"] for e in events]


def _wait_for_marker(root: Path, before: set[str], timeout: float = 60.0) -> tuple[int, int, int]:
    """(pgid, pytest-ish pid, child pid) written by the slow test once it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = {p.name for p in (root / "markers").glob("*.pids")} - before
        if new:
            text = (root / "markers" / sorted(new)[0]).read_text().split()
            if len(text) == 3:
                return tuple(int(x) for x in text)  # type: ignore[return-value]
        time.sleep(0.05)
    raise AssertionError("the slow test never started")


def _alive(pids) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _group(pgid: int) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            pass
    return found


def test_a_run_end_to_end(service, client: Client):
    run_id = client.start_run(["tests/test_fast.py"], hardware=["cpu"])
    events = list(client.events(run_id, timeout=120))
    status = client.wait(run_id, timeout=60)

    # the stream: contiguous seq from 1, pytest's own reports in order, RunFinished last
    assert _seqs(events) == list(range(1, len(events) + 1))
    kinds = [e["$report_type"] for e in events]
    assert kinds[0] == "RunQueued" and kinds[-1] == "RunFinished"
    assert kinds.index("SessionStart") < kinds.index("CollectionFinished") < kinds.index("SessionFinish")
    assert events[-1]["status"] == "failed" and events[-1]["counts"] == {"passed": 4, "failed": 1}
    assert all("ipfs_ts" in e for e in events if e["$report_type"] == "TestReport")

    assert status["status"] == "failed" and status["exit_code"] == 1
    assert status["progress"] == {"collected": 5, "done": 5, "fraction": 1.0}
    assert status["reason"].startswith("1 test(s) failed; first: tests/test_fast.py::test_fail")
    assert status["last_seq"] == len(events)

    results = client.results(run_id)
    assert results["source"] == "database"
    by_id = {t["nodeid"]: t for t in results["tests"]}
    assert by_id["tests/test_fast.py::test_fail"]["outcome"] == "failed"
    assert "one is not two" in by_id["tests/test_fast.py::test_fail"]["message"]
    assert sum(1 for t in results["tests"] if t["outcome"] == "passed") == 4

    # a client that reconnects with since=N gets exactly what came after N
    tail = list(client.events(run_id, since=len(events) - 3, timeout=30))
    assert tail == events[-3:]
    assert list(client.events(run_id, since=len(events), timeout=30)) == []

    listed = {r["run_id"]: r for r in client.runs(limit=100)}
    assert listed[run_id]["status"] == "failed" and listed[run_id]["targets"] == ["tests/test_fast.py"]
    assert listed[run_id]["counts"] == {"passed": 4, "failed": 1}
    assert client.runs(status="failed", limit=100)[0]["status"] == "failed"


def test_two_runs_at_once_with_several_subscribers_each(service):
    async def scenario():
        async with AsyncClient(service.url, token=TOKEN) as client:
            runs = [await client.start_run(["tests/test_many.py"]) for _ in range(2)]

            async def subscribe(run_id: str, delay: float) -> list[dict]:
                await asyncio.sleep(delay)  # late joiners get the replay, then live events
                return [e async for e in client.events(run_id)]

            jobs = [subscribe(r, d) for r in runs for d in (0, 0, 0.3, 1.0)]
            streams = await asyncio.wait_for(asyncio.gather(*jobs), 180)
            finals = [await client.wait(r, timeout=60) for r in runs]
            return runs, streams, finals

    runs, streams, finals = asyncio.run(scenario())
    for index, run_id in enumerate(runs):
        mine = streams[index * 4:(index + 1) * 4]
        reference = mine[0]
        assert _seqs(reference) == list(range(1, len(reference) + 1))  # none lost, none twice
        assert all(s == reference for s in mine[1:])
        assert all(e.get("run_id", run_id) == run_id for e in reference if e["$report_type"] in ("RunFinished",))
        results = [e for e in reference if e["$report_type"] == "TestResult"]
        assert len(results) == 60
        on_disk = [json.loads(line) for line in (service.data / "facade_runs" / run_id / "events.jsonl").open()]
        assert on_disk == reference
    assert [f["status"] for f in finals] == ["passed", "passed"]
    assert [f["counts"] for f in finals] == [{"passed": 60}, {"passed": 60}]


def test_untrusted_event_lines_and_a_slow_subscriber(service, client: Client):
    """Garbage, a 2 MB line and a burst of 3000 events: the run passes, the client resumes."""
    run_id = client.start_run(["tests/test_noise.py"])
    resumes = client.resumes
    events = list(client.events(run_id, timeout=120))  # resumes by itself after a 4008 drop
    # the burst arrives faster than any socket drains a 200-event queue: dropped, then resumed
    assert client.resumes > resumes
    assert _seqs(events) == list(range(1, len(events) + 1))
    invalid = [e for e in events if e["$report_type"] == "InvalidEvent"]
    assert [i["reason"].split(":")[0] for i in invalid] == [
        "not JSON", "event line of 2000034 bytes exceeds the 262144-byte limit", "a JSON list, not an object",
    ]
    assert [e["i"] for e in events if e["$report_type"] == "Burst"] == list(range(3000))
    assert client.wait(run_id, timeout=60)["status"] == "passed"
    log = (service.data / "service.log").read_text()
    assert "Traceback" not in log


def test_queue_cancel_and_timeout_end_whole_process_groups(service, client: Client):
    markers = service.root / "markers"
    before = {p.name for p in markers.glob("*.pids")}
    slow = client.start_run(["tests/test_slow.py"], workers=2)  # xdist: workers are in the group too
    pgid, pid, child = _wait_for_marker(service.root, before)
    timed = client.start_run(["tests/test_slow.py"], timeout_s=3)
    queued = client.start_run(["tests/test_fast.py::test_ok"])
    assert client.status(queued)["status"] == "queued"
    assert client.status(queued)["queue_position"] == 1

    group = _group(pgid)
    assert pid in group and child in group and len(group) >= 4  # pytest, 2 workers, the child
    answer = client.cancel(slow)
    assert answer["status"] == "cancelled"
    assert _alive(group) == [] and _group(pgid) == []
    final = list(client.events(slow, since=0, timeout=30))[-1]
    assert final["$report_type"] == "RunFinished" and final["status"] == "cancelled"

    timed_status = client.wait(timed, timeout=60)
    assert timed_status["status"] == "timeout"
    assert "time limit of 3" in timed_status["reason"]
    assert client.wait(queued, timeout=60)["status"] == "passed"
    _, timed_pid, timed_child = _wait_for_marker(service.root, before | {f"{pid}.pids"}, timeout=1)
    assert _alive([timed_pid, timed_child]) == []

    with pytest.raises(FacadeError) as info:
        client.cancel(slow)
    assert info.value.status_code == 409 and "already ended (cancelled)" in info.value.detail


def test_cancel_while_queued_and_no_tests_collected(service, client: Client):
    blockers = [client.start_run(["tests/test_slow.py"]) for _ in range(2)]
    waiting = client.start_run(["tests/test_fast.py"])
    with pytest.raises(TimeoutError, match="still queued after 0.3 s"):
        client.wait(waiting, timeout=0.3)
    assert client.cancel(waiting)["status"] == "cancelled"
    for run_id in blockers:
        client.cancel(run_id)
    empty = client.start_run(["tests/test_nothing.py"])
    status = client.wait(empty, timeout=60)
    assert (status["status"], status["reason"], status["exit_code"]) == ("error", "no tests were collected", 5)
    events = list(client.events(waiting, timeout=30))
    assert [e["$report_type"] for e in events] == ["RunQueued", "RunFinished"]
