"""The service's DuckDB file: its own ``facade_runs`` table next to the plugin's tables.

The service is the only process that writes this file: every pytest run
writes a shard of its own, merged here when the run ends
(:func:`pytest_ipfs_accel.store.merge_file`).  One connection, guarded by a
lock, is used from worker threads (``await db.call(...)``) so a slow query
never blocks the event loop that streams events.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from api_facade.jobs import ACTIVE, Job
from pytest_ipfs_accel import store

T = TypeVar("T")

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
    """The service's single writable connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con = store.open_store(path)
        body = ", ".join(f'"{name}" {kind}' for name, kind in FACADE_RUNS)
        self._con.execute(f"CREATE TABLE IF NOT EXISTS facade_runs ({body})")
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(con, *args)`` holding the connection (blocking)."""
        with self._lock:
            return fn(self._con, *args)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(con, *args)`` in a worker thread holding the connection."""
        return await asyncio.to_thread(self.run, fn, *args)

    def close(self) -> None:
        with self._lock:
            self._con.close()


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
    """Merge a run's shard; a run killed mid-way is marked ``interrupted`` in the plugin's table."""
    copied = store.merge_file(con, path)
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
