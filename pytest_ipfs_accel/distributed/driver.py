"""The Ray driver: place each shard on a node with its hardware, retry, merge into one run.

All shards share the run id; each shard's file is merged with
``store.merge_file`` (its ``(run_id, nodeid)`` rows replace earlier ones, so a
retry replaces the failed attempt's).  The driver writes the ``runs`` row and
one ``run_shards`` row per attempt, and turns every collected item no attempt
recorded into an ``error`` row naming the shard's fate: every collected id
appears exactly once in the merged run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_ipfs_accel import merge, metadata, store
from pytest_ipfs_accel.distributed import plan
from pytest_ipfs_accel.distributed.worker import TIMEOUT_NOTE, run_shard


class DriverError(Exception):
    """The run cannot start (no such hardware in the cluster, nothing collected, ...)."""


@dataclass
class Options:
    """What ``ipfs-accel run --ray`` was asked for."""

    pytest_args: list[str]
    hw: str
    db: Path
    shards: int = 1
    retries: int = 1
    shard_timeout_s: float | None = None
    grace_s: float = 15.0
    cwd: Path = field(default_factory=Path.cwd)
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """A finished distributed run: its id, exit status and per-shard fates."""

    run_id: str
    exit_status: int
    attempts: list[dict[str, Any]]
    errors_added: int
    shards: list[plan.Shard] = field(default_factory=list)


def run(ray: Any, opts: Options, *, run_id: str | None = None, log=print) -> Outcome:
    """Collect, split, submit to the connected Ray cluster, merge; returns the outcome."""
    run_id = run_id or metadata.new_run_id()
    started = time.time()
    items = plan.collect(opts.pytest_args, opts.hw, opts.cwd)
    if not items:
        raise DriverError("pytest collected no tests with these arguments")
    hardware_of = dict(items)
    shards = plan.split(items, plan.durations(opts.db, [n for n, _ in items]), opts.shards)
    missing = plan.missing_resources(shards, ray.cluster_resources())
    if missing:
        raise DriverError(f"no node of the Ray cluster offers {', '.join(missing)}; start a node that has "
                          "it with 'ipfs-accel node', or leave that backend out of --hw")
    _write_run(opts, run_id, started, None, "running", None, len(items), {})
    log(f"ipfs-accel run: {run_id}: {len(items)} tests in {len(shards)} shards "
        f"({', '.join(f'{s.hardware}:{len(s.ids)}' for s in shards)})")
    base = Path(tempfile.gettempdir()) / "ipfs-accel-shards" / run_id
    remote = ray.remote(run_shard)
    pending: dict[Any, tuple[plan.Shard, int, dict[str, Any]]] = {}

    def submit(shard: plan.Shard, attempt: int) -> None:
        spec = {"run_id": run_id, "shard": shard.index, "attempt": attempt, "hardware": shard.hardware,
                "ids": shard.ids, "pytest_args": opts.pytest_args, "cwd": str(opts.cwd),
                "timeout_s": opts.shard_timeout_s, "grace_s": opts.grace_s, "env": opts.env,
                "shard_dir": str(base / f"shard-{shard.index}-attempt-{attempt}")}
        ref = remote.options(max_retries=0, name=f"ipfs-accel shard {shard.index}",
                             **plan.resources(shard.hardware)).remote(spec)
        pending[ref] = (shard, attempt, spec)

    for shard in shards:
        submit(shard, 0)
    attempts: list[dict[str, Any]] = []
    fates: dict[int, str] = {}
    fingerprints: dict[str, Any] = {}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            shard, attempt, spec = pending.pop(done[0])
            row, fate = _finish(ray, done[0], opts, shard, attempt, spec, fingerprints)
            attempts.append(row)
            log(f"ipfs-accel run: shard {shard.index} ({shard.hardware}) attempt {attempt}: {row['status']}"
                f" on {row['host'] or '?'}, {row['items_recorded']}/{row['items_expected']} recorded")
            if fate is not None and not row["status"].startswith("timeout") and attempt < opts.retries:
                submit(shard, attempt + 1)
            else:
                fates[shard.index] = fate or ""
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        _write_run(opts, run_id, started, time.time(), "interrupted", 2, len(items), fingerprints)
        raise
    finally:
        shutil.rmtree(base, ignore_errors=True)
    added = _close_run(opts, run_id, shards, fates, hardware_of, attempts)
    exit_status, status = _status(opts.db, run_id, bool(added))
    _write_run(opts, run_id, started, time.time(), status, exit_status, len(items), fingerprints)
    return Outcome(run_id, exit_status, attempts, added, shards)


def _finish(ray: Any, ref: Any, opts: Options, shard: plan.Shard, attempt: int, spec: dict[str, Any],
            fingerprints: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Merge one attempt's shard file; returns its ``run_shards`` row and its fate (None: it completed)."""
    row = {"shard": shard.index, "attempt": attempt, "hardware": shard.hardware, "host": None,
           "node_id": None, "exit_status": None, "items_expected": len(shard.ids), "items_recorded": 0,
           "duration_s": None}
    shard_file: Path | None = None
    try:
        result = ray.get(ref)
    except Exception as exc:  # the worker or its node died, or the task itself failed
        fate = f"shard {shard.index} ({shard.hardware}) attempt {attempt} failed: {type(exc).__name__}: " \
               + (str(exc).strip().splitlines() or [""])[-1][:300]
        row["status"] = f"lost: {type(exc).__name__}"
        local = Path(spec["shard_dir"]) / "shard.duckdb"  # same machine: keep what it had flushed
        if local.exists() or merge.has_pending(local):
            merge.settle(local)
            shard_file = local if local.exists() else None
    else:
        row.update(host=result["host"], node_id=result["node_id"], exit_status=result["exit_status"],
                   duration_s=result["duration_s"])
        fate = None
        if result["timed_out"]:
            row["status"] = "timeout"
            fate = TIMEOUT_NOTE.format(shard=shard.index, timeout=opts.shard_timeout_s)
        elif result["exit_status"] in (0, 1):
            row["status"] = "passed" if result["exit_status"] == 0 else "failed"
        else:
            row["status"] = "error"
            fate = (f"shard {shard.index} ({shard.hardware}) attempt {attempt}: pytest exited "
                    f"{result['exit_status']}: " + " | ".join(result["log_tail"].strip().splitlines()[-2:]))
        if result["db_bytes"] is not None:
            shard_file = Path(spec["shard_dir"] + ".duckdb")
            shard_file.parent.mkdir(parents=True, exist_ok=True)
            shard_file.write_bytes(result["db_bytes"])
    if shard_file is not None:
        row["items_recorded"] = _merge_shard(opts.db, shard_file, shard.ids, fingerprints)
    con = store.open_store(opts.db)
    try:
        store.insert_rows(con, "run_shards", [{**row, "run_id": spec["run_id"]}])
    finally:
        con.close()
    return row, fate


def _merge_shard(db: Path, shard_file: Path, ids: list[str], fingerprints: dict[str, Any]) -> int:
    """Merge a shard file into the store; returns how many of ``ids`` it recorded."""
    con = store.open_store(db)
    try:
        store.merge_file(con, shard_file, keep_runs=True)
        con.execute(f"ATTACH '{store._sql_string(str(shard_file))}' AS s (READ_ONLY)")
        try:
            recorded = con.execute(
                "SELECT count(DISTINCT nodeid) FROM s.test_results WHERE subtest IS NULL "
                "AND nodeid IN (SELECT unnest($1::VARCHAR[]))", [ids]).fetchone()[0]
            for (hardware,) in con.execute("SELECT hardware FROM s.runs").fetchall():
                for backend, fingerprint in json.loads(hardware or "{}").items():
                    fingerprints.setdefault(backend, fingerprint)
        finally:
            con.execute("DETACH s")
    finally:
        con.close()
    return int(recorded)


def _close_run(opts: Options, run_id: str, shards: list[plan.Shard], fates: dict[int, str],
               hardware_of: dict[str, str], attempts: list[dict[str, Any]]) -> int:
    """An ``error`` row for every collected item no attempt recorded; returns how many."""
    con = store.open_store(opts.db)
    try:
        recorded = {r[0] for r in con.execute(
            "SELECT DISTINCT nodeid FROM test_results WHERE run_id = ? AND subtest IS NULL", [run_id]).fetchall()}
        now = time.time()
        rows = []
        for shard in shards:
            fate = fates.get(shard.index) or f"shard {shard.index} ({shard.hardware}) finished without " \
                                              "recording this test (was it collected differently on its node?)"
            rows += [{"run_id": run_id, "nodeid": n, "outcome": "error", "when": "setup", "duration_s": 0.0,
                      "hardware": hardware_of[n], "message": f"not run: {fate}", "finished_at": now}
                     for n in shard.ids if n not in recorded]
        store.insert_rows(con, "test_results", rows)
        return len(rows)
    finally:
        con.close()


def _status(db: Path, run_id: str, lost: bool) -> tuple[int, str]:
    con = store.open_store(db)
    try:
        bad = con.execute("SELECT count(*) FROM test_results WHERE run_id = ? AND outcome IN "
                          "('failed', 'error')", [run_id]).fetchone()[0]
    finally:
        con.close()
    if lost:
        return 1, "error"
    return (1, "failed") if bad else (0, "passed")


def _write_run(opts: Options, run_id: str, started: float, finished: float | None, status: str,
               exit_status: int | None, collected: int, fingerprints: dict[str, Any]) -> None:
    row = {**metadata.run_metadata(opts.cwd, opts.argv), "run_id": run_id, "started_at": started,
           "finished_at": finished, "status": status, "exit_status": exit_status, "hw_requested": opts.hw,
           "hardware": json.dumps(fingerprints), "tests_collected": collected}
    con = store.open_store(opts.db)
    try:
        store.upsert_run(con, row)
    finally:
        con.close()
