"""Figures for ipfs_bench's accuracy and the regression gate, measured by real pytest runs.

Prints:

1. the same CPU callable timed by ``ipfs_bench`` and by pytest-benchmark's
   ``benchmark`` in one pytest run (interleaved pairs), and the ratio of medians;
2. an empty callable's median time per call under ``ipfs_bench``;
3. the gate: K baseline runs, then N identical reruns each gated with
   ``--ipfs-compare=latest:K`` (the K latest runs pooled; with K=1, against the
   one baseline run): how many are flagged and how many were re-measured to
   confirm; then a run with the callable made 20% slower (whether it is flagged);
4. optionally (``--xdist``): the benchmark cases and sample counts recorded by
   ``-n 0`` and ``-n 2``.

Every figure comes from pytest subprocesses writing a scratch DuckDB file.
Usage: python benchmarks/bench_accuracy.py [--pairs 11] [--reruns 20] [--baseline-runs 5] [--max-time 1.0] [--xdist]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import duckdb

SUITE = textwrap.dedent(
    """
    import os

    import pytest

    WORK = int(os.environ.get("BENCH_WORK", "3000"))
    PAIRS = int(os.environ.get("BENCH_PAIRS", "5"))


    def work(n=WORK):
        total = 0
        for i in range(n):
            total += i * i
        return total


    def empty():
        pass


    # one parameter list, so the two tools alternate: ipfs_bench-0, pytest_benchmark-0, ipfs_bench-1, ...
    @pytest.mark.parametrize(
        ("tool", "pair"),
        [pytest.param(tool, pair, id=f"{tool}-{pair}")
         for pair in range(PAIRS) for tool in ("ipfs_bench", "pytest_benchmark")],
    )
    def test_accuracy(request, tool, pair):
        fixture = request.getfixturevalue("ipfs_bench" if tool == "ipfs_bench" else "benchmark")
        fixture(work)


    def test_empty(ipfs_bench):
        ipfs_bench(empty)


    def test_gate(ipfs_bench):
        ipfs_bench(work, int(WORK * float(os.environ.get("BENCH_SLOWDOWN", "1.0"))))
    """
)


EXTRA_ARGS: list[str] = []  # --pytest-arg values, passed to every run


def run_pytest(folder: Path, db: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--ipfs-db={db}", *extra, *EXTRA_ARGS]
    # the suite's own ipfs_db ini setting must not apply: run in the scratch folder
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode not in (0, 1):
        sys.exit(f"pytest failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def latest_run(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
    finally:
        con.close()


def medians(db: Path, run_id: str) -> dict[str, tuple[float, str, int, float]]:
    """nodeid -> (median, source, rounds, min) of a run."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT nodeid, median_s, source, rounds, min_s FROM benchmark_results WHERE run_id = ?", [run_id]
        ).fetchall()
    finally:
        con.close()
    return {nodeid: (median, source, rounds, low) for nodeid, median, source, rounds, low in rows}


def confirmations(db: Path, run_id: str, nodeid: str) -> list[float] | None:
    """The medians of a case's confirmation re-measurements (None: it was measured once)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            "SELECT extra_info FROM benchmark_results WHERE run_id = ? AND nodeid = ?", [run_id, nodeid]
        ).fetchone()
    finally:
        con.close()
    confirm = json.loads(row[0] or "{}").get("ipfs_bench", {}).get("confirm") if row else None
    return confirm["medians_s"] if confirm else None


def accuracy(folder: Path, db: Path, max_time: float, pairs: int) -> None:
    # many short alternating pairs: a slow spell of the machine (seconds) then lands on
    # both tools about equally often, and the median of the pair ratios ignores the rest
    run_pytest(
        folder, db, "test_suite.py::test_accuracy", "test_suite.py::test_empty",
        f"--ipfs-bench-max-time={max_time}", f"--benchmark-max-time={max_time}",
        env={"BENCH_PAIRS": str(pairs)},
    )
    found = medians(db, latest_run(db))
    print("1. same CPU callable, one pytest run, the two tools alternating (median per call):")
    ratios = []
    pairs = sorted({n.split("-")[-1].rstrip("]") for n in found if "test_accuracy" in n})
    for pair in pairs:
        ours = found[f"test_suite.py::test_accuracy[ipfs_bench-{pair}]"]
        theirs = found[f"test_suite.py::test_accuracy[pytest_benchmark-{pair}]"]
        ratio = ours[0] / theirs[0]
        ratios.append(ratio)
        print(
            f"   pair {pair}: ipfs_bench {ours[0] * 1e6:8.3f} us ({ours[2]} rounds)   "
            f"pytest-benchmark {theirs[0] * 1e6:8.3f} us ({theirs[2]} rounds)   ratio {ratio:.4f}"
        )
    ours_all = statistics.median(found[n][0] for n in found if "[ipfs_bench-" in n)
    theirs_all = statistics.median(found[n][0] for n in found if "[pytest_benchmark-" in n)
    overall = statistics.median(ratios)
    print(f"   medians of medians: ipfs_bench {ours_all * 1e6:.3f} us, pytest-benchmark {theirs_all * 1e6:.3f} us;"
          f" median of the pair ratios {overall:.4f} -> {'within' if abs(overall - 1) <= 0.05 else 'NOT within'} 5%")
    empty = found["test_suite.py::test_empty"]
    print(f"2. empty callable: median {empty[0] * 1e9:.1f} ns per call ({empty[2]} rounds) -> "
          f"{'under' if empty[0] < 1e-6 else 'NOT under'} 1 us")


def gate(folder: Path, db: Path, reruns: int, max_time: float, threshold: float, baseline_runs: int) -> None:
    common = ["test_suite.py::test_gate", f"--ipfs-bench-max-time={max_time}"]
    first_runs = []
    for _ in range(baseline_runs):
        run_pytest(folder, db, *common)
        first_runs.append(latest_run(db))
    # one run: every rerun is gated against it; K runs: each against the K latest runs, pooled
    base = first_runs[0] if baseline_runs == 1 else f"latest:{baseline_runs}"
    case = "test_suite.py::test_gate"
    reference = statistics.median(medians(db, run)[case][0] for run in first_runs)
    flagged = 0
    remeasured: list[str] = []
    changes = []
    for _ in range(reruns):
        proc = run_pytest(folder, db, *common, f"--ipfs-compare={base}", f"--ipfs-compare-fail={threshold}")
        head = latest_run(db)
        changes.append(medians(db, head)[case][0] / reference - 1)
        again = confirmations(db, head, case)
        if again:
            remeasured.append("/".join(f"{m / reference - 1:+.0%}" for m in again))
        if proc.returncode == 1:
            flagged += 1
    print(f"3. gate (threshold {threshold:g}%, alpha 0.01), baseline {base}"
          + (f" after {baseline_runs} baseline runs" if baseline_runs > 1 else "") + ":")
    print(f"   {reruns} identical reruns: {flagged} flagged as regression "
          f"(median change against the first runs' median {min(changes) * 100:+.1f}% .. {max(changes) * 100:+.1f}%)")
    print(f"   {len(remeasured)} of them re-measured to confirm (median changes of each measurement: "
          f"{', '.join(remeasured) or '-'})")
    proc = run_pytest(folder, db, *common, f"--ipfs-compare={base}", f"--ipfs-compare-fail={threshold}",
                      env={"BENCH_SLOWDOWN": "1.2"})
    head = latest_run(db)
    change = medians(db, head)[case][0] / reference - 1
    again = confirmations(db, head, case)
    print(f"   injected 20% more work: median change {change * 100:+.1f}%, pytest exit {proc.returncode} -> "
          f"{'flagged' if proc.returncode == 1 else 'NOT flagged'}"
          + (f" (measured {len(again)} times: " + "/".join(f"{m / reference - 1:+.0%}" for m in again) + ")"
             if again else ""))
    table = [line for line in proc.stdout.splitlines() if "test_gate" in line and "%" in line]
    if table:
        print("   gate table row: " + table[-1].strip())


def xdist(folder: Path, db: Path, max_time: float) -> None:
    recorded = {}
    for workers in ("0", "2"):
        run_pytest(folder, db, "-n", workers, "-p", "no:benchmark", "-k", "not pytest_benchmark",
                   f"--ipfs-bench-max-time={max_time}")
        run_id = latest_run(db)
        con = duckdb.connect(str(db), read_only=True)
        rows = con.execute(
            "SELECT r.nodeid, r.rounds, count(s.round) FROM benchmark_results r "
            "LEFT JOIN benchmark_samples s USING (run_id, nodeid) WHERE r.run_id = ? GROUP BY ALL",
            [run_id],
        ).fetchall()
        con.close()
        recorded[workers] = {nodeid: (rounds, n) for nodeid, rounds, n in rows}
    same = sorted(recorded["0"]) == sorted(recorded["2"])
    complete = all(r == n for v in recorded.values() for r, n in v.values())
    print(f"4. -n 0 recorded {len(recorded['0'])} cases, -n 2 recorded {len(recorded['2'])}: "
          f"{'the same cases' if same else 'DIFFERENT cases'}; every case has rounds == stored samples: {complete}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=20)
    parser.add_argument("--max-time", type=float, default=1.0, help="--ipfs-bench-max-time for every run (the plugin default)")
    parser.add_argument("--threshold", type=float, default=10.0, help="--ipfs-compare-fail")
    parser.add_argument("--baseline-runs", type=int, default=5,
                        help="K runs before the reruns; K > 1 gates each rerun against latest:K (pooled), "
                        "1 against that first run")
    parser.add_argument("--xdist", action="store_true", help="also compare -n 0 with -n 2")
    parser.add_argument("--pairs", type=int, default=11, help="ipfs_bench / pytest-benchmark pairs in part 1")
    parser.add_argument("--pair-max-time", type=float, default=0.5,
                        help="time budget of each measurement in part 1 (both tools)")
    parser.add_argument("--skip-gate", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--pytest-arg", action="append", default=[], help="extra pytest argument (repeatable)")
    args = parser.parse_args()
    EXTRA_ARGS.extend(args.pytest_arg)
    with tempfile.TemporaryDirectory(prefix="ipfs-bench-accuracy-") as tmp:
        folder = Path(tmp)
        (folder / "test_suite.py").write_text(SUITE)
        (folder / "pytest.ini").write_text("[pytest]\n")
        db = folder / "results.duckdb"
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
              f", extra pytest args {EXTRA_ARGS}")
        if not args.skip_accuracy:
            accuracy(folder, db, args.pair_max_time, args.pairs)
        if not args.skip_gate:
            gate(folder, db, args.reruns, args.max_time, args.threshold, args.baseline_runs)
        if args.xdist:
            xdist(folder, db, args.max_time)
        print(json.dumps({"load_average_end": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
