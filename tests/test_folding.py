"""Report folding without pytester: hand-made reports in, one final outcome and row out."""

from __future__ import annotations

import pytest

from pytest_ipfs_accel import folding, schema
from pytest_ipfs_accel.folding import Pending


def _report(when: str, outcome: str = "passed", longrepr=None, **attrs) -> pytest.TestReport:
    report = pytest.TestReport(
        nodeid="t.py::test_x", location=("t.py", 0, "test_x"), keywords={}, outcome=outcome,
        longrepr=longrepr, when=when, duration=0.5,
    )
    for name, value in attrs.items():
        setattr(report, name, value)
    return report


def _folded(*reports: pytest.TestReport) -> Pending:
    pending = Pending()
    for report in reports:
        folding.fold(report, pending)
    return pending


def test_the_fast_paths_column_orders_are_the_schemas() -> None:
    assert folding.RESULT_COLUMNS == schema.columns("test_results")
    assert folding.SAMPLE_COLUMNS == schema.columns("benchmark_samples")
    pending = Pending()
    pending.hardware, pending.model, pending.outcome, pending.when = "cpu", "bert", "failed", "call"
    pending.note("boom")
    as_tuple = folding.result_tuple("r1", "t.py::test_x", pending, 12.0)
    as_dict = {**folding.result_row("t.py::test_x", pending), "run_id": "r1", "finished_at": 12.0}
    assert as_tuple == tuple(as_dict.get(c) for c in schema.columns("test_results"))


def test_passing_phases_fold_to_passed_in_call() -> None:
    pending = _folded(_report("setup"), _report("call"), _report("teardown"))
    assert (pending.outcome, pending.when, pending.message()) == ("passed", "call", None)


def test_a_teardown_error_after_a_passing_call_is_an_error_in_teardown() -> None:
    pending = _folded(_report("setup"), _report("call"), _report("teardown", "failed", "RuntimeError: boom"))
    assert (pending.outcome, pending.when, pending.message()) == ("error", "teardown", "[teardown] RuntimeError: boom")


def test_a_failed_call_stays_failed_through_a_failing_teardown() -> None:
    pending = _folded(_report("call", "failed", "assert 1 == 2"), _report("teardown", "failed", "boom"))
    assert (pending.outcome, pending.when) == ("failed", "call")
    assert pending.message() == "assert 1 == 2\n[teardown] boom"


def test_skips_and_xfails() -> None:
    skipped = _folded(_report("setup", "skipped", ("t.py", 1, "Skipped: not today")))
    assert (skipped.outcome, skipped.when, skipped.message()) == ("skipped", "setup", "[setup] not today")
    xfailed = _folded(_report("call", "skipped", None, wasxfail="known bug"))
    assert (xfailed.outcome, xfailed.message()) == ("xfailed", "known bug")
    xpassed = _folded(_report("call", "passed", None, wasxfail="fixed?"))
    assert xpassed.outcome == "xpassed"


def test_a_lost_worker_and_an_unfinished_item() -> None:
    crashed = _folded(_report("???", "failed", "worker 'gw0' crashed while running 't.py::test_x'"))
    assert (crashed.outcome, crashed.when) == ("failed", "crash")
    assert "crashed" in crashed.message()
    unfinished = Pending()
    folding.interrupted(unfinished)
    assert (unfinished.outcome, unfinished.when) == ("error", "interrupted")


def test_messages_are_cut_to_the_limit() -> None:
    pending = _folded(_report("call", "failed", "x" * (folding.MESSAGE_LIMIT * 2)))
    assert len(pending.message()) == folding.MESSAGE_LIMIT


def test_a_benchmark_payload_becomes_its_row_and_samples() -> None:
    pending = Pending()
    pending.model = "bert"
    payload = {"hardware": "cpu", "rounds": 2, "samples": [0.1, 0.2], "extra_info": {"a": 1}}
    row, samples = folding.benchmark_row("t.py::test_b", pending, payload)
    assert row == {"hardware": "cpu", "rounds": 2, "extra_info": '{"a": 1}', "nodeid": "t.py::test_b",
                   "model": "bert"}
    assert folding.sample_tuples("r1", "t.py::test_b", samples) == [("r1", "t.py::test_b", 0, 0.1),
                                                                       ("r1", "t.py::test_b", 1, 0.2)]
    assert "samples" in payload  # the payload itself is left as it was


@pytest.mark.parametrize(("status", "expected"), [(0, "passed"), (1, "failed"), (2, "interrupted"), (5, "error")])
def test_run_status(status: int, expected: str) -> None:
    assert folding.run_status(status) == expected
