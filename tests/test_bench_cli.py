"""`ipfs-accel compare` and `ipfs-accel export` on a real DuckDB file: exit codes, formats, errors."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_ipfs_accel import store
from pytest_ipfs_accel.bench.stats import summarize


def _write_run(con, run_id: str, started: datetime, cases: dict[str, float], seed: int) -> None:
    rng = random.Random(seed)
    store.upsert_run(con, {"run_id": run_id, "started_at": started, "status": "passed", "host": "h",
                           "python": "3.11", "git_commit": "abc", "hardware": json.dumps({"cpu": {"backend": "cpu"}})})
    results, samples = [], []
    for nodeid, center in cases.items():
        data = [center * (1 + rng.gauss(0, 0.02)) for _ in range(200)]
        s = summarize(data)
        results.append({"run_id": run_id, "nodeid": nodeid, "name": nodeid.split("::")[-1], "hardware": "cpu",
                        "model": "tiny", "rounds": s.rounds, "iterations": 1, "median_s": s.median_s,
                        "p90_s": s.p90_s, "mean_s": s.mean_s, "min_s": s.min_s, "max_s": s.max_s,
                        "stddev_s": s.stddev_s, "iqr_s": s.iqr_s, "throughput": 8 / s.median_s,
                        "throughput_unit": "items/s", "timer": "perf_counter", "source": "ipfs_bench",
                        "extra_info": json.dumps({"k": 1})})
        samples.extend({"run_id": run_id, "nodeid": nodeid, "round": i, "seconds": x} for i, x in enumerate(data))
    store.insert_rows(con, "benchmark_results", results)
    store.insert_rows(con, "benchmark_samples", samples)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "r.duckdb"
    con = store.open_store(path)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    _write_run(con, "run-a", t0, {"t.py::fast": 1e-3, "t.py::slow": 2e-3}, seed=1)
    _write_run(con, "run-b", t0 + timedelta(minutes=1), {"t.py::fast": 1e-3, "t.py::slow": 2.5e-3}, seed=2)
    store.upsert_run(con, {"run_id": "run-empty", "started_at": t0 - timedelta(days=1), "status": "passed"})
    con.close()
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest_ipfs_accel", *args], capture_output=True, text=True)


def test_compare_exits_1_on_a_significant_regression_and_0_otherwise(db: Path) -> None:
    both = _cli("compare", "previous", "latest", "--db", str(db), "--format", "json")
    assert both.returncode == 1, both.stderr
    doc = json.loads(both.stdout)
    verdicts = {c["nodeid"]: c for c in doc["cases"]}
    assert (doc["base"], doc["head"], doc["regressions"]) == ("run-a", "run-b", 1)
    assert verdicts["t.py::fast"]["verdict"] == "unchanged"
    slow = verdicts["t.py::slow"]
    assert slow["verdict"] == "regression" and slow["median_change_pct"] == pytest.approx(25, abs=2)
    assert slow["throughput_change_pct"] == pytest.approx(-20, abs=2)

    table = _cli("compare", "run-a", "run-b", "--db", str(db))
    assert table.returncode == 1
    assert "t.py::slow" in table.stdout and "REGRESSION" in table.stdout
    lenient = _cli("compare", "run-a", "run-b", "--db", str(db), "--fail-threshold", "30", "--format", "markdown")
    assert lenient.returncode == 0 and "| t.py::slow |" in lenient.stdout
    reverse = _cli("compare", "run-b", "run-a", "--db", str(db))
    assert reverse.returncode == 0 and "improvement" in reverse.stdout


def test_compare_pools_the_latest_runs_into_one_baseline(db: Path) -> None:
    # latest:1 is the latest run with benchmarks other than HEAD: run-a here
    one = _cli("compare", "latest:1", "run-b", "--db", str(db), "--format", "json")
    assert one.returncode == 1 and json.loads(one.stdout)["base"] == "run-a"
    # with HEAD = run-a, latest:5 finds run-b alone (run-empty has no benchmarks)
    alone = _cli("compare", "latest:5", "run-a", "--db", str(db), "--format", "json")
    assert json.loads(alone.stdout)["base"] == "run-b"


def test_pooled_baseline_takes_the_median_of_each_runs_figures(tmp_path: Path) -> None:
    from pytest_ipfs_accel.bench import compare

    con = store.open_store(tmp_path / "p.duckdb")
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i, center in enumerate((1e-3, 1.02e-3, 1.9e-3)):  # the third run was in a slow spell
        _write_run(con, f"r{i}", t0 + timedelta(minutes=i), {"t.py::x": center}, seed=i)
    _write_run(con, "head", t0 + timedelta(minutes=9), {"t.py::x": 1.01e-3}, seed=9)
    ids = compare.resolve_baseline(con, "latest:3", exclude="head")
    assert ids == ["r2", "r1", "r0"]
    pooled = compare.load_baseline(con, ids)["t.py::x"]
    assert pooled.median_s == pytest.approx(1.02e-3, rel=0.02)  # not dragged up by the slow run
    assert len(pooled.samples) == 600
    assert compare.baseline_label("latest:3", ids) == "latest:3 (3 runs pooled: r0 .. r2)"
    with pytest.raises(store.StoreError, match="expected latest:N with N from 1 to 100"):
        compare.resolve_baseline(con, "latest:0", exclude=None)
    con.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("compare", "run-a", "nope"), "no run with id 'nope'"),
        (("compare", "latest:x", "run-a"), "expected latest:N with N from 1 to 100"),
        (("compare", "run-a", "run-a"), "BASE and HEAD are the same run"),
        (("compare", "run-a", "run-b", "--fail-threshold", "-3"), "expected a percentage >= 0"),
        (("export", "--run", "run-empty", "-o", "x.json"), "run run-empty has no benchmark results"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(db: Path, args: tuple[str, ...], message: str) -> None:
    proc = _cli(*args, "--db", str(db))
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    missing = _cli("compare", "a", "b", "--db", str(db.parent / "missing.duckdb"))
    assert missing.returncode == 2 and "no results database" in missing.stderr


def test_export_writes_pytest_benchmark_json(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "run-a.json"
    proc = _cli("export", "--db", str(db), "--run", "run-a", "--format", "pytest-benchmark", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["commit_info"]["id"] == "abc"
    assert doc["machine_info"]["ipfs_accel"]["run_id"] == "run-a"
    bench = {b["fullname"]: b for b in doc["benchmarks"]}
    slow = bench["t.py::slow"]
    assert slow["name"] == "slow" and len(slow["stats"]["data"]) == slow["stats"]["rounds"] == 200
    assert slow["stats"]["median"] == pytest.approx(2e-3, rel=0.02)
    assert slow["extra_info"]["k"] == 1 and slow["extra_info"]["model"] == "tiny"
    for key in ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "ops", "total", "iterations",
                "ld15iqr", "hd15iqr", "outliers", "iqr_outliers", "stddev_outliers"):
        assert key in slow["stats"]
