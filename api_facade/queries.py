"""Read-only questions to the service database: benchmarks, history, comparisons.

Each function takes the connection first, so it runs through
:meth:`api_facade.db.ServiceDB.call`.  Timestamps leave DuckDB as naive UTC
(``timezone('UTC', ...)``): turning ``TIMESTAMPTZ`` into Python needs pytz.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_ipfs_accel import store

_BENCH_COLUMNS = (
    "b.run_id, b.nodeid, b.name, b.hardware, b.device, b.model, b.kind, b.batch_size, b.seq_len, "
    "b.dtype, b.rounds, b.mean_s, b.median_s, b.median_s AS p50_s, b.p90_s, b.p95_s, b.p99_s, "
    "b.min_s, b.max_s, b.stddev_s, b.throughput, b.throughput_unit, b.tokens_per_s, "
    "b.peak_memory_bytes, timezone('UTC', r.started_at) AS started_at, r.git_commit"
)


def benchmark_rows(con, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every benchmark case of these plugin runs, with its statistics."""
    return store.fetch_dicts(
        con,
        f"SELECT {_BENCH_COLUMNS} FROM benchmark_results b LEFT JOIN runs r USING (run_id) "
        "WHERE b.run_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY b.model, b.hardware, b.nodeid",
        [list(run_ids)],
    )


def benchmark_history(con, *, model: str | None, hardware: str | None, batch_size: int | None,
                      seq_len: int | None, dtype: str | None, kind: str | None,
                      limit: int) -> list[dict[str, Any]]:
    """Benchmark cases across runs, oldest first, filtered; the newest ``limit`` rows."""
    where, params = [], []
    for column, value in (("model", model), ("hardware", hardware), ("batch_size", batch_size),
                          ("seq_len", seq_len), ("dtype", dtype), ("kind", kind)):
        if value is not None:
            where.append(f"b.{column} = ?")
            params.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    params.append(limit)
    return store.fetch_dicts(
        con,
        f"SELECT * FROM (SELECT {_BENCH_COLUMNS}, coalesce(r.started_at, TIMESTAMPTZ '1970-01-01') AS _order "
        f"FROM benchmark_results b LEFT JOIN runs r USING (run_id) {clause} "
        "ORDER BY _order DESC, b.nodeid LIMIT ?) ORDER BY _order, nodeid",
        params,
    )


def compare_runs(con, base: str, head: str, threshold_pct: float, alpha: float,
                 statistic: str | None = None) -> dict[str, Any]:
    """The benchmark comparison of two plugin runs (``ipfs-accel compare``'s statistics)."""
    from pytest_ipfs_accel.bench.compare import compare_cases, load_cases

    base_id = store.resolve_run_id(con, base)
    head_id = store.resolve_run_id(con, head)
    cases = compare_cases(load_cases(con, base_id), load_cases(con, head_id),
                          threshold_pct=threshold_pct, alpha=alpha, statistic=statistic)
    verdicts: dict[str, int] = {}
    for case in cases:
        verdicts[case.verdict] = verdicts.get(case.verdict, 0) + 1
    return {
        "base": base_id,
        "head": head_id,
        "threshold_pct": threshold_pct,
        "statistic": statistic,
        "alpha": alpha,
        "verdicts": verdicts,
        "cases": [case.as_dict() for case in cases],
    }


def benchmark_models_and_hardware(con) -> dict[str, list[Any]]:
    """What the benchmark history holds, for filters."""
    def distinct(column: str) -> list[Any]:
        return [r[0] for r in con.execute(
            f"SELECT DISTINCT {column} FROM benchmark_results WHERE {column} IS NOT NULL ORDER BY 1"
        ).fetchall()]

    return {"models": distinct("model"), "hardware": distinct("hardware"),
            "batch_sizes": distinct("batch_size"), "seq_lens": distinct("seq_len"), "dtypes": distinct("dtype")}
