"""What the shared store costs a session, and how many sessions it takes at once.

1. Recording cost: real ``python -m pytest`` runs of 1, 20 and 10,000 trivial
   tests, in alternating pairs (``-p no:ipfs_accel`` vs recording to a store),
   plugin byte-compiled as a wheel install leaves it.  Prints each size's median
   extra wall time per session and the median ratio.  The session's detached
   merger runs after pytest has returned; the script waits for it between runs
   (so it never overlaps the next timed run) and prints how long after pytest's
   exit the run was in the store, and waits for the merger process itself to
   exit (its DuckDB checkpoint and interpreter exit come after the spool is
   gone).  Also prints the extra CPU time of the pytest process, a steadier
   figure than wall time on a shared machine, the 95% confidence interval of the
   median difference (order statistics of the paired differences), how many
   pairs the interval needs to end below the 50 ms goal at the spread seen, and
   where the spread comes from: time spent off the CPU (waiting for a core:
   other load, VM steal) against the spread of the pytest process's own CPU time.
2. Concurrency: N sessions of M tests each start at once on one store; prints
   the wall time until every run is merged, rows per second, and rows lost
   (expected minus found: must be 0).

    python benchmarks/store_concurrency.py [--sizes 1 20 10000] [--pairs 9] [--large-pairs 3]
                                           [--sessions 1 2 4 8] [--tests-per-session 500]

Figures from a shared machine are noisy; read them with their spread.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recording_overhead import SUITE, compile_plugin, median_interval  # noqa: E402

from pytest_ipfs_accel import merge, spool, store  # noqa: E402


def _installed() -> bool:
    return any(ep.name == "ipfs_accel" for ep in metadata.entry_points(group="pytest11"))


def _command(db: Path | None) -> list[str]:
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_trivial.py"]
    if db is None:
        return [*base, "-p", "no:ipfs_accel"] if _installed() else base
    return [*base, f"--ipfs-db={db}", *([] if _installed() else ["-p", "pytest_ipfs_accel.plugin"])]


def _timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one pytest run; the CPU is pytest's own (the detached merger
    is not waited for, so its time is not counted: it is reparented when pytest exits)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0 or "NOT recorded" in out.stdout:
        sys.exit(f"pytest failed ({out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _wait_merged(db: Path, timeout: float = 120.0) -> float:
    """Seconds until no spool is pending for ``db`` (the detached merger is done)."""
    start = time.perf_counter()
    while merge.has_pending(db):
        if time.perf_counter() - start > timeout:
            sys.exit(f"spools still pending for {db} after {timeout} s")
        time.sleep(0.005)
    merged = time.perf_counter() - start
    while _merger_running(db):  # its DuckDB checkpoint and exit must not overlap the next run
        if time.perf_counter() - start > timeout:
            sys.exit(f"the merger for {db} still runs after {timeout} s")
        time.sleep(0.005)
    return merged


def _merger_running(db: Path) -> bool:
    """Whether a ``python -m pytest_ipfs_accel.merge DB`` process for ``db`` is alive (Linux /proc)."""
    wanted = [b"pytest_ipfs_accel.merge", str(db).encode()]
    for entry in Path("/proc").iterdir() if Path("/proc/self").exists() else ():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if all(w in args for w in wanted):
                return True
    return False


def _steal_ticks() -> int:
    """The machine's steal time so far in clock ticks (/proc/stat; 0 where there is none)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) if len(fields) > 8 else 0
    except OSError:
        return 0


GOAL_MS = 50.0


def _ci_line(name: str, diffs_ms: list[float]) -> str:
    """Median paired difference with its order-statistic 95% CI."""
    low, high, level = median_interval(diffs_ms)
    return (f"{name} {statistics.median(diffs_ms):+.1f} ms, "
            f"{level * 100:.0f}% CI {low:+.1f}..{high:+.1f} ms" if level >= 0.9 else
            f"{name} {statistics.median(diffs_ms):+.1f} ms (too few pairs for a 95% CI)")


def _pairs_needed(diffs_ms: list[float]) -> str:
    """Pairs for the 95% CI's upper end to fall below GOAL_MS, scaling its half-width as 1/sqrt(n)."""
    median = statistics.median(diffs_ms)
    low, high, level = median_interval(diffs_ms)
    if median >= GOAL_MS:
        return f"the median is not below {GOAL_MS:.0f} ms: more pairs will not prove it"
    if level >= 0.95 and high < GOAL_MS:
        return f"the CI already ends below {GOAL_MS:.0f} ms ({len(diffs_ms)} pairs)"
    half = (high - low) / 2 or 1e-9
    needed = math.ceil(len(diffs_ms) * (half / (GOAL_MS - median)) ** 2)
    return f"about {max(needed, 9)} pairs for the 95% CI to end below {GOAL_MS:.0f} ms at this spread"


def recording_cost(size: int, pairs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "test_trivial.py").write_text(SUITE.format(n=size))
        db = root / "r.duckdb"
        off, on = _command(None), _command(db)
        _timed(on, root)  # warm the disk cache
        _wait_merged(db)
        extra, ratios, cpu_extra, merged_after = [], [], [], []
        waits: dict[str, list[float]] = {"off": [], "on": []}
        steal_before, load_before = _steal_ticks(), os.getloadavg()[0]
        for pair in range(pairs):
            times = {}
            for name in (("off", "on") if pair % 2 == 0 else ("on", "off")):
                times[name] = _timed(off if name == "off" else on, root)
                waits[name].append(times[name][0] - times[name][1])
                if name == "on":
                    merged_after.append(_wait_merged(db))
            extra.append(times["on"][0] - times["off"][0])
            ratios.append(times["on"][0] / times["off"][0])
            cpu_extra.append(times["on"][1] - times["off"][1])
        con = merge.open_reader(db)
        rows, runs = con.execute("SELECT count(*), count(DISTINCT run_id) FROM test_results").fetchone()
        con.close()
        assert rows == runs * size, (rows, runs, size)
        print(f"{size:>6} tests: recording adds {statistics.median(extra) * 1000:+7.1f} ms wall per session "
              f"(median of {pairs} pairs; spread {min(extra) * 1000:+.0f}..{max(extra) * 1000:+.0f} ms), "
              f"ratio {statistics.median(ratios):.3f}; pytest's CPU {statistics.median(cpu_extra) * 1000:+.1f} ms; "
              f"in the store {statistics.median(merged_after) * 1000:.0f} ms "
              f"after pytest returned; {rows} rows over {runs} runs, none lost", flush=True)
        extra_ms, cpu_ms = [x * 1000 for x in extra], [x * 1000 for x in cpu_extra]
        print(f"         {_ci_line('wall', extra_ms)}; {_ci_line('CPU', cpu_ms)}; {_pairs_needed(extra_ms)}",
              flush=True)
        steal_s = (_steal_ticks() - steal_before) / os.sysconf("SC_CLK_TCK")
        print(f"         spread: wall diffs {min(extra_ms):+.0f}..{max(extra_ms):+.0f} ms, pytest CPU diffs "
              f"{min(cpu_ms):+.0f}..{max(cpu_ms):+.0f} ms; off the CPU per run (wall - CPU) "
              + ", ".join(f"{k} {statistics.median(v) * 1000:.0f} ms ({min(v) * 1000:.0f}..{max(v) * 1000:.0f})"
                          for k, v in waits.items())
              + f"; VM steal {steal_s:.1f} s; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}",
              flush=True)


def concurrency(sessions: int, tests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = root / "shared.duckdb"
        folders = []
        for i in range(sessions):
            folder = root / f"s{i}"
            folder.mkdir()
            (folder / "test_trivial.py").write_text(SUITE.format(n=tests))
            folders.append(folder)
        start = time.perf_counter()
        procs = [subprocess.Popen(_command(db), cwd=f, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for f in folders]
        outputs = [p.communicate()[0] for p in procs]
        sessions_done = time.perf_counter() - start
        _wait_merged(db)
        wall = time.perf_counter() - start
        not_recorded = sum("NOT recorded" in out for out in outputs)
        failed = sum(p.returncode != 0 for p in procs)
        con = store.open_store(db, read_only=True)
        found, runs = con.execute("SELECT count(*), count(DISTINCT run_id) FROM test_results").fetchone()
        whole = con.execute("SELECT count(*) FROM runs WHERE status = 'passed' AND tests_collected = ?",
                            [tests]).fetchone()[0]
        con.close()
        expected = sessions * tests
        print(f"{sessions:>2} sessions x {tests} tests at once: all ended in {sessions_done:.2f} s, all merged in "
              f"{wall:.2f} s -> {found / wall:,.0f} rows/s; rows {found}/{expected} (lost {expected - found}), "
              f"runs whole {whole}/{sessions}, 'NOT recorded' {not_recorded}, failed sessions {failed}", flush=True)
        if spool.pending(spool.spool_dir(db)):
            print("  (spools left pending!)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 20, 10_000])
    parser.add_argument("--pairs", type=int, default=9, help="pairs for sizes up to 1000")
    parser.add_argument("--large-pairs", type=int, default=3, help="pairs for larger sizes")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--tests-per-session", type=int, default=500)
    args = parser.parse_args()
    print(f"byte-compiled: {', '.join(compile_plugin()) or 'nothing (not found)'}")
    print("-- recording cost per session (pytest's wall time; the merge happens after it returns)")
    for size in args.sizes:
        recording_cost(size, args.pairs if size <= 1000 else args.large_pairs)
    print("-- concurrent sessions on one store")
    for n in args.sessions:
        concurrency(n, args.tests_per_session)


if __name__ == "__main__":
    main()
