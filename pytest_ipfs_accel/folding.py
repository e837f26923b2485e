"""Folding an item's pytest reports (setup, call, teardown, subtests, crash) into result rows.

Pure functions over reports: no config, no I/O, so each rule is unit-tested
with hand-made ``pytest.TestReport`` objects.  The recorder calls them.
"""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

MESSAGE_LIMIT = 4000

#: the order of the tuples the recorder's fast path builds (:func:`result_tuple`); a test
#: checks it against ``schema.columns("test_results")``
RESULT_COLUMNS = (
    "run_id", "nodeid", "outcome", "when", "duration_s", "hardware", "model", "worker_id",
    "message", "subtest", "finished_at",
)
#: the order of :func:`sample_tuples`; checked against ``schema.columns("benchmark_samples")``
SAMPLE_COLUMNS = ("run_id", "nodeid", "round", "seconds")


class Pending:
    """What is known about one item until its final row is written.

    The defaults are class attributes, so creating one per item (ten thousand in a
    big suite) costs no ``__init__`` call and no list until a message arrives.
    """

    outcome: str = "passed"
    when: str | None = None
    duration_s: float = 0.0
    hardware: str | None = None
    model: str | None = None
    worker_id: str | None = None
    messages: list[str] | None = None

    def note(self, message: str) -> None:
        if self.messages is None:
            self.messages = []
        self.messages.append(message)

    def message(self) -> str | None:
        """The item's notes joined, cut to :data:`MESSAGE_LIMIT`; None when there are none."""
        messages = self.messages
        return ("\n".join(messages)[:MESSAGE_LIMIT] or None) if messages else None


def message_of(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The one thing a user wants to read about a non-passing report."""
    if hasattr(report, "wasxfail") and report.outcome != "failed":
        return report.wasxfail or "xfail"
    longrepr = report.longrepr
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, lineno, reason)
        reason = str(longrepr[2])
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    return text[:MESSAGE_LIMIT]


def props(report: pytest.TestReport) -> dict[str, Any]:
    """The report's ``user_properties`` as a dict (malformed entries ignored)."""
    return dict(p for p in report.user_properties if isinstance(p, tuple) and len(p) == 2)


def worker_id_of(report: pytest.TestReport) -> str | None:
    """The xdist worker (``gw0``, ...) a controller-side report came from, else None."""
    node = getattr(report, "node", None)
    gateway = getattr(node, "gateway", None)
    return getattr(gateway, "id", None)


def is_subtest(report: pytest.TestReport) -> bool:
    """Whether ``report`` is a subtest's (pytest's ``subtests`` make a report subclass)."""
    return type(report) is not pytest.TestReport and hasattr(report, "context")


def subtest_name(report: pytest.TestReport, from_worker: bool) -> str:
    """pytest's own description of a subtest: ``[msg] (key=value, ...)``."""
    context = report.context
    msg = getattr(context, "msg", None)
    kwargs = dict(getattr(context, "kwargs", None) or {})
    if from_worker:
        # xdist's round trip applies saferepr a second time ("'0'" for 0): undo that one
        for key, value in kwargs.items():
            try:
                inner = ast.literal_eval(value)
            except (ValueError, SyntaxError, TypeError):
                continue
            if isinstance(inner, str):
                kwargs[key] = inner
    parts = [f"[{msg}]"] if msg is not None else []
    if kwargs:
        parts.append("(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")")
    return " ".join(parts) or "(<subtest>)"


def fold(report: pytest.TestReport, pending: Pending) -> None:
    """Combine one phase's report into the item's final outcome (not its duration)."""
    when = report.when
    if when == "???":  # xdist lost the worker running it
        pending.outcome, pending.when = "failed", "crash"
        pending.note(message_of(report) or "worker crashed")
        return
    if report.passed and not (when == "call" and hasattr(report, "wasxfail")):
        if when == "call":
            pending.when = "call"
        return
    message = message_of(report)
    if message:
        pending.note(message if when == "call" else f"[{when}] {message}")
    if when == "call":
        pending.when = "call"
        if hasattr(report, "wasxfail"):
            pending.outcome = "xfailed" if report.skipped else "xpassed"
        else:
            pending.outcome = report.outcome
    elif report.failed:
        # an error in setup, or in teardown after a call that did not fail
        if pending.outcome != "failed":
            pending.outcome, pending.when = "error", when
    elif when == "setup":  # skipped in setup (skip marks, unusable hardware)
        pending.when = "setup"
        pending.outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"


def interrupted(pending: Pending) -> None:
    """An item whose reports stopped coming because the session ended."""
    if pending.when is None:
        pending.outcome, pending.when = "error", "interrupted"
        pending.note("the session ended before this test finished")


def result_row(nodeid: str, pending: Pending) -> dict[str, Any]:
    """An item's final ``test_results`` row as a dict (the path hooks and events see)."""
    return {
        "nodeid": nodeid,
        "outcome": pending.outcome,
        "when": pending.when,
        "duration_s": pending.duration_s,
        "hardware": pending.hardware,
        "model": pending.model,
        "worker_id": pending.worker_id,
        "message": pending.message(),
    }


def result_tuple(run_id: str, nodeid: str, pending: Pending, finished_at: float) -> tuple:
    """The same row as a tuple in :data:`RESULT_COLUMNS` order (the fast path, no dict)."""
    return (
        run_id, nodeid, pending.outcome, pending.when, pending.duration_s,
        pending.hardware, pending.model, pending.worker_id, pending.message(), None, finished_at,
    )


def subtest_row(report: pytest.TestReport, pending: Pending) -> dict[str, Any]:
    """A subtest's own ``test_results`` row (its item's hardware, model and worker)."""
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    else:
        outcome = report.outcome
    return {
        "nodeid": report.nodeid,
        "outcome": outcome,
        "when": "call",
        "duration_s": report.duration,
        "hardware": pending.hardware,
        "model": pending.model,
        "worker_id": pending.worker_id,
        "message": message_of(report) if outcome != "passed" else None,
        "subtest": subtest_name(report, pending.worker_id is not None),
    }


def collect_error_row(report: pytest.CollectReport) -> dict[str, Any]:
    """The ``test_results`` row of a collector that failed."""
    return {
        "nodeid": report.nodeid,
        "outcome": "error",
        "when": "collect",
        "duration_s": getattr(report, "duration", None),
        "message": message_of(report),
    }


def benchmark_row(nodeid: str, pending: Pending, bench: dict[str, Any]) -> tuple[dict[str, Any], list[float]]:
    """A benchmark payload as its ``benchmark_results`` row and its raw samples.

    A benchmark in a test without ``ipfs_hw`` still knows where it ran (its payload's
    ``hardware``); ``extra_info`` is stored as JSON text.
    """
    payload = dict(bench)
    samples = payload.pop("samples", None) or []
    extra = payload.get("extra_info")
    if extra is not None and not isinstance(extra, str):
        payload["extra_info"] = json.dumps(extra, default=str)
    row = {**payload, "nodeid": nodeid, "hardware": pending.hardware or bench.get("hardware"),
           "model": pending.model}
    return row, samples


def sample_tuples(run_id: str, nodeid: str, samples: list[float]) -> list[tuple]:
    """``benchmark_samples`` rows in :data:`SAMPLE_COLUMNS` order, one per round."""
    return [(run_id, nodeid, index, seconds) for index, seconds in enumerate(samples)]


def run_status(exitstatus: int) -> str:
    """The ``runs.status`` of a session that ended with ``exitstatus``."""
    if exitstatus == pytest.ExitCode.OK:
        return "passed"
    if exitstatus == pytest.ExitCode.TESTS_FAILED:
        return "failed"
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    return "error"
