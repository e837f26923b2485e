"""Thresholds the way people write them: ``10``, ``10%``, ``median:10%`` (CLI, pytest option, facade)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_ipfs_accel import store
from pytest_ipfs_accel.bench import compare
from pytest_ipfs_accel.bench.stats import summarize
from pytest_ipfs_accel.bench.threshold import Threshold, parse_threshold


@pytest.mark.parametrize(("text", "expected"), [
    ("10", Threshold(10)), ("10%", Threshold(10)), (" 7.5 %", Threshold(7.5)), (12, Threshold(12)),
    ("median:10%", Threshold(10, "median")), ("min:5", Threshold(5, "min")), ("p90:3%", Threshold(3, "p90")),
])
def test_percentages_parse_in_every_usual_form(text, expected):
    assert parse_threshold(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("ten", "expected a percentage, got 'ten'"), ("10%%", "expected a percentage"),
    ("-3", "expected a percentage >= 0"), ("nan", ">= 0"), ("mean:5%", "unknown statistic 'mean'"),
    ("median:", "expected a percentage"),
])
def test_bad_thresholds_say_what_to_write(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_threshold(text)


def _case(nodeid: str, median: float, low: float, seed: int) -> compare.CaseData:
    rng = random.Random(seed)
    samples = [median * (1 + rng.gauss(0, 0.01)) for _ in range(100)]
    return compare.CaseData(nodeid=nodeid, median_s=median, min_s=low, p90_s=median * 1.1, samples=samples)


def test_a_named_statistic_alone_decides():
    # the median slowed 25%, the minimum only 2%: a regression by the median, not by the default rule
    base = {"t::x": _case("t::x", 1.0, 0.9, 1)}
    head = {"t::x": _case("t::x", 1.25, 0.918, 2)}
    verdict = {s: compare.compare_cases(base, head, threshold_pct=10, statistic=s)[0].verdict
               for s in (None, "median", "min")}
    assert verdict == {None: "unchanged", "median": "regression", "min": "unchanged"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("thr") / "r.duckdb"
    con = store.open_store(path)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for index, (run_id, center) in enumerate((("run-a", 2e-3), ("run-b", 2.5e-3))):
        rng = random.Random(index)
        data = [center * (1 + rng.gauss(0, 0.02)) for _ in range(200)]
        s = summarize(data)
        store.upsert_run(con, {"run_id": run_id, "started_at": t0 + timedelta(minutes=index), "status": "passed"})
        store.insert_rows(con, "benchmark_results", [{
            "run_id": run_id, "nodeid": "t.py::slow", "hardware": "cpu", "model": "tiny", "rounds": s.rounds,
            "median_s": s.median_s, "p90_s": s.p90_s, "mean_s": s.mean_s, "min_s": s.min_s, "max_s": s.max_s}])
        store.insert_rows(con, "benchmark_samples", [
            {"run_id": run_id, "nodeid": "t.py::slow", "round": i, "seconds": x} for i, x in enumerate(data)])
    con.close()
    return path


@pytest.mark.parametrize(("threshold", "code"), [("10%", 1), ("10", 1), ("30%", 0), ("median:10%", 1),
                                                 ("p90:40%", 0)])
def test_compare_cli_takes_percent_signs_and_statistics(db: Path, threshold: str, code: int):
    proc = subprocess.run([sys.executable, "-m", "pytest_ipfs_accel", "compare", "run-a", "run-b", "--db", str(db),
                           "--fail-threshold", threshold, "--format", "json"], capture_output=True, text=True)
    assert proc.returncode == code, proc.stderr
    assert json.loads(proc.stdout)["cases"][0]["median_change_pct"] == pytest.approx(25, abs=2)


def test_compare_cli_refuses_a_bad_threshold_in_one_line(db: Path):
    proc = subprocess.run([sys.executable, "-m", "pytest_ipfs_accel", "compare", "run-a", "run-b", "--db", str(db),
                           "--fail-threshold", "avg:10%"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown statistic 'avg'" in proc.stderr and "Traceback" not in proc.stderr


def test_the_pytest_option_takes_the_same_forms(pytester: pytest.Pytester):
    pytester.makepyfile("def test_x():\n    pass\n")
    ok = pytester.runpytest_subprocess("--ipfs-no-db",
                                       "--ipfs-compare-fail=median:10%")
    assert ok.ret == 0, ok.stderr.str()
    bad = pytester.runpytest_subprocess("--ipfs-no-db",
                                        "--ipfs-compare-fail=10 percent")
    assert bad.ret == 4 and "expected a percentage, got '10 percent'" in bad.stderr.str()
