"""What recording costs: 10,000 trivial tests with the plugin writing DuckDB vs ``-p no:ipfs_accel``.

Runs real ``python -m pytest`` subprocesses in pairs (the order alternates
within each pair so drift on a busy machine cancels out) and prints the
wall-time ratio of each pair, their median, and a distribution-free 95%
confidence interval of that median (from the order statistics of the ratios),
so a single noisy pair cannot pass for the figure.

    python benchmarks/recording_overhead.py [--tests 10000] [--pairs 11]

Where the package is not installed (PYTHONPATH=. on a bare machine), the
recording side loads the plugin with ``-p pytest_ipfs_accel.plugin``.

The plugin's modules are byte-compiled first, as installing a wheel does: an
editable install under ``PYTHONDONTWRITEBYTECODE=1`` (this project's sandbox
sets it) would otherwise compile them from source at every pytest start, a
cost no ordinary installation pays and that pytest, pluggy and the other
plugins (installed with their bytecode) do not pay either.
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

SUITE = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_trivial(i):
    assert i >= 0
"""


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"pytest failed ({out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def compile_plugin() -> list[str]:
    """Byte-compile the plugin's packages in place (``__pycache__``, as pip does for a wheel)."""
    import compileall
    import importlib.util

    compiled = []
    for package in ("pytest_ipfs_accel", "hardware_markers"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            if compileall.compile_dir(folder, quiet=1):
                compiled.append(folder)
    return compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=11)
    args = parser.parse_args()
    print(f"byte-compiled: {', '.join(compile_plugin()) or 'nothing (not found)'}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "test_trivial.py").write_text(SUITE.format(n=args.tests))
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_trivial.py"]
        installed = any(ep.name == "ipfs_accel" for ep in metadata.entry_points(group="pytest11"))
        variants = {
            "off": [*base, "-p", "no:ipfs_accel"] if installed else base,
            "recording": [*base, f"--ipfs-db={root / 'r.duckdb'}", *([] if installed else ["-p", "pytest_ipfs_accel.plugin"])],
        }
        timed(variants["recording"], root)  # warm the disk cache and DuckDB's file
        ratios, cpu_ratios = [], []
        for pair in range(args.pairs):
            order = ["off", "recording"] if pair % 2 == 0 else ["recording", "off"]
            times = {name: timed(variants[name], root) for name in order}
            ratios.append(times["recording"][0] / times["off"][0])
            cpu_ratios.append(times["recording"][1] / times["off"][1])
            print(
                f"pair {pair + 1}: off {times['off'][0]:.2f} s wall / {times['off'][1]:.2f} s CPU, "
                f"recording {times['recording'][0]:.2f} s wall / {times['recording'][1]:.2f} s CPU, "
                f"wall ratio {ratios[-1]:.3f}, CPU ratio {cpu_ratios[-1]:.3f}",
                flush=True,
            )
        from pytest_ipfs_accel.merge import open_reader

        con = open_reader(root / "r.duckdb")  # merges what the sessions' mergers have not yet
        rows = con.execute("SELECT count(*) FROM test_results").fetchone()[0]
        runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        con.close()
        print(f"rows recorded: {rows} over {runs} runs ({rows // runs} per run)")
        overhead = statistics.median(ratios) - 1
        cpu_overhead = statistics.median(cpu_ratios) - 1
        low, high, level = median_interval(ratios)
        interval = (f"{level * 100:.0f}% CI of the median {(low - 1) * 100:+.1f}%..{(high - 1) * 100:+.1f}%"
                    if level >= 0.9 else "too few pairs for a confidence interval")
        print(f"median overhead of recording {args.tests} tests: {overhead * 100:+.1f}% wall "
              f"(ratio {1 + overhead:.3f}; {interval}), {cpu_overhead * 100:+.1f}% CPU time "
              "(pytest alone: the merger it starts is not its child)")


def median_interval(values: list[float]) -> tuple[float, float, float]:
    """The widest-needed order-statistic interval holding the median with >= 95% confidence.

    (x_(k), x_(n+1-k)) covers the median with probability 1 - 2 P(Binomial(n, 1/2) < k);
    returns the narrowest such interval at >= 95%, or the whole range (and its level)
    when n is too small for 95%.
    """
    xs = sorted(values)
    n = len(xs)
    best = (xs[0], xs[-1], 1 - 2 * 0.5**n)
    for k in range(1, n // 2 + 1):
        level = 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2**n
        if level < 0.95:
            break
        best = (xs[k - 1], xs[n - k], level)
    return best


if __name__ == "__main__":
    main()
