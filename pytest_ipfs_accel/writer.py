"""The recorder's DuckDB writer: a child process owns the connection and does all store I/O.

Why a process and not a thread: importing duckdb's Python package and handing
it rows are Python work that holds the interpreter lock, so a writer thread
slows the test session (and the timed rounds of a benchmark) while it runs.  A
child process imports, opens and inserts on another core.  The session's side
only pickles rows onto the child's stdin (pickle: the two ends are the same
program, and it is several times cheaper than JSON for ten thousand small dicts).
If the session dies, the child sees end-of-file and commits what it already has.

Protocol.  In: frames of an 8-byte big-endian length and a pickled dict,
``{"op": "open", "id": 1, "run_row": .., "replace_run": bool, "metadata_for": [rootdir, argv]|None}``
(with ``metadata_for``, the child finds the run's static columns, git state and
versions, and adds them to every ``runs`` row that lacks them), or
``{"op": "write", "id": N, "tables": {table: [row, ..]}, "run_row": ..|None}``, each row
a tuple in its table's column order (``schema.columns``), the ``runs`` row a dict.
Out: JSON lines, ``{"id": N}`` when op N is committed, or ``{"id": N, "error": "..."}``;
after an error every later op answers the same error.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any


class StoreWriter:
    def __init__(
        self,
        path: Path,
        run_row: dict[str, Any],
        *,
        replace_run: bool,
        metadata_for: tuple[str, list[str]] | None = None,
    ) -> None:
        self.path = path
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_ipfs_accel.writer", str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._sent = 0
        self._acked = 0
        self._error: str | None = None
        self._done = threading.Condition()
        self._reader = threading.Thread(target=self._read_acks, name="ipfs-accel-writer-acks", daemon=True)
        self._reader.start()
        self._con = None
        self._send({"op": "open", "run_row": run_row, "replace_run": replace_run, "metadata_for": metadata_for})

    # ------------------------------------------------------------------ plumbing

    def _send(self, message: dict[str, Any]) -> None:
        self._sent += 1
        message["id"] = self._sent
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._proc.stdin.write(_FRAME.pack(len(data)) + data)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self._fail(self._death_reason())

    def _read_acks(self) -> None:
        for line in self._proc.stdout:
            try:
                ack = json.loads(line)
            except ValueError:
                continue
            with self._done:
                self._acked = max(self._acked, int(ack.get("id", 0)))
                if ack.get("error") and self._error is None:
                    self._error = ack["error"]
                self._done.notify_all()
        with self._done:  # the child is gone: nothing more will be acknowledged
            if self._acked < self._sent and self._error is None:
                self._error = self._death_reason()
            self._acked = self._sent = max(self._acked, self._sent)
            self._done.notify_all()

    def _death_reason(self) -> str:
        code = self._proc.wait()
        detail = (self._proc.stderr.read() or b"").decode(errors="replace").strip().splitlines()
        return f"the DuckDB writer process exited ({code}){': ' + detail[-1] if detail else ''}"

    def _fail(self, message: str) -> None:
        with self._done:
            if self._error is None:
                self._error = message
            self._acked = self._sent
            self._done.notify_all()

    # ------------------------------------------------------------------ interface

    @property
    def busy(self) -> bool:
        return self._acked < self._sent

    def error(self) -> BaseException | None:
        """The first failure (opening or writing) reported so far, if any."""
        return RuntimeError(self._error) if self._error is not None else None

    def write(self, tables: dict[str, list[tuple]], run_row: dict[str, Any] | None = None) -> None:
        """Queue one transaction: rows per table (tuples in column order), and optionally
        the ``runs`` row (a dict)."""
        if self._error is None:
            self._send({"op": "write", "tables": tables, "run_row": run_row})

    def end_input(self) -> None:
        """No more writes: the child commits what it has, closes the database and exits.

        Called right after the session's final write, so the child's close (DuckDB's
        checkpoint) overlaps the rest of the session's teardown.
        """
        try:
            self._proc.stdin.close()
        except OSError:
            pass

    def wait(self) -> BaseException | None:
        """Wait until every queued transaction is committed; return the first failure."""
        with self._done:
            self._done.wait_for(lambda: self._acked >= self._sent)
        return self.error()

    def connection(self):
        """An in-process connection, once the child has written everything and exited.

        For readers at the end of the session (the benchmark gate); None if the
        store failed.
        """
        if self._con is None:
            self._finish_child()
            if self._error is not None:
                return None
            from pytest_ipfs_accel import store

            try:
                self._con = store.open_store(self.path)
            except store.StoreError as exc:
                self._fail(str(exc))
                return None
        return self._con

    def _finish_child(self) -> None:
        if self._proc.poll() is None:
            self.wait()
            self.end_input()
            self._proc.wait()
        self._reader.join()

    def close(self) -> None:
        self._finish_child()
        if self._con is not None:
            self._con.close()
            self._con = None


# ---------------------------------------------------------------------- the child


_FRAME = struct.Struct(">Q")


def _frames(stream):
    """The pickled messages on ``stream`` until end-of-file."""
    while True:
        header = stream.read(_FRAME.size)
        if len(header) < _FRAME.size:
            return
        (size,) = _FRAME.unpack(header)
        data = stream.read(size)
        if len(data) < size:
            return  # the session died mid-frame: keep what was committed
        yield pickle.loads(data)


def _serve(path: str) -> int:
    from pytest_ipfs_accel import store

    con = None
    error: str | None = None
    static: dict[str, Any] = {}  # the run's metadata, when this process found it
    for message in _frames(sys.stdin.buffer):
        if error is None:
            try:
                if message["op"] == "open":
                    if message.get("metadata_for"):
                        from pytest_ipfs_accel import metadata

                        root, argv = message["metadata_for"]
                        static = metadata.run_metadata(Path(root), argv)
                    con = store.open_store(path)
                    # one DuckDB thread: batches are small, and the cores belong to the tests
                    con.execute("SET threads TO 1")
                    con.execute("BEGIN")
                    if message["replace_run"]:  # a reused --ipfs-run-id replaces that run
                        store.delete_run(con, message["run_row"]["run_id"])
                    store.upsert_run(con, {**static, **message["run_row"]})
                    con.execute("COMMIT")
                else:
                    con.execute("BEGIN")
                    for table, rows in message["tables"].items():
                        store.insert_tuples(con, table, rows)
                    if message["run_row"] is not None:
                        store.upsert_run(con, {**static, **message["run_row"]})
                    con.execute("COMMIT")
            except Exception as exc:  # reported to the session, which warns once
                error = str(exc) if isinstance(exc, store.StoreError) else f"writing to {path} failed: {exc}"
                if con is not None:
                    try:
                        con.execute("ROLLBACK")
                    except Exception:  # noqa: S110 - the first error is the one worth reporting
                        pass
        reply = {"id": message["id"]} if error is None else {"id": message["id"], "error": error}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    if con is not None:
        con.close()
    return 0


if __name__ == "__main__":
    # below the tests' priority: the session's own work comes first on a busy machine
    # (the final flush still waits for this process, so nothing is lost by yielding)
    try:
        os.nice(5)
    except OSError:
        pass
    code = _serve(sys.argv[1])
    sys.stdout.flush()
    os._exit(code)  # everything is committed and closed: skip the interpreter's teardown
