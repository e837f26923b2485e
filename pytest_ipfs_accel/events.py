"""The run's event stream: pytest-reportlog compatible JSON lines, plus our own types.

Written by the process that owns the session's output (never an xdist worker),
one object per line, flushed per line so a reader (the facade) sees each event
as it happens.  Every line carries ``ipfs_ts`` (wall-clock seconds) so readers
can measure delivery latency.  Our own ``$report_type`` values: ``RunInfo``,
``CollectionFinished``, ``TestStart``, ``TestResult`` (the recorder's final row
for an item or subtest), ``BenchmarkResult`` (statistics, no raw samples).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from typing import IO, Any

import pytest


def open_target(target: str) -> IO[str]:
    """Open an event stream target, ``PATH`` (truncated) or ``fd:N`` (an inherited descriptor),
    line-buffered; ValueError with a one-line message saying what to fix."""
    if target.startswith("fd:"):
        try:
            return os.fdopen(int(target[3:]), "w", buffering=1, encoding="utf-8", closefd=True)
        except (ValueError, OSError) as exc:
            raise ValueError(f"--ipfs-events={target}: expected fd:N with N an open file descriptor ({exc})") from None
    try:
        path = os.path.abspath(os.path.expanduser(target))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return open(path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise ValueError(f"--ipfs-events={target}: cannot write there: {exc.strerror}") from None


class EventWriter:
    def __init__(self, stream: IO[str], target: str, config: pytest.Config) -> None:
        self._stream = stream
        self.target = target
        self._config = config

    @classmethod
    def open(cls, target: str, config: pytest.Config) -> EventWriter:
        """Open ``PATH`` (truncated) or ``fd:N`` (an inherited descriptor) for writing."""
        try:
            stream = open_target(target)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        return cls(stream, target, config)

    def emit(self, event: dict[str, Any]) -> None:
        event["ipfs_ts"] = time.time()
        try:
            self._stream.write(json.dumps(event, default=str) + "\n")
        except (OSError, ValueError):
            # the reader went away (a closed pipe): the test session is worth more than its events
            self._stream = Discard()

    def session_start(self, run_id: str, run_row: dict[str, Any]) -> None:
        self.emit({"$report_type": "SessionStart", "pytest_version": pytest.__version__})
        info = {k: run_row.get(k) for k in ("run_id", "hw_requested", "git_commit", "host", "xdist_workers")}
        self.emit({"$report_type": "RunInfo", **info})

    def report(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        data = self._config.hook.pytest_report_to_serializable(config=self._config, report=report)
        if not data:
            return
        # raw benchmark samples travel in BenchmarkResult rows, not in every report line
        props = data.get("user_properties")
        if props:
            data["user_properties"] = [p for p in props if p[0] != "ipfs_accel.bench"]
        node = getattr(report, "node", None)
        gateway = getattr(node, "gateway", None)
        if gateway is not None:
            data["worker_id"] = gateway.id
        self.emit(data)

    # hooks (registered as a plugin while the stream is open)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple) -> None:
        self.emit({"$report_type": "TestStart", "nodeid": nodeid, "location": list(location)})

    def pytest_warning_recorded(
        self, warning_message: warnings.WarningMessage, when: str, nodeid: str, location: Any
    ) -> None:
        self.emit(
            {
                "$report_type": "WarningMessage",
                "category": warning_message.category.__name__,
                "message": str(warning_message.message),
                "filename": warning_message.filename,
                "lineno": warning_message.lineno,
                "when": when,
                "nodeid": nodeid,
                "location": location,
            }
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Any:
        # around every other implementation: the benchmark gate may still fail the session
        result = yield
        self.emit({"$report_type": "SessionFinish", "exitstatus": int(session.exitstatus)})
        return result

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError:
            pass


class Discard:
    """Where events go once their reader has gone: nowhere (the run goes on)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
