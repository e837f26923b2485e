"""The spool: what a session records, appended to a file of its own, without DuckDB.

DuckDB lets one process at a time open a file for writing, so a session that
held the store while it ran would lock out every other session, the service and
``ipfs-accel report``.  A recording session therefore never opens the store: it
appends its rows to ``<db>.spool/<time>-<pid>-<random>.spool`` and whoever comes
next (the merger the session starts as it ends, ``report``/``compare``/``export``,
the service) merges complete spools into the store (:mod:`pytest_ipfs_accel.merge`).

File format: frames of an 8-byte big-endian length and a pickle holding only
builtin types (read back by an unpickler that refuses every class, so a spool
cannot run code in whoever merges it):

- first ``{"t": "run", "v": 1, "row": {runs row}, "columns": {table: [names]},
  "replace": bool, "meta": [rootdir, argv] | None}``: ``replace`` when the run id
  was given (a rerun replaces that run), ``meta`` when the merger should add the
  git state and package versions the session did not look up;
- any number of ``{"t": "rows", "tables": {table: [row tuple, ...]}}``;
- last ``{"t": "end", "row": {the final runs row}}``.

A frame cut short by a kill is ignored.  The session holds an exclusive
``flock`` on its spool for its whole life (the kernel drops it when the process
dies, however it dies), so a merger tells a live session (merge a snapshot, keep
the file) from a dead one without an end frame (merge it as ``interrupted``,
remove the file).  The file gets its final name only once it is locked.

Rows reach the file within :data:`FLUSH_INTERVAL_S` of being recorded, also
when no further row comes (a flusher thread, not "on the next row"): the
session's thread only appends tuples to lists; the flusher takes the lists'
prefixes (``del lst[:n]`` under the interpreter lock, so no append is lost)
and writes them with one ``os.write``.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pytest_ipfs_accel import schema

try:
    # the C pickler that ``pickle`` re-exports (same bytes, same Unpickler): the ``pickle``
    # module itself, a large Python file, cost ~5 M instructions (callgrind) of every recording
    # session (docs/store.md, "What a session costs")
    import _pickle as pickle
except ImportError:  # an interpreter without the accelerator
    import pickle  # type: ignore[no-redef]
try:
    import fcntl
except ImportError:  # Windows: no flock; a spool without an end frame counts as live until merged
    fcntl = None  # type: ignore[assignment]

FORMAT = 1
SUFFIX = ".spool"
FLUSH_INTERVAL_S = 0.25
_FRAME = struct.Struct(">Q")
_PROTOCOL = 5  # pickle.HIGHEST_PROTOCOL of Python 3.8 and later
ROW_TABLES = tuple(t for t in schema.TABLES if t != "runs")


class SpoolError(Exception):
    """The spool cannot be written; the message says why."""


def spool_dir(db_path: Path) -> Path:
    """The folder of ``db_path``'s pending spools: ``<db>.spool`` next to it."""
    return db_path.with_name(db_path.name + ".spool")


def check_store_file(db_path: Path) -> None:
    """Raise :class:`SpoolError` when ``db_path`` exists and is not a DuckDB file.

    Reads 12 bytes (DuckDB writes ``DUCK`` at offset 8), so a session learns at its
    start that its rows could never be merged, instead of a merger learning later.
    """
    try:
        with db_path.open("rb") as handle:
            head = handle.read(12)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SpoolError(f"cannot read {db_path}: {exc.strerror or exc}") from None
    if head and (len(head) < 12 or head[8:12] != b"DUCK"):
        raise SpoolError(f"{db_path} is not a DuckDB database; point --ipfs-db at another file")


class Spool:
    """One session's spool file: tables of row tuples the session appends to, and the flusher."""

    def __init__(self, db_path: Path, run_row: dict[str, Any], *, replace: bool,
                 meta: tuple[str, list[str]] | None, interval_s: float = FLUSH_INTERVAL_S) -> None:
        check_store_file(db_path)
        directory = spool_dir(db_path)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create {directory}: {exc.strerror or exc}") from None
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        temporary = directory / f"{name}.tmp"
        try:
            self._fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except OSError as exc:
            raise SpoolError(f"cannot write in {directory}: {exc.strerror or exc}") from None
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.path = directory / f"{name}{SUFFIX}"
        os.rename(temporary, self.path)  # visible to mergers only once locked
        #: rows per table, as tuples in ``schema.columns`` order: the session appends here
        self.tables: dict[str, list[tuple]] = {table: [] for table in ROW_TABLES}
        self.error: str | None = None
        self._io = threading.Lock()
        self._write({"t": "run", "v": FORMAT, "row": run_row, "replace": replace, "meta": meta,
                     "columns": {t: list(schema.columns(t)) for t in schema.TABLES}})
        self._stop = threading.Event()
        self._interval = interval_s
        self._flusher = threading.Thread(target=self._run, name="ipfs-accel-spool", daemon=True)
        self._flusher.start()

    def add_row(self, table: str, row: dict[str, Any]) -> None:
        """Buffer one row given as a dict (missing columns are NULL); the flusher writes it."""
        self.tables[table].append(tuple(row.get(name) for name in schema.columns(table)))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def _write(self, message: dict[str, Any]) -> None:
        data = pickle.dumps(message, protocol=_PROTOCOL)
        view = memoryview(_FRAME.pack(len(data)) + data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            if self.error is None:
                self.error = f"cannot write {self.path}: {exc.strerror or exc}"

    def flush(self) -> None:
        """Write the rows appended so far (one frame), if any."""
        with self._io:
            if self._fd < 0 or self.error is not None:
                return
            chunk = {}
            for table, rows in self.tables.items():
                n = len(rows)
                if n:
                    chunk[table] = rows[:n]
                    del rows[:n]  # rows appended meanwhile stay for the next frame
            if chunk:
                self._write({"t": "rows", "tables": chunk})

    def finish(self, run_row: dict[str, Any]) -> None:
        """The session's last rows and its final ``runs`` row; the file is complete and closed."""
        self._stop.set()
        self._flusher.join()
        self.flush()
        with self._io:
            if self._fd >= 0 and self.error is None:
                self._write({"t": "end", "row": run_row})
        self.close()

    def close(self) -> None:
        """Close the file (and drop its lock); without :meth:`finish`, it reads as interrupted."""
        self._stop.set()
        if self._flusher.is_alive() and threading.current_thread() is not self._flusher:
            self._flusher.join()
        with self._io:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def spawn_merger(db_path: Path) -> subprocess.Popen | None:
    """Start a detached ``python -m pytest_ipfs_accel.merge DB``; the caller does not wait.

    Here rather than in :mod:`.merge` (which re-exports it) so that a recording session,
    which only writes its spool and starts the merger, never imports the merging code
    and the store module (docs/store.md, "What a session costs").
    """
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "pytest_ipfs_accel.merge", str(db_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )
    except OSError:
        return None  # the next reader merges instead


# ---------------------------------------------------------------------- reading


class _BuiltinsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a spool holds builtin values only, not {module}.{name}")


class SpoolContent:
    """What one spool file holds (complete frames only).

    A plain class, not a dataclass: every recording session imports this module, and a
    dataclass generates its methods from source at import (callgrind: ~3 M instructions of
    the one-test session; docs/store.md, "What a session costs").
    """

    __slots__ = ("path", "run_row", "replace", "meta", "columns", "tables", "final_row")

    def __init__(self, path: Path, run_row: dict[str, Any], replace: bool,
                 meta: tuple[str, list[str]] | None, columns: dict[str, list[str]],
                 tables: dict[str, list[tuple]] | None = None, final_row: dict[str, Any] | None = None) -> None:
        self.path, self.run_row, self.replace, self.meta, self.columns = path, run_row, replace, meta, columns
        self.tables: dict[str, list[tuple]] = {} if tables is None else tables
        self.final_row = final_row

    def __repr__(self) -> str:
        return f"SpoolContent(path={self.path!r}, run_id={self.run_id!r}, final={self.final_row is not None})"

    @property
    def run_id(self) -> str:
        return self.run_row["run_id"]


def pending(directory: Path) -> list[Path]:
    """Spool files in ``directory``, oldest first (names start with the creation time)."""
    try:
        names = [entry.name for entry in os.scandir(directory) if entry.name.endswith(SUFFIX)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [directory / name for name in sorted(names)]


def read(path: Path) -> SpoolContent | None:
    """The spool's complete frames; ``None`` when not even its first frame is readable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    content = None
    offset = 0
    while offset + _FRAME.size <= len(data):
        (size,) = _FRAME.unpack_from(data, offset)
        start = offset + _FRAME.size
        if start + size > len(data):
            break  # cut short by a kill mid-write
        try:
            message = _BuiltinsOnly(io.BytesIO(data[start:start + size])).load()
        except Exception:  # noqa: BLE001 - a damaged frame ends what can be trusted
            break
        offset = start + size
        kind = message.get("t") if isinstance(message, dict) else None
        if content is None:
            if kind != "run":
                return None
            meta = message.get("meta")
            content = SpoolContent(path, dict(message["row"]), bool(message.get("replace")),
                                   tuple(meta) if meta else None, message.get("columns") or {})
        elif kind == "rows":
            for table, rows in message["tables"].items():
                content.tables.setdefault(table, []).extend(rows)
        elif kind == "end":
            content.final_row = dict(message["row"])
    return content


def owner_alive(path: Path) -> bool:
    """Whether the session that writes ``path`` still runs (it holds the file's lock)."""
    if fcntl is None:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # drops the lock taken just now, if any
    return False
