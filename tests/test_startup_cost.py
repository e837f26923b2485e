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
#: made lazy after a callgrind breakdown of the one-test session (docs/store.md, "What a session
#: costs"): the detector modules (until a backend is detected), Hardware/Device and the model
#: runtimes (until a test takes ipfs_hw), the parsed benchmark options (two frozen dataclasses,
#: until one is given or a benchmark runs), the threshold parser (--ipfs-compare-fail), the
#: pytest-benchmark interop (where that plugin is loaded), and the ``pickle`` module (the spool
#: writes with the C pickler it re-exports)
LAZY = (
    "hardware_markers.hardware", "hardware_markers.execution", "hardware_markers.torch_backends",
    "hardware_markers.runtimes", "hardware_markers.browser", "hardware_markers.system",
    "pytest_ipfs_accel.bench.options", "pytest_ipfs_accel.bench.settings", "pytest_ipfs_accel.bench.threshold",
    "pytest_ipfs_accel.bench.interop", "pickle",
)

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
    assert _forbidden(found, HEAVY + BENCH_MACHINERY + OPTIONAL + LAZY) == []


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
    assert _forbidden(found, HEAVY + BENCH_MACHINERY + LAZY + ("pytest_ipfs_accel.events",)) == []


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
    assert {"pytest_ipfs_accel.bench.fixture", "pytest_ipfs_accel.bench.timing",
            "pytest_ipfs_accel.bench.options"} <= found
    assert "ipfs-accel benchmarks" in out.stdout  # the session's summary table was printed


def test_the_option_table_defaults_are_the_settings_defaults() -> None:
    """The table every session loads spells the defaults out (it must not import the dataclass)."""
    from pytest_ipfs_accel.bench.option_table import _OPTIONS, dest
    from pytest_ipfs_accel.bench.settings import Settings

    defaults = Settings()
    numbers = {dest(o).removeprefix("ipfs_bench_"): d for o, (_, d, _, _) in _OPTIONS.items()
               if o.startswith("--ipfs-bench-")}
    assert numbers == {name: getattr(defaults, name) for name in numbers}
    assert set(numbers) == {"max_time", "min_rounds", "max_rounds", "min_time", "warmup", "precision"}


def test_a_bad_benchmark_option_still_stops_the_session_at_its_start(tmp_path: Path) -> None:
    """Parsing the options when one is given keeps the early one-line error (nothing is run)."""
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytest_ipfs_accel.plugin",
         "--ipfs-no-db", "--ipfs-bench-min-rounds=zero", "test_one.py"],
        capture_output=True, text=True, env=_env(), cwd=tmp_path,
    )
    assert out.returncode == 4, out.stdout + out.stderr
    assert "--ipfs-bench-min-rounds=zero: expected an integer" in out.stderr
    assert "1 passed" not in out.stdout
