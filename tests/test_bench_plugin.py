"""The ipfs_bench fixture inside real pytest sessions (pytester): what reaches DuckDB,
the options, the terminal summary and the --ipfs-compare gate."""

from __future__ import annotations

import json

import pytest

# imported here, once: an in-process pytester run that imported torch itself (the cpu
# detector does) would drop it from sys.modules afterwards, and torch cannot be imported
# twice into one process
pytest.importorskip("torch")

FAST = ("--ipfs-bench-max-time=0.02", "--ipfs-bench-warmup=1", "-p", "no:cacheprovider")

SUITE = """
import pytest

def test_plain(ipfs_bench):
    ipfs_bench.extra_info["note"] = object()  # not JSON: stored as its str
    assert ipfs_bench(sum, range(200)) == 19900

@pytest.mark.ipfs_model("tiny-bert")
def test_model(ipfs_bench, ipfs_hw):
    ipfs_bench.set_case(batch_size=4, seq_len=16, dtype="torch.float16")
    ipfs_bench(lambda: None)
    ipfs_bench.extra_info["after"] = 1  # seen: the payload is finished with the report

def test_pedantic(ipfs_bench):
    made = []
    result = ipfs_bench.pedantic(lambda x: x + 1, setup=lambda: made.append(1) or ((len(made),), {}),
                                 rounds=7, warmup_rounds=2)
    assert result == 10

def test_dynamic(request):
    request.getfixturevalue("ipfs_bench")(len, "abc")

def test_not_a_benchmark():
    pass
"""


# benchmarks of other suites on this machine must not make these tests wait
pytestmark = pytest.mark.usefixtures("private_locks")


def test_results_and_raw_samples_reach_duckdb(pytester: pytest.Pytester, db_rows) -> None:
    pytester.makepyfile(test_suite=SUITE)
    db = pytester.path / "r.duckdb"
    result = pytester.runpytest(f"--ipfs-db={db}", "--ipfs-hw=cpu", *FAST)
    result.assert_outcomes(passed=5)
    rows = {r["name"]: r for r in db_rows(db, "SELECT * FROM benchmark_results")}
    assert sorted(rows) == ["test_dynamic", "test_model[cpu]", "test_pedantic", "test_plain"]
    samples = {
        r["nodeid"]: r["n"]
        for r in db_rows(db, "SELECT nodeid, count(*) AS n, min(round) AS lo, max(round) AS hi FROM benchmark_samples GROUP BY nodeid")
    }
    for row in rows.values():
        assert samples[row["nodeid"]] == row["rounds"] >= 5
        assert row["min_s"] <= row["median_s"] <= row["p90_s"] <= row["p95_s"] <= row["p99_s"] <= row["max_s"]
        assert row["source"] == "ipfs_bench" and row["timer"] == "perf_counter"
        assert row["peak_memory_bytes"] is not None and row["wall_median_s"] > 0
    model = rows["test_model[cpu]"]
    assert (model["model"], model["hardware"], model["batch_size"], model["seq_len"], model["dtype"]) == (
        "tiny-bert", "cpu", 4, 16, "float16")
    assert model["throughput_unit"] == "items/s"
    assert model["throughput"] == pytest.approx(4 / model["median_s"])
    assert model["tokens_per_s"] == pytest.approx(64 / model["median_s"])
    extra = json.loads(model["extra_info"])
    assert extra["after"] == 1 and extra["ipfs_bench"]["lock"] == "cpu"
    assert extra["ipfs_bench"]["pinned_cpu"] is None  # pinning is opt-in (--ipfs-bench-pin-cpu)
    assert json.loads(rows["test_plain"]["extra_info"])["note"].startswith("<object object")
    assert rows["test_plain"]["throughput_unit"] == "calls/s"
    pedantic = rows["test_pedantic"]
    assert (pedantic["rounds"], pedantic["iterations"], pedantic["warmup"]) == (7, 1, 2)
    # the summary groups by model and hardware
    result.stdout.fnmatch_lines([
        "*ipfs-accel benchmarks*",
        "model - | hardware cpu*",
        "*test_suite.py::test_dynamic*",
        "model tiny-bert | hardware cpu*",
        "*test_suite.py::test_model[[]cpu[]]*items/s*",
    ])


def test_second_call_and_bad_options_are_clear_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_twice="""
        def test_twice(ipfs_bench):
            ipfs_bench(len, "a")
            ipfs_bench(len, "b")
    """)
    result = pytester.runpytest("--ipfs-no-db", *FAST)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*BenchmarkUsageError: ipfs_bench measures once per test and was already used*"])
    bad = pytester.runpytest("--ipfs-no-db", "--ipfs-bench-min-rounds=zero")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--ipfs-bench-min-rounds=zero: expected an integer*"])
    bad = pytester.runpytest("--ipfs-no-db", "--ipfs-bench-max-time=0")
    bad.stderr.fnmatch_lines(["*max time must be > 0 seconds*"])
    bad = pytester.runpytest("--ipfs-no-db", "--ipfs-compare=latest")
    bad.stderr.fnmatch_lines(["*--ipfs-compare needs the results database*drop --ipfs-no-db*"])


def test_a_conftest_sees_each_benchmark_result_through_the_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import json

        seen = []

        def pytest_ipfs_accel_benchmark_result(result, config):
            seen.append({k: result[k] for k in ("nodeid", "hardware", "rounds")} | {"n": len(result["samples"])})

        def pytest_sessionfinish(session):
            (session.config.rootpath / "seen.json").write_text(json.dumps(seen))
    """)
    pytester.makepyfile(test_b="def test_b(ipfs_bench):\n    ipfs_bench(len, 'abc')\n")
    result = pytester.runpytest("--ipfs-no-db", *FAST)
    result.assert_outcomes(passed=1)
    (seen,) = json.loads((pytester.path / "seen.json").read_text())
    assert seen["nodeid"] == "test_b.py::test_b" and seen["hardware"] == "cpu"
    assert seen["n"] == seen["rounds"] >= 5


def test_disable_runs_once_untimed_and_ini_keys_work(pytester: pytest.Pytester, db_rows) -> None:
    pytester.makepyfile(test_once="""
        calls = []
        def test_once(ipfs_bench):
            assert ipfs_bench(calls.append, 1) is None
            assert calls == [1]
    """)
    db = pytester.path / "r.duckdb"
    result = pytester.runpytest(f"--ipfs-db={db}", "--ipfs-bench-disable", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert db_rows(db, "SELECT count(*) AS n FROM benchmark_results")[0]["n"] == 0
    pytester.makeini("[pytest]\nipfs_bench_min_rounds = 9\nipfs_bench_max_time = 0.001\nipfs_bench_warmup = 0\n")
    pytester.makepyfile(test_once="import time\ndef test_once(ipfs_bench):\n    ipfs_bench(time.sleep, 0.001)\n")
    result = pytester.runpytest(f"--ipfs-db={db}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    row = db_rows(db, "SELECT rounds, warmup FROM benchmark_results")[0]
    assert row == {"rounds": 9, "warmup": 0}


GATE = """
import os

def work(n):
    total = 0
    for i in range(n):
        total += i
    return total

def test_work(ipfs_bench):
    ipfs_bench(work, int(os.environ["GATE_WORK"]))

def test_other(ipfs_bench):
    ipfs_bench(len, "abc")
"""


def test_compare_gate_fails_the_session_on_a_significant_regression(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, db_rows
) -> None:
    pytester.makepyfile(test_gate=GATE)
    db = pytester.path / "r.duckdb"
    args = (f"--ipfs-db={db}", "--ipfs-bench-max-time=0.05", "-p", "no:cacheprovider")
    monkeypatch.setenv("GATE_WORK", "300")
    first = pytester.runpytest(*args, "--ipfs-compare=latest")
    assert first.ret == pytest.ExitCode.OK
    first.stdout.fnmatch_lines(["*--ipfs-compare: no earlier run with benchmarks to compare with*"])
    base = db_rows(db, "SELECT run_id FROM runs")[0]["run_id"]

    monkeypatch.setenv("GATE_WORK", "900")  # three times the work
    events = pytester.path / "events.jsonl"
    slow = pytester.runpytest(*args, "--ipfs-compare=latest", "--ipfs-compare-fail=10", f"--ipfs-events={events}")
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    # the event stream ends with the status the gate gave the session, not pytest's own 0
    last = json.loads(events.read_text().splitlines()[-1])
    assert last == {**last, "$report_type": "SessionFinish", "exitstatus": 1}
    slow.assert_outcomes(passed=2)  # every test passed: the gate alone fails the session
    slow.stdout.fnmatch_lines([
        "*ipfs-accel benchmark comparison*",
        f"{base} -> *",
        "case*base median*head median*median*p90*min*throughput*p*verdict",
        "test_gate.py::test_other*",
        "test_gate.py::test_work*+*%*REGRESSION",
        f"FAILED: * significant benchmark regression(s) beyond 10% against run {base}",
    ])
    runs = db_rows(db, "SELECT status, exit_status FROM runs ORDER BY started_at")
    assert runs[-1] == {"status": "failed", "exit_status": 1}
    # slower code stays slower when measured again: 1 + 2 measurements, all beyond the threshold
    extra = db_rows(db, "SELECT extra_info FROM benchmark_results WHERE nodeid = 'test_gate.py::test_work' "
                      "ORDER BY rowid DESC LIMIT 1")[0]["extra_info"]
    confirm = json.loads(extra)["ipfs_bench"]["confirm"]
    assert len(confirm["medians_s"]) == 3 and confirm["threshold_pct"] == 10
    assert all(m > confirm["baseline_median_s"] * 1.1 for m in confirm["medians_s"])

    # the same slowdown under a threshold it does not exceed passes
    ok = pytester.runpytest(*args, f"--ipfs-compare={base}", "--ipfs-compare-fail=1000")
    assert ok.ret == pytest.ExitCode.OK
    ok.stdout.fnmatch_lines([f"no significant regression beyond 1000% against run {base}"])
    missing = pytester.runpytest(*args, "--ipfs-compare=nosuchrun")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stdout.fnmatch_lines(["*--ipfs-compare=nosuchrun: no run with id 'nosuchrun'*"])


SPELL = """
import time

CALLS = [0]

def call():
    # the first 40 calls fall in a "slow spell" of the machine: ten times slower
    CALLS[0] += 1
    time.sleep(0.002 if CALLS[0] <= 40 and SLOW_SPELL else 0.0002)

SLOW_SPELL = False

def test_spell(ipfs_bench):
    ipfs_bench(call)
"""


def test_gate_measures_a_suspected_regression_again_and_keeps_the_fastest(pytester: pytest.Pytester, db_rows) -> None:
    db = pytester.path / "r.duckdb"
    args = (f"--ipfs-db={db}", "--ipfs-bench-max-time=0.05", "--ipfs-bench-warmup=1", "-p", "no:cacheprovider")
    pytester.makepyfile(test_spell=SPELL)
    for _ in range(2):
        assert pytester.runpytest(*args).ret == pytest.ExitCode.OK
    pytester.makepyfile(test_spell=SPELL.replace("SLOW_SPELL = False", "SLOW_SPELL = True"))

    # pooled baseline of the two runs; the first measurement is all in the spell, the second is not
    spell = pytester.runpytest(*args, "--ipfs-compare=latest:2", "--ipfs-compare-fail=50")
    assert spell.ret == pytest.ExitCode.OK, spell.stdout.str()
    spell.stdout.fnmatch_lines(["latest:2 (2 runs pooled: * .. *) -> *", "*no significant regression beyond 50%*"])
    rows = db_rows(db, "SELECT median_s, extra_info FROM benchmark_results ORDER BY rowid")
    confirm = json.loads(rows[-1]["extra_info"])["ipfs_bench"]["confirm"]
    first, again = confirm["medians_s"]
    assert first > 5 * again and confirm["kept"] == 1
    assert rows[-1]["median_s"] == again  # the kept measurement is the one recorded

    # --ipfs-compare-confirm=0: the spell is judged as it was measured
    off = pytester.runpytest(*args, "--ipfs-compare=latest:2", "--ipfs-compare-fail=50", "--ipfs-compare-confirm=0")
    assert off.ret == pytest.ExitCode.TESTS_FAILED
    assert "confirm" not in json.loads(db_rows(db, "SELECT extra_info FROM benchmark_results ORDER BY rowid")[-1]
                                       ["extra_info"])["ipfs_bench"]
    bad = pytester.runpytest(*args, "--ipfs-compare=latest:0")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stdout.fnmatch_lines(["*expected latest:N with N from 1 to 100*"])
    negative = pytester.runpytest(*args, "--ipfs-compare=latest", "--ipfs-compare-confirm=-1")
    negative.stderr.fnmatch_lines(["*--ipfs-compare-confirm=-1: expected a count >= 0*"])


@pytest.mark.needs_cuda
def test_cuda_benchmarks_use_cuda_events(pytester: pytest.Pytester, db_rows) -> None:
    pytester.makepyfile(test_gpu="""
        import torch

        def test_matmul(ipfs_bench, ipfs_hw):
            a = torch.randn(512, 512, device=ipfs_hw.torch_device)
            ipfs_bench(torch.mm, a, a)
    """)
    db = pytester.path / "r.duckdb"
    result = pytester.runpytest(f"--ipfs-db={db}", "--ipfs-hw=cuda", *FAST)
    result.assert_outcomes(passed=1)
    row = db_rows(db, "SELECT timer, hardware, device, peak_memory_bytes, extra_info FROM benchmark_results")[0]
    assert (row["timer"], row["hardware"]) == ("cuda_event", "cuda")
    assert row["peak_memory_bytes"] >= 2 * 512 * 512 * 4
    extra = json.loads(row["extra_info"])["ipfs_bench"]
    assert extra["peak_memory_method"] == "torch.cuda.max_memory_allocated"
    assert extra["lock"].startswith("cuda")
