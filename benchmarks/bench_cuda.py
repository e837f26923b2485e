"""ipfs_bench on CUDA against an independent CUDA-event measurement, in one process.

Generates the tiny-BERT benchmark module (``ipfs-accel generate bert
--test-type benchmark``), runs its forward cases with ``--ipfs-hw=cuda``
in-process, and, inside each test right after ``ipfs_bench`` returns, times the
very same callable again with a plain loop of CUDA event pairs (device
synchronized before each call, events read after).  Prints both medians per case
and their ratio.  Needs a CUDA device.

Usage: python benchmarks/bench_cuda.py [--max-time 0.5] [--calls 300] [--json OUT.json] [-k EXPR]
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
from importlib import metadata
from pathlib import Path

CONFTEST = textwrap.dedent(
    '''
    import json
    import os
    import statistics

    import pytest
    import torch


    def independent_cuda_times(fn, args, kwargs, calls):
        """Time per call from one CUDA event pair per call (device idle before each)."""
        for _ in range(10):
            fn(*args, **kwargs)
        if os.environ.get("CHECK_HW") == "cpu":  # dry run of this script without a GPU
            import time
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                fn(*args, **kwargs)
                times.append(time.perf_counter() - t0)
            return times
        times = []
        for _ in range(calls):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            fn(*args, **kwargs)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000.0)
        return times


    class Checked:
        """ipfs_bench, then the same callable timed independently."""

        def __init__(self, bench, node):
            self._bench = bench
            self._node = node

        def __getattr__(self, name):
            return getattr(self._bench, name)

        def __call__(self, fn, *args, **kwargs):
            # half the independent calls before ipfs_bench, half after: a drift of the
            # machine's speed during the test then affects both sides alike
            half = int(os.environ["CHECK_CALLS"]) // 2
            before = independent_cuda_times(fn, args, kwargs, half)
            result = self._bench(fn, *args, **kwargs)
            payload = self._bench.payload
            after = independent_cuda_times(fn, args, kwargs, half)
            independent = statistics.median(before + after)
            with open(os.environ["CHECK_OUT"], "a") as fh:
                fh.write(json.dumps({
                    "nodeid": self._node.nodeid,
                    "ipfs_bench_median_s": payload["median_s"],
                    "ipfs_bench_wall_median_s": payload["wall_median_s"],
                    "ipfs_bench_rounds": payload["rounds"],
                    "ipfs_bench_iterations": payload["iterations"],
                    "timer": payload["timer"],
                    "peak_memory_bytes": payload["peak_memory_bytes"],
                    "independent_median_s": independent,
                    "independent_before_median_s": statistics.median(before),
                    "independent_after_median_s": statistics.median(after),
                    "pinned_cpu": payload["extra_info"]["ipfs_bench"].get("pinned_cpu"),
                }) + "\\n")
            return result


    @pytest.fixture
    def ipfs_bench(ipfs_bench, request):
        return Checked(ipfs_bench, request.node)
    '''
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-time", type=float, default=0.5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("-k", default="forward")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--db", help="record into this DuckDB file (default: --ipfs-no-db)")
    parser.add_argument("--hw", default="cuda", help="cpu: dry run of this script without a GPU")
    parser.add_argument("--pytest-arg", action="append", default=[], help="extra pytest argument (repeatable)")
    args = parser.parse_args()

    import pytest
    import torch

    os.environ["CHECK_HW"] = args.hw
    if args.hw == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to measure", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ipfs-bench-cuda-") as tmp:
        folder = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pytest_ipfs_accel", "generate", "bert", "--test-type", "benchmark",
             "--out", str(folder)],
            check=True,
        )
        (folder / "conftest.py").write_text(CONFTEST)
        (folder / "pytest.ini").write_text("[pytest]\n")
        out = folder / "checks.jsonl"
        os.environ["CHECK_OUT"] = str(out)
        os.environ["CHECK_CALLS"] = str(args.calls)
        pytest_args = [str(folder), "-q", "-p", "no:cacheprovider", f"--ipfs-hw={args.hw}", "-k", args.k,
                       f"--ipfs-bench-max-time={args.max_time}", f"--rootdir={folder}"]
        pytest_args += [f"--ipfs-db={args.db}"] if args.db else ["--ipfs-no-db"]
        pytest_args += args.pytest_arg
        installed = any(ep.name == "ipfs_accel" for ep in metadata.entry_points(group="pytest11"))
        if not installed:
            pytest_args += ["-p", "pytest_ipfs_accel.plugin"]
        code = pytest.main(pytest_args)
        rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    device = torch.cuda.get_device_name() if args.hw == "cuda" else args.hw
    print(f"\ndevice: {device}, torch {torch.__version__}, pytest exit {int(code)}")
    print(f"{'case':58s} {'ipfs_bench':>11s} {'wall':>10s} {'independent':>12s} {'ratio':>7s} {'rounds x it':>12s} {'peak MiB':>9s}")
    ratios = []
    for r in rows:
        ratio = r["ipfs_bench_median_s"] / r["independent_median_s"]
        ratios.append(ratio)
        print(
            f"{r['nodeid'].split('::')[-1]:58s} {r['ipfs_bench_median_s'] * 1e6:9.1f}us {r['ipfs_bench_wall_median_s'] * 1e6:8.1f}us"
            f" {r['independent_median_s'] * 1e6:10.1f}us {ratio:7.3f} {r['ipfs_bench_rounds']:>7d} x {r['ipfs_bench_iterations']:<3d}"
            f" {(r['peak_memory_bytes'] or 0) / 2**20:9.1f}"
        )
    if ratios:
        within = sum(1 for x in ratios if abs(x - 1) <= 0.05)
        print(f"{within}/{len(ratios)} cases within 5% of the independent CUDA-event median; "
              f"median ratio {statistics.median(ratios):.3f}, range {min(ratios):.3f}..{max(ratios):.3f}")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "cases": rows}, indent=2))
    return 0 if rows and int(code) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
