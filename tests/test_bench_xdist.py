"""Benchmarks under pytest-xdist: recorded exactly as with -n 0, raw samples included, and
benchmarks on one device never measured at the same time while other tests stay parallel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_ipfs_accel.merge import open_reader

pytest.importorskip("xdist")

SUITE = """
import time
import pytest

@pytest.mark.parametrize("n", [50, 100, 200, 400])
def test_bench(ipfs_bench, n):  # no ipfs_hw: workers need not import torch
    ipfs_bench(sum, range(n))

@pytest.mark.parametrize("i", range(4))
def test_correctness(i):
    time.sleep(0.05)
"""


# benchmarks of other suites on this machine must not make these tests wait
pytestmark = pytest.mark.usefixtures("private_locks")


def _run(pytester: pytest.Pytester, db: Path, workers: str) -> dict:
    result = pytester.runpytest(
        "-n", workers, f"--ipfs-db={db}", "--ipfs-bench-max-time=0.05", "-p", "no:cacheprovider",
    )
    result.assert_outcomes(passed=8)
    con = open_reader(db)  # merges the session's spool first
    try:
        run_id = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
        cases = con.execute(
            "SELECT r.nodeid, r.rounds, r.device, r.extra_info, count(s.round), "
            "min(s.round), max(s.round) FROM benchmark_results r "
            "JOIN benchmark_samples s USING (run_id, nodeid) WHERE r.run_id = ? "
            "GROUP BY ALL ORDER BY r.nodeid",
            [run_id],
        ).fetchall()
        workers_seen = {
            row[0]
            for row in con.execute(
                "SELECT worker_id FROM test_results WHERE run_id = ?",
                [run_id],
            ).fetchall()
        }
    finally:
        con.close()
    return {"cases": cases, "workers": workers_seen}


def test_n2_records_the_same_benchmark_cases_as_n0_and_serializes_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    db = pytester.path / "r.duckdb"
    serial = _run(pytester, db, "0")
    parallel = _run(pytester, db, "2")
    nodeids = [c[0] for c in serial["cases"]]
    assert nodeids == [c[0] for c in parallel["cases"]]
    assert len(nodeids) == 4
    for nodeid, rounds, device, _, stored, first, last in serial["cases"] + parallel["cases"]:
        assert device  # the host CPU's name
        assert stored == rounds >= 5 and (first, last) == (0, rounds - 1), nodeid
    # both workers ran tests ...
    assert parallel["workers"] == {"gw0", "gw1"}
    # ... but the measured regions of benchmarks on the cpu never overlapped
    windows = sorted(tuple(json.loads(c[3])["ipfs_bench"]["window"]) for c in parallel["cases"])
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert start >= end, windows
