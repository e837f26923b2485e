"""pytest-benchmark interop: its fixture's results in DuckDB, fingerprints in machine_info, and JSON
from --ipfs-bench-json and `ipfs-accel export` that `pytest-benchmark compare` really reads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_ipfs_accel.merge import open_reader

# imported here, once: an in-process pytester run that imported torch itself (the cpu
# detector does) would drop it from sys.modules afterwards, and torch cannot be imported
# twice into one process
pytest.importorskip("torch")

pytest.importorskip("pytest_benchmark")

SUITE = """
def test_theirs(benchmark):
    benchmark.extra_info["who"] = "pytest-benchmark"
    assert benchmark(sum, range(100)) == 4950

def test_ours(ipfs_bench, ipfs_hw):
    ipfs_bench(sum, range(100))

def test_plain():
    pass

def test_dynamic(request):
    request.getfixturevalue("benchmark")(sum, range(10))

def test_plain_after():
    pass
"""


# benchmarks of other suites on this machine must not make these tests wait
pytestmark = pytest.mark.usefixtures("private_locks")


def _compare_cli() -> list[str]:
    # the console script next to this interpreter (not whatever PATH finds first)
    exe = Path(sys.executable).with_name("pytest-benchmark")
    return [str(exe) if exe.exists() else shutil.which("pytest-benchmark") or "pytest-benchmark", "compare"]


def test_pytest_benchmark_results_are_recorded_and_json_is_readable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # when this suite itself runs under xdist, pytest-benchmark would read the outer
    # worker's environment and switch itself off in the inner session
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_suite=SUITE)
    db = pytester.path / "r.duckdb"
    ours_json = pytester.path / "ours.json"
    theirs_json = pytester.path / "theirs.json"
    result = pytester.runpytest(
        f"--ipfs-db={db}", "--ipfs-hw=cpu", "--ipfs-bench-max-time=0.02", f"--ipfs-bench-json={ours_json}",
        "--benchmark-max-time=0.02", f"--benchmark-json={theirs_json}", "-p", "no:cacheprovider",
    )
    result.assert_outcomes(passed=5)
    con = open_reader(db)  # merges the session's spool first
    rows = con.execute(
        "SELECT r.nodeid, r.source, r.rounds, r.hardware, r.extra_info, count(s.round) FROM benchmark_results r "
        "JOIN benchmark_samples s USING (run_id, nodeid) GROUP BY ALL ORDER BY r.nodeid"
    ).fetchall()
    con.close()
    # the plain tests have no benchmark row; the dynamically requested fixture has one
    assert [r[0].split("::")[1] for r in rows] == ["test_dynamic", "test_ours[cpu]", "test_theirs"]
    assert rows[0][1] == "pytest-benchmark" and rows[0][2] == rows[0][5] >= 1
    theirs = next(r for r in rows if r[0].endswith("test_theirs"))
    assert theirs[1] == "pytest-benchmark" and theirs[2] == theirs[5] >= 1
    assert json.loads(theirs[4])["who"] == "pytest-benchmark"
    # pytest-benchmark's own JSON agrees with what we recorded, round for round
    pb = json.loads(theirs_json.read_text())
    pb_bench = next(b for b in pb["benchmarks"] if b["name"] == "test_theirs")
    assert pb_bench["stats"]["rounds"] == theirs[2]
    # (c) our fingerprints in its machine_info
    assert pb["machine_info"]["ipfs_accel"]["hardware"]["cpu"]["backend"] == "cpu"
    # (b) our JSON: every ipfs-accel benchmark with its raw data, read by pytest-benchmark compare
    ours = json.loads(ours_json.read_text())
    assert sorted(b["fullname"] for b in ours["benchmarks"]) == [
        "test_suite.py::test_dynamic", "test_suite.py::test_ours[cpu]", "test_suite.py::test_theirs"
    ]
    assert all(len(b["stats"]["data"]) == b["stats"]["rounds"] for b in ours["benchmarks"])
    proc = subprocess.run([*_compare_cli(), str(ours_json), str(theirs_json)], capture_output=True, text=True, cwd=pytester.path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"test_ours\[cpu\] \(\S*ours\)", proc.stdout), proc.stdout
    assert re.search(r"test_theirs \(\S*theirs\)", proc.stdout), proc.stdout
    assert "Failed to load" not in proc.stdout + proc.stderr

    exported = pytester.path / "exported.json"
    cli = subprocess.run(
        [sys.executable, "-m", "pytest_ipfs_accel", "export", "--db", str(db), "--run", "latest",
         "--format", "pytest-benchmark", "-o", str(exported)],
        capture_output=True, text=True,
    )
    assert cli.returncode == 0, cli.stderr
    doc = json.loads(exported.read_text())
    assert len(doc["benchmarks"]) == 3 and doc["machine_info"]["ipfs_accel"]["hardware"]["cpu"]["backend"] == "cpu"
    proc = subprocess.run([*_compare_cli(), str(exported), str(ours_json)], capture_output=True, text=True, cwd=pytester.path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"test_ours\[cpu\] \(\S*exported\)", proc.stdout), proc.stdout
    assert "Failed to load" not in proc.stdout + proc.stderr


def test_without_pytest_benchmark_nothing_breaks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite="def test_ours(ipfs_bench):\n    ipfs_bench(len, 'x')\n")
    result = pytester.runpytest("-p", "no:benchmark", "--ipfs-no-db", "--ipfs-bench-max-time=0.01", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_suite.py::test_ours*calls/s*"])
