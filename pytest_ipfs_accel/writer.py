"""The recorder's DuckDB writer: one thread owns the connection and does all store I/O.

Importing duckdb, opening the file and each bulk insert run on that thread, so
the test session's thread only appends rows to a list.  Failures surface on the
session's thread (``error``), where they are reported once, as a warning line.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any


class StoreWriter:
    def __init__(self, path: Path, run_row: dict[str, Any], *, replace_run: bool) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipfs-accel-store")
        self._con = None
        self._last: Future = self._executor.submit(self._open, dict(run_row), replace_run)

    def _open(self, run_row: dict[str, Any], replace_run: bool) -> None:
        from pytest_ipfs_accel import store

        con = store.open_store(self.path)
        try:
            con.execute("BEGIN")
            if replace_run:  # a reused --ipfs-run-id replaces that run; fresh ids are unique
                store.delete_run(con, run_row["run_id"])
            store.upsert_run(con, run_row)
            con.execute("COMMIT")
        except Exception:
            con.close()
            raise
        self._con = con

    def _write(self, tables: dict[str, list[dict[str, Any]]], run_row: dict[str, Any] | None) -> None:
        from pytest_ipfs_accel import store

        con = self._con
        if con is None:
            return
        try:
            con.execute("BEGIN")
            for table, rows in tables.items():
                store.insert_rows(con, table, rows)
            if run_row is not None:
                store.upsert_run(con, run_row)
            con.execute("COMMIT")
        except Exception as exc:
            try:
                con.execute("ROLLBACK")
            except Exception:  # noqa: S110 - the original error is the one worth reporting
                pass
            raise RuntimeError(f"writing to {self.path} failed: {exc}") from exc

    @property
    def busy(self) -> bool:
        return not self._last.done()

    def error(self) -> BaseException | None:
        """The failure of the last finished operation (opening or writing), if any."""
        return self._last.exception() if self._last.done() else None

    def write(self, tables: dict[str, list[dict[str, Any]]], run_row: dict[str, Any] | None = None) -> None:
        """Queue one transaction; operations run in order on the writer thread."""
        previous = self._last

        def after_previous() -> None:
            if previous.exception() is None:
                self._write(tables, run_row)
            else:
                raise previous.exception()

        self._last = self._executor.submit(after_previous)

    def wait(self) -> BaseException | None:
        """Wait for every queued operation; return the first failure, if any."""
        try:
            self._last.result()
        except Exception as exc:
            return exc
        return None

    def connection(self):
        """The open connection once all writes are done (None if opening failed)."""
        self.wait()
        return self._con

    def close(self) -> None:
        self.wait()
        if self._con is not None:
            self._executor.submit(self._con.close).result()
            self._con = None
        self._executor.shutdown(wait=True)
