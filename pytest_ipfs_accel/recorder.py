"""The recorder: turns a session's reports into result rows for the spool and the event stream.

It runs where the session's output is owned: the only process under
pytest-xdist that sees every report (the controller), or the single process
without it.  Each item's reports are folded (:mod:`pytest_ipfs_accel.folding`)
into one final ``test_results`` row when the item finishes; subtests get rows
of their own.  Rows go to the session's spool (:mod:`pytest_ipfs_accel.spool`),
which a flusher thread writes out within :data:`FLUSH_INTERVAL_S`; the spool is
merged into the DuckDB store by whoever comes next (:mod:`pytest_ipfs_accel.merge`),
never by this process while tests run.  Benchmark payloads are announced with
the ``pytest_ipfs_accel_benchmark_result`` hook.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_ipfs_accel import folding, metadata, spool
from pytest_ipfs_accel.folding import Pending
from pytest_ipfs_accel.keys import get_registry, get_selection
from pytest_ipfs_accel.options import PROP_BENCH, PROP_HARDWARE, PROP_MODEL, option_value
from pytest_ipfs_accel.spool import FLUSH_INTERVAL_S, Spool, SpoolError

if TYPE_CHECKING:
    from pytest_ipfs_accel.events import EventWriter

__all__ = ["FLUSH_INTERVAL_S", "Recorder"]
_TestReport = pytest.TestReport


class Recorder:
    """Folds reports into rows and hands them to the spool, the row hook and the event stream."""

    def __init__(self, config: pytest.Config, *, db_path: Path | None, events_target: str | None) -> None:
        self.config = config
        self.run_id: str = option_value(config, "ipfs_run_id") or metadata.new_run_id()
        self.db_path = db_path
        self.store_error: str | None = None
        self._pending: dict[str, Pending] = {}
        self._results: list[tuple] = []  # the spool's test_results list, once it exists
        self._spool: Spool | None = None
        self._finished = False
        self._con = None  # an in-process connection after the session (the benchmark gate)
        self._hardware_used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._collected: int | None = None
        self._run_row: dict[str, Any] = {}
        self._no_terminal = False  # set at session start, once plugins are all registered
        self._from_workers = False
        self.events: EventWriter | None = None
        if events_target:
            from pytest_ipfs_accel.events import EventWriter  # only with --ipfs-events

            self.events = EventWriter.open(events_target, config)
            config.pluginmanager.register(self.events, "ipfs_accel.events")
        self._row_hook = None
        self._plain_rows = self.events is None

    # ----------------------------------------------------------------- store

    def store_connection(self) -> Any:
        """A connection to the store holding this run, after the final flush; else None.

        Merges the pending spools (this session's among them) in this process first;
        the connection is held until the session's cleanup (``close_store``).
        """
        if self.db_path is None or not self._finished or self.store_error is not None:
            return None
        if self._con is None:
            # the benchmark gate only: a session that records no gate never imports the
            # merging code and the store module (docs/store.md, "What a session costs")
            from pytest_ipfs_accel import merge, store

            try:
                self._con = store.open_store(self.db_path)
                merge.merge_spools(self._con, self.db_path)
            except store.StoreError as exc:
                self._disable_store(exc)
                return None
        return self._con

    def _disable_store(self, exc: BaseException | str) -> None:
        """Report once, as one warning line; the session goes on without the store."""
        if self.store_error is None:
            self.store_error = str(exc)
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                if reporter._tw.width_of_current_line:  # mid-way through a line of progress dots
                    reporter._tw.line()
                reporter.write_line(f"ipfs-accel: WARNING: results are not recorded: {exc}", yellow=True, bold=True)
        own, self._spool = self._spool, None
        if own is not None:
            own.close()

    # ----------------------------------------------------------------- session

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        config = self.config
        self._no_terminal = config.pluginmanager.get_plugin("terminalreporter") is None
        # the xdist controller: reports come from workers and name the worker they ran on
        self._from_workers = config.pluginmanager.get_plugin("dsession") is not None
        self._run_row = {
            "run_id": self.run_id,
            "started_at": time.time(),
            "status": "running",
            "hw_requested": get_selection(config).spec,
            "xdist_workers": _xdist_workers(config),
        }
        self._find_row_hook()  # adds the run's metadata when a row hook must see it
        if self.events is not None:
            self._add_metadata()
        if self.db_path is not None:
            # no DuckDB here: rows go to a spool file, merged into the store by whoever comes
            # next; the run's metadata (git, versions: a git process and dist-info reads) is
            # looked up by the merger unless the events or a row hook needed it already
            given_id = option_value(config, "ipfs_run_id") is not None
            meta = None if "host" in self._run_row else (str(config.rootpath), metadata.command_line())
            try:
                self._spool = Spool(self.db_path, dict(self._run_row), replace=given_id, meta=meta)
            except SpoolError as exc:
                self._disable_store(exc)
            else:
                self._results = self._spool.tables["test_results"]
        if self.events is not None:
            self.events.session_start(self.run_id, self._run_row)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._set_collected(len(session.items))
        self._find_row_hook()  # conftests found during collection may implement it

    def _find_row_hook(self) -> None:
        # calling a hook nobody implements still costs a pluggy call per row
        hook = self.config.hook.pytest_ipfs_accel_record_row
        self._row_hook = hook if hook.get_hookimpls() else None
        if self._row_hook is not None:
            self._add_metadata()  # the hook sees the whole runs row
        # final rows of plain items go straight into the spool as tuples unless
        # someone must see them as dicts first
        self._plain_rows = self._row_hook is None and self.events is None

    def _add_metadata(self) -> None:
        """The run's static columns, found in this process (for the event stream and the row hook)."""
        if self._run_row and "host" not in self._run_row:
            self._run_row.update(metadata.run_metadata(self.config.rootpath, metadata.command_line()))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self._collected is None:
            self._set_collected(len(ids))

    def _set_collected(self, count: int) -> None:
        self._collected = count
        if self.events is not None:
            self.events.emit({"$report_type": "CollectionFinished", "count": count})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.events is not None:
            self.events.report(report)
        if report.failed:
            self._add_row("test_results", folding.collect_error_row(report))

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # trylast: the terminal reporter has asked pytest_report_teststatus by now, which
        # is where pytest turns a passing test with failed subtests into a failure
        if self.events is not None:
            self.events.report(report)
        nodeid = report.nodeid
        when = report.when
        pending = self._pending.get(nodeid)
        if pending is None:
            pending = self._pending[nodeid] = Pending()
            if report.user_properties:
                props = folding.props(report)
                pending.hardware = props.get(PROP_HARDWARE)
                pending.model = props.get(PROP_MODEL)
            if self._from_workers:
                pending.worker_id = folding.worker_id_of(report)
        if report.outcome == "passed" and when != "???":
            # the common cases, kept cheap (this runs three times per test): a passing
            # setup, call or teardown
            if when == "teardown":
                pending.duration_s += report.duration or 0.0
                del self._pending[nodeid]
                self._finish(nodeid, pending)
                return
            if (
                type(report) is _TestReport
                and not report.user_properties
                and "wasxfail" not in report.__dict__  # hasattr would raise and catch an AttributeError
                and not (when == "call" and self._no_terminal)  # teststatus may still fail it
            ):
                pending.duration_s += report.duration or 0.0
                if when == "call":
                    pending.when = "call"
                return
        if when == "call":
            if self._no_terminal:
                self.config.hook.pytest_report_teststatus(report=report, config=self.config)
            if folding.is_subtest(report):
                self._add_row("test_results", folding.subtest_row(report, pending))
                return
            if report.user_properties:
                bench = folding.props(report).get(PROP_BENCH)
                if bench is not None:
                    self._benchmark(nodeid, pending, bench)
        pending.duration_s += report.duration or 0.0
        folding.fold(report, pending)
        if when == "teardown" or when == "???":  # "???": xdist lost the worker running it
            del self._pending[nodeid]
            self._finish(nodeid, pending)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        unfinished, self._pending = self._pending, {}
        for nodeid, pending in unfinished.items():
            folding.interrupted(pending)
            self._finish(nodeid, pending)
        status = int(exitstatus)
        self._run_row.update(
            finished_at=time.time(),
            exit_status=status,
            status=folding.run_status(status),
            hardware=json.dumps(self._fingerprints()),
            tests_collected=self._collected,
        )
        if self._row_hook is not None:
            self._row_hook(table="runs", row=self._run_row, config=self.config)
        self._finished = True
        if self._spool is not None:
            self._spool.finish(dict(self._run_row))
            if self._spool.error is not None:
                self._disable_store(self._spool.error)
            self._spool = None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        write = terminalreporter.write_line
        terminalreporter.section("ipfs-accel", sep="-", blue=True, bold=True)
        if self._hardware_used:
            parts = []
            for name, outcomes in sorted(self._hardware_used.items()):
                detail = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
                parts.append(f"{name} ({detail})")
            write("hardware: " + "; ".join(parts))
            for name in sorted(self._hardware_used):
                hw = get_registry(self.config).detect(name)
                if not hw.usable:
                    write(f"  {name} skipped: {hw.reason}")
        else:
            write(f"hardware: no test used ipfs_hw (--ipfs-hw={get_selection(self.config).spec})")
        if self.db_path is None:
            write(f"results: not recorded (--ipfs-no-db); run id {self.run_id}")
        elif self.store_error is not None:
            write(f"results: NOT recorded ({self.store_error})", red=True)
        else:
            write(f"results: run {self.run_id} -> {self.db_path}")
        if self.events is not None:
            write(f"events: {self.events.target}")

    def close(self) -> None:
        """At unconfigure: close the event stream.  The store is closed later (``close_store``)."""
        if self.events is not None:
            self.config.pluginmanager.unregister(self.events)
            self.events.close()
            self.events = None

    def close_store(self) -> None:
        """At the session's cleanup: start the detached merger, and close what is open.

        The spool is complete by the end of ``pytest_sessionfinish``; merging it into
        the store is left to a merger process that pytest does not wait for (and to
        every reader, which merges first).  A spool still open here (the session
        never finished) is closed without its end frame: it merges as interrupted.
        """
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._con is not None:
            self._con.close()
            self._con = None
        if self.db_path is not None and self.store_error is None and spool.pending(spool.spool_dir(self.db_path)):
            spool.spawn_merger(self.db_path)

    # ----------------------------------------------------------------- rows

    def _finish(self, nodeid: str, pending: Pending) -> None:
        """The item's final row (its reports are all in, or there will be no more)."""
        if pending.hardware is not None:
            self._hardware_used[pending.hardware][pending.outcome] += 1
        if not self._plain_rows:
            self._add_row("test_results", folding.result_row(nodeid, pending))
        elif self._spool is not None:
            # the common row kept cheap: a tuple, no dict; the flusher writes it within FLUSH_INTERVAL_S
            self._results.append(folding.result_tuple(self.run_id, nodeid, pending, time.time()))

    def _benchmark(self, nodeid: str, pending: Pending, bench: dict[str, Any]) -> None:
        row, samples = folding.benchmark_row(nodeid, pending, bench)
        # the benchmark session (summary, --ipfs-bench-json, --ipfs-compare) and any plugin
        self.config.hook.pytest_ipfs_accel_benchmark_result(
            result={**bench, "nodeid": nodeid, "model": pending.model, "hardware": row["hardware"]},
            config=self.config,
        )
        self._add_row("benchmark_results", row)
        if self._plain_rows:
            if self._spool is not None:
                self._spool.tables["benchmark_samples"].extend(folding.sample_tuples(self.run_id, nodeid, samples))
        else:
            for index, seconds in enumerate(samples):
                self._add_row("benchmark_samples", {"nodeid": nodeid, "round": index, "seconds": seconds})
        if self.events is not None:
            self.events.emit({"$report_type": "BenchmarkResult", **{k: v for k, v in row.items() if k != "run_id"}})

    def _add_row(self, table: str, row: dict[str, Any]) -> None:
        row["run_id"] = self.run_id
        if table == "test_results":
            row["finished_at"] = time.time()
            if self.events is not None:
                self.events.emit({"$report_type": "TestResult", **row})
        if self._row_hook is not None:
            self._row_hook(table=table, row=row, config=self.config)
        if self._spool is not None:
            self._spool.add_row(table, row)

    def _fingerprints(self) -> dict[str, Any]:
        registry = get_registry(self.config)
        return {name: registry.detect(name).fingerprint() for name in sorted(self._hardware_used)}


def _xdist_workers(config: pytest.Config) -> int:
    if getattr(config.option, "dist", "no") == "no":
        return 0
    n = getattr(config.option, "numprocesses", None)
    return n if isinstance(n, int) else 0
