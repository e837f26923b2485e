"""What loading the plugin imports: a session without benchmarks must not pay for the bench machinery.

A module-set assertion, not a timing (timings are for ``benchmarks/``): a fresh
interpreter loads the plugin, or runs a whole recording session of one trivial
test, and lists the modules it ended up with.  The heavy ones (DuckDB, torch,
numpy, scipy, ``statistics``) and the modules only a benchmarking session needs
must not be among them; each of them cost the one-test session milliseconds of
CPU at every start (docs/store.md, "What a session costs").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: never on the path of a session without benchmarks (nor of the plugin's import)
HEAVY = ("duckdb", "torch", "transformers", "numpy", "scipy", "pandas", "statistics", "fractions")
#: the measuring, comparing and reporting half of the plugin: imported when first used
BENCH_MACHINERY = tuple(
    f"pytest_ipfs_accel.bench.{name}"
    for name in ("backends", "compare", "device", "fixture", "lock", "memory", "pbjson", "stats",
                 "summary", "timers", "timing")
)
#: the recorder's optional parts: the store (only the benchmark gate opens it in pytest), the
#: event stream (--ipfs-events), the run's metadata lookups (the merger does them)
OPTIONAL = ("pytest_ipfs_accel.events", "pytest_ipfs_accel.store")

_LIST_AFTER = """
import json, sys
print("MODULES=" + json.dumps(sorted(sys.modules)))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only this plugin: others import what they like
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _modules(output: str) -> set[str]:
    line = next(ln for ln in output.splitlines() if ln.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


def _forbidden(found: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in found if any(m == n or m.startswith(n + ".") for n in names))


def test_importing_the_plugin_imports_nothing_heavy() -> None:
    code = "import pytest\nimport pytest_ipfs_accel.plugin\n" + _LIST_AFTER
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    found = _modules(out.stdout)
    assert "pytest_ipfs_accel.plugin" in found
    assert _forbidden(found, HEAVY + BENCH_MACHINERY + OPTIONAL) == []


def test_a_recording_session_without_benchmarks_imports_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    # the module list is taken at the very end of the session, after the spool is written
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        import json, sys

        def pytest_unconfigure(config):
            print("MODULES=" + json.dumps(sorted(sys.modules)))
    """))
    db = tmp_path / "r.duckdb"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "pytest_ipfs_accel.plugin",
         f"--ipfs-db={db}", "test_one.py"],
        capture_output=True, text=True, env=_env(), cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "results: run " in out.stdout and str(db) in out.stdout  # it did record
    found = _modules(out.stdout)
    assert {"pytest_ipfs_accel.recorder", "pytest_ipfs_accel.spool", "pytest_ipfs_accel.bench.plugin"} <= found
    assert _forbidden(found, HEAVY + BENCH_MACHINERY + ("pytest_ipfs_accel.events",)) == []


def test_a_benchmarking_session_still_loads_what_it_needs(tmp_path: Path) -> None:
    """The other side: the machinery is there once a test asks for ``ipfs_bench``."""
    (tmp_path / "test_bench.py").write_text(textwrap.dedent("""
        import sys

        def test_bench(ipfs_bench):
            ipfs_bench(sum, range(10))
            print("MODULES=" + __import__("json").dumps(sorted(sys.modules)))
    """))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "pytest_ipfs_accel.plugin",
         "--ipfs-no-db", "--ipfs-bench-max-time=0.01", "--ipfs-bench-min-rounds=2", "test_bench.py"],
        capture_output=True, text=True, env=_env(), cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    found = _modules(out.stdout)
    assert {"pytest_ipfs_accel.bench.fixture", "pytest_ipfs_accel.bench.timing"} <= found
    assert "ipfs-accel benchmarks" in out.stdout  # the session's summary table was printed
