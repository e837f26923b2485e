"""ipfs_bench on CUDA against an independent CUDA-event measurement, in one process.

Generates the tiny-BERT benchmark module (``ipfs-accel generate bert
--test-type benchmark``), runs its forward cases with ``--ipfs-hw=cuda``
in-process, and checks each case's ``ipfs_bench`` median against two
measurements made in the test by code that shares nothing with ``ipfs_bench``:

- *same calls*: a CUDA event pair of its own around every call ``ipfs_bench``
  makes (the callable is wrapped), median over the calls of the timed rounds.
  Both see the same machine state, so this is the parity check proper.
- *blocks*: a plain loop of event pairs (device synchronized before each call),
  half before ``ipfs_bench`` and half after.  On a launch-bound model this
  follows the host's and the GPU clocks' drift between the blocks, which is
  shown for context.

Prints both medians per case and their ratios.  Needs a CUDA device
(``--hw cpu`` is a dry run of the script with perf_counter).

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


    class PerCallEvents:
        """fn with its own CUDA event pair around every call ipfs_bench makes.

        These events time the very calls ipfs_bench times, so the two medians see
        the same machine state; a drift of the GPU's clocks or of the host between
        the before/after blocks and ipfs_bench cannot separate them.
        """

        def __init__(self, fn):
            self.fn = fn
            self.pairs = []

        def __call__(self, *args, **kwargs):
            if os.environ.get("CHECK_HW") == "cpu":
                import time
                t0 = time.perf_counter()
                result = self.fn(*args, **kwargs)
                self.pairs.append(time.perf_counter() - t0)
                return result
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            result = self.fn(*args, **kwargs)
            end.record()
            self.pairs.append((start, end))
            return result

        def times(self):
            if os.environ.get("CHECK_HW") == "cpu":
                return list(self.pairs)
            torch.cuda.synchronize()
            return [s.elapsed_time(e) / 1000.0 for s, e in self.pairs]


    class Checked:
        """ipfs_bench, with the same calls timed by their own events, and independent blocks."""

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
            per_call = PerCallEvents(fn)
            result = self._bench(per_call, *args, **kwargs)
            payload = self._bench.payload
            after = independent_cuda_times(fn, args, kwargs, half)
            # the timed rounds are the last `rounds x iterations` calls ipfs_bench made
            same_calls = per_call.times()[-payload["rounds"] * payload["iterations"]:]
            with open(os.environ["CHECK_OUT"], "a") as fh:
                fh.write(json.dumps({
                    "nodeid": self._node.nodeid,
                    "ipfs_bench_median_s": payload["median_s"],
                    "ipfs_bench_wall_median_s": payload["wall_median_s"],
                    "ipfs_bench_rounds": payload["rounds"],
                    "ipfs_bench_iterations": payload["iterations"],
                    "timer": payload["timer"],
                    "peak_memory_bytes": payload["peak_memory_bytes"],
                    "same_calls_median_s": statistics.median(same_calls),
                    "same_calls_n": len(same_calls),
                    "independent_median_s": statistics.median(before + after),
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
    print(f"{'case':50s} {'ipfs_bench':>10s} {'wall':>9s} {'same calls':>10s} {'ratio':>6s}"
          f" {'blocks':>9s} {'ratio':>6s} {'rounds x it':>11s} {'peak MiB':>8s}")
    same, blocks = [], []
    for r in rows:
        same.append(r["ipfs_bench_median_s"] / r["same_calls_median_s"])
        blocks.append(r["ipfs_bench_median_s"] / r["independent_median_s"])
        print(
            f"{r['nodeid'].split('::')[-1]:50s} {r['ipfs_bench_median_s'] * 1e6:8.1f}us"
            f" {r['ipfs_bench_wall_median_s'] * 1e6:7.1f}us {r['same_calls_median_s'] * 1e6:8.1f}us {same[-1]:6.3f}"
            f" {r['independent_median_s'] * 1e6:7.1f}us {blocks[-1]:6.3f}"
            f" {r['ipfs_bench_rounds']:>6d} x {r['ipfs_bench_iterations']:<3d} {(r['peak_memory_bytes'] or 0) / 2**20:8.1f}"
        )
    for label, ratios in (("its own CUDA events on the same calls", same),
                          ("independent blocks of calls before and after it", blocks)):
        if ratios:
            within = sum(1 for x in ratios if abs(x - 1) <= 0.05)
            print(f"ipfs_bench vs {label}: {within}/{len(ratios)} cases within 5%; "
                  f"median ratio {statistics.median(ratios):.3f}, range {min(ratios):.3f}..{max(ratios):.3f}")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "cases": rows}, indent=2))
    return 0 if rows and int(code) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
