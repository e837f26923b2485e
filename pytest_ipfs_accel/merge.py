"""Merging spools into the store: by the session's detached merger, by readers, by the service.

Whoever opens the store merges what is pending first (see :mod:`pytest_ipfs_accel.spool`):

- a session starts ``python -m pytest_ipfs_accel.merge DB`` as it ends and does
  not wait for it (:func:`spawn_merger`);
- ``ipfs-accel report``/``compare``/``export`` open the store with
  :func:`open_reader`, which merges first, so ``pytest && ipfs-accel report``
  always shows the run just finished;
- the service merges after each run it started and sweeps the folder now and then.

A merge holds the store for one short transaction per spool, listing the spools
only once it holds the file, so two mergers never merge one spool twice (and if
they did, nothing would change: a spool is merged whole, replacing the run's
``(run_id, nodeid)`` rows it holds).  A complete spool, or one whose session
died (no end frame, its lock gone), is removed after its transaction commits;
the run of a dead session is recorded as ``interrupted``.  A live session's
spool is merged as a snapshot (status ``running``) and left in place.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_ipfs_accel import schema, spool, store
from pytest_ipfs_accel.spool import spawn_merger

__all__ = ["MergeSummary", "apply", "has_pending", "main", "merge_file", "merge_spools", "open_reader",
           "settle", "spawn_merger"]


@dataclass
class MergeSummary:
    """What one merge did: spools merged (and removed), live ones snapshotted, rows written."""

    merged: list[str] = field(default_factory=list)
    live: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    rows: int = 0
    errors: list[str] = field(default_factory=list)


def has_pending(db_path: Path) -> bool:
    """Whether any spool waits to be merged into ``db_path`` (a directory listing, no DuckDB)."""
    return bool(spool.pending(spool.spool_dir(Path(db_path))))


def settle(db_path: Path, *, wait_s: float | None = None,
           run_ids: Collection[str] | None = None) -> MergeSummary:
    """Merge the spools pending for ``db_path`` into it (opening it only when there are some)."""
    db_path = Path(db_path)
    if not has_pending(db_path):
        return MergeSummary()
    con = store.open_store(db_path, wait_s=wait_s)
    try:
        return merge_spools(con, db_path, run_ids=run_ids)
    finally:
        con.close()


def open_reader(db_path: Path, *, wait_s: float | None = None):
    """A connection for reading the store with everything recorded so far merged in.

    Merges pending spools first (the connection is then read-write; it is a
    short-lived one either way), else opens read-only (also when the file cannot be
    opened for writing).  A spool that cannot be merged does not stop the read: its
    error is left for the next writer.
    """
    db_path = Path(db_path)
    if has_pending(db_path):
        try:
            con = store.open_store(db_path, wait_s=wait_s)
        except store.StoreError as exc:
            if "locked" in str(exc) or not db_path.exists():
                raise
            # not ours to write (permissions, read-only media): read what is merged already
        else:
            merge_spools(con, db_path)
            return con
    return store.open_store(db_path, read_only=True, wait_s=wait_s)


def merge_spools(con, db_path: Path, *, run_ids: Collection[str] | None = None,
                 seen: dict[Path, int] | None = None) -> MergeSummary:
    """Merge every pending spool of ``db_path`` (or only those of ``run_ids``) through ``con``.

    ``seen`` (a caller's memory between calls: live spool -> size merged) skips a live
    session's spool that has not grown since it was last merged.
    """
    summary = MergeSummary()
    for path in spool.pending(spool.spool_dir(Path(db_path))):
        alive = spool.owner_alive(path)
        if alive and seen is not None:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if seen.get(path) == size:
                continue
            seen[path] = size
        content = spool.read(path)
        if content is None:
            if not alive:  # a session that died before its first frame: nothing to keep
                path.unlink(missing_ok=True)
            continue
        if run_ids is not None and content.run_id not in run_ids:
            continue
        finished = content.final_row is not None
        row = _run_row(content, alive=alive and not finished)
        try:
            con.execute("BEGIN")
            summary.rows += apply(con, content, row)
            con.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - one bad spool must not stop the others
            try:
                con.execute("ROLLBACK")
            except Exception:  # noqa: BLE001, S110 - the failure came before BEGIN; the first error counts
                pass
            summary.errors.append(f"{path.name}: {exc}")
            continue
        if alive and not finished:
            summary.live.append(content.run_id)
            continue
        path.unlink(missing_ok=True)
        if seen is not None:
            seen.pop(path, None)
        summary.merged.append(content.run_id)
        if not finished:
            summary.interrupted.append(content.run_id)
    return summary


def _run_row(content: spool.SpoolContent, *, alive: bool) -> dict[str, Any]:
    if content.final_row is not None:
        row = {**content.run_row, **content.final_row}
    elif alive:
        row = dict(content.run_row)
    else:  # the session died: when it last wrote is when it ended
        row = {**content.run_row, "status": "interrupted",
               "finished_at": content.path.stat().st_mtime if content.path.exists() else None}
    if content.meta is not None and "host" not in row:  # the session left the look-ups to us
        from pytest_ipfs_accel import metadata

        root, argv = content.meta
        row = {**metadata.run_metadata(Path(root), list(argv)), **row}
    return row


def apply(con, content: spool.SpoolContent, run_row: dict[str, Any]) -> int:
    """Write one spool's rows (inside the caller's transaction); returns rows inserted.

    The run's rows for every item the spool names are replaced (all of the
    run's rows when the run id was given explicitly: a rerun replaces it).
    """
    run_id = content.run_id
    tables = {t: _in_schema_order(content, t, rows) for t, rows in content.tables.items()
              if rows and t in schema.TABLES and t != "runs"}
    if content.replace:
        store.delete_run(con, run_id)
    else:
        nodeids = sorted({row[1] for t in schema.ITEM_TABLES for row in tables.get(t, ())})
        if nodeids:
            for table in schema.ITEM_TABLES:
                con.execute(f"DELETE FROM {table} WHERE run_id = ? AND nodeid IN (SELECT unnest(?::VARCHAR[]))",
                            [run_id, nodeids])
        for key in sorted({row[:len(schema.SHARD_KEY)] for row in tables.get("run_shards", ())}):
            con.execute("DELETE FROM run_shards WHERE run_id = ? AND shard = ? AND attempt = ?", list(key))
    store.upsert_run(con, run_row)
    return sum(store.insert_tuples(con, table, rows) for table, rows in tables.items())


def _in_schema_order(content: spool.SpoolContent, table: str, rows: list[tuple]) -> list[tuple]:
    """Rows re-ordered to this version's columns (a spool from another version may differ)."""
    theirs = content.columns.get(table)
    ours = schema.columns(table)
    if theirs is None or tuple(theirs) == ours:
        return rows
    where = {name: i for i, name in enumerate(theirs)}
    picks = [where.get(name) for name in ours]
    return [tuple(None if i is None else row[i] for i in picks) for row in rows]


def merge_file(con, source: str | os.PathLike[str], *, keep_runs: bool = False) -> dict[str, int]:
    """Copy every row of the DuckDB file ``source`` (a shard) into ``con``'s database.

    Shards of one distributed run share its run id, so merging replaces only
    the ``(run_id, nodeid)`` rows the shard holds (in every per-item table: a
    retried shard's rows replace the failed attempt's, benchmarks included),
    ``run_shards`` rows by ``(run_id, shard, attempt)``, and ``runs`` rows by
    ``run_id`` unless ``keep_runs`` (a driver that wrote the run's own row).
    Merging the same shard twice changes nothing.  Spools pending for
    ``source`` are merged into it first.  Returns rows copied per table.
    """
    import duckdb

    settle(Path(source))
    # a merger that just merged the source's last spool may still be closing it
    store.when_unlocked(lambda: con.execute(f"ATTACH '{store._sql_string(str(source))}' AS shard (READ_ONLY)"),
                        store.LOCK_WAIT_S)
    try:
        theirs = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'shard'").fetchall()}
        items = [t for t in schema.ITEM_TABLES if t in theirs]
        con.execute("BEGIN")
        if items:
            keys = " UNION ".join(f"SELECT run_id, nodeid FROM shard.{t}" for t in items)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _merge_items AS {keys}")
            for table in schema.ITEM_TABLES:
                con.execute(f"DELETE FROM main.{table} t USING _merge_items k "
                            "WHERE t.run_id = k.run_id AND t.nodeid = k.nodeid")
        if "run_shards" in theirs:
            con.execute("DELETE FROM main.run_shards t USING shard.run_shards s WHERE "
                        + " AND ".join(f"t.{c} = s.{c}" for c in schema.SHARD_KEY))
        copied = {}
        for table in schema.TABLES:
            if table not in theirs:
                continue
            names = ", ".join(f'"{c}"' for c in _shared_columns(con, table))
            select = f"SELECT {names} FROM shard.{table}"
            if table == "runs":
                if keep_runs:
                    select += " WHERE run_id NOT IN (SELECT run_id FROM main.runs)"
                else:
                    con.execute("DELETE FROM main.runs WHERE run_id IN (SELECT run_id FROM shard.runs)")
            copied[table] = con.execute(f"INSERT INTO main.{table} ({names}) {select}").fetchone()[0]
        con.execute("DROP TABLE IF EXISTS _merge_items")
        con.execute("COMMIT")
        return copied
    except Exception:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # the failure came before BEGIN
        raise
    finally:
        con.execute("DETACH shard")


def _shared_columns(con, table: str) -> list[str]:
    theirs = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'shard' AND table_name = ?",
            [table],
        ).fetchall()
    }
    return [c for c in schema.columns(table) if c in theirs]


def main(argv: list[str] | None = None) -> int:
    """The detached merger: merge what is pending, say nothing (a reader reports problems)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        os.nice(5)  # below the user's next command
    except OSError:
        pass
    try:
        summary = settle(Path(args[0]))
    except store.StoreError as exc:
        print(f"ipfs-accel merge: {exc}", file=sys.stderr)
        return 1
    for error in summary.errors:
        print(f"ipfs-accel merge: {error}", file=sys.stderr)
    return 1 if summary.errors else 0


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main())  # everything is committed and closed: skip the interpreter's teardown
