"""The Ray driver: place each shard on a node with its hardware, retry, merge into one run.

All shards share the run id; each shard's file is merged with
``merge.merge_file`` (its ``(run_id, nodeid)`` rows replace earlier ones); an
attempt that is retried is not merged at all, so the store holds each shard's
last attempt, as the event stream's reader does.  The driver writes the
``runs`` row (every host's fingerprints) and one ``run_shards`` row per
attempt, and turns every collected item no attempt recorded into an ``error``
row naming the shard's fate: every collected id appears exactly once in the
merged run.  With an event stream the shards' events are relayed live.
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
from pytest_ipfs_accel.distributed.stream import RunStream
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
    events: RunStream | None = None  # the run's one event stream (``--ipfs-events`` after ``--``)


@dataclass
class Outcome:
    """A finished distributed run: its id, exit status and per-shard fates."""

    run_id: str
    exit_status: int
    attempts: list[dict[str, Any]]
    errors_added: int
    shards: list[plan.Shard] = field(default_factory=list)


def run(ray: Any, opts: Options, *, run_id: str | None = None, log=print) -> Outcome:
    """Collect, split, submit to the connected Ray cluster, merge; returns the outcome.

    With ``opts.events`` the whole run goes to that one stream (module ``stream``):
    its ``SessionFinish`` comes last, with the merged exit status, or 2 when
    the run could not start or was interrupted.
    """
    run_id = run_id or metadata.new_run_id()
    meta = metadata.run_metadata(opts.cwd, opts.argv)
    events = opts.events
    if events is not None:
        events.session_start(run_id, {"hw_requested": opts.hw, "git_commit": meta.get("git_commit"),
                                      "host": meta.get("host"), "xdist_workers": None, "shards": opts.shards})
    try:
        outcome = _run(ray, opts, run_id, meta, log)
    except BaseException as exc:
        if events is not None:
            events.session_finish(2, "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc))
        raise
    if events is not None:
        events.session_finish(outcome.exit_status)
    return outcome


def _run(ray: Any, opts: Options, run_id: str, meta: dict[str, Any], log) -> Outcome:
    started = time.time()
    events = opts.events
    items = plan.collect(opts.pytest_args, opts.hw, opts.cwd)
    if not items:
        raise DriverError("pytest collected no tests with these arguments")
    hardware_of = dict(items)
    shards = plan.split(items, plan.durations(opts.db, [n for n, _ in items]), opts.shards)
    missing = plan.missing_resources(shards, ray.cluster_resources())
    if missing:
        raise DriverError(f"no node of the Ray cluster offers {', '.join(missing)}; start a node that has "
                          "it with 'ipfs-accel node', or leave that backend out of --hw")
    _write_run(opts, meta, run_id, started, None, "running", None, len(items), {})
    if events is not None:
        events.emit({"$report_type": "CollectionFinished", "count": len(items)})
    log(f"ipfs-accel run: {run_id}: {len(items)} tests in {len(shards)} shards "
        f"({', '.join(f'{s.hardware}:{len(s.ids)}' for s in shards)})")
    base = Path(tempfile.gettempdir()) / "ipfs-accel-shards" / run_id
    remote = ray.remote(run_shard)  # a generator: a streaming task, each yield reaches us as it happens
    pending: dict[Any, tuple[plan.Shard, int, dict[str, Any]]] = {}

    def submit(shard: plan.Shard, attempt: int) -> None:
        spec = {"run_id": run_id, "shard": shard.index, "attempt": attempt, "hardware": shard.hardware,
                "ids": shard.ids, "pytest_args": opts.pytest_args, "cwd": str(opts.cwd),
                "timeout_s": opts.shard_timeout_s, "grace_s": opts.grace_s, "env": opts.env,
                "events": events is not None,
                "shard_dir": str(base / f"shard-{shard.index}-attempt-{attempt}")}
        ref = remote.options(max_retries=0, name=f"ipfs-accel shard {shard.index}",
                             **plan.resources(shard.hardware)).remote(spec)
        pending[ref] = (shard, attempt, spec)

    for shard in shards:
        submit(shard, 0)
    attempts: list[dict[str, Any]] = []
    fates: dict[int, str] = {}
    hosts = Fingerprints()
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            shard, attempt, spec = pending[ready[0]]
            kind, payload = _next(ray, ready[0])
            if kind == "events":
                if events is not None:
                    events.relay(payload, shard.index, attempt)
                continue
            del pending[ready[0]]
            row, fate, shard_file = _attempt(kind, payload, opts, shard, attempt, spec)
            retry = fate is not None and not row["status"].startswith("timeout") and attempt < opts.retries
            if shard_file is not None:  # a retried attempt's rows are dropped: the retry replaces them
                row["items_recorded"] = _merge_shard(opts.db, shard_file, shard.ids, row, hosts, keep=not retry)
            _record_attempt(opts.db, run_id, row)
            attempts.append(row)
            if events is not None:
                events.emit({"$report_type": "ShardResult", **row, "retried": retry})
            log(f"ipfs-accel run: shard {shard.index} ({shard.hardware}) attempt {attempt}: {row['status']}"
                f" on {row['host'] or '?'}, {row['items_recorded']}/{row['items_expected']} recorded")
            if retry:
                submit(shard, attempt + 1)
            else:
                fates[shard.index] = fate or ""
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        _write_run(opts, meta, run_id, started, time.time(), "interrupted", 2, len(items), hosts.as_json())
        raise
    finally:
        shutil.rmtree(base, ignore_errors=True)
    added = _close_run(opts, run_id, shards, fates, hardware_of, attempts)
    exit_status, status = _status(opts.db, run_id, bool(added))
    _write_run(opts, meta, run_id, started, time.time(), status, exit_status, len(items), hosts.as_json())
    return Outcome(run_id, exit_status, attempts, added, shards)


def _next(ray: Any, generator: Any) -> tuple[str, Any]:
    """The shard task's next yield: ``("events", lines)``, ``("result", dict)`` or ``("lost", exception)``."""
    try:
        return ray.get(next(generator))
    except StopIteration:
        return "lost", RuntimeError("the shard task ended without a result")
    except Exception as exc:  # the worker or its node died, or the task itself failed
        return "lost", exc


def _attempt(kind: str, payload: Any, opts: Options, shard: plan.Shard, attempt: int, spec: dict[str, Any]
             ) -> tuple[dict[str, Any], str | None, Path | None]:
    """One finished attempt: its ``run_shards`` row, its fate (None: it completed) and its shard file."""
    row = {"shard": shard.index, "attempt": attempt, "hardware": shard.hardware, "host": None,
           "node_id": None, "exit_status": None, "items_expected": len(shard.ids), "items_recorded": 0,
           "duration_s": None}
    shard_file: Path | None = None
    if kind == "lost":
        exc = payload
        fate = f"shard {shard.index} ({shard.hardware}) attempt {attempt} failed: {type(exc).__name__}: " \
               + (str(exc).strip().splitlines() or [""])[-1][:300]
        row["status"] = f"lost: {type(exc).__name__}"
        local = Path(spec["shard_dir"]) / "shard.duckdb"  # same machine: keep what it had flushed
        if local.exists() or merge.has_pending(local):
            merge.settle(local)
            shard_file = local if local.exists() else None
        return row, fate, shard_file
    result = payload
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
    return row, fate, shard_file


def _record_attempt(db: Path, run_id: str, row: dict[str, Any]) -> None:
    con = store.open_store(db)
    try:
        store.insert_rows(con, "run_shards", [{**row, "run_id": run_id}])
    finally:
        con.close()


def _merge_shard(db: Path, shard_file: Path, ids: list[str], row: dict[str, Any], hosts: Fingerprints,
                 *, keep: bool = True) -> int:
    """Merge a shard file into the store (unless ``keep`` is false); returns how many of ``ids`` it recorded."""
    con = store.open_store(db)
    try:
        if keep:
            merge.merge_file(con, shard_file, keep_runs=True)
        else:  # not merged, but counted: its pending spools first (merge_file does that itself)
            merge.settle(shard_file)
        con.execute(f"ATTACH '{store._sql_string(str(shard_file))}' AS s (READ_ONLY)")
        try:
            tables = {r[0] for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 's'").fetchall()}
            if "test_results" not in tables:  # the shard's pytest died before it recorded anything
                return 0
            recorded = con.execute(
                "SELECT count(DISTINCT nodeid) FROM s.test_results WHERE subtest IS NULL "
                "AND nodeid IN (SELECT unnest($1::VARCHAR[]))", [ids]).fetchone()[0]
            if keep:
                for hardware, host in con.execute("SELECT hardware, host FROM s.runs").fetchall():
                    hosts.add(row["host"] or host, row["node_id"], json.loads(hardware or "{}"))
        finally:
            con.execute("DETACH s")
    finally:
        con.close()
    return int(recorded)


class Fingerprints:
    """Every host's device fingerprints, for the ``runs`` row's ``hardware`` column.

    Keyed ``backend@host`` (``backend@host/<node id prefix>`` when one host runs
    several Ray nodes, which may see different devices); each value is the
    backend's fingerprint plus ``host`` and ``node_id``, so readers that take
    each value's ``backend`` and ``devices`` read it as they read a plain run's.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(self, host: str | None, node_id: str | None, fingerprints: dict[str, Any]) -> None:
        for backend, fingerprint in fingerprints.items():
            self._seen[(host or "?", node_id or "", backend)] = fingerprint

    def as_json(self) -> dict[str, Any]:
        nodes: dict[str, set[str]] = {}
        for host, node_id, _ in self._seen:
            nodes.setdefault(host, set()).add(node_id)
        out = {}
        for (host, node_id, backend), fingerprint in sorted(self._seen.items()):
            where = host if len(nodes[host]) == 1 else f"{host}/{node_id[:8] or '?'}"
            out[f"{backend}@{where}"] = {**fingerprint, "host": host, "node_id": node_id or None}
        return out


def _close_run(opts: Options, run_id: str, shards: list[plan.Shard], fates: dict[int, str],
               hardware_of: dict[str, str], attempts: list[dict[str, Any]]) -> int:
    """An ``error`` row (and its ``TestResult`` event) for every collected item no attempt recorded."""
    con = store.open_store(opts.db)
    try:
        recorded = {r[0] for r in con.execute(
            "SELECT DISTINCT nodeid FROM test_results WHERE run_id = ? AND subtest IS NULL", [run_id]).fetchall()}
        now = time.time()
        last = {a["shard"]: a["attempt"] for a in attempts}
        rows = []
        for shard in shards:
            fate = fates.get(shard.index) or f"shard {shard.index} ({shard.hardware}) finished without " \
                                              "recording this test (was it collected differently on its node?)"
            missing = [{"run_id": run_id, "nodeid": n, "outcome": "error", "when": "setup", "duration_s": 0.0,
                        "hardware": hardware_of[n], "message": f"not run: {fate}", "finished_at": now}
                       for n in shard.ids if n not in recorded]
            if opts.events is not None:
                for row in missing:
                    opts.events.emit({"$report_type": "TestResult", **row, "shard": shard.index,
                                      "attempt": last.get(shard.index, 0)})
            rows += missing
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


def _write_run(opts: Options, meta: dict[str, Any], run_id: str, started: float, finished: float | None,
               status: str, exit_status: int | None, collected: int, fingerprints: dict[str, Any]) -> None:
    row = {**meta, "run_id": run_id, "started_at": started,
           "finished_at": finished, "status": status, "exit_status": exit_status, "hw_requested": opts.hw,
           "hardware": json.dumps(fingerprints), "tests_collected": collected}
    con = store.open_store(opts.db)
    try:
        store.upsert_run(con, row)
    finally:
        con.close()
