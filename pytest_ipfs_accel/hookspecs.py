"""Extension points of pytest-ipfs-accel (added with ``pluginmanager.add_hookspecs``).

Implement them in a ``conftest.py`` or a plugin, like any pytest hook.  The plugin's own
halves talk through them too: the recorder announces each benchmark result with
``pytest_ipfs_accel_benchmark_result`` and the benchmark session implements it.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec(historic=True)
def pytest_ipfs_accel_register_backends(registry: Any, config: pytest.Config) -> None:
    """Add a hardware backend or replace a backend's detector.

    ``registry`` is a :class:`hardware_markers.Registry`; call
    ``registry.register(name, detector)`` where ``detector()`` returns a
    :class:`hardware_markers.Hardware`.  Called once, at configure time, before
    any detection runs.
    """


def pytest_ipfs_accel_record_row(table: str, row: dict[str, Any], config: pytest.Config) -> None:
    """See (and if needed amend, in place) every row before it is written.

    ``table`` is one of ``runs``, ``test_results``, ``benchmark_results``,
    ``benchmark_samples`` (samples arrive one row per round).  Called on the
    process that writes the database (the xdist controller).
    """


def pytest_ipfs_accel_benchmark_result(result: dict[str, Any], config: pytest.Config) -> None:
    """One benchmark case of this session, as the recorder folds it from a call report.

    ``result`` is the benchmark's payload (statistics, ``samples``, ``timer``, ...)
    with ``nodeid``, ``model`` and ``hardware``; do not change it.  Called on the
    process that records (the xdist controller), so ``-n 0`` and ``-n N`` take the
    same path.  The benchmark session (summary table, ``--ipfs-bench-json``,
    ``--ipfs-compare``) implements it.
    """
