"""The controller's view of a session's benchmarks: summary table, JSON file, regression gate.

Registered only where the session's output is owned (never on an xdist
worker).  The recorder announces each benchmark payload it folds from a call
report with the ``pytest_ipfs_accel_benchmark_result`` hook, which
:class:`BenchSession` implements, so ``-n 0`` and ``-n N`` take the same path
and the reports are read in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_ipfs_accel.keys import get_run_id, get_store, selected_fingerprints

if TYPE_CHECKING:
    from pytest_ipfs_accel.bench.compare import GateOutcome
    from pytest_ipfs_accel.bench.options import BenchOptions

#: the session's parsed benchmark options, once parsed (``options_of``)
OPTIONS_KEY = pytest.StashKey["BenchOptions"]()


def options_of(config: pytest.Config) -> BenchOptions:
    """The session's benchmark options, parsed at the first ask.  The bench plugin's configure
    parses them at once when one is given (a bad value stops the session there); a session
    that gives none and runs no benchmark never builds them (docs/store.md)."""
    options = config.stash.get(OPTIONS_KEY, None)
    if options is None:
        from pytest_ipfs_accel.bench.options import parse_options

        options = config.stash[OPTIONS_KEY] = parse_options(config)
    return options

# compare, pbjson, summary, metadata and the store are imported by the methods that use
# them: every session registers this class, few have benchmarks, a JSON file or a gate
# (about 6 ms of imports saved at each start; docs/store.md "What a session costs")


class BenchSession:
    """The session's benchmark results and what is done with them at its end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: list[dict[str, Any]] = []
        self.gate: GateOutcome | None = None
        self.json_error: str | None = None

    @property
    def options(self) -> BenchOptions:
        return options_of(self.config)

    def pytest_ipfs_accel_benchmark_result(self, result: dict[str, Any]) -> None:
        """One benchmark case of this session (its payload with nodeid, model and hardware),
        announced by the recorder, the one reader of the call reports."""
        self.results.append(result)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # trylast: the recorder has flushed this run's rows (its sessionfinish is tryfirst)
        if OPTIONS_KEY not in self.config.stash:
            return  # no option given and no benchmark: no JSON file, no gate
        if self.options.json_path is not None:
            self._write_json()
        if self.options.compare_base is not None:
            self.gate = self._run_gate()
            if self.gate.error is not None and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.USAGE_ERROR
            elif self.gate.regressions and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
                self._mark_run_failed()

    # ------------------------------------------------------------------ JSON

    def _write_json(self) -> None:
        from pytest_ipfs_accel import metadata
        from pytest_ipfs_accel.bench import pbjson

        try:
            fingerprints = selected_fingerprints(self.config)
        except Exception as exc:  # a broken detector must not lose the JSON
            fingerprints = {"error": f"{type(exc).__name__}: {exc}"}
        git = metadata.git_info(self.config.rootpath)
        entries = [
            pbjson.benchmark_entry(
                {**r, "group": f"{r.get('model') or '-'} @ {r.get('hardware') or '-'}"},
                r.get("samples") or (),
            )
            for r in sorted(self.results, key=lambda r: r["nodeid"])
        ]
        doc = pbjson.document(
            entries,
            machine=pbjson.machine_info(fingerprints),
            commit=pbjson.commit_info(git["git_commit"], git["git_branch"], git["git_dirty"],
                                      self.config.rootpath.name),
        )
        doc["machine_info"].setdefault("ipfs_accel", {})["run_id"] = get_run_id(self.config)
        try:
            pbjson.write(doc, self.options.json_path)
        except OSError as exc:
            self.json_error = f"cannot write {self.options.json_path}: {exc.strerror or exc}"

    # ------------------------------------------------------------------ gate

    def _run_gate(self) -> GateOutcome:
        from pytest_ipfs_accel.bench import compare
        from pytest_ipfs_accel.store import StoreError

        ref = self.options.compare_base
        run_id = get_run_id(self.config)
        con = get_store(self.config)
        if con is None:
            return compare.GateOutcome(ref, run_id, error="the results database is not available, so there is no baseline")
        try:
            base_ids = compare.resolve_baseline(con, ref, exclude=run_id)
        except StoreError as exc:
            return compare.GateOutcome(ref, run_id, error=str(exc))
        if not base_ids:
            return compare.GateOutcome(ref, run_id, note=f"no earlier run with benchmarks to compare with ({ref}); nothing gated")
        base_cases = compare.load_baseline(con, base_ids)
        head_cases = {
            r["nodeid"]: compare.CaseData.from_row(r, r.get("samples") or ()) for r in self.results
        }
        comparisons = compare.compare_cases(
            base_cases, head_cases,
            threshold_pct=self.options.compare_fail_pct, alpha=self.options.compare_alpha,
            statistic=self.options.compare_statistic,
        )
        return compare.GateOutcome(compare.baseline_label(ref, base_ids), run_id, comparisons=comparisons)

    def _mark_run_failed(self) -> None:
        """The runs row was written before the gate decided; make it tell the truth."""
        con = get_store(self.config)
        if con is None:
            return
        try:
            con.execute(
                "UPDATE runs SET status = 'failed', exit_status = ? WHERE run_id = ?",
                [int(pytest.ExitCode.TESTS_FAILED), get_run_id(self.config)],
            )
        except Exception:  # the gate's verdict stands even if the row cannot be amended
            pass

    # ------------------------------------------------------------------ terminal

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        if self.results:
            from pytest_ipfs_accel.bench.summary import session_summary

            tr.section("ipfs-accel benchmarks", sep="-", bold=True)
            for line in session_summary(self.results):
                tr.write_line(line)
            timers = sorted({r.get("timer") or "?" for r in self.results})
            tr.write_line(f"time per call; timers: {', '.join(timers)}")
        if OPTIONS_KEY not in self.config.stash:
            return  # no option given: no JSON file, no gate
        if self.options.json_path is not None:
            if self.json_error:
                tr.write_line(f"ipfs-accel: benchmark JSON NOT written: {self.json_error}", red=True)
            else:
                tr.write_line(f"benchmark JSON (pytest-benchmark format): {self.options.json_path}")
        if self.gate is not None:
            self._print_gate(tr)

    def _print_gate(self, tr: Any) -> None:
        gate = self.gate
        assert gate is not None
        tr.section("ipfs-accel benchmark comparison", sep="-", bold=True)
        if gate.error:
            tr.write_line(f"--ipfs-compare={self.options.compare_base}: {gate.error}", red=True)
            return
        if gate.note:
            tr.write_line(f"--ipfs-compare: {gate.note}", yellow=True)
            return
        from pytest_ipfs_accel.bench import compare

        text = compare.render(
            gate.comparisons, "table", base=str(gate.base), head=str(gate.head),
            threshold_pct=self.options.compare_fail_pct, alpha=self.options.compare_alpha,
        )
        for line in text.splitlines():
            tr.write_line(line)
        count = len(gate.regressions)
        if count:
            tr.write_line(
                f"FAILED: {count} significant benchmark regression(s) beyond "
                f"{self.options.compare_fail_pct:g}% against run {gate.base}",
                red=True, bold=True,
            )
        else:
            tr.write_line(f"no significant regression beyond {self.options.compare_fail_pct:g}% against run {gate.base}", green=True)
