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
   duration history (round-robin) and with the history of that first run;
4. the live event stream's delivery latency (``--latency-tests``, default 200
   tests x 20 ms, 2 shards): for each shard event, the time from the shard's
   pytest stamping it (``ipfs_ts``) to a reader of the driver's stream
   (``--ipfs-events`` on a pipe) receiving its line; beside it the same figure
   for a plain ``pytest --ipfs-events=fd:N`` run, the floor.

Sleep-bound tests, so more shards than cores still overlap; process start-up
is CPU-bound and does not.  Usage:
python benchmarks/ray_shards.py [--tests 2000] [--shards 1,2,4,8] [--latency-only]
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
import threading
import time
from pathlib import Path

import ray

from pytest_ipfs_accel import store
from pytest_ipfs_accel.distributed import driver
from pytest_ipfs_accel.distributed.stream import RunStream

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


class PipeReader:
    """The read end of a pipe, each line stamped with the time it arrived (a thread reads it)."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with os.fdopen(self.read_fd, encoding="utf-8") as fh:
            for line in fh:
                self.lines.append((time.time(), line))

    def latencies(self, shard_only: bool) -> list[float]:
        self._thread.join(timeout=60)
        out = []
        for received, line in self.lines:
            event = json.loads(line)
            if "ipfs_ts" in event and (not shard_only or "shard" in event):
                out.append(received - event["ipfs_ts"])
        return out


def ray_latency(folder: Path, db: Path, shards: int) -> list[float]:
    """Delivery latency of every shard event through the driver's one stream."""
    reader = PipeReader()
    events = RunStream(os.fdopen(reader.write_fd, "w", encoding="utf-8"))
    opts = driver.Options(pytest_args=QUIET, hw="cpu", db=db, shards=shards, retries=0, cwd=folder, events=events)
    try:
        assert driver.run(ray, opts, log=lambda *_: None).exit_status == 0
    finally:
        events.close()
    return reader.latencies(shard_only=True)


def plain_latency(folder: Path) -> list[float]:
    """The same figure for a plain pytest run writing ``--ipfs-events=fd:N`` itself."""
    reader = PipeReader()
    subprocess.run([sys.executable, "-m", "pytest", *QUIET, "--ipfs-db", str(folder / "p.duckdb"),
                    f"--ipfs-events=fd:{reader.write_fd}"], cwd=folder, check=True, capture_output=True,
                   pass_fds=(reader.write_fd,))
    os.close(reader.write_fd)
    return reader.latencies(shard_only=False)


def summary(latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    return (f"{len(ms)} events, median {statistics.median(ms):.1f} ms, "
            f"p95 {ms[int(len(ms) * 0.95)]:.1f} ms, max {ms[-1]:.1f} ms")


def latency(root: Path, tests: int) -> None:
    suite = write_suite(root / "latency", tests, "0.02")
    print(f"event delivery, {tests} tests x 20 ms, ray --shards 2: {summary(ray_latency(suite, root / 'l.duckdb', 2))}")
    print(f"event delivery, same suite, plain pytest: {summary(plain_latency(suite))}")


def imbalance(durations: list[float]) -> float:
    return max(durations) / statistics.mean(durations)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", type=int, default=2000)
    ap.add_argument("--shards", default="1,2,4,8")
    ap.add_argument("--imbalance-only", action="store_true", help="only part 3")
    ap.add_argument("--latency-only", action="store_true", help="only part 4")
    ap.add_argument("--latency-tests", type=int, default=200)
    args = ap.parse_args()
    counts = [int(s) for s in args.shards.split(",")]
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", num_cpus=max(counts + [4]),
             logging_level="ERROR", log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="ray-shards-") as tmp:
            root = Path(tmp)
            if args.latency_only:
                latency(root, args.latency_tests)
                return
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
            latency(root, args.latency_tests)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
