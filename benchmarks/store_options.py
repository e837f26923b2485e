"""The pieces each way of recording would pay for inside the pytest process (docs/store.md).

- ``import duckdb`` in a fresh interpreter (any design where pytest, or a child it
  waits for, touches DuckDB pays it);
- a short-lived connection at session end: connect to an existing store, insert
  the rows in one transaction, close (DuckDB checkpoints on close);
- the spool: create and lock the file, append rows (flusher thread), finish;
- starting the detached merger (``Popen`` only: pytest does not wait for it);
- the merger's whole life, for the record (it runs after pytest has returned).

Each figure is the median of ``--repeat`` runs, for 1 and 10,000 rows.

    python benchmarks/store_options.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_ipfs_accel import merge, schema, spool, store


def _rows(n: int, run_id: str) -> list[tuple]:
    now = time.time()
    return [tuple({"run_id": run_id, "nodeid": f"t.py::test[{i}]", "outcome": "passed", "when": "call",
                   "duration_s": 0.001, "finished_at": now}.get(c) for c in schema.columns("test_results"))
            for i in range(n)]


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "r.duckdb"
        store.open_store(db).close()
        imp = _median_ms(lambda: subprocess.run([sys.executable, "-c", "import duckdb"], check=True), args.repeat)
        bare = _median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.repeat)
        print(f"import duckdb in a fresh interpreter: {imp - bare:.1f} ms (interpreter {bare:.1f} ms, subtracted)")
        counter = iter(range(10**9))
        for n in (1, 10_000):
            rows = _rows(n, "x")

            def connection(rows=rows):
                con = store.open_store(db)
                con.execute("BEGIN")
                store.insert_tuples(con, "test_results", rows)
                con.execute("COMMIT")
                con.close()

            def spooled(rows=rows):
                sp = spool.Spool(db, {"run_id": f"s{next(counter)}", "status": "running"}, replace=False, meta=None)
                sp.tables["test_results"].extend(rows)
                sp.finish({"run_id": "s", "status": "passed"})

            print(f"{n:>6} rows: short-lived connection (connect, insert, close) {_median_ms(connection, args.repeat):7.1f} ms;"
                  f" spool (create, lock, write, finish) {_median_ms(spooled, args.repeat):6.1f} ms")
            started = time.perf_counter()
            merge.settle(db)
            print(f"        merging the {args.repeat} spools in-process: {(time.perf_counter() - started) * 1000:.1f} ms")
        procs = []
        spawn = _median_ms(lambda: procs.append(merge.spawn_merger(db)), args.repeat)
        for proc in procs:
            proc.wait()
        sp = spool.Spool(db, {"run_id": "m", "status": "running"}, replace=False, meta=None)
        sp.tables["test_results"].extend(_rows(1, "m"))
        sp.finish({"run_id": "m", "status": "passed"})
        started = time.perf_counter()
        merge.spawn_merger(db).wait()
        life = (time.perf_counter() - started) * 1000
        print(f"starting the detached merger (Popen): {spawn:.1f} ms; its whole life merging one 1-row spool: "
              f"{life:.0f} ms (after pytest has returned)")


if __name__ == "__main__":
    main()
