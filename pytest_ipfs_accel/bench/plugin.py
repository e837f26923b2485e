"""The benchmark half of the plugin: options, the ``ipfs_bench`` fixture, summary, JSON, gate.

Registered by ``pytest_ipfs_accel.plugin`` in its ``pytest_addhooks``.  Module-level
hooks parse options and decide; :class:`BenchSession` (registered only on the
process that owns the session's output, never on an xdist worker) collects the
session's benchmark results from the recorder, prints the summary table,
writes ``--ipfs-bench-json`` and runs the ``--ipfs-compare`` gate.
pytest-benchmark interop (:mod:`.interop`) is registered only when
pytest-benchmark itself is active.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_ipfs_accel.bench.threshold import parse_threshold
from pytest_ipfs_accel.bench.timing import Settings
from pytest_ipfs_accel.options import (
    PROP_BENCH,
    PROP_HARDWARE,
    PROP_MODEL,
    add_option,
    option_value,
)

if TYPE_CHECKING:  # imported by the fixture itself: a session without benchmarks does not load it
    from pytest_ipfs_accel.bench.fixture import IpfsBench

#: the user property that carries a benchmark's payload to the recorder
USER_PROPERTY = PROP_BENCH


@dataclass(frozen=True)
class BenchOptions:
    """The parsed benchmark options of a session."""

    settings: Settings
    disabled: bool
    json_path: Path | None
    compare_base: str | None
    compare_fail_pct: float
    compare_alpha: float
    compare_confirm: int = 0
    #: the statistic a ``STAT:PCT`` threshold names (``None``: median and min both)
    compare_statistic: str | None = None


OPTIONS_KEY = pytest.StashKey[BenchOptions]()
SESSION_KEY = pytest.StashKey["BenchSession"]()
#: the item's IpfsBench (found also when the fixture was requested dynamically)
ITEM_BENCH_KEY = pytest.StashKey["IpfsBench"]()
#: node id -> (median_s, min_s) in the --ipfs-compare baseline, for confirmation re-measurements
BASELINE_KEY = pytest.StashKey[dict]()
_BASELINE_WORKERINPUT = "ipfs_accel_bench_baseline"

_DEFAULTS = Settings()

#: option -> (type, default, metavar, help)
_OPTIONS: dict[str, tuple[type, Any, str | None, str]] = {
    "--ipfs-bench-max-time": (
        float, _DEFAULTS.max_time, "SECONDS",
        "time budget of a benchmark's timed rounds (they also run at least min-rounds times)",
    ),
    "--ipfs-bench-min-rounds": (int, _DEFAULTS.min_rounds, "N", "minimum number of timed rounds"),
    "--ipfs-bench-max-rounds": (
        int, _DEFAULTS.max_rounds, "N",
        "maximum number of timed rounds (raw samples stored per benchmark)",
    ),
    "--ipfs-bench-min-time": (
        float, _DEFAULTS.min_time, "SECONDS",
        "minimum duration of one round; short calls are repeated within a round to reach it",
    ),
    "--ipfs-bench-warmup": (
        int, _DEFAULTS.warmup, "N", "untimed warm-up rounds after calibration",
    ),
    "--ipfs-bench-precision": (
        float, _DEFAULTS.precision, "FRACTION",
        "stop early once the 95%% confidence half-width of the mean is within this fraction "
        "of it (0: off)",
    ),
    "--ipfs-compare-fail": (
        float, 10.0, "PCT",
        "with --ipfs-compare: fail on a statistically significant slowdown of both the median "
        "and the minimum beyond PCT percent (10 or 10%%; STAT:PCT such as median:10%% judges "
        "that statistic alone)",
    ),
    "--ipfs-compare-alpha": (
        float, 0.01, "P", "with --ipfs-compare: significance level of the Mann-Whitney U test",
    ),
    "--ipfs-compare-confirm": (
        int, 2, "N",
        "with --ipfs-compare: measure a case up to N more times while its median and minimum "
        "are both beyond the threshold against the baseline, and keep the fastest measurement "
        "(a slow spell of the machine passes, slower code does not; 0: off)",
    ),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ipfs-accel-bench", "pytest-ipfs-accel: benchmarks (ipfs_bench)")

    def add(option: str, help: str, **kwargs: Any) -> None:
        add_option(group, parser, option, help, **kwargs)

    for option, (_, default, metavar, help_text) in _OPTIONS.items():
        add(option, f"{help_text}; default {default}", metavar=metavar)
    add("--ipfs-bench-disable", "run each ipfs_bench callable once, untimed", action="store_true")
    add(
        "--ipfs-bench-pin-cpu",
        "keep the measuring thread on one CPU during warm-up and timed rounds (Linux; see docs/benchmarks.md)",
        action="store_true",
    )
    add(
        "--ipfs-bench-json",
        "write the session's benchmarks as pytest-benchmark JSON to PATH",
        metavar="PATH",
    )
    add(
        "--ipfs-compare",
        "compare this session's benchmarks with run BASE of the results database "
        "(a run id; latest/previous: the latest/second-latest earlier run with benchmarks; "
        "latest:N: the N latest such runs pooled, which a slow or fast run cannot sway) "
        "and fail the session on a significant regression",
        metavar="BASE",
    )


def _number(config: pytest.Config, option: str) -> Any:
    kind, default, _, _ = _OPTIONS[option]
    name = option.lstrip("-").replace("-", "_")
    value = option_value(config, name)
    if value is None:
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise pytest.UsageError(f"{option}={value}: expected {what}") from None


def parse_options(config: pytest.Config) -> BenchOptions:
    """Read and validate the benchmark options (``pytest.UsageError`` says what to fix)."""
    try:
        settings = Settings(
            max_time=_number(config, "--ipfs-bench-max-time"),
            min_rounds=_number(config, "--ipfs-bench-min-rounds"),
            max_rounds=_number(config, "--ipfs-bench-max-rounds"),
            min_time=_number(config, "--ipfs-bench-min-time"),
            warmup=_number(config, "--ipfs-bench-warmup"),
            precision=_number(config, "--ipfs-bench-precision"),
            pin_cpu=bool(option_value(config, "ipfs_bench_pin_cpu")),
        )
    except ValueError as exc:
        raise pytest.UsageError(f"ipfs-accel benchmark options: {exc}") from None
    raw_fail = option_value(config, "ipfs_compare_fail")
    try:
        threshold = parse_threshold(_OPTIONS["--ipfs-compare-fail"][1] if raw_fail is None else raw_fail)
    except ValueError as exc:
        raise pytest.UsageError(f"--ipfs-compare-fail={raw_fail}: {exc}") from None
    alpha = _number(config, "--ipfs-compare-alpha")
    if not 0 < alpha < 1:
        raise pytest.UsageError(f"--ipfs-compare-alpha={alpha}: expected a probability in (0, 1)")
    confirm = _number(config, "--ipfs-compare-confirm")
    if confirm < 0:
        raise pytest.UsageError(f"--ipfs-compare-confirm={confirm}: expected a count >= 0")
    json_path = option_value(config, "ipfs_bench_json")
    compare_base = option_value(config, "ipfs_compare")
    if compare_base is not None and option_value(config, "ipfs_no_db"):
        raise pytest.UsageError(
            "--ipfs-compare needs the results database for its baseline; drop --ipfs-no-db"
        )
    return BenchOptions(
        settings=settings,
        disabled=bool(option_value(config, "ipfs_bench_disable")),
        json_path=Path(json_path).expanduser().absolute() if json_path else None,
        compare_base=str(compare_base) if compare_base is not None else None,
        compare_fail_pct=threshold.pct,
        compare_statistic=threshold.statistic,
        compare_alpha=float(alpha),
        compare_confirm=int(confirm),
    )


def pytest_configure(config: pytest.Config) -> None:
    options = parse_options(config)
    config.stash[OPTIONS_KEY] = options
    from pytest_ipfs_accel.bench import interop

    interop.register_if_active(config)
    if hasattr(config, "workerinput"):
        config.stash[BASELINE_KEY] = dict(config.workerinput.get(_BASELINE_WORKERINPUT) or {})
        return  # workers send their results with the reports; the controller reports them
    config.stash[BASELINE_KEY] = _load_gate_baseline(config, options)
    from pytest_ipfs_accel.bench.session import BenchSession

    session = BenchSession(config, options)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "ipfs_accel.bench.session")


def _load_gate_baseline(config: pytest.Config, options: BenchOptions) -> dict[str, tuple[float, float]]:
    """Median and minimum per case of the --ipfs-compare baseline, read before the session
    starts writing (only the confirmation re-measurements use it; the gate itself reads the
    baseline again at the end and reports any problem with it there)."""
    if options.compare_base is None or options.compare_confirm == 0:
        return {}
    import duckdb

    from pytest_ipfs_accel import store
    from pytest_ipfs_accel.bench import compare
    from pytest_ipfs_accel.plugin import db_path

    path = db_path(config)
    if not path.exists():
        return {}
    try:
        con = store.open_store(path, read_only=True)
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
    finalizer = config.pluginmanager.get_plugin(_Finalizer.name)
    if finalizer is not None:
        config.pluginmanager.unregister(finalizer)
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        config.pluginmanager.unregister(session)
        del config.stash[SESSION_KEY]


def cpu_name() -> str | None:
    """The host CPU's model name (without importing torch)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def _device(hw: Any) -> tuple[str, str | None, str | None]:
    """(backend, torch device, device name) of a ``Hardware`` (None: the host CPU)."""
    if hw is None:
        return "cpu", None, cpu_name()
    torch_device = getattr(hw, "torch_device", None)
    devices = getattr(hw, "devices", ()) or ()
    index = 0
    if torch_device and ":" in torch_device:
        try:
            index = int(torch_device.rsplit(":", 1)[1])
        except ValueError:
            index = 0
    name = None
    if devices:
        device = devices[index] if index < len(devices) else devices[0]
        name = getattr(device, "name", None)
    return str(getattr(hw, "name", hw)), torch_device, name or torch_device


@pytest.fixture
def ipfs_bench(request: pytest.FixtureRequest) -> IpfsBench:
    """Time a callable on this test's hardware: ``ipfs_bench(fn, *args, **kwargs)`` -> fn's result.

    The hardware is the test's ``ipfs_hw`` when it uses that fixture, else the CPU.
    See docs/benchmarks.md.
    """
    from pytest_ipfs_accel.bench.fixture import Confirmation, IpfsBench

    options = request.config.stash[OPTIONS_KEY]
    hw = request.getfixturevalue("ipfs_hw") if "ipfs_hw" in request.fixturenames else None
    backend, torch_device, device_name = _device(hw)
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
    _Finalizer.ensure_registered(request.config)
    return bench


class _Finalizer:
    """Finishes an item's payload once the test body returned, before the call report
    copies ``user_properties``.

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


__all__ = ["USER_PROPERTY", "PROP_HARDWARE", "PROP_MODEL", "ipfs_bench", "parse_options"]
