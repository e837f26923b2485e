"""Load on the facade: N concurrent runs x M WebSocket subscribers each; events lost or duplicated.

Starts a real service (uvicorn on 127.0.0.1, in a subprocess) with room for
all runs at once, starts ``--runs`` runs of ``--tests`` quick tests, and
subscribes ``--subscribers`` clients (``api_facade.client.AsyncClient``, which
resumes by ``seq`` after any early end) to each.  For every subscriber it
prints the events it should have got (the run's ``last_seq``), how many were
lost (seqs missing) and duplicated (seqs seen twice), and how often it had to
reconnect.  Every figure is counted, none is timed, so a busy machine changes
nothing but the run time.

Usage: python benchmarks/facade_load.py [--runs 4] [--subscribers 10] [--tests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from api_facade.client import AsyncClient
from api_facade.testing import LEAN_ADDOPTS, ServiceProcess

TOKEN = "load-bench"


def write_suite(root: Path, tests: int) -> None:
    (root / "pytest.ini").write_text(f"[pytest]\naddopts = {LEAN_ADDOPTS}\n")
    (root / "test_load.py").write_text(
        "import pytest\n\n\n"
        f"@pytest.mark.parametrize('i', range({tests}))\n"
        "def test_load(i):\n    assert i >= 0\n"
    )


async def scenario(url: str, runs: int, subscribers: int) -> list[tuple[str, int, int, int, int, int]]:
    """(run_id, subscriber, expected, lost, duplicated, reconnects) per subscriber."""
    async with AsyncClient(url, token=TOKEN) as client:
        run_ids = [await client.start_run(["test_load.py"]) for _ in range(runs)]

        async def subscribe(run_id: str, index: int) -> tuple[list[int], int]:
            await asyncio.sleep(index * 0.05)  # late joiners get the replay, then live events
            async with AsyncClient(url, token=TOKEN) as own:
                seqs = [event["seq"] async for event in own.events(run_id)]
                return seqs, own.resumes

        jobs = [subscribe(r, i) for r in run_ids for i in range(subscribers)]
        streams = await asyncio.gather(*jobs)
        finals = {r: await client.wait(r, timeout=600) for r in run_ids}
    rows = []
    for position, (seqs, resumes) in enumerate(streams):
        run_id = run_ids[position // subscribers]
        expected = finals[run_id]["last_seq"]
        counts = Counter(seqs)
        lost = sum(1 for seq in range(1, expected + 1) if seq not in counts)
        duplicated = sum(n - 1 for n in counts.values() if n > 1)
        rows.append((run_id, position % subscribers, expected, lost, duplicated, resumes))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--tests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "suite"
        root.mkdir()
        write_suite(root, args.tests)
        with ServiceProcess(db_path=Path(tmp) / "s.duckdb", suite_root=root, token=TOKEN,
                            max_concurrent_runs=args.runs, log_path=Path(tmp) / "service.log") as svc:
            started = time.monotonic()
            rows = asyncio.run(scenario(svc.url, args.runs, args.subscribers))
            elapsed = time.monotonic() - started
    print(f"{args.runs} concurrent runs x {args.subscribers} subscribers, {args.tests} tests per run "
          f"({elapsed:.1f} s wall, not a performance figure)")
    print(f"{'run':<34} {'sub':>3} {'events':>7} {'lost':>5} {'dup':>5} {'reconnects':>10}")
    for run_id, sub, expected, lost, duplicated, resumes in rows:
        print(f"{run_id:<34} {sub:>3} {expected:>7} {lost:>5} {duplicated:>5} {resumes:>10}")
    print(f"total: {len(rows)} subscribers, {sum(r[2] for r in rows)} events expected, "
          f"{sum(r[3] for r in rows)} lost, {sum(r[4] for r in rows)} duplicated, "
          f"{sum(r[5] for r in rows)} reconnects")


if __name__ == "__main__":
    main()
