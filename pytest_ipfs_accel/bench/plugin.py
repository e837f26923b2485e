"""The benchmark half of the plugin: its hooks, the ``ipfs_bench`` fixture and the payload finalizer.

Registered by ``pytest_ipfs_accel.plugin`` in its ``pytest_addhooks``.  Module-level
hooks parse options (:mod:`.options`) and decide; :class:`BenchSession`
(registered only on the process that owns the session's output, never on an
xdist worker) receives the session's benchmark results from the recorder through
the ``pytest_ipfs_accel_benchmark_result`` hook, prints the summary table, writes
``--ipfs-bench-json`` and runs the ``--ipfs-compare`` gate.  pytest-benchmark
interop (:mod:`.interop`) is registered only when pytest-benchmark itself is active.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_ipfs_accel.bench.option_table import add_options, any_given
from pytest_ipfs_accel.bench.session import OPTIONS_KEY, BenchSession, options_of
from pytest_ipfs_accel.keys import db_path
from pytest_ipfs_accel.options import option_value

if TYPE_CHECKING:
    from pytest_ipfs_accel.bench.fixture import IpfsBench
    from pytest_ipfs_accel.bench.options import BenchOptions

__all__ = ["OPTIONS_KEY", "ipfs_bench", "options_of"]
SESSION_KEY = pytest.StashKey[BenchSession]()
#: the item's IpfsBench (found also when the fixture was requested dynamically)
ITEM_BENCH_KEY = pytest.StashKey["IpfsBench"]()
#: node id -> (median_s, min_s) in the --ipfs-compare baseline, for confirmation re-measurements
BASELINE_KEY = pytest.StashKey[dict]()
_BASELINE_WORKERINPUT = "ipfs_accel_bench_baseline"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    # parsed now only when one is given (a bad value stops the session here, as before); a
    # session that gives none parses the defaults when a benchmark first asks (options_of):
    # the parsed form's dataclasses cost ~18 M instructions (callgrind) of every other session
    options = options_of(config) if any_given(config) else None
    if config.pluginmanager.has_plugin("benchmark"):
        # pytest-benchmark's interop only where that plugin is loaded (one module less to load
        # at every other start; docs/store.md, "What a session costs")
        from pytest_ipfs_accel.bench import interop

        interop.register_if_active(config)
    if hasattr(config, "workerinput"):
        config.stash[BASELINE_KEY] = dict(config.workerinput.get(_BASELINE_WORKERINPUT) or {})
        return  # workers send their results with the reports; the controller reports them
    config.stash[BASELINE_KEY] = _load_gate_baseline(config, options) if options is not None else {}
    session = BenchSession(config)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "ipfs_accel.bench.session")


def _load_gate_baseline(config: pytest.Config, options: BenchOptions) -> dict[str, tuple[float, float]]:
    """Median and minimum per case of the --ipfs-compare baseline, read before the session
    starts writing (only the confirmation re-measurements use it; the gate itself reads the
    baseline again at the end and reports any problem with it there)."""
    if options.compare_base is None or options.compare_confirm == 0:
        return {}
    import duckdb  # only for a gate with confirmation: loading the plugin must not load DuckDB

    # the comparison and the store (about 4 ms of imports with the stores' and bench modules'
    # dataclasses; docs/store.md "What a session costs") only where a gate will run
    from pytest_ipfs_accel import merge, store
    from pytest_ipfs_accel.bench import compare

    path = db_path(config)
    if not path.exists() and not merge.has_pending(path):
        return {}
    try:
        # merges what is pending first, like every reader: the previous session's detached
        # merger may not have finished (seen on a loaded machine: no baseline, no confirmation)
        con = merge.open_reader(path)
    except store.StoreError:
        return {}
    try:
        base_ids = compare.resolve_baseline(con, options.compare_base, exclude=option_value(config, "ipfs_run_id"))
        cases = compare.load_baseline(con, base_ids) if base_ids else {}
    except (store.StoreError, duckdb.Error):
        return {}
    finally:
        con.close()
    return {n: (c.median_s, c.min_s) for n, c in cases.items() if c.median_s and c.min_s}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: each worker gets the baseline the controller read (workers do not open the store)."""
    node.workerinput[_BASELINE_WORKERINPUT] = node.config.stash.get(BASELINE_KEY, {})


def pytest_unconfigure(config: pytest.Config) -> None:
    finalizer = config.pluginmanager.get_plugin(_PayloadFinalizer.name)
    if finalizer is not None:
        config.pluginmanager.unregister(finalizer)
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        config.pluginmanager.unregister(session)
        del config.stash[SESSION_KEY]


@pytest.fixture
def ipfs_bench(request: pytest.FixtureRequest) -> IpfsBench:
    """Time a callable on this test's hardware: ``ipfs_bench(fn, *args, **kwargs)`` -> fn's result.

    The hardware is the test's ``ipfs_hw`` when it uses that fixture, else the CPU.
    See docs/benchmarks.md.
    """
    # the measuring machinery (fixture, timing, timers, stats, memory, lock, device: about
    # 7 ms of imports) only for a test that benchmarks; docs/store.md "What a session costs"
    from pytest_ipfs_accel.bench.device import device_of
    from pytest_ipfs_accel.bench.fixture import Confirmation, IpfsBench

    options = options_of(request.config)
    hw = request.getfixturevalue("ipfs_hw") if "ipfs_hw" in request.fixturenames else None
    backend, torch_device, device_name = device_of(hw)
    baseline = request.config.stash.get(BASELINE_KEY, {}).get(request.node.nodeid)
    confirm = None
    if baseline is not None and options.compare_confirm > 0:
        confirm = Confirmation(baseline[0], baseline[1], options.compare_fail_pct, options.compare_confirm)
    bench = IpfsBench(
        name=request.node.name,
        user_properties=request.node.user_properties,
        settings=options.settings,
        backend=backend,
        torch_device=torch_device,
        device_name=device_name,
        disabled=options.disabled,
        confirm=confirm,
        # a runtime on the CPU (OpenVINO's CPU device) shares the cpu backend's cores and lock
        lock=getattr(getattr(hw, "engine", None), "lock_key", None),
        timer=getattr(getattr(hw, "engine", None), "timer", lambda: None)(),
    )
    request.node.stash[ITEM_BENCH_KEY] = bench
    _PayloadFinalizer.ensure_registered(request.config)
    return bench


class _PayloadFinalizer:
    """Finishes an item's benchmark payload once the test body returned, before the call
    report copies ``user_properties``.

    ``set_case``/``extra_info`` may change until the test returns, and the payload
    must be plain data before xdist serializes the report.  A plain ``trylast``
    ``pytest_runtest_call`` runs right after pytest's own (which runs the test);
    a test that raises has no benchmark worth recording, and this is then not
    reached.  It is registered by the first ``ipfs_bench`` fixture of a process, so
    sessions without benchmarks do not pay a hook call on every item.
    """

    name = "ipfs_accel.bench.finalizer"

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        bench = item.stash.get(ITEM_BENCH_KEY, None)
        if bench is not None:
            bench.finalize()

    @classmethod
    def ensure_registered(cls, config: pytest.Config) -> None:
        if not config.pluginmanager.has_plugin(cls.name):
            config.pluginmanager.register(cls(), cls.name)
