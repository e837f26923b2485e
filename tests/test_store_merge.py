"""Merging into the store: shards of one run, spools (live, finished, cut short, hostile), idempotence."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest

from pytest_ipfs_accel import merge, schema, spool, store


def _shard(path: Path, run_id: str, outcomes: dict[str, str], *, bench: tuple[str, ...] = (),
           shard: int | None = None, attempt: int = 0) -> Path:
    con = store.open_store(path)
    store.upsert_run(con, {"run_id": run_id, "status": "passed", "host": f"host-of-{path.stem}"})
    store.insert_rows(con, "test_results", [{"run_id": run_id, "nodeid": n, "outcome": o} for n, o in outcomes.items()])
    store.insert_rows(con, "benchmark_results", [{"run_id": run_id, "nodeid": n, "median_s": 1.0} for n in bench])
    store.insert_rows(con, "benchmark_samples", [{"run_id": run_id, "nodeid": n, "round": 0, "seconds": 1.0}
                                                 for n in bench])
    if shard is not None:
        store.insert_rows(con, "run_shards", [{"run_id": run_id, "shard": shard, "attempt": attempt,
                                               "status": "passed", "items_recorded": len(outcomes)}])
    con.close()
    return path


def _all(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_shards_of_one_run_merge_side_by_side_and_twice_changes_nothing(tmp_path: Path) -> None:
    a = _shard(tmp_path / "a.duckdb", "dist", {"t::a1": "passed", "t::a2": "failed"}, bench=("t::a1",), shard=0)
    b = _shard(tmp_path / "b.duckdb", "dist", {"t::b1": "passed"}, shard=1)
    con = store.open_store(tmp_path / "main.duckdb")
    store.upsert_run(con, {"run_id": "dist", "status": "failed", "host": "driver"})
    for shard in (a, b, a, b):
        merge.merge_file(con, shard, keep_runs=True)
    assert _all(con, "SELECT nodeid, outcome FROM test_results ORDER BY nodeid") == [
        ("t::a1", "passed"), ("t::a2", "failed"), ("t::b1", "passed")]
    assert _all(con, "SELECT nodeid, count(*) FROM benchmark_samples GROUP BY ALL") == [("t::a1", 1)]
    assert _all(con, "SELECT shard, attempt FROM run_shards ORDER BY ALL") == [(0, 0), (1, 0)]
    assert _all(con, "SELECT host, status FROM runs") == [("driver", "failed")]  # the driver's row stays

    # a retry of shard 0: its rows replace the failed attempt's, benchmarks included
    retry = _shard(tmp_path / "a2.duckdb", "dist", {"t::a1": "passed", "t::a2": "passed"}, shard=0, attempt=1)
    merge.merge_file(con, retry, keep_runs=True)
    assert _all(con, "SELECT nodeid, outcome FROM test_results ORDER BY nodeid") == [
        ("t::a1", "passed"), ("t::a2", "passed"), ("t::b1", "passed")]
    assert _all(con, "SELECT count(*) FROM benchmark_results") == [(0,)]
    assert _all(con, "SELECT shard, attempt FROM run_shards ORDER BY ALL") == [(0, 0), (0, 1), (1, 0)]
    merge.merge_file(con, b)  # without keep_runs the shard's runs row replaces the target's
    assert _all(con, "SELECT host FROM runs") == [("host-of-b",)]
    con.close()


def _spool(db: Path, run_id: str = "r1", *, replace: bool = False) -> spool.Spool:
    return spool.Spool(db, {"run_id": run_id, "status": "running", "started_at": time.time(), "host": "here"},
                       replace=replace, meta=None, interval_s=0.05)


def _row(run_id: str, nodeid: str, outcome: str = "passed") -> tuple:
    values = {"run_id": run_id, "nodeid": nodeid, "outcome": outcome, "finished_at": time.time()}
    return tuple(values.get(c) for c in schema.columns("test_results"))


def test_a_live_spool_is_merged_as_a_snapshot_then_whole_once_finished(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    live = _spool(db)
    header = os.path.getsize(live.path)  # the run frame, written at once
    live.tables["test_results"].append(_row("r1", "t::1"))
    deadline = time.monotonic() + 10
    while os.path.getsize(live.path) <= header and time.monotonic() < deadline:  # the flusher, no further row
        time.sleep(0.02)
    con = merge.open_reader(db)
    assert _all(con, "SELECT run_id, status FROM runs") == [("r1", "running")]
    assert _all(con, "SELECT nodeid FROM test_results") == [("t::1",)]
    con.close()
    assert merge.has_pending(db)  # the session still runs: its spool stays
    live.tables["test_results"].append(_row("r1", "t::2", "failed"))
    live.finish({"run_id": "r1", "status": "failed", "exit_status": 1, "finished_at": time.time()})
    assert merge.settle(db).merged == ["r1"]
    assert not merge.has_pending(db)
    con = store.open_store(db)
    assert _all(con, "SELECT status, exit_status, host FROM runs") == [("failed", 1, "here")]
    assert _all(con, "SELECT nodeid, outcome FROM test_results ORDER BY 1") == [("t::1", "passed"), ("t::2", "failed")]
    con.close()


def test_a_spool_cut_short_keeps_its_whole_frames_and_reads_as_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    sp = _spool(db, "cut")
    sp.tables["test_results"].extend([_row("cut", "t::1"), _row("cut", "t::2")])
    sp.flush()
    sp.close()  # no end frame: as if the process died
    with sp.path.open("ab") as handle:  # and a frame it was half-way through writing
        handle.write((10_000).to_bytes(8, "big") + b"\x80\x05partial")
    summary = merge.settle(db)
    assert summary.interrupted == ["cut"] and not summary.errors
    con = store.open_store(db)
    assert _all(con, "SELECT status, finished_at IS NOT NULL FROM runs") == [("interrupted", True)]
    assert _all(con, "SELECT count(*) FROM test_results") == [(2,)]
    con.close()


def test_a_given_run_id_replaces_the_run_and_a_spool_holds_builtins_only(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    for nodeids in (["t::old1", "t::old2"], ["t::new"]):
        sp = _spool(db, "fixed", replace=True)
        sp.tables["test_results"].extend(_row("fixed", n) for n in nodeids)
        sp.finish({"run_id": "fixed", "status": "passed"})
        merge.settle(db)
    con = store.open_store(db)
    assert _all(con, "SELECT nodeid FROM test_results") == [("t::new",)]
    con.close()

    hostile = spool.spool_dir(db) / f"{time.time_ns():020d}-1-hostile{spool.SUFFIX}"
    frame = pickle.dumps({"t": "run", "row": {"run_id": "x"}, "columns": {}, "evil": os.system})
    hostile.write_bytes(len(frame).to_bytes(8, "big") + frame)
    assert spool.read(hostile) is None  # refused, not unpickled
    merge.settle(db)
    assert not hostile.exists()  # nothing to keep from it, and nobody holds it


def test_a_store_that_is_not_duckdb_is_refused_before_the_session_records(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    db.write_text("not a database, but long enough to hold a header\n")
    with pytest.raises(spool.SpoolError, match="is not a DuckDB database"):
        _spool(db)
