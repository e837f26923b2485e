"""What recording costs in CPU instructions of the pytest process, counted by valgrind (no timing noise).

Wall time on a shared VM varies by several percent from run to run, which
hides a cost of a few percent (``recording_overhead.py`` measures wall time in
paired runs and prints its confidence interval).  Instruction counts do not
vary: this script runs ``pytest`` under ``valgrind --tool=callgrind`` on two
suite sizes, with the plugin off (``-p no:ipfs_accel``), loaded but not writing
(``--ipfs-no-db``: the recorder still folds every report into a row) and
recording to DuckDB, and splits each variant's count into a fixed part and a
part per test.
It then prints the extrapolated overhead for ``--tests`` tests.  Only the
pytest process is counted: the detached merger is a process pytest does not wait for, on another
core (``--trace-children=no``), and waiting for it costs no instructions.

The plugin's modules are byte-compiled first, as installing a wheel does (see
``recording_overhead.py``).  Needs valgrind (``apt-get install valgrind``);
takes a few minutes (pytest runs about 50 times slower under callgrind).

    python benchmarks/recording_instructions.py [--sizes 1000 3000] [--tests 10000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recording_overhead import SUITE, compile_plugin  # noqa: E402

from pytest_ipfs_accel.recorder import FLUSH_INTERVAL_S  # noqa: E402


def instructions(cmd: list[str], cwd: Path, out: Path) -> int:
    """Instructions the pytest process executed (callgrind's "Collected" total)."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--trace-children=no", f"--callgrind-out-file={out}", *cmd],
        cwd=cwd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if proc.returncode != 0:
        sys.exit(f"pytest under valgrind failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    counts = [int(n) for n in re.findall(r"Collected : (\d+)", proc.stderr)]
    if not counts:
        sys.exit(f"no instruction count in valgrind's output:\n{proc.stderr[-2000:]}")
    return max(counts)  # the pytest process; forked helpers (git) report smaller counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=(1000, 3000), metavar=("SMALL", "LARGE"))
    parser.add_argument("--tests", type=int, default=10_000, help="suite size to extrapolate to")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    small, large = args.sizes
    if not 0 < small < large:
        sys.exit("--sizes: expected SMALL < LARGE, both > 0")
    print(f"byte-compiled: {', '.join(compile_plugin()) or 'nothing (not found)'}")
    installed = any(ep.name == "ipfs_accel" for ep in metadata.entry_points(group="pytest11"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        counts: dict[str, dict[int, int]] = {"off": {}, "no-db": {}, "recording": {}}
        plugin = [] if installed else ["-p", "pytest_ipfs_accel.plugin"]
        for n in (small, large):
            (root / f"test_{n}.py").write_text(SUITE.format(n=n))
            base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"test_{n}.py"]
            variants = {
                "off": [*base, "-p", "no:ipfs_accel"] if installed else base,
                "no-db": [*base, "--ipfs-no-db", *plugin],
                "recording": [*base, f"--ipfs-db={root / f'r{n}.duckdb'}", *plugin],
            }
            for name, cmd in variants.items():
                counts[name][n] = instructions(cmd, root, root / f"{name}-{n}.out")
                print(f"{name:9s} {n:6d} tests: {counts[name][n] / 1e6:10.1f} M instructions", flush=True)
        fit = {}
        for name, by_size in counts.items():
            per_test = (by_size[large] - by_size[small]) / (large - small)
            fit[name] = (by_size[small] - small * per_test, per_test)
            print(f"{name:9s} fixed {fit[name][0] / 1e6:8.1f} M, per test {fit[name][1] / 1e3:7.1f} k instructions")
        total = {name: fixed + args.tests * per for name, (fixed, per) in fit.items()}
        for name, what in (("no-db", "the plugin and its recorder, without the spool"),
                           ("recording", "recording to DuckDB")):
            extra = total[name] / total["off"] - 1
            print(f"{name} ({what}), {args.tests} tests: {extra * 100:+.2f}% instructions in the "
                  f"pytest process (fixed {(fit[name][0] - fit['off'][0]) / 1e6:+.1f} M, "
                  f"per test {(fit[name][1] - fit['off'][1]) / 1e3:+.1f} k)")
        print("(the recording figure overstates: the spool is flushed every "
              f"{FLUSH_INTERVAL_S} s of wall time, and pytest runs ~50 times slower under callgrind, "
              "so it writes ~50 times as many frames as in a normal run; the detached merger, a "
              "process pytest does not wait for, is not counted)")


if __name__ == "__main__":
    main()
