"""Extension points of pytest-ipfs-accel (added with ``pluginmanager.add_hookspecs``).

Implement them in a ``conftest.py`` or a plugin, like any pytest hook.
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
