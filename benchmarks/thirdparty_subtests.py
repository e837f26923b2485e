"""Does the database say exactly what pytest says?  A real third-party suite, -n 0 and -n 2.

The suite is CPython's own regression tests for a few stdlib modules (they ship
with every CPython install and use ``unittest`` ``subTest`` heavily, which pytest
reports through its ``subtests`` support).  For each worker count the script
runs pytest with the plugin, parses pytest's own summary line, computes the same
categories from DuckDB, and checks that every item has exactly one final row.

    python benchmarks/thirdparty_subtests.py [MODULE ...]
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

DEFAULT_MODULES = ["test_statistics", "test_float", "test_functools", "test_re", "test_typing", "test_math"]


def pytest_summary(output: str) -> dict[str, int]:
    lines = [ln for ln in output.splitlines() if re.match(r"^(=+ )?\d+ [a-z].* in [\d.]+s", ln)]
    if not lines:
        sys.exit("no pytest summary line in the output:\n" + output[-3000:])
    line = lines[-1]
    counts = {}
    for number, word in re.findall(r"(\d+) ((?:subtests )?[a-z]+)", line):
        counts[{"errors": "error"}.get(word, word)] = int(number)
    return counts


def db_summary(db: Path) -> tuple[dict[str, int], int, int]:
    """pytest's categories computed from the rows, plus (item rows, distinct items)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    items = "FROM test_results WHERE subtest IS NULL"
    subs = "FROM test_results WHERE subtest IS NOT NULL"
    counts = {
        # pytest counts a test whose call passed and whose teardown errored as passed AND error
        "passed": q(f"SELECT count(*) {items} AND (outcome = 'passed' OR (outcome = 'error' AND \"when\" = 'teardown'))"),
        "failed": q(f"SELECT count(*) {items} AND outcome = 'failed'") + q(f"SELECT count(*) {subs} AND outcome = 'failed'"),
        "skipped": q(f"SELECT count(*) {items} AND outcome = 'skipped'") + q(f"SELECT count(*) {subs} AND outcome = 'skipped'"),
        "xfailed": q(f"SELECT count(*) {items} AND outcome = 'xfailed'"),
        "xpassed": q(f"SELECT count(*) {items} AND outcome = 'xpassed'"),
        "error": q(f"SELECT count(*) {items} AND outcome = 'error'"),
        "subtests passed": q(f"SELECT count(*) {subs} AND outcome = 'passed'"),
    }
    rows, distinct = con.execute(f"SELECT count(*), count(DISTINCT nodeid) {items}").fetchone()
    con.close()
    return {k: v for k, v in counts.items() if v}, rows, distinct


def main() -> int:
    modules = sys.argv[1:] or DEFAULT_MODULES
    testdir = Path(sysconfig.get_paths()["stdlib"]) / "test"
    paths = [str(testdir / f"{m}.py") for m in modules]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for workers in ("0", "2"):
            db = Path(tmp) / f"n{workers}.duckdb"
            out = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", workers,
                 "-o", "verbosity_subtests=1", f"--ipfs-db={db}", *paths],
                cwd=tmp, capture_output=True, text=True,
            )
            reported = pytest_summary(out.stdout)
            recorded, rows, distinct = db_summary(db)
            same = reported == recorded and rows == distinct
            ok &= same
            print(f"-n {workers}: pytest says {reported}")
            print(f"      database says {recorded}; item rows {rows}, distinct items {distinct}: "
                  f"{'MATCH' if same else 'MISMATCH'}")
    print("all match" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
