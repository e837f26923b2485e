"""Event latency through the facade: pytest -> service -> WebSocket clients.

Starts a real service (uvicorn on 127.0.0.1, in a subprocess) on a temporary
suite of quick tests, starts runs, and for each run connects ``--subscribers``
WebSocket clients.  Prints:

- delivery latency: ``arrival time at a client - ipfs_ts`` of every
  ``TestReport`` event (``ipfs_ts`` is the wall clock when the plugin wrote
  the line), p50 / p90 / p99 / max over all clients and events;
- time from ``POST /api/test/run`` to the first event at a client
  (``RunQueued``, written by the service) and to the first event of pytest
  itself (``SessionStart``: includes starting the Python interpreter and pytest).

Usage: python benchmarks/facade_latency.py [--subscribers 10] [--tests 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from api_facade.client import AsyncClient
from api_facade.testing import LEAN_ADDOPTS, ServiceProcess

TOKEN = "latency-bench"


def write_suite(root: Path, tests: int, sleep_s: float) -> None:
    (root / "pytest.ini").write_text(f"[pytest]\naddopts = {LEAN_ADDOPTS}\n")
    (root / "test_quick.py").write_text(
        "import time\nimport pytest\n\n\n"
        f"@pytest.mark.parametrize('i', range({tests}))\n"
        f"def test_quick(i):\n    time.sleep({sleep_s})\n"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(int(round(q / 100 * (len(ordered) - 1))), len(ordered) - 1)
    return ordered[index]


async def one_run(url: str, subscribers: int) -> tuple[list[float], float, float, int]:
    """(delivery latencies, POST->first event, POST->SessionStart, events per client)."""
    async with AsyncClient(url, token=TOKEN) as client:
        posted = time.time()
        run_id = await client.start_run(["test_quick.py"])

        async def subscribe() -> list[tuple[float, dict]]:
            received = []
            async for event in client.events(run_id):
                received.append((time.time(), event))
            return received

        streams = await asyncio.gather(*(subscribe() for _ in range(subscribers)))
        status = await client.wait(run_id, timeout=300)
        if status["status"] != "passed":
            raise SystemExit(f"run {run_id} ended {status['status']}: {status['reason']}")
    latencies = [arrived - event["ipfs_ts"] for received in streams for arrived, event in received
                 if event["$report_type"] == "TestReport"]
    first = min(received[0][0] for received in streams) - posted
    session = min(next(t for t, e in received if e["$report_type"] == "SessionStart") for received in streams)
    return latencies, first, session - posted, len(streams[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--sleep", type=float, default=0.005, help="seconds each test sleeps")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_suite(root, args.tests, args.sleep)
        with ServiceProcess(db_path=root / "svc.duckdb", suite_root=root, token=TOKEN) as service:
            httpx.get(f"{service.url}/api/health").raise_for_status()
            latencies: list[float] = []
            firsts, sessions, events = [], [], 0
            for _ in range(args.runs):
                lat, first, session, count = asyncio.run(one_run(service.url, args.subscribers))
                latencies += lat
                firsts.append(first)
                sessions.append(session)
                events = count

    ms = 1000.0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"facade event latency: {args.runs} runs x {args.tests} tests, {args.subscribers} WebSocket subscribers "
          f"each ({events} events per run per subscriber); {os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"  TestReport written by pytest -> received by a client ({len(latencies)} deliveries):")
    print(f"    p50 {percentile(latencies, 50) * ms:.2f} ms   p90 {percentile(latencies, 90) * ms:.2f} ms   "
          f"p99 {percentile(latencies, 99) * ms:.2f} ms   max {max(latencies) * ms:.2f} ms")
    print(f"  POST /api/test/run -> first event at a client (RunQueued): median "
          f"{statistics.median(firsts) * ms:.1f} ms (runs: {', '.join(f'{f * ms:.1f}' for f in firsts)})")
    print(f"  POST /api/test/run -> first pytest event (SessionStart): median "
          f"{statistics.median(sessions) * ms:.0f} ms (runs: {', '.join(f'{s * ms:.0f}' for s in sessions)})")


if __name__ == "__main__":
    main()
