"""ipfs_bench's building blocks: statistics, the measurement loop, peak memory, the device lock,
the Mann-Whitney U test and the comparison verdicts (no pytest sessions here)."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_ipfs_accel.bench import compare, memory, stats, timers, timing
from pytest_ipfs_accel.bench.lock import device_lock, lock_key

# ----------------------------------------------------------------------------- stats


def test_percentiles_interpolate_linearly_like_numpy() -> None:
    numpy = pytest.importorskip("numpy")
    rng = random.Random(7)
    data = [rng.lognormvariate(0, 0.5) for _ in range(101)] + [50.0]
    s = stats.summarize(data)
    for q, got in ((50, s.median_s), (90, s.p90_s), (95, s.p95_s), (99, s.p99_s), (25, s.q1_s), (75, s.q3_s)):
        assert got == pytest.approx(float(numpy.percentile(data, q)), rel=1e-12)
    assert s.mean_s == pytest.approx(float(numpy.mean(data)))
    assert s.stddev_s == pytest.approx(float(numpy.std(data, ddof=1)))
    assert (s.min_s, s.max_s, s.rounds) == (min(data), 50.0, 102)


def test_tukey_outliers_and_iqr() -> None:
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, 5.0, 100.0])
    assert s.q1_s == 2.25 and s.q3_s == 4.75 and s.iqr_s == 2.5
    assert s.outliers == 1  # only 100 lies beyond q3 + 1.5 IQR = 8.5
    one = stats.summarize([0.5])
    assert one.stddev_s == 0.0 and one.median_s == one.p99_s == 0.5 and one.outliers == 0
    with pytest.raises(ValueError, match="no samples"):
        stats.summarize([])


# ----------------------------------------------------------------------------- timing


def _settings(**kw) -> timing.Settings:
    base = dict(max_time=0.02, min_rounds=5, max_rounds=10_000, min_time=20e-6, warmup=2)
    base.update(kw)
    return timing.Settings(**base)


def test_measure_primes_calibrates_warms_up_and_returns_the_result() -> None:
    calls = []

    def fn(x, *, y):
        calls.append(x)
        return x + y

    m = timing.measure(fn, (2,), {"y": 3}, timer=timers.PerfCounterTimer(), settings=_settings())
    assert m.result == 5
    assert m.iterations > 1  # a sub-microsecond call is repeated within a round
    assert len(m.samples) == len(m.wall_samples) >= 5
    # every call is accounted for: priming + calibration + warm-up + timed rounds
    timed_calls = len(m.samples) * m.iterations
    assert len(calls) > timed_calls + 2 * m.iterations
    # a round lasts at least the target, so the per-call figure is far above timer noise
    # (lenient: calibration in a busy moment and rounds in a quiet one differ a lot)
    assert min(m.samples) * m.iterations >= m.notes["round_target_s"] * 0.2


def test_min_rounds_are_met_even_when_one_call_exceeds_the_budget() -> None:
    m = timing.measure(lambda: time.sleep(0.004), timer=timers.PerfCounterTimer(),
                       settings=_settings(max_time=0.001, min_rounds=3, warmup=0))
    assert len(m.samples) == 3 and m.iterations == 1
    assert all(s >= 0.004 for s in m.samples)


def test_max_rounds_caps_the_samples_and_precision_stops_early() -> None:
    capped = timing.measure(lambda: None, timer=timers.PerfCounterTimer(),
                            settings=_settings(max_time=10, min_rounds=5, max_rounds=7))
    assert len(capped.samples) == 7
    precise = timing.measure(lambda: sum(range(50)), timer=timers.PerfCounterTimer(),
                             settings=_settings(max_time=10, min_rounds=20, precision=0.5))
    assert 20 <= len(precise.samples) < 10_000


def test_pedantic_keeps_setup_out_of_the_timed_region() -> None:
    order = []

    def setup():
        time.sleep(0.01)  # far longer than the timed call: must not show in the samples
        order.append("setup")
        return (len(order),), {}

    def fn(n):
        order.append("call")
        return n * 10

    m = timing.measure_pedantic(fn, timer=timers.PerfCounterTimer(), setup=setup, rounds=4, warmup_rounds=1)
    assert order == ["setup", "call"] * 5
    assert len(m.samples) == 4 and max(m.samples) < 0.005
    assert m.result == 90  # the last timed call: setup saw 9 entries before it


def test_pedantic_rejects_contradictory_arguments() -> None:
    t = timers.PerfCounterTimer()
    with pytest.raises(ValueError, match="iterations > 1 cannot be combined with setup"):
        timing.measure_pedantic(len, timer=t, setup=lambda: None, iterations=2)
    with pytest.raises(ValueError, match="rounds must be a positive int"):
        timing.measure_pedantic(len, timer=t, rounds=0)
    with pytest.raises(TypeError, match="args/kwargs must not be given too"):
        timing.measure_pedantic(len, ("x",), timer=t, setup=lambda: (("y",), {}))
    with pytest.raises(ValueError, match="max rounds .* must be >= min rounds"):
        timing.Settings(min_rounds=10, max_rounds=5)


def test_timer_choice_per_device() -> None:
    assert isinstance(timers.timer_for(None), timers.PerfCounterTimer)
    assert isinstance(timers.timer_for("cpu"), timers.PerfCounterTimer)
    assert timers.perf_counter_resolution() < 1e-5


# ----------------------------------------------------------------------------- memory


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_cpu_peak_memory_is_the_rss_growth_of_the_region() -> None:
    tracker = memory.tracker_for(None)
    tracker.start()
    block = bytearray(64 * 2**20)
    block[:: 4096] = b"x" * len(block[:: 4096])  # touch every page so it is resident
    del block
    peak = tracker.peak_bytes()
    assert peak is not None and peak >= 48 * 2**20, (tracker.method, peak)
    tracker.start()
    assert tracker.peak_bytes() < 16 * 2**20  # the earlier peak does not leak into the next region


# ----------------------------------------------------------------------------- lock

_HOLDER = """
import sys, time
from pathlib import Path
from pytest_ipfs_accel.bench.lock import device_lock
with device_lock("cpu", Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(0.6)
"""


def test_device_lock_serializes_processes(tmp_path: Path) -> None:
    assert lock_key("cuda", "cuda:1") == "cuda-cuda_1" and lock_key("cpu", None) == "cpu"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with device_lock("cuda-cuda_0", tmp_path) as waited_other:
            pass  # another device's lock is free
        with device_lock("cpu", tmp_path) as waited:
            pass
    finally:
        holder.wait(timeout=10)
    assert waited_other < 0.1
    assert waited > 0.3


# ----------------------------------------------------------------------------- Mann-Whitney U


def test_mann_whitney_is_exact_for_small_samples_and_approximate_with_ties() -> None:
    # no ties, 5 a side: the exact null distribution; U = 0 is the most extreme of the
    # C(10, 5) = 252 equally likely rank splits, on either side: p = 2/252
    u, p = compare.mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert u == 0
    assert p == pytest.approx(2 / 252)
    # the normal approximation (what this once computed by hand) says 0.01219: conservative
    assert p < math.erfc(12 / math.sqrt(25 * 11 / 12) / math.sqrt(2))
    # ties: the tie correction shrinks the variance
    u_tie, p_tie = compare.mann_whitney_u([1, 1, 2, 2], [2, 3, 3, 3])
    assert u_tie == 1.0  # two x=2 vs the y=2 tie count half each
    assert 0.03 < p_tie < 0.06
    assert compare.mann_whitney_u([1.0] * 5, [1.0] * 7)[1] == 1.0
    # symmetric in its p-value
    assert compare.mann_whitney_u([6, 7, 8], [1, 2])[1] == compare.mann_whitney_u([1, 2], [6, 7, 8])[1]


def _case(nodeid: str, center: float, n: int = 300, seed: int = 0, spread: float = 0.03) -> compare.CaseData:
    rng = random.Random(seed)
    samples = [center * (1 + rng.gauss(0, spread)) for _ in range(n)]
    s = stats.summarize(samples)
    return compare.CaseData(nodeid=nodeid, median_s=s.median_s, p90_s=s.p90_s, min_s=s.min_s, throughput=1 / s.median_s,
                            throughput_unit="calls/s", samples=samples)


def test_compare_flags_only_significant_slowdowns_beyond_the_threshold() -> None:
    base = {"a": _case("a", 1e-3, seed=1), "b": _case("b", 1e-3, seed=2), "c": _case("c", 1e-3, seed=3),
            "gone": _case("gone", 1e-3)}
    head = {"a": _case("a", 1e-3, seed=4),  # same distribution
            "b": _case("b", 1.2e-3, seed=5),  # 20% slower
            "c": _case("c", 0.8e-3, seed=6),  # 20% faster
            "new": _case("new", 1e-3)}
    result = {c.nodeid: c for c in compare.compare_cases(base, head, threshold_pct=10, alpha=0.01)}
    assert result["a"].verdict == "unchanged"
    assert result["b"].verdict == "regression" and result["b"].significant
    assert result["b"].median_change_pct == pytest.approx(20, abs=2)
    assert result["b"].throughput_change_pct == pytest.approx(-16.7, abs=2)  # throughput: higher is better
    assert result["c"].verdict == "improvement" and result["c"].throughput_change_pct > 0
    assert result["gone"].verdict == "missing" and result["new"].verdict == "new"
    assert [c.nodeid for c in compare.regressions(result.values())] == ["b"]
    # a 20% slowdown below a 25% threshold, or without enough evidence, is not a regression
    assert compare.compare_cases(base, head, threshold_pct=25)[1].verdict == "unchanged"
    # contention: most rounds slowed by 40% but the fastest untouched -> not a regression
    calm = _case("x", 1e-3, n=400, seed=11)
    busy_samples = sorted(calm.samples)
    busy_samples = busy_samples[:100] + [x * 1.4 for x in busy_samples[100:]]
    busy = compare.CaseData(nodeid="x", median_s=stats.summarize(busy_samples).median_s,
                            min_s=min(busy_samples), samples=busy_samples)
    contended = compare.compare_cases({"x": calm}, {"x": busy}, threshold_pct=10)[0]
    assert contended.significant and contended.median_change_pct > 30 and abs(contended.min_change_pct) < 1
    assert contended.verdict == "unchanged"
    few_b = {"b": _case("b", 1e-3, n=3, spread=0.5)}
    few_h = {"b": _case("b", 1.2e-3, n=3, seed=9, spread=0.5)}
    assert compare.compare_cases(few_b, few_h)[0].verdict == "unchanged"


def test_render_formats() -> None:
    comparisons = compare.compare_cases({"t::x": _case("t::x", 1e-3)}, {"t::x": _case("t::x", 1.5e-3, seed=3)})
    table = compare.render(comparisons, "table", base="B", head="H")
    assert "t::x" in table and "REGRESSION" in table and "+49.7%" in table
    md = compare.render(comparisons, "markdown")
    assert "| case | base median |" in md
    import json

    doc = json.loads(compare.render(comparisons, "json"))
    assert doc["regressions"] == 1 and doc["cases"][0]["verdict"] == "regression"
    with pytest.raises(ValueError, match="unknown format"):
        compare.render(comparisons, "html")


# ----------------------------------------------------------------------------- CUDA (where present)


@pytest.mark.needs_cuda
def test_cuda_event_timer_times_the_device_work_not_the_launch() -> None:
    import torch

    timer = timers.timer_for("cuda")
    assert timer.name == "cuda_event"
    torch.cuda._sleep(1000)  # the first launch loads the kernel: keep that out of the figure
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    torch.cuda._sleep(20_000_000)  # a kernel that spins ~10 ms; the launch returns at once
    launch = time.perf_counter() - t0
    torch.cuda.synchronize()
    device_s, wall_s, _ = timer.run_round(lambda: torch.cuda._sleep(20_000_000))
    assert device_s > 10 * launch and device_s > 1e-3
    assert wall_s >= device_s * 0.9  # the round ends only when the device is done
    m = timing.measure(lambda: torch.cuda._sleep(200_000), timer=timer, settings=_settings(max_time=0.05))
    assert m.timer == "cuda_event" and stats.summarize(m.samples).median_s > 2e-5  # ~0.1 ms kernel


@pytest.mark.needs_cuda
def test_cuda_peak_memory_is_the_allocators_peak() -> None:
    import torch

    tracker = memory.tracker_for("cuda")
    tracker.start()
    block = torch.empty(64 * 2**20, dtype=torch.uint8, device="cuda")
    del block
    assert tracker.method == "torch.cuda.max_memory_allocated"
    assert tracker.peak_bytes() >= 64 * 2**20


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux with at least two usable CPUs")
def test_measuring_thread_is_pinned_during_rounds_and_restored() -> None:
    allowed = os.sched_getaffinity(0)
    seen = []
    m = timing.measure(lambda: seen.append(len(os.sched_getaffinity(0))), timer=timers.PerfCounterTimer(),
                       settings=_settings(max_time=0.005, warmup=0, pin_cpu=True))
    assert isinstance(m.notes["pinned_cpu"], int)
    assert seen[0] == len(allowed) and seen[-1] == 1  # priming unpinned, timed rounds pinned
    assert os.sched_getaffinity(0) == allowed
    free = timing.measure(lambda: seen.append(len(os.sched_getaffinity(0))), timer=timers.PerfCounterTimer(),
                          settings=_settings(max_time=0.005, warmup=0, pin_cpu=False))
    assert free.notes["pinned_cpu"] is None and seen[-1] == len(allowed)
