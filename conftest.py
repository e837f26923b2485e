"""The repo's own test-suite plumbing (not part of the plugin)."""

import importlib
import importlib.util

import pytest

pytest_plugins = ["pytester", "tests.facade_fixtures"]


@pytest.fixture
def pytester(_runtimes_imported, pytester):
    """pytester, with DuckDB and OpenVINO imported first: pytester drops every module a test
    imports, and their native modules (nanobind in duckdb 2) cannot be imported a second time
    (duckdb aborts the process), so an in-process run that imports them first would break the
    rest of the worker."""
    return pytester


@pytest.fixture(scope="session")
def _runtimes_imported():
    importlib.import_module("duckdb")
    # the same for scipy's and numpy's extension modules (benchmark statistics, the gate)
    importlib.import_module("scipy.stats")
    # duckdb imports pytz when it first returns a TIMESTAMPTZ; dropped by a pytester run, the
    # next fetch in this process fails with "SystemError: null argument to internal routine"
    importlib.import_module("pytz")
    if importlib.util.find_spec("openvino") is not None:
        importlib.import_module("openvino")
    # the browser backends keep one Chromium per process in these modules: an in-process run
    # that detects them must find the worker's session, not launch a second one
    for name in ("hardware_markers.browser", "hardware_markers.browser_page", "hardware_markers.browser_runtime"):
        importlib.import_module(name)
