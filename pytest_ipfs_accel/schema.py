"""The DuckDB tables: the one source of truth for their names, columns and types.

Everything that writes or reads the store (the recorder, ``ipfs-accel report``,
``compare``, ``export``, the facade's merge) takes column lists from here.
Run ids are globally unique strings, and every row carries its ``run_id``, so
one file's rows merge into another by plain ``INSERT ... SELECT``.
"""

from __future__ import annotations

# (column, DuckDB type) in table order.  JSON-shaped values are stored as
# VARCHAR holding JSON text, so a shard written by any DuckDB version merges.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "runs": (
        ("run_id", "VARCHAR PRIMARY KEY"),
        ("started_at", "TIMESTAMPTZ"),
        ("finished_at", "TIMESTAMPTZ"),
        ("status", "VARCHAR"),  # running passed failed error interrupted
        ("exit_status", "INTEGER"),
        ("argv", "VARCHAR"),  # JSON list
        ("rootdir", "VARCHAR"),
        ("git_commit", "VARCHAR"),
        ("git_branch", "VARCHAR"),
        ("git_dirty", "BOOLEAN"),
        ("host", "VARCHAR"),
        ("os", "VARCHAR"),
        ("python", "VARCHAR"),
        ("pytest_version", "VARCHAR"),
        ("torch_version", "VARCHAR"),
        ("transformers_version", "VARCHAR"),
        ("hw_requested", "VARCHAR"),
        ("hardware", "VARCHAR"),  # JSON: {backend: fingerprint} of the backends used ({backend@host: ...} for a Ray run)
        ("xdist_workers", "INTEGER"),
        ("tests_collected", "INTEGER"),
    ),
    "test_results": (
        ("run_id", "VARCHAR"),
        ("nodeid", "VARCHAR"),
        ("outcome", "VARCHAR"),  # passed failed skipped xfailed xpassed error
        ("when", "VARCHAR"),  # phase that decided the outcome: collect setup call teardown
        ("duration_s", "DOUBLE"),
        ("hardware", "VARCHAR"),
        ("model", "VARCHAR"),
        ("worker_id", "VARCHAR"),
        ("message", "VARCHAR"),
        ("subtest", "VARCHAR"),  # NULL for the item's own row
        ("finished_at", "TIMESTAMPTZ"),
    ),
    "benchmark_results": (
        ("run_id", "VARCHAR"),
        ("nodeid", "VARCHAR"),
        ("name", "VARCHAR"),
        ("hardware", "VARCHAR"),
        ("device", "VARCHAR"),
        ("model", "VARCHAR"),
        ("kind", "VARCHAR"),  # forward, generate, ttft, per_token, ... (free text)
        ("batch_size", "INTEGER"),
        ("seq_len", "INTEGER"),
        ("dtype", "VARCHAR"),
        ("timer", "VARCHAR"),  # what produced the samples, e.g. perf_counter, cuda_event
        ("rounds", "INTEGER"),
        ("iterations", "INTEGER"),
        ("warmup", "INTEGER"),
        ("mean_s", "DOUBLE"),
        ("median_s", "DOUBLE"),
        ("p90_s", "DOUBLE"),
        ("p95_s", "DOUBLE"),
        ("p99_s", "DOUBLE"),
        ("min_s", "DOUBLE"),
        ("max_s", "DOUBLE"),
        ("stddev_s", "DOUBLE"),
        ("iqr_s", "DOUBLE"),
        ("outliers", "INTEGER"),
        ("wall_median_s", "DOUBLE"),
        ("throughput", "DOUBLE"),
        ("throughput_unit", "VARCHAR"),
        ("tokens_per_s", "DOUBLE"),
        ("peak_memory_bytes", "BIGINT"),
        ("source", "VARCHAR"),  # ipfs_bench or pytest-benchmark
        ("extra_info", "VARCHAR"),  # JSON
    ),
    "benchmark_samples": (
        ("run_id", "VARCHAR"),
        ("nodeid", "VARCHAR"),
        ("round", "INTEGER"),
        ("seconds", "DOUBLE"),  # time of one call (a round's time / its iterations)
    ),
    # one row per attempt of each shard of a distributed run (filled by its driver)
    "run_shards": (
        ("run_id", "VARCHAR"),
        ("shard", "INTEGER"),
        ("attempt", "INTEGER"),
        ("host", "VARCHAR"),
        ("node_id", "VARCHAR"),
        ("hardware", "VARCHAR"),
        ("status", "VARCHAR"),
        ("exit_status", "INTEGER"),
        ("items_expected", "INTEGER"),
        ("items_recorded", "INTEGER"),
        ("duration_s", "DOUBLE"),
    ),
}

#: tables whose rows belong to one test item: merging replaces a run's rows per ``nodeid``
ITEM_TABLES = ("test_results", "benchmark_results", "benchmark_samples")
#: what identifies a ``run_shards`` row: merging replaces rows with the same key
SHARD_KEY = ("run_id", "shard", "attempt")

OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")
RUN_STATUSES = ("running", "passed", "failed", "error", "interrupted")


def columns(table: str) -> tuple[str, ...]:
    """Column names of ``table`` in order."""
    return _COLUMNS[table]


_COLUMNS = {table: tuple(name for name, _ in cols) for table, cols in TABLES.items()}


def ddl() -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for every table.

    No secondary indexes: rows arrive in run order, so DuckDB's per-block min/max
    (zone maps) already prune a ``WHERE run_id = ?`` scan, and an ART index on
    ``run_id`` made every bulk insert pay for maintaining it.
    """
    statements = []
    for table, cols in TABLES.items():
        body = ", ".join(f'"{name}" {kind}' for name, kind in cols)
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({body})")
    return statements
