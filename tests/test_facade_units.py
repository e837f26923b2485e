"""The facade's pieces without a server: event decoding, the hub, allow-listing, auth, slots."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from api_facade.runs.eventlines import INVALID, LineDecoder
from api_facade.runs.hub import RUN_FINISHED, Hub, RunStream, seal_file
from api_facade.runs.jobs import Job, Progress, status_for_exit
from api_facade.runs.pytest_cmd import (
    TargetError,
    check_target,
    pytest_command,
    ray_command,
    subprocess_env,
)
from api_facade.runs.slots import Slots
from api_facade.settings import Settings
from api_facade.web.auth import origin_allowed, token_matches
from api_facade.web.logredact import RedactTokens

# ------------------------------------------------------------------ event lines


def test_decoder_joins_chunks_and_wraps_garbage():
    decoder = LineDecoder(max_bytes=1000)
    events = decoder.feed(b'{"$report_type": "A", "x": 1}\n{"$report_ty')
    events += decoder.feed(b'pe": "B"}\nnot json\n[1, 2]\n{"no": "type"}\n\xff\xfe\n\n')
    events += decoder.feed(b'{"$report_type": "C"}')  # the writer died mid-stream: no newline
    events += decoder.close()
    assert [e["$report_type"] for e in events] == ["A", "B", INVALID, INVALID, INVALID, INVALID, "C"]
    assert events[2]["line"] == "not json" and "not JSON" in events[2]["reason"]
    assert "list" in events[3]["reason"]
    assert "$report_type" in events[4]["reason"]


def test_decoder_cuts_overlong_lines_and_keeps_going():
    decoder = LineDecoder(max_bytes=100)
    long_line = b'{"$report_type": "X", "pad": "' + b"a" * 10_000 + b'"}\n'
    events = []
    for i in range(0, len(long_line), 999):  # arrives in pieces, as from a pipe
        events += decoder.feed(long_line[i:i + 999])
    events += decoder.feed(b'{"$report_type": "after"}\n')
    assert len(events) == 2
    assert events[0]["$report_type"] == INVALID and "exceeds the 100-byte limit" in events[0]["reason"]
    assert len(events[0]["line"]) <= 200
    assert events[1]["$report_type"] == "after"


def test_decoder_survives_deep_nesting():
    decoder = LineDecoder(max_bytes=1 << 20)
    events = decoder.feed(b"[" * 100_000 + b"\n")
    assert events[0]["$report_type"] == INVALID


# ------------------------------------------------------------------------ hub


def test_stream_numbers_replays_and_writes_its_file(tmp_path: Path):
    async def scenario():
        stream = RunStream("r1", tmp_path, queue_size=10)
        stream.publish({"$report_type": "A", "seq": 999})  # the writer's own seq is overridden
        backlog, sub = stream.subscribe(since=0)
        stream.publish({"$report_type": "B"})
        stream.finish("passed")
        assert [s for s, _, _ in backlog] == [1]
        live = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        assert [(s, last) for s, _, last in live] == [(2, False), (3, True)]
        late, none = stream.subscribe(since=1)
        assert none is None and [s for s, _, _ in late] == [2, 3]
        assert json.loads(late[-1][1]) == {"$report_type": RUN_FINISHED, "run_id": "r1", "status": "passed", "seq": 3}
        reread = RunStream.from_file("r1", tmp_path)
        assert reread.finished and reread.seq == 3
        assert [e["seq"] for e in reread.events()] == [1, 2, 3]

    asyncio.run(scenario())


def test_slow_subscriber_is_dropped_without_blocking_others(tmp_path: Path):
    async def scenario():
        stream = RunStream("r2", None, queue_size=3)
        _, slow = stream.subscribe(0)
        _, fast = stream.subscribe(0)
        for i in range(10):
            stream.publish({"$report_type": "E", "i": i})
            while not fast.queue.empty():
                fast.queue.get_nowait()
        assert slow.dropped.is_set() and not fast.dropped.is_set()
        assert stream.subscriber_count == 1
        # the dropped one resumes from what it got (seq 3) and misses nothing
        backlog, again = stream.subscribe(3)
        assert [s for s, _, _ in backlog] == list(range(4, 11))

    asyncio.run(scenario())


def test_hub_reads_finished_runs_back_and_seals_lost_ones(tmp_path: Path):
    async def scenario():
        hub = Hub(tmp_path, queue_size=5, keep_finished=1)
        for run_id in ("a", "b"):
            stream = hub.open(run_id)
            stream.publish({"$report_type": "X"})
            stream.finish("failed")
            hub.retire(run_id)
        assert hub.get("a").seq == 2  # evicted from memory, read back from its file
        lost = tmp_path / "c"
        lost.mkdir()
        (lost / "events.jsonl").write_text('{"$report_type": "X", "seq": 1}\n{"$report_ty')
        assert seal_file(lost, "c", "interrupted") == 2
        texts = list(hub.get("c").events())
        assert texts[-1]["$report_type"] == RUN_FINISHED and texts[-1]["status"] == "interrupted"

    asyncio.run(scenario())


# ------------------------------------------------------------------- targets


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_x(): pass\n")
    (tmp_path / "escape").symlink_to("/etc")
    return tmp_path


@pytest.mark.parametrize("target", ["tests", "tests/test_x.py", "tests/test_x.py::test_x",
                                    "tests/test_x.py::TestA::test_b[cpu-1]", "tests/test_x.py::t[(1, 'a b')]"])
def test_targets_under_the_suite_root_pass(suite: Path, target: str):
    assert check_target(target, suite) == target


@pytest.mark.parametrize(("target", "words"), [
    ("", "empty"),
    ("-x", "starts with '-'"),
    ("--rootdir=/", "starts with '-'"),
    ("/etc/passwd", "absolute"),
    ("../tests", "'..'"),
    ("tests/../../x", "'..'"),
    ("escape/passwd", "outside the suite root"),
    ("tests/missing.py", "does not exist"),
    ("tests\\test_x.py", "'/'"),
    (" tests", "whitespace"),
    ("tests/test_x.py::t\x00", "control characters"),
    ("tests\x1b/test_x.py", "control characters"),
])
def test_bad_targets_are_refused_with_the_reason(suite: Path, target: str, words: str):
    with pytest.raises(TargetError, match=None) as info:
        check_target(target, suite)
    assert words in str(info.value)


def test_pytest_command_puts_targets_after_double_dash(tmp_path: Path):
    argv = pytest_command(["tests"], run_id="r", shard=tmp_path / "s.duckdb", rootdir=tmp_path,
                          events="fd:7", hardware=["cpu", "cuda"], workers=2)
    assert argv[1:3] == ["-m", "pytest"]
    assert argv[-2:] == ["--", "tests"]
    assert "--ipfs-hw=cpu,cuda" in argv and "--ipfs-events=fd:7" in argv and "--ipfs-run-id=r" in argv
    assert argv[argv.index("-n") + 1] == "2"


def test_ray_command_runs_the_driver_with_pytest_args_after_double_dash(tmp_path: Path):
    argv = ray_command(["tests/a.py", "tests/b.py::t"], run_id="run-x", db=tmp_path / "s.duckdb", rootdir=tmp_path,
                       events="fd:7", hardware=["cpu", "openvino"], shards=3, extra=["-k", "fast"])
    driver, pytest_args = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    assert driver[1:] == ["-m", "pytest_ipfs_accel", "run", "--ray", "--hw", "cpu,openvino", "--shards", "3",
                          "--db", str(tmp_path / "s.duckdb"), "--run-id", "run-x"]
    # the driver names the run and sets --ipfs-hw/--ipfs-db per shard; the events go to the driver
    assert "--ipfs-events=fd:7" in pytest_args and f"--rootdir={tmp_path}" in pytest_args
    assert not [a for a in pytest_args if a.startswith(("--ipfs-run-id", "--ipfs-db", "--ipfs-hw"))]
    assert pytest_args[-5:] == ["-k", "fast", "--", "tests/a.py", "tests/b.py::t"]
    joined = ray_command(["tests"], run_id="run-y", db=tmp_path / "s.duckdb", rootdir=tmp_path, events="fd:7",
                         hardware=["cpu"], address="10.0.0.5:6379")
    assert joined[3:7] == ["run", "--ray=10.0.0.5:6379", "--hw", "cpu"] and "--shards" not in joined


@pytest.mark.parametrize(("executor", "hardware", "workers", "shards", "ray_installed", "words"), [
    ("local", ["cpu"], 2, None, False, None),
    ("local", ["cpu"], 0, 2, True, "shards: only a run with executor 'ray' is sharded"),
    ("ray", ["cpu"], 0, 2, False, "needs Ray on the service's machine, which is not installed: "
                                  "pip install 'pytest-ipfs-accel[ray]'"),
    ("ray", [], 0, None, True, "executor 'ray' needs explicit hardware"),
    ("ray", ["auto"], 0, None, True, "not auto/all: every node must collect the same test ids"),
    ("ray", ["cpu"], 2, None, True, "workers: a ray run is split into shards"),
    ("ray", ["cpu", "cuda"], 0, 4, True, None),
])
def test_executor_checks_say_what_to_fix(monkeypatch, executor, hardware, workers, shards, ray_installed, words):
    from fastapi import HTTPException

    from api_facade.web.routers import common

    real = common.importlib.util.find_spec

    def find_spec(name: str, *args):
        # whether Ray is importable decides the 422: the one lookup swapped here, either way
        if name == "ray":
            return (real(name, *args) or object()) if ray_installed else None
        return real(name, *args)

    monkeypatch.setattr(common.importlib.util, "find_spec", find_spec)
    if words is None:
        common.check_executor(executor, hardware, workers, shards)
        return
    with pytest.raises(HTTPException) as info:
        common.check_executor(executor, hardware, workers, shards)
    assert info.value.status_code == 422 and words in info.value.detail


def test_runs_do_not_inherit_the_api_token(monkeypatch):
    monkeypatch.setenv("IPFS_ACCEL_TOKEN", "secret")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-x")
    env = subprocess_env()
    assert "IPFS_ACCEL_TOKEN" not in env and "PYTEST_ADDOPTS" not in env


# ----------------------------------------------------------------- auth, misc


def test_tokens_are_masked_in_server_logs():
    record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:5", "/api/test/ws/run-1?since=3&token=s3cret"), None)
    RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "WebSocket /api/test/ws/run-1?since=3&token=***" [accepted]'


def test_token_comparison():
    assert token_matches("s3cret", "s3cret")
    assert not token_matches("s3cre", "s3cret")
    assert not token_matches(None, "s3cret")
    assert not token_matches("\udcff", "s3cret")  # undecodable input is refused, not an error


def test_origin_must_be_the_service_itself(tmp_path: Path):
    settings = Settings(db_path=tmp_path / "d.duckdb", suite_root=tmp_path, token="t",
                        allowed_origins=("https://dash.example",))
    assert origin_allowed(None, "127.0.0.1:8000", settings)
    assert origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000", settings)
    assert origin_allowed("https://dash.example", "127.0.0.1:8000", settings)
    assert not origin_allowed("http://127.0.0.1:8001", "127.0.0.1:8000", settings)
    assert not origin_allowed("http://evil.example", "127.0.0.1:8000", settings)
    assert not origin_allowed("null", "127.0.0.1:8000", settings)


def test_exit_statuses_map_to_the_vocabulary():
    assert status_for_exit(0) == ("passed", None)
    assert status_for_exit(1)[0] == "failed"
    assert status_for_exit(5) == ("error", "no tests were collected")
    assert status_for_exit(-9) == ("error", "pytest was killed by signal 9")


def test_progress_follows_final_results_not_phases():
    progress = Progress()
    for event in [
        {"$report_type": "CollectionFinished", "count": 3},
        {"$report_type": "TestStart", "nodeid": "t::a"},
        {"$report_type": "TestReport", "nodeid": "t::a", "when": "call", "outcome": "failed"},
        {"$report_type": "TestResult", "nodeid": "t::a", "outcome": "failed", "message": "boom",
         "hardware": "cpu", "model": "bert", "duration_s": 0.5},
        {"$report_type": "TestResult", "nodeid": "t::a", "outcome": "passed", "subtest": "i=1"},
        {"$report_type": "TestResult", "nodeid": "t::b", "outcome": "passed"},
        {"$report_type": "TestResult", "nodeid": 5, "outcome": "passed"},  # garbage is ignored
    ]:
        progress.observe(event)
    assert progress.collected == 3 and progress.done == 2
    assert progress.counts == {"failed": 1, "passed": 1}
    assert progress.tests[0] == {"nodeid": "t::a", "outcome": "failed", "duration_s": 0.5,
                                 "hardware": "cpu", "model": "bert", "message": "boom"}


def test_progress_drops_a_retried_ray_attempt():
    """A Ray run streams a failed attempt's results before its retry: the retried mark withdraws them."""
    progress = Progress()
    for event in [
        {"$report_type": "CollectionFinished", "count": 2},
        {"$report_type": "TestResult", "nodeid": "t::a", "outcome": "passed", "shard": 0, "attempt": 0},
        {"$report_type": "TestResult", "nodeid": "t::b", "outcome": "failed", "shard": 1, "attempt": 0},
        {"$report_type": "ShardResult", "shard": 0, "attempt": 0, "status": "lost", "retried": True},
        {"$report_type": "TestResult", "nodeid": "t::a", "outcome": "passed", "shard": 0, "attempt": 1},
        {"$report_type": "ShardResult", "shard": 0, "attempt": 1, "status": "passed", "retried": False},
    ]:
        progress.observe(event)
    assert progress.done == 2 and progress.counts == {"passed": 1, "failed": 1}
    assert [(r["nodeid"], r["outcome"]) for r in progress.rows()] == [("t::b", "failed"), ("t::a", "passed")]
    assert all(not key.startswith("_") for row in progress.rows() for key in row)


def test_job_record_round_trips():
    job = Job("run-1", "test", {"targets": ["tests"]}, hardware=["cpu"])
    job.status, job.counts = "passed", {"passed": 2}
    again = Job.from_row(job.to_row())
    assert (again.run_id, again.status, again.hardware, again.request) == ("run-1", "passed", ["cpu"], {"targets": ["tests"]})
    assert again.created_at == job.created_at.replace(microsecond=job.created_at.microsecond)


def test_slots_are_fifo_and_a_waiter_can_withdraw():
    async def scenario():
        slots = Slots(1)
        order = []
        assert await slots.acquire("a")

        async def wait(key):
            got = await slots.acquire(key)
            order.append((key, got))

        tasks = [asyncio.ensure_future(wait(k)) for k in ("b", "c", "d")]
        await asyncio.sleep(0)
        assert slots.position("c") == 2
        assert slots.withdraw("c")
        slots.release()
        await asyncio.sleep(0)
        slots.release()
        await asyncio.gather(*tasks)
        assert order == [("c", False), ("b", True), ("d", True)]

    asyncio.run(scenario())
