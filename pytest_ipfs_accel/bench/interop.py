"""pytest-benchmark interop: record its ``benchmark`` fixture's results; add fingerprints to machine_info.

Registered only when pytest-benchmark is loaded, so nothing here needs it
installed.  Its results travel exactly like ``ipfs_bench``'s: a
``("ipfs_accel.bench", payload)`` user property with ``source="pytest-benchmark"``.
pytest-benchmark switches itself off under xdist; then there is nothing to record.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_ipfs_accel.keys import selected_fingerprints
from pytest_ipfs_accel.options import PROP_BENCH

SOURCE = "pytest-benchmark"
_NONE: dict[str, Any] = {}


def register_if_active(config: pytest.Config) -> None:
    """Register :class:`PytestBenchmarkInterop` when pytest-benchmark's plugin is loaded."""
    if config.pluginmanager.has_plugin("benchmark"):
        config.pluginmanager.register(PytestBenchmarkInterop(config), "ipfs_accel.bench.pytest_benchmark")


def payload_from_fixture(fixture: Any, item: pytest.Item) -> dict[str, Any] | None:
    """The payload for a used pytest-benchmark fixture, or None if it measured nothing."""
    # here, not at import: this module is loaded wherever pytest-benchmark is, and these
    # bring the measuring machinery (about 7 ms of imports; docs/store.md)
    from pytest_ipfs_accel.bench.device import device_of
    from pytest_ipfs_accel.bench.fixture import json_safe
    from pytest_ipfs_accel.bench.stats import summarize

    metadata = getattr(fixture, "stats", None)
    stats = getattr(metadata, "stats", None)
    data = list(getattr(stats, "data", None) or ())
    if not data or getattr(fixture, "has_error", False):
        return None
    hw = item.funcargs.get("ipfs_hw") if hasattr(item, "funcargs") else None
    backend, _, device_name = device_of(hw)
    s = summarize(data)
    options = dict(getattr(metadata, "options", {}) or {})
    timer = options.get("timer")
    timer_name = getattr(timer, "__name__", None) or getattr(timer, "name", None) or str(timer)
    extra = dict(getattr(fixture, "extra_info", {}) or {})
    extra["pytest_benchmark"] = {
        "group": getattr(fixture, "group", None),
        "options": {k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
                    for k, v in options.items()},
    }
    return {
        "name": getattr(fixture, "name", item.name),
        "hardware": backend,
        "device": device_name,
        "kind": "forward",
        "timer": f"pytest-benchmark:{timer_name}",
        "rounds": s.rounds,
        "iterations": getattr(metadata, "iterations", 1),
        "warmup": int(bool(options.get("warmup"))),
        "mean_s": s.mean_s, "median_s": s.median_s, "p90_s": s.p90_s, "p95_s": s.p95_s,
        "p99_s": s.p99_s, "min_s": s.min_s, "max_s": s.max_s, "stddev_s": s.stddev_s,
        "iqr_s": s.iqr_s, "outliers": s.outliers,
        "wall_median_s": s.median_s,
        "throughput": 1.0 / s.median_s if s.median_s > 0 else None,
        "throughput_unit": "calls/s",
        "tokens_per_s": None,
        "peak_memory_bytes": None,
        "source": SOURCE,
        "extra_info": json_safe(extra),
        "samples": data,
    }


class PytestBenchmarkInterop:
    """Records what pytest-benchmark's ``benchmark`` fixture measured, as an ``ipfs_bench`` payload."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._measured = 0  # how many measurements pytest-benchmark's session held after the last item

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        # right after the test body (pytest's own implementation) and before the call
        # report is made, which copies user_properties; cheaper than a makereport wrapper
        fixture = self._used_fixture(item)
        if fixture is not None:
            payload = payload_from_fixture(fixture, item)
            if payload is not None:
                item.user_properties.append((PROP_BENCH, payload))

    def _used_fixture(self, item: pytest.Item) -> Any:
        """The item's pytest-benchmark fixture, also when it came from ``request.getfixturevalue``.

        A fixture requested dynamically is not in ``item.funcargs``; pytest-benchmark's
        session keeps every measurement, tagged with the node id, so look there too,
        and only when this item added one (most items measure nothing: keep them cheap).
        """
        fixture = getattr(item, "funcargs", _NONE).get("benchmark")
        measured = getattr(getattr(self.config, "_benchmarksession", None), "benchmarks", None) or ()
        if len(measured) == self._measured:
            return fixture
        self._measured = len(measured)
        if fixture is not None:
            return fixture
        for metadata in reversed(measured):
            if getattr(metadata, "fullname", None) == item.nodeid:
                return getattr(metadata, "fixture", None)
        return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_machine_info(self, config: pytest.Config, machine_info: dict) -> None:
        """Add the device fingerprints of the session's selected backends."""
        machine_info["ipfs_accel"] = {"hardware": selected_fingerprints(config)}

