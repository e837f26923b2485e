"""Faults in the facade that must lose no result: cancel, timeout, service SIGKILL + restart.

For each fault, a real service (uvicorn, ``api_facade.testing.ServiceProcess``)
runs a suite of 10 quick tests and one slow one, the fault strikes once pytest
has reported the 10, and the script prints the rows pytest reported (a conftest
ledger written by pytest's controller as each test's final report arrives)
against the rows in ``results`` (``GET /api/test/results``).  Equal is the goal.

- cancel / timeout, under ``-n 0`` and ``-n 2``;
- the service is SIGKILLed and restarted while the run's pytest is alive
  (recovery interrupts it and merges its spool), and after it has finished on
  its own (recovery merges the complete spool).

    python benchmarks/facade_faults.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import psutil

from api_facade.client import Client
from api_facade.testing import ServiceProcess, make_suite
from pytest_ipfs_accel import spool

TOKEN = "faults"

SUITE = """
import os
import time

import pytest


@pytest.mark.parametrize("i", range(10))
def test_quick(i):
    pass


def test_zz_slow():
    time.sleep(float(os.environ.get("SLOW_S", "120")))
"""

# what pytest reported: its controller appends each item's final report (xdist workers do not)
LEDGER = """
import os
from pathlib import Path


def pytest_runtest_logreport(report):
    if os.environ.get("PYTEST_XDIST_WORKER") or report.when != "teardown":
        return
    ledger = Path(os.environ["LEDGER_DIR"]) / f"{os.getpid()}.txt"
    with ledger.open("a") as handle:
        handle.write(report.nodeid + "\\n")
"""


def _suite(root: Path) -> Path:
    make_suite(root)
    (root / "tests" / "test_ten_then_slow.py").write_text(SUITE)
    (root / "tests" / "conftest.py").write_text(LEDGER)
    (root / "ledger").mkdir()
    return root


def _reported(root: Path) -> set[str]:
    return {line for path in (root / "ledger").glob("*.txt") for line in path.read_text().splitlines()}


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def _line(name: str, reported: set[str], client: Client, run_id: str, extra: str = "") -> None:
    results = client.results(run_id)
    stored = {t["nodeid"]: t["outcome"] for t in results["tests"]}
    missing = sorted(reported - set(stored))
    print(f"{name:<34} status {results['status']:<11} reported by pytest {len(reported):>2}  "
          f"in results {len(stored):>2} ({', '.join(f'{o} {n}' for o, n in sorted(_count(stored).items()))})  "
          f"missing {len(missing)}{extra}", flush=True)


def _count(stored: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in stored.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def cancel_and_timeout(base: Path) -> None:
    root = _suite(base / "ct")
    with ServiceProcess(db_path=base / "ct.duckdb", suite_root=root, token=TOKEN, max_concurrent_runs=1,
                        kill_grace_s=5.0, env={"LEDGER_DIR": str(root / "ledger")}) as svc, \
            Client(svc.url, token=TOKEN) as client:
        for how in ("cancel", "timeout"):
            for workers in (0, 2):
                for old in (root / "ledger").glob("*.txt"):
                    old.unlink()
                run_id = client.start_run(["tests/test_ten_then_slow.py"], workers=workers,
                                          timeout_s=40 if how == "timeout" else None)
                _wait(lambda: len(_reported(root)) >= 10, 180, "10 reported results")
                started = time.monotonic()
                if how == "cancel":
                    client.cancel(run_id)
                final = client.wait(run_id, timeout=180)
                ended = f"; ended {time.monotonic() - started:.1f} s after the fault" if how == "cancel" else ""
                _line(f"{how} -n {workers} ({final['status']})", _reported(root), client, run_id, ended)


def restart(base: Path, child_alive: bool) -> None:
    name = "alive" if child_alive else "finished"
    root = _suite(base / name)
    settings = dict(db_path=base / f"{name}.duckdb", suite_root=root, token=TOKEN, kill_grace_s=5.0,
                    env={"LEDGER_DIR": str(root / "ledger"), "SLOW_S": "120" if child_alive else "2"})
    first = ServiceProcess(**settings).start()
    try:
        with Client(first.url, token=TOKEN) as client:
            run_id = client.start_run(["tests/test_ten_then_slow.py"])
            _wait(lambda: len(_reported(root)) >= 10, 180, "10 reported results")
            marker = client.status(run_id)["pytest_run_ids"][0]
    finally:
        first.stop(crash=True)
    if not child_alive:  # let the orphaned pytest finish on its own
        _wait(lambda: not [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])],
              180, "the orphaned pytest to finish")
    reported = _reported(root)
    with ServiceProcess(**settings) as second, Client(second.url, token=TOKEN) as client:
        left = len(spool.pending(spool.spool_dir(base / f"{name}.duckdb")))
        _line(f"SIGKILL + restart, child {name}", reported, client, run_id, f"; spools left {left}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cancel_and_timeout(base)
        restart(base, child_alive=True)
        restart(base, child_alive=False)


if __name__ == "__main__":
    main()
