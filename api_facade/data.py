"""The service's data: its ``facade_runs`` table, short-lived store connections, and its queries.

The store is shared (DESIGN.md): plain pytest sessions, their mergers and
``ipfs-accel report`` open the same file, and DuckDB lets one process at a
time hold it.  So the service holds it only while it uses it: a connection is
opened on demand, closed after :attr:`ServiceDB.idle_close_s` without use, and,
under a steady stream of calls, closed after :attr:`ServiceDB.max_hold_s` with a
pause of :attr:`ServiceDB.yield_s` before the next open, so another opener
(whose retries come at most 50 ms apart) gets its turn.  Runs started by the
service spool into the store like any session; their spools are merged when
the run ends, and a sweeper merges everyone else's every :attr:`ServiceDB.sweep_s`
(only when a spool is new or has grown).  Calls run in worker threads
(``await db.call(...)``) so a slow query or a wait for the lock never blocks
the event loop that streams events.

Every query function takes the connection first, so it runs through
:meth:`ServiceDB.call`.  Timestamps leave DuckDB as naive UTC
(``timezone('UTC', ...)``): turning ``TIMESTAMPTZ`` into Python needs pytz.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from api_facade.runs.jobs import ACTIVE, Job
from pytest_ipfs_accel import merge, store

T = TypeVar("T")
log = logging.getLogger("api_facade")

FACADE_RUNS = (
    ("run_id", "VARCHAR PRIMARY KEY"),
    ("kind", "VARCHAR"),  # test benchmark generate workflow
    ("status", "VARCHAR"),  # queued running passed failed error cancelled timeout interrupted
    ("reason", "VARCHAR"),
    # naive UTC: reading TIMESTAMPTZ back into Python would need pytz
    ("created_at", "TIMESTAMP"),
    ("started_at", "TIMESTAMP"),
    ("finished_at", "TIMESTAMP"),
    ("exit_code", "INTEGER"),
    ("request", "VARCHAR"),  # JSON: the request as accepted
    ("argv", "VARCHAR"),  # JSON: the last pytest command line
    ("pytest_run_ids", "VARCHAR"),  # JSON: plugin run ids (rows in runs/test_results/...)
    ("hardware", "VARCHAR"),  # JSON list of backend names requested
    ("files", "VARCHAR"),  # JSON: generated files, relative to the suite root
    ("steps", "VARCHAR"),  # JSON: workflow steps
    ("counts", "VARCHAR"),  # JSON: outcome -> count
    ("collected", "INTEGER"),
    ("done", "INTEGER"),
    ("pgid", "INTEGER"),  # process group of the running pytest (to reap after a crash)
)
COLUMNS = tuple(name for name, _ in FACADE_RUNS)


class ServiceDB:
    """The service's access to the store: one connection at a time, held only while in use."""

    idle_close_s = 0.2
    max_hold_s = 1.0
    yield_s = 0.1
    sweep_s = 1.0

    def __init__(self, path: Path, *, sweep: bool = True) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._con = None
        self._opened_at = 0.0
        self._last_use = 0.0
        self._seen: dict[Path, int] = {}  # live spools merged already, by size
        body = ", ".join(f'"{name}" {kind}' for name, kind in FACADE_RUNS)
        self.run(lambda con: con.execute(f"CREATE TABLE IF NOT EXISTS facade_runs ({body})"))
        self._stop = threading.Event()
        self._closer = threading.Thread(target=self._housekeeping, args=(sweep,), name="facade-db", daemon=True)
        self._closer.start()

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(con, *args)`` holding the store (blocking; waits out another holder)."""
        with self._lock:
            now = time.monotonic()
            if self._con is not None and now - self._opened_at > self.max_hold_s:
                self._close()
                time.sleep(self.yield_s)  # another process waiting for the file gets it now
            if self._con is None:
                self._con = store.open_store(self.path)
                self._opened_at = time.monotonic()
            try:
                return fn(self._con, *args)
            finally:
                self._last_use = time.monotonic()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(con, *args)`` in a worker thread holding the store."""
        return await asyncio.to_thread(self.run, fn, *args)

    def merge_spools(self, run_ids: Sequence[str] | None = None) -> merge.MergeSummary:
        """Merge pending spools (of ``run_ids`` only, when given) into the store (blocking)."""
        return self.run(lambda con: merge.merge_spools(con, self.path, run_ids=run_ids, seen=self._seen))

    def _housekeeping(self, sweep: bool) -> None:
        next_sweep = time.monotonic() + self.sweep_s
        while not self._stop.wait(self.idle_close_s / 2):
            if sweep and time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + self.sweep_s
                if merge.has_pending(self.path):
                    try:
                        summary = self.merge_spools()
                        for error in summary.errors:
                            log.warning("could not merge a spool: %s", error)
                    except Exception as exc:  # noqa: BLE001 - the sweeper must outlive a bad moment
                        log.warning("could not merge spools into %s: %s", self.path, exc)
            with self._lock:
                if self._con is not None and time.monotonic() - self._last_use >= self.idle_close_s:
                    self._close()

    def _close(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            con.close()

    @property
    def held(self) -> bool:
        """Whether the service holds the file right now."""
        return self._con is not None

    def close(self) -> None:
        self._stop.set()
        self._closer.join()
        with self._lock:
            self._close()


def save_job(con, job: Job) -> None:
    row = job.to_row()
    marks = ", ".join("?" for _ in COLUMNS)
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    con.execute(f"INSERT OR REPLACE INTO facade_runs ({names}) VALUES ({marks})", [row[c] for c in COLUMNS])


def load_job(con, run_id: str) -> Job | None:
    rows = store.fetch_dicts(con, "SELECT * FROM facade_runs WHERE run_id = ?", [run_id])
    return Job.from_row(rows[0]) if rows else None


def list_jobs(con, kinds: Sequence[str], status: str | None, limit: int) -> list[Job]:
    sql = "SELECT * FROM facade_runs WHERE kind IN (SELECT unnest(?::VARCHAR[]))"
    params: list[Any] = [list(kinds)]
    if status:
        sql += " AND status = ?"
        params.append(status)
    sql += " ORDER BY created_at DESC LIMIT ?"
    params.append(limit)
    return [Job.from_row(r) for r in store.fetch_dicts(con, sql, params)]


def lost_jobs(con) -> list[Job]:
    """Jobs a previous service left queued or running."""
    rows = store.fetch_dicts(
        con, "SELECT * FROM facade_runs WHERE status IN (SELECT unnest(?::VARCHAR[]))", [list(ACTIVE)]
    )
    return [Job.from_row(r) for r in rows]


def merge_shard(con, path: Path, killed_run_ids: Sequence[str] = ()) -> dict[str, int]:
    """Merge a run's shard file (written by an older service); a run killed mid-way is marked
    ``interrupted`` in the plugin's table."""
    copied = merge.merge_file(con, path)
    if killed_run_ids:
        con.execute(
            "UPDATE runs SET status = 'interrupted' WHERE status = 'running' "
            "AND run_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(killed_run_ids)],
        )
    return copied


def outcome_counts(con, run_ids: Sequence[str]) -> dict[str, int]:
    rows = con.execute(
        "SELECT outcome, count(*) FROM test_results WHERE subtest IS NULL "
        "AND run_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY outcome",
        [list(run_ids)],
    ).fetchall()
    return {outcome: n for outcome, n in rows}


def test_rows(con, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    return store.fetch_dicts(
        con,
        "SELECT nodeid, outcome, duration_s, hardware, model, message, subtest, run_id "
        "FROM test_results WHERE run_id IN (SELECT unnest(?::VARCHAR[])) "
        "ORDER BY finished_at NULLS LAST, nodeid, subtest NULLS FIRST",
        [list(run_ids)],
    )


def plugin_runs(con, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    return store.fetch_dicts(
        con,
        "SELECT run_id, status, exit_status, hardware, tests_collected FROM runs "
        "WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(run_ids)],
    )


# ------------------------------------------------- benchmarks, history, comparisons
_BENCH_COLUMNS = (
    "b.run_id, b.nodeid, b.name, b.hardware, b.device, b.model, b.kind, b.batch_size, b.seq_len, "
    "b.dtype, b.rounds, b.mean_s, b.median_s, b.median_s AS p50_s, b.p90_s, b.p95_s, b.p99_s, "
    "b.min_s, b.max_s, b.stddev_s, b.throughput, b.throughput_unit, b.tokens_per_s, "
    "b.peak_memory_bytes, timezone('UTC', r.started_at) AS started_at, r.git_commit"
)


def benchmark_rows(con, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every benchmark case of these plugin runs, with its statistics."""
    return store.fetch_dicts(
        con,
        f"SELECT {_BENCH_COLUMNS} FROM benchmark_results b LEFT JOIN runs r USING (run_id) "
        "WHERE b.run_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY b.model, b.hardware, b.nodeid",
        [list(run_ids)],
    )


def benchmark_history(con, *, model: str | None, hardware: str | None, batch_size: int | None,
                      seq_len: int | None, dtype: str | None, kind: str | None,
                      limit: int) -> list[dict[str, Any]]:
    """Benchmark cases across runs, oldest first, filtered; the newest ``limit`` rows."""
    where, params = [], []
    for column, value in (("model", model), ("hardware", hardware), ("batch_size", batch_size),
                          ("seq_len", seq_len), ("dtype", dtype), ("kind", kind)):
        if value is not None:
            where.append(f"b.{column} = ?")
            params.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    params.append(limit)
    return store.fetch_dicts(
        con,
        f"SELECT * FROM (SELECT {_BENCH_COLUMNS}, coalesce(r.started_at, TIMESTAMPTZ '1970-01-01') AS _order "
        f"FROM benchmark_results b LEFT JOIN runs r USING (run_id) {clause} "
        "ORDER BY _order DESC, b.nodeid LIMIT ?) ORDER BY _order, nodeid",
        params,
    )


def compare_runs(con, base: str, head: str, threshold_pct: float, alpha: float,
                 statistic: str | None = None) -> dict[str, Any]:
    """The benchmark comparison of two plugin runs (``ipfs-accel compare``'s statistics)."""
    from pytest_ipfs_accel.bench.compare import compare_cases, load_cases

    base_id = store.resolve_run_id(con, base)
    head_id = store.resolve_run_id(con, head)
    cases = compare_cases(load_cases(con, base_id), load_cases(con, head_id),
                          threshold_pct=threshold_pct, alpha=alpha, statistic=statistic)
    verdicts: dict[str, int] = {}
    for case in cases:
        verdicts[case.verdict] = verdicts.get(case.verdict, 0) + 1
    return {
        "base": base_id,
        "head": head_id,
        "threshold_pct": threshold_pct,
        "statistic": statistic,
        "alpha": alpha,
        "verdicts": verdicts,
        "cases": [case.as_dict() for case in cases],
    }


def benchmark_models_and_hardware(con) -> dict[str, list[Any]]:
    """What the benchmark history holds, for filters."""
    def distinct(column: str) -> list[Any]:
        return [r[0] for r in con.execute(
            f"SELECT DISTINCT {column} FROM benchmark_results WHERE {column} IS NOT NULL ORDER BY 1"
        ).fetchall()]

    return {"models": distinct("model"), "hardware": distinct("hardware"),
            "batch_sizes": distinct("batch_size"), "seq_lens": distinct("seq_len"), "dtypes": distinct("dtype")}
