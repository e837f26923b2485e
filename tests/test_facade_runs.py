"""Runs through a real facade (uvicorn on 127.0.0.1) with real HTTP and WebSocket clients.

One service for the module (two runs at once, the rest queue); the sample
suite (``api_facade.testing.SAMPLE_SUITE``) has plain fast tests, a slow test
with a child process, a test that floods its own event stream, and a module
without tests.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from api_facade.client import AsyncClient, Client, FacadeError
from tests.facade_fixtures import alive, markers, process_group, seqs, wait_for_marker


@pytest.fixture(scope="module")
def facade_settings(facade_suite: Path) -> dict:
    """Two runs at once (the rest queue), short queues and a short grace, markers of the slow test."""
    return {"max_concurrent_runs": 2, "subscriber_queue": 200, "kill_grace_s": 2.0,
            "env": {"FACADE_MARKERS": str(facade_suite / "markers")}}


def test_a_run_end_to_end(facade, facade_client: Client):
    run_id = facade_client.start_run(["tests/test_fast.py"], hardware=["cpu"])
    events = list(facade_client.events(run_id, timeout=120))
    status = facade_client.wait(run_id, timeout=60)

    # the stream: contiguous seq from 1, pytest's own reports in order, RunFinished last
    assert seqs(events) == list(range(1, len(events) + 1))
    kinds = [e["$report_type"] for e in events]
    assert kinds[0] == "RunQueued" and kinds[-1] == "RunFinished"
    assert kinds.index("SessionStart") < kinds.index("CollectionFinished") < kinds.index("SessionFinish")
    assert events[-1]["status"] == "failed" and events[-1]["counts"] == {"passed": 4, "failed": 1}
    assert all("ipfs_ts" in e for e in events if e["$report_type"] == "TestReport")

    assert status["status"] == "failed" and status["exit_code"] == 1
    assert status["progress"] == {"collected": 5, "done": 5, "fraction": 1.0}
    assert status["reason"].startswith("1 test(s) failed; first: tests/test_fast.py::test_fail")
    assert status["last_seq"] == len(events)

    results = facade_client.results(run_id)
    assert results["source"] == "database"
    by_id = {t["nodeid"]: t for t in results["tests"]}
    assert by_id["tests/test_fast.py::test_fail"]["outcome"] == "failed"
    assert "one is not two" in by_id["tests/test_fast.py::test_fail"]["message"]
    assert sum(1 for t in results["tests"] if t["outcome"] == "passed") == 4

    # a client that reconnects with since=N gets exactly what came after N
    tail = list(facade_client.events(run_id, since=len(events) - 3, timeout=30))
    assert tail == events[-3:]
    assert list(facade_client.events(run_id, since=len(events), timeout=30)) == []

    listed = {r["run_id"]: r for r in facade_client.runs(limit=100)}
    assert listed[run_id]["status"] == "failed" and listed[run_id]["targets"] == ["tests/test_fast.py"]
    assert listed[run_id]["counts"] == {"passed": 4, "failed": 1}
    assert facade_client.runs(status="failed", limit=100)[0]["status"] == "failed"


def test_two_runs_at_once_with_several_subscribers_each(facade):
    async def scenario():
        async with AsyncClient(facade.url, token=facade.token) as client:
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
        assert seqs(reference) == list(range(1, len(reference) + 1))  # none lost, none twice
        assert all(s == reference for s in mine[1:])
        assert all(e.get("run_id", run_id) == run_id for e in reference if e["$report_type"] in ("RunFinished",))
        results = [e for e in reference if e["$report_type"] == "TestResult"]
        assert len(results) == 60
        on_disk = [json.loads(line) for line in (facade.data / "facade_runs" / run_id / "events.jsonl").open()]
        assert on_disk == reference
    assert [f["status"] for f in finals] == ["passed", "passed"]
    assert [f["counts"] for f in finals] == [{"passed": 60}, {"passed": 60}]


def test_untrusted_event_lines_and_a_slow_subscriber(facade, facade_client: Client):
    """Garbage, a 2 MB line and a burst of 3000 events: the run passes, the client resumes."""
    run_id = facade_client.start_run(["tests/test_noise.py"])
    resumes = facade_client.resumes
    events = list(facade_client.events(run_id, timeout=120))  # resumes by itself after a 4008 drop
    # the burst arrives faster than any socket drains a 200-event queue: dropped, then resumed
    assert facade_client.resumes > resumes
    assert seqs(events) == list(range(1, len(events) + 1))
    invalid = [e for e in events if e["$report_type"] == "InvalidEvent"]
    assert [i["reason"].split(":")[0] for i in invalid] == [
        "not JSON", "event line of 2000034 bytes exceeds the 262144-byte limit", "a JSON list, not an object",
    ]
    assert [e["i"] for e in events if e["$report_type"] == "Burst"] == list(range(3000))
    assert facade_client.wait(run_id, timeout=60)["status"] == "passed"
    log = (facade.data / "service.log").read_text()
    assert "Traceback" not in log


def test_queue_cancel_and_timeout_end_whole_process_groups(facade, facade_client: Client):
    before = markers(facade.root)
    slow = facade_client.start_run(["tests/test_slow.py"], workers=2)  # xdist: workers are in the group too
    pgid, pid, child = wait_for_marker(facade.root, before)
    timed = facade_client.start_run(["tests/test_slow.py"], timeout_s=3)
    queued = facade_client.start_run(["tests/test_fast.py::test_ok"])
    assert facade_client.status(queued)["status"] == "queued"
    assert facade_client.status(queued)["queue_position"] == 1

    group = process_group(pgid)
    assert pid in group and child in group and len(group) >= 4  # pytest, 2 workers, the child
    answer = facade_client.cancel(slow)
    assert answer["status"] == "cancelled"
    assert alive(group) == [] and process_group(pgid) == []
    final = list(facade_client.events(slow, since=0, timeout=30))[-1]
    assert final["$report_type"] == "RunFinished" and final["status"] == "cancelled"

    timed_status = facade_client.wait(timed, timeout=60)
    assert timed_status["status"] == "timeout"
    assert "time limit of 3" in timed_status["reason"]
    assert facade_client.wait(queued, timeout=60)["status"] == "passed"
    _, timed_pid, timed_child = wait_for_marker(facade.root, before | {f"{pid}.pids"}, timeout=1)
    assert alive([timed_pid, timed_child]) == []

    with pytest.raises(FacadeError) as info:
        facade_client.cancel(slow)
    assert info.value.status_code == 409 and "already ended (cancelled)" in info.value.detail


def test_cancel_while_queued_and_no_tests_collected(facade, facade_client: Client):
    blockers = [facade_client.start_run(["tests/test_slow.py"]) for _ in range(2)]
    waiting = facade_client.start_run(["tests/test_fast.py"])
    with pytest.raises(TimeoutError, match="still queued after 0.3 s"):
        facade_client.wait(waiting, timeout=0.3)
    assert facade_client.cancel(waiting)["status"] == "cancelled"
    for run_id in blockers:
        facade_client.cancel(run_id)
    empty = facade_client.start_run(["tests/test_nothing.py"])
    status = facade_client.wait(empty, timeout=60)
    assert (status["status"], status["reason"], status["exit_code"]) == ("error", "no tests were collected", 5)
    events = list(facade_client.events(waiting, timeout=30))
    assert [e["$report_type"] for e in events] == ["RunQueued", "RunFinished"]
