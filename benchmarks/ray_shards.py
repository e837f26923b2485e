"""What sharding a run over Ray costs and gains, on a local Ray instance on this machine.

Prints, for a suite of N tests that each sleep 20 ms (default 2,000):

1. wall time and efficiency (ideal ÷ measured; ideal = N × 20 ms ÷ shards) of
   ``ipfs-accel run --ray`` with 1, 2, 4 and 8 shards (the driver's whole path:
   collection, placement, shard pytest processes, merging into one run);
2. the fixed cost of the Ray path over xdist: ``--shards 2`` against
   ``pytest -n 2`` on the same suite (wall difference), and each one's wall for
   a one-test suite;
3. shard imbalance (slowest shard ÷ mean shard, in the recorded test durations
   of each shard's items; also in the shards' whole wall times) on a skewed
   suite (every 4th test sleeps 100 ms, the rest 5 ms) with 4 shards: without
   duration history (round-robin) and with the history of that first run.

Sleep-bound tests, so more shards than cores still overlap; process start-up
is CPU-bound and does not.  Usage:
python benchmarks/ray_shards.py [--tests 2000] [--shards 1,2,4,8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import ray

from pytest_ipfs_accel import store
from pytest_ipfs_accel.distributed import driver

SLEEP = """
import time, pytest

@pytest.mark.parametrize("i", range({n}))
def test_sleep(i):
    time.sleep({expr})
"""
QUIET = ["-q", "-p", "no:cacheprovider"]


def write_suite(folder: Path, n: int, expr: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_sleep.py").write_text(textwrap.dedent(SLEEP.format(n=n, expr=expr)))
    return folder


def ray_run(folder: Path, db: Path, shards: int) -> tuple[float, list[float], list[float]]:
    """Wall seconds of one sharded run, each shard's duration, each shard's recorded test seconds."""
    opts = driver.Options(pytest_args=QUIET, hw="cpu", db=db, shards=shards, retries=0, cwd=folder)
    start = time.perf_counter()
    outcome = driver.run(ray, opts, log=lambda *_: None)
    wall = time.perf_counter() - start
    assert outcome.exit_status == 0, outcome
    con = store.open_store(db, read_only=True)
    try:
        took = dict(con.execute("SELECT nodeid, duration_s FROM test_results WHERE run_id = ?",
                                [outcome.run_id]).fetchall())
    finally:
        con.close()
    work = [sum(took.get(n, 0.0) for n in s.ids) for s in outcome.shards]
    return wall, [a["duration_s"] for a in outcome.attempts], work


def xdist_run(folder: Path, workers: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-n", str(workers), *QUIET, "--ipfs-db",
                    str(folder / "x.duckdb")], cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - start


def imbalance(durations: list[float]) -> float:
    return max(durations) / statistics.mean(durations)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", type=int, default=2000)
    ap.add_argument("--shards", default="1,2,4,8")
    ap.add_argument("--imbalance-only", action="store_true", help="only part 3")
    args = ap.parse_args()
    counts = [int(s) for s in args.shards.split(",")]
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", num_cpus=max(counts + [4]),
             logging_level="ERROR", log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="ray-shards-") as tmp:
            root = Path(tmp)
            if not args.imbalance_only:
                suite = write_suite(root / "uniform", args.tests, "0.02")
                print(f"{os.cpu_count()} CPUs; {args.tests} tests x 20 ms = {args.tests * 0.02:.1f} s serial sleep")
                print("shards  wall_s  ideal_s  efficiency")
                walls = {}
                for n in counts:
                    wall, _, _ = ray_run(suite, root / f"u{n}.duckdb", n)
                    walls[n] = wall
                    ideal = args.tests * 0.02 / n
                    print(f"{n:>6}  {wall:6.1f}  {ideal:7.1f}  {ideal / wall:9.2f}")
                xd = xdist_run(suite, 2)
                ray2 = walls[2] if 2 in walls else ray_run(suite, root / "u2.duckdb", 2)[0]
                print(f"fixed cost over xdist ({args.tests} tests): ray --shards 2 {ray2:.1f} s, "
                      f"pytest -n 2 {xd:.1f} s, difference {ray2 - xd:+.1f} s")
                one = write_suite(root / "one", 1, "0.02")
                print(f"one-test suite: ray --shards 1 {ray_run(one, root / 'o.duckdb', 1)[0]:.1f} s, "
                      f"pytest -n 2 {xdist_run(one, 2):.1f} s")
            skew = write_suite(root / "skew", max(args.tests // 10, 40), "0.1 if i % 4 == 0 else 0.005")
            db = root / "skew.duckdb"
            _, cold_wall, cold = ray_run(skew, db, 4)
            _, warm_wall, warm = ray_run(skew, db, 4)
            print(f"imbalance, 4 shards, skewed suite, slowest / mean shard in recorded test time: "
                  f"without history {imbalance(cold):.2f}, with history {imbalance(warm):.2f}; "
                  f"in shard wall time: {imbalance(cold_wall):.2f} and {imbalance(warm_wall):.2f}")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
