"""What the plugin records in DuckDB: every outcome, subtests, xdist, crashes, bad paths."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_ipfs_accel import merge, store

# imported here, once: the cpu detector imports torch inside the in-process pytester runs,
# which drop the modules they imported afterwards, and torch cannot be imported twice into
# one process (alone, this file's later runs would find the cpu backend unusable)
pytest.importorskip("torch")

MIXED_SUITE = """
import os
import unittest

import pytest


def test_pass(ipfs_hw):
    assert ipfs_hw.name == "cpu"


def test_skip():
    pytest.skip("not today")


@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert 0


@pytest.mark.xfail(reason="fixed already?")
def test_xpass():
    pass


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown boom")


def test_teardown_error(broken_teardown):
    pass


@pytest.fixture
def broken_setup():
    raise RuntimeError("setup boom")


def test_setup_error(broken_setup):
    pass


def test_fail():
    assert 1 == 2


@pytest.mark.parametrize("bad", [1, 5])
def test_subtests(subtests, bad):
    for i in range(3):
        with subtests.test(msg="step", i=i):
            assert i != bad


class TestCaseStyle(unittest.TestCase):
    def test_subtest(self):
        for i in range(2):
            with self.subTest(i=i):
                self.assertEqual(i, 0)

    def test_plain(self):
        self.assertTrue(True)


class TestGrouped:
    @pytest.mark.ipfs_model("bert")
    def test_model(self, ipfs_hw):
        pass
"""

EXPECTED_ITEMS = {
    "test_mixed.py::test_pass[cpu]": ("passed", "call", "cpu"),
    "test_mixed.py::test_skip": ("skipped", "call", None),
    "test_mixed.py::test_xfail": ("xfailed", "call", None),
    "test_mixed.py::test_xpass": ("xpassed", "call", None),
    "test_mixed.py::test_teardown_error": ("error", "teardown", None),
    "test_mixed.py::test_setup_error": ("error", "setup", None),
    "test_mixed.py::test_fail": ("failed", "call", None),
    "test_mixed.py::test_subtests[1]": ("failed", "call", None),
    "test_mixed.py::test_subtests[5]": ("passed", "call", None),
    "test_mixed.py::TestCaseStyle::test_subtest": ("passed", "call", None),  # pytest's verdict
    "test_mixed.py::TestCaseStyle::test_plain": ("passed", "call", None),
    "test_mixed.py::TestGrouped::test_model[cpu]": ("passed", "call", "cpu"),
}


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """In-process (torch is imported once) unless xdist is asked for."""
    args = ("-p", "no:cacheprovider", "--ipfs-hw=cpu", *args)
    if "-n" in args and args[args.index("-n") + 1] != "0":
        return pytester.runpytest_subprocess(*args, timeout=180)
    return pytester.runpytest(*args)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_every_outcome_is_recorded_once_per_item(pytester: pytest.Pytester, workers: str, db_rows) -> None:
    pytester.makepyfile(test_mixed=MIXED_SUITE)
    db = pytester.path / "results.duckdb"
    result = _run(pytester, "-n", workers, f"--ipfs-db={db}", "--ipfs-run-id=mixed")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    items = db_rows(db, "SELECT * FROM test_results WHERE subtest IS NULL")
    assert {r["nodeid"]: (r["outcome"], r["when"], r["hardware"]) for r in items} == EXPECTED_ITEMS
    assert len(items) == len(EXPECTED_ITEMS)  # one final row per item
    by_id = {r["nodeid"]: r for r in items}
    assert by_id["test_mixed.py::TestGrouped::test_model[cpu]"]["model"] == "bert"
    assert "teardown boom" in by_id["test_mixed.py::test_teardown_error"]["message"]
    assert "setup boom" in by_id["test_mixed.py::test_setup_error"]["message"]
    assert by_id["test_mixed.py::test_skip"]["message"] == "not today"
    assert by_id["test_mixed.py::test_xfail"]["message"] == "known bug"
    assert all(r["run_id"] == "mixed" for r in items)
    if workers == "2":
        assert {r["worker_id"] for r in items} <= {"gw0", "gw1"}
        assert all(r["worker_id"] for r in items)

    subtests = db_rows(db, "SELECT nodeid, subtest, outcome FROM test_results WHERE subtest IS NOT NULL ORDER BY ALL")
    assert [(r["nodeid"].split("::", 1)[1], r["subtest"], r["outcome"]) for r in subtests] == [
        ("TestCaseStyle::test_subtest", "(i=0)", "passed"),
        ("TestCaseStyle::test_subtest", "(i=1)", "failed"),
        ("test_subtests[1]", "[step] (i=0)", "passed"),
        ("test_subtests[1]", "[step] (i=1)", "failed"),
        ("test_subtests[1]", "[step] (i=2)", "passed"),
        ("test_subtests[5]", "[step] (i=0)", "passed"),
        ("test_subtests[5]", "[step] (i=1)", "passed"),
        ("test_subtests[5]", "[step] (i=2)", "passed"),
    ]
    # pytest's own summary agrees: failed = failed items + failed subtests
    assert "4 failed" in result.stdout.lines[-1]

    (run,) = db_rows(db, "SELECT * FROM runs")
    assert run["status"] == "failed" and run["exit_status"] == 1
    assert run["hw_requested"] == "cpu" and run["tests_collected"] == len(EXPECTED_ITEMS)
    assert run["xdist_workers"] == int(workers)
    assert run["python"] and run["pytest_version"] and run["torch_version"] and run["host"]
    fingerprints = json.loads(run["hardware"])
    assert fingerprints["cpu"]["usable"] and fingerprints["cpu"]["devices"]
    assert run["finished_at"] >= run["started_at"]


def test_the_dict_path_writes_the_same_rows_as_the_tuple_path(pytester: pytest.Pytester, db_rows) -> None:
    # without --ipfs-events or a row hook, final rows go to the spool as tuples built in
    # folding.RESULT_COLUMNS order; with events they go as dicts through the schema's columns
    bench = "\n\ndef test_bench(ipfs_bench):\n    ipfs_bench(len, 'abc')\n"
    pytester.makepyfile(test_mixed=MIXED_SUITE + bench)
    tables = {}
    for path, extra in (("tuples", ()), ("dicts", (f"--ipfs-events={pytester.path / 'events.jsonl'}",))):
        db = pytester.path / f"{path}.duckdb"
        result = _run(pytester, f"--ipfs-db={db}", "--ipfs-bench-max-time=0.01", *extra)
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        rows = db_rows(db, "SELECT * EXCLUDE (run_id, duration_s, finished_at) FROM test_results ORDER BY ALL")
        benches = db_rows(db, "SELECT b.nodeid, b.hardware, b.rounds, count(*) AS samples "
                              "FROM benchmark_results b JOIN benchmark_samples s USING (run_id, nodeid) "
                              "GROUP BY ALL")
        tables[path] = rows, benches
    assert (pytester.path / "events.jsonl").stat().st_size > 0
    assert len(tables["tuples"][0]) == len(EXPECTED_ITEMS) + 1 + 8  # items, the benchmark, subtests
    assert tables["dicts"][0] == tables["tuples"][0]
    for path in ("tuples", "dicts"):
        ((bench_row),) = tables[path][1]
        assert bench_row["nodeid"] == "test_mixed.py::test_bench" and bench_row["hardware"] == "cpu"
        assert bench_row["samples"] == bench_row["rounds"] >= 5


def test_run_metadata_has_git_state(pytester: pytest.Pytester, db_rows) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", "-b", "feature"], cwd=pytester.path, check=True)
    subprocess.run([*git, "add", "."], cwd=pytester.path, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=pytester.path, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=pytester.path, capture_output=True, text=True).stdout.strip()
    (pytester.path / "test_one.py").write_text("def test_one():\n    assert True\n")
    db = pytester.path / "r.duckdb"
    assert _run(pytester, f"--ipfs-db={db}").ret == 0
    (run,) = db_rows(db, "SELECT git_commit, git_branch, git_dirty FROM runs")
    assert run == {"git_commit": commit, "git_branch": "feature", "git_dirty": True}


def test_a_crashing_xdist_worker_loses_only_its_test(pytester: pytest.Pytester, db_rows) -> None:
    pytester.makepyfile(
        test_crash="""
        import os
        import pytest

        @pytest.mark.parametrize("i", range(6))
        def test_ok(i):
            pass

        def test_dies(ipfs_hw):
            os._exit(3)
        """
    )
    db = pytester.path / "r.duckdb"
    result = _run(pytester, "-n", "2", f"--ipfs-db={db}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    rows = {r["nodeid"]: r for r in db_rows(db, "SELECT * FROM test_results")}
    assert len(rows) == 7
    dead = rows["test_crash.py::test_dies[cpu]"]
    assert dead["outcome"] == "failed" and dead["when"] == "crash"
    assert "crashed" in dead["message"] and dead["hardware"] == "cpu"
    assert sum(r["outcome"] == "passed" for r in rows.values()) == 6


@pytest.mark.parametrize("problem", ["not-duckdb", "unwritable"])
def test_a_bad_db_path_warns_once_and_the_session_runs(pytester: pytest.Pytester, problem: str) -> None:
    pytester.makepyfile(test_two="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    db = pytester.path / "r.duckdb"
    if problem == "not-duckdb":
        db.write_text("these are not the bytes you are looking for\n" * 100)
    else:
        (pytester.path / "a-file").write_text("")
        db = pytester.path / "a-file" / "r.duckdb"
    result = _run(pytester, f"--ipfs-db={db}")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=2)
    warnings = [line for line in result.stdout.lines if "WARNING: results are not recorded" in line]
    assert len(warnings) == 1, result.stdout.str()
    expected = {"not-duckdb": "is not a DuckDB database", "unwritable": "cannot"}
    assert expected[problem] in warnings[0]
    if problem == "not-duckdb":  # what was there is left alone
        assert db.read_text().startswith("these are not the bytes")


def test_no_db_records_nothing_and_run_id_is_honoured(pytester: pytest.Pytester, db_rows) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    assert _run(pytester, "--ipfs-no-db").ret == 0
    assert not (pytester.path / ".ipfs_accel").exists()
    db = pytester.path / "r.duckdb"
    for _ in range(2):  # the same id twice replaces the run instead of doubling it
        assert _run(pytester, f"--ipfs-db={db}", "--ipfs-run-id=fixed-id").ret == 0
    assert [r["run_id"] for r in db_rows(db, "SELECT run_id FROM test_results")] == ["fixed-id"]
    assert len(db_rows(db, "SELECT * FROM runs")) == 1


def test_report_right_after_in_process_pytest_shows_the_run(pytester: pytest.Pytester) -> None:
    # `pytest ... && ipfs-accel report`: pytest.main returns without waiting for any merge,
    # and the report (the next reader) merges what is pending before it reads
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    db = pytester.path / "r.duckdb"
    cli = [sys.executable, "-m", "pytest_ipfs_accel", "report", "--db", str(db), "--format", "json"]
    for expected in (1, 2):
        assert _run(pytester, f"--ipfs-db={db}", f"--ipfs-run-id=run{expected}").ret == 0
        report = json.loads(subprocess.run(cli, capture_output=True, text=True, check=True).stdout)
        assert report["run_id"] == f"run{expected}" and report["status"] == "passed"
        assert report["counts"] == {"-": {"passed": 1}}


def test_row_hook_sees_and_amends_every_row(pytester: pytest.Pytester, db_rows) -> None:
    pytester.makeconftest(
        """
        def pytest_ipfs_accel_record_row(table, row, config):
            if table == "test_results":
                row["model"] = "tagged-by-hook"
            if table == "runs":  # the whole runs row, metadata included
                assert row["host"] and row["python"] and row["status"] == "passed", row
                row["hw_requested"] = "amended-by-hook"
        """
    )
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    db = pytester.path / "r.duckdb"
    assert _run(pytester, f"--ipfs-db={db}").ret == 0
    assert db_rows(db, "SELECT model FROM test_results") == [{"model": "tagged-by-hook"}]
    assert db_rows(db, "SELECT hw_requested FROM runs") == [{"hw_requested": "amended-by-hook"}]


def test_event_stream_is_reportlog_compatible(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ev="import pytest\n\ndef test_a(ipfs_hw):\n    pass\n\ndef test_b():\n    assert 0\n")
    events = pytester.path / "events" / "run.jsonl"
    result = _run(pytester, "--ipfs-no-db", f"--ipfs-events={events}", "-n", "2")
    assert result.ret == 1
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    types = [e["$report_type"] for e in lines]
    assert types[0] == "SessionStart" and types[-1] == "SessionFinish"
    assert lines[-1]["exitstatus"] == 1
    reports = [e for e in lines if e["$report_type"] == "TestReport"]
    assert {(e["nodeid"], e["when"]) for e in reports} >= {("test_ev.py::test_b", "call"), ("test_ev.py::test_a[cpu]", "call")}
    finals = {e["nodeid"]: e["outcome"] for e in lines if e["$report_type"] == "TestResult"}
    assert finals == {"test_ev.py::test_a[cpu]": "passed", "test_ev.py::test_b": "failed"}
    assert any(e["$report_type"] == "CollectionFinished" and e["count"] == 2 for e in lines)
    assert all(isinstance(e["ipfs_ts"], float) for e in lines)


def test_shards_merge_by_plain_insert(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    shards = [pytester.path / f"shard{i}.duckdb" for i in range(2)]
    for shard in shards:
        assert _run(pytester, f"--ipfs-db={shard}").ret == 0
    con = store.open_store(tmp_path / "merged.duckdb")
    for shard in shards + shards[:1]:  # merging a shard twice does not duplicate it
        merge.merge_file(con, shard)
    assert con.execute("SELECT count(DISTINCT run_id), count(*) FROM test_results").fetchone() == (2, 2)
    assert con.execute("SELECT count(*) FROM runs").fetchone() == (2,)
    con.close()


def test_bulk_insert_writes_many_rows(tmp_path: Path, db_rows) -> None:
    con = store.open_store(tmp_path / "bulk.duckdb")
    rows = [{"run_id": "r", "nodeid": f"t::{i}", "outcome": "passed", "duration_s": i / 1000} for i in range(5000)]
    assert store.insert_rows(con, "test_results", rows) == 5000
    assert con.execute("SELECT count(*), sum(duration_s) FROM test_results").fetchone() == (5000, pytest.approx(12497.5))
    con.close()


def test_report_command(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mixed=MIXED_SUITE)
    db = pytester.path / "r.duckdb"
    _run(pytester, f"--ipfs-db={db}", "--ipfs-run-id=rep")
    cli = [sys.executable, "-m", "pytest_ipfs_accel", "report", "--db", str(db)]
    table = subprocess.run(cli, capture_output=True, text=True, check=True).stdout
    assert "run rep  status failed (exit 1)" in table
    assert "FAILED   test_mixed.py::test_fail" in table and "assert 1 == 2" in table
    as_json = json.loads(subprocess.run([*cli, "--format", "json"], capture_output=True, text=True, check=True).stdout)
    assert as_json["counts"]["cpu"] == {"passed": 2}
    assert as_json["subtests"] == {"passed": 6, "failed": 2}
    markdown = subprocess.run([*cli, "--format", "markdown", "--run", "latest"], capture_output=True, text=True, check=True).stdout
    assert "| hardware |" in markdown and "| test_mixed.py::test_fail | failed |" in markdown
    bad = subprocess.run([*cli, "--run", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no run with id 'nope'" in bad.stderr
    missing = subprocess.run([*cli[:-1], str(db) + ".missing"], capture_output=True, text=True)
    assert missing.returncode == 2 and "no results database" in missing.stderr and "Traceback" not in missing.stderr


def test_xdist_and_serial_record_the_same_results(pytester: pytest.Pytester, db_rows) -> None:
    pytester.makepyfile(
        test_many=textwrap.dedent(
            """
            import pytest

            @pytest.mark.parametrize("i", range(40))
            def test_p(i, subtests):
                for j in range(3):
                    with subtests.test(j=j):
                        assert (i * j) % 7 != 6
            """
        )
    )
    results = {}
    for n in ("0", "2"):
        db = pytester.path / f"n{n}.duckdb"
        _run(pytester, "-n", n, f"--ipfs-db={db}")
        results[n] = db_rows(db, "SELECT nodeid, subtest, outcome FROM test_results ORDER BY ALL")
    assert results["0"] == results["2"]
    assert len(results["0"]) == 40 * 4
