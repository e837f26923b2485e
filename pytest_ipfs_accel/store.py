"""The DuckDB store: opening a file with a clear error, schema, bulk inserts, run lookup.

DuckDB's row-by-row ``executemany`` costs ~0.5 ms a row; here every insert
passes each column as one list parameter and ``unnest``s them together, which
writes 10,000 rows in well under 0.1 s.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pytest_ipfs_accel import schema

T = TypeVar("T")


class StoreError(Exception):
    """The store cannot be used; the message says why and what to do."""


#: how long an opener waits for another process's hold on the file before giving up
#: (every holder holds it briefly: a merge, a service query, a report)
LOCK_WAIT_S = float(os.environ.get("IPFS_ACCEL_LOCK_WAIT_S", "20"))
_HOLDER = re.compile(r"Conflicting lock is held in (\S+)(?: \(PID (\d+)\))?")


def open_store(path: str | os.PathLike[str], *, read_only: bool = False, wait_s: float | None = None):
    """Open (creating if needed) the DuckDB file at ``path`` with the schema in place.

    DuckDB lets one process at a time hold a file for writing (and excludes
    readers meanwhile); every holder here holds it briefly, so while another
    process has it this retries, backing off from 5 to 50 ms, for up to
    ``wait_s`` seconds (default :data:`LOCK_WAIT_S`).  Raises :class:`StoreError`
    with an actionable message when the file stays locked, is not a DuckDB
    file, or cannot be written.
    """
    import duckdb

    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(f"no results database at {path} (run pytest with the plugin first, or pass --db)")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for {path}: {exc.strerror}") from None
    wait_s = LOCK_WAIT_S if wait_s is None else wait_s
    try:
        con = when_unlocked(lambda: duckdb.connect(str(path), read_only=read_only), wait_s)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise StoreError(f"{path} is locked by another process ({_holder(text)}) and stayed "
                             f"locked for {wait_s:g} s (set IPFS_ACCEL_LOCK_WAIT_S to wait longer)") from None
        if "not a valid DuckDB" in text or "database file" in text.lower() and "valid" in text.lower():
            raise StoreError(f"{path} is not a DuckDB database; point --ipfs-db at another file") from None
        raise StoreError(f"cannot open {path}: {_first_line(text)}") from None
    except (duckdb.Error, OSError) as exc:
        raise StoreError(f"cannot open {path}: {_first_line(str(exc))}") from None
    if not read_only:
        try:
            for statement in schema.ddl():
                con.execute(statement)
        except duckdb.Error as exc:
            con.close()
            raise StoreError(f"cannot create the tables in {path}: {_first_line(str(exc))}") from None
    return con


def _holder(text: str) -> str:
    """Who holds the lock, from DuckDB's message ("unknown" when it does not say)."""
    match = _HOLDER.search(text)
    if not match:
        return "unknown"
    program, pid = match.group(1), match.group(2)
    return f"{Path(program).name} (PID {pid})" if pid else Path(program).name


def when_unlocked(action: Callable[[], T], wait_s: float) -> T:
    """``action()``, retried while it fails on another process's DuckDB file lock, backing
    off from 5 to 50 ms, for up to ``wait_s`` seconds (then the lock error is raised)."""
    import duckdb

    deadline = time.monotonic() + wait_s
    delay = 0.005
    while True:
        try:
            return action()
        except duckdb.IOException as exc:
            left = deadline - time.monotonic()
            if "lock" not in str(exc).lower() or left <= 0:
                raise
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def insert_rows(con, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (dicts keyed by column; missing keys are NULL) in one statement."""
    if not rows:
        return 0
    return insert_columns(con, table, [[row.get(name) for row in rows] for name in schema.columns(table)])


def insert_tuples(con, table: str, rows: Sequence[Sequence[Any]]) -> int:
    """Insert ``rows`` given as tuples in the table's column order (``schema.columns``).

    The recorder's form: a tuple per row is cheaper to build, to pickle to the
    writer and to turn into columns than a dict per row.
    """
    if not rows:
        return 0
    try:
        values = [list(column) for column in zip(*rows, strict=True)]
    except ValueError:
        values = []  # rows of different lengths: reported below like any wrong width
    if len(values) != len(schema.TABLES[table]):
        raise ValueError(
            f"{table}: every row needs {len(schema.TABLES[table])} values, "
            f"in the order of schema.columns({table!r})"
        )
    return insert_columns(con, table, values)


def insert_columns(con, table: str, values: Sequence[list[Any]]) -> int:
    """Insert one list of values per column of ``table`` (all of them, in order) in one statement.

    Timestamp columns take ``datetime`` objects or epoch seconds (one kind per
    column and call); epoch floats are far cheaper to build and to hand over.
    """
    cols = schema.TABLES[table]
    if len(values) != len(cols):
        raise ValueError(f"{table}: expected {len(cols)} columns, got {len(values)}")
    params, selects = [], []
    for i, ((_, kind), column) in enumerate(zip(cols, values, strict=True)):
        base = _base_type(kind)
        if base == "TIMESTAMPTZ" and isinstance(_first(column), (int, float)):
            selects.append(f"to_timestamp(unnest(${i + 1}::DOUBLE[]))")
        else:
            selects.append(f"unnest(${i + 1}::{base}[])")
        params.append(column)
    names = ", ".join(f'"{name}"' for name, _ in cols)
    con.execute(f"INSERT INTO {table} ({names}) SELECT {', '.join(selects)}", params)
    return len(values[0]) if values else 0


def _first(values: list[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def _base_type(kind: str) -> str:
    return kind.split()[0]


def upsert_run(con, row: Mapping[str, Any]) -> None:
    """Insert or replace the ``runs`` row with ``row['run_id']``."""
    con.execute("DELETE FROM runs WHERE run_id = ?", [row["run_id"]])
    insert_rows(con, "runs", [row])


def delete_run(con, run_id: str) -> None:
    """Remove every row of ``run_id`` from every table."""
    for table in schema.TABLES:
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])


def fetch_dicts(con, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Run a query and return its rows as dicts."""
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def fetch_samples(con, run_id: str) -> dict[str, list[float]]:
    """The raw benchmark samples of ``run_id``: node id -> seconds per call, in round order."""
    samples: dict[str, list[float]] = {}
    for nodeid, seconds in con.execute(
        "SELECT nodeid, seconds FROM benchmark_samples WHERE run_id = ? ORDER BY nodeid, round",
        [run_id],
    ).fetchall():
        samples.setdefault(nodeid, []).append(seconds)
    return samples


def resolve_run_id(con, ref: str | None) -> str:
    """Turn ``None``/``latest``/``previous``/a run id (or unique prefix) into a run id."""
    if ref in (None, "latest", "previous"):
        offset = 1 if ref == "previous" else 0
        row = con.execute(
            "SELECT run_id FROM runs ORDER BY started_at DESC NULLS LAST LIMIT 1 OFFSET ?",
            [offset],
        ).fetchone()
        if row is None:
            raise StoreError(
                "the database holds no previous run (it needs two runs)"
                if offset
                else "the database holds no runs yet"
            )
        return row[0]
    matches = [
        r[0]
        for r in con.execute(
            "SELECT run_id FROM runs WHERE run_id = ? OR starts_with(run_id, ?)", [ref, ref]
        ).fetchall()
    ]
    if ref in matches:
        return ref
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise StoreError(f"no run with id {ref!r} (use 'latest', 'previous' or an id from 'ipfs-accel report --runs')")
    raise StoreError(f"run id prefix {ref!r} is ambiguous: {', '.join(sorted(matches)[:5])}")


def _sql_string(text: str) -> str:
    return text.replace("'", "''")
